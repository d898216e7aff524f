//! Stop orders at the exchange: accepted when they would not trigger at once, fired inside the
//! cascade loop (a stop fill can liquidate, a liquidation's fill can trigger stops), cancelled with
//! the account's other orders when it is liquidated. Each triggered, refused or cancelled stop is
//! recorded with the cascade round it happened in.

use serde::{Deserialize, Serialize};

use super::{Exchange, OrderReject, OrderRequest, TradeKind};
use crate::book::{Status, TimeInForce};
use crate::stops::{StopOrder, Trail, TriggerOn};
use crate::types::{Price, Qty, Side, TraderId, Ts};

/// A stop order from an account. `trigger` is ignored for a trailing stop (its trigger starts at
/// the trail distance from the price it watches now).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopRequest {
    pub side: Side,
    pub qty: Qty,
    /// `None`: stop-market; `Some(price)`: stop-limit (GTC at that price once triggered).
    pub limit: Option<Price>,
    pub trigger: Price,
    pub trigger_on: TriggerOn,
    pub trail: Option<Trail>,
    pub reduce_only: bool,
    /// Stops sharing a group: when one triggers, the others are cancelled.
    pub oco: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum StopStatus {
    /// Its trigger was crossed and its order sent (see `filled`).
    Triggered = 0,
    /// Its trigger was crossed but the order was refused (margin, reduce-only on a flat position).
    Rejected = 1,
    /// Cancelled: by its owner, by an OCO sibling's trigger, or by its account's liquidation.
    Cancelled = 2,
}

impl StopStatus {
    pub const NAMES: [&'static str; 3] = ["triggered", "rejected", "cancelled"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRecord {
    pub ts: Ts,
    pub trader: TraderId,
    pub stop_id: i64,
    pub side: Side,
    /// Quantity sent when triggered (a reduce-only stop is trimmed to the position).
    pub qty: Qty,
    pub trigger: Price,
    pub status: StopStatus,
    /// Lots filled at once by the triggered order.
    pub filled: Qty,
    /// Cascade round (0: outside a cascade, e.g. a cancel by its owner).
    pub round: u32,
}

impl Exchange {
    /// Place a stop order. Refused when the trader is unknown, when a fixed trigger is already
    /// crossed (it would fire at once: send the order itself instead), or when a trailing stop has
    /// no price to trail yet.
    pub fn submit_stop(&mut self, trader: TraderId, req: StopRequest) -> Result<i64, OrderReject> {
        let a = self.account_index(trader).ok_or(OrderReject::UnknownTrader)?;
        let watched = match req.trigger_on {
            TriggerOn::Last => self.last,
            TriggerOn::Mark => self.mark,
        };
        let extreme = match (req.trail, watched) {
            (Some(_), Some(p)) => p,
            (Some(_), None) => return Err(OrderReject::NoPriceToTrail),
            (None, Some(p))
                if (req.side == Side::Buy && p >= req.trigger) || (req.side == Side::Sell && p <= req.trigger) =>
            {
                return Err(OrderReject::StopWouldTriggerNow)
            }
            (None, _) => 0,
        };
        let order = StopOrder {
            id: 0,
            owner: a,
            side: req.side,
            qty: req.qty,
            limit: req.limit,
            trigger: req.trigger,
            trigger_on: req.trigger_on,
            trail: req.trail,
            reduce_only: req.reduce_only,
            oco: req.oco,
            extreme,
        };
        Ok(self.stops.insert(order))
    }

    /// Cancel one of the account's waiting stops; false when it is not waiting (or not its own).
    pub fn cancel_stop(&mut self, trader: TraderId, stop_id: i64) -> bool {
        let Some(a) = self.account_index(trader) else { return false };
        if self.stops.get(stop_id).is_none_or(|s| s.owner != a) {
            return false;
        }
        if let Some(s) = self.stops.remove(stop_id) {
            self.record_stop(&s, StopStatus::Cancelled, 0, 0, 0);
        }
        true
    }

    /// Waiting stops.
    pub fn stop_book(&self) -> &crate::stops::StopBook {
        &self.stops
    }

    fn record_stop(&mut self, s: &StopOrder, status: StopStatus, qty: Qty, filled: Qty, round: u32) {
        let record = StopRecord {
            ts: self.ts,
            trader: self.accounts[s.owner as usize].id,
            stop_id: s.id,
            side: s.side,
            qty,
            trigger: s.trigger,
            status,
            filled,
            round,
        };
        self.tape.stops.push(record);
    }

    /// Fire every stop the last and mark prices trigger now; returns how many fired.
    pub(super) fn fire_stops(&mut self, round: u32) -> usize {
        if self.stops.is_empty() {
            return 0;
        }
        self.stops.update_trailing(self.last, self.mark);
        let (fired, cancelled) = self.stops.take_triggered(self.last, self.mark);
        for s in &cancelled {
            self.record_stop(s, StopStatus::Cancelled, 0, 0, round);
        }
        for s in &fired {
            let req = OrderRequest {
                side: s.side,
                qty: s.qty,
                price: s.limit,
                tif: if s.limit.is_some() { TimeInForce::Gtc } else { TimeInForce::Ioc },
                reduce_only: s.reduce_only,
            };
            let trader = self.accounts[s.owner as usize].id;
            let out = self.place_as(trader, req, TradeKind::Stop);
            let refused = out.reject.is_some() || out.outcome.status == Status::Rejected;
            let status = if refused { StopStatus::Rejected } else { StopStatus::Triggered };
            self.record_stop(s, status, out.sent_qty, out.outcome.filled, round);
        }
        fired.len()
    }

    /// Cancel an account's waiting stops (its liquidation cancels all its orders).
    pub(super) fn cancel_stops_of(&mut self, a: u32, round: u32) {
        for id in self.stops.of_owner(a) {
            if let Some(s) = self.stops.remove(id) {
                self.record_stop(&s, StopStatus::Cancelled, 0, 0, round);
            }
        }
    }
}
