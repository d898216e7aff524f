//! Accounts and positions: exact bookkeeping of wallets, one-way positions and their margin.
//!
//! A position keeps its signed size in lots and its *cost basis* in money (the entry notional of
//! what is still open). Average entry = cost / size. Reducing releases cost pro rata, rounded down,
//! and the rounding remainder stays in the cost basis: the basis released over a position's life is
//! exactly what was paid in, so Σ (realised + unrealised PnL) over all accounts is exactly zero at
//! any common mark. That is what makes money conservation hold to the last unit.

use serde::{Deserialize, Serialize};

use crate::margin::{div_round, NotionalScale, Rounding, TierTable};
use crate::types::{wide_to_f64, Money, Price, Qty, TraderId};

/// Cross: the whole wallet backs the position. Isolated: only the margin put aside for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum MarginMode {
    Cross = 0,
    Isolated = 1,
}

/// A one-way position in one instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    /// Signed size in lots: > 0 long, < 0 short.
    pub lots: Qty,
    /// Entry notional of the open size, in money (≥ 0; 0 when flat).
    pub cost: Money,
}

impl Position {
    pub fn is_flat(&self) -> bool {
        self.lots == 0
    }

    /// +1 long, −1 short, 0 flat.
    pub fn sign(&self) -> i64 {
        self.lots.signum()
    }

    /// Average entry price in ticks (fractional), NaN when flat.
    pub fn entry_ticks(&self, scale: NotionalScale) -> f64 {
        if self.lots == 0 {
            return f64::NAN;
        }
        wide_to_f64(self.cost.0) / (self.lots.unsigned_abs() as f64 * wide_to_f64(scale.money_per_tick_lot()))
    }

    /// Notional at `price` ticks, in money (≥ 0).
    pub fn notional(&self, price: Price, scale: NotionalScale) -> Money {
        Money(self.lots.unsigned_abs() as i128 * price as i128 * scale.money_per_tick_lot())
    }

    /// Unrealised PnL at `price` ticks.
    pub fn unrealized(&self, price: Price, scale: NotionalScale) -> Money {
        self.unrealized_at_value(self.notional(price, scale))
    }

    /// Unrealised PnL when the position's notional is `value` (what [`Self::notional`] gives).
    #[inline]
    pub fn unrealized_at_value(&self, value: Money) -> Money {
        Money(self.sign() as i128 * (value.0 - self.cost.0))
    }

    /// Apply a fill of `signed_lots` (+ buy, − sell) at `price` ticks; returns the realised PnL.
    pub fn fill(&mut self, signed_lots: Qty, price: Price, scale: NotionalScale) -> Money {
        let value = Money(signed_lots.unsigned_abs() as i128 * price as i128 * scale.money_per_tick_lot());
        self.fill_value(signed_lots, value)
    }

    /// Apply a fill of `signed_lots` worth `value` in total (its notional: any amount, not only
    /// a whole number of ticks — loaded positions enter at arbitrary average prices); returns the
    /// realised PnL. Splitting `value` between the part that closes and the part that opens rounds
    /// down on the closing part and gives the remainder to the opening part, so value is never lost.
    pub fn fill_value(&mut self, signed_lots: Qty, value: Money) -> Money {
        if signed_lots == 0 {
            return Money::ZERO;
        }
        if self.lots == 0 || self.lots.signum() == signed_lots.signum() {
            self.lots += signed_lots;
            self.cost += value;
            return Money::ZERO;
        }
        let open = self.lots.unsigned_abs() as i128;
        let size = signed_lots.unsigned_abs() as i128;
        let closing = size.min(open);
        // Pro-rata release of the basis, rounded down; when closing everything it is exact.
        // (`cost × closing` alone would overflow an i128 for a 10^30 cost: see `mul_div_floor`.)
        let released = Money(mul_div_floor(self.cost.0, closing, open));
        let closing_value = Money(mul_div_floor(value.0, closing, size));
        let realized = Money(self.sign() as i128 * (closing_value.0 - released.0));
        self.cost -= released;
        self.lots -= self.sign() * closing as i64;
        if size > closing {
            debug_assert_eq!(self.cost, Money::ZERO);
            self.lots = signed_lots.signum() * (size - closing) as i64;
            self.cost = value - closing_value;
        }
        realized
    }
}

