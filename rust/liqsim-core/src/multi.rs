//! Several perpetuals in one venue, sharing cross margin (issue 14).
//!
//! # Design: composition
//!
//! A [`MultiExchange`] holds one [`Exchange`] per instrument (its own book, tick/lot, tiers, mark
//! and index, funding schedule, insurance fund), so the single-instrument engine and its tests stay
//! as they are. Trader ids are shared: a trader loaded into several instruments in one
//! [`MultiExchange::add_accounts`] call is one *multi* cross account, with one *leg* (an
//! [`Account`] row) in each of those instruments. Accounts of one instrument (cross or isolated)
//! behave exactly as in a lone [`Exchange`].
//!
//! **Money.** Each leg keeps its realised PnL, fees and funding in its own sub-wallet (the leg's
//! `wallet`, in its market's books); the account's wallet is the sum ([`MultiExchange::wallet`]).
//! Sub-wallets may be negative: the other legs back them.
//!
//! **Coupling, through the one collateral path.** The venue computes for each leg its
//! [`OtherLegs`]: Σ over the account's other legs of sub-wallet + unrealised PnL at their marks
//! (`equity`) and of their maintenance margin (`maintenance`); the leg carries their difference
//! (`Account::others`, [`OtherLegs::net`]: one sum, to keep every account at 128 bytes), added to
//! its cross collateral ([`Account::collateral`]). Then the leg's margin balance + equity − maintenance − its own MM is
//! the account's `WB + ΣUPNL − ΣMM`: the leg is liquidatable exactly when the account is, its
//! trigger price is Binance's cross liquidation price with `TMM1`/`UPNL1` (REFERENCE §1) to the
//! tick, its bankruptcy price is the same formula with MMR = cum = 0 (as REFERENCE states it, the
//! other contracts' maintenance margin stays in: closing a leg there leaves the account the margin
//! its other legs need), and order margin checks see the whole account (the other legs count with
//! their equity less their maintenance margin).
//!
//! **The index (exact).** A leg's trigger sits in its market's *leg index*
//! ([`Exchange::leg_index`]), apart from the market's own index, so a market's cascade never closes
//! a leg on its own. A leg's `others` goes stale when another leg's mark, position or sub-wallet
//! changes. Positions and balances: the markets report every leg that changed, and the venue
//! refreshes those accounts (all their legs' `others` and trigger entries) after every action.
//! Marks: a leg's trigger does not depend on its own instrument's mark, so when one instrument's
//! mark moves its own leg index stays exact, and only the *other* legs of the accounts holding it
//! go stale. The venue lets one instrument lag like that (the union of the leg indexes' answers,
//! each account checked exactly before a close-out, is then still the brute-force set: see
//! `sync_instrument`), and once a second instrument's mark has moved too it syncs both (every
//! moved instrument), so none lags after it. Syncing refreshes only accounts with two or more
//! open legs (only their triggers read another instrument's mark; a flat leg has no trigger) and
//! that are *watched* (see "Bands": safe accounts are skipped). A mark that moved and came back
//! still counts as moved: legs may have been set in between. Accounts of one instrument cost
//! nothing extra. Property test against brute force:
//! `index_equals_brute_force_under_random_marks_and_fills` (bands of 0.1 %, 1 % and 10 %, moves
//! inside and across them).
//!
//! **Bands (why a sync visits only some accounts).** Each instrument `j` has a band
//! `[c_j − h_j, c_j + h_j]`, `h_j = c_j × 1 %` (`BAND_BP`), centred at its mark when the band was
//! last set. For a multi account whose legs are exact, the venue can compute its smallest
//! `equity − maintenance` over the whole box of marks the bands span: each leg's value
//! depends on its own mark only and is concave in it (PnL linear, the tiered maintenance margin
//! convex in the notional: MMR rises with the tier, cum keeps it continuous), so the minimum is
//! the sum of each leg's smaller value at its band's ends (`worst_in_bands`). An account with two
//! or more open legs whose minimum is above a cushion of a few money units per leg (rounding) is
//! *safe*; the others with two or more open legs are *watched*.
//! **Invariant:** a safe account's certificate was computed with its current positions and
//! sub-wallets and the current bands, and every mark is inside its band whenever the leg indexes
//! are asked; so a safe account is not liquidatable, and its legs may lag any mark move inside the
//! bands. Its stale triggers never hide anything (there is nothing to find) and never report it
//! either: a stale trigger of leg `k` was computed with the other marks inside the box, where the
//! account's value is above zero at every mark of `k`'s band, so it lies outside that band, and
//! `k`'s mark is inside. The watched accounts follow the rules above (exact up to the one lagging
//! instrument), so the union of the indexes' answers is still the brute-force set
//! (`check_invariants` verifies each safe account's certificate afresh). What keeps it so: an
//! account whose legs change (its fills, funding, close-outs, transfers: the markets report them)
//! is refreshed and classified again before the indexes are asked; a mark that
//! leaves its band (checked at every `refresh`, which runs before every question to the indexes)
//! re-centres that band at the mark and voids every certificate: each safe account becomes
//! watched and pending without a refresh when its legs lag at most one instrument's mark (which
//! then counts as lagging, so the usual rule keeps the indexes exact: with a second instrument
//! moved, both are synced), and is refreshed at once when they lag two or more
//! (`recentre_lazily`; which marks an account's legs lag: a version counter of the marks the venue
//! has seen change, against the version its legs were set at). Test:
//! `a_band_exit_refreshes_a_safe_account_whose_legs_lag_two_marks`.
//! **Cost per mark move:** inside the bands, a range query while one instrument moves, and
//! O(watched accounts × legs × (trigger search + log n)) once two have moved (the sync), whatever
//! the number of safe accounts; a band exit, a pass over every multi account (a flag and a version
//! check each), and then, when the cascade ends, a refresh and certificate for each account still
//! open in two or more instruments (about 0.7 µs per account), once per move of 1 % of the mark.
//! Why 1 %: a re-centre costs a pass over every multi account,
//! so the band should hold an hour's ordinary noise (in the busy hour of `benches/sim_venue.rs`
//! both marks stay inside their first 1 % band: counted, no re-centre after the first marks),
//! while a wider band makes more accounts watched (the worst corner of a hedged pair loses about
//! 2 × band × notional; 10× accounts have about 9.5 % of notional above maintenance), and a
//! narrower one re-centres more often. Measured: `benches/sim_venue.rs` (`cross_N`).
//!
//! **Liquidation order.** Neither Binance's USDⓈ-M liquidation pages nor Bybit's "Liquidation
//! Process (Unified Trading Account)" (bybit.com/en/help-center/article/UTA-Trading-Rules, searched
//! 2026-11) say which position of a cross account with several is closed first: Bybit's page gives
//! the account-level trigger (MMR 100 %) and the per-contract laddered steps only. So, an
//! **assumption** for every preset: the open leg with the **largest maintenance margin** at its
//! mark first (ties: instrument order), each through its own market's close-out policy, the
//! account re-checked after each leg, until it is back above maintenance or flat.
//!
//! **Settling money across legs.** After a leg's close-out (or any fill) leaves a flat leg's
//! sub-wallet negative, the hole is first drawn from the account's positive sub-wallets in its
//! other legs (an internal transfer: both markets' deposits move, recorded in
//! [`MultiExchange::transfers`]). Only once the whole account is flat does a remaining hole go to
//! the insurance fund of the instrument whose leg holds it, and, when a liquidation made it flat
//! and that market's policy sends the remainder to the fund (Binance, Bybit), what is left goes to
//! the funds of the legs holding it.
//!
//! **Snapshots.** [`MultiExchange::to_snapshot`] / [`MultiExchange::from_snapshot`] (pickling
//! in Python): every market's state and the accounts' legs; `others`, triggers and the venue's
//! maps are rebuilt on load (`multi/snapshot.rs`).
//!
//! **Time.** [`MultiExchange::advance_to`] steps every market together through their samples and
//! settlements with the venue's cascade after each step, jumping idle stretches only up to the
//! first second at which anything (a market's own account or a multi account, tested at the
//! worst corner of the marks' range over the stretch) could be liquidated: the close-outs happen
//! when one-second steps would make them (test: `advance_to_liquidates_when_stepping_second_by_second_would`).
//!
//! **The cascade.** A venue round runs each market's own cascade, refreshes the legs, asks every
//! leg index which accounts the marks cross, and closes those accounts out (deepest under water
//! first: margin balance / maintenance, then trader id). Their fills move marks, so the loop goes
//! on until no instrument has work: a BTC squeeze's losses push a cross account under maintenance
//! and close its ETH short with ETH not moving.
//!
//! **Limits of v1.** Multi accounts are cross (a trader loaded into several instruments with an
//! isolated row is refused); a trader is multi or not from its first load on. Before an
//! instrument has a mark, its legs count at cost (no PnL, maintenance on the entry notional).
//! The per-leg close-outs of venues
//! whose policy looks at the account's value (Hyperliquid's vault below 2/3 of maintenance,
//! negative-value ADL; dYdX deleveraging) see the leg's collateral, which counts the other legs'
//! maintenance margin against it. A market's ADL ranking reads its legs' margin balances as they
//! stand, which may lag the one lazy instrument's mark, and a safe account's every mark inside
//! the bands (ranking only: who is deleveraged first).
//!
//! **Cost.** The two-instrument cascade of `benches/multi.rs` (n accounts, 2n positions): figures
//! in the README's performance table. What the venue keeps per account is in one 64-byte
//! `MultiAccount` (legs inline): one cache line per account, not one per array. A sync leaves
//! nothing lagging, and a band exit demotes the safe accounts instead of refreshing them all (the
//! cascade closes most out). A round takes the crossed legs out of their leg indexes in one split
//! of the tree (`Exchange::take_crossed_legs`) instead of each close-out searching for its entry,
//! and asks the processor for the rows of the accounts a few close-outs ahead
//! (`crate::prefetch`): deepest first visits the accounts in no order of their own (in that
//! cascade's ETH round the BTC close-outs at bankruptcy leave every ETH leg at its maintenance
//! margin, so rounding decides the order). The figures of an account are computed afresh by its
//! close-out rather than kept from the round's order: keeping them cost more in cache misses
//! than the arithmetic. What a venue round still does per account that one market does not: the
//! figures of every leg three times (order, close-out, after it), money settled across the legs,
//! and the surviving leg's trigger recomputed and re-keyed.

