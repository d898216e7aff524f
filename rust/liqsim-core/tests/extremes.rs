//! Issue 8: values near and beyond the documented limits (`liqsim_core::limits`) either work exactly
//! (every invariant holds after every step: money conserved to the unit, positions net to zero,
//! trigger index equal to brute force) or are refused with an error or a rejection. Never a panic,
//! a wrap or a saturation.

use liqsim_core::account::MarginMode;
use liqsim_core::book::TimeInForce;
use liqsim_core::exchange::{AccountRow, Exchange, ExchangeConfig, OrderRequest};
use liqsim_core::funding::{MarkRule, HOUR};
use liqsim_core::limits::{MAX_BALANCE, MAX_ORDER_QTY, MAX_POSITION_LOTS};
use liqsim_core::margin::{NotionalScale, Rate, TierTable};
use liqsim_core::venue::{Venue, VenuePreset};
use liqsim_core::{Money, Price, Qty, Side, TraderId};
use proptest::prelude::*;

/// Grids from fine to coarse: 10^7, 10^12, 10^8 and 10^8 money units per tick·lot.
const GRIDS: [(f64, f64); 4] = [(0.01, 0.001), (1.0, 1.0), (0.1, 0.001), (0.0001, 1.0)];

/// A magnitude relative to a limit: tiny, ordinary, just below, at, just above, far above.
#[derive(Clone, Copy, Debug)]
enum Near {
    One,
    Fraction(u32),
    BelowLimit,
    AtLimit,
    AboveLimit,
    Double,
}

fn near() -> impl Strategy<Value = Near> {
    prop_oneof![
        Just(Near::One),
        (1u32..1_000_000).prop_map(Near::Fraction),
        Just(Near::BelowLimit),
        Just(Near::AtLimit),
        Just(Near::AboveLimit),
        Just(Near::Double),
    ]
}

fn pick(n: Near, limit: i128) -> i128 {
    match n {
        Near::One => 1,
        Near::Fraction(k) => (limit / 1_000_000 * k as i128).max(1),
        Near::BelowLimit => limit - 1,
        Near::AtLimit => limit,
        Near::AboveLimit => limit + 1,
        Near::Double => limit.saturating_mul(2),
    }
}

#[derive(Clone, Debug)]
enum Step {
    Account { balance: Near, lots: Near, short: bool, entry: Near, leverage: u32 },
    Resting { side: bool, price: Near, qty: Near },
    Order { trader: u8, side: bool, qty: Near, price: Option<Near> },
    Index(Near),
    Advance(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (near(), near(), any::<bool>(), near(), 1u32..=100).prop_map(|(balance, lots, short, entry, leverage)| {
            Step::Account { balance, lots, short, entry, leverage }
        }),
        (any::<bool>(), near(), near()).prop_map(|(side, price, qty)| Step::Resting { side, price, qty }),
        (any::<u8>(), any::<bool>(), near(), proptest::option::of(near()))
            .prop_map(|(trader, side, qty, price)| Step::Order { trader, side, qty, price }),
        near().prop_map(Step::Index),
        any::<u8>().prop_map(Step::Advance),
    ]
}

fn exchange(grid: usize) -> Exchange {
    let (tick, lot) = GRIDS[grid];
    let tiers = TierTable::single(Rate(1_000_000), 100).unwrap(); // MMR 1 %, up to 100x
    let preset = VenuePreset::custom(Venue::Binance, "EXTREME", tiers);
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(tick, lot).unwrap());
    cfg.mark_rule = MarkRule::Last;
    cfg.insurance_fund = MAX_BALANCE;
    Exchange::new(cfg).unwrap()
}

fn side(buy: bool) -> Side {
    if buy {
        Side::Buy
    } else {
        Side::Sell
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn extreme_values_work_exactly_or_are_refused(grid in 0..GRIDS.len(), steps in prop::collection::vec(step(), 1..25)) {
        let mut ex = exchange(grid);
        let max_price = ex.max_price() as i128;
        let m = NotionalScale::from_sizes(GRIDS[grid].0, GRIDS[grid].1).unwrap().money_per_tick_lot();
        let mut next_id = 0i64;
        let mut time = 0i64;
        for s in steps {
            match s {
                Step::Account { balance, lots, short, entry, leverage } => {
                    let lots = pick(lots, MAX_POSITION_LOTS as i128).min(i64::MAX as i128) as i64;
                    let entry_ticks = pick(entry, max_price);
                    let row = AccountRow {
                        id: TraderId(next_id),
                        balance: Money(pick(balance, MAX_BALANCE.0)),
                        mode: if leverage % 2 == 0 { MarginMode::Cross } else { MarginMode::Isolated },
                        lots: if short { -lots } else { lots },
                        entry_money_per_lot: Money(entry_ticks.saturating_mul(m)),
                        leverage,
                        isolated_margin: None,
                    };
                    if ex.add_accounts(&[row]).is_ok() {
                        next_id += 1;
                    }
                }
                Step::Resting { side: buy, price, qty } => {
                    let price = pick(price, max_price).min(i64::MAX as i128) as Price;
                    let qty = pick(qty, MAX_ORDER_QTY as i128).min(i64::MAX as i128) as Qty;
                    let _ = ex.add_resting_orders(&[(side(buy), price, qty, None)]);
                }
                Step::Order { trader, side: buy, qty, price } => {
                    if next_id == 0 {
                        continue;
                    }
                    let req = OrderRequest {
                        side: side(buy),
                        qty: pick(qty, MAX_ORDER_QTY as i128).min(i64::MAX as i128) as Qty,
                        price: price.map(|p| pick(p, max_price).min(i64::MAX as i128) as Price),
                        tif: TimeInForce::Gtc,
                        reduce_only: false,
                    };
                    let _ = ex.submit(TraderId(trader as i64 % next_id), req);
                }
                Step::Index(p) => {
                    // The index is range-checked at the edge (the binding refuses a price above
                    // the market's largest); inside the limits it must work exactly.
                    let p = pick(p, max_price).min(max_price) as Price;
                    ex.set_index(p);
                }
                Step::Advance(h) => {
                    time = time.saturating_add(h as i64 * HOUR);
                    ex.advance_to(time);
                }
            }
            let checked = ex.check_invariants();
            prop_assert!(checked.is_ok(), "{:?}", checked);
        }
    }
}
