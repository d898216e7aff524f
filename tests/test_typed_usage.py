"""Typical user code, fully annotated: CI checks this file with ``mypy --strict`` (so liqsim's
public types are usable as written) and pytest runs it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

import liqsim
from liqsim import Table


def build() -> liqsim.Exchange:
    ex = liqsim.Exchange(venue="binance", symbol="ETHUSDT", tick_size=0.01, lot_size=0.001,
                         insurance_fund=1_000_000.0, mark_rule="last", liquidation_limit="market",
                         fees=(0.0002, 0.0005))
    ex.load_accounts({"trader_id": [1, 2], "balance": [100.0, 1_000_000.0], "side": ["short", "flat"],
                      "qty": [1.0, 0.0], "entry_price": [3000.0, np.nan], "leverage": [50, 5]})
    ex.load_book({"side": ["ask", "ask", "bid"], "price": [3001.0, 3100.0, 2999.0], "qty": [1.0, 5.0, 1.0]})
    ex.set_index(3000.0)
    return ex


def test_a_typed_what_if() -> None:
    ex = build()
    what_if: liqsim.Exchange = ex.copy()
    out = what_if.submit(2, "buy", 2.0, tif="ioc")
    filled: float = out["filled"]
    avg: float | None = out["avg_price"]
    assert filled == 2.0 and avg is not None
    liq: Table = what_if.liquidations()
    ids: NDArray[np.generic] = liq["trader_id"]
    assert ids.tolist() == [1]
    arrow: pa.Table = liq.to_arrow()
    assert arrow.num_rows == 1
    what_if.advance(dt.timedelta(hours=8))
    what_if.advance(1.5)
    what_if.advance_to(np.datetime64("1970-01-01T09:00:00"))
    assert what_if.ts == 9 * 3600 * 10**9
    depth: Table = ex.depth(levels=3)
    sweep: float | None = ex.sweep_price("buy", 1.0)
    within = ex.depth_within(0.01)
    assert sweep == 3001.0 and within is not None and within["ask_qty"] == 1.0
    assert depth["side"].tolist() == ["bid", "ask", "ask"]


def test_a_typed_order_book() -> None:
    book = liqsim.OrderBook(tick_size=0.01, lot_size=0.001, stp="cancel_taker")
    book.submit("sell", 1.0, price=100.0, owner=1)
    res: dict[str, Table] = book.process({"action": ["market"], "side": ["buy"], "qty": [0.5]})
    trades = res["trades"]
    assert len(trades) == 1 and trades["price"].tolist() == [100.0]
    prices: NDArray[np.float64] = liqsim.liquidation_price("short", 1.0, 3000.0, 100.0, venue="binance",
                                                           symbol="ETHUSDT")
    assert prices.shape == ()
