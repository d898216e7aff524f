//! Liquidation maps: where forced closes sit on the price axis.
//!
//! Two views, both on a [`PriceGrid`] of bucket edges:
//! - **exact** ([`account_liquidation_prices`], [`bucket_liquidations`]): every position's
//!   liquidation price from the venue's own formula (tiers iterated), summed per bucket.
//! - **estimated** ([`estimate_heatmap`]): what public heatmaps do when positions are unknown
//!   (shared/MODELS.md §6): new open interest of each bar placed at assumed leverages, levels
//!   removed when price trades through them or open interest falls.
//!
//! Prices and notionals are `f64` in quote currency: these are reports, they never move money.

use rayon::prelude::*;

use crate::error::Error;
use crate::venue::VenuePreset;

fn bad(column: &'static str, row: usize, message: String) -> Error {
    Error::BadInput { column, row, message }
}

fn config(what: &'static str, message: String) -> Error {
    Error::Config { what, message }
}

// ---------------------------------------------------------------------------------------------
// Price grid
// ---------------------------------------------------------------------------------------------

/// Bucket edges on the price axis: bucket `i` is `[edges[i], edges[i + 1])`.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceGrid {
    edges: Vec<f64>,
    /// `(first edge, width)` when the edges are evenly spaced: the bucket is then found by one
    /// division (then checked against the stored edges) instead of a binary search.
    even: Option<(f64, f64)>,
}

impl PriceGrid {
    /// At least two finite, strictly increasing edges.
    pub fn new(edges: Vec<f64>) -> Result<PriceGrid, Error> {
        if edges.len() < 2 {
            return Err(config("price grid", format!("needs at least 2 edges, got {}", edges.len())));
        }
        for (i, pair) in edges.windows(2).enumerate() {
            if !(pair[0].is_finite() && pair[1].is_finite() && pair[1] > pair[0]) {
                return Err(config(
                    "price grid",
                    format!(
                        "edges must be finite and strictly increasing; edge {i} = {}, edge {} = {}",
                        pair[0],
                        i + 1,
                        pair[1]
                    ),
                ));
            }
        }
        let n = edges.len() - 1;
        let width = (edges[n] - edges[0]) / n as f64;
        let even = edges
            .iter()
            .enumerate()
            .all(|(i, &e)| (e - (edges[0] + i as f64 * width)).abs() <= 1e-9 * width)
            .then_some((edges[0], width));
        Ok(PriceGrid { edges, even })
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.edges.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// Where a price falls: below the grid, in bucket `i`, or above (at or past the last edge).
    /// Callers pass real prices; a NaN would count as below rather than land in a bucket.
    pub fn locate(&self, price: f64) -> Located {
        let n = self.len();
        if price.is_nan() || price < self.edges[0] {
            return Located::Below;
        }
        if price >= self.edges[n] {
            return Located::Above;
        }
        let mut i = match self.even {
            Some((start, width)) => (((price - start) / width) as usize).min(n - 1),
            None => self.edges.partition_point(|&e| e <= price) - 1,
        };
        // The division can be off by one at an edge; the stored edges decide.
        while price < self.edges[i] {
            i -= 1;
        }
        while price >= self.edges[i + 1] {
            i += 1;
        }
        Located::In(i)
    }
}

/// The answer of [`PriceGrid::locate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Located {
    Below,
    In(usize),
    Above,
}

// ---------------------------------------------------------------------------------------------
// Exact maps
// ---------------------------------------------------------------------------------------------

/// Positions as columns (one row per account and symbol), as the Python edge passes them.
pub struct PositionColumns<'a> {
    /// Signed size, base units (> 0 long, < 0 short, 0 flat).
    pub size: &'a [f64],
    /// Average entry price, quote currency (ignored when flat).
    pub entry_price: &'a [f64],
    /// Wallet balance, quote currency: backs a cross position.
    pub balance: &'a [f64],
    /// `true` for isolated margin.
    pub isolated: &'a [bool],
    /// Isolated margin, quote currency; NaN (or absent) means `|size| × entry / leverage`, the
    /// default the exchange applies when it loads the same table.
    pub isolated_margin: Option<&'a [f64]>,
    /// Leverage (only used for the default isolated margin).
    pub leverage: &'a [f64],
}

