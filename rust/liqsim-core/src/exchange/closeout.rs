//! Close-out: what happens to an account once the mark crosses its trigger. The liquidation order
//! (or slices of it), the backstop that takes what the book cannot absorb, and auto-deleveraging.
//!
//! Each venue's sequence (sources in REFERENCE §7, which corrects §1–4):
//! - Binance: IOC limit at the bankruptcy price (its `forceOrder` stream shows LIMIT/IOC), down to
//!   the floor of the current tier at a time (the size is not published: an assumption), then the
//!   insurance fund takes over at bankruptcy; ADL when the fund cannot accept the position.
//! - Bybit: one fill-or-kill for the amount above the lower risk limit at which the rest meets
//!   maintenance; if it fails, takeover of the whole position at bankruptcy; no clearance fee, what
//!   remains goes to the fund.
//! - Hyperliquid: market orders; above 100,000 USDC 20 % at a time, then the whole position for 30 s;
//!   below 2/3 of maintenance the vault takes over at the mark and keeps the margin; an account
//!   whose value is negative is auto-deleveraged at the previous mark; collateral left after a book
//!   close stays with the trader.
//! - dYdX v4: per block (1 s) at most 10 % and 100,000 USDC (at least 1,000 USDC), IOC at the
//!   fillable price; no takeover; deleveraging only when net collateral is negative, counterparties
//!   from a pseudo-random start; the fund gets min(1.5 % of notional, surplus), the trader the rest.
//!
//! The fund (or vault) is never driven below zero while ADL is on: a market order may go past
//! bankruptcy only as far as the fund's equity pays for, and a takeover it cannot afford at the
//! mark goes to ADL (background liquidity is the counterparty of last resort).

use super::*;
use crate::margin::position_maintenance_margin;
use crate::venue::{AdlRanking, Remainder};

/// How the backstop closes what the book could not take: ADL and takeover at `price`, ADL before
/// any takeover when `adl_first`, and what nobody can take to the fund at `last_resort`.
#[derive(Clone, Copy)]
struct Plan {
    price: Price,
    last_resort: Price,
    adl_first: bool,
}

/// The book fills of one liquidation: (lots, Σ price × lots).
#[derive(Clone, Copy, Default)]
struct BookFills {
    lots: Qty,
    notional: i128,
}

impl LiquidationLimit {
    /// What each venue sends: Binance and Bybit IOC/FOK limits at the bankruptcy price;
    /// Hyperliquid market orders; dYdX IOC at its fillable price (bounded here only by what the
    /// fund can pay, like a market order).
    pub fn venue_default(venue: crate::venue::Venue) -> LiquidationLimit {
        use crate::venue::Venue;
        match venue {
            Venue::Binance | Venue::Bybit => LiquidationLimit::Bankruptcy,
            Venue::Hyperliquid | Venue::Dydx => LiquidationLimit::Market,
        }
    }
}

impl Exchange {
    /// Recompute the mark, remembering the one before it (Hyperliquid deleverages at the
    /// previous mark).
    pub(super) fn refresh_mark(&mut self) {
        let new = self.compute_mark();
        if new != self.mark {
            self.previous_mark = self.mark;
            self.mark = new;
        }
    }

    /// Close out one account per the venue's policy, charging the liquidation fee, and hand what
    /// the book cannot absorb to the backstop or to ADL.
    pub(super) fn liquidate(&mut self, a: u32, mark: Price, round: u32) {
        let scale = self.cfg.scale;
        let fund_before = self.insurance_fund();
        let start = self.accounts[a as usize].position;
        let trader = self.accounts[a as usize].id;
        self.accounts[a as usize].liquidated = true;
        self.liquidating = Some(a);
        self.cancel_all(a);
        // Closing at the bankruptcy price leaves the account at exactly zero; an account bankrupt
        // at every price has none, and is closed at the mark (the fund covers the rest).
        let bankruptcy = bankruptcy_price(&self.accounts[a as usize], scale).unwrap_or(mark);
        let policy = self.cfg.preset.liquidation;
        let mut fills = BookFills::default();
        let (margin_balance, maintenance) = {
            let acct = &self.accounts[a as usize];
            (acct.margin_balance(mark, scale), acct.maintenance_margin(mark, scale, &self.cfg.preset.tiers))
        };
        let negative = margin_balance < Money::ZERO;
        let mut remainder = policy.remainder;
        let kind = match policy.backstop {
            // Hyperliquid: negative account value → ADL at the previous mark. What that leaves the
            // account goes to the vault, as on a takeover (assumption: the docs do not say).
            Backstop::LiquidatorVault { .. } if negative && self.cfg.adl => {
                let price = self.previous_mark.unwrap_or(mark);
                remainder = Remainder::ToFund;
                self.backstop(
                    a,
                    start.lots.abs(),
                    Plan { price, last_resort: bankruptcy, adl_first: true },
                    mark,
                    round,
                )
            }
            // Below 2/3 of maintenance: the vault takes it all over at the mark and keeps the margin.
            Backstop::LiquidatorVault { below_maintenance: r }
                if margin_balance.0 * (r.den as i128) < maintenance.0 * (r.num as i128) =>
            {
                remainder = Remainder::ToFund;
                self.backstop(
                    a,
                    start.lots.abs(),
                    Plan { price: mark, last_resort: mark, adl_first: false },
                    mark,
                    round,
                )
            }
            // dYdX: negative net collateral → deleveraging at the bankruptcy price.
            Backstop::Deleveraging if negative && self.cfg.adl => self.backstop(
                a,
                start.lots.abs(),
                Plan { price: bankruptcy, last_resort: bankruptcy, adl_first: true },
                mark,
                round,
            ),
            _ => self.close_in_book(a, mark, bankruptcy, round, &mut fills),
        };
        // A fully closed account: what is left of the position's collateral goes to the fund or
        // stays with the trader per the venue; a hole is covered by the fund (for an isolated
        // position: its isolated margin only).
        self.liquidating = None;
        // A leg of a multi-instrument account: what is left (or missing) belongs to the whole
        // account, which the venue settles across its legs.
        if self.accounts[a as usize].position.is_flat() && !self.accounts[a as usize].leg {
            let left = self.accounts[a as usize].collateral();
            if left < Money::ZERO {
                self.pay_fund(a, left, InsuranceReason::Shortfall);
            } else if remainder == Remainder::ToFund {
                self.pay_fund(a, left, InsuranceReason::Surplus);
            }
            self.accounts[a as usize].release_isolated_if_flat();
            self.settle_if_flat(a);
        }
        if self.accounts[a as usize].position.is_flat() {
            self.cooldown_until.remove(&a);
            self.whole_position_until.remove(&a);
        }
        self.refresh_trigger(a);
        let end = self.accounts[a as usize].position;
        self.tape.liquidations.push(LiquidationRecord {
            ts: self.ts,
            trader,
            side: if start.lots > 0 { Side::Buy } else { Side::Sell },
            qty: start.lots.abs() - end.lots.abs(),
            mark,
            avg_fill_ticks: if fills.lots > 0 { fills.notional as f64 / fills.lots as f64 } else { f64::NAN },
            bankruptcy_price: bankruptcy,
            insurance_delta: self.insurance_fund() - fund_before,
            kind,
            round,
        });
    }

