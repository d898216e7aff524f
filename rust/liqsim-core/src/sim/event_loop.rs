//! The event loop of [`run`](super::run) (one market) and [`run_venue`](super::run_venue)
//! (several): the clock and the order of simultaneous events, written once. What an event does
//! to the markets is the [`Markets`] implementation's; when it happens is decided here.
//!
//! Each step takes the earliest of: the next index row, the next scenario order, the first agent
//! to wake, the next series sample (none after `spec.end`). The markets' own schedule (mark-basis
//! and funding samples, settlements, with their cascades) runs up to that time first. At equal
//! timestamps: (1) that scheduled work, (2) index rows in table order, (3) scenario orders in
//! table order, (4) agent wake-ups, the lowest agent index first, (5) the series sample. The
//! order never depends on anything but the inputs, so a run is reproducible byte for byte.

use std::collections::HashMap;

use super::{Placed, RunSpec};
use crate::error::Error;
use crate::types::Ts;

/// One market or a venue of several, with the run's recorders, as the loop drives it.
///
/// Generic, not a trait object: each caller gets its own monomorphised loop, so the one-market
/// path compiles to the direct calls it made when it had a loop of its own (the loop's event
/// rate is a measured figure in the README).
pub(super) trait Markets {
    /// A row of the scenario's index table.
    type IndexRow: Copy;
    /// A row of the scenario's orders table.
    type OrderRow: Copy;
    type Agent;

    fn index_ts(row: &Self::IndexRow) -> Ts;
    fn order_ts(row: &Self::OrderRow) -> Ts;
    fn next_wake(agent: &Self::Agent) -> Ts;

    /// The markets' clock (all markets of a venue share it).
    fn now(&self) -> Ts;
    /// Run the markets' scheduled work up to `t` and move their clock there.
    fn advance_to(&mut self, t: Ts);
    fn set_index(&mut self, row: &Self::IndexRow) -> Result<(), Error>;
    /// Apply one scenario order; `Ok(false)` when the market refused it (margin, reduce-only, …).
    fn apply_order(&mut self, row: &Self::OrderRow, placed: &mut HashMap<i64, Placed>) -> Result<bool, Error>;
    /// Wake `agent` at `t`; returns the orders, cancels and index updates it sent.
    fn wake(&mut self, agent: &mut Self::Agent, t: Ts) -> Result<u64, Error>;
    /// Record the series row(s) of time `t`; the clock is at `t`.
    fn sample(&mut self, t: Ts);
    fn check_invariants(&self) -> Result<(), String>;
}

/// What the loop counted; the callers put it in their outputs (see [`RunOutput`](super::RunOutput)).
#[derive(Default)]
pub(super) struct Counts {
    pub events: u64,
    pub agent_actions: u64,
    pub refused_orders: Vec<usize>,
}

