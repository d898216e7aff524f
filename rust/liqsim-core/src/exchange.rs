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

use crate::account::{bankruptcy_price, trigger_price, Account, MarginMode, Position};
use crate::book::{Event, NewOrder, OrderBook, OrderType, Outcome, SelfTradePrevention, Status, TimeInForce};
use crate::error::Error;
use crate::funding::{premium_index, BasisAverager, FundingAccumulator, MarkInputs, MarkRule, SECOND};
use crate::liquidation::{Trigger, TriggerIndex, TriggerSide};
use crate::margin::{NotionalScale, Rate, Rounding, RATE_SCALE};
use crate::types::{Money, OrderId, Price, Qty, Side, TraderId, Ts};
use crate::venue::{Backstop, CloseOut, VenuePreset};

/// Dense index of the insurance fund / liquidator vault account (external id −1).
pub const BACKSTOP: u32 = 0;
/// Dense index of the background liquidity account that owns book orders loaded without an owner
/// and mirrors the net of loaded positions (external id −2). Exempt from margin; may go negative.
pub const LIQUIDITY: u32 = 1;
pub const BACKSTOP_ID: TraderId = TraderId(-1);
pub const LIQUIDITY_ID: TraderId = TraderId(-2);

/// How far a liquidation order may sweep the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TradeKind {
    Normal = 0,
    /// A liquidation order's fill in the book.
    Liquidation = 1,
    /// An auto-deleveraging close at the bankruptcy price (off book).
    Adl = 2,
    /// The backstop taking a position over (off book).
    Backstop = 3,
}

