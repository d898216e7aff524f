//! Tier tables, maintenance margin, and liquidation / bankruptcy prices.
//!
//! The same rules are offered in two views:
//! - **exact**: notional, PnL and maintenance margin as [`Money`] from integer ticks and lots
//!   ([`NotionalScale`], [`TierTable::maintenance_margin`], [`position_maintenance_margin`]). The engine
//!   decides who is liquidatable and moves money with these, so conservation and determinism hold.
//! - **closed form**: liquidation and bankruptcy prices as `f64`, one function per venue formula
//!   (shared/REFERENCE.md sections 1–4). They are thresholds reported to users and vectorised to
//!   Python; they never move money. Sizes are signed base units (> 0 long, < 0 short), prices and
//!   money in quote currency, rates as fractions (0.004 = 0.40 %).
//!
//! A formula that gives a negative price returns `None`: the position is never liquidated (or never
//! bankrupt) by a price move.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::types::{Money, Price, Qty, MONEY_SCALE};

// ---------------------------------------------------------------------------------------------
// Rates and integer rounding
// ---------------------------------------------------------------------------------------------

/// Rates (MMR, fees, funding) are integers in parts per [`RATE_SCALE`] = 10^8.
pub const RATE_SCALE: i64 = 100_000_000;

/// A dimensionless rate in parts per 10^8: `Rate(400_000)` is 0.40 %, `Rate(10_000)` is 0.01 %.
///
/// 10^8 is the precision venues publish rates with (Binance funding rates carry 8 decimals) and keeps
/// every tier MMR and fee of the presets exact, so `notional × rate` in [`Money`] is exact up to the
/// one documented rounding of each use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Rate(pub i64);

/// How an exact division is rounded to a whole unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Toward +∞ (ceiling).
    Up,
    /// Toward −∞ (floor).
    Down,
    /// To nearest, halves away from zero.
    Nearest,
}

/// `num / den` rounded as asked. `den` must be > 0 (every caller passes a positive constant or a
/// validated positive value).
///
/// When both fit an `i64` the quotient and remainder come from one hardware division instead of
/// the `i128` software routine (tens of nanoseconds): the same result
/// (`div_round_fast_path_equals_i128_division`).
pub(crate) fn div_round(num: i128, den: i128, rounding: Rounding) -> i128 {
    debug_assert!(den > 0);
    if let (Ok(n), Ok(d)) = (i64::try_from(num), i64::try_from(den)) {
        // d > 0, so the one overflowing i64 division (MIN / −1) cannot happen.
        return round_quotient(i128::from(n.div_euclid(d)), n.rem_euclid(d) as u128, d as u128, rounding);
    }
    round_quotient(num.div_euclid(den), num.rem_euclid(den) as u128, den as u128, rounding)
}

/// The quotient `num / den` rounded as asked, from its floor and remainder (`0 ≤ rem < den`).
/// `num ≥ 0` exactly when `floor ≥ 0` (the remainder is never negative), which is all the
/// halfway case needs to know of the sign.
fn round_quotient(floor: i128, rem: u128, den: u128, rounding: Rounding) -> i128 {
    match rounding {
        Rounding::Down => floor,
        Rounding::Up => floor + i128::from(rem != 0),
        Rounding::Nearest => {
            // Compare 2·rem with den without overflow; halves go away from zero, so a negative
            // number exactly halfway goes down (floor) and a positive one goes up.
            let twice = rem * 2;
            if twice > den || (twice == den && floor >= 0) {
                floor + 1
            } else {
                floor
            }
        }
    }
}

impl Rate {
    pub const ZERO: Rate = Rate(0);
    /// 100 %.
    pub const ONE: Rate = Rate(RATE_SCALE);

    /// Nearest rate to a fraction (0.004 → 0.40 %). `None` for NaN, infinities or values beyond the
    /// `i64` range of the scale.
    pub fn from_f64(fraction: f64) -> Option<Rate> {
        let scaled = (fraction * RATE_SCALE as f64).round();
        (scaled.is_finite() && scaled.abs() < 9.0e18).then_some(Rate(scaled as i64))
    }

    /// The rate as a fraction (0.40 % → 0.004).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / RATE_SCALE as f64
    }

    /// `amount × rate`, rounded as asked. `None` on `i128` overflow (only with absurd amounts).
    ///
    /// Every maintenance margin, fee and trigger search goes through here, and an `i128` division
    /// is a call into software division (tens of nanoseconds). When the amount fits an `i64` (up
    /// to ±9.2 million quote units) and the rate is under 2^33 (86 × 100 %), the same result comes
    /// from `i64` arithmetic with a constant divisor (a multiplication): split the amount as
    /// `q·S + s` (`S` = [`RATE_SCALE`], `0 ≤ s < S`); then `amount × rate = (q·rate)·S + s·rate`,
    /// so the quotient's floor is `q·rate + ⌊s·rate / S⌋` and its remainder that of `s·rate`,
    /// with `|s·rate| < 10^8 · 2^33 < 2^63`. Test: `rate_apply_fast_path_equals_wide_division`.
    pub fn apply(self, amount: Money, rounding: Rounding) -> Option<Money> {
        const S: i64 = RATE_SCALE;
        if let (Ok(a), true) = (i64::try_from(amount.0), self.0.unsigned_abs() < 1 << 33) {
            let (q, s) = (a.div_euclid(S), a.rem_euclid(S));
            let y = s * self.0;
            let floor = i128::from(q) * i128::from(self.0) + i128::from(y.div_euclid(S));
            return Some(Money(round_quotient(floor, y.rem_euclid(S) as u128, S as u128, rounding)));
        }
        self.apply_wide(amount, rounding)
    }

    /// [`Self::apply`] by `i128` division, for any amount and rate.
    fn apply_wide(self, amount: Money, rounding: Rounding) -> Option<Money> {
        let product = amount.0.checked_mul(i128::from(self.0))?;
        Some(Money(div_round(product, i128::from(RATE_SCALE), rounding)))
    }
}

fn config(what: &'static str, message: String) -> Error {
    Error::Config { what, message }
}

// ---------------------------------------------------------------------------------------------
// Exact notional and PnL
// ---------------------------------------------------------------------------------------------

/// Money units of notional for one lot at a price of one tick: `tick_size × lot_size × MONEY_SCALE`.
///
/// Whole by construction (`MONEY_SCALE` is chosen for that), which makes notional and PnL exact:
/// `notional = |lots| × price_ticks × money_per_tick_lot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
// Snapshots go through `new` so that a damaged one cannot bring a zero scale (a division by zero).
#[serde(try_from = "i128", into = "i128")]
pub struct NotionalScale {
    money_per_tick_lot: i128,
}

impl NotionalScale {
    /// From the money units of one lot at one tick (must be > 0).
    pub fn new(money_per_tick_lot: i128) -> Result<NotionalScale, Error> {
        if money_per_tick_lot <= 0 {
            return Err(config(
                "notional scale",
                format!("money units per tick·lot must be > 0, got {money_per_tick_lot}"),
            ));
        }
        Ok(NotionalScale { money_per_tick_lot })
    }

    /// From the instrument's tick size (quote currency) and lot size (base units). Errors when
    /// `tick_size × lot_size × 10^12` is not a whole number (within 1e-9 relative): the notional
    /// would not be exact in [`Money`].
    pub fn from_sizes(tick_size: f64, lot_size: f64) -> Result<NotionalScale, Error> {
        let valid = |x: f64| x.is_finite() && x > 0.0;
        if !valid(tick_size) || !valid(lot_size) {
            return Err(config(
                "notional scale",
                format!("tick size and lot size must be finite and > 0, got {tick_size} and {lot_size}"),
            ));
        }
        let units = tick_size * lot_size * MONEY_SCALE as f64;
        let whole = units.round();
        if !(1.0..=1.0e18).contains(&whole) || (units - whole).abs() > 1e-9 * whole {
            return Err(config(
                "notional scale",
                format!(
                    "tick size {tick_size} × lot size {lot_size} × 10^12 = {units} is not a whole number \
                     of money units"
                ),
            ));
        }
        NotionalScale::new(whole as i128)
    }

    /// Money units of notional for one lot at one tick.
    pub fn money_per_tick_lot(self) -> i128 {
        self.money_per_tick_lot
    }

