//! Price-time priority limit order book for one instrument.
//!
//! Data structures, chosen for the message mix of real markets (mostly adds and cancels near the
//! touch, a few sweeps):
//! - every resting order lives in a slab (`Vec<Slot>` plus a free list) and is linked into its price
//!   level's FIFO queue by slab index, so cancel and modify are O(1) once the order is found;
//! - an id index maps an order id to its slab slot; ids below 2^24 use a flat array (no hashing),
//!   larger ids a hash map. The index also remembers which ids were used before, so a cancel can
//!   tell "never existed" from "already filled or cancelled";
//! - price levels live in a slab of their own (`Vec<Level>`, stable indices); each order knows its
//!   level's index, so a cancel or modify never searches for its level. Each side orders its
//!   levels in a `BTreeMap` from a key to the level index, keyed so that the best level is the
//!   *last* key (bids by price, asks by −price): insertion and removal are O(log n) at any depth
//!   (a snapshot loaded best price first or worst price first costs the same), and the best level
//!   is the map's right edge, which a sweep pops.
//!
//! Every action appends [`Event`]s to a caller-owned `Vec` (no allocation per message once warm) and
//! returns an [`Outcome`] summarising what happened to the order.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::types::{OrderId, Price, Qty, Side, TraderId};

/// How long an order may live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeInForce {
    /// Good till cancelled: the unfilled rest rests in the book.
    Gtc = 0,
    /// Immediate or cancel: what does not fill at once expires.
    Ioc = 1,
    /// Fill or kill: fills completely at once or is rejected without touching the book.
    Fok = 2,
    /// Post-only (maker only): rejected if any part would trade on arrival, else rests like GTC.
    PostOnly = 3,
}

