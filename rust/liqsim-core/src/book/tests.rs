//! Hand-worked tests of every book rule. Prices in ticks, quantities in lots.

use super::*;

use Side::{Buy, Sell};

fn book() -> OrderBook {
    OrderBook::new(SelfTradePrevention::None)
}

/// Place a resting GTC limit order with an explicit id and owner; it must rest untouched.
fn rest(b: &mut OrderBook, id: i64, owner: i64, side: Side, price: Price, qty: Qty) {
    let mut ev = Vec::new();
    let out = b.submit(NewOrder::limit(side, price, qty).with_id(id).with_owner(owner), &mut ev);
    assert_eq!(out.status, Status::Open, "setup order {id} should rest: {ev:?}");
}

fn trades(ev: &[Event]) -> Vec<(Price, Qty, i64)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some((t.price, t.qty, t.maker_order_id.0)),
            _ => None,
        })
        .collect()
}

fn ids(b: &OrderBook, side: Side) -> Vec<i64> {
    b.orders(side).map(|o| o.id.0).collect()
}

#[test]
fn price_then_time_priority() {
    let mut b = book();
    rest(&mut b, 1, 10, Sell, 101, 5);
    rest(&mut b, 2, 11, Sell, 100, 5);
    rest(&mut b, 3, 12, Sell, 100, 5);
    let mut ev = Vec::new();
    let out = b.submit(NewOrder::limit(Buy, 101, 12).with_id(4).with_owner(20), &mut ev);
    // Best price first (100: ids 2 then 3 by time), then 101.
    assert_eq!(trades(&ev), vec![(100, 5, 2), (100, 5, 3), (101, 2, 1)]);
    assert_eq!(out.status, Status::Filled);
    assert_eq!(out.filled, 12);
    assert_eq!(out.notional, 100 * 10 + 101 * 2);
    assert_eq!(b.best_ask(), Some((101, 3)));
    b.check_invariants().unwrap();
}

#[test]
fn trade_event_carries_both_sides() {
    let mut b = book();
    rest(&mut b, 1, 10, Buy, 99, 4);
    let mut ev = Vec::new();
    b.submit(NewOrder::limit(Sell, 99, 3).with_id(2).with_owner(20), &mut ev);
    assert_eq!(
        ev,
        vec![
            Event::Accepted { order_id: OrderId(2), owner: TraderId(20), side: Sell, price: Some(99), qty: 3 },
            Event::Trade(Trade {
                price: 99,
                qty: 3,
                maker_order_id: OrderId(1),
                taker_order_id: OrderId(2),
                maker_owner: TraderId(10),
                taker_owner: TraderId(20),
                aggressor: Sell,
                maker_remaining: 1,
            }),
        ]
    );
}

#[test]
fn sweep_across_many_levels_then_rest_the_remainder() {
    let mut b = book();
    for i in 0..50 {
        rest(&mut b, i + 1, 1, Sell, 1000 + i, 2);
    }
    let mut ev = Vec::new();
    // 50 levels of 2 lots = 100 lots from 1000 to 1049; buy 120 up to 1049: takes all, rests 20.
    let out = b.submit(NewOrder::limit(Buy, 1049, 120).with_id(100), &mut ev);
    let t = trades(&ev);
    assert_eq!(t.len(), 50);
    assert_eq!(t[0], (1000, 2, 1));
    assert_eq!(t[49], (1049, 2, 50));
    assert_eq!(out.status, Status::PartiallyFilled);
    assert_eq!(out.filled, 100);
    // Σ (1000 + i) × 2 for i in 0..50 = 2 × (50 × 1000 + 1225) = 102,450
    assert_eq!(out.notional, 102_450);
    assert_eq!(b.best_ask(), None);
    assert_eq!(b.best_bid(), Some((1049, 20)));
    b.check_invariants().unwrap();
}

#[test]
fn limit_stops_at_its_price_and_exact_boundary_fill() {
    let mut b = book();
    rest(&mut b, 1, 1, Sell, 100, 3);
    rest(&mut b, 2, 1, Sell, 101, 3);
    let mut ev = Vec::new();
    // Exactly the quantity at and below 100: fills at the boundary price, nothing rests.
    let out = b.submit(NewOrder::limit(Buy, 100, 3).with_id(3), &mut ev);
    assert_eq!(trades(&ev), vec![(100, 3, 1)]);
    assert_eq!(out.status, Status::Filled);
    assert_eq!(b.best_ask(), Some((101, 3)));
    assert_eq!(b.best_bid(), None);
    // A buy at 100.5-ish cannot exist (ticks); a buy at 100 now rests below the ask.
    ev.clear();
    let out = b.submit(NewOrder::limit(Buy, 100, 1).with_id(4), &mut ev);
    assert_eq!(out.status, Status::Open);
    assert!(trades(&ev).is_empty());
    b.check_invariants().unwrap();
}