/// `⌊a × b / c⌋` for `a ≥ 0` and `0 ≤ b ≤ c`, `c > 0` lots, without forming `a × b`: with
/// `a = q·c + r`, it is `q·b + ⌊r·b / c⌋`, where `q·b ≤ a` and `r·b < c² < 2^127` for any `c` that
/// is a lot count (< 2^63). Exact for every money amount an `i128` holds.
///
/// Fast paths, the same result: closing everything (`b == c`) releases all of `a`; and when `a`
/// fits a `u64` and `c` a `u32`, `r·b < c² < 2^64`, so it is all hardware `u64` arithmetic.
fn mul_div_floor(a: i128, b: i128, c: i128) -> i128 {
    debug_assert!(a >= 0 && (0..=c).contains(&b) && c > 0);
    if b == c {
        return a;
    }
    if let (Ok(a), Ok(b), Ok(c)) = (u64::try_from(a), u32::try_from(b), u32::try_from(c)) {
        let (b, c) = (u64::from(b), u64::from(c));
        let (q, r) = (a / c, a % c);
        return i128::from(q) * i128::from(b) + i128::from(r * b / c);
    }
    mul_div_floor_wide(a, b, c)
}

#[cold]
#[inline(never)]
fn mul_div_floor_wide(a: i128, b: i128, c: i128) -> i128 {
    let (q, r) = (a / c, a % c);
    q * b + r * b / c
}

/// A trader's account in one instrument (the multi-instrument cross margin of the design extends
/// `position` to a list; v1 has one instrument).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: TraderId,
    /// Cross: the wallet backing the position. Isolated: the wallet *outside* the isolated margin.
    pub wallet: Money,
    /// Isolated mode: margin put aside for the position (PnL, fees and funding settle here while the
    /// position is open; it returns to the wallet when the position is closed).
    pub isolated_margin: Money,
    pub mode: MarginMode,
    pub position: Position,
    /// Leverage setting for new orders (initial margin = notional / leverage).
    pub leverage: u32,
    /// Where the account sits in the liquidation trigger index (kept here, next to the state it
    /// is computed from).
    pub trigger: Option<crate::liquidation::Trigger>,
    pub realized_pnl: Money,
    /// Liquidated at least once.
    pub liquidated: bool,
    /// Never margin-checked, liquidated or deleveraged: background liquidity and the backstop.
    pub exempt: bool,
    /// A leg of a cross account holding several instruments of a
    /// [`crate::multi::MultiExchange`]; `false`: an account of one instrument (everything behaves
    /// as before). Not in snapshots: an exchange holding legs refuses to be snapshotted on its own.
    #[serde(skip)]
    pub leg: bool,
    /// On a leg, what the account's other legs add to this one's cross collateral: their equity
    /// less their maintenance margin ([`OtherLegs::net`]); zero on an account of one instrument.
    /// One sum rather than both figures: every account of every market carries the field, and a
    /// million accounts are 32 MB smaller for it (the budget is 200 bytes per account).
    #[serde(skip)]
    pub others: Money,
}

// Every account of every market is one of these: 128 bytes keeps a million accounts (with their
// index entries and lookups) under the 200 MB budget (`benches/liquidation.rs` prints the
// figure). A field that would grow it fails the build; think twice, or put it beside.
const _: () = assert!(std::mem::size_of::<Account>() <= 128);

/// The rest of a multi-instrument cross account, seen from one leg: Σ over the other legs `j` of
/// their sub-wallet plus unrealised PnL at mark `j` (`equity`) and of their maintenance margin at
/// mark `j` (`maintenance`): Binance's `UPNL1` (with the other sub-wallets) and `TMM1`
/// (REFERENCE §1). Adding `equity − maintenance` to the leg's cross collateral makes the leg's
/// condition `mb_i + equity − maintenance ≤ MM_i` the account's `WB + ΣUPNL ≤ ΣMM`, so the trigger
/// and bankruptcy prices below are Binance's cross formula with `TMM1`/`UPNL1`, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OtherLegs {
    pub equity: Money,
    pub maintenance: Money,
}

impl OtherLegs {
    /// What the other legs add to a leg's collateral: `equity − maintenance` (kept in
    /// [`Account::others`]).
    pub fn net(self) -> Money {
        self.equity - self.maintenance
    }
}

impl Account {
    pub fn new(id: TraderId, wallet: Money, mode: MarginMode, leverage: u32) -> Account {
        Account {
            id,
            wallet,
            isolated_margin: Money::ZERO,
            mode,
            position: Position::default(),
            leverage,
            trigger: None,
            realized_pnl: Money::ZERO,
            liquidated: false,
            exempt: false,
            leg: false,
            others: Money::ZERO,
        }
    }

