//! Hand-worked venue scenarios (REFERENCE §1 examples 1 and 3 through the venue, cross-margin
//! spill-over, liquidation order, money across legs) and properties against brute force.

use super::*;
use crate::book::TimeInForce;
use crate::exchange::test_fixtures::index_market;
use crate::exchange::{LiquidationKind, TradeKind, BACKSTOP};
use crate::funding::MarkRule;
use crate::margin::{NotionalScale, Rate, TierSpec, TierTable};
use crate::types::{Qty, Side};
use crate::venue::{Venue, VenuePreset};
use crate::MONEY_SCALE;

const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);

fn usdt(x: f64) -> Money {
    Money::from_f64(x)
}

/// Whole-USDT tier rows (floor, cap, MMR in parts per 10^8, max leverage); cum computed.
fn tiers(rows: &[(i64, i64, i64, u32)]) -> TierTable {
    let specs: Vec<TierSpec> = rows
        .iter()
        .map(|&(floor, cap, mmr, max_leverage)| TierSpec {
            floor: Money(floor as i128 * MONEY_SCALE),
            cap: Money(cap as i128 * MONEY_SCALE),
            mmr: Rate(mmr),
            max_leverage,
            cum: None,
        })
        .collect();
    TierTable::new(&specs).unwrap()
}

/// A Binance-rules market on the index (marks are what the test sets), no trading fees.
fn market(symbol: &str, tick: f64, tiers: TierTable, liquidation_fee: f64) -> (String, ExchangeConfig) {
    index_market(symbol, tick, tiers, Some(Rate::from_f64(liquidation_fee).unwrap()), 0.0)
}

/// A cross row: `balance` USDT, `lots` (0.001 each) entered at `entry` USDT.
fn row(inst: InstrumentId, id: i64, balance: f64, lots: Qty, entry: f64) -> (InstrumentId, AccountRow) {
    let per_lot = Money(((entry * 1e9).round() as i128) * (MONEY_SCALE / 1_000_000_000) / 1000);
    (
        inst,
        AccountRow {
            id: TraderId(id),
            balance: usdt(balance),
            mode: MarginMode::Cross,
            lots,
            entry_money_per_lot: if lots == 0 { Money::ZERO } else { per_lot },
            leverage: 1,
            isolated_margin: None,
        },
    )
}

fn trigger(v: &MultiExchange, inst: InstrumentId, id: i64) -> Option<Price> {
    v.exchange(inst).account(TraderId(id)).unwrap().trigger.map(|t| t.price)
}

#[test]
fn reference_example_1_leg_triggers_through_the_venue() {
    // REFERENCE §1 example 1 (2021 tables): WB 1,535,443.01; BTC long 109.488 @ 32,481.98, ETH long
    // 3,683.979 @ 1,456.84; marks BTC 31,967.27, ETH 1,335.18. Ticks 0.01 for both.
    // BTC leg: TMM1 = ETH's MM 356,512.508122, UPNL1 = −448,192.88514 → LP 26,316.8933…; a long is
    // liquidatable at or below it: trigger tick 26,316.89. ETH leg: TMM1 = 71,200.811444, UPNL1 =
    // −56,354.56848 → LP 1,153.2566… (REFERENCE 1,153.26, rounded): trigger tick 1,153.25.
    // (Both checked against an exact rational evaluation of ΣWB + ΣUPNL ≤ ΣMM.)
    let btc = tiers(&[
        (0, 50_000, 400_000, 125),
        (50_000, 250_000, 500_000, 100),
        (250_000, 1_000_000, 1_000_000, 50),
        (1_000_000, 10_000_000, 2_500_000, 20),
        (10_000_000, 20_000_000, 5_000_000, 10),
    ]);
    let eth = tiers(&[
        (0, 10_000, 500_000, 100),
        (10_000, 100_000, 650_000, 75),
        (100_000, 500_000, 1_000_000, 50),
        (500_000, 1_000_000, 2_000_000, 25),
        (1_000_000, 2_000_000, 5_000_000, 10),
        (2_000_000, 5_000_000, 10_000_000, 5),
    ]);
    let mut v = MultiExchange::new(vec![market("BTCUSDT", 0.01, btc, 0.0), market("ETHUSDT", 0.01, eth, 0.0)]).unwrap();
    v.add_accounts(&[row(BTC, 1, 1_535_443.01, 109_488, 32_481.98), row(ETH, 1, 0.0, 3_683_979, 1_456.84)]).unwrap();
    v.set_index(BTC, 3_196_727).unwrap();
    v.set_index(ETH, 133_518).unwrap();
    v.check_invariants().unwrap();
    // The BTC leg counts the ETH leg's sub-wallet 0 + UPNL1 less its TMM1.
    let others = v.exchange(BTC).account(TraderId(1)).unwrap().others;
    let (upnl1, tmm1) = (Money(-448_192_885_140_000_000), Money(356_512_508_122_000_000));
    assert_eq!(others, OtherLegs { equity: upnl1, maintenance: tmm1 }.net());
    assert_eq!(trigger(&v, BTC, 1), Some(2_631_689));
    assert_eq!(trigger(&v, ETH, 1), Some(115_325));
    assert_eq!(v.wallet(TraderId(1)), usdt(1_535_443.01));
    assert!(v.exchange(BTC).tape().liquidations.is_empty());
}

