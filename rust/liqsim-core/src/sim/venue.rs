//! The simulation loop over a [`MultiExchange`]: several instruments sharing cross margin.
//!
//! The same clock as [`run`](super::run), one loop for both (`event_loop.rs`): scenario orders
//! and index rows carry their instrument, agents trade one instrument each (a market maker per
//! book) through its [`InstrumentMarket`], so every order goes through the venue (legs
//! refreshed, the venue's cascade run after it), and [`CrossMomentum`] reads one instrument and
//! trades another.
//!
//! Simultaneous events, in this fixed order (a run is reproducible byte for byte): at equal
//! timestamps, (1) the venue's scheduled work (every market's samples, funding, cascades, in
//! instrument order, then the venue's cascade), (2) index updates in table order, (3) scenario
//! orders in table order, (4) agent wake-ups in agent-list order, (5) the series sample, one row
//! per instrument in instrument order. Agent k draws from ChaCha stream k + 1 of the seed, as in
//! a one-instrument run.

use std::collections::{HashMap, VecDeque};

use super::event_loop::{event_loop, Markets};
use super::{
    apply_order, bad, sample_count, validate, IndexPoint, Placed, Recorder, RunSpec, ScenarioOrder, SeriesRow,
};
use crate::account::MarginMode;
use crate::agents::{market_order, Agent, AgentContext, AgentSpec};
use crate::error::Error;
use crate::exchange::{AccountRow, LIQUIDITY_ID};
use crate::market::{InstrumentMarket, Market};
use crate::multi::{InstrumentId, MultiExchange};
use crate::types::{Money, Price, Side, TraderId, Ts};

/// Trades instrument `follower` in the direction of a move of instrument `leader`: every
/// `check_every` it reads the leader's last price (mark before the first trade); when the leader
/// has moved by more than `threshold` (a fraction) over `window`, it sends a market order of
/// `notional` (quote) on the follower `lag` later, in the direction of the move, then waits
/// `window` before it looks for another move (one move, one order).
#[derive(Clone, Debug, PartialEq)]
pub struct CrossMomentumSpec {
    pub trader: TraderId,
    pub leader: InstrumentId,
    pub follower: InstrumentId,
    pub check_every: Ts,
    pub window: Ts,
    pub lag: Ts,
    pub threshold: f64,
    pub notional: f64,
}

impl CrossMomentumSpec {
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.check_every > 0
            && self.window > 0
            && self.lag >= 0
            && self.threshold > 0.0
            && self.threshold.is_finite()
            && self.notional > 0.0
            && self.notional.is_finite();
        if ok {
            Ok(())
        } else {
            Err(Error::Config {
                what: "cross momentum taker",
                message: "check_every, window, threshold and notional must be > 0, lag ≥ 0".into(),
            })
        }
    }
}

/// The running [`CrossMomentumSpec`].
#[derive(Clone, Debug)]
pub struct CrossMomentum {
    pub spec: CrossMomentumSpec,
    next_check: Ts,
    quiet_until: Ts,
    /// The leader's price at past checks, oldest first, back to one window.
    history: VecDeque<(Ts, Price)>,
    /// Orders waiting for their lag: (due, side, reference price of the follower is read then).
    pending: VecDeque<(Ts, Side)>,
}

impl CrossMomentum {
    pub fn new(spec: CrossMomentumSpec, start: Ts) -> CrossMomentum {
        CrossMomentum {
            next_check: start,
            quiet_until: start,
            history: VecDeque::new(),
            pending: VecDeque::new(),
            spec,
        }
    }

    pub fn next_wake(&self) -> Ts {
        self.pending.front().map_or(self.next_check, |&(due, _)| due.min(self.next_check))
    }

    /// Look at the leader (a check) and send what is due on the follower; returns orders sent.
    pub fn wake<M: Market>(&mut self, ts: Ts, leader: Option<Price>, follower: &mut M, ctx: &AgentContext) -> u64 {
        let mut sent = 0;
        if ts >= self.next_check {
            self.next_check = ts + self.spec.check_every;
            self.check(ts, leader);
        }
        while self.pending.front().is_some_and(|&(due, _)| due <= ts) {
            let Some((_, side)) = self.pending.pop_front() else { break };
            if let Some(price) = follower.last().or(follower.mark()) {
                sent += market_order(follower, self.spec.trader, side, self.spec.notional, price, ctx);
            }
        }
        sent
    }