impl TradeKind {
    pub const NAMES: [&'static str; 4] = ["normal", "liquidation", "adl", "backstop"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// Realised PnL when a position the backstop took over is reduced.
    PositionPnl = 4,
}

impl InsuranceReason {
    pub const NAMES: [&'static str; 5] = ["liquidation_fee", "surplus", "shortfall", "funding", "position_pnl"];
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
}

impl OrderReject {
    pub const NAMES: [&'static str; 4] =
        ["unknown_trader", "insufficient_margin", "leverage_exceeds_tier", "reduce_only_would_increase"];
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TradeRecord {
    pub ts: Ts,
    pub price: Price,
    pub qty: Qty,
    pub aggressor: Side,
    pub taker: TraderId,
    pub maker: TraderId,
    pub kind: TradeKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
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

#[derive(Clone, Copy, Debug, PartialEq)]
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

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FundingRecord {
    pub ts: Ts,
    pub rate: Rate,
    pub mark: Price,
    /// Σ paid by longs (= Σ received by shorts; negative when shorts paid).
    pub paid_by_longs: Money,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InsuranceRecord {
    pub ts: Ts,
    pub delta: Money,
    pub balance: Money,
    pub reason: InsuranceReason,
    pub trader: TraderId,
}

/// Everything the exchange has recorded, in order.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    pub trades: Vec<TradeRecord>,
    pub liquidations: Vec<LiquidationRecord>,
    pub adl: Vec<AdlRecord>,
    pub funding: Vec<FundingRecord>,
    pub insurance: Vec<InsuranceRecord>,
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
    /// Resting orders per account (only accounts that have some).
    open_orders: HashMap<u32, Vec<OrderId>>,
    reduce_only: std::collections::HashSet<OrderId>,
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
            by_id: vec![(BACKSTOP_ID.0, BACKSTOP), (LIQUIDITY_ID.0, LIQUIDITY)],
            index: TriggerIndex::new(),
            open_orders: HashMap::new(),
            reduce_only: Default::default(),
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
    pub fn insurance_fund(&self) -> Money {
        self.accounts[BACKSTOP as usize].wallet
    }
    pub fn fees(&self) -> Money {
        self.fees
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
        self.accounts.iter().map(|a| a.position.lots.max(0)).sum()
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
    /// Errors name the column and row of the first bad row; nothing is added then.
    pub fn add_accounts(&mut self, rows: &[AccountRow]) -> Result<(), Error> {
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
                let notional = Money(a.entry_money_per_lot.0 * a.lots.unsigned_abs() as i128);
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
        }
        for a in rows {
            let mut acct = Account::new(a.id, a.balance, a.mode, a.leverage);
            let cost = Money(a.entry_money_per_lot.0 * a.lots.unsigned_abs() as i128);
            acct.position = Position { lots: a.lots, cost: if a.lots == 0 { Money::ZERO } else { cost } };
            if a.mode == MarginMode::Isolated && a.lots != 0 {
                acct.isolated_margin = a.isolated_margin.unwrap_or(Money(cost.0 / a.leverage as i128));
            }
            self.deposits += acct.total_balance();
            // The mirror: background liquidity takes the other side at the same value, as one
            // exact fill (it may realise PnL against positions it already holds).
            let lp = &mut self.accounts[LIQUIDITY as usize];
            let realized = lp.position.fill_value(-a.lots, acct.position.cost);
            lp.realized_pnl += realized;
            lp.credit(realized);
            let idx = self.accounts.len() as u32;
            self.accounts.push(acct);
            self.by_id.push((a.id.0, idx));
        }
        self.by_id.sort_unstable();
        for i in 2..self.accounts.len() as u32 {
            self.refresh_trigger(i);
        }
        Ok(())
    }

    /// Load resting orders (`owner` `None`: background liquidity). A row that would trade against
    /// the book already loaded is an error: a loaded book must not be crossed.
    pub fn add_resting_orders(&mut self, rows: &[RestingOrder]) -> Result<(), Error> {
        let bad = |column: &'static str, row: usize, message: String| Error::BadInput { column, row, message };
        for (r, &(side, price, qty, owner)) in rows.iter().enumerate() {
            let acct = match owner {
                None => LIQUIDITY,
                Some(id) => self
                    .account_index(id)
                    .ok_or_else(|| bad("owner", r, format!("trader {} is not a loaded account", id.0)))?,
            };
            self.events.clear();
            let order = NewOrder::limit(side, price, qty).with_owner(acct as i64).with_tif(TimeInForce::PostOnly);
            let out = self.book.submit(order, &mut self.events);
            match (out.status, out.reject) {
                (Status::Open, _) => {
                    let id = out.order_id.expect("a resting order has an id");
                    self.open_orders.entry(acct).or_default().push(id);
                }
                (_, Some(reason)) => {
                    let message = match reason {
                        crate::book::RejectReason::PostOnlyWouldCross => {
                            format!("{} at {price} ticks crosses the book loaded so far", side.name())
                        }
                        other => format!("refused: {}", other.name()),
                    };
                    let column =
                        if matches!(reason, crate::book::RejectReason::NonPositiveQty) { "qty" } else { "price" };
                    return Err(bad(column, r, message));
                }
                _ => unreachable!("a post-only order either rests or is rejected"),
            }
        }
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
        let rejected = |reject, qty| SubmitResult {
            outcome: Outcome { order_id: None, status: Status::Rejected, reject: None, filled: 0, notional: 0 },
            reject: Some(reject),
            sent_qty: qty,
        };
        let Some(a) = self.account_index(trader) else { return rejected(OrderReject::UnknownTrader, 0) };
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
            self.open_orders.entry(a).or_default().push(id);
            if req.reduce_only {
                self.reduce_only.insert(id);
            }
        }
        self.settle_events(TradeKind::Normal, None);
        SubmitResult { outcome, reject: None, sent_qty: qty }
    }

    /// Initial margin check for an order that may increase the position: the worst-case exposure
    /// (position plus this and the account's other resting orders on each side) at the order's
    /// price must fit the leverage setting, and that leverage the tier of the exposure.
    fn initial_margin_check(&self, a: u32, side: Side, qty: Qty, price: Option<Price>) -> Option<OrderReject> {
        let acct = &self.accounts[a as usize];
        let (mut buys, mut sells) = (0i64, 0i64);
        for id in self.open_orders.get(&a).into_iter().flatten() {
            if let Some(o) = self.book.order(*id) {
                match o.side {
                    Side::Buy => buys += o.qty,
                    Side::Sell => sells += o.qty,
                }
            }
        }
        let pos = acct.position.lots;
        // Room left to close: the position less the account's other orders already closing it.
        let closable = match side {
            Side::Sell => (pos - sells).max(0),
            Side::Buy => (-pos - buys).max(0),
        };
        if qty <= closable {
            // An order that only closes needs no new margin: closing must stay possible when the
            // account is short of margin.
            return None;
        }
        match side {
            Side::Buy => buys += qty,
            Side::Sell => sells += qty,
        }
        let exposure = (pos + buys).abs().max((pos - sells).abs());
        let reference = price
            .or_else(|| self.book.sweep(side, qty).worst_price)
            .or(self.mark)
            .unwrap_or(0)
            .max(self.mark.unwrap_or(0));
        let notional = Position { lots: exposure, cost: Money::ZERO }.notional(reference, self.cfg.scale);
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
        let mine = self.open_orders.get(&a).is_some_and(|v| v.contains(&order_id));
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
    pub fn advance_to(&mut self, ts: Ts) {
        let rule = self.cfg.preset.funding;
        loop {
            let next = self.next_basis_sample.min(self.next_premium_sample).min(self.next_settlement);
            if next > ts {
                break;
            }
            self.ts = next;
            if next == self.next_basis_sample {
                if let (Some((bid, _)), Some((ask, _)), Some(index)) =
                    (self.book.best_bid(), self.book.best_ask(), self.index_price)
                {
                    self.basis.sample(bid, ask, index);
                }
                self.next_basis_sample += SECOND;
            }
            if next == self.next_premium_sample {
                self.sample_premium();
                self.next_premium_sample += rule.sample_every;
            }
            if next == self.next_settlement {
                self.settle_funding();
                self.next_settlement += rule.interval;
            }
            self.run_cascade();
        }
        self.ts = self.ts.max(ts);
        self.run_cascade();
    }

    fn sample_premium(&mut self) {
        let Some(index) = self.index_price else { return };
        // Impact notional: the venue's (Binance: 200 USDT of margin at the first tier's max leverage).
        let impact_money = self.cfg.preset.impact_notional.0;
        let impact = impact_money / self.cfg.scale.money_per_tick_lot();
        let bid = self.book.sweep_notional(Side::Sell, impact);
        let ask = self.book.sweep_notional(Side::Buy, impact);
        if bid.filled == 0 || ask.filled == 0 {
            return;
        }
        let avg = |s: crate::book::Sweep| s.notional as f64 / s.filled as f64;
        if let Some(p) = premium_index(avg(bid), avg(ask), index as f64) {
            self.premiums.sample(p);
        }
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
                    if kind == TradeKind::Normal || self.cfg.closeouts_move_mark {
                        self.last_for_mark = Some(t.price);
                    }
                    if t.maker_remaining == 0 {
                        self.forget_order(maker, t.maker_order_id);
                    }
                }
                Event::Cancelled { order_id, owner, .. } | Event::Expired { order_id, owner, .. } => {
                    self.forget_order(owner.0 as u32, order_id);
                }
                _ => {}
            }
        }
        self.events = events;
        self.events.clear();
        (filled, notional)
    }

