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
use crate::multi::{InstrumentId, MultiExchange};
use crate::sim::{self, IndexPoint, RunSpec, ScenarioOrder, SeriesRow, VenueAgentSpec};
use crate::types::{Money, Price, Qty, Side, TraderId, Ts};

/// The account the sweep adds for shock orders (an id no scenario or agent uses by default:
/// agents start at 9,000,000,000).
pub const SHOCK_TRADER: TraderId = TraderId(8_999_999_999);

/// What makes one run different from the others. The defaults are a one-market run's rows; a
/// venue run's ([`MultiExchange`]) carry their instrument: see [`SweepMarket`].
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan<O = ScenarioOrder, I = IndexPoint, A = AgentSpec> {
    pub spec: RunSpec,
    pub agents: Vec<A>,
    /// Extra orders (any trader; [`SHOCK_TRADER`] gets an account if it has none), sorted by ts.
    pub shock_orders: Vec<O>,
    /// Extra index points (e.g. a jump), sorted by ts.
    pub shock_index: Vec<I>,
}

/// A venue run's plan: rows and agents name their instrument.
pub type VenueRunPlan = RunPlan<(InstrumentId, ScenarioOrder), (InstrumentId, IndexPoint), VenueAgentSpec>;

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
    /// What the backstop holds at the end of the run (not a change: a takeover before the run is
    /// still held): position in lots (signed, > 0 long) and its notional at the final mark in
    /// money ([`sim::backstop_holding`]). A venue's total: the sum of its markets' notionals, and
    /// position 0 (lots of different instruments do not add up).
    pub backstop_position: Qty,
    pub backstop_notional: Money,
    /// Auto-deleveraging fills.
    pub adl_count: u64,
    /// The bid (ask) side of the book was empty at some sample.
    pub bid_exhausted: bool,
    pub ask_exhausted: bool,
    pub events: u64,
    /// Wall time of the run (the one field that is not reproducible).
    pub wall_time_s: f64,
}

/// The headline figures of one venue run: one [`RunSummary`] per instrument (instrument order;
/// `events` and `wall_time_s` are the venue's in each) and the venue's totals.
#[derive(Clone, Debug, PartialEq)]
pub struct VenueRunSummary {
    pub instruments: Vec<RunSummary>,
    /// Sums over the instruments of liquidated notional and counts, stops triggered, insurance
    /// fund change, backstop notional and ADL fills; the deepest round of any; a side "exhausted" if it was in any
    /// book. Prices are `None`: instruments' prices do not add up.
    pub venue: RunSummary,
    /// Money moved between the legs of an account during the run ([`MultiExchange::transfers`]).
    pub transfers: u64,
}

/// What a sweep needs of a market kind: the rows its runs take, how to give the shock trader an
/// account, and one run with its summary. [`Exchange`] (one market) and [`MultiExchange`] (a
/// venue of several) implement it, so both share [`run_one`] / [`run_many`]: plan checks, shock
/// merging, truncation at the run's end, parallelism and panic isolation are written once.
pub trait SweepMarket: Clone + Sync {
    type Order: Copy + Send + Sync;
    type Index: Copy + Send + Sync;
    type Agent: Clone + Send + Sync;
    type Summary: Send;
    fn order_ts(o: &Self::Order) -> Ts;
    fn index_ts(p: &Self::Index) -> Ts;
    /// Give [`SHOCK_TRADER`] an account (cross, `balance`) where `shock_orders` trade, if it has
    /// none there.
    fn open_shock_account(&mut self, shock_orders: &[Self::Order], balance: Money) -> Result<(), Error>;
    /// Run from the current state and summarise what happened during the run.
    fn run_summary(
        &mut self,
        orders: &[Self::Order],
        index: &[Self::Index],
        agents: &[Self::Agent],
        spec: &RunSpec,
    ) -> Result<Self::Summary, Error>;
    fn set_wall_time(summary: &mut Self::Summary, seconds: f64);
}

fn shock_account(balance: Money) -> AccountRow {
    AccountRow {
        id: SHOCK_TRADER,
        balance,
        mode: MarginMode::Cross,
        lots: 0,
        entry_money_per_lot: Money::ZERO,
        leverage: 1,
        isolated_margin: None,
    }
}

/// Where one market's tapes and fund stood before a run: the run's figures are what was added.
struct Before {
    liquidations: usize,
    adl: usize,
    stops: usize,
    fund: Money,
}

