//! Shared by the black-box book tests: the action vocabulary, applying an action to the real book
//! or to the reference, brute-force versions of the read-only queries, and proptest strategies.

#![allow(dead_code)]

use liqsim_core::book::{
    DepthWithin, Event, NewOrder, OrderBook, OrderType, OrderView, Outcome, SelfTradePrevention, Sweep, TimeInForce,
};
use liqsim_core::{OrderId, Price, Qty, Side, TraderId};
use proptest::prelude::*;

use crate::reference_book::RefBook;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Submit(NewOrder),
    Cancel(i64),
    Modify { id: i64, qty: Qty, price: Option<Price> },
}

pub fn apply_book(book: &mut OrderBook, action: &Action, events: &mut Vec<Event>) -> Outcome {
    match *action {
        Action::Submit(order) => book.submit(order, events),
        Action::Cancel(id) => book.cancel(OrderId(id), events),
        Action::Modify { id, qty, price } => book.modify(OrderId(id), qty, price, events),
    }
}

pub fn apply_ref(book: &mut RefBook, action: &Action, events: &mut Vec<Event>) -> Outcome {
    match *action {
        Action::Submit(ref order) => book.submit(order, events),
        Action::Cancel(id) => book.cancel(id, events),
        Action::Modify { id, qty, price } => book.modify(id, qty, price, events),
    }
}

pub fn order(
    side: Side,
    order_type: OrderType,
    price: Option<Price>,
    qty: Qty,
    id: Option<i64>,
    owner: i64,
    tif: TimeInForce,
) -> NewOrder {
    NewOrder { id: id.map(OrderId), owner: TraderId(owner), side, order_type, price, qty, tif }
}

/// Everything observable about the resting state of the real book, for comparisons.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub bids: Vec<OrderView>,
    pub asks: Vec<OrderView>,
    pub bid_levels: Vec<(Price, Qty, u32)>,
    pub ask_levels: Vec<(Price, Qty, u32)>,
    pub best_bid: Option<(Price, Qty)>,
    pub best_ask: Option<(Price, Qty)>,
    pub open_orders: usize,
}

pub fn snapshot(book: &OrderBook) -> Snapshot {
    let lv = |side| book.levels(side).map(|l| (l.price, l.qty, l.count)).collect();
    Snapshot {
        bids: book.orders(Side::Buy).collect(),
        asks: book.orders(Side::Sell).collect(),
        bid_levels: lv(Side::Buy),
        ask_levels: lv(Side::Sell),
        best_bid: book.best_bid(),
        best_ask: book.best_ask(),
        open_orders: book.open_orders(),
    }
}

pub fn ref_snapshot(book: &RefBook) -> Snapshot {
    Snapshot {
        bids: book.views(Side::Buy),
        asks: book.views(Side::Sell),
        bid_levels: book.levels(Side::Buy),
        ask_levels: book.levels(Side::Sell),
        best_bid: book.best(Side::Buy),
        best_ask: book.best(Side::Sell),
        open_orders: book.open_orders(),
    }
}

// ----- brute-force queries over a list of resting orders (priority order) -----------------------

/// Every resting lot of one side as its price, in priority order.
fn lots(orders: &[OrderView]) -> Vec<Price> {
    orders.iter().flat_map(|o| std::iter::repeat_n(o.price, o.qty as usize)).collect()
}

/// Take whole lots of `makers` one at a time while `more(taken lots, notional so far)` says so.
fn take_lots(makers: &[OrderView], mut more: impl FnMut(Qty, i128) -> bool) -> Sweep {
    let mut out = Sweep::default();
    for p in lots(makers) {
        if !more(out.filled, out.notional) {
            break;
        }
        out.filled += 1;
        out.notional += p as i128;
        out.worst_price = Some(p);
    }
    out
}

/// What `book.sweep(side, qty)` must return, from the opposite side's orders in priority order.
pub fn brute_sweep(makers: &[OrderView], qty: Qty) -> Sweep {
    take_lots(makers, |filled, _| filled < qty)
}

pub fn brute_sweep_notional(makers: &[OrderView], notional: i128) -> Sweep {
    take_lots(makers, |_, n| n < notional)
}

