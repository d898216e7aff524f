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

use std::collections::VecDeque;

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::book::TimeInForce;
use crate::error::Error;
use crate::exchange::{Exchange, OrderRequest};
use crate::margin::NotionalScale;
use crate::types::{Money, OrderId, Price, Qty, Side, TraderId, Ts};

const BP: f64 = 1e-4;

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

/// What a market maker quotes around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// The index (spot) price; the book's mid before an index exists.
    Index,
    /// The book's mid (it follows the market).
    Mid,
    /// The last trade price.
    Last,
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

/// A market maker keeping a concave depth profile around a reference price.
///
/// Cumulative depth per side within distance x of the reference is D(x) = D₁₀·(x / 10 bp)^β
/// (MODELS.md §1). Consumed depth regrows toward the profile with a half-life (§2). When the
/// reference moves more than `pull_move` within `pull_window`, or liquidations exceed
/// `pull_liquidations` quote per second over that window, the maker pulls (cancels) its quotes on
/// the side the market moves into (or both) and stays out until `reload_after` of calm; it then
/// reloads from zero with the same half-life.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketMakerSpec {
    pub trader: TraderId,
    pub reference: Reference,
    /// Quote notional within 10 bp per side.
    pub depth_10bp: f64,
    pub beta: f64,
    /// Distance of the first level from the reference, bp.
    pub first_level_bp: f64,
    /// Distance between levels, bp.
    pub level_spacing_bp: f64,
    pub levels: u32,
    pub refresh_every: Ts,
    /// Half-life of the refill toward the profile (0: instant).
    pub refill_half_life: Ts,
    /// Re-centre the ladder when the reference moved this many bp since it was placed.
    pub requote_bp: f64,
    /// Pull when |reference move| over `pull_window` exceeds this fraction (0: never).
    pub pull_move: f64,
    pub pull_window: Ts,
    /// Pull when liquidated notional over `pull_window` exceeds this many quote per second (0: never).
    pub pull_liquidations: f64,
    /// Pull both sides (true) or only the side the market moves into (false).
    pub pull_both_sides: bool,
    /// Calm time (no pull condition) before quotes reload.
    pub reload_after: Ts,
}

impl MarketMakerSpec {
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::Config { what: "market maker", message });
        if !(self.depth_10bp > 0.0 && self.depth_10bp.is_finite()) {
            return bad(format!("depth_10bp must be > 0, got {}", self.depth_10bp));
        }
        if !(self.beta > 0.0 && self.beta <= 2.0) {
            return bad(format!("beta must be in (0, 2], got {}", self.beta));
        }
        if !(self.first_level_bp > 0.0 && self.first_level_bp < 10_000.0) {
            return bad(format!("first_level_bp must be in (0, 10000), got {}", self.first_level_bp));
        }
        if !(self.level_spacing_bp > 0.0 && self.level_spacing_bp.is_finite()) {
            return bad(format!("level_spacing_bp must be > 0, got {}", self.level_spacing_bp));
        }
        let far = self.first_level_bp + self.level_spacing_bp * (self.levels.max(1) - 1) as f64;
        if far >= 10_000.0 {
            return bad(format!("the ladder reaches {far} bp: bids would be at or below zero"));
        }
        if self.levels == 0 || self.levels > 10_000 {
            return bad(format!("levels must be in 1..=10000, got {}", self.levels));
        }
        if self.refresh_every <= 0 {
            return bad(format!("refresh_every must be > 0 ns, got {}", self.refresh_every));
        }
        if self.refill_half_life < 0 || self.pull_window < 0 || self.reload_after < 0 {
            return bad("half-life, pull window and reload time must be ≥ 0".into());
        }
        if !(self.requote_bp >= 0.0 && self.pull_move >= 0.0 && self.pull_liquidations >= 0.0) {
            return bad("requote_bp, pull_move and pull_liquidations must be ≥ 0".into());
        }
        Ok(())
    }

    /// Target quote notional of level k (0-based): D(x_k) − D(x_{k−1}).
    fn level_notional(&self, k: u32) -> f64 {
        let d = |x_bp: f64| self.depth_10bp * (x_bp / 10.0).powf(self.beta);
        let x = self.first_level_bp + self.level_spacing_bp * k as f64;
        if k == 0 {
            d(x)
        } else {
            d(x) - d(x - self.level_spacing_bp)
        }
    }
}

