//! Hand-worked exchange scenarios. ETH-like instrument: tick 0.01, lot 0.001; one margin tier
//! (MMR 1%, max 100x), no trading fees unless a test sets them, so the arithmetic stays checkable.

use super::*;
use crate::margin::TierTable;
use crate::venue::{Fees, Venue};

const ETH: i64 = 1000; // lots per ETH

fn usdt(x: f64) -> Money {
    Money::from_f64(x)
}

/// Price in ticks from USDT with two decimals.
fn px(x: f64) -> Price {
    (x * 100.0).round() as Price
}

fn config(liquidation_fee: f64, insurance: f64) -> ExchangeConfig {
    let tiers = TierTable::single(Rate(1_000_000), 100).unwrap();
    let preset = VenuePreset::custom(Venue::Binance, "TESTUSDT", tiers)
        .with_fees(Fees { maker: Rate::ZERO, taker: Rate::ZERO })
        .with_liquidation_fee(Rate::from_f64(liquidation_fee).unwrap());
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(0.01, 0.001).unwrap());
    cfg.mark_rule = MarkRule::Last;
    cfg.insurance_fund = usdt(insurance);
    // These scenarios test market liquidation orders (the Binance preset sends bankruptcy limits).
    cfg.liquidation_limit = LiquidationLimit::Market;
    cfg
}

fn short(id: i64, balance: f64, entry: f64) -> AccountRow {
    AccountRow {
        id: TraderId(id),
        balance: usdt(balance),
        mode: MarginMode::Cross,
        lots: -ETH,
        entry_money_per_lot: usdt(entry / 1000.0),
        leverage: 50,
        isolated_margin: None,
    }
}

fn trader(id: i64, balance: f64) -> AccountRow {
    AccountRow {
        id: TraderId(id),
        balance: usdt(balance),
        mode: MarginMode::Cross,
        lots: 0,
        entry_money_per_lot: Money::ZERO,
        leverage: 10,
        isolated_margin: None,
    }
}

/// Background liquidity: one ETH at each ask price, plenty of bids far below.
fn exchange(cfg: ExchangeConfig, accounts: &[AccountRow], asks: &[f64]) -> Exchange {
    let mut ex = Exchange::new(cfg).unwrap();
    ex.add_accounts(accounts).unwrap();
    let mut book: Vec<(Side, Price, Qty, Option<TraderId>)> =
        asks.iter().map(|&p| (Side::Sell, px(p), ETH, None)).collect();
    book.push((Side::Buy, px(2990.0), 10 * ETH, None));
    ex.add_resting_orders(&book).unwrap();
    ex.set_index(px(3000.0));
    ex.check_invariants().unwrap();
    ex
}