#[test]
fn ioc_remainder_expires() {
    let mut b = book();
    rest(&mut b, 1, 1, Sell, 100, 3);
    let mut ev = Vec::new();
    let out = b.submit(NewOrder::limit(Buy, 100, 5).with_id(2).with_tif(TimeInForce::Ioc), &mut ev);
    assert_eq!(out.status, Status::Expired);
    assert_eq!(out.filled, 3);
    assert_eq!(ev.last(), Some(&Event::Expired { order_id: OrderId(2), owner: TraderId(0), side: Buy, qty: 2 }));
    assert_eq!(b.best_bid(), None);
    b.check_invariants().unwrap();
}

#[test]
fn fok_rejects_without_touching_the_book_and_fills_when_exact() {
    let mut b = book();
    rest(&mut b, 1, 1, Sell, 100, 3);
    rest(&mut b, 2, 1, Sell, 101, 3);
    rest(&mut b, 3, 1, Sell, 102, 3);
    let mut ev = Vec::new();
    // Within 101 only 6 lots: 7 cannot fill.
    let out = b.submit(NewOrder::limit(Buy, 101, 7).with_id(10).with_tif(TimeInForce::Fok), &mut ev);
    assert_eq!(out.reject, Some(RejectReason::FokCannotFill));
    assert_eq!(ev, vec![Event::Rejected { order_id: Some(OrderId(10)), reason: RejectReason::FokCannotFill }]);
    assert_eq!(b.best_ask(), Some((100, 3)));
    // Exactly 6 within 101: fills completely.
    ev.clear();
    let out = b.submit(NewOrder::limit(Buy, 101, 6).with_id(11).with_tif(TimeInForce::Fok), &mut ev);
    assert_eq!(out.status, Status::Filled);
    assert_eq!(trades(&ev), vec![(100, 3, 1), (101, 3, 2)]);
    // A market FOK for more than the whole book is rejected too.
    ev.clear();
    let out = b.submit(NewOrder::market(Buy, 4).with_id(12).with_tif(TimeInForce::Fok), &mut ev);
    assert_eq!(out.reject, Some(RejectReason::FokCannotFill));
    b.check_invariants().unwrap();
}

#[test]
fn post_only_at_the_touch() {
    let mut b = book();
    rest(&mut b, 1, 1, Sell, 100, 3);
    rest(&mut b, 2, 1, Buy, 98, 3);
    let mut ev = Vec::new();
    // Buy post-only at the best ask would take liquidity: rejected.
    let out = b.submit(NewOrder::limit(Buy, 100, 1).with_id(3).with_tif(TimeInForce::PostOnly), &mut ev);
    assert_eq!(out.reject, Some(RejectReason::PostOnlyWouldCross));
    // One tick inside the spread, and joining the best bid, both rest.
    let out = b.submit(NewOrder::limit(Buy, 99, 1).with_id(4).with_tif(TimeInForce::PostOnly), &mut ev);
    assert_eq!(out.status, Status::Open);
    let out = b.submit(NewOrder::limit(Sell, 100, 1).with_id(5).with_tif(TimeInForce::PostOnly), &mut ev);
    assert_eq!(out.status, Status::Open);
    assert_eq!(ids(&b, Sell), vec![1, 5]);
    b.check_invariants().unwrap();
}