use std::collections::HashMap;

use crate::account::{Account, MarginMode, OtherLegs};
use crate::book::Outcome;
use crate::error::Error;
use crate::exchange::{
    AccountRow, Exchange, ExchangeConfig, InsuranceReason, OrderReject, OrderRequest, Refresh, RestingOrder,
    StopRequest, SubmitResult,
};
use crate::prefetch::prefetch;
use crate::types::{wide_to_f64, Money, OrderId, Price, TraderId, Ts};
use crate::venue::Remainder;

/// An instrument of a [`MultiExchange`], by position in its list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct InstrumentId(pub u32);

/// Money moved between two legs of one account (the hole of a flat leg filled from another).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransferRecord {
    pub ts: Ts,
    pub trader: TraderId,
    pub from: InstrumentId,
    pub to: InstrumentId,
    pub amount: Money,
}

/// One perpetual of the venue.
#[derive(Clone, Debug)]
pub struct Instrument {
    pub symbol: String,
    exchange: Exchange,
}

impl Instrument {
    pub fn exchange(&self) -> &Exchange {
        &self.exchange
    }
}

/// A cross account with legs in several instruments, and all the venue keeps about it, in one
/// place: a cascade visits accounts in no order of their own (see "Cost"), and every separate
/// per-account array a close-out reads or writes was one more cache miss.
#[derive(Clone, Debug)]
#[repr(align(64))]
struct MultiAccount {
    id: TraderId,
    legs: Legs,
    /// The `version` of the marks its legs were last set at: its legs lag instrument `k`'s mark
    /// iff `changed_at[k] > set_at`.
    set_at: u64,
    /// How many of its legs were open when its legs were last set (only an account with two or
    /// more open legs has a trigger that depends on another instrument's mark).
    open_legs: u32,
    /// Its position in `watch`, or `NONE`.
    watch_at: u32,
    /// Scratch: a generation stamp, for de-duplicating without a set.
    stamp: u32,
    /// *Safe*: its `equity − maintenance` stays above [`SAFE_CUSHION`] per leg over the whole box
    /// of marks the bands span (with its current positions and sub-wallets), and it has two or
    /// more open legs. A safe account's legs may lag every mark inside the bands.
    safe: bool,
    /// Demoted at a band exit and not classified since: watched until
    /// [`MultiExchange::classify_pending`] or a refresh classifies it (see "Bands").
    unclassified: bool,
}

// One cache line (the point of keeping it all here): a field that does not fit fails the build.
const _: () = assert!(std::mem::size_of::<MultiAccount>() == 64);

impl MultiAccount {
    fn new(id: TraderId, legs: &[(u32, u32)]) -> MultiAccount {
        MultiAccount {
            id,
            legs: Legs::new(legs),
            set_at: 0,
            open_legs: 0,
            watch_at: NONE,
            stamp: 0,
            safe: false,
            unclassified: false,
        }
    }
}

/// An account's legs, (instrument, dense index in its market) by instrument: up to three inline,
/// in the account's own cache line (no pointer to chase per close-out), more on the heap.
#[derive(Clone, Debug)]
enum Legs {
    Inline(u8, [(u32, u32); 3]),
    Heap(Vec<(u32, u32)>),
}

impl Legs {
    fn new(legs: &[(u32, u32)]) -> Legs {
        if legs.len() <= 3 {
            let mut inline = [(0, 0); 3];
            inline[..legs.len()].copy_from_slice(legs);
            Legs::Inline(legs.len() as u8, inline)
        } else {
            Legs::Heap(legs.to_vec())
        }
    }
}

impl<'a> IntoIterator for &'a Legs {
    type Item = &'a (u32, u32);
    type IntoIter = std::slice::Iter<'a, (u32, u32)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::ops::Deref for Legs {
    type Target = [(u32, u32)];
    fn deref(&self) -> &[(u32, u32)] {
        match self {
            Legs::Inline(n, legs) => &legs[..*n as usize],
            Legs::Heap(legs) => legs,
        }
    }
}

/// One leg of an account at the current marks.
#[derive(Clone, Copy, Debug)]
struct Figure {
    k: u32,
    dense: u32,
    /// Sub-wallet + unrealised PnL.
    equity: Money,
    maintenance: Money,
    /// Open, in an instrument with a mark.
    open: bool,
    /// Open (with or without a mark).
    held: bool,
}

/// No multi account (in `leg_owner`), not watched (in `watch_at`).
const NONE: u32 = u32::MAX;

/// Default half-width of the bands, in basis points of the centre: 1 % (why: module docs,
/// "Bands").
const BAND_BP: i64 = 100;

/// Margin kept above zero, in money units per leg, before an account counts as safe: the tiered
/// maintenance margin and the unrealised PnL are rounded to money units, so `equity − maintenance`
/// is concave in a leg's mark only up to a unit or two of rounding; the worst corner must clear
/// that too.
const SAFE_CUSHION: i128 = 4;

