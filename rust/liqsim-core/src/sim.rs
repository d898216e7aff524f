//! The simulation loop: an event-driven clock that runs a scenario through an [`Exchange`].
//!
//! Events, in nanoseconds: exogenous index updates and orders from the scenario's tables, agent
//! wake-ups, and series samples; the exchange's own schedule (mark-basis samples, funding samples
//! and settlements) runs inside [`Exchange::advance_to`] before each event. After every event the
//! exchange has already run its liquidation cascade.
//!
//! Simultaneous events run in a fixed, documented order, so a run is reproducible byte for byte:
//! at equal timestamps, (1) the exchange's scheduled work, (2) index updates in table order,
//! (3) scenario orders in table order, (4) agent wake-ups in agent-list order, (5) the series
//! sample. All randomness comes from the scenario seed, one ChaCha stream per agent. The loop
//! that keeps this order is shared with [`run_venue`] (`sim/event_loop.rs`), so the two cannot
//! drift apart.

use std::collections::HashMap;

use crate::account::MarginMode;
use crate::agents::{Agent, AgentContext, AgentSpec};
use crate::book::TimeInForce;
use crate::error::Error;
use crate::exchange::{AccountRow, Exchange, OrderRequest, StopRequest, TradeKind, BACKSTOP, LIQUIDITY_ID};
use crate::margin::Rate;
use crate::market::Market;
use crate::stops::{Trail, TriggerOn};
use crate::types::{Money, OrderId, Price, Qty, Side, TraderId, Ts};
use event_loop::{event_loop, Markets};

/// What a scenario order does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderAction {
    Limit,
    Market,
    /// Cancels the order (or waiting stop) the row's `order_ref` names.
    Cancel,
    /// A market order once `trigger` is reached.
    StopMarket,
    /// A limit order at `price` once `trigger` is reached.
    StopLimit,
    /// A stop-market whose trigger trails the best price seen by `trail`.
    TrailingStop,
}

impl OrderAction {
    pub const NAMES: [&'static str; 6] = ["limit", "market", "cancel", "stop_market", "stop_limit", "trailing_stop"];

    fn is_stop(self) -> bool {
        matches!(self, OrderAction::StopMarket | OrderAction::StopLimit | OrderAction::TrailingStop)
    }
}

/// One row of the scenario's `orders` table, in core units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScenarioOrder {
    pub ts: Ts,
    pub trader: TraderId,
    pub action: OrderAction,
    pub side: Side,
    pub price: Option<Price>,
    pub qty: Qty,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    /// The user's name for this order (for later cancels); `None` when not given.
    pub order_ref: Option<i64>,
    /// Stops: the trigger (not for trailing stops), what it watches, the trail, the OCO group.
    pub trigger: Option<Price>,
    pub trigger_on: TriggerOn,
    pub trail: Option<Trail>,
    pub oco: Option<i64>,
}

impl ScenarioOrder {
    /// A market order of `qty` lots at `ts` (ns): immediate-or-cancel, no protection price, not
    /// reduce-only, no name, no trigger or OCO group. Other orders by struct update syntax:
    /// `ScenarioOrder { reduce_only: true, ..ScenarioOrder::market(ts, trader, side, qty) }`.
    pub fn market(ts: Ts, trader: TraderId, side: Side, qty: Qty) -> Self {
        ScenarioOrder {
            ts,
            trader,
            action: OrderAction::Market,
            side,
            price: None,
            qty,
            tif: TimeInForce::Ioc,
            reduce_only: false,
            order_ref: None,
            trigger: None,
            trigger_on: TriggerOn::Last,
            trail: None,
            oco: None,
        }
    }
}

/// One row of the scenario's `index` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexPoint {
    pub ts: Ts,
    pub price: Price,
}

/// Times and switches of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunSpec {
    pub start: Ts,
    pub end: Ts,
    pub sample_every: Ts,
    pub seed: u64,
    /// Check the exchange's invariants after every event (slow; for tests and debugging).
    pub check_invariants: bool,
    /// Balance given to agent accounts the scenario did not load (money).
    pub agent_balance: Money,
}

