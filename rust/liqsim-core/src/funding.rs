//! Mark price and funding.
//!
//! - Premium index from impact bid/ask against the index, sampled on a schedule and averaged over
//!   the funding interval ([`premium_index`], [`FundingAccumulator`]).
//! - Funding rate `F = P̄ + clamp(I − P̄, −c, +c)`, divided into payments and capped per venue
//!   ([`FundingRule`]).
//! - Settlement `mark × size × F` in exact [`Money`], zero-sum to the last unit ([`settle_funding`]).
//! - Mark price per rule: last, index, or Binance's median ([`MarkRule`], [`BasisAverager`]).
//!
//! Prices that feed the engine are whole ticks (rounded to the nearest tick, halves away from zero);
//! rates are [`Rate`] (parts per 10^8); times are nanoseconds.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::margin::{div_round, NotionalScale, Rate, Rounding, RATE_SCALE};
use crate::types::{Money, Price, Qty, Ts};

/// Nanoseconds per second.
pub const SECOND: Ts = 1_000_000_000;
/// Nanoseconds per hour.
pub const HOUR: Ts = 3_600 * SECOND;

// ---------------------------------------------------------------------------------------------
// Premium index and funding rate
// ---------------------------------------------------------------------------------------------

/// Premium index `P = [max(0, impact_bid − index) − max(0, index − impact_ask)] / index`, rounded to
/// the nearest 10^-8.
///
/// Impact bid/ask are the average fill prices of a market sell/buy of the impact notional (the
/// book's sweep price). All three prices in the same unit (ticks or quote currency; the ratio does
/// not care). `None` if the index is not > 0 or any input is not finite.
///
/// Floats here are deterministic (IEEE basic operations only) and end in an integer rate, as a venue
/// publishes an 8-decimal rate; money is only ever computed from that integer.
pub fn premium_index(impact_bid: f64, impact_ask: f64, index: f64) -> Option<Rate> {
    if !(impact_bid.is_finite() && impact_ask.is_finite() && index.is_finite() && index > 0.0) {
        return None;
    }
    let premium = ((impact_bid - index).max(0.0) - (index - impact_ask).max(0.0)) / index;
    Rate::from_f64(premium)
}

/// How premium samples are averaged over the funding interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PremiumWeighting {
    /// Weights 1, 2, …, n: later samples count more (Binance, Bybit).
    Linear,
    /// Plain mean (Hyperliquid, dYdX).
    Uniform,
}

/// A venue's funding rule.
///
/// The formula works on a formula period (8 h at every venue here): `F = P̄ + clamp(I − P̄, −c, +c)`
/// with `c = interest_clamp` (or `F = P̄ + I` when there is no clamp). Venues that pay more often
/// than that pay `F / payments_per_period` each time (Hyperliquid: 8 hourly payments of an 8 h
/// rate). The per-payment rate is then capped at `±cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingRule {
    /// Time between settlements, ns. Settlements fall on whole multiples of it since time 0 (the Unix
    /// epoch in scenarios: 00:00, 08:00, 16:00 UTC for 8 h).
    pub interval: Ts,
    /// Time between premium samples, ns (the caller samples on this schedule).
    pub sample_every: Ts,
    /// How samples are averaged.
    pub weighting: PremiumWeighting,
    /// Interest rate `I` per formula period.
    pub interest: Rate,
    /// Clamp `c` on `I − P̄`; `None`: the rate is simply `P̄ + I`.
    pub interest_clamp: Option<Rate>,
    /// Payments per formula period: 1 when paid every 8 h, 8 when an 8 h rate is paid hourly.
    pub payments_per_period: i64,
    /// Cap on the magnitude of each payment's rate.
    pub cap: Rate,
}

impl FundingRule {
    /// Checks that times are > 0, payments ≥ 1, clamp and cap ≥ 0.
    pub fn validate(&self) -> Result<(), Error> {
        let problem = if self.interval <= 0 {
            Some(format!("interval must be > 0 ns, got {}", self.interval))
        } else if self.sample_every <= 0 {
            Some(format!("sample period must be > 0 ns, got {}", self.sample_every))
        } else if self.payments_per_period < 1 {
            Some(format!("payments per period must be ≥ 1, got {}", self.payments_per_period))
        } else if self.interest_clamp.is_some_and(|c| c < Rate::ZERO) || self.cap < Rate::ZERO {
            Some("clamp and cap must be ≥ 0".to_string())
        } else {
            None
        };
        match problem {
            Some(message) => Err(Error::Config { what: "funding rule", message }),
            None => Ok(()),
        }
    }

