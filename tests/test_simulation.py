"""Scenarios and the simulation loop, as a user drives them from Python."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liqsim
from liqsim import agents

S = 1_000_000_000


def squeeze_scenario(pull: bool, seed: int = 1, n_shorts: int = 300) -> liqsim.Scenario:
    """ETH at 3,000; shorts of 1 ETH at 50x whose liquidation prices climb from ~3,010; a buyer
    lifting 2 ETH a second for 20 s; a maker with $30k within 10 bp; thin static liquidity every
    0.5% out to ±10%."""
    shorts = pd.DataFrame(
        {
            "trader_id": np.arange(1, n_shorts + 1),
            "balance": 40.0 + np.arange(n_shorts),
            "side": "short",
            "qty": 1.0,
            "entry_price": 3000.0,
            "leverage": 50,
        }
    )
    buyer = pd.DataFrame({"trader_id": [1_000_000], "balance": [10_000_000.0], "side": ["flat"], "qty": [0.0],
                          "entry_price": [np.nan], "leverage": [10]})
    offsets = 3000.0 * 0.005 * np.arange(1, 21)
    book = {"side": ["ask"] * 20 + ["bid"] * 20, "price": np.round(np.r_[3000 + offsets, 3000 - offsets], 2),
            "qty": np.full(40, 2.0)}
    orders = pl.DataFrame({"ts": (5 + np.arange(20)) * S, "trader_id": 1_000_000, "action": "market",
                           "side": "buy", "qty": 2.0})
    maker = agents.MarketMaker(depth_10bp=30_000, level_spacing_bp=2.0, refill_half_life=5.0,
                               pull_move=0.002 if pull else 0.0, pull_window=5.0, reload_after=60.0)
    return liqsim.Scenario(
        market={"venue": "binance", "symbol": "ETHUSDT", "mark_rule": "last", "insurance_fund": 1e6, "fees": (0.0, 0.0)},
        book=book, accounts=pd.concat([shorts, buyer]), orders=orders, index={"ts": [0], "price": [3000.0]},
        agents=[maker], end=60.0, sample_every=1.0, seed=seed,
    )


def test_a_scenario_from_pandas_and_polars_runs_and_returns_numpy():
    res = liqsim.simulate(squeeze_scenario(pull=False))
    series = res.series
    assert len(series) == 61
    assert series["ts"].dtype == np.int64 and series["last"].dtype == np.float64
    assert series.to_arrow().schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    for column in ("last", "mark", "index", "best_bid", "best_ask", "bid_depth_1pct", "ask_depth_1pct",
                   "open_interest", "funding_rate", "liquidated_long", "liquidated_short", "insurance_fund",
                   "cvd", "volume"):
        assert column in series
    assert series["cvd"][-1] > 0  # the buyer's 40 ETH (and liquidation buys) lifted offers
    assert len(res.trades) > 0 and len(res.liquidations) > 0
    s = res.summary()
    assert s["liquidated_short_count"] == len(res.liquidations) and s["liquidated_long_count"] == 0
    assert s["peak_price"] > 3000.0 and s["events"] > 500
    res.exchange.check_invariants()


def test_a_maker_that_pulls_its_offers_deepens_the_squeeze():
    refill = liqsim.simulate(squeeze_scenario(pull=False)).series
    pull = liqsim.simulate(squeeze_scenario(pull=True)).series
    at = 15  # ten seconds into the buying
    assert pull["last"][at] > refill["last"][at]
    assert pull["liquidated_short"][at] > 10 * refill["liquidated_short"][at]


def test_same_seed_same_bytes_other_seed_other_run(tmp_path):
    scn = squeeze_scenario(pull=True).replace(
        agents=[agents.MarketMaker(depth_10bp=30_000, pull_move=0.01), agents.NoiseTaker(rate_per_s=5, size_min=300)]
    )

    def run(s: liqsim.Scenario) -> bytes:
        res = liqsim.simulate(s)
        parts = [res.series.to_arrow(), res.trades.to_arrow(), res.liquidations.to_arrow(), res.accounts.to_arrow()]
        return b"".join(_ipc(t) for t in parts)

    a, b = run(scn), run(scn)
    assert a == b
    assert run(scn.replace(seed=2)) != a
    scn.save(tmp_path / "scn")
    assert run(liqsim.Scenario.load(tmp_path / "scn")) == a


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_save_writes_json_and_parquet(tmp_path):
    scn = squeeze_scenario(pull=False)
    out = scn.save(tmp_path / "saved")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["accounts.parquet", "book.parquet", "index.parquet", "orders.parquet", "scenario.json"]
    back = liqsim.Scenario.load(out)
    assert back.seed == scn.seed and back.end == scn.end and back.agents == scn.agents
    assert back.market == scn.market


def test_parts_are_attributes_and_replace_builds_a_new_scenario():
    scn = squeeze_scenario(pull=False)
    assert scn.market["venue"] == "binance" and scn.orders.num_rows == 20 and scn.seed == 1
    other = scn.replace(orders=None, seed=5)
    assert other.orders is None and other.seed == 5 and scn.orders is not None
    with pytest.raises(liqsim.ConfigError, match="did you mean 'orders'"):
        scn.replace(order=None)


def test_until_stops_early_and_seed_overrides():
    scn = squeeze_scenario(pull=False)
    res = liqsim.simulate(scn, until=10 * S, seed=3)
    assert res.series["ts"][-1] == 10 * S and res.scenario.seed == 3


def test_times_accept_datetime_types():
    start = pd.Timestamp("2025-05-08 12:00", tz="UTC")
    scn = liqsim.Scenario(
        index={"ts": [start.value], "price": [3000.0]},
        agents=[agents.MarketMaker(depth_10bp=1e5)],
        start=start.to_pydatetime(), end=np.timedelta64(30, "s"), sample_every=pd.Timedelta(seconds=10),
    )
    res = liqsim.simulate(scn)
    assert list(res.series.to_pandas()["ts"]) == [start + pd.Timedelta(seconds=10 * k) for k in range(4)]


def test_check_invariants_runs_through():
    res = liqsim.simulate(squeeze_scenario(pull=True, n_shorts=50), check_invariants=True)
    assert len(res.liquidations) > 0


# --- every kind of bad input names what is wrong ---------------------------------------------


def base(**changes):
    parts = dict(market={"mark_rule": "last"}, index={"ts": [0], "price": [3000.0]}, end=10.0)
    parts.update(changes)
    return parts


def test_unknown_column_is_refused_with_a_suggestion():
    with pytest.raises(liqsim.ScenarioError, match="did you mean 'qty'") as e:
        liqsim.Scenario(**base(orders={"ts": [0], "trader_id": [1], "action": ["market"], "side": ["buy"], "size": [1.0]}))
    assert e.value.table == "orders"


def test_unsorted_and_out_of_range_timestamps():
    with pytest.raises(liqsim.ScenarioError, match="column 'ts', row 1.*backwards"):
        liqsim.Scenario(**base(index={"ts": [5, 1], "price": [1.0, 2.0]}))
    with pytest.raises(liqsim.ScenarioError, match="row 0.*outside"):
        liqsim.Scenario(**base(index={"ts": [20 * S], "price": [1.0]}))


def test_end_not_after_start_and_bad_sampling():
    with pytest.raises(liqsim.ConfigError, match="end must be after start"):
        liqsim.Scenario(**base(start=10 * S, end=5 * S))
    with pytest.raises(liqsim.ConfigError, match="sample_every"):
        liqsim.Scenario(**base(sample_every=0))


def test_unknown_market_parameter_agent_type_and_agent_parameter():
    with pytest.raises(liqsim.ConfigError, match="did you mean 'venue'"):
        liqsim.Scenario(**base(market={"venu": "binance"}))
    with pytest.raises(liqsim.ConfigError, match="unknown agent type 'market_makr'.*did you mean 'market_maker'"):
        liqsim.Scenario(**base(agents=[{"type": "market_makr"}]))
    with pytest.raises(liqsim.ConfigError, match="did you mean 'pull_move'"):
        liqsim.Scenario(**base(agents=[{"type": "market_maker", "pull_mvoe": 0.01}]))


def test_unknown_venue_and_bad_agent_values_fail_before_running():
    with pytest.raises(liqsim.ConfigError, match="venue"):
        liqsim.simulate(liqsim.Scenario(**base(market={"venue": "binanse"})))
    with pytest.raises(liqsim.ConfigError, match="beta"):
        liqsim.simulate(liqsim.Scenario(**base(agents=[agents.MarketMaker(beta=-1.0)])))


def test_off_grid_price_and_non_positive_size_name_their_row():
    orders = {"ts": [0, 1], "trader_id": [-2, -2], "action": ["limit", "limit"], "side": ["buy", "buy"],
              "price": [2990.0, 2990.005], "qty": [1.0, 1.0]}
    with pytest.raises(liqsim.ScenarioError, match="table 'orders', column 'price', row 1.*multiple of 0.01"):
        liqsim.simulate(liqsim.Scenario(**base(orders=orders)))
    orders = {"ts": [0], "trader_id": [-2], "action": ["market"], "side": ["buy"], "qty": [-1.0]}
    with pytest.raises(liqsim.ScenarioError, match="column 'qty', row 0"):
        liqsim.simulate(liqsim.Scenario(**base(orders=orders)))


def test_unknown_trader_and_unknown_order_id():
    orders = {"ts": [0], "trader_id": [5], "action": ["market"], "side": ["buy"], "qty": [1.0]}
    with pytest.raises(liqsim.ScenarioError, match="column 'trader_id', row 0: trader 5 is not a loaded account"):
        liqsim.simulate(liqsim.Scenario(**base(orders=orders)))
    orders = {"ts": [0], "trader_id": [-2], "action": ["cancel"], "order_id": [7]}
    with pytest.raises(liqsim.ScenarioError, match="column 'order_id', row 0.*no earlier row"):
        liqsim.simulate(liqsim.Scenario(**base(orders=orders)))


def test_nan_and_crossed_start_book():
    with pytest.raises(liqsim.ScenarioError, match="column 'price'"):
        liqsim.simulate(liqsim.Scenario(**base(index={"ts": [0], "price": [np.nan]})))
    book = {"side": ["bid", "ask"], "price": [3001.0, 3000.0], "qty": [1.0, 1.0]}
    with pytest.raises(liqsim.ScenarioError, match="table 'book'.*row 1.*cross"):
        liqsim.simulate(liqsim.Scenario(**base(book=book)))


def test_an_account_already_under_maintenance_at_the_start_is_refused():
    accounts = {"trader_id": [1, 2], "balance": [1000.0, 1.0], "side": ["short", "short"], "qty": [1.0, 1.0],
                "entry_price": [2900.0, 2990.0], "leverage": [50, 50]}
    with pytest.raises(liqsim.ScenarioError, match="table 'accounts', column 'balance', row 1.*below maintenance"):
        liqsim.simulate(liqsim.Scenario(**base(accounts=accounts)))


def test_other_symbols_are_refused_not_ignored():
    with pytest.raises(liqsim.ScenarioError, match="one instrument per scenario"):
        liqsim.Scenario(**base(index={"ts": [0], "price": [1.0], "symbol": ["BTCUSDT"]}))


def test_stop_rows_name_their_problems():
    stop = {"ts": [0], "trader_id": [-2], "action": ["stop_market"], "side": ["buy"], "qty": [1.0]}
    with pytest.raises(liqsim.ScenarioError, match="column 'trigger_price', row 0"):
        liqsim.simulate(liqsim.Scenario(**base(orders=stop)))
    trailing = {**stop, "action": ["trailing_stop"], "trail": [5.0], "trail_fraction": [0.01]}
    with pytest.raises(liqsim.ScenarioError, match="not both"):
        liqsim.simulate(liqsim.Scenario(**base(orders=trailing)))
    with pytest.raises(liqsim.ScenarioError, match="trigger_on.*'lats'"):
        liqsim.simulate(liqsim.Scenario(**base(orders={**stop, "trigger_price": [3100.0], "trigger_on": ["lats"]})))


def test_stop_losses_chain_into_a_squeeze():
    """Shorts with reduce-only buy stops stacked above the price: a buy sets off the first,
    whose buys set off the next; without the stops the same buy stalls."""
    n = 50
    shorts = {"trader_id": 100 + np.arange(n), "balance": np.full(n, 3_000.0), "side": ["short"] * n,
              "qty": np.full(n, 5.0), "entry_price": np.full(n, 3000.0), "leverage": np.full(n, 10)}
    stops = pd.DataFrame({"ts": S, "trader_id": 100 + np.arange(n), "action": "stop_market", "side": "buy",
                          "qty": 5.0, "reduce_only": True, "order_id": np.arange(n),
                          "trigger_price": np.round(3000 * (1.002 + 0.0005 * np.arange(n)), 2)})
    buy = pd.DataFrame({"ts": [5 * S], "trader_id": [1_000_000], "action": ["market"], "side": ["buy"], "qty": [25.0]})
    scn = squeeze_scenario(pull=False, n_shorts=1).replace(
        accounts=pd.concat([squeeze_scenario(pull=False, n_shorts=1).accounts.to_pandas(), pd.DataFrame(shorts)]),
        orders=pd.concat([stops, buy]),
    )
    with_stops = liqsim.simulate(scn, check_invariants=True)
    without = liqsim.simulate(scn.replace(orders=buy))
    fired = with_stops.stops
    assert (fired["status"] == "triggered").sum() >= 10
    assert fired["round"].max() > 1
    assert with_stops.summary()["stops_triggered"] == (fired["status"] == "triggered").sum()
    assert (with_stops.trades["kind"] == "stop").any()
    assert np.nanmax(with_stops.series["last"]) > np.nanmax(without.series["last"]) + 3


def test_exchange_stop_api():
    ex = liqsim.Exchange(mark_rule="last", fees=(0.0, 0.0))
    ex.load_accounts({"trader_id": [1, 2], "balance": [100_000.0, 100_000.0]})
    ex.load_book({"side": ["ask", "ask", "bid"], "price": [3010.0, 3020.0, 2990.0], "qty": [1.0, 1.0, 5.0]})
    out = ex.submit_stop(2, "Buy", 1.0, trigger_price=3010.0)
    assert out["status"] == "waiting"
    assert len(ex.waiting_stops()) == 1 and ex.waiting_stops()["trigger_on"][0] == "last"
    ex.submit(1, "buy", 1.0)                       # lifts 3,010: the stop fires and lifts 3,020
    tape = ex.stops()
    assert list(tape["status"]) == ["triggered"] and tape["filled"][0] == 1.0
    assert ex.last == 3020.0 and len(ex.waiting_stops()) == 0
    assert ex.submit_stop(2, "sell", 1.0, trigger_price=3030.0)["reason"] == "stop_would_trigger_now"
    sid = ex.submit_stop(2, "sell", 1.0, trail_fraction=0.01)["stop_id"]
    assert ex.waiting_stops()["trigger_price"][0] == pytest.approx(2989.8)
    assert ex.cancel_stop(2, sid) and not ex.cancel_stop(2, sid)
    with pytest.raises(liqsim.OrderError, match="trigger_price"):
        ex.submit_stop(2, "sell", 1.0)
    ex.check_invariants()


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    depth=st.floats(2e4, 5e5),
    pull=st.sampled_from([0.0, 0.002, 0.01]),
    rate=st.floats(0.5, 20.0),
    n_shorts=st.integers(0, 60),
    buy=st.floats(0.5, 30.0),
)
def test_random_small_scenarios_keep_every_invariant(seed, depth, pull, rate, n_shorts, buy):
    scn = squeeze_scenario(pull=False, seed=seed, n_shorts=max(n_shorts, 1)).replace(
        agents=[
            agents.MarketMaker(depth_10bp=depth, pull_move=pull, pull_window=5.0, reload_after=10.0),
            agents.NoiseTaker(rate_per_s=rate, size_min=200.0),
            agents.MomentumTaker(threshold=0.001, base_notional=5_000.0),
            agents.PositionOpeners(accounts=50, balance=200.0, rate_per_s=2.0),
        ],
        orders={"ts": [5 * S], "trader_id": [1_000_000], "action": ["market"], "side": ["buy"],
                "qty": [round(buy, 3)]},
        end=30.0,
    )
    res = liqsim.simulate(scn, check_invariants=True)
    assert len(res.series) == 31


def test_cli_runs_a_saved_scenario_and_writes_its_tables(tmp_path, capsys):
    import json

    import pyarrow.parquet as pq

    from liqsim.cli import main

    squeeze_scenario(pull=True).save(tmp_path / "scn")
    assert main(["run", str(tmp_path / "scn"), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "liquidated_short_count" in printed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["liquidated_short_count"] > 0
    series = pq.read_table(tmp_path / "out" / "series.parquet")
    assert series.num_rows == 61 and str(series.schema.field("ts").type) == "timestamp[ns, tz=UTC]"
    assert main(["run", str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_stop_placer_from_a_dict_places_and_fires_stops():
    scn = liqsim.Scenario(
        market={"mark_rule": "last"}, index={"ts": [0], "price": [3000.0]},
        agents=[agents.MarketMaker(depth_10bp=1e5), agents.NoiseTaker(rate_per_s=3, size_min=2000),
                {"type": "stop_placer", "every": 5.0, "lookback": 60.0, "notional": 20_000.0}],
        end=120.0, seed=3,
    )
    res = liqsim.simulate(scn, check_invariants=True)
    assert len(res.stops) > 0 and res.summary()["stops_triggered"] >= 1


def test_states_kept_mid_run_give_maps_and_what_ifs():
    res = liqsim.simulate(squeeze_scenario(pull=True), keep_states=[4 * S, 20 * S])
    assert res.state_times == [4 * S, 20 * S]
    grid = np.linspace(2900.0, 4000.0, 111)
    before, after = liqsim.liquidation_map(res, grid, at=4 * S), liqsim.liquidation_map(res, grid, at=20 * S)
    # Before the buying the whole stack of shorts is on the map; by 20 s the squeeze took it.
    assert before["short_notional"].sum() > 500_000
    assert before["short_notional"].sum() > after["short_notional"].sum()
    end = liqsim.liquidation_map(res, grid)
    assert end["short_notional"].sum() <= after["short_notional"].sum()
    what_if = res.state_at(4 * S)                 # a copy: acting on it leaves the result alone
    what_if.submit(1_000_000, "buy", 50.0)
    assert len(what_if.liquidations()) > 0 and len(res.state_at(4 * S).liquidations()) == 0
    with pytest.raises(liqsim.ConfigError, match="no market state kept"):
        res.state_at(1 * S)
