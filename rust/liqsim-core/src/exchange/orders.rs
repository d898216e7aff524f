//! Which account owns which resting order, with O(1) add, fill, shrink and remove whatever the
//! number of orders an account (or the market) has, and each account's open lots per side kept as
//! running totals so that a margin check never walks the account's orders.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::types::{OrderId, Qty, Side};

/// Hash for integer keys (order ids, account indices), chosen for locality: the low bits (which
/// pick the bucket) are the key itself, so the sequential ids the book hands out land in
/// neighbouring buckets and a bulk load or a sweep walks the table in order instead of missing the
/// cache once per order; the top 7 bits (the table's per-bucket tag) are mixed by a multiply so
/// that probing still tells keys apart. The keys are ours, not an attacker's.
#[derive(Clone, Copy, Default)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
    fn write_u64(&mut self, x: u64) {
        let x = self.0 ^ x;
        const TAG: u64 = 0x7F << 57;
        self.0 = (x & !TAG) | (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & TAG);
    }
}

type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// One resting order's bookkeeping.
#[derive(Clone, Copy, Debug)]
struct Entry {
    account: u32,
    /// Index of the order in its account's `ids` (kept right on every swap-remove).
    position: u32,
    side: Side,
    /// Lots still resting (mirrors the book).
    qty: Qty,
    reduce_only: bool,
}

/// One account's resting orders.
#[derive(Clone, Debug, Default)]
struct AccountOrders {
    ids: Vec<OrderId>,
    buy_lots: i128,
    sell_lots: i128,
    reduce_only: u32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct OpenOrders {
    entries: IntMap<OrderId, Entry>,
    accounts: IntMap<u32, AccountOrders>,
}

impl OpenOrders {
    /// Room for `more` orders without rehashing on the way (bulk loads).
    pub(crate) fn reserve(&mut self, more: usize) {
        self.entries.reserve(more);
    }

    pub(crate) fn add(&mut self, account: u32, id: OrderId, side: Side, qty: Qty, reduce_only: bool) {
        let orders = self.accounts.entry(account).or_default();
        let position = orders.ids.len() as u32;
        orders.ids.push(id);
        *orders.lots_mut(side) += qty as i128;
        orders.reduce_only += reduce_only as u32;
        self.entries.insert(id, Entry { account, position, side, qty, reduce_only });
    }

    /// The account owning a resting order.
    pub(crate) fn owner(&self, id: OrderId) -> Option<u32> {
        self.entries.get(&id).map(|e| e.account)
    }

    pub(crate) fn is_reduce_only(&self, id: OrderId) -> bool {
        self.entries.get(&id).is_some_and(|e| e.reduce_only)
    }

    /// Lots the account has resting on each side: (buys, sells).
    pub(crate) fn open_lots(&self, account: u32) -> (i128, i128) {
        self.accounts.get(&account).map_or((0, 0), |o| (o.buy_lots, o.sell_lots))
    }

    /// The order now rests `qty` lots (after a partial fill or a shrink).
    pub(crate) fn set_qty(&mut self, id: OrderId, qty: Qty) {
        let Some(e) = self.entries.get_mut(&id) else { return };
        let change = qty as i128 - e.qty as i128;
        e.qty = qty;
        if let Some(orders) = self.accounts.get_mut(&e.account) {
            *orders.lots_mut(e.side) += change;
        }
    }

    /// Forget an order that left the book (filled, cancelled). Unknown ids are ignored (an IOC
    /// taker's expiry names an order that never rested).
    pub(crate) fn remove(&mut self, id: OrderId) {
        let Some(e) = self.entries.remove(&id) else { return };
        let Some(orders) = self.accounts.get_mut(&e.account) else { return };
        orders.ids.swap_remove(e.position as usize);
        if let Some(&moved) = orders.ids.get(e.position as usize) {
            if let Some(m) = self.entries.get_mut(&moved) {
                m.position = e.position;
            }
        }
        *orders.lots_mut(e.side) -= e.qty as i128;
        orders.reduce_only -= e.reduce_only as u32;
        if orders.ids.is_empty() {
            self.accounts.remove(&e.account);
        }
    }

