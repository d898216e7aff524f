"""The market maker's inventory rules (skew, position limit) and its reload at given price levels,
as a user sees them from Python: on fixed seeds, the effect each rule is for."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import liqsim
from liqsim import agents

S = 1_000_000_000
MM = 7_000_000  # the maker under test trades on its own account


def flow_scenario(seed: int = 3, **maker: object) -> liqsim.Scenario:
    """ETH at a fixed index of 3,000; a background maker ($1M within 10 bp, no inventory rules) and
    the maker under test (the same profile, its own account), both around the index; noise takers
    with 80% buys (5 orders/s, Pareto sizes from $5,000) for ten minutes: a one-sided flow that
    leaves the makers short."""
    background = agents.MarketMaker(name="background", reference="index", depth_10bp=1e6)
    test = agents.MarketMaker(name="test", trader_id=MM, reference="index", depth_10bp=1e6, **maker)  # type: ignore[arg-type]
    noise = agents.NoiseTaker(rate_per_s=5.0, size_min=5_000.0, buy_share=0.8)
    return liqsim.Scenario(
        market={"venue": "binance", "symbol": "ETHUSDT", "fees": (0.0, 0.0)},
        book={"side": ["bid", "ask"], "price": [2700.0, 3300.0], "qty": [1.0, 1.0]},
        index={"ts": [0], "price": [3000.0]},
        agents=[background, test, noise],
        end=600.0,
        sample_every=1.0,
        seed=seed,
    )


def maker_fills(res: liqsim.SimulationResult) -> tuple[np.ndarray, np.ndarray]:
    """Times and signed sizes (ETH, + bought) of the fills of the maker under test."""
    t = res.trades
    mine = np.asarray(t["maker"]) == MM
    sign = np.where(np.asarray(t["aggressor"])[mine] == "buy", -1.0, 1.0)
    return np.asarray(t["ts"])[mine], sign * np.asarray(t["qty"])[mine]


def test_a_skewed_maker_keeps_a_smaller_inventory_under_one_sided_flow():
    # Buyers lift both makers' offers. The skewed maker, short, moves its quotes up (5 bp per $1M
    # short): its asks fall behind the background maker's and its bids move ahead, so it sells
    # less and buys back more.
    plain = liqsim.simulate(flow_scenario())
    skewed = liqsim.simulate(flow_scenario(skew_bp_per_million=5.0))
    _, q_plain = maker_fills(plain)
    _, q_skewed = maker_fills(skewed)
    pos_plain, pos_skewed = np.cumsum(q_plain), np.cumsum(q_skewed)
    # Unskewed it ends ~4,350 ETH short ($13M); skewed ~1,280 ETH.
    assert pos_plain[-1] < -3_000
    assert abs(pos_skewed[-1]) < 0.5 * abs(pos_plain[-1])
    assert np.abs(pos_skewed).max() < 0.5 * np.abs(pos_plain).max()
    # The account agrees with the tape.
    acc = skewed.accounts
    row = np.asarray(acc["trader_id"]) == MM
    assert np.asarray(acc["position"])[row][0] == pytest.approx(pos_skewed[-1], abs=1e-6)


def test_a_limited_maker_never_fills_past_its_limit():
    # Limit $1M of notional at the index 3,000 (the maker's reference, fixed here): one lot
    # (0.001 ETH) is worth $3, L = floor(1e6 / 3) = 333,333 lots = 333.333 ETH. The maker rests at
    # most L − position on the side that grows the position, so fills alone cannot carry it past
    # L, however many takers hit it between two refreshes. The reference does not move, so there
    # is no price-drift allowance: the bound is L itself.
    limit_eth = 333.333
    plain = liqsim.simulate(flow_scenario())
    limited = liqsim.simulate(flow_scenario(max_position=1e6))
    _, q_plain = maker_fills(plain)
    _, q = maker_fills(limited)
    pos = np.cumsum(q)
    assert np.abs(np.cumsum(q_plain)).max() > 3 * limit_eth  # the limit matters here
    assert np.abs(pos).max() <= limit_eth + 1e-9
    assert np.abs(pos).max() > 0.99 * limit_eth  # it did reach the limit
    # At the limit it kept quoting the side that brings the position back: it bought too.
    assert (q > 0).any() and (q < 0).any()


def test_a_limited_maker_on_a_moving_reference_drifts_only_with_the_price():
    # The limit is L = floor(1e6 / (reference × 0.001)) lots at each refresh's reference (the
    # index here), held in lots until the next refresh: the notional drifts with the price in
    # between, nothing else. The index steps by 10 every 20 s from 3,000 down to 2,850 and back;
    # a refresh (every 0.1 s) sees at most one step, so after each of the maker's fills at ts
    # |position| ≤ L at the index of ts − 0.1 s or of ts, whichever is larger.
    steps = [3000.0 - 10.0 * k for k in range(16)] + [2850.0 + 10.0 * k for k in range(1, 16)]
    step_ts = np.array([20 * S * k for k in range(len(steps))])
    scn = flow_scenario(max_position=1e6).replace(index={"ts": step_ts, "price": steps})
    res = liqsim.simulate(scn)
    ts, q = maker_fills(res)
    pos = np.cumsum(q)

    def limit_eth(t: np.ndarray) -> np.ndarray:
        index = np.asarray(steps)[np.searchsorted(step_ts, t, side="right") - 1]
        return np.floor(1e6 / (index * 0.001)) / 1000.0

    refresh = scn.agents[1].refresh_every
    bound = np.maximum(limit_eth(np.maximum(ts - refresh, 0)), limit_eth(ts))
    assert (np.abs(pos) <= bound + 1e-9).all()
    assert (np.abs(pos) > bound - 0.5).any()  # it went to the limit (within half an ETH)


def falling_index_scenario(**maker: object) -> liqsim.Scenario:
    """The index falls from 3,000: −20 at 10 s, then −10 every 2 s down to 2,900.00 (at 26 s),
    then flat. The maker pulls on a 0.3% move within 5 s; it would reload only after 300 s of
    calm. Static bids and asks 10% away; no takers (the pull rule watches the index)."""
    steps = [3000.0, 2980.0] + [2980.0 - 10.0 * k for k in range(1, 9)]
    ts = [0, 10 * S] + [(10 + 2 * k) * S for k in range(1, 9)]
    mm = agents.MarketMaker(reference="index", depth_10bp=1e6, refill_half_life=0.5, pull_move=0.003,
                            pull_window=5.0, pull_both_sides=True, reload_after=300.0, **maker)  # type: ignore[arg-type]
    return liqsim.Scenario(
        market={"venue": "binance", "symbol": "ETHUSDT", "fees": (0.0, 0.0)},
        book={"side": ["bid", "ask"], "price": [2700.0, 3300.0], "qty": [1.0, 1.0]},
        index={"ts": ts, "price": steps},
        agents=[mm],
        end=60.0,
        sample_every=1.0,
    )


def test_a_pulled_maker_returns_when_the_index_reaches_a_reload_level():
    without = liqsim.simulate(falling_index_scenario()).series
    with_level = liqsim.simulate(falling_index_scenario(reload_levels=[2900.0])).series
    near = lambda s: np.asarray(s["bid_depth_1pct"]) + np.asarray(s["ask_depth_1pct"])  # noqa: E731
    d_without, d_with = near(without), near(with_level)
    assert d_without[5] > 1e6 and d_with[5] > 1e6  # quoting before the fall
    # Pulled from the first drop until 2,900.00 is reached at 26 s (2,910 at 24 s is not it)...
    assert (d_with[11:26] < 2_000).all() and (d_without[11:26] < 2_000).all()
    # ...then back within a second with the level; without it, out for the rest of the run.
    assert (d_with[27:] > 1e6).all()
    assert (d_without[27:] < 2_000).all()


def test_inventory_parameters_default_off_and_leave_results_unchanged():
    mm = agents.MarketMaker()
    assert (mm.skew_bp_per_million, mm.max_position, mm.reload_levels) == (0.0, 0.0, ())
    base = flow_scenario()
    explicit = base.replace(agents=[a if a.name != "test" else agents.MarketMaker(
        name="test", trader_id=MM, reference="index", depth_10bp=1e6, skew_bp_per_million=0.0, max_position=0.0,
        reload_levels=[]) for a in base.agents])
    a, b = liqsim.simulate(base), liqsim.simulate(explicit)
    assert _ipc(a.trades.to_arrow()) == _ipc(b.trades.to_arrow())


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"skew_bp_per_million": -1.0}, "market_maker.skew_bp_per_million", "quoter: skew_bp_per_million must be"),
        ({"skew_bp_per_million": float("inf")}, "market_maker.skew_bp_per_million", "finite number ≥ 0"),
        ({"max_position": float("nan")}, "market_maker.max_position", "quoter: max_position must be"),
        ({"max_position": "1e6"}, "market_maker.max_position", "got '1e6'"),
        ({"max_position": 1e26}, "market_maker.max_position", r"quoter: max_position must be below 1e\+26 quote"),
        ({"reload_levels": [3000.0, 0.0]}, "market_maker.reload_levels", "quoter: reload_levels row 1"),
        ({"reload_levels": [3000.0, 3000]}, "market_maker.reload_levels", "lists 3000 twice"),
        ({"reload_levels": 3000.0}, "market_maker.reload_levels", "must be a list of prices"),
    ],
)
def test_bad_inventory_values_name_the_agent_and_parameter(params, parameter, message):
    with pytest.raises(liqsim.ConfigError, match=message) as err:
        agents.MarketMaker(name="quoter", **params)
    assert err.value.parameter == parameter


def test_an_off_grid_reload_level_is_refused_when_the_run_starts():
    scn = falling_index_scenario(reload_levels=[2900.005])
    with pytest.raises(liqsim.ConfigError, match=r"agent 0: reload_levels row 0: price 2900.005 is not a multiple of the tick size 0.01"):
        liqsim.simulate(scn)


def test_inventory_parameters_survive_save_and_load_and_old_files_still_load(tmp_path):
    scn = flow_scenario(skew_bp_per_million=2.5, max_position=5e5, reload_levels=[3100.0, 2900.0]).replace(end=60.0)
    scn.save(tmp_path / "new")
    doc = json.loads((tmp_path / "new" / "scenario.json").read_text())
    saved = [a for a in doc["agents"] if a["name"] == "test"][0]
    assert (saved["skew_bp_per_million"], saved["max_position"], saved["reload_levels"]) == (2.5, 5e5, [2900.0, 3100.0])
    back = liqsim.Scenario.load(tmp_path / "new")
    assert back.agents == scn.agents
    assert _ipc(liqsim.simulate(back).trades.to_arrow()) == _ipc(liqsim.simulate(scn).trades.to_arrow())
    # A scenario.json written before these parameters existed loads with them off.
    old = flow_scenario().replace(end=60.0)
    old.save(tmp_path / "old")
    path = tmp_path / "old" / "scenario.json"
    doc = json.loads(path.read_text())
    for a in doc["agents"]:
        for key in ("skew_bp_per_million", "max_position", "reload_levels"):
            a.pop(key, None)
    path.write_text(json.dumps(doc))
    loaded = liqsim.Scenario.load(tmp_path / "old")
    assert loaded.agents == old.agents
    assert _ipc(liqsim.simulate(loaded).trades.to_arrow()) == _ipc(liqsim.simulate(old).trades.to_arrow())


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_reload_levels_are_on_the_grid_of_the_makers_own_market():
    # Two markets with different ticks: 50,000.05 is on ETH's 0.01 grid, not on BTC's 0.1 grid.
    markets = {
        "BTCUSDT": {"venue": "binance", "tick_size": 0.1, "lot_size": 0.001, "mark_rule": "index"},
        "ETHUSDT": {"venue": "binance", "tick_size": 0.01, "lot_size": 0.001, "mark_rule": "index"},
    }
    index = {"ts": [0, 0], "symbol": ["BTCUSDT", "ETHUSDT"], "price": [50_000.0, 3_000.0]}

    def scenario(btc_levels: list[float]) -> liqsim.Scenario:
        makers = [
            agents.MarketMaker(symbol="BTCUSDT", reference="index", depth_10bp=2e6, pull_move=0.01,
                               reload_levels=btc_levels),
            agents.MarketMaker(symbol="ETHUSDT", reference="index", depth_10bp=1e6, pull_move=0.01,
                               reload_levels=[2_900.05]),
        ]
        return liqsim.Scenario(market=markets, index=index, agents=makers, end=5.0)

    assert len(liqsim.simulate(scenario([49_000.0])).series) > 0
    with pytest.raises(liqsim.ConfigError, match=r"agent 0: reload_levels row 0: price 50000.05 is not a multiple of the tick size 0.1"):
        liqsim.simulate(scenario([50_000.05]))
