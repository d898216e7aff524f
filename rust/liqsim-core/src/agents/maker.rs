//! The market maker: a concave depth profile around a reference price, refilled with a
//! half-life, pulled in fast markets. Model and figures: shared/MODELS.md §1–2.

use std::collections::VecDeque;

use super::{AgentContext, BP};
use crate::book::{OrderBook, SelfTradePrevention, TimeInForce};
use crate::error::Error;
use crate::exchange::{Exchange, OrderRequest, TradeKind};
use crate::funding::SECOND;
use crate::market::Market;
use crate::types::{OrderId, Price, Qty, Side, TraderId, Ts};

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

/// One step of a market maker's depth schedule: from `at` (time since the simulation start) on,
/// each side quotes its scale times the profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthStep {
    pub at: Ts,
    pub bid_scale: f64,
    pub ask_scale: f64,
}

/// The largest scale a depth step may set: a thousandfold profile already dwarfs any real book,
/// and beyond it the lots of a level could outgrow what an order's quantity holds.
pub const MAX_DEPTH_SCALE: f64 = 1_000.0;

/// A market maker keeping a concave depth profile around a reference price.
///
/// Cumulative depth per side within distance x of the reference is D(x) = D₁₀·(x / 10 bp)^β
/// (MODELS.md §1). Consumed depth regrows toward the profile with a half-life (§2). When the
/// reference moves more than `pull_move` within `pull_window`, or liquidations exceed
/// `pull_liquidations` quote per second over that window, the maker pulls (cancels) its quotes on
/// the side the market moves into (or both) and stays out until `reload_after` of calm, or until
/// the reference crosses one of `reload_levels`; it then reloads from zero with the same
/// half-life.
///
/// Inventory: MODELS.md and DESIGN.md give no inventory rule or default, so the maker follows
/// the linear reservation price of Avellaneda & Stoikov (2008), r = s − q·γσ²(T − t), with the
/// constant folded into one parameter: it centres its ladder on the reference shifted by
/// −`skew_bp_per_million` bp per 1,000,000 quote of signed position notional (lots × the
/// reference), and with `max_position` it never rests more on a side than fills could take
/// before the position reaches that notional (see the field). Both default off (0), as do
/// `reload_levels` (empty).
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
    /// Depth over time (real depth bands, a liquidity drought): steps strictly increasing in
    /// `at`, applied step-wise. A cut takes effect at once (a maker withdraws quotes in one
    /// message); a rise regrows with the refill half-life, as consumed depth does. Before the
    /// first step, and with no steps, each side quotes the full profile.
    pub depth_schedule: Vec<DepthStep>,
    /// Inventory skew: bp the ladder's centre moves against the position per 1,000,000 quote of
    /// position notional (long: centre lower, so cheaper asks and lower bids). The shift is
    /// capped at ±[`MAX_SKEW`] of the reference. 0: no skew. The position is the account's
    /// (every fill of `trader`, including other orders on the same account).
    pub skew_bp_per_million: f64,
    /// Position limit, quote notional (|lots| × the reference), held by what rests: at each
    /// wake the limit is L = floor(`max_position` / the value of one lot at the reference)
    /// lots, and each side rests at most the room fills could use, bids L − position and asks
    /// L + position (long positive). A fill on a side takes as much off its resting quantity
    /// as off its room, so no sweep and no sequence of takers between two wakes can carry the
    /// maker's own fills past ±L lots. The side that reduces the position has the room of a
    /// sweep through zero to −L, more than its profile unless the limit is tight.
    ///
    /// The room is cut from the outside in: the inner levels keep their profile and the
    /// outermost are trimmed (level k holds at most clamp(room − Σ_{j<k} target_j, 0,
    /// target_k) lots, counted on the profile, not on what rests, so a level eaten by a fill
    /// keeps its claim while it regrows). The inner levels are the quotes that earn the spread
    /// and that a sweep meets first; trimming them instead would leave a gap at the touch and
    /// move the maker's best price away exactly when it is nearest its limit, which is the
    /// skew's job, not the limit's. With the limit on, a level never holds more than its
    /// profile, and a level holding more than it may is cancelled whole and placed again
    /// (exact counts, no partial cancels).
    ///
    /// With no room left (|position| ≥ L on the growing side) the side is cancelled and comes
    /// back, regrowing from zero with the refill half-life, once there is room again.
    ///
    /// What the limit does not hold: L is in lots at the reference of the last wake, so the
    /// position's notional drifts with the price between wakes (|position| × price ≤
    /// `max_position` × price / the reference at the last wake); fills of other orders on the
    /// same account, and ADL of the account, change the room without touching these quotes
    /// (the next wake trims to the new room). 0: no limit.
    pub max_position: f64,
    /// Reload prices (ticks, strictly increasing): a pulled maker reloads at the first wake at
    /// which its reference has reached or passed one of them since the previous wake (rising
    /// from below: previous < level ≤ now; falling: now ≤ level < previous), even while the pull
    /// condition still holds; the pull rule then measures moves from there. Empty: reload only
    /// after `reload_after` of calm.
    pub reload_levels: Vec<Price>,
}

/// The largest inventory skew as a fraction of the reference: the ladder's centre stays within
/// half and one and a half times the reference, on positive prices, whatever the position.
pub const MAX_SKEW: f64 = 0.5;

/// The largest position limit, quote: 10^26 quote is 10^38 money units, the most an `i128`
/// holds with room to spare (far beyond any market's open interest).
pub const MAX_POSITION_LIMIT: f64 = 1e26;