#[test]
fn market_orders_sweep_and_respect_protection_price() {
    let mut b = book();
    rest(&mut b, 1, 1, Buy, 100, 2);
    rest(&mut b, 2, 1, Buy, 99, 2);
    rest(&mut b, 3, 1, Buy, 95, 2);
    let mut ev = Vec::new();
    // Protected at 99: takes 100 and 99, the rest expires instead of hitting 95.
    let out = b.submit(NewOrder::market(Sell, 6).with_id(4).with_protection(99), &mut ev);
    assert_eq!(trades(&ev), vec![(100, 2, 1), (99, 2, 2)]);
    assert_eq!(out.status, Status::Expired);
    assert_eq!(out.filled, 4);
    // Unprotected: takes what is left and expires the rest on an empty side.
    ev.clear();
    let out = b.submit(NewOrder::market(Sell, 3).with_id(5), &mut ev);
    assert_eq!(trades(&ev), vec![(95, 2, 3)]);
    assert_eq!((out.status, out.filled), (Status::Expired, 2));
    // GTC on a market order acts as IOC: never rests.
    let out = b.submit(NewOrder::market(Buy, 1).with_id(6).with_tif(TimeInForce::Gtc), &mut ev);
    assert_eq!(out.status, Status::Expired);
    assert_eq!(b.open_orders(), 0);
    // Post-only makes no sense on a market order.
    let out = b.submit(NewOrder::market(Buy, 1).with_tif(TimeInForce::PostOnly), &mut ev);
    assert_eq!(out.reject, Some(RejectReason::InvalidTimeInForce));
}

#[test]
fn cancel_tells_unknown_from_not_open() {
    let mut b = book();
    rest(&mut b, 1, 1, Sell, 100, 3);
    let mut ev = Vec::new();
    assert_eq!(b.cancel(OrderId(99), &mut ev).reject, Some(RejectReason::UnknownOrder));
    // Fill order 1 completely: a stale cancel is refused as not open.
    b.submit(NewOrder::market(Buy, 3).with_id(2), &mut ev);
    assert_eq!(b.cancel(OrderId(1), &mut ev).reject, Some(RejectReason::NotOpen));
    // The taker (fully filled, never rested) is not open either.
    assert_eq!(b.cancel(OrderId(2), &mut ev).reject, Some(RejectReason::NotOpen));
    rest(&mut b, 3, 7, Buy, 90, 5);
    ev.clear();
    let out = b.cancel(OrderId(3), &mut ev);
    assert_eq!(out.status, Status::Cancelled);
    assert_eq!(
        ev,
        vec![Event::Cancelled {
            order_id: OrderId(3),
            owner: TraderId(7),
            side: Buy,
            qty: 5,
            reason: CancelReason::User
        }]
    );
    assert_eq!(b.cancel(OrderId(3), &mut ev).reject, Some(RejectReason::NotOpen));
    // Large ids take the sparse path and behave the same.
    let big = 1 << 40;
    rest(&mut b, big, 1, Buy, 90, 1);
    assert_eq!(b.cancel(OrderId(big + 1), &mut ev).reject, Some(RejectReason::UnknownOrder));
    assert_eq!(b.cancel(OrderId(big), &mut ev).status, Status::Cancelled);
    assert_eq!(b.cancel(OrderId(big), &mut ev).reject, Some(RejectReason::NotOpen));
    b.check_invariants().unwrap();
}

#[test]
fn ids_can_be_reused_once_gone_but_not_while_open() {
    let mut b = book();
    rest(&mut b, 1, 1, Buy, 90, 1);
    let mut ev = Vec::new();
    let out = b.submit(NewOrder::limit(Buy, 91, 1).with_id(1), &mut ev);
    assert_eq!(out.reject, Some(RejectReason::DuplicateOrderId));
    b.cancel(OrderId(1), &mut ev);
    rest(&mut b, 1, 2, Sell, 95, 4);
    assert_eq!(b.order(OrderId(1)).map(|o| (o.side, o.price, o.qty)), Some((Sell, 95, 4)));
    let out = b.submit(NewOrder::limit(Buy, 91, 1).with_id(-5), &mut ev);
    assert_eq!(out.reject, Some(RejectReason::InvalidOrderId));
    b.check_invariants().unwrap();
}

#[test]
fn assigned_ids_skip_ids_in_use() {
    let mut b = book();
    let mut ev = Vec::new();
    let a = b.submit(NewOrder::limit(Buy, 90, 1), &mut ev).order_id.unwrap();
    rest(&mut b, 5, 1, Buy, 90, 1);
    let c = b.submit(NewOrder::limit(Buy, 90, 1), &mut ev).order_id.unwrap();
    assert_eq!((a, c), (OrderId(0), OrderId(6)));
}

#[test]
fn fifo_survives_scattered_cancels() {
    let mut b = book();
    for id in 1..=8 {
        rest(&mut b, id, id, Sell, 100, 1);
    }
    let mut ev = Vec::new();
    for id in [2, 5, 8, 1] {
        b.cancel(OrderId(id), &mut ev);
    }
    assert_eq!(ids(&b, Sell), vec![3, 4, 6, 7]);
    ev.clear();
    b.submit(NewOrder::market(Buy, 3).with_id(20), &mut ev);
    assert_eq!(trades(&ev), vec![(100, 1, 3), (100, 1, 4), (100, 1, 6)]);
    rest(&mut b, 9, 9, Sell, 100, 1);
    assert_eq!(ids(&b, Sell), vec![7, 9]);
    b.check_invariants().unwrap();
}