    /// The formula-period rate `P̄ + clamp(I − P̄, −c, +c)` (before division and cap).
    pub fn period_rate(&self, average_premium: Rate) -> Rate {
        let p = average_premium.0;
        let adjustment = match self.interest_clamp {
            Some(c) => self.interest.0.saturating_sub(p).clamp(-c.0.abs(), c.0.abs()),
            None => self.interest.0,
        };
        Rate(p.saturating_add(adjustment))
    }

    /// The rate of one payment: `period_rate / payments_per_period` (nearest 10^-8, halves away
    /// from zero), capped at `±cap`.
    pub fn rate(&self, average_premium: Rate) -> Rate {
        let period = self.period_rate(average_premium);
        let payments = i128::from(self.payments_per_period.max(1));
        let per_payment = div_round(i128::from(period.0), payments, Rounding::Nearest) as i64;
        let cap = self.cap.0.abs();
        Rate(per_payment.clamp(-cap, cap))
    }

    /// The first settlement time strictly after `t` (ns). `None` if the interval is not > 0 or on
    /// overflow.
    pub fn next_settlement(&self, t: Ts) -> Option<Ts> {
        if self.interval <= 0 {
            return None;
        }
        t.div_euclid(self.interval).checked_add(1)?.checked_mul(self.interval)
    }

    /// Time from `t` to the next settlement (ns, in `(0, interval]`).
    pub fn time_to_next_settlement(&self, t: Ts) -> Option<Ts> {
        Some(self.next_settlement(t)? - t)
    }
}

/// Collects premium samples over one funding interval.
///
/// Call [`FundingAccumulator::sample`] every [`FundingRule::sample_every`], read
/// [`FundingAccumulator::rate`] at the interval's end, then [`FundingAccumulator::reset`]. Sums are
/// exact integers, so the average does not depend on the order of floating-point operations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingAccumulator {
    count: i64,
    sum: i128,
    weighted_sum: i128,
}

impl FundingAccumulator {
    pub fn new() -> FundingAccumulator {
        FundingAccumulator::default()
    }

    /// Records the next premium sample (the k-th sample gets weight k under linear weighting).
    pub fn sample(&mut self, premium: Rate) {
        self.count += 1;
        self.sum += i128::from(premium.0);
        self.weighted_sum += i128::from(self.count) * i128::from(premium.0);
    }

    /// Records `times` equal samples in a row, as `times` calls of [`sample`](Self::sample) would
    /// (weights count+1 … count+times): for idle stretches where nothing moved.
    pub fn sample_repeated(&mut self, premium: Rate, times: i64) {
        if times <= 0 {
            return;
        }
        let (c, m, p) = (i128::from(self.count), i128::from(times), i128::from(premium.0));
        self.count += times;
        self.sum += m * p;
        self.weighted_sum += p * (m * c + m * (m + 1) / 2);
    }

    /// Samples since the last reset.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The average premium, nearest 10^-8 (halves away from zero). Zero when there are no samples,
    /// so that the rate falls back to the interest rate (clamped).
    pub fn average_premium(&self, weighting: PremiumWeighting) -> Rate {
        if self.count == 0 {
            return Rate::ZERO;
        }
        let n = i128::from(self.count);
        let average = match weighting {
            PremiumWeighting::Uniform => div_round(self.sum, n, Rounding::Nearest),
            // Σ k·P_k / Σ k, with Σ k = n(n+1)/2.
            PremiumWeighting::Linear => div_round(self.weighted_sum * 2, n * (n + 1), Rounding::Nearest),
        };
        Rate(average as i64)
    }

    /// The rate of the payment due at the interval's end under `rule`.
    pub fn rate(&self, rule: &FundingRule) -> Rate {
        rule.rate(self.average_premium(rule.weighting))
    }

    /// Whether the sums can come from samples (a sample count below zero cannot): checked when a
    /// snapshot is loaded, since the average divides by the count.
    pub fn is_consistent(&self) -> bool {
        self.count >= 0
    }