#[test]
fn reference_example_3_leg_triggers_through_the_venue() {
    // REFERENCE §1 example 3: WB 10.72; BTC short 0.005 @ 9,451.53 (MMR 0.4 %), ETH long 1 @ 199.53
    // (MMR 0.65 %). The example's other-contract figures are the legs at marks BTC 9,463.53
    // (UPNL −0.06, MM 0.1892706 ≈ 0.19) and ETH 200.00 (UPNL 0.47, MM 1.3).
    // BTC: (10.72 − 1.3 + 0.47 + 0.005 × 9,451.53) / (0.005 × 1.004) = 11,383.994… → a short is
    // liquidatable at or above: trigger 11,384.00. ETH: (10.72 − 0.1892706 − 0.06 − 199.53) / (0.0065 − 1)
    // = 190.2962… → trigger 190.29 (REFERENCE 190.29, with TMM1 rounded to 0.19).
    let btc = TierTable::single(Rate(400_000), 125).unwrap();
    let eth = TierTable::single(Rate(650_000), 100).unwrap();
    let mut v = MultiExchange::new(vec![market("BTCUSDT", 0.01, btc, 0.0), market("ETHUSDT", 0.01, eth, 0.0)]).unwrap();
    v.add_accounts(&[row(BTC, 7, 0.0, -5, 9_451.53), row(ETH, 7, 10.72, 1000, 199.53)]).unwrap();
    v.set_index(BTC, 946_353).unwrap();
    v.set_index(ETH, 20_000).unwrap();
    v.check_invariants().unwrap();
    let others = v.exchange(ETH).account(TraderId(7)).unwrap().others;
    assert_eq!(others, OtherLegs { equity: usdt(-0.06), maintenance: usdt(0.1892706) }.net());
    assert_eq!(trigger(&v, BTC, 7), Some(1_138_400));
    assert_eq!(trigger(&v, ETH, 7), Some(19_029));
    // One tick either side of each trigger, on the account as a whole.
    v.set_index(ETH, 19_030).unwrap();
    assert!(v.exchange(ETH).tape().liquidations.is_empty());
    v.check_invariants().unwrap();
}

/// BTC (tick 0.1) MMR 0.5 %, ETH (tick 0.01) MMR 1 %, liquidation fee 0.1 %; account 10: long
/// 2 BTC @ 50,000 (wallet 0 there) and short 10 ETH @ 3,000 with the 2,000 USDT in the ETH row.
fn spill_over_venue() -> MultiExchange {
    let btc = TierTable::single(Rate(500_000), 100).unwrap();
    let eth = TierTable::single(Rate(1_000_000), 100).unwrap();
    let mut v =
        MultiExchange::new(vec![market("BTCUSDT", 0.1, btc, 0.001), market("ETHUSDT", 0.01, eth, 0.001)]).unwrap();
    v.add_accounts(&[row(BTC, 10, 0.0, 2_000, 50_000.0), row(ETH, 10, 2_000.0, -10_000, 3_000.0)]).unwrap();
    v.add_resting_orders(BTC, &[(Side::Buy, 499_900, 2_000, None), (Side::Sell, 500_100, 2_000, None)]).unwrap();
    v.add_resting_orders(ETH, &[(Side::Buy, 299_000, 20_000, None), (Side::Sell, 320_000, 20_000, None)]).unwrap();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    v.check_invariants().unwrap();
    v
}

#[test]
fn an_eth_move_liquidates_the_btc_position_through_cross_margin() {
    // At BTC 50,000 the account is 2,000 − 10 (P − 3,000) vs MM 500 + 0.1 P (0.5 % of 100,000 and
    // 1 % of 10 P): liquidatable when 31,500 ≤ 10.1 P, P ≥ 3,118.8118… → the ETH leg's trigger is
    // 3,118.82; BTC alone (2,000 on 100,000, MM 500) would be safe whatever ETH does.
    let mut v = spill_over_venue();
    assert_eq!(trigger(&v, ETH, 10), Some(311_882));
    v.set_index(ETH, 311_881).unwrap();
    assert!(v.exchange(BTC).tape().liquidations.is_empty());
    // ETH to 3,130: equity 2,000 − 1,300 = 700 ≤ MM 500 + 313 = 813. Largest MM first: the BTC leg
    // (500 > 313), although BTC did not move. Its bankruptcy price counts the ETH leg's equity less
    // its MM: others = (2,000 − 1,300) − 313 = 387 = the BTC leg's collateral (sub-wallet 0), so
    // (100,000 − 387) / 2 = 49,806.5: the IOC sell of 2 BTC limited there fills at the 49,990 bid:
    // realised −20, fee 0.1 % × 99,980 = 99.98 (≤ 367 left above the others' maintenance). BTC
    // sub-wallet −119.98, drawn from the ETH sub-wallet: 2,000 − 119.98 = 1,880.02. Account: equity
    // 1,880.02 − 1,300 = 580.02 > MM 313: back above maintenance, the ETH short stays.
    v.set_index(ETH, 313_000).unwrap();
    v.check_invariants().unwrap();
    let liq = v.exchange(BTC).tape().liquidations.clone();
    assert_eq!(liq.len(), 1);
    assert_eq!(
        (liq[0].trader, liq[0].qty, liq[0].side, liq[0].kind),
        (TraderId(10), 2_000, Side::Buy, LiquidationKind::Full)
    );
    assert_eq!(liq[0].bankruptcy_price, 498_065);
    assert_eq!(liq[0].avg_fill_ticks, 499_900.0);
    assert_eq!(liq[0].insurance_delta, usdt(99.98));
    assert!(v.exchange(ETH).tape().liquidations.is_empty());
    let btc_leg = v.exchange(BTC).account(TraderId(10)).unwrap();
    let eth_leg = v.exchange(ETH).account(TraderId(10)).unwrap();
    assert_eq!((btc_leg.position.lots, btc_leg.wallet), (0, Money::ZERO));
    assert_eq!((eth_leg.position.lots, eth_leg.wallet), (-10_000, usdt(1_880.02)));
    assert_eq!(
        v.transfers(),
        &[TransferRecord { ts: 0, trader: TraderId(10), from: ETH, to: BTC, amount: usdt(119.98) }]
    );
    assert_eq!(v.wallet(TraderId(10)), usdt(1_880.02));
    // The ETH leg alone now: 1,880.02 − 10 (P − 3,000) ≤ 0.1 P → P ≥ 31,880.02 / 10.1 = 3,156.437… .
    assert_eq!(trigger(&v, ETH, 10), Some(315_644));
    assert_eq!(v.exchange(BTC).insurance_fund(), usdt(99.98));
}

