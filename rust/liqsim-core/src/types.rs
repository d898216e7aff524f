//! The vocabulary shared by every module: prices, quantities, money, ids, sides.
//!
//! Everything inside the core is an integer. Prices are whole ticks, quantities whole lots, time
//! integer nanoseconds, money a fixed-point integer. Floats exist only at the Python edge (see
//! [`crate::units`]), so that matching is exact and money is conserved to the last unit.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A price in whole ticks of the instrument (`price = ticks × tick_size`).
pub type Price = i64;
/// A quantity in whole lots of the instrument (`qty = lots × lot_size`). Always > 0 on a live order.
pub type Qty = i64;
/// Time in integer nanoseconds (Unix epoch in scenarios; any origin in the bare book).
pub type Ts = i64;

/// Identifies an order for the whole life of a book. Chosen by the caller or assigned by the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct OrderId(pub i64);

/// Identifies the owner of an order or account. The bare book only compares it (self-trade
/// prevention) and reports it on trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct TraderId(pub i64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for TraderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Side of an order (and of the aggressor of a trade).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Side {
    Buy = 0,
    Sell = 1,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// +1 for buy, −1 for sell: the sign a fill of this side adds to a position.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    pub fn from_code(code: u8) -> Option<Side> {
        match code {
            0 => Some(Side::Buy),
            1 => Some(Side::Sell),
            _ => None,
        }
    }
}

/// Money (balances, PnL, fees, funding, insurance fund) in fixed point: `MONEY_SCALE` units per one
/// unit of the quote currency (USDT). `i128` so that notional = price × qty × scale never overflows
/// and sums over a million accounts stay exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Money(pub i128);

/// `x as f64`, faster: a full `i128` converts in software (`__floattidf`), an `i64` in one
/// instruction, and money amounts almost always fit an `i64` (±9.2 million quote units). Both
/// conversions round the same integer to the nearest `f64`, so the result is the same bits.
#[inline]
pub fn wide_to_f64(x: i128) -> f64 {
    match i64::try_from(x) {
        Ok(v) => v as f64,
        Err(_) => wide_to_f64_slowly(x),
    }
}

/// Out of line and cold, or the optimiser computes both conversions and picks one.
#[cold]
#[inline(never)]
fn wide_to_f64_slowly(x: i128) -> f64 {
    x as f64
}

/// 10^12 money units per quote unit. Chosen so that `tick_size × lot_size × MONEY_SCALE` is a whole
/// number for every listed instrument (e.g. 0.01 × 0.001 × 10^12 = 10^7), which makes notional exact.
pub const MONEY_SCALE: i128 = 1_000_000_000_000;

impl Money {
    pub const ZERO: Money = Money(0);

    /// Nearest money value to a float amount of quote currency (only at the Python edge). Callers
    /// range-check first (see [`crate::limits`]); for a value beyond `i128` (never reached through
    /// the loaders) see [`Money::try_from_f64`].
    pub fn from_f64(x: f64) -> Money {
        Money::try_from_f64(x).unwrap_or(Money(if x < 0.0 { i128::MIN } else { i128::MAX }))
    }

    /// Nearest money value to `x` quote units, `None` when `x` is not finite or beyond `i128`.
    /// The whole part is converted exactly and the fraction separately, so that 1e18 is exactly
    /// 10^30 units (`x × 10^12` in floats would be 10^30 + 2·10^13).
    pub fn try_from_f64(x: f64) -> Option<Money> {
        if !x.is_finite() || x.abs() >= 1e26 {
            return None;
        }
        let whole = x.trunc();
        let fraction = ((x - whole) * MONEY_SCALE as f64).round() as i128;
        (whole as i128).checked_mul(MONEY_SCALE)?.checked_add(fraction).map(Money)
    }

    pub fn to_f64(self) -> f64 {
        // Split to keep precision for large balances: whole part and fraction separately.
        let whole = self.0.div_euclid(MONEY_SCALE);
        let frac = self.0.rem_euclid(MONEY_SCALE);
        whole as f64 + frac as f64 / MONEY_SCALE as f64
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_money_converts_exactly_at_the_limits() {
        assert_eq!(Money::from_f64(1e18), Money(1_000_000_000_000_000_000_000_000_000_000));
        assert_eq!(Money::from_f64(3.0005), Money(3_000_500_000_000));
        assert_eq!(Money::from_f64(-0.5), Money(-500_000_000_000));
        assert_eq!(Money::try_from_f64(1e30), None);
        assert_eq!(Money::try_from_f64(f64::NAN), None);
        assert_eq!(Money::from_f64(1e18).to_f64(), 1e18);
    }

    use proptest::prelude::*;

    proptest! {
        // The fast path gives the same bits as the plain i128 conversion, on both sides of the
        // i64 edge (2^63 rounds to an f64 exactly; 2^63 ± 1 and ± 1,000 do not).
        #[test]
        fn wide_to_f64_equals_the_plain_conversion(
            x in prop_oneof![
                any::<i64>().prop_map(i128::from),
                any::<i128>(),
                (i128::from(i64::MAX) - 1_000)..(i128::from(i64::MAX) + 1_000),
                (i128::from(i64::MIN) - 1_000)..(i128::from(i64::MIN) + 1_000),
            ],
        ) {
            prop_assert_eq!(wide_to_f64(x).to_bits(), (x as f64).to_bits());
        }
    }
}
