//! Many independent runs of one scenario, in parallel: the "what-if" sweep.
//!
//! Every run starts from a clone of one base [`Exchange`] (the scenario's market decoded once)
//! and differs only in its [`RunPlan`]: seed and times, agent specs, and extra "shock" rows
//! (orders from a dedicated shock trader, index points) merged into the scenario's tables in time
//! order. Runs share nothing mutable, so rayon runs them on any number of threads and each run's
//! result depends only on its inputs: the results are the same, in the same order, whatever the
//! thread count or scheduling. A run that fails (bad shock row, agent refused, even an internal
//! panic) returns its error in its slot; the other runs are unaffected.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use rayon::prelude::*;

use crate::account::MarginMode;
use crate::agents::AgentSpec;
use crate::error::Error;
use crate::exchange::StopStatus;
use crate::exchange::{AccountRow, Exchange};
use crate::sim::{self, IndexPoint, RunSpec, ScenarioOrder};
use crate::types::{Money, Price, Side, TraderId};

/// The account the sweep adds for shock orders (an id no scenario or agent uses by default:
/// agents start at 9,000,000,000).
pub const SHOCK_TRADER: TraderId = TraderId(8_999_999_999);

/// What makes one run different from the others.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    pub spec: RunSpec,
    pub agents: Vec<AgentSpec>,
    /// Extra orders (any trader; [`SHOCK_TRADER`] gets an account if it has none), sorted by ts.
    pub shock_orders: Vec<ScenarioOrder>,
    /// Extra index points (e.g. a jump), sorted by ts.
    pub shock_index: Vec<IndexPoint>,
}

/// The headline figures of one run (money in quote, prices in ticks).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Liquidated notional of longs / shorts: qty × average book fill price (the bankruptcy
    /// price where the book filled nothing), as the simulation's series counts it.
    pub liquidated_long: Money,
    pub liquidated_short: Money,
    pub liquidated_long_count: u64,
    pub liquidated_short_count: u64,
    /// Last traded price at the first sample, its highest and lowest over the samples, at the end.
    pub first_last: Option<Price>,
    pub peak_last: Option<Price>,
    pub trough_last: Option<Price>,
    pub final_last: Option<Price>,
    pub final_mark: Option<Price>,
    /// Deepest liquidation-cascade round reached (0: no liquidation).
    pub deepest_round: u32,
    pub stops_triggered: u64,
    pub insurance_fund_change: Money,
    /// Auto-deleveraging fills.
    pub adl_count: u64,
    /// The bid (ask) side of the book was empty at some sample.
    pub bid_exhausted: bool,
    pub ask_exhausted: bool,
    pub events: u64,
    /// Wall time of the run (the one field that is not reproducible).
    pub wall_time_s: f64,
}

/// Merge two time-sorted sequences; at equal times the scenario's rows come first (the same
/// tie-break whatever the thread count, so runs stay reproducible).
fn merge_by_ts<T: Copy>(base: &[T], extra: &[T], ts: impl Fn(&T) -> i64) -> Vec<T> {
    let mut out = Vec::with_capacity(base.len() + extra.len());
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < extra.len() {
        let take_base = j == extra.len() || (i < base.len() && ts(&base[i]) <= ts(&extra[j]));
        if take_base {
            out.push(base[i]);
            i += 1;
        } else {
            out.push(extra[j]);
            j += 1;
        }
    }
    out
}

fn check_sorted<T>(rows: &[T], table: &'static str, ts: impl Fn(&T) -> i64) -> Result<(), Error> {
    match rows.windows(2).position(|w| ts(&w[1]) < ts(&w[0])) {
        Some(r) => {
            Err(Error::InTable { table, column: "ts", row: r + 1, message: "shock rows must be sorted by ts".into() })
        }
        None => Ok(()),
    }
}