#[test]
fn a_btc_squeeze_closes_the_eth_short_with_eth_not_moving() {
    // The mirror of the scenario: short 2 BTC @ 50,000 (MM 500 at 50,000) and short 1 ETH
    // @ 3,000 (MM 30), 1,000 USDT in the BTC row. BTC to 50,400: equity 1,000 − 800 = 200 ≤ MM
    // 504 + 30: BTC leg first (larger MM). Its bankruptcy price: others = 0 − 30 (ETH: sub-wallet 0,
    // UPNL 0 at 3,000, MM 30) → collateral 970; a short: (970 + 100,000) / 2 = 50,485. The ask at
    // 50,450 fills it: realised −900, fee 0.1 % × 100,900 = 100.9 ≤ 970 − 900 = 70? No: what is
    // left above the others' maintenance is 1,000 − 900 − 30 = 70, so the fee is 70; BTC sub-wallet
    // 30 = ETH's MM exactly. Equity 30 ≤ MM 30: still liquidatable, so the ETH short (ETH never
    // moved) is closed next at the 3,000.5 ask: realised −0.5, fee min(3.0005, 29.5) = 3.0005.
    // Flat: 30 − 0.5 − 3.0005 = 26.4995 left; Binance sends it to the fund.
    let btc = TierTable::single(Rate(500_000), 100).unwrap();
    let eth = TierTable::single(Rate(1_000_000), 100).unwrap();
    let mut v =
        MultiExchange::new(vec![market("BTCUSDT", 0.1, btc, 0.001), market("ETHUSDT", 0.01, eth, 0.001)]).unwrap();
    v.add_accounts(&[row(BTC, 10, 1_000.0, -2_000, 50_000.0), row(ETH, 10, 0.0, -1_000, 3_000.0)]).unwrap();
    v.add_resting_orders(BTC, &[(Side::Buy, 490_000, 2_000, None), (Side::Sell, 504_500, 2_000, None)]).unwrap();
    v.add_resting_orders(ETH, &[(Side::Buy, 299_000, 2_000, None), (Side::Sell, 300_050, 2_000, None)]).unwrap();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    v.check_invariants().unwrap();
    v.set_index(BTC, 504_000).unwrap();
    v.check_invariants().unwrap();
    let btc_liq = v.exchange(BTC).tape().liquidations.clone();
    let eth_liq = v.exchange(ETH).tape().liquidations.clone();
    assert_eq!((btc_liq.len(), eth_liq.len()), (1, 1));
    assert_eq!((btc_liq[0].bankruptcy_price, btc_liq[0].avg_fill_ticks), (504_850, 504_500.0));
    assert_eq!(btc_liq[0].insurance_delta, usdt(70.0));
    assert_eq!((eth_liq[0].qty, eth_liq[0].avg_fill_ticks, eth_liq[0].round), (1_000, 300_050.0, btc_liq[0].round));
    assert_eq!(v.exchange(ETH).mark(), Some(300_000)); // ETH never moved
    assert_eq!(v.wallet(TraderId(10)), Money::ZERO);
    // ETH's fund: the fee 3.0005, then the 26.4995 left (held in the BTC sub-wallet: BTC's fund).
    assert_eq!(v.exchange(ETH).insurance_fund(), usdt(3.0005));
    assert_eq!(v.exchange(BTC).insurance_fund(), usdt(70.0 + 26.4995));
    assert_eq!(eth_liq[0].insurance_delta, usdt(3.0005));
}

#[test]
fn a_hole_beyond_the_whole_account_goes_to_the_fund_of_the_leg_holding_it() {
    // Short 1 ETH @ 3,000 (sub-wallet 0) and flat in BTC with 50 there. ETH jumps to 3,100 with no
    // asks in the book: the close-out at the bankruptcy price (50 + 3,000 = 3,050) finds nothing;
    // the empty fund cannot take over a short worth −50 at the mark, so it is deleveraged at 3,050
    // against background liquidity (the long mirroring the load): the ETH sub-wallet −50, filled
    // from BTC's 50; the account ends at zero and no fund pays anything.
    let btc = TierTable::single(Rate(500_000), 100).unwrap();
    let eth = TierTable::single(Rate(1_000_000), 100).unwrap();
    let mut v = MultiExchange::new(vec![market("BTCUSDT", 0.1, btc, 0.0), market("ETHUSDT", 0.01, eth, 0.0)]).unwrap();
    v.add_accounts(&[row(BTC, 3, 50.0, 0, 0.0), row(ETH, 3, 0.0, -1_000, 3_000.0)]).unwrap();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    v.set_index(ETH, 310_000).unwrap();
    v.check_invariants().unwrap();
    let liq = v.exchange(ETH).tape().liquidations[0];
    assert_eq!((liq.kind, liq.bankruptcy_price, liq.insurance_delta), (LiquidationKind::Adl, 305_000, Money::ZERO));
    assert_eq!(v.exchange(ETH).tape().trades[0].kind, TradeKind::Adl);
    assert_eq!(v.exchange(ETH).tape().adl[0].trader, crate::exchange::LIQUIDITY_ID);
    assert_eq!(v.exchange(ETH).accounts()[BACKSTOP as usize].position.lots, 0);
    assert_eq!(v.wallet(TraderId(3)), Money::ZERO);
    assert_eq!(v.transfers()[0].amount, usdt(50.0));
}

