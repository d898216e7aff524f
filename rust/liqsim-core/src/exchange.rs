//! One perpetual-futures market: the order book, the accounts trading on it, their margin, and the
//! liquidation engine that closes out accounts when the mark price crosses their trigger.
//!
//! The cascade: every action (an order, an index move, time passing) ends with [`Exchange::run_cascade`]:
//! recompute the mark, ask the trigger index who it crossed, close those accounts out in a fixed
//! order (deepest under water first, then trader id), let their fills move the last price (and so
//! the mark, unless the policy says close-outs do not move it), and repeat until no account is
//! liquidatable. Each liquidation records the round it happened in.
//!
//! Money moves only between accounts, the fee pool and the insurance fund (the wallet of the
//! backstop account), so `Σ balances + Σ unrealised PnL + fees` is constant to the last unit; see
//! [`Exchange::check_invariants`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::account::{bankruptcy_price, trigger_price, Account, MarginMode, Position};
use crate::book::{Event, NewOrder, OrderBook, OrderType, Outcome, SelfTradePrevention, Status, TimeInForce};
use crate::error::Error;
use crate::funding::{premium_index, BasisAverager, FundingAccumulator, MarkInputs, MarkRule, SECOND};
use crate::liquidation::{Trigger, TriggerIndex, TriggerSide};
use crate::margin::{NotionalScale, Rate, Rounding, RATE_SCALE};
use crate::prefetch::prefetch;
use crate::types::{wide_to_f64, Money, OrderId, Price, Qty, Side, TraderId, Ts};
use crate::venue::{Backstop, CloseOut, VenuePreset};

/// A schedule time that never comes (the next sample or settlement would be past `i64::MAX`).
const NEVER: Ts = Ts::MAX;

/// Dense index of the insurance fund / liquidator vault account (external id −1).
pub const BACKSTOP: u32 = 0;
/// Dense index of the background liquidity account that owns book orders loaded without an owner
/// and mirrors the net of loaded positions (external id −2). Exempt from margin; may go negative.
pub const LIQUIDITY: u32 = 1;
pub const BACKSTOP_ID: TraderId = TraderId(-1);
pub const LIQUIDITY_ID: TraderId = TraderId(-2);

/// How far a liquidation order may sweep the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LiquidationLimit {
    /// A market order (Hyperliquid; dYdX's IOC at its fillable price); fills worse than bankruptcy
    /// are a shortfall the insurance fund pays, so with ADL on the order goes past bankruptcy only
    /// as far as the fund's equity pays for, and what is left goes to the backstop / ADL.
    Market,
    /// Always a limit at the bankruptcy price (what Binance and Bybit send; the default of their
    /// presets).
    Bankruptcy,
}

/// Everything fixed for the life of an exchange.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExchangeConfig {
    pub preset: VenuePreset,
    pub scale: NotionalScale,
    pub stp: SelfTradePrevention,
    /// Overrides the preset's mark rule.
    pub mark_rule: MarkRule,
    /// Whether liquidation fills move the price the mark is computed from.
    pub closeouts_move_mark: bool,
    pub adl: bool,
    pub liquidation_limit: LiquidationLimit,
    /// Starting balance of the insurance fund.
    pub insurance_fund: Money,
    /// Safety stop for a cascade that would not settle (each round liquidates at least one
    /// account, so this bounds work, not correctness).
    pub max_cascade_rounds: u32,
}