/// One sample of the market's state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesRow {
    pub ts: Ts,
    pub last: Option<Price>,
    pub mark: Option<Price>,
    pub index: Option<Price>,
    pub best_bid: Option<Price>,
    pub best_ask: Option<Price>,
    /// Σ price × qty of bids within 1% below the mid, in money.
    pub bid_depth_1pct: Money,
    pub ask_depth_1pct: Money,
    pub open_interest: Qty,
    /// The funding rate the premiums sampled so far in this interval would give.
    pub funding_rate: Rate,
    /// Cumulative liquidated notional of longs / shorts (fill price, or bankruptcy price off book).
    pub liquidated_long: Money,
    pub liquidated_short: Money,
    pub insurance_fund: Money,
    /// What the backstop (account −1: the insurance fund, Bybit's takeover, Hyperliquid's vault)
    /// holds from takeovers not yet unwound: its signed position in lots (> 0 long) and that
    /// position's notional |lots| × mark in money (≥ 0; see [`backstop_holding`]).
    pub backstop_position: Qty,
    pub backstop_notional: Money,
    /// Cumulative taker-buy minus taker-sell lots of book trades.
    pub cvd: Qty,
    /// Cumulative lots traded in the book.
    pub volume: Qty,
}

/// What a run produced besides the exchange's own tape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOutput {
    pub series: Vec<SeriesRow>,
    /// Events processed: index updates, scenario orders, agent wake-ups.
    pub events: u64,
    /// Orders, cancels and index updates the agents sent at their wake-ups (events too: the
    /// loop's event rate counts `events + agent_actions`).
    pub agent_actions: u64,
    /// Scenario orders the exchange refused (margin, reduce-only, …), by row.
    pub refused_orders: Vec<usize>,
}

fn bad(table: &'static str, column: &'static str, row: usize, message: String) -> Error {
    Error::InTable { table, column, row, message }
}

/// Check the scenario's tables against the run: sorted timestamps within [start, end], positive
/// quantities, prices where the action needs one, cancels naming an earlier order.
pub fn validate(
    orders: &[ScenarioOrder],
    index: &[IndexPoint],
    agents: &[AgentSpec],
    spec: &RunSpec,
) -> Result<(), Error> {
    if spec.end <= spec.start {
        return Err(Error::Config {
            what: "end",
            message: format!("end ({}) must be after start ({})", spec.end, spec.start),
        });
    }
    if spec.sample_every <= 0 {
        return Err(Error::Config {
            what: "sample_every",
            message: format!("must be > 0 ns, got {}", spec.sample_every),
        });
    }
    if spec.start < 0 {
        return Err(Error::Config { what: "start", message: format!("must be ≥ 0 ns, got {}", spec.start) });
    }
    let mut previous = spec.start;
    for (r, p) in index.iter().enumerate() {
        if p.ts < previous || p.ts > spec.end {
            return Err(bad("index", "ts", r, format!("ts {} is out of order or outside [start, end]", p.ts)));
        }
        if p.price <= 0 {
            return Err(bad("index", "price", r, "must be > 0".into()));
        }
        previous = p.ts;
    }
    let mut previous = spec.start;
    let mut named: HashMap<i64, usize> = HashMap::new();
    for (r, o) in orders.iter().enumerate() {
        if o.ts < previous || o.ts > spec.end {
            return Err(bad("orders", "ts", r, format!("ts {} is out of order or outside [start, end]", o.ts)));
        }
        previous = o.ts;
        match o.action {
            action @ (OrderAction::Limit
            | OrderAction::Market
            | OrderAction::StopMarket
            | OrderAction::StopLimit
            | OrderAction::TrailingStop) => {
                if action == OrderAction::TrailingStop && o.trail.is_none() {
                    return Err(bad(
                        "orders",
                        "trail",
                        r,
                        "a trailing stop needs trail (or trail_fraction) > 0".into(),
                    ));
                }
                if matches!(action, OrderAction::StopMarket | OrderAction::StopLimit)
                    && o.trigger.is_none_or(|p| p <= 0)
                {
                    return Err(bad("orders", "trigger_price", r, "a stop needs a trigger_price > 0".into()));
                }
                if action == OrderAction::StopLimit && o.price.is_none_or(|p| p <= 0) {
                    return Err(bad("orders", "price", r, "a stop-limit needs a limit price > 0".into()));
                }
                if o.qty <= 0 {
                    return Err(bad("orders", "qty", r, "must be > 0".into()));
                }
                if o.action == OrderAction::Limit && o.price.is_none_or(|p| p <= 0) {
                    return Err(bad("orders", "price", r, "a limit order needs a price > 0".into()));
                }
                if let Some(name) = o.order_ref {
                    if named.insert(name, r).is_some() {
                        return Err(bad("orders", "order_id", r, format!("order id {name} is used twice")));
                    }
                }
            }
            OrderAction::Cancel => {
                let Some(name) = o.order_ref else {
                    return Err(bad("orders", "order_id", r, "a cancel needs the order id it cancels".into()));
                };
                if !named.contains_key(&name) {
                    return Err(bad(
                        "orders",
                        "order_id",
                        r,
                        format!("cancel of order id {name}, which no earlier row placed"),
                    ));
                }
            }
        }
    }
    for a in agents {
        a.validate()?;
    }
    Ok(())
}