/// The liquidation price of each row, NaN where there is none (flat, or a position no price move
/// liquidates). The money backing a position is the wallet for cross margin (the account holds
/// nothing else: `TMM1 = UPNL1 = 0` in Binance's formula) and the isolated margin for isolated
/// positions; the venue's own formula does the rest ([`VenuePreset::liquidation_price`]).
pub fn account_liquidation_prices(preset: &VenuePreset, cols: &PositionColumns) -> Result<Vec<f64>, Error> {
    let n = cols.size.len();
    for (name, len) in [
        ("entry_price", cols.entry_price.len()),
        ("balance", cols.balance.len()),
        ("margin_mode", cols.isolated.len()),
        ("leverage", cols.leverage.len()),
        ("isolated_margin", cols.isolated_margin.map_or(n, <[f64]>::len)),
    ] {
        if len != n {
            return Err(bad(name, len.min(n), format!("column has {len} rows, qty has {n}")));
        }
    }
    // Rows are independent: compute them in parallel, in fixed chunks, and report the error of
    // the lowest chunk (its first bad row is the table's first bad row). Values do not depend on
    // the thread count.
    const CHUNK: usize = 8_192;
    let mut out = vec![f64::NAN; n];
    let results: Vec<Result<(), Error>> = out
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            for (i, slot) in chunk.iter_mut().enumerate() {
                *slot = row_liquidation_price(preset, cols, c * CHUNK + i)?;
            }
            Ok(())
        })
        .collect();
    results.into_iter().collect::<Result<(), Error>>()?;
    Ok(out)
}

fn row_liquidation_price(preset: &VenuePreset, cols: &PositionColumns, r: usize) -> Result<f64, Error> {
    let size = cols.size[r];
    if !size.is_finite() {
        return Err(bad("qty", r, format!("{size} is not a finite number")));
    }
    if size == 0.0 {
        return Ok(f64::NAN);
    }
    let entry = cols.entry_price[r];
    if !(entry.is_finite() && entry > 0.0) {
        return Err(bad("entry_price", r, format!("{entry} must be > 0 for an open position")));
    }
    let backing = if cols.isolated[r] {
        match cols.isolated_margin.map(|c| c[r]) {
            Some(m) if m.is_finite() && m >= 0.0 => m,
            Some(m) if !m.is_nan() => return Err(bad("isolated_margin", r, format!("{m} must be ≥ 0"))),
            _ => {
                let leverage = cols.leverage[r];
                if !(leverage.is_finite() && leverage >= 1.0) {
                    return Err(bad("leverage", r, format!("{leverage} must be ≥ 1")));
                }
                size.abs() * entry / leverage
            }
        }
    } else {
        let balance = cols.balance[r];
        if !(balance.is_finite() && balance >= 0.0) {
            return Err(bad("balance", r, format!("{balance} must be a number ≥ 0")));
        }
        balance
    };
    Ok(preset.liquidation_price(size, entry, backing).unwrap_or(f64::NAN))
}

/// One side of a map: per bucket, the notional liquidated there (`|size| × liquidation price`,
/// quote currency), the size (base units) and the number of positions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SideMap {
    pub notional: Vec<f64>,
    pub qty: Vec<f64>,
    pub count: Vec<u64>,
    /// Notional whose liquidation price lies below the first edge / at or above the last edge.
    pub below: f64,
    pub above: f64,
    /// Notional (at entry) of positions with no liquidation price.
    pub never: f64,
}

impl SideMap {
    fn new(buckets: usize) -> SideMap {
        SideMap { notional: vec![0.0; buckets], qty: vec![0.0; buckets], count: vec![0; buckets], ..SideMap::default() }
    }
}

/// An exact liquidation map: longs and shorts per bucket of a [`PriceGrid`].
#[derive(Clone, Debug, PartialEq)]
pub struct LiquidationMap {
    pub long: SideMap,
    pub short: SideMap,
}

/// Sums positions (signed `size`, base units) by the bucket of their liquidation price
/// (`liq_price`, NaN = none). `entry_price` values the positions that have no liquidation price.
pub fn bucket_liquidations(
    grid: &PriceGrid,
    liq_price: &[f64],
    size: &[f64],
    entry_price: &[f64],
) -> Result<LiquidationMap, Error> {
    let n = size.len();
    if liq_price.len() != n || entry_price.len() != n {
        return Err(bad("liquidation_price", liq_price.len().min(n), "columns differ in length".into()));
    }
    let mut map = LiquidationMap { long: SideMap::new(grid.len()), short: SideMap::new(grid.len()) };
    for r in 0..n {
        let s = size[r];
        if s == 0.0 || s.is_nan() {
            continue;
        }
        let side = if s > 0.0 { &mut map.long } else { &mut map.short };
        let q = s.abs();
        let p = liq_price[r];
        if p.is_nan() {
            let entry = entry_price[r];
            side.never += if entry.is_finite() { q * entry } else { 0.0 };
            continue;
        }
        match grid.locate(p) {
            Located::Below => side.below += q * p,
            Located::Above => side.above += q * p,
            Located::In(i) => {
                side.notional[i] += q * p;
                side.qty[i] += q;
                side.count[i] += 1;
            }
        }
    }
    Ok(map)
}