    /// Forgets all samples (start of a new interval).
    pub fn reset(&mut self) {
        *self = FundingAccumulator::default();
    }
}

// ---------------------------------------------------------------------------------------------
// Settlement
// ---------------------------------------------------------------------------------------------

/// The funding one long lot pays at `mark` ticks and `rate`: `mark × tick_size × lot_size × rate`
/// in money, rounded to the nearest unit (halves away from zero). Negative when the rate is.
/// `None` on overflow.
pub fn funding_per_lot(mark: Price, rate: Rate, scale: NotionalScale) -> Option<Money> {
    let lot_value = i128::from(mark).checked_mul(scale.money_per_tick_lot())?;
    let product = lot_value.checked_mul(i128::from(rate.0))?;
    Some(Money(div_round(product, i128::from(RATE_SCALE), Rounding::Nearest)))
}

/// Funding settlement: the wallet change of each position (signed lots, > 0 long) at `mark` ticks
/// and `rate` for this payment. A positive rate makes longs pay shorts.
///
/// Exactly zero-sum: the payment is rounded **once per lot** and each position pays
/// `−lots × per_lot`, so the total is `−per_lot × Σ lots`, which is exactly zero whenever positions
/// net to zero (every trade has two sides). Rounding each position's `mark × size × F` separately
/// would instead leave a residue of up to half a unit per position that someone must absorb. The
/// price of exactness is at most half a money unit (5·10^-13 USDT) of rounding per lot.
/// `None` on overflow.
pub fn settle_funding(positions: &[Qty], mark: Price, rate: Rate, scale: NotionalScale) -> Option<Vec<Money>> {
    let per_lot = funding_per_lot(mark, rate, scale)?;
    positions.iter().map(|&lots| i128::from(lots).checked_mul(per_lot.0).map(|paid| Money(-paid))).collect()
}

// ---------------------------------------------------------------------------------------------
// Mark price
// ---------------------------------------------------------------------------------------------

/// Which price liquidations and unrealised PnL are measured at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkRule {
    /// The last trade price.
    Last,
    /// The exogenous index (spot) price.
    Index,
    /// Binance: `median(P1, P2, last)` with `P1 = index × (1 + F × time_to_next / interval)` and
    /// `P2 = index + moving average of (mid − index)` ([`BasisAverager`]) over 30 s.
    BinanceMedian,
    /// Bybit: the same median with its own window, `P2 = index + 5-minute moving average of
    /// (mid − index)` (REFERENCE §7, Bybit mark price; corrects §2's "index alone").
    BybitMedian,
}

impl MarkRule {
    /// `"last"`, `"index"` or `"median"` (also `"binance_median"`), case-insensitive.
    pub fn from_name(name: &str) -> Result<MarkRule, Error> {
        match name.trim().to_ascii_lowercase().as_str() {
            "last" => Ok(MarkRule::Last),
            "index" => Ok(MarkRule::Index),
            "median" | "binance_median" => Ok(MarkRule::BinanceMedian),
            "bybit_median" => Ok(MarkRule::BybitMedian),
            other => Err(Error::Config {
                what: "mark price rule",
                message: format!(
                    "unknown rule {other:?} (expected \"last\", \"index\", \"median\" or \"bybit_median\")"
                ),
            }),
        }
    }

    /// The mark price in ticks. `None` only for an invalid funding interval or on overflow.
    pub fn mark(self, inputs: &MarkInputs, basis: &BasisAverager) -> Option<Price> {
        match self {
            MarkRule::Last => Some(inputs.last),
            MarkRule::Index => Some(inputs.index),
            MarkRule::BinanceMedian | MarkRule::BybitMedian => {
                let p1 = funding_basis_price(
                    inputs.index,
                    inputs.funding_rate,
                    inputs.time_to_next_funding,
                    inputs.funding_interval,
                )?;
                let p2 = basis.price(inputs.index);
                Some(median3(p1, p2, inputs.last))
            }
        }
    }
}

impl MarkRule {
    /// One-second basis samples the rule's moving average spans: Binance 30 s, Bybit 5 minutes
    /// (the other rules ignore the averager; they get Binance's window).
    pub fn basis_window(self) -> usize {
        match self {
            MarkRule::BybitMedian => BasisAverager::BYBIT_WINDOW,
            _ => BasisAverager::BINANCE_WINDOW,
        }
    }
}