    /// Notional `|lots| × price × tick_size × lot_size` in money (price in ticks, ≥ 0). `None` on
    /// overflow.
    pub fn notional(self, lots: Qty, price: Price) -> Option<Money> {
        let lot_ticks = i128::from(lots).abs().checked_mul(i128::from(price))?;
        Some(Money(lot_ticks.checked_mul(self.money_per_tick_lot)?))
    }

    /// Profit of a signed position of `lots` (> 0 long) bought at `entry` and valued at `price`
    /// (both in ticks): `lots × (price − entry)` in money. Exact. `None` on overflow.
    pub fn pnl(self, lots: Qty, entry: Price, price: Price) -> Option<Money> {
        let move_ticks = i128::from(price) - i128::from(entry);
        let lot_ticks = i128::from(lots).checked_mul(move_ticks)?;
        Some(Money(lot_ticks.checked_mul(self.money_per_tick_lot)?))
    }
}

// ---------------------------------------------------------------------------------------------
// Tier tables
// ---------------------------------------------------------------------------------------------

/// A cap for a last tier with no upper bound (Hyperliquid, dYdX single-tier tables).
pub const UNBOUNDED: Money = Money(i128::MAX);

/// One maintenance-margin tier (Binance "bracket", Bybit "risk limit").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// Lowest notional of the tier, inclusive (quote currency).
    pub floor: Money,
    /// Notional where the next tier starts, exclusive (quote currency). The last tier also applies
    /// above its cap: a price move can carry a position past the top of the table.
    pub cap: Money,
    /// Maintenance margin rate.
    pub mmr: Rate,
    /// Highest leverage allowed to open a position in this tier (initial margin = notional / this).
    pub max_leverage: u32,
    /// Maintenance amount ("cum", Bybit "deduction"), quote currency: `MM = notional × MMR − cum`.
    pub cum: Money,
}

/// A tier as given by a venue or a user: `cum: None` has it computed by the recursion; a given `cum`
/// is checked against the recursion (a mismatch means a mistyped table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierSpec {
    pub floor: Money,
    pub cap: Money,
    pub mmr: Rate,
    pub max_leverage: u32,
    pub cum: Option<Money>,
}

/// A validated tier table: first floor 0, each floor the previous cap (contiguous), caps above
/// floors, MMR non-decreasing and below 100 %, cum from the recursion
/// `cum_n = floor_n × (MMR_n − MMR_{n−1}) + cum_{n−1}`, which keeps MM continuous at every boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Snapshots keep the tiers only and rebuild through `new`: the float copies are derived, and a
// damaged table is refused by the same checks as a user's.
#[serde(try_from = "Vec<Tier>", into = "Vec<Tier>")]
pub struct TierTable {
    tiers: Vec<Tier>,
    /// Floors in quote currency as floats, and each tier's (MMR, cum) as floats, for the
    /// closed-form (f64) formulas: converting the `i128` figures on every use made the vectorised
    /// functions several times slower.
    floors_f64: Vec<f64>,
    rates_f64: Vec<(f64, f64)>,
}

impl Eq for TierTable {}

impl TryFrom<i128> for NotionalScale {
    type Error = Error;
    fn try_from(money_per_tick_lot: i128) -> Result<NotionalScale, Error> {
        NotionalScale::new(money_per_tick_lot)
    }
}

impl From<NotionalScale> for i128 {
    fn from(scale: NotionalScale) -> i128 {
        scale.money_per_tick_lot
    }
}

impl TryFrom<Vec<Tier>> for TierTable {
    type Error = Error;
    /// The table of these tiers, their `cum` checked against the recursion as a given `cum` is.
    fn try_from(tiers: Vec<Tier>) -> Result<TierTable, Error> {
        let specs: Vec<TierSpec> = tiers
            .iter()
            .map(|t| TierSpec {
                floor: t.floor,
                cap: t.cap,
                mmr: t.mmr,
                max_leverage: t.max_leverage,
                cum: Some(t.cum),
            })
            .collect();
        TierTable::new(&specs)
    }
}

impl From<TierTable> for Vec<Tier> {
    fn from(table: TierTable) -> Vec<Tier> {
        table.tiers
    }
}

impl TierTable {
    /// Validates `specs` and fills in each `cum`.
    ///
    /// Computed cum is `floor_n × ΔMMR` rounded down to a money unit (exact for any floor in whole
    /// cents); a given cum may differ from the recursion by at most one money unit. The given value
    /// is kept (the venue's figure is authoritative) and the recursion continues from it.
    pub fn new(specs: &[TierSpec]) -> Result<TierTable, Error> {
        const WHAT: &str = "tier table";
        let Some(first) = specs.first() else {
            return Err(config(WHAT, "no tiers".into()));
        };
        if first.floor != Money::ZERO {
            return Err(config(WHAT, format!("first floor must be 0, got {}", first.floor.to_f64())));
        }
        let mut tiers: Vec<Tier> = Vec::with_capacity(specs.len());
        for (n, spec) in specs.iter().enumerate() {
            let row = n + 1;
            if spec.cap <= spec.floor {
                return Err(config(
                    WHAT,
                    format!("tier {row}: cap {} is not above floor {}", spec.cap.to_f64(), spec.floor.to_f64()),
                ));
            }
            if spec.mmr < Rate::ZERO || spec.mmr >= Rate::ONE {
                return Err(config(WHAT, format!("tier {row}: MMR {} is not in [0, 1)", spec.mmr.to_f64())));
            }
            if spec.max_leverage == 0 {
                return Err(config(WHAT, format!("tier {row}: max leverage must be ≥ 1")));
            }
            let recursion = match tiers.last() {
                None => Money::ZERO,
                Some(prev) => {
                    if spec.floor != prev.cap {
                        return Err(config(
                            WHAT,
                            format!(
                                "tier {row}: floor {} is not the previous cap {} (tiers must be contiguous)",
                                spec.floor.to_f64(),
                                prev.cap.to_f64()
                            ),
                        ));
                    }
                    if spec.mmr < prev.mmr {
                        return Err(config(WHAT, format!("tier {row}: MMR decreases")));
                    }
                    let step = Rate(spec.mmr.0 - prev.mmr.0)
                        .apply(spec.floor, Rounding::Down)
                        .ok_or_else(|| config(WHAT, format!("tier {row}: floor too large")))?;
                    step + prev.cum
                }
            };
            let cum = match spec.cum {
                None => recursion,
                Some(given) if (given.0 - recursion.0).abs() <= 1 => given,
                Some(given) => {
                    return Err(config(
                        WHAT,
                        format!(
                            "tier {row}: cum {} disagrees with floor × ΔMMR + previous cum = {}",
                            given.to_f64(),
                            recursion.to_f64()
                        ),
                    ))
                }
            };
            tiers.push(Tier { floor: spec.floor, cap: spec.cap, mmr: spec.mmr, max_leverage: spec.max_leverage, cum });
        }
        let floors_f64 = tiers.iter().map(|t| t.floor.to_f64()).collect();
        let rates_f64 = tiers.iter().map(|t| (t.mmr.to_f64(), t.cum.to_f64())).collect();
        Ok(TierTable { tiers, floors_f64, rates_f64 })
    }

    /// Rows of (floor, cap, MMR, max leverage) in quote currency and fractions, cum computed: the
    /// form the Python edge supplies. Floors and caps are rounded to the money unit, MMR to 10^-8.
    pub fn from_f64_rows(rows: &[(f64, f64, f64, u32)]) -> Result<TierTable, Error> {
        let mut specs = Vec::with_capacity(rows.len());
        for &(floor, cap, mmr, max_leverage) in rows {
            if !floor.is_finite() || !cap.is_finite() {
                return Err(config("tier table", format!("floor {floor} / cap {cap} must be finite")));
            }
            let mmr = Rate::from_f64(mmr).ok_or_else(|| config("tier table", format!("MMR {mmr} is not a number")))?;
            specs.push(TierSpec {
                floor: Money::from_f64(floor),
                cap: Money::from_f64(cap),
                mmr,
                max_leverage,
                cum: None,
            });
        }
        TierTable::new(&specs)
    }

    /// One tier covering every notional.
    pub fn single(mmr: Rate, max_leverage: u32) -> Result<TierTable, Error> {
        TierTable::new(&[TierSpec { floor: Money::ZERO, cap: UNBOUNDED, mmr, max_leverage, cum: None }])
    }