/// Several perpetual markets sharing cross-margin accounts (see the module docs).
#[derive(Clone, Debug)]
pub struct MultiExchange {
    instruments: Vec<Instrument>,
    accounts: Vec<MultiAccount>,
    by_id: HashMap<i64, u32>,
    /// Per instrument: dense account index in its market → multi account (`NONE` otherwise).
    leg_owner: Vec<Vec<u32>>,
    /// Per instrument: the multi accounts with a leg there (account, dense index of the leg),
    /// ascending.
    holders: Vec<Vec<(u32, u32)>>,
    /// Per instrument: the mark the legs were last refreshed at.
    marks_seen: Vec<Option<Price>>,
    /// Per instrument: some leg was set at a mark other than `marks_seen` (a mark that moved and
    /// came back still leaves the legs set in between computed at the other one).
    lagging: Vec<bool>,
    /// Half-width of every instrument's band, in basis points of its centre (see "Bands" in the
    /// module docs).
    band_bp: i64,
    /// Per instrument: the centre of its band, the mark when the band was last set (`None`: not
    /// set yet; the next [`Self::refresh`] sets it).
    centre: Vec<Option<Price>>,
    /// The multi accounts with two or more open legs that are not safe (*watched*: synced on
    /// every mark move as before bands), in no particular order.
    watch: Vec<u32>,
    /// Scratch: the watched accounts a sync visits.
    watch_scratch: Vec<u32>,
    /// The accounts flagged `unclassified`, in the order they were flagged (may hold a few that
    /// were classified since; the flag decides).
    pending: Vec<u32>,
    /// Counts the mark changes the venue has noticed (in [`Self::note_marks`]), all instruments
    /// together: a version of the marks.
    version: u64,
    /// Per instrument: the mark [`Self::note_marks`] saw last, and the `version` at which it
    /// changed to it.
    observed: Vec<Option<Price>>,
    changed_at: Vec<u64>,
    /// Money put in from outside (insurance funds and loaded balances): the conserved total.
    deposits: Money,
    transfers: Vec<TransferRecord>,
    round: u32,
    max_rounds: u32,
    generation: u32,
    /// Scratch: the legs of the account being looked at.
    figs: Vec<Figure>,
    /// Scratch: per instrument, the legs a cascade round took out of its leg index.
    taken: Vec<Vec<u32>>,
}

impl MultiExchange {
    /// A venue of the given instruments (symbol, market configuration), in this order.
    pub fn new(instruments: Vec<(String, ExchangeConfig)>) -> Result<MultiExchange, Error> {
        if instruments.is_empty() {
            return Err(Error::Config { what: "instruments", message: "at least one is needed".into() });
        }
        let mut deposits = Money::ZERO;
        let mut list = Vec::with_capacity(instruments.len());
        for (symbol, cfg) in instruments {
            if list.iter().any(|i: &Instrument| i.symbol == symbol) {
                return Err(Error::Config { what: "instruments", message: format!("symbol {symbol:?} appears twice") });
            }
            deposits += cfg.insurance_fund;
            list.push(Instrument { symbol, exchange: Exchange::new(cfg)? });
        }
        let max_rounds = list[0].exchange.config().max_cascade_rounds;
        Ok(MultiExchange::new_empty(list, deposits, max_rounds))
    }

    /// A venue of these markets with no multi account yet (also a snapshot's starting point).
    pub(crate) fn new_empty(instruments: Vec<Instrument>, deposits: Money, max_rounds: u32) -> MultiExchange {
        let n = instruments.len();
        MultiExchange {
            leg_owner: instruments.iter().map(|i| vec![NONE; i.exchange.accounts().len()]).collect(),
            instruments,
            accounts: Vec::new(),
            by_id: HashMap::new(),
            holders: vec![Vec::new(); n],
            marks_seen: vec![None; n],
            lagging: vec![false; n],
            band_bp: BAND_BP,
            centre: vec![None; n],
            watch: Vec::new(),
            watch_scratch: Vec::new(),
            pending: Vec::new(),
            version: 0,
            observed: vec![None; n],
            changed_at: vec![0; n],
            deposits,
            transfers: Vec::new(),
            round: 0,
            max_rounds,
            generation: 0,
            figs: Vec::new(),
            taken: Vec::new(),
        }
    }

    // ----- reading ------------------------------------------------------------------------------

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    pub fn instrument_id(&self, symbol: &str) -> Option<InstrumentId> {
        self.instruments.iter().position(|i| i.symbol == symbol).map(|k| InstrumentId(k as u32))
    }

    pub fn exchange(&self, inst: InstrumentId) -> &Exchange {
        &self.instruments[inst.0 as usize].exchange
    }

    /// Money put in from outside: every market's money total adds up to it exactly.
    pub fn deposits(&self) -> Money {
        self.deposits
    }

    /// Internal transfers between legs, in order.
    pub fn transfers(&self) -> &[TransferRecord] {
        &self.transfers
    }

    /// Rounds the venue's cascades have run so far.
    pub fn rounds(&self) -> u32 {
        self.round
    }

    /// Number of multi-instrument accounts.
    pub fn multi_accounts(&self) -> usize {
        self.accounts.len()
    }

    /// A trader's rows, one per instrument it is loaded in.
    pub fn legs(&self, trader: TraderId) -> Vec<(InstrumentId, &Account)> {
        self.instruments
            .iter()
            .enumerate()
            .filter_map(|(k, i)| i.exchange.account(trader).map(|a| (InstrumentId(k as u32), a)))
            .collect()
    }

    /// A trader's wallet: Σ of its sub-wallets (and isolated margins) over the instruments.
    pub fn wallet(&self, trader: TraderId) -> Money {
        self.legs(trader).iter().map(|(_, a)| a.total_balance()).sum()
    }

    // ----- loading ------------------------------------------------------------------------------

    /// Load accounts: one row per (instrument, trader). A trader with rows in several instruments
    /// becomes one cross account with a leg in each (its balance column adds to the sub-wallet of
    /// that leg; the account's wallet is the sum). Errors name the column and the row of `rows`;
    /// nothing is loaded then. A trader already loaded, a repeated (instrument, trader) pair and an
    /// isolated row of a multi-instrument trader are errors. Runs the cascade once a mark exists.
    pub fn add_accounts(&mut self, rows: &[(InstrumentId, AccountRow)]) -> Result<(), Error> {
        let bad = |column: &'static str, row: usize, message: String| Error::BadInput { column, row, message };
        let n = self.instruments.len();
        for (r, (inst, a)) in rows.iter().enumerate() {
            if inst.0 as usize >= n {
                return Err(bad("symbol", r, format!("instrument {} is not one of the {n} of this venue", inst.0)));
            }
            if self.instruments.iter().any(|i| i.exchange.account_index(a.id).is_some()) {
                return Err(bad("trader_id", r, format!("trader id {} is already loaded", a.id.0)));
            }
        }
        // Group by trader: (id, instrument, row).
        let mut keys: Vec<(i64, u32, usize)> = rows.iter().enumerate().map(|(r, (i, a))| (a.id.0, i.0, r)).collect();
        keys.sort_unstable();
        let mut multi: Vec<Vec<usize>> = Vec::new();
        let mut start = 0;
        while start < keys.len() {
            let mut end = start + 1;
            while end < keys.len() && keys[end].0 == keys[start].0 {
                if keys[end].1 == keys[end - 1].1 {
                    let (id, _, r) = keys[end];
                    return Err(bad("trader_id", r, format!("trader id {id} appears twice for one symbol")));
                }
                end += 1;
            }
            if end - start > 1 {
                for &(_, _, r) in &keys[start..end] {
                    if rows[r].1.mode != MarginMode::Cross {
                        return Err(bad(
                            "margin_mode",
                            r,
                            "a trader in several symbols must be cross (isolated positions across symbols are not \
                             supported)"
                                .into(),
                        ));
                    }
                }
                multi.push(keys[start..end].iter().map(|k| k.2).collect());
            }
            start = end;
        }
        let mut is_leg = vec![false; rows.len()];
        for group in &multi {
            for &r in group {
                is_leg[r] = true;
            }
        }
        // Validate every instrument's rows before loading any.
        let mut per: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (r, (inst, _)) in rows.iter().enumerate() {
            per[inst.0 as usize].push(r);
        }
        let subsets: Vec<Vec<AccountRow>> = per.iter().map(|rs| rs.iter().map(|&r| rows[r].1).collect()).collect();
        for (k, sub) in subsets.iter().enumerate() {
            self.instruments[k].exchange.validate_account_rows(sub).map_err(|e| match e {
                Error::BadInput { column, row, message } => Error::BadInput { column, row: per[k][row], message },
                other => other,
            })?;
        }
        for (k, sub) in subsets.iter().enumerate() {
            if sub.is_empty() {
                continue;
            }
            let ex = &mut self.instruments[k].exchange;
            let before = ex.deposits();
            let legs = &per[k];
            ex.insert_account_rows(sub, |i| is_leg[legs[i]]);
            self.deposits += ex.deposits() - before;
            self.leg_owner[k].resize(ex.accounts().len(), NONE);
        }
        let first_new = self.accounts.len() as u32;
        for group in multi {
            let id = rows[group[0]].1.id;
            let m = self.accounts.len() as u32;
            let mut legs: Vec<(u32, u32)> = group
                .iter()
                .map(|&r| {
                    let k = rows[r].0 .0;
                    let dense = self.instruments[k as usize].exchange.account_index(id).expect("just loaded");
                    (k, dense)
                })
                .collect();
            legs.sort_unstable();
            for &(k, dense) in &legs {
                self.leg_owner[k as usize][dense as usize] = m;
                self.holders[k as usize].push((m, dense));
            }
            self.by_id.insert(id.0, m);
            self.accounts.push(MultiAccount::new(id, &legs));
        }
        // The loads reported the new legs as changed; refresh those and everyone else touched.
        for m in first_new..self.accounts.len() as u32 {
            self.refresh_account(m, false);
        }
        if self.instruments.iter().any(|i| i.exchange.mark().is_some()) {
            self.run_cascade();
        } else {
            self.refresh();
        }
        Ok(())
    }

