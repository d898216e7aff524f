"""Hypothesis properties of the order book over random action tables.

Tables mix limit / market / cancel / modify rows with every time in force, a few owners, prices on
a 0.5 tick grid in a narrow range (so that orders cross often) and quantities on a 0.1 lot grid.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqsim import OrderBook

TICK, LOT = 0.5, 0.1
STP_MODES = ["none", "cancel_taker", "cancel_maker", "cancel_both"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PRICES = [k * TICK for k in range(196, 205)]  # 98.0 .. 102.0
QTYS = [k / 10 for k in range(1, 31)]  # 0.1 .. 3.0 (k / 10 is the float nearest k * 0.1)
prices = st.sampled_from(PRICES)
maybe_zero_qty = st.sampled_from(QTYS + [0.0])  # about 3% non-positive
owners = st.integers(0, 2)



def at(depth, side, column):
    """One side's values of a depth table (bids or asks, best first)."""
    return depth[column][depth["side"] == side]

@st.composite
def action_rows(draw, max_rows: int = 40):
    n = draw(st.integers(1, max_rows))
    rows: list[dict] = []
    seen: list[int] = []  # ids given to new orders so far
    for i in range(n):
        kind = draw(st.sampled_from(["limit"] * 6 + ["market"] * 2 + ["cancel"] * 2 + ["modify"] * 2))
        # cancel/modify target: mostly an id used before, sometimes one never seen
        if seen and draw(st.integers(0, 9)) < 8:
            target = draw(st.sampled_from(seen))
        else:
            target = draw(st.integers(0, i + 3))
        row = {"ts": 1000 * i, "action": kind, "side": None, "price": None, "qty": None,
               "order_id": None, "owner": None, "tif": None}
        if kind in ("limit", "market"):
            row["side"] = draw(st.sampled_from(["buy", "sell"]))
            row["qty"] = draw(maybe_zero_qty)
            row["owner"] = draw(owners)
            # mostly a fresh explicit id, sometimes "let the book assign", sometimes a reused one
            row["order_id"] = draw(st.sampled_from([i + 1] * 6 + [None, None, target]))
            if row["order_id"] is not None:
                seen.append(row["order_id"])
            if kind == "limit":
                row["price"] = draw(prices)
                row["tif"] = draw(st.sampled_from(["gtc"] * 4 + ["ioc", "fok", "post_only", None]))
            else:
                row["price"] = draw(st.one_of(st.none(), prices))  # protection
                row["tif"] = draw(st.sampled_from(["gtc", "ioc", "fok", None]))
        elif kind == "cancel":
            row["order_id"] = target
        else:
            row["order_id"] = target
            row["qty"] = draw(maybe_zero_qty)
            row["price"] = draw(st.one_of(st.none(), prices))
        rows.append(row)
    return rows


TYPES = {
    "ts": pa.int64(), "action": pa.string(), "side": pa.string(), "price": pa.float64(),
    "qty": pa.float64(), "order_id": pa.int64(), "owner": pa.int64(), "tif": pa.string(),
}


def to_table(rows: list[dict]) -> pa.Table:
    return pa.table({k: pa.array([r[k] for r in rows], t) for k, t in TYPES.items()})


def apply_one(book: OrderBook, r: dict) -> dict:
    """One row through the one-at-a-time API."""
    if r["action"] == "limit":
        return book.submit(r["side"], r["qty"], price=r["price"], tif=r["tif"] or "gtc",
                           owner=r["owner"], order_id=r["order_id"])
    if r["action"] == "market":
        return book.submit(r["side"], r["qty"], tif=r["tif"] or "gtc", owner=r["owner"],
                           order_id=r["order_id"], protection=r["price"])
    if r["action"] == "cancel":
        return book.cancel(r["order_id"])
    return book.modify(r["order_id"], r["qty"], price=r["price"])


def assert_not_crossed(book: OrderBook) -> None:
    bid, ask = book.best_bid, book.best_ask
    if bid is not None and ask is not None:
        assert bid < ask, (bid, ask)
    book.check_invariants()
    buys, sells = book.orders("buy"), book.orders("sell")
    assert len(buys["order_id"]) + len(sells["order_id"]) == book.open_orders
    # priority order: best price first
    assert np.all(np.diff(buys["price"]) <= 0) and np.all(np.diff(sells["price"]) >= 0)
    assert np.all(buys["qty"] > 0) and np.all(sells["qty"] > 0)


def assert_same_output(a: dict, b: dict) -> None:
    for part in ("orders", "trades", "events"):
        assert list(a[part]) == list(b[part])
        for col in a[part]:
            x, y = a[part][col], b[part][col]
            assert x.dtype == y.dtype, (part, col)
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), (part, col, x, y)


def lots(x) -> np.ndarray:
    return np.rint(np.asarray(x) / LOT).astype(np.int64)


# ----------------------------------------------------------------------------------------------