fn market_buy(ex: &mut Exchange, id: i64, lots: Qty) -> SubmitResult {
    let req = OrderRequest { side: Side::Buy, qty: lots, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    let out = ex.submit(TraderId(id), req);
    ex.check_invariants().unwrap();
    out
}

#[test]
fn loading_mirrors_positions_and_computes_triggers() {
    let ex = exchange(config(0.0, 0.0), &[short(10, 60.0, 3000.0)], &[3030.0]);
    // Short 1 ETH at 3,000 with 60: 60 + 3000 − P = 0.01 P → P = 3,029.7029… → first tick 3,029.71.
    let a = ex.account(TraderId(10)).unwrap();
    assert_eq!(a.trigger, Some(Trigger { side: TriggerSide::Short, price: px(3029.71) }));
    assert_eq!(ex.accounts()[LIQUIDITY as usize].position, Position { lots: ETH, cost: usdt(3000.0) });
    assert_eq!(ex.open_interest(), ETH);
    assert_eq!(ex.mark(), Some(px(3000.0)));
}

#[test]
fn a_buy_through_the_trigger_liquidates_and_the_surplus_goes_to_the_fund() {
    let mut ex =
        exchange(config(0.0, 0.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0, 3040.0, 3100.0]);
    let out = market_buy(&mut ex, 20, ETH);
    assert_eq!(out.outcome.filled, ETH);
    // B lifts 3,030 → mark 3,030 ≥ 3,029.71 → the short is closed by a market buy at 3,040:
    // realised 3000 − 3040 = −40, collateral 60 − 40 = 20 left → to the fund.
    let liq = ex.tape().liquidations.clone();
    assert_eq!(liq.len(), 1);
    let l = liq[0];
    assert_eq!((l.trader, l.side, l.qty, l.mark, l.round), (TraderId(10), Side::Sell, ETH, px(3030.0), 1));
    assert_eq!(l.avg_fill_ticks, px(3040.0) as f64);
    assert_eq!(l.bankruptcy_price, px(3060.0));
    assert_eq!(l.kind, LiquidationKind::Full);
    assert_eq!(l.insurance_delta, usdt(20.0));
    assert_eq!(ex.insurance_fund(), usdt(20.0));
    let kinds: Vec<TradeKind> = ex.tape().trades.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, vec![TradeKind::Normal, TradeKind::Liquidation]);
    let s = ex.account(TraderId(10)).unwrap();
    assert!(s.liquidated && s.position.is_flat() && s.wallet == Money::ZERO);
    assert_eq!(ex.mark(), Some(px(3040.0)));
    // B: long 1 at 3,030, +10 at the 3,040 mark; deposits 10,060 all accounted for.
    assert_eq!(ex.account(TraderId(20)).unwrap().position.unrealized(px(3040.0), ex.config().scale), usdt(10.0));
    assert_eq!(ex.money_total(), usdt(10_060.0));
}

#[test]
fn the_liquidation_fee_is_capped_by_what_is_left() {
    // 1.25% of 3,040 = 38 > the 20 left: the fund gets 20 as fee and nothing as surplus.
    let mut ex = exchange(config(0.0125, 0.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0, 3040.0]);
    market_buy(&mut ex, 20, ETH);
    let ins = &ex.tape().insurance;
    assert_eq!(ins.len(), 1);
    assert_eq!(
        (ins[0].reason, ins[0].delta, ins[0].trader),
        (InsuranceReason::LiquidationFee, usdt(20.0), TraderId(10))
    );
    assert_eq!(ex.tape().liquidations[0].insurance_delta, usdt(20.0));
}

#[test]
fn a_fill_worse_than_bankruptcy_is_a_shortfall_the_fund_pays() {
    let mut ex = exchange(config(0.0, 1000.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0, 3100.0]);
    market_buy(&mut ex, 20, ETH);
    // Closed at 3,100: −100 against 60 of collateral → −40, covered by the fund.
    let l = ex.tape().liquidations[0];
    assert_eq!(l.insurance_delta, usdt(-40.0));
    assert_eq!(ex.insurance_fund(), usdt(960.0));
    assert_eq!(ex.tape().insurance[0].reason, InsuranceReason::Shortfall);
    assert_eq!(ex.account(TraderId(10)).unwrap().wallet, Money::ZERO);
}

#[test]
fn what_the_book_cannot_take_the_fund_takes_over_at_bankruptcy() {
    let mut ex = exchange(config(0.0, 1000.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0]);
    market_buy(&mut ex, 20, ETH);
    let l = ex.tape().liquidations[0];
    assert_eq!(l.kind, LiquidationKind::Backstop);
    assert!(l.avg_fill_ticks.is_nan());
    // Closed at bankruptcy 3,060: −60 uses the 60 exactly; the fund now holds the short.
    let fund = &ex.accounts()[BACKSTOP as usize];
    assert_eq!(fund.position, Position { lots: -ETH, cost: usdt(3060.0) });
    assert_eq!(fund.wallet, usdt(1000.0));
    let t = ex.tape().trades.last().unwrap();
    assert_eq!((t.kind, t.price, t.taker, t.maker), (TradeKind::Backstop, px(3060.0), TraderId(10), BACKSTOP_ID));
}