    /// The money that backs the position: the wallet (cross) or the isolated margin. A leg of a
    /// multi-instrument cross account also counts the other legs' equity less their maintenance
    /// margin ([`OtherLegs`]).
    pub fn collateral(&self) -> Money {
        match self.mode {
            // Zero unless a leg.
            MarginMode::Cross => self.wallet + self.others,
            MarginMode::Isolated => self.isolated_margin,
        }
    }

    /// Add (or, negative, take) money where the position's PnL settles: the isolated margin while
    /// an isolated position is open, the wallet otherwise.
    pub fn credit(&mut self, amount: Money) {
        match self.mode {
            MarginMode::Isolated if !self.position.is_flat() => self.isolated_margin += amount,
            _ => self.wallet += amount,
        }
    }

    /// Everything the account holds: wallet plus isolated margin.
    pub fn total_balance(&self) -> Money {
        self.wallet + self.isolated_margin
    }

    /// Margin balance at `mark`: collateral + unrealised PnL.
    pub fn margin_balance(&self, mark: Price, scale: NotionalScale) -> Money {
        self.collateral() + self.position.unrealized(mark, scale)
    }

    /// Maintenance margin at `mark` (tier of the notional at that price).
    pub fn maintenance_margin(&self, mark: Price, scale: NotionalScale, tiers: &TierTable) -> Money {
        if self.position.is_flat() {
            return Money::ZERO;
        }
        tiers.maintenance_margin(self.position.notional(mark, scale)).unwrap_or(Money(i128::MAX))
    }

    /// Total balance plus unrealised PnL at `mark`, and the maintenance margin there (as
    /// [`Self::maintenance_margin`]), from one computation of the notional: a venue prices every
    /// leg of an account this way. A flat position has neither PnL nor maintenance margin.
    #[inline]
    pub fn value_and_maintenance(&self, mark: Price, scale: NotionalScale, tiers: &TierTable) -> (Money, Money) {
        if self.position.is_flat() {
            return (self.total_balance(), Money::ZERO);
        }
        let notional = self.position.notional(mark, scale);
        let mm = tiers.maintenance_margin(notional).unwrap_or(Money(i128::MAX));
        (self.total_balance() + self.position.unrealized_at_value(notional), mm)
    }

    /// Liquidatable at `mark`: a position whose margin balance is at or below maintenance.
    pub fn liquidatable(&self, mark: Price, scale: NotionalScale, tiers: &TierTable) -> bool {
        !self.exempt
            && !self.position.is_flat()
            && self.margin_balance(mark, scale) <= self.maintenance_margin(mark, scale, tiers)
    }

    /// When the isolated position is flat again its margin goes back to the wallet.
    pub fn release_isolated_if_flat(&mut self) {
        if self.mode == MarginMode::Isolated && self.position.is_flat() {
            self.wallet += self.isolated_margin;
            self.isolated_margin = Money::ZERO;
        }
    }
}

/// The mark price (ticks) at which an account becomes liquidatable: for a long, the highest price
/// at or below which it is liquidatable; for a short, the lowest at or above which it is.
/// `None`: flat, exempt, or no such price (a long that survives a price of one tick; a short whose
/// threshold lies beyond `i64`).
///
/// A float estimate from the closed form (tier iterated) is corrected by exact evaluation of the
/// condition, so the result agrees with [`Account::liquidatable`] to the tick.
pub fn trigger_price(account: &Account, scale: NotionalScale, tiers: &TierTable) -> Option<Price> {
    if account.exempt || account.position.is_flat() {
        return None;
    }
    let long = account.position.lots > 0;
    let liq = |p: Price| account.liquidatable(p, scale, tiers);
    let ceiling = search_ceiling(scale);
    // Most accounts a fill refreshes (makers, the well funded) have no threshold at all: one
    // evaluation at the end where the threshold would have to be says so, before any estimate.
    // The other end is left to the search, which only evaluates it if it gallops there.
    let guess = || (trigger_estimate(account, scale, tiers).clamp(1.0, ceiling as f64) as Price).clamp(1, ceiling);
    if long {
        // Largest p with liq(p); liq is monotone (true at and below the threshold). None: not
        // liquidatable even at one tick.
        if !liq(1) {
            return None;
        }
        last_true(guess(), ceiling, liq)
    } else {
        // Smallest p with liq(p) (true at and above the threshold): one above the largest p
        // without. None: not liquidatable even at the ceiling; 1: at every price.
        if !liq(ceiling) {
            return None;
        }
        match last_true(guess(), ceiling, |p| !liq(p)) {
            None => Some(1),
            Some(p) => Some(p + 1),
        }
    }
}

