//! The perp's tie to spot: a basis arbitrageur that trades the perp toward index × (1 + target
//! basis) within a risk limit, and an optional index coupling through which the index follows
//! the perp (perp-led moves) with an elasticity.

use super::{AgentContext, BP};
use crate::book::TimeInForce;
use crate::error::Error;
use crate::exchange::OrderRequest;
use crate::market::Market;
use crate::types::{Price, Side, TraderId, Ts};

#[derive(Clone, Debug, PartialEq)]
pub struct BasisArbSpec {
    pub trader: TraderId,
    pub check_every: Ts,
    /// Basis the arbitrageur considers fair, fraction (perp / index − 1).
    pub target_basis: f64,
    /// It trades when the mid is further than this from fair, in bp.
    pub band_bp: f64,
    /// Quote notional per action.
    pub clip: f64,
    /// Largest position, quote notional at the index.
    pub max_position: f64,
}

impl BasisArbSpec {
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.check_every > 0
            && self.target_basis.abs() < 0.5
            && self.band_bp >= 0.0
            && self.band_bp.is_finite()
            && self.clip > 0.0
            && self.clip.is_finite()
            && self.max_position >= 0.0
            && self.max_position.is_finite();
        if ok {
            Ok(())
        } else {
            Err(Error::Config {
                what: "basis arbitrageur",
                message: "check_every > 0, |target_basis| < 0.5, band_bp ≥ 0, clip > 0, max_position ≥ 0".into(),
            })
        }
    }
}

#[derive(Clone, Debug)]
pub struct BasisArb {
    pub spec: BasisArbSpec,
    next_wake: Ts,
}

impl BasisArb {
    pub fn new(spec: BasisArbSpec, start: Ts) -> BasisArb {
        BasisArb { next_wake: start, spec }
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.spec.check_every;
        let (Some(index), Some((bid, _)), Some((ask, _))) =
            (ex.index_price(), ex.book().best_bid(), ex.book().best_ask())
        else {
            return 0;
        };
        let fair = (index as f64 * (1.0 + self.spec.target_basis)).round() as Price;
        let band = (fair as f64 * self.spec.band_bp * BP).max(1.0) as Price;
        let position = ex.account(self.spec.trader).map_or(0, |a| a.position.lots);
        let max_lots = ctx.lots_for(self.spec.max_position, index).floor() as i64;
        let clip = ctx.lots_for(self.spec.clip, index).floor() as i64;
        // Buy the perp when its asks are cheap, sell when its bids are rich; IOC at fair ± band,
        // so it never pushes the price past fair itself.
        let (side, limit, room) = if ask < fair - band {
            (Side::Buy, fair - band, max_lots - position)
        } else if bid > fair + band {
            (Side::Sell, fair + band, max_lots + position)
        } else {
            return 0;
        };
        let qty = clip.min(room);
        if qty < 1 {
            return 0;
        }
        let req = OrderRequest { side, qty, price: Some(limit), tif: TimeInForce::Ioc, reduce_only: false };
        let _ = ex.submit(self.spec.trader, req);
        1
    }
}

/// The index following the perp: every `every`, index ← index + elasticity × (last − index).
/// Elasticity 0 is a spot-led market (the index is only the scenario's path), 1 a perp-led one.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexCouplingSpec {
    pub every: Ts,
    pub elasticity: f64,
}

impl IndexCouplingSpec {
    pub fn validate(&self) -> Result<(), Error> {
        if self.every > 0 && (0.0..=1.0).contains(&self.elasticity) {
            Ok(())
        } else {
            Err(Error::Config { what: "index coupling", message: "every > 0 and elasticity in [0, 1]".into() })
        }
    }
}

#[derive(Clone, Debug)]
pub struct IndexCoupling {
    pub spec: IndexCouplingSpec,
    next_wake: Ts,
}

impl IndexCoupling {
    pub fn new(spec: IndexCouplingSpec, start: Ts) -> IndexCoupling {
        IndexCoupling { next_wake: start + spec.every, spec }
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M) -> u64 {
        self.next_wake = ts + self.spec.every;
        if let (Some(index), Some(last)) = (ex.index_price(), ex.last()) {
            let moved = (self.spec.elasticity * (last - index) as f64).round() as Price;
            if moved != 0 {
                ex.set_index((index + moved).max(1));
                return 1;
            }
        }
        0
    }
}
