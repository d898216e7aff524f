"""The one-at-a-time API of `liqsim.OrderBook`, as a user sees it.

Every expected figure below is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import liqsim
from liqsim import LiqsimError, OrderError, OrderBook, ScenarioError



def at(depth, side, column):
    """One side's values of a depth table (bids or asks, best first)."""
    return depth[column][depth["side"] == side]

def book(stp: str = "none") -> OrderBook:
    return OrderBook(tick_size=0.01, lot_size=0.001, stp=stp)


def trades(out: dict) -> list[tuple[float, float, int, int]]:
    return [(t["price"], t["qty"], t["maker_order_id"], t["maker_owner"]) for t in out["trades"]]


def ids(b: OrderBook, side: str) -> list[int]:
    return b.orders(side)["order_id"].tolist()


# ----------------------------------------------------------------------------------------------
# construction, properties, errors


def test_properties_and_repr():
    b = OrderBook(tick_size=0.5, lot_size=0.1, stp="cancel_both")
    assert (b.tick_size, b.lot_size, b.stp) == (0.5, 0.1, "cancel_both")
    assert (b.best_bid, b.best_ask, b.open_orders) == (None, None, 0)
    assert OrderBook(0.01, 0.001).stp == "none"
    assert "stp='cancel_both'" in repr(b)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(tick_size=0.0, lot_size=0.001),
        dict(tick_size=-0.01, lot_size=0.001),
        dict(tick_size=float("nan"), lot_size=0.001),
        dict(tick_size=0.01, lot_size=0.0),
        dict(tick_size=0.01, lot_size=float("inf")),
        dict(tick_size=0.01, lot_size=0.001, stp="bogus"),
    ],
)
def test_bad_constructor_args_raise_liqsim_error(kwargs):
    with pytest.raises(LiqsimError):
        OrderBook(**kwargs)


def test_exception_hierarchy():
    for cls in (OrderError, ScenarioError):
        assert issubclass(cls, ValueError)
        assert issubclass(cls, LiqsimError)
    assert issubclass(LiqsimError, Exception)
    assert liqsim.OrderError is OrderError and liqsim.ScenarioError is ScenarioError


# ----------------------------------------------------------------------------------------------
# submit: limit


def test_limit_orders_rest_and_assign_ids():
    b = book()
    out = b.submit("sell", 2.0, price=3850.01, owner=1)
    assert out == {"order_id": 0, "status": "open", "reason": None, "filled": 0.0, "avg_price": None, "trades": []}
    # ids: one above the highest id seen
    assert b.submit("sell", 1.0, price=3850.02, order_id=41)["order_id"] == 41
    assert b.submit("buy", 1.0, price=3849.99)["order_id"] == 42
    assert (b.best_bid, b.best_ask, b.open_orders) == (3849.99, 3850.01, 3)
    b.check_invariants()


def test_readme_tour():
    b = book("cancel_taker")
    b.submit("sell", 2.0, price=3850.01, owner=1)
    b.submit("sell", 1.0, price=3850.02, owner=1)
    out = b.submit("buy", 2.5, owner=2)
    # 2.0 @ 3850.01 + 0.5 @ 3850.02 = 7700.02 + 1925.01 = 9625.03; / 2.5 = 3850.012
    assert (out["status"], out["filled"]) == ("filled", 2.5)
    assert out["avg_price"] == pytest.approx(3850.012, rel=1e-12)
    assert trades(out) == [(3850.01, 2.0, 0, 1), (3850.02, 0.5, 1, 1)]
    assert (b.best_bid, b.best_ask) == (None, 3850.02)
    assert b.sweep_price("buy", 0.3) == pytest.approx(3850.02)


