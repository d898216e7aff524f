//! The exchange's serialized form (the header and format are in [`crate::snapshot`]).
//!
//! Everything that decides what the exchange does next is written; what can be derived is rebuilt
//! on load: the id → account map (from the accounts), the trigger index (from each account's stored
//! trigger), the open-order bookkeeping's hash maps and positions (from each account's order list,
//! kept in its own order because a close-out cancels in that order), and the scratch event buffer.
//! Hash maps are written as lists in key order, so the bytes do not depend on hashing.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::orders::OpenOrders;
use super::{validate_money_parameters, Exchange, ExchangeConfig, Tape, BACKSTOP_ID, LIQUIDITY_ID};
use crate::account::Account;
use crate::book::{Event, OrderBook};
use crate::funding::{BasisAverager, FundingAccumulator};
use crate::liquidation::TriggerIndex;
use crate::margin::Rate;
use crate::stops::StopBook;
use crate::types::{Money, OrderId, Price, Qty, Side, Ts};
use crate::venue::CloseOut;

/// An account's resting orders: (account, [(id, side, lots, reduce-only)]).
type OrderList = (u32, Vec<(OrderId, Side, Qty, bool)>);

/// The state of an [`Exchange`], borrowed to write it and owned when read back.
#[derive(Serialize, Deserialize)]
pub(crate) struct ExchangeState<'a> {
    pub(crate) cfg: Cow<'a, ExchangeConfig>,
    pub(crate) book: Cow<'a, OrderBook>,
    pub(crate) accounts: Cow<'a, [Account]>,
    pub(crate) open_orders: Vec<OrderList>,
    pub(crate) stops: Cow<'a, StopBook>,
    pub(crate) open_interest: Qty,
    pub(crate) cooldown_until: Vec<(u32, Ts)>,
    pub(crate) whole_position_until: Vec<(u32, Ts)>,
    pub(crate) previous_mark: Option<Price>,
    pub(crate) fees: Money,
    pub(crate) deposits: Money,
    pub(crate) ts: Ts,
    pub(crate) last: Option<Price>,
    pub(crate) last_for_mark: Option<Price>,
    pub(crate) index_price: Option<Price>,
    pub(crate) mark: Option<Price>,
    pub(crate) basis: Cow<'a, BasisAverager>,
    pub(crate) premiums: Cow<'a, FundingAccumulator>,
    pub(crate) last_funding_rate: Rate,
    pub(crate) next_basis_sample: Ts,
    pub(crate) next_premium_sample: Ts,
    pub(crate) next_settlement: Ts,
    pub(crate) tape: Cow<'a, Tape>,
    pub(crate) rounds_in_last_cascade: u32,
    pub(crate) max_round: u32,
    pub(crate) adl_queue: Cow<'a, Option<(u32, i64, Vec<u32>, usize)>>,
    pub(crate) liquidating: Option<u32>,
}

/// A hash map's entries in key order.
fn sorted(map: &HashMap<u32, Ts>) -> Vec<(u32, Ts)> {
    let mut entries: Vec<(u32, Ts)> = map.iter().map(|(&k, &v)| (k, v)).collect();
    entries.sort_unstable();
    entries
}