impl MarketMakerSpec {
    /// A maker for `trader` with the documented defaults, the same as Python's
    /// `liqsim.agents.MarketMaker` (python/liqsim/agents.py): quotes around the mid, $3M within
    /// 10 bp per side with β = 0.65 (MODELS.md §1), 100 levels from 1 bp out, 2 bp apart,
    /// refreshed every 0.1 s, refilled with a 20 s half-life (§2), re-centred after a 2 bp move;
    /// pulls never (pull_move and pull_liquidations 0, with a 60 s window and 120 s reload
    /// should they be set); no depth schedule, no skew, no position limit, no reload levels.
    /// Set the rest with struct update syntax:
    /// `MarketMakerSpec { levels: 50, ..MarketMakerSpec::new(trader) }`, so that a new field
    /// needs a default here, not an edit at every call site.
    pub fn new(trader: TraderId) -> Self {
        MarketMakerSpec {
            trader,
            reference: Reference::Mid,
            depth_10bp: 3_000_000.0,
            beta: 0.65,
            first_level_bp: 1.0,
            level_spacing_bp: 2.0,
            levels: 100,
            refresh_every: SECOND / 10,
            refill_half_life: 20 * SECOND,
            requote_bp: 2.0,
            pull_move: 0.0,
            pull_window: 60 * SECOND,
            pull_liquidations: 0.0,
            pull_both_sides: false,
            reload_after: 120 * SECOND,
            depth_schedule: Vec::new(),
            skew_bp_per_million: 0.0,
            max_position: 0.0,
            reload_levels: Vec::new(),
        }
    }

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
        if !(self.skew_bp_per_million >= 0.0 && self.skew_bp_per_million.is_finite()) {
            return bad(format!("skew_bp_per_million must be ≥ 0 and finite, got {}", self.skew_bp_per_million));
        }
        if !(self.max_position >= 0.0 && self.max_position < MAX_POSITION_LIMIT) {
            return bad(format!(
                "max_position must be ≥ 0 and below {MAX_POSITION_LIMIT:e} quote (0: no limit), got {}",
                self.max_position
            ));
        }
        for (row, &level) in self.reload_levels.iter().enumerate() {
            if level <= 0 {
                return bad(format!("reload_levels row {row}: price must be > 0, got {level} ticks"));
            }
            if row > 0 && level <= self.reload_levels[row - 1] {
                return bad(format!(
                    "reload_levels row {row}: prices must increase ({level} ticks after {})",
                    self.reload_levels[row - 1]
                ));
            }
        }
        for (row, step) in self.depth_schedule.iter().enumerate() {
            if step.at < 0 {
                return bad(format!("depth_schedule row {row}: time {} ns is before the start", step.at));
            }
            if row > 0 && step.at <= self.depth_schedule[row - 1].at {
                return bad(format!(
                    "depth_schedule row {row}: times must increase ({} ns after {} ns)",
                    step.at,
                    self.depth_schedule[row - 1].at
                ));
            }
            for (name, scale) in [("bid_scale", step.bid_scale), ("ask_scale", step.ask_scale)] {
                if !(0.0..=MAX_DEPTH_SCALE).contains(&scale) {
                    return bad(format!(
                        "depth_schedule row {row}: {name} must be in [0, {MAX_DEPTH_SCALE}], got {scale}"
                    ));
                }
            }
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

#[cfg(test)]
thread_local! {
    /// Tests: read every level back from the book and look at every level at every full wake,
    /// the plain walk the incremental wake must equal order for order.
    pub(crate) static WALK_ALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn walk_all() -> bool {
    WALK_ALL.with(|w| w.get())
}

#[cfg(not(test))]
#[inline(always)]
fn walk_all() -> bool {
    false
}

/// One of the maker's resting orders.
#[derive(Clone, Copy, Debug)]
struct Quote {
    /// Submission number: cancels go out oldest first, in the order one list of all the maker's
    /// orders would send them (a cancel can move the touch, and so the mark, mid-wake).
    seq: u64,
    id: OrderId,
    price: Price,
}

/// Level flags: the next full wake must look at the level (it is listed in `dirty`).
const DIRTY: u8 = 1;
/// Level flags: what rests there must be read back from the book first (a fill, a forced cancel).
const RECOUNT: u8 = 2;
/// Level flags: regrowing with nothing to do until its wake in `sleeping` (see `sleep`).
const SLEEPING: u8 = 4;

/// A market maker's state. A wake costs what changed since the last one, not the ladder's size:
/// fills are read off the trade tape (our own fills, at our level prices), and only levels that
/// were filled, are still regrowing, or were moved (re-centre, pull) are looked at. Every other
/// level is at rest: looking at it would change nothing (the `at_rest` test), so skipping it
/// gives the same orders, in the same order, as walking the whole ladder every wake.
#[derive(Clone, Debug)]
pub struct MarketMaker {
    /// Read by the maker as it was made (flags and the limit in money are taken from it then).
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
    /// Sides [bid, ask] pulled by the pull rule.
    pulled: [bool; 2],
    /// Sides not quoted because the position is at `max_position` (the side that would grow it).
    limited: [bool; 2],
    /// `max_position` in money units (exact; 0 with no limit).
    max_money: i128,
    /// The position limit is on, and the inventory rules (skew or limit) are: each a flag read
    /// on the hot path, set from the spec when the maker is made (one byte, not a float
    /// compare that must also rule out NaN).
    limit: bool,
    inventory_rules: bool,
    /// Lots each side [bid, ask] may rest in all under the position limit, set at each wake
    /// (i128: L ± position needs more than a lot count).
    room: [i128; 2],
    /// The profile's lots per side counted from the inside: `cap_from[s][k]` is Σ_{j<k} of
    /// floor(target_j), one entry more than the ladder (kept with the limit on only). Level k
    /// may hold clamp(room − cap_from[k], 0, cap_from[k+1] − cap_from[k]).
    cap_from: [Vec<i128>; 2],
    /// Sides not quoted now, pulled or limited: what the quoting below acts on (with neither
    /// rule on, the same as `pulled`).
    off: [bool; 2],
    /// The reference at the previous wake (for `reload_levels`).
    last_reference: Option<Price>,
    /// Since when no pull condition has held.
    calm_since: Ts,
    /// Own resting orders of each level of each side, oldest first; all at the level's price
    /// (orders off the ladder are cancelled when it re-centres).
    quotes: [Vec<Vec<Quote>>; 2],
    next_seq: u64,
    /// Quote notional of each level of the profile (fixed by the spec).
    level_quote: Vec<f64>,
    /// The ladder's prices for `anchor` (recomputed only when it re-centres): bids falling, asks
    /// rising, so a fill's price finds its level by binary search.
    ladder: [Vec<Price>; 2],
    /// Target lots of each level of the ladder (its quote notional at its price).
    targets: [Vec<f64>; 2],
    /// Trades and liquidations on the exchange's tape already looked at (to notice fills and
    /// forced cancels without polling every order).
    trades_seen: usize,
    liquidations_seen: usize,
    /// Every level at its full profile and resting: a wake with no fills, no move and no pull
    /// has nothing to do.
    settled: bool,
    /// Ladder levels short of their full profile (wanted below it, or resting less), and how many:
    /// `settled` without walking the ladder.
    short: [Vec<bool>; 2],
    short_count: usize,
    /// Levels (side, level) the next full wake must look at, and each level's flags.
    dirty: Vec<(u8, u32)>,
    flags: [Vec<u8>; 2],
    /// Read every level back from the book at the next full wake: our account was liquidated,
    /// and the exchange cancelled our orders.
    recount_all: bool,
    /// Levels only regrowing toward their profile, which no wake touches until the full wake
    /// (counted by `full_wakes`) at which a top-up or the final clamp may first be due:
    /// (that wake, side, level), with `due` telling live entries from stale ones. Their
    /// regrowth steps are applied when they wake (`sync`), one step per full wake missed, the
    /// same float operations in the same order as a wake-by-wake update.
    sleeping: Vec<(u64, u8, u32)>,
    next_due: u64,
    due: [Vec<u64>; 2],
    /// Full wakes through which each sleeping level's regrowth has been applied.
    synced: [Vec<u64>; 2],
    full_wakes: u64,
    /// The regrowth factor 1 − 2^(−dt / half-life) for the wake interval `regrow_dt` (wakes are
    /// periodic: computed once, not at every wake).
    regrow: f64,
    regrow_dt: Ts,
    /// The regrowth factor of the sleeping levels' missed steps (all of them: a wake with
    /// another factor wakes every sleeping level first).
    sleep_regrow: f64,
    /// Scratch lists kept between wakes, so that a wake allocates nothing.
    work: Vec<(u8, u32)>,
    cancels: Vec<(u64, OrderId)>,
    /// Recent references for the pull rule: (ts, reference ticks).
    history: VecDeque<(Ts, Price)>,
    /// Liquidated quote notional seen at recent wakes: (ts, cumulative total).
    liq_history: VecDeque<(Ts, f64)>,
    /// The simulation start (depth steps count from it).
    start: Ts,
    /// The scale of each side's profile [bid, ask] (the last depth step applied).
    scale: [f64; 2],
    /// Index of the next depth step to apply.
    next_step: usize,
    /// A depth step was applied and the targets are not rescaled yet.
    rescale: bool,
}

impl MarketMaker {
    pub fn new(spec: MarketMakerSpec, start: Ts) -> MarketMaker {
        let n = spec.levels as usize;
        MarketMaker {
            next_wake: start,
            last_wake: None,
            anchor: None,
            wanted: [vec![f64::NAN; n], vec![f64::NAN; n]],
            resting: [vec![0; n], vec![0; n]],
            pulled: [false, false],
            limited: [false, false],
            // validate() refuses limits that do not convert; an unchecked one would be no limit.
            max_money: crate::types::Money::try_from_f64(spec.max_position).map_or(i128::MAX, |m| m.0),
            room: [i128::MAX, i128::MAX],
            limit: spec.max_position != 0.0,
            inventory_rules: spec.skew_bp_per_million != 0.0 || spec.max_position != 0.0,
            cap_from: [Vec::new(), Vec::new()],
            off: [false, false],
            last_reference: None,
            calm_since: start,
            quotes: [vec![Vec::new(); n], vec![Vec::new(); n]],
            next_seq: 0,
            level_quote: (0..n as u32).map(|k| spec.level_notional(k)).collect(),
            ladder: [Vec::new(), Vec::new()],
            targets: [Vec::new(), Vec::new()],
            trades_seen: 0,
            liquidations_seen: 0,
            settled: false,
            short: [vec![false; n], vec![false; n]],
            short_count: 0,
            dirty: Vec::new(),
            flags: [vec![0; n], vec![0; n]],
            recount_all: false,
            sleeping: Vec::new(),
            next_due: u64::MAX,
            due: [vec![0; n], vec![0; n]],
            synced: [vec![0; n], vec![0; n]],
            full_wakes: 0,
            regrow: f64::NAN,
            regrow_dt: -1,
            sleep_regrow: 0.0,
            work: Vec::new(),
            cancels: Vec::new(),
            history: VecDeque::new(),
            liq_history: VecDeque::new(),
            start,
            scale: [1.0, 1.0],
            next_step: 0,
            rescale: false,
            spec,
        }
    }

    /// The scale of each side's profile [bid, ask] now.
    pub fn depth_scale(&self) -> [f64; 2] {
        self.scale
    }

    /// Apply the depth steps due at `ts`; wake again at the next one (a step lands at its time,
    /// not up to a refresh later).
    fn apply_depth_schedule(&mut self, ts: Ts) {
        while let Some(step) = self.spec.depth_schedule.get(self.next_step) {
            // A step past the end of representable time is never due (not a wrapped time).
            let Some(due) = self.start.checked_add(step.at) else { break };
            if due > ts {
                self.next_wake = self.next_wake.min(due);
                break;
            }
            self.scale = [step.bid_scale, step.ask_scale];
            self.next_step += 1;
            self.rescale = true;
        }
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    /// Whether each side [bid, ask] is pulled (by the pull rule) right now.
    pub fn pulled(&self) -> [bool; 2] {
        self.pulled
    }

    /// Whether each side [bid, ask] is withheld by the position limit right now.
    pub fn limited(&self) -> [bool; 2] {
        self.limited
    }

    /// Whether the reference reached or passed one of `reload_levels` moving from `from` to `to`:
    /// rising, from < level ≤ to; falling, to ≤ level < from (a level is crossed once, when
    /// reached, not again when left).
    fn crossed_level(&self, from: Price, to: Price) -> bool {
        let levels = &self.spec.reload_levels;
        if to > from {
            let i = levels.partition_point(|&l| l <= from);
            levels.get(i).is_some_and(|&l| l <= to)
        } else if to < from {
            let i = levels.partition_point(|&l| l < to);
            levels.get(i).is_some_and(|&l| l < from)
        } else {
            false
        }
    }

    /// `reload_levels`: a pulled maker whose reference reached a level since the last wake
    /// reloads. Makers return at the level even while the market still moves: the pull rule
    /// starts again from here (a move or a liquidation rate measured from this wake).
    #[inline(never)]
    fn reload_at_levels(&mut self, ts: Ts, reference: Price) {
        let crossed = self.last_reference.is_some_and(|from| self.crossed_level(from, reference));
        self.last_reference = Some(reference);
        if crossed && self.pulled != [false, false] {
            self.pulled = [false, false];
            self.calm_since = ts;
            self.history.clear();
            self.liq_history.clear();
        }
    }

    /// Signed position notional (quote) of `lots` at `price` ticks.
    fn position_quote(lots: Qty, price: Price, ctx: &AgentContext) -> f64 {
        lots as f64 * price as f64 * ctx.scale.money_per_tick_lot() as f64 / crate::MONEY_SCALE as f64
    }

    /// The price the ladder centres on: the reference shifted against the position by the
    /// inventory skew (the reference itself with no skew).
    fn skewed(&self, reference: Price, lots: Qty, ctx: &AgentContext) -> Price {
        if self.spec.skew_bp_per_million == 0.0 || lots == 0 {
            return reference;
        }
        let notional = Self::position_quote(lots, reference, ctx);
        let shift = (-self.spec.skew_bp_per_million * BP * notional / 1e6).clamp(-MAX_SKEW, MAX_SKEW);
        ((reference as f64 * (1.0 + shift)).round() as Price).max(1)
    }

    /// The inventory rules at a wake: the position limit sets each side's room (withholding a
    /// side with none, setting `off`), and the skew gives the price to centre the ladder on.
    /// Out of line: a maker without them does not pay for them.
    #[inline(never)]
    fn inventory(&mut self, reference: Price, ex: &Exchange, ctx: &AgentContext) -> Price {
        let lots = ex.account(self.spec.trader).map_or(0, |a| a.position.lots);
        if self.limit {
            self.set_room(reference, lots, ctx);
        } else {
            self.limited = [false, false];
        }
        self.off = [self.pulled[0] || self.limited[0], self.pulled[1] || self.limited[1]];
        self.skewed(reference, lots, ctx)
    }

    /// The room of each side under the position limit at `reference`: L − lots for the bids,
    /// L + lots for the asks, L the limit in whole lots (floored: a part lot would breach it).
    /// Levels whose cap the change of room moves are listed for this wake.
    fn set_room(&mut self, reference: Price, lots: Qty, ctx: &AgentContext) {
        // A lot worth more than an i128 of money is worth more than any limit: L = 0.
        let limit = (reference.max(1) as i128)
            .checked_mul(ctx.scale.money_per_tick_lot())
            .filter(|&per_lot| per_lot > 0)
            .map_or(0, |per_lot| self.max_money / per_lot);
        let room = [limit - lots as i128, limit + lots as i128];
        self.limited = [room[0] <= 0, room[1] <= 0];
        for (s, &new) in room.iter().enumerate() {
            let old = std::mem::replace(&mut self.room[s], new);
            if old != new {
                self.room_moved(s, old.min(new), old.max(new));
            }
        }
    }

    /// The room of side `s` moved between `lo` and `hi`: list the levels whose cap changes,
    /// those whose span (cap_from[k], cap_from[k+1]) meets (lo, hi). Every other level keeps
    /// its cap (full below the room, empty beyond it), so a wake need not look at it.
    fn room_moved(&mut self, s: usize, lo: i128, hi: i128) {
        let from = &self.cap_from[s];
        if from.len() < 2 {
            return; // no ladder yet: the first wake looks at every level
        }
        let first = from[1..].partition_point(|&p| p <= lo);
        let end = from[..from.len() - 1].partition_point(|&p| p < hi);
        for k in first..end {
            self.mark(s, k, 0);
        }
        if first < end {
            self.settled = false;
        }
    }

    /// Lots level k of side `s` may hold under the position limit (no bound without one).
    #[inline]
    fn cap(&self, s: usize, k: usize) -> Qty {
        if !self.limit {
            return Qty::MAX;
        }
        let from = &self.cap_from[s];
        if k + 1 >= from.len() {
            return 0; // beyond the ladder
        }
        // At most the level's profile, which is a lot count: the cast is exact.
        (self.room[s] - from[k]).clamp(0, from[k + 1] - from[k]) as Qty
    }

    fn reference(&self, ex: &Exchange) -> Option<Price> {
        // A one-sided book has no mid (its one side is not a price the market agrees on).
        let mid = match (ex.book().best_bid(), ex.book().best_ask()) {
            (Some((b, _)), Some((a, _))) => Some(b + (a - b) / 2),
            _ => None,
        };
        match self.spec.reference {
            Reference::Index => ex.index_price().or(mid).or(ex.last()),
            Reference::Mid => mid.or(ex.last()).or(ex.index_price()),
            Reference::Last => ex.last().or(mid).or(ex.index_price()),
        }
    }

    /// Update the pull state from the move and the liquidation flow over the window.
    fn update_pull(&mut self, ts: Ts, price: Price, reference: Price, ctx: &AgentContext) {
        if self.spec.pull_move == 0.0 && self.spec.pull_liquidations == 0.0 {
            return; // no pull rule: never pulled, and the history would serve nothing
        }
        if !self.spec.reload_levels.is_empty() {
            self.reload_at_levels(ts, reference);
        }
        let window = self.spec.pull_window;
        self.history.push_back((ts, price));
        while self.history.len() > 1 && self.history[0].0 < ts - window {
            self.history.pop_front();
        }
        let total_liq = ctx.liquidated_quote[0] + ctx.liquidated_quote[1];
        self.liq_history.push_back((ts, total_liq));
        while self.liq_history.len() > 1 && self.liq_history[0].0 < ts - window {
            self.liq_history.pop_front();
        }
        let oldest = self.history[0].1 as f64;
        let moved = if oldest > 0.0 { price as f64 / oldest - 1.0 } else { 0.0 };
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

    /// List a level for the next full wake (once), with extra flags.
    fn mark(&mut self, s: usize, k: usize, flags: u8) {
        if self.flags[s][k] & DIRTY == 0 {
            self.dirty.push((s as u8, k as u32));
        }
        self.flags[s][k] |= DIRTY | flags;
    }

    /// The ladder level quoting `price` on side `s`, if any (bids fall, asks rise with k).
    fn level_of(&self, s: usize, price: Price) -> Option<usize> {
        let ladder = &self.ladder[s];
        if s == Side::Buy as usize {
            ladder.binary_search_by(|p| price.cmp(p)).ok()
        } else {
            ladder.binary_search(&price).ok()
        }
    }

    /// Read the tape since the last wake: whether anything traded against our account, and which
    /// levels were filled (our fills are book trades at one of our level prices; the account's
    /// other fills, e.g. the background book's, are at other prices). A liquidation of our
    /// account cancelled all our orders: every level is read back.
    fn read_tape(&mut self, ex: &Exchange) -> bool {
        let me = self.spec.trader;
        let tape = ex.tape();
        let mut filled = false;
        for t in &tape.trades[self.trades_seen.min(tape.trades.len())..] {
            if t.maker != me {
                continue;
            }
            filled = true;
            if matches!(t.kind, TradeKind::Normal | TradeKind::Liquidation | TradeKind::Stop) {
                let s = t.aggressor.opposite() as usize;
                if let Some(k) = self.level_of(s, t.price) {
                    self.mark(s, k, RECOUNT);
                }
            }
        }
        self.trades_seen = tape.trades.len();
        let liquidations = &tape.liquidations[self.liquidations_seen.min(tape.liquidations.len())..];
        self.recount_all |= liquidations.iter().any(|l| l.trader == me);
        self.liquidations_seen = tape.liquidations.len();
        filled
    }

    /// Read what rests at a level back from the book: orders gone are dropped, and what was
    /// filled comes off the level's wanted depth.
    fn recount(&mut self, s: usize, k: usize, book: &OrderBook) {
        let mut have: Qty = 0;
        self.quotes[s][k].retain(|q| match book.order(q.id) {
            Some(o) => {
                have += o.qty;
                true
            }
            None => false,
        });
        let (r, w) = (&mut self.resting[s][k], &mut self.wanted[s][k]);
        let filled = *r - have;
        if filled > 0 && w.is_finite() {
            *w = (*w - filled as f64).max(0.0);
        }
        *r = have;
    }

    /// Whether a full wake with nothing new (no fill, no re-centre, no change of pull state)
    /// would leave this level exactly as it is: no regrowth, no cancel, no top-up, no clamp.
    fn at_rest(&self, s: usize, k: usize) -> bool {
        let w = self.wanted[s][k];
        let target = self.targets[s].get(k).copied().unwrap_or(0.0);
        let still = if self.off[s] { w == 0.0 } else { w == target }; // NaN: not at rest
        if !still || self.flags[s][k] & RECOUNT != 0 {
            return false;
        }
        let has_orders = !self.quotes[s][k].is_empty();
        if k >= self.ladder[s].len() {
            return !has_orders; // beyond the ladder (bids at zero): any order there is off it
        }
        let resting = self.resting[s][k];
        if has_orders && (self.off[s] || resting as f64 > w + 1.0) {
            return false;
        }
        let mut want = w.floor() as Qty;
        if self.limit {
            let cap = self.cap(s, k);
            if resting > cap {
                return false;
            }
            want = want.min(cap);
        }
        let missing = want - resting;
        let chunk = ((0.1 * target) as Qty).max(1);
        let no_top_up = missing <= 0 || (resting > 0 && missing < chunk);
        no_top_up && (w < target - 1.0 || w == target) // w is finite here: `still` held
    }

    /// Apply a sleeping level's missed regrowth steps (through full wake `through`) and wake it.
    fn sync(&mut self, s: usize, k: usize, through: u64) {
        let target = self.targets[s].get(k).copied().unwrap_or(0.0);
        let (r, w) = (self.sleep_regrow, &mut self.wanted[s][k]);
        for _ in self.synced[s][k]..through {
            *w = *w + (target - *w) * r;
        }
        self.synced[s][k] = through;
        self.flags[s][k] &= !SLEEPING;
    }

    /// Wake every sleeping level (their regrowth applied through full wake `through`).
    fn wake_all_sleeping(&mut self, through: u64) {
        for i in 0..self.sleeping.len() {
            let (due, s, k) = self.sleeping[i];
            let (s, k) = (s as usize, k as usize);
            if self.flags[s][k] & SLEEPING != 0 && self.due[s][k] == due {
                self.sync(s, k, through);
            }
        }
        self.sleeping.clear();
        self.next_due = u64::MAX;
    }

    /// Put a level that is only regrowing to sleep until the first full wake at which it may
    /// act, if that is at least two wakes away; false when it must stay listed. Below its target
    /// and not over-resting, the level's wanted depth w only rises, and it acts again (a top-up
    /// or the clamp to the profile) once w ≥ min(resting + a chunk (one lot when empty),
    /// target − 1), i.e. once its deficit d = target − w falls to d* = target − that. The deficit
    /// shrinks by (1 − r) a wake: j = ln(d*/d) / ln(1 − r) wakes. The wake is set 0.1% and two
    /// wakes early (float steps drift by far less), and a level woken early goes back to sleep.
    fn sleep(&mut self, s: usize, k: usize, step: u64, regrow: f64) -> bool {
        let Some(&target) = self.targets[s].get(k) else { return false };
        let (w, resting) = (self.wanted[s][k], self.resting[s][k]);
        let keep_in_step = self.off[s] || self.flags[s][k] & RECOUNT != 0 || !(regrow > 0.0 && regrow < 1.0);
        if keep_in_step || !(w.is_finite() && w < target - 1.0) || resting as f64 > w + 1.0 {
            return false;
        }
        let need = if resting > 0 { ((0.1 * target) as Qty).max(1) } else { 1 };
        let mut top_up_at = resting as f64 + need as f64;
        if self.limit {
            // A level its cap keeps from a top-up acts next at the clamp to its profile (or when
            // its cap moves, which lists it).
            let cap = self.cap(s, k);
            if resting > cap {
                return false;
            }
            if cap - resting < need {
                top_up_at = f64::INFINITY;
            }
        }
        let threshold = top_up_at.min(target - 1.0);
        let (deficit, deficit_due) = (target - w, target - threshold);
        if !(deficit_due > 0.0 && deficit > deficit_due) {
            return false;
        }
        let wakes = (deficit_due / deficit).ln() / (1.0 - regrow).ln();
        let early = (wakes * 0.999).floor() - 2.0;
        if early.is_nan() || early < 2.0 {
            return false;
        }
        let due = step + (early.min(1e15) as u64);
        self.flags[s][k] |= SLEEPING;
        self.due[s][k] = due;
        self.synced[s][k] = step;
        self.sleeping.push((due, s as u8, k as u32));
        self.next_due = self.next_due.min(due);
        true
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.spec.refresh_every;
        self.apply_depth_schedule(ts);
        let dt = self.last_wake.map_or(0, |t| ts - t);
        self.last_wake = Some(ts);
        let Some(reference) = self.reference(ex.view()) else { return 0 };
        let mut actions = 0u64;

        // Fast path: no fill against us since the last wake, the profile full, no pull and no
        // re-centre due: nothing to do (a quiet market costs O(1) per wake, not O(levels)).
        let filled = self.read_tape(ex.view());
        let off_before = self.off;
        // The pull rule watches the traded price (what a maker's risk sees), not its own quotes.
        self.update_pull(ts, ex.last().unwrap_or(reference), reference, ctx);
        // The ladder centres on the reference skewed against the inventory; the position limit
        // withholds a side. Both off (the default): one branch, the hot path as before.
        let reference = if self.inventory_rules {
            self.inventory(reference, ex.view(), ctx)
        } else {
            self.off = self.pulled;
            reference
        };
        let recentre_due =
            self.anchor.is_none_or(|a| (((reference - a).abs()) as f64) >= self.spec.requote_bp * BP * a as f64);
        if self.settled
            && !filled
            && !recentre_due
            && !self.rescale
            && self.off == off_before
            && self.off == [false, false]
        {
            return actions;
        }
        // Quiet: as above, but some level is short of its profile by less than a chunk (it stays
        // so until a fill), or regrowing asleep and not due: a full wake would only count itself.
        if dt != self.regrow_dt {
            self.regrow_dt = dt;
            self.regrow = if self.spec.refill_half_life == 0 {
                1.0
            } else {
                1.0 - 0.5f64.powf(dt as f64 / self.spec.refill_half_life as f64)
            };
        }
        let regrow = self.regrow;
        if !filled
            && !recentre_due
            && !self.rescale
            && self.off == off_before
            && self.off == [false, false]
            && self.dirty.is_empty()
            && !self.recount_all
            && ex.config().stp == SelfTradePrevention::None
            && self.full_wakes + 1 < self.next_due
            && regrow.to_bits() == self.sleep_regrow.to_bits()
            && !walk_all()
        {
            self.full_wakes += 1;
            self.settled = self.short_count == 0;
            self.work.clear(); // looked at no level
            return actions;
        }
        self.settled = false;
        let n = self.spec.levels as usize;
        self.full_wakes += 1;
        let step = self.full_wakes;
        let centre = match self.anchor {
            Some(a) if (((reference - a).abs()) as f64) < self.spec.requote_bp * BP * a as f64 => a,
            _ => reference,
        };
        let recentred = self.anchor != Some(centre) || self.ladder[1].is_empty();
        // A depth step changes every level's target: every level is looked at, as on a re-centre.
        let rescale = std::mem::take(&mut self.rescale);

        // What is left of our orders: fills reduce the wanted depth of their level. With
        // self-trade prevention on, another order source on our account could have cancelled
        // any of them without a trade: read them all back.
        let everything =
            std::mem::take(&mut self.recount_all) || ex.config().stp != SelfTradePrevention::None || walk_all();
        // Sleeping levels catch up on their missed steps (through the last full wake) before
        // anything else touches them: all of them when every level is looked at or this wake
        // regrows by another factor; else those due now and those just filled.
        let all_levels = everything || recentred || rescale || self.off != off_before || walk_all();
        if all_levels || regrow.to_bits() != self.sleep_regrow.to_bits() {
            self.wake_all_sleeping(step - 1);
        } else {
            if step >= self.next_due {
                let mut next_due = u64::MAX;
                let mut i = 0;
                while i < self.sleeping.len() {
                    let (due, s, k) = self.sleeping[i];
                    let (su, ku) = (s as usize, k as usize);
                    if self.flags[su][ku] & SLEEPING == 0 || self.due[su][ku] != due {
                        self.sleeping.swap_remove(i); // stale: woken by a fill since
                    } else if due <= step {
                        self.sync(su, ku, step - 1);
                        self.mark(su, ku, 0);
                        self.sleeping.swap_remove(i);
                    } else {
                        next_due = next_due.min(due);
                        i += 1;
                    }
                }
                self.next_due = next_due;
            }
            for i in 0..self.dirty.len() {
                let (s, k) = (self.dirty[i].0 as usize, self.dirty[i].1 as usize);
                if self.flags[s][k] & SLEEPING != 0 {
                    self.sync(s, k, step - 1);
                }
            }
        }
        self.sleep_regrow = regrow;
        {
            let book = ex.book();
            if everything {
                for s in 0..2 {
                    for k in 0..n {
                        self.recount(s, k, book);
                        self.flags[s][k] &= !RECOUNT;
                    }
                }
            } else {
                for i in 0..self.dirty.len() {
                    let (s, k) = (self.dirty[i].0 as usize, self.dirty[i].1 as usize);
                    if self.flags[s][k] & RECOUNT != 0 {
                        self.recount(s, k, book);
                        self.flags[s][k] &= !RECOUNT;
                    }
                }
            }
        }

        // Re-centre when the reference moved enough since the ladder was placed.
        if recentred {
            self.ladder = self.compute_ladder(centre);
        }
        if recentred || rescale {
            for s in 0..2 {
                let (ladder, quote, scale) = (&self.ladder[s], &self.level_quote, self.scale[s]);
                self.targets[s] = ladder.iter().enumerate().map(|(k, &p)| ctx.lots_for(quote[k] * scale, p)).collect();
                if self.limit {
                    let from = &mut self.cap_from[s];
                    from.clear();
                    from.push(0);
                    let mut sum = 0i128;
                    for &t in &self.targets[s] {
                        sum += (t.floor() as Qty).max(0) as i128; // ≤ 10,000 lot counts: no overflow
                        from.push(sum);
                    }
                }
            }
        }
        self.anchor = Some(centre);

        // The levels to look at: all of them after a re-centre, all of a side whose pull state
        // changed, else those listed (filled, regrowing, short of a chunk of orders).
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        for (s, &before) in off_before.iter().enumerate() {
            if everything || recentred || rescale || self.off[s] != before || walk_all() {
                work.extend((0..n as u32).map(|k| (s as u8, k)));
            } else {
                work.extend(self.dirty.iter().filter(|&&(ds, _)| ds as usize == s));
            }
        }
        for &(s, k) in &self.dirty {
            self.flags[s as usize][k as usize] &= !DIRTY;
        }
        self.dirty.clear();
        // Top-ups go out bids then asks, nearest level first, as a walk of the ladder sends them.
        work.sort_unstable();

        // Wanted depth per level: zero when pulled or limited, else regrown toward the profile.
        for &(s, k) in &work {
            let (s, k) = (s as usize, k as usize);
            // Bids stop above zero: levels beyond the ladder want nothing.
            let target = self.targets[s].get(k).copied().unwrap_or(0.0);
            let w = &mut self.wanted[s][k];
            *w = if self.off[s] {
                0.0
            } else if !w.is_finite() || (rescale && *w > target) {
                // The first wake places the full profile; a depth step down is withdrawn at once.
                target
            } else {
                *w + (target - *w) * regrow
            };
        }

        // Cancel orders that are pulled or limited, off their level's price, or above what is wanted.
        let mut cancels = std::mem::take(&mut self.cancels);
        cancels.clear();
        for &(s, k) in &work {
            let (s, k) = (s as usize, k as usize);
            if self.quotes[s][k].is_empty() {
                continue;
            }
            let level_price = self.ladder[s].get(k).copied();
            let (pulled, wanted) = (self.off[s], self.wanted[s][k]);
            // Under the position limit a level over what it may hold is cancelled whole: the
            // partial cancel below leaves orders it no longer counts, and a top-up on top of
            // them could rest more than the room.
            let clear = self.limit && {
                let r = self.resting[s][k];
                r > self.cap(s, k) || r as f64 > wanted + 1.0
            };
            let resting = &mut self.resting[s][k];
            let before = cancels.len();
            self.quotes[s][k].retain(|q| {
                let off = level_price != Some(q.price);
                let excess = (*resting as f64) > wanted + 1.0;
                if clear || pulled || off || excess {
                    cancels.push((q.seq, q.id));
                    // The level's count goes to zero at its first cancel (an excess cancel
                    // keeps the orders after it: the next full wake reads them back).
                    *resting = 0;
                    false
                } else {
                    true
                }
            });
            if cancels.len() > before && !self.quotes[s][k].is_empty() {
                self.flags[s][k] |= RECOUNT;
            }
        }
        cancels.sort_unstable_by_key(|&(seq, _)| seq);
        for &(_, id) in &cancels {
            let _ = ex.cancel(self.spec.trader, id);
            actions += 1;
        }
        self.cancels = cancels;

        // Top up each level to what is wanted.
        for &(s, k) in &work {
            let (s, k) = (s as usize, k as usize);
            let Some(&price) = self.ladder[s].get(k) else { continue };
            let mut want = self.wanted[s][k].floor() as Qty;
            if self.limit {
                want = want.min(self.cap(s, k));
            }
            // Top up in chunks of a tenth of the level (or all of it when the level is
            // empty), not a few lots every refresh: each top-up is an order of its own, and
            // a level built of hundreds of slivers costs every later wake.
            let target = self.targets[s][k];
            let chunk = ((0.1 * target) as Qty).max(1);
            let missing = want - self.resting[s][k];
            if missing <= 0 || (self.resting[s][k] > 0 && missing < chunk) {
                continue;
            }
            let side = if s == Side::Buy as usize { Side::Buy } else { Side::Sell };
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
                    self.quotes[s][k].push(Quote { seq: self.next_seq, id, price });
                    self.next_seq += 1;
                    self.resting[s][k] += o.qty;
                }
            }
        }

        // Settled when every level wants its full profile and has it resting (a level within
        // a lot of its target counts as full: the regrowth only approaches it). Levels not
        // looked at keep their standing; the ones looked at that are not at rest are listed
        // for the next full wake.
        for &(s, k) in &work {
            let (s, k) = (s as usize, k as usize);
            let short = match self.targets[s].get(k) {
                Some(&target) => {
                    if self.wanted[s][k] >= target - 1.0 {
                        self.wanted[s][k] = target;
                    }
                    !(self.wanted[s][k] == target && self.resting[s][k] >= target.floor() as Qty)
                }
                None => false, // beyond the ladder: not part of the profile
            };
            if short != self.short[s][k] {
                self.short[s][k] = short;
                if short {
                    self.short_count += 1;
                } else {
                    self.short_count -= 1;
                }
            }
            if !self.at_rest(s, k) && !self.sleep(s, k, step, regrow) {
                self.mark(s, k, 0);
            }
        }
        self.work = work;
        self.settled = self.off == [false, false] && self.short_count == 0;
        actions
    }

    /// Level prices per side [bids, asks] around `centre`, strictly monotone; bids stop above zero.
    fn compute_ladder(&self, centre: Price) -> [Vec<Price>; 2] {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{NoiseTakerSpec, SizeDist};

    fn maker_spec() -> MarketMakerSpec {
        MarketMakerSpec {
            depth_10bp: 1_000_000.0,
            level_spacing_bp: 1.0,
            requote_bp: 1.0,
            pull_window: 10_000_000_000,
            reload_after: 60_000_000_000,
            ..MarketMakerSpec::new(crate::exchange::LIQUIDITY_ID)
        }
    }

    #[test]
    fn new_has_the_documented_defaults() {
        // The defaults of Python's `liqsim.agents.MarketMaker` (python/liqsim/agents.py; the
        // durations there are seconds: 0.1, 20, 60, 120), written out field by field so that a
        // changed default fails here; MODELS.md §1 (β ≈ 0.65) and §2 (refill half-life ~20 s).
        let m = MarketMakerSpec::new(TraderId(7));
        assert_eq!(m.trader, TraderId(7));
        assert_eq!(m.reference, Reference::Mid);
        assert_eq!(m.depth_10bp, 3_000_000.0);
        assert_eq!(m.beta, 0.65);
        assert_eq!(m.first_level_bp, 1.0);
        assert_eq!(m.level_spacing_bp, 2.0);
        assert_eq!(m.levels, 100);
        assert_eq!(m.refresh_every, 100_000_000);
        assert_eq!(m.refill_half_life, 20_000_000_000);
        assert_eq!(m.requote_bp, 2.0);
        assert_eq!(m.pull_move, 0.0);
        assert_eq!(m.pull_window, 60_000_000_000);
        assert_eq!(m.pull_liquidations, 0.0);
        assert!(!m.pull_both_sides);
        assert_eq!(m.reload_after, 120_000_000_000);
        assert!(m.depth_schedule.is_empty());
        assert_eq!(m.skew_bp_per_million, 0.0);
        assert_eq!(m.max_position, 0.0);
        assert!(m.reload_levels.is_empty());
        m.validate().unwrap();
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
        let [bids, asks] = m.compute_ladder(1000);
        assert_eq!(asks.len(), 100);
        assert!(bids.windows(2).all(|w| w[0] > w[1]) && bids.iter().all(|&b| b > 0 && b < 1000));
        assert!(asks.windows(2).all(|w| w[0] < w[1]) && asks[0] > 1000);
    }

    /// A market at 3,000.00 (tick 0.01, lot 0.001) with the index set and one funded taker.
    fn market() -> Exchange {
        use crate::account::MarginMode;
        use crate::exchange::{AccountRow, ExchangeConfig};
        use crate::margin::{NotionalScale, Rate, TierTable};
        use crate::types::Money;
        use crate::venue::{Fees, Venue, VenuePreset};
        let tiers = TierTable::single(Rate(1_000_000), 100).unwrap();
        let preset = VenuePreset::custom(Venue::Binance, "TESTUSDT", tiers)
            .with_fees(Fees { maker: Rate::ZERO, taker: Rate::ZERO });
        let mut ex =
            Exchange::new(ExchangeConfig::new(preset, NotionalScale::from_sizes(0.01, 0.001).unwrap())).unwrap();
        ex.add_accounts(&[AccountRow {
            id: TraderId(1),
            balance: Money::from_f64(1e9),
            mode: MarginMode::Cross,
            lots: 0,
            entry_money_per_lot: Money::ZERO,
            leverage: 10,
            isolated_margin: None,
        }])
        .unwrap();
        ex.set_index(300_000);
        ex
    }

    #[test]
    fn a_fill_wakes_only_its_level_which_refills_with_the_half_life() {
        // MODELS.md §2: consumed depth regrows toward the profile with a half-life. Level 0 of
        // the asks wants T lots; a buy takes q = 0.3 T. After k wakes 100 ms apart with a 1 s
        // half-life the deficit is q·2^(−k/10); the level is topped up once a chunk (0.1 T) is
        // missing, i.e. once 0.3 T·2^(−k/10) ≤ 0.2 T: k ≥ 10·log2(1.5) = 5.85, the 6th wake.
        let mut s = maker_spec();
        s.reference = Reference::Index;
        s.refill_half_life = 1_000_000_000;
        let mut m = MarketMaker::new(s, 0);
        let mut ex = market();
        let ctx = AgentContext { scale: ex.config().scale, liquidated_quote: [0.0, 0.0] };
        assert_eq!(m.wake(0, &mut ex, &ctx), 200, "200 orders");
        assert!(m.settled);
        let target = m.targets[1][0];
        // Level 0 of the asks: 1 bp above 3,000.00 is 3,000.30; its quote 1e6·(1/10)^0.65
        // = 223,872 at $3.0003 a lot is 74,615 lots.
        assert_eq!(m.ladder[1][0], 300_030);
        assert!((target - 223_872.1 / 3.0003).abs() < 1.0, "{target}");
        assert_eq!(m.wake(100_000_000, &mut ex, &ctx), 0, "a quiet wake does nothing");
        let q = (0.3 * target).round() as Qty;
        let buy = OrderRequest { side: Side::Buy, qty: q, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        assert_eq!(ex.submit(TraderId(1), buy).outcome.filled, q);
        let mut slept = 0;
        for k in 1..=6 {
            let actions = m.wake(100_000_000 * (k + 1), &mut ex, &ctx);
            // Only the filled level is looked at; while it can only regrow it sleeps (is not
            // looked at, its missed steps applied when it wakes).
            assert!(m.work.is_empty() || m.work == vec![(1, 0)], "wake {k}: {:?}", m.work);
            if m.work.is_empty() {
                assert!(m.flags[1][0] & SLEEPING != 0);
                slept += 1;
                continue;
            }
            let deficit = m.targets[1][0] - m.wanted[1][0];
            let expected = q as f64 * 0.5f64.powf(k as f64 / 10.0);
            assert!((deficit - expected).abs() < 1e-6 * q as f64, "wake {k}: {deficit} vs {expected}");
            if k < 6 {
                assert_eq!(actions, 0, "wake {k}: less than a chunk missing");
            } else {
                assert_eq!(actions, 1, "wake {k}: one top-up");
                assert_eq!(m.resting[1][0], m.wanted[1][0].floor() as Qty);
                assert_eq!(m.quotes[1][0].len(), 2);
            }
        }
        // After the fill (deficit 0.3 T·2^(−0.1)), the top-up threshold (0.2 T) is 10·log2(1.4)
        // = 4.85 wakes away: the level sleeps through the next one (woken two wakes early).
        assert_eq!(slept, 1);
    }

    /// An exchange at 3,000.00 (tick 0.01, lot 0.001, no accounts, empty book) and a maker of two
    /// levels around the index: β = 1, D₁₀ = $300,000, levels at 10 and 20 bp, so each level is
    /// worth $300,000 (D(10 bp) = 300,000; D(20 bp) − D(10 bp) = 600,000 − 300,000), at 2,997.00 /
    /// 3,003.00 and 2,994.00 / 3,006.00 (3,000 × 10 bp = 3.00). Refill instant, never re-centres.
    fn scheduled_maker(schedule: Vec<DepthStep>) -> (Exchange, MarketMaker, AgentContext) {
        use crate::exchange::ExchangeConfig;
        use crate::margin::{NotionalScale, Rate, TierTable};
        use crate::venue::{Venue, VenuePreset};
        let tiers = TierTable::single(Rate(1_000_000), 100).unwrap();
        let preset = VenuePreset::custom(Venue::Binance, "TESTUSDT", tiers);
        let scale = NotionalScale::from_sizes(0.01, 0.001).unwrap();
        let mut ex = Exchange::new(ExchangeConfig::new(preset, scale)).unwrap();
        ex.set_index(300_000);
        let mut spec = maker_spec();
        spec.reference = Reference::Index;
        spec.depth_10bp = 300_000.0;
        spec.beta = 1.0;
        spec.first_level_bp = 10.0;
        spec.level_spacing_bp = 10.0;
        spec.levels = 2;
        spec.refill_half_life = 0;
        spec.requote_bp = 1_000.0;
        spec.depth_schedule = schedule;
        spec.validate().unwrap();
        let ctx = AgentContext { scale, liquidated_quote: [0.0, 0.0] };
        (ex, MarketMaker::new(spec, 0), ctx)
    }

    /// Resting lots per price level of one side, best first.
    fn side_levels(ex: &Exchange, side: Side) -> Vec<(Price, Qty)> {
        ex.book().levels(side).map(|l| (l.price, l.qty)).collect()
    }

    #[test]
    fn depth_schedule_scales_the_quoted_profile_step_by_step() {
        const S: Ts = 1_000_000_000;
        let (mut ex, mut m, ctx) = scheduled_maker(vec![
            DepthStep { at: S, bid_scale: 0.5, ask_scale: 0.25 },
            DepthStep { at: 2 * S, bid_scale: 0.0, ask_scale: 2.0 },
        ]);
        // Before the first step, the full profile: lots = $300,000 / (price × 0.001), floored.
        // 300,000 / 2.997 = 100,100.1 → 100,100; / 2.994 = 100,200.4 → 100,200;
        // / 3.003 = 99,900.1 → 99,900; / 3.006 = 99,800.4 → 99,800.
        m.wake(0, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 100_100), (299_400, 100_200)]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 99_900), (300_600, 99_800)]);
        // The maker wakes at the step's time, not a refresh later.
        m.wake(S / 10 * 9, &mut ex, &ctx);
        assert_eq!(m.next_wake(), S);
        m.wake(S, &mut ex, &ctx);
        assert_eq!(m.depth_scale(), [0.5, 0.25]);
        // Bids at half: 150,000 / 2.997 = 50,050.05 → 50,050; / 2.994 = 50,100.2 → 50,100.
        // Asks at a quarter: 75,000 / 3.003 = 24,975.02 → 24,975; / 3.006 = 24,950.1 → 24,950.
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 50_050), (299_400, 50_100)]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 24_975), (300_600, 24_950)]);
        // Between steps nothing changes.
        m.wake(S + S / 2, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 24_975), (300_600, 24_950)]);
        // Second step: no bids at all; asks at twice the profile (instant refill here):
        // 600,000 / 3.003 = 199,800.2 → 199,800; / 3.006 = 199,600.8 → 199,600.
        m.wake(2 * S, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy), vec![]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 199_800), (300_600, 199_600)]);
    }

    #[test]
    fn depth_schedule_rise_regrows_with_the_half_life() {
        // A cut is at once, a rise follows the refill (half-life 1 s here): the level wants
        // 0.75 × 300,000 / 3.003 = 74,925.07 → 74,925 lots on the first ask level.
        const S: Ts = 1_000_000_000;
        let (mut ex, mut m, ctx) = scheduled_maker(vec![
            DepthStep { at: S, bid_scale: 0.5, ask_scale: 0.5 },
            DepthStep { at: 2 * S, bid_scale: 1.0, ask_scale: 1.0 },
        ]);
        m.spec.refill_half_life = S;
        m.wake(0, &mut ex, &ctx);
        m.wake(S, &mut ex, &ctx);
        // The cut: 150,000 / 3.003 = 49,950.05 → 49,950 at once, whatever the half-life.
        assert_eq!(side_levels(&ex, Side::Sell)[0], (300_300, 49_950));
        m.wake(2 * S, &mut ex, &ctx);
        // The regrowth counts from the last wake, 1 s earlier (a maker refreshing every 0.1 s
        // is at most a refresh early): 0.5 + 0.5 × (1 − 2^−1) = 0.75 of the profile.
        assert_eq!(side_levels(&ex, Side::Sell)[0], (300_300, 74_925));
    }

    #[test]
    fn depth_schedule_rows_are_checked() {
        let step = |at, bid_scale, ask_scale| DepthStep { at, bid_scale, ask_scale };
        let refused = |schedule: Vec<DepthStep>| {
            let mut s = maker_spec();
            s.depth_schedule = schedule;
            s.validate().unwrap_err().to_string()
        };
        let e = refused(vec![step(5, 1.0, 1.0), step(5, 0.5, 0.5)]);
        assert!(e.contains("depth_schedule row 1") && e.contains("increase"), "{e}");
        let e = refused(vec![step(0, 1.0, 1.0), step(1, 1.0, -0.1)]);
        assert!(e.contains("row 1") && e.contains("ask_scale"), "{e}");
        let e = refused(vec![step(0, f64::NAN, 1.0)]);
        assert!(e.contains("row 0") && e.contains("bid_scale"), "{e}");
        let e = refused(vec![step(-1, 1.0, 1.0)]);
        assert!(e.contains("row 0") && e.contains("before the start"), "{e}");
        let mut s = maker_spec();
        s.depth_schedule = vec![step(0, 0.0, MAX_DEPTH_SCALE)];
        assert!(s.validate().is_ok());
    }

    /// The two-level maker of `scheduled_maker` (levels worth $300,000 at 10 and 20 bp around
    /// the index 3,000.00, instant refill) trading as account 7, which starts with `lots`
    /// (1 ETH = 1,000 lots, entered at 3,000), next to taker account 1; `edit` sets the
    /// inventory rules.
    fn inventory_maker(lots: Qty, edit: impl FnOnce(&mut MarketMakerSpec)) -> (Exchange, MarketMaker, AgentContext) {
        use crate::account::MarginMode;
        use crate::exchange::AccountRow;
        use crate::types::Money;
        let (_, m, _) = scheduled_maker(Vec::new());
        let mut spec = m.spec;
        spec.trader = TraderId(7);
        spec.requote_bp = 1.0;
        edit(&mut spec);
        spec.validate().unwrap();
        let mut ex = market();
        ex.add_accounts(&[AccountRow {
            id: TraderId(7),
            balance: Money::from_f64(1e9),
            mode: MarginMode::Cross,
            lots,
            entry_money_per_lot: Money::from_f64(3.0),
            leverage: 10,
            isolated_margin: None,
        }])
        .unwrap();
        let ctx = AgentContext { scale: ex.config().scale, liquidated_quote: [0.0, 0.0] };
        (ex, MarketMaker::new(spec, 0), ctx)
    }

    /// Level prices of one side (best first).
    fn prices(ex: &Exchange, side: Side) -> Vec<Price> {
        side_levels(ex, side).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn inventory_skew_moves_the_ladder_against_the_position() {
        // Avellaneda–Stoikov-style linear skew, 10 bp per $1M of position notional. Long 100
        // ETH at the reference 3,000.00 is $300,000: the centre moves −10 × 0.3 = −3 bp, to
        // 3,000 × (1 − 0.0003) = 2,999.10. Level offsets are ceil(centre × x) ticks: 10 bp of
        // 299,910 ticks = 299.91 → 300, 20 bp = 599.82 → 600: bids 2,996.10 / 2,993.10, asks
        // 3,002.10 / 3,005.10 (unskewed: 2,997.00 / 2,994.00 and 3,003.00 / 3,006.00).
        let (mut ex, mut m, ctx) = inventory_maker(100_000, |s| s.skew_bp_per_million = 10.0);
        m.wake(0, &mut ex, &ctx);
        assert_eq!(prices(&ex, Side::Buy), vec![299_610, 299_310]);
        assert_eq!(prices(&ex, Side::Sell), vec![300_210, 300_510]);
        // Short 100 ETH: the centre moves up 3 bp to 3,000.90 (300,090 ticks); 10 bp of it is
        // 300.09 → 301 ticks, 20 bp 600.18 → 601: bids 2,997.89 / 2,994.89, asks 3,003.91 /
        // 3,006.91.
        let (mut ex, mut m, ctx) = inventory_maker(-100_000, |s| s.skew_bp_per_million = 10.0);
        m.wake(0, &mut ex, &ctx);
        assert_eq!(prices(&ex, Side::Buy), vec![299_789, 299_489]);
        assert_eq!(prices(&ex, Side::Sell), vec![300_391, 300_691]);
        // A fill moves the centre: a taker buys 50 ETH of the long maker's 100 ETH-worth first
        // ask level (99,930 lots at 3,002.10): 50 ETH long is $150,000, a −1.5 bp skew,
        // centre round(300,000 × 0.99985) = 299,955; offsets ceil(299.955) = 300 and
        // ceil(599.91) = 600: bids 2,996.55 / 2,993.55, asks 3,002.55 / 3,005.55 (the centre
        // moved 45 ticks, 1.5 bp ≥ requote_bp 1: the ladder re-centres).
        let (mut ex, mut m, ctx) = inventory_maker(100_000, |s| s.skew_bp_per_million = 10.0);
        m.wake(0, &mut ex, &ctx);
        let buy = OrderRequest { side: Side::Buy, qty: 50_000, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        assert_eq!(ex.submit(TraderId(1), buy).outcome.filled, 50_000);
        assert_eq!(ex.account(TraderId(7)).unwrap().position.lots, 50_000);
        m.wake(100_000_000, &mut ex, &ctx);
        assert_eq!(prices(&ex, Side::Buy), vec![299_655, 299_355]);
        assert_eq!(prices(&ex, Side::Sell), vec![300_255, 300_555]);
        // The shift is capped at half the reference: 1e6 bp per $1M on $300,000 long would be
        // −30,000%; the centre stops at 1,500.00 (levels at 10 bp: 1.50 → bid 1,498.50).
        let (mut ex, mut m, ctx) = inventory_maker(100_000, |s| s.skew_bp_per_million = 1e6);
        m.wake(0, &mut ex, &ctx);
        assert_eq!(prices(&ex, Side::Buy)[0], 149_850);
        assert_eq!(prices(&ex, Side::Sell)[0], 150_150);
    }

    #[test]
    fn position_limit_holds_through_a_sweep() {
        // The rule: `MarketMakerSpec::max_position` (issue 9's position limit, held by what
        // rests). Limit $300,000 = 100 ETH at the reference 3,000.00: one lot (0.001 ETH) is worth
        // $3.000, L = floor(300,000 / 3) = 100,000 lots. Levels here are worth $30,000: bids
        // 30,000 / 2.997 = 10,010 and / 2.994 = 10,020 lots, asks 30,000 / 3.003 = 9,990 and
        // / 3.006 = 9,980 lots. Bids may rest L − position, asks L + position.
        let limited = |s: &mut MarketMakerSpec| {
            s.depth_10bp = 30_000.0;
            s.max_position = 300_000.0;
        };
        // At the limit (long 100 ETH: no room on the bids): asks only.
        let (mut ex, mut m, ctx) = inventory_maker(100_000, limited);
        m.wake(0, &mut ex, &ctx);
        assert_eq!(m.limited(), [true, false]);
        assert_eq!(side_levels(&ex, Side::Buy), vec![]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 9_990), (300_600, 9_980)]);
        // Short at the limit: bids only.
        let (mut ex, mut m, ctx) = inventory_maker(-100_000, limited);
        m.wake(0, &mut ex, &ctx);
        assert_eq!(m.limited(), [false, true]);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 10_010), (299_400, 10_020)]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![]);
        // Long 95 ETH: the bids have 100,000 − 95,000 = 5,000 lots of room. The inner level
        // keeps its place with 5,000 of its 10,010 lots, the outer one is trimmed to nothing;
        // the asks (room 195,000) keep the whole profile.
        let (mut ex, mut m, ctx) = inventory_maker(95_000, limited);
        m.wake(0, &mut ex, &ctx);
        assert_eq!(m.limited(), [false, false]);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 5_000)]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 9_990), (300_600, 9_980)]);
        // A sell of 15 ETH sweeps the bids within one order: it fills 5 ETH (the rest of the
        // IOC finds no bid), and the maker is long exactly 100 ETH, the limit.
        let sell =
            OrderRequest { side: Side::Sell, qty: 15_000, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        assert_eq!(ex.submit(TraderId(1), sell).outcome.filled, 5_000);
        assert_eq!(ex.account(TraderId(7)).unwrap().position.lots, 100_000);
        // The next wake has no room on the bids: withheld; the asks stay.
        m.wake(100_000_000, &mut ex, &ctx);
        assert_eq!(m.limited(), [true, false]);
        assert_eq!(side_levels(&ex, Side::Buy), vec![]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 9_990), (300_600, 9_980)]);
        m.wake(200_000_000, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy), vec![]);
        // A buy of 12 ETH takes the first ask level (9,990) and 2,010 lots of the second: long
        // 88 ETH, 12,000 lots of room on the bids: 10,010 on the inner level, 1,990 on the
        // outer. The asks (room 188,000) refill (instant refill here).
        let buy = OrderRequest { side: Side::Buy, qty: 12_000, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        assert_eq!(ex.submit(TraderId(1), buy).outcome.filled, 12_000);
        assert_eq!(ex.account(TraderId(7)).unwrap().position.lots, 88_000);
        m.wake(300_000_000, &mut ex, &ctx);
        assert_eq!(m.limited(), [false, false]);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 10_010), (299_400, 1_990)]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 9_990), (300_600, 9_980)]);
    }

    #[test]
    fn position_limit_holds_through_zero_and_follows_the_reference() {
        // Limit $45,000 = 15 ETH at 3,000.00: L = floor(45,000 / 3) = 15,000 lots; levels of
        // $30,000 as above. Long 2 ETH: bids may rest 15,000 − 2,000 = 13,000 (10,010 + 2,990),
        // asks 15,000 + 2,000 = 17,000 (9,990 + 7,010): the reducing side too is held to a
        // sweep through zero to the limit on the other side.
        let (mut ex, mut m, ctx) = inventory_maker(2_000, |s| {
            s.depth_10bp = 30_000.0;
            s.max_position = 45_000.0;
        });
        m.wake(0, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 10_010), (299_400, 2_990)]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 9_990), (300_600, 7_010)]);
        let buy = OrderRequest { side: Side::Buy, qty: 30_000, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        assert_eq!(ex.submit(TraderId(1), buy).outcome.filled, 17_000);
        assert_eq!(ex.account(TraderId(7)).unwrap().position.lots, -15_000, "short exactly the limit");

        // The limit is in lots at each wake's reference: a rise shrinks it without a fill.
        // Long 90 ETH, limit $300,000, a ladder that does not re-centre (requote 1,000 bp):
        // at 3,000.00 the bids have 10,000 lots of room (10,000 of the inner 10,010). The index
        // rises 1% to 3,030.00: a lot is worth $3.03, L = floor(300,000 / 3.03) = 99,009,
        // room 9,009: the inner level, over it, is cancelled and placed again with 9,009.
        let (mut ex, mut m, ctx) = inventory_maker(90_000, |s| {
            s.depth_10bp = 30_000.0;
            s.max_position = 300_000.0;
            s.requote_bp = 1_000.0;
        });
        m.wake(0, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 10_000)]);
        ex.set_index(303_000);
        m.wake(100_000_000, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 9_009)]);
        assert_eq!(side_levels(&ex, Side::Sell), vec![(300_300, 9_990), (300_600, 9_980)]);
        // Back to 3,000.00: the room is 10,000 again; a top-up of 991 lots (under the chunk of
        // a tenth of the level, 1,001) waits for more room; the book stays as it is.
        ex.set_index(300_000);
        m.wake(200_000_000, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy), vec![(299_700, 9_009)]);
    }

    #[test]
    fn a_pulled_maker_reloads_when_the_reference_reaches_a_level() {
        // Pull on a 20 bp move within 10 s (both sides), reload after an hour of calm (never
        // here) or at 2,960.00. No trades: the pull rule watches the index (the reference).
        const S: Ts = 1_000_000_000;
        let (mut ex, mut m, ctx) = inventory_maker(0, |s| {
            s.pull_move = 0.002;
            s.pull_window = 10 * S;
            s.pull_both_sides = true;
            s.reload_after = 3_600 * S;
            s.reload_levels = vec![296_000];
        });
        m.wake(0, &mut ex, &ctx);
        assert_eq!(side_levels(&ex, Side::Buy).len(), 2);
        // −33 bp in 1 s: pulled, the book empties.
        ex.set_index(299_000);
        m.wake(S, &mut ex, &ctx);
        assert_eq!(m.pulled(), [true, true]);
        assert!(side_levels(&ex, Side::Buy).is_empty() && side_levels(&ex, Side::Sell).is_empty());
        // One tick above the level: not reached, still out.
        ex.set_index(296_001);
        m.wake(2 * S, &mut ex, &ctx);
        assert_eq!(m.pulled(), [true, true]);
        assert!(side_levels(&ex, Side::Buy).is_empty());
        // At the level: reloaded, though the move over the window (−1.33%) still exceeds the
        // threshold. The ladder (instant refill) stays centred on 2,960.01, where the last wake
        // placed it (one tick is under requote_bp): 10 bp of 296,001 ticks = 296.001 → 297,
        // 20 bp = 592.002 → 593: bids 2,957.04 / 2,954.08, asks 2,962.98 / 2,965.94.
        ex.set_index(296_000);
        m.wake(3 * S, &mut ex, &ctx);
        assert_eq!(m.pulled(), [false, false]);
        assert_eq!(prices(&ex, Side::Buy), vec![295_704, 295_408]);
        assert_eq!(prices(&ex, Side::Sell), vec![296_298, 296_594]);
        // The pull rule measures from the reload: −17 bp since is under 20 bp, still quoting;
        // a further fall to −24 bp pulls again.
        ex.set_index(295_500);
        m.wake(4 * S, &mut ex, &ctx);
        assert_eq!(m.pulled(), [false, false]);
        ex.set_index(295_300);
        m.wake(5 * S, &mut ex, &ctx);
        assert_eq!(m.pulled(), [true, true]);
        // Leaving the level upward is not a new crossing from below (2,953 → 2,961 reaches
        // 2,960 from below: that is one).
        ex.set_index(296_100);
        m.wake(6 * S, &mut ex, &ctx);
        assert_eq!(m.pulled(), [false, false], "crossed 2,960.00 rising");
    }

    #[test]
    fn reload_levels_are_crossed_when_reached_not_when_left() {
        let (_, m, _) = inventory_maker(0, |s| s.reload_levels = vec![100, 200]);
        assert!(m.crossed_level(99, 100) && m.crossed_level(101, 100), "reached from below / above");
        assert!(!m.crossed_level(100, 101) && !m.crossed_level(100, 99), "left");
        assert!(m.crossed_level(150, 250) && m.crossed_level(250, 150) && m.crossed_level(50, 300));
        assert!(!m.crossed_level(101, 199) && !m.crossed_level(199, 101) && !m.crossed_level(100, 100));
    }

    #[test]
    fn inventory_rules_are_checked() {
        let refused = |edit: fn(&mut MarketMakerSpec)| {
            let mut s = maker_spec();
            edit(&mut s);
            s.validate().unwrap_err().to_string()
        };
        let e = refused(|s| s.skew_bp_per_million = -1.0);
        assert!(e.contains("skew_bp_per_million"), "{e}");
        let e = refused(|s| s.skew_bp_per_million = f64::INFINITY);
        assert!(e.contains("skew_bp_per_million"), "{e}");
        let e = refused(|s| s.max_position = f64::NAN);
        assert!(e.contains("max_position"), "{e}");
        let e = refused(|s| s.max_position = MAX_POSITION_LIMIT);
        assert!(e.contains("max_position") && e.contains("below 1e26"), "{e}");
        let e = refused(|s| s.reload_levels = vec![300_000, 300_000]);
        assert!(e.contains("reload_levels row 1") && e.contains("increase"), "{e}");
        let e = refused(|s| s.reload_levels = vec![0]);
        assert!(e.contains("reload_levels row 0"), "{e}");
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