    /// Load resting orders into one instrument's book (see [`Exchange::add_resting_orders`]).
    pub fn add_resting_orders(&mut self, inst: InstrumentId, rows: &[RestingOrder]) -> Result<(), Error> {
        self.instrument_mut(inst)?.add_resting_orders(rows)
    }

    fn instrument_mut(&mut self, inst: InstrumentId) -> Result<&mut Exchange, Error> {
        let n = self.instruments.len();
        self.instruments.get_mut(inst.0 as usize).map(|i| &mut i.exchange).ok_or_else(|| Error::Config {
            what: "instrument",
            message: format!("{} is not one of the {n} of this venue", inst.0),
        })
    }

    // ----- acting -------------------------------------------------------------------------------

    /// Place an order in one instrument (margin checked against the whole account for a multi
    /// account). Runs the venue's cascade afterwards.
    pub fn submit(&mut self, inst: InstrumentId, trader: TraderId, req: OrderRequest) -> Result<SubmitResult, Error> {
        self.instrument_mut(inst)?;
        // The margin check reads the account's other legs: make them exact at the current marks
        // (they may lag a lazy instrument's mark, see `sync_instrument`).
        if let Some(&m) = self.by_id.get(&trader.0) {
            self.refresh_account(m, false);
        }
        let result = self.instrument_mut(inst)?.submit(trader, req);
        self.run_cascade();
        Ok(result)
    }

    /// Cancel a resting order in one instrument. Frees order margin only (no position moves), so
    /// no cascade is needed.
    pub fn cancel(
        &mut self,
        inst: InstrumentId,
        trader: TraderId,
        order_id: OrderId,
    ) -> Result<Result<Outcome, OrderReject>, Error> {
        Ok(self.instrument_mut(inst)?.cancel(trader, order_id))
    }

    /// Place a stop in one instrument (see [`Exchange::submit_stop`]). A stop already through its
    /// trigger fires at once and may fill, so the venue's cascade runs afterwards.
    pub fn submit_stop(
        &mut self,
        inst: InstrumentId,
        trader: TraderId,
        req: StopRequest,
    ) -> Result<Result<i64, OrderReject>, Error> {
        self.instrument_mut(inst)?;
        if let Some(&m) = self.by_id.get(&trader.0) {
            self.refresh_account(m, false);
        }
        let result = self.instrument_mut(inst)?.submit_stop(trader, req);
        self.run_cascade();
        Ok(result)
    }

    /// Cancel a waiting stop in one instrument; `Ok(false)` when there is no such stop of `trader`.
    pub fn cancel_stop(&mut self, inst: InstrumentId, trader: TraderId, stop_id: i64) -> Result<bool, Error> {
        Ok(self.instrument_mut(inst)?.cancel_stop(trader, stop_id))
    }

    /// Set one instrument's index price. Runs the venue's cascade afterwards.
    pub fn set_index(&mut self, inst: InstrumentId, price: Price) -> Result<(), Error> {
        self.instrument_mut(inst)?.set_index(price);
        self.run_cascade();
        Ok(())
    }

    /// Move the venue's clock to `ts`: every market's samples and funding settlements in time
    /// order, all markets at the same time, with the venue's cascade (each market's own, then the
    /// multi accounts) after every step, as [`Exchange::advance_to`] does for one market: an
    /// account that a funding payment or the mark's drift puts under maintenance on the way is
    /// closed out then, at that time's marks.
    ///
    /// Idle stretches are jumped over as one market does (see [`Self::skip_idle`]); the cost is
    /// O(settlements + state changes) steps, plus, per jump, a few looks at every multi account.
    pub fn advance_to(&mut self, ts: Ts) {
        loop {
            let next = self.instruments.iter().map(|i| i.exchange.next_event()).min().unwrap_or(Ts::MAX);
            if next > ts || next == Ts::MAX {
                break;
            }
            if self.skip_idle(next, ts) {
                continue;
            }
            for i in &mut self.instruments {
                i.exchange.set_clock(next);
                if i.exchange.next_event() == next {
                    i.exchange.step_events(next);
                }
            }
            self.run_cascade();
        }
        for i in &mut self.instruments {
            i.exchange.set_clock(ts);
        }
        self.run_cascade();
    }

    /// Jump the samples from `next` on that change nothing but the marks' time to funding, in
    /// every market at once, up to the last one before anything would be liquidated. Each market
    /// must be idle over the window ([`Exchange::idle_window`], all starting at `next`); its mark
    /// then moves monotonically with time, so:
    /// - a market's own accounts are crossed somewhere in `[lo, hi]` iff at `hi` (its own jump's
    ///   argument);
    /// - a multi account's `equity − maintenance` is, per leg, concave in that leg's mark (PnL is
    ///   linear, the tiered maintenance margin convex), so over the box of marks the window spans
    ///   its minimum is the sum over legs of the smaller of the leg's values at the two ends. If
    ///   that is above zero for every account, no multi account is liquidated inside.
    ///
    /// The first sample at which something acts is found by halving the window with that test
    /// (exact on a single sample). Returns whether the clock moved.
    fn skip_idle(&mut self, next: Ts, ts: Ts) -> bool {
        let mut last = i64::MAX;
        for i in &self.instruments {
            match i.exchange.idle_window(ts) {
                Some((first, l)) if first == next => last = last.min(l),
                _ => return false,
            }
        }
        let at = |k: i64| next + k * crate::funding::SECOND;
        if self.would_act(at(0), at(0)) {
            return false;
        }
        let skip_to = match self.first_acting(0, last, &at) {
            Some(k) => k - 1,
            None => last,
        };
        for i in &mut self.instruments {
            i.exchange.skip_samples_to(at(skip_to));
        }
        true
    }

    /// The first sample `k` in `lo..=hi` at which [`Self::would_act`] (exact on one sample).
    fn first_acting(&mut self, lo: i64, hi: i64, at: &impl Fn(i64) -> Ts) -> Option<i64> {
        if !self.would_act(at(lo), at(hi)) {
            return None;
        }
        if lo == hi {
            return Some(lo);
        }
        let mid = lo + (hi - lo) / 2;
        self.first_acting(lo, mid, at).or_else(|| self.first_acting(mid + 1, hi, at))
    }

    /// Whether anything may be liquidated at some time in `[t0, t1]` of an idle window (see
    /// [`Self::skip_idle`]); exact when `t0 == t1`.
    fn would_act(&mut self, t0: Ts, t1: Ts) -> bool {
        if self.instruments.iter_mut().any(|i| i.exchange.own_cascade_would_act_at(t1)) {
            return true;
        }
        let ends: Vec<(Option<Price>, Option<Price>)> =
            self.instruments.iter_mut().map(|i| (i.exchange.mark_at(t0), i.exchange.mark_at(t1))).collect();
        (0..self.accounts.len()).any(|m| {
            let (mut worst, mut open) = (Money::ZERO, false);
            for &(k, d) in &self.accounts[m].legs {
                let (a, b) = ends[k as usize];
                let value = |mark| {
                    let (e, f) = self.leg_figures_at(k, d, mark);
                    e - f
                };
                worst += if a == b { value(a) } else { value(a).min(value(b)) };
                let ex = &self.instruments[k as usize].exchange;
                open |= a.is_some() && !ex.accounts()[d as usize].position.is_flat();
            }
            open && worst <= Money::ZERO
        })
    }