impl Exchange {
    pub(crate) fn snapshot_state(&self) -> ExchangeState<'_> {
        ExchangeState {
            cfg: Cow::Borrowed(&self.cfg),
            book: Cow::Borrowed(&self.book),
            accounts: Cow::Borrowed(&self.accounts),
            open_orders: self.open_orders.lists(),
            stops: Cow::Borrowed(&self.stops),
            open_interest: self.open_interest,
            cooldown_until: sorted(&self.cooldown_until),
            whole_position_until: sorted(&self.whole_position_until),
            previous_mark: self.previous_mark,
            fees: self.fees,
            deposits: self.deposits,
            ts: self.ts,
            last: self.last,
            last_for_mark: self.last_for_mark,
            index_price: self.index_price,
            mark: self.mark,
            basis: Cow::Borrowed(&self.basis),
            premiums: Cow::Borrowed(&self.premiums),
            last_funding_rate: self.last_funding_rate,
            next_basis_sample: self.next_basis_sample,
            next_premium_sample: self.next_premium_sample,
            next_settlement: self.next_settlement,
            tape: Cow::Borrowed(&self.tape),
            rounds_in_last_cascade: self.rounds_in_last_cascade,
            max_round: self.max_round,
            adl_queue: Cow::Borrowed(&self.adl_queue),
            liquidating: self.liquidating,
        }
    }

    /// The exchange of a decoded state, with its derived parts rebuilt, after checking that the
    /// state is one an exchange can be in (so that nothing indexes out of range later).
    pub(crate) fn from_snapshot_state(s: ExchangeState<'_>) -> Result<Exchange, String> {
        let cfg = s.cfg.into_owned();
        cfg.preset.funding.validate().map_err(|e| e.to_string())?;
        validate_money_parameters(&cfg).map_err(|e| e.to_string())?;
        if s.basis.window() != cfg.mark_rule.basis_window() {
            return Err(format!("basis window {} does not fit the mark rule", s.basis.window()));
        }
        // The one ratio the engine divides by (dYdX's fillable price).
        if let CloseOut::PerBlock { spread_to_maintenance: r, .. } = cfg.preset.liquidation.close_out {
            if r.den <= 0 {
                return Err(format!("close-out spread ratio {}/{} has no positive denominator", r.num, r.den));
            }
        }
        if !s.premiums.is_consistent() {
            return Err("funding accumulator has a negative sample count".into());
        }
        let accounts = s.accounts.into_owned();
        let n = accounts.len();
        if n < 2 || accounts[0].id != BACKSTOP_ID || accounts[1].id != LIQUIDITY_ID || n > u32::MAX as usize {
            return Err("the backstop and liquidity accounts are missing".into());
        }
        // Initial margin divides by the leverage.
        if let Some(a) = accounts.iter().find(|a| a.leverage == 0) {
            return Err(format!("trader {} has leverage 0", a.id));
        }
        let in_range = |a: u32| (a as usize) < n;
        let mut by_id: Vec<(i64, u32)> = accounts.iter().enumerate().map(|(i, a)| (a.id.0, i as u32)).collect();
        by_id.sort_unstable();
        if by_id.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err("two accounts share a trader id".into());
        }
        let index = TriggerIndex::from_entries(
            accounts.iter().enumerate().filter_map(|(i, a)| a.trigger.map(|t| (i as u32, t))),
        );
        let book = s.book.into_owned();
        if s.open_orders.iter().any(|(a, _)| !in_range(*a)) {
            return Err("a resting order belongs to no account".into());
        }
        let open_orders = OpenOrders::from_lists(&s.open_orders).ok_or("an order id is listed twice")?;
        // Every resting order is an account's, with the same side and size on both sides.
        if open_orders.len() != book.open_orders() {
            return Err(format!(
                "{} resting orders in the book, {} in the accounts",
                book.open_orders(),
                open_orders.len()
            ));
        }
        for side in [Side::Buy, Side::Sell] {
            for o in book.orders(side) {
                let owner = open_orders.owner(o.id);
                if owner.map(i64::from) != Some(o.owner.0) || open_orders.side_and_qty(o.id) != Some((o.side, o.qty)) {
                    return Err(format!("resting order {} does not match its account's records", o.id));
                }
            }
        }
        let stops = s.stops.into_owned();
        if stops.iter().any(|o| !in_range(o.owner)) {
            return Err("a stop order belongs to no account".into());
        }
        let adl_queue = s.adl_queue.into_owned();
        let queue_ok =
            adl_queue.as_ref().is_none_or(|(_, _, q, next)| *next <= q.len() && q.iter().all(|&a| in_range(a)));
        let keys_ok = s.cooldown_until.iter().chain(&s.whole_position_until).all(|&(a, _)| in_range(a));
        if !queue_ok || !keys_ok || !s.liquidating.is_none_or(in_range) {
            return Err("an account index is out of range".into());
        }
        let ex = Exchange {
            cfg,
            book,
            accounts,
            by_id,
            index,
            open_orders,
            stops,
            open_interest: s.open_interest,
            cooldown_until: s.cooldown_until.into_iter().collect(),
            whole_position_until: s.whole_position_until.into_iter().collect(),
            previous_mark: s.previous_mark,
            fees: s.fees,
            deposits: s.deposits,
            ts: s.ts,
            last: s.last,
            last_for_mark: s.last_for_mark,
            index_price: s.index_price,
            mark: s.mark,
            basis: s.basis.into_owned(),
            premiums: s.premiums.into_owned(),
            last_funding_rate: s.last_funding_rate,
            next_basis_sample: s.next_basis_sample,
            next_premium_sample: s.next_premium_sample,
            next_settlement: s.next_settlement,
            events: Vec::<Event>::new(),
            tape: s.tape.into_owned(),
            rounds_in_last_cascade: s.rounds_in_last_cascade,
            max_round: s.max_round,
            adl_queue,
            liquidating: s.liquidating,
            // Only the instruments of a MultiExchange hold legs, and those are never snapshotted.
            leg_index: TriggerIndex::new(),
            dirty_legs: Vec::new(),
            quiet_leg: None,
        };
        // The conservation laws: positions net to zero, open interest is the longs, and money adds
        // up to the deposits.
        let net: i128 = ex.accounts.iter().map(|a| i128::from(a.position.lots)).sum();
        let longs: i128 = ex.accounts.iter().map(|a| i128::from(a.position.lots.max(0))).sum();
        if net != 0 || longs != i128::from(ex.open_interest) {
            return Err(format!(
                "positions sum to {net} lots and longs to {longs}, open interest {}",
                ex.open_interest
            ));
        }
        if ex.checked_money_total() != Some(ex.deposits) {
            return Err("money does not add up to the deposits".into());
        }
        Ok(ex)
    }
}