#[derive(Clone, Debug)]
pub struct MarketMaker {
    pub spec: MarketMakerSpec,
    next_wake: Ts,
    last_wake: Option<Ts>,
    /// Reference the ladder was placed around.
    anchor: Option<Price>,
    /// Lots wanted at each level k of each side [bid, ask]: consumed by fills, regrown toward
    /// the profile with the half-life. Kept by level (distance from the reference), so a level
    /// eaten by a sweep stays thin when the ladder re-centres: the gap moves with the price.
    wanted: [Vec<f64>; 2],
    /// Lots of our orders believed resting at each level (to tell fills from our own changes).
    resting: [Vec<Qty>; 2],
    pulled: [bool; 2],
    /// Since when no pull condition has held.
    calm_since: Ts,
    /// Own resting orders: (id, side, level, price).
    orders: Vec<(OrderId, Side, u32, Price)>,
    /// Recent references for the pull rule: (ts, reference ticks).
    history: VecDeque<(Ts, Price)>,
    /// Liquidated quote notional seen at recent wakes: (ts, cumulative total).
    liq_history: VecDeque<(Ts, f64)>,
}

impl MarketMaker {
    pub fn new(spec: MarketMakerSpec, start: Ts) -> MarketMaker {
        let n = spec.levels as usize;
        MarketMaker {
            spec,
            next_wake: start,
            last_wake: None,
            anchor: None,
            wanted: [vec![f64::NAN; n], vec![f64::NAN; n]],
            resting: [vec![0; n], vec![0; n]],
            pulled: [false, false],
            calm_since: start,
            orders: Vec::new(),
            history: VecDeque::new(),
            liq_history: VecDeque::new(),
        }
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    /// Whether each side [bid, ask] is pulled right now.
    pub fn pulled(&self) -> [bool; 2] {
        self.pulled
    }

    fn reference(&self, ex: &Exchange) -> Option<Price> {
        let mid = match (ex.book().best_bid(), ex.book().best_ask()) {
            (Some((b, _)), Some((a, _))) => Some(b + (a - b) / 2),
            (Some((b, _)), None) => Some(b),
            (None, Some((a, _))) => Some(a),
            _ => None,
        };
        match self.spec.reference {
            Reference::Index => ex.index_price().or(mid).or(ex.last()),
            Reference::Mid => mid.or(ex.last()).or(ex.index_price()),
            Reference::Last => ex.last().or(mid).or(ex.index_price()),
        }
    }

    /// Update the pull state from the move and the liquidation flow over the window.
    fn update_pull(&mut self, ts: Ts, reference: Price, ctx: &AgentContext) {
        let window = self.spec.pull_window;
        self.history.push_back((ts, reference));
        while self.history.len() > 1 && self.history[0].0 < ts - window {
            self.history.pop_front();
        }
        let total_liq = ctx.liquidated_quote[0] + ctx.liquidated_quote[1];
        self.liq_history.push_back((ts, total_liq));
        while self.liq_history.len() > 1 && self.liq_history[0].0 < ts - window {
            self.liq_history.pop_front();
        }
        let oldest = self.history[0].1 as f64;
        let moved = if oldest > 0.0 { reference as f64 / oldest - 1.0 } else { 0.0 };
        let (t0, l0) = self.liq_history[0];
        let liq_rate = if ts > t0 { (total_liq - l0) / ((ts - t0) as f64 / 1e9) } else { 0.0 };
        let by_move = self.spec.pull_move > 0.0 && moved.abs() > self.spec.pull_move;
        let by_flow = self.spec.pull_liquidations > 0.0 && liq_rate > self.spec.pull_liquidations;
        if by_move || by_flow {
            self.calm_since = ts;
            let into = if moved >= 0.0 { Side::Sell } else { Side::Buy }; // a rise eats the asks
            for side in [Side::Buy, Side::Sell] {
                if self.spec.pull_both_sides || side == into {
                    self.pulled[side as usize] = true;
                }
            }
        } else if ts - self.calm_since >= self.spec.reload_after {
            // Reload: the wanted depth is zero after a pull and regrows with the half-life.
            self.pulled = [false, false];
        }
    }

    pub fn wake(&mut self, ts: Ts, ex: &mut Exchange, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.spec.refresh_every;
        let dt = self.last_wake.map_or(0, |t| ts - t);
        self.last_wake = Some(ts);
        let Some(reference) = self.reference(ex) else { return 1 };
        let mut actions = 1u64;

        // What is left of our orders: fills reduce the wanted depth of their level.
        let mut have = [vec![0 as Qty; self.spec.levels as usize], vec![0 as Qty; self.spec.levels as usize]];
        let book = ex.book();
        self.orders.retain(|&(id, side, k, _)| match book.order(id) {
            Some(o) => {
                have[side as usize][k as usize] += o.qty;
                true
            }
            None => false,
        });
        for s in 0..2 {
            for k in 0..self.spec.levels as usize {
                let filled = self.resting[s][k] - have[s][k];
                if filled > 0 && self.wanted[s][k].is_finite() {
                    self.wanted[s][k] = (self.wanted[s][k] - filled as f64).max(0.0);
                }
                self.resting[s][k] = have[s][k];
            }
        }

        self.update_pull(ts, reference, ctx);

        // Re-centre when the reference moved enough since the ladder was placed.
        let centre = match self.anchor {
            Some(a) if (((reference - a).abs()) as f64) < self.spec.requote_bp * BP * a as f64 => a,
            _ => reference,
        };
        self.anchor = Some(centre);
        let ladder = self.ladder(centre);

        // Wanted depth per level: zero when pulled, else regrown toward the profile.
        let regrow = if self.spec.refill_half_life == 0 {
            1.0
        } else {
            1.0 - 0.5f64.powf(dt as f64 / self.spec.refill_half_life as f64)
        };
        for side in [Side::Buy, Side::Sell] {
            let s = side as usize;
            for (k, w) in self.wanted[s].iter_mut().enumerate() {
                let price = ladder[s].get(k).copied().unwrap_or(centre);
                let target = ctx.lots_for(self.spec.level_notional(k as u32), price);
                *w = if self.pulled[s] {
                    0.0
                } else if !w.is_finite() {
                    target // first wake: the full profile
                } else {
                    *w + (target - *w) * regrow
                };
            }
        }

        // Cancel orders that are pulled, off their level's price, or above what is wanted.
        let mut keep = Vec::with_capacity(self.orders.len());
        for &(id, side, k, price) in &self.orders {
            let (s, ku) = (side as usize, k as usize);
            let off = ladder[s].get(ku) != Some(&price);
            let excess = (self.resting[s][ku] as f64) > self.wanted[s][ku] + 1.0;
            if self.pulled[s] || off || excess {
                let _ = ex.cancel(self.spec.trader, id);
                actions += 1;
                self.resting[s][ku] -= have[s][ku].min(self.resting[s][ku]);
                have[s][ku] = 0;
            } else {
                keep.push((id, side, k, price));
            }
        }
        self.orders = keep;

        // Top up each level to what is wanted.
        for side in [Side::Buy, Side::Sell] {
            let s = side as usize;
            for (k, &price) in ladder[s].iter().enumerate() {
                let want = self.wanted[s][k].floor() as Qty;
                if want <= self.resting[s][k] {
                    continue;
                }
                let req = OrderRequest {
                    side,
                    qty: want - self.resting[s][k],
                    price: Some(price),
                    tif: TimeInForce::PostOnly,
                    reduce_only: false,
                };
                let out = ex.submit(self.spec.trader, req);
                actions += 1;
                if let Some(id) = out.outcome.order_id.filter(|_| out.reject.is_none()) {
                    if let Some(o) = ex.book().order(id) {
                        self.orders.push((id, side, k as u32, price));
                        self.resting[s][k] += o.qty;
                    }
                }
            }
        }
        actions
    }

    /// Level prices per side [bids, asks] around `centre`, strictly monotone; bids stop above zero.
    fn ladder(&self, centre: Price) -> [Vec<Price>; 2] {
        let mut bids = Vec::with_capacity(self.spec.levels as usize);
        let mut asks = Vec::with_capacity(self.spec.levels as usize);
        let (mut last_bid, mut last_ask) = (centre, centre);
        for k in 0..self.spec.levels {
            let x = (self.spec.first_level_bp + self.spec.level_spacing_bp * k as f64) * BP;
            let off = ((centre as f64) * x).ceil().max(1.0) as Price;
            let bid = (centre - off).min(last_bid - 1);
            let ask = (centre + off).max(last_ask + 1);
            if bid > 0 {
                bids.push(bid);
                last_bid = bid;
            }
            asks.push(ask);
            last_ask = ask;
        }
        [bids, asks]
    }
}

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