#[test]
fn modify_down_keeps_priority_anything_else_loses_it() {
    let mut b = book();
    rest(&mut b, 1, 1, Buy, 100, 5);
    rest(&mut b, 2, 2, Buy, 100, 5);
    let mut ev = Vec::new();
    // Down at the same price: stays first.
    let out = b.modify(OrderId(1), 3, None, &mut ev);
    assert_eq!(out.status, Status::Open);
    assert_eq!(ids(&b, Buy), vec![1, 2]);
    assert_eq!(b.best_bid(), Some((100, 8)));
    // Up at the same price: goes to the back.
    b.modify(OrderId(1), 4, None, &mut ev);
    assert_eq!(ids(&b, Buy), vec![2, 1]);
    assert_eq!(b.best_bid(), Some((100, 9)));
    // Same quantity at a new price and back: loses priority again.
    b.modify(OrderId(2), 5, Some(99), &mut ev);
    b.modify(OrderId(2), 5, Some(100), &mut ev);
    assert_eq!(ids(&b, Buy), vec![1, 2]);
    assert_eq!(b.modify(OrderId(2), 0, None, &mut ev).reject, Some(RejectReason::NonPositiveQty));
    assert_eq!(b.modify(OrderId(42), 1, None, &mut ev).reject, Some(RejectReason::UnknownOrder));
    b.check_invariants().unwrap();
}

#[test]
fn modify_into_a_cross_trades_at_once() {
    let mut b = book();
    rest(&mut b, 1, 1, Sell, 105, 2);
    rest(&mut b, 2, 2, Buy, 100, 5);
    let mut ev = Vec::new();
    let out = b.modify(OrderId(2), 5, Some(106), &mut ev);
    assert_eq!(trades(&ev), vec![(105, 2, 1)]);
    assert_eq!(out.status, Status::PartiallyFilled);
    assert_eq!(out.filled, 2);
    // Still open under the same id, with the rest at the new price.
    assert_eq!(b.order(OrderId(2)).map(|o| (o.price, o.qty)), Some((106, 3)));
    assert_eq!(b.best_ask(), None);
    b.check_invariants().unwrap();
}

#[test]
fn rejections_for_bad_quantity_and_price() {
    let mut b = book();
    let mut ev = Vec::new();
    assert_eq!(b.submit(NewOrder::limit(Buy, 100, 0), &mut ev).reject, Some(RejectReason::NonPositiveQty));
    assert_eq!(b.submit(NewOrder::limit(Buy, 100, -3), &mut ev).reject, Some(RejectReason::NonPositiveQty));
    assert_eq!(b.submit(NewOrder::limit(Buy, 0, 1), &mut ev).reject, Some(RejectReason::InvalidPrice));
    assert_eq!(
        b.submit(NewOrder::market(Buy, 1).with_protection(-1), &mut ev).reject,
        Some(RejectReason::InvalidPrice)
    );
    assert_eq!(b.open_orders(), 0);
}

fn stp_book(stp: SelfTradePrevention) -> OrderBook {
    let mut b = OrderBook::new(stp);
    rest(&mut b, 1, 7, Sell, 100, 2); // someone else
    rest(&mut b, 2, 9, Sell, 100, 2); // the taker's own order
    rest(&mut b, 3, 7, Sell, 101, 2);
    b
}