    fn check(&mut self, ts: Ts, leader: Option<Price>) {
        let Some(price) = leader else { return };
        self.history.push_back((ts, price));
        while self.history.len() > 1 && self.history[1].0 <= ts - self.spec.window {
            self.history.pop_front();
        }
        let (t0, p0) = self.history[0];
        if ts < self.quiet_until || ts - t0 < self.spec.window || p0 <= 0 {
            return;
        }
        let ret = price as f64 / p0 as f64 - 1.0;
        if ret.abs() <= self.spec.threshold {
            return;
        }
        let side = if ret > 0.0 { Side::Buy } else { Side::Sell };
        self.pending.push_back((ts + self.spec.lag, side));
        self.quiet_until = ts + self.spec.window;
    }
}

/// An agent of a venue run.
#[derive(Clone, Debug, PartialEq)]
pub enum VenueAgentSpec {
    /// A one-instrument agent trading `InstrumentId`.
    On(InstrumentId, AgentSpec),
    CrossMomentum(CrossMomentumSpec),
}

impl VenueAgentSpec {
    fn trader(&self) -> Option<(InstrumentId, TraderId)> {
        match self {
            VenueAgentSpec::On(inst, a) => a.trader().map(|t| (*inst, t)),
            VenueAgentSpec::CrossMomentum(s) => Some((s.follower, s.trader)),
        }
    }
}

// A few agents per run, held in one Vec and scanned at every event: kept inline, not boxed.
#[allow(clippy::large_enum_variant)]
enum VenueAgent {
    On(InstrumentId, Agent),
    CrossMomentum(CrossMomentum),
}

impl VenueAgent {
    fn next_wake(&self) -> Ts {
        match self {
            VenueAgent::On(_, a) => a.next_wake(),
            VenueAgent::CrossMomentum(a) => a.next_wake(),
        }
    }
}

/// What a venue run produced besides the markets' own tapes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VenueRunOutput {
    /// One row per instrument per sample time, in instrument order within a time.
    pub series: Vec<(InstrumentId, SeriesRow)>,
    pub events: u64,
    pub agent_actions: u64,
    /// Scenario orders the venue refused, by row.
    pub refused_orders: Vec<usize>,
}

/// Run a multi-instrument scenario from the venue's current state to `spec.end` (see the module
/// docs). Agents whose trader is not loaded get an account (cross, leverage 1,
/// `spec.agent_balance` in its first instrument): one account with a leg in every instrument its
/// agents trade, so a trader quoting both books holds one cross account. The background-liquidity
/// account (−2) needs none.
pub fn run_venue(
    venue: &mut MultiExchange,
    orders: &[(InstrumentId, ScenarioOrder)],
    index: &[(InstrumentId, IndexPoint)],
    specs: &[VenueAgentSpec],
    spec: &RunSpec,
) -> Result<VenueRunOutput, Error> {
    run_venue_with_states(venue, orders, index, specs, spec, &[]).map(|(out, _)| out)
}

