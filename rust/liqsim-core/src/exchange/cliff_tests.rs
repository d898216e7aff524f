//! Issue 8: costs independent of unrelated state, loads that are atomic, time jumps that match
//! stepping second by second, and values beyond the limits refused.

use super::*;
use crate::funding::HOUR;
use crate::margin::TierTable;
use crate::venue::{Fees, Venue};

const ETH: i64 = 1000; // lots per ETH (lot 0.001)

fn px(x: f64) -> Price {
    (x * 100.0).round() as Price
}

fn config(mark_rule: MarkRule) -> ExchangeConfig {
    let tiers = TierTable::single(Rate(1_000_000), 100).unwrap(); // MMR 1 %, 100x
    let preset =
        VenuePreset::custom(Venue::Binance, "TESTUSDT", tiers).with_fees(Fees { maker: Rate::ZERO, taker: Rate::ZERO });
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(0.01, 0.001).unwrap());
    cfg.mark_rule = mark_rule;
    cfg.insurance_fund = Money::from_f64(1e6);
    cfg
}

fn account(id: i64, balance: f64, lots: Qty, entry: f64) -> AccountRow {
    AccountRow {
        id: TraderId(id),
        balance: Money::from_f64(balance),
        mode: MarginMode::Cross,
        lots,
        entry_money_per_lot: Money::from_f64(entry / 1000.0),
        leverage: 20,
        isolated_margin: None,
    }
}

/// Index 3,000, book 2,940 / 2,950 (mid below the index: negative premium, shorts pay). After the
/// first settlement the Binance mark's P1 = index × (1 + rate × time-to-funding / 8 h) starts below
/// the index and rises towards it through each interval; shorts loaded then with triggers between
/// the mark and the index are liquidated one by one as the mark drifts up, at seconds that are not
/// settlement times.
fn drifting_market() -> Exchange {
    let mut ex = Exchange::new(config(MarkRule::BinanceMedian)).unwrap();
    ex.add_resting_orders(&[(Side::Buy, px(2940.0), 1000 * ETH, None), (Side::Sell, px(2950.0), 1000 * ETH, None)])
        .unwrap();
    ex.set_index(px(3000.0));
    ex.advance_to(8 * HOUR + SECOND);
    let mark = ex.mark().unwrap();
    assert!(mark < px(2999.0), "the mark starts below the index: {mark}");
    // Short 1 ETH @ 3,000 with B: liquidatable when B + 3000 − P ≤ 0.01 P, at P ≥ (3000 + B) / 1.01.
    let rows: Vec<AccountRow> = (0..20).map(|i| account(10 + i, 9.0 + i as f64, -ETH, 3000.0)).collect();
    ex.add_accounts(&rows).unwrap();
    ex.check_invariants().unwrap();
    ex
}

#[test]
fn advancing_in_one_call_matches_stepping_every_second() {
    let mut jumped = drifting_market();
    let mut stepped = jumped.clone();
    let start = jumped.ts();
    let end = start + 20 * HOUR + 7 * SECOND + 123;
    jumped.advance_to(end);
    let mut t = start;
    while t < end {
        t = (t / SECOND + 1) * SECOND;
        stepped.advance_to(t.min(end));
    }
    assert!(!jumped.tape().liquidations.is_empty(), "the drift liquidates someone");
    assert!(jumped.tape().liquidations.iter().any(|l| l.ts % (8 * HOUR) != 0), "between settlements");
    assert_eq!(jumped.ts(), stepped.ts());
    assert_eq!(jumped.mark(), stepped.mark());
    // Debug text, not ==: a backstop record with no book fill has a NaN average price.
    assert_eq!(format!("{:?}", jumped.tape().liquidations), format!("{:?}", stepped.tape().liquidations));
    assert_eq!(jumped.tape().trades, stepped.tape().trades);
    assert_eq!(jumped.tape().funding, stepped.tape().funding);
    assert_eq!(jumped.tape().insurance, stepped.tape().insurance);
    assert_eq!(jumped.accounts(), stepped.accounts());
    jumped.check_invariants().unwrap();
}

