//! Sweeps on a small hand-built market: ETH-like (tick 0.01, lot 0.001), one tier (MMR 1%,
//! max 100x), no fees, mark = last; static asks and bids of 2 ETH every 0.5% out to ±10%.

use super::*;
use crate::agents::{MarketMakerSpec, NoiseTakerSpec, SizeDist};
use crate::exchange::{ExchangeConfig, LIQUIDITY_ID};
use crate::funding::MarkRule;
use crate::margin::{NotionalScale, Rate, TierTable};
use crate::types::{Qty, Ts};
use crate::venue::{Fees, Venue, VenuePreset};

const ETH: Qty = 1000;
const S: Ts = 1_000_000_000;

fn px(x: f64) -> Price {
    (x * 100.0).round() as Price
}

/// `shorts` shorts of 1 ETH entered at 3,000 with 40 + k USDT at 50x: liquidation prices
/// (3,040 + k) / 1.01 climb from ~3,009.90 (balance + (3000 − p) = 1% × p).
fn market(shorts: usize) -> Exchange {
    let tiers = TierTable::single(Rate(1_000_000), 100).unwrap();
    let preset =
        VenuePreset::custom(Venue::Binance, "TESTUSDT", tiers).with_fees(Fees { maker: Rate::ZERO, taker: Rate::ZERO });
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(0.01, 0.001).unwrap());
    cfg.mark_rule = MarkRule::Last;
    cfg.insurance_fund = Money::from_f64(1_000_000.0);
    let mut ex = Exchange::new(cfg).unwrap();
    let rows: Vec<AccountRow> = (0..shorts)
        .map(|k| AccountRow {
            id: TraderId(k as i64 + 1),
            balance: Money::from_f64(40.0 + k as f64),
            mode: MarginMode::Cross,
            lots: -ETH,
            entry_money_per_lot: Money::from_f64(3.0),
            leverage: 50,
            isolated_margin: None,
        })
        .collect();
    ex.add_accounts(&rows).unwrap();
    let book: Vec<(Side, Price, Qty, Option<TraderId>)> = (1..=20)
        .flat_map(|k| {
            let off = 3000.0 * 0.005 * k as f64;
            [(Side::Sell, px(3000.0 + off), 2 * ETH, None), (Side::Buy, px(3000.0 - off), 2 * ETH, None)]
        })
        .collect();
    ex.add_resting_orders(&book).unwrap();
    ex.set_index(px(3000.0));
    ex
}

fn maker(depth_10bp: f64) -> AgentSpec {
    AgentSpec::MarketMaker(MarketMakerSpec {
        depth_10bp,
        refill_half_life: 5 * S,
        pull_move: 0.002,
        pull_window: 5 * S,
        reload_after: 60 * S,
        ..MarketMakerSpec::new(LIQUIDITY_ID)
    })
}

/// Random taker flow (2 trades a second, lognormal sizes around $3k): makes the seed matter.
fn noise() -> AgentSpec {
    AgentSpec::NoiseTaker(NoiseTakerSpec {
        trader: TraderId(500_000),
        rate_per_s: 2.0,
        size: SizeDist::LogNormal { median: 3_000.0, sigma: 1.0 },
        buy_share: 0.5,
    })
}

fn shock_buy(ts: Ts, qty: Qty) -> ScenarioOrder {
    ScenarioOrder::market(ts, SHOCK_TRADER, Side::Buy, qty)
}

fn plan(seed: u64, agents: Vec<AgentSpec>, shock: Option<Qty>) -> RunPlan {
    RunPlan {
        spec: RunSpec {
            start: 0,
            end: 30 * S,
            sample_every: S,
            seed,
            check_invariants: false,
            agent_balance: Money::from_f64(1e12),
        },
        agents,
        shock_orders: shock.map(|q| vec![shock_buy(5 * S, q)]).unwrap_or_default(),
        shock_index: vec![],
    }
}

fn without_wall_time(mut r: Result<RunSummary, Error>) -> Result<RunSummary, Error> {
    if let Ok(s) = &mut r {
        s.wall_time_s = 0.0;
    }
    r
}