/// [`run_venue`], keeping a copy of the whole venue at the first sample at or after each of
/// `state_times` (sorted, within [start, end]), as [`run_with_states`](super::run_with_states)
/// does for one market.
pub fn run_venue_with_states(
    venue: &mut MultiExchange,
    orders: &[(InstrumentId, ScenarioOrder)],
    index: &[(InstrumentId, IndexPoint)],
    specs: &[VenueAgentSpec],
    spec: &RunSpec,
    state_times: &[Ts],
) -> Result<(VenueRunOutput, Vec<(Ts, MultiExchange)>), Error> {
    if state_times.windows(2).any(|w| w[0] > w[1]) || state_times.iter().any(|&t| t < spec.start || t > spec.end) {
        return Err(Error::Config { what: "state times", message: "must be sorted and within [start, end]".into() });
    }
    let n = venue.instruments().len();
    let plain_orders: Vec<ScenarioOrder> = orders.iter().map(|o| o.1).collect();
    let plain_index: Vec<IndexPoint> = index.iter().map(|p| p.1).collect();
    let plain_agents: Vec<AgentSpec> = specs
        .iter()
        .filter_map(|a| match a {
            VenueAgentSpec::On(_, s) => Some(s.clone()),
            VenueAgentSpec::CrossMomentum(_) => None,
        })
        .collect();
    validate(&plain_orders, &plain_index, &plain_agents, spec)?;
    let known = |inst: InstrumentId| (inst.0 as usize) < n;
    for (r, (inst, _)) in index.iter().enumerate() {
        if !known(*inst) {
            return Err(bad("index", "symbol", r, format!("instrument {} is not one of the {n}", inst.0)));
        }
    }
    let mut placed_in: HashMap<i64, InstrumentId> = HashMap::new();
    for (r, (inst, o)) in orders.iter().enumerate() {
        if !known(*inst) {
            return Err(bad("orders", "symbol", r, format!("instrument {} is not one of the {n}", inst.0)));
        }
        if let Some(name) = o.order_ref {
            if o.action == super::OrderAction::Cancel {
                if placed_in.get(&name) != Some(inst) {
                    return Err(bad("orders", "symbol", r, format!("order id {name} was placed in another symbol")));
                }
            } else {
                placed_in.insert(name, *inst);
            }
        }
        if venue.exchange(*inst).account_index(o.trader).is_none() {
            return Err(bad(
                "orders",
                "trader_id",
                r,
                format!("trader {} has no account in this symbol (add it to the accounts table)", o.trader.0),
            ));
        }
    }
    for a in specs {
        match a {
            VenueAgentSpec::On(inst, _) if !known(*inst) => {
                return Err(Error::Config { what: "agents", message: format!("instrument {} is not one", inst.0) })
            }
            VenueAgentSpec::CrossMomentum(s) => {
                s.validate()?;
                if !known(s.leader) || !known(s.follower) {
                    return Err(Error::Config {
                        what: "agents",
                        message: "a cross momentum taker's leader and follower must be instruments of the venue".into(),
                    });
                }
            }
            _ => {}
        }
    }
    // Accounts the agents bring, and those their traders need.
    let loaded = |v: &MultiExchange, id: TraderId| {
        (0..n).any(|k| v.exchange(InstrumentId(k as u32)).account_index(id).is_some())
    };
    let mut missing: Vec<(InstrumentId, AccountRow)> = Vec::new();
    for (k, a) in specs.iter().enumerate() {
        if let VenueAgentSpec::On(inst, s) = a {
            for row in s.own_accounts(spec.seed, k as u64 + 1)? {
                if loaded(venue, row.id) {
                    return Err(Error::Config {
                        what: "agents",
                        message: format!("agent {k}'s account {} is already a loaded account", row.id.0),
                    });
                }
                missing.push((*inst, row));
            }
        }
    }
    for a in specs {
        let Some((inst, id)) = a.trader() else { continue };
        if id == LIQUIDITY_ID || missing.iter().any(|(i, m)| m.id == id && *i == inst) {
            continue;
        }
        if loaded(venue, id) {
            if venue.exchange(inst).account_index(id).is_none() {
                return Err(Error::Config {
                    what: "agents",
                    message: format!("agent trader {} is loaded, but not in the symbol it trades", id.0),
                });
            }
            continue;
        }
        let first = !missing.iter().any(|(_, m)| m.id == id);
        missing.push((
            inst,
            AccountRow {
                id,
                balance: if first { spec.agent_balance } else { Money::ZERO },
                mode: MarginMode::Cross,
                lots: 0,
                entry_money_per_lot: Money::ZERO,
                leverage: 1,
                isolated_margin: None,
            },
        ));
    }
    venue.add_accounts(&missing)?;
    if venue.exchange(InstrumentId(0)).ts() < spec.start {
        venue.advance_to(spec.start);
    }
    let mut agents: Vec<VenueAgent> = specs
        .iter()
        .enumerate()
        .map(|(k, a)| match a {
            VenueAgentSpec::On(inst, s) => VenueAgent::On(*inst, s.build(spec.start, spec.seed, k as u64 + 1)),
            VenueAgentSpec::CrossMomentum(s) => VenueAgent::CrossMomentum(CrossMomentum::new(s.clone(), spec.start)),
        })
        .collect();

    let mut markets = VenueMarkets {
        recorders: (0..n).map(|k| Recorder::new(venue.exchange(InstrumentId(k as u32)))).collect(),
        venue,
        // One row per market per sample, reserved once (see `sample_count`).
        series: Vec::with_capacity(sample_count(spec).saturating_mul(n).min(1 << 20)),
        state_times,
        states: Vec::with_capacity(state_times.len()),
    };
    let counts = event_loop(&mut markets, orders, index, &mut agents, spec)?;
    let out = VenueRunOutput {
        series: markets.series,
        events: counts.events,
        agent_actions: counts.agent_actions,
        refused_orders: counts.refused_orders,
    };
    Ok((out, markets.states))
}