/// Run a scenario from the exchange's current state to `spec.end`; see [`run_with_states`].
pub fn run(
    ex: &mut Exchange,
    orders: &[ScenarioOrder],
    index: &[IndexPoint],
    specs: &[AgentSpec],
    spec: &RunSpec,
) -> Result<RunOutput, Error> {
    run_with_states(ex, orders, index, specs, spec, &[]).map(|(out, _)| out)
}

/// Run a scenario from the exchange's current state to `spec.end`, and keep a copy of the whole
/// market at the first sample at or after each of `state_times` (sorted): a liquidation map, or a
/// what-if, from the middle of a run. Each copy costs what the market holds (accounts, book,
/// tapes so far), so ask for the times you need.
///
/// The exchange keeps everything that happened (tape, accounts); the returned [`RunOutput`] holds
/// the series and counters. Agents whose trader is not a loaded account get one (cross, leverage 1,
/// `spec.agent_balance`), except the background-liquidity account (id −2), which needs none.
pub fn run_with_states(
    ex: &mut Exchange,
    orders: &[ScenarioOrder],
    index: &[IndexPoint],
    specs: &[AgentSpec],
    spec: &RunSpec,
    state_times: &[Ts],
) -> Result<(RunOutput, Vec<(Ts, Exchange)>), Error> {
    validate(orders, index, specs, spec)?;
    if state_times.windows(2).any(|w| w[0] > w[1]) || state_times.iter().any(|&t| t < spec.start || t > spec.end) {
        return Err(Error::Config { what: "state times", message: "must be sorted and within [start, end]".into() });
    }
    let mut missing: Vec<AccountRow> = Vec::new();
    for (k, a) in specs.iter().enumerate() {
        let pool = a.own_accounts(spec.seed, k as u64 + 1)?;
        for row in &pool {
            if ex.account_index(row.id).is_some() {
                return Err(Error::Config {
                    what: "agents",
                    message: format!("agent {k}'s account {} is already a loaded account", row.id.0),
                });
            }
        }
        missing.extend(pool);
        let Some(id) = a.trader() else { continue };
        if id != LIQUIDITY_ID && ex.account_index(id).is_none() && !missing.iter().any(|m| m.id == id) {
            missing.push(AccountRow {
                id,
                balance: spec.agent_balance,
                mode: MarginMode::Cross,
                lots: 0,
                entry_money_per_lot: Money::ZERO,
                leverage: 1,
                isolated_margin: None,
            });
        }
    }
    ex.add_accounts(&missing)?;
    for (r, o) in orders.iter().enumerate() {
        if ex.account_index(o.trader).is_none() {
            return Err(bad(
                "orders",
                "trader_id",
                r,
                format!("trader {} is not a loaded account (add it to the accounts table)", o.trader.0),
            ));
        }
    }
    if ex.ts() < spec.start {
        ex.advance_to(spec.start);
    }
    let mut agents: Vec<Agent> =
        specs.iter().enumerate().map(|(k, a)| a.build(spec.start, spec.seed, k as u64 + 1)).collect();

    let mut market = OneMarket {
        recorder: Recorder::new(ex),
        ex,
        series: Vec::with_capacity(sample_count(spec)),
        state_times,
        states: Vec::with_capacity(state_times.len()),
    };
    let counts = event_loop(&mut market, orders, index, &mut agents, spec)?;
    let out = RunOutput {
        series: market.series,
        events: counts.events,
        agent_actions: counts.agent_actions,
        refused_orders: counts.refused_orders,
    };
    Ok((out, market.states))
}

/// The number of series samples a run takes (at start, then every `sample_every` up to end), to
/// reserve the series once: grown by doubling instead, its reallocations copied the rows again,
/// 1.0 M instructions of memcpy in the busy hour of benches/sim.rs (callgrind, release), 1.2% of
/// the loop. Capped, so a run asking for very many samples does not reserve them all up front.
pub(crate) fn sample_count(spec: &RunSpec) -> usize {
    let n = spec.end.saturating_sub(spec.start) / spec.sample_every.max(1) + 1;
    usize::try_from(n).unwrap_or(0).min(1 << 20)
}

