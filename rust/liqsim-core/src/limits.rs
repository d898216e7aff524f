//! The largest values the engine holds exactly. Everything entering the core is checked against
//! these (the loaders, the binding, order entry); a value beyond them is refused with an error
//! naming it, never wrapped or saturated.
//!
//! Why these bounds: money is an `i128` of 10^-12 quote units (±1.7·10^26 quote). Keeping every
//! single balance and every fill's notional at or below 10^18 quote (10^30 units) leaves room for
//! sums over 10^8 accounts and for millions of fills into one position before an `i128` could
//! overflow; the sums that could still overflow in a pathological run (the conserved money total)
//! are computed with checked arithmetic and report it.

use crate::margin::NotionalScale;
use crate::types::{Money, Price, Qty, MONEY_SCALE};

/// Largest balance, isolated margin or insurance fund: 10^18 quote units.
pub const MAX_BALANCE: Money = Money(1_000_000 * MONEY_SCALE * MONEY_SCALE);
/// Largest notional of one order, one fill or one loaded position: 10^18 quote units.
pub const MAX_NOTIONAL: Money = MAX_BALANCE;
/// Largest order quantity in lots (the book's bound).
pub const MAX_ORDER_QTY: Qty = crate::book::MAX_ORDER_QTY;
/// Largest loaded position in lots: a position this size at the market's largest price has a
/// notional within [`MAX_NOTIONAL`] (so margin arithmetic on it fits an `i128`).
pub const MAX_POSITION_LOTS: Qty = MAX_ORDER_QTY;

/// Largest price in ticks an exchange with this scale accepts: a maximum-size order at this price
/// has a notional within [`MAX_NOTIONAL`] (and never above the trigger search's ceiling).
/// ETH-like (tick 0.01, lot 0.001): 10^11 ticks = 10^9 USDT. Tick 1, lot 1: 10^6 ticks.
pub fn max_price(scale: NotionalScale) -> Price {
    let per_max_order = MAX_ORDER_QTY as i128 * scale.money_per_tick_lot();
    let ticks = (MAX_NOTIONAL.0 / per_max_order).max(1);
    ticks.min(crate::account::PRICE_CEILING as i128) as Price
}

/// `lots × price` ticks in money, or `None` beyond [`MAX_NOTIONAL`] (or an `i128`).
pub fn checked_notional(lots: i128, price: i128, scale: NotionalScale) -> Option<Money> {
    let n = lots.unsigned_abs().checked_mul(price.unsigned_abs())?.checked_mul(scale.money_per_tick_lot() as u128)?;
    (n <= MAX_NOTIONAL.0 as u128).then_some(Money(n as i128))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_price_keeps_a_max_order_within_the_notional_bound() {
        // ETH grid: 10^7 money units per tick·lot; 10^30 / (10^12 × 10^7) = 10^11 ticks.
        let eth = NotionalScale::from_sizes(0.01, 0.001).unwrap();
        assert_eq!(max_price(eth), 100_000_000_000);
        // tick = lot = 1: 10^12 units per tick·lot → 10^6 ticks (the 1e15 price is refused).
        let unit = NotionalScale::from_sizes(1.0, 1.0).unwrap();
        assert_eq!(max_price(unit), 1_000_000);
        assert!(checked_notional(MAX_ORDER_QTY as i128, max_price(unit) as i128, unit).is_some());
        assert!(checked_notional(MAX_ORDER_QTY as i128, max_price(unit) as i128 + 1, unit).is_none());
        assert_eq!(checked_notional(1_000_000_000_000, 1_000_000_000_000_000, unit), None);
        assert_eq!(checked_notional(i128::MAX, 2, unit), None);
        assert_eq!(MAX_BALANCE.to_f64(), 1e18);
    }
}
