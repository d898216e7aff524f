//! Market agents: the flow that makes a simulated market live.
//!
//! Agents drive the exchange only through its order API (`submit`, `cancel`) and read only what a
//! venue's gateway would show them (book, last, mark, index, the public liquidation tape): no back
//! doors into the exchange's internals. Each agent owns a ChaCha stream derived from the scenario
//! seed and its position in the agent list, so a run is reproducible byte for byte and adding an
//! agent does not change the random numbers of the others.
//!
//! Models and default figures: shared/MODELS.md §1–3 (concave depth profile D(x) = D₁₀·(x/10 bp)^β,
//! refill half-life ~20 s, makers pulling in fast markets), §4 (heavy-tailed taker sizes).

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::book::TimeInForce;
use crate::error::Error;
use crate::exchange::OrderRequest;
use crate::margin::NotionalScale;
use crate::market::Market;
use crate::types::{Money, Price, Qty, Side, TraderId, Ts};

mod basis;
mod maker;
mod openers;
mod stop_placer;
mod takers;
mod unwinder;

pub use basis::{BasisArb, BasisArbSpec, IndexCoupling, IndexCouplingSpec};
#[cfg(test)]
pub(crate) use maker::WALK_ALL;
pub use maker::{DepthStep, MarketMaker, MarketMakerSpec, Reference, MAX_DEPTH_SCALE, MAX_POSITION_LIMIT};
pub use openers::{PositionOpenerSpec, PositionOpeners};
pub use stop_placer::{StopPlacer, StopPlacerSpec};
pub use takers::{MomentumTaker, MomentumTakerSpec, NoiseTaker, NoiseTakerSpec};
pub use unwinder::{BackstopUnwinder, BackstopUnwinderSpec};

/// One basis point.
pub(crate) const BP: f64 = 1e-4;

/// One agent's random stream: ChaCha8 seeded with the run seed, stream = agent number + 1.
#[derive(Clone, Debug)]
pub struct AgentRng(ChaCha8Rng);

impl AgentRng {
    pub fn new(seed: u64, stream: u64) -> AgentRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        AgentRng(rng)
    }

    /// Uniform in [0, 1): the top 53 bits of one draw.
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe under a logarithm.
    fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// Exponential with the given mean (inverse CDF).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform_open0().ln()
    }

    /// Standard normal (Box–Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform_open0(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// How takers draw order sizes (quote notional).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizeDist {
    /// Lognormal with the given median and log-standard deviation σ.
    LogNormal { median: f64, sigma: f64 },
    /// Pareto with minimum `x_min` and tail index `alpha` (P(X > x) = (x_min/x)^α).
    Pareto { x_min: f64, alpha: f64 },
}

impl SizeDist {
    fn validate(&self, what: &'static str) -> Result<(), Error> {
        let ok = match *self {
            SizeDist::LogNormal { median, sigma } => median > 0.0 && median.is_finite() && (0.0..10.0).contains(&sigma),
            SizeDist::Pareto { x_min, alpha } => x_min > 0.0 && x_min.is_finite() && alpha > 0.0 && alpha.is_finite(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Config {
                what,
                message: format!("size distribution {self:?}: parameters must be positive and finite"),
            })
        }
    }

    fn draw(&self, rng: &mut AgentRng) -> f64 {
        match *self {
            SizeDist::LogNormal { median, sigma } => median * (sigma * rng.normal()).exp(),
            SizeDist::Pareto { x_min, alpha } => x_min * rng.uniform_open0().powf(-1.0 / alpha),
        }
    }
}

/// Shared read-only facts an agent needs besides the exchange.
#[derive(Clone, Copy, Debug)]
pub struct AgentContext {
    pub scale: NotionalScale,
    /// Liquidated notional (quote) per side recorded so far, for flow-based rules: [long, short].
    pub liquidated_quote: [f64; 2],
}

impl AgentContext {
    /// Lots worth `quote` of notional at `price` ticks (fractional; callers round).
    pub fn lots_for(&self, quote: f64, price: Price) -> f64 {
        let money_per_lot = price.max(1) as f64 * self.scale.money_per_tick_lot() as f64;
        quote * crate::MONEY_SCALE as f64 / money_per_lot
    }
}

