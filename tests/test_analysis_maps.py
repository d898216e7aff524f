"""Exact liquidation maps: hand-worked numbers, a brute-force property, Exchange input, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import liqsim
import liqsim.scenarios
from liqsim.analysis import cluster_summary, find_clusters, liquidation_map, liquidation_prices, notional_within
from liqsim.analysis.maps import build_map
from liqsim.results import Table


def test_hand_worked_isolated_examples_reference_section_1():
    # REFERENCE §1 example 4 uses MMR 1 %, cum 0.01: a one-tier custom table with those figures
    # (floor 0, MMR 1 %) has cum 0, so the figures below are Binance's formula worked by hand:
    # long 1 @ 10, 5x isolated: margin 2 → LP = (2 − 10) / (0.01 − 1) = 8.080808…
    # short 1 @ 10, 5x isolated: LP = (2 + 10) / (0.01 + 1) = 11.881188…
    tiers = {"floor": [0.0], "cap": [1e12], "mmr": [0.01], "max_leverage": [100]}
    accts = {
        "balance": [0.0, 0.0],
        "margin_mode": ["isolated", "isolated"],
        "side": ["long", "short"],
        "qty": [1.0, 1.0],
        "entry_price": [10.0, 10.0],
        "leverage": [5.0, 5.0],
    }
    lp = liquidation_prices(accts, venue="binance", symbol="X", tiers=tiers)
    assert lp == pytest.approx([8.0 / 0.99, 12.0 / 1.01], rel=1e-12)
    m = liquidation_map(accts, [7.0, 8.0, 9.0, 10.0, 11.0, 12.0], symbol="X", tiers=tiers, mark=10.0)
    assert m["long_notional"].tolist() == pytest.approx([0, 8.0 / 0.99, 0, 0, 0])
    assert m["short_notional"].tolist() == pytest.approx([0, 0, 0, 0, 12.0 / 1.01])
    assert m["long_count"].tolist() == [0, 1, 0, 0, 0]
    # Cumulative: longs liquidated if price falls to each bucket's low; shorts if it rises to its high.
    assert m["cum_long_notional"].tolist() == pytest.approx([8 / 0.99, 8 / 0.99, 0, 0, 0])
    assert m["cum_short_notional"].tolist() == pytest.approx([0, 0, 0, 0, 12 / 1.01])
    assert m.mark == 10.0


def test_cross_uses_the_wallet_and_matches_liquidation_price():
    # Binance BTCUSDT preset, first tier (MMR 0.4 %, cum 0): long 1 @ 50,000 cross with wallet
    # 5,000 → LP = (5,000 − 50,000) / (0.004 − 1) = 45,180.72…
    accts = {"balance": [5_000.0], "side": ["long"], "qty": [1.0], "entry_price": [50_000.0]}
    lp = liquidation_prices(accts, venue="binance", symbol="BTCUSDT")
    assert lp[0] == pytest.approx(45_000 / 0.996, rel=1e-12)
    assert lp[0] == pytest.approx(liqsim.liquidation_price("long", 1.0, 50_000.0, 5_000.0)[()], rel=1e-15)


def test_no_liquidation_price_is_counted_apart():
    accts = {"balance": [200.0, 10.0], "side": ["long", "flat"], "qty": [1.0, 0.0], "entry_price": [100.0, np.nan]}
    m = liquidation_map(accts, [50.0, 150.0])
    assert m["long_notional"].sum() == 0
    assert m.outside["long"]["never"] == pytest.approx(100.0)


def test_outside_the_grid_enters_the_cumulative_curves():
    accts = {"balance": [10.0, 10.0], "side": ["long", "short"], "qty": [1.0, 1.0], "entry_price": [100.0, 100.0]}
    m = liquidation_map(accts, [95.0, 100.0, 105.0])  # long LP 90.36 below, short 109.56 above
    assert m["long_notional"].sum() == 0 and m["short_notional"].sum() == 0
    assert m.outside["long"]["below"] == pytest.approx(90.0 / 0.996)
    assert m.outside["short"]["above"] == pytest.approx(110.0 / 1.004)
    assert m["cum_long_notional"].tolist() == [0.0, 0.0]


accounts_strategy = st.lists(
    st.tuples(
        st.sampled_from(["long", "short", "flat"]),
        st.floats(0.001, 50.0),
        st.floats(1_000.0, 200_000.0),
        st.floats(0.0, 2_000_000.0),
        st.sampled_from(["cross", "isolated"]),
        st.sampled_from([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=accounts_strategy, venue=st.sampled_from(["binance", "bybit", "hyperliquid", "dydx"]),
       buckets=st.integers(1, 40))
def test_exact_map_equals_brute_force(rows, venue, buckets):
    side, qty, entry, balance, mode, lev = (np.array(c) for c in zip(*rows))
    qty = np.where(side == "flat", 0.0, qty)
    accts = {"balance": balance, "margin_mode": mode, "side": side, "qty": qty, "entry_price": entry, "leverage": lev}
    edges = np.linspace(500.0, 250_000.0, buckets + 1)
    m = liquidation_map(accts, edges, venue=venue, symbol="BTCUSDT")
    # Brute force: one position at a time through the public per-position formula.
    long_n, short_n = np.zeros(buckets), np.zeros(buckets)
    for s, q, e, b, md, lv in zip(side, qty, entry, balance, mode, lev):
        if s == "flat":
            continue
        backing = q * e / lv if md == "isolated" else b
        lp = float(liqsim.liquidation_price(s, q, e, backing, venue=venue, symbol="BTCUSDT")[()])
        if np.isnan(lp):
            continue
        for i in range(buckets):
            if edges[i] <= lp < edges[i + 1]:
                (long_n if s == "long" else short_n)[i] += q * lp
    np.testing.assert_allclose(m["long_notional"], long_n, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(m["short_notional"], short_n, rtol=1e-12, atol=1e-9)


def test_from_an_exchange_uses_its_accounts_and_mark():
    market = liqsim.scenarios.eth_short_squeeze(n_shorts=300, n_longs=100)
    ex = liqsim.scenarios.build_exchange(market)
    m = liqsim.liquidation_map(ex)
    assert m.mark == ex.mark and m.symbol == "ETHUSDT"
    a = ex.accounts()
    people = (a["trader_id"] >= 0) & (a["position"] != 0)
    lp = a["liquidation_price"][people]
    inside = (lp >= m.edges[0]) & (lp < m.edges[-1])
    expect = (np.abs(a["position"][people]) * lp)[inside & (a["position"][people] < 0)].sum()
    assert m["short_notional"].sum() == pytest.approx(expect, rel=1e-12)
    # The table the exchange was loaded from gives the same map to within a tick per position.
    m2 = liqsim.liquidation_map(market["accounts"], m.edges, venue="binance", symbol="ETHUSDT")
    assert m2["short_notional"].sum() == pytest.approx(m["short_notional"].sum(), rel=1e-3)


def test_result_converts_to_arrow_pandas_polars():
    accts = {"balance": [10.0], "side": ["short"], "qty": [1.0], "entry_price": [100.0]}
    m = liquidation_map(accts, 10, mark=100.0)
    assert isinstance(m, Table)
    assert pa.table(m).num_rows == 10
    assert isinstance(m.to_pandas(), pd.DataFrame)
    assert pl.DataFrame(m.to_polars()).height == 10
    assert len(m.edges) == 11


def test_bad_input_names_table_column_row():
    accts = {"balance": [10.0, 10.0], "side": ["long", "long"], "qty": [1.0, 1.0], "entry_price": [100.0, -5.0]}
    with pytest.raises(liqsim.ScenarioError) as err:
        liquidation_map(accts)
    assert (err.value.table, err.value.column, err.value.row) == ("accounts", "entry_price", 1)
    with pytest.raises(liqsim.ScenarioError, match="side"):
        liquidation_map({"balance": [1.0], "side": ["up"], "qty": [1.0], "entry_price": [1.0]})
    with pytest.raises(ValueError, match="price_grid"):
        liquidation_map({"balance": [1.0], "side": ["long"], "qty": [1.0], "entry_price": [1.0]}, [2.0, 1.0])
    with pytest.raises(liqsim.LiqsimError, match="venue"):
        liquidation_map({"balance": [1.0], "side": ["long"], "qty": [1.0], "entry_price": [1.0]}, venue="nope")


def test_symbol_column_filters_rows():
    accts = {"trader_id": [1, 2], "symbol": ["BTCUSDT", "ETHUSDT"], "balance": [10.0, 10.0],
             "side": ["long", "long"], "qty": [1.0, 1.0], "entry_price": [100.0, 100.0]}
    lp = liquidation_prices(accts, symbol="BTCUSDT")
    assert np.isfinite(lp[0]) and np.isnan(lp[1])


#: Trader 1: one cross account, long 2 BTC @ 50,000 (sub-wallet 0) and short 10 ETH @ 3,000 with
#: 2,000 USDT; trader 2 the same ETH short alone; trader 3 long 1 ETH, isolated, also in BTC.
TWO_LEG_ROWS = {
    "symbol": ["ETHUSDT", "BTCUSDT", "ETHUSDT", "BTCUSDT", "ETHUSDT", "BTCUSDT"],
    "trader_id": [2, 1, 1, 3, 3, 4],
    "balance": [2_000.0, 0.0, 2_000.0, 500.0, 0.0, 1e6],
    "margin_mode": ["cross", "cross", "cross", "cross", "isolated", "cross"],
    "side": ["short", "long", "short", "short", "long", "short"],
    "qty": [10.0, 2.0, 10.0, 0.01, 1.0, 1.99],
    "entry_price": [3_000.0, 50_000.0, 3_000.0, 50_000.0, 3_000.0, 50_000.0],
    "leverage": [20, 20, 20, 20, 20, 20],
}


def test_a_table_map_puts_a_cross_account_s_leg_at_the_venue_s_trigger():
    # Binance's 2024 tiers (REFERENCE §1): ETH 0–50k 0.4 %; BTC 50k–600k 0.5 % less 50.
    # Trader 1's ETH leg, its BTC leg at entry (no mark in a table: PnL 0, MM 0.5 % × 100,000 − 50
    # = 450): 2,000 − 10 (Q − 3,000) ≤ 450 + 0.4 % × 10 Q → Q ≥ 31,550 / 10.04 = 3,142.430… →
    # 3,142.44 (ETH's tick 0.01). Alone (trader 2): 32,000 / 10.04 = 3,187.2509….
    lp = liquidation_prices(TWO_LEG_ROWS, symbol="ETHUSDT")
    assert lp[2] == 3_142.44
    assert lp[0] == pytest.approx(32_000 / 10.04, rel=1e-12)
    # Trader 3's isolated ETH long is its own position (isolated margin 1 × 3,000 / 20 = 150);
    # rows of BTC are NaN on the ETH map.
    alone = liquidation_prices({k: [v[4]] for k, v in TWO_LEG_ROWS.items()}, symbol="ETHUSDT")
    assert lp[4] == alone[0] and np.isnan(lp[[1, 3, 5]]).all()
    # The same rows in a MultiExchange (as a scenario of several markets loads them): the venue-map
    # path gives the same trigger, and the same map.
    venue = liqsim.MultiExchange({s: liqsim.Exchange("binance", s) for s in ("ETHUSDT", "BTCUSDT")})
    venue.load_accounts({k: [v[i] for i in (1, 2)] for k, v in TWO_LEG_ROWS.items()})
    assert venue._v._triggers_at_marks("ETHUSDT")[-1] == lp[2]
    grid = [3_100.0, 3_142.43, 3_142.45, 3_190.0]
    via_venue = liquidation_map(venue, grid, symbol="ETHUSDT")
    from_table = liquidation_map({k: [v[i] for i in (1, 2)] for k, v in TWO_LEG_ROWS.items()}, grid, symbol="ETHUSDT")
    for c in ("short_notional", "short_count", "long_count"):
        assert from_table[c].tolist() == via_venue[c].tolist(), c
    assert from_table["short_notional"].tolist() == [0.0, 10 * 3_142.44, 0.0]
    # The whole table: trader 1 at 3,142.44, trader 2 at 3,187.25.
    m = liquidation_map(TWO_LEG_ROWS, grid, symbol="ETHUSDT")
    assert m["short_count"].tolist() == [0, 1, 1] and m["long_count"].sum() == 0
    # The BTC map: trader 1's long leg, its ETH leg at entry (MM 0.4 % × 30,000 = 120):
    # 2 (P − 50,000) + 2,000 ≤ (0.5 % × 2 P − 50) + 120 → 1.99 P ≤ 98,070 → P ≤ 49,281.407… →
    # 49,281.40 (BTC at the default tick 0.01, rounded down for a long).
    btc = liquidation_prices(TWO_LEG_ROWS, symbol="BTCUSDT")
    assert btc[1] == 49_281.40


def test_a_table_map_of_several_symbols_names_the_caller_s_row():
    rows = {k: list(v) for k, v in TWO_LEG_ROWS.items()}
    rows["qty"][1] = 2.0005  # trader 1's BTC leg: off BTC's lot of 0.001 (the venue's first leg row)
    with pytest.raises(liqsim.ScenarioError, match="multiple of 0.001") as err:
        liquidation_map(rows, 10, symbol="ETHUSDT")
    assert (err.value.table, err.value.column, err.value.row) == ("accounts", "qty", 1)
    rows = {k: list(v) for k, v in TWO_LEG_ROWS.items()}
    rows["symbol"][2] = None  # trader 1's ETH row: no market
    with pytest.raises(liqsim.ScenarioError, match="missing symbol") as err:
        liquidation_prices(rows, symbol="ETHUSDT")
    assert (err.value.column, err.value.row) == ("symbol", 2)


def test_clusters_and_bands_hand_worked():
    # Shorts: buckets [100,101) … [104,105) with 0, 5, 1, 4, 0 → with min_share 0.5 the candidates
    # are 101.5 (5) and 103.5 (4); 2.0 apart ≤ 2.5 % of 101.5 → one cluster 101–104 holding 10.
    m = build_map(np.arange(100.0, 106.0), np.zeros(5), np.array([0, 5.0, 1.0, 4.0, 0]), mark=100.0)
    c = find_clusters(m, min_share=0.5, merge_within=0.025)
    assert c["side"].tolist() == ["short"]
    assert c["notional"].tolist() == [10.0]
    assert c["centre"][0] == pytest.approx((101.5 * 5 + 102.5 * 1 + 103.5 * 4) / 10)
    assert c["peak"][0] == 101.5
    # With a tighter merge distance they stay apart.
    c2 = find_clusters(m, min_share=0.5, merge_within=0.01)
    assert c2["notional"].tolist() == [5.0, 4.0]
    s = cluster_summary(m, 100.0, min_share=0.5, merge_within=0.01)
    assert s["largest_above"]["notional"] == 5.0 and s["largest_below"] is None
    # ±2 %: centres 100.5, 101.5 → 0 + 5; ±5 %: every bucket → 10.
    assert notional_within(m, 0.02)["short"] == 5.0
    assert s["within_5%"]["short"] == 10.0


def test_the_built_in_spillover_s_table_maps_as_its_venue_before_any_mark():
    # 2,000 cross accounts short BTC and ETH: the ETH map of the accounts table puts every ETH leg
    # where the scenario's own venue (ETH's tick 0.01, as the table path's default) has it before
    # its first index point.
    from liqsim.simulation import build_venue

    scn = liqsim.scenarios.load("btc-eth-spillover")
    accounts = scn.accounts
    assert accounts is not None
    lp = liquidation_prices(accounts, symbol="ETHUSDT")
    venue = build_venue(scn)
    a = venue.market("ETHUSDT").accounts()
    trigger = dict(zip(a["trader_id"].tolist(), venue._v._triggers_at_marks("ETHUSDT").tolist()))
    rows = np.flatnonzero(np.array(accounts.column("symbol").to_pylist()) == "ETHUSDT")
    ids = accounts.column("trader_id").to_numpy()
    np.testing.assert_array_equal(lp[rows], [trigger[int(ids[r])] for r in rows])  # NaN: no trigger
    assert np.isfinite(lp[rows]).sum() >= 2_000
    m = liquidation_map(accounts, 100, symbol="ETHUSDT")
    assert int(m["short_count"].sum()) == int(np.isfinite(lp[rows]).sum())