#[test]
fn a_shock_buy_lifts_the_static_asks_level_by_level() {
    // No traders but the shock: 2 ETH takes the first ask (3,000 × 1.005 = 3,015.00); 40 ETH takes
    // all twenty levels of 2 ETH, the last at 3,000 × 1.10 = 3,300.00, and empties the ask side.
    let ex = market(0);
    let small = run_one(&ex, &[], &[], &plan(1, vec![], Some(2 * ETH))).unwrap();
    assert_eq!(small.final_last, Some(px(3015.0)));
    assert_eq!(small.peak_last, Some(px(3015.0)));
    assert!(!small.ask_exhausted && !small.bid_exhausted);
    assert_eq!(small.liquidated_long_count + small.liquidated_short_count, 0);
    assert_eq!(small.events, 1);
    let all = run_one(&ex, &[], &[], &plan(1, vec![], Some(40 * ETH))).unwrap();
    assert_eq!(all.final_last, Some(px(3300.0)));
    assert!(all.ask_exhausted && !all.bid_exhausted);
    // The base exchange is untouched (each run works on its own clone).
    assert!(ex.last().is_none());
}

#[test]
fn a_shock_into_a_stack_of_shorts_sets_off_a_cascade() {
    // 2 ETH lifts the ask to 3,015: shorts with (3,040 + k) / 1.01 ≤ 3,015, k = 0..5, are liquidated
    // at once; their buy-backs lift further asks and the cascade goes on in later rounds.
    let ex = market(300);
    let quiet = run_one(&ex, &[], &[], &plan(1, vec![], None)).unwrap();
    assert_eq!(quiet.liquidated_short_count, 0);
    assert_eq!(quiet.deepest_round, 0);
    let r = run_one(&ex, &[], &[], &plan(1, vec![], Some(2 * ETH))).unwrap();
    assert!(r.liquidated_short_count >= 6, "{r:?}");
    assert_eq!(r.liquidated_long_count, 0);
    assert!(r.deepest_round >= 2, "{r:?}");
    assert!(r.liquidated_short > Money::from_f64(6.0 * 3000.0), "{r:?}");
}

#[test]
fn the_summary_matches_a_plain_run_with_the_shock_merged_in() {
    let ex = market(300);
    let p = plan(7, vec![maker(30_000.0)], Some(5 * ETH));
    let s = run_one(&ex, &[], &[], &p).unwrap();
    let mut plain = ex.clone();
    plain
        .add_accounts(&[AccountRow {
            id: SHOCK_TRADER,
            balance: Money::from_f64(1e12),
            mode: MarginMode::Cross,
            lots: 0,
            entry_money_per_lot: Money::ZERO,
            leverage: 1,
            isolated_margin: None,
        }])
        .unwrap();
    let out = sim::run(&mut plain, &p.shock_orders, &[], &p.agents, &p.spec).unwrap();
    let last = out.series.last().unwrap();
    assert_eq!(s.liquidated_short, last.liquidated_short);
    assert_eq!(s.liquidated_short_count, plain.tape().liquidations.len() as u64);
    assert_eq!(s.final_last, plain.last());
    assert_eq!(s.events, out.events);
}

#[test]
fn results_do_not_depend_on_thread_count_or_order() {
    let ex = market(300);
    let plans: Vec<RunPlan> = (0..8u64)
        .map(|k| plan(100 + k, vec![maker(20_000.0 + 5_000.0 * k as f64)], Some((1 + k as Qty) * ETH)))
        .collect();
    let one: Vec<_> = run_many(&ex, &[], &[], &plans, Some(1)).into_iter().map(without_wall_time).collect();
    let two: Vec<_> = run_many(&ex, &[], &[], &plans, Some(2)).into_iter().map(without_wall_time).collect();
    assert_eq!(one, two);
    // Inside a caller's own pool too.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let pooled: Vec<_> =
        pool.install(|| run_many(&ex, &[], &[], &plans, None)).into_iter().map(without_wall_time).collect();
    assert_eq!(one, pooled);
    // Reversed plans give reversed results.
    let reversed: Vec<RunPlan> = plans.iter().rev().cloned().collect();
    let mut back: Vec<_> = run_many(&ex, &[], &[], &reversed, Some(2)).into_iter().map(without_wall_time).collect();
    back.reverse();
    assert_eq!(one, back);
    assert!(one.iter().all(|r| r.is_ok()));
}

#[test]
fn a_failed_run_reports_its_error_and_the_others_finish() {
    let ex = market(10);
    let mut bad_trader = plan(1, vec![], Some(ETH));
    bad_trader.shock_orders[0].trader = TraderId(424_242); // not a loaded account
    let mut unsorted = plan(1, vec![], Some(ETH));
    unsorted.shock_orders.insert(0, shock_buy(9 * S, ETH));
    let plans = vec![plan(1, vec![], Some(ETH)), bad_trader, unsorted, plan(2, vec![], Some(2 * ETH))];
    let out = run_many(&ex, &[], &[], &plans, Some(2));
    assert!(out[0].is_ok() && out[3].is_ok());
    let e1 = out[1].as_ref().unwrap_err().to_string();
    assert!(e1.contains("424242") && e1.contains("trader_id"), "{e1}");
    let e2 = out[2].as_ref().unwrap_err().to_string();
    assert!(e2.contains("shock_orders") && e2.contains("sorted"), "{e2}");
}

