//! Stop orders waiting for their trigger: stop-market, stop-limit, trailing stops and OCO pairs.
//!
//! A buy stop triggers when its price source (last or mark) rises to its trigger or above; a sell
//! stop when it falls to its trigger or below. A trailing stop's trigger follows the best price
//! seen since it was placed (the high for a sell, the low for a buy) at a fixed distance, by amount
//! or by fraction; it never moves back. When one order of an OCO group triggers, the others of the
//! group are cancelled.
//!
//! Finding the stops a price move triggered costs O(log n + k) for k triggered stops: they are
//! kept in ordered sets per (price source, side), so a move visits only the stops it crossed.
//! Trailing stops are re-keyed when their trigger moves, O(t log n) per price update for t
//! trailing stops.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::margin::{Rate, RATE_SCALE};
use crate::types::{Price, Qty, Side};

/// What a stop watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum TriggerOn {
    Last = 0,
    Mark = 1,
}

impl TriggerOn {
    pub const NAMES: [&'static str; 2] = ["last", "mark"];
}

/// How far a trailing stop trails the best price seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trail {
    Ticks(Price),
    /// A fraction of the best price seen (rounded down to whole ticks, at least one tick).
    Fraction(Rate),
}

impl Trail {
    fn distance(self, extreme: Price) -> Price {
        match self {
            Trail::Ticks(t) => t.max(1),
            Trail::Fraction(r) => ((extreme as i128 * r.0 as i128) / RATE_SCALE as i128).max(1) as Price,
        }
    }
}

/// A stop order as it waits. `owner` is the exchange's dense account index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOrder {
    pub id: i64,
    pub owner: u32,
    pub side: Side,
    pub qty: Qty,
    /// `None`: stop-market; `Some`: stop-limit at this price.
    pub limit: Option<Price>,
    pub trigger: Price,
    pub trigger_on: TriggerOn,
    pub trail: Option<Trail>,
    pub reduce_only: bool,
    pub oco: Option<i64>,
    /// Best price seen since placement (trailing stops only).
    pub extreme: Price,
}

/// The stops waiting in one market.
///
/// Serialized as its orders (by id) and its id counter: the ordered sets and maps are rebuilt on
/// load, which also writes the hash maps' contents in a fixed order.
#[derive(Clone, Debug, Default)]
pub struct StopBook {
    orders: BTreeMap<i64, StopOrder>,
    /// (trigger, id) per [trigger_on][side].
    by_trigger: [[BTreeSet<(Price, i64)>; 2]; 2],
    trailing: BTreeSet<i64>,
    oco: HashMap<i64, Vec<i64>>,
    by_owner: HashMap<u32, BTreeSet<i64>>,
    next_id: i64,
}

/// The serialized form of a [`StopBook`] (borrowing, to write it).
#[derive(Serialize)]
struct StopBookRef<'a> {
    next_id: i64,
    orders: Vec<&'a StopOrder>,
}

/// The serialized form of a [`StopBook`] (owning, to read it); same fields as [`StopBookRef`].
#[derive(Deserialize)]
struct StopBookState {
    next_id: i64,
    orders: Vec<StopOrder>,
}

impl Serialize for StopBook {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StopBookRef { next_id: self.next_id, orders: self.orders.values().collect() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StopBook {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<StopBook, D::Error> {
        use serde::de::Error as _;
        let state = StopBookState::deserialize(deserializer)?;
        let mut book = StopBook { next_id: state.next_id, ..Default::default() };
        for order in state.orders {
            // Ids are handed out by `insert` from 1 up, so they are unique, ascending and below
            // the counter.
            let ordered = book.orders.last_key_value().is_none_or(|(&last, _)| last < order.id);
            if order.id < 1 || order.id >= state.next_id || !ordered {
                return Err(D::Error::custom(format!("stop order id {} is out of order", order.id)));
            }
            book.index(order);
        }
        Ok(book)
    }
}

impl StopBook {
    pub fn new() -> StopBook {
        StopBook { next_id: 1, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    pub fn get(&self, id: i64) -> Option<&StopOrder> {
        self.orders.get(&id)
    }

    /// All waiting stops, by id.
    pub fn iter(&self) -> impl Iterator<Item = &StopOrder> + '_ {
        self.orders.values()
    }

    /// Add a stop; returns its id. A trailing stop's `trigger` is derived from `extreme` (the
    /// price source now), so the caller passes the current price there.
    pub fn insert(&mut self, mut order: StopOrder) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        order.id = id;
        if let Some(trail) = order.trail {
            order.trigger = match order.side {
                Side::Sell => order.extreme - trail.distance(order.extreme),
                Side::Buy => order.extreme + trail.distance(order.extreme),
            };
        }
        self.index(order);
        id
    }