    pub fn wake(&mut self, ts: Ts, ex: &mut Exchange, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.gap();
        let side = if self.rng.uniform() < self.spec.buy_share { Side::Buy } else { Side::Sell };
        let notional = self.spec.size.draw(&mut self.rng);
        let Some(price) = ex.last().or(ex.mark()).or(ex.index_price()) else { return 1 };
        market_order(ex, self.spec.trader, side, notional, price, ctx);
        1
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

    pub fn wake(&mut self, ts: Ts, ex: &mut Exchange, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.spec.check_every;
        let Some(price) = ex.last().or(ex.mark()) else { return 1 };
        self.history.push_back((ts, price));
        while self.history.len() > 1 && self.history[1].0 <= ts - self.spec.window {
            self.history.pop_front();
        }
        let (t0, p0) = self.history[0];
        if ts < self.quiet_until || ts - t0 < self.spec.window || p0 <= 0 {
            return 1;
        }
        let ret = price as f64 / p0 as f64 - 1.0;
        if ret.abs() <= self.spec.threshold {
            return 1;
        }
        let notional = self.spec.base_notional * (ret.abs() / self.spec.threshold).powf(self.spec.exponent);
        let side = if ret > 0.0 { Side::Buy } else { Side::Sell };
        market_order(ex, self.spec.trader, side, notional, price, ctx);
        self.quiet_until = ts + self.spec.cooldown;
        1
    }
}

/// A market order of `notional` quote at reference `price` (rounded down to whole lots; nothing
/// is sent below one lot).
fn market_order(ex: &mut Exchange, trader: TraderId, side: Side, notional: f64, price: Price, ctx: &AgentContext) {
    let lots = ctx.lots_for(notional, price).floor();
    if !(lots >= 1.0) {
        return;
    }
    let qty = lots.min(1e15) as Qty;
    let req = OrderRequest { side, qty, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    let _ = ex.submit(trader, req);
}

/// An agent of the simulation (an enum, not a trait object: cheap to clone for what-ifs).
#[derive(Clone, Debug)]
pub enum Agent {
    MarketMaker(MarketMaker),
    NoiseTaker(NoiseTaker),
    MomentumTaker(MomentumTaker),
}

/// What a scenario says about an agent.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentSpec {
    MarketMaker(MarketMakerSpec),
    NoiseTaker(NoiseTakerSpec),
    MomentumTaker(MomentumTakerSpec),
}

impl AgentSpec {
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            AgentSpec::MarketMaker(s) => s.validate(),
            AgentSpec::NoiseTaker(s) => s.validate(),
            AgentSpec::MomentumTaker(s) => s.validate(),
        }
    }

    pub fn trader(&self) -> TraderId {
        match self {
            AgentSpec::MarketMaker(s) => s.trader,
            AgentSpec::NoiseTaker(s) => s.trader,
            AgentSpec::MomentumTaker(s) => s.trader,
        }
    }

    /// The agent, started at `start`, with random stream `stream` of `seed`.
    pub fn build(&self, start: Ts, seed: u64, stream: u64) -> Agent {
        match self {
            AgentSpec::MarketMaker(s) => Agent::MarketMaker(MarketMaker::new(s.clone(), start)),
            AgentSpec::NoiseTaker(s) => {
                Agent::NoiseTaker(NoiseTaker::new(s.clone(), start, AgentRng::new(seed, stream)))
            }
            AgentSpec::MomentumTaker(s) => Agent::MomentumTaker(MomentumTaker::new(s.clone(), start)),
        }
    }
}