    fn forget_order(&mut self, a: u32, id: OrderId) {
        if let Some(list) = self.open_orders.get_mut(&a) {
            if let Some(k) = list.iter().position(|&o| o == id) {
                list.swap_remove(k);
            }
            if list.is_empty() {
                self.open_orders.remove(&a);
            }
        }
        self.reduce_only.remove(&id);
    }

    /// A fill of `signed` lots at `price` for account `a`, paying `fee_rate` on the notional.
    fn apply_fill(&mut self, a: u32, signed: Qty, price: Price, fee_rate: Rate) {
        let scale = self.cfg.scale;
        let acct = &mut self.accounts[a as usize];
        let before = acct.position.lots;
        let realized = acct.position.fill(signed, price, scale);
        acct.realized_pnl += realized;
        acct.credit(realized);
        if a == BACKSTOP && realized != Money::ZERO {
            // The fund's balance moves: on the record like every other change of the fund.
            self.record_insurance(realized, InsuranceReason::PositionPnl, BACKSTOP_ID);
        }
        let acct = &mut self.accounts[a as usize];
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
        if !acct.exempt && acct.wallet < Money::ZERO {
            let owed = acct.wallet;
            self.pay_fund(a, owed, InsuranceReason::Shortfall);
        }
    }

    /// Resting reduce-only orders may not outgrow the position they reduce.
    fn enforce_reduce_only(&mut self, a: u32) {
        if self.reduce_only.is_empty() {
            return;
        }
        let ids: Vec<OrderId> = self
            .open_orders
            .get(&a)
            .map(|v| v.iter().copied().filter(|id| self.reduce_only.contains(id)).collect())
            .unwrap_or_default();
        let pos = self.accounts[a as usize].position.lots;
        for id in ids {
            let Some(o) = self.book.order(id) else { continue };
            let reduces = pos != 0 && pos.signum() != o.side.sign();
            let mut scratch = Vec::new();
            if !reduces {
                self.book.cancel(id, &mut scratch);
                self.forget_order(a, id);
            } else if o.qty > pos.abs() {
                self.book.modify(id, pos.abs(), None, &mut scratch);
            }
        }
    }