    // ----- the cascade ----------------------------------------------------------------------------

    /// Run every market's cascade and close out the multi accounts the marks cross, round after
    /// round, until no instrument has work.
    pub fn run_cascade(&mut self) {
        let mut crossed: Vec<u32> = Vec::new();
        // The crossed legs, taken out of their leg indexes for the round (see `reindex_taken`);
        // kept between calls: this runs after every event of a simulation.
        let mut taken = std::mem::take(&mut self.taken);
        taken.resize_with(self.instruments.len(), Vec::new);
        let mut rounds = 0u32;
        loop {
            taken.iter_mut().for_each(Vec::clear);
            for i in &mut self.instruments {
                i.exchange.run_cascade();
            }
            self.refresh();
            crossed.clear();
            self.generation += 1;
            for (k, i) in self.instruments.iter_mut().enumerate() {
                let Some(mark) = i.exchange.mark() else { continue };
                i.exchange.take_crossed_legs(mark, &mut taken[k]);
                for &a in &taken[k] {
                    let m = self.leg_owner[k][a as usize];
                    if m != NONE && self.accounts[m as usize].stamp != self.generation {
                        self.accounts[m as usize].stamp = self.generation;
                        crossed.push(m);
                    }
                }
            }
            if crossed.is_empty() || rounds >= self.max_rounds {
                self.reindex_taken(&taken);
                break;
            }
            rounds += 1;
            self.round += 1;
            let round = self.round;
            // Deepest under water first (equity / maintenance), then trader id. The close-out
            // computes the account's figures again rather than keeping these: it reads the same
            // rows anyway, and keeping them cost more (96 bytes per account written in this pass,
            // then read in the order below, which jumps around them) than the arithmetic saves.
            let mut order: Vec<(f64, i64, u32)> = Vec::with_capacity(crossed.len());
            for &m in &crossed {
                let (equity, mm, _) = self.account_state(m);
                let ratio = wide_to_f64(equity.0) / wide_to_f64(mm.0.max(1));
                order.push((ratio, self.accounts[m as usize].id.0, m));
            }
            // Trader ids are unique in the venue, so the keys are too: an unstable sort gives the same
            // order, without the stable sort's buffer.
            order.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            let mut acted = false;
            for (j, &(_, _, m)) in order.iter().enumerate() {
                self.prefetch_ahead(&order, j);
                acted |= self.liquidate_account(m, round);
            }
            self.reindex_taken(&taken);
            if !acted {
                // Every crossed account waits for a leg's cooldown (dYdX blocks).
                break;
            }
        }
        self.taken = taken;
        self.classify_pending();
    }

    /// Ask the processor for what the close-outs a few steps after the `j`-th of `order` will
    /// read (see [`crate::prefetch`]): that account's record sixteen steps ahead, and the rows of
    /// the account six steps ahead (its legs read from the record asked for ten steps earlier).
    fn prefetch_ahead(&self, order: &[(f64, i64, u32)], j: usize) {
        if let Some(&(_, _, m)) = order.get(j + 16) {
            prefetch(&self.accounts[m as usize]);
        }
        if let Some(&(_, _, m)) = order.get(j + 6) {
            for &(k, d) in &self.accounts[m as usize].legs {
                prefetch(&self.instruments[k as usize].exchange.accounts()[d as usize]);
            }
        }
    }

    /// Index again the legs a round took out of their leg indexes (`Exchange::take_crossed_legs`)
    /// that nothing refreshed since: the round's close-outs refresh most of them, and a leg the
    /// round left as it was gets back its entry. In the order they were taken, the indexes' key
    /// order.
    fn reindex_taken(&mut self, taken: &[Vec<u32>]) {
        for (k, legs) in taken.iter().enumerate() {
            for &a in legs {
                self.instruments[k].exchange.reindex_leg(a);
            }
        }
    }

    /// Close out account `m` leg after leg (largest maintenance margin first), re-checking the
    /// account after each, until it is back above maintenance or has nothing left to close.
    /// Returns whether any leg was closed out.
    fn liquidate_account(&mut self, m: u32, round: u32) -> bool {
        let mut acted = false;
        let mut figs = std::mem::take(&mut self.figs);
        // Each pass closes a leg out (or part of it, per its market's policy); the bound only
        // guards against a policy that would make no progress.
        let passes = 4 * self.accounts[m as usize].legs.len() + 4;
        let mut fresh = None; // (equity, mm) when `figs` is the state after the last close-out
        for _ in 0..passes {
            let (equity, mm, open) = self.figures(m, &mut figs);
            fresh = Some((equity, mm));
            if !(open && equity <= mm) {
                break;
            }
            // The published order (an assumption, see the module docs): the open leg of the
            // largest maintenance margin at its mark; ties to the first instrument.
            let mut next: Option<&Figure> = None;
            for f in figs.iter().filter(|f| f.open) {
                if next.is_none_or(|b| f.maintenance > b.maintenance)
                    && !self.instruments[f.k as usize].exchange.in_cooldown(f.dense)
                {
                    next = Some(f);
                }
            }
            let Some(&Figure { k, dense, equity: e, maintenance: f, .. }) = next else { break };
            // The leg's close-out needs its `others` exact (bankruptcy price, the re-checks between
            // its steps); its trigger is recomputed when the close-out ends, so not here.
            let others = OtherLegs { equity: equity - e, maintenance: mm - f };
            let ex = &mut self.instruments[k as usize].exchange;
            ex.set_others(dense, others, Refresh::Skip);
            if !ex.liquidate_leg(dense, round) {
                break;
            }
            acted = true;
            fresh = None;
            self.settle_money(m, Some(k));
        }
        self.note_marks();
        match fresh {
            // The figures of the last pass are the account as it is now: set every leg from them
            // (the closed leg's trigger was refreshed by its close-out, the others' were not).
            Some((equity, mm)) => {
                let refresh = if acted { Refresh::Always } else { Refresh::IfChanged };
                for f in &figs {
                    let others = OtherLegs { equity: equity - f.equity, maintenance: mm - f.maintenance };
                    self.instruments[f.k as usize].exchange.set_others(f.dense, others, refresh);
                }
                self.accounts[m as usize].open_legs = figs.iter().filter(|f| f.held).count() as u32;
                self.accounts[m as usize].set_at = self.version;
                self.figs = figs;
                self.classify(m);
            }
            None => {
                self.figs = figs;
                self.refresh_account(m, acted);
            }
        }
        acted
    }

    /// Account `m` from its legs directly (not from the `others` they hold), one [`Figure`] per
    /// leg into `out`; returns the equity (Σ sub-wallets + unrealised PnL), Σ maintenance margin,
    /// and whether it holds an open leg in an instrument with a mark (only such an account can be
    /// liquidatable).
    fn figures(&self, m: u32, out: &mut Vec<Figure>) -> (Money, Money, bool) {
        out.clear();
        let (mut equity, mut mm, mut open) = (Money::ZERO, Money::ZERO, false);
        for &(k, dense) in &self.accounts[m as usize].legs {
            let ex = &self.instruments[k as usize].exchange;
            let mark = ex.mark();
            let (e, f) = self.leg_figures_at(k, dense, mark);
            let held = !ex.accounts()[dense as usize].position.is_flat();
            let leg_open = held && mark.is_some();
            equity += e;
            mm += f;
            open |= leg_open;
            out.push(Figure { k, dense, equity: e, maintenance: f, open: leg_open, held });
        }
        (equity, mm, open)
    }

    /// [`figures`](Self::figures) without keeping the legs'.
    fn account_state(&mut self, m: u32) -> (Money, Money, bool) {
        let mut figs = std::mem::take(&mut self.figs);
        let state = self.figures(m, &mut figs);
        self.figs = figs;
        state
    }

    // ----- keeping the legs exact -------------------------------------------------------------------