/// The venue as the event loop drives it, with a recorder per instrument and the state copies.
struct VenueMarkets<'a> {
    venue: &'a mut MultiExchange,
    recorders: Vec<Recorder>,
    series: Vec<(InstrumentId, SeriesRow)>,
    state_times: &'a [Ts],
    states: Vec<(Ts, MultiExchange)>,
}

impl VenueMarkets<'_> {
    /// The context an agent trading `inst` sees: the recorder is read up to now first.
    fn context(&mut self, inst: InstrumentId) -> AgentContext {
        let ex = self.venue.exchange(inst);
        let r = &mut self.recorders[inst.0 as usize];
        r.catch_up(ex);
        AgentContext { scale: ex.config().scale, liquidated_quote: r.liquidated_quote }
    }
}

impl Markets for VenueMarkets<'_> {
    type IndexRow = (InstrumentId, IndexPoint);
    type OrderRow = (InstrumentId, ScenarioOrder);
    type Agent = VenueAgent;

    fn index_ts(row: &(InstrumentId, IndexPoint)) -> Ts {
        row.1.ts
    }
    fn order_ts(row: &(InstrumentId, ScenarioOrder)) -> Ts {
        row.1.ts
    }
    fn next_wake(agent: &VenueAgent) -> Ts {
        agent.next_wake()
    }
    fn now(&self) -> Ts {
        self.venue.exchange(InstrumentId(0)).ts()
    }
    fn advance_to(&mut self, t: Ts) {
        self.venue.advance_to(t);
    }
    fn set_index(&mut self, &(inst, p): &(InstrumentId, IndexPoint)) -> Result<(), Error> {
        self.venue.set_index(inst, p.price)
    }
    fn apply_order(
        &mut self,
        (inst, o): &(InstrumentId, ScenarioOrder),
        placed: &mut HashMap<i64, Placed>,
    ) -> Result<bool, Error> {
        let mut market = InstrumentMarket::new(self.venue, *inst).ok_or_else(|| unknown(*inst))?;
        Ok(apply_order(&mut market, o, placed))
    }
    fn wake(&mut self, agent: &mut VenueAgent, t: Ts) -> Result<u64, Error> {
        match agent {
            VenueAgent::On(inst, agent) => {
                let ctx = self.context(*inst);
                let mut market = InstrumentMarket::new(self.venue, *inst).ok_or_else(|| unknown(*inst))?;
                Ok(agent.wake(t, &mut market, &ctx))
            }
            VenueAgent::CrossMomentum(agent) => {
                let (lead, follow) = (agent.spec.leader, agent.spec.follower);
                let leader = self.venue.exchange(lead).last().or(self.venue.exchange(lead).mark());
                let ctx = self.context(follow);
                let mut market = InstrumentMarket::new(self.venue, follow).ok_or_else(|| unknown(follow))?;
                Ok(agent.wake(t, leader, &mut market, &ctx))
            }
        }
    }
    fn sample(&mut self, t: Ts) {
        for (k, r) in self.recorders.iter_mut().enumerate() {
            let inst = InstrumentId(k as u32);
            self.series.push((inst, r.sample(self.venue.exchange(inst))));
        }
        while self.states.len() < self.state_times.len() && self.state_times[self.states.len()] <= t {
            self.states.push((t, self.venue.clone()));
        }
    }
    fn check_invariants(&self) -> Result<(), String> {
        self.venue.check_invariants()
    }
}

fn unknown(inst: InstrumentId) -> Error {
    Error::Config { what: "instrument", message: format!("{} is not an instrument of the venue", inst.0) }
}

#[cfg(test)]
mod tests;