#[test]
fn shock_rows_merge_after_scenario_rows_at_equal_times() {
    let a = [IndexPoint { ts: 1, price: 10 }, IndexPoint { ts: 3, price: 30 }];
    let b = [IndexPoint { ts: 0, price: 1 }, IndexPoint { ts: 3, price: 31 }, IndexPoint { ts: 4, price: 40 }];
    let merged: Vec<Price> = merge_by_ts(&a, &b, |p| p.ts).iter().map(|p| p.price).collect();
    assert_eq!(merged, vec![1, 10, 30, 31, 40]);
}

#[test]
fn an_index_jump_shock_is_merged_into_the_index_path() {
    // The scenario's index (3,000 at 0 and 3,000 at 10 s) plus a jump to 2,700 at 5 s: three
    // index events, in time order (an out-of-order merge would be refused by the loop).
    let ex = market(0);
    let base = [IndexPoint { ts: 0, price: px(3000.0) }, IndexPoint { ts: 10 * S, price: px(3000.0) }];
    let mut p = plan(1, vec![], None);
    p.shock_index = vec![IndexPoint { ts: 5 * S, price: px(2700.0) }];
    let r = run_one(&ex, &[], &base, &p).unwrap();
    assert_eq!(r.events, 3);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// Any set of plans (seeds, maker depth, shock sizes and times): the results on one thread,
    /// on two, and in reverse order are the same run for run.
    #[test]
    fn any_plans_give_the_same_results_on_any_thread_count(
        raw in proptest::collection::vec((0u64..1_000, 10_000.0f64..60_000.0, 1i64..60, 1i64..25), 1..6)
    ) {
        let ex = market(100);
        let plans: Vec<RunPlan> = raw
            .iter()
            .map(|&(seed, depth, lots, at)| {
                let mut p = plan(seed, vec![maker(depth), noise()], Some(lots * ETH / 2));
                p.shock_orders[0].ts = at * S;
                p
            })
            .collect();
        let one: Vec<_> = run_many(&ex, &[], &[], &plans, Some(1)).into_iter().map(without_wall_time).collect();
        let two: Vec<_> = run_many(&ex, &[], &[], &plans, Some(2)).into_iter().map(without_wall_time).collect();
        proptest::prop_assert_eq!(&one, &two);
        let reversed: Vec<RunPlan> = plans.iter().rev().cloned().collect();
        let mut back: Vec<_> =
            run_many(&ex, &[], &[], &reversed, Some(2)).into_iter().map(without_wall_time).collect();
        back.reverse();
        proptest::prop_assert_eq!(&one, &back);
    }
}

#[test]
fn the_seed_reaches_the_agents() {
    let ex = market(100);
    let plans: Vec<RunPlan> = (0..4).map(|seed| plan(seed, vec![maker(30_000.0), noise()], None)).collect();
    let out: Vec<RunSummary> = run_many(&ex, &[], &[], &plans, Some(2)).into_iter().map(|r| r.unwrap()).collect();
    assert!(out.iter().any(|r| r.final_last != out[0].final_last || r.events != out[0].events), "{out:?}");
}

#[test]
fn a_run_ending_early_drops_the_scenarios_later_rows() {
    // Scenario buys of 2 ETH at 5 s and 40 s from the shock trader; a run to 30 s sees only the
    // first: last 3,015.00 (the first ask), one event.
    let ex = market(0);
    let scenario = [shock_buy(5 * S, 2 * ETH), shock_buy(40 * S, 2 * ETH)];
    let mut p = plan(1, vec![], None);
    p.shock_orders = vec![];
    let mut ex_with_trader = ex.clone();
    ex_with_trader
        .add_accounts(&[AccountRow {
            id: SHOCK_TRADER,
            balance: Money::from_f64(1e12),
            mode: MarginMode::Cross,
            lots: 0,
            entry_money_per_lot: Money::ZERO,
            leverage: 1,
            isolated_margin: None,
        }])
        .unwrap();
    let r = run_one(&ex_with_trader, &scenario, &[], &p).unwrap();
    assert_eq!(r.events, 1);
    assert_eq!(r.final_last, Some(px(3015.0)));
}
