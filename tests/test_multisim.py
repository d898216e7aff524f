"""Scenarios of several markets sharing cross margin (issue 14, "Scenario and simulation"):
routing rows by symbol, errors that name table/column/row, correlated index paths, results with a
symbol column and a summary per market and for the venue, save/load, and the built-in spill-over
scenario against its isolated-margin twin."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import liqsim
from liqsim.agents import CrossMomentumTaker, MarketMaker, NoiseTaker

MARKETS = {
    "BTCUSDT": {"venue": "binance", "tick_size": 0.1, "lot_size": 0.001, "mark_rule": "index"},
    "ETHUSDT": {"venue": "binance", "tick_size": 0.01, "lot_size": 0.001, "mark_rule": "index"},
}


def _accounts() -> dict[str, list[object]]:
    # Trader 1: short 0.2 BTC @ 50,000 and short 5 ETH @ 3,000 in one cross account (1,000 USDT in
    # the BTC row); 2 and 3 hold the longs; 4 has money in ETH only.
    return {
        "symbol": ["BTCUSDT", "ETHUSDT", "BTCUSDT", "ETHUSDT", "ETHUSDT"],
        "trader_id": [1, 1, 2, 3, 4],
        "balance": [1_000.0, 0.0, 1e6, 1e6, 1e6],
        "side": ["short", "short", "long", "long", "flat"],
        "qty": [0.2, 5.0, 0.2, 5.0, 0.0],
        "entry_price": [50_000.0, 3_000.0, 50_000.0, 3_000.0, 0.0],
        "leverage": [50, 50, 10, 10, 10],
    }


def _index(btc_to: float = 50_000.0) -> dict[str, list[object]]:
    return {"ts": [0, 0, 20 * 10**9], "symbol": ["BTCUSDT", "ETHUSDT", "BTCUSDT"], "price": [50_000.0, 3_000.0, btc_to]}


def _makers() -> list[MarketMaker]:
    return [MarketMaker(symbol="BTCUSDT", reference="index", depth_10bp=2e6),
            MarketMaker(symbol="ETHUSDT", reference="index", depth_10bp=1e6)]


def _scenario(**kw: object) -> liqsim.Scenario:
    parts: dict[str, object] = dict(market=MARKETS, accounts=_accounts(), index=_index(), agents=_makers(), end=30.0)
    parts.update(kw)
    return liqsim.Scenario(**parts)  # type: ignore[arg-type]


def test_rows_go_to_their_market_and_the_series_has_a_row_per_market_per_sample():
    orders = {"ts": [5 * 10**9], "symbol": ["ETHUSDT"], "trader_id": [4], "action": ["limit"], "side": ["buy"],
              "price": [2_900.0], "qty": [1.0]}
    res = liqsim.simulate(_scenario(orders=orders), check_invariants=True)
    s = res.series
    assert len(s) == 2 * 31
    assert list(s["symbol"][:4]) == ["BTCUSDT", "ETHUSDT", "BTCUSDT", "ETHUSDT"]
    assert set(s["index"][s["symbol"] == "BTCUSDT"]) == {50_000.0}
    assert set(s["index"][s["symbol"] == "ETHUSDT"]) == {3_000.0}
    eth_bids = res.venue.market("ETHUSDT").orders("buy")
    assert 2_900.0 in set(eth_bids["price"][eth_bids["owner"] == 4])
    assert 2_900.0 not in set(res.venue.market("BTCUSDT").orders("buy")["price"])
    assert res.refused_orders.tolist() == []
    for name in ("trades", "liquidations", "accounts", "funding", "adl", "insurance", "stops"):
        assert "symbol" in getattr(res, name).columns, name


def test_a_btc_move_liquidates_the_eth_short_of_a_cross_account():
    # Trader 1 at BTC P: equity 1,000 − 0.2 (P − 50,000) against maintenance ≈ 0.4 % × 0.2 P + 0.5 % × 15,000
    # (Binance's first tiers): under it from P ≈ 54,400. BTC to 56,000: the account is liquidated, and its
    # ETH leg (the larger maintenance margin, 75 against ≈ 45) is closed first, with ETH's index flat.
    res = liqsim.simulate(_scenario(index=_index(56_000.0)), check_invariants=True)
    liq = res.liquidations
    assert set(liq["symbol"][liq["trader_id"] == 1]) == {"BTCUSDT", "ETHUSDT"}
    s = res.summary()
    assert s["ETHUSDT"]["liquidated_short_count"] >= 1
    assert set(res.series["mark"][res.series["symbol"] == "ETHUSDT"]) == {3_000.0}
    assert s["venue"]["liquidated_short_count"] == s["BTCUSDT"]["liquidated_short_count"] + s["ETHUSDT"]["liquidated_short_count"]
    assert s["venue"]["events"] == res.events
    with pytest.raises(liqsim.ConfigError, match="result.venue"):
        res.exchange


@pytest.mark.parametrize(
    ("table", "bad", "row"),
    [
        ("index", {"ts": [0, 0], "symbol": ["BTCUSDT", "SOLUSDT"], "price": [50_000.0, 150.0]}, 1),
        ("accounts", {**_accounts(), "symbol": ["BTCUSDT", "ETHUSDT", "BTCUSDT", "XRPUSDT", "ETHUSDT"]}, 3),
        ("orders", {"ts": [0, 10**9], "symbol": ["ETHUSDT", None], "trader_id": [4, 4], "action": ["market", "market"],
                    "side": ["buy", "buy"], "qty": [1.0, 1.0]}, 1),
    ],
)
def test_an_unknown_symbol_names_table_column_and_row(table, bad, row):
    with pytest.raises(liqsim.ScenarioError) as err:
        _scenario(**{table: bad})
    assert (err.value.table, err.value.column, err.value.row) == (table, "symbol", row)


def test_a_table_without_symbol_and_an_agent_without_one_are_refused():
    with pytest.raises(liqsim.ScenarioError, match="symbol"):
        _scenario(index={"ts": [0], "price": [50_000.0]})
    with pytest.raises(liqsim.ConfigError, match="give the symbol"):
        _scenario(agents=[MarketMaker(reference="index")])
    with pytest.raises(liqsim.ConfigError, match="not one of the markets"):
        _scenario(agents=[NoiseTaker(symbol="SOLUSDT")])
    # A one-market scenario refuses the cross-market agent.
    with pytest.raises(liqsim.ConfigError, match="several markets"):
        liqsim.Scenario(index={"ts": [0], "price": [3000.0]}, agents=[CrossMomentumTaker()])


def test_an_off_grid_order_names_its_row_of_the_whole_table():
    orders = {"ts": [0, 10**9], "symbol": ["BTCUSDT", "ETHUSDT"], "trader_id": [2, 4], "action": ["limit", "limit"],
              "side": ["buy", "buy"], "price": [49_000.0, 2_900.005], "qty": [0.01, 1.0]}
    with pytest.raises(liqsim.ScenarioError) as err:
        liqsim.simulate(_scenario(orders=orders))
    assert (err.value.table, err.value.column, err.value.row) == ("orders", "price", 1)


def test_correlated_index_paths_are_seeded_and_have_their_correlation():
    args = ({"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0}, {"BTCUSDT": 0.6, "ETHUSDT": 0.8}, [[1.0, 0.7], [0.7, 1.0]])
    kw = dict(end=20_000.0, step=1.0, tick_sizes={"BTCUSDT": 0.1}, seed=3)
    a, b = liqsim.correlated_index(*args, **kw), liqsim.correlated_index(*args, **kw)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    other = liqsim.correlated_index(*args, **{**kw, "seed": 4})
    assert not np.array_equal(a["price"], other["price"])
    btc = np.log(a["price"][a["symbol"] == "BTCUSDT"])
    eth = np.log(a["price"][a["symbol"] == "ETHUSDT"])
    r_btc, r_eth = np.diff(btc), np.diff(eth)
    # 20,000 one-second returns: ρ̂ within ~4 standard errors ((1 − ρ²)/√n = 0.0036) of 0.7.
    assert np.corrcoef(r_btc, r_eth)[0, 1] == pytest.approx(0.7, abs=0.015)
    # Annualised vol within ~4 standard errors (1/√(2n) = 0.5 %).
    assert r_btc.std() * np.sqrt(365 * 86_400) == pytest.approx(0.6, rel=0.02)
    with pytest.raises(liqsim.ConfigError, match="positive definite"):
        liqsim.correlated_index(args[0], args[1], [[1.0, 1.0], [1.0, 1.0]], end=10.0)
    # Usable as the index of a scenario of several markets.
    idx = liqsim.correlated_index(*args, end=30.0, tick_sizes={"BTCUSDT": 0.1}, seed=1)
    scn = _scenario(index={k: v for k, v in idx.items()},
                    accounts={**_accounts(), "entry_price": [60_000.0, 3_000.0, 60_000.0, 3_000.0, 0.0],
                              "balance": [1e5, 0.0, 1e6, 1e6, 1e6]})
    res = liqsim.simulate(scn, check_invariants=True)
    assert len(res.series) == 62


def _agents_busy() -> list[object]:
    return [*_makers(), NoiseTaker(symbol="BTCUSDT", rate_per_s=3.0), NoiseTaker(symbol="ETHUSDT", rate_per_s=3.0),
            CrossMomentumTaker(leader="BTCUSDT", follower="ETHUSDT", threshold=0.002, lag=1.0, window=5.0)]


def _bytes(res: liqsim.SimulationResult) -> bytes:
    out = b""
    for t in (res.series, res.trades, res.liquidations, res.accounts):
        sink = pa.BufferOutputStream()
        table = t.to_arrow()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        out += sink.getvalue().to_pybytes()
    return out


def test_same_seed_same_bytes_and_save_load_keeps_them(tmp_path):
    scn = _scenario(agents=_agents_busy(), index=_index(53_000.0), seed=5)
    a, b = liqsim.simulate(scn), liqsim.simulate(scn)
    assert _bytes(a) == _bytes(b)
    assert _bytes(liqsim.simulate(scn, seed=6)) != _bytes(a)
    scn.save(tmp_path / "two")
    back = liqsim.Scenario.load(tmp_path / "two")
    assert back.symbols == ["BTCUSDT", "ETHUSDT"] and back.agents == scn.agents
    assert _bytes(liqsim.simulate(back)) == _bytes(a)


def test_one_market_scenarios_save_as_before(tmp_path):
    scn = liqsim.Scenario(index={"ts": [0], "price": [3000.0]}, agents=[MarketMaker()], end=5.0)
    assert "symbol" not in scn.agents[0].to_dict()
    assert scn.markets is None and scn.symbols == ["ETHUSDT"]


def _spillover(name: str) -> dict[str, dict[str, float]]:
    return liqsim.simulate(liqsim.scenarios.load(name)).summary()


def test_builtin_spillover_eth_shorts_liquidated_with_cross_margin_only():
    cross, isolated = _spillover("btc-eth-spillover"), _spillover("btc-eth-spillover-isolated")
    # The breakout: BTC +4 % in both runs.
    for s in (cross, isolated):
        assert s["BTCUSDT"]["peak_change_pct"] == pytest.approx(4.0, abs=0.3)
        assert s["BTCUSDT"]["liquidated_short_count"] > 1000
        # ETH barely moves: its index is flat; its last price stays within 1 %.
        assert abs(s["ETHUSDT"]["peak_change_pct"]) < 1.0 and abs(s["ETHUSDT"]["last_change_pct"]) < 0.5
    # With cross margin the BTC losses liquidate hundreds of ETH shorts; isolated, none.
    assert cross["ETHUSDT"]["liquidated_short_count"] > 500
    assert cross["ETHUSDT"]["liquidated_short_notional"] > 20e6
    assert isolated["ETHUSDT"]["liquidated_short_count"] == 0
    assert cross["venue"]["transfers"] > 0 and isolated["venue"]["transfers"] == 0


def test_demo_runs_a_scenario_of_several_markets(capsys):
    from liqsim import cli

    assert cli.main(["demo", "--scenario", "btc-eth-spillover-isolated"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("liqsim demo: btc-eth-spillover-isolated")
    eth = next(line for line in out.splitlines() if line.strip().startswith("ETHUSDT"))
    assert eth.endswith("$0 (0) / $0 (0)")