/// A market order of `notional` quote at reference `price` (rounded down to whole lots; nothing
/// is sent below one lot). Returns the number of orders sent (0 or 1).
pub(crate) fn market_order<M: Market>(
    ex: &mut M,
    trader: TraderId,
    side: Side,
    notional: f64,
    price: Price,
    ctx: &AgentContext,
) -> u64 {
    let lots = ctx.lots_for(notional, price).floor();
    // NaN (a non-finite size) sends nothing, as does less than a lot.
    if lots.is_nan() || lots < 1.0 {
        return 0;
    }
    let qty = lots.min(1e15) as Qty;
    let req = OrderRequest { side, qty, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    let _ = ex.submit(trader, req);
    1
}

/// An agent of the simulation (an enum, not a trait object: cheap to clone for what-ifs).
#[derive(Clone, Debug)]
pub enum Agent {
    /// Boxed: its per-level state is several times the size of the other agents.
    MarketMaker(Box<MarketMaker>),
    NoiseTaker(NoiseTaker),
    MomentumTaker(MomentumTaker),
    PositionOpeners(PositionOpeners),
    BasisArb(BasisArb),
    IndexCoupling(IndexCoupling),
    StopPlacer(StopPlacer),
    BackstopUnwinder(BackstopUnwinder),
}

/// What a scenario says about an agent.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentSpec {
    MarketMaker(MarketMakerSpec),
    NoiseTaker(NoiseTakerSpec),
    MomentumTaker(MomentumTakerSpec),
    PositionOpeners(PositionOpenerSpec),
    BasisArb(BasisArbSpec),
    IndexCoupling(IndexCouplingSpec),
    StopPlacer(StopPlacerSpec),
    BackstopUnwinder(BackstopUnwinderSpec),
}

impl AgentSpec {
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            AgentSpec::MarketMaker(s) => s.validate(),
            AgentSpec::NoiseTaker(s) => s.validate(),
            AgentSpec::MomentumTaker(s) => s.validate(),
            AgentSpec::PositionOpeners(s) => s.validate(),
            AgentSpec::BasisArb(s) => s.validate(),
            AgentSpec::IndexCoupling(s) => s.validate(),
            AgentSpec::StopPlacer(s) => s.validate(),
            AgentSpec::BackstopUnwinder(s) => s.validate(),
        }
    }

    /// The one trading account of a single-account agent.
    pub fn trader(&self) -> Option<TraderId> {
        match self {
            AgentSpec::MarketMaker(s) => Some(s.trader),
            AgentSpec::NoiseTaker(s) => Some(s.trader),
            AgentSpec::MomentumTaker(s) => Some(s.trader),
            AgentSpec::BasisArb(s) => Some(s.trader),
            AgentSpec::StopPlacer(s) => Some(s.trader),
            // The unwinder trades the backstop's account, which every market has.
            AgentSpec::PositionOpeners(_) | AgentSpec::IndexCoupling(_) | AgentSpec::BackstopUnwinder(_) => None,
        }
    }

    /// Accounts this agent brings with it (the position openers' pool), drawn from its stream.
    pub fn own_accounts(&self, seed: u64, stream: u64) -> Result<Vec<crate::exchange::AccountRow>, Error> {
        match self {
            AgentSpec::PositionOpeners(s) => s.accounts(&mut AgentRng::new(seed, stream | ACCOUNTS_STREAM)),
            _ => Ok(Vec::new()),
        }
    }

    /// The agent, started at `start`, with random stream `stream` of `seed`.
    pub fn build(&self, start: Ts, seed: u64, stream: u64) -> Agent {
        match self {
            AgentSpec::MarketMaker(s) => Agent::MarketMaker(Box::new(MarketMaker::new(s.clone(), start))),
            AgentSpec::NoiseTaker(s) => {
                Agent::NoiseTaker(NoiseTaker::new(s.clone(), start, AgentRng::new(seed, stream)))
            }
            AgentSpec::MomentumTaker(s) => Agent::MomentumTaker(MomentumTaker::new(s.clone(), start)),
            AgentSpec::PositionOpeners(s) => {
                Agent::PositionOpeners(PositionOpeners::new(s.clone(), start, AgentRng::new(seed, stream)))
            }
            AgentSpec::BasisArb(s) => Agent::BasisArb(BasisArb::new(s.clone(), start)),
            AgentSpec::IndexCoupling(s) => Agent::IndexCoupling(IndexCoupling::new(s.clone(), start)),
            AgentSpec::StopPlacer(s) => Agent::StopPlacer(StopPlacer::new(s.clone(), start)),
            AgentSpec::BackstopUnwinder(s) => Agent::BackstopUnwinder(BackstopUnwinder::new(s.clone(), start)),
        }
    }
}