#[test]
fn loading_errors_name_the_row_and_load_nothing() {
    let flat = || TierTable::single(Rate(1_000_000), 100).unwrap();
    let mut v =
        MultiExchange::new(vec![market("BTCUSDT", 0.1, flat(), 0.0), market("ETHUSDT", 0.01, flat(), 0.0)]).unwrap();
    let mut iso = row(ETH, 5, 10.0, 0, 0.0);
    iso.1.mode = MarginMode::Isolated;
    let err = v.add_accounts(&[row(BTC, 5, 10.0, 0, 0.0), iso]).unwrap_err();
    assert!(matches!(err, Error::BadInput { column: "margin_mode", row: 1, .. }), "{err}");
    let err = v.add_accounts(&[row(BTC, 5, 10.0, 0, 0.0), row(ETH, 6, 10.0, 0, 0.0), row(ETH, 7, -1.0, 0, 0.0)]);
    assert!(matches!(err, Err(Error::BadInput { column: "balance", row: 2, .. })), "{err:?}");
    assert!(v.exchange(BTC).account(TraderId(5)).is_none());
    let err = v.add_accounts(&[row(BTC, 5, 10.0, 0, 0.0), row(BTC, 5, 10.0, 0, 0.0)]);
    assert!(matches!(err, Err(Error::BadInput { column: "trader_id", row: 1, .. })), "{err:?}");
    let err = v.add_accounts(&[row(InstrumentId(2), 5, 10.0, 0, 0.0)]);
    assert!(matches!(err, Err(Error::BadInput { column: "symbol", row: 0, .. })), "{err:?}");
    v.add_accounts(&[row(BTC, 5, 10.0, 0, 0.0)]).unwrap();
    let err = v.add_accounts(&[row(ETH, 5, 10.0, 0, 0.0)]);
    assert!(matches!(err, Err(Error::BadInput { column: "trader_id", row: 0, .. })), "{err:?}");
    assert!(MultiExchange::new(vec![]).is_err());
    assert!(MultiExchange::new(vec![market("X", 0.1, flat(), 0.0), market("X", 0.1, flat(), 0.0)]).is_err());
}