def test_crossing_limit_walks_levels_in_price_time_order_and_rests_the_rest():
    b = book()
    b.submit("sell", 1.0, price=100.02, order_id=1, owner=1)
    b.submit("sell", 1.0, price=100.01, order_id=2, owner=2)
    b.submit("sell", 0.5, price=100.01, order_id=3, owner=3)  # behind 2 at 100.01
    b.submit("sell", 4.0, price=100.05, order_id=4, owner=4)
    out = b.submit("buy", 3.0, price=100.02, order_id=10, owner=9)
    # 1.0@100.01 (2), 0.5@100.01 (3), 1.0@100.02 (1): 2.5 filled, 0.5 rests at 100.02
    assert trades(out) == [(100.01, 1.0, 2, 2), (100.01, 0.5, 3, 3), (100.02, 1.0, 1, 1)]
    assert out["status"] == "partially_filled"
    assert out["filled"] == 2.5
    # (100.01*1.5 + 100.02*1.0) / 2.5 = (150.015 + 100.02) / 2.5 = 100.014
    assert out["avg_price"] == pytest.approx(100.014, rel=1e-12)
    assert (b.best_bid, b.best_ask) == (100.02, 100.05)
    assert b.orders("buy")["qty"].tolist() == [0.5]
    b.check_invariants()


def test_limit_fills_exactly_and_partially_consumes_maker():
    b = book()
    b.submit("buy", 2.0, price=99.0, order_id=1)
    out = b.submit("sell", 0.75, price=98.0, order_id=2)  # trades at the maker's price
    assert out["status"] == "filled"
    assert trades(out) == [(99.0, 0.75, 1, 0)]
    assert out["avg_price"] == 99.0
    assert b.orders("buy")["qty"].tolist() == [1.25]
    assert b.best_ask is None


# ----------------------------------------------------------------------------------------------
# submit: market, IOC, FOK, post-only


def test_market_order_sweeps_and_expires_remainder():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    b.submit("sell", 1.0, price=101.0, order_id=2)
    out = b.submit("buy", 3.0, order_id=3)
    # 1@100 + 1@101 = 201 / 2 = 100.5; the last 1.0 expires (market never rests)
    assert (out["status"], out["filled"], out["avg_price"]) == ("expired", 2.0, 100.5)
    assert trades(out) == [(100.0, 1.0, 1, 0), (101.0, 1.0, 2, 0)]
    assert b.open_orders == 0


def test_market_on_empty_book_expires_with_nothing_filled():
    out = book().submit("sell", 1.0)
    assert (out["status"], out["filled"], out["avg_price"], out["trades"]) == ("expired", 0.0, None, [])


def test_market_with_protection_stops_at_protection_price():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    b.submit("sell", 1.0, price=100.5, order_id=2)
    b.submit("sell", 1.0, price=101.0, order_id=3)
    out = b.submit("buy", 3.0, protection=100.5, order_id=4)
    # trades 100.0 and 100.5 (protection inclusive), not 101.0; avg 100.25
    assert trades(out) == [(100.0, 1.0, 1, 0), (100.5, 1.0, 2, 0)]
    assert (out["status"], out["filled"], out["avg_price"]) == ("expired", 2.0, 100.25)
    assert (b.best_bid, b.best_ask) == (None, 101.0)  # never rests at the protection price
    # a sell market with protection
    b.submit("buy", 1.0, price=99.0, order_id=5)
    b.submit("buy", 1.0, price=98.0, order_id=6)
    out = b.submit("sell", 1.5, protection=98.5, order_id=7)
    assert trades(out) == [(99.0, 1.0, 5, 0)]
    assert (out["status"], out["filled"]) == ("expired", 1.0)


def test_market_fok_and_post_only_market():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    out = b.submit("buy", 2.0, tif="fok", order_id=2)
    assert (out["status"], out["reason"]) == ("rejected", "fok_cannot_fill")
    out = b.submit("buy", 1.0, tif="post_only")
    assert (out["status"], out["reason"]) == ("rejected", "invalid_time_in_force")
    assert b.open_orders == 1
    out = b.submit("buy", 1.0, tif="fok", order_id=3)
    assert (out["status"], out["filled"]) == ("filled", 1.0)


def test_ioc_partial_fill_expires_rest():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=5)
    out = b.submit("buy", 2.0, price=100.0, tif="ioc", order_id=6)
    assert (out["status"], out["filled"], out["avg_price"]) == ("expired", 1.0, 100.0)
    assert b.open_orders == 0 and b.best_bid is None
    # IOC that does not cross at all: expires with nothing filled
    b.submit("sell", 1.0, price=101.0, order_id=7)
    out = b.submit("buy", 1.0, price=100.0, tif="ioc", order_id=8)
    assert (out["status"], out["filled"], out["trades"]) == ("expired", 0.0, [])
    assert ids(b, "sell") == [7] and ids(b, "buy") == []


