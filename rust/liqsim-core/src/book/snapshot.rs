//! The book's serialized form: what it holds, not how it holds it.
//!
//! A snapshot lists each side's levels best first, each level's orders in queue order, and the ids
//! the book has used and no longer has open (as runs of consecutive ids). Slab indices, free lists
//! and the id index's layout are not written: they depend on the order in which orders came and
//! went, not on what the book will do next, so two books that will behave alike give the same bytes.
//! Loading rests the orders again in the same queue order through the same code a new order
//! takes, then checks the invariants, so a damaged snapshot is an error and never a broken book.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{OrderBook, SelfTradePrevention, ID_CLOSED, MAX_ORDER_ID, MAX_ORDER_QTY};
use crate::types::{OrderId, Price, Qty, Side, TraderId};

/// One price level: its price and its orders (id, owner, lots) in queue order.
type LevelState = (Price, Vec<(OrderId, TraderId, Qty)>);

#[derive(Serialize, Deserialize)]
struct BookState {
    stp: SelfTradePrevention,
    /// The id the book assigns next (one above the highest seen, see `fresh_id`).
    next_id: i64,
    /// Bid levels, best (highest) first.
    bids: Vec<LevelState>,
    /// Ask levels, best (lowest) first.
    asks: Vec<LevelState>,
    /// Ids used before and no longer open, as (first id, count) runs in ascending order: a cancel
    /// of such an id says `not_open`, and a new order may not reuse it implicitly.
    closed: Vec<(i64, u64)>,
}

impl OrderBook {
    fn to_state(&self) -> BookState {
        let side = |side: Side| -> Vec<LevelState> {
            self.levels(side)
                .map(|level| {
                    let mut queue = Vec::with_capacity(level.count as usize);
                    let mut cur = level.head;
                    while cur != super::NIL {
                        let s = &self.slots[cur as usize];
                        queue.push((s.id, s.owner, s.qty));
                        cur = s.next;
                    }
                    (level.price, queue)
                })
                .collect()
        };
        // Dense ids come out ascending, then the sparse ones (all above the dense range), which
        // live in a HashMap (random order) and are sorted.
        let mut closed: Vec<(i64, u64)> = Vec::new();
        let mut add = |id: i64| match closed.last_mut() {
            Some((first, count)) if *first + *count as i64 == id => *count += 1,
            _ => closed.push((id, 1)),
        };
        self.ids.dense.iter().enumerate().filter(|(_, &v)| v == ID_CLOSED).for_each(|(i, _)| add(i as i64));
        let mut sparse: Vec<i64> = self.ids.sparse.iter().filter(|(_, &v)| v == ID_CLOSED).map(|(&k, _)| k).collect();
        sparse.sort_unstable();
        sparse.into_iter().for_each(add);
        BookState { stp: self.stp, next_id: self.next_id, bids: side(Side::Buy), asks: side(Side::Sell), closed }
    }

    fn from_state(state: BookState) -> Result<OrderBook, String> {
        if !(0..=MAX_ORDER_ID + 1).contains(&state.next_id) {
            return Err(format!("next order id {} is out of range", state.next_id));
        }
        let mut book = OrderBook::new(state.stp);
        book.next_id = state.next_id;
        book.reserve(state.bids.iter().chain(&state.asks).map(|(_, q)| q.len()).sum());
        for (side, levels) in [(Side::Buy, &state.bids), (Side::Sell, &state.asks)] {
            let mut previous: Option<Price> = None;
            for (price, queue) in levels {
                let better = |a: Price, b: Price| if side == Side::Buy { a > b } else { a < b };
                if *price <= 0 || previous.is_some_and(|p| !better(p, *price)) || queue.is_empty() {
                    return Err(format!("{side:?} level at {price} ticks is out of order, empty or not positive"));
                }
                previous = Some(*price);
                for &(id, owner, qty) in queue {
                    if !(0..=MAX_ORDER_ID).contains(&id.0) || book.has_seen(id) {
                        return Err(format!("order id {id} is out of range or listed twice"));
                    }
                    if !(1..=MAX_ORDER_QTY).contains(&qty) || !book.rest(id, owner, side, *price, qty) {
                        return Err(format!("order {id}: {qty} lots is out of range"));
                    }
                }
            }
        }
        for &(first, count) in &state.closed {
            let last = u64::try_from(first).ok().and_then(|f| f.checked_add(count)).map(|end| end as i128 - 1);
            if count == 0 || last.is_none_or(|l| l > MAX_ORDER_ID as i128) {
                return Err(format!("closed ids {first} + {count} are out of range"));
            }
            for id in first..first + count as i64 {
                if book.has_seen(OrderId(id)) {
                    return Err(format!("order id {id} is both open and closed"));
                }
                book.ids.set(OrderId(id), ID_CLOSED);
            }
        }
        book.check_invariants()?;
        Ok(book)
    }
}

impl Serialize for OrderBook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_state().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OrderBook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OrderBook, D::Error> {
        OrderBook::from_state(BookState::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}