/// What `book.depth_within(per_mille / 1000)` must return, computed in exact integer arithmetic:
/// a bid at p counts iff p ≥ mid·(1 − f), an ask iff p ≤ mid·(1 + f), with mid = (bid + ask) / 2.
pub fn brute_depth_within(bids: &[OrderView], asks: &[OrderView], per_mille: i64) -> Option<DepthWithin> {
    let bid = bids.iter().map(|o| o.price).max()?;
    let ask = asks.iter().map(|o| o.price).min()?;
    let sum = (bid + ask) as i128;
    let mut d = DepthWithin::default();
    for o in bids.iter().filter(|o| 2000 * o.price as i128 >= sum * (1000 - per_mille) as i128) {
        d.bid_qty += o.qty as i128;
        d.bid_notional += o.price as i128 * o.qty as i128;
    }
    for o in asks.iter().filter(|o| 2000 * o.price as i128 <= sum * (1000 + per_mille) as i128) {
        d.ask_qty += o.qty as i128;
        d.ask_notional += o.price as i128 * o.qty as i128;
    }
    Some(d)
}

/// Compare sweep / sweep_notional / depth_within with the brute-force versions on `book`'s own
/// resting orders.
pub fn check_queries(book: &OrderBook, qtys: &[Qty], notionals: &[i128], per_milles: &[i64]) -> Result<(), String> {
    let bids: Vec<OrderView> = book.orders(Side::Buy).collect();
    let asks: Vec<OrderView> = book.orders(Side::Sell).collect();
    for side in [Side::Buy, Side::Sell] {
        let makers = if side == Side::Buy { &asks } else { &bids };
        for &q in qtys {
            let (got, want) = (book.sweep(side, q), brute_sweep(makers, q));
            if got != want {
                return Err(format!("sweep({side:?}, {q}) = {got:?}, brute force {want:?}"));
            }
        }
        for &n in notionals {
            let (got, want) = (book.sweep_notional(side, n), brute_sweep_notional(makers, n));
            if got != want {
                return Err(format!("sweep_notional({side:?}, {n}) = {got:?}, brute force {want:?}"));
            }
        }
    }
    for &k in per_milles {
        let got = book.depth_within(k as f64 / 1000.0);
        let want = brute_depth_within(&bids, &asks, k);
        if got != want {
            return Err(format!("depth_within({}) = {got:?}, brute force {want:?}", k as f64 / 1000.0));
        }
    }
    Ok(())
}

// ----- proptest strategies ---------------------------------------------------------------------

pub const PROP_IDS: i64 = 16;

pub fn stp_strategy() -> impl Strategy<Value = SelfTradePrevention> {
    prop_oneof![
        Just(SelfTradePrevention::None),
        Just(SelfTradePrevention::CancelTaker),
        Just(SelfTradePrevention::CancelMaker),
        Just(SelfTradePrevention::CancelBoth),
    ]
}

fn side_strategy() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

/// Mostly explicit ids from a small space (reuse, duplicates), sometimes book-assigned.
fn id_strategy() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![8 => (0..PROP_IDS).prop_map(Some), 2 => Just(None)]
}

/// Ids to cancel or modify: the explicit id space plus the first few assigned ones above it.
fn target_strategy() -> impl Strategy<Value = i64> {
    0..PROP_IDS + 8
}

/// Random actions on a tight price range (95..=105 ticks) so that crossing, partial fills,
/// self-trades and stale ids are common. A few malformed actions are mixed in.
pub fn action_strategy() -> impl Strategy<Value = Action> {
    let tif = prop_oneof![
        6 => Just(TimeInForce::Gtc),
        2 => Just(TimeInForce::Ioc),
        2 => Just(TimeInForce::Fok),
        2 => Just(TimeInForce::PostOnly),
    ];
    let limit = (side_strategy(), 95i64..=105, 1i64..=8, id_strategy(), 0i64..3, tif.clone())
        .prop_map(|(s, p, q, id, o, t)| Action::Submit(order(s, OrderType::Limit, Some(p), q, id, o, t)));
    let market = (side_strategy(), prop::option::of(93i64..=107), 1i64..=14, id_strategy(), 0i64..3, tif)
        .prop_map(|(s, p, q, id, o, t)| Action::Submit(order(s, OrderType::Market, p, q, id, o, t)));
    let cancel = target_strategy().prop_map(Action::Cancel);
    let modify = (
        target_strategy(),
        prop_oneof![10 => 1i64..=10, 1 => -1i64..=0],
        prop_oneof![4 => Just(None), 6 => (93i64..=107).prop_map(Some), 1 => (-1i64..=0).prop_map(Some)],
    )
        .prop_map(|(id, qty, price)| Action::Modify { id, qty, price });
    let malformed = (side_strategy(), -2i64..=1, -1i64..=1, prop_oneof![Just(None), (-2i64..PROP_IDS).prop_map(Some)])
        .prop_map(|(s, p, q, id)| {
            Action::Submit(order(s, OrderType::Limit, Some(p + 100 * (p > 0) as i64), q, id, 0, TimeInForce::Gtc))
        });
    prop_oneof![8 => limit, 2 => market, 4 => cancel, 3 => modify, 1 => malformed]
}