#[test]
fn far_time_jumps_return_promptly() {
    // A fresh exchange: 1.7e18 ns (a 2023 timestamp) is ~59,000 settlements, not 1.7e9 steps.
    let started = std::time::Instant::now();
    let mut ex = Exchange::new(config(MarkRule::BinanceMedian)).unwrap();
    ex.advance_to(1_700_000_000_000_000_000);
    assert_eq!(ex.ts(), 1_700_000_000_000_000_000);
    // With a market and positions, up to the end of time: the schedule stops instead of wrapping.
    let mut ex = drifting_market();
    ex.advance_to(1_700_000_000_000_000_000);
    ex.advance_to(i64::MAX);
    assert_eq!(ex.ts(), i64::MAX);
    ex.check_invariants().unwrap();
    assert!(started.elapsed().as_secs_f64() < 20.0, "{:?}", started.elapsed());
}

#[test]
fn loading_orders_is_atomic() {
    let mut ex = Exchange::new(config(MarkRule::Last)).unwrap();
    ex.add_accounts(&[account(1, 1000.0, 0, 0.0)]).unwrap();
    // Row 2 crosses row 0 (an ask at 3,000 against a bid at 3,001): nothing is loaded.
    let rows = [
        (Side::Sell, px(3000.0), ETH, None),
        (Side::Buy, px(2990.0), ETH, Some(TraderId(1))),
        (Side::Buy, px(3001.0), ETH, None),
    ];
    let err = ex.add_resting_orders(&rows).unwrap_err();
    assert!(matches!(err, Error::BadInput { column: "price", row: 2, .. }), "{err}");
    assert_eq!(ex.book().open_orders(), 0);
    // Unknown owner, zero quantity, price above the market's limit: the row is named, nothing loaded.
    let max = ex.max_price();
    for (bad, column) in [
        ((Side::Buy, px(2990.0), ETH, Some(TraderId(99))), "owner"),
        ((Side::Buy, px(2990.0), 0, None), "qty"),
        ((Side::Sell, max + 1, ETH, None), "price"),
    ] {
        let err = ex.add_resting_orders(&[rows[0], bad]).unwrap_err();
        assert!(matches!(err, Error::BadInput { column: c, row: 1, .. } if c == column), "{err}");
        assert_eq!(ex.book().open_orders(), 0);
    }
    ex.add_resting_orders(&rows[..2]).unwrap();
    assert_eq!(ex.book().open_orders(), 2);
    ex.check_invariants().unwrap();
}

#[test]
fn an_account_loaded_under_maintenance_is_liquidated_by_the_load() {
    let mut ex = Exchange::new(config(MarkRule::Last)).unwrap();
    ex.add_resting_orders(&[(Side::Buy, px(2990.0), 100 * ETH, None), (Side::Sell, px(3010.0), 100 * ETH, None)])
        .unwrap();
    ex.set_index(px(3000.0)); // the mark exists from here on
                              // Short 1 ETH @ 2,900 with 50: at 3,000 its margin balance is −50 < 30 maintenance.
    ex.add_accounts(&[account(5, 50.0, -ETH, 2900.0), account(6, 1000.0, -ETH, 3000.0)]).unwrap();
    assert_eq!(ex.tape().liquidations.len(), 1);
    assert_eq!(ex.tape().liquidations[0].trader, TraderId(5));
    ex.check_invariants().unwrap();
}

#[test]
fn loading_in_batches_costs_the_same_as_one_load() {
    // Triggers are computed for the new rows only: the state after 100 batches equals one load.
    let rows: Vec<AccountRow> = (0..1000).map(|i| account(i, 40.0 + i as f64 * 0.1, -ETH, 3000.0)).collect();
    let mut one = Exchange::new(config(MarkRule::Last)).unwrap();
    one.add_accounts(&rows).unwrap();
    let mut batched = Exchange::new(config(MarkRule::Last)).unwrap();
    // Out of id order too (the id index merges instead of appending).
    for chunk in rows.chunks(10).rev() {
        batched.add_accounts(chunk).unwrap();
    }
    for r in &rows {
        assert_eq!(one.account(r.id).unwrap().trigger, batched.account(r.id).unwrap().trigger);
    }
    assert_eq!(one.trigger_index().len(), batched.trigger_index().len());
    batched.check_invariants().unwrap();
}

