//! A slow, obviously-correct reference order book, written from the documented rules of
//! `liqsim_core::book` and not from its code.
//!
//! State is a plain `Vec` of resting orders in no particular order. Every step of matching scans the
//! whole vector for the best opposite order (best price, then lowest arrival sequence number).
//! Fill-or-kill is decided by running the very same matching on a throw-away copy of the book, so it
//! counts exactly what self-trade prevention lets the taker take. Nothing here is fast on purpose.
//!
//! It produces the same `Event` and `Outcome` values as the real book so the two can be compared
//! action by action.

#![allow(dead_code)]

use std::collections::HashSet;

use liqsim_core::book::{
    CancelReason, Event, NewOrder, OrderType, OrderView, Outcome, RejectReason, SelfTradePrevention, Status,
    TimeInForce, Trade, MAX_ORDER_ID, MAX_ORDER_QTY,
};
use liqsim_core::{OrderId, Price, Qty, Side, TraderId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefOrder {
    pub id: i64,
    pub owner: i64,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    /// Arrival sequence number: smaller = earlier in the queue of its price.
    pub seq: u64,
}

#[derive(Clone, Debug)]
pub struct RefBook {
    pub stp: SelfTradePrevention,
    /// Resting orders, unordered.
    pub resting: Vec<RefOrder>,
    /// Every id the book has used: accepted, or refused *after* being assigned (post-only, FOK).
    /// Validation failures (bad qty/price/tif, negative or duplicate id) do not count.
    pub seen: HashSet<i64>,
    next_seq: u64,
}

/// Result of one matching pass.
struct Match {
    remaining: Qty,
    notional: i128,
    taker_cancelled: bool,
}

fn rejected(order_id: Option<OrderId>, reason: RejectReason, events: &mut Vec<Event>) -> Outcome {
    events.push(Event::Rejected { order_id, reason });
    Outcome { order_id, status: Status::Rejected, reject: Some(reason), filled: 0, notional: 0 }
}

/// Can a taker on `taker_side` with limit `limit` trade against a resting order priced `maker_price`?
fn price_acceptable(taker_side: Side, limit: Option<Price>, maker_price: Price) -> bool {
    match (taker_side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => maker_price <= l,
        (Side::Sell, Some(l)) => maker_price >= l,
    }
}

/// Sort key: smaller = better priority within one side.
fn priority(o: &RefOrder) -> (i64, u64) {
    let price_key = match o.side {
        Side::Buy => -o.price,
        Side::Sell => o.price,
    };
    (price_key, o.seq)
}

impl RefBook {
    pub fn new(stp: SelfTradePrevention) -> RefBook {
        RefBook { stp, resting: Vec::new(), seen: HashSet::new(), next_seq: 0 }
    }

    fn live(&self, id: i64) -> Option<usize> {
        self.resting.iter().position(|o| o.id == id)
    }

    /// Resting orders of one side, best first, then by time.
    pub fn orders(&self, side: Side) -> Vec<RefOrder> {
        let mut v: Vec<RefOrder> = self.resting.iter().filter(|o| o.side == side).cloned().collect();
        v.sort_by_key(priority);
        v
    }

    pub fn views(&self, side: Side) -> Vec<OrderView> {
        self.orders(side)
            .into_iter()
            .map(|o| OrderView {
                id: OrderId(o.id),
                owner: TraderId(o.owner),
                side: o.side,
                price: o.price,
                qty: o.qty,
            })
            .collect()
    }

    pub fn order(&self, id: i64) -> Option<OrderView> {
        self.live(id).map(|i| {
            let o = &self.resting[i];
            OrderView { id: OrderId(o.id), owner: TraderId(o.owner), side: o.side, price: o.price, qty: o.qty }
        })
    }

    /// (price, total qty, order count) per level, best first.
    pub fn levels(&self, side: Side) -> Vec<(Price, Qty, u32)> {
        let mut out: Vec<(Price, Qty, u32)> = Vec::new();
        for o in self.orders(side) {
            match out.last_mut() {
                Some(last) if last.0 == o.price => {
                    last.1 += o.qty;
                    last.2 += 1;
                }
                _ => out.push((o.price, o.qty, 1)),
            }
        }
        out
    }

    pub fn best(&self, side: Side) -> Option<(Price, Qty)> {
        self.levels(side).first().map(|&(p, q, _)| (p, q))
    }

    pub fn open_orders(&self) -> usize {
        self.resting.len()
    }

    /// Index of the best resting order on `side`.
    fn best_index(&self, side: Side) -> Option<usize> {
        (0..self.resting.len()).filter(|&i| self.resting[i].side == side).min_by_key(|&i| priority(&self.resting[i]))
    }

    fn next_free_id(&self) -> i64 {
        // One above the highest id ever seen; skip anything live (cannot happen, but it is the rule).
        let mut id = self.seen.iter().copied().max().map_or(0, |h| h.checked_add(1).expect("id space exhausted"));
        while self.live(id).is_some() {
            id += 1;
        }
        id
    }

    /// Trade a taker against the opposite side until filled, out of acceptable prices, or stopped
    /// by self-trade prevention. Appends trade and self-trade cancel events.
    fn match_taker(
        &mut self,
        id: i64,
        owner: i64,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        events: &mut Vec<Event>,
    ) -> Match {
        let mut m = Match { remaining: qty, notional: 0, taker_cancelled: false };
        while m.remaining > 0 {
            let Some(i) = self.best_index(side.opposite()) else { break };
            let maker = self.resting[i].clone();
            if !price_acceptable(side, limit, maker.price) {
                break;
            }
            if self.stp != SelfTradePrevention::None && maker.owner == owner {
                let (cancel_maker, cancel_taker) = match self.stp {
                    SelfTradePrevention::CancelTaker => (false, true),
                    SelfTradePrevention::CancelMaker => (true, false),
                    SelfTradePrevention::CancelBoth => (true, true),
                    SelfTradePrevention::None => unreachable!(),
                };
                if cancel_maker {
                    self.resting.remove(i);
                    events.push(Event::Cancelled {
                        order_id: OrderId(maker.id),
                        owner: TraderId(maker.owner),
                        side: maker.side,
                        qty: maker.qty,
                        reason: CancelReason::SelfTrade,
                    });
                }
                if cancel_taker {
                    m.taker_cancelled = true;
                    break;
                }
                continue;
            }
            let fill = m.remaining.min(maker.qty);
            m.remaining -= fill;
            m.notional += maker.price as i128 * fill as i128;
            events.push(Event::Trade(Trade {
                price: maker.price,
                qty: fill,
                maker_order_id: OrderId(maker.id),
                taker_order_id: OrderId(id),
                maker_owner: TraderId(maker.owner),
                taker_owner: TraderId(owner),
                aggressor: side,
                maker_remaining: maker.qty - fill,
            }));
            if fill == maker.qty {
                self.resting.remove(i);
            } else {
                self.resting[i].qty -= fill;
            }
        }
        m
    }

    /// Match, then rest / expire / cancel what is left, and summarise.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        id: i64,
        owner: i64,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        rests: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let m = self.match_taker(id, owner, side, limit, qty, events);
        let filled = qty - m.remaining;
        let status = if m.taker_cancelled {
            events.push(Event::Cancelled {
                order_id: OrderId(id),
                owner: TraderId(owner),
                side,
                qty: m.remaining,
                reason: CancelReason::SelfTrade,
            });
            Status::Cancelled
        } else if m.remaining == 0 {
            Status::Filled
        } else if rests {
            let seq = self.next_seq;
            self.next_seq += 1;
            let price = limit.expect("resting orders have a price");
            self.resting.push(RefOrder { id, owner, side, price, qty: m.remaining, seq });
            if filled > 0 {
                Status::PartiallyFilled
            } else {
                Status::Open
            }
        } else {
            events.push(Event::Expired { order_id: OrderId(id), owner: TraderId(owner), side, qty: m.remaining });
            Status::Expired
        };
        Outcome { order_id: Some(OrderId(id)), status, reject: None, filled, notional: m.notional }
    }

    pub fn submit(&mut self, order: &NewOrder, events: &mut Vec<Event>) -> Outcome {
        // Validation, in the documented order; nothing is remembered for these.
        if order.qty <= 0 {
            return rejected(order.id, RejectReason::NonPositiveQty, events);
        }
        if order.qty > MAX_ORDER_QTY {
            return rejected(order.id, RejectReason::QtyTooLarge, events);
        }
        match order.order_type {
            OrderType::Limit => {
                if !matches!(order.price, Some(p) if p > 0) {
                    return rejected(order.id, RejectReason::InvalidPrice, events);
                }
            }
            OrderType::Market => {
                if matches!(order.price, Some(p) if p <= 0) {
                    return rejected(order.id, RejectReason::InvalidPrice, events);
                }
                if order.tif == TimeInForce::PostOnly {
                    return rejected(order.id, RejectReason::InvalidTimeInForce, events);
                }
            }
        }
        if let Some(OrderId(raw)) = order.id {
            if !(0..=MAX_ORDER_ID).contains(&raw) {
                return rejected(order.id, RejectReason::InvalidOrderId, events);
            }
            if self.live(raw).is_some() {
                return rejected(order.id, RejectReason::DuplicateOrderId, events);
            }
        }
        let id = order.id.map_or_else(|| self.next_free_id(), |i| i.0);
        let owner = order.owner.0;

        if order.tif == TimeInForce::PostOnly {
            let would_trade = self
                .resting
                .iter()
                .any(|o| o.side == order.side.opposite() && price_acceptable(order.side, order.price, o.price));
            if would_trade {
                self.seen.insert(id);
                return rejected(Some(OrderId(id)), RejectReason::PostOnlyWouldCross, events);
            }
        }
        if order.tif == TimeInForce::Fok {
            // Dry run on a copy: does the real matching (with STP) fill it all?
            let mut scratch = self.clone();
            let mut scratch_events = Vec::new();
            let m = scratch.match_taker(id, owner, order.side, order.price, order.qty, &mut scratch_events);
            if m.remaining > 0 {
                self.seen.insert(id);
                return rejected(Some(OrderId(id)), RejectReason::FokCannotFill, events);
            }
        }
        self.seen.insert(id);
        events.push(Event::Accepted {
            order_id: OrderId(id),
            owner: order.owner,
            side: order.side,
            price: order.price,
            qty: order.qty,
        });
        let rests =
            order.order_type == OrderType::Limit && matches!(order.tif, TimeInForce::Gtc | TimeInForce::PostOnly);
        self.execute(id, owner, order.side, order.price, order.qty, rests, events)
    }

    fn not_live_reason(&self, id: i64) -> RejectReason {
        if self.seen.contains(&id) {
            RejectReason::NotOpen
        } else {
            RejectReason::UnknownOrder
        }
    }

    pub fn cancel(&mut self, id: i64, events: &mut Vec<Event>) -> Outcome {
        let Some(i) = self.live(id) else {
            return rejected(Some(OrderId(id)), self.not_live_reason(id), events);
        };
        let o = self.resting.remove(i);
        events.push(Event::Cancelled {
            order_id: OrderId(id),
            owner: TraderId(o.owner),
            side: o.side,
            qty: o.qty,
            reason: CancelReason::User,
        });
        Outcome { order_id: Some(OrderId(id)), status: Status::Cancelled, reject: None, filled: 0, notional: 0 }
    }

    pub fn modify(&mut self, id: i64, qty: Qty, price: Option<Price>, events: &mut Vec<Event>) -> Outcome {
        let Some(i) = self.live(id) else {
            return rejected(Some(OrderId(id)), self.not_live_reason(id), events);
        };
        if qty <= 0 {
            return rejected(Some(OrderId(id)), RejectReason::NonPositiveQty, events);
        }
        if qty > MAX_ORDER_QTY {
            return rejected(Some(OrderId(id)), RejectReason::QtyTooLarge, events);
        }
        if matches!(price, Some(p) if p <= 0) {
            return rejected(Some(OrderId(id)), RejectReason::InvalidPrice, events);
        }
        let old = self.resting[i].clone();
        let new_price = price.unwrap_or(old.price);
        let modified = |kept_priority| Event::Modified {
            order_id: OrderId(id),
            owner: TraderId(old.owner),
            side: old.side,
            price: new_price,
            qty,
            kept_priority,
        };
        if new_price == old.price && qty <= old.qty {
            self.resting[i].qty = qty;
            events.push(modified(true));
            return Outcome { order_id: Some(OrderId(id)), status: Status::Open, reject: None, filled: 0, notional: 0 };
        }
        // Leave the queue, re-enter at the back as a GTC limit order that may trade.
        self.resting.remove(i);
        events.push(modified(false));
        self.execute(id, old.owner, old.side, Some(new_price), qty, true, events)
    }
}