impl TimeInForce {
    pub const NAMES: [&'static str; 4] = ["gtc", "ioc", "fok", "post_only"];

    pub fn from_code(code: u8) -> Option<TimeInForce> {
        [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok, TimeInForce::PostOnly].get(code as usize).copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderType {
    /// Trades at its price or better; may rest (GTC, post-only).
    Limit = 0,
    /// Trades at any price, or within an optional protection price; never rests.
    Market = 1,
}

/// What the book does when an incoming order would trade with a resting order of the same owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[repr(u8)]
pub enum SelfTradePrevention {
    /// Let them trade.
    #[default]
    None = 0,
    /// Cancel the rest of the incoming order; the resting one stays.
    CancelTaker = 1,
    /// Cancel the resting order and keep matching.
    CancelMaker = 2,
    /// Cancel both.
    CancelBoth = 3,
}

impl SelfTradePrevention {
    pub const NAMES: [&'static str; 4] = ["none", "cancel_taker", "cancel_maker", "cancel_both"];

    pub fn from_name(name: &str) -> Option<SelfTradePrevention> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some([Self::None, Self::CancelTaker, Self::CancelMaker, Self::CancelBoth][i])
    }
}

/// Why the book refused an action. The action left the book unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    /// Cancel/modify of an id the book has never seen.
    UnknownOrder = 1,
    /// Cancel/modify of an order that was filled, cancelled or expired.
    NotOpen = 2,
    PostOnlyWouldCross = 3,
    FokCannotFill = 4,
    NonPositiveQty = 5,
    /// The price is not a multiple of the tick size (raised by the float edge, see `batch`).
    OffTickPrice = 6,
    /// The quantity is not a multiple of the lot size (raised by the float edge, see `batch`).
    OffLotQty = 7,
    /// A limit order without a positive price, or a non-positive protection price.
    InvalidPrice = 8,
    /// A new order reusing the id of an order that is still open.
    DuplicateOrderId = 9,
    /// A negative order id.
    InvalidOrderId = 10,
    /// Post-only on a market order.
    InvalidTimeInForce = 11,
    /// More than [`MAX_ORDER_QTY`] lots, or more than a price level can hold.
    QtyTooLarge = 12,
}

/// Largest order id: keeps "one above the highest id seen" from overflowing.
pub const MAX_ORDER_ID: i64 = 1 << 62;
/// Largest order quantity in lots (10^12: a billion BTC at 0.001 lots). A bound, not a venue rule:
/// it keeps level totals and sums far from `i64` overflow.
pub const MAX_ORDER_QTY: Qty = 1_000_000_000_000;

impl RejectReason {
    /// Names by code; code 0 means "not rejected".
    pub const NAMES: [&'static str; 13] = [
        "",
        "unknown_order",
        "not_open",
        "post_only_would_cross",
        "fok_cannot_fill",
        "non_positive_qty",
        "off_tick_price",
        "off_lot_qty",
        "invalid_price",
        "duplicate_order_id",
        "invalid_order_id",
        "invalid_time_in_force",
        "qty_too_large",
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Why an open order left the book without trading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    /// A cancel action from its owner.
    User = 0,
    /// Self-trade prevention.
    SelfTrade = 1,
}

/// Where an order stands after the action that touched it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    Rejected = 0,
    /// Resting, nothing filled by this action.
    Open = 1,
    /// Some filled by this action, the rest resting.
    PartiallyFilled = 2,
    Filled = 3,
    /// IOC / FOK / market remainder dropped (`filled` says how much traded first).
    Expired = 4,
    /// Cancelled by its owner, or the incoming order by self-trade prevention.
    Cancelled = 5,
}

impl Status {
    pub const NAMES: [&'static str; 6] = ["rejected", "open", "partially_filled", "filled", "expired", "cancelled"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A new order. Build with [`NewOrder::limit`] or [`NewOrder::market`] and the `with_*` setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// `None`: the book assigns the next free id (one above the highest id seen).
    pub id: Option<OrderId>,
    pub owner: TraderId,
    pub side: Side,
    pub order_type: OrderType,
    /// Limit price; for a market order an optional protection price it will not trade beyond.
    pub price: Option<Price>,
    pub qty: Qty,
    /// Market orders never rest: GTC on a market order acts as IOC.
    pub tif: TimeInForce,
}

impl NewOrder {
    pub fn limit(side: Side, price: Price, qty: Qty) -> NewOrder {
        NewOrder {
            id: None,
            owner: TraderId(0),
            side,
            order_type: OrderType::Limit,
            price: Some(price),
            qty,
            tif: TimeInForce::Gtc,
        }
    }

    pub fn market(side: Side, qty: Qty) -> NewOrder {
        NewOrder {
            id: None,
            owner: TraderId(0),
            side,
            order_type: OrderType::Market,
            price: None,
            qty,
            tif: TimeInForce::Ioc,
        }
    }

    pub fn with_id(mut self, id: i64) -> NewOrder {
        self.id = Some(OrderId(id));
        self
    }

    pub fn with_owner(mut self, owner: i64) -> NewOrder {
        self.owner = TraderId(owner);
        self
    }

    pub fn with_tif(mut self, tif: TimeInForce) -> NewOrder {
        self.tif = tif;
        self
    }

    /// For a market order: do not trade at a price worse than `price`.
    pub fn with_protection(mut self, price: Price) -> NewOrder {
        self.price = Some(price);
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    pub price: Price,
    pub qty: Qty,
    pub maker_order_id: OrderId,
    pub taker_order_id: OrderId,
    pub maker_owner: TraderId,
    pub taker_owner: TraderId,
    /// The taker's side.
    pub aggressor: Side,
    /// What is left of the maker order after this trade (0: it is filled and gone).
    pub maker_remaining: Qty,
}

/// Everything the book does is reported as events, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new order passed validation and is about to match (it may still trade, rest or expire).
    Accepted {
        order_id: OrderId,
        owner: TraderId,
        side: Side,
        price: Option<Price>,
        qty: Qty,
    },
    /// The action was refused; the book did not change. `order_id` is `None` when a new order with
    /// no id of its own was refused before one was assigned.
    Rejected {
        order_id: Option<OrderId>,
        reason: RejectReason,
    },
    Trade(Trade),
    /// An order left the book without trading its `qty`.
    Cancelled {
        order_id: OrderId,
        owner: TraderId,
        side: Side,
        qty: Qty,
        reason: CancelReason,
    },
    /// The unfilled `qty` of an IOC or market order.
    Expired {
        order_id: OrderId,
        owner: TraderId,
        side: Side,
        qty: Qty,
    },
    /// A modify took effect. With `kept_priority` the order shrank in place; without, it left its
    /// queue and re-entered at (`price`, `qty`) like a new GTC order (trades, if any, follow).
    Modified {
        order_id: OrderId,
        owner: TraderId,
        side: Side,
        price: Price,
        qty: Qty,
        kept_priority: bool,
    },
}

/// Summary of one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub order_id: Option<OrderId>,
    pub status: Status,
    pub reject: Option<RejectReason>,
    /// Quantity traded by this action (as taker).
    pub filled: Qty,
    /// Σ price × qty of those trades, in ticks × lots (exact; average price = notional / filled).
    pub notional: i128,
}

impl Outcome {
    fn rejected(order_id: Option<OrderId>, reason: RejectReason) -> Outcome {
        Outcome { order_id, status: Status::Rejected, reject: Some(reason), filled: 0, notional: 0 }
    }
}

/// A resting order as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub id: OrderId,
    pub owner: TraderId,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
}

/// One price level: its total quantity and its FIFO queue (slab indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
    pub count: u32,
    head: u32,
    tail: u32,
}