def test_fok_fills_all_or_nothing():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    b.submit("sell", 1.0, price=100.5, order_id=2)
    # 2.5 wanted up to 100.5: only 2.0 available -> rejected, book untouched
    out = b.submit("buy", 2.5, price=100.5, tif="fok", order_id=3)
    assert (out["status"], out["reason"], out["filled"], out["trades"]) == ("rejected", "fok_cannot_fill", 0.0, [])
    assert ids(b, "sell") == [1, 2]
    # 2.0 within 100.0 only: 1.0 available -> rejected
    assert b.submit("buy", 2.0, price=100.0, tif="fok", order_id=4)["reason"] == "fok_cannot_fill"
    # 2.0 up to 100.5: exactly available -> filled, avg 100.25
    out = b.submit("buy", 2.0, price=100.5, tif="fok", order_id=5)
    assert (out["status"], out["filled"], out["avg_price"]) == ("filled", 2.0, 100.25)
    assert b.open_orders == 0
    # a rejected FOK used up its id: cancel says not_open
    assert b.cancel(3)["reason"] == "not_open"


def test_post_only():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    out = b.submit("buy", 1.0, price=100.0, tif="post_only", order_id=2)
    assert (out["status"], out["reason"], out["trades"]) == ("rejected", "post_only_would_cross", [])
    out = b.submit("buy", 1.0, price=99.99, tif="post_only", order_id=3)
    assert (out["status"], out["reason"]) == ("open", None)
    assert (b.best_bid, b.best_ask) == (99.99, 100.0)
    assert b.submit("sell", 1.0, price=99.99, tif="post_only")["reason"] == "post_only_would_cross"
    assert b.submit("sell", 1.0, price=100.01, tif="post_only")["status"] == "open"


def test_rejections_by_the_book():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    out = b.submit("sell", 1.0, price=100.0, order_id=1)
    assert (out["status"], out["reason"], out["order_id"]) == ("rejected", "duplicate_order_id", 1)
    out = b.submit("buy", 0.0, price=100.0)
    assert (out["status"], out["reason"], out["order_id"]) == ("rejected", "non_positive_qty", None)
    assert b.submit("buy", -1.0, price=100.0)["reason"] == "non_positive_qty"
    assert b.submit("buy", 1.0, price=0.0)["reason"] == "invalid_price"
    assert b.submit("buy", 1.0, price=-5.0)["reason"] == "invalid_price"
    assert b.submit("buy", 1.0, protection=-5.0)["reason"] == "invalid_price"
    assert b.submit("buy", 1.0, price=1.0, order_id=-3)["reason"] == "invalid_order_id"
    assert b.open_orders == 1


def test_id_reuse_once_gone():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=5)
    assert b.cancel(5)["status"] == "cancelled"
    out = b.submit("sell", 2.0, price=100.5, order_id=5)
    assert out["status"] == "open"
    assert b.cancel(5)["status"] == "cancelled"


# ----------------------------------------------------------------------------------------------
# cancel


def test_cancel_unknown_vs_not_open_and_stale_cancel_after_fill():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    b.submit("sell", 1.0, price=100.0, order_id=2)
    out = b.cancel(99)
    assert out == {"order_id": 99, "status": "rejected", "reason": "unknown_order", "filled": 0.0, "avg_price": None, "trades": []}
    out = b.cancel(2)
    assert (out["status"], out["reason"], out["order_id"]) == ("cancelled", None, 2)
    assert b.cancel(2)["reason"] == "not_open"  # already cancelled
    b.submit("buy", 1.0, order_id=3)  # fills order 1
    out = b.cancel(1)  # stale cancel after fill
    assert (out["status"], out["reason"]) == ("rejected", "not_open")
    assert b.cancel(3)["reason"] == "not_open"  # the market order itself is gone
    assert b.open_orders == 0
    b.check_invariants()


def test_cancel_leaves_queue_order_of_the_others():
    b = book()
    for i in (1, 2, 3):
        b.submit("sell", 1.0, price=100.0, order_id=i)
    b.cancel(2)
    assert ids(b, "sell") == [1, 3]
    assert at(b.depth(1), "ask", "orders").tolist() == [2]
    assert at(b.depth(1), "ask", "qty").tolist() == [2.0]