#[test]
fn one_account_with_many_orders_keeps_exact_open_lots() {
    // 3,000 resting bids of one account: placing, filling and cancelling them keeps the margin
    // check's running totals equal to the book (checked by a second order that needs them).
    let mut ex = Exchange::new(config(MarkRule::Last)).unwrap();
    ex.add_accounts(&[account(1, 1e7, 0, 0.0), account(2, 1e7, 0, 0.0)]).unwrap();
    ex.add_resting_orders(&[(Side::Sell, px(3100.0), 10 * ETH, None)]).unwrap();
    ex.set_index(px(3000.0));
    let mut ids = Vec::new();
    for i in 0..3000 {
        let req = OrderRequest {
            side: Side::Buy,
            qty: 1,
            price: Some(px(2000.0) + i),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        };
        let out = ex.submit(TraderId(1), req);
        ids.push(out.outcome.order_id.unwrap());
    }
    assert_eq!(ex.open_orders.open_lots(ex.account_index(TraderId(1)).unwrap()), (3000, 0));
    // Trader 2 sells 500 lots into them: the 500 best (highest) fill.
    let sell = OrderRequest { side: Side::Sell, qty: 500, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    assert_eq!(ex.submit(TraderId(2), sell).outcome.filled, 500);
    assert_eq!(ex.open_orders.open_lots(ex.account_index(TraderId(1)).unwrap()), (2500, 0));
    for id in &ids[..1000] {
        ex.cancel(TraderId(1), *id).unwrap();
    }
    assert_eq!(ex.open_orders.open_lots(ex.account_index(TraderId(1)).unwrap()), (1500, 0));
    // Another account cannot cancel them.
    let out = ex.cancel(TraderId(2), ids[2000]).unwrap();
    assert_eq!(out.reject, Some(crate::book::RejectReason::UnknownOrder));
    ex.check_invariants().unwrap();
}

#[test]
fn orders_beyond_the_limits_are_refused_not_wrapped() {
    // tick = lot = 1 (10^12 money units per tick·lot): a 60-USDT account buying 10^12 lots at
    // 10^15 used to pass the margin check on a wrapped notional. Now the price is beyond the
    // market's largest (10^6 ticks), and a huge exposure at a legal price is refused too.
    let tiers = TierTable::single(Rate(1_000_000), 100).unwrap();
    let preset = VenuePreset::custom(Venue::Binance, "UNITUSDT", tiers);
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(1.0, 1.0).unwrap());
    cfg.mark_rule = MarkRule::Last;
    let mut ex = Exchange::new(cfg).unwrap();
    ex.add_accounts(&[account(1, 60.0, 0, 0.0)]).unwrap();
    assert_eq!(ex.max_price(), 1_000_000);
    let req = |price: Price, qty: Qty| OrderRequest {
        side: Side::Buy,
        qty,
        price: Some(price),
        tif: TimeInForce::Gtc,
        reduce_only: false,
    };
    let out = ex.submit(TraderId(1), req(1_000_000_000_000_000, 1_000_000_000_000));
    assert_eq!(out.reject, Some(OrderReject::OutOfRange));
    let out = ex.submit(TraderId(1), req(1_000_000, 1_000_000_000_000));
    assert_eq!(out.reject, Some(OrderReject::InsufficientMargin));
    assert_eq!(ex.book().open_orders(), 0);
    // Loaded values beyond the limits are row errors.
    let mut ex = Exchange::new(config(MarkRule::Last)).unwrap();
    let too_rich = AccountRow { balance: Money(crate::limits::MAX_BALANCE.0 + 1), ..account(1, 0.0, 0, 0.0) };
    assert!(matches!(ex.add_accounts(&[too_rich]), Err(Error::BadInput { column: "balance", .. })));
    let too_big = account(2, 1e6, 1_000_000_000_000_000_000, 3000.0); // 10^15 ETH
    assert!(matches!(ex.add_accounts(&[too_big]), Err(Error::BadInput { column: "qty", .. })));
    let too_dear = account(3, 1e6, -ETH, 1e30);
    assert!(matches!(ex.add_accounts(&[too_dear]), Err(Error::BadInput { column: "entry_price", .. })));
    assert_eq!(ex.accounts().len(), 2);
}
