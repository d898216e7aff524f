//! Finding who must be liquidated without scanning every account.
//!
//! Each account with a position has a trigger price (see [`crate::account::trigger_price`]): a long
//! is liquidatable at or below it, a short at or above it. The index keeps longs and shorts in two
//! ordered sets keyed by (trigger price, account), so the accounts a mark price crosses are one
//! range query: O(k + log n) for k accounts crossed, whatever the number that did not cross. The
//! caller updates an account's key whenever its position, balance or funding changes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::types::Price;

/// Which set an account's trigger lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TriggerSide {
    /// Liquidatable when the mark is at or below the price.
    Long,
    /// Liquidatable when the mark is at or above the price.
    Short,
}

/// A stored trigger: the key under which an account sits in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Trigger {
    pub side: TriggerSide,
    pub price: Price,
}

/// Accounts (by dense index) ordered by trigger price, per side.
#[derive(Clone, Debug, Default)]
pub struct TriggerIndex {
    longs: BTreeSet<(Price, u32)>,
    shorts: BTreeSet<(Price, u32)>,
    /// The highest long trigger and the lowest short trigger (kept on every update): the cascade
    /// asks after every event whether the mark crossed anyone, and the answer is usually no.
    nearest_long: Option<Price>,
    nearest_short: Option<Price>,
}

impl TriggerIndex {
    pub fn new() -> TriggerIndex {
        TriggerIndex::default()
    }

    /// The index of these (account, trigger) entries, built in bulk (a snapshot's load): sorted
    /// once and assembled level by level, several times faster than inserting them one by one.
    pub fn from_entries(entries: impl IntoIterator<Item = (u32, Trigger)>) -> TriggerIndex {
        let (mut longs, mut shorts) = (Vec::new(), Vec::new());
        for (account, t) in entries {
            match t.side {
                TriggerSide::Long => longs.push((t.price, account)),
                TriggerSide::Short => shorts.push((t.price, account)),
            }
        }
        longs.sort_unstable();
        shorts.sort_unstable();
        let (nearest_long, nearest_short) = (longs.last().map(|&(p, _)| p), shorts.first().map(|&(p, _)| p));
        TriggerIndex {
            longs: longs.into_iter().collect(),
            shorts: shorts.into_iter().collect(),
            nearest_long,
            nearest_short,
        }
    }