#[test]
fn bands_leave_safe_accounts_stale_and_refresh_the_watched() {
    // Hand-worked (the bands of the module docs, 1 % half-width). One tier, MMR 1 %, cum 0, both
    // markets. Trader 1: BTC long 1 @ 50,000 with 10,000 USDT, ETH short 10 @ 3,000 with 0.
    // Trader 2: the same legs with 1,590 USDT on the BTC leg.
    // Bands at BTC 50,000, ETH 3,000: [49,500, 50,500] and [2,970, 3,030]. Per leg, the smaller of
    // wallet + UPNL − MM at the two ends: BTC at 49,500: −500 − 495 = −995 (at 50,500: +500 − 505
    // = −5); ETH short at 3,030: −300 − 303 = −603 (at 2,970: +300 − 297 = +3). Worst corner:
    // trader 1 10,000 − 995 − 603 = 8,402 > 0, safe; trader 2 1,590 − 995 − 603 = −8, watched
    // (at the centre it has 1,590 − 500 − 300 = 790 above maintenance).
    let one = || tiers(&[(0, 10_000_000, 1_000_000, 100)]);
    let mut v =
        MultiExchange::new(vec![market("BTCUSDT", 0.1, one(), 0.0), market("ETHUSDT", 0.01, one(), 0.0)]).unwrap();
    v.add_accounts(&[
        row(BTC, 1, 10_000.0, 1_000, 50_000.0),
        row(ETH, 1, 0.0, -10_000, 3_000.0),
        row(BTC, 2, 1_590.0, 1_000, 50_000.0),
        row(ETH, 2, 0.0, -10_000, 3_000.0),
    ])
    .unwrap();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    assert_eq!(v.worst_in_bands(0), Some(usdt(8_402.0)));
    assert_eq!(v.worst_in_bands(1), Some(usdt(-8.0)));
    assert_eq!((v.accounts.iter().map(|a| a.safe).collect::<Vec<_>>(), v.watch.clone()), (vec![true, false], vec![1]));
    let others = |v: &MultiExchange, inst, id| v.exchange(inst).account(TraderId(id)).unwrap().others;
    let at_start = (others(&v, BTC, 1), trigger(&v, BTC, 1));
    assert_eq!(at_start.0, OtherLegs { equity: usdt(0.0), maintenance: usdt(300.0) }.net());

    // Both marks move inside their bands (ETH 3,020, BTC 49,600): the watched account is synced
    // (its BTC leg counts ETH's −200 UPNL and 302 MM), the safe one keeps its legs as they were.
    v.set_index(ETH, 302_000).unwrap();
    v.set_index(BTC, 496_000).unwrap();
    assert_eq!(others(&v, BTC, 2), OtherLegs { equity: usdt(-200.0), maintenance: usdt(302.0) }.net());
    assert_eq!((others(&v, BTC, 1), trigger(&v, BTC, 1)), at_start);
    assert_eq!(v.centre, vec![Some(500_000), Some(300_000)]);
    v.check_invariants().unwrap();
    assert!(v.crossed_accounts().is_empty());

    // ETH leaves its band (3,035 > 3,030): its band is re-centred there ([3,004.65, 3,065.35]),
    // BTC's stays, and every account is refreshed: trader 1's BTC leg now counts ETH's −350 and
    // 303.5. Trader 1 stays safe (ETH at 3,065.35: −653.5 − 306.535 = −960.035; worst 10,000 − 995
    // − 960.035 = 8,044.965); trader 2 (1,590 − 400 − 496 − 350 − 303.5 = 40.5 above maintenance
    // now) stays watched.
    v.set_index(ETH, 303_500).unwrap();
    assert_eq!(v.centre, vec![Some(500_000), Some(303_500)]);
    assert_eq!(others(&v, BTC, 1), OtherLegs { equity: usdt(-350.0), maintenance: usdt(303.5) }.net());
    assert_eq!(v.worst_in_bands(0), Some(usdt(8_044.965)));
    assert_eq!((v.accounts.iter().map(|a| a.safe).collect::<Vec<_>>(), v.watch.clone()), (vec![true, false], vec![1]));
    v.check_invariants().unwrap();
    assert!(v.crossed_accounts().is_empty());

    // A fill of trader 1's own (its BTC leg sold down to 0.1 BTC) recomputes it alone: still
    // safe, and its legs exact at the current marks.
    let sell = OrderRequest { side: Side::Sell, qty: 900, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    v.add_resting_orders(BTC, &[(Side::Buy, 495_000, 900, None)]).unwrap();
    v.submit(BTC, TraderId(1), sell).unwrap();
    assert_eq!(v.exchange(BTC).account(TraderId(1)).unwrap().position.lots, 100);
    assert!(v.accounts[0].safe);
    v.check_invariants().unwrap();
}

#[test]
fn a_band_exit_refreshes_a_safe_account_whose_legs_lag_two_marks() {
    // Hand-worked (1 % bands, one tier, MMR 1 %, cum 0, as above). Trader 1: BTC long 1 @ 50,000
    // with 2,000 USDT, ETH short 10 @ 3,000. Its value at marks (B, E): 2,000 + (B − 50,000) −
    // 0.01 B + 10 (3,000 − E) − 0.1 E = 0.99 B − 10.1 E − 18,000.
    let one = || tiers(&[(0, 10_000_000, 1_000_000, 100)]);
    let mut v =
        MultiExchange::new(vec![market("BTCUSDT", 0.1, one(), 0.0), market("ETHUSDT", 0.01, one(), 0.0)]).unwrap();
    v.add_accounts(&[row(BTC, 1, 2_000.0, 1_000, 50_000.0), row(ETH, 1, 0.0, -10_000, 3_000.0)]).unwrap();
    v.add_resting_orders(BTC, &[(Side::Buy, 480_000, 10_000, None)]).unwrap();
    v.add_resting_orders(ETH, &[(Side::Sell, 320_000, 100_000, None)]).unwrap();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    // ETH moves inside its band to 3,020 (ETH lags); an order of the trader's that finds nothing
    // to fill refreshes its legs at (50,000, 3,020). Worst corner of the box [49,500, 50,500] ×
    // [2,970, 3,030]: 0.99 × 49,500 − 10.1 × 3,030 − 18,000 = 402 > 0: safe.
    v.set_index(ETH, 302_000).unwrap();
    let buy = OrderRequest { side: Side::Buy, qty: 1, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    v.submit(BTC, TraderId(1), buy).unwrap();
    assert_eq!(v.exchange(BTC).account(TraderId(1)).unwrap().position.lots, 1_000);
    assert_eq!(v.worst_in_bands(0), Some(usdt(402.0)));
    assert!(v.accounts[0].safe);
    // BTC moves inside its band to 49,600: both instruments moved, so both are synced, but the
    // safe account is skipped: its legs now lag BTC's mark only.
    v.set_index(BTC, 496_000).unwrap();
    assert!(v.accounts[0].safe);
    assert_eq!(v.lags(0), Ok(Some(BTC.0 as usize)));
    // Its ETH leg's trigger still counts BTC at 50,000: 0.99 × 50,000 − 10.1 E − 18,000 = 0 at
    // E = 3,118.81…, a short's trigger the tick above: 3,118.82. At BTC 49,600 it is 3,079.60.
    assert_eq!(trigger(&v, ETH, 1), Some(311_882));
    // ETH leaves its band (3,100 > 3,030). At (49,600, 3,100) the account is under: 0.99 × 49,600
    // − 10.1 × 3,100 − 18,000 = −206. The stale ETH trigger (3,118.82) does not report it, nor
    // does the BTC leg's (set at ETH 3,020: a long's trigger at B = 48,991.9…). Re-centring voids
    // its certificate; its legs lag two marks (BTC's, which the sync skipped, and ETH's), more
    // than the one instrument the indexes may lag, so they are set exact at once and the cascade
    // finds it: its BTC leg (maintenance 496, the larger) is closed out first.
    v.set_index(ETH, 310_000).unwrap();
    let liquidated = &v.exchange(BTC).tape().liquidations;
    assert!(!liquidated.is_empty() && liquidated[0].trader == TraderId(1), "{liquidated:?}");
    v.check_invariants().unwrap();
}

// ----- properties ------------------------------------------------------------------------------

use proptest::prelude::*;

/// A venue of BTC-like and ETH-like markets on Binance's published tiers, marks on the last trade
/// (so fills move them), with `n` multi accounts of random legs and balances, a few singles and
/// background books.
fn random_venue(legs: &[(i64, i64, u32, u32)], mark_rule: MarkRule) -> MultiExchange {
    let cfg = |symbol: &str, tick: f64| {
        let preset = VenuePreset::new(Venue::Binance, symbol).unwrap();
        let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(tick, 0.001).unwrap());
        cfg.mark_rule = mark_rule;
        cfg.insurance_fund = usdt(10_000.0);
        (symbol.to_string(), cfg)
    };
    let mut v = MultiExchange::new(vec![cfg("BTCUSDT", 0.1), cfg("ETHUSDT", 0.01)]).unwrap();
    let mut rows = Vec::new();
    for (i, &(btc, eth, bal_btc, bal_eth)) in legs.iter().enumerate() {
        let id = i as i64 + 1;
        rows.push(row(BTC, id, bal_btc as f64, btc, 50_000.0));
        rows.push(row(ETH, id, bal_eth as f64, eth, 3_000.0));
    }
    // Singles: one per instrument.
    rows.push(row(BTC, 1_000, 5_000.0, 1_000, 50_000.0));
    rows.push(row(ETH, 1_001, 2_000.0, -5_000, 3_000.0));
    for r in &mut rows {
        r.1.leverage = 20;
    }
    v.add_accounts(&rows).unwrap();
    let book = |mid: Price, step: Price| -> Vec<RestingOrder> {
        (1..=20)
            .flat_map(|d| [(Side::Buy, mid - d * step, 500, None), (Side::Sell, mid + d * step, 500, None)])
            .collect()
    };
    v.add_resting_orders(BTC, &book(500_000, 500)).unwrap();
    v.add_resting_orders(ETH, &book(300_000, 300)).unwrap();
    v
}

fn legs_strategy() -> impl Strategy<Value = Vec<(i64, i64, u32, u32)>> {
    proptest::collection::vec((-3_000i64..3_000, -40_000i64..40_000, 0u32..6_000, 0u32..6_000), 2..12)
}

/// The set of multi accounts at or below maintenance at the current marks, from the legs alone.
fn brute_force(v: &MultiExchange) -> Vec<TraderId> {
    let mut out = Vec::new();
    for a in &v.accounts {
        let (mut equity, mut mm, mut open) = (0i128, 0i128, false);
        for &(k, d) in &a.legs {
            let ex = v.exchange(InstrumentId(k));
            let acct = &ex.accounts()[d as usize];
            let (scale, tiers) = (ex.config().scale, &ex.config().preset.tiers);
            let Some(mark) = ex.mark() else { return Vec::new() };
            equity += acct.wallet.0 + acct.position.unrealized(mark, scale).0;
            mm += acct.maintenance_margin(mark, scale, tiers).0;
            open |= !acct.position.is_flat();
        }
        if open && equity <= mm {
            out.push(a.id);
        }
    }
    out.sort_unstable();
    out
}

#[derive(Clone, Debug)]
enum Op {
    Index(u32, i64),
    /// The instrument's index back where it was before its last move (a mark that moves and
    /// comes back must still count as moved: legs may have been set in between).
    Back(u32),
    Trade(u32, usize, bool, Qty),
    Advance(i64),
}

fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        ((0u32..2), -600i64..600).prop_map(|(k, bp)| Op::Index(k, bp)),
        (0u32..2).prop_map(Op::Back),
        ((0u32..2), 0usize..14, any::<bool>(), 1i64..2_000).prop_map(|(k, t, b, q)| Op::Trade(k, t, b, q)),
        (1i64..4 * 3600).prop_map(Op::Advance),
    ];
    proptest::collection::vec(op, 1..25)
}