impl Agent {
    pub fn next_wake(&self) -> Ts {
        match self {
            Agent::MarketMaker(a) => a.next_wake(),
            Agent::NoiseTaker(a) => a.next_wake(),
            Agent::MomentumTaker(a) => a.next_wake(),
        }
    }

    /// Act at `ts`; returns the number of order actions taken (at least 1: the wake-up itself).
    pub fn wake(&mut self, ts: Ts, ex: &mut Exchange, ctx: &AgentContext) -> u64 {
        match self {
            Agent::MarketMaker(a) => a.wake(ts, ex, ctx),
            Agent::NoiseTaker(a) => a.wake(ts, ex, ctx),
            Agent::MomentumTaker(a) => a.wake(ts, ex, ctx),
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

    fn maker_spec() -> MarketMakerSpec {
        MarketMakerSpec {
            trader: crate::exchange::LIQUIDITY_ID,
            reference: Reference::Mid,
            depth_10bp: 1_000_000.0,
            beta: 0.65,
            first_level_bp: 1.0,
            level_spacing_bp: 1.0,
            levels: 100,
            refresh_every: 100_000_000,
            refill_half_life: 20_000_000_000,
            requote_bp: 1.0,
            pull_move: 0.0,
            pull_window: 10_000_000_000,
            pull_liquidations: 0.0,
            pull_both_sides: false,
            reload_after: 60_000_000_000,
        }
    }

    #[test]
    fn depth_profile_levels_sum_to_the_cumulative_curve() {
        // D(x) = D10 (x/10bp)^β: levels 0..k sum to D(x_k). With D10 = $1M, β = 0.65, x_99 =
        // 100 bp: D = 1e6 × 10^0.65 = 4,466,835.9.
        let s = maker_spec();
        let sum: f64 = (0..100).map(|k| s.level_notional(k)).sum();
        assert!((sum - 4_466_835.92).abs() < 1.0, "{sum}");
        let within_10: f64 = (0..10).map(|k| s.level_notional(k)).sum();
        assert!((within_10 - 1_000_000.0).abs() < 1e-6, "{within_10}");
    }

    #[test]
    fn ladder_is_strictly_monotone_and_positive() {
        let mut s = maker_spec();
        s.first_level_bp = 0.1; // 0.1 bp of 1,000 ticks rounds to less than a tick: still distinct
        s.level_spacing_bp = 0.1;
        let m = MarketMaker::new(s, 0);
        let [bids, asks] = m.ladder(1000);
        assert_eq!(asks.len(), 100);
        assert!(bids.windows(2).all(|w| w[0] > w[1]) && bids.iter().all(|&b| b > 0 && b < 1000));
        assert!(asks.windows(2).all(|w| w[0] < w[1]) && asks[0] > 1000);
    }

    #[test]
    fn specs_refuse_nonsense() {
        let mut s = maker_spec();
        s.beta = -1.0;
        assert!(s.validate().is_err());
        let mut s = maker_spec();
        s.first_level_bp = 9_999.0;
        assert!(s.validate().is_err(), "ladder past 100% would put bids at zero");
        let n = NoiseTakerSpec {
            trader: TraderId(1),
            rate_per_s: 2.0,
            size: SizeDist::Pareto { x_min: 0.0, alpha: 1.5 },
            buy_share: 0.5,
        };
        assert!(n.validate().is_err());
    }
}