    /// The tiers, lowest first.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// Index of the tier of a notional (money ≥ 0; below 0 counts as the first tier, above the last
    /// cap as the last tier).
    pub fn tier_index(&self, notional: Money) -> usize {
        // Most positions sit in the first tier: one comparison instead of a binary search over
        // tiers of 64 bytes each (every maintenance margin starts here).
        if self.tiers.get(1).is_none_or(|t| notional < t.floor) {
            return 0;
        }
        self.tiers.partition_point(|t| t.floor <= notional).saturating_sub(1)
    }

    /// The tier of a notional (see [`TierTable::tier_index`]).
    pub fn tier_for(&self, notional: Money) -> &Tier {
        &self.tiers[self.tier_index(notional)]
    }

    /// [`TierTable::tier_index`] for a float notional in quote currency (closed-form formulas).
    pub fn tier_index_f64(&self, notional: f64) -> usize {
        self.floors_f64.partition_point(|&floor| floor <= notional).saturating_sub(1)
    }

    /// Exact maintenance margin of a notional: `ceil(notional × MMR) − cum` with the tier of the
    /// notional. Rounded up, in the venue's favour; with cum exact (floors in whole cents) MM is
    /// exactly continuous at every boundary, otherwise it may step up by one money unit there.
    /// `None` on overflow.
    pub fn maintenance_margin(&self, notional: Money) -> Option<Money> {
        let tier = self.tier_for(notional);
        Some(tier.mmr.apply(notional, Rounding::Up)? - tier.cum)
    }

    /// (MMR, cum in quote currency) of tier `index` as floats, for the closed-form formulas.
    pub fn rates_f64(&self, index: usize) -> (f64, f64) {
        self.rates_f64[index]
    }

    /// Maintenance margin of a float notional (quote currency), for the closed-form formulas.
    pub fn maintenance_margin_f64(&self, notional: f64) -> f64 {
        let (mmr, cum) = self.rates_f64[self.tier_index_f64(notional)];
        notional * mmr - cum
    }
}

/// Exact maintenance margin of a position of `lots` (signed) valued at `mark` ticks. `None` on
/// overflow.
pub fn position_maintenance_margin(tiers: &TierTable, scale: NotionalScale, lots: Qty, mark: Price) -> Option<Money> {
    tiers.maintenance_margin(scale.notional(lots, mark)?)
}

/// Hyperliquid's maintenance margin rate: half the initial margin at max leverage,
/// `1 / (2 × max_leverage)`, rounded up to 10^-8. `None` for 0.
pub fn hyperliquid_mmr(max_leverage: u32) -> Option<Rate> {
    if max_leverage == 0 {
        return None;
    }
    let rate = div_round(i128::from(RATE_SCALE), 2 * i128::from(max_leverage), Rounding::Up);
    Some(Rate(rate as i64))
}

// ---------------------------------------------------------------------------------------------
// Closed-form liquidation and bankruptcy prices (f64)
// ---------------------------------------------------------------------------------------------

fn price_or_none(price: f64) -> Option<f64> {
    (price.is_finite() && price >= 0.0).then_some(price)
}

/// `x > 0`, false for NaN.
fn positive(x: f64) -> bool {
    x > 0.0
}

fn usable(size: f64, price: f64) -> bool {
    size.is_finite() && size != 0.0 && price.is_finite()
}

/// The rest of the account in Binance's cross-margin formula (quote currency).
///
/// `wallet_balance` is WB; `other_maint_margin` (TMM1) and `other_unrealized_pnl` (UPNL1) are those of
/// the account's other contracts. In isolated mode WB is the isolated margin and the others are 0.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct BinanceAccount {
    pub wallet_balance: f64,
    pub other_maint_margin: f64,
    pub other_unrealized_pnl: f64,
}

impl BinanceAccount {
    /// An isolated position with this much margin.
    pub fn isolated(margin: f64) -> BinanceAccount {
        BinanceAccount { wallet_balance: margin, ..BinanceAccount::default() }
    }
}

/// Binance one-way `LP = (WB − TMM1 + UPNL1 + cum − s·Q·E) / (Q·MMR − s·Q)`, unclamped.
fn binance_formula(account: &BinanceAccount, size: f64, entry_price: f64, mmr: f64, cum: f64) -> f64 {
    let q = size.abs();
    let numerator =
        account.wallet_balance - account.other_maint_margin + account.other_unrealized_pnl + cum - size * entry_price;
    numerator / (q * mmr - size)
}

/// Binance USDⓈ-M liquidation price (one-way mode) with a given tier's MMR and cum:
/// `LP = (WB − TMM1 + UPNL1 + cum − s·Q·E) / (Q·MMR − s·Q)`.
/// `size` signed base units, `entry_price` quote currency. `None` if negative or undefined.
pub fn binance_liq_price(account: &BinanceAccount, size: f64, entry_price: f64, mmr: f64, cum: f64) -> Option<f64> {
    if !usable(size, entry_price) {
        return None;
    }
    price_or_none(binance_formula(account, size, entry_price, mmr, cum))
}

/// Binance liquidation price with the tier rule: compute LP with the tier of the entry notional; if
/// the notional at LP falls in another tier, recompute with that tier, until stable.
///
/// Why this converges to the one true answer from any starting tier: MM is convex in the notional
/// (MMR rises, cum keeps it continuous), so each tier's line lies at or below it and, for a long, the
/// true LP is the largest of the per-tier LPs; each recomputation can only raise a long's LP (lower a
/// short's), tier indices along the way only move one direction, so it stops within the table
/// length. A step in the wrong direction can only be float noise at a boundary where both tiers give
/// the same MM, and stops the loop.
pub fn binance_liq_price_tiered(
    account: &BinanceAccount,
    size: f64,
    entry_price: f64,
    tiers: &TierTable,
) -> Option<f64> {
    if !usable(size, entry_price) {
        return None;
    }
    let q = size.abs();
    let long = size > 0.0;
    let lp_with = |index: usize| {
        let (mmr, cum) = tiers.rates_f64(index);
        binance_formula(account, size, entry_price, mmr, cum)
    };
    let mut index = tiers.tier_index_f64(q * entry_price);
    let mut price = lp_with(index);
    for _ in 0..tiers.tiers().len() {
        if !price.is_finite() {
            return None;
        }
        let next = tiers.tier_index_f64(q * price);
        if next == index {
            break;
        }
        let next_price = lp_with(next);
        let moved_outward = if long { next_price > price } else { next_price < price };
        if !moved_outward {
            break;
        }
        index = next;
        price = next_price;
    }
    price_or_none(price)
}

/// Binance bankruptcy price: the liquidation formula with MMR = 0 and cum = 0,
/// `(WB − TMM1 + UPNL1 − s·Q·E) / (−s·Q)`. As REFERENCE states it, the other contracts' maintenance
/// margin stays in; pass `other_maint_margin = 0` for the price where margin balance reaches zero.
pub fn binance_bankruptcy_price(account: &BinanceAccount, size: f64, entry_price: f64) -> Option<f64> {
    binance_liq_price(account, size, entry_price, 0.0, 0.0)
}

/// Bybit isolated liquidation price: long `E − (IM − MM)/Q − extra/Q`, short mirrored
/// (`E + (IM − MM)/Q + extra/Q`), with `IM = Q·E / leverage` and `MM = Q·E·MMR − deduction` at the
/// entry value. `extra_margin` is margin added beyond IM (quote currency).
pub fn bybit_isolated_liq_price(
    size: f64,
    entry_price: f64,
    leverage: f64,
    mmr: f64,
    deduction: f64,
    extra_margin: f64,
) -> Option<f64> {
    if !usable(size, entry_price) || !positive(leverage) {
        return None;
    }
    let q = size.abs();
    let value = q * entry_price;
    let initial_margin = value / leverage;
    let maint_margin = value * mmr - deduction;
    price_or_none(entry_price - size.signum() * (initial_margin - maint_margin + extra_margin) / q)
}

/// [`bybit_isolated_liq_price`] with MMR and deduction from the tier of the entry value.
pub fn bybit_isolated_liq_price_tiered(
    size: f64,
    entry_price: f64,
    leverage: f64,
    tiers: &TierTable,
    extra_margin: f64,
) -> Option<f64> {
    let tier = &tiers.tiers()[tiers.tier_index_f64(size.abs() * entry_price)];
    bybit_isolated_liq_price(size, entry_price, leverage, tier.mmr.to_f64(), tier.cum.to_f64(), extra_margin)
}

/// Bybit bankruptcy price: long `E × (1 − 1/leverage)`, short `E × (1 + 1/leverage)`.
pub fn bybit_bankruptcy_price(size: f64, entry_price: f64, leverage: f64) -> Option<f64> {
    if !usable(size, entry_price) || !positive(leverage) {
        return None;
    }
    price_or_none(entry_price * (1.0 - size.signum() / leverage))
}