    /// Make the leg indexes answer exactly: refresh every account a market reported as changed;
    /// then, once two or more instruments' marks moved since their holders were last synced, sync
    /// them all (see [`Self::sync_instrument`]). Syncing all rather than all but one leaves no
    /// instrument lagging, so the next move of any one instrument is again a range query: marks
    /// alternating between two instruments cost one sync per two moves, and a cascade on one
    /// instrument after a sync pays none.
    fn refresh(&mut self) {
        self.generation += 1;
        let mut stale: Vec<u32> = Vec::new();
        let mut dirty: Vec<u32> = Vec::new();
        for k in 0..self.instruments.len() {
            dirty.clear();
            self.instruments[k].exchange.take_dirty_legs(&mut dirty);
            for &a in &dirty {
                let m = self.leg_owner[k][a as usize];
                if m != NONE && self.accounts[m as usize].stamp != self.generation {
                    self.accounts[m as usize].stamp = self.generation;
                    stale.push(m);
                }
            }
        }
        if self.bands_left() {
            self.recentre_lazily();
        }
        stale.sort_unstable();
        for m in stale {
            self.refresh_account(m, false);
        }
        let moved: Vec<usize> = (0..self.instruments.len()).filter(|&k| self.moved_since_sync(k)).collect();
        if moved.len() > 1 {
            // Accounts refreshed above (stamped with this generation) are exact already.
            for k in moved {
                self.sync_instrument(k);
            }
        }
    }

    /// Refresh every account with an open leg in instrument `k` and another open leg (that one's
    /// `others` counts leg `k` at mark `k`), once per [`Self::refresh`].
    ///
    /// Why one instrument may stay unsynced: a leg's own trigger does not depend on its own mark
    /// (`others` holds the other legs), so after marks of `k` alone moved, `k`'s leg index is still
    /// exact, and only the other legs of accounts holding `k` are stale. An account that is now at
    /// or below maintenance either holds an open leg in `k` (then `k`'s index reports it) or not
    /// (then all its triggers are exact). So the union of the indexes' answers, checked exactly
    /// account by account before any close-out, is the brute-force set; a mark move of one
    /// instrument costs a range query, and the holders are refreshed once, when another
    /// instrument's mark moves too (or an order of theirs needs the whole account, see
    /// [`MultiExchange::submit`]).
    ///
    /// Only watched accounts are visited (safe ones cannot be liquidatable while the marks stay in
    /// their bands, see "Bands"): the cost is O(watched accounts), not O(holders of `k`).
    fn sync_instrument(&mut self, k: usize) {
        self.marks_seen[k] = self.instruments[k].exchange.mark();
        self.lagging[k] = false;
        let mut list = std::mem::take(&mut self.watch_scratch);
        list.clear();
        list.extend_from_slice(&self.watch);
        // Ascending account order, as a pass over the holders made it (refreshing settles money,
        // which records transfers in order).
        list.sort_unstable();
        for &m in &list {
            // Only an account with another open leg has a trigger that reads mark `k` (a flat
            // leg has none; an open leg alone counts its flat siblings' sub-wallets, which no mark
            // moves): every watched account has two.
            if self.accounts[m as usize].stamp != self.generation && self.holds_open(m, k) {
                self.accounts[m as usize].stamp = self.generation;
                self.refresh_account(m, false);
            }
        }
        self.watch_scratch = list;
    }

    /// Whether account `m` has an open leg in instrument `k`.
    fn holds_open(&self, m: u32, k: usize) -> bool {
        self.accounts[m as usize]
            .legs
            .iter()
            .any(|&(j, d)| j as usize == k && !self.instruments[k].exchange.accounts()[d as usize].position.is_flat())
    }

    /// The band of an instrument centred at `c`: `[c − h, c + h]` with `h = c × band_bp / 10⁴`
    /// (ticks, rounded down; the top stops at the largest price).
    fn band(&self, c: Price) -> (Price, Price) {
        let h = (c as i128 * self.band_bp as i128 / 10_000) as i64;
        (c - h, c.checked_add(h).unwrap_or(Price::MAX))
    }

    /// Whether some instrument's mark is outside its band (or has no band yet).
    fn bands_left(&self) -> bool {
        self.instruments.iter().zip(&self.centre).any(|(i, &c)| match (i.exchange.mark(), c) {
            (Some(mark), Some(c)) => {
                let (lo, hi) = self.band(c);
                mark < lo || mark > hi
            }
            (mark, c) => mark.is_some() != c.is_some(),
        })
    }

    /// Re-centre every band at the current marks, then refresh and classify every multi account:
    /// all legs are exact at the current marks, so no instrument lags (a snapshot is written so).
    /// O(multi accounts × legs).
    pub(crate) fn recentre_all(&mut self) {
        self.move_bands(true);
        for m in 0..self.accounts.len() as u32 {
            self.refresh_account(m, false);
        }
        for k in 0..self.instruments.len() {
            self.marks_seen[k] = self.instruments[k].exchange.mark();
            self.lagging[k] = false;
        }
        self.classify_pending();
    }

    /// Re-centre the bands whose marks left them, and void every certificate (they were computed
    /// over the old box): each safe account becomes watched and pending. No leg is refreshed for
    /// it when its legs lag at most one instrument's mark: that instrument is then counted as
    /// lagging, and the usual rule applies (the union of the leg indexes' answers is exact while
    /// one instrument lags; when two lag, [`Self::refresh`] syncs both, the demoted accounts with
    /// the watched ones). Only an account whose legs lag two or more marks is refreshed here.
    /// O(multi accounts) plus the refreshes; a cascade that follows closes most of the crossed
    /// accounts out, and the rest are classified (and refreshed if they still lag) when it ends.
    fn recentre_lazily(&mut self) {
        self.move_bands(false);
        self.note_marks();
        for m in 0..self.accounts.len() as u32 {
            if !self.accounts[m as usize].safe {
                continue;
            }
            match self.lags(m) {
                Ok(lag) => {
                    self.demote(m);
                    if let Some(z) = lag {
                        self.lagging[z] = true;
                    }
                }
                Err(()) => self.refresh_account(m, false),
            }
        }
    }

    /// Re-centre the bands whose marks left them (every band when `all`) at the current marks.
    fn move_bands(&mut self, all: bool) {
        for k in 0..self.instruments.len() {
            let mark = self.instruments[k].exchange.mark();
            let inside = match (mark, self.centre[k]) {
                (Some(mark), Some(c)) => {
                    let (lo, hi) = self.band(c);
                    lo <= mark && mark <= hi
                }
                (mark, c) => mark.is_some() == c.is_some(),
            };
            if all || !inside {
                self.centre[k] = mark;
            }
        }
    }

    /// Account `m`'s smallest `equity − maintenance` over the box of marks the bands span, with
    /// its current positions and sub-wallets; `None` when an open leg's instrument has no band or
    /// its mark is outside it. Each leg's value depends on its own mark only and is concave in it
    /// (unrealised PnL linear, the tiered maintenance margin convex in the notional), so the
    /// minimum over the box is the sum of each leg's smaller value at its band's two ends.
    fn worst_in_bands(&self, m: u32) -> Option<Money> {
        let mut worst = Money::ZERO;
        for &(k, d) in &self.accounts[m as usize].legs {
            let ex = &self.instruments[k as usize].exchange;
            if ex.accounts()[d as usize].position.is_flat() {
                let (e, f) = self.leg_figures(k, d);
                worst += e - f;
                continue;
            }
            let (mark, c) = (ex.mark()?, self.centre[k as usize]?);
            let (lo, hi) = self.band(c);
            if mark < lo || mark > hi {
                return None;
            }
            let value = |p: Price| {
                let (e, f) = self.leg_figures_at(k, d, Some(p));
                e - f
            };
            worst += value(lo).min(value(hi));
        }
        Some(worst)
    }

    /// Whether account `m` is safe now (see the `safe` field): two or more open legs and its worst
    /// corner above the cushion.
    fn certified_safe(&self, m: u32) -> bool {
        let legs = self.accounts[m as usize].legs.len() as i128;
        self.accounts[m as usize].open_legs >= 2 && self.worst_in_bands(m).is_some_and(|w| w.0 > SAFE_CUSHION * legs)
    }