    /// The close-out orders into the book, step after step per the venue's policy.
    fn close_in_book(
        &mut self,
        a: u32,
        mark: Price,
        bankruptcy: Price,
        round: u32,
        fills: &mut BookFills,
    ) -> LiquidationKind {
        let scale = self.cfg.scale;
        let policy = self.cfg.preset.liquidation;
        let mut kind = LiquidationKind::Full;
        let mut now = mark;
        loop {
            let pos = self.accounts[a as usize].position;
            if pos.is_flat() {
                return kind;
            }
            let lots = pos.lots.abs();
            let step = self.step_size(a, now);
            let close_side = if pos.lots > 0 { Side::Sell } else { Side::Buy };
            let fok = matches!(policy.close_out, CloseOut::RiskLimitStepDown) && step < lots;
            // The bankruptcy price of what is left: fees already charged move it (closing the rest
            // at the first one would leave a hole of those fees for the fund).
            let bankruptcy = bankruptcy_price(&self.accounts[a as usize], scale).unwrap_or(bankruptcy);
            let mut limit = self.order_limit(close_side, step, bankruptcy, now);
            if let CloseOut::PerBlock { spread_to_maintenance, .. } = policy.close_out {
                let fillable = self.fillable_price(a, now, spread_to_maintenance);
                limit = Some(match (close_side, limit) {
                    (_, None) => fillable,
                    (Side::Sell, Some(l)) => l.max(fillable),
                    (Side::Buy, Some(l)) => l.min(fillable),
                });
            }
            let mut order = NewOrder::market(close_side, step).with_owner(a as i64);
            if let Some(price) = limit {
                order = order.with_protection(price);
            }
            if fok {
                order = order.with_tif(TimeInForce::Fok);
            }
            self.events.clear();
            self.book.submit(order, &mut self.events);
            let (filled, notional) = self.settle_events(TradeKind::Liquidation, Some(a));
            fills.lots += filled;
            fills.notional += notional;
            // Liquidation fee on what the book took, out of what is left above zero.
            let fee_due = self
                .cfg
                .preset
                .liquidation_fee
                .apply(Money(notional * scale.money_per_tick_lot()), Rounding::Up)
                .unwrap_or(Money::ZERO);
            let left = self.accounts[a as usize].collateral();
            let fee = Money(fee_due.0.min(left.0.max(0)));
            self.pay_fund(a, fee, InsuranceReason::LiquidationFee);
            now = self.mark_after_fills().unwrap_or(now);
            match policy.close_out {
                // dYdX: one order per block; the rest waits for the next block.
                CloseOut::PerBlock { block, .. } => {
                    if !self.accounts[a as usize].position.is_flat() {
                        self.cooldown_until.insert(a, self.ts + block);
                        kind = LiquidationKind::Partial;
                    }
                    return kind;
                }
                // Bybit: a fill-or-kill that fails hands the whole position to the backstop.
                CloseOut::RiskLimitStepDown if filled == 0 => {
                    let all = self.accounts[a as usize].position.lots.abs();
                    return self.backstop(
                        a,
                        all,
                        Plan { price: bankruptcy, last_resort: bankruptcy, adl_first: false },
                        now,
                        round,
                    );
                }
                _ => {}
            }
            let unfilled = step - filled;
            if unfilled > 0 {
                kind = self.backstop(
                    a,
                    unfilled,
                    Plan { price: bankruptcy, last_resort: bankruptcy, adl_first: false },
                    now,
                    round,
                );
            }
            let acct = &self.accounts[a as usize];
            if acct.position.is_flat() {
                return kind;
            }
            if let CloseOut::Slices { cooldown, .. } = policy.close_out {
                // A slice: for the cooldown, any further liquidation takes the whole position.
                self.whole_position_until.insert(a, self.ts + cooldown);
                return LiquidationKind::Partial;
            }
            if !acct.liquidatable(now, scale, &self.cfg.preset.tiers) {
                return LiquidationKind::Partial;
            }
        }
    }