/// What a mark price is computed from at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkInputs {
    /// Last trade price, ticks.
    pub last: Price,
    /// Index price, ticks.
    pub index: Price,
    /// The last (or current predicted) funding rate.
    pub funding_rate: Rate,
    /// Time to the next funding settlement, ns.
    pub time_to_next_funding: Ts,
    /// Funding interval, ns.
    pub funding_interval: Ts,
}

/// Binance's P1: `index × (1 + funding_rate × time_to_next / interval)` in ticks, nearest tick
/// (halves away from zero). `None` if `interval` is not > 0 or on overflow.
pub fn funding_basis_price(index: Price, funding_rate: Rate, time_to_next: Ts, interval: Ts) -> Option<Price> {
    if interval <= 0 {
        return None;
    }
    // index + index·F·t / (SCALE·T), one rounding at the end.
    let numerator = i128::from(index).checked_mul(i128::from(funding_rate.0))?.checked_mul(i128::from(time_to_next))?;
    let denominator = i128::from(RATE_SCALE).checked_mul(i128::from(interval))?;
    let shift = div_round(numerator, denominator, Rounding::Nearest);
    i64::try_from(i128::from(index) + shift).ok()
}

/// The median of three prices.
pub fn median3(a: Price, b: Price, c: Price) -> Price {
    a.max(b).min(a.min(b).max(c))
}

/// Moving average of the basis `mid − index` over the last `window` samples (Binance: 30 samples,
/// one per second), for the mark price's P2.
///
/// Samples are kept as `best_bid + best_ask − 2 × index`, i.e. the basis in half-ticks, so a mid
/// between two ticks is exact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// Snapshots keep the window and the samples; the running sum is recomputed on load.
#[serde(try_from = "BasisSamples", into = "BasisSamples")]
pub struct BasisAverager {
    window: usize,
    samples: VecDeque<i64>,
    sum: i128,
}

/// The serialized form of a [`BasisAverager`]: its window and samples, oldest first.
#[derive(Serialize, Deserialize)]
struct BasisSamples {
    window: usize,
    samples: Vec<i64>,
}

impl TryFrom<BasisSamples> for BasisAverager {
    type Error = Error;
    fn try_from(state: BasisSamples) -> Result<BasisAverager, Error> {
        // Not through `new`: it reserves the whole window, and the window of a damaged snapshot
        // could be anything.
        if state.window == 0 || state.samples.len() > state.window {
            let message = format!("{} samples in a window of {}", state.samples.len(), state.window);
            return Err(Error::Config { what: "basis window", message });
        }
        let sum = state.samples.iter().map(|&s| i128::from(s)).sum();
        Ok(BasisAverager { window: state.window, samples: state.samples.into(), sum })
    }
}

impl From<BasisAverager> for BasisSamples {
    fn from(averager: BasisAverager) -> BasisSamples {
        BasisSamples { window: averager.window, samples: averager.samples.into() }
    }
}

impl BasisAverager {
    /// The number of samples the moving average spans.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Binance's window: 30 one-second samples.
    pub const BINANCE_WINDOW: usize = 30;
    /// Bybit's window: 5 minutes of one-second samples (REFERENCE §7).
    pub const BYBIT_WINDOW: usize = 300;

    /// An empty averager over the last `window` samples (≥ 1).
    pub fn new(window: usize) -> Result<BasisAverager, Error> {
        if window == 0 {
            return Err(Error::Config { what: "basis window", message: "must hold at least one sample".into() });
        }
        Ok(BasisAverager { window, samples: VecDeque::with_capacity(window), sum: 0 })
    }

    /// Records one sample of the book's best bid and ask against the index (ticks).
    pub fn sample(&mut self, best_bid: Price, best_ask: Price, index: Price) {
        let half_ticks = i128::from(best_bid) + i128::from(best_ask) - 2 * i128::from(index);
        // Basis beyond ±2^62 half-ticks is meaningless; saturate rather than wrap.
        let half_ticks = half_ticks.clamp(i128::from(i64::MIN / 2), i128::from(i64::MAX / 2)) as i64;
        if self.samples.len() == self.window {
            if let Some(oldest) = self.samples.pop_front() {
                self.sum -= i128::from(oldest);
            }
        }
        self.samples.push_back(half_ticks);
        self.sum += i128::from(half_ticks);
    }