#[test]
fn an_empty_fund_takes_over_what_it_can_afford_and_adl_takes_the_rest() {
    // REFERENCE §7 (Binance): ADL only when the insurance fund cannot accept the position.
    // (1) B lifts 3,030: the mark 3,030 is below the short's bankruptcy price 3,060, so taking the
    //     short over at 3,060 is worth +30 to the fund at the mark: even an empty fund accepts it.
    let mut ex = exchange(config(0.0, 0.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0]);
    market_buy(&mut ex, 20, ETH);
    assert_eq!(ex.tape().liquidations[0].kind, LiquidationKind::Backstop);
    assert!(ex.tape().adl.is_empty());
    // (2) B lifts 3,030 and 3,070: at the mark 3,070 the takeover at 3,060 would cost the empty
    //     fund 10, so it goes to ADL: B (long 2 @ 3,050, in profit at 3,060) is closed 1 at 3,060.
    let mut ex = exchange(config(0.0, 0.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0, 3070.0]);
    market_buy(&mut ex, 20, 2 * ETH);
    let adl = ex.tape().adl.clone();
    assert_eq!(adl.len(), 1);
    assert_eq!(
        (adl[0].trader, adl[0].liquidated, adl[0].qty, adl[0].price),
        (TraderId(20), TraderId(10), ETH, px(3060.0))
    );
    assert_eq!(ex.tape().liquidations[0].kind, LiquidationKind::Adl);
    let b = ex.account(TraderId(20)).unwrap();
    assert_eq!(b.position.lots, ETH);
    assert_eq!(b.realized_pnl, usdt(10.0)); // 3,060 − 3,050
    assert_eq!(ex.insurance_fund(), Money::ZERO);
}

#[test]
fn a_fund_that_cannot_pay_stops_the_market_order_and_never_goes_negative() {
    // REFERENCE §7: the fund is never driven below zero silently. Fund 10, market liquidation
    // order of the short (bankruptcy 3,060) into asks at 3,070 and 3,200 after B lifted 3,030:
    // the fund's 10 pays for fills up to 3,070 (10 past bankruptcy on 1 ETH), not 3,200.
    let mut ex =
        exchange(config(0.0, 10.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0, 3070.0, 3200.0]);
    market_buy(&mut ex, 20, ETH);
    let l = ex.tape().liquidations[0];
    assert_eq!(l.avg_fill_ticks, px(3070.0) as f64);
    assert_eq!(l.insurance_delta, usdt(-10.0));
    assert_eq!(ex.insurance_fund(), Money::ZERO);
}

#[test]
fn check_invariants_catches_a_negative_fund_without_adl() {
    let mut ex = exchange(config(0.0, 0.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0]);
    market_buy(&mut ex, 20, ETH);
    // As if the close-out had cost the empty fund 1 (the fund's liquidation delta on the record).
    ex.tape.liquidations[0].insurance_delta = usdt(-1.0);
    let err = ex.check_invariants().unwrap_err();
    assert!(err.contains("insurance fund"), "{err}");
}

#[test]
fn a_cascade_runs_round_by_round() {
    // Triggers: 60 → 3,029.71; 70 → 3,070/1.01 = 3,039.60…→ 3,039.61; 100 → 3,100/1.01 → 3,069.31.
    let accounts = [short(10, 60.0, 3000.0), short(11, 70.0, 3000.0), short(12, 100.0, 3000.0), trader(20, 10_000.0)];
    let mut ex = exchange(config(0.0, 1000.0), &accounts, &[3030.0, 3040.0, 3070.0, 3120.0, 3200.0]);
    market_buy(&mut ex, 20, ETH);
    let rounds: Vec<(i64, u32, f64)> =
        ex.tape().liquidations.iter().map(|l| (l.trader.0, l.round, l.avg_fill_ticks / 100.0)).collect();
    assert_eq!(rounds, vec![(10, 1, 3040.0), (11, 2, 3070.0), (12, 3, 3120.0)]);
    // Fund: +20 (60 − 40), 0 (70 − 70), −20 (100 − 120).
    let deltas: Vec<Money> = ex.tape().liquidations.iter().map(|l| l.insurance_delta).collect();
    assert_eq!(deltas, vec![usdt(20.0), Money::ZERO, usdt(-20.0)]);
    assert_eq!(ex.cascade_rounds(), (3, 3));
    assert_eq!(ex.mark(), Some(px(3120.0)));
}