# ----------------------------------------------------------------------------------------------
# modify


def _three_asks() -> OrderBook:
    b = book()
    b.submit("sell", 2.0, price=100.0, order_id=1, owner=1)
    b.submit("sell", 2.0, price=100.0, order_id=2, owner=2)
    b.submit("sell", 2.0, price=100.0, order_id=3, owner=3)
    return b


def test_modify_shrink_keeps_priority():
    b = _three_asks()
    out = b.modify(1, 1.5)
    assert (out["status"], out["reason"], out["filled"]) == ("open", None, 0.0)
    assert ids(b, "sell") == [1, 2, 3]
    assert b.orders("sell")["qty"].tolist() == [1.5, 2.0, 2.0]
    # same price given explicitly and same qty: still in place
    b.modify(1, 1.5, price=100.0)
    assert ids(b, "sell") == [1, 2, 3]
    out = b.submit("buy", 1.5, order_id=10)
    assert trades(out) == [(100.0, 1.5, 1, 1)]


def test_modify_grow_loses_priority():
    b = _three_asks()
    b.modify(1, 2.5)
    assert ids(b, "sell") == [2, 3, 1]
    assert at(b.depth(1), "ask", "qty").tolist() == [6.5]


def test_modify_price_loses_priority_even_when_shrinking():
    b = _three_asks()
    b.modify(2, 1.0, price=100.5)
    b.modify(2, 1.0, price=100.0)  # back to the old price: back of the queue
    assert ids(b, "sell") == [1, 3, 2]
    b.modify(1, 1.0, price=99.5)  # better price: now first
    assert ids(b, "sell") == [1, 3, 2]
    assert b.orders("sell")["price"].tolist() == [99.5, 100.0, 100.0]
    assert b.best_ask == 99.5


def test_modify_of_a_partially_filled_order_sets_open_qty():
    b = _three_asks()
    b.submit("buy", 0.5, order_id=10)  # order 1 has 1.5 left
    b.modify(1, 1.0)  # new open quantity 1.0 (a shrink): keeps priority
    assert ids(b, "sell") == [1, 2, 3]
    assert b.orders("sell")["qty"].tolist() == [1.0, 2.0, 2.0]


def test_modify_into_a_cross_trades_at_once():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1, owner=1)
    b.submit("sell", 1.0, price=100.5, order_id=2, owner=2)
    b.submit("buy", 3.0, price=99.0, order_id=3, owner=3, tif="post_only")
    out = b.modify(3, 3.0, price=100.5)
    # the post-only flag is not kept: trades 1@100 and 1@100.5, 1.0 rests at 100.5
    assert trades(out) == [(100.0, 1.0, 1, 1), (100.5, 1.0, 2, 2)]
    assert (out["status"], out["filled"], out["avg_price"], out["order_id"]) == ("partially_filled", 2.0, 100.25, 3)
    assert (b.best_bid, b.best_ask) == (100.5, None)
    assert b.orders("buy")["qty"].tolist() == [1.0]
    b.check_invariants()
    # modify the sell side fully into the bid: filled, gone
    b.submit("sell", 1.0, price=101.0, order_id=4)
    out = b.modify(4, 1.0, price=100.5)
    assert (out["status"], out["filled"]) == ("filled", 1.0)
    assert b.open_orders == 0
    assert b.cancel(4)["reason"] == "not_open"


def test_modify_rejections():
    b = _three_asks()
    assert b.modify(99, 1.0)["reason"] == "unknown_order"
    b.cancel(3)
    assert b.modify(3, 1.0)["reason"] == "not_open"
    out = b.modify(1, 0.0)
    assert (out["status"], out["reason"]) == ("rejected", "non_positive_qty")
    assert b.modify(1, 1.0, price=0.0)["reason"] == "invalid_price"
    assert ids(b, "sell") == [1, 2] and b.orders("sell")["qty"].tolist() == [2.0, 2.0]
    with pytest.raises(OrderError) as e:
        b.modify(1, 1.0005)
    assert e.value.reason == "off_lot_qty"
    with pytest.raises(OrderError) as e:
        b.modify(1, 1.0, price=100.001)
    assert e.value.reason == "off_tick_price"


# ----------------------------------------------------------------------------------------------
# self-trade prevention