// ---------------------------------------------------------------------------------------------
// The heatmap estimate (MODELS.md §6)
// ---------------------------------------------------------------------------------------------

/// What happens to live levels when open interest falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OiDecrease {
    /// Every live level shrinks by the fraction of open interest that closed over the bar
    /// (`BarColumns::oi_closed_fraction`): closes are taken to hit every position alike, including
    /// those opened before the first bar, which the estimate never saw.
    Proportional,
    /// The oldest levels go first (first in, first out).
    Oldest,
    /// The levels nearest the bar's price go first, whichever side they are on.
    Nearest,
}

/// The assumptions of the estimate, each a parameter (defaults and their sources: the Python
/// docstring of `liqsim.estimate_liquidation_map`).
#[derive(Clone, Debug)]
pub struct EstimateParams {
    /// Leverage buckets and the share of new open interest at each (shares sum to 1).
    pub leverage: Vec<f64>,
    pub weights: Vec<f64>,
    /// The size of one assumed position, quote currency: picks the tier of the liquidation price.
    pub position_notional: f64,
    pub oi_decrease: OiDecrease,
    /// Levels older than this many bars are dropped (`None`: kept until removed otherwise).
    pub lookback: Option<usize>,
}

/// Bars as columns; `long_share` is the fraction of each bar's new open interest that is long
/// (the split rule is applied by the caller: candle direction, taker ratio, funding sign).
pub struct BarColumns<'a> {
    pub high: &'a [f64],
    pub low: &'a [f64],
    /// Price new positions are opened at (close, or a VWAP).
    pub open_price: &'a [f64],
    /// Change of open interest over the bar in quote currency (first bar: 0).
    pub oi_change: &'a [f64],
    /// Share of the previous bar's open interest that closed over this bar (0 when it rose).
    pub oi_closed_fraction: &'a [f64],
    pub long_share: &'a [f64],
}

/// The estimate: live notional per bar × bucket (row-major, `bars × buckets`), after each bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub long: Vec<f64>,
    pub short: Vec<f64>,
    /// Live estimated notional per bar including levels outside the grid.
    pub long_total: Vec<f64>,
    pub short_total: Vec<f64>,
}

/// One estimated level: notional stored in units of its side's running scale factor, so a
/// proportional decrease is one multiplication per bucket, not one per level.
#[derive(Clone, Copy, Debug)]
struct Level {
    bucket: Option<usize>,
    stored: f64,
    born: usize,
    alive: bool,
}

/// A max-heap entry ordering levels by price (for longs the highest price is hit first by a
/// falling market; shorts are stored with negated prices so the same heap serves them).
#[derive(Clone, Copy, Debug, PartialEq)]
struct ByPrice(f64, usize);
impl Eq for ByPrice {}
impl PartialOrd for ByPrice {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByPrice {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Live levels of one side.
struct Book {
    levels: Vec<Level>,
    /// Levels by how soon a price move reaches them (longs: highest first; shorts: lowest first).
    heap: std::collections::BinaryHeap<ByPrice>,
    /// Current notional of a level = stored × scale.
    scale: f64,
    buckets: Vec<f64>,
    counts: Vec<u32>,
    live: usize,
    /// Σ stored over live levels (current live notional = this × scale), kept as levels come and
    /// go so a fall in open interest costs O(buckets), not O(levels).
    stored_sum: f64,
    /// Every level before this index has expired (levels are created in time order).
    expired_before: usize,
    /// Every level before this index is dead: where "oldest first" starts looking.
    front: usize,
    long: bool,
}

impl Book {
    fn new(buckets: usize, long: bool) -> Book {
        Book {
            levels: Vec::new(),
            heap: std::collections::BinaryHeap::new(),
            scale: 1.0,
            buckets: vec![0.0; buckets],
            counts: vec![0; buckets],
            live: 0,
            stored_sum: 0.0,
            expired_before: 0,
            front: 0,
            long,
        }
    }

    fn add(&mut self, price: f64, bucket: Option<usize>, notional: f64, bar: usize) {
        let idx = self.levels.len();
        self.levels.push(Level { bucket, stored: notional / self.scale, born: bar, alive: true });
        self.heap.push(ByPrice(if self.long { price } else { -price }, idx));
        if let Some(b) = bucket {
            self.buckets[b] += notional;
            self.counts[b] += 1;
        }
        self.live += 1;
        self.stored_sum += notional / self.scale;
    }

    fn kill(&mut self, idx: usize) {
        let level = &mut self.levels[idx];
        if !level.alive {
            return;
        }
        level.alive = false;
        self.live -= 1;
        // Exactly zero when nothing is left, whatever rounding the subtractions left.
        self.stored_sum = if self.live == 0 { 0.0 } else { (self.stored_sum - level.stored).max(0.0) };
        if let Some(b) = level.bucket {
            self.counts[b] -= 1;
            // An empty bucket is exactly empty, whatever rounding the subtractions left.
            self.buckets[b] =
                if self.counts[b] == 0 { 0.0 } else { (self.buckets[b] - level.stored * self.scale).max(0.0) };
        }
    }