    /// Classify account `m` (its legs exact at the current marks): safe, watched (two or more
    /// open legs, not safe), or neither (its triggers read no other instrument's mark).
    fn classify(&mut self, m: u32) {
        let safe = self.certified_safe(m);
        self.accounts[m as usize].safe = safe;
        self.accounts[m as usize].unclassified = false;
        self.set_watched(m, !safe && self.accounts[m as usize].open_legs >= 2);
    }

    /// Safe account `m`'s certificate went void (its bands moved) and its legs were not refreshed:
    /// it is watched, the cautious class (exact without a certificate, its legs lagging at most
    /// one instrument's mark), and pending until [`Self::classify_pending`] (or a refresh of its
    /// legs) classifies it. The cascade that follows a band exit closes most of the crossed
    /// accounts out, or leaves them with one open leg (no certificate needed), before then.
    fn demote(&mut self, m: u32) {
        self.accounts[m as usize].safe = false;
        let watched = self.accounts[m as usize].open_legs >= 2;
        self.set_watched(m, watched);
        if watched && !self.accounts[m as usize].unclassified {
            self.accounts[m as usize].unclassified = true;
            self.pending.push(m);
        }
    }

    /// Classify the accounts [`Self::demote`] left pending (those not classified since), bringing
    /// legs that lag a mark exact first (a certificate covers legs set inside the current box; see
    /// "Bands").
    fn classify_pending(&mut self) {
        self.note_marks();
        let mut list = std::mem::take(&mut self.pending);
        for &m in &list {
            if !std::mem::replace(&mut self.accounts[m as usize].unclassified, false)
                || self.accounts[m as usize].open_legs < 2
            {
                continue;
            }
            if self.lags(m) != Ok(None) {
                self.set_legs(m, false);
            }
            self.classify(m);
        }
        list.clear();
        self.pending = list;
    }

    /// Put account `m` on the watch list or take it off.
    fn set_watched(&mut self, m: u32, watched: bool) {
        let at = self.accounts[m as usize].watch_at;
        if watched && at == NONE {
            self.accounts[m as usize].watch_at = self.watch.len() as u32;
            self.watch.push(m);
        } else if !watched && at != NONE {
            self.watch.swap_remove(at as usize);
            if let Some(&moved) = self.watch.get(at as usize) {
                self.accounts[moved as usize].watch_at = at;
            }
            self.accounts[m as usize].watch_at = NONE;
        }
    }

    /// Whether legs may have been set at a mark of instrument `k` other than the current one since
    /// its holders were last synced.
    fn moved_since_sync(&self, k: usize) -> bool {
        self.lagging[k] || self.instruments[k].exchange.mark() != self.marks_seen[k]
    }

    /// Remember which instruments' marks differ from the ones their holders were synced at: the
    /// legs about to be set count those marks (called wherever legs are set).
    fn note_marks(&mut self) {
        for (k, i) in self.instruments.iter().enumerate() {
            let mark = i.exchange.mark();
            if mark != self.observed[k] {
                self.observed[k] = mark;
                self.version += 1;
                self.changed_at[k] = self.version;
            }
            self.lagging[k] |= mark != self.marks_seen[k];
        }
    }

    /// The instruments whose marks account `m`'s legs lag, among those it is open in (a flat leg's
    /// figures read no mark): none, one (`Ok(Some(k))`), or more (`Err(())`).
    fn lags(&self, m: u32) -> Result<Option<usize>, ()> {
        let mut lag = None;
        for &(k, d) in &self.accounts[m as usize].legs {
            let k = k as usize;
            if self.changed_at[k] > self.accounts[m as usize].set_at
                && !self.instruments[k].exchange.accounts()[d as usize].position.is_flat()
            {
                if lag.is_some() {
                    return Err(());
                }
                lag = Some(k);
            }
        }
        Ok(lag)
    }

    /// Settle account `m`'s money across its legs, then set every leg's `others` from the legs'
    /// current figures (and so its trigger; every leg's when `force`: balances moved without their
    /// triggers being refreshed).
    fn refresh_account(&mut self, m: u32, force: bool) {
        self.set_legs(m, force);
        self.classify(m);
    }

    /// [`refresh_account`](Self::refresh_account) without touching the account's class.
    fn set_legs(&mut self, m: u32, force: bool) {
        self.note_marks();
        let force = self.settle_money(m, None) || force;
        let mut figs = std::mem::take(&mut self.figs);
        let (equity, mm, _) = self.figures(m, &mut figs);
        let refresh = if force { Refresh::Always } else { Refresh::IfChanged };
        for f in &figs {
            let others = OtherLegs { equity: equity - f.equity, maintenance: mm - f.maintenance };
            self.instruments[f.k as usize].exchange.set_others(f.dense, others, refresh);
        }
        self.accounts[m as usize].open_legs = figs.iter().filter(|f| f.held).count() as u32;
        self.accounts[m as usize].set_at = self.version;
        self.figs = figs;
    }

    /// A leg's (equity, maintenance margin): sub-wallet + unrealised PnL at its mark, and its
    /// maintenance margin there. Before the instrument has a mark: at cost (no PnL, maintenance of
    /// the entry notional).
    fn leg_figures(&self, k: u32, dense: u32) -> (Money, Money) {
        self.leg_figures_at(k, dense, self.instruments[k as usize].exchange.mark())
    }

    /// [`leg_figures`](Self::leg_figures) at `mark` (`None`: no mark).
    fn leg_figures_at(&self, k: u32, dense: u32, mark: Option<Price>) -> (Money, Money) {
        let ex = &self.instruments[k as usize].exchange;
        let acct = &ex.accounts()[dense as usize];
        let (scale, tiers) = (ex.config().scale, &ex.config().preset.tiers);
        match mark {
            Some(mark) => acct.value_and_maintenance(mark, scale, tiers),
            None => {
                let mm = if acct.position.is_flat() {
                    Money::ZERO
                } else {
                    tiers.maintenance_margin(acct.position.cost).unwrap_or(Money(i128::MAX / 4))
                };
                (acct.total_balance(), mm)
            }
        }
    }

    /// Fill flat legs' negative sub-wallets from the account's positive ones; once the whole
    /// account is flat, a remaining hole goes to the fund of the leg holding it, and after a
    /// liquidation (`liquidated`: the instrument whose leg was closed out) under a
    /// remainder-to-fund policy, what is left goes to the funds of the legs holding it.
    /// Returns whether money moved (the legs' triggers were not refreshed for it).
    fn settle_money(&mut self, m: u32, liquidated: Option<u32>) -> bool {
        let mut moved = false;
        let legs = std::mem::replace(&mut self.accounts[m as usize].legs, Legs::Inline(0, [(0, 0); 3]));
        moved |= self.settle_legs(m, &legs, liquidated);
        self.accounts[m as usize].legs = legs;
        moved
    }

    fn settle_legs(&mut self, m: u32, legs: &[(u32, u32)], liquidated: Option<u32>) -> bool {
        let mut moved = false;
        let id = self.accounts[m as usize].id;
        let wallet = |s: &Self, (k, d): (u32, u32)| s.instruments[k as usize].exchange.accounts()[d as usize].wallet;
        let flat =
            |s: &Self, (k, d): (u32, u32)| s.instruments[k as usize].exchange.accounts()[d as usize].position.is_flat();
        for &to in legs {
            if !flat(self, to) {
                continue;
            }
            for &from in legs {
                let hole = -wallet(self, to).0;
                if hole <= 0 {
                    break;
                }
                let available = wallet(self, from).0;
                if from == to || available <= 0 {
                    continue;
                }
                let amount = Money(hole.min(available));
                moved = true;
                self.instruments[from.0 as usize].exchange.move_money(from.1, -amount);
                self.instruments[to.0 as usize].exchange.move_money(to.1, amount);
                let ts = self.instruments[to.0 as usize].exchange.ts();
                self.transfers.push(TransferRecord {
                    ts,
                    trader: id,
                    from: InstrumentId(from.0),
                    to: InstrumentId(to.0),
                    amount,
                });
            }
        }
        if !legs.iter().all(|&l| flat(self, l)) {
            return moved;
        }
        let to_fund = liquidated.is_some_and(|k| {
            self.instruments[k as usize].exchange.config().preset.liquidation.remainder == Remainder::ToFund
        });
        for &(k, dense) in legs {
            let w = wallet(self, (k, dense));
            let on_liquidation = liquidated == Some(k);
            let ex = &mut self.instruments[k as usize].exchange;
            if w < Money::ZERO {
                let reason =
                    if liquidated.is_some() { InsuranceReason::Shortfall } else { InsuranceReason::TraderShortfall };
                ex.pay_fund_for_leg(dense, w, reason, on_liquidation);
                moved = true;
            } else if w > Money::ZERO && to_fund {
                ex.pay_fund_for_leg(dense, w, InsuranceReason::Surplus, on_liquidation);
                moved = true;
            }
        }
        moved
    }