/// Highest price (ticks) the threshold search considers: far above any real market, low enough
/// that notional × rate stays inside `i128` for any allowed position.
pub const PRICE_CEILING: Price = 1 << 50;

/// The search's ceiling for a market: an eighth above its largest price (the mark can exceed the
/// largest index by the funding-basis term), so that the notional of any position within the limits
/// stays ≤ 1.125·10^30 money units there and its maintenance margin (notional × MMR) fits an `i128`.
/// A short whose threshold is above it is never liquidatable at a mark the market can reach.
fn search_ceiling(scale: NotionalScale) -> Price {
    let max = crate::limits::max_price(scale);
    (max + max / 8 + 1).min(PRICE_CEILING)
}

/// The largest `p` in `[1, ceiling]` with `pred(p)`, for a `pred` true up to some point and
/// false above it; `None` when `pred(1)` is false. Starts at `guess` (in `[1, ceiling]`), gallops
/// out to bracket the boundary, then bisects. The ends are evaluated only when the gallop gets
/// there, so a guess next to the boundary costs two evaluations (every fill refreshes the
/// triggers of both sides, and most estimates are within a tick).
fn last_true(guess: Price, ceiling: Price, pred: impl Fn(Price) -> bool) -> Option<Price> {
    let (mut lo, mut hi); // pred(lo) true, pred(hi) false
    let mut step = 1;
    if pred(guess) {
        lo = guess;
        loop {
            if lo == ceiling {
                return Some(ceiling);
            }
            let next = (lo + step).min(ceiling);
            if !pred(next) {
                hi = next;
                break;
            }
            lo = next;
            step *= 2;
        }
    } else {
        hi = guess;
        loop {
            if hi == 1 {
                return None;
            }
            let next = (hi - step).max(1);
            if pred(next) {
                lo = next;
                break;
            }
            hi = next;
            step *= 2;
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// Closed-form threshold in ticks (float): collateral + upnl(P) = MMR·notional(P) − cum, with the
/// tier of the notional at the solution (iterated a few times).
fn trigger_estimate(account: &Account, scale: NotionalScale, tiers: &TierTable) -> f64 {
    let m = wide_to_f64(scale.money_per_tick_lot());
    let lots = account.position.lots.unsigned_abs() as f64;
    let cost = wide_to_f64(account.position.cost.0);
    let collateral = wide_to_f64(account.collateral().0);
    let long = account.position.lots > 0;
    let mut tier = tiers.tier_for(Money(account.position.cost.0));
    let mut p = 0.0;
    for _ in 0..8 {
        let mmr = tier.mmr.to_f64();
        let cum = wide_to_f64(tier.cum.0);
        p = if long {
            (cost - collateral - cum) / (lots * m * (1.0 - mmr))
        } else {
            (collateral + cost + cum) / (lots * m * (1.0 + mmr))
        };
        // (A float below 2^63 converts through i64 in one instruction; the same truncation.)
        let notional = (p.max(0.0) * lots * m).min(1e38);
        let notional = if notional < 9.2e18 { notional as i64 as i128 } else { notional as i128 };
        let next = tiers.tier_for(Money(notional));
        if next == tier {
            break;
        }
        tier = next;
    }
    if p.is_finite() {
        p
    } else {
        1.0
    }
}

/// Bankruptcy price in ticks: where the margin balance reaches zero, rounded toward the price at
/// which the account still has a little left (up for a long, down for a short), so a close at this
/// price never leaves a negative balance by rounding. `None` when flat, when no positive price
/// bankrupts a long, or when a short is bankrupt at every price.
pub fn bankruptcy_price(account: &Account, scale: NotionalScale) -> Option<Price> {
    let pos = account.position;
    if pos.is_flat() {
        return None;
    }
    let per_tick = pos.lots.unsigned_abs() as i128 * scale.money_per_tick_lot();
    let collateral = account.collateral().0;
    let price = if pos.lots > 0 {
        // cost − collateral = lots·m·P  →  P = ceil((cost − collateral) / (lots·m))
        let num = pos.cost.0 - collateral;
        if num <= 0 {
            return None;
        }
        div_round(num, per_tick, Rounding::Up)
    } else {
        // collateral + cost = lots·m·P  →  P = floor(...); at or below zero the short is bankrupt
        // at every price (its collateral went below −cost): there is no bankruptcy price.
        div_round(collateral + pos.cost.0, per_tick, Rounding::Down)
    };
    i64::try_from(price).ok().filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_true_finds_the_boundary_from_any_guess() {
        // pred = p ≤ t on [1, 20], for every threshold (none, at the ends, inside) and guess.
        let ceiling = 20;
        for t in 0..=ceiling {
            let expected = (t >= 1).then_some(t);
            for guess in 1..=ceiling {
                let calls = std::cell::Cell::new(0);
                let found = last_true(guess, ceiling, |p| {
                    assert!((1..=ceiling).contains(&p), "asked outside the range: {p}");
                    calls.set(calls.get() + 1);
                    p <= t
                });
                assert_eq!(found, expected, "threshold {t}, guess {guess}");
                if guess == t || (guess == t + 1 && t >= 1) {
                    assert!(calls.get() <= 2, "a guess next to the boundary took {} evaluations", calls.get());
                }
            }
        }
    }

    #[test]
    fn pro_rata_release_does_not_overflow_on_large_costs() {
        // Issue 8 (found by the extreme-value property): a cost of 3.2e28 units released for
        // 6.1e10 lots formed cost × lots = 2e39 > i128::MAX and wrapped.
        assert_eq!(mul_div_floor(7, 2, 3), 4); // 14 / 3
        let cost: i128 = 32_480_812_304_000_000_000_000_000_000;
        let lots: i128 = 61_492_000_000;
        assert_eq!(mul_div_floor(cost, lots, lots), cost);
        assert_eq!(mul_div_floor(cost, lots / 2, lots), cost / 2);
        assert_eq!(mul_div_floor(i128::MAX, 1, 3), i128::MAX / 3);
        // The fast paths agree with the wide one around their edges.
        let edges =
            [0i128, 1, 7, u32::MAX as i128 - 1, u32::MAX as i128, u32::MAX as i128 + 1, u64::MAX as i128, 1 << 70];
        for &a in &edges {
            for &c in edges.iter().filter(|&&c| c > 0 && c <= i128::from(i64::MAX)) {
                for b in [0, 1, c / 3, c - 1, c] {
                    assert_eq!(mul_div_floor(a, b, c), mul_div_floor_wide(a, b, c), "{a} {b} {c}");
                }
            }
        }
        let mut p = Position { lots: -61_492_000_000, cost: Money(cost) };
        let scale = NotionalScale::from_sizes(0.01, 0.001).unwrap();
        let realized = p.fill(61_492_000_000, 55_336_495_238, scale);
        assert_eq!(p, Position::default());
        // Short at cost, bought back at 55,336,495,238 ticks × 10^7 per tick·lot.
        assert_eq!(realized.0, cost - 61_492_000_000 * 55_336_495_238 * 10_000_000);
    }
    use crate::margin::{Rate, TierSpec};
    use crate::MONEY_SCALE;

    /// 0.01 tick × 0.001 lot: 10^7 money units per tick·lot.
    fn scale() -> NotionalScale {
        NotionalScale::from_sizes(0.01, 0.001).unwrap()
    }

    fn usdt(x: f64) -> Money {
        Money::from_f64(x)
    }

    /// One tier: MMR 1%, cum 0, max 100x.
    fn flat_tiers() -> TierTable {
        TierTable::single(Rate(1_000_000), 100).unwrap()
    }

    #[test]
    fn fills_track_entry_and_realise_pnl_exactly() {
        let s = scale();
        let mut p = Position::default();
        // Buy 2 ETH (2000 lots) at 3,000.00, then 1 ETH at 3,030.00: entry 3,010.00.
        assert_eq!(p.fill(2000, 300_000, s), Money::ZERO);
        assert_eq!(p.fill(1000, 303_000, s), Money::ZERO);
        assert_eq!(p.cost, usdt(9_030.0));
        assert_eq!(p.entry_ticks(s), 301_000.0);
        // Sell 1.5 ETH at 3,100.00: realised (3,100 − 3,010) × 1.5 = 135.
        assert_eq!(p.fill(-1500, 310_000, s), usdt(135.0));
        assert_eq!((p.lots, p.cost), (1500, usdt(4_515.0)));
        // Sell 2.5 ETH at 2,990.00: closes 1.5 (realised −30) and opens 1 ETH short at 2,990.
        assert_eq!(p.fill(-2500, 299_000, s), usdt(-30.0));
        assert_eq!((p.lots, p.cost), (-1000, usdt(2_990.0)));
        // Short unrealised at 2,900.00: +90.
        assert_eq!(p.unrealized(290_000, s), usdt(90.0));
    }

    #[test]
    fn rounding_remainder_stays_in_the_basis() {
        let s = scale();
        let mut p = Position::default();
        // 3 lots with a basis that does not divide by 3: entries 100.00, 100.00, 100.01.
        p.fill(2, 10_000, s);
        p.fill(1, 10_001, s);
        let total_cost = p.cost;
        let mut released_sum = Money::ZERO;
        for _ in 0..3 {
            let before = p.cost;
            p.fill(-1, 10_000, s);
            released_sum += before - p.cost;
        }
        // Released basis adds up to exactly what was paid, whatever the rounding on the way.
        assert_eq!(released_sum, total_cost);
        assert_eq!(p, Position::default());
    }

    #[test]
    fn liquidation_threshold_matches_the_condition_to_the_tick() {
        let s = scale();
        let tiers = flat_tiers();
        // Short 1 ETH at 3,000 with 60 USDT (50x). Liquidatable when 60 + 3000 − P ≤ 0.01·P,
        // P ≥ 3060 / 1.01 = 3,029.7029… → first tick 3,029.71.
        let mut a = Account::new(TraderId(1), usdt(60.0), MarginMode::Cross, 50);
        a.position.fill(-1000, 300_000, s);
        assert_eq!(trigger_price(&a, s, &tiers), Some(302_971));
        assert!(a.liquidatable(302_971, s, &tiers));
        assert!(!a.liquidatable(302_970, s, &tiers));
        // Bankruptcy: 60 + 3000 − P = 0 → 3,060.00.
        assert_eq!(bankruptcy_price(&a, s), Some(306_000));
        // Long 1 ETH at 3,000 with 60: 60 + P − 3000 ≤ 0.01 P → P ≤ 2940/0.99 = 2,969.6969… → 2,969.69.
        let mut b = Account::new(TraderId(2), usdt(60.0), MarginMode::Cross, 50);
        b.position.fill(1000, 300_000, s);
        assert_eq!(trigger_price(&b, s, &tiers), Some(296_969));
        assert_eq!(bankruptcy_price(&b, s), Some(294_000));
        // Isolated: only the isolated margin counts.
        let mut c = Account::new(TraderId(3), usdt(1_000_000.0), MarginMode::Isolated, 50);
        c.isolated_margin = usdt(60.0);
        c.position.fill(-1000, 300_000, s);
        assert_eq!(trigger_price(&c, s, &tiers), Some(302_971));
        // Fully collateralised long (1x): never liquidatable at any positive price.
        let mut d = Account::new(TraderId(4), usdt(3_000.0), MarginMode::Cross, 1);
        d.position.fill(1000, 300_000, s);
        assert_eq!(trigger_price(&d, s, &tiers), None);
        assert_eq!(bankruptcy_price(&d, s), None);
    }

    #[test]
    fn threshold_uses_the_tier_at_the_liquidation_price() {
        // BTC-like tiers: 0–50k 0.4%, 50k–600k 0.5% cum 50. A short of 1 BTC (1000 lots of 0.001 at
        // tick 0.1) entered at 49,000 with 1,500 USDT: at the threshold the notional is above 50k.
        let s = NotionalScale::from_sizes(0.1, 0.001).unwrap();
        let tiers = TierTable::new(&[
            TierSpec { floor: Money::ZERO, cap: usdt(50_000.0), mmr: Rate(400_000), max_leverage: 125, cum: None },
            TierSpec { floor: usdt(50_000.0), cap: usdt(600_000.0), mmr: Rate(500_000), max_leverage: 100, cum: None },
        ])
        .unwrap();
        let mut a = Account::new(TraderId(1), usdt(1_500.0), MarginMode::Cross, 50);
        a.position.fill(-1000, 490_000, s);
        // Tier 2: 1500 + 49000 − P = 0.005·P − 50 → P = 50550 / 1.005 = 50,298.507… → 50,298.6
        let t = trigger_price(&a, s, &tiers).unwrap();
        assert_eq!(t, 502_986);
        assert!(a.liquidatable(t, s, &tiers) && !a.liquidatable(t - 1, s, &tiers));
        assert_eq!(a.maintenance_margin(t, s, &tiers).0, 50_298_600 * MONEY_SCALE / 1000 * 5 / 1000 - 50 * MONEY_SCALE);
    }
}