    /// The worst price a liquidation order of `lots` may trade at: the bankruptcy price
    /// (`LiquidationLimit::Bankruptcy`), or, for a market order, as far past it as the fund's equity
    /// pays for (`None`: no bound needed).
    fn order_limit(&self, close_side: Side, lots: Qty, bankruptcy: Price, mark: Price) -> Option<Price> {
        if self.cfg.liquidation_limit == LiquidationLimit::Bankruptcy {
            return Some(bankruptcy);
        }
        let per_tick = lots as i128 * self.cfg.scale.money_per_tick_lot();
        let room = self.fund_capacity(mark).0 / per_tick.max(1);
        let room = i64::try_from(room).ok()?;
        Some(match close_side {
            Side::Buy => bankruptcy.saturating_add(room),
            Side::Sell => bankruptcy.saturating_sub(room).max(1),
        })
    }

    /// dYdX's fillable price: `mark × (1 ∓ SMMR × MMR × ABR)` with the adjusted bankruptcy rating
    /// `ABR = clamp(1 − margin balance / maintenance margin, 0, 1)` (bankruptcy adjustment 1). As
    /// `mark × MMR = MM / |lots|`, the spread is `SMMR × (MM − clamp(mb, 0, MM)) / |lots|`, rounded
    /// toward the mark.
    fn fillable_price(&self, a: u32, mark: Price, smmr: crate::venue::Ratio) -> Price {
        let scale = self.cfg.scale;
        let acct = &self.accounts[a as usize];
        let mm = acct.maintenance_margin(mark, scale, &self.cfg.preset.tiers).0.max(0);
        let mb = acct.margin_balance(mark, scale).0.clamp(0, mm);
        let per_tick = acct.position.lots.unsigned_abs() as i128 * scale.money_per_tick_lot();
        let spread = (smmr.num as i128 * (mm - mb)) / (smmr.den as i128 * per_tick.max(1));
        let spread = i64::try_from(spread).unwrap_or(i64::MAX);
        if acct.position.lots > 0 {
            mark.saturating_sub(spread).max(1)
        } else {
            mark.saturating_add(spread)
        }
    }

    /// What the backstop can pay out now: the smaller of its balance and its equity at `mark`
    /// (balance plus the unrealised PnL of what it holds), at least zero.
    fn fund_capacity(&self, mark: Price) -> Money {
        let fund = &self.accounts[BACKSTOP as usize];
        let equity = fund.wallet + fund.position.unrealized(mark, self.cfg.scale);
        Money(fund.wallet.0.min(equity.0).max(0))
    }

    /// Whether the backstop, trading `signed` lots at `price`, keeps its balance and its equity at
    /// `mark` at or above zero (or above where they already were, if below).
    fn fund_can_trade(&self, signed: Qty, price: Price, mark: Price) -> bool {
        let scale = self.cfg.scale;
        let fund = &self.accounts[BACKSTOP as usize];
        let before_equity = fund.wallet + fund.position.unrealized(mark, scale);
        let mut position = fund.position;
        let wallet = fund.wallet + position.fill(signed, price, scale);
        let equity = wallet + position.unrealized(mark, scale);
        wallet >= fund.wallet.min(Money::ZERO) && equity >= before_equity.min(Money::ZERO)
    }

    fn mark_after_fills(&mut self) -> Option<Price> {
        if self.cfg.closeouts_move_mark {
            self.refresh_mark();
        }
        self.mark
    }

    /// Lots the next close-out order should take.
    pub(super) fn step_size(&self, a: u32, mark: Price) -> Qty {
        let scale = self.cfg.scale;
        let pos = self.accounts[a as usize].position;
        let lots = pos.lots.abs();
        let per_lot = (mark as i128 * scale.money_per_tick_lot()).max(1);
        match self.cfg.preset.liquidation.close_out {
            CloseOut::Full => lots,
            CloseOut::TierStepDown => {
                let tiers = &self.cfg.preset.tiers;
                let notional = pos.notional(mark, scale);
                let k = tiers.tier_index(notional);
                if k == 0 {
                    return lots;
                }
                // Down to the floor of the current tier (the cap of the one below).
                let floor = tiers.tiers()[k].floor.0;
                let keep = (floor / per_lot) as i64;
                (lots - keep.min(lots - 1)).max(1)
            }
            CloseOut::RiskLimitStepDown => lots - self.risk_limit_keep(a, mark).unwrap_or(0),
            CloseOut::Slices { fraction, above_notional, .. } => {
                let whole = self.whole_position_until.get(&a).is_some_and(|&t| t > self.ts);
                if whole || pos.notional(mark, scale) <= above_notional {
                    lots
                } else {
                    let slice = (lots as i128 * fraction.0 as i128 + RATE_SCALE as i128 - 1) / RATE_SCALE as i128;
                    (slice as i64).clamp(1, lots)
                }
            }
            CloseOut::PerBlock { fraction, max_notional, min_notional, .. } => {
                let by_fraction = (lots as i128 * fraction.0 as i128 + RATE_SCALE as i128 - 1) / RATE_SCALE as i128;
                let by_notional = max_notional.0 / per_lot;
                let at_least = (min_notional.0 + per_lot - 1) / per_lot;
                let step = by_fraction.min(by_notional).max(at_least);
                i64::try_from(step).unwrap_or(lots).clamp(1, lots)
            }
        }
    }

