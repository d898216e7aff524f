//! What a [`crate::multi::MultiExchange`] needs from one of its markets to run the legs of
//! multi-instrument cross accounts: their separate trigger index, the list of legs that changed,
//! setting what the other legs add to a leg's collateral, closing a leg out when the venue decides
//! to, and moving money between an account's legs or to this market's fund. A market without legs
//! never calls any of this and behaves exactly as before.

use super::*;
use crate::account::OtherLegs;

/// When [`Exchange::set_others`] recomputes the leg's trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// When `others` changed (the leg's own changes refreshed it where they happened).
    IfChanged,
    /// Always: the leg's balance moved without a refresh (the venue's transfers and fund payments).
    Always,
    /// Never: a close-out of the leg follows and recomputes it when it ends.
    Skip,
}

impl Exchange {
    /// Triggers of the legs of multi-instrument accounts (see [`Account::others`]).
    pub fn leg_index(&self) -> &TriggerIndex {
        &self.leg_index
    }

    /// Legs whose position or balance changed since the last call (may repeat a leg).
    pub(crate) fn take_dirty_legs(&mut self, out: &mut Vec<u32>) {
        out.append(&mut self.dirty_legs);
    }

    /// Set what leg `a`'s other legs add to its cross collateral; `refresh` says when to recompute
    /// its trigger (see [`Refresh`]).
    pub(crate) fn set_others(&mut self, a: u32, others: OtherLegs, refresh: Refresh) {
        debug_assert!(self.accounts[a as usize].leg, "set_others on an account that is no leg");
        let changed = self.accounts[a as usize].others != others.net();
        self.accounts[a as usize].others = others.net();
        if refresh == Refresh::Always || (refresh == Refresh::IfChanged && changed) {
            self.refresh_trigger_quietly(a);
        }
    }

    /// Take the legs whose triggers `mark` crosses out of the leg index, appending them to `out`
    /// (in [`TriggerIndex::crossed`]'s order): a venue round is about to close them out, and each
    /// close-out would otherwise remove its leg's entry on its own (see
    /// [`TriggerIndex::take_crossed`]). Their `trigger` becomes `None` (not indexed); whatever
    /// refreshes a leg meanwhile indexes it again, and [`Self::reindex_leg`] after the round
    /// indexes the rest.
    pub(crate) fn take_crossed_legs(&mut self, mark: Price, out: &mut Vec<u32>) {
        let from = out.len();
        self.leg_index.take_crossed(mark, out);
        for &a in &out[from..] {
            self.accounts[a as usize].trigger = None;
        }
    }

    /// Index leg `a` again if [`Self::take_crossed_legs`] took it out and nothing refreshed it
    /// since (a leg not indexed has `trigger == None`; recomputing gives `None` again when it has
    /// no threshold, as for a flat leg).
    pub(crate) fn reindex_leg(&mut self, a: u32) {
        if self.accounts[a as usize].trigger.is_none() {
            self.refresh_trigger_quietly(a);
        }
    }

    /// Whether leg `a` waits for its next dYdX block before another close-out.
    pub(crate) fn in_cooldown(&self, a: u32) -> bool {
        !self.cooldown_until.is_empty() && self.cooldown_until.get(&a).is_some_and(|&t| t > self.ts)
    }

    /// Close out leg `a` at the current mark per this market's policy, recorded in `round` (a
    /// round of the venue's cascade). Returns false when there is no mark to do it at. The leg is
    /// not reported as changed: the venue refreshes its whole account afterwards.
    pub(crate) fn liquidate_leg(&mut self, a: u32, round: u32) -> bool {
        self.refresh_mark();
        let Some(mark) = self.mark else {
            self.refresh_trigger_quietly(a);
            return false;
        };
        // The ADL ranking is cached per round of this market's own cascade; the venue's round
        // numbers are another sequence, so rank afresh.
        self.adl_queue = None;
        self.quiet_leg = Some(a);
        self.liquidate(a, mark, round);
        self.quiet_leg = None;
        self.max_round = self.max_round.max(round);
        true
    }

    /// Move `amount` into (negative: out of) leg `a`'s wallet from another market of the venue:
    /// this market's deposits move with it, so its own conservation check still holds. The leg's
    /// trigger is left to the venue (it refreshes every leg of the account after settling).
    pub(crate) fn move_money(&mut self, a: u32, amount: Money) {
        self.accounts[a as usize].wallet += amount;
        self.deposits += amount;
    }

    /// Pay `amount` from leg `a` to this market's insurance fund (negative: the fund covers a
    /// hole), on the fund's record; `on_liquidation`: also count it in the insurance delta of the
    /// last liquidation record (the close-out of this leg that caused it).
    pub(crate) fn pay_fund_for_leg(&mut self, a: u32, amount: Money, reason: InsuranceReason, on_liquidation: bool) {
        self.pay_fund(a, amount, reason);
        if on_liquidation {
            let id = self.accounts[a as usize].id;
            if let Some(last) = self.tape.liquidations.last_mut().filter(|l| l.trader == id) {
                last.insurance_delta += amount;
            }
        }
    }

    /// Make account `a` a leg (a snapshot's load: `others` is not in snapshots): its trigger moves
    /// from the market's own index to the leg index, `others` starts at zero until the venue sets
    /// it. `Err` when `a` is no account of this market or a leg already.
    pub(crate) fn make_leg(&mut self, a: u32) -> Result<(), String> {
        let acct = self.accounts.get_mut(a as usize).ok_or("a leg is no account of its market")?;
        if acct.leg || acct.exempt || acct.mode != crate::account::MarginMode::Cross {
            return Err(format!("trader {} cannot be a leg (listed twice, exempt or isolated)", acct.id.0));
        }
        acct.leg = true;
        acct.others = Money::ZERO;
        let t = acct.trigger;
        self.index.update(a, t, None);
        self.leg_index.update(a, None, t);
        Ok(())
    }

    /// Move the clock to `t` (not before where it is) without taking samples: a market of a venue
    /// keeps the venue's time when it has no event of its own then. The caller runs the cascade.
    pub(crate) fn set_clock(&mut self, t: Ts) {
        self.ts = self.ts.max(t);
    }

    /// The mark at time `t` with nothing else changed (the clock is left where it was).
    pub(crate) fn mark_at(&mut self, t: Ts) -> Option<Price> {
        let now = self.ts;
        self.ts = t;
        let mark = self.compute_mark();
        self.ts = now;
        mark
    }

    /// Whether this market's own cascade (its accounts of one instrument) would act at time `t`
    /// with nothing else changed (the clock is left where it was).
    pub(crate) fn own_cascade_would_act_at(&mut self, t: Ts) -> bool {
        let now = self.ts;
        let acts = self.cascade_would_act_at(t);
        self.ts = now;
        acts
    }

    /// Set the index price and recompute the mark without running the cascade (tests of the
    /// venue's index move marks without acting on them).
    #[cfg(test)]
    pub(crate) fn set_index_quietly(&mut self, price: Price) {
        self.index_price = Some(price);
        self.refresh_mark();
    }
}