def _stp_book(stp: str) -> OrderBook:
    b = book(stp)
    b.submit("sell", 1.0, price=100.0, order_id=1, owner=1)
    b.submit("sell", 1.0, price=100.0, order_id=2, owner=2)
    b.submit("sell", 1.0, price=101.0, order_id=3, owner=3)
    return b


def test_stp_none_trades_with_self():
    b = _stp_book("none")
    out = b.submit("buy", 3.0, price=101.0, order_id=4, owner=2)
    assert trades(out) == [(100.0, 1.0, 1, 1), (100.0, 1.0, 2, 2), (101.0, 1.0, 3, 3)]
    assert out["status"] == "filled"
    assert out["avg_price"] == pytest.approx(301.0 / 3, rel=1e-12)


def test_stp_cancel_taker():
    b = _stp_book("cancel_taker")
    out = b.submit("buy", 3.0, price=101.0, order_id=4, owner=2)
    # fills 1.0 from owner 1, then meets its own order 2: the rest of the taker is cancelled
    assert trades(out) == [(100.0, 1.0, 1, 1)]
    assert (out["status"], out["filled"], out["avg_price"]) == ("cancelled", 1.0, 100.0)
    assert ids(b, "sell") == [2, 3] and ids(b, "buy") == []
    assert b.cancel(4)["reason"] == "not_open"


def test_stp_cancel_maker():
    b = _stp_book("cancel_maker")
    out = b.submit("buy", 3.0, price=101.0, order_id=4, owner=2)
    # order 2 cancelled, matching goes on: 1@100 + 1@101, 1.0 rests at 101
    assert trades(out) == [(100.0, 1.0, 1, 1), (101.0, 1.0, 3, 3)]
    assert (out["status"], out["filled"], out["avg_price"]) == ("partially_filled", 2.0, 100.5)
    assert ids(b, "sell") == [] and ids(b, "buy") == [4]
    assert b.cancel(2)["reason"] == "not_open"


def test_stp_cancel_both():
    b = _stp_book("cancel_both")
    out = b.submit("buy", 3.0, price=101.0, order_id=4, owner=2)
    assert trades(out) == [(100.0, 1.0, 1, 1)]
    assert (out["status"], out["filled"]) == ("cancelled", 1.0)
    assert ids(b, "sell") == [3] and ids(b, "buy") == []
    assert b.cancel(2)["reason"] == "not_open"


@pytest.mark.parametrize("stp", ["cancel_taker", "cancel_maker", "cancel_both"])
def test_stp_only_applies_to_the_same_owner(stp):
    b = _stp_book(stp)
    out = b.submit("buy", 3.0, price=101.0, order_id=4, owner=7)
    assert [t[2] for t in trades(out)] == [1, 2, 3]
    assert out["status"] == "filled"


def test_stp_and_fok():
    # cancel_taker: only owner 1's 1.0 is reachable before the own order -> cannot fill 2.0
    b = _stp_book("cancel_taker")
    assert b.submit("buy", 2.0, price=101.0, owner=2, tif="fok")["reason"] == "fok_cannot_fill"
    assert b.open_orders == 3
    # cancel_maker: own order is skipped, 1.0 + 1.0 from others -> fills
    b = _stp_book("cancel_maker")
    out = b.submit("buy", 2.0, price=101.0, owner=2, tif="fok")
    assert (out["status"], out["filled"], out["avg_price"]) == ("filled", 2.0, 100.5)


def test_stp_sell_side_cancel_taker_first_maker_is_own():
    b = book("cancel_taker")
    b.submit("buy", 1.0, price=100.0, order_id=1, owner=5)
    b.submit("buy", 1.0, price=99.0, order_id=2, owner=6)
    out = b.submit("sell", 2.0, price=99.0, order_id=3, owner=5)
    assert (out["status"], out["filled"], out["trades"]) == ("cancelled", 0.0, [])
    assert ids(b, "buy") == [1, 2]


# ----------------------------------------------------------------------------------------------
# depth, depth_within, sweep_price, orders


