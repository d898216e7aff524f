//! The backstop's holding in the series and the sweep summary: a hand-worked takeover.
//!
//! Binance ETHUSDT (tick 0.01, lot 0.001, mark = last, taker 0.05 %), fund 10,000; the numbers
//! are those of the unwinder's own tests (agents/unwinder.rs, `taken_over`). Trader 10 is long
//! 10 ETH @ 2,000 with 1,000: bankruptcy price 2,000 − 1,000 / 10 = 1,900; maintenance trigger
//! 19,000 / (10 × 0.996) = 1,907.63 (first tier, MMR 0.4 %). At 0.5 s trader 20 sells 1 lot into
//! the lone 1,850 bid: the mark (= last) falls to 1,850, the close-out's IOC limit at 1,900 finds
//! no bid at or above it (the next bid is 1,840), and the fund takes the 10 ETH over at 1,900.
//! The backstop then holds +10 ETH, worth 10 × 1,850 = 18,500 at the mark. An unwinder with a
//! 10 s horizon waking every second sells 1 ETH at each wake from the one that sees the lot
//! (1 s) into the 1,840 bid, so the mark is 1,840 from 1 s on: after its fourth sale (4 s) the
//! backstop holds 6 ETH, worth 6 × 1,840 = 11,040.

use super::*;
use crate::agents::BackstopUnwinderSpec;
use crate::exchange::test_fixtures::{account, eth_px, exchange, usdt, LOTS};
use crate::exchange::LiquidationKind;
use crate::funding::SECOND;
use crate::sweep::{run_one, RunPlan};
use crate::venue::Venue;

const S: Ts = SECOND;

fn market() -> Exchange {
    let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 10_000.0);
    ex.add_accounts(&[account(10, 1000.0, 10 * LOTS, 2000.0), account(20, 100_000.0, 0, 0.0)]).unwrap();
    ex.add_resting_orders(&[(Side::Buy, eth_px(1850.0), 1, None), (Side::Buy, eth_px(1840.0), 100 * LOTS, None)])
        .unwrap();
    ex
}

fn sell_one_lot() -> ScenarioOrder {
    ScenarioOrder::market(S / 2, TraderId(20), Side::Sell, 1)
}

fn unwinder() -> AgentSpec {
    AgentSpec::BackstopUnwinder(BackstopUnwinderSpec {
        every: S,
        horizon: Some(10 * S),
        participation: None,
        max_slippage_bp: None,
        delay: 0,
    })
}

fn spec() -> RunSpec {
    RunSpec { start: 0, end: 4 * S, sample_every: S / 2, seed: 0, check_invariants: true, agent_balance: Money::ZERO }
}

/// (ts, backstop position, backstop notional, mark) of each sample.
fn holding(out: &RunOutput) -> Vec<(Ts, Qty, Money, Option<Price>)> {
    out.series.iter().map(|r| (r.ts, r.backstop_position, r.backstop_notional, r.mark)).collect()
}

#[test]
fn the_series_shows_a_takeover_held_at_the_mark() {
    let mut ex = market();
    let out = run(&mut ex, &[sell_one_lot()], &[], &[], &spec()).unwrap();
    let l = ex.tape().liquidations[0];
    assert_eq!((l.kind, l.qty, l.bankruptcy_price), (LiquidationKind::Backstop, 10 * LOTS, eth_px(1900.0)));
    let mut expected = vec![(0, 0, Money::ZERO, None)];
    expected.extend((1..=8).map(|k| (k * S / 2, 10 * LOTS, usdt(18_500.0), Some(eth_px(1850.0)))));
    assert_eq!(holding(&out), expected);
}

#[test]
fn the_series_follows_an_unwinder_selling_one_eth_a_second() {
    let mut ex = market();
    let out = run(&mut ex, &[sell_one_lot()], &[], &[unwinder()], &spec()).unwrap();
    let held = |eth: i64| (eth * LOTS, usdt(eth as f64 * 1840.0), Some(eth_px(1840.0)));
    let expected: Vec<(Ts, Qty, Money, Option<Price>)> = [
        (0, (0, Money::ZERO, None)),
        (S / 2, (10 * LOTS, usdt(18_500.0), Some(eth_px(1850.0)))),
        (S, held(9)),
        (3 * S / 2, held(9)),
        (2 * S, held(8)),
        (5 * S / 2, held(8)),
        (3 * S, held(7)),
        (7 * S / 2, held(7)),
        (4 * S, held(6)),
    ]
    .into_iter()
    .map(|(t, (q, n, m))| (t, q, n, m))
    .collect();
    assert_eq!(holding(&out), expected);
    assert_eq!(backstop_holding(&ex), (6 * LOTS, usdt(11_040.0)));
}

#[test]
fn a_short_takeover_is_a_negative_position_with_a_positive_notional() {
    // The mirror image: trader 10 short 10 ETH @ 2,000 with 1,000 (bankruptcy 2,100); trader 20
    // buys 1 lot from the lone 2,150 ask, the close-out's IOC at 2,100 finds no ask at or below
    // it, and the fund takes the short over: −10 ETH, worth 10 × 2,150 = 21,500 at the mark.
    let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 10_000.0);
    ex.add_accounts(&[account(10, 1000.0, -10 * LOTS, 2000.0), account(20, 100_000.0, 0, 0.0)]).unwrap();
    ex.add_resting_orders(&[(Side::Sell, eth_px(2150.0), 1, None)]).unwrap();
    let buy = ScenarioOrder { side: Side::Buy, ..sell_one_lot() };
    let out = run(&mut ex, &[buy], &[], &[], &spec()).unwrap();
    let l = ex.tape().liquidations[0];
    assert_eq!((l.kind, l.qty, l.bankruptcy_price), (LiquidationKind::Backstop, 10 * LOTS, eth_px(2100.0)));
    let last = out.series.last().unwrap();
    assert_eq!((last.backstop_position, last.backstop_notional), (-10 * LOTS, usdt(21_500.0)));
}

#[test]
fn the_sweep_summary_reads_the_holding_at_the_end() {
    let base = market();
    let plan = |agents: Vec<AgentSpec>| RunPlan { spec: spec(), agents, shock_orders: vec![], shock_index: vec![] };
    let held = run_one(&base, &[sell_one_lot()], &[], &plan(vec![])).unwrap();
    assert_eq!((held.backstop_position, held.backstop_notional), (10 * LOTS, usdt(18_500.0)));
    let unwound = run_one(&base, &[sell_one_lot()], &[], &plan(vec![unwinder()])).unwrap();
    assert_eq!((unwound.backstop_position, unwound.backstop_notional), (6 * LOTS, usdt(11_040.0)));
    // The fund's own change is unaffected by the new figures: 4 sales at 1,840 of lots taken
    // over at 1,900, each −60 − 0.92 taker fee (the unwinder's test), after the takeover itself.
    assert_eq!(unwound.insurance_fund_change - held.insurance_fund_change, usdt(-4.0 * 60.92));
}