/// One exchange as the event loop drives it, with the run's recorder, series and state copies.
struct OneMarket<'a> {
    ex: &'a mut Exchange,
    recorder: Recorder,
    series: Vec<SeriesRow>,
    state_times: &'a [Ts],
    states: Vec<(Ts, Exchange)>,
}

// `#[inline]`, measured (callgrind, release, the busy hour of benches/sim.rs): left to the
// inliner, `wake` stays a call whose `Result` the loop unpacks, 0.6% more instructions than the
// loop had when it was written out here; inlined, 1.3% fewer. The venue's (sim/venue.rs) are
// left to the inliner: inlined, its larger `wake` cost 0.3% more there.
impl Markets for OneMarket<'_> {
    type IndexRow = IndexPoint;
    type OrderRow = ScenarioOrder;
    type Agent = Agent;

    #[inline]
    fn index_ts(row: &IndexPoint) -> Ts {
        row.ts
    }
    #[inline]
    fn order_ts(row: &ScenarioOrder) -> Ts {
        row.ts
    }
    #[inline]
    fn next_wake(agent: &Agent) -> Ts {
        agent.next_wake()
    }
    #[inline]
    fn now(&self) -> Ts {
        self.ex.ts()
    }
    #[inline]
    fn advance_to(&mut self, t: Ts) {
        self.ex.advance_to(t);
    }
    #[inline]
    fn set_index(&mut self, row: &IndexPoint) -> Result<(), Error> {
        self.ex.set_index(row.price);
        Ok(())
    }
    #[inline]
    fn apply_order(&mut self, row: &ScenarioOrder, placed: &mut HashMap<i64, Placed>) -> Result<bool, Error> {
        Ok(apply_order(self.ex, row, placed))
    }
    #[inline]
    fn wake(&mut self, agent: &mut Agent, t: Ts) -> Result<u64, Error> {
        // The recorder reads the tape only when an agent needs its totals (or at a sample): its
        // cursors make a late catch-up add the same records in the same order.
        self.recorder.catch_up(self.ex);
        let ctx = AgentContext { scale: self.ex.config().scale, liquidated_quote: self.recorder.liquidated_quote };
        Ok(agent.wake(t, self.ex, &ctx))
    }
    #[inline]
    fn sample(&mut self, t: Ts) {
        self.series.push(self.recorder.sample(self.ex));
        while self.states.len() < self.state_times.len() && self.state_times[self.states.len()] <= t {
            self.states.push((t, self.ex.clone()));
        }
    }
    #[inline]
    fn check_invariants(&self) -> Result<(), String> {
        self.ex.check_invariants()
    }
}

/// What a scenario row named by its `order_id` became at the exchange.
#[derive(Clone, Copy, Debug)]
enum Placed {
    Order(OrderId),
    Stop(i64),
}

/// Apply one scenario order; false when the exchange refused it.
fn apply_order<M: Market>(ex: &mut M, o: &ScenarioOrder, placed: &mut HashMap<i64, Placed>) -> bool {
    if o.action.is_stop() {
        let req = StopRequest {
            side: o.side,
            qty: o.qty,
            limit: if o.action == OrderAction::StopLimit { o.price } else { None },
            trigger: o.trigger.unwrap_or(0),
            trigger_on: o.trigger_on,
            trail: o.trail,
            reduce_only: o.reduce_only,
            oco: o.oco,
        };
        return match ex.submit_stop(o.trader, req) {
            Ok(id) => {
                if let Some(name) = o.order_ref {
                    placed.insert(name, Placed::Stop(id));
                }
                true
            }
            Err(_) => false,
        };
    }
    match o.action {
        OrderAction::Limit | OrderAction::Market => {
            let req = OrderRequest {
                side: o.side,
                qty: o.qty,
                price: o.price, // a market row's price is its protection bound (an IOC limit)
                tif: if o.action == OrderAction::Market { TimeInForce::Ioc } else { o.tif },
                reduce_only: o.reduce_only,
            };
            let r = ex.submit(o.trader, req);
            if let (Some(name), Some(id)) = (o.order_ref, r.outcome.order_id) {
                placed.insert(name, Placed::Order(id));
            }
            r.reject.is_none() && r.outcome.status != crate::book::Status::Rejected
        }
        OrderAction::Cancel => match o.order_ref.and_then(|name| placed.get(&name)) {
            Some(&Placed::Order(id)) => {
                matches!(ex.cancel(o.trader, id), Ok(out) if out.status == crate::book::Status::Cancelled)
            }
            Some(&Placed::Stop(id)) => ex.cancel_stop(o.trader, id),
            None => false,
        },
        _ => false, // stops were handled above
    }
}