def _ladder() -> OrderBook:
    b = book()
    b.submit("buy", 1.0, price=99.99, order_id=1)
    b.submit("buy", 2.0, price=99.50, order_id=2)
    b.submit("buy", 0.25, price=99.00, order_id=3)
    b.submit("buy", 0.25, price=99.00, order_id=4)
    b.submit("buy", 4.0, price=98.99, order_id=5)
    b.submit("sell", 1.5, price=100.01, order_id=6)
    b.submit("sell", 2.0, price=101.00, order_id=7)
    b.submit("sell", 3.0, price=101.01, order_id=8)
    return b


def test_depth_arrays_best_first():
    d = _ladder().depth(levels=3)
    assert list(d) == ["side", "level", "price", "qty", "orders"]
    assert d["side"].tolist() == ["bid"] * 3 + ["ask"] * 3 and d["level"].tolist() == [0, 1, 2] * 2
    assert at(d, "bid", "price").tolist() == [99.99, 99.5, 99.0]
    assert at(d, "bid", "qty").tolist() == [1.0, 2.0, 0.5]
    assert at(d, "bid", "orders").tolist() == [1, 1, 2]
    assert at(d, "ask", "price").tolist() == [100.01, 101.0, 101.01]
    assert at(d, "ask", "qty").tolist() == [1.5, 2.0, 3.0]
    assert at(d, "ask", "orders").tolist() == [1, 1, 1]
    assert at(d, "bid", "price").dtype == np.float64 and at(d, "bid", "orders").dtype == np.int64
    full = _ladder().depth(levels=10)
    assert len(at(full, "bid", "price")) == 4 and len(at(full, "ask", "price")) == 3
    assert len(at(_ladder().depth(levels=1), "ask", "price")) == 1
    empty = book().depth(5)
    assert all(len(v) == 0 for v in empty.values())


def test_depth_within_hand_computed():
    b = _ladder()
    # mid = (99.99 + 100.01) / 2 = 100.00; 1% band = [99.00, 101.00], edges included
    # bids: 99.99x1 + 99.50x2 + 99.00x0.5 = 99.99 + 199.00 + 49.50 = 348.49 (98.99 outside)
    # asks: 100.01x1.5 + 101.00x2 = 150.015 + 202.00 = 352.015 (101.01 outside)
    w = b.depth_within(0.01)
    assert w["bid_qty"] == pytest.approx(3.5, rel=1e-12)
    assert w["bid_notional"] == pytest.approx(348.49, rel=1e-12)
    assert w["ask_qty"] == pytest.approx(3.5, rel=1e-12)
    assert w["ask_notional"] == pytest.approx(352.015, rel=1e-12)
    # fraction 0: only the touch (mid is between the levels) -> nothing
    w0 = b.depth_within(0.0)
    assert (w0["bid_qty"], w0["ask_qty"]) == (0.0, 0.0)
    # one side empty: no mid
    one = book()
    one.submit("buy", 1.0, price=100.0)
    assert one.depth_within(0.01) is None
    with pytest.raises(LiqsimError):
        b.depth_within(-0.01)


def test_sweep_price():
    b = _ladder()
    # buy 2.0: 1.5@100.01 + 0.5@101.00 = 150.015 + 50.5 = 200.515 / 2 = 100.2575
    assert b.sweep_price("buy", 2.0) == pytest.approx(100.2575, rel=1e-12)
    # sell 5.0: 1@99.99 + 2@99.5 + 0.5@99 + 1.5@98.99 = 99.99+199+49.5+148.485 = 496.975 / 5
    assert b.sweep_price("sell", 5.0) == pytest.approx(99.395, rel=1e-12)
    # exactly all the asks: 6.5
    assert b.sweep_price("buy", 6.5) == pytest.approx((150.015 + 202.0 + 303.03) / 6.5, rel=1e-12)
    assert b.sweep_price("buy", 6.501) is None  # too thin
    assert book().sweep_price("sell", 1.0) is None
    assert b.open_orders == 8  # no state change
    with pytest.raises(OrderError) as e:
        b.sweep_price("buy", 0.0)
    assert e.value.reason == "non_positive_qty"
    with pytest.raises(OrderError):
        b.sweep_price("up", 1.0)


def test_orders_snapshot():
    b = _ladder()
    o = b.orders("buy")
    assert o["order_id"].tolist() == [1, 2, 3, 4, 5]
    assert o["price"].tolist() == [99.99, 99.5, 99.0, 99.0, 98.99]
    assert o["qty"].tolist() == [1.0, 2.0, 0.25, 0.25, 4.0]
    assert o["owner"].tolist() == [0] * 5
    assert b.orders("ask")["order_id"].tolist() == [6, 7, 8]  # 'ask' is an alias of 'sell'


