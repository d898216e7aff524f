//! Helpers for building scenarios: placing positions by their liquidation price.
//!
//! A scenario builder that wants "$331M of shorts with liquidation prices between 3,800 and 4,000"
//! picks each position's liquidation price and needs the balance that puts it exactly there. Every
//! venue formula in [`crate::margin`] is linear in the balance once the maintenance tier is fixed, and
//! the tier is the one of the notional at the chosen price, so the inverse is closed form (no search).

use crate::venue::VenuePreset;

/// The balance (quote currency: isolated margin, or the wallet of a cross account holding nothing
/// else) that gives a single position of signed `size` (base units) entered at `entry_price` the
/// liquidation price `liquidation_price` under `preset`'s formula — the inverse of
/// [`VenuePreset::liquidation_price`].
///
/// Every venue's formula is `balance + PnL(LP) = MM(LP)` with the tier of the notional at LP, so
/// `balance = |size|·LP·MMR − cum − size·(LP − E)`: Binance and Bybit directly; Hyperliquid's
/// `LP = E − s·(m − |size|·E·l) / |size| / (1 − l·s)` and dYdX's
/// `LP = (e − size·E) / (|size|·MMF − size)` are the same condition solved for LP (their tables'
/// deduction in the place of `cum`).
///
/// `None` when no positive balance does it (e.g. a long's price above what a zero balance gives:
/// the position would already be liquidatable at entry) or an input is not finite / zero.
pub fn balance_for_liquidation_price(
    preset: &VenuePreset,
    size: f64,
    entry_price: f64,
    liquidation_price: f64,
) -> Option<f64> {
    let inputs_ok = size.is_finite()
        && size != 0.0
        && entry_price.is_finite()
        && entry_price > 0.0
        && liquidation_price.is_finite()
        && liquidation_price > 0.0;
    if !inputs_ok {
        return None;
    }
    let q = size.abs();
    // Every venue liquidates when the position's equity reaches its maintenance margin at LP, with
    // the tier of the notional at LP (Hyperliquid's and dYdX's closed forms are this condition
    // solved for LP; their deduction plays Binance's `cum`): balance + size·(LP − E) = MM(LP).
    let (mmr, cum) = preset.tiers.rates_f64(preset.tiers.tier_index_f64(q * liquidation_price));
    let balance = q * liquidation_price * mmr - cum - size * (liquidation_price - entry_price);
    (balance.is_finite() && balance > 0.0).then_some(balance)
}