    /// File an order with its id and trigger set (by `insert`, or by a snapshot's load, which
    /// must rebuild the same sets: OCO groups list their members in id order either way).
    fn index(&mut self, order: StopOrder) {
        let id = order.id;
        if order.trail.is_some() {
            self.trailing.insert(id);
        }
        self.by_trigger[order.trigger_on as usize][order.side as usize].insert((order.trigger, id));
        if let Some(group) = order.oco {
            self.oco.entry(group).or_default().push(id);
        }
        self.by_owner.entry(order.owner).or_default().insert(id);
        self.orders.insert(id, order);
    }

    /// Remove a waiting stop (a cancel); `None` when it is not waiting.
    pub fn remove(&mut self, id: i64) -> Option<StopOrder> {
        let order = self.orders.remove(&id)?;
        self.by_trigger[order.trigger_on as usize][order.side as usize].remove(&(order.trigger, id));
        self.trailing.remove(&id);
        if let Some(mine) = self.by_owner.get_mut(&order.owner) {
            mine.remove(&id);
            if mine.is_empty() {
                self.by_owner.remove(&order.owner);
            }
        }
        if let Some(group) = order.oco {
            if let Some(members) = self.oco.get_mut(&group) {
                members.retain(|&m| m != id);
                if members.is_empty() {
                    self.oco.remove(&group);
                }
            }
        }
        Some(order)
    }

    /// Ids of an account's waiting stops, in id order (for close-out, which cancels them).
    pub fn of_owner(&self, owner: u32) -> Vec<i64> {
        self.by_owner.get(&owner).map_or_else(Vec::new, |ids| ids.iter().copied().collect())
    }

    /// Move trailing stops' triggers after the prices moved.
    pub fn update_trailing(&mut self, last: Option<Price>, mark: Option<Price>) {
        if self.trailing.is_empty() {
            return;
        }
        let ids: Vec<i64> = self.trailing.iter().copied().collect();
        for id in ids {
            let Some(o) = self.orders.get_mut(&id) else { continue };
            let Some(price) = (match o.trigger_on {
                TriggerOn::Last => last,
                TriggerOn::Mark => mark,
            }) else {
                continue;
            };
            let Some(trail) = o.trail else { continue };
            let (extreme, trigger) = match o.side {
                Side::Sell if price > o.extreme => (price, price - trail.distance(price)),
                Side::Buy if price < o.extreme => (price, price + trail.distance(price)),
                _ => continue,
            };
            let set = &mut self.by_trigger[o.trigger_on as usize][o.side as usize];
            set.remove(&(o.trigger, id));
            o.extreme = extreme;
            o.trigger = trigger;
            set.insert((trigger, id));
        }
    }