#[test]
fn when_closeouts_do_not_move_the_mark_the_cascade_stops_after_one_round() {
    let accounts = [short(10, 60.0, 3000.0), short(11, 70.0, 3000.0), trader(20, 10_000.0)];
    let mut cfg = config(0.0, 1000.0);
    cfg.closeouts_move_mark = false;
    let mut ex = exchange(cfg, &accounts, &[3030.0, 3040.0, 3070.0]);
    market_buy(&mut ex, 20, ETH);
    assert_eq!(ex.tape().liquidations.len(), 1);
    assert_eq!(ex.mark(), Some(px(3030.0)));
    assert_eq!(ex.last(), Some(px(3040.0)));
}

#[test]
fn orders_are_margin_checked_and_reduce_only_never_increases() {
    let mut ex = exchange(config(0.0, 0.0), &[trader(20, 100.0), short(10, 1000.0, 3000.0)], &[3030.0, 3040.0]);
    // 100 USDT at 10x buys at most 1,000 USDT of notional: 1 ETH (≈ 3,030) is refused.
    let big =
        OrderRequest { side: Side::Buy, qty: ETH, price: Some(px(3030.0)), tif: TimeInForce::Gtc, reduce_only: false };
    assert_eq!(ex.submit(TraderId(20), big).reject, Some(OrderReject::InsufficientMargin));
    let small = OrderRequest { qty: 300, ..big };
    assert_eq!(ex.submit(TraderId(20), small).outcome.status, Status::Filled);
    // Reduce-only buy on a long would increase it: refused. A reduce-only sell is trimmed to 300.
    let ro_buy = OrderRequest { reduce_only: true, ..small };
    assert_eq!(ex.submit(TraderId(20), ro_buy).reject, Some(OrderReject::ReduceOnlyWouldIncrease));
    let ro_sell = OrderRequest { side: Side::Sell, qty: ETH, price: None, tif: TimeInForce::Ioc, reduce_only: true };
    let out = ex.submit(TraderId(20), ro_sell);
    assert_eq!((out.sent_qty, out.outcome.filled), (300, 300));
    assert!(ex.account(TraderId(20)).unwrap().position.is_flat());
    assert_eq!(ex.submit(TraderId(99), small).reject, Some(OrderReject::UnknownTrader));
    ex.check_invariants().unwrap();
}