/// The simplified isolated form many tools use: long `E(1 − 1/L + MMR)`, short `E(1 + 1/L − MMR)`.
pub fn simplified_isolated_liq_price(size: f64, entry_price: f64, leverage: f64, mmr: f64) -> Option<f64> {
    if !usable(size, entry_price) || !positive(leverage) {
        return None;
    }
    let s = size.signum();
    price_or_none(entry_price * (1.0 - s / leverage + s * mmr))
}

/// Price where an isolated position's margin is used up: `E − margin / size` (Binance isolated,
/// Hyperliquid and dYdX bankruptcy price). `margin` in quote currency.
pub fn isolated_bankruptcy_price(size: f64, entry_price: f64, margin: f64) -> Option<f64> {
    if !usable(size, entry_price) {
        return None;
    }
    price_or_none(entry_price - margin / size)
}

/// Margin of an isolated position opened at `leverage`: its initial margin `|size| × entry / leverage`
/// plus `extra_margin` added to it (quote currency). Bybit's isolated liquidation and bankruptcy
/// prices follow from it (bankruptcy `E × (1 ∓ 1/leverage)` when no margin is added). `None` for a
/// leverage that is not > 0 or unusable inputs.
pub fn isolated_position_margin(size: f64, entry_price: f64, leverage: f64, extra_margin: f64) -> Option<f64> {
    if !usable(size, entry_price) || !positive(leverage) || !leverage.is_finite() || !extra_margin.is_finite() {
        return None;
    }
    Some(size.abs() * entry_price / leverage + extra_margin)
}

/// Hyperliquid: `liq = price − s × margin_available / Q / (1 − l × s)` with `l = MMR` and
/// `margin_available = margin − Q × price × MMR` (`margin`: isolated margin or account value, quote
/// currency; `price`: the price the margin is measured at, the entry for a fresh position).
pub fn hyperliquid_liq_price(size: f64, price: f64, margin: f64, mmr: f64) -> Option<f64> {
    if !usable(size, price) {
        return None;
    }
    let q = size.abs();
    let s = size.signum();
    let margin_available = margin - q * price * mmr;
    price_or_none(price - s * margin_available / q / (1.0 - mmr * s))
}

