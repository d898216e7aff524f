"""The heatmap estimate: a hand-worked three-bar example, each assumption switch, bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import liqsim
from liqsim.analysis import estimate_liquidation_map
from liqsim.results import Table

# One tier, MMR 0.5 %, cum 0: an assumed isolated position opened at P with leverage L has
# long LP = P (1 − 1/L) / (1 − 0.005) and short LP = P (1 + 1/L) / (1 + 0.005) (Binance's formula,
# REFERENCE §1, with WB = notional / L). At 10x: long 0.9/0.995 P, short 1.1/1.005 P.
TIERS = {"floor": [0.0], "cap": [1e15], "mmr": [0.005], "max_leverage": [125]}
GRID = np.arange(80.0, 131.0)  # buckets of 1 from 80 to 130


def three_bars():
    # Bar 0 is the baseline. Bar 1: green candle, OI +10 coins at close 100 → +1,000 long at
    # 90.452. Bar 2: red candle, OI +20 coins at close 100 → +2,000 short at 109.453; its low 95
    # does not reach the long level. Bar 3: low 90 trades through the long level (90.452 ≥ 90);
    # then OI falls 80 → 20 coins: three quarters of every position closes, the short keeps 500.
    return {
        "ts": np.array([0, 3600, 7200, 10800]) * 1_000_000_000,
        "open": [100.0, 99.0, 101.0, 100.0],
        "high": [101.0, 101.0, 102.0, 100.0],
        "low": [99.0, 99.0, 95.0, 90.0],
        "close": [100.0, 100.0, 100.0, 100.0],
        "open_interest": [50.0, 60.0, 80.0, 20.0],
    }


def estimate(**kw):
    args = dict(leverage=[10], weights=[1.0], venue="binance", symbol="X", tiers=TIERS, price_grid=GRID)
    return estimate_liquidation_map(three_bars(), **(args | kw))


def test_three_bar_example_by_hand():
    hm = estimate()
    long_lp, short_lp = 100 * 0.9 / 0.995, 100 * 1.1 / 1.005
    lb, sb = int(long_lp - 80), int(short_lp - 80)  # buckets 10 ([90, 91)) and 29 ([109, 110))
    assert (lb, sb) == (10, 29)
    assert hm.long.shape == (4, 50)
    assert hm.long[0].sum() == 0 and hm.short[0].sum() == 0
    assert hm.long[1, lb] == pytest.approx(1_000.0)
    assert hm.long[2, lb] == pytest.approx(1_000.0) and hm.short[2, sb] == pytest.approx(2_000.0)
    assert hm.long[3].sum() == 0
    assert hm.short[3, sb] == pytest.approx(500.0)
    assert hm.short_total.tolist() == pytest.approx([0, 0, 2_000, 500])
    latest = hm.latest
    assert latest.mark == 100.0
    assert latest["short_notional"][sb] == pytest.approx(500.0)
    assert latest["cum_short_notional"][-1] == pytest.approx(500.0)


def test_oldest_first_decrease():
    # OI 80 → 65 coins at 100: 1,500 comes off. At bar 3 only the short is live: it keeps 500.
    oi = {"open_interest": [50.0, 60.0, 80.0, 65.0]}
    hm = estimate_liquidation_map(three_bars() | oi, GRID, leverage=[10], weights=[1.0], symbol="X", tiers=TIERS,
                                  oi_decrease="oldest")
    assert hm.short_total[-1] == pytest.approx(500.0)
    # Without the trade-through, the 3,000 live split 1,000 long / 2,000 short loses 1,500 in
    # proportion (500 long, 1,000 short), oldest level first on each side.
    bars = three_bars() | oi | {"low": [99.0, 99.0, 95.0, 95.0]}
    hm = estimate_liquidation_map(bars, GRID, leverage=[10], weights=[1.0], symbol="X", tiers=TIERS,
                                  oi_decrease="oldest")
    assert (hm.long_total[-1], hm.short_total[-1]) == pytest.approx((500.0, 1_000.0))


def test_nearest_first_decrease():
    # Bar 1: 2,000 split evenly at 100 → long 1,000 at 90.45, short 1,000 at 109.45. Bar 2 at 102:
    # the short (7.45 away) is nearer than the long (11.55): −15 coins × 102 = 1,530 takes the
    # short whole and 530 of the long.
    bars = {"open": [100.0, 100.0, 102.0], "high": [101.0, 101.0, 102.5], "low": [99.0, 99.0, 101.5],
            "close": [100.0, 100.0, 102.0], "open_interest": [0.0, 20.0, 5.0]}
    hm = estimate_liquidation_map(bars, GRID, split="even", leverage=[10], weights=[1.0], symbol="X", tiers=TIERS,
                                  oi_decrease="nearest")
    assert hm.short_total[-1] == 0.0
    assert hm.long_total[-1] == pytest.approx(470.0)


def test_lookback_expires_levels():
    hm = estimate(lookback=1)  # each level lives only in the bar that opened it
    assert hm.long_total.tolist() == pytest.approx([0, 1_000, 0, 0])
    assert hm.short_total.tolist() == pytest.approx([0, 0, 2_000, 0])


def test_split_rules():
    bars = three_bars() | {"taker_buy_volume": [1.0, 3.0, 1.0, 1.0], "taker_sell_volume": [1.0, 1.0, 3.0, 1.0],
                           "funding_rate": [0.0, -0.0001, 0.0001, 0.0]}
    common = dict(leverage=[10], weights=[1.0], symbol="X", tiers=TIERS, price_grid=GRID)
    taker = estimate_liquidation_map(bars, split="taker", **common)
    # Bar 1: 3/4 long → 750 long, 250 short.
    assert (taker.long_total[1], taker.short_total[1]) == pytest.approx((750.0, 250.0))
    funding = estimate_liquidation_map(bars, split="funding", **common)
    # Bar 1: funding < 0 → shorts crowded: all 1,000 short.
    assert (funding.long_total[1], funding.short_total[1]) == pytest.approx((0.0, 1_000.0))
    even = estimate_liquidation_map(bars, split="even", **common)
    assert even.long_total[1] == pytest.approx(500.0)
    fixed = estimate_liquidation_map(bars, split=0.2, **common)
    assert fixed.long_total[1] == pytest.approx(200.0)


def test_leverage_buckets_default_weights():
    hm = estimate_liquidation_map(three_bars(), venue="binance", symbol="BTCUSDT")
    assert hm.params["leverage"] == (5.0, 10.0, 25.0, 50.0, 100.0)
    # 1,000 long spread over five leverages: the default grid holds all of them.
    assert hm.long_total[1] == pytest.approx(1_000.0)
    assert hm.long[1].sum() == pytest.approx(1_000.0)
    assert np.count_nonzero(hm.long[1]) == 5


def test_long_form_and_arrow():
    hm = estimate()
    t = hm.to_table()
    assert isinstance(t, Table)
    assert set(t.columns) == {"ts", "price_low", "price_high", "side", "notional"}
    assert t["notional"].sum() == pytest.approx(hm.long.sum() + hm.short.sum())
    arrow = hm.to_arrow()
    assert arrow.schema.field("ts").type == pa.timestamp("ns", tz="UTC")


def test_quote_open_interest_and_open_price():
    hm = estimate_liquidation_map(three_bars() | {"open_interest": [0.0, 1_000.0, 1_000.0, 1_000.0]}, GRID,
                                  leverage=[10], weights=[1.0], symbol="X", tiers=TIERS, oi_unit="quote")
    assert hm.long_total[1] == pytest.approx(1_000.0)
    typical = estimate(open_at="typical")
    # Bar 1 typical price (101 + 99 + 100) / 3 = 100: the same level.
    assert typical.long[1, 10] == pytest.approx(1_000.0)


def test_bad_input():
    with pytest.raises(liqsim.ScenarioError) as err:
        estimate_liquidation_map(three_bars() | {"open_interest": [1.0, np.nan, 2.0, 3.0]})
    assert (err.value.column, err.value.row) == ("open_interest", 1)
    with pytest.raises(liqsim.ScenarioError, match="low"):
        estimate_liquidation_map(three_bars() | {"low": [99.0, 102.0, 95.0, 90.0]})
    with pytest.raises(liqsim.LiqsimError, match="sum to 1"):
        estimate_liquidation_map(three_bars(), leverage=[10, 20], weights=[0.5, 0.6])
    with pytest.raises(ValueError, match="split"):
        estimate_liquidation_map(three_bars(), split="vibes")
    with pytest.raises(liqsim.ScenarioError, match="taker_buy_volume"):
        estimate_liquidation_map(three_bars(), split="taker")
    with pytest.raises(liqsim.ScenarioError, match="increasing"):
        estimate_liquidation_map(three_bars() | {"ts": [0, 2, 1, 3]})


def test_a_year_of_hourly_bars_runs():
    n = 24 * 365
    rng = np.random.default_rng(1)
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.006, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 0.003, n)) * close
    bars = {"ts": np.arange(n) * 3_600_000_000_000, "open": open_, "close": close,
            "high": np.maximum(open_, close) + wick, "low": np.minimum(open_, close) - wick,
            "open_interest": 80_000 + np.cumsum(rng.normal(0, 200, n))}
    hm = estimate_liquidation_map(bars)
    assert hm.long.shape == (n, 250)
    assert np.all(hm.long >= 0) and np.all(hm.short >= 0)
    assert np.all(hm.long.sum(axis=1) <= hm.long_total * (1 + 1e-9) + 1e-6)