#[test]
fn closing_orders_need_no_new_margin() {
    // Long 1 ETH at 3,000 with 40 at 100x: margin balance 40 is above MM (30) but below the 1x-like
    // initial margin a 3,000 notional would need at 10x. A plain sell that only closes is accepted.
    let long = AccountRow { lots: ETH, entry_money_per_lot: usdt(3.0), leverage: 10, ..trader(20, 40.0) };
    let mut ex = exchange(config(0.0, 0.0), &[long], &[3010.0]);
    let close = OrderRequest { side: Side::Sell, qty: ETH, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    let out = ex.submit(TraderId(20), close);
    assert_eq!((out.reject, out.outcome.filled), (None, ETH));
    // Selling twice the position would open a short: that part needs margin, and there is none.
    let mut ex = exchange(config(0.0, 0.0), &[long], &[3010.0]);
    let flip = OrderRequest { qty: 2 * ETH, ..close };
    assert_eq!(ex.submit(TraderId(20), flip).reject, Some(OrderReject::InsufficientMargin));
}

#[test]
fn the_funds_pnl_on_positions_it_took_over_is_logged() {
    // Mark = index, fund 1,000, no asks. Short 10 (1 ETH @ 3,000 with 60: trigger 3,029.71,
    // bankruptcy 3,060); long 30 (1 ETH @ 3,000 with 100: trigger 2,900 / 0.99 = 2,929.29…,
    // bankruptcy 2,900); trader 20 with cash.
    let mut cfg = config(0.0, 1000.0);
    cfg.mark_rule = MarkRule::Index;
    let long = AccountRow { lots: ETH, entry_money_per_lot: usdt(3.0), leverage: 50, ..trader(30, 100.0) };
    let mut ex = exchange(cfg, &[short(10, 60.0, 3000.0), trader(20, 10_000.0), long], &[]);
    // Index 3,030: the short is liquidated, no asks: the fund takes it over at 3,060.
    ex.set_index(px(3030.0));
    assert_eq!(ex.accounts()[BACKSTOP as usize].position, Position { lots: -ETH, cost: usdt(3060.0) });
    // Trader 20 sells the whole bid side (10 ETH at 2,990); then index 2,920 liquidates the long,
    // there are no bids, and the fund takes the long over at 2,900 — which closes its short:
    // realised 3,060 − 2,900 = +160, logged as position PnL.
    let sell = OrderRequest { side: Side::Sell, qty: 10 * ETH, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    assert_eq!(ex.submit(TraderId(20), sell).outcome.filled, 10 * ETH);
    ex.set_index(px(2920.0));
    let last = *ex.tape().insurance.last().unwrap();
    assert_eq!((last.reason, last.delta, last.trader), (InsuranceReason::PositionPnl, usdt(160.0), BACKSTOP_ID));
    let logged: Money = ex.tape().insurance.iter().map(|r| r.delta).sum();
    assert_eq!(ex.insurance_fund(), usdt(1000.0) + logged);
    assert_eq!(ex.insurance_fund(), usdt(1160.0));
    assert!(ex.accounts()[BACKSTOP as usize].position.is_flat());
    ex.check_invariants().unwrap();
}

#[test]
fn funding_is_settled_at_the_interval_and_is_zero_sum() {
    let mut cfg = config(0.0, 0.0);
    cfg.mark_rule = MarkRule::Index;
    let mut ex = exchange(cfg, &[short(10, 1000.0, 3000.0)], &[3001.0]);
    let before = ex.account(TraderId(10)).unwrap().wallet;
    ex.advance_to(8 * crate::funding::HOUR);
    let f = ex.tape().funding.clone();
    assert_eq!(f.len(), 1);
    // The book's impact prices straddle the index, premium 0 → rate = interest 0.01%; longs pay
    // shorts 3,000 × 1 × 0.0001 = 0.30 USDT.
    assert_eq!(f[0].rate, Rate(10_000));
    assert_eq!(f[0].paid_by_longs, usdt(0.30));
    assert_eq!(ex.account(TraderId(10)).unwrap().wallet - before, usdt(0.30));
    ex.check_invariants().unwrap();
}

#[test]
fn bad_rows_name_their_column_and_row() {
    let mut ex = Exchange::new(config(0.0, 0.0)).unwrap();
    let err = ex.add_accounts(&[trader(1, 10.0), trader(1, 10.0)]).unwrap_err();
    assert!(matches!(err, Error::BadInput { column: "trader_id", row: 1, .. }), "{err:?}");
    let too_much = AccountRow { leverage: 125, ..short(5, 100.0, 3000.0) };
    let err = ex.add_accounts(&[trader(1, 10.0), too_much]).unwrap_err();
    assert!(matches!(err, Error::BadInput { column: "leverage", row: 1, .. }), "{err:?}");
    assert_eq!(ex.accounts().len(), 2, "nothing added on error");
    let err =
        ex.add_resting_orders(&[(Side::Sell, px(3000.0), ETH, None), (Side::Buy, px(3000.0), ETH, None)]).unwrap_err();
    assert!(matches!(err, Error::BadInput { column: "price", row: 1, .. }), "{err:?}");
}

// ----- stop orders -------------------------------------------------------------------------------

fn stop_market(side: Side, trigger: f64, lots: Qty) -> StopRequest {
    StopRequest {
        side,
        qty: lots,
        limit: None,
        trigger: px(trigger),
        trigger_on: crate::stops::TriggerOn::Last,
        trail: None,
        reduce_only: false,
        oco: None,
    }
}

#[test]
fn a_stop_fires_when_the_last_price_reaches_it_and_its_fills_are_stop_trades() {
    // Asks 3,030 and 3,040, one ETH each. Trader 21's buy stop at 3,030: trader 20 lifts 3,030,
    // the stop fires in the same cascade and lifts 3,040.
    let mut ex = exchange(config(0.0, 0.0), &[trader(20, 10_000.0), trader(21, 10_000.0)], &[3030.0, 3040.0]);
    let id = ex.submit_stop(TraderId(21), stop_market(Side::Buy, 3030.0, ETH)).unwrap();
    market_buy(&mut ex, 20, ETH);
    let kinds: Vec<(TradeKind, Price)> = ex.tape().trades.iter().map(|t| (t.kind, t.price)).collect();
    assert_eq!(kinds, vec![(TradeKind::Normal, px(3030.0)), (TradeKind::Stop, px(3040.0))]);
    let s = ex.tape().stops[0];
    assert_eq!((s.stop_id, s.status, s.filled, s.round), (id, StopStatus::Triggered, ETH, 1));
    assert_eq!(ex.account(TraderId(21)).unwrap().position.lots, ETH);
    assert!(ex.stop_book().is_empty());
}

#[test]
fn a_stop_already_crossed_is_refused_and_a_trailing_stop_needs_a_price() {
    let mut ex = exchange(config(0.0, 0.0), &[trader(20, 10_000.0)], &[3030.0]);
    market_buy(&mut ex, 20, ETH); // last 3,030
    assert_eq!(
        ex.submit_stop(TraderId(20), stop_market(Side::Buy, 3030.0, ETH)),
        Err(OrderReject::StopWouldTriggerNow)
    );
    assert_eq!(
        ex.submit_stop(TraderId(20), stop_market(Side::Sell, 3030.0, ETH)),
        Err(OrderReject::StopWouldTriggerNow)
    );
    assert!(ex.submit_stop(TraderId(20), stop_market(Side::Sell, 3000.0, ETH)).is_ok());
    let fresh = exchange(config(0.0, 0.0), &[trader(20, 10_000.0)], &[3030.0]);
    let mut fresh = fresh;
    let trailing = StopRequest { trail: Some(crate::stops::Trail::Ticks(100)), ..stop_market(Side::Sell, 0.0, ETH) };
    assert_eq!(fresh.submit_stop(TraderId(20), trailing), Err(OrderReject::NoPriceToTrail));
}

#[test]
fn a_stop_chain_sets_off_a_liquidation_in_the_next_round() {
    // The short (60 USDT, trigger 3,029.71) sits above a buy stop at 3,030 of trader 21.
    // Trader 20 lifts 3,020 only; no stop. Then lifting 3,028 fires the stop, whose buy lifts
    // 3,040: the mark 3,040 ≥ 3,029.71 liquidates the short. A round is the stops the prices at
    // its start trigger, then the accounts crossed after their fills: both are round 1.
    let mut ex = exchange(
        config(0.0, 1000.0),
        &[short(10, 60.0, 3000.0), trader(20, 10_000.0), trader(21, 10_000.0)],
        &[3020.0, 3028.0, 3040.0, 3100.0],
    );
    ex.submit_stop(TraderId(21), stop_market(Side::Buy, 3028.0, ETH)).unwrap();
    market_buy(&mut ex, 20, ETH);
    assert!(ex.tape().stops.is_empty() && ex.tape().liquidations.is_empty());
    market_buy(&mut ex, 20, ETH); // lifts 3,028: the stop fires and lifts 3,040
    let s = ex.tape().stops[0];
    assert_eq!((s.status, s.round), (StopStatus::Triggered, 1));
    let l = ex.tape().liquidations[0];
    assert_eq!((l.trader, l.round, l.mark), (TraderId(10), 1, px(3040.0)));
}

#[test]
fn a_liquidation_cancels_the_accounts_stops() {
    let mut ex =
        exchange(config(0.0, 1000.0), &[short(10, 60.0, 3000.0), trader(20, 10_000.0)], &[3030.0, 3040.0, 3100.0]);
    // The short's own reduce-only buy stop at 3,035 (a stop-loss above its trigger).
    let tp = StopRequest { reduce_only: true, ..stop_market(Side::Buy, 3035.0, ETH) };
    let id = ex.submit_stop(TraderId(10), tp).unwrap();
    ex.submit(
        TraderId(20),
        OrderRequest { side: Side::Buy, qty: ETH, price: None, tif: TimeInForce::Ioc, reduce_only: false },
    );
    let stops = &ex.tape().stops;
    // The short is liquidated in round 1 at 3,030 (its trigger 3,029.71) before its stop at
    // 3,035 is reached: the stop is cancelled, not fired.
    assert_eq!(stops.len(), 1);
    assert_eq!((stops[0].stop_id, stops[0].status), (id, StopStatus::Cancelled));
    assert!(ex.stop_book().is_empty());
    ex.check_invariants().unwrap();
}

#[test]
fn a_trailing_stop_follows_the_rise_and_fires_on_the_pullback() {
    // Trader 21 long 1 ETH from 3,030; a trailing sell of 20.00 (2,000 ticks) on last.
    let mut ex = exchange(config(0.0, 0.0), &[trader(20, 10_000.0), trader(21, 10_000.0)], &[3030.0, 3060.0]);
    market_buy(&mut ex, 21, ETH); // last 3,030
    let trail = StopRequest { trail: Some(crate::stops::Trail::Ticks(2000)), ..stop_market(Side::Sell, 0.0, ETH) };
    let id = ex.submit_stop(TraderId(21), trail).unwrap();
    assert_eq!(ex.stop_book().get(id).unwrap().trigger, px(3010.0));
    market_buy(&mut ex, 20, ETH); // last 3,060: the trigger follows to 3,040
    ex.run_cascade();
    assert_eq!(ex.stop_book().get(id).unwrap().trigger, px(3040.0));
    // A sell into the bid at 2,990 prints below 3,040: the stop fires and sells to the bid.
    ex.submit(
        TraderId(20),
        OrderRequest { side: Side::Sell, qty: ETH, price: None, tif: TimeInForce::Ioc, reduce_only: false },
    );
    let s = ex.tape().stops.last().copied().unwrap();
    assert_eq!((s.stop_id, s.status, s.filled), (id, StopStatus::Triggered, ETH));
    assert_eq!(ex.account(TraderId(21)).unwrap().position.lots, 0);
}

#[test]
fn liquidated_notional_is_the_fill_price_else_the_bankruptcy_price() {
    // 1 ETH filled at 3,000.50 on average: $3,000.50; taken over with nothing filled in the book,
    // at its bankruptcy price 3,040: $3,040.
    let scale = NotionalScale::from_sizes(0.01, 0.001).unwrap();
    let filled = LiquidationRecord {
        ts: 0,
        trader: TraderId(1),
        side: Side::Sell,
        qty: ETH,
        mark: px(3000.0),
        avg_fill_ticks: 300_050.0,
        bankruptcy_price: px(3040.0),
        insurance_delta: Money::ZERO,
        kind: LiquidationKind::Full,
        round: 1,
    };
    assert_eq!(filled.notional(scale), usdt(3000.5));
    let taken_over = LiquidationRecord { avg_fill_ticks: f64::NAN, kind: LiquidationKind::Backstop, ..filled };
    assert_eq!(taken_over.notional(scale), usdt(3040.0));
}