fn trader_of(v: &MultiExchange, t: usize) -> TraderId {
    if t < v.accounts.len() {
        v.accounts[t].id
    } else {
        TraderId(1_000 + (t % 2) as i64)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Marks moved without acting (index moves and fills straight into the markets), then the
    /// refreshed leg indexes asked: the same accounts as checking every account at the marks.
    #[test]
    fn index_equals_brute_force_under_random_marks_and_fills(
        legs in legs_strategy(),
        ops in ops_strategy(),
        on_index in any::<bool>(),
        band_bp in prop_oneof![Just(10i64), Just(100), Just(1_000)],
        shrink in 1i64..=10,
    ) {
        // Marks on the last trade (fills move them) or on the index (every index move does).
        // Bands of 0.1 %, 1 % and 10 %; index moves of up to 6 % divided by `shrink`, so many
        // stay inside the bands and the safe accounts' legs lag them, others cross them.
        let mut v = random_venue(&legs, if on_index { MarkRule::Index } else { MarkRule::Last });
        v.band_bp = band_bp;
        let mut price = [500_000i64, 300_000i64];
        let mut before = price;
        for (i, &p) in v.instruments.iter_mut().zip(&price) {
            i.exchange.set_index_quietly(p);
        }
        for op in ops {
            match op {
                Op::Index(k, bp) => {
                    before[k as usize] = price[k as usize];
                    price[k as usize] = (price[k as usize] * (10_000 + bp / shrink) / 10_000).max(1);
                    v.instruments[k as usize].exchange.set_index_quietly(price[k as usize]);
                }
                Op::Back(k) => {
                    std::mem::swap(&mut before[k as usize], &mut price[k as usize]);
                    v.instruments[k as usize].exchange.set_index_quietly(price[k as usize]);
                }
                Op::Trade(k, t, buy, q) => {
                    let id = trader_of(&v, t);
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let req = OrderRequest { side, qty: q, price: None, tif: TimeInForce::Ioc, reduce_only: false };
                    // Straight into the market: its own cascade runs (singles), the venue's does not.
                    v.instruments[k as usize].exchange.submit(id, req);
                }
                Op::Advance(_) => {}
            }
            let index = v.crossed_accounts();
            prop_assert_eq!(index, brute_force(&v));
        }
    }

    /// Random multi-instrument sequences through the venue: after every action, every market's
    /// invariants (zero-sum positions, money, indexes) and the venue's (money across markets,
    /// fresh legs, nobody left under maintenance) hold.
    #[test]
    fn money_and_positions_conserved_under_random_sequences(
        legs in legs_strategy(),
        ops in ops_strategy(),
        band_bp in prop_oneof![Just(10i64), Just(100), Just(1_000)],
    ) {
        let mut v = random_venue(&legs, MarkRule::Last);
        v.band_bp = band_bp;
        let mut price = [500_000i64, 300_000i64];
        let mut before = price;
        v.set_index(BTC, price[0]).unwrap();
        v.set_index(ETH, price[1]).unwrap();
        v.check_invariants().map_err(TestCaseError::fail)?;
        let mut ts = 0;
        for op in ops {
            match op {
                Op::Index(k, bp) => {
                    before[k as usize] = price[k as usize];
                    price[k as usize] = (price[k as usize] * (10_000 + bp) / 10_000).max(1);
                    v.set_index(InstrumentId(k), price[k as usize]).unwrap();
                }
                Op::Back(k) => {
                    std::mem::swap(&mut before[k as usize], &mut price[k as usize]);
                    v.set_index(InstrumentId(k), price[k as usize]).unwrap();
                }
                Op::Trade(k, t, buy, q) => {
                    let id = trader_of(&v, t);
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let req = OrderRequest { side, qty: q, price: None, tif: TimeInForce::Ioc, reduce_only: false };
                    v.submit(InstrumentId(k), id, req).unwrap();
                }
                Op::Advance(s) => {
                    ts += s * crate::funding::SECOND;
                    v.advance_to(ts);
                }
            }
            v.check_invariants().map_err(TestCaseError::fail)?;
            prop_assert!(brute_force(&v).is_empty());
            for k in 0..2 {
                let net: i64 = v.exchange(InstrumentId(k)).accounts().iter().map(|a| a.position.lots).sum();
                prop_assert_eq!(net, 0);
            }
        }
    }
}

#[test]
fn single_instrument_accounts_behave_as_in_a_lone_market() {
    // Composition keeps the one-instrument engine as it is: a venue whose accounts each trade one
    // instrument (cross and isolated) records exactly what two lone markets record.
    let btc = || market("BTCUSDT", 0.1, TierTable::single(Rate(500_000), 100).unwrap(), 0.001);
    let eth = || market("ETHUSDT", 0.01, TierTable::single(Rate(1_000_000), 100).unwrap(), 0.001);
    let mut v = MultiExchange::new(vec![btc(), eth()]).unwrap();
    let mut iso = row(ETH, 4, 100.0, -1_000, 3_000.0);
    iso.1.mode = MarginMode::Isolated;
    iso.1.leverage = 50;
    let rows =
        [row(BTC, 1, 600.0, 1_000, 50_000.0), row(BTC, 2, 10_000.0, 0, 0.0), iso, row(ETH, 3, 80.0, 1_000, 3_000.0)];
    v.add_accounts(&rows).unwrap();
    let mut lone = [Exchange::new(btc().1).unwrap(), Exchange::new(eth().1).unwrap()];
    for (k, ex) in lone.iter_mut().enumerate() {
        let mine: Vec<AccountRow> = rows.iter().filter(|r| r.0 .0 == k as u32).map(|r| r.1).collect();
        ex.add_accounts(&mine).unwrap();
    }
    let books: [Vec<RestingOrder>; 2] = [
        vec![(Side::Buy, 495_000, 3_000, None), (Side::Sell, 505_000, 3_000, None)],
        vec![(Side::Buy, 297_000, 3_000, None), (Side::Sell, 303_000, 3_000, None)],
    ];
    for k in 0..2 {
        v.add_resting_orders(InstrumentId(k), &books[k as usize]).unwrap();
        lone[k as usize].add_resting_orders(&books[k as usize]).unwrap();
    }
    let steps: [(u32, Price); 5] = [(0, 500_000), (1, 300_000), (0, 495_000), (1, 306_500), (1, 295_000)];
    for (k, price) in steps {
        v.set_index(InstrumentId(k), price).unwrap();
        lone[k as usize].set_index(price);
        v.check_invariants().unwrap();
    }
    let buy = OrderRequest { side: Side::Buy, qty: 500, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    v.submit(BTC, TraderId(2), buy).unwrap();
    lone[0].submit(TraderId(2), buy);
    for k in 0..2 {
        let (a, b) = (v.exchange(InstrumentId(k)).tape(), lone[k as usize].tape());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(
            format!("{:?}", v.exchange(InstrumentId(k)).accounts()),
            format!("{:?}", lone[k as usize].accounts())
        );
    }
    assert!(!v.exchange(BTC).tape().liquidations.is_empty() && !v.exchange(ETH).tape().liquidations.is_empty());
}

#[test]
fn same_inputs_same_bytes_out() {
    let run = || {
        let legs = [(1_500, -20_000, 900, 1_100), (-2_000, 15_000, 2_000, 0), (800, 8_000, 0, 700)];
        let mut v = random_venue(&legs, MarkRule::Last);
        v.set_index(BTC, 500_000).unwrap();
        v.set_index(ETH, 300_000).unwrap();
        for (k, p) in [(0, 515_000), (1, 290_000), (0, 470_000), (1, 320_000)] {
            v.set_index(InstrumentId(k), p).unwrap();
            v.check_invariants().unwrap();
        }
        let tapes: Vec<String> = (0..2).map(|k| format!("{:?}", v.exchange(InstrumentId(k)).tape())).collect();
        (tapes, format!("{:?}", v.transfers()))
    };
    let first = run();
    assert!(first.0.iter().any(|t| t.contains("Liquidation")));
    assert_eq!(first, run());
}

#[test]
fn an_instrument_holding_legs_is_not_snapshotted_on_its_own() {
    // Its accounts' cross collateral depends on the other instrument, which a one-market snapshot
    // would lose: refused with a clear error rather than written without it.
    let v = spill_over_venue();
    let err = v.exchange(InstrumentId(0)).to_snapshot().unwrap_err().to_string();
    assert!(err.contains("MultiExchange"), "{err}");
}

#[test]
fn a_mark_that_moves_and_comes_back_still_counts_as_moved() {
    // Found by the conservation property: ETH's mark moves (trader 6 then opens an ETH leg, so its
    // BTC leg is set at that mark) and a fill brings it back to the mark its holders were synced
    // at. Comparing marks alone would call ETH unmoved and leave trader 6's BTC leg stale.
    let legs = [(0, 0, 0, 0), (0, 0, 279, 3519), (0, 0, 0, 0), (0, 0, 0, 7), (0, 0, 0, 207), (1, 0, 0, 100)];
    let mut v = random_venue(&legs, MarkRule::Last);
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    v.check_invariants().unwrap();
    let mut marks = Vec::new();
    for (k, t, buy, q) in [(0u32, 1usize, false, 1i64), (1, 1, true, 1), (1, 5, false, 1), (1, 13, true, 6)] {
        let id = trader_of(&v, t);
        let side = if buy { Side::Buy } else { Side::Sell };
        let req = OrderRequest { side, qty: q, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        v.submit(InstrumentId(k), id, req).unwrap();
        marks.push(v.exchange(ETH).mark());
        v.check_invariants().unwrap();
        assert_eq!(v.crossed_accounts(), brute_force(&v));
    }
    // The path the test is about: 300,300 → 299,700 → 300,300.
    assert_eq!(marks[1..], [Some(300_300), Some(299_700), Some(300_300)]);
}

/// BTC and ETH on `mark_rule` with books 1 % above the index (longs pay funding); account 10 long
/// 1 BTC @ 50,000 and 10 ETH @ 3,000 with `balance` USDT in the ETH row.
fn funded_venue(mark_rule: MarkRule, balance: f64) -> MultiExchange {
    let btc = TierTable::single(Rate(500_000), 100).unwrap();
    let eth = TierTable::single(Rate(1_000_000), 100).unwrap();
    let (mut b, mut e) = (market("BTCUSDT", 0.1, btc, 0.001), market("ETHUSDT", 0.01, eth, 0.001));
    b.1.mark_rule = mark_rule;
    e.1.mark_rule = mark_rule;
    let mut v = MultiExchange::new(vec![b, e]).unwrap();
    v.add_accounts(&[row(BTC, 10, 0.0, 1_000, 50_000.0), row(ETH, 10, balance, 10_000, 3_000.0)]).unwrap();
    v.add_resting_orders(BTC, &[(Side::Buy, 504_000, 2_000, None), (Side::Sell, 506_000, 2_000, None)]).unwrap();
    v.add_resting_orders(ETH, &[(Side::Buy, 302_900, 20_000, None), (Side::Sell, 303_100, 20_000, None)]).unwrap();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    v.check_invariants().unwrap();
    v
}

#[test]
fn advance_to_liquidates_when_stepping_second_by_second_would() {
    // The books sit 1 % above the index, so longs pay at the 8 h settlement: BTC's rate is its
    // 0.75 % cap, ETH's 0.916667 % (both asserted below from the funding records): the BTC leg
    // pays 375 and the ETH leg 275.0001 on 30,000.
    // - Index marks, balance 600: equity 600 − 650.0001 < 0 ≤ MM 250 + 300 at 8 h exactly; the
    //   ETH leg (MM 300 > 250) is closed out then, at 3,000.00 (the fund is empty: by ADL).
    // - Binance's median mark, balance 800: after the settlement the mark's funding term
    //   (index × (1 + F × time to funding / 8 h)) lifts both marks, then drifts them back down
    //   to the index; the account, paid 600, crosses on the way down (at 11 h 02 min 30 s).
    // One call to `advance_to(12 h)` must record what 43,200 one-second steps record. (Before,
    // the venue looked at multi accounts at the target time only: both at 12 h, other marks.)
    let end = 12 * 3600 * crate::funding::SECOND;
    for (rule, balance) in [(MarkRule::Index, 600.0), (MarkRule::BinanceMedian, 800.0)] {
        let mut jump = funded_venue(rule, balance);
        jump.advance_to(end);
        jump.check_invariants().unwrap();
        let mut step = funded_venue(rule, balance);
        for s in 1..=12 * 3600 {
            step.advance_to(s * crate::funding::SECOND);
        }
        step.check_invariants().unwrap();
        for k in 0..2 {
            let (a, b) = (jump.exchange(InstrumentId(k)).tape(), step.exchange(InstrumentId(k)).tape());
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{rule:?}, instrument {k}");
        }
        assert_eq!(jump.transfers(), step.transfers());
        let liq = jump.exchange(ETH).tape().liquidations.clone();
        assert_eq!(liq.len(), 1, "{rule:?}");
        assert_eq!((liq[0].trader, liq[0].qty), (TraderId(10), 10_000));
        let (at, mark) = match rule {
            MarkRule::Index => (8 * 3600, 300_000),
            _ => (39_750, 301_704),
        };
        assert_eq!((liq[0].ts / crate::funding::SECOND, liq[0].mark), (at, mark), "{rule:?}");
        let rates: Vec<Rate> = (0..2).map(|k| jump.exchange(InstrumentId(k)).tape().funding[0].rate).collect();
        assert_eq!(rates, [Rate(750_000), Rate(916_667)]);
    }
}

#[test]
fn a_snapshot_continues_as_the_venue_would() {
    // A venue mid-life (liquidations, transfers, ETH lagging after its last move), written and
    // read back: the same bytes again, and the same tapes after the same further actions.
    let legs = [(1_500, -20_000, 900, 1_100), (-2_000, 15_000, 2_000, 0), (800, 8_000, 0, 700)];
    let mut v = random_venue(&legs, MarkRule::Last);
    for (k, p) in [(0, 500_000), (1, 300_000), (0, 515_000), (1, 290_000), (1, 295_000)] {
        v.set_index(InstrumentId(k), p).unwrap();
    }
    let bytes = v.to_snapshot().unwrap();
    let mut back = MultiExchange::from_snapshot(&bytes).unwrap();
    assert_eq!(back.to_snapshot().unwrap(), bytes);
    back.check_invariants().unwrap();
    for (k, p) in [(0, 470_000), (1, 320_000), (0, 530_000)] {
        v.set_index(InstrumentId(k), p).unwrap();
        back.set_index(InstrumentId(k), p).unwrap();
    }
    v.advance_to(9 * 3600 * crate::funding::SECOND);
    back.advance_to(9 * 3600 * crate::funding::SECOND);
    for k in 0..2 {
        let (a, b) = (v.exchange(InstrumentId(k)), back.exchange(InstrumentId(k)));
        assert_eq!(format!("{:?}", a.tape()), format!("{:?}", b.tape()));
        assert_eq!(format!("{:?}", a.accounts()), format!("{:?}", b.accounts()));
    }
    assert_eq!(v.transfers(), back.transfers());
    assert!(v.exchange(BTC).tape().liquidations.len() + v.exchange(ETH).tape().liquidations.len() > 0);
    assert_eq!(v.to_snapshot().unwrap(), back.to_snapshot().unwrap());
    // Damaged, cut, or another kind: refused, naming the snapshot.
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    for bad in [
        &damaged[..],
        &bytes[..bytes.len() / 2],
        &Exchange::new(market("X", 0.1, TierTable::single(Rate(500_000), 100).unwrap(), 0.0).1)
            .unwrap()
            .to_snapshot()
            .unwrap()[..],
    ] {
        let err = MultiExchange::from_snapshot(bad).unwrap_err();
        assert!(matches!(err, Error::Config { what: "snapshot", .. }), "{err}");
    }
}
