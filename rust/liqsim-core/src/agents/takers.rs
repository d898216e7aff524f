//! Takers: Poisson noise with heavy-tailed sizes, and momentum chasers.

use std::collections::VecDeque;

use super::{market_order, AgentContext, AgentRng, SizeDist};
use crate::error::Error;
use crate::market::Market;
use crate::types::{Price, Side, TraderId, Ts};

/// Poisson arrivals of market orders with heavy-tailed sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseTakerSpec {
    pub trader: TraderId,
    /// Mean arrivals per second.
    pub rate_per_s: f64,
    /// Order size in quote notional.
    pub size: SizeDist,
    /// Probability that an order is a buy.
    pub buy_share: f64,
}

impl NoiseTakerSpec {
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.rate_per_s > 0.0 && self.rate_per_s <= 1e6) {
            return Err(Error::Config {
                what: "noise taker",
                message: format!("rate_per_s must be in (0, 1e6], got {}", self.rate_per_s),
            });
        }
        if !(0.0..=1.0).contains(&self.buy_share) {
            return Err(Error::Config {
                what: "noise taker",
                message: format!("buy_share must be in [0, 1], got {}", self.buy_share),
            });
        }
        self.size.validate("noise taker")
    }
}

#[derive(Clone, Debug)]
pub struct NoiseTaker {
    pub spec: NoiseTakerSpec,
    rng: AgentRng,
    next_wake: Ts,
}

impl NoiseTaker {
    pub fn new(spec: NoiseTakerSpec, start: Ts, rng: AgentRng) -> NoiseTaker {
        let mut t = NoiseTaker { spec, rng, next_wake: start };
        t.next_wake = start + t.gap();
        t
    }

    fn gap(&mut self) -> Ts {
        (self.rng.exponential(1e9 / self.spec.rate_per_s).ceil() as Ts).max(1)
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.gap();
        let side = if self.rng.uniform() < self.spec.buy_share { Side::Buy } else { Side::Sell };
        let notional = self.spec.size.draw(&mut self.rng);
        let Some(price) = ex.last().or(ex.mark()).or(ex.index_price()) else { return 0 };
        market_order(ex, self.spec.trader, side, notional, price, ctx)
    }
}

/// Market orders in the direction of a move larger than a threshold over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct MomentumTakerSpec {
    pub trader: TraderId,
    /// How often it looks at the price.
    pub check_every: Ts,
    pub window: Ts,
    /// Act when |return over the window| exceeds this fraction.
    pub threshold: f64,
    /// Quote notional at a move equal to the threshold.
    pub base_notional: f64,
    /// Size grows as (|move| / threshold)^exponent.
    pub exponent: f64,
    /// Quiet time after acting.
    pub cooldown: Ts,
}

impl MomentumTakerSpec {
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.check_every > 0
            && self.window > 0
            && self.cooldown >= 0
            && self.threshold > 0.0
            && self.threshold.is_finite()
            && self.base_notional > 0.0
            && self.base_notional.is_finite()
            && (0.0..=10.0).contains(&self.exponent);
        if ok {
            Ok(())
        } else {
            Err(Error::Config {
                what: "momentum taker",
                message:
                    "check_every, window, threshold and base_notional must be > 0, cooldown ≥ 0, exponent in [0, 10]"
                        .into(),
            })
        }
    }
}

#[derive(Clone, Debug)]
pub struct MomentumTaker {
    pub spec: MomentumTakerSpec,
    next_wake: Ts,
    quiet_until: Ts,
    history: VecDeque<(Ts, Price)>,
}

impl MomentumTaker {
    pub fn new(spec: MomentumTakerSpec, start: Ts) -> MomentumTaker {
        MomentumTaker { next_wake: start, quiet_until: start, history: VecDeque::new(), spec }
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.spec.check_every;
        let Some(price) = ex.last().or(ex.mark()) else { return 0 };
        self.history.push_back((ts, price));
        while self.history.len() > 1 && self.history[1].0 <= ts - self.spec.window {
            self.history.pop_front();
        }
        let (t0, p0) = self.history[0];
        if ts < self.quiet_until || ts - t0 < self.spec.window || p0 <= 0 {
            return 0;
        }
        let ret = price as f64 / p0 as f64 - 1.0;
        if ret.abs() <= self.spec.threshold {
            return 0;
        }
        let notional = self.spec.base_notional * (ret.abs() / self.spec.threshold).powf(self.spec.exponent);
        let side = if ret > 0.0 { Side::Buy } else { Side::Sell };
        let sent = market_order(ex, self.spec.trader, side, notional, price, ctx);
        self.quiet_until = ts + self.spec.cooldown;
        sent
    }
}