/// The result of walking the book as a taker would (no state change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sweep {
    /// Quantity available up to the target (equal to the target when the book is deep enough).
    pub filled: Qty,
    /// Σ price × qty in ticks × lots.
    pub notional: i128,
    /// Price of the last level touched.
    pub worst_price: Option<Price>,
}

/// Resting quantity and notional on each side within a band around the mid price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DepthWithin {
    pub bid_qty: i128,
    pub bid_notional: i128,
    pub ask_qty: i128,
    pub ask_notional: i128,
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: OrderId,
    owner: TraderId,
    price: Price,
    qty: Qty,
    prev: u32,
    next: u32,
    /// Index of the order's level in the level slab.
    level: u32,
    side: Side,
}

/// One side's levels: key (see [`ladder_key`]) → index in the level slab; best level last.
type Ladder = BTreeMap<i64, u32>;

/// The key of a price on a side: ascending keys mean better prices on both sides, so the best
/// level is the last entry (prices are > 0, so −price never overflows).
#[inline]
fn ladder_key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => price,
        Side::Sell => -price,
    }
}

/// Order id → slab slot, remembering ids that were used and are gone.
#[derive(Clone, Debug, Default)]
struct IdIndex {
    dense: Vec<u32>,
    sparse: HashMap<i64, u32>,
}

/// Index values that are not slots.
const ID_NEVER_SEEN: u32 = u32::MAX;
const ID_CLOSED: u32 = u32::MAX - 1;
/// Ids below this use the flat array: 4 bytes per id up to the highest id, 64 MiB at most.
const DENSE_ID_LIMIT: i64 = 1 << 24;

impl IdIndex {
    #[inline]
    fn get(&self, id: OrderId) -> u32 {
        if (0..DENSE_ID_LIMIT).contains(&id.0) {
            self.dense.get(id.0 as usize).copied().unwrap_or(ID_NEVER_SEEN)
        } else {
            self.sparse.get(&id.0).copied().unwrap_or(ID_NEVER_SEEN)
        }
    }

    #[inline]
    fn set(&mut self, id: OrderId, value: u32) {
        if (0..DENSE_ID_LIMIT).contains(&id.0) {
            let i = id.0 as usize;
            if i >= self.dense.len() {
                let new_len = (i + 1).max(self.dense.len() * 2).min(DENSE_ID_LIMIT as usize);
                self.dense.resize(new_len, ID_NEVER_SEEN);
            }
            self.dense[i] = value;
        } else {
            self.sparse.insert(id.0, value);
        }
    }
}

/// The limit order book. See the module documentation for the data structures.
#[derive(Clone, Debug)]
pub struct OrderBook {
    /// Bid levels by price: best bid last.
    bids: Ladder,
    /// Ask levels by −price: best ask last.
    asks: Ladder,
    /// Slab index of the best level of each side (bids, asks), `NIL` when empty: the touch is
    /// read on every order, so it is kept here rather than found in the map each time.
    best: [u32; 2],
    /// Level slab (both sides) and its free list.
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    ids: IdIndex,
    stp: SelfTradePrevention,
    next_id: i64,
    open_orders: usize,
}

/// Does a taker on `side` with limit `limit` trade against a level at `level_price`?
#[inline]
fn crosses(side: Side, limit: Price, level_price: Price) -> bool {
    match side {
        Side::Buy => level_price <= limit,
        Side::Sell => level_price >= limit,
    }
}

impl Default for OrderBook {
    fn default() -> OrderBook {
        OrderBook {
            bids: Ladder::new(),
            asks: Ladder::new(),
            best: [NIL, NIL],
            levels: Vec::new(),
            free_levels: Vec::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            ids: IdIndex::default(),
            stp: SelfTradePrevention::None,
            next_id: 0,
            open_orders: 0,
        }
    }
}