/// Run `orders`, `index` and `agents` through `markets` from their clock to `spec.end` (the
/// tables are validated and the clock is at or after `spec.start`), and leave the clock at
/// `spec.end`.
pub(super) fn event_loop<M: Markets>(
    markets: &mut M,
    orders: &[M::OrderRow],
    index: &[M::IndexRow],
    agents: &mut [M::Agent],
    spec: &RunSpec,
) -> Result<Counts, Error> {
    let mut counts = Counts::default();
    let mut placed: HashMap<i64, Placed> = HashMap::new();
    let (mut next_index, mut next_order) = (0usize, 0usize);
    let mut next_sample = spec.start;
    loop {
        let t_index = index.get(next_index).map(M::index_ts);
        let t_order = orders.get(next_order).map(M::order_ts);
        let (agent_k, t_agent) = agents
            .iter()
            .enumerate()
            .map(|(k, a)| (k, M::next_wake(a)))
            .min_by_key(|&(k, t)| (t, k))
            .map_or((None, None), |(k, t)| (Some(k), Some(t)));
        let t_sample = (next_sample <= spec.end).then_some(next_sample);
        let Some(t) = [t_index, t_order, t_agent, t_sample].into_iter().flatten().min() else { break };
        if t > spec.end {
            break;
        }
        if markets.now() < t {
            markets.advance_to(t);
        }
        if t_index == Some(t) {
            markets.set_index(&index[next_index])?;
            next_index += 1;
            counts.events += 1;
        } else if t_order == Some(t) {
            if !markets.apply_order(&orders[next_order], &mut placed)? {
                counts.refused_orders.push(next_order);
            }
            next_order += 1;
            counts.events += 1;
        } else if let (Some(k), true) = (agent_k, t_agent == Some(t)) {
            counts.agent_actions += markets.wake(&mut agents[k], t)?;
            counts.events += 1;
        } else {
            markets.sample(t);
            next_sample = next_sample.saturating_add(spec.sample_every);
            continue;
        }
        if spec.check_invariants {
            markets.check_invariants().map_err(|message| Error::Config { what: "invariants", message })?;
        }
    }
    if markets.now() < spec.end {
        markets.advance_to(spec.end);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Money;

    /// Markets that only write down what the loop asked of them, in order.
    struct Log {
        now: Ts,
        calls: Vec<String>,
        /// Invariant checks asked for (`check_invariants` takes `&self`).
        checks: std::cell::Cell<u64>,
    }

    impl Markets for Log {
        type IndexRow = (Ts, &'static str);
        /// (ts, name, accepted)
        type OrderRow = (Ts, &'static str, bool);
        /// (next wake, period, name)
        type Agent = (Ts, Ts, &'static str);

        fn index_ts(row: &Self::IndexRow) -> Ts {
            row.0
        }
        fn order_ts(row: &Self::OrderRow) -> Ts {
            row.0
        }
        fn next_wake(agent: &Self::Agent) -> Ts {
            agent.0
        }
        fn now(&self) -> Ts {
            self.now
        }
        fn advance_to(&mut self, t: Ts) {
            self.calls.push(format!("advance {t}"));
            self.now = t;
        }
        fn set_index(&mut self, row: &Self::IndexRow) -> Result<(), Error> {
            self.calls.push(format!("index {}", row.1));
            Ok(())
        }
        fn apply_order(&mut self, row: &Self::OrderRow, _: &mut HashMap<i64, Placed>) -> Result<bool, Error> {
            self.calls.push(format!("order {}", row.1));
            Ok(row.2)
        }
        fn wake(&mut self, agent: &mut Self::Agent, t: Ts) -> Result<u64, Error> {
            self.calls.push(format!("wake {} at {t}", agent.2));
            agent.0 = t + agent.1;
            Ok(2) // two orders sent
        }
        fn sample(&mut self, t: Ts) {
            self.calls.push(format!("sample {t}"));
        }
        fn check_invariants(&self) -> Result<(), String> {
            self.checks.set(self.checks.get() + 1);
            Ok(())
        }
    }

    #[test]
    fn simultaneous_events_run_in_the_documented_order() {
        // The module docs' order, worked by hand. At 5 everything falls together: the clock
        // moves first, then index row i1, orders o0 and o1 in table order, agents a (index 0)
        // and b (index 1) although b was listed second and last woke later, then the sample.
        // Samples every 5 up to 12: 0, 5, 10. Agents wake every 5 from 5 (a) and 0 (b); their
        // wake-ups at 15 are past the end, where the clock is moved to 12.
        let spec =
            RunSpec { start: 0, end: 12, sample_every: 5, seed: 0, check_invariants: true, agent_balance: Money::ZERO };
        let index = [(0, "i0"), (5, "i1")];
        let orders = [(5, "o0", true), (5, "o1", false), (7, "o2", true)];
        let mut agents = [(5, 5, "a"), (0, 5, "b")];
        let mut log = Log { now: 0, calls: Vec::new(), checks: 0.into() };
        let counts = event_loop(&mut log, &orders, &index, &mut agents, &spec).unwrap();
        let expected = [
            "index i0",
            "wake b at 0",
            "sample 0", // the clock is at 0 already: no advance
            "advance 5",
            "index i1",
            "order o0",
            "order o1",
            "wake a at 5",
            "wake b at 5",
            "sample 5",
            "advance 7",
            "order o2", //
            "advance 10",
            "wake a at 10",
            "wake b at 10",
            "sample 10", //
            "advance 12",
        ];
        assert_eq!(log.calls, expected);
        // 2 index rows + 3 orders + 5 wake-ups; each wake-up sent 2; o1 (row 1) was refused.
        assert_eq!((counts.events, counts.agent_actions, counts.refused_orders), (10, 10, vec![1]));
        // The invariants are checked after each event, not after a sample.
        assert_eq!(log.checks.get(), 10);
    }
}
