//! Hand-picked edge cases found while writing the differential and property tests.
//!
//! The overflow cases were bugs found by the differential work and are fixed; they stay as tests.

use liqsim_core::book::{NewOrder, OrderBook, RejectReason, SelfTradePrevention, Status, MAX_ORDER_ID, MAX_ORDER_QTY};
use liqsim_core::{OrderId, Side};

/// Ids either side of the flat/hashed id index boundary (2^24) behave alike, and assigned ids follow.
#[test]
fn dense_sparse_id_boundary() {
    let mut b = OrderBook::new(SelfTradePrevention::None);
    let mut ev = Vec::new();
    for id in [(1 << 24) - 1, 1 << 24, (1 << 24) + 1] {
        assert_eq!(b.submit(NewOrder::limit(Side::Buy, 100, 1).with_id(id), &mut ev).status, Status::Open);
        assert_eq!(b.cancel(OrderId(id), &mut ev).status, Status::Cancelled);
        assert_eq!(b.cancel(OrderId(id), &mut ev).reject, Some(RejectReason::NotOpen));
        assert_eq!(b.cancel(OrderId(id + 10), &mut ev).reject, Some(RejectReason::UnknownOrder));
    }
    let out = b.submit(NewOrder::limit(Side::Buy, 100, 1), &mut ev);
    assert_eq!(out.order_id, Some(OrderId((1 << 24) + 2)));
    b.check_invariants().unwrap();
}

/// Ids above `MAX_ORDER_ID` are refused, so "one above the highest id seen" never overflows
/// (found by the differential work: i64::MAX used to wrap the next assigned id to i64::MIN).
#[test]
fn largest_order_id_does_not_overflow_assigned_ids() {
    let mut b = OrderBook::new(SelfTradePrevention::None);
    let mut ev = Vec::new();
    let out = b.submit(NewOrder::limit(Side::Buy, 100, 1).with_id(i64::MAX), &mut ev);
    assert_eq!(out.reject, Some(RejectReason::InvalidOrderId));
    assert_eq!(b.submit(NewOrder::limit(Side::Buy, 100, 1).with_id(MAX_ORDER_ID), &mut ev).status, Status::Open);
    // The id space above the largest id is exhausted: an order without an id is refused, not wrapped.
    let next = b.submit(NewOrder::limit(Side::Buy, 100, 1), &mut ev);
    assert_eq!((next.order_id, next.reject), (None, Some(RejectReason::InvalidOrderId)));
    b.check_invariants().unwrap();
}

/// Quantities above `MAX_ORDER_QTY` are refused (found by the differential work: two orders of
/// 5e18 lots used to overflow the level total).
#[test]
fn huge_quantities_on_one_level_do_not_overflow() {
    let mut b = OrderBook::new(SelfTradePrevention::None);
    let mut ev = Vec::new();
    let q = 5_000_000_000_000_000_000;
    assert_eq!(
        b.submit(NewOrder::limit(Side::Sell, 100, q).with_id(1), &mut ev).reject,
        Some(RejectReason::QtyTooLarge)
    );
    for id in 2..5 {
        assert_eq!(b.submit(NewOrder::limit(Side::Sell, 100, MAX_ORDER_QTY).with_id(id), &mut ev).status, Status::Open);
    }
    assert_eq!(b.modify(OrderId(2), MAX_ORDER_QTY + 1, None, &mut ev).reject, Some(RejectReason::QtyTooLarge));
    assert_eq!(b.best_ask(), Some((100, 3 * MAX_ORDER_QTY)));
    b.check_invariants().unwrap();
}