    /// Recompute an account's trigger price and move it in the index.
    fn refresh_trigger(&mut self, a: u32) {
        let acct = &self.accounts[a as usize];
        let new = trigger_price(acct, self.cfg.scale, &self.cfg.preset.tiers).map(|price| Trigger {
            side: if acct.position.lots > 0 { TriggerSide::Long } else { TriggerSide::Short },
            price,
        });
        let old = acct.trigger;
        if old != new {
            self.index.update(a, old, new);
            self.accounts[a as usize].trigger = new;
        }
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
            let Some(mark) = self.mark else { break };
            crossed.clear();
            self.index.crossed(mark, &mut crossed);
            crossed.retain(|a| self.cooldown_until.get(a).is_none_or(|&t| t <= self.ts));
            if crossed.is_empty() || round >= self.cfg.max_cascade_rounds {
                break;
            }
            round += 1;
            // Deepest under water first: margin balance / maintenance margin, then trader id.
            let tiers = &self.cfg.preset.tiers;
            let mut order: Vec<(f64, i64, u32)> = crossed
                .iter()
                .map(|&a| {
                    let acct = &self.accounts[a as usize];
                    let mb = acct.margin_balance(mark, scale).0 as f64;
                    let mm = acct.maintenance_margin(mark, scale, tiers).0.max(1) as f64;
                    (mb / mm, acct.id.0, a)
                })
                .collect();
            order.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            let mut liquidated_any = false;
            for &(_, _, a) in &order {
                let Some(now) = self.mark else { break };
                if self.accounts[a as usize].liquidatable(now, scale, &self.cfg.preset.tiers) {
                    self.liquidate(a, now, round);
                    liquidated_any = true;
                    if self.cfg.closeouts_move_mark {
                        self.refresh_mark();
                    }
                }
            }
            if !liquidated_any {
                // Only reachable if the index disagreed with the condition (a bug the invariant
                // check reports); stop rather than spin.
                break;
            }
        }
        self.rounds_in_last_cascade = round;
        self.max_round = self.max_round.max(round);
    }

    fn cancel_all(&mut self, a: u32) {
        let Some(ids) = self.open_orders.remove(&a) else { return };
        self.events.clear();
        for id in ids {
            self.book.cancel(id, &mut self.events);
            self.reduce_only.remove(&id);
        }
        self.events.clear();
    }

    // ----- invariants -----------------------------------------------------------------------------

    /// The conserved total: Σ balances + Σ unrealised PnL (any common price: positions net to zero)
    /// + fees. Equal to everything deposited, to the last unit.
    pub fn money_total(&self) -> Money {
        let price = self.mark.unwrap_or(1);
        let balances: Money = self.accounts.iter().map(|a| a.total_balance()).sum();
        let upnl: Money = self.accounts.iter().map(|a| a.position.unrealized(price, self.cfg.scale)).sum();
        balances + upnl + self.fees
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
        if self.money_total() != self.deposits {
            return Err(format!(
                "money not conserved: total {} vs deposits {} (diff {} units)",
                self.money_total().0,
                self.deposits.0,
                self.money_total().0 - self.deposits.0
            ));
        }
        let scale = self.cfg.scale;
        let tiers = &self.cfg.preset.tiers;
        for (i, a) in self.accounts.iter().enumerate() {
            let expected = trigger_price(a, scale, tiers);
            if a.trigger.map(|t| t.price) != expected {
                return Err(format!("trader {}: stored trigger {:?}, brute force {:?}", a.id.0, a.trigger, expected));
            }
            if let Some(mark) = self.mark {
                let in_index = {
                    let mut v = Vec::new();
                    self.index.crossed(mark, &mut v);
                    v.contains(&(i as u32))
                };
                if in_index != a.liquidatable(mark, scale, tiers) {
                    return Err(format!("trader {}: index and brute force disagree at mark {mark}", a.id.0));
                }
                let cooling = self.cooldown_until.get(&(i as u32)).is_some_and(|&t| t > self.ts);
                if a.liquidatable(mark, scale, tiers) && !cooling {
                    return Err(format!("trader {} is liquidatable after the cascade", a.id.0));
                }
            }
            if !a.exempt && a.position.is_flat() && a.total_balance() < Money::ZERO {
                return Err(format!("trader {} is flat with a negative balance", a.id.0));
            }
        }
        self.check_fund()
    }
}

mod closeout;
mod columns;
pub use columns::{account_rows, book_rows, AccountColumns};

#[cfg(test)]
mod tests;