    /// Removes the levels a bar trading in `[low, high]` went through.
    fn trade_through(&mut self, low: f64, high: f64) {
        while let Some(&ByPrice(key, idx)) = self.heap.peek() {
            let price = if self.long { key } else { -key };
            let hit = if self.long { price >= low } else { price <= high };
            if !hit {
                break;
            }
            self.heap.pop();
            self.kill(idx);
        }
    }

    /// The live level a price move reaches first (index, price), dropping dead heap entries.
    fn nearest_live(&mut self) -> Option<(usize, f64)> {
        while let Some(&ByPrice(key, idx)) = self.heap.peek() {
            if self.levels[idx].alive {
                return Some((idx, if self.long { key } else { -key }));
            }
            self.heap.pop();
        }
        None
    }

    /// Takes up to `amount` of notional from level `idx`; returns what is left to take.
    fn take(&mut self, idx: usize, amount: f64) -> f64 {
        let level = self.levels[idx];
        let current = level.stored * self.scale;
        if current <= amount {
            self.kill(idx);
            return amount - current;
        }
        self.levels[idx].stored -= amount / self.scale;
        self.stored_sum = (self.stored_sum - amount / self.scale).max(0.0);
        if let Some(b) = level.bucket {
            self.buckets[b] = (self.buckets[b] - amount).max(0.0);
        }
        0.0
    }

    fn expire(&mut self, oldest_kept: usize) {
        while self.expired_before < self.levels.len() && self.levels[self.expired_before].born < oldest_kept {
            self.kill(self.expired_before);
            self.expired_before += 1;
        }
    }

    /// Live notional, including levels outside the grid.
    fn total(&self) -> f64 {
        self.stored_sum * self.scale
    }

    /// Multiplies every live level by `factor` in `[0, 1)`.
    fn shrink(&mut self, factor: f64) {
        if factor <= 0.0 {
            for idx in self.expired_before..self.levels.len() {
                self.kill(idx);
            }
            self.heap.clear();
            self.scale = 1.0;
            return;
        }
        self.scale *= factor;
        for b in &mut self.buckets {
            *b *= factor;
        }
        if self.scale < 1e-200 {
            // Fold the scale into the levels before it underflows.
            for level in &mut self.levels[self.expired_before..] {
                level.stored *= self.scale;
            }
            self.stored_sum *= self.scale;
            self.scale = 1.0;
        }
    }