    /// Bybit: the lots to keep, at the highest risk limit below the current one at which the kept
    /// position meets maintenance margin with today's margin balance (closing at the mark leaves it
    /// unchanged). `None`: the first risk limit, or no lower limit works: close it all.
    fn risk_limit_keep(&self, a: u32, mark: Price) -> Option<Qty> {
        let scale = self.cfg.scale;
        let acct = &self.accounts[a as usize];
        let tiers = &self.cfg.preset.tiers;
        let lots = acct.position.lots.abs();
        let k = tiers.tier_index(acct.position.notional(mark, scale));
        let per_lot = (mark as i128 * scale.money_per_tick_lot()).max(1);
        let balance = acct.margin_balance(mark, scale);
        (0..k).rev().find_map(|j| {
            // The risk limit is exclusive: keep a notional strictly below the cap.
            let keep = ((tiers.tiers()[j].cap.0 - 1) / per_lot).min(lots as i128 - 1) as i64;
            if keep <= 0 {
                return None;
            }
            let mm = position_maintenance_margin(tiers, scale, keep, mark)?;
            (balance > mm).then_some(keep)
        })
    }

    /// What the book could not take. The backstop takes over at `plan.price` as much as it can
    /// afford at `mark` (everything when ADL is off); the rest is closed against opposite positions
    /// not losing at that price (ADL). `adl_first`: deleverage before any takeover (an account with
    /// negative value on Hyperliquid and dYdX). What nobody can take goes to the fund at
    /// `last_resort` (the bankruptcy price: the account ends at zero, and the fund's loss is the
    /// value of the position it now holds, not a payment).
    fn backstop(&mut self, a: u32, lots: Qty, plan: Plan, mark: Price, round: u32) -> LiquidationKind {
        let Plan { price, last_resort, adl_first } = plan;
        let pos = self.accounts[a as usize].position.lots;
        let close_sign = -pos.signum(); // what `a` trades to reduce
        let mut remaining = lots;
        let mut kind = LiquidationKind::Backstop;
        if !adl_first {
            let taken = self.affordable_takeover(remaining, close_sign, price, mark);
            self.transfer(a, BACKSTOP, close_sign * taken, price, TradeKind::Backstop);
            remaining -= taken;
        }
        if remaining > 0 && self.cfg.adl {
            let deleveraged = self.deleverage(a, remaining, price, round);
            if deleveraged > 0 {
                kind = LiquidationKind::Adl;
            }
            remaining -= deleveraged;
        }
        if remaining > 0 {
            // Nobody left to deleverage (or ADL off): the fund takes the rest, whatever it costs.
            self.transfer(a, BACKSTOP, close_sign * remaining, last_resort, TradeKind::Backstop);
            kind = LiquidationKind::Backstop;
        }
        kind
    }

    /// Lots (≤ `lots`) the backstop can take over at `price` without its balance or its equity at
    /// `mark` going below zero (a takeover that nets against a position it holds realises PnL).
    /// Taking `q` lots means trading `−close_sign × q`; the largest affordable `q` is found by
    /// bisection (the condition weakens as `q` shrinks).
    fn affordable_takeover(&self, lots: Qty, close_sign: i64, price: Price, mark: Price) -> Qty {
        if !self.cfg.adl || self.fund_can_trade(-close_sign * lots, price, mark) {
            return lots;
        }
        let (mut ok, mut too_many) = (0, lots);
        while too_many - ok > 1 {
            let mid = ok + (too_many - ok) / 2;
            if self.fund_can_trade(-close_sign * mid, price, mark) {
                ok = mid;
            } else {
                too_many = mid;
            }
        }
        ok
    }

    /// Close up to `lots` of `a`'s position at `price` against opposite positions, one ADL record
    /// each; returns the lots closed.
    fn deleverage(&mut self, a: u32, lots: Qty, price: Price, round: u32) -> Qty {
        let pos = self.accounts[a as usize].position.lots;
        let counter_sign = -pos.signum(); // counterparties hold the opposite position
        let mut remaining = lots;
        while remaining > 0 {
            let Some(c) = self.next_adl_counterparty(counter_sign, round, a, price) else { break };
            let their = self.accounts[c as usize].position.lots.abs();
            let q = remaining.min(their);
            self.transfer(a, c, -pos.signum() * q, price, TradeKind::Adl);
            self.tape.adl.push(AdlRecord {
                ts: self.ts,
                trader: self.accounts[c as usize].id,
                liquidated: self.accounts[a as usize].id,
                side: if counter_sign > 0 { Side::Buy } else { Side::Sell },
                qty: q,
                price,
                round,
            });
            remaining -= q;
        }
        lots - remaining
    }