/// dYdX v4 isolated: `p' = (e − s·p) / (|s|·MMF − s)`, equity `e` (quote currency), signed size `s`,
/// price `p` the equity is measured at, maintenance fraction `MMF`.
pub fn dydx_liq_price(size: f64, price: f64, equity: f64, mmf: f64) -> Option<f64> {
    if !usable(size, price) {
        return None;
    }
    price_or_none((equity - size * price) / (size.abs() * mmf - size))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usdt(x: i64) -> Money {
        Money(i128::from(x) * MONEY_SCALE)
    }

    /// Relative closeness.
    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(1.0)
    }

    fn table(rows: &[(i64, i64, i64, u32)]) -> TierTable {
        let specs: Vec<TierSpec> = rows
            .iter()
            .map(|&(floor, cap, mmr, lev)| TierSpec {
                floor: usdt(floor),
                cap: usdt(cap),
                mmr: Rate(mmr),
                max_leverage: lev,
                cum: None,
            })
            .collect();
        TierTable::new(&specs).unwrap()
    }

    // REFERENCE §1, BTCUSDT 2024-10: (floor, cap, MMR in 10^-8, max lev), and the published cum.
    const BTC_2024: [(i64, i64, i64, u32); 12] = [
        (0, 50_000, 400_000, 125),
        (50_000, 600_000, 500_000, 100),
        (600_000, 3_000_000, 650_000, 75),
        (3_000_000, 12_000_000, 1_000_000, 50),
        (12_000_000, 70_000_000, 2_000_000, 25),
        (70_000_000, 100_000_000, 2_500_000, 20),
        (100_000_000, 230_000_000, 5_000_000, 10),
        (230_000_000, 480_000_000, 10_000_000, 5),
        (480_000_000, 600_000_000, 12_500_000, 4),
        (600_000_000, 800_000_000, 15_000_000, 3),
        (800_000_000, 1_200_000_000, 25_000_000, 2),
        (1_200_000_000, 1_800_000_000, 50_000_000, 1),
    ];
    const BTC_2024_CUM: [i64; 12] =
        [0, 50, 950, 11_450, 131_450, 481_450, 2_981_450, 14_481_450, 26_481_450, 41_481_450, 121_481_450, 421_481_450];
    const ETH_2024: [(i64, i64, i64, u32); 12] = [
        (0, 50_000, 400_000, 125),
        (50_000, 600_000, 500_000, 100),
        (600_000, 3_000_000, 650_000, 75),
        (3_000_000, 12_000_000, 1_000_000, 50),
        (12_000_000, 50_000_000, 2_000_000, 25),
        (50_000_000, 65_000_000, 2_500_000, 20),
        (65_000_000, 150_000_000, 5_000_000, 10),
        (150_000_000, 320_000_000, 10_000_000, 5),
        (320_000_000, 400_000_000, 12_500_000, 4),
        (400_000_000, 530_000_000, 15_000_000, 3),
        (530_000_000, 800_000_000, 25_000_000, 2),
        (800_000_000, 1_200_000_000, 50_000_000, 1),
    ];
    const ETH_2024_CUM: [i64; 12] =
        [0, 50, 950, 11_450, 131_450, 381_450, 2_006_450, 9_506_450, 17_506_450, 27_506_450, 80_506_450, 280_506_450];
    // REFERENCE §1 "older tables", the first five BTC and six ETH rows of 2021 (caps of the last rows
    // are not given; they only need to be large enough for the examples). Example 1 uses these.
    const BTC_2021: [(i64, i64, i64, u32); 5] = [
        (0, 50_000, 400_000, 125),
        (50_000, 250_000, 500_000, 100),
        (250_000, 1_000_000, 1_000_000, 50),
        (1_000_000, 10_000_000, 2_500_000, 20),
        (10_000_000, 20_000_000, 5_000_000, 10),
    ];
    const ETH_2021: [(i64, i64, i64, u32); 6] = [
        (0, 10_000, 500_000, 100),
        (10_000, 100_000, 650_000, 75),
        (100_000, 500_000, 1_000_000, 50),
        (500_000, 1_000_000, 2_000_000, 25),
        (1_000_000, 2_000_000, 5_000_000, 10),
        (2_000_000, 5_000_000, 10_000_000, 5),
    ];

    // ---- rates and rounding ------------------------------------------------------------------

    #[test]
    fn rate_apply_rounds_the_same_on_both_paths() {
        // 1 % of ±49, ±50, ±150 money units: 0.49, 0.5, 1.5 (halves away from zero).
        let r = Rate(1_000_000);
        let cases =
            [(50, 1, 0, 1), (-50, 0, -1, -1), (49, 1, 0, 0), (-49, 0, -1, 0), (150, 2, 1, 2), (-150, -1, -2, -2)];
        for (amount, up, down, nearest) in cases {
            for apply in [Rate::apply, Rate::apply_wide] {
                assert_eq!(apply(r, Money(amount), Rounding::Up), Some(Money(up)), "{amount} up");
                assert_eq!(apply(r, Money(amount), Rounding::Down), Some(Money(down)), "{amount} down");
                assert_eq!(apply(r, Money(amount), Rounding::Nearest), Some(Money(nearest)), "{amount} nearest");
            }
        }
        // 0.5 % of 3,900 USDT (one ETH at 3,900): 19.5 USDT, on the fast path.
        assert_eq!(Rate(500_000).apply(Money(3_900 * MONEY_SCALE), Rounding::Up), Some(Money(19_500_000_000_000)));
        // Beyond i64 the wide path answers, and overflow is refused, not wrapped.
        assert_eq!(Rate(500_000).apply(Money(10i128.pow(30)), Rounding::Up), Some(Money(5 * 10i128.pow(27))));
        assert_eq!(Rate(RATE_SCALE).apply(Money(i128::MAX), Rounding::Up), None);
    }

    #[test]
    fn div_round_modes() {
        assert_eq!(div_round(7, 2, Rounding::Down), 3);
        assert_eq!(div_round(7, 2, Rounding::Up), 4);
        assert_eq!(div_round(7, 2, Rounding::Nearest), 4);
        assert_eq!(div_round(-7, 2, Rounding::Down), -4);
        assert_eq!(div_round(-7, 2, Rounding::Up), -3);
        assert_eq!(div_round(-7, 2, Rounding::Nearest), -4); // −3.5 → −4, away from zero
        assert_eq!(div_round(-5, 3, Rounding::Nearest), -2); // −1.67
        assert_eq!(div_round(-4, 3, Rounding::Nearest), -1); // −1.33
        assert_eq!(div_round(6, 3, Rounding::Up), 2);
    }

    #[test]
    fn rate_conversions() {
        assert_eq!(Rate::from_f64(0.004), Some(Rate(400_000)));
        assert_eq!(Rate::from_f64(0.00055), Some(Rate(55_000)));
        assert_eq!(Rate::from_f64(f64::NAN), None);
        assert_eq!(Rate(2_500_000).to_f64(), 0.025);
        // 0.40 % of 50,000 USDT = 200 USDT exactly.
        assert_eq!(Rate(400_000).apply(usdt(50_000), Rounding::Up), Some(usdt(200)));
        // 0.40 % of 1 money unit = 0.004 unit: up → 1, down → 0.
        assert_eq!(Rate(400_000).apply(Money(1), Rounding::Up), Some(Money(1)));
        assert_eq!(Rate(400_000).apply(Money(1), Rounding::Down), Some(Money(0)));
        assert_eq!(Rate(1).apply(Money(i128::MAX), Rounding::Up), Some(Money(i128::MAX / RATE_SCALE as i128 + 1)));
        assert_eq!(Rate(2).apply(Money(i128::MAX), Rounding::Up), None);
    }

    #[test]
    fn hyperliquid_mmr_is_half_initial_margin() {
        assert_eq!(hyperliquid_mmr(50), Some(Rate(1_000_000))); // 1 / 100 = 1 %
        assert_eq!(hyperliquid_mmr(20), Some(Rate(2_500_000))); // 1 / 40 = 2.5 %
        assert_eq!(hyperliquid_mmr(3), Some(Rate(16_666_667))); // 1/6, rounded up
        assert_eq!(hyperliquid_mmr(0), None);
    }

    // ---- exact notional / PnL / MM -----------------------------------------------------------

    #[test]
    fn notional_scale_from_sizes() {
        // 0.01 × 0.001 × 10^12 = 10^7.
        assert_eq!(NotionalScale::from_sizes(0.01, 0.001).unwrap().money_per_tick_lot(), 10_000_000);
        assert_eq!(NotionalScale::from_sizes(0.1, 0.001).unwrap().money_per_tick_lot(), 100_000_000);
        assert_eq!(NotionalScale::from_sizes(0.00001, 1.0).unwrap().money_per_tick_lot(), 10_000_000);
        // 1e-9 × 1e-9 × 10^12 = 1e-6 of a unit: not whole.
        assert!(NotionalScale::from_sizes(1e-9, 1e-9).is_err());
        assert!(NotionalScale::from_sizes(0.0, 1.0).is_err());
        assert!(NotionalScale::from_sizes(f64::NAN, 1.0).is_err());
        assert!(NotionalScale::new(0).is_err());
    }

    #[test]
    fn notional_and_pnl_exact() {
        let scale = NotionalScale::from_sizes(0.01, 0.001).unwrap();
        // 109.488 BTC at 31,967.27: 109,488 lots × 3,196,727 ticks × 10^7 units.
        let n = scale.notional(109_488, 3_196_727).unwrap();
        assert_eq!(n, Money(109_488i128 * 3_196_727 * 10_000_000));
        assert_eq!(scale.notional(-109_488, 3_196_727).unwrap(), n);
        // ETH leg of example 1: 3,683.979 × (1,335.18 − 1,456.84) = −448,192.88514 (UPNL1 −448,192.89).
        let upnl = scale.pnl(3_683_979, 145_684, 133_518).unwrap();
        assert_eq!(upnl, Money(-448_192_885_140_000_000));
        // Short gains when price falls.
        assert_eq!(scale.pnl(-1_000, 100_000, 99_000).unwrap(), usdt(10));
        assert_eq!(scale.notional(i64::MAX, i64::MAX), None);
    }

    #[test]
    fn example1_other_contract_figures_from_exact_mm() {
        // REFERENCE §1 example 1 gives TMM1 for each leg = the MM of the other leg at its mark.
        let scale = NotionalScale::from_sizes(0.01, 0.001).unwrap();
        let btc = table(&BTC_2021);
        let eth = table(&ETH_2021);
        // ETH: 3,683.979 × 1,335.18 = 4,918,775.08122 (tier 2M–5M, 10 %, cum 135,365)
        // → MM = 491,877.508122 − 135,365 = 356,512.508122.
        let eth_mm = position_maintenance_margin(&eth, scale, 3_683_979, 133_518).unwrap();
        assert_eq!(eth_mm, Money(356_512_508_122_000_000));
        // BTC: 109.488 × 31,967.27 = 3,500,032.45776 (tier 1M–10M, 2.5 %, cum 16,300)
        // → MM = 87,500.811444 − 16,300 = 71,200.811444 (REFERENCE 71,200.81144).
        let btc_mm = position_maintenance_margin(&btc, scale, 109_488, 3_196_727).unwrap();
        assert_eq!(btc_mm, Money(71_200_811_444_000_000));
        // BTC leg's UPNL = 109.488 × (31,967.27 − 32,481.98) = −56,354.56848 (REFERENCE −56,354.57).
        assert_eq!(scale.pnl(109_488, 3_248_198, 3_196_727).unwrap(), Money(-56_354_568_480_000_000));
    }

    #[test]
    fn mm_rounds_up() {
        // 0.40 % of 0.000000000001 USDT (1 unit) rounds up to 1 unit.
        let t = table(&BTC_2024);
        assert_eq!(t.maintenance_margin(Money(1)), Some(Money(1)));
        assert_eq!(t.maintenance_margin(Money(250)), Some(Money(1)));
        assert_eq!(t.maintenance_margin(Money(251)), Some(Money(2)));
    }

    // ---- tier tables -------------------------------------------------------------------------

    #[test]
    fn computed_cum_matches_reference_tables() {
        for (rows, cum) in [(&BTC_2024, &BTC_2024_CUM), (&ETH_2024, &ETH_2024_CUM)] {
            let t = table(rows);
            let got: Vec<Money> = t.tiers().iter().map(|t| t.cum).collect();
            let want: Vec<Money> = cum.iter().map(|&c| usdt(c)).collect();
            assert_eq!(got, want);
        }
        // 2021 tables: BTC cum 0, 50, 1,300, 16,300, 266,300; ETH 0, 15, 365, 5,365, 35,365, 135,365.
        let c: Vec<Money> = table(&BTC_2021).tiers().iter().map(|t| t.cum).collect();
        assert_eq!(c, [0, 50, 1_300, 16_300, 266_300].map(usdt));
        let c: Vec<Money> = table(&ETH_2021).tiers().iter().map(|t| t.cum).collect();
        assert_eq!(c, [0, 15, 365, 5_365, 35_365, 135_365].map(usdt));
    }

    #[test]
    fn given_cum_is_checked() {
        let mut specs: Vec<TierSpec> = BTC_2024
            .iter()
            .zip(BTC_2024_CUM)
            .map(|(&(f, c, m, l), cum)| TierSpec {
                floor: usdt(f),
                cap: usdt(c),
                mmr: Rate(m),
                max_leverage: l,
                cum: Some(usdt(cum)),
            })
            .collect();
        assert_eq!(TierTable::new(&specs).unwrap(), table(&BTC_2024));
        specs[3].cum = Some(usdt(11_540)); // typo for 11,450
        let err = TierTable::new(&specs).unwrap_err();
        assert!(err.to_string().contains("tier 4"), "{err}");
    }

    #[test]
    fn invalid_tables_are_rejected() {
        let spec = |floor, cap, mmr| TierSpec {
            floor: usdt(floor),
            cap: usdt(cap),
            mmr: Rate(mmr),
            max_leverage: 10,
            cum: None,
        };
        assert!(TierTable::new(&[]).is_err());
        assert!(TierTable::new(&[spec(10, 20, 1)]).is_err()); // first floor not 0
        assert!(TierTable::new(&[spec(0, 0, 1)]).is_err()); // empty range
        assert!(TierTable::new(&[spec(0, 10, 2), spec(11, 20, 3)]).is_err()); // gap
        assert!(TierTable::new(&[spec(0, 10, 2), spec(10, 20, 1)]).is_err()); // MMR decreases
        assert!(TierTable::new(&[spec(0, 10, RATE_SCALE)]).is_err()); // MMR 100 %
        assert!(TierTable::new(&[spec(0, 10, -1)]).is_err());
        let mut zero_lev = spec(0, 10, 1);
        zero_lev.max_leverage = 0;
        assert!(TierTable::new(&[zero_lev]).is_err());
        assert!(TierTable::from_f64_rows(&[(0.0, f64::INFINITY, 0.01, 10)]).is_err());
        assert!(TierTable::from_f64_rows(&[(0.0, 1e9, f64::NAN, 10)]).is_err());
    }

    #[test]
    fn from_f64_rows_matches_integer_table() {
        let rows: Vec<(f64, f64, f64, u32)> =
            BTC_2024.iter().map(|&(f, c, m, l)| (f as f64, c as f64, m as f64 / 1e8, l)).collect();
        assert_eq!(TierTable::from_f64_rows(&rows).unwrap(), table(&BTC_2024));
    }

    #[test]
    fn tier_lookup_half_open() {
        let t = table(&BTC_2024);
        assert_eq!(t.tier_index(Money::ZERO), 0);
        assert_eq!(t.tier_index(usdt(50_000) - Money(1)), 0);
        assert_eq!(t.tier_index(usdt(50_000)), 1);
        assert_eq!(t.tier_index(usdt(1_800_000_000)), 11);
        assert_eq!(t.tier_index(usdt(5_000_000_000)), 11); // beyond the table: last tier
        assert_eq!(t.tier_index(Money(-5)), 0);
        assert_eq!(t.tier_for(usdt(650_000)).mmr, Rate(650_000));
        assert_eq!(t.tier_index_f64(49_999.99), 0);
        assert_eq!(t.tier_index_f64(50_000.0), 1);
        assert_eq!(t.tier_index_f64(-1.0), 0);
        assert_eq!(t.tier_index_f64(f64::NAN), 0);
        let single = TierTable::single(Rate(1_000_000), 50).unwrap();
        assert_eq!(single.tier_index(usdt(1_000_000_000_000)), 0);
        assert_eq!(single.maintenance_margin(usdt(62_739)), Some(Money(627_390_000_000_000)));
    }

    #[test]
    fn mm_continuous_at_every_boundary() {
        // At each floor the new tier's line meets the old one:
        // e.g. 600,000 × 0.65 % − 950 = 3,900 − 950 = 2,950 = 600,000 × 0.50 % − 50.
        for rows in [&BTC_2024[..], &ETH_2024[..], &BTC_2021[..], &ETH_2021[..]] {
            let t = table(rows);
            for pair in t.tiers().windows(2) {
                let (below, at) = (pair[0], pair[1]);
                let n = at.floor;
                let mm_below = below.mmr.apply(n, Rounding::Up).unwrap() - below.cum;
                assert_eq!(t.maintenance_margin(n).unwrap(), mm_below, "boundary {}", n.to_f64());
                // One unit below the floor the lower tier applies and MM is no larger.
                assert!(t.maintenance_margin(n - Money(1)).unwrap() <= mm_below);
            }
        }
        let t = table(&BTC_2024);
        assert_eq!(t.maintenance_margin(usdt(600_000)), Some(usdt(2_950)));
        assert_eq!(t.maintenance_margin(usdt(50_000)), Some(usdt(200)));
        assert_eq!(t.maintenance_margin_f64(600_000.0), 2_950.0);
    }

    // ---- Binance -----------------------------------------------------------------------------

    #[test]
    fn binance_example_1_cross() {
        let wb = 1_535_443.01;
        let btc_acct =
            BinanceAccount { wallet_balance: wb, other_maint_margin: 356_512.508, other_unrealized_pnl: -448_192.89 };
        let eth_acct =
            BinanceAccount { wallet_balance: wb, other_maint_margin: 71_200.811_44, other_unrealized_pnl: -56_354.57 };
        // (1,535,443.01 − 356,512.508 − 448,192.89 + 16,300 − 109.488 × 32,481.98) / (109.488 × 0.025 − 109.488)
        // = 26,316.8933…
        let btc = binance_liq_price(&btc_acct, 109.488, 32_481.98, 0.025, 16_300.0).unwrap();
        assert!((btc - 26_316.89).abs() < 0.005, "{btc}");
        let eth = binance_liq_price(&eth_acct, 3_683.979, 1_456.84, 0.10, 135_365.0).unwrap();
        assert!((eth - 1_153.26).abs() < 0.005, "{eth}");
        // With the 2021 tables the tier rule finds the same tiers (BTC 1M–10M, ETH 2M–5M).
        let btc_t = binance_liq_price_tiered(&btc_acct, 109.488, 32_481.98, &table(&BTC_2021)).unwrap();
        assert!((btc_t - btc).abs() < 1e-6);
        let eth_t = binance_liq_price_tiered(&eth_acct, 3_683.979, 1_456.84, &table(&ETH_2021)).unwrap();
        assert!((eth_t - eth).abs() < 1e-6);
    }

    #[test]
    fn binance_example_2_isolated_style() {
        let acct = BinanceAccount::isolated(1_535_443.01);
        let btc = binance_liq_price(&acct, 109.488, 32_481.98, 0.025, 16_300.0).unwrap();
        assert!((btc - 18_778.73).abs() < 0.005, "{btc}"); // 18,778.7259
        let eth = binance_liq_price(&acct, 3_683.979, 1_456.84, 0.10, 135_365.0).unwrap();
        assert!((eth - 1_114.78).abs() < 0.005, "{eth}"); // 1,114.7850
        let btc_t = binance_liq_price_tiered(&acct, 109.488, 32_481.98, &table(&BTC_2021)).unwrap();
        assert!((btc_t - btc).abs() < 1e-6);
        let eth_t = binance_liq_price_tiered(&acct, 3_683.979, 1_456.84, &table(&ETH_2021)).unwrap();
        assert!((eth_t - eth).abs() < 1e-6);
    }

    #[test]
    fn binance_example_3_small_cross() {
        // (10.72 − 1.3 + 0.47 + 0.005 × 9,451.53) / (0.005 × 0.004 + 0.005) = 57.14765 / 0.00502 = 11,383.994
        let acct = BinanceAccount { wallet_balance: 10.72, other_maint_margin: 1.3, other_unrealized_pnl: 0.47 };
        let btc = binance_liq_price(&acct, -0.005, 9_451.53, 0.004, 0.0).unwrap();
        assert!((btc - 11_383.99).abs() < 0.005, "{btc}");
        // (10.72 − 0.19 − 0.06 − 199.53) / (0.0065 − 1) = −189.06 / −0.9935 = 190.29693…
        // REFERENCE shows 190.29 (truncated, where the other examples round): within one cent.
        let acct = BinanceAccount { wallet_balance: 10.72, other_maint_margin: 0.19, other_unrealized_pnl: -0.06 };
        let eth = binance_liq_price(&acct, 1.0, 199.53, 0.0065, 0.0).unwrap();
        assert!((eth - 190.296_930_045).abs() < 1e-8, "{eth}");
        assert!((eth - 190.29).abs() < 0.01);
    }

    #[test]
    fn binance_example_4_isolated_16_digits() {
        // MMR 1 %, cum 0.01, WB = Q·E / leverage. (side, leverage, Q, E, expected)
        let cases = [
            (-1.0, 5.0, 1.0, 10.0, 11.89108910891089), // (2 + 0.01 + 10) / 1.01
            (-1.0, 3.0, 1.0, 10.0, 13.211221122079207),
            (-1.0, 5.0, 1.0, 8.0, 9.514851485148514),
            (-1.0, 5.0, 0.6, 10.0, 11.897689768976898),
            (1.0, 5.0, 1.0, 10.0, 8.070707070707071), // (2 + 0.01 − 10) / −0.99
            (1.0, 5.0, 1.0, 8.0, 6.454545454545454),
            (1.0, 3.0, 1.0, 10.0, 6.723905723905723),
            (1.0, 5.0, 0.6, 10.0, 8.063973063973064),
        ];
        for (side, lev, q, e, want) in cases {
            let acct = BinanceAccount::isolated(q * e / lev);
            let got = binance_liq_price(&acct, side * q, e, 0.01, 0.01).unwrap();
            // 13.2112211220792 was computed by the source with WB rounded; we get 13.21122112211221
            // (2.5e-12 relative), well inside 1e-9.
            assert!(close(got, want, 1e-9), "side {side} lev {lev} Q {q} E {e}: {got} vs {want}");
        }
    }

    #[test]
    fn binance_bankruptcy() {
        // Isolated long 1 @ 10 with margin 2: (2 − 10) / −1 = 8 = E − margin / Q.
        let b = binance_bankruptcy_price(&BinanceAccount::isolated(2.0), 1.0, 10.0).unwrap();
        assert!(close(b, 8.0, 1e-12));
        assert!(close(isolated_bankruptcy_price(1.0, 10.0, 2.0).unwrap(), 8.0, 1e-12));
        // Short: (2 + 10) / 1 = 12.
        let b = binance_bankruptcy_price(&BinanceAccount::isolated(2.0), -1.0, 10.0).unwrap();
        assert!(close(b, 12.0, 1e-12));
        // Long fully margined (1x) with extra: bankruptcy below 0 → None.
        assert_eq!(binance_bankruptcy_price(&BinanceAccount::isolated(12.0), 1.0, 10.0), None);
    }

    #[test]
    fn binance_no_liquidation_price() {
        // Over-margined long: LP negative → None. Zero size / NaN → None.
        assert_eq!(binance_liq_price(&BinanceAccount::isolated(20.0), 1.0, 10.0, 0.01, 0.0), None);
        assert_eq!(binance_liq_price(&BinanceAccount::isolated(20.0), 0.0, 10.0, 0.01, 0.0), None);
        assert_eq!(binance_liq_price(&BinanceAccount::isolated(2.0), f64::NAN, 10.0, 0.01, 0.0), None);
        let t = table(&BTC_2024);
        assert_eq!(binance_liq_price_tiered(&BinanceAccount::isolated(1e9), 1.0, 30_000.0, &t), None);
    }

    #[test]
    fn binance_tier_switch_down_at_lp() {
        // Long 20 BTC @ 30,000 (notional 600,000: tier 3, 0.65 %, cum 950), margin 30,000.
        // Tier 3: (30,000 + 950 − 600,000) / (20 × 0.0065 − 20) = −569,050 / −19.87 = 28,638.65,
        //   notional 572,773 → tier 2 (50k–600k).
        // Tier 2: (30,000 + 50 − 600,000) / (20 × 0.005 − 20) = −569,950 / −19.9 = 28,640.7035,
        //   notional 572,814 → tier 2: stable.
        // Check: balance 30,000 + 20 × (28,640.7035 − 30,000) = 2,814.07 = 572,814.07 × 0.5 % − 50.
        let t = table(&BTC_2024);
        let lp = binance_liq_price_tiered(&BinanceAccount::isolated(30_000.0), 20.0, 30_000.0, &t).unwrap();
        assert!(close(lp, 569_950.0 / 19.9, 1e-12), "{lp}");
    }

    #[test]
    fn binance_tier_switch_up_at_lp() {
        // Short 20 BTC @ 29,000 (notional 580,000: tier 2, 0.5 %, cum 50), margin 60,000.
        // Tier 2: (60,000 + 50 + 580,000) / (20 × 0.005 + 20) = 640,050 / 20.1 = 31,843.28,
        //   notional 636,866 → tier 3.
        // Tier 3: (60,000 + 950 + 580,000) / (20 × 0.0065 + 20) = 640,950 / 20.13 = 31,840.5365,
        //   notional 636,811 → tier 3: stable.
        // Check: balance 60,000 − 20 × 2,840.5365 = 3,189.27 = 636,810.73 × 0.65 % − 950.
        let t = table(&BTC_2024);
        let lp = binance_liq_price_tiered(&BinanceAccount::isolated(60_000.0), -20.0, 29_000.0, &t).unwrap();
        assert!(close(lp, 640_950.0 / 20.13, 1e-12), "{lp}");
    }

    // ---- Bybit -------------------------------------------------------------------------------

    #[test]
    fn bybit_isolated_example() {
        // Long 1 BTC @ 20,000, 50x, MMR 0.5 %: IM 400, MM 100, LP 20,000 − 300 = 19,700.
        let lp = bybit_isolated_liq_price(1.0, 20_000.0, 50.0, 0.005, 0.0, 0.0).unwrap();
        assert!(close(lp, 19_700.0, 1e-12));
        // Short mirrored: 20,300. Extra margin 100 moves it 100 further.
        assert!(close(bybit_isolated_liq_price(-1.0, 20_000.0, 50.0, 0.005, 0.0, 0.0).unwrap(), 20_300.0, 1e-12));
        assert!(close(bybit_isolated_liq_price(1.0, 20_000.0, 50.0, 0.005, 0.0, 100.0).unwrap(), 19_600.0, 1e-12));
        // Bybit's own BTCUSDT table, first tier (0–2M, 0.5 %, deduction 0): same answer.
        let bybit = table(&[(0, 2_000_000, 500_000, 100), (2_000_000, 2_600_000, 560_000, 90)]);
        let lp = bybit_isolated_liq_price_tiered(1.0, 20_000.0, 50.0, &bybit, 0.0).unwrap();
        assert!(close(lp, 19_700.0, 1e-12));
        assert_eq!(bybit_isolated_liq_price(1.0, 20_000.0, 0.0, 0.005, 0.0, 0.0), None);
    }

    #[test]
    fn bybit_bankruptcy_example() {
        // Long 1 BTC @ 10,000, 50x: 10,000 × (1 − 1/50) = 9,800; short 10,200.
        assert!(close(bybit_bankruptcy_price(1.0, 10_000.0, 50.0).unwrap(), 9_800.0, 1e-12));
        assert!(close(bybit_bankruptcy_price(-1.0, 10_000.0, 50.0).unwrap(), 10_200.0, 1e-12));
    }

    #[test]
    fn simplified_form_table() {
        // E = 10, MMR 1 %: long E(1 − 1/L + 0.01), short E(1 + 1/L − 0.01).
        let longs = [(1.0, 0.1), (3.0, 6.766667), (5.0, 8.1), (10.0, 9.1)];
        let shorts = [(1.0, 19.9), (3.0, 13.233333), (5.0, 11.9), (10.0, 10.9)];
        for (lev, want) in longs {
            let got = simplified_isolated_liq_price(1.0, 10.0, lev, 0.01).unwrap();
            assert!((got - want).abs() < 5e-7, "long {lev}x: {got}");
        }
        for (lev, want) in shorts {
            let got = simplified_isolated_liq_price(-1.0, 10.0, lev, 0.01).unwrap();
            assert!((got - want).abs() < 5e-7, "short {lev}x: {got}");
        }
    }

    #[test]
    fn bybit_live_engine_measures_maintenance_on_the_mark_value() {
        // REFERENCE §7: since 2025-09-02 Bybit's isolated maintenance margin is on the mark value:
        // long 1 BTC @ 20,000, 50x (margin 400), MMR 0.5 %: 400 + (P − 20,000) = 0.005 P →
        // P = 19,600 / 0.995 = 19,698.49. The older help page (entry value) gives 19,700.
        let margin = isolated_position_margin(1.0, 20_000.0, 50.0, 0.0).unwrap();
        assert!(close(margin, 400.0, 1e-12));
        let bybit = table(&[(0, 2_000_000, 500_000, 100), (2_000_000, 2_600_000, 560_000, 90)]);
        let live = binance_liq_price_tiered(&BinanceAccount::isolated(margin), 1.0, 20_000.0, &bybit).unwrap();
        assert!((live - 19_698.49).abs() < 0.005, "{live}");
        assert!(close(bybit_isolated_liq_price(1.0, 20_000.0, 50.0, 0.005, 0.0, 0.0).unwrap(), 19_700.0, 1e-12));
        // Bankruptcy from the same margin: 20,000 − 400 = 19,600 = 20,000 × (1 − 1/50).
        let b = binance_bankruptcy_price(&BinanceAccount::isolated(margin), 1.0, 20_000.0).unwrap();
        assert!(close(b, bybit_bankruptcy_price(1.0, 20_000.0, 50.0).unwrap(), 1e-12));
        assert_eq!(isolated_position_margin(1.0, 20_000.0, 0.0, 0.0), None);
        assert!(close(isolated_position_margin(-2.0, 100.0, 4.0, 5.0).unwrap(), 55.0, 1e-12));
    }

    // ---- Hyperliquid and dYdX ----------------------------------------------------------------

    #[test]
    fn hyperliquid_examples() {
        // BTC long 0.00077 @ 62,739, margin 24.137992, MMR 1 %:
        // available = 24.137992 − 0.00077 × 62,739 × 0.01 = 23.6549017
        // liq = 62,739 − 23.6549017 / 0.00077 / 0.99 = 62,739 − 31,030.96 = 31,708.04
        let btc = hyperliquid_liq_price(0.00077, 62_739.0, 24.137992, 0.01).unwrap();
        assert!((btc - 31_708.04).abs() < 0.005, "{btc}");
        // DOGE short 351 @ 0.14333, margin 25.136807, MMR 2.5 %:
        // available = 25.136807 − 1.2577208 = 23.8790862; liq = 0.14333 + 23.8790862 / 351 / 1.025
        let doge = hyperliquid_liq_price(-351.0, 0.14333, 25.136807, 0.025).unwrap();
        assert!((doge - 0.2097023).abs() < 5e-8, "{doge}");
    }

    #[test]
    fn dydx_example() {
        // (1,000 − (−3)(3,000)) / (3 × 0.05 + 3) = 10,000 / 3.15 = 3,174.603
        let p = dydx_liq_price(-3.0, 3_000.0, 1_000.0, 0.05).unwrap();
        assert!((p - 3_174.60).abs() < 0.005, "{p}");
        assert_eq!(dydx_liq_price(0.0, 3_000.0, 1_000.0, 0.05), None);
    }

    // ---- properties --------------------------------------------------------------------------

    fn random_table() -> impl Strategy<Value = TierTable> {
        // 1–8 tiers, floors in whole USDT (so cum is exact), MMR rising from ≥ 0.1 % to < 60 %.
        prop::collection::vec((1i64..5_000_000, 1i64..4_000_000), 1..8).prop_map(|steps| {
            let mut specs = Vec::new();
            let (mut floor, mut mmr) = (0i64, 100_000i64);
            for (width, mmr_step) in steps {
                specs.push(TierSpec {
                    floor: usdt(floor),
                    cap: usdt(floor + width),
                    mmr: Rate(mmr),
                    max_leverage: 10,
                    cum: None,
                });
                floor += width;
                mmr += mmr_step;
            }
            TierTable::new(&specs).unwrap()
        })
    }

    proptest! {
        #[test]
        fn prop_mm_continuous_and_monotone(t in random_table(), a in 0i64..60_000_000, b in 0i64..60_000_000) {
            // Continuous: at each boundary the lower tier's line gives the same MM.
            for pair in t.tiers().windows(2) {
                let n = pair[1].floor;
                let lower = pair[0].mmr.apply(n, Rounding::Up).unwrap() - pair[0].cum;
                prop_assert_eq!(t.maintenance_margin(n).unwrap(), lower);
            }
            // Monotone in notional, and never negative.
            let (lo, hi) = (usdt(a.min(b)) + Money(37), usdt(a.max(b)) + Money(37));
            let (mm_lo, mm_hi) = (t.maintenance_margin(lo).unwrap(), t.maintenance_margin(hi).unwrap());
            prop_assert!(mm_lo <= mm_hi);
            prop_assert!(mm_lo >= Money::ZERO);
        }

        #[test]
        fn div_round_fast_path_equals_i128_division(
            num in prop_oneof![
                any::<i64>().prop_map(i128::from),
                any::<i128>(),
                (i128::from(i64::MIN) - 1_000)..(i128::from(i64::MIN) + 1_000),
                (i128::from(i64::MAX) - 1_000)..(i128::from(i64::MAX) + 1_000),
            ],
            den in prop_oneof![1i128..1_000, 1i128..=i128::from(i64::MAX), 1i128..i128::MAX],
            mode in 0u8..3,
        ) {
            let rounding = [Rounding::Up, Rounding::Down, Rounding::Nearest][mode as usize];
            let wide = round_quotient(num.div_euclid(den), num.rem_euclid(den) as u128, den as u128, rounding);
            prop_assert_eq!(div_round(num, den, rounding), wide);
            if rounding == Rounding::Down {
                prop_assert_eq!(div_round(num, den, rounding), num.div_euclid(den));
            }
        }

        #[test]
        fn rate_apply_fast_path_equals_wide_division(
            amount in prop_oneof![
                -1_000_000i128..1_000_000,
                i128::from(i64::MIN)..=i128::from(i64::MAX),
                (i128::from(i64::MAX) - 1_000)..(i128::from(i64::MAX) + 1_000),
                (i128::from(i64::MIN) - 1_000)..(i128::from(i64::MIN) + 1_000),
                i128::MIN / 4..i128::MAX / 4,
            ],
            rate in prop_oneof![
                -RATE_SCALE..=RATE_SCALE,
                -(1i64 << 33) - 10..(1i64 << 33) + 10,
                any::<i64>(),
            ],
            mode in 0u8..3,
        ) {
            let rounding = [Rounding::Up, Rounding::Down, Rounding::Nearest][mode as usize];
            let (rate, amount) = (Rate(rate), Money(amount));
            prop_assert_eq!(rate.apply(amount, rounding), rate.apply_wide(amount, rounding));
        }

        #[test]
        fn prop_binance_lp_is_where_balance_meets_mm(
            t in random_table(),
            long in any::<bool>(),
            q in 0.001f64..2_000.0,
            entry in 100.0f64..100_000.0,
            leverage in 1.0f64..125.0,
            other_mm in 0.0f64..10_000.0,
            other_upnl in -10_000.0f64..10_000.0,
        ) {
            let size = if long { q } else { -q };
            let acct = BinanceAccount { wallet_balance: q * entry / leverage + other_mm, other_maint_margin: other_mm, other_unrealized_pnl: other_upnl };
            let balance = |p: f64| acct.wallet_balance - other_mm + other_upnl + size * (p - entry);
            // The true LP: for a long the largest per-tier root, for a short the smallest.
            let roots = t.tiers().iter().map(|tier| binance_formula(&acct, size, entry, tier.mmr.to_f64(), tier.cum.to_f64()));
            let truth = if long { roots.fold(f64::MIN, f64::max) } else { roots.fold(f64::MAX, f64::min) };
            match binance_liq_price_tiered(&acct, size, entry, &t) {
                Some(lp) => {
                    let scale = q * entry + acct.wallet_balance.abs() + other_upnl.abs();
                    let gap = balance(lp) - t.maintenance_margin_f64(q * lp);
                    prop_assert!(gap.abs() <= 1e-9 * scale, "lp {} gap {}", lp, gap);
                    prop_assert!((lp - truth).abs() <= 1e-9 * entry.max(lp), "lp {} truth {}", lp, truth);
                }
                None => {
                    // No liquidation price above zero: the root is at or below 0. A long then
                    // stays above maintenance down to price 0; a short (other contracts' losses
                    // larger than its margin) is at or below maintenance at every price, 0
                    // included (the first tier's cum is 0, so MM(0) = 0).
                    prop_assert!(truth < 1e-9 * entry, "truth {}", truth);
                    let tolerance = 1e-9 * (q * entry + acct.wallet_balance.abs() + other_upnl.abs());
                    if long {
                        prop_assert!(balance(0.0) >= -tolerance);
                    } else {
                        prop_assert!(balance(0.0) <= tolerance);
                    }
                }
            }
        }

        #[test]
        fn prop_hyperliquid_and_dydx_liq_where_equity_meets_mm(
            long in any::<bool>(),
            q in 0.001f64..1_000.0,
            price in 0.01f64..100_000.0,
            leverage in 1.0f64..50.0,
            mmr in 0.001f64..0.2,
        ) {
            let size = if long { q } else { -q };
            let margin = q * price / leverage;
            let scale = q * price;
            if let Some(liq) = hyperliquid_liq_price(size, price, margin, mmr) {
                let gap = margin + size * (liq - price) - q * liq * mmr;
                prop_assert!(gap.abs() <= 1e-9 * scale, "hl gap {}", gap);
            }
            if let Some(liq) = dydx_liq_price(size, price, margin, mmr) {
                let gap = margin + size * (liq - price) - q * liq * mmr;
                prop_assert!(gap.abs() <= 1e-9 * scale, "dydx gap {}", gap);
            }
            // Bybit measures MM at the entry value: at its LP the margin left equals that MM.
            if let Some(liq) = bybit_isolated_liq_price(size, price, leverage, mmr, 0.0, 0.0) {
                let gap = margin + size * (liq - price) - q * price * mmr;
                prop_assert!(gap.abs() <= 1e-9 * scale, "bybit gap {}", gap);
            }
        }
    }
}