    /// Removes `amount` of notional from the oldest live levels (the last one partly).
    fn remove_oldest(&mut self, mut amount: f64) {
        while self.front < self.levels.len() && !self.levels[self.front].alive {
            self.front += 1;
        }
        let mut idx = self.front.max(self.expired_before);
        while amount > 0.0 && idx < self.levels.len() {
            let level = self.levels[idx];
            if level.alive {
                let current = level.stored * self.scale;
                if current <= amount {
                    amount -= current;
                    self.kill(idx);
                } else {
                    self.levels[idx].stored -= amount / self.scale;
                    self.stored_sum = (self.stored_sum - amount / self.scale).max(0.0);
                    if let Some(b) = level.bucket {
                        self.buckets[b] = (self.buckets[b] - amount).max(0.0);
                    }
                    amount = 0.0;
                }
            }
            idx += 1;
        }
    }
}

/// Liquidation price of an assumed fresh isolated position opened at `price` with `leverage`:
/// margin = notional / leverage, venue formula with the tier of `position_notional`.
pub fn assumed_liquidation_price(
    preset: &VenuePreset,
    price: f64,
    leverage: f64,
    position_notional: f64,
    long: bool,
) -> Option<f64> {
    let size = position_notional / price;
    preset.liquidation_price(if long { size } else { -size }, price, position_notional / leverage)
}

/// Runs the estimate bar by bar. Within a bar, in this order: levels the bar's range went through
/// are removed (a level never sees the bar that opened it); levels past the lookback expire; a fall
/// of open interest removes notional (proportionally across both sides, or oldest first); a rise
/// places the new notional at each leverage's liquidation price, split long/short by
/// `long_share`. The snapshot is taken after all of it.
pub fn estimate_heatmap(
    preset: &VenuePreset,
    grid: &PriceGrid,
    bars: &BarColumns,
    params: &EstimateParams,
) -> Result<Heatmap, Error> {
    let n = bars.high.len();
    for (name, len) in [
        ("low", bars.low.len()),
        ("open_price", bars.open_price.len()),
        ("open_interest", bars.oi_change.len()),
        ("long_share", bars.long_share.len()),
        ("open_interest", bars.oi_closed_fraction.len()),
    ] {
        if len != n {
            return Err(bad(name, len.min(n), format!("column has {len} rows, high has {n}")));
        }
    }
    if params.leverage.is_empty() || params.leverage.len() != params.weights.len() {
        return Err(config("leverage buckets", "need one weight per leverage, at least one".into()));
    }
    if params.leverage.iter().any(|l| !(l.is_finite() && *l >= 1.0)) {
        return Err(config("leverage buckets", format!("leverages must be ≥ 1, got {:?}", params.leverage)));
    }
    let weight_sum: f64 = params.weights.iter().sum();
    if params.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || (weight_sum - 1.0).abs() > 1e-9 {
        return Err(config("leverage weights", format!("must be ≥ 0 and sum to 1, got {:?}", params.weights)));
    }
    if !(params.position_notional.is_finite() && params.position_notional > 0.0) {
        return Err(config("position notional", format!("must be > 0, got {}", params.position_notional)));
    }
    for r in 0..n {
        let (h, l, p) = (bars.high[r], bars.low[r], bars.open_price[r]);
        if !(l.is_finite() && h.is_finite() && l > 0.0 && h >= l) {
            return Err(bad("low", r, format!("low {l} and high {h} must be finite, > 0, low ≤ high")));
        }
        if !(p.is_finite() && p > 0.0) {
            return Err(bad("close", r, format!("{p} must be a price > 0")));
        }
        if !bars.oi_change[r].is_finite() {
            return Err(bad("open_interest", r, "must be finite (no missing values)".into()));
        }
        if !(0.0..=1.0).contains(&bars.oi_closed_fraction[r]) {
            return Err(bad("open_interest", r, "the closed share of open interest must be in [0, 1]".into()));
        }
        let share = bars.long_share[r];
        if !(0.0..=1.0).contains(&share) {
            return Err(bad("long_share", r, format!("{share} must be in [0, 1]")));
        }
    }
    let m = grid.len();
    let mut longs = Book::new(m, true);
    let mut shorts = Book::new(m, false);
    let mut out = Heatmap {
        long: Vec::with_capacity(n * m),
        short: Vec::with_capacity(n * m),
        long_total: Vec::with_capacity(n),
        short_total: Vec::with_capacity(n),
    };
    let bucket_of = |price: f64| match grid.locate(price) {
        Located::In(i) => Some(i),
        _ => None,
    };
    for r in 0..n {
        longs.trade_through(bars.low[r], bars.high[r]);
        shorts.trade_through(bars.low[r], bars.high[r]);
        if let Some(lookback) = params.lookback {
            let oldest_kept = (r + 1).saturating_sub(lookback);
            longs.expire(oldest_kept);
            shorts.expire(oldest_kept);
        }
        let change = bars.oi_change[r];
        if change < 0.0 {
            match params.oi_decrease {
                OiDecrease::Proportional => {
                    let factor = 1.0 - bars.oi_closed_fraction[r];
                    longs.shrink(factor);
                    shorts.shrink(factor);
                }
                OiDecrease::Oldest => {
                    // Both sides lose in proportion to what they hold, oldest levels first.
                    let (lt, st) = (longs.total(), shorts.total());
                    if lt + st > 0.0 {
                        let removed = (-change).min(lt + st);
                        longs.remove_oldest(removed * lt / (lt + st));
                        shorts.remove_oldest(removed * st / (lt + st));
                    }
                }
                OiDecrease::Nearest => {
                    let price = bars.open_price[r];
                    let mut amount = -change;
                    while amount > 0.0 {
                        let long_side = match (longs.nearest_live(), shorts.nearest_live()) {
                            (None, None) => break,
                            (Some(_), None) => true,
                            (None, Some(_)) => false,
                            (Some((_, lp)), Some((_, sp))) => (price - lp).abs() <= (sp - price).abs(),
                        };
                        let book = if long_side { &mut longs } else { &mut shorts };
                        if let Some((idx, _)) = book.nearest_live() {
                            amount = book.take(idx, amount);
                        }
                    }
                }
            }
        } else if change > 0.0 {
            let price = bars.open_price[r];
            for (&leverage, &weight) in params.leverage.iter().zip(&params.weights) {
                let notional = change * weight;
                for (book, share, long) in
                    [(&mut longs, bars.long_share[r], true), (&mut shorts, 1.0 - bars.long_share[r], false)]
                {
                    if notional * share <= 0.0 {
                        continue;
                    }
                    if let Some(lp) = assumed_liquidation_price(preset, price, leverage, params.position_notional, long)
                    {
                        book.add(lp, bucket_of(lp), notional * share, r);
                    }
                }
            }
        }
        out.long.extend_from_slice(&longs.buckets);
        out.short.extend_from_slice(&shorts.buckets);
        out.long_total.push(longs.total());
        out.short_total.push(shorts.total());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::margin::{Rate, TierTable};
    use crate::venue::Venue;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    /// A one-tier preset: MMR 0.5 %, no maintenance amount, so liquidation prices are worked by hand.
    fn simple_preset() -> VenuePreset {
        VenuePreset::custom(Venue::Binance, "TEST", TierTable::single(Rate(500_000), 125).unwrap())
    }

    #[test]
    fn grid_locates_prices_at_edges() {
        let grid = PriceGrid::new(vec![100.0, 101.0, 102.0, 103.0]).unwrap();
        assert_eq!(grid.locate(99.99), Located::Below);
        assert_eq!(grid.locate(100.0), Located::In(0));
        assert_eq!(grid.locate(100.999), Located::In(0));
        assert_eq!(grid.locate(101.0), Located::In(1));
        assert_eq!(grid.locate(102.5), Located::In(2));
        assert_eq!(grid.locate(103.0), Located::Above);
        assert_eq!(grid.locate(f64::NAN), Located::Below);
        assert_eq!(grid.locate(f64::INFINITY), Located::Above);
        // Uneven grids use the binary search.
        let uneven = PriceGrid::new(vec![1.0, 2.0, 10.0]).unwrap();
        assert_eq!(uneven.locate(9.99), Located::In(1));
        assert!(PriceGrid::new(vec![1.0]).is_err());
        assert!(PriceGrid::new(vec![1.0, 1.0]).is_err());
        assert!(PriceGrid::new(vec![1.0, f64::NAN]).is_err());
    }

    #[test]
    fn exact_map_worked_by_hand() {
        // Binance formula with one tier (MMR 0.5 %, cum 0), REFERENCE §1:
        // long 1 @ 100, isolated margin 10 → LP = (10 − 100) / (0.005 − 1) = 90.452261…
        // short 2 @ 100, cross wallet 10 → LP = (10 + 200) / (0.01 + 2) = 104.477611…
        // flat row ignored; long 1 @ 100 with wallet 200 → no liquidation price.
        let preset = simple_preset();
        let cols = PositionColumns {
            size: &[1.0, -2.0, 0.0, 1.0],
            entry_price: &[100.0, 100.0, f64::NAN, 100.0],
            balance: &[0.0, 10.0, 5.0, 200.0],
            isolated: &[true, false, false, false],
            isolated_margin: Some(&[10.0, f64::NAN, f64::NAN, f64::NAN]),
            leverage: &[10.0, 10.0, 10.0, 10.0],
        };
        let lp = account_liquidation_prices(&preset, &cols).unwrap();
        assert!(close(lp[0], 90.0 / 0.995));
        assert!(close(lp[1], 210.0 / 2.01));
        assert!(lp[2].is_nan() && lp[3].is_nan());
        let grid = PriceGrid::new(vec![90.0, 95.0, 100.0, 105.0]).unwrap();
        let map = bucket_liquidations(&grid, &lp, cols.size, cols.entry_price).unwrap();
        assert!(close(map.long.notional[0], 90.0 / 0.995));
        assert_eq!(map.long.count, vec![1, 0, 0]);
        assert!(close(map.short.notional[2], 2.0 * 210.0 / 2.01));
        assert_eq!(map.short.qty, vec![0.0, 0.0, 2.0]);
        assert!(close(map.long.never, 100.0));
        // Default isolated margin = |size| × entry / leverage = 10: the same LP as row 0.
        let default = PositionColumns { isolated_margin: None, ..cols };
        assert!(close(account_liquidation_prices(&preset, &default).unwrap()[0], 90.0 / 0.995));
    }

    #[test]
    fn exact_map_rejects_bad_rows() {
        let preset = simple_preset();
        let cols = PositionColumns {
            size: &[1.0, 1.0],
            entry_price: &[100.0, -1.0],
            balance: &[10.0, 10.0],
            isolated: &[false, false],
            isolated_margin: None,
            leverage: &[10.0, 10.0],
        };
        let err = account_liquidation_prices(&preset, &cols).unwrap_err();
        assert!(matches!(err, Error::BadInput { column: "entry_price", row: 1, .. }));
    }

    /// The three-bar example of tests/test_analysis_estimate.py, worked by hand there too.
    /// One tier MMR 0.5 %, leverage 10x only; an assumed isolated position at price P has
    /// long LP = P (1 − 0.1) / (1 − 0.005) = P × 0.9 / 0.995 and short LP = P × 1.1 / 1.005.
    #[test]
    fn three_bar_estimate() {
        let preset = simple_preset();
        let grid = PriceGrid::new((0..=50).map(|i| 80.0 + i as f64).collect()).unwrap();
        let params = EstimateParams {
            leverage: vec![10.0],
            weights: vec![1.0],
            position_notional: 1_000.0,
            oi_decrease: OiDecrease::Proportional,
            lookback: None,
        };
        // Bar 0: baseline. Bar 1: +1,000 opened at 100, all long (green candle): a long level at
        // 90.4523. Bar 2: closes at 110 opening +2,000 short at 110 → LP 120.398, low 95 does not
        // reach the long level. Bar 3: low 90 trades through the long level (90.45 ≥ 90); then
        // three quarters of open interest closes: the short keeps 2,000 × (1 − 0.75) = 500.
        let bars = BarColumns {
            high: &[101.0, 101.0, 111.0, 100.0],
            low: &[99.0, 99.0, 95.0, 90.0],
            open_price: &[100.0, 100.0, 110.0, 92.0],
            oi_change: &[0.0, 1_000.0, 2_000.0, -6_000.0],
            oi_closed_fraction: &[0.0, 0.0, 0.0, 0.75],
            long_share: &[0.5, 1.0, 0.0, 0.0],
        };
        let out = estimate_heatmap(&preset, &grid, &bars, &params).unwrap();
        let m = grid.len();
        let long_lp = 100.0 * 0.9 / 0.995;
        let short_lp = 110.0 * 1.1 / 1.005;
        // 90.4523 is in bucket 10 ([90, 91)); 120.398 in bucket 40 ([120, 121)).
        let (lb, sb) = (10, 40);
        assert_eq!(grid.locate(long_lp), Located::In(lb));
        assert_eq!(grid.locate(short_lp), Located::In(sb));
        assert!(close(out.short[2 * m + sb], 2_000.0));
        assert!(close(out.short[3 * m + sb], 500.0));
        assert!(out.long[..m].iter().all(|&x| x == 0.0));
        assert!(close(out.long[m + lb], 1_000.0));
        assert!(close(out.long[2 * m + lb], 1_000.0));
        assert!(close(out.long_total[2], 1_000.0));
        assert!(close(out.short_total[2], 2_000.0));
        assert_eq!(out.long[3 * m + lb], 0.0);
        assert!(close(out.short_total[3], 500.0));
    }

    /// FIFO decrease: the oldest level goes first, the next one partly.
    #[test]
    fn oldest_first_decrease() {
        let preset = simple_preset();
        let grid = PriceGrid::new((0..=50).map(|i| 80.0 + i as f64).collect()).unwrap();
        let params = EstimateParams {
            leverage: vec![10.0],
            weights: vec![1.0],
            position_notional: 1_000.0,
            oi_decrease: OiDecrease::Oldest,
            lookback: None,
        };
        // Two longs (1,000 at 100 → 90.45, then 1,000 at 105 → 94.97), then −1,500: the first
        // goes whole, the second keeps 500.
        let bars = BarColumns {
            high: &[101.0, 101.0, 106.0, 106.0],
            low: &[99.0, 99.0, 104.0, 104.0],
            open_price: &[100.0, 100.0, 105.0, 105.0],
            oi_change: &[0.0, 1_000.0, 1_000.0, -1_500.0],
            oi_closed_fraction: &[0.0, 0.0, 0.0, 0.75],
            long_share: &[1.0, 1.0, 1.0, 1.0],
        };
        let out = estimate_heatmap(&preset, &grid, &bars, &params).unwrap();
        let m = grid.len();
        assert!(close(out.long_total[3], 500.0));
        assert_eq!(out.long[3 * m + 10], 0.0);
        assert!(close(out.long[3 * m + 14], 500.0)); // 94.97 in [94, 95)
    }

    /// Nearest-first decrease: the level closest to the bar's price goes first, either side.
    #[test]
    fn nearest_first_decrease() {
        let preset = simple_preset();
        let grid = PriceGrid::new((0..=50).map(|i| 80.0 + i as f64).collect()).unwrap();
        let params = EstimateParams {
            leverage: vec![10.0],
            weights: vec![1.0],
            position_notional: 1_000.0,
            oi_decrease: OiDecrease::Nearest,
            lookback: None,
        };
        // Bar 1 opens 1,000 long at 100 (90.45) and 1,000 short (109.45); bar 2 closes at 102:
        // the short is 7.45 away, the long 11.55. −1,500 takes the short whole and 500 of the long.
        let bars = BarColumns {
            high: &[101.0, 101.0, 102.5],
            low: &[99.0, 99.0, 101.5],
            open_price: &[100.0, 100.0, 102.0],
            oi_change: &[0.0, 2_000.0, -1_500.0],
            oi_closed_fraction: &[0.0, 0.0, 0.75],
            long_share: &[0.5, 0.5, 0.5],
        };
        let out = estimate_heatmap(&preset, &grid, &bars, &params).unwrap();
        assert!(close(out.long_total[2], 500.0));
        assert_eq!(out.short_total[2], 0.0);
    }

    proptest! {
        /// On any bars: buckets are never negative, never hold more than the live total, and the
        /// live total never exceeds the notional ever opened.
        #[test]
        fn estimate_stays_within_what_was_opened(
            bars in prop::collection::vec((90.0f64..110.0, 0.0f64..0.05, -500.0f64..1_000.0, 0.0f64..=1.0), 1..80),
            mode in 0usize..3, lookback in prop::option::of(1usize..20),
        ) {
            let preset = simple_preset();
            let grid = PriceGrid::new((0..=80).map(|i| 60.0 + i as f64).collect()).unwrap();
            let open: Vec<f64> = bars.iter().map(|b| b.0).collect();
            let high: Vec<f64> = bars.iter().map(|b| b.0 * (1.0 + b.1)).collect();
            let low: Vec<f64> = bars.iter().map(|b| b.0 * (1.0 - b.1)).collect();
            let change: Vec<f64> = bars.iter().map(|b| b.2).collect();
            let closed: Vec<f64> = change.iter().map(|&c| if c < 0.0 { 0.3 } else { 0.0 }).collect();
            let share: Vec<f64> = bars.iter().map(|b| b.3).collect();
            let params = EstimateParams {
                leverage: vec![5.0, 25.0, 100.0],
                weights: vec![0.5, 0.3, 0.2],
                position_notional: 10_000.0,
                oi_decrease: [OiDecrease::Proportional, OiDecrease::Oldest, OiDecrease::Nearest][mode],
                lookback,
            };
            let cols = BarColumns { high: &high, low: &low, open_price: &open, oi_change: &change,
                                    oi_closed_fraction: &closed, long_share: &share };
            let out = estimate_heatmap(&preset, &grid, &cols, &params).unwrap();
            let m = grid.len();
            let mut opened = 0.0;
            for (r, &c) in change.iter().enumerate() {
                opened += c.max(0.0);
                let (l, s) = (&out.long[r * m..(r + 1) * m], &out.short[r * m..(r + 1) * m]);
                prop_assert!(l.iter().chain(s).all(|&x| x >= 0.0));
                prop_assert!(l.iter().sum::<f64>() <= out.long_total[r] * (1.0 + 1e-9) + 1e-9);
                prop_assert!(s.iter().sum::<f64>() <= out.short_total[r] * (1.0 + 1e-9) + 1e-9);
                prop_assert!(out.long_total[r] + out.short_total[r] <= opened * (1.0 + 1e-9) + 1e-9);
            }
        }

        /// The bucket sums equal a plain scan: every position counted once, in the bucket whose
        /// edges hold its liquidation price, or in below / above / never.
        #[test]
        fn buckets_equal_brute_force(
            rows in prop::collection::vec((-50.0f64..50.0, 50.0f64..150.0, 0.0f64..2_000.0, any::<bool>()), 0..60),
            lo in 60.0f64..100.0, width in 0.5f64..10.0, buckets in 1usize..30,
        ) {
            let preset = simple_preset();
            let size: Vec<f64> = rows.iter().map(|r| r.0).collect();
            let entry: Vec<f64> = rows.iter().map(|r| r.1).collect();
            let balance: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let isolated: Vec<bool> = rows.iter().map(|r| r.3).collect();
            let leverage = vec![10.0; rows.len()];
            let cols = PositionColumns { size: &size, entry_price: &entry, balance: &balance, isolated: &isolated,
                                         isolated_margin: Some(&balance), leverage: &leverage };
            let lp = account_liquidation_prices(&preset, &cols).unwrap();
            let edges: Vec<f64> = (0..=buckets).map(|i| lo + i as f64 * width).collect();
            let grid = PriceGrid::new(edges.clone()).unwrap();
            let map = bucket_liquidations(&grid, &lp, &size, &entry).unwrap();
            let mut total = 0.0;
            for b in 0..buckets {
                let (mut long, mut short) = (0.0, 0.0);
                for r in 0..rows.len() {
                    let p = preset.liquidation_price(size[r], entry[r], balance[r]).unwrap_or(f64::NAN);
                    if p >= edges[b] && p < edges[b + 1] {
                        if size[r] > 0.0 { long += size[r] * p } else if size[r] < 0.0 { short -= size[r] * p }
                    }
                }
                prop_assert!((map.long.notional[b] - long).abs() <= 1e-9 * long.max(1.0));
                prop_assert!((map.short.notional[b] - short).abs() <= 1e-9 * short.max(1.0));
                total += long + short;
            }
            let all: f64 = map.long.notional.iter().chain(&map.short.notional).sum();
            prop_assert!((all - total).abs() <= 1e-9 * total.max(1.0));
        }
    }
}
