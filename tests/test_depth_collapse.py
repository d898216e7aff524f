"""The market maker's depth schedule, and the 2025-10-10 depth-collapse scenario calibrated on
Binance's BTCUSDT depth bands of that day (packaged table: liqsim/data/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import liqsim
from liqsim.scenarios import COLLAPSE_SECONDS, COLLAPSE_START_NS, depth_bands_2025_10_10

S = 1_000_000_000


def _archive() -> Path:
    """Binance's file: $LIQSIM_DEPTH_BANDS, or ../shared/data/binance-depth-bands next to the
    checkout (or one level up, for a worktree)."""
    env = os.environ.get("LIQSIM_DEPTH_BANDS")
    root = Path(__file__).resolve().parents[1]
    name = "BTCUSDT-bookDepth-2025-10-10.csv"
    for d in ([Path(env)] if env else []) + [root.parent / "shared/data/binance-depth-bands",
                                              root.parent.parent / "shared/data/binance-depth-bands"]:
        if (d / name).exists():
            return d / name
    return Path(name)


ARCHIVE = _archive()


# --- the schedule in Python -------------------------------------------------------------------------


def test_schedule_rows_become_ns_and_survive_save_and_load(tmp_path):
    mm = liqsim.agents.MarketMaker(depth_schedule=[(0, 1.0, 1.0), (30.0, 0.5, 0.25)])
    assert mm.depth_schedule == ((0, 1.0, 1.0), (30 * S, 0.5, 0.25))
    table = liqsim.agents.MarketMaker(depth_schedule={"at": [0, 30.0], "bid_scale": [1.0, 0.5], "ask_scale": [1.0, 0.25]})
    assert table == mm
    scn = liqsim.Scenario(market={"symbol": "ETHUSDT"}, index={"ts": [0], "price": [3000.0]}, agents=[mm], end=60.0)
    scn.save(tmp_path / "s")
    assert liqsim.Scenario.load(tmp_path / "s").agents == (mm,)


@pytest.mark.parametrize("rows,message", [
    ([(10.0, 1.0, 1.0), (5.0, 1.0, 1.0)], "row 1: times must increase"),
    ([(0.0, 1.0, 1.0), (0.0, 1.0, 1.0)], "row 1: times must increase"),
    ([(0.0, -0.5, 1.0)], "row 0: bid_scale must be in"),
    ([(0.0, 1.0, float("nan"))], "row 0: ask_scale must be in"),
    ([(0.0, 1.0, 1001.0)], "row 0: ask_scale must be in"),
    ([(-1.0, 1.0, 1.0)], "row 0: at must be ≥ 0"),
    ([(0.0, 1.0)], "row 0: expected"),
    ([(0.0, "x", 1.0)], "row 0: bid_scale must be a number"),
])
def test_bad_schedule_rows_are_config_errors_naming_the_row(rows, message):
    with pytest.raises(liqsim.ConfigError, match=message) as err:
        liqsim.agents.MarketMaker(depth_schedule=rows)
    assert err.value.parameter == "market_maker.depth_schedule"


def test_the_simulated_book_follows_the_schedule():
    # ETH at 3,000, a maker with $1M within 10 bp: its depth within 1% (levels at 1…99 bp) is
    # 1e6 × 9.9^0.65 = $4.43M a side. Halved asks and quartered bids from 20 s; restored at 40 s.
    mm = liqsim.agents.MarketMaker(reference="index", depth_10bp=1e6, refill_half_life=0.0,
                                   depth_schedule=[(20.0, 0.25, 0.5), (40.0, 1.0, 1.0)])
    scn = liqsim.Scenario(market={"symbol": "ETHUSDT", "mark_rule": "last"}, index={"ts": [0], "price": [3000.0]},
                          agents=[mm], end=60.0)
    ser = liqsim.simulate(scn).series
    full = 1e6 * 9.9 ** 0.65
    for t, bid, ask in ((10, 1.0, 1.0), (30, 0.25, 0.5), (50, 1.0, 1.0)):
        assert ser["bid_depth_1pct"][t] == pytest.approx(bid * full, rel=0.002)
        assert ser["ask_depth_1pct"][t] == pytest.approx(ask * full, rel=0.002)


# --- the 2025-10-10 scenario ------------------------------------------------------------------------


@pytest.mark.skipif(not ARCHIVE.exists(), reason="the shared 2025-10-10 depth-band file is not here")
def test_packaged_bands_are_the_archive_files_ask_band():
    packaged, archive = depth_bands_2025_10_10(), depth_bands_2025_10_10(ARCHIVE)
    for column in ("ts", "notional", "weighted_avg_price"):
        assert np.array_equal(packaged[column], archive[column]), column
    scn = liqsim.scenarios.depth_collapse_2025_10_10(path=ARCHIVE)
    assert scn.agents == liqsim.scenarios.load("depth-collapse-2025-10-10").agents


def test_the_bands_say_what_the_data_readme_says():
    # shared/data/README.md: ask depth within +1% fell from a day median near $244M to about $57M at 21:22.
    b = depth_bands_2025_10_10()
    assert len(b["ts"]) == 2879
    assert np.median(b["notional"]) == pytest.approx(244.3e6, rel=1e-3)
    low = int(np.argmin(b["notional"]))
    assert np.datetime64(int(b["ts"][low]), "ns") == np.datetime64("2025-10-10T21:22:31")
    assert b["notional"][low] == pytest.approx(56.77e6, rel=1e-3)


@pytest.fixture(scope="module")
def collapse():
    scn = liqsim.scenarios.load("depth-collapse-2025-10-10")
    return scn, liqsim.simulate(scn)


def _window():
    b = depth_bands_2025_10_10()
    sel = (b["ts"] >= COLLAPSE_START_NS) & (b["ts"] <= COLLAPSE_START_NS + COLLAPSE_SECONDS * S)
    return (b["ts"][sel] - COLLAPSE_START_NS) // S, b["notional"][sel], b["weighted_avg_price"][sel] / 1.005


def test_calibration_the_simulated_depth_is_the_real_band(collapse):
    scn, res = collapse
    offsets, real, _ = _window()
    ser = res.series
    t = (np.asarray(ser["ts"]) - scn.start) // S
    ask = np.asarray(ser["ask_depth_1pct"])[np.searchsorted(t, offsets + 1)]  # 1 s after each snapshot
    # The maker quotes the band (cuts at once); what the flow took is regrowing with its 20 s
    # half-life, so the book is at most the band and never far below it.
    ratio = ask / real
    assert np.all(ratio < 1.005) and np.all(ratio > 0.55), np.round(ratio, 3)
    assert np.median(ratio) > 0.97
    # The low: $57M at 21:22:31 in the archive, the same in the simulated book.
    low = int(np.argmin(real))
    assert ask[low] == pytest.approx(56.77e6, rel=0.01)
    # Over the window the book holds about what the band says: medians within 2%.
    assert np.median(np.asarray(ser["ask_depth_1pct"])[1:]) == pytest.approx(np.median(real), rel=0.02)


def test_calibration_the_price_follows_the_real_mid_and_longs_are_flushed(collapse):
    scn, res = collapse
    offsets, _, mid = _window()
    ser = res.series
    t = (np.asarray(ser["ts"]) - scn.start) // S
    last = np.asarray(ser["last"])[np.searchsorted(t, offsets + 1)]
    # The perp tracks the estimated mid within 1% at every snapshot (the flush overshoots it a little).
    assert np.max(np.abs(last / mid - 1)) < 0.01
    s = res.summary()
    # ~116,000 → low near 107,000 (the snapshot low is 107,883; between snapshots the path is linear).
    assert -8.5 < s["trough_change_pct"] < -6.0
    # Reported: 84% of the day's liquidations were longs. Here the population is 65% long and the
    # fall takes the stacked longs: longs are most of it.
    long_share = s["liquidated_long_notional"] / (s["liquidated_long_notional"] + s["liquidated_short_notional"])
    assert long_share > 0.84
    # The stacked $1.5B (liquidation prices 104,000–114,000) meets a low near 107,000: most of it goes.
    assert 1.0e9 < s["liquidated_long_notional"] < 2.5e9