    /// The next account to deleverage: the best-ranked one still holding a position of `sign` that
    /// is not losing at the ADL `price` (so being closed there never costs it money), ranking once
    /// per round; then background liquidity, the counterparty of last resort.
    pub(super) fn next_adl_counterparty(
        &mut self,
        sign: i64,
        round: u32,
        liquidated: u32,
        price: Price,
    ) -> Option<u32> {
        let stale = !matches!(&self.adl_queue, Some((r, s, _, _)) if *r == round && *s == sign);
        if stale {
            let mark = self.mark?;
            let scale = self.cfg.scale;
            let ranking = self.cfg.preset.adl_ranking;
            let mut ranked: Vec<(f64, i64, u32)> = (2..self.accounts.len() as u32)
                .filter_map(|i| {
                    let acct = &self.accounts[i as usize];
                    if acct.exempt || acct.position.lots.signum() != sign {
                        return None;
                    }
                    // The score is a ratio: lots, ticks and money in tick·lot units are consistent.
                    let size = acct.position.lots as f64;
                    let entry = acct.position.entry_ticks(scale);
                    let mb = acct.margin_balance(mark, scale).0 as f64 / scale.money_per_tick_lot() as f64;
                    let score = ranking.score(size, entry, mark as f64, mb)?;
                    Some((score, acct.id.0, i))
                })
                .collect();
            ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            let mut queue: Vec<u32> = ranked.into_iter().map(|t| t.2).collect();
            if ranking == AdlRanking::PseudoRandomStart && !queue.is_empty() {
                // dYdX: trader-id order from a pseudo-random start, reproducible from the clock,
                // the round and the liquidated account.
                let seed =
                    (self.ts as u64) ^ (u64::from(round) << 32) ^ (self.accounts[liquidated as usize].id.0 as u64);
                let start = (splitmix64(seed) % queue.len() as u64) as usize;
                queue.rotate_left(start);
            }
            self.adl_queue = Some((round, sign, queue, 0));
        }
        let scale = self.cfg.scale;
        let (_, _, queue, next) = self.adl_queue.as_mut()?;
        // Entries no longer holding the side are skipped for good; ones merely not in profit at
        // this price stay queued (another bankruptcy price this round may suit them).
        while *next < queue.len() && self.accounts[queue[*next] as usize].position.lots.signum() != sign {
            *next += 1;
        }
        let ranked = queue[*next..].iter().copied().find(|&c| {
            let pos = self.accounts[c as usize].position;
            c != liquidated && pos.lots.signum() == sign && pos.unrealized(price, scale) >= Money::ZERO
        });
        ranked.or_else(|| (self.accounts[LIQUIDITY as usize].position.lots.signum() == sign).then_some(LIQUIDITY))
    }

    /// An off-book trade: `a` trades `signed` lots at `price` with `b` (who takes the other side).
    pub(super) fn transfer(&mut self, a: u32, b: u32, signed: Qty, price: Price, kind: TradeKind) {
        if signed == 0 {
            return;
        }
        self.apply_fill(a, signed, price, Rate::ZERO);
        self.apply_fill(b, -signed, price, Rate::ZERO);
        self.tape.trades.push(TradeRecord {
            ts: self.ts,
            price,
            qty: signed.abs(),
            aggressor: if signed > 0 { Side::Buy } else { Side::Sell },
            taker: self.accounts[a as usize].id,
            maker: self.accounts[b as usize].id,
            kind,
        });
    }

    /// Insurance-fund invariant (a separate check, called from `check_invariants`): what the
    /// close-out engine did to the fund (its starting balance plus every liquidation's insurance
    /// delta) never leaves it below zero unless ADL ran (the fund's capacity was exhausted and
    /// losses were socialised, on the record) or ADL is off (the user made the fund the only
    /// backstop). Left out, as not decided by the close-out: funding on positions the fund holds
    /// (market risk, like their value moving with the mark) and a trader's own order filled past
    /// bankruptcy, which the fund covers as a recorded shortfall.
    pub(super) fn check_fund(&self) -> Result<(), String> {
        let from_close_outs: Money =
            self.cfg.insurance_fund + self.tape.liquidations.iter().map(|l| l.insurance_delta).sum::<Money>();
        if from_close_outs < Money::ZERO && self.cfg.adl && self.tape.adl.is_empty() {
            return Err(format!(
                "close-outs left the insurance fund at {:.12} (balance {:.12}) with no ADL record covering it",
                from_close_outs.to_f64(),
                self.insurance_fund().to_f64()
            ));
        }
        Ok(())
    }
}