@SETTINGS
@given(rows=action_rows(), stp=st.sampled_from(STP_MODES))
def test_process_equals_one_at_a_time(rows, stp):
    """(a) a table through `process` == the same rows through submit/cancel/modify;
    (b) after every row the book is not crossed and its invariants hold."""
    batch_book = OrderBook(TICK, LOT, stp)
    out = batch_book.process(to_table(rows))
    o, tr = out["orders"], out["trades"]
    assert len(o["order_id"]) == len(rows)

    single = OrderBook(TICK, LOT, stp)
    for i, r in enumerate(rows):
        got = apply_one(single, r)
        assert_not_crossed(single)
        where = f"row {i}: {r} -> {got}"
        assert got["order_id"] == (None if o["order_id"][i] == -1 else int(o["order_id"][i])), where
        assert got["status"] == o["status"][i], where
        assert (got["reason"] or "") == o["reason"][i], where
        assert got["filled"] == o["filled_qty"][i], where
        if got["avg_price"] is None:
            assert math.isnan(o["avg_price"][i]), where
        else:
            assert got["avg_price"] == o["avg_price"][i], where
        mine = tr["row"] == i
        assert [(t["price"], t["qty"], t["maker_order_id"], t["maker_owner"]) for t in got["trades"]] == list(
            zip(tr["price"][mine].tolist(), tr["qty"][mine].tolist(),
                tr["maker_order_id"][mine].tolist(), tr["maker_owner"][mine].tolist())
        ), where
        if got["trades"]:
            assert set(tr["taker_order_id"][mine].tolist()) == {got["order_id"]}, where

    assert (single.best_bid, single.best_ask, single.open_orders) == (
        batch_book.best_bid, batch_book.best_ask, batch_book.open_orders)
    for side in ("buy", "sell"):
        a, b = single.orders(side), batch_book.orders(side)
        for col in a:
            np.testing.assert_array_equal(a[col], b[col])


@settings(SETTINGS, max_examples=100)
@given(rows=action_rows(), stp=st.sampled_from(STP_MODES))
def test_never_crossed_after_any_prefix_of_process(rows, stp):
    """(b) also through `process`, one row per call, with depth agreeing with the order list."""
    book = OrderBook(TICK, LOT, stp)
    table = to_table(rows)
    for i in range(len(rows)):
        book.process(table.slice(i, 1))
        assert_not_crossed(book)
        d = book.depth(levels=100)
        for side, prefix in (("buy", "bid"), ("sell", "ask")):
            o = book.orders(side)
            levels, start = np.unique(o["price"], return_index=True)
            per_level = {p: lots(o["qty"][o["price"] == p]).sum() for p in levels}
            assert sorted(at(d, prefix, "price").tolist()) == sorted(per_level)
            for p, q, n in zip(at(d, prefix, "price"), at(d, prefix, "qty"), at(d, prefix, "orders")):
                assert lots(q) == per_level[p]
                assert n == int((o["price"] == p).sum())


@SETTINGS
@given(rows=action_rows(), stp=st.sampled_from(STP_MODES))
def test_determinism(rows, stp):
    """(c) two fresh books given the same table give identical arrays (NaNs in the same places)."""
    table = to_table(rows)
    a = OrderBook(TICK, LOT, stp).process(table)
    b = OrderBook(TICK, LOT, stp).process(table)
    assert_same_output(a, b)
    assert_same_output(OrderBook(TICK, LOT, stp).process(table, decode_names=False),
                       OrderBook(TICK, LOT, stp).process(table, decode_names=False))


@SETTINGS
@given(rows=action_rows(), stp=st.sampled_from(STP_MODES))
def test_quantity_conservation(rows, stp):
    """(d) per taker row, traded quantity == filled_qty, and avg_price is the trades' VWAP;
    nothing fills more than was asked; a taker never trades at a price worse than its limit."""
    out = OrderBook(TICK, LOT, stp).process(to_table(rows))
    o, tr = out["orders"], out["trades"]
    by_row = defaultdict(int)
    notional = defaultdict(float)
    for row, p, q in zip(tr["row"].tolist(), tr["price"].tolist(), tr["qty"].tolist()):
        by_row[row] += int(round(q / LOT))
        notional[row] += p * q
    for i, r in enumerate(rows):
        filled = int(lots(o["filled_qty"][i]))
        assert by_row.get(i, 0) == filled, (i, r)
        if r["action"] != "modify" and r["qty"] is not None:
            assert filled <= int(lots(r["qty"]))
        if filled:
            assert o["avg_price"][i] == pytest.approx(notional[i] / o["filled_qty"][i], rel=1e-12)
            assert o["status"][i] in ("filled", "partially_filled", "expired", "cancelled")
        else:
            assert math.isnan(o["avg_price"][i])
        mine = tr["row"] == i
        if filled and r["price"] is not None and r["action"] in ("limit", "market", "modify"):
            side = r["side"] if r["action"] != "modify" else None
            if side == "buy":
                assert tr["price"][mine].max() <= r["price"]
            elif side == "sell":
                assert tr["price"][mine].min() >= r["price"]
    assert (tr["qty"] > 0).all()
    # every trade's maker and taker differ; with STP on, owners differ too
    assert (tr["maker_order_id"] != tr["taker_order_id"]).all()
    if stp != "none":
        assert (tr["maker_owner"] != tr["taker_owner"]).all()


@SETTINGS
@given(rows=action_rows(), stp=st.sampled_from(STP_MODES), data=st.data())
def test_process_in_two_halves_equals_one_go(rows, stp, data):
    """(e) process(t[:k]) then process(t[k:]) == process(t), rows renumbered."""
    table = to_table(rows)
    k = data.draw(st.integers(0, len(rows)), label="split")
    whole_book = OrderBook(TICK, LOT, stp)
    whole = whole_book.process(table)
    halves_book = OrderBook(TICK, LOT, stp)
    first = halves_book.process(table.slice(0, k))
    second = halves_book.process(table.slice(k))
    for part in ("orders", "trades", "events"):
        for col, arr in whole[part].items():
            other = second[part][col]
            if col == "row":
                other = other + k
            joined = np.concatenate([first[part][col], other])
            assert np.array_equal(arr, joined, equal_nan=arr.dtype.kind == "f"), (part, col)
    assert (whole_book.best_bid, whole_book.best_ask, whole_book.open_orders) == (
        halves_book.best_bid, halves_book.best_ask, halves_book.open_orders)