# ----------------------------------------------------------------------------------------------
# the float edge


@pytest.mark.parametrize("price", [3850.01, 0.07, 0.01, 123456.78, 93900.0, 1.1, 0.29, 4.35, 1.13])
def test_prices_round_trip_exactly(price):
    b = book()
    b.submit("sell", 0.003, price=price, order_id=1)
    assert b.best_ask == price
    assert at(b.depth(1), "ask", "price")[0] == price
    assert b.orders("sell")["price"][0] == price
    out = b.submit("buy", 0.003, order_id=2)
    assert out["trades"][0]["price"] == price
    assert out["trades"][0]["qty"] == 0.003
    assert out["filled"] == 0.003
    assert out["avg_price"] == pytest.approx(price, rel=1e-15)


@pytest.mark.parametrize("price", [4.35, 1.13, 0.35])
def test_avg_price_of_a_fill_at_one_price_is_that_price(price):
    b = book()
    b.submit("sell", 0.003, price=price, order_id=1)
    out = b.submit("buy", 0.003, order_id=2)
    assert out["trades"][0]["price"] == price
    assert out["avg_price"] == price


def test_off_grid_values_raise_order_error():
    b = book()
    with pytest.raises(OrderError) as e:
        b.submit("buy", 1.0, price=3850.015)
    assert e.value.reason == "off_tick_price"
    assert "tick" in str(e.value)
    with pytest.raises(OrderError) as e:
        b.submit("buy", 1.0005, price=3850.01)
    assert e.value.reason == "off_lot_qty"
    with pytest.raises(OrderError) as e:
        b.submit("buy", 1.0, protection=3850.001)  # market protection is a price too
    assert e.value.reason == "off_tick_price"
    # within 1e-9 relative: on the grid
    assert b.submit("buy", 1.0, price=3850.0100001)["status"] == "open"
    assert b.best_bid == 3850.01


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(side="buy", qty=float("nan"), price=100.0),
        dict(side="buy", qty=1.0, price=float("nan")),
        dict(side="buy", qty=float("inf"), price=100.0),
        dict(side="buy", qty=1.0, protection=float("nan")),
    ],
)
def test_nan_and_inf_raise_order_error(kwargs):
    b = book()
    with pytest.raises(OrderError):
        b.submit(**kwargs)
    assert b.open_orders == 0


@pytest.mark.parametrize("side,tif", [("up", "gtc"), ("bye", "gtc"), ("", "gtc"), ("buy", "gtd"), ("buy", "day"), ("sell", "")])
def test_bad_side_or_tif_strings_raise_order_error(side, tif):
    b = book()
    with pytest.raises(OrderError) as e:
        b.submit(side, 1.0, price=100.0, tif=tif)
    assert e.value.reason in ("invalid_side", "invalid_tif")
    assert isinstance(e.value, ValueError) and isinstance(e.value, LiqsimError)
    assert b.open_orders == 0


@pytest.mark.parametrize("side,tif", [("BUY", "gtc"), ("Buy", "IOC"), (" bid ", "Post_Only"), ("buy", "GTX")])
def test_side_and_tif_strings_are_case_insensitive_as_in_tables(side, tif):
    b = book()
    b.submit("sell", 1.0, price=100.0)
    out = b.submit(side, 1.0, price=100.0 if tif.lower() not in ("post_only", "gtx") else 99.0, tif=tif)
    assert out["status"] in ("filled", "open")


def test_bad_side_names_the_argument_and_the_closest_name():
    with pytest.raises(OrderError, match=r"side must be one of \['buy', 'sell'\], got 'bye' \(did you mean 'buy'\?\)"):
        book().submit("bye", 1.0, price=100.0)


def test_order_error_does_not_touch_the_book():
    b = book()
    b.submit("sell", 1.0, price=100.0, order_id=1)
    with pytest.raises(OrderError):
        b.submit("buy", 1.0, price=100.005, order_id=2)
    assert b.open_orders == 1
    # id 2 was never seen
    assert b.cancel(2)["reason"] == "unknown_order"
    assert math.isclose(b.best_ask, 100.0)
