"""The scenario builder and the built-in scenarios of reported squeezes (REFERENCE.md §5)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import liqsim
from liqsim.scenarios import CLUSTER_ID_BASE, Cluster


def _accounts(scn: liqsim.Scenario) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in scn.accounts.to_pydict().items()}


def _backing(acc: dict[str, np.ndarray]) -> np.ndarray:
    """The money behind each single position: isolated margin, or the cross wallet."""
    iso = acc["margin_mode"] == "isolated"
    return np.where(iso, np.asarray(acc["isolated_margin"], dtype=float), acc["balance"])


@pytest.mark.parametrize("venue", ["binance", "bybit", "hyperliquid", "dydx"])
@pytest.mark.parametrize("symbol,price,side,low,high", [
    ("ETHUSDT", 3750.0, "short", 3800.0, 4000.0),
    ("BTCUSDT", 95000.0, "long", 88000.0, 92000.0),
])
def test_clusters_land_exactly_in_their_band_on_every_venue(venue, symbol, price, side, low, high):
    scn = liqsim.scenarios.build(symbol=symbol, venue=venue, price=price, population=0,
                                 clusters=[Cluster(side, 331e6, low, high, accounts=300, leverage=(5, 100))],
                                 duration=10.0, seed=3)
    acc = _accounts(scn)
    assert (acc["side"] == side).all() and len(acc["trader_id"]) == 300
    lp = liqsim.liquidation_price(acc["side"], acc["qty"], acc["entry_price"], _backing(acc), venue=venue, symbol=symbol)
    assert low < lp.min() and lp.max() < high
    # The stack is the headline to within lot rounding (300 × half a lot × price).
    assert abs((acc["qty"] * acc["entry_price"]).sum() - 331e6) < 300 * 0.0005 * high
    assert {"cross", "isolated"} == set(acc["margin_mode"])


def test_the_closed_form_inverse_matches_the_forward_formula():
    # Binance BTCUSDT tier 2 (MMR 0.5 %, cum 50): a 1 BTC short at 95,000 liquidated at 97,000
    # needs 97,000 × 0.005 − 50 + 2,000 = 2,435 (worked in rust/liqsim-core/src/scenarios.rs).
    b = liqsim._core.balances_for_liquidation_prices(np.array([-1.0]), np.array([95000.0]), np.array([97000.0]),
                                                     "binance", "BTCUSDT")
    assert b[0] == pytest.approx(2435.0)
    assert liqsim.liquidation_price("short", 1.0, 95000.0, b[0]) == pytest.approx(97000.0)
    # No positive balance liquidates a short below its entry.
    nan = liqsim._core.balances_for_liquidation_prices(np.array([-1.0]), np.array([3000.0]), np.array([2900.0]),
                                                       "binance", "ETHUSDT")
    assert np.isnan(nan[0])


def test_population_follows_the_leverage_mix_and_starts_settled():
    scn = liqsim.scenarios.build(price=3000.0, open_interest=200e6, long_share=0.6, population=3000, seed=1,
                                 duration=5.0)
    acc = _accounts(scn)
    notional = acc["qty"] * acc["entry_price"]
    assert notional.sum() == pytest.approx(200e6, rel=0.01)
    assert notional[acc["side"] == "long"].sum() / notional.sum() == pytest.approx(0.6, abs=0.01)
    # Bimodal mix: most open interest at ≤ 5x (MODELS.md §4).
    assert notional[acc["leverage"] <= 5].sum() / notional.sum() > 0.6
    lp = liqsim.liquidation_price(acc["side"], acc["qty"], acc["entry_price"], _backing(acc), symbol="ETHUSDT")
    longs = acc["side"] == "long"
    assert (np.nan_to_num(lp[longs]) < 3000.0).all() and (lp[~longs] > 3000.0).all()
    liqsim.simulate(scn)  # nothing is liquidatable at the start (build_exchange checks)


def test_same_seed_same_scenario_other_seed_another():
    a = liqsim.scenarios.build(clusters=[Cluster("short", 1e6, 3100, 3200, accounts=20)], duration=5.0, seed=4)
    b = liqsim.scenarios.build(clusters=[Cluster("short", 1e6, 3100, 3200, accounts=20)], duration=5.0, seed=4)
    c = liqsim.scenarios.build(clusters=[Cluster("short", 1e6, 3100, 3200, accounts=20)], duration=5.0, seed=5)
    assert _ipc(a.accounts) == _ipc(b.accounts) != _ipc(c.accounts)


def test_bad_builder_input_is_one_clear_error():
    with pytest.raises(liqsim.ConfigError, match=r"clusters\[0\].*already be liquidated at the price 3,750"):
        liqsim.scenarios.build(price=3750.0, clusters=[Cluster("short", 1e6, 3700, 4000)])
    with pytest.raises(liqsim.ConfigError, match=r"clusters\[0\] has no field 'notionl' \(did you mean 'notional'\?\)"):
        liqsim.scenarios.build(price=3750.0, clusters=[{"side": "short", "notionl": 1e6, "low": 3800, "high": 4000}])
    with pytest.raises(liqsim.ConfigError, match="depth_10bp must be"):
        liqsim.scenarios.build(depth_10bp=-1.0)
    with pytest.raises(liqsim.ConfigError, match="leverage_mix"):
        liqsim.scenarios.build(leverage_mix=[(500, 1.0)])
    with pytest.raises(liqsim.ConfigError, match="no built-in scenario 'eth-4k-sqeeze'.*eth-4k-squeeze"):
        liqsim.scenarios.load("eth-4k-sqeeze")


# --- the built-in scenarios ----------------------------------------------------------------------

_RUNS: dict[str, liqsim.SimulationResult] = {}


def _run(name: str) -> liqsim.SimulationResult:
    if name not in _RUNS:
        _RUNS[name] = liqsim.simulate(liqsim.scenarios.load(name))
    return _RUNS[name]


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _bytes(res: liqsim.SimulationResult) -> bytes:
    return b"".join(_ipc(t.to_arrow()) for t in (res.series, res.trades, res.liquidations, res.accounts, res.adl))


def test_names_default_first_and_each_described():
    names = liqsim.scenarios.names()
    assert names == ["eth-4k-squeeze", "eth-6b-short-wall", "eth-pectra-rally", "btc-95k-breakout", "btc-93k-rejection",
                     "depth-collapse-2025-10-10", "btc-eth-spillover", "btc-eth-spillover-isolated"]
    for name in names:
        d = liqsim.scenarios.describe(name)
        assert d.name == name and len(d.description) > 200 and d.reported


@pytest.mark.parametrize("name", liqsim.scenarios.names())
def test_each_builtin_runs_in_under_5_s_and_saves_to_identical_results(name, tmp_path):
    scn = liqsim.scenarios.load(name)
    res = _run(name)
    assert res.wall_time < 5.0
    scn.save(tmp_path / name)
    again = liqsim.simulate(liqsim.Scenario.load(tmp_path / name))
    assert _bytes(again) == _bytes(res)


@pytest.mark.parametrize("name", ["eth-pectra-rally", "btc-95k-breakout", "btc-93k-rejection"])
def test_events_that_happened_land_within_30_percent_of_the_reports(name):
    d = liqsim.scenarios.describe(name)
    s = _run(name).summary()
    simulated = s[f"liquidated_{d.squeezed_side}_notional"]
    assert simulated == pytest.approx(d.reported_liquidations, rel=0.30), f"{simulated / 1e6:.0f}M"
    if d.reported_move_pct is not None:
        assert s["last_change_pct"] == pytest.approx(d.reported_move_pct, rel=0.30)
    if name == "btc-93k-rejection":
        # Rejected inside the reported zone (92,800–93,900), then the flush; longs dominate.
        assert 92_800 <= s["peak_price"] <= 93_900 and s["last_change_pct"] < -1.0
        assert 117e6 * 0.7 <= simulated <= 177e6 * 1.3
        assert s["liquidated_long_notional"] > 3 * s["liquidated_short_notional"]


def _cluster_share_liquidated(name: str) -> tuple[float, float]:
    scn = liqsim.scenarios.load(name)
    acc = _accounts(scn)
    stacked_mask = acc["trader_id"] >= CLUSTER_ID_BASE
    notional = acc["qty"] * acc["entry_price"]
    liquidated = np.isin(acc["trader_id"], _run(name).liquidations["trader_id"])
    return notional[stacked_mask].sum(), notional[stacked_mask & liquidated].sum() / notional[stacked_mask].sum()


def test_eth_4k_the_stack_is_the_headline_and_a_breakout_to_4050_takes_all_of_it():
    stacked, share = _cluster_share_liquidated("eth-4k-squeeze")
    assert stacked == pytest.approx(331e6, rel=1e-4)
    assert share == 1.0
    s = _run("eth-4k-squeeze").summary()
    assert s["peak_price"] > 4050 and s["liquidated_short_notional"] > 331e6


def test_eth_6b_wall_the_stack_is_the_headline_and_a_move_halfway_in_takes_about_half():
    stacked, share = _cluster_share_liquidated("eth-6b-short-wall")
    assert stacked == pytest.approx(6e9, rel=1e-4)
    # The index stops at 4,700, the middle of the 4,600–4,800 wall: about half of it goes.
    assert 0.35 < share < 0.8


@settings(max_examples=40, deadline=None)
@given(
    venue=st.sampled_from(["binance", "bybit", "hyperliquid", "dydx"]),
    side=st.sampled_from(["long", "short"]),
    gap=st.floats(0.001, 0.2),
    width=st.floats(0.001, 0.2),
    lev_low=st.floats(2.0, 60.0),
    lev_span=st.floats(1.0, 2.0),
    notional=st.floats(1e4, 5e9),
    seed=st.integers(0, 2**32),
)
def test_any_cluster_lands_in_its_band(venue, side, gap, width, lev_low, lev_span, notional, seed):
    price = 3000.0
    if side == "short":
        low, high = price * (1 + gap), price * (1 + gap + width)
    else:
        low, high = price * (1 - gap - width), price * (1 - gap)
    lev = (lev_low, min(lev_low * lev_span, 125.0))
    try:
        scn = liqsim.scenarios.build(venue=venue, price=price, population=0, duration=5.0, seed=seed,
                                     clusters=[Cluster(side, notional, low, high, accounts=50, leverage=lev)])
    except liqsim.ConfigError as err:
        # The only refusal: no positive balance reaches a band that far at that leverage.
        assert "no positive balance" in str(err)
        return
    acc = _accounts(scn)
    lp = liqsim.liquidation_price(acc["side"], acc["qty"], acc["entry_price"], _backing(acc), venue=venue, symbol="ETHUSDT")
    assert (low < lp).all() and (lp < high).all()


def test_background_open_interest_sits_at_low_leverage_and_liquidations_come_from_high():
    # MODELS.md §4: most open interest at low leverage, most liquidations from 20–100x.
    acc = _accounts(liqsim.scenarios.load("eth-4k-squeeze"))
    background = acc["trader_id"] < CLUSTER_ID_BASE
    notional = acc["qty"] * acc["entry_price"]
    assert notional[background & (acc["leverage"] <= 5)].sum() > 0.6 * notional[background].sum()
    liquidated = background & np.isin(acc["trader_id"], _run("eth-4k-squeeze").liquidations["trader_id"])
    assert notional[liquidated & (acc["leverage"] >= 20)].sum() > 0.6 * notional[liquidated].sum()


def test_static_share_of_the_depth_is_a_concave_book_on_the_tick_grid():
    scn = liqsim.scenarios.build(price=3000.0, depth_10bp=2e6, maker_share=0.25, population=0, duration=5.0, seed=2)
    book = {k: np.asarray(v) for k, v in scn.book.to_pydict().items()}
    assert np.allclose(np.round(book["price"] / 0.01) * 0.01, book["price"])
    asks = book["side"] == "ask"
    quote = book["price"] * book["qty"]
    within = lambda x: quote[asks & (book["price"] <= 3000.0 * (1 + x))].sum()  # noqa: E731
    # MODELS.md §1: D(x) = D10 · (x / 10 bp)^0.65 with D10 = 75% of $2M; ±15% level noise.
    assert within(0.001) == pytest.approx(1.5e6, rel=0.2)
    assert within(0.01) == pytest.approx(1.5e6 * 10**0.65, rel=0.1)
    assert within(0.01) / within(0.001) < 10  # concave
    assert len(scn.agents) == 2 and scn.agents[0].depth_10bp == pytest.approx(0.5e6)
