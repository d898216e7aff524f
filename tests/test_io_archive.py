"""Readers of Binance public archive CSVs (liqsim.io.read_binance_*)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import liqsim
from liqsim.io import (
    read_binance_book_depth,
    read_binance_funding,
    read_binance_klines,
    read_binance_metrics,
    read_binance_trades,
)

SHARED = Path(__file__).resolve().parent.parent
DEPTH_BANDS = next(
    (p for p in (SHARED.parent / "shared/data/binance-depth-bands/BTCUSDT-bookDepth-2025-10-10.csv",
                 SHARED.parent.parent / "shared/data/binance-depth-bands/BTCUSDT-bookDepth-2025-10-10.csv") if p.exists()),
    None,
)
FUNDING = next(
    (p for p in (SHARED.parent / "shared/data/binance-funding/btcusdt_daily_funding.csv",
                 SHARED.parent.parent / "shared/data/binance-funding/btcusdt_daily_funding.csv") if p.exists()),
    None,
)

MS_2024_10_10 = 1728518400000


def test_trades_with_header_and_zip(tmp_path):
    csv = tmp_path / "BTCUSDT-trades-2024-10-10.csv"
    csv.write_text(
        "id,price,qty,quote_qty,time,is_buyer_maker\n"
        f"1,60000.1,0.010,600.001,{MS_2024_10_10},true\n"
        f"2,60000.2,0.020,1200.004,{MS_2024_10_10 + 5},false\n"
    )
    t = read_binance_trades(csv)
    assert list(t["side"]) == ["sell", "buy"]  # buyer is maker → the seller took liquidity
    assert t["ts"][1] - t["ts"][0] == 5_000_000  # ms → ns
    assert t.to_arrow().schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    z = tmp_path / "BTCUSDT-trades-2024-10-10.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(csv, csv.name)
    np.testing.assert_array_equal(read_binance_trades(z)["price"], t["price"])


def test_agg_trades_without_header(tmp_path):
    csv = tmp_path / "aggTrades.csv"
    csv.write_text(f"7,100.5,2,10,12,{MS_2024_10_10},false\n8,100.4,1,13,13,{MS_2024_10_10 + 1},true\n")
    t = read_binance_trades(csv)
    assert list(t["trade_id"]) == [7, 8]
    assert list(t["first_trade_id"]) == [10, 13] and list(t["last_trade_id"]) == [12, 13]
    assert list(t["side"]) == ["buy", "sell"]


@pytest.mark.parametrize(
    "row, line, column, message",
    [
        (f"2,abc,0.02,1.0,{MS_2024_10_10},false", 3, "price", "'abc' is not a number"),
        (f"2,1.0,0.02,1.0,{MS_2024_10_10},maybe", 3, "is_buyer_maker", "'maybe' is not true/false"),
        ("2,1.0,0.02,1.0,yesterday,false", 3, "time", "is not an epoch time"),
        ("2.5,1.0,0.02,1.0,1,false", 3, "id", "is not an integer"),
        ("2,1.0,0.02", 3, None, "expected 6 fields, got 3"),
        ("2,1.0,0.02,1.0,9000000000000000000,false", 3, "time", "out of range as a time"),
    ],
)
def test_malformed_rows_name_file_line_and_column(tmp_path, row, line, column, message):
    csv = tmp_path / "bad.csv"
    csv.write_text("id,price,qty,quote_qty,time,is_buyer_maker\n" f"1,1.0,0.01,0.01,{MS_2024_10_10},true\n" + row + "\n")
    with pytest.raises(liqsim.ScenarioError) as e:
        read_binance_trades(csv)
    text = str(e.value)
    assert "bad.csv" in text and f"line {line}" in text and message in text
    if column is not None:
        assert f"column '{column}'" in text and e.value.column == column


def test_missing_file_and_column(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_binance_klines(tmp_path / "none.csv")
    csv = tmp_path / "k.csv"
    csv.write_text("open_time,open\n1,2\n")
    with pytest.raises(liqsim.ScenarioError, match="'high'"):
        read_binance_klines(csv)


def test_klines_and_metrics(tmp_path):
    k = tmp_path / "BTCUSDT-1m.csv"
    k.write_text(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"
        f"{MS_2024_10_10},100,101,99,100.5,10,{MS_2024_10_10 + 59999},1005,42,6,603,0\n"
    )
    bars = read_binance_klines(k)
    assert bars["close"][0] == 100.5 and bars["trades"][0] == 42
    assert set(bars) >= {"ts", "open", "high", "low", "close", "volume", "close_time", "quote_volume"}
    m = tmp_path / "BTCUSDT-metrics.csv"
    m.write_text(
        "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n"
        "2025-10-10 00:05:00,BTCUSDT,90000.5,10800000000.0,1.5,1.2,1.8,0.9\n"
    )
    oi = read_binance_metrics(m)
    assert oi["open_interest"][0] == 90000.5
    assert oi["ts"][0] == np.datetime64("2025-10-10T00:05:00", "ns").astype(np.int64)
    assert oi["taker_long_short_vol_ratio"][0] == 0.9


def test_funding_archive_format(tmp_path):
    f = tmp_path / "BTCUSDT-fundingRate-2025-10.csv"
    f.write_text(f"calc_time,funding_interval_hours,last_funding_rate\n{MS_2024_10_10},8,0.0001\n")
    t = read_binance_funding(f)
    assert t["funding_rate"][0] == 0.0001 and t["funding_interval_hours"][0] == 8


@pytest.mark.skipif(FUNDING is None, reason="shared funding data not found")
def test_shared_daily_funding():
    t = read_binance_funding(FUNDING)
    assert len(t) > 2000
    assert t["ts"][0] == np.datetime64("2019-09-10", "ns").astype(np.int64)
    assert np.all(np.diff(t["ts"]) > 0)


@pytest.mark.skipif(DEPTH_BANDS is None, reason="shared depth-band data not found")
def test_depth_bands_of_2025_10_10_and_the_stale_bid():
    bands = read_binance_book_depth(DEPTH_BANDS)
    assert set(np.unique(bands["percentage"])) == {-5, -4, -3, -2, -1, 1, 2, 3, 4, 5}
    assert list(np.unique(bands["side"])) == ["ask", "bid"]
    stale_from = np.datetime64("2025-10-10T15:30:42", "ns").astype(np.int64)
    stale = (bands["side"] == "bid") & (bands["ts"] >= stale_from)
    # The stale 17.65 BTC bid near 121,363 is in every bid band from 15:30:42 on.
    assert bands["depth"][stale].min() == 17.652
    assert bands["depth"][(bands["side"] == "bid") & ~stale].min() > 100
    asks = read_binance_book_depth(DEPTH_BANDS, drop_side="bid")
    assert list(np.unique(asks["side"])) == ["ask"]
    ask1 = asks["percentage"] == 1
    notional = asks["notional"][ask1]
    # Data README: ask depth within +1% fell from a daily median near $244M to about $57M at 21:22.
    assert 200e6 < np.median(notional) < 290e6
    crash = (asks["ts"][ask1] >= np.datetime64("2025-10-10T21:20", "ns").astype(np.int64)) & (
        asks["ts"][ask1] < np.datetime64("2025-10-10T21:25", "ns").astype(np.int64)
    )
    assert 40e6 < notional[crash].min() < 70e6
    # Subtracting the stale level: refused where the band holds less than it (it moved from
    # 17.652 to 17.654 BTC), accepted from when it holds it.
    with pytest.raises(liqsim.ScenarioError, match="larger than the band"):
        read_binance_book_depth(DEPTH_BANDS, subtract_level=(121363.27, 17.654, "2025-10-10T15:30:42"))
    cleaned = read_binance_book_depth(DEPTH_BANDS, subtract_level=(121363.27, 17.652, "2025-10-10T15:30:42"))
    assert cleaned["depth"].min() >= 0
    np.testing.assert_allclose(cleaned["depth"][stale], bands["depth"][stale] - 17.652, atol=1e-9)
    np.testing.assert_array_equal(cleaned["depth"][~stale], bands["depth"][~stale])
    with pytest.raises(ValueError, match="drop_side"):
        read_binance_book_depth(DEPTH_BANDS, drop_side="both")