/// A well-mixed 64-bit hash (SplitMix64 finaliser), for a reproducible pseudo-random start.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One end-to-end close-out per venue, worked by hand (sources: REFERENCE §7).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::test_fixtures::{
        account, dydx_blocks_market, eth_px, exchange, hyperliquid_cooldown_market, market, usdt, LOTS,
    };
    use crate::venue::Venue;

    /// BTC-like: tick 0.1, lot 0.001.
    fn btc_px(x: f64) -> Price {
        (x * 10.0).round() as Price
    }

    fn kinds(ex: &Exchange) -> Vec<(TradeKind, Price, Qty)> {
        ex.tape().trades.iter().map(|t| (t.kind, t.price, t.qty)).collect()
    }

    #[test]
    fn binance_sends_an_ioc_limit_at_bankruptcy_and_the_fund_takes_the_rest() {
        // REFERENCE §7: LIMIT IOC at the bankruptcy price. ETHUSDT first tier 0.4 %: short 1 ETH @
        // 3,000 with 60 → bankruptcy 3,060, trigger 3,060 / 1.004 = 3,047.81. B lifts 0.5 at 3,050:
        // the close-out buys the other 0.5 at 3,050, not the 3,070 ask beyond bankruptcy; the fund
        // takes 0.5 over at 3,060. Account: 60 − 0.5 × 50 − 0.5 × 60 = 5 left, all to the fund
        // (fee 1.25 % × 1,525 = 19.0625, then a 14.0625 shortfall: +5 net).
        let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 1000.0);
        assert_eq!(ex.config().liquidation_limit, LiquidationLimit::Bankruptcy);
        ex.add_accounts(&[account(10, 60.0, -LOTS, 3000.0), account(20, 10_000.0, 0, 0.0)]).unwrap();
        ex.add_resting_orders(&[(Side::Sell, eth_px(3050.0), LOTS, None), (Side::Sell, eth_px(3070.0), LOTS, None)])
            .unwrap();
        market(&mut ex, 20, Side::Buy, LOTS / 2);
        let (n, l, b) = (TradeKind::Normal, TradeKind::Liquidation, TradeKind::Backstop);
        assert_eq!(kinds(&ex), vec![(n, eth_px(3050.0), 500), (l, eth_px(3050.0), 500), (b, eth_px(3060.0), 500)]);
        let liq = ex.tape().liquidations[0];
        assert_eq!((liq.kind, liq.qty, liq.bankruptcy_price), (LiquidationKind::Backstop, LOTS, eth_px(3060.0)));
        assert_eq!(liq.insurance_delta, usdt(5.0));
        assert_eq!(ex.accounts()[BACKSTOP as usize].position, Position { lots: -500, cost: usdt(1530.0) });
    }

    #[test]
    fn bybit_closes_the_excess_over_the_lower_risk_limit_with_one_fill_or_kill() {
        // REFERENCE §2/§7, BTCUSDT: long 50 BTC @ 50,000 (2.5M: risk limit 2, 0.56 %, deduction
        // 1,200) with 100,000 → trigger (2.4M + 1,200 − …): 100,000 + 50 (P − 50,000) = 0.28 P − 1,200
        // → P = 48,246.18. A sale at 48,240 crosses it. Risk limit 1 (< 2M, 0.5 %): keep
        // floor(2M / 48.24) = 41,459 lots (1,999,982.16, MM 9,999.91) < margin balance 12,000, so
        // one FOK sells 8,541 lots at ≥ the bankruptcy price 48,000: filled at 48,230; the rest
        // (41.459 BTC) meets maintenance at 48,230 (11,500 > 9,997.8): partial.
        let build = |bid_lots: Qty| {
            let mut ex = exchange(Venue::Bybit, "BTCUSDT", 0.1, 0.0);
            assert_eq!(ex.config().liquidation_limit, LiquidationLimit::Bankruptcy);
            ex.add_accounts(&[account(10, 100_000.0, 50 * LOTS, 50_000.0), account(20, 10_000.0, 0, 0.0)]).unwrap();
            ex.add_resting_orders(&[
                (Side::Buy, btc_px(48_240.0), 1, None),
                (Side::Buy, btc_px(48_230.0), bid_lots, None),
            ])
            .unwrap();
            market(&mut ex, 20, Side::Sell, 1);
            ex
        };
        let ex = build(10 * LOTS);
        let liq = ex.tape().liquidations[0];
        assert_eq!((liq.kind, liq.qty, liq.avg_fill_ticks), (LiquidationKind::Partial, 8_541, btc_px(48_230.0) as f64));
        assert_eq!(ex.account(TraderId(10)).unwrap().position.lots, 41_459);
        assert_eq!(ex.insurance_fund(), Money::ZERO); // no clearance fee
                                                      // The FOK cannot fill (5 BTC of bids): the whole position is taken over at 48,000, which
                                                      // uses the 100,000 exactly; even an empty fund accepts it (worth +240 × 50 at the mark).
        let ex = build(5 * LOTS);
        let liq = ex.tape().liquidations[0];
        assert_eq!((liq.kind, liq.qty), (LiquidationKind::Backstop, 50 * LOTS));
        assert_eq!(kinds(&ex)[1], (TradeKind::Backstop, btc_px(48_000.0), 50 * LOTS));
        assert_eq!(ex.account(TraderId(10)).unwrap().wallet, Money::ZERO);
        assert_eq!(ex.insurance_fund(), Money::ZERO);
    }

    #[test]
    fn hyperliquid_slices_20_percent_then_takes_the_whole_position_during_the_cooldown() {
        // REFERENCE §7 (docs trading/liquidations). ETH (25x, MMR 2 %): short 40 ETH @ 3,000 =
        // 120,000 > 100,000 with 4,000: 4,000 + 40 (3,000 − P) = 0.8 P → trigger 3,039.22.
        // At 3,040 (margin 2,400 vs MM 2,432; vault only below 2/3 × 2,432): a 20 % slice, 8 ETH
        // bought at 3,041 → collateral 3,672, 32 ETH left, above maintenance at 3,041 (2,360 >
        // 1,946.2). At 3,060 (1,752 ≤ 1,958.4, above 1,305.6) within 30 s: the WHOLE 32 ETH at
        // 3,061. No fee; the 3,672 − 32 × 61 = 1,720 left stays with the trader.
        let mut ex = hyperliquid_cooldown_market();
        assert_eq!(ex.config().liquidation_limit, LiquidationLimit::Market);
        market(&mut ex, 20, Side::Buy, 1);
        let liq = ex.tape().liquidations.clone();
        assert_eq!((liq.len(), liq[0].kind, liq[0].qty), (1, LiquidationKind::Partial, 8 * LOTS));
        market(&mut ex, 20, Side::Buy, 1);
        let liq = ex.tape().liquidations[1];
        assert_eq!((liq.kind, liq.qty, liq.avg_fill_ticks), (LiquidationKind::Full, 32 * LOTS, eth_px(3061.0) as f64));
        assert_eq!(ex.account(TraderId(10)).unwrap().wallet, usdt(1_720.0));
        assert_eq!(ex.insurance_fund(), Money::ZERO);
    }

    #[test]
    fn hyperliquid_slices_again_once_the_cooldown_is_over() {
        // Short 50 ETH @ 3,000 with 5,000 (trigger 3,039.22 as above): the slice buys 10 ETH at 3,041
        // (collateral 4,590; 40 ETH, above maintenance: 2,950 > 2,432.8). The second crossing, at
        // 3,060 (2,190 ≤ 2,448), comes 30 s later: the window is over and 122,400 > 100,000, so 20 %
        // again: 8 ETH.
        let mut ex = exchange(Venue::Hyperliquid, "ETH", 0.01, 0.0);
        ex.add_accounts(&[account(10, 5_000.0, -50 * LOTS, 3000.0), account(20, 10_000.0, 0, 0.0)]).unwrap();
        ex.add_resting_orders(&[
            (Side::Sell, eth_px(3040.0), 1, None),
            (Side::Sell, eth_px(3041.0), 10 * LOTS, None),
            (Side::Sell, eth_px(3060.0), 1, None),
            (Side::Sell, eth_px(3061.0), 40 * LOTS, None),
        ])
        .unwrap();
        market(&mut ex, 20, Side::Buy, 1);
        ex.advance_to(30 * crate::funding::SECOND);
        market(&mut ex, 20, Side::Buy, 1);
        let liq = ex.tape().liquidations[1];
        assert_eq!((liq.kind, liq.qty), (LiquidationKind::Partial, 8 * LOTS));
    }

    #[test]
    fn hyperliquid_deleverages_an_account_with_negative_value_at_the_previous_mark() {
        // REFERENCE §7 (docs trading/auto-deleveraging). ETH: short 1 @ 3,000 with 50 (trigger
        // 3,050 / 1.02 = 2,990.20…: already crossed at 3,000? no: 50 + 3,000 − P = 0.02 P → P =
        // 2,990.196 < 3,000, so the load itself is below maintenance → use 70: P = 3,009.80).
        // Marks: 3,000, then a jump to 3,100 (value 70 − 100 = −30 < 0): ADL at the previous mark
        // 3,000 against the long (1 @ 2,900, in profit there). The 70 left at 3,000 goes to the vault,
        // as when it takes over (assumption: the docs do not say who keeps it).
        let mut ex = exchange(Venue::Hyperliquid, "ETH", 0.01, 0.0);
        ex.add_accounts(&[
            account(10, 70.0, -LOTS, 3000.0),
            account(30, 10_000.0, LOTS, 2900.0),
            account(20, 10_000.0, 0, 0.0),
        ])
        .unwrap();
        ex.add_resting_orders(&[(Side::Sell, eth_px(3000.0), 1, None), (Side::Sell, eth_px(3100.0), 1, None)]).unwrap();
        market(&mut ex, 20, Side::Buy, 1); // mark 3,000
        assert!(ex.tape().liquidations.is_empty());
        market(&mut ex, 20, Side::Buy, 1); // mark 3,100
        let adl = ex.tape().adl[0];
        assert_eq!(
            (adl.trader, adl.liquidated, adl.qty, adl.price),
            (TraderId(30), TraderId(10), LOTS, eth_px(3000.0))
        );
        assert_eq!(ex.tape().liquidations[0].kind, LiquidationKind::Adl);
        assert_eq!(ex.account(TraderId(10)).unwrap().wallet, Money::ZERO);
        assert_eq!(ex.insurance_fund(), usdt(70.0));
    }

    #[test]
    fn hyperliquid_pays_funding_on_the_oracle_price() {
        // REFERENCE §7 (docs trading/funding): the payment is on the oracle (index) price, 3,000,
        // not the mark (last trade 3,100 here).
        let mut ex = exchange(Venue::Hyperliquid, "ETH", 0.01, 0.0);
        ex.add_accounts(&[account(30, 10_000.0, LOTS, 3000.0), account(20, 10_000.0, 0, 0.0)]).unwrap();
        ex.add_resting_orders(&[(Side::Sell, eth_px(3100.0), 1, None), (Side::Buy, eth_px(2900.0), 1, None)]).unwrap();
        ex.set_index(eth_px(3000.0));
        market(&mut ex, 20, Side::Buy, 1);
        assert_eq!(ex.mark(), Some(eth_px(3100.0)));
        ex.advance_to(crate::funding::HOUR);
        assert_eq!(ex.tape().funding[0].mark, eth_px(3000.0));
        ex.check_invariants().unwrap();
    }

    #[test]
    fn dydx_closes_10_percent_per_block_at_the_fillable_price() {
        // REFERENCE §7 (x/clob/keeper/liquidations.go). ETH-USD (MMR 1.2 %): short 200 ETH @ 3,000
        // with 10,000; index (= mark) 3,020: margin balance 6,000, MM 7,248, bankruptcy 3,050.
        // Fillable price = 3,020 + 1.5 × (7,248 − 6,000) / 200 = 3,029.36. Block 1: 10 % = 20 ETH
        // (< 100,000 USDC) bought at 3,025; fee 1.5 % × 60,500 = 907.5 to the fund.
        // Block 2 (1 s later): collateral 8,592.5, mb 4,992.5, MM 6,523.2; 18 ETH at ≤ 3,020 +
        // 1.5 × 1,530.7 / 180 = 3,032.7558 → 3,032.75: filled at 3,030; fee 818.1.
        let mut ex = dydx_blocks_market();
        ex.set_index(eth_px(3020.0));
        ex.check_invariants().unwrap(); // still liquidatable, but waiting for the next block
        let liq = ex.tape().liquidations.clone();
        assert_eq!((liq.len(), liq[0].kind, liq[0].qty), (1, LiquidationKind::Partial, 20 * LOTS));
        assert_eq!(liq[0].avg_fill_ticks, eth_px(3025.0) as f64);
        assert_eq!(ex.insurance_fund(), usdt(907.5));
        ex.advance_to(crate::funding::SECOND);
        ex.check_invariants().unwrap();
        let liq = ex.tape().liquidations.clone();
        assert_eq!((liq.len(), liq[1].qty, liq[1].ts), (2, 18 * LOTS, crate::funding::SECOND));
        assert_eq!(liq[1].avg_fill_ticks, eth_px(3030.0) as f64);
        assert_eq!(ex.insurance_fund(), usdt(907.5 + 818.1));
    }

    #[test]
    fn dydx_leaves_the_surplus_after_the_fee_with_the_trader() {
        // REFERENCE §7: the fund receives min(1.5 % × notional, surplus), the trader the rest.
        // Short 0.3 ETH @ 3,000 with 30 (900 USDC < the 1,000 minimum: closed whole). Index 3,065:
        // margin balance 10.5 ≤ MM 1.2 % × 919.5 = 11.03. A stale ask at 3,040 fills it: 30 − 12 =
        // 18 left, fee 1.5 % × 912 = 13.68 to the fund, 4.32 stays with the trader.
        let mut ex = exchange(Venue::Dydx, "ETH-USD", 0.01, 0.0);
        ex.add_accounts(&[account(10, 30.0, -300, 3000.0)]).unwrap();
        ex.add_resting_orders(&[(Side::Buy, eth_px(2900.0), LOTS, None), (Side::Sell, eth_px(3040.0), LOTS, None)])
            .unwrap();
        ex.set_index(eth_px(3065.0));
        ex.check_invariants().unwrap();
        let liq = ex.tape().liquidations[0];
        assert_eq!((liq.kind, liq.qty), (LiquidationKind::Full, 300));
        assert_eq!(ex.account(TraderId(10)).unwrap().wallet, usdt(4.32));
        assert_eq!(ex.insurance_fund(), usdt(13.68));
    }

    #[test]
    fn dydx_deleverages_negative_collateral_from_a_pseudo_random_start() {
        // REFERENCE §7 (deleveraging.go): short 1 ETH @ 3,000 with 10 (bankruptcy 3,010); the index
        // jumps to 3,100: net collateral 10 − 100 < 0 → closed at 3,010 against one of the two
        // longs (both in profit there), chosen from a pseudo-random start, reproducibly.
        let run = || {
            let mut ex = exchange(Venue::Dydx, "ETH-USD", 0.01, 0.0);
            ex.add_accounts(&[
                account(10, 10.0, -LOTS, 3000.0),
                account(30, 10_000.0, LOTS, 2900.0),
                account(31, 10_000.0, LOTS, 2900.0),
            ])
            .unwrap();
            ex.set_index(eth_px(3100.0));
            ex.check_invariants().unwrap();
            ex
        };
        let ex = run();
        let adl = ex.tape().adl.clone();
        assert_eq!(adl.len(), 1);
        assert!(matches!(adl[0].trader, TraderId(30) | TraderId(31)));
        assert_eq!((adl[0].qty, adl[0].price), (LOTS, eth_px(3010.0)));
        assert_eq!(ex.tape().liquidations[0].kind, LiquidationKind::Adl);
        assert_eq!(run().tape().adl[0].trader, adl[0].trader);
    }
}