impl Before {
    fn of(ex: &Exchange) -> Before {
        let tape = ex.tape();
        Before {
            liquidations: tape.liquidations.len(),
            adl: tape.adl.len(),
            stops: tape.stops.len(),
            fund: ex.insurance_fund(),
        }
    }
}

/// The figures of one market over a run: its tape since `before` and its samples `series`.
fn summarize<'a>(
    ex: &Exchange,
    before: &Before,
    series: impl Iterator<Item = &'a SeriesRow> + Clone,
    events: u64,
) -> RunSummary {
    let tape = ex.tape();
    let scale = ex.config().scale;
    let lasts = series.clone().filter_map(|r| r.last);
    let (backstop_position, backstop_notional) = sim::backstop_holding(ex);
    let mut summary = RunSummary {
        liquidated_long: Money::ZERO,
        liquidated_short: Money::ZERO,
        liquidated_long_count: 0,
        liquidated_short_count: 0,
        first_last: lasts.clone().next(),
        peak_last: lasts.clone().max(),
        trough_last: lasts.min(),
        final_last: ex.last(),
        final_mark: ex.mark(),
        deepest_round: 0,
        stops_triggered: tape.stops[before.stops..].iter().filter(|s| s.status == StopStatus::Triggered).count() as u64,
        insurance_fund_change: ex.insurance_fund() - before.fund,
        backstop_position,
        backstop_notional,
        adl_count: (tape.adl.len() - before.adl) as u64,
        bid_exhausted: series.clone().any(|r| r.best_bid.is_none()),
        ask_exhausted: series.clone().any(|r| r.best_ask.is_none()),
        events,
        wall_time_s: 0.0,
    };
    for l in &tape.liquidations[before.liquidations..] {
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
    summary
}

impl SweepMarket for Exchange {
    type Order = ScenarioOrder;
    type Index = IndexPoint;
    type Agent = AgentSpec;
    type Summary = RunSummary;

    fn order_ts(o: &ScenarioOrder) -> Ts {
        o.ts
    }

    fn index_ts(p: &IndexPoint) -> Ts {
        p.ts
    }

    fn open_shock_account(&mut self, shock_orders: &[ScenarioOrder], balance: Money) -> Result<(), Error> {
        if shock_orders.iter().any(|o| o.trader == SHOCK_TRADER) && self.account_index(SHOCK_TRADER).is_none() {
            self.add_accounts(&[shock_account(balance)])?;
        }
        Ok(())
    }

    fn run_summary(
        &mut self,
        orders: &[ScenarioOrder],
        index: &[IndexPoint],
        agents: &[AgentSpec],
        spec: &RunSpec,
    ) -> Result<RunSummary, Error> {
        let before = Before::of(self);
        let out = sim::run(self, orders, index, agents, spec)?;
        Ok(summarize(self, &before, out.series.iter(), out.events))
    }

    fn set_wall_time(summary: &mut RunSummary, seconds: f64) {
        summary.wall_time_s = seconds;
    }
}

impl SweepMarket for MultiExchange {
    type Order = (InstrumentId, ScenarioOrder);
    type Index = (InstrumentId, IndexPoint);
    type Agent = VenueAgentSpec;
    type Summary = VenueRunSummary;

    fn order_ts(o: &(InstrumentId, ScenarioOrder)) -> Ts {
        o.1.ts
    }

    fn index_ts(p: &(InstrumentId, IndexPoint)) -> Ts {
        p.1.ts
    }

    /// One cross account for every instrument a shock trades in: the balance in the first leg
    /// (the venue's wallet is shared), the other legs empty — as `run_venue` opens agents'.
    fn open_shock_account(
        &mut self,
        shock_orders: &[(InstrumentId, ScenarioOrder)],
        balance: Money,
    ) -> Result<(), Error> {
        // A shock trader the scenario loaded keeps its own accounts (adding a leg to a loaded
        // trader is refused by the venue); orders in a symbol where it has none are then
        // `run_venue`'s to report, naming the row.
        if !self.legs(SHOCK_TRADER).is_empty() {
            return Ok(());
        }
        let n = self.instruments().len();
        let mut rows: Vec<(InstrumentId, AccountRow)> = Vec::new();
        for (inst, o) in shock_orders {
            if o.trader != SHOCK_TRADER || (inst.0 as usize) >= n || rows.iter().any(|(i, _)| i == inst) {
                continue;
            }
            rows.push((*inst, shock_account(if rows.is_empty() { balance } else { Money::ZERO })));
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.add_accounts(&rows)
    }

    fn run_summary(
        &mut self,
        orders: &[(InstrumentId, ScenarioOrder)],
        index: &[(InstrumentId, IndexPoint)],
        agents: &[VenueAgentSpec],
        spec: &RunSpec,
    ) -> Result<VenueRunSummary, Error> {
        let n = self.instruments().len();
        let before: Vec<Before> = (0..n).map(|k| Before::of(self.exchange(InstrumentId(k as u32)))).collect();
        let transfers_before = self.transfers().len();
        let out = sim::run_venue(self, orders, index, agents, spec)?;
        let instruments: Vec<RunSummary> = (0..n)
            .map(|k| {
                let inst = InstrumentId(k as u32);
                let rows = out.series.iter().filter(move |(i, _)| *i == inst).map(|(_, r)| r);
                summarize(self.exchange(inst), &before[k], rows, out.events)
            })
            .collect();
        let mut venue = RunSummary {
            liquidated_long: Money::ZERO,
            liquidated_short: Money::ZERO,
            liquidated_long_count: 0,
            liquidated_short_count: 0,
            first_last: None,
            peak_last: None,
            trough_last: None,
            final_last: None,
            final_mark: None,
            deepest_round: 0,
            stops_triggered: 0,
            insurance_fund_change: Money::ZERO,
            backstop_position: 0,
            backstop_notional: Money::ZERO,
            adl_count: 0,
            bid_exhausted: false,
            ask_exhausted: false,
            events: out.events,
            wall_time_s: 0.0,
        };
        for s in &instruments {
            venue.liquidated_long += s.liquidated_long;
            venue.liquidated_short += s.liquidated_short;
            venue.liquidated_long_count += s.liquidated_long_count;
            venue.liquidated_short_count += s.liquidated_short_count;
            venue.deepest_round = venue.deepest_round.max(s.deepest_round);
            venue.stops_triggered += s.stops_triggered;
            venue.insurance_fund_change += s.insurance_fund_change;
            venue.backstop_notional += s.backstop_notional;
            venue.adl_count += s.adl_count;
            venue.bid_exhausted |= s.bid_exhausted;
            venue.ask_exhausted |= s.ask_exhausted;
        }
        Ok(VenueRunSummary { instruments, venue, transfers: (self.transfers().len() - transfers_before) as u64 })
    }

    fn set_wall_time(summary: &mut VenueRunSummary, seconds: f64) {
        summary.venue.wall_time_s = seconds;
        for s in &mut summary.instruments {
            s.wall_time_s = seconds;
        }
    }
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

/// One run from a clone of `base` (an [`Exchange`] or a [`MultiExchange`]).
pub fn run_one<M: SweepMarket>(
    base: &M,
    orders: &[M::Order],
    index: &[M::Index],
    plan: &RunPlan<M::Order, M::Index, M::Agent>,
) -> Result<M::Summary, Error> {
    let started = Instant::now();
    check_sorted(&plan.shock_orders, "shock_orders", M::order_ts)?;
    check_sorted(&plan.shock_index, "shock_index", M::index_ts)?;
    let mut market = base.clone();
    market.open_shock_account(&plan.shock_orders, plan.spec.agent_balance)?;
    // A run that ends earlier than the scenario drops the scenario's later rows (as
    // `simulate(until=...)` does); the scenario's tables are sorted by ts.
    let orders = &orders[..orders.partition_point(|o| M::order_ts(o) <= plan.spec.end)];
    let index = &index[..index.partition_point(|p| M::index_ts(p) <= plan.spec.end)];
    let orders = merge_by_ts(orders, &plan.shock_orders, M::order_ts);
    let index = merge_by_ts(index, &plan.shock_index, M::index_ts);
    let mut summary = market.run_summary(&orders, &index, &plan.agents, &plan.spec)?;
    M::set_wall_time(&mut summary, started.elapsed().as_secs_f64());
    Ok(summary)
}

/// Run every plan from a clone of `base`, in parallel (at most `threads` threads; `None`: rayon's
/// global pool). Results are in plan order; each is the run's summary or its error.
pub fn run_many<M: SweepMarket>(
    base: &M,
    orders: &[M::Order],
    index: &[M::Index],
    plans: &[RunPlan<M::Order, M::Index, M::Agent>],
    threads: Option<usize>,
) -> Vec<Result<M::Summary, Error>> {
    let work = || -> Vec<Result<M::Summary, Error>> {
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
#[cfg(test)]
mod venue_tests;