    /// Samples currently in the window.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the window is full and every sample in it equals the one these quotes would add:
    /// sampling them again changes nothing.
    pub fn is_full_of(&self, best_bid: Price, best_ask: Price, index: Price) -> bool {
        let half_ticks = i128::from(best_bid) + i128::from(best_ask) - 2 * i128::from(index);
        let half_ticks = half_ticks.clamp(i128::from(i64::MIN / 2), i128::from(i64::MAX / 2)) as i64;
        self.samples.len() == self.window && self.samples.iter().all(|&s| s == half_ticks)
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// P2 = `index + average basis`, nearest tick (halves away from zero). With no samples yet the
    /// basis is taken as zero (P2 = index).
    pub fn price(&self, index: Price) -> Price {
        if self.samples.is_empty() {
            return index;
        }
        let n = self.samples.len() as i128;
        let basis = div_round(self.sum, 2 * n, Rounding::Nearest);
        let p2 = i128::from(index) + basis;
        p2.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Forgets all samples.
    pub fn clear(&mut self) {
        self.samples.clear();
        self.sum = 0;
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MONEY_SCALE;
    use proptest::prelude::*;

    fn binance_rule() -> FundingRule {
        FundingRule {
            interval: 8 * HOUR,
            sample_every: 5 * SECOND,
            weighting: PremiumWeighting::Linear,
            interest: Rate(10_000),             // 0.01 %
            interest_clamp: Some(Rate(50_000)), // ±0.05 %
            payments_per_period: 1,
            cap: Rate(300_000), // ±0.30 %
        }
    }

    fn hyperliquid_rule() -> FundingRule {
        FundingRule {
            interval: HOUR,
            sample_every: 5 * SECOND,
            weighting: PremiumWeighting::Uniform,
            interest: Rate(10_000),
            interest_clamp: Some(Rate(50_000)),
            payments_per_period: 8,
            cap: Rate(4_000_000), // 4 % per hour
        }
    }

    #[test]
    fn premium_index_cases() {
        // Impact bid above index: (10,005 − 10,000) / 10,000 = 0.05 %.
        assert_eq!(premium_index(10_005.0, 10_010.0, 10_000.0), Some(Rate(50_000)));
        // Impact ask below index: −(10,000 − 9,995) / 10,000 = −0.05 %.
        assert_eq!(premium_index(9_990.0, 9_995.0, 10_000.0), Some(Rate(-50_000)));
        // Index inside the impact spread: 0.
        assert_eq!(premium_index(9_999.0, 10_001.0, 10_000.0), Some(Rate::ZERO));
        // 1.5 / 30,000 = 0.005 % exactly; in ticks of 0.1 the same ratio.
        assert_eq!(premium_index(300_015.0, 300_020.0, 300_000.0), Some(Rate(5_000)));
        assert_eq!(premium_index(1.0, 2.0, 0.0), None);
        assert_eq!(premium_index(f64::NAN, 2.0, 1.0), None);
    }

    #[test]
    fn binance_rate_example_and_clamps() {
        let rule = binance_rule();
        rule.validate().unwrap();
        // REFERENCE: P̄ = 0.0429 % → I − P̄ = −0.0329 % (inside ±0.05 %) → F = 0.0100 %.
        assert_eq!(rule.rate(Rate(42_900)), Rate(10_000));
        // P̄ = 0.10 % → clamp(−0.09 %) = −0.05 % → F = 0.05 %.
        assert_eq!(rule.rate(Rate(100_000)), Rate(50_000));
        // P̄ = −0.10 % → clamp(0.11 %) = 0.05 % → F = −0.05 %.
        assert_eq!(rule.rate(Rate(-100_000)), Rate(-50_000));
        // P̄ = 0.50 % → 0.45 %, capped at 0.30 %; −0.50 % → −0.45 % → −0.30 %.
        assert_eq!(rule.rate(Rate(500_000)), Rate(300_000));
        assert_eq!(rule.rate(Rate(-500_000)), Rate(-300_000));
        // No clamp: P̄ + I.
        let additive = FundingRule { interest_clamp: None, ..rule };
        assert_eq!(additive.rate(Rate(42_900)), Rate(52_900));
    }

    #[test]
    fn hyperliquid_rate_example() {
        let rule = hyperliquid_rule();
        // REFERENCE: premium 1 %, interest 0.01 % → 1 % + clamp(−0.99 %) = 1 % − 0.05 % = 0.95 % per 8 h,
        // paid hourly at 0.95 % / 8 = 0.11875 %.
        assert_eq!(rule.period_rate(Rate(1_000_000)), Rate(950_000));
        assert_eq!(rule.rate(Rate(1_000_000)), Rate(118_750));
        // Premium 40 % → 39.95 % / 8 = 4.99375 % per hour, capped at 4 %.
        assert_eq!(rule.rate(Rate(40_000_000)), Rate(4_000_000));
        // Zero premium: 0 + 0.01 % = 0.01 % / 8 = 0.00125 %.
        assert_eq!(rule.rate(Rate::ZERO), Rate(1_250));
    }

    #[test]
    fn invalid_rules_are_rejected() {
        let rule = binance_rule();
        assert!(FundingRule { interval: 0, ..rule }.validate().is_err());
        assert!(FundingRule { sample_every: -1, ..rule }.validate().is_err());
        assert!(FundingRule { payments_per_period: 0, ..rule }.validate().is_err());
        assert!(FundingRule { cap: Rate(-1), ..rule }.validate().is_err());
        assert_eq!(FundingRule { interval: 0, ..rule }.next_settlement(5), None);
        // A negative cap or zero payments must not panic even unvalidated.
        let odd = FundingRule { cap: Rate(-300_000), payments_per_period: 0, ..rule };
        assert_eq!(odd.rate(Rate(500_000)), Rate(300_000));
    }

    #[test]
    fn settlement_schedule() {
        let rule = binance_rule();
        assert_eq!(rule.next_settlement(0), Some(8 * HOUR));
        assert_eq!(rule.next_settlement(8 * HOUR - 1), Some(8 * HOUR));
        assert_eq!(rule.next_settlement(8 * HOUR), Some(16 * HOUR));
        assert_eq!(rule.time_to_next_settlement(12 * HOUR), Some(4 * HOUR));
        assert_eq!(rule.next_settlement(-1), Some(0));
        assert_eq!(rule.next_settlement(i64::MAX), None);
    }

    #[test]
    fn accumulator_weighted_average() {
        let mut acc = FundingAccumulator::new();
        assert!(acc.is_empty());
        // No samples: P̄ = 0 → F = clamp(I) = 0.01 %.
        assert_eq!(acc.rate(&binance_rule()), Rate(10_000));
        for p in [10_000, 20_000, 40_000] {
            acc.sample(Rate(p));
        }
        assert_eq!(acc.len(), 3);
        // Linear: (1·0.01 + 2·0.02 + 3·0.04) % / 6 = 0.17 % / 6 = 0.028333 % → 28,333.
        assert_eq!(acc.average_premium(PremiumWeighting::Linear), Rate(28_333));
        // Uniform: 0.07 % / 3 = 0.023333 % → 23,333.
        assert_eq!(acc.average_premium(PremiumWeighting::Uniform), Rate(23_333));
        // I − P̄ = 0.01 − 0.028333 = −0.018333 % (inside the clamp) → F = I = 0.01 %.
        assert_eq!(acc.rate(&binance_rule()), Rate(10_000));
        acc.reset();
        assert!(acc.is_empty());
        // Rounding to nearest, halves away from zero: samples −1, −2 → linear (−1 − 4) / 3 = −1.67 → −2.
        acc.sample(Rate(-1));
        acc.sample(Rate(-2));
        assert_eq!(acc.average_premium(PremiumWeighting::Linear), Rate(-2));
        assert_eq!(acc.average_premium(PremiumWeighting::Uniform), Rate(-2)); // −1.5 → −2
    }

    #[test]
    fn funding_payment_by_hand() {
        // BTC at 30,000.00 (tick 0.01 → 3,000,000 ticks), lot 0.001: one lot is worth 30 USDT;
        // at 0.01 % it pays 0.003 USDT = 3·10^9 money units. A 1 BTC long (1,000 lots) pays 3 USDT.
        let scale = NotionalScale::from_sizes(0.01, 0.001).unwrap();
        assert_eq!(funding_per_lot(3_000_000, Rate(10_000), scale), Some(Money(3_000_000_000)));
        let paid = settle_funding(&[1_000, -300, -700], 3_000_000, Rate(10_000), scale).unwrap();
        assert_eq!(paid, vec![Money(-3 * MONEY_SCALE), Money(900_000_000_000), Money(2_100_000_000_000)]);
        assert_eq!(paid.iter().copied().sum::<Money>(), Money::ZERO);
        // Negative rate: shorts pay longs.
        let paid = settle_funding(&[2, -2], 3_000_000, Rate(-10_000), scale).unwrap();
        assert_eq!(paid, vec![Money(6_000_000_000), Money(-6_000_000_000)]);
        // The per-lot amount rounds to nearest, halves away from zero: 3 ticks × 1 unit × 50 % = 1.5 units.
        let tiny = NotionalScale::new(1).unwrap();
        assert_eq!(funding_per_lot(3, Rate(50_000_000), tiny), Some(Money(2))); // 1.5 → 2
        assert_eq!(funding_per_lot(3, Rate(-50_000_000), tiny), Some(Money(-2)));
        assert_eq!(settle_funding(&[i64::MAX], i64::MAX, Rate(1), NotionalScale::new(1 << 40).unwrap()), None);
    }

    #[test]
    fn p1_reference_example() {
        // REFERENCE: funding 0.03 %, 4 h of 8 to go, index 10,000 → 10,000 × (1 + 0.0003 × 0.5) = 10,001.5.
        // With a 0.1 tick: index 100,000 ticks, shift 100,000 × 0.0003 × 0.5 = 15 ticks → 100,015.
        assert_eq!(funding_basis_price(100_000, Rate(30_000), 4 * HOUR, 8 * HOUR), Some(100_015));
        // With a 1.0 tick, 10,001.5 rounds to the nearest tick, halves away from zero: 10,002.
        assert_eq!(funding_basis_price(10_000, Rate(30_000), 4 * HOUR, 8 * HOUR), Some(10_002));
        assert_eq!(funding_basis_price(10_000, Rate(-30_000), 4 * HOUR, 8 * HOUR), Some(9_998));
        assert_eq!(funding_basis_price(10_000, Rate(30_000), 0, 8 * HOUR), Some(10_000));
        assert_eq!(funding_basis_price(10_000, Rate(30_000), HOUR, 0), None);
    }

    #[test]
    fn basis_average_and_p2() {
        let mut basis = BasisAverager::new(3).unwrap();
        assert_eq!(basis.price(1_000), 1_000);
        // mid − index: (999 + 1,002)/2 − 1,000 = +0.5; (1,000 + 1,004)/2 − 1,000 = +2; (1,001 + 1,002)/2 − 1,000 = +0.5.
        basis.sample(999, 1_002, 1_000);
        basis.sample(1_000, 1_004, 1_000);
        basis.sample(1_001, 1_002, 1_000);
        // Average 3 / 3 = 1 → P2 = 1,001 against an index of 1,000.
        assert_eq!(basis.price(1_000), 1_001);
        // A fourth sample pushes out the first: (2 + 0.5 − 3) / 3 = −0.167 → 0 → P2 = index.
        basis.sample(994, 1_000, 1_000);
        assert_eq!(basis.len(), 3);
        assert_eq!(basis.price(1_000), 1_000);
        basis.clear();
        assert!(basis.is_empty());
        assert!(BasisAverager::new(0).is_err());
    }

    #[test]
    fn mark_rules() {
        let mut basis = BasisAverager::new(BasisAverager::BINANCE_WINDOW).unwrap();
        basis.sample(100_040, 100_060, 100_000); // basis +50 ticks → P2 = 100,050
        let inputs = MarkInputs {
            last: 100_200,
            index: 100_000,
            funding_rate: Rate(30_000),
            time_to_next_funding: 4 * HOUR,
            funding_interval: 8 * HOUR,
        };
        assert_eq!(MarkRule::Last.mark(&inputs, &basis), Some(100_200));
        assert_eq!(MarkRule::Index.mark(&inputs, &basis), Some(100_000));
        // median(P1 = 100,015, P2 = 100,050, last = 100,200) = 100,050.
        assert_eq!(MarkRule::BinanceMedian.mark(&inputs, &basis), Some(100_050));
        // A last trade far below: median(100,015, 100,050, 90,000) = 100,015.
        let crash = MarkInputs { last: 90_000, ..inputs };
        assert_eq!(MarkRule::BinanceMedian.mark(&crash, &basis), Some(100_015));
        assert_eq!(MarkRule::from_name(" Median "), Ok(MarkRule::BinanceMedian));
        assert_eq!(MarkRule::from_name("last"), Ok(MarkRule::Last));
        assert!(MarkRule::from_name("vwap").is_err());
    }

    #[test]
    fn bybit_mark_is_the_median_with_a_five_minute_basis() {
        // REFERENCE §7 (Bybit mark price): median(index × (1 + F × t / T), index + 5-min MA of
        // (mid − index), last). Same samples into both windows: 270 s at zero basis, then 30 s at
        // +200 ticks. Binance (30 s): P2 = 1,000,200. Bybit (300 s): 1,000,000 + 200 × 30 / 300 =
        // 1,000,020. P1 = 1,000,000 × (1 + 0.03 % × 4 h / 8 h) = 1,000,150; last 1,000,500.
        let mut binance = BasisAverager::new(MarkRule::BinanceMedian.basis_window()).unwrap();
        let mut bybit = BasisAverager::new(MarkRule::BybitMedian.basis_window()).unwrap();
        for second in 0..300 {
            let (bid, ask) = if second < 270 { (999_999, 1_000_001) } else { (1_000_199, 1_000_201) };
            binance.sample(bid, ask, 1_000_000);
            bybit.sample(bid, ask, 1_000_000);
        }
        let inputs = MarkInputs {
            last: 1_000_500,
            index: 1_000_000,
            funding_rate: Rate(30_000),
            time_to_next_funding: 4 * HOUR,
            funding_interval: 8 * HOUR,
        };
        assert_eq!(bybit.price(1_000_000), 1_000_020);
        // median(1,000,150, 1,000,200, 1,000,500) = 1,000,200 vs median(1,000,150, 1,000,020, 1,000,500).
        assert_eq!(MarkRule::BinanceMedian.mark(&inputs, &binance), Some(1_000_200));
        assert_eq!(MarkRule::BybitMedian.mark(&inputs, &bybit), Some(1_000_150));
        assert_eq!(MarkRule::from_name("bybit_median"), Ok(MarkRule::BybitMedian));
    }

    #[test]
    fn median_of_three() {
        for (a, b, c) in [(1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1)] {
            assert_eq!(median3(a, b, c), 2);
        }
        assert_eq!(median3(5, 5, 1), 5);
    }

    proptest! {
        #[test]
        fn prop_funding_is_zero_sum(
            mut positions in prop::collection::vec(-1_000_000i64..1_000_000, 0..60),
            mark in 1i64..10_000_000_000,
            rate in -4_000_000i64..4_000_000,
            money_per_tick_lot in 1i128..1_000_000_000_000,
        ) {
            // Close the book: one more position makes the set net to zero.
            let net: i64 = positions.iter().sum();
            positions.push(-net);
            let scale = NotionalScale::new(money_per_tick_lot).unwrap();
            let paid = settle_funding(&positions, mark, Rate(rate), scale).unwrap();
            prop_assert_eq!(paid.iter().copied().sum::<Money>(), Money::ZERO);
            // Each payment is within half a unit per lot of the exact mark × size × F.
            for (&lots, &money) in positions.iter().zip(&paid) {
                let exact_times_scale = -i128::from(lots) * i128::from(mark) * money_per_tick_lot * i128::from(rate);
                let error = money.0 * i128::from(RATE_SCALE) - exact_times_scale;
                prop_assert!(error.abs() * 2 <= i128::from(lots).abs() * i128::from(RATE_SCALE));
            }
        }

        #[test]
        fn prop_linear_average_within_sample_range(samples in prop::collection::vec(-1_000_000i64..1_000_000, 1..500)) {
            let mut acc = FundingAccumulator::new();
            for &p in &samples {
                acc.sample(Rate(p));
            }
            let (lo, hi) = (*samples.iter().min().unwrap(), *samples.iter().max().unwrap());
            for w in [PremiumWeighting::Linear, PremiumWeighting::Uniform] {
                let avg = acc.average_premium(w).0;
                prop_assert!(lo <= avg && avg <= hi);
            }
        }
    }
}