    /// Forget all of an account's orders; returns their ids (for cancelling them in the book).
    pub(crate) fn take_all(&mut self, account: u32) -> Vec<OrderId> {
        let Some(orders) = self.accounts.remove(&account) else { return Vec::new() };
        for id in &orders.ids {
            self.entries.remove(id);
        }
        orders.ids
    }

    /// Every account's resting orders in the account's own order (which decides the order in
    /// which a close-out cancels them): (account, [(id, side, lots, reduce-only)]), by account.
    /// What a snapshot keeps; [`OpenOrders::from_lists`] rebuilds the rest.
    pub(crate) fn lists(&self) -> Vec<(u32, Vec<(OrderId, Side, Qty, bool)>)> {
        let mut out: Vec<(u32, Vec<(OrderId, Side, Qty, bool)>)> = self
            .accounts
            .iter()
            .map(|(&account, orders)| {
                let list = orders
                    .ids
                    .iter()
                    .filter_map(|id| self.entries.get(id).map(|e| (*id, e.side, e.qty, e.reduce_only)))
                    .collect();
                (account, list)
            })
            .collect();
        out.sort_unstable_by_key(|(account, _)| *account);
        out
    }

    /// The bookkeeping of these lists (see [`OpenOrders::lists`]); `None` if an id appears twice.
    pub(crate) fn from_lists(lists: &[(u32, Vec<(OrderId, Side, Qty, bool)>)]) -> Option<OpenOrders> {
        let mut open = OpenOrders::default();
        open.reserve(lists.iter().map(|(_, l)| l.len()).sum());
        for (account, list) in lists {
            for &(id, side, qty, reduce_only) in list {
                if open.entries.contains_key(&id) {
                    return None;
                }
                open.add(*account, id, side, qty, reduce_only);
            }
        }
        Some(open)
    }

    /// Number of resting orders tracked.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Side and lots of a resting order.
    pub(crate) fn side_and_qty(&self, id: OrderId) -> Option<(Side, Qty)> {
        self.entries.get(&id).map(|e| (e.side, e.qty))
    }

    /// The account's reduce-only orders (no walk when it has none).
    pub(crate) fn reduce_only_of(&self, account: u32) -> Vec<OrderId> {
        match self.accounts.get(&account) {
            Some(o) if o.reduce_only > 0 => o.ids.iter().copied().filter(|id| self.is_reduce_only(*id)).collect(),
            _ => Vec::new(),
        }
    }
}

impl AccountOrders {
    fn lots_mut(&mut self, side: Side) -> &mut i128 {
        match side {
            Side::Buy => &mut self.buy_lots,
            Side::Sell => &mut self.sell_lots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_fill_remove_keep_positions_and_totals() {
        let mut o = OpenOrders::default();
        for i in 0..5 {
            o.add(7, OrderId(i), if i % 2 == 0 { Side::Buy } else { Side::Sell }, 10, i == 3);
        }
        assert_eq!(o.open_lots(7), (30, 20));
        o.set_qty(OrderId(0), 4); // a partial fill of 6
        assert_eq!(o.open_lots(7), (24, 20));
        o.remove(OrderId(0)); // swap-removes: id 4 moves to position 0
        assert_eq!(o.open_lots(7), (20, 20));
        assert_eq!(o.reduce_only_of(7), vec![OrderId(3)]);
        o.remove(OrderId(4));
        o.remove(OrderId(99)); // never rested: ignored
        assert_eq!(o.owner(OrderId(1)), Some(7));
        assert_eq!(o.open_lots(7), (10, 20));
        let mut left = o.take_all(7);
        left.sort();
        assert_eq!(left, vec![OrderId(1), OrderId(2), OrderId(3)]);
        assert_eq!(o.open_lots(7), (0, 0));
        assert_eq!(o.owner(OrderId(1)), None);
    }
}