/// The backstop's position in lots (signed, > 0 long) and its notional |lots| × mark in money.
///
/// Without a mark the notional is zero: the backstop only takes positions over in liquidations,
/// which are triggered by a mark, so a market with no mark yet has a flat backstop. The product
/// cannot overflow: a position is at most `MAX_POSITION_LOTS` and a mark at most the market's
/// `max_price`, whose product is within `MAX_NOTIONAL` (see [`crate::limits`]), the bound the
/// margin arithmetic on every account relies on too.
pub fn backstop_holding(ex: &Exchange) -> (Qty, Money) {
    let position = &ex.accounts()[BACKSTOP as usize].position;
    let notional = ex.mark().map_or(Money::ZERO, |mark| position.notional(mark, ex.config().scale));
    (position.lots, notional)
}

/// Running totals read off the exchange's tape since the run began (cursors, not rescans).
struct Recorder {
    trades_seen: usize,
    liquidations_seen: usize,
    cvd: Qty,
    volume: Qty,
    liquidated: [Money; 2],
    /// `liquidated` in quote, for the agents' flow rules (converted when it changes, not at
    /// every wake: an i128 → f64 conversion is a library call).
    liquidated_quote: [f64; 2],
}

impl Recorder {
    fn new(ex: &Exchange) -> Recorder {
        let mut r = Recorder {
            trades_seen: 0,
            liquidations_seen: 0,
            cvd: 0,
            volume: 0,
            liquidated: [Money::ZERO; 2],
            liquidated_quote: [0.0; 2],
        };
        r.catch_up(ex);
        r
    }

    fn catch_up(&mut self, ex: &Exchange) {
        let tape = ex.tape();
        for t in &tape.trades[self.trades_seen..] {
            if matches!(t.kind, TradeKind::Normal | TradeKind::Liquidation) {
                self.cvd += t.aggressor.sign() * t.qty;
                self.volume += t.qty;
            }
        }
        self.trades_seen = tape.trades.len();
        if self.liquidations_seen < tape.liquidations.len() {
            let scale = ex.config().scale;
            for l in &tape.liquidations[self.liquidations_seen..] {
                self.liquidated[l.side as usize] += l.notional(scale);
            }
            self.liquidations_seen = tape.liquidations.len();
            self.liquidated_quote = [self.liquidated[0].to_f64(), self.liquidated[1].to_f64()];
        }
    }

    fn sample(&mut self, ex: &Exchange) -> SeriesRow {
        self.catch_up(ex);
        let book = ex.book();
        let per_tick_lot = ex.config().scale.money_per_tick_lot();
        let depth = book.depth_within(0.01);
        let (backstop_position, backstop_notional) = backstop_holding(ex);
        SeriesRow {
            ts: ex.ts(),
            last: ex.last(),
            mark: ex.mark(),
            index: ex.index_price(),
            best_bid: book.best_bid().map(|(p, _)| p),
            best_ask: book.best_ask().map(|(p, _)| p),
            bid_depth_1pct: Money(depth.map_or(0, |d| d.bid_notional) * per_tick_lot),
            ask_depth_1pct: Money(depth.map_or(0, |d| d.ask_notional) * per_tick_lot),
            open_interest: ex.open_interest(),
            funding_rate: ex.funding_rate_estimate(),
            liquidated_long: self.liquidated[Side::Buy as usize],
            liquidated_short: self.liquidated[Side::Sell as usize],
            insurance_fund: ex.insurance_fund(),
            backstop_position,
            backstop_notional,
            cvd: self.cvd,
            volume: self.volume,
        }
    }
}

mod columns;
mod event_loop;
pub mod paths;
mod venue;
pub use columns::{index_rows, order_rows, OrderColumns};
pub use paths::{correlated_index, PathSpec};
pub use venue::{run_venue, run_venue_with_states, CrossMomentum, CrossMomentumSpec, VenueAgentSpec, VenueRunOutput};

#[cfg(test)]
mod backstop_tests;
#[cfg(test)]
mod tests;