    // ----- invariants -----------------------------------------------------------------------------

    /// Every market's invariants (book, zero-sum positions, its money, its indexes); money across
    /// the venue (Σ of the markets' totals equals what was deposited, exactly); every leg's
    /// `others` equal to its account's other legs at the current marks; no multi account left at
    /// or below maintenance after a cascade (unless every open leg waits for a cooldown); no flat
    /// multi account with a negative wallet.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut total = Money::ZERO;
        for i in &self.instruments {
            i.exchange.check_invariants().map_err(|e| format!("{}: {e}", i.symbol))?;
            let t = i.exchange.checked_money_total().ok_or("money total overflows i128")?;
            if t != i.exchange.deposits() {
                return Err(format!("{}: money total {} vs deposits {}", i.symbol, t.0, i.exchange.deposits().0));
            }
            total = Money(total.0.checked_add(t.0).ok_or("venue money total overflows i128")?);
        }
        if total != self.deposits {
            return Err(format!(
                "venue money not conserved: total {} vs deposits {} (diff {})",
                total.0,
                self.deposits.0,
                total.0 - self.deposits.0
            ));
        }
        let moved: Vec<usize> = (0..self.instruments.len()).filter(|&k| self.moved_since_sync(k)).collect();
        if moved.len() > 1 {
            return Err(format!("instruments {moved:?} all moved since their holders were synced (at most one may)"));
        }
        let lazy = moved.first().copied();
        for (m, a) in self.accounts.iter().enumerate() {
            let figures: Vec<(Money, Money)> = a.legs.iter().map(|&(k, d)| self.leg_figures(k, d)).collect();
            let (equity, mm) = figures.iter().fold((Money::ZERO, Money::ZERO), |t, f| (t.0 + f.0, t.1 + f.1));
            let held = a
                .legs
                .iter()
                .filter(|&&(k, d)| !self.instruments[k as usize].exchange.accounts()[d as usize].position.is_flat())
                .count() as u32;
            if a.open_legs != held {
                return Err(format!("trader {}: {} open legs counted, {held} open", a.id.0, a.open_legs));
            }
            if a.safe && !self.certified_safe(m as u32) {
                return Err(format!(
                    "trader {} is marked safe but its worst corner in the bands is {:?} (marks {:?}, centres {:?})",
                    a.id.0,
                    self.worst_in_bands(m as u32),
                    self.instruments.iter().map(|i| i.exchange.mark()).collect::<Vec<_>>(),
                    self.centre
                ));
            }
            let watched = a.open_legs >= 2 && !a.safe;
            if watched != (a.watch_at != NONE) || (watched && self.watch.get(a.watch_at as usize) != Some(&(m as u32)))
            {
                return Err(format!("trader {}: watch list bookkeeping is wrong", a.id.0));
            }
            let mut any_open = false;
            let mut all_cooling = true;
            for (&(k, d), f) in a.legs.iter().zip(&figures) {
                let ex = &self.instruments[k as usize].exchange;
                let leg = &ex.accounts()[d as usize];
                if self.leg_owner[k as usize][d as usize] != m as u32 || leg.id != a.id {
                    return Err(format!(
                        "trader {}: leg bookkeeping of {} is wrong",
                        a.id.0, self.instruments[k as usize].symbol
                    ));
                }
                let want = OtherLegs { equity: equity - f.0, maintenance: mm - f.1 };
                // A leg may lag the mark of the one lazy instrument if the account is open there.
                let lags = lazy.is_some_and(|z| {
                    z != k as usize
                        && a.legs.iter().any(|&(j, e)| {
                            j as usize == z && !self.instruments[z].exchange.accounts()[e as usize].position.is_flat()
                        })
                });
                // A flat leg has no trigger: its `others` may lag any mark (set exactly before an
                // order of the account or a close-out reads it, see `sync_instrument`). A safe
                // account's legs may lag every mark inside the bands (certified below).
                if leg.others != want.net() && !lags && !leg.position.is_flat() && !a.safe {
                    return Err(format!(
                        "trader {} in {}: stale others {:?}, brute force {:?}",
                        a.id.0,
                        self.instruments[k as usize].symbol,
                        leg.others,
                        want.net()
                    ));
                }
                if !leg.position.is_flat() && ex.mark().is_some() {
                    any_open = true;
                    all_cooling &= ex.in_cooldown(d);
                }
            }
            if any_open && equity <= mm && !all_cooling {
                return Err(format!(
                    "trader {} is at or below maintenance after the cascade (equity {}, maintenance {})",
                    a.id.0, equity.0, mm.0
                ));
            }
            let flat = a
                .legs
                .iter()
                .all(|&(k, d)| self.instruments[k as usize].exchange.accounts()[d as usize].position.is_flat());
            let wallet: Money =
                a.legs.iter().map(|&(k, d)| self.instruments[k as usize].exchange.accounts()[d as usize].wallet).sum();
            if flat && wallet < Money::ZERO {
                return Err(format!("trader {} is flat with a negative wallet {}", a.id.0, wallet.0));
            }
        }
        Ok(())
    }

    /// Multi accounts the refreshed leg indexes report at or below maintenance at the current marks
    /// (without acting on them), by trader id.
    pub fn crossed_accounts(&mut self) -> Vec<TraderId> {
        self.refresh();
        let mut out: Vec<u32> = Vec::new();
        let mut scratch = Vec::new();
        for (k, i) in self.instruments.iter().enumerate() {
            let Some(mark) = i.exchange.mark() else { continue };
            scratch.clear();
            i.exchange.leg_index().crossed(mark, &mut scratch);
            out.extend(scratch.iter().map(|&a| self.leg_owner[k][a as usize]));
        }
        out.sort_unstable();
        out.dedup();
        // A leg lagging the lazy instrument's mark may report an account that is not under.
        out.retain(|&m| {
            let (equity, mm, open) = self.account_state(m);
            open && equity <= mm
        });
        let mut ids: Vec<TraderId> = out.into_iter().map(|m| self.accounts[m as usize].id).collect();
        ids.sort_unstable();
        // As at the end of a cascade (the answer above was given with them pending).
        self.classify_pending();
        ids
    }

    /// Every account of instrument `inst` (its market's account order): its trigger price there
    /// with the other instruments' marks where they are now (a liquidation map of one instrument).
    /// A leg of a multi account gets its `others` from the legs directly, as
    /// [`Self::refresh_account`] would set them (the legs a safe account holds may lag inside the
    /// bands, so their stored triggers are not used); other accounts keep their own trigger.
    /// Reads only: the venue is not refreshed.
    pub fn triggers_at_marks(&self, inst: InstrumentId) -> Vec<Option<Price>> {
        let k = inst.0 as usize;
        let ex = &self.instruments[k].exchange;
        let (scale, tiers) = (ex.config().scale, &ex.config().preset.tiers);
        let mut figs = Vec::new();
        ex.accounts()
            .iter()
            .enumerate()
            .map(|(dense, a)| match self.leg_owner[k].get(dense) {
                Some(&m) if m != NONE => {
                    let (equity, mm, _) = self.figures(m, &mut figs);
                    let own = figs.iter().find(|f| f.k as usize == k && f.dense as usize == dense)?;
                    let mut leg = a.clone();
                    leg.others = OtherLegs { equity: equity - own.equity, maintenance: mm - own.maintenance }.net();
                    crate::account::trigger_price(&leg, scale, tiers)
                }
                _ => a.trigger.map(|t| t.price),
            })
            .collect()
    }
}

#[cfg(test)]
mod map_tests;
mod snapshot;
#[cfg(test)]
mod tests;
