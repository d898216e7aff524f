//! The stop placer: stops just beyond recent highs and lows, where traders leave their breakout
//! entries and stop-losses ("dense stop zones layered just above recent highs", MODELS.md and the
//! heatmap vendors). Every `every` it re-places a ladder of buy stops above the high and sell stops
//! below the low of the last `lookback`, so a push through the high sets them off one after another.

use std::collections::VecDeque;

use super::{AgentContext, BP};
use crate::error::Error;
use crate::exchange::StopRequest;
use crate::market::Market;
use crate::stops::TriggerOn;
use crate::types::{Price, Side, TraderId, Ts};

#[derive(Clone, Debug, PartialEq)]
pub struct StopPlacerSpec {
    pub trader: TraderId,
    pub every: Ts,
    /// The window whose high and low the stops sit beyond.
    pub lookback: Ts,
    /// Distance of the first stop beyond the high / low, bp.
    pub offset_bp: f64,
    /// Stops per side and the distance between them, bp.
    pub levels: u32,
    pub spacing_bp: f64,
    /// Quote notional of each stop.
    pub notional: f64,
}

impl StopPlacerSpec {
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.every > 0
            && self.lookback > 0
            && self.offset_bp >= 0.0
            && self.offset_bp < 5_000.0
            && (1..=1_000).contains(&self.levels)
            && self.spacing_bp > 0.0
            && self.spacing_bp.is_finite()
            && self.offset_bp + self.spacing_bp * (self.levels as f64) < 5_000.0
            && self.notional > 0.0
            && self.notional.is_finite();
        if ok {
            Ok(())
        } else {
            Err(Error::Config {
                what: "stop placer",
                message: "every, lookback, spacing_bp, notional > 0; levels in 1..=1000; the ladder within 50%".into(),
            })
        }
    }
}

#[derive(Clone, Debug)]
pub struct StopPlacer {
    pub spec: StopPlacerSpec,
    next_wake: Ts,
    history: VecDeque<(Ts, Price)>,
    /// Our waiting stops.
    placed: Vec<i64>,
    /// The high and low the ladder was placed for.
    placed_for: Option<(Price, Price)>,
}

impl StopPlacer {
    pub fn new(spec: StopPlacerSpec, start: Ts) -> StopPlacer {
        StopPlacer { next_wake: start, history: VecDeque::new(), placed: Vec::new(), placed_for: None, spec }
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.spec.every;
        let Some(price) = ex.last().or(ex.mark()) else { return 0 };
        self.history.push_back((ts, price));
        while self.history.len() > 1 && self.history[0].0 < ts - self.spec.lookback {
            self.history.pop_front();
        }
        let high = self.history.iter().map(|&(_, p)| p).max().unwrap_or(price);
        let low = self.history.iter().map(|&(_, p)| p).min().unwrap_or(price);
        // Stops that fired are gone from the book; keep only those still waiting.
        self.placed.retain(|&id| ex.stop_book().get(id).is_some());
        if self.placed_for == Some((high, low)) {
            return 0;
        }
        let mut actions = 0;
        for id in std::mem::take(&mut self.placed) {
            ex.cancel_stop(self.spec.trader, id);
            actions += 1;
        }
        self.placed_for = Some((high, low));
        for k in 0..self.spec.levels {
            let x = (self.spec.offset_bp + self.spec.spacing_bp * k as f64) * BP;
            for (side, trigger) in [
                (Side::Buy, (high as f64 * (1.0 + x)).ceil() as Price + 1),
                (Side::Sell, (low as f64 * (1.0 - x)).floor() as Price - 1),
            ] {
                let lots = ctx.lots_for(self.spec.notional, trigger).floor() as i64;
                if lots < 1 || trigger < 1 {
                    continue;
                }
                let req = StopRequest {
                    side,
                    qty: lots,
                    limit: None,
                    trigger,
                    trigger_on: TriggerOn::Last,
                    trail: None,
                    reduce_only: false,
                    oco: None,
                };
                if let Ok(id) = ex.submit_stop(self.spec.trader, req) {
                    self.placed.push(id);
                }
                actions += 1;
            }
        }
        actions
    }
}