impl ExchangeConfig {
    pub fn new(preset: VenuePreset, scale: NotionalScale) -> ExchangeConfig {
        ExchangeConfig {
            mark_rule: preset.mark_rule,
            liquidation_limit: LiquidationLimit::venue_default(preset.venue),
            preset,
            scale,
            stp: SelfTradePrevention::None,
            closeouts_move_mark: true,
            adl: true,
            insurance_fund: Money::ZERO,
            max_cascade_rounds: 1_000_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum TradeKind {
    Normal = 0,
    /// A liquidation order's fill in the book.
    Liquidation = 1,
    /// An auto-deleveraging close at the bankruptcy price (off book).
    Adl = 2,
    /// The backstop taking a position over (off book).
    Backstop = 3,
    /// A triggered stop order's fill in the book.
    Stop = 4,
}

impl TradeKind {
    pub const NAMES: [&'static str; 5] = ["normal", "liquidation", "adl", "backstop", "stop"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum LiquidationKind {
    /// Part of the position closed and the account is back above maintenance (or in cooldown).
    Partial = 0,
    /// Closed in full in the book.
    Full = 1,
    /// Some of it taken over by the insurance fund / vault.
    Backstop = 2,
    /// Some of it closed against deleveraged counterparties.
    Adl = 3,
}

impl LiquidationKind {
    pub const NAMES: [&'static str; 4] = ["partial", "full", "backstop", "adl"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum InsuranceReason {
    /// Liquidation fee on the liquidated notional.
    LiquidationFee = 0,
    /// What was left of a fully liquidated account's collateral.
    Surplus = 1,
    /// A liquidated account's negative balance, covered.
    Shortfall = 2,
    /// Funding paid or received on positions the backstop holds.
    Funding = 3,
    /// Realised PnL when a position the backstop took over is reduced (net of the taker fee when
    /// the backstop unwinder sells it back into the book).
    PositionPnl = 4,
    /// A trader's own fill (not a liquidation) closed a position worse than its bankruptcy price:
    /// the negative balance it left, covered.
    TraderShortfall = 5,
}

impl InsuranceReason {
    pub const NAMES: [&'static str; 6] =
        ["liquidation_fee", "surplus", "shortfall", "funding", "position_pnl", "trader_shortfall"];
}

/// Exchange-level refusals of an order (the book's own are in [`Outcome`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderReject {
    UnknownTrader = 0,
    /// Margin balance below the initial margin the order needs.
    InsufficientMargin = 1,
    /// The account's leverage is above the max leverage of the tier the order would reach.
    LeverageExceedsTier = 2,
    /// A reduce-only order on a flat position or on the side that would increase it.
    ReduceOnlyWouldIncrease = 3,
    /// The price, or the notional of the order or of the exposure it would bring, is beyond what
    /// the engine holds exactly (see [`crate::limits`]).
    OutOfRange = 4,
    /// A stop whose trigger the price it watches has already crossed.
    StopWouldTriggerNow = 5,
    /// A trailing stop placed before there is a price to trail.
    NoPriceToTrail = 6,
}

impl OrderReject {
    pub const NAMES: [&'static str; 7] = [
        "unknown_trader",
        "insufficient_margin",
        "leverage_exceeds_tier",
        "reduce_only_would_increase",
        "out_of_range",
        "stop_would_trigger_now",
        "no_price_to_trail",
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TradeRecord {
    pub ts: Ts,
    pub price: Price,
    pub qty: Qty,
    pub aggressor: Side,
    pub taker: TraderId,
    pub maker: TraderId,
    pub kind: TradeKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiquidationRecord {
    pub ts: Ts,
    pub trader: TraderId,
    /// Side of the liquidated position: `Buy` for a long, `Sell` for a short.
    pub side: Side,
    /// Lots closed by this liquidation (book, backstop and ADL together).
    pub qty: Qty,
    pub mark: Price,
    /// Average price of the book fills in ticks (NaN when nothing filled in the book).
    pub avg_fill_ticks: f64,
    pub bankruptcy_price: Price,
    /// Change of the insurance fund caused by this liquidation.
    pub insurance_delta: Money,
    pub kind: LiquidationKind,
    pub round: u32,
}

impl LiquidationRecord {
    /// The liquidated notional: quantity × average book fill price, or × the bankruptcy price
    /// when the book filled nothing (a takeover or ADL closes there). The one valuation the
    /// series, sweep summaries and Python tables all use.
    pub fn notional(&self, scale: NotionalScale) -> Money {
        let price = if self.avg_fill_ticks.is_finite() { self.avg_fill_ticks } else { self.bankruptcy_price as f64 };
        Money((price * self.qty as f64).round() as i128 * scale.money_per_tick_lot())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdlRecord {
    pub ts: Ts,
    /// The deleveraged counterparty.
    pub trader: TraderId,
    pub liquidated: TraderId,
    /// Side of the deleveraged position.
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub round: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FundingRecord {
    pub ts: Ts,
    pub rate: Rate,
    pub mark: Price,
    /// Σ paid by longs (= Σ received by shorts; negative when shorts paid).
    pub paid_by_longs: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InsuranceRecord {
    pub ts: Ts,
    pub delta: Money,
    pub balance: Money,
    pub reason: InsuranceReason,
    pub trader: TraderId,
}

/// Everything the exchange has recorded, in order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tape {
    pub trades: Vec<TradeRecord>,
    pub liquidations: Vec<LiquidationRecord>,
    pub adl: Vec<AdlRecord>,
    pub funding: Vec<FundingRecord>,
    pub insurance: Vec<InsuranceRecord>,
    pub stops: Vec<StopRecord>,
}

/// A new order from an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    pub side: Side,
    pub qty: Qty,
    /// `None`: market order.
    pub price: Option<Price>,
    pub tif: TimeInForce,
    pub reduce_only: bool,
}

/// What became of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitResult {
    pub outcome: Outcome,
    /// Set when the exchange refused the order before it reached the book.
    pub reject: Option<OrderReject>,
    /// Quantity actually sent (a reduce-only order is trimmed to the position).
    pub sent_qty: Qty,
}

/// A resting order to load: side, price (ticks), quantity (lots), owner (`None`: background liquidity).
pub type RestingOrder = (Side, Price, Qty, Option<TraderId>);

/// One row of the accounts table to load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccountRow {
    pub id: TraderId,
    /// Wallet balance (for isolated accounts: besides the isolated margin).
    pub balance: Money,
    pub mode: MarginMode,
    /// Signed position in lots.
    pub lots: Qty,
    /// Entry price in money per lot (any value, not only on the tick grid).
    pub entry_money_per_lot: Money,
    pub leverage: u32,
    /// Isolated margin (in addition to `balance`); `None`: entry notional / leverage.
    pub isolated_margin: Option<Money>,
}

/// The market.
#[derive(Clone, Debug)]
pub struct Exchange {
    cfg: ExchangeConfig,
    book: OrderBook,
    accounts: Vec<Account>,
    /// (external id, dense index), sorted by id: lookups by binary search, 16 bytes an account.
    by_id: Vec<(i64, u32)>,
    index: TriggerIndex,
    /// The triggers of legs of multi-instrument accounts (`Account::others` set): kept apart so
    /// that this market's own cascade never closes them out on its own (the venue does, at the
    /// account level, in its published order: [`crate::multi`]).
    leg_index: TriggerIndex,
    /// Legs whose position or balance changed since the venue last looked (it refreshes the
    /// account's other legs): pushed by `refresh_trigger`, drained by the venue.
    dirty_legs: Vec<u32>,
    /// The leg the venue is closing out: not reported (the venue refreshes its account after).
    quiet_leg: Option<u32>,
    /// Resting orders per account: owner, side, open lots, reduce-only flag; O(1) per change.
    open_orders: OpenOrders,
    /// Stop orders waiting for their trigger.
    stops: crate::stops::StopBook,
    /// Σ of long positions in lots, kept as positions change (a sample of the market reads it
    /// every second: it must not cost a pass over every account).
    open_interest: Qty,
    /// dYdX blocks: no further close-out of the account before this time.
    cooldown_until: HashMap<u32, Ts>,
    /// Hyperliquid: after a 20 % slice, liquidations before this time take the whole position.
    whole_position_until: HashMap<u32, Ts>,
    /// The mark before the current one (Hyperliquid deleverages at it).
    previous_mark: Option<Price>,
    fees: Money,
    /// Total money put in by loads (the conserved quantity).
    deposits: Money,
    ts: Ts,
    last: Option<Price>,
    last_for_mark: Option<Price>,
    index_price: Option<Price>,
    mark: Option<Price>,
    basis: BasisAverager,
    premiums: FundingAccumulator,
    last_funding_rate: Rate,
    next_basis_sample: Ts,
    next_premium_sample: Ts,
    next_settlement: Ts,
    events: Vec<Event>,
    tape: Tape,
    rounds_in_last_cascade: u32,
    max_round: u32,
    /// ADL ranking cache: (round, side of the candidates, ranked accounts, next position).
    adl_queue: Option<(u32, i64, Vec<u32>, usize)>,
    /// The account inside `liquidate` (its fills do not settle a flat position on their own).
    liquidating: Option<u32>,
}

impl Exchange {
    pub fn new(cfg: ExchangeConfig) -> Result<Exchange, Error> {
        cfg.preset.funding.validate()?;
        validate_money_parameters(&cfg)?;
        let basis = BasisAverager::new(cfg.mark_rule.basis_window())?;
        let mut backstop = Account::new(BACKSTOP_ID, cfg.insurance_fund, MarginMode::Cross, 1);
        backstop.exempt = true;
        let mut liquidity = Account::new(LIQUIDITY_ID, Money::ZERO, MarginMode::Cross, 1);
        liquidity.exempt = true;
        let interval = cfg.preset.funding.interval;
        Ok(Exchange {
            book: OrderBook::new(cfg.stp),
            deposits: cfg.insurance_fund,
            accounts: vec![backstop, liquidity],
            // Sorted by external id (−2 before −1): `account_index` binary-searches it.
            by_id: vec![(LIQUIDITY_ID.0, LIQUIDITY), (BACKSTOP_ID.0, BACKSTOP)],
            index: TriggerIndex::new(),
            leg_index: TriggerIndex::new(),
            dirty_legs: Vec::new(),
            quiet_leg: None,
            open_orders: OpenOrders::default(),
            stops: crate::stops::StopBook::new(),
            open_interest: 0,
            cooldown_until: HashMap::new(),
            whole_position_until: HashMap::new(),
            previous_mark: None,
            fees: Money::ZERO,
            ts: 0,
            last: None,
            last_for_mark: None,
            index_price: None,
            mark: None,
            basis,
            premiums: FundingAccumulator::new(),
            last_funding_rate: Rate::ZERO,
            next_basis_sample: SECOND,
            next_premium_sample: cfg.preset.funding.sample_every,
            next_settlement: interval,
            events: Vec::new(),
            tape: Tape::default(),
            rounds_in_last_cascade: 0,
            max_round: 0,
            adl_queue: None,
            liquidating: None,
            cfg,
        })
    }

    // ----- reading ------------------------------------------------------------------------------

    pub fn config(&self) -> &ExchangeConfig {
        &self.cfg
    }
    pub fn book(&self) -> &OrderBook {
        &self.book
    }
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }
    pub fn tape(&self) -> &Tape {
        &self.tape
    }
    pub fn ts(&self) -> Ts {
        self.ts
    }
    pub fn mark(&self) -> Option<Price> {
        self.mark
    }
    pub fn last(&self) -> Option<Price> {
        self.last
    }
    pub fn index_price(&self) -> Option<Price> {
        self.index_price
    }
    /// The funding rate the premiums sampled so far in this interval would give if settled now.
    pub fn funding_rate_estimate(&self) -> Rate {
        self.premiums.rate(&self.cfg.preset.funding)
    }
    pub fn insurance_fund(&self) -> Money {
        self.accounts[BACKSTOP as usize].wallet
    }
    pub fn fees(&self) -> Money {
        self.fees
    }
    /// Largest price in ticks this market accepts (orders, book rows, index): see [`crate::limits`].
    pub fn max_price(&self) -> Price {
        crate::limits::max_price(self.cfg.scale)
    }
    pub fn trigger_index(&self) -> &TriggerIndex {
        &self.index
    }
    /// Rounds of the most recent cascade, and the deepest round seen.
    pub fn cascade_rounds(&self) -> (u32, u32) {
        (self.rounds_in_last_cascade, self.max_round)
    }

    /// Open interest in lots: Σ of long positions (= Σ of shorts).
    pub fn open_interest(&self) -> Qty {
        self.open_interest
    }

    /// Traders whose trigger a mark at `price` would cross (the trigger index's answer, without
    /// acting on it): the check "is anyone already under maintenance at the start".
    pub fn crossed_at(&self, price: Price) -> Vec<TraderId> {
        let mut crossed = Vec::new();
        self.index.crossed(price, &mut crossed);
        crossed.sort_unstable();
        crossed.into_iter().map(|a| self.accounts[a as usize].id).collect()
    }

    /// Dense index of an external trader id.
    pub fn account_index(&self, id: TraderId) -> Option<u32> {
        self.by_id.binary_search_by_key(&id.0, |&(i, _)| i).ok().map(|k| self.by_id[k].1)
    }

    pub fn account(&self, id: TraderId) -> Option<&Account> {
        self.account_index(id).map(|i| &self.accounts[i as usize])
    }

    // ----- loading ------------------------------------------------------------------------------

    /// Add accounts in bulk. Positions are taken on against the background liquidity account at
    /// their entry prices, so positions sum to zero and unrealised PnL nets to zero from the start.
    /// Errors name the column and row of the first bad row; nothing is added then. Values beyond
    /// [`crate::limits`] are errors. Only the new rows' triggers are computed (cost O(rows), not
    /// O(accounts loaded so far)); once a mark exists (after the first action), an account that is
    /// liquidatable when loaded is liquidated before this returns (the cascade runs). Before that,
    /// there is no mark to be liquidatable at, and [`Exchange::check_invariants`] agrees.
    pub fn add_accounts(&mut self, rows: &[AccountRow]) -> Result<(), Error> {
        self.validate_account_rows(rows)?;
        self.insert_account_rows(rows, |_| false);
        if self.mark.is_some() {
            self.run_cascade();
        }
        Ok(())
    }

    /// The checks of [`Exchange::add_accounts`], changing nothing (the venue checks every
    /// instrument's rows before loading any).
    pub(crate) fn validate_account_rows(&self, rows: &[AccountRow]) -> Result<(), Error> {
        use crate::limits::{MAX_BALANCE, MAX_NOTIONAL, MAX_POSITION_LOTS};
        let money_limit = |column: &'static str, row: usize, m: Money| {
            if m.0 > MAX_BALANCE.0 {
                Err(Error::BadInput {
                    column,
                    row,
                    message: format!("{} is above the largest balance the engine holds exactly (1e18)", m.to_f64()),
                })
            } else {
                Ok(())
            }
        };
        let bad = |column: &'static str, row: usize, message: String| Error::BadInput { column, row, message };
        let mut new_ids: Vec<(i64, usize)> = rows.iter().enumerate().map(|(r, a)| (a.id.0, r)).collect();
        new_ids.sort_unstable();
        for w in new_ids.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(bad("trader_id", w[1].1, format!("trader id {} appears twice", w[0].0)));
            }
        }
        for (r, a) in rows.iter().enumerate() {
            if self.account_index(a.id).is_some() || a.id.0 < 0 {
                return Err(bad("trader_id", r, format!("trader id {} is taken (ids < 0 are reserved)", a.id.0)));
            }
            if a.leverage == 0 {
                return Err(bad("leverage", r, "must be ≥ 1".into()));
            }
            if a.lots != 0 {
                if a.entry_money_per_lot.0 <= 0 {
                    return Err(bad("entry_price", r, "must be > 0 for an open position".into()));
                }
                if a.lots.unsigned_abs() > MAX_POSITION_LOTS as u64 {
                    return Err(bad(
                        "qty",
                        r,
                        format!(
                            "{} lots is above the largest position ({MAX_POSITION_LOTS} lots)",
                            a.lots.unsigned_abs()
                        ),
                    ));
                }
                let max_per_lot = self.max_price() as i128 * self.cfg.scale.money_per_tick_lot();
                if a.entry_money_per_lot.0 > max_per_lot {
                    return Err(bad(
                        "entry_price",
                        r,
                        format!("is above the largest price of this market ({} ticks)", self.max_price()),
                    ));
                }
                let notional = a
                    .entry_money_per_lot
                    .0
                    .checked_mul(a.lots.unsigned_abs() as i128)
                    .filter(|&n| n <= MAX_NOTIONAL.0)
                    .map(Money)
                    .ok_or_else(|| bad("qty", r, "position notional is above the largest (1e18)".into()))?;
                let max_lev = self.cfg.preset.tiers.tier_for(notional).max_leverage;
                if a.leverage > max_lev {
                    return Err(bad(
                        "leverage",
                        r,
                        format!(
                            "{}x is above the {max_lev}x allowed for a {:.2} notional",
                            a.leverage,
                            notional.to_f64()
                        ),
                    ));
                }
            }
            if a.isolated_margin.is_some_and(|m| m.0 < 0) || a.balance.0 < 0 {
                return Err(bad("balance", r, "must be ≥ 0".into()));
            }
            money_limit("balance", r, a.balance)?;
            money_limit("isolated_margin", r, a.isolated_margin.unwrap_or(Money::ZERO))?;
        }
        Ok(())
    }

    /// Load rows already validated; `is_leg(row)`: the row is a leg of a multi-instrument
    /// account (its trigger goes to the leg index, with no other legs counted until the venue
    /// sets them). Does not run the cascade.
    pub(crate) fn insert_account_rows(&mut self, rows: &[AccountRow], is_leg: impl Fn(usize) -> bool) {
        let first_new = self.accounts.len() as u32;
        let mut new_index: Vec<(i64, u32)> = Vec::with_capacity(rows.len());
        for (r, a) in rows.iter().enumerate() {
            let mut acct = Account::new(a.id, a.balance, a.mode, a.leverage);
            if is_leg(r) {
                acct.leg = true;
            }
            let cost = Money(a.entry_money_per_lot.0 * a.lots.unsigned_abs() as i128);
            acct.position = Position { lots: a.lots, cost: if a.lots == 0 { Money::ZERO } else { cost } };
            if a.mode == MarginMode::Isolated && a.lots != 0 {
                acct.isolated_margin = a.isolated_margin.unwrap_or(Money(cost.0 / a.leverage as i128));
            }
            self.deposits += acct.total_balance();
            // The mirror: background liquidity takes the other side at the same value, as one
            // exact fill (it may realise PnL against positions it already holds).
            let lp = &mut self.accounts[LIQUIDITY as usize];
            let lp_before = lp.position.lots;
            let realized = lp.position.fill_value(-a.lots, acct.position.cost);
            self.open_interest += a.lots.max(0) + lp.position.lots.max(0) - lp_before.max(0);
            lp.realized_pnl += realized;
            lp.credit(realized);
            let idx = self.accounts.len() as u32;
            self.accounts.push(acct);
            new_index.push((a.id.0, idx));
        }
        // Keep `by_id` sorted without re-sorting what is already loaded: appending is O(rows) when
        // the new ids all follow the old ones (batches in id order), otherwise one merge.
        new_index.sort_unstable();
        let appends = match (self.by_id.last(), new_index.first()) {
            (Some(last), Some(first)) => first.0 > last.0,
            _ => true,
        };
        if appends {
            self.by_id.extend(new_index);
        } else {
            let old = std::mem::take(&mut self.by_id);
            self.by_id = merge_sorted(old, new_index);
        }
        for i in first_new..self.accounts.len() as u32 {
            self.refresh_trigger(i);
        }
    }

    /// Load resting orders (`owner` `None`: background liquidity). A row that would trade against
    /// the book (as loaded so far, rows before it included) is an error: a loaded book must not be
    /// crossed. Atomic: on an error (naming the column and row) nothing is added. Prices above
    /// [`Exchange::max_price`] are errors. The stored mark does not move (a book load is not a
    /// market action): the next action recomputes it and runs the cascade.
    pub fn add_resting_orders(&mut self, rows: &[RestingOrder]) -> Result<(), Error> {
        let bad = |column: &'static str, row: usize, message: String| Error::BadInput { column, row, message };
        // Validate every row before touching the book: what the book would refuse, and the
        // running touch, so that a row crossing an earlier one is caught here too.
        let max_price = self.max_price();
        let mut best_bid = self.book.best_bid().map(|(p, _)| p);
        let mut best_ask = self.book.best_ask().map(|(p, _)| p);
        let mut owners = Vec::with_capacity(rows.len());
        for (r, &(side, price, qty, owner)) in rows.iter().enumerate() {
            let acct = match owner {
                None => LIQUIDITY,
                Some(id) => self
                    .account_index(id)
                    .ok_or_else(|| bad("owner", r, format!("trader {} is not a loaded account", id.0)))?,
            };
            if qty <= 0 {
                return Err(bad("qty", r, format!("{qty} lots: must be > 0")));
            }
            if qty > crate::book::MAX_ORDER_QTY {
                return Err(bad(
                    "qty",
                    r,
                    format!("{qty} lots is above the largest order ({} lots)", crate::book::MAX_ORDER_QTY),
                ));
            }
            if price <= 0 || price > max_price {
                return Err(bad("price", r, format!("{price} ticks is outside 1..={max_price} ticks")));
            }
            let crosses = match side {
                Side::Buy => best_ask.is_some_and(|a| price >= a),
                Side::Sell => best_bid.is_some_and(|b| price <= b),
            };
            if crosses {
                return Err(bad(
                    "price",
                    r,
                    format!("{} at {price} ticks crosses the book loaded so far", side.name()),
                ));
            }
            match side {
                Side::Buy => best_bid = Some(best_bid.map_or(price, |b| b.max(price))),
                Side::Sell => best_ask = Some(best_ask.map_or(price, |a| a.min(price))),
            }
            owners.push(acct);
        }
        let mut placed: Vec<OrderId> = Vec::with_capacity(rows.len());
        self.open_orders.reserve(rows.len());
        self.book.reserve(rows.len());
        for (r, (&(side, price, qty, _), &acct)) in rows.iter().zip(&owners).enumerate() {
            self.events.clear();
            let order = NewOrder::limit(side, price, qty).with_owner(acct as i64).with_tif(TimeInForce::PostOnly);
            let out = self.book.submit(order, &mut self.events);
            match (out.status, out.order_id) {
                (Status::Open, Some(id)) => {
                    self.open_orders.add(acct, id, side, qty, false);
                    placed.push(id);
                }
                _ => {
                    // Only a level total beyond i64 gets here (millions of maximum-size orders at
                    // one price): undo the rows placed so far, then report.
                    let reason = out.reject.map_or("refused", |x| x.name());
                    for id in placed {
                        self.book.cancel(id, &mut self.events);
                        self.open_orders.remove(id);
                    }
                    self.events.clear();
                    return Err(bad("qty", r, format!("refused by the book: {reason}")));
                }
            }
        }
        self.events.clear();
        Ok(())
    }

    // ----- acting -------------------------------------------------------------------------------

    /// Place an order for an account. Runs the cascade afterwards.
    pub fn submit(&mut self, trader: TraderId, req: OrderRequest) -> SubmitResult {
        let result = self.place(trader, req);
        self.run_cascade();
        result
    }

    fn place(&mut self, trader: TraderId, req: OrderRequest) -> SubmitResult {
        self.place_as(trader, req, TradeKind::Normal)
    }

    /// Place an order whose fills are recorded as `kind` (normal, or a triggered stop's).
    fn place_as(&mut self, trader: TraderId, req: OrderRequest, kind: TradeKind) -> SubmitResult {
        let rejected = |reject, qty| SubmitResult {
            outcome: Outcome { order_id: None, status: Status::Rejected, reject: None, filled: 0, notional: 0 },
            reject: Some(reject),
            sent_qty: qty,
        };
        let Some(a) = self.account_index(trader) else { return rejected(OrderReject::UnknownTrader, 0) };
        if req.price.is_some_and(|p| p > self.max_price()) {
            return rejected(OrderReject::OutOfRange, req.qty);
        }
        let mut qty = req.qty;
        let acct = &self.accounts[a as usize];
        if req.reduce_only {
            let pos = acct.position.lots;
            if pos == 0 || pos.signum() == req.side.sign() {
                return rejected(OrderReject::ReduceOnlyWouldIncrease, 0);
            }
            qty = qty.min(pos.abs());
        } else if !acct.exempt && qty > 0 {
            if let Some(reject) = self.initial_margin_check(a, req.side, qty, req.price) {
                return rejected(reject, qty);
            }
        }
        let order = NewOrder {
            id: None,
            owner: TraderId(a as i64),
            side: req.side,
            order_type: if req.price.is_some() { OrderType::Limit } else { OrderType::Market },
            price: req.price,
            qty,
            tif: req.tif,
        };
        self.events.clear();
        let outcome = self.book.submit(order, &mut self.events);
        if matches!(outcome.status, Status::Open | Status::PartiallyFilled) {
            let id = outcome.order_id.expect("resting orders have ids");
            self.open_orders.add(a, id, req.side, qty - outcome.filled, req.reduce_only);
        }
        self.settle_events(kind, None);
        SubmitResult { outcome, reject: None, sent_qty: qty }
    }

    /// Initial margin check for an order that may increase the position: the worst-case exposure
    /// (position plus this and the account's other resting orders on each side) at the order's
    /// price must fit the leverage setting, and that leverage the tier of the exposure.
    fn initial_margin_check(&self, a: u32, side: Side, qty: Qty, price: Option<Price>) -> Option<OrderReject> {
        let acct = &self.accounts[a as usize];
        let (buys, sells) = self.open_orders.open_lots(a);
        // Lots are bounded (orders ≤ MAX_ORDER_QTY, positions by the loaders), the sums are i128:
        // no overflow; the exposure must still fit a position.
        let (mut buys, mut sells) = (buys, sells);
        let pos = acct.position.lots as i128;
        // Room left to close: the position less the account's other orders already closing it.
        let closable = match side {
            Side::Sell => (pos - sells).max(0),
            Side::Buy => (-pos - buys).max(0),
        };
        let qty = qty as i128;
        if qty <= closable {
            // An order that only closes needs no new margin: closing must stay possible when the
            // account is short of margin.
            return None;
        }
        match side {
            Side::Buy => buys += qty,
            Side::Sell => sells += qty,
        }
        let Ok(exposure) = i64::try_from((pos + buys).abs().max((pos - sells).abs())) else {
            return Some(OrderReject::OutOfRange);
        };
        let reference = price
            .or_else(|| self.book.sweep(side, qty as Qty).worst_price)
            .or(self.mark)
            .unwrap_or(0)
            .max(self.mark.unwrap_or(0));
        let Some(notional) = crate::limits::checked_notional(exposure as i128, reference as i128, self.cfg.scale)
        else {
            return Some(OrderReject::OutOfRange);
        };
        let tier = self.cfg.preset.tiers.tier_for(notional);
        if acct.leverage > tier.max_leverage {
            return Some(OrderReject::LeverageExceedsTier);
        }
        let initial = Money((notional.0 + acct.leverage as i128 - 1) / acct.leverage as i128);
        let available = match acct.mode {
            MarginMode::Cross => acct.margin_balance(self.mark.unwrap_or(reference), self.cfg.scale),
            MarginMode::Isolated => acct.wallet + acct.isolated_margin,
        };
        (available < initial).then_some(OrderReject::InsufficientMargin)
    }

    /// Cancel an account's resting order. Runs the cascade afterwards (nothing moves, but the call
    /// is uniform).
    pub fn cancel(&mut self, trader: TraderId, order_id: OrderId) -> Result<Outcome, OrderReject> {
        let a = self.account_index(trader).ok_or(OrderReject::UnknownTrader)?;
        let mine = self.open_orders.owner(order_id) == Some(a);
        self.events.clear();
        if !mine {
            // Another account's live order is "unknown" to this one; otherwise the book's memory
            // tells a closed order from one never seen.
            let reason = if self.book.order(order_id).is_none() && self.book.has_seen(order_id) {
                crate::book::RejectReason::NotOpen
            } else {
                crate::book::RejectReason::UnknownOrder
            };
            let outcome = Outcome {
                order_id: Some(order_id),
                status: Status::Rejected,
                reject: Some(reason),
                filled: 0,
                notional: 0,
            };
            return Ok(outcome);
        }
        let outcome = self.book.cancel(order_id, &mut self.events);
        self.settle_events(TradeKind::Normal, None);
        self.run_cascade();
        Ok(outcome)
    }

    /// Set the index (spot) price. Runs the cascade afterwards.
    pub fn set_index(&mut self, price: Price) {
        self.index_price = Some(price);
        self.run_cascade();
    }

    /// Move the clock to `ts`: samples the mark basis every second and the funding premium on the
    /// venue's schedule, settles funding at interval boundaries, and runs the cascade at each step.
    ///
    /// Idle stretches are jumped over: once the basis window is full of the value a sample would
    /// add now (the book and index have not moved), further samples change nothing until the next
    /// settlement, and the mark moves monotonically with the time to funding, so the samples up to
    /// the next settlement are taken in one step, stopping early at the first second at which the
    /// mark would liquidate someone (found by bisection). The cost is O(settlements + state
    /// changes), not O(seconds): `advance_to(1.7e18)` and `advance_to(i64::MAX)` return promptly.
    pub fn advance_to(&mut self, ts: Ts) {
        loop {
            let next = self.next_event();
            if next > ts || next == NEVER {
                break;
            }
            if self.skip_idle_samples(ts) {
                continue;
            }
            self.step_events(next);
            self.run_cascade();
        }
        self.ts = self.ts.max(ts);
        self.run_cascade();
    }

    /// The time of the next sample or settlement (`NEVER`: none).
    pub(crate) fn next_event(&self) -> Ts {
        self.next_basis_sample.min(self.next_premium_sample).min(self.next_settlement)
    }

    /// Move the clock to `next` (the next event, see [`Self::next_event`]) and take the samples
    /// and settlement due then; the caller runs the cascade.
    pub(crate) fn step_events(&mut self, next: Ts) {
        let rule = self.cfg.preset.funding;
        self.ts = next;
        if next == self.next_basis_sample {
            if let (Some((bid, _)), Some((ask, _)), Some(index)) =
                (self.book.best_bid(), self.book.best_ask(), self.index_price)
            {
                self.basis.sample(bid, ask, index);
            }
            self.next_basis_sample = next.checked_add(SECOND).unwrap_or(NEVER);
        }
        if next == self.next_premium_sample {
            if let Some(p) = self.premium_sample() {
                self.premiums.sample(p);
            }
            self.next_premium_sample = next.checked_add(rule.sample_every).unwrap_or(NEVER);
        }
        if next == self.next_settlement {
            self.settle_funding();
            self.next_settlement = next.checked_add(rule.interval).unwrap_or(NEVER);
        }
    }

    /// Take, in one step, the basis and premium samples due before the next settlement (and before
    /// `ts` and any cooldown expiry) while they cannot change anything: the basis window is full of
    /// the sample the book and index give now. Stops before the first sample time at which the
    /// cascade would act. Returns whether the clock moved.
    fn skip_idle_samples(&mut self, ts: Ts) -> bool {
        let Some((first, last)) = self.idle_window(ts) else { return false };
        let now = self.ts;
        let at = |k: i64| first + k * SECOND;
        // The mark is monotone in time here, and nothing is liquidatable now: "the cascade acts at
        // sample k" is false up to some k and true after. Find the first true one, if any.
        if self.cascade_would_act_at(at(0)) {
            self.ts = now;
            return false;
        }
        let skip_to = if !self.cascade_would_act_at(at(last)) {
            last
        } else {
            let (mut lo, mut hi) = (0, last); // acts(lo) false, acts(hi) true
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if self.cascade_would_act_at(at(mid)) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            lo
        };
        self.skip_samples_to(at(skip_to));
        true
    }

    /// The samples up to `ts` that change nothing but the mark's time to funding: (the first
    /// sample's time, `last`) for the sample times `first + k·SECOND`, `k` in `0..=last`, before
    /// the next settlement and any cooldown expiry, while the basis window is full of the sample
    /// the book and index give now. `None` when that is not so or fewer than a few samples.
    pub(crate) fn idle_window(&self, ts: Ts) -> Option<(Ts, i64)> {
        let quotes = (self.book.best_bid(), self.book.best_ask(), self.index_price);
        if let (Some((bid, _)), Some((ask, _)), Some(index)) = quotes {
            if !self.basis.is_full_of(bid, ask, index) {
                return None;
            }
        }
        let now = self.ts;
        let mut end = ts.min(self.next_settlement.saturating_sub(1));
        if let Some(&expiry) = self.cooldown_until.values().filter(|&&t| t > now).min() {
            end = end.min(expiry - 1);
        }
        let first = self.next_basis_sample;
        if first > end || first > self.next_premium_sample {
            return None;
        }
        let last = (end - first) / SECOND;
        (last >= 4).then_some((first, last))
    }

    /// Take every sample of an idle window (see [`Self::idle_window`]) up to the one at `until`
    /// in one step, and recompute the mark there; the caller runs the cascade.
    pub(crate) fn skip_samples_to(&mut self, until: Ts) {
        // Premium samples due by then: all the same value (nothing moved).
        let every = self.cfg.preset.funding.sample_every;
        if self.next_premium_sample <= until {
            let count = (until - self.next_premium_sample) / every + 1;
            if let Some(p) = self.premium_sample() {
                self.premiums.sample_repeated(p, count);
            }
            self.next_premium_sample = self.next_premium_sample.checked_add(count * every).unwrap_or(NEVER);
        }
        self.ts = until;
        self.next_basis_sample = until.checked_add(SECOND).unwrap_or(NEVER);
        self.refresh_mark();
    }

    /// Whether the cascade would liquidate anyone at time `t` with nothing else changed (leaves
    /// the clock at `t`; the caller sets it).
    fn cascade_would_act_at(&mut self, t: Ts) -> bool {
        self.ts = t;
        let Some(mark) = self.compute_mark() else { return false };
        let mut crossed = Vec::new();
        self.index.crossed(mark, &mut crossed);
        crossed.iter().any(|a| self.cooldown_until.get(a).is_none_or(|&until| until <= t))
    }

    /// The premium index the book and index give now (`None`: no index, or a side too thin).
    fn premium_sample(&self) -> Option<Rate> {
        let index = self.index_price?;
        // Impact notional: the venue's (Binance: 200 USDT of margin at the first tier's max leverage).
        let impact_money = self.cfg.preset.impact_notional.0;
        let impact = impact_money / self.cfg.scale.money_per_tick_lot();
        let bid = self.book.sweep_notional(Side::Sell, impact);
        let ask = self.book.sweep_notional(Side::Buy, impact);
        if bid.filled == 0 || ask.filled == 0 {
            return None;
        }
        let avg = |s: crate::book::Sweep| s.notional as f64 / s.filled as f64;
        premium_index(avg(bid), avg(ask), index as f64)
    }

    fn settle_funding(&mut self) {
        let rule = self.cfg.preset.funding;
        let rate = self.premiums.rate(&rule);
        self.premiums.reset();
        self.last_funding_rate = rate;
        // The price funding is paid on: the mark, or the oracle (index) on Hyperliquid.
        let price = match self.cfg.preset.funding_price {
            crate::venue::FundingPrice::Mark => self.mark,
            crate::venue::FundingPrice::Index => self.index_price.or(self.mark),
        };
        let Some(mark) = price else { return };
        let holders: Vec<u32> =
            (0..self.accounts.len() as u32).filter(|&i| !self.accounts[i as usize].position.is_flat()).collect();
        let lots: Vec<Qty> = holders.iter().map(|&i| self.accounts[i as usize].position.lots).collect();
        let Some(payments) = crate::funding::settle_funding(&lots, mark, rate, self.cfg.scale) else { return };
        let mut paid_by_longs = Money::ZERO;
        for (&i, &pay) in holders.iter().zip(&payments) {
            if self.accounts[i as usize].position.lots > 0 {
                paid_by_longs -= pay;
            }
            self.accounts[i as usize].credit(pay);
            if i == BACKSTOP && pay != Money::ZERO {
                self.record_insurance(pay, InsuranceReason::Funding, BACKSTOP_ID);
            }
            self.refresh_trigger(i);
        }
        self.tape.funding.push(FundingRecord { ts: self.ts, rate, mark, paid_by_longs });
    }

    // ----- fills and bookkeeping ------------------------------------------------------------------

    /// Apply the book events of the last action: positions, fees, order lists, last price.
    /// `liquidated`: the account whose liquidation order this was (pays no taker fee: it pays the
    /// liquidation fee instead). Returns (lots filled by the taker, Σ price × lots).
    fn settle_events(&mut self, kind: TradeKind, liquidated: Option<u32>) -> (Qty, i128) {
        let events = std::mem::take(&mut self.events);
        let (mut filled, mut notional) = (0, 0i128);
        for event in &events {
            match *event {
                Event::Trade(t) => {
                    let taker = t.taker_owner.0 as u32;
                    let maker = t.maker_owner.0 as u32;
                    let fees = self.cfg.preset.fees;
                    let taker_fee = if liquidated == Some(taker) { Rate::ZERO } else { fees.taker };
                    let signed = t.aggressor.sign() * t.qty;
                    self.apply_fill(taker, signed, t.price, taker_fee);
                    self.apply_fill(maker, -signed, t.price, fees.maker);
                    filled += t.qty;
                    notional += t.price as i128 * t.qty as i128;
                    self.tape.trades.push(TradeRecord {
                        ts: self.ts,
                        price: t.price,
                        qty: t.qty,
                        aggressor: t.aggressor,
                        taker: self.accounts[taker as usize].id,
                        maker: self.accounts[maker as usize].id,
                        kind,
                    });
                    self.last = Some(t.price);
                    if matches!(kind, TradeKind::Normal | TradeKind::Stop) || self.cfg.closeouts_move_mark {
                        self.last_for_mark = Some(t.price);
                    }
                    if t.maker_remaining == 0 {
                        self.open_orders.remove(t.maker_order_id);
                    } else {
                        self.open_orders.set_qty(t.maker_order_id, t.maker_remaining);
                    }
                }
                Event::Cancelled { order_id, .. } | Event::Expired { order_id, .. } => {
                    self.open_orders.remove(order_id);
                }
                _ => {}
            }
        }
        self.events = events;
        self.events.clear();
        (filled, notional)
    }

    /// A fill of `signed` lots at `price` for account `a`, paying `fee_rate` on the notional.
    fn apply_fill(&mut self, a: u32, signed: Qty, price: Price, fee_rate: Rate) {
        let scale = self.cfg.scale;
        let acct = &mut self.accounts[a as usize];
        let before = acct.position.lots;
        let realized = acct.position.fill(signed, price, scale);
        self.open_interest += acct.position.lots.max(0) - before.max(0);
        acct.realized_pnl += realized;
        acct.credit(realized);
        let notional = Position { lots: signed, cost: Money::ZERO }.notional(price, scale);
        // Isolated: opening or adding moves initial margin from the wallet to the position.
        // Isolated: lots newly opened (added to the position, or the new side after a flip) take
        // their initial margin from the wallet into the position's margin.
        let now = acct.position.lots;
        let opened = if now.signum() == before.signum() { now.abs().saturating_sub(before.abs()) } else { now.abs() };
        if acct.mode == MarginMode::Isolated && opened > 0 {
            let im = Money(opened as i128 * price as i128 * scale.money_per_tick_lot() / acct.leverage as i128);
            let moved = Money(im.0.min(acct.wallet.0.max(0)));
            acct.wallet -= moved;
            acct.isolated_margin += moved;
        }
        let fee = fee_rate.apply(notional, Rounding::Up).unwrap_or(Money::ZERO);
        acct.credit(-fee);
        self.fees += fee;
        if a == BACKSTOP && realized - fee != Money::ZERO {
            // The fund's balance moves: on the record like every other change of the fund. A
            // takeover pays no fee; the backstop unwinder's own orders pay the taker fee, which is
            // part of what unwinding cost the fund, so it is netted into the same record.
            self.record_insurance(realized - fee, InsuranceReason::PositionPnl, BACKSTOP_ID);
        }
        // The account being liquidated settles once, when its liquidation ends.
        if self.liquidating != Some(a) {
            self.settle_if_flat(a);
        }
        if self.accounts[a as usize].position.lots.signum() != before.signum()
            || self.accounts[a as usize].position.is_flat()
        {
            self.enforce_reduce_only(a);
        }
        self.refresh_trigger(a);
    }

    /// A flat account: its isolated margin returns to the wallet, and if a fill past bankruptcy
    /// (its own order into a thin book, or a liquidation) left it owing money, the insurance fund
    /// covers that, on the record.
    fn settle_if_flat(&mut self, a: u32) {
        let acct = &mut self.accounts[a as usize];
        if !acct.position.is_flat() {
            return;
        }
        acct.release_isolated_if_flat();
        // A leg of a multi-instrument account may sit below zero: the account's other legs back
        // it, and the venue settles a hole once the whole account is flat.
        if !acct.exempt && !acct.leg && acct.wallet < Money::ZERO {
            let owed = acct.wallet;
            self.pay_fund(a, owed, InsuranceReason::TraderShortfall);
        }
    }

    /// Resting reduce-only orders may not outgrow the position they reduce.
    fn enforce_reduce_only(&mut self, a: u32) {
        let ids = self.open_orders.reduce_only_of(a);
        let pos = self.accounts[a as usize].position.lots;
        for id in ids {
            let Some(o) = self.book.order(id) else { continue };
            let reduces = pos != 0 && pos.signum() != o.side.sign();
            let mut scratch = Vec::new();
            if !reduces {
                self.book.cancel(id, &mut scratch);
                self.open_orders.remove(id);
            } else if o.qty > pos.abs() {
                self.book.modify(id, pos.abs(), None, &mut scratch);
                self.open_orders.set_qty(id, pos.abs());
            }
        }
    }

    /// Recompute an account's trigger price and move it in the index (a leg of a multi-instrument
    /// account: in the leg index, and the venue is told).
    fn refresh_trigger(&mut self, a: u32) {
        if self.refresh_trigger_quietly(a) && self.quiet_leg != Some(a) {
            self.dirty_legs.push(a);
        }
    }

    /// [`refresh_trigger`](Self::refresh_trigger) without telling the venue; returns whether `a`
    /// is a leg.
    fn refresh_trigger_quietly(&mut self, a: u32) -> bool {
        let acct = &self.accounts[a as usize];
        let leg = acct.leg;
        let new = trigger_price(acct, self.cfg.scale, &self.cfg.preset.tiers).map(|price| Trigger {
            side: if acct.position.lots > 0 { TriggerSide::Long } else { TriggerSide::Short },
            price,
        });
        let old = acct.trigger;
        if old != new {
            if leg {
                self.leg_index.update(a, old, new);
            } else {
                self.index.update(a, old, new);
            }
            self.accounts[a as usize].trigger = new;
        }
        leg
    }

    fn record_insurance(&mut self, delta: Money, reason: InsuranceReason, trader: TraderId) {
        let balance = self.insurance_fund();
        self.tape.insurance.push(InsuranceRecord { ts: self.ts, delta, balance, reason, trader });
    }

    /// Move money between an account's collateral and the insurance fund (positive: to the fund).
    fn pay_fund(&mut self, a: u32, amount: Money, reason: InsuranceReason) {
        if amount == Money::ZERO {
            return;
        }
        self.accounts[a as usize].credit(-amount);
        self.accounts[BACKSTOP as usize].wallet += amount;
        let id = self.accounts[a as usize].id;
        self.record_insurance(amount, reason, id);
    }

    // ----- mark price ---------------------------------------------------------------------------

    fn mid(&self) -> Option<Price> {
        match (self.book.best_bid(), self.book.best_ask()) {
            (Some((b, _)), Some((a, _))) => Some((b + a) / 2),
            _ => None,
        }
    }

    fn compute_mark(&self) -> Option<Price> {
        let last = self.last_for_mark.or(self.index_price).or_else(|| self.mid())?;
        let index = self.index_price.unwrap_or(last);
        let rule = self.cfg.preset.funding;
        let inputs = MarkInputs {
            last,
            index,
            funding_rate: self.last_funding_rate,
            time_to_next_funding: rule.time_to_next_settlement(self.ts).unwrap_or(0),
            funding_interval: rule.interval,
        };
        // With no basis samples yet, the Binance rule takes P2 = index.
        self.cfg.mark_rule.mark(&inputs, &self.basis)
    }

    // ----- the cascade ----------------------------------------------------------------------------

    /// Liquidate everything the mark has crossed, round after round, until nothing is liquidatable
    /// (accounts in a slice cooldown wait for a later call).
    pub fn run_cascade(&mut self) {
        let scale = self.cfg.scale;
        let mut round = 0u32;
        let mut crossed = Vec::new();
        loop {
            self.refresh_mark();
            // Stops first: their fills move the price the liquidations below then see, and the
            // liquidations' fills may trigger more stops in the next round.
            let fired = self.fire_stops(round + 1);
            if fired > 0 {
                self.refresh_mark();
            }
            let Some(mark) = self.mark else {
                if fired > 0 && round < self.cfg.max_cascade_rounds {
                    round += 1;
                    continue;
                }
                break;
            };
            crossed.clear();
            self.index.crossed(mark, &mut crossed);
            if !crossed.is_empty() && !self.cooldown_until.is_empty() {
                crossed.retain(|a| self.cooldown_until.get(a).is_none_or(|&t| t <= self.ts));
            }
            if (crossed.is_empty() && fired == 0) || round >= self.cfg.max_cascade_rounds {
                break;
            }
            round += 1;
            if crossed.is_empty() {
                continue; // only stops fired: look again at the prices they left
            }
            // Deepest under water first: margin balance / maintenance margin, then trader id.
            let tiers = &self.cfg.preset.tiers;
            let mut order: Vec<(f64, i64, u32)> = crossed
                .iter()
                .map(|&a| {
                    let acct = &self.accounts[a as usize];
                    let mb = wide_to_f64(acct.margin_balance(mark, scale).0);
                    let mm = wide_to_f64(acct.maintenance_margin(mark, scale, tiers).0.max(1));
                    (mb / mm, acct.id.0, a)
                })
                .collect();
            order.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            let mut liquidated_any = false;
            for (j, &(_, _, a)) in order.iter().enumerate() {
                // The account a few close-outs ahead (see `crate::prefetch`): deepest first
                // visits the rows in no order of their own.
                if let Some(&(_, _, ahead)) = order.get(j + 6) {
                    prefetch(&self.accounts[ahead as usize]);
                }
                let Some(now) = self.mark else { break };
                if self.accounts[a as usize].liquidatable(now, scale, &self.cfg.preset.tiers) {
                    self.liquidate(a, now, round);
                    liquidated_any = true;
                    if self.cfg.closeouts_move_mark {
                        self.refresh_mark();
                    }
                }
            }
            if !liquidated_any && fired == 0 {
                // Only reachable if the index disagreed with the condition (a bug the invariant
                // check reports); stop rather than spin.
                break;
            }
        }
        self.rounds_in_last_cascade = round;
        self.max_round = self.max_round.max(round);
    }

    fn cancel_all(&mut self, a: u32) {
        self.cancel_stops_of(a, 0);
        let ids = self.open_orders.take_all(a);
        self.events.clear();
        for id in ids {
            self.book.cancel(id, &mut self.events);
        }
        self.events.clear();
    }

    // ----- invariants -----------------------------------------------------------------------------

    /// The conserved total: Σ balances + Σ unrealised PnL (any common price: positions net to zero)
    /// plus fees. Equal to everything deposited, to the last unit. `None` if the sum does not fit
    /// an `i128` (only reachable far beyond the documented limits; it is reported, never wrapped).
    pub fn checked_money_total(&self) -> Option<Money> {
        let price = self.mark.unwrap_or(1);
        let scale = self.cfg.scale;
        let mut total = self.fees.0;
        for a in &self.accounts {
            let value = checked_value(a.position.lots, price, scale)?;
            let upnl = (value.checked_sub(a.position.cost.0)?).checked_mul(a.position.sign() as i128)?;
            total = total.checked_add(a.wallet.0)?.checked_add(a.isolated_margin.0)?.checked_add(upnl)?;
        }
        Some(Money(total))
    }

    /// [`checked_money_total`](Self::checked_money_total); panics only on an overflow the limits
    /// rule out (for Rust tests; the binding uses the checked form).
    pub fn money_total(&self) -> Money {
        self.checked_money_total().expect("money total beyond i128: outside the documented limits")
    }

    pub fn deposits(&self) -> Money {
        self.deposits
    }

    /// Check every invariant of the design: book structure; positions sum to zero; money conserved
    /// exactly; trigger index equal to a brute-force scan; no non-exempt account left liquidatable
    /// or with a negative balance after a cascade (unless waiting for its next dYdX block); the
    /// insurance fund not below zero unless an ADL record covers it (`closeout::check_fund`).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.book.check_invariants()?;
        let net: i64 = self.accounts.iter().map(|a| a.position.lots).sum();
        if net != 0 {
            return Err(format!("positions sum to {net} lots, not zero"));
        }
        let longs: i64 = self.accounts.iter().map(|a| a.position.lots.max(0)).sum();
        if longs != self.open_interest {
            return Err(format!("open interest kept as {} lots, but longs sum to {longs}", self.open_interest));
        }
        let Some(total) = self.checked_money_total() else {
            return Err("money total overflows i128 (values beyond the documented limits)".into());
        };
        if total != self.deposits {
            return Err(format!(
                "money not conserved: total {} vs deposits {} (diff {} units)",
                total.0,
                self.deposits.0,
                total.0.wrapping_sub(self.deposits.0)
            ));
        }
        let scale = self.cfg.scale;
        let tiers = &self.cfg.preset.tiers;
        for (i, a) in self.accounts.iter().enumerate() {
            let expected = trigger_price(a, scale, tiers);
            if a.trigger.map(|t| t.price) != expected {
                return Err(format!("trader {}: stored trigger {:?}, brute force {:?}", a.id.0, a.trigger, expected));
            }
            let leg = a.leg;
            if let Some(mark) = self.mark {
                let in_index = {
                    let mut v = Vec::new();
                    if leg { &self.leg_index } else { &self.index }.crossed(mark, &mut v);
                    v.contains(&(i as u32))
                };
                if in_index != a.liquidatable(mark, scale, tiers) {
                    return Err(format!("trader {}: index and brute force disagree at mark {mark}", a.id.0));
                }
                // A leg is liquidated by the venue, at the account level (its own check).
                let cooling = self.cooldown_until.get(&(i as u32)).is_some_and(|&t| t > self.ts);
                if !leg && a.liquidatable(mark, scale, tiers) && !cooling {
                    return Err(format!("trader {} is liquidatable after the cascade", a.id.0));
                }
            }
            if !a.exempt && !leg && a.position.is_flat() && a.total_balance() < Money::ZERO {
                return Err(format!("trader {} is flat with a negative balance", a.id.0));
            }
        }
        self.check_fund()
    }
}

/// |lots| × price × scale in money, checked.
fn checked_value(lots: Qty, price: Price, scale: NotionalScale) -> Option<i128> {
    (lots.unsigned_abs() as i128).checked_mul(price as i128)?.checked_mul(scale.money_per_tick_lot())
}

/// Fee rates are fractions of notional in (−1, 1) (a maker rebate is negative); the liquidation fee
/// is in [0, 1); the insurance fund within [0, MAX_BALANCE].
fn validate_money_parameters(cfg: &ExchangeConfig) -> Result<(), Error> {
    let one = RATE_SCALE;
    let fees = cfg.preset.fees;
    let as_f64 = |r: Rate| r.0 as f64 / RATE_SCALE as f64;
    for (what, rate) in [("maker fee", fees.maker), ("taker fee", fees.taker)] {
        if rate.0.abs() >= one {
            return Err(Error::Config {
                what,
                message: format!("must be a fraction of notional in (-1, 1), got {}", as_f64(rate)),
            });
        }
    }
    let liq = cfg.preset.liquidation_fee;
    if !(0..one).contains(&liq.0) {
        return Err(Error::Config {
            what: "liquidation fee",
            message: format!("must be a fraction of notional in [0, 1), got {}", as_f64(liq)),
        });
    }
    if !(0..=crate::limits::MAX_BALANCE.0).contains(&cfg.insurance_fund.0) {
        return Err(Error::Config {
            what: "insurance fund",
            message: format!("must be within 0 ..= 1e18, got {}", cfg.insurance_fund.to_f64()),
        });
    }
    Ok(())
}

/// Merge two vectors sorted by key into one.
fn merge_sorted(a: Vec<(i64, u32)>, b: Vec<(i64, u32)>) -> Vec<(i64, u32)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

mod closeout;
mod columns;
mod legs;
mod orders;
pub(crate) mod snapshot;
mod stops;
pub use columns::{account_rows, book_rows, AccountColumns};
pub(crate) use legs::Refresh;
use orders::OpenOrders;
pub use stops::{StopRecord, StopRequest, StopStatus};

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod test_fixtures;

#[cfg(test)]
mod cliff_tests;