    /// Take out every stop the prices trigger, in id (placement) order, and the OCO siblings
    /// they cancel (in id order).
    pub fn take_triggered(&mut self, last: Option<Price>, mark: Option<Price>) -> (Vec<StopOrder>, Vec<StopOrder>) {
        let mut ids: Vec<i64> = Vec::new();
        for (on, price) in [(TriggerOn::Last, last), (TriggerOn::Mark, mark)] {
            let Some(price) = price else { continue };
            let [buys, sells] = &self.by_trigger[on as usize];
            // Buy stops with trigger ≤ price; sell stops with trigger ≥ price.
            ids.extend(buys.range(..=(price, i64::MAX)).map(|&(_, id)| id));
            ids.extend(sells.range((price, i64::MIN)..).map(|&(_, id)| id));
        }
        if ids.is_empty() {
            return (Vec::new(), Vec::new());
        }
        ids.sort_unstable();
        let mut fired = Vec::with_capacity(ids.len());
        let mut cancelled = Vec::new();
        for id in ids {
            let Some(order) = self.remove(id) else { continue }; // an OCO sibling taken already
            if let Some(group) = order.oco {
                for sibling in self.oco.get(&group).cloned().unwrap_or_default() {
                    cancelled.extend(self.remove(sibling));
                }
            }
            fired.push(order);
        }
        cancelled.sort_by_key(|o| o.id);
        (fired, cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stop(side: Side, trigger: Price, on: TriggerOn) -> StopOrder {
        StopOrder {
            id: 0,
            owner: 5,
            side,
            qty: 1,
            limit: None,
            trigger,
            trigger_on: on,
            trail: None,
            reduce_only: false,
            oco: None,
            extreme: 0,
        }
    }

    #[test]
    fn buy_stops_fire_at_or_above_sell_stops_at_or_below() {
        let mut book = StopBook::new();
        let b = book.insert(stop(Side::Buy, 105, TriggerOn::Last));
        let s = book.insert(stop(Side::Sell, 95, TriggerOn::Last));
        assert!(book.take_triggered(Some(104), None).0.is_empty());
        assert!(book.take_triggered(Some(96), None).0.is_empty());
        let (fired, _) = book.take_triggered(Some(105), None);
        assert_eq!(fired.iter().map(|o| o.id).collect::<Vec<_>>(), vec![b]);
        let (fired, _) = book.take_triggered(Some(90), None);
        assert_eq!(fired.iter().map(|o| o.id).collect::<Vec<_>>(), vec![s]);
        assert!(book.is_empty());
    }

    #[test]
    fn last_and_mark_stops_watch_their_own_price() {
        let mut book = StopBook::new();
        let on_mark = book.insert(stop(Side::Buy, 105, TriggerOn::Mark));
        // The last trade prints 110 while the mark is 100: only a last-price stop would fire.
        assert!(book.take_triggered(Some(110), Some(100)).0.is_empty());
        let (fired, _) = book.take_triggered(Some(100), Some(106));
        assert_eq!(fired[0].id, on_mark);
    }

    #[test]
    fn a_trailing_sell_follows_the_high_and_never_moves_back() {
        // Trail 1% of the high: placed at 1,000 → trigger 990; high 1,100 → 1,089; a drop to
        // 1,095 leaves it at 1,089; 1,089 fires it.
        let mut book = StopBook::new();
        let mut o = stop(Side::Sell, 0, TriggerOn::Last);
        o.trail = Some(Trail::Fraction(Rate(1_000_000)));
        o.extreme = 1000;
        let id = book.insert(o);
        assert_eq!(book.get(id).unwrap().trigger, 990);
        book.update_trailing(Some(1100), None);
        assert_eq!(book.get(id).unwrap().trigger, 1089);
        book.update_trailing(Some(1095), None);
        assert_eq!(book.get(id).unwrap().trigger, 1089);
        assert!(book.take_triggered(Some(1090), None).0.is_empty());
        assert_eq!(book.take_triggered(Some(1089), None).0[0].id, id);
    }

    #[test]
    fn a_trailing_buy_by_amount_follows_the_low() {
        let mut book = StopBook::new();
        let mut o = stop(Side::Buy, 0, TriggerOn::Mark);
        o.trail = Some(Trail::Ticks(50));
        o.extreme = 1000;
        let id = book.insert(o);
        book.update_trailing(None, Some(900));
        assert_eq!(book.get(id).unwrap().trigger, 950);
        assert_eq!(book.take_triggered(None, Some(950)).0[0].id, id);
    }

    #[test]
    fn an_oco_trigger_cancels_its_sibling() {
        // A long's stop-loss below (sell stop at 95) and take-profit above (a sell stop-limit…
        // here a plain sell stop at 95 and a buy stop at 105 in one group): 94 fires the first
        // and cancels the second; an unrelated stop stays.
        let mut book = StopBook::new();
        let other = book.insert(stop(Side::Sell, 80, TriggerOn::Last));
        let mut a = stop(Side::Sell, 95, TriggerOn::Last);
        a.oco = Some(9);
        let mut b = stop(Side::Buy, 105, TriggerOn::Last);
        b.oco = Some(9);
        let (a, b) = (book.insert(a), book.insert(b));
        let (fired, cancelled) = book.take_triggered(Some(94), None);
        assert_eq!(fired.iter().map(|o| o.id).collect::<Vec<_>>(), vec![a]);
        assert_eq!(cancelled.iter().map(|o| o.id).collect::<Vec<_>>(), vec![b]);
        assert!(book.get(other).is_some() && book.len() == 1);
    }

    proptest! {
        /// The ordered sets return exactly what a scan of every waiting stop would.
        #[test]
        fn triggered_equals_brute_force(
            stops in prop::collection::vec((any::<bool>(), 50i64..150, any::<bool>(), prop::option::of(0i64..5)), 0..60),
            moves in prop::collection::vec((50i64..150, 50i64..150), 1..10),
        ) {
            let mut book = StopBook::new();
            let mut all: Vec<StopOrder> = Vec::new();
            for (buy, trigger, on_mark, oco) in stops {
                let side = if buy { Side::Buy } else { Side::Sell };
                let on = if on_mark { TriggerOn::Mark } else { TriggerOn::Last };
                let mut o = stop(side, trigger, on);
                o.oco = oco;
                o.id = book.insert(o);
                all.push(o);
            }
            for (last, mark) in moves {
                let fires = |o: &StopOrder| {
                    let p = if o.trigger_on == TriggerOn::Last { last } else { mark };
                    match o.side { Side::Buy => p >= o.trigger, Side::Sell => p <= o.trigger }
                };
                let mut expected: Vec<i64> = Vec::new();
                let mut gone: Vec<i64> = Vec::new();
                let mut waiting: Vec<StopOrder> = all.iter().filter(|o| book.get(o.id).is_some()).copied().collect();
                waiting.sort_by_key(|o| o.id);
                for o in &waiting {
                    if fires(o) && !gone.contains(&o.id) {
                        expected.push(o.id);
                        gone.push(o.id);
                        if let Some(g) = o.oco {
                            let siblings: Vec<i64> = waiting.iter().filter(|s| s.oco == Some(g)).map(|s| s.id).collect();
                            gone.extend(siblings);
                        }
                    }
                }
                let (fired, _) = book.take_triggered(Some(last), Some(mark));
                prop_assert_eq!(fired.iter().map(|o| o.id).collect::<Vec<_>>(), expected);
                for id in gone {
                    prop_assert!(book.get(id).is_none());
                }
            }
        }
    }
}