/// The highest leverage setting a position of `notional` (quote currency) may have under `preset`'s
/// tiers (what loading an account checks). Taken at a notional a hair above the given one, so a
/// position on a tier boundary gets the stricter tier whichever way the float rounds.
pub fn max_leverage_for(preset: &VenuePreset, notional: f64) -> u32 {
    let tiers = preset.tiers.tiers();
    let at = |n: f64| tiers[preset.tiers.tier_index_f64(n)].max_leverage;
    at(notional.abs()).min(at(notional.abs() * (1.0 + 1e-9)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn binance_short_worked_by_hand() {
        // REFERENCE §1 Binance BTCUSDT tiers: 97,000 of notional is in tier 2 (50k–600k), MMR 0.5 %,
        // cum 50. balance = 97,000 × 0.005 − 50 + (97,000 − 95,000) = 485 − 50 + 2,000 = 2,435, and
        // the forward formula gives (2,435 + 50 + 95,000) / (0.005 + 1) = 97,485 / 1.005 = 97,000.
        let preset = VenuePreset::from_names("binance", "BTCUSDT").unwrap();
        let balance = balance_for_liquidation_price(&preset, -1.0, 95_000.0, 97_000.0).unwrap();
        assert!(close(balance, 2_435.0), "{balance}");
        assert!(close(preset.liquidation_price(-1.0, 95_000.0, balance).unwrap(), 97_000.0));
    }

    #[test]
    fn binance_long_in_a_higher_tier_worked_by_hand() {
        // 100 BTC long at 90,000, liquidation at 85,000: notional 8.5M is tier 4 (3M–12M), MMR 1 %,
        // cum 11,450. balance = 8,500,000 × 0.01 − 11,450 − 100 × (85,000 − 90,000)
        //                     = 85,000 − 11,450 + 500,000 = 573,550.
        let preset = VenuePreset::from_names("binance", "BTCUSDT").unwrap();
        let balance = balance_for_liquidation_price(&preset, 100.0, 90_000.0, 85_000.0).unwrap();
        assert!(close(balance, 573_550.0), "{balance}");
        assert!(close(preset.liquidation_price(100.0, 90_000.0, balance).unwrap(), 85_000.0));
    }

    #[test]
    fn every_venue_round_trips_through_its_forward_formula() {
        for venue in ["binance", "bybit", "hyperliquid", "dydx"] {
            for symbol in ["BTCUSDT", "ETHUSDT"] {
                let preset = VenuePreset::from_names(venue, symbol).unwrap();
                for &(size, entry, lp) in &[
                    (-2.5, 3_700.0, 3_900.0),
                    (-400.0, 3_750.0, 3_999.0),
                    (3.0, 95_000.0, 90_000.0),
                    (1_500.0, 95_000.0, 60_000.0),
                    (-0.01, 2_000.0, 2_400.0),
                ] {
                    let balance = balance_for_liquidation_price(&preset, size, entry, lp).unwrap();
                    let back = preset.liquidation_price(size, entry, balance).unwrap();
                    assert!((back - lp).abs() < 1e-6 * lp, "{venue} {symbol} {size} {entry} {lp}: {back}");
                }
            }
        }
    }

    proptest! {
        /// Any placement that has a positive balance lands where it was put, on every venue, from
        /// 0.01 to 5,000 units and 1 % to 60 % away from the entry.
        #[test]
        fn chosen_liquidation_prices_round_trip(
            venue in prop::sample::select(vec!["binance", "bybit", "hyperliquid", "dydx"]),
            long in any::<bool>(),
            qty in 0.01f64..5_000.0,
            entry in 100.0f64..150_000.0,
            distance in 0.01f64..0.6,
        ) {
            let preset = VenuePreset::from_names(venue, "ETHUSDT").unwrap();
            let (size, lp) = if long { (qty, entry * (1.0 - distance)) } else { (-qty, entry * (1.0 + distance)) };
            if let Some(balance) = balance_for_liquidation_price(&preset, size, entry, lp) {
                let back = preset.liquidation_price(size, entry, balance).unwrap();
                prop_assert!((back - lp).abs() <= 1e-7 * lp, "{} {} {} {}: {}", venue, size, entry, lp, back);
            }
        }
    }

    #[test]
    fn max_leverage_follows_the_tiers() {
        // REFERENCE §1 Binance ETHUSDT: 125x below 50k, 100x up to 600k, 20x at 50M–65M.
        let preset = VenuePreset::from_names("binance", "ETHUSDT").unwrap();
        assert_eq!(max_leverage_for(&preset, 10_000.0), 125);
        assert_eq!(max_leverage_for(&preset, 50_000.0), 100);
        assert_eq!(max_leverage_for(&preset, 49_999.0), 125);
        assert_eq!(max_leverage_for(&preset, 60_000_000.0), 20);
    }

    #[test]
    fn impossible_placements_are_none() {
        let preset = VenuePreset::from_names("binance", "ETHUSDT").unwrap();
        // A short cannot be liquidated below its entry with a positive balance.
        assert_eq!(balance_for_liquidation_price(&preset, -1.0, 3_000.0, 2_900.0), None);
        assert_eq!(balance_for_liquidation_price(&preset, 0.0, 3_000.0, 3_100.0), None);
        assert_eq!(balance_for_liquidation_price(&preset, -1.0, f64::NAN, 3_100.0), None);
        assert_eq!(balance_for_liquidation_price(&preset, -1.0, 3_000.0, 0.0), None);
    }
}