    /// Number of accounts indexed.
    pub fn len(&self) -> usize {
        self.longs.len() + self.shorts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Move `account` from its `old` key to its `new` one (either may be `None`).
    pub fn update(&mut self, account: u32, old: Option<Trigger>, new: Option<Trigger>) {
        if old == new {
            return;
        }
        if let Some(t) = old {
            let removed = self.set_mut(t.side).remove(&(t.price, account));
            debug_assert!(removed, "account {account} was not indexed under {t:?}");
        }
        if let Some(t) = new {
            self.set_mut(t.side).insert((t.price, account));
        }
        for side in [old, new].into_iter().flatten().map(|t| t.side) {
            match side {
                TriggerSide::Long => self.nearest_long = self.longs.last().map(|&(p, _)| p),
                TriggerSide::Short => self.nearest_short = self.shorts.first().map(|&(p, _)| p),
            }
        }
    }

    fn set_mut(&mut self, side: TriggerSide) -> &mut BTreeSet<(Price, u32)> {
        match side {
            TriggerSide::Long => &mut self.longs,
            TriggerSide::Short => &mut self.shorts,
        }
    }

    /// Append every account liquidatable at `mark` (longs with trigger ≥ mark, shorts with
    /// trigger ≤ mark) to `out`, longs first, each side in trigger order.
    pub fn crossed(&self, mark: Price, out: &mut Vec<u32>) {
        // Usually no one is crossed: the nearest trigger of each side says so without the two
        // range searches (this runs after every event of a simulation).
        if self.nearest_long.is_some_and(|p| p >= mark) {
            out.extend(self.longs.range((mark, 0)..).map(|&(_, a)| a));
        }
        if self.nearest_short.is_some_and(|p| p <= mark) {
            out.extend(self.shorts.range(..=(mark, u32::MAX)).map(|&(_, a)| a));
        }
    }

    /// Remove every entry `mark` crosses (what [`Self::crossed`] lists) and append their accounts
    /// to `out`, in the same order. A cascade that closes the crossed accounts out would otherwise
    /// remove them one by one, each a search from the root in whatever order it visits them;
    /// splitting the crossed end off costs a walk down the tree plus the crossed entries
    /// themselves, in key order. The caller owns the accounts' `trigger`s: they are no longer
    /// indexed (see [`crate::exchange::Exchange`]'s leg close-outs).
    pub fn take_crossed(&mut self, mark: Price, out: &mut Vec<u32>) {
        if self.nearest_long.is_some_and(|p| p >= mark) {
            let crossed = self.longs.split_off(&(mark, 0));
            out.extend(crossed.iter().map(|&(_, a)| a));
            self.nearest_long = self.longs.last().map(|&(p, _)| p);
        }
        if self.nearest_short.is_some_and(|p| p <= mark) {
            let above = match mark.checked_add(1) {
                Some(next) => self.shorts.split_off(&(next, 0)),
                None => BTreeSet::new(),
            };
            let crossed = std::mem::replace(&mut self.shorts, above);
            out.extend(crossed.iter().map(|&(_, a)| a));
            self.nearest_short = self.shorts.first().map(|&(p, _)| p);
        }
    }

    /// The lowest short trigger and the highest long trigger: the mark range that liquidates no one.
    pub fn nearest(&self) -> (Option<Price>, Option<Price>) {
        (self.nearest_long, self.nearest_short)
    }

    /// All (side, price, account) entries, for tests and diagnostics.
    pub fn entries(&self) -> impl Iterator<Item = (TriggerSide, Price, u32)> + '_ {
        let longs = self.longs.iter().map(|&(p, a)| (TriggerSide::Long, p, a));
        let shorts = self.shorts.iter().map(|&(p, a)| (TriggerSide::Short, p, a));
        longs.chain(shorts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(side: TriggerSide, price: Price) -> Option<Trigger> {
        Some(Trigger { side, price })
    }

    #[test]
    fn nearest_triggers_follow_inserts_moves_and_removals() {
        // The cached nearest triggers let `crossed` answer "no one" without a range search; they
        // must be the set's extremes after every kind of update.
        let mut ix = TriggerIndex::new();
        assert_eq!(ix.nearest(), (None, None));
        ix.update(1, None, t(TriggerSide::Long, 95));
        ix.update(2, None, t(TriggerSide::Long, 90));
        ix.update(3, None, t(TriggerSide::Short, 110));
        assert_eq!(ix.nearest(), (Some(95), Some(110)));
        ix.update(1, t(TriggerSide::Long, 95), t(TriggerSide::Long, 80)); // the nearest moves away
        assert_eq!(ix.nearest(), (Some(90), Some(110)));
        ix.update(2, t(TriggerSide::Long, 90), t(TriggerSide::Short, 105)); // flips side
        assert_eq!(ix.nearest(), (Some(80), Some(105)));
        let mut out = Vec::new();
        ix.crossed(105, &mut out);
        assert_eq!(out, vec![2]);
        ix.update(1, t(TriggerSide::Long, 80), None);
        ix.update(2, t(TriggerSide::Short, 105), None);
        assert_eq!(ix.nearest(), (None, Some(110)));
        out.clear();
        ix.crossed(1, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn crossed_returns_exactly_the_accounts_past_the_mark() {
        let mut ix = TriggerIndex::new();
        ix.update(1, None, t(TriggerSide::Short, 105));
        ix.update(2, None, t(TriggerSide::Short, 110));
        ix.update(3, None, t(TriggerSide::Long, 95));
        ix.update(4, None, t(TriggerSide::Long, 90));
        let mut out = Vec::new();
        ix.crossed(100, &mut out);
        assert!(out.is_empty());
        ix.crossed(105, &mut out); // boundary included
        assert_eq!(out, vec![1]);
        out.clear();
        ix.crossed(120, &mut out);
        assert_eq!(out, vec![1, 2]);
        out.clear();
        ix.crossed(90, &mut out);
        assert_eq!(out, vec![4, 3]);
        assert_eq!(ix.nearest(), (Some(95), Some(105)));
        // Moving and removing keys.
        ix.update(1, t(TriggerSide::Short, 105), t(TriggerSide::Short, 130));
        ix.update(4, t(TriggerSide::Long, 90), None);
        out.clear();
        ix.crossed(120, &mut out);
        assert_eq!(out, vec![2]);
        assert_eq!(ix.len(), 3);
        // Taking the crossed entries out: the same accounts as `crossed`, in its order, and the
        // rest stays (nearest triggers included).
        let mut taken = ix.clone();
        let (mut listed, mut took) = (Vec::new(), Vec::new());
        for mark in [95, 125] {
            ix.crossed(mark, &mut listed);
            taken.take_crossed(mark, &mut took);
        }
        assert_eq!(took, vec![3, 2]);
        assert_eq!(took, listed);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken.nearest(), (None, Some(130)));
        taken.take_crossed(Price::MAX, &mut took);
        assert_eq!((took, taken.len(), taken.nearest()), (vec![3, 2, 1], 0, (None, None)));
        // Built in bulk from the same keys: the same index.
        let keys = ix.entries().map(|(side, price, a)| (a, Trigger { side, price })).collect::<Vec<_>>();
        let bulk = TriggerIndex::from_entries(keys.into_iter().rev());
        assert_eq!(bulk.entries().collect::<Vec<_>>(), ix.entries().collect::<Vec<_>>());
    }
}