impl OrderBook {
    pub fn new(stp: SelfTradePrevention) -> OrderBook {
        OrderBook { stp, ..OrderBook::default() }
    }

    pub fn self_trade_prevention(&self) -> SelfTradePrevention {
        self.stp
    }

    /// Make room for `orders` more resting orders, each possibly at a new price, so that a bulk
    /// load (a snapshot) does not grow the slabs step by step.
    pub fn reserve(&mut self, orders: usize) {
        self.slots.reserve(orders.saturating_sub(self.free_slots.len()));
        self.levels.reserve(orders.saturating_sub(self.free_levels.len()));
    }

    /// Number of resting orders.
    pub fn open_orders(&self) -> usize {
        self.open_orders
    }

    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.best_level(Side::Buy).map(|l| (l.price, l.qty))
    }

    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.best_level(Side::Sell).map(|l| (l.price, l.qty))
    }

    /// The levels of one side, best first.
    pub fn levels(&self, side: Side) -> impl Iterator<Item = &Level> + '_ {
        self.ladder(side).values().rev().map(move |&li| &self.levels[li as usize])
    }

    /// Number of price levels on one side.
    pub fn level_count(&self, side: Side) -> usize {
        self.ladder(side).len()
    }

    #[inline]
    fn best_level(&self, side: Side) -> Option<&Level> {
        let li = self.best[side as usize];
        (li != NIL).then(|| &self.levels[li as usize])
    }

    /// Whether the book has ever used this id (open now, or filled, cancelled, expired or refused
    /// after it was assigned).
    pub fn has_seen(&self, id: OrderId) -> bool {
        self.ids.get(id) != ID_NEVER_SEEN
    }

    /// A resting order by id.
    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        let slot = self.ids.get(id);
        (slot < ID_CLOSED).then(|| self.view(slot))
    }

    /// The resting orders of one side in priority order (best price first, then time).
    pub fn orders(&self, side: Side) -> impl Iterator<Item = OrderView> + '_ {
        self.levels(side).flat_map(move |level| {
            let mut cur = level.head;
            std::iter::from_fn(move || {
                (cur != NIL).then(|| {
                    let v = self.view(cur);
                    cur = self.slots[cur as usize].next;
                    v
                })
            })
        })
    }

    fn view(&self, slot: u32) -> OrderView {
        let s = &self.slots[slot as usize];
        OrderView { id: s.id, owner: s.owner, side: s.side, price: s.price, qty: s.qty }
    }

    #[inline]
    fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Submit a new order. Trades, rests, expires or is rejected; see [`Status`].
    pub fn submit(&mut self, order: NewOrder, events: &mut Vec<Event>) -> Outcome {
        if let Err(reason) = self.validate(&order) {
            events.push(Event::Rejected { order_id: order.id, reason });
            return Outcome::rejected(order.id, reason);
        }
        let id = match order.id.or_else(|| self.fresh_id()) {
            Some(id) => id,
            None => {
                let reason = RejectReason::InvalidOrderId;
                events.push(Event::Rejected { order_id: None, reason });
                return Outcome::rejected(None, reason);
            }
        };
        let limit = order.price;
        if order.tif == TimeInForce::PostOnly {
            let would_cross = self.best_level(order.side.opposite()).is_some_and(|best| {
                crosses(order.side, limit.expect("validated: limit orders have a price"), best.price)
            });
            if would_cross {
                return self.reject_new(id, RejectReason::PostOnlyWouldCross, events);
            }
        }
        if order.tif == TimeInForce::Fok && !self.can_fill(order.side, limit, order.qty, order.owner) {
            return self.reject_new(id, RejectReason::FokCannotFill, events);
        }
        self.remember_id(id);
        events.push(Event::Accepted {
            order_id: id,
            owner: order.owner,
            side: order.side,
            price: limit,
            qty: order.qty,
        });
        let rests =
            order.order_type == OrderType::Limit && matches!(order.tif, TimeInForce::Gtc | TimeInForce::PostOnly);
        self.execute(id, order.owner, order.side, limit, order.qty, rests, events)
    }

    /// Cancel a resting order.
    pub fn cancel(&mut self, id: OrderId, events: &mut Vec<Event>) -> Outcome {
        let slot = match self.lookup_open(id) {
            Ok(slot) => slot,
            Err(reason) => {
                events.push(Event::Rejected { order_id: Some(id), reason });
                return Outcome::rejected(Some(id), reason);
            }
        };
        let s = self.slots[slot as usize];
        self.remove_resting(slot);
        self.ids.set(id, ID_CLOSED);
        events.push(Event::Cancelled {
            order_id: id,
            owner: s.owner,
            side: s.side,
            qty: s.qty,
            reason: CancelReason::User,
        });
        Outcome { order_id: Some(id), status: Status::Cancelled, reject: None, filled: 0, notional: 0 }
    }

    /// Change a resting order's quantity (new open quantity) and/or price.
    ///
    /// Lowering the quantity at the same price keeps queue priority; any other change moves the
    /// order to the back of the queue at its (new) price, as a GTC order that may trade at once if
    /// it now crosses. A post-only order modified into a cross trades (the flag is not kept).
    pub fn modify(&mut self, id: OrderId, qty: Qty, price: Option<Price>, events: &mut Vec<Event>) -> Outcome {
        let slot = match self.lookup_open(id) {
            Ok(slot) => slot,
            Err(reason) => {
                events.push(Event::Rejected { order_id: Some(id), reason });
                return Outcome::rejected(Some(id), reason);
            }
        };
        let reason = if qty <= 0 {
            Some(RejectReason::NonPositiveQty)
        } else if qty > MAX_ORDER_QTY {
            Some(RejectReason::QtyTooLarge)
        } else if price.is_some_and(|p| p <= 0) {
            Some(RejectReason::InvalidPrice)
        } else {
            None
        };
        if let Some(reason) = reason {
            events.push(Event::Rejected { order_id: Some(id), reason });
            return Outcome::rejected(Some(id), reason);
        }
        let s = self.slots[slot as usize];
        let new_price = price.unwrap_or(s.price);
        if new_price == s.price && qty <= s.qty {
            // Shrink in place: the order keeps its place in the queue.
            self.levels[s.level as usize].qty -= s.qty - qty;
            self.slots[slot as usize].qty = qty;
            events.push(Event::Modified {
                order_id: id,
                owner: s.owner,
                side: s.side,
                price: new_price,
                qty,
                kept_priority: true,
            });
            return Outcome { order_id: Some(id), status: Status::Open, reject: None, filled: 0, notional: 0 };
        }
        self.remove_resting(slot);
        events.push(Event::Modified {
            order_id: id,
            owner: s.owner,
            side: s.side,
            price: new_price,
            qty,
            kept_priority: false,
        });
        self.execute(id, s.owner, s.side, Some(new_price), qty, true, events)
    }

    /// Walk the opposite side as a taker on `side` would, up to `qty` (no state change; self-trade
    /// prevention ignored). `side` is the taker's side: a buy sweeps the asks.
    pub fn sweep(&self, side: Side, qty: Qty) -> Sweep {
        let mut out = Sweep::default();
        for level in self.levels(side.opposite()) {
            if out.filled >= qty {
                break;
            }
            let take = level.qty.min(qty - out.filled);
            out.filled += take;
            out.notional += level.price as i128 * take as i128;
            out.worst_price = Some(level.price);
        }
        out
    }

    /// Like [`sweep`](Self::sweep), but up to a notional in ticks × lots (the last level is taken
    /// in whole lots, rounded up so that the target is reached). Used for funding impact prices.
    pub fn sweep_notional(&self, side: Side, notional: i128) -> Sweep {
        let mut out = Sweep::default();
        for level in self.levels(side.opposite()) {
            let missing = notional - out.notional;
            if missing <= 0 {
                break;
            }
            let price = level.price as i128;
            let lots = ((missing + price - 1) / price).min(level.qty as i128) as Qty;
            out.filled += lots;
            out.notional += price * lots as i128;
            out.worst_price = Some(level.price);
        }
        out
    }

    /// Resting quantity and notional within `fraction` of the mid price (0.01 = 1%) on each side,
    /// band edges included. `None` when either side is empty (no mid).
    pub fn depth_within(&self, fraction: f64) -> Option<DepthWithin> {
        let (bid, _) = self.best_bid()?;
        let (ask, _) = self.best_ask()?;
        let mid = (bid as f64 + ask as f64) / 2.0;
        // A hair of slack so that a level exactly on the band edge counts despite float rounding.
        let slack = 1e-9 * mid;
        let low = mid * (1.0 - fraction) - slack;
        let high = mid * (1.0 + fraction) + slack;
        let mut out = DepthWithin::default();
        for level in self.levels(Side::Buy).take_while(|l| l.price as f64 >= low) {
            out.bid_qty += level.qty as i128;
            out.bid_notional += level.price as i128 * level.qty as i128;
        }
        for level in self.levels(Side::Sell).take_while(|l| l.price as f64 <= high) {
            out.ask_qty += level.qty as i128;
            out.ask_notional += level.price as i128 * level.qty as i128;
        }
        Some(out)
    }

    /// Check the structural invariants: never crossed at rest, level totals and counts equal the
    /// sum of their queues, links consistent, id index consistent. For tests and debug runs.
    pub fn check_invariants(&self) -> Result<(), String> {
        if let (Some((b, _)), Some((a, _))) = (self.best_bid(), self.best_ask()) {
            if b >= a {
                return Err(format!("book crossed at rest: best bid {b} >= best ask {a}"));
            }
        }
        let mut total_orders = 0usize;
        let mut used_levels = 0usize;
        for side in [Side::Buy, Side::Sell] {
            let best = self.ladder(side).last_key_value().map_or(NIL, |(_, &li)| li);
            if best != self.best[side as usize] {
                return Err(format!("{side:?} best level cache {} != {best}", self.best[side as usize]));
            }
            for (&key, &li) in self.ladder(side) {
                let level = &self.levels[li as usize];
                used_levels += 1;
                if key != ladder_key(side, level.price) {
                    return Err(format!("{side:?} level {} filed under key {key}", level.price));
                }
                let (mut qty, mut count, mut prev, mut cur) = (0i128, 0u32, NIL, level.head);
                while cur != NIL {
                    let s = &self.slots[cur as usize];
                    if s.prev != prev || s.price != level.price || s.side != side || s.qty <= 0 || s.level != li {
                        return Err(format!("bad order {} in level {}", s.id, level.price));
                    }
                    if self.ids.get(s.id) != cur {
                        return Err(format!("id index does not point at order {}", s.id));
                    }
                    qty += s.qty as i128;
                    count += 1;
                    prev = cur;
                    cur = s.next;
                }
                if prev != level.tail || qty != level.qty as i128 || count != level.count || count == 0 {
                    return Err(format!("level {} totals do not match its queue", level.price));
                }
                total_orders += count as usize;
            }
        }
        if used_levels + self.free_levels.len() != self.levels.len() {
            return Err(format!(
                "{} levels in use + {} free != {} allocated",
                used_levels,
                self.free_levels.len(),
                self.levels.len()
            ));
        }
        if total_orders != self.open_orders {
            return Err(format!("{} orders in levels, {} counted open", total_orders, self.open_orders));
        }
        Ok(())
    }

    // ----- internals -------------------------------------------------------------------------

    fn validate(&self, order: &NewOrder) -> Result<(), RejectReason> {
        if order.qty <= 0 {
            return Err(RejectReason::NonPositiveQty);
        }
        if order.qty > MAX_ORDER_QTY {
            return Err(RejectReason::QtyTooLarge);
        }
        match order.order_type {
            OrderType::Limit if order.price.is_none_or(|p| p <= 0) => return Err(RejectReason::InvalidPrice),
            OrderType::Market if order.price.is_some_and(|p| p <= 0) => return Err(RejectReason::InvalidPrice),
            OrderType::Market if order.tif == TimeInForce::PostOnly => return Err(RejectReason::InvalidTimeInForce),
            _ => {}
        }
        if let Some(id) = order.id {
            if !(0..=MAX_ORDER_ID).contains(&id.0) {
                return Err(RejectReason::InvalidOrderId);
            }
            if self.ids.get(id) < ID_CLOSED {
                return Err(RejectReason::DuplicateOrderId);
            }
        }
        Ok(())
    }

    fn reject_new(&mut self, id: OrderId, reason: RejectReason, events: &mut Vec<Event>) -> Outcome {
        // A refused order still uses up its id, so that "cancel id" later says not_open.
        self.remember_id(id);
        if self.ids.get(id) == ID_NEVER_SEEN {
            self.ids.set(id, ID_CLOSED);
        }
        events.push(Event::Rejected { order_id: Some(id), reason });
        Outcome::rejected(Some(id), reason)
    }

    /// One above the highest id seen, skipping ids in use; `None` once past [`MAX_ORDER_ID`].
    fn fresh_id(&mut self) -> Option<OrderId> {
        while self.next_id <= MAX_ORDER_ID && self.ids.get(OrderId(self.next_id)) < ID_CLOSED {
            self.next_id += 1;
        }
        (self.next_id <= MAX_ORDER_ID).then_some(OrderId(self.next_id))
    }

    fn remember_id(&mut self, id: OrderId) {
        if id.0 >= self.next_id {
            self.next_id = id.0 + 1;
        }
    }

    fn lookup_open(&self, id: OrderId) -> Result<u32, RejectReason> {
        match self.ids.get(id) {
            ID_NEVER_SEEN => Err(RejectReason::UnknownOrder),
            ID_CLOSED => Err(RejectReason::NotOpen),
            slot => Ok(slot),
        }
    }

    /// Could a taker fill `qty` completely right now, given self-trade prevention?
    fn can_fill(&self, side: Side, limit: Option<Price>, qty: Qty, owner: TraderId) -> bool {
        let qty = qty as i128;
        let mut available: i128 = 0;
        for level in self.levels(side.opposite()) {
            if limit.is_some_and(|lim| !crosses(side, lim, level.price)) {
                break;
            }
            if self.stp == SelfTradePrevention::None {
                available += level.qty as i128;
            } else {
                let mut cur = level.head;
                while cur != NIL {
                    let s = &self.slots[cur as usize];
                    if s.owner == owner {
                        if self.stp != SelfTradePrevention::CancelMaker {
                            // The taker would be cancelled here: nothing beyond counts.
                            return available >= qty;
                        }
                    } else {
                        available += s.qty as i128;
                    }
                    if available >= qty {
                        return true;
                    }
                    cur = s.next;
                }
            }
            if available >= qty {
                return true;
            }
        }
        available >= qty
    }

    /// Match an accepted order against the opposite side, then rest, expire or cancel the rest.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        id: OrderId,
        owner: TraderId,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        rests: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let mut remaining = qty;
        let mut notional: i128 = 0;
        let mut taker_cancelled = false;
        let stp = self.stp;
        let OrderBook { bids, asks, best, levels, free_levels, slots, free_slots, ids, open_orders, .. } = self;
        let (ladder, best) = match side {
            Side::Buy => (asks, &mut best[Side::Sell as usize]),
            Side::Sell => (bids, &mut best[Side::Buy as usize]),
        };
        'levels: while remaining > 0 {
            let li = *best;
            if li == NIL {
                break;
            }
            let level = &mut levels[li as usize];
            if limit.is_some_and(|lim| !crosses(side, lim, level.price)) {
                break;
            }
            while remaining > 0 && level.head != NIL {
                let head = level.head;
                let maker = slots[head as usize];
                if stp != SelfTradePrevention::None && maker.owner == owner {
                    if stp != SelfTradePrevention::CancelTaker {
                        unlink_head(level, slots, head);
                        free_slots.push(head);
                        ids.set(maker.id, ID_CLOSED);
                        *open_orders -= 1;
                        events.push(Event::Cancelled {
                            order_id: maker.id,
                            owner: maker.owner,
                            side: maker.side,
                            qty: maker.qty,
                            reason: CancelReason::SelfTrade,
                        });
                    }
                    if stp != SelfTradePrevention::CancelMaker {
                        taker_cancelled = true;
                        if level.count == 0 {
                            ladder.pop_last();
                            free_levels.push(li);
                            *best = ladder.last_key_value().map_or(NIL, |(_, &next)| next);
                        }
                        break 'levels;
                    }
                    continue;
                }
                let fill = remaining.min(maker.qty);
                remaining -= fill;
                notional += level.price as i128 * fill as i128;
                let maker_remaining = maker.qty - fill;
                events.push(Event::Trade(Trade {
                    price: level.price,
                    qty: fill,
                    maker_order_id: maker.id,
                    taker_order_id: id,
                    maker_owner: maker.owner,
                    taker_owner: owner,
                    aggressor: side,
                    maker_remaining,
                }));
                if maker_remaining == 0 {
                    unlink_head(level, slots, head);
                    free_slots.push(head);
                    ids.set(maker.id, ID_CLOSED);
                    *open_orders -= 1;
                } else {
                    slots[head as usize].qty = maker_remaining;
                    level.qty -= fill;
                }
            }
            if level.count == 0 {
                ladder.pop_last();
                free_levels.push(li);
                *best = ladder.last_key_value().map_or(NIL, |(_, &next)| next);
            }
        }
        let filled = qty - remaining;
        let status = if taker_cancelled {
            events.push(Event::Cancelled {
                order_id: id,
                owner,
                side,
                qty: remaining,
                reason: CancelReason::SelfTrade,
            });
            Status::Cancelled
        } else if remaining == 0 {
            Status::Filled
        } else if rests && self.rest(id, owner, side, limit.expect("resting orders are limit orders"), remaining) {
            return Outcome {
                order_id: Some(id),
                status: if filled > 0 { Status::PartiallyFilled } else { Status::Open },
                reject: None,
                filled,
                notional,
            };
        } else {
            events.push(Event::Expired { order_id: id, owner, side, qty: remaining });
            Status::Expired
        };
        self.ids.set(id, ID_CLOSED);
        Outcome { order_id: Some(id), status, reject: None, filled, notional }
    }

    /// Append an order at the back of its price level's queue. Returns false, changing nothing,
    /// when the level's total would overflow (over 9 million maximum-size orders at one price).
    fn rest(&mut self, id: OrderId, owner: TraderId, side: Side, price: Price, qty: Qty) -> bool {
        let OrderBook { bids, asks, best, levels, free_levels, slots, free_slots, .. } = self;
        let ladder = match side {
            Side::Buy => bids,
            Side::Sell => asks,
        };
        let best = &mut best[side as usize];
        let key = ladder_key(side, price);
        let existing = ladder.get(&key).copied();
        if let Some(li) = existing {
            if levels[li as usize].qty.checked_add(qty).is_none() {
                return false;
            }
        }
        let slot = Slot { id, owner, price, qty, prev: NIL, next: NIL, level: NIL, side };
        let index = match free_slots.pop() {
            Some(i) => {
                slots[i as usize] = slot;
                i
            }
            None => {
                slots.push(slot);
                (slots.len() - 1) as u32
            }
        };
        let li = match existing {
            Some(li) => {
                let level = &mut levels[li as usize];
                slots[level.tail as usize].next = index;
                slots[index as usize].prev = level.tail;
                level.tail = index;
                level.qty += qty;
                level.count += 1;
                li
            }
            None => {
                let level = Level { price, qty, count: 1, head: index, tail: index };
                let li = match free_levels.pop() {
                    Some(li) => {
                        levels[li as usize] = level;
                        li
                    }
                    None => {
                        levels.push(level);
                        (levels.len() - 1) as u32
                    }
                };
                ladder.insert(key, li);
                let better = *best == NIL || ladder_key(side, levels[*best as usize].price) < key;
                if better {
                    *best = li;
                }
                li
            }
        };
        slots[index as usize].level = li;
        self.ids.set(id, index);
        self.open_orders += 1;
        true
    }

    /// Take a resting order out of its level and free its slot (the id index is the caller's job).
    fn remove_resting(&mut self, slot: u32) {
        let s = self.slots[slot as usize];
        let level = &mut self.levels[s.level as usize];
        if s.prev == NIL {
            level.head = s.next;
        } else {
            self.slots[s.prev as usize].next = s.next;
        }
        if s.next == NIL {
            level.tail = s.prev;
        } else {
            self.slots[s.next as usize].prev = s.prev;
        }
        level.qty -= s.qty;
        level.count -= 1;
        if level.count == 0 {
            let ladder = match s.side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            ladder.remove(&ladder_key(s.side, s.price));
            self.free_levels.push(s.level);
            if self.best[s.side as usize] == s.level {
                self.best[s.side as usize] = ladder.last_key_value().map_or(NIL, |(_, &next)| next);
            }
        }
        self.free_slots.push(slot);
        self.open_orders -= 1;
    }
}

/// Remove the head order of a level (its whole remaining quantity).
#[inline]
fn unlink_head(level: &mut Level, slots: &mut [Slot], head: u32) {
    let s = slots[head as usize];
    level.head = s.next;
    if s.next == NIL {
        level.tail = NIL;
    } else {
        slots[s.next as usize].prev = NIL;
    }
    level.qty -= s.qty;
    level.count -= 1;
}

mod snapshot;

#[cfg(test)]
mod tests;
