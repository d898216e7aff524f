//! Close-out: what happens to an account once the mark crosses its trigger. The liquidation order
//! (or slices of it), the backstop that takes what the book cannot absorb, and auto-deleveraging.

use super::*;

impl Exchange {
    /// Close out one account (steps per the venue's policy), charging the liquidation fee, and
    /// hand what the book cannot absorb to the backstop or to ADL.
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
        let (mut book_filled, mut book_notional) = (0i64, 0i128);
        let mut kind = LiquidationKind::Full;

        let vault_takes_all = match policy.backstop {
            Backstop::LiquidatorVault { below_maintenance: r } => {
                let acct = &self.accounts[a as usize];
                let mb = acct.margin_balance(mark, scale).0;
                let mm = acct.maintenance_margin(mark, scale, &self.cfg.preset.tiers).0;
                mb * (r.den as i128) < mm * (r.num as i128)
            }
            Backstop::InsuranceFund => false,
        };
        if vault_takes_all {
            self.transfer(a, BACKSTOP, -start.lots, mark, TradeKind::Backstop);
            kind = LiquidationKind::Backstop;
        } else {
            loop {
                let pos = self.accounts[a as usize].position;
                if pos.is_flat() {
                    break;
                }
                let step = self.step_size(a, mark);
                let close_side = if pos.lots > 0 { Side::Sell } else { Side::Buy };
                let bounded =
                    self.cfg.liquidation_limit == LiquidationLimit::Bankruptcy || self.insurance_fund() <= Money::ZERO;
                let mut order = NewOrder::market(close_side, step).with_owner(a as i64);
                if bounded {
                    order = order.with_protection(bankruptcy);
                }
                self.events.clear();
                self.book.submit(order, &mut self.events);
                let (filled, notional) = self.settle_events(TradeKind::Liquidation, Some(a));
                book_filled += filled;
                book_notional += notional;
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
                let unfilled = step - filled;
                if unfilled > 0 {
                    kind = self.backstop(a, unfilled, bankruptcy, round);
                }
                let now = self.mark_after_fills().unwrap_or(mark);
                let acct = &self.accounts[a as usize];
                if acct.position.is_flat() {
                    break;
                }
                if let CloseOut::Slices { cooldown, .. } = policy.close_out {
                    self.cooldown_until.insert(a, self.ts + cooldown);
                    kind = LiquidationKind::Partial;
                    break;
                }
                if !acct.liquidatable(now, scale, &self.cfg.preset.tiers) {
                    kind = LiquidationKind::Partial;
                    break;
                }
            }
        }
        // A fully closed account: what is left of the position's collateral goes to the fund, a
        // hole is covered by it (for an isolated position: its isolated margin only).
        self.liquidating = None;
        if self.accounts[a as usize].position.is_flat() {
            let left = self.accounts[a as usize].collateral();
            self.accounts[a as usize].release_isolated_if_flat();
            let reason = if left.0 >= 0 { InsuranceReason::Surplus } else { InsuranceReason::Shortfall };
            self.pay_fund(a, left, reason);
            self.settle_if_flat(a);
            self.cooldown_until.remove(&a);
        }
        self.refresh_trigger(a);
        let end = self.accounts[a as usize].position;
        self.tape.liquidations.push(LiquidationRecord {
            ts: self.ts,
            trader,
            side: if start.lots > 0 { Side::Buy } else { Side::Sell },
            qty: start.lots.abs() - end.lots.abs(),
            mark,
            avg_fill_ticks: if book_filled > 0 { book_notional as f64 / book_filled as f64 } else { f64::NAN },
            bankruptcy_price: bankruptcy,
            insurance_delta: self.insurance_fund() - fund_before,
            kind,
            round,
        });
    }

    pub(super) fn mark_after_fills(&mut self) -> Option<Price> {
        if self.cfg.closeouts_move_mark {
            self.mark = self.compute_mark();
        }
        self.mark
    }

    /// Lots the next close-out order should take.
    pub(super) fn step_size(&self, a: u32, mark: Price) -> Qty {
        let scale = self.cfg.scale;
        let pos = self.accounts[a as usize].position;
        let lots = pos.lots.abs();
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
                let per_lot = mark as i128 * scale.money_per_tick_lot();
                let keep = (floor / per_lot.max(1)) as i64;
                (lots - keep.min(lots - 1)).max(1)
            }
            CloseOut::Slices { fraction, above_notional, .. } => {
                if pos.notional(mark, scale) <= above_notional {
                    lots
                } else {
                    let slice = (lots as i128 * fraction.0 as i128 + RATE_SCALE as i128 - 1) / RATE_SCALE as i128;
                    (slice as i64).clamp(1, lots)
                }
            }
        }
    }

    /// What the book could not take: the insurance fund takes it over at the bankruptcy price, or,
    /// when the fund is empty and ADL is on, profitable opposite positions are closed against it.
    pub(super) fn backstop(&mut self, a: u32, lots: Qty, bankruptcy: Price, round: u32) -> LiquidationKind {
        let pos = self.accounts[a as usize].position.lots;
        let signed_close = -pos.signum() * lots; // what `a` trades to reduce
        let fund_can_take = self.insurance_fund() > Money::ZERO
            || matches!(self.cfg.preset.liquidation.backstop, Backstop::LiquidatorVault { .. });
        if fund_can_take || !self.cfg.adl {
            self.transfer(a, BACKSTOP, signed_close, bankruptcy, TradeKind::Backstop);
            return LiquidationKind::Backstop;
        }
        let mut remaining = lots;
        let counter_sign = -pos.signum(); // counterparties hold the opposite position
        while remaining > 0 {
            let Some(c) = self.next_adl_counterparty(counter_sign, round, a, bankruptcy) else { break };
            let their = self.accounts[c as usize].position.lots.abs();
            let q = remaining.min(their);
            self.transfer(a, c, -pos.signum() * q, bankruptcy, TradeKind::Adl);
            self.tape.adl.push(AdlRecord {
                ts: self.ts,
                trader: self.accounts[c as usize].id,
                liquidated: self.accounts[a as usize].id,
                side: if counter_sign > 0 { Side::Buy } else { Side::Sell },
                qty: q,
                price: bankruptcy,
                round,
            });
            remaining -= q;
        }
        if remaining > 0 {
            // Nobody left to deleverage: the fund takes the rest, whatever its balance.
            self.transfer(a, BACKSTOP, -pos.signum() * remaining, bankruptcy, TradeKind::Backstop);
            return LiquidationKind::Backstop;
        }
        LiquidationKind::Adl
    }

    /// The best-ranked account still holding a position of `sign` that is in profit at the ADL
    /// `price` (so being closed there never costs it money), ranking once per round.
    pub(super) fn next_adl_counterparty(&mut self, sign: i64, round: u32, liquidated: u32, price: Price) -> Option<u32> {
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
            self.adl_queue = Some((round, sign, ranked.into_iter().map(|t| t.2).collect(), 0));
        }
        let scale = self.cfg.scale;
        let (_, _, queue, next) = self.adl_queue.as_mut()?;
        // Entries no longer holding the side are skipped for good; ones merely not in profit at
        // this price stay queued (another bankruptcy price this round may suit them).
        while *next < queue.len() && self.accounts[queue[*next] as usize].position.lots.signum() != sign {
            *next += 1;
        }
        queue[*next..].iter().copied().find(|&c| {
            let pos = self.accounts[c as usize].position;
            c != liquidated && pos.lots.signum() == sign && pos.unrealized(price, scale) > Money::ZERO
        })
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
}