/// One run from a clone of `base`.
pub fn run_one(
    base: &Exchange,
    orders: &[ScenarioOrder],
    index: &[IndexPoint],
    plan: &RunPlan,
) -> Result<RunSummary, Error> {
    let started = Instant::now();
    check_sorted(&plan.shock_orders, "shock_orders", |o| o.ts)?;
    check_sorted(&plan.shock_index, "shock_index", |p| p.ts)?;
    let mut ex = base.clone();
    let uses_shock_trader = plan.shock_orders.iter().any(|o| o.trader == SHOCK_TRADER);
    if uses_shock_trader && ex.account_index(SHOCK_TRADER).is_none() {
        ex.add_accounts(&[AccountRow {
            id: SHOCK_TRADER,
            balance: plan.spec.agent_balance,
            mode: MarginMode::Cross,
            lots: 0,
            entry_money_per_lot: Money::ZERO,
            leverage: 1,
            isolated_margin: None,
        }])?;
    }
    // A run that ends earlier than the scenario drops the scenario's later rows (as
    // `simulate(until=...)` does); the scenario's tables are sorted by ts.
    let orders = &orders[..orders.partition_point(|o| o.ts <= plan.spec.end)];
    let index = &index[..index.partition_point(|p| p.ts <= plan.spec.end)];
    let orders = merge_by_ts(orders, &plan.shock_orders, |o| o.ts);
    let index = merge_by_ts(index, &plan.shock_index, |p| p.ts);
    let tape_before = (ex.tape().liquidations.len(), ex.tape().adl.len(), ex.tape().stops.len());
    let fund_before = ex.insurance_fund();
    let out = sim::run(&mut ex, &orders, &index, &plan.agents, &plan.spec)?;

    let tape = ex.tape();
    let scale = ex.config().scale;
    let mut summary = RunSummary {
        liquidated_long: Money::ZERO,
        liquidated_short: Money::ZERO,
        liquidated_long_count: 0,
        liquidated_short_count: 0,
        first_last: out.series.iter().find_map(|r| r.last),
        peak_last: out.series.iter().filter_map(|r| r.last).max(),
        trough_last: out.series.iter().filter_map(|r| r.last).min(),
        final_last: ex.last(),
        final_mark: ex.mark(),
        deepest_round: 0,
        stops_triggered: tape.stops[tape_before.2..].iter().filter(|s| s.status == StopStatus::Triggered).count()
            as u64,
        insurance_fund_change: ex.insurance_fund() - fund_before,
        adl_count: (tape.adl.len() - tape_before.1) as u64,
        bid_exhausted: out.series.iter().any(|r| r.best_bid.is_none()),
        ask_exhausted: out.series.iter().any(|r| r.best_ask.is_none()),
        events: out.events,
        wall_time_s: 0.0,
    };
    for l in &tape.liquidations[tape_before.0..] {
        let money = l.notional(scale);
        match l.side {
            Side::Buy => {
                summary.liquidated_long += money;
                summary.liquidated_long_count += 1;
            }
            Side::Sell => {
                summary.liquidated_short += money;
                summary.liquidated_short_count += 1;
            }
        }
        summary.deepest_round = summary.deepest_round.max(l.round);
    }
    summary.wall_time_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Run every plan from a clone of `base`, in parallel (at most `threads` threads; `None`: rayon's
/// global pool). Results are in plan order; each is the run's summary or its error.
pub fn run_many(
    base: &Exchange,
    orders: &[ScenarioOrder],
    index: &[IndexPoint],
    plans: &[RunPlan],
    threads: Option<usize>,
) -> Vec<Result<RunSummary, Error>> {
    let work = || -> Vec<Result<RunSummary, Error>> {
        plans
            .par_iter()
            .map(|plan| {
                // A bug in one run must not take the sweep down: its panic becomes its error.
                catch_unwind(AssertUnwindSafe(|| run_one(base, orders, index, plan))).unwrap_or_else(|panic| {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(Error::Config { what: "run", message: format!("internal error (please report): {why}") })
                })
            })
            .collect()
    };
    match threads.map(|n| rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build()) {
        Some(Ok(pool)) => pool.install(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests;
