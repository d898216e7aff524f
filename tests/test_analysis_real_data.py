"""Indicators on real Binance data (a slice of shared/data/binance-l2, see tests/data/.../PROVENANCE):
the same functions as on simulated tapes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from liqsim.analysis import cvd, depth_within

DATA = Path(__file__).parent / "data" / "binance-l2-analysis" / "btcusdt_20240718_snapshot_trades.gz"


def _load():
    snapshot, trades = None, []
    with gzip.open(DATA, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            if "lastUpdateId" in msg:
                snapshot = msg
            elif msg.get("stream", "").endswith("@trade"):
                trades.append(msg["data"])
    return snapshot, trades


def test_cvd_of_binance_trades():
    _, trades = _load()
    assert len(trades) == 400
    table = {
        "ts": np.array([t["T"] for t in trades], dtype=np.int64) * 1_000_000,
        "price": np.array([float(t["p"]) for t in trades]),
        "qty": np.array([float(t["q"]) for t in trades]),
        "m": np.array([t["m"] for t in trades]),  # buyer is maker: the seller took
    }
    out = cvd(table)
    # The same sum by hand: taker buys (m false) minus taker sells (m true).
    by_hand = sum(float(t["q"]) * (-1 if t["m"] else 1) for t in trades)
    assert out["cvd"][-1] == pytest.approx(by_hand, abs=1e-9)
    assert out.to_arrow().schema.field("ts").type.unit == "ns"


def test_depth_within_of_a_binance_snapshot():
    snapshot, _ = _load()
    bids = np.array(snapshot["bids"], dtype=np.float64)
    asks = np.array(snapshot["asks"], dtype=np.float64)
    book = {
        "side": ["bid"] * len(bids) + ["ask"] * len(asks),
        "price": np.r_[bids[:, 0], asks[:, 0]],
        "qty": np.r_[bids[:, 1], asks[:, 1]],
    }
    d = depth_within(book, 0.001)  # within 10 bp
    mid = (bids[0, 0] + asks[0, 0]) / 2
    want_bid = sum(p * q for p, q in bids if p >= mid * 0.999)
    want_ask = sum(p * q for p, q in asks if p <= mid * 1.001)
    assert (d["bid_notional"], d["ask_notional"]) == pytest.approx((want_bid, want_ask))
    # A BTCUSDT perp book holds millions of USDT within 10 bp (MODELS §1: $2–4M per side).
    assert 1e5 < d["bid_notional"] < 1e9 and 1e5 < d["ask_notional"] < 1e9