#[test]
fn self_trade_prevention_modes() {
    let taker = NewOrder::limit(Buy, 101, 6).with_id(10).with_owner(9);
    let mut ev = Vec::new();

    let mut b = stp_book(SelfTradePrevention::None);
    b.submit(taker, &mut ev);
    assert_eq!(trades(&ev), vec![(100, 2, 1), (100, 2, 2), (101, 2, 3)]);

    // Cancel taker: trades with 1, stops at its own order 2, which stays.
    ev.clear();
    let mut b = stp_book(SelfTradePrevention::CancelTaker);
    let out = b.submit(taker, &mut ev);
    assert_eq!(trades(&ev), vec![(100, 2, 1)]);
    assert_eq!((out.status, out.filled), (Status::Cancelled, 2));
    assert_eq!(
        ev.last(),
        Some(&Event::Cancelled {
            order_id: OrderId(10),
            owner: TraderId(9),
            side: Buy,
            qty: 4,
            reason: CancelReason::SelfTrade
        })
    );
    assert_eq!(ids(&b, Sell), vec![2, 3]);
    assert_eq!(b.best_bid(), None);

    // Cancel maker: its own order 2 is cancelled, matching goes on to 3; nothing left to rest.
    ev.clear();
    let mut b = stp_book(SelfTradePrevention::CancelMaker);
    let out = b.submit(taker, &mut ev);
    assert_eq!(trades(&ev), vec![(100, 2, 1), (101, 2, 3)]);
    assert!(ev.contains(&Event::Cancelled {
        order_id: OrderId(2),
        owner: TraderId(9),
        side: Sell,
        qty: 2,
        reason: CancelReason::SelfTrade
    }));
    assert_eq!((out.status, out.filled), (Status::PartiallyFilled, 4));
    assert_eq!(b.best_bid(), Some((101, 2)));
    assert_eq!(b.best_ask(), None);

    // Cancel both: 2 and the taker's rest are cancelled; 3 stays.
    ev.clear();
    let mut b = stp_book(SelfTradePrevention::CancelBoth);
    let out = b.submit(taker, &mut ev);
    assert_eq!(trades(&ev), vec![(100, 2, 1)]);
    assert_eq!(out.status, Status::Cancelled);
    assert_eq!(ids(&b, Sell), vec![3]);
    assert_eq!(b.best_bid(), None);
    b.check_invariants().unwrap();
}

#[test]
fn fok_counts_only_what_self_trade_prevention_lets_it_take() {
    let mut ev = Vec::new();
    // 6 lots within 101 but 2 are the taker's own.
    let fok = NewOrder::limit(Buy, 101, 4).with_id(10).with_owner(9).with_tif(TimeInForce::Fok);
    // Cancel maker: 4 others' lots are reachable → fills.
    let mut b = stp_book(SelfTradePrevention::CancelMaker);
    assert_eq!(b.submit(fok, &mut ev).status, Status::Filled);
    // Cancel taker: matching would stop after 2 lots → rejected, book unchanged.
    let mut b = stp_book(SelfTradePrevention::CancelTaker);
    assert_eq!(b.submit(fok, &mut ev).reject, Some(RejectReason::FokCannotFill));
    assert_eq!(ids(&b, Sell), vec![1, 2, 3]);
}

#[test]
fn depth_queries() {
    let mut b = book();
    rest(&mut b, 1, 1, Buy, 9_900, 10);
    rest(&mut b, 2, 1, Buy, 9_950, 5);
    rest(&mut b, 3, 1, Buy, 9_850, 7);
    rest(&mut b, 4, 1, Sell, 10_000, 4);
    rest(&mut b, 5, 1, Sell, 10_050, 6);
    rest(&mut b, 6, 1, Sell, 10_200, 8);
    let top: Vec<(Price, Qty)> = b.levels(Buy).take(2).map(|l| (l.price, l.qty)).collect();
    assert_eq!(top, vec![(9_950, 5), (9_900, 10)]);
    // Mid 9,975; 1% band: bids ≥ 9,875.25 → 9,950 and 9,900; asks ≤ 10,074.75 → 10,000 and 10,050.
    let d = b.depth_within(0.01).unwrap();
    assert_eq!((d.bid_qty, d.ask_qty), (15, 10));
    assert_eq!(d.bid_notional, 9_950 * 5 + 9_900 * 10);
    assert_eq!(d.ask_notional, 10_000 * 4 + 10_050 * 6);
    // Band edge included: 0.5% of 9,975 is 49.875 → asks ≤ 10,024.875 (only 10,000).
    assert_eq!(b.depth_within(0.005).unwrap().ask_qty, 4);
    // Sweep 12 lots of asks: 4 @ 10,000 + 6 @ 10,050 + 2 @ 10,200.
    let s = b.sweep(Buy, 12);
    assert_eq!((s.filled, s.notional, s.worst_price), (12, 40_000 + 60_300 + 20_400, Some(10_200)));
    assert_eq!(b.sweep(Buy, 100).filled, 18);
    // Sweep by notional: 50,000 → 4 @ 10,000 (40,000) then ceil(10,000 / 10,050) = 1 lot.
    let s = b.sweep_notional(Buy, 50_000);
    assert_eq!((s.filled, s.notional), (5, 50_050));
    assert_eq!(book().depth_within(0.01), None);
}