/// Streams of account draws are kept apart from the agents' decision streams.
const ACCOUNTS_STREAM: u64 = 1 << 63;

impl Agent {
    pub fn next_wake(&self) -> Ts {
        match self {
            Agent::MarketMaker(a) => a.next_wake(),
            Agent::NoiseTaker(a) => a.next_wake(),
            Agent::MomentumTaker(a) => a.next_wake(),
            Agent::PositionOpeners(a) => a.next_wake(),
            Agent::BasisArb(a) => a.next_wake(),
            Agent::IndexCoupling(a) => a.next_wake(),
            Agent::StopPlacer(a) => a.next_wake(),
            Agent::BackstopUnwinder(a) => a.next_wake(),
        }
    }

    /// Act at `ts`; returns the number of orders, cancels and index updates sent (the wake-up
    /// itself is counted by the loop as an event).
    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, ctx: &AgentContext) -> u64 {
        match self {
            Agent::MarketMaker(a) => a.wake(ts, ex, ctx),
            Agent::NoiseTaker(a) => a.wake(ts, ex, ctx),
            Agent::MomentumTaker(a) => a.wake(ts, ex, ctx),
            Agent::PositionOpeners(a) => a.wake(ts, ex, ctx),
            Agent::BasisArb(a) => a.wake(ts, ex, ctx),
            Agent::IndexCoupling(a) => a.wake(ts, ex),
            Agent::StopPlacer(a) => a.wake(ts, ex, ctx),
            Agent::BackstopUnwinder(a) => a.wake(ts, ex, ctx),
        }
    }
}

/// Quote-currency amount → money units.
pub fn quote_to_money(quote: f64) -> Option<Money> {
    let m = quote * crate::MONEY_SCALE as f64;
    (m.is_finite() && m.abs() < 1e36).then(|| Money(m.round() as i128))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_streams_are_reproducible_and_distinct() {
        let (mut a, mut b, mut c) = (AgentRng::new(7, 1), AgentRng::new(7, 1), AgentRng::new(7, 2));
        let xa: Vec<f64> = (0..5).map(|_| a.uniform()).collect();
        let xb: Vec<f64> = (0..5).map(|_| b.uniform()).collect();
        let xc: Vec<f64> = (0..5).map(|_| c.uniform()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert!(xa.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn exponential_and_pareto_have_their_means() {
        // Mean of Exp(m) is m; mean of Pareto(x_min, α) is α·x_min/(α − 1) for α > 1: with
        // x_min = 1000, α = 3 that is 1500. 200k draws: standard errors well under 1%.
        let mut rng = AgentRng::new(1, 1);
        let n = 200_000;
        let mean_exp: f64 = (0..n).map(|_| rng.exponential(2.0)).sum::<f64>() / n as f64;
        assert!((mean_exp - 2.0).abs() < 0.02, "{mean_exp}");
        let p = SizeDist::Pareto { x_min: 1000.0, alpha: 3.0 };
        let mean_p: f64 = (0..n).map(|_| p.draw(&mut rng)).sum::<f64>() / n as f64;
        assert!((mean_p - 1500.0).abs() < 15.0, "{mean_p}");
        let ln = SizeDist::LogNormal { median: 100.0, sigma: 1.0 };
        let mut draws: Vec<f64> = (0..n).map(|_| ln.draw(&mut rng)).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[n / 2];
        assert!((median - 100.0).abs() < 1.5, "{median}");
    }
}
