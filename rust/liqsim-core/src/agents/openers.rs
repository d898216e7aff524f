//! Position openers: a pool of leveraged accounts that open and close positions over time, so
//! open interest rises with new risk or falls with covering (the regimes read from OI, MODELS.md
//! §7). Leverage is drawn per account from a mix (MODELS.md §4: most open interest at low
//! leverage, a tail at 20–100x); the long share leans with momentum and against funding.

use std::collections::VecDeque;

use super::{market_order, AgentContext, AgentRng};
use crate::account::MarginMode;
use crate::book::TimeInForce;
use crate::error::Error;
use crate::exchange::{AccountRow, OrderRequest};
use crate::market::Market;
use crate::types::{Money, Price, Side, TraderId, Ts};

#[derive(Clone, Debug, PartialEq)]
pub struct PositionOpenerSpec {
    /// The pool's accounts are `first_trader`, `first_trader + 1`, … (`accounts` of them).
    pub first_trader: TraderId,
    pub accounts: u32,
    /// Wallet of each account at the start, quote.
    pub balance: f64,
    /// Leverage mix: (leverage, weight); weights need not sum to 1.
    pub leverage: Vec<(u32, f64)>,
    /// Share of accounts in isolated margin.
    pub isolated_share: f64,
    /// Decisions (open or close) per second across the pool.
    pub rate_per_s: f64,
    /// Probability that a new position is long, before momentum and funding.
    pub long_share: f64,
    /// Probability that a decision on an open position closes it (covering).
    pub close_share: f64,
    /// Long share += momentum_sensitivity × return over `momentum_window`.
    pub momentum_window: Ts,
    pub momentum_sensitivity: f64,
    /// Long share −= funding_sensitivity × the current funding-rate estimate (a fraction).
    pub funding_sensitivity: f64,
    /// A new position's notional = balance × leverage × size_fraction.
    pub size_fraction: f64,
}

impl PositionOpenerSpec {
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::Config { what: "position openers", message });
        if self.accounts == 0 || self.accounts > 10_000_000 {
            return bad(format!("accounts must be in 1..=10,000,000, got {}", self.accounts));
        }
        if !(self.balance > 0.0 && self.balance < 1e15) {
            return bad(format!("balance must be in (0, 1e15) quote, got {}", self.balance));
        }
        if self.leverage.is_empty()
            || self.leverage.iter().any(|&(l, w)| l == 0 || l > 1000 || !(w >= 0.0 && w.is_finite()))
            || self.leverage.iter().map(|&(_, w)| w).sum::<f64>() <= 0.0
        {
            return bad("leverage mix: leverages in 1..=1000, weights ≥ 0 and not all zero".into());
        }
        for (name, x) in [
            ("isolated_share", self.isolated_share),
            ("long_share", self.long_share),
            ("close_share", self.close_share),
            ("size_fraction", self.size_fraction),
        ] {
            if !(0.0..=1.0).contains(&x) {
                return bad(format!("{name} must be in [0, 1], got {x}"));
            }
        }
        if !(self.rate_per_s > 0.0 && self.rate_per_s <= 1e6) {
            return bad(format!("rate_per_s must be in (0, 1e6], got {}", self.rate_per_s));
        }
        if self.momentum_window < 0 || !self.momentum_sensitivity.is_finite() || !self.funding_sensitivity.is_finite() {
            return bad("momentum_window ≥ 0 and finite sensitivities".into());
        }
        Ok(())
    }

    /// The pool's accounts, flat, with leverage and margin mode drawn from `rng`.
    pub fn accounts(&self, rng: &mut AgentRng) -> Result<Vec<AccountRow>, Error> {
        let total: f64 = self.leverage.iter().map(|&(_, w)| w).sum();
        let balance = super::quote_to_money(self.balance)
            .ok_or(Error::Config { what: "position openers", message: "balance out of range".into() })?;
        let last = self.first_trader.0.checked_add(self.accounts as i64);
        if self.first_trader.0 < 0 || last.is_none() {
            return Err(Error::Config { what: "position openers", message: "first_trader must be ≥ 0".into() });
        }
        Ok((0..self.accounts as i64)
            .map(|k| {
                let mut u = rng.uniform() * total;
                let mut leverage = self.leverage[self.leverage.len() - 1].0;
                for &(l, w) in &self.leverage {
                    if u < w {
                        leverage = l;
                        break;
                    }
                    u -= w;
                }
                let mode = if rng.uniform() < self.isolated_share { MarginMode::Isolated } else { MarginMode::Cross };
                AccountRow {
                    id: TraderId(self.first_trader.0 + k),
                    balance,
                    mode,
                    lots: 0,
                    entry_money_per_lot: Money::ZERO,
                    leverage,
                    isolated_margin: None,
                }
            })
            .collect())
    }
}

#[derive(Clone, Debug)]
pub struct PositionOpeners {
    pub spec: PositionOpenerSpec,
    rng: AgentRng,
    next_wake: Ts,
    history: VecDeque<(Ts, Price)>,
}

impl PositionOpeners {
    pub fn new(spec: PositionOpenerSpec, start: Ts, rng: AgentRng) -> PositionOpeners {
        let mut p = PositionOpeners { spec, rng, next_wake: start, history: VecDeque::new() };
        p.next_wake = start + p.gap();
        p
    }

    fn gap(&mut self) -> Ts {
        (self.rng.exponential(1e9 / self.spec.rate_per_s).ceil() as Ts).max(1)
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, ctx: &AgentContext) -> u64 {
        self.next_wake = ts + self.gap();
        let Some(price) = ex.last().or(ex.mark()).or(ex.index_price()) else { return 0 };
        self.history.push_back((ts, price));
        while self.history.len() > 1 && self.history[1].0 <= ts - self.spec.momentum_window {
            self.history.pop_front();
        }
        let k = (self.rng.uniform() * self.spec.accounts as f64) as i64;
        let trader = TraderId(self.spec.first_trader.0 + k.min(self.spec.accounts as i64 - 1));
        let (lots, wallet, leverage) = match ex.account(trader) {
            Some(a) => (a.position.lots, a.wallet, a.leverage),
            None => return 0,
        };
        let decide = self.rng.uniform();
        if lots != 0 {
            if decide < self.spec.close_share {
                let side = if lots > 0 { Side::Sell } else { Side::Buy };
                let req = OrderRequest { side, qty: lots.abs(), price: None, tif: TimeInForce::Ioc, reduce_only: true };
                let _ = ex.submit(trader, req);
                return 1;
            }
            return 0;
        }
        let momentum = self.history.front().map_or(0.0, |&(_, p0)| price as f64 / p0.max(1) as f64 - 1.0);
        let funding = ex.funding_rate_estimate().to_f64();
        let p_long = (self.spec.long_share + self.spec.momentum_sensitivity * momentum
            - self.spec.funding_sensitivity * funding)
            .clamp(0.0, 1.0);
        let side = if decide < p_long { Side::Buy } else { Side::Sell };
        // Size from what the account has now (a liquidated account has little left to open with).
        let notional = wallet.to_f64().max(0.0) * leverage as f64 * self.spec.size_fraction;
        market_order(ex, trader, side, notional, price, ctx)
    }
}
