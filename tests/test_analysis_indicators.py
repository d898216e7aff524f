"""Indicators, each against numbers worked by hand (definitions: shared/MODELS.md §5 and §7)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import liqsim
from liqsim.analysis import (
    basis,
    cascade_ratio,
    cascade_ratio_at,
    cvd,
    depth_within,
    find_clusters,
    funding_annualized,
    liquidation_distance,
    oi_regime,
    premium_index,
)
from liqsim.analysis.maps import build_map


def test_cvd_from_aggressor_side_binance_flag_and_bars():
    # Buys 1 and 0.5, a sell of 2: deltas +1, −2, +0.5 → CVD 1, −1, −0.5.
    t = cvd({"ts": [1, 2, 3], "price": [10.0, 11.0, 12.0], "qty": [1.0, 2.0, 0.5], "aggressor": ["buy", "sell", "buy"]})
    assert t["cvd"].tolist() == [1.0, -1.0, -0.5]
    # In quote: +10, −22, +6 → 10, −12, −6.
    assert t["cvd_quote"].tolist() == [10.0, -12.0, -6.0]
    # Binance aggTrades: m = true means the buyer was the maker, i.e. the seller took.
    m = cvd(pa.table({"qty": [1.0, 2.0], "m": [False, True]}))
    assert m["cvd"].tolist() == [1.0, -1.0]
    bars = cvd({"taker_buy_volume": [3.0, 1.0], "volume": [4.0, 4.0]}, table="bars")
    assert bars["delta"].tolist() == [2.0, -2.0] and bars["cvd"].tolist() == [2.0, 0.0]
    with pytest.raises(liqsim.ScenarioError, match="aggressor"):
        cvd({"qty": [1.0], "aggressor": ["up"]})


def test_cvd_of_an_exchange_tape():
    ex = liqsim.Exchange(symbol="ETHUSDT")
    ex.load_accounts({"trader_id": [1, 2], "balance": [1e6, 1e6]})
    ex.load_book({"side": ["bid", "ask"], "price": [99.0, 101.0], "qty": [5.0, 5.0]})
    ex.submit(1, "buy", 2.0)
    ex.submit(2, "sell", 0.5)
    t = cvd(ex.trades())
    assert t["cvd"].tolist() == [2.0, 1.5]


def test_oi_regime_table():
    r = oi_regime({"close": [100, 101, 100, 100, 101, 99], "open_interest": [10, 11, 12, 11, 10, 9]})
    assert r["regime"].tolist() == ["flat", "new_longs", "new_shorts", "unwind", "short_covering", "long_liquidation"]
    assert r["price_change"][1] == pytest.approx(0.01)
    r2 = oi_regime({"close": [100, 100.05, 100.0], "open_interest": [10, 11, 11]}, window=1)
    assert r2["regime"].tolist() == ["flat", "build_up", "flat"]
    r3 = oi_regime({"close": [100, 101, 102], "open_interest": [10, 10, 12]}, window=2)
    assert r3["regime"].tolist() == ["flat", "flat", "new_longs"]


def test_funding_and_basis():
    # 0.01 % per 8 h = 0.0001 × 3 × 365 = 10.95 % p.a. (MODELS §7); hourly 0.00125 % the same.
    assert funding_annualized(0.0001) == pytest.approx(0.1095)
    assert funding_annualized(0.0000125, interval_hours=1) == pytest.approx(0.1095)
    assert funding_annualized([0.0001, -0.0003]).tolist() == pytest.approx([0.1095, -0.3285])
    # Perp 5 % below spot (2025-10-10): −500 bp; over 1/3 day: −0.05 × 365 × 3 = −54.75 p.a.
    b = basis([95.0, 100.2], [100.0, 100.0], days=1 / 3)
    assert b["bp"].tolist() == pytest.approx([-500.0, 20.0])
    assert b["annualized"][0] == pytest.approx(-54.75)
    # Premium index: impact bid 101 above index 100 → +1 %; impact ask 99.5 below → −0.5 %.
    assert premium_index([101.0, 99.0], [102.0, 99.5], [100.0, 100.0]).tolist() == pytest.approx([0.01, -0.005])
    with pytest.raises(ValueError):
        funding_annualized(0.0001, interval_hours=0)


def test_depth_within_imbalance_microprice():
    book = {"side": ["bid", "bid", "bid", "ask", "ask"], "price": [99.5, 99.5, 98.0, 100.5, 101.5],
            "qty": [1.0, 1.0, 5.0, 1.0, 3.0]}
    d = depth_within(book, 0.01)
    assert d["mid"] == 100.0
    # Within 1 %: bids ≥ 99 → 99.5 × 2 = 199; asks ≤ 101 → 100.5.
    assert (d["bid_notional"], d["ask_notional"]) == (199.0, 100.5)
    assert d["imbalance"] == pytest.approx(98.5 / 299.5)
    # Microprice 99.5 × 1/3 + 100.5 × 2/3.
    assert d["microprice"] == pytest.approx(99.5 / 3 + 201.0 / 3)
    d5 = depth_within(book, 0.02)
    assert d5["bid_notional"] == 199.0 + 490.0 and d5["ask_notional"] == 100.5 + 304.5


def test_depth_from_an_order_book():
    book = liqsim.OrderBook(tick_size=0.5, lot_size=1.0)
    book.submit("buy", 2.0, price=99.5)
    book.submit("sell", 1.0, price=100.5)
    d = depth_within(book, 0.01)
    assert (d["bid_notional"], d["ask_notional"]) == (199.0, 100.5)


def test_liquidation_distance():
    assert liquidation_distance(100.0, [90.0, 104.0, np.nan], ["long", "short", "long"])[:2].tolist() == [0.1, 0.04]
    assert liquidation_distance(100.0, 101.0, 1).item() == pytest.approx(-0.01)  # long already past it
    with pytest.raises(ValueError, match="side"):
        liquidation_distance(100.0, 90.0, "up")


def test_cascade_ratio_curve_by_hand():
    # Shorts: 100 at [100, 101), 300 at [101, 102). Longs: 50 at [99, 100).
    m = build_map(np.array([98.0, 99, 100, 101, 102]), np.array([0, 50.0, 0, 0]), np.array([0, 0, 100.0, 300.0]),
                  mark=100.0)
    book = {"side": ["bid", "bid", "ask", "ask"], "price": [99.5, 98.5, 100.5, 101.5], "qty": [1.0, 1.0, 2.0, 2.0]}
    c = cascade_ratio(m, book)
    up = c["direction"] == "up"
    # To 101: liquidations 100, asks 100.5 × 2 = 201 → n = 0.4975, amplification 1 / (1 − n) = 1.990.
    # To 102: 400 / (201 + 203) = 0.990 → 1 / 0.0099 = 101.
    assert c["price"][up].tolist() == [101.0, 102.0]
    assert c["n"][up].tolist() == pytest.approx([100 / 201, 400 / 404])
    assert c["amplification"][up].tolist() == pytest.approx([1 / (1 - 100 / 201), 1 / (1 - 400 / 404)])
    down = c["direction"] == "down"
    # To 99: longs 50 (centre 99.5), bids 99.5 → n = 0.5025; to 98: bids + 98.5 → 50 / 198.
    assert c["price"][down].tolist() == [99.0, 98.0]
    assert c["n"][down].tolist() == pytest.approx([50 / 99.5, 50 / 198.0])
    at = cascade_ratio_at(m, book, band=0.01)
    assert at["up"]["n"] == pytest.approx(100 / 201) and at["down"]["n"] == pytest.approx(50 / 99.5)
    # n ≥ 1: runs away.
    thin = {"side": ["bid", "ask"], "price": [99.5, 100.5], "qty": [0.1, 0.1]}
    assert np.isinf(cascade_ratio(m, thin)["amplification"][0])


_amounts = st.lists(st.floats(0, 1e6), min_size=2, max_size=30)


@settings(max_examples=80, deadline=None)
@given(longs=_amounts, shorts=_amounts, book=st.lists(st.tuples(st.booleans(), st.floats(90, 110), st.floats(0.01, 50)),
                                                       min_size=1, max_size=30))
def test_cascade_ratio_equals_brute_force(longs, shorts, book):
    k = min(len(longs), len(shorts))
    edges = np.linspace(90.0, 110.0, k + 1)
    m = build_map(edges, np.array(longs[:k]), np.array(shorts[:k]), mark=100.0)
    side = np.array(["bid" if b else "ask" for b, _, _ in book])
    price = np.array([p for _, p, _ in book])
    qty = np.array([q for _, _, q in book])
    c = cascade_ratio(m, {"side": side, "price": price, "qty": qty})
    centre = (edges[:-1] + edges[1:]) / 2
    for direction, p, liq, depth in zip(c["direction"], c["price"], c["liquidation_notional"], c["depth_notional"]):
        if direction == "up":
            want_liq = sum(s for s, x in zip(shorts[:k], centre) if 100.0 <= x <= p)
            want_depth = sum(pp * q for sd, pp, q in zip(side, price, qty) if sd == "ask" and 100.0 <= pp <= p)
        else:
            want_liq = sum(lg for lg, x in zip(longs[:k], centre) if p <= x <= 100.0)
            want_depth = sum(pp * q for sd, pp, q in zip(side, price, qty) if sd == "bid" and p <= pp <= 100.0)
        assert liq == pytest.approx(want_liq, rel=1e-9, abs=1e-6)
        assert depth == pytest.approx(want_depth, rel=1e-9, abs=1e-6)


@settings(max_examples=80, deadline=None)
@given(shorts=st.lists(st.floats(0, 1e6), min_size=1, max_size=60), share=st.floats(0.05, 1.0),
       merge=st.floats(0.0, 0.05))
def test_clusters_cover_every_strong_bucket_once(shorts, share, merge):
    n = len(shorts)
    m = build_map(np.linspace(100.0, 160.0, n + 1), np.zeros(n), np.array(shorts), mark=100.0)
    c = find_clusters(m, min_share=share, merge_within=merge)
    top = max(shorts)
    strong = [i for i, x in enumerate(shorts) if top > 0 and x >= share * top]
    centres = m["price"]
    covered = [sum(lo <= centres[i] <= hi for lo, hi in zip(c["price_low"], c["price_high"])) for i in strong]
    assert all(k == 1 for k in covered)                     # each strong bucket in exactly one cluster
    assert c["notional"].sum() <= sum(shorts) * (1 + 1e-12) + 1e-9
    assert np.all(c["price_low"][1:] >= c["price_high"][:-1])   # disjoint, in price order
