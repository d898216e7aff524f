//! The replayed L2 book: aggregate quantity per price level, nothing about orders. A feed of
//! absolute level quantities needs only a sorted map per side (the matching engine's order queues
//! would be dead weight here).

use std::collections::BTreeMap;

use super::LevelUpdate;
use crate::Side;

/// Best bid and ask (price, quantity) in units of 1e-8; `None` for an empty side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Top {
    pub bid: Option<(i64, i64)>,
    pub ask: Option<(i64, i64)>,
}

/// Resting quantity and quote notional of one side within a band around mid.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Depth {
    /// Sum of level quantities, units of 1e-8 (base currency, or contracts for COIN-M).
    pub qty: i128,
    /// Sum of price × quantity, units of 1e-16 (linear contracts only; see `Replayer`).
    pub price_qty: i128,
    /// Sum of quantity / price (for inverse contracts: contracts → base currency), float.
    pub qty_over_price: f64,
}

/// A sorted map per side. Measured against sorted vectors searched from the touch (`benches/replay.rs`,
/// decoded diffs of btcusdt_20240808): the map was 1.3× faster, because Binance's diffs touch levels
/// across the whole 1,000-level window, not only near the touch, and vector inserts there move many
/// levels. The map's cost is O(log levels) for any update.
#[derive(Debug, Clone, Default)]
pub struct L2Book {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl L2Book {
    pub fn new() -> L2Book {
        L2Book::default()
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Set a level to an absolute quantity; 0 removes it.
    #[inline]
    pub fn apply(&mut self, update: LevelUpdate) {
        let side = match update.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if update.qty == 0 {
            side.remove(&update.price);
        } else {
            side.insert(update.price, update.qty);
        }
    }

    pub fn top(&self) -> Top {
        Top {
            bid: self.bids.last_key_value().map(|(p, q)| (*p, *q)),
            ask: self.asks.first_key_value().map(|(p, q)| (*p, *q)),
        }
    }

    pub fn level_count(&self, side: Side) -> usize {
        match side {
            Side::Buy => self.bids.len(),
            Side::Sell => self.asks.len(),
        }
    }

    /// Levels of one side, best first.
    pub fn levels(&self, side: Side) -> Box<dyn Iterator<Item = (i64, i64)> + '_> {
        match side {
            Side::Buy => Box::new(self.bids.iter().rev().map(|(p, q)| (*p, *q))),
            Side::Sell => Box::new(self.asks.iter().map(|(p, q)| (*p, *q))),
        }
    }

    /// Depth of each side within `fraction` of mid (bids at prices ≥ mid × (1 − fraction), asks at
    /// ≤ mid × (1 + fraction)); `None` when a side is empty. Visits only the levels inside the band.
    pub fn depth_within(&self, fraction: f64) -> Option<(Depth, Depth)> {
        let top = self.top();
        let (bid, ask) = (top.bid?.0, top.ask?.0);
        let mid = (bid as f64 + ask as f64) / 2.0;
        let low = (mid * (1.0 - fraction)).ceil() as i64;
        let high = (mid * (1.0 + fraction)).floor() as i64;
        let sum = |levels: &mut dyn Iterator<Item = (&i64, &i64)>| {
            let mut d = Depth::default();
            for (p, q) in levels {
                d.qty += *q as i128;
                d.price_qty += *p as i128 * *q as i128;
                d.qty_over_price += *q as f64 / *p as f64;
            }
            d
        };
        let bids = if low <= bid { sum(&mut self.bids.range(low..=bid)) } else { Depth::default() };
        let asks = if high >= ask { sum(&mut self.asks.range(ask..=high)) } else { Depth::default() };
        Some((bids, asks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(side: Side, price: i64, qty: i64) -> LevelUpdate {
        LevelUpdate { side, price, qty }
    }

    #[test]
    fn levels_stay_sorted_best_first_whatever_the_order_of_updates() {
        let mut b = L2Book::new();
        for p in [100, 97, 99, 98, 96, 101] {
            b.apply(up(Side::Buy, p, p));
            b.apply(up(Side::Sell, p + 10, p));
        }
        b.apply(up(Side::Buy, 99, 0)); // remove
        b.apply(up(Side::Buy, 95, 0)); // removing an absent level is nothing
        b.apply(up(Side::Sell, 111, 7)); // change in place
        assert_eq!(b.levels(Side::Buy).map(|l| l.0).collect::<Vec<_>>(), vec![101, 100, 98, 97, 96]);
        assert_eq!(b.levels(Side::Sell).collect::<Vec<_>>(), vec![(106, 96), (107, 97), (108, 98), (109, 99), (110, 100), (111, 7)]);
        assert_eq!(b.top(), Top { bid: Some((101, 101)), ask: Some((106, 96)) });
    }

    #[test]
    fn ladder_search_agrees_with_a_sorted_reference() {
        // Pseudo-random updates against a BTreeMap: same levels after every step.
        let mut b = L2Book::new();
        let mut reference = std::collections::BTreeMap::new();
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let price = ((x >> 33) % 500) as i64;
            let qty = if (x >> 20) % 3 == 0 { 0 } else { ((x >> 40) % 9) as i64 + 1 };
            b.apply(up(Side::Sell, price, qty));
            if qty == 0 {
                reference.remove(&price);
            } else {
                reference.insert(price, qty);
            }
        }
        assert_eq!(b.levels(Side::Sell).collect::<Vec<_>>(), reference.into_iter().collect::<Vec<_>>());
    }
}
