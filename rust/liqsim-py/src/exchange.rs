//! Binding of `liqsim_core::exchange::Exchange` and the vectorised margin formulas.

use liqsim_core::book::Status;
use liqsim_core::exchange::{
    account_rows, book_rows, AccountColumns, Exchange, ExchangeConfig, InsuranceReason, LiquidationKind,
    LiquidationLimit, OrderReject, OrderRequest, SubmitResult, TradeKind,
};
use liqsim_core::funding::MarkRule;
use liqsim_core::limits::MAX_BALANCE;
use liqsim_core::margin::{isolated_position_margin, NotionalScale, Rate, TierTable};
use liqsim_core::units::Grid;
use liqsim_core::venue::{Fees, Venue, VenuePreset};
use liqsim_core::{Error as CoreError, Money, OrderId, TraderId};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::book_view;
use crate::{
    config_error, liqsim_error, on_grid, order_error, parse_side, parse_stp, parse_tif, scenario_error, snapshot_error,
    snapshot_grids,
};

fn preset(py: Python<'_>, venue: &str, symbol: &str) -> PyResult<VenuePreset> {
    VenuePreset::from_names(venue, symbol).map_err(|e| config_error(py, e))
}

/// The accounts table's columns, one tuple as `liqsim.exchange.account_columns` builds them:
/// trader_id, balance, margin_mode code, side sign, qty, entry_price, leverage, isolated_margin
/// (optional). One argument, so the one-market and the venue loaders share it and its reading.
pub(crate) type AccountArrays<'py> = (
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray1<'py, u8>,
    PyReadonlyArray1<'py, i8>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray1<'py, f64>,
    Option<PyReadonlyArray1<'py, f64>>,
);
/// What `submit` returns, in the user's units: order_id, status, reason (the exchange's check or
/// the book's), filled, avg_price, sent_qty, and how many liquidations the cascade after it made.
pub(crate) fn submit_result<'py>(
    py: Python<'py>,
    out: &SubmitResult,
    tick: &Grid,
    lot: &Grid,
    liquidations: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("order_id", out.outcome.order_id.map(|id| id.0))?;
    let status = if out.reject.is_some() { Status::Rejected } else { out.outcome.status };
    d.set_item("status", status.name())?;
    let reason = out.reject.map(|r| OrderReject::NAMES[r as usize]).or(out.outcome.reject.map(|r| r.name()));
    d.set_item("reason", reason)?;
    d.set_item("filled", lot.to_f64(out.outcome.filled))?;
    let avg = (out.outcome.filled > 0).then(|| tick.average(out.outcome.notional, out.outcome.filled));
    d.set_item("avg_price", avg)?;
    d.set_item("sent_qty", lot.to_f64(out.sent_qty))?;
    d.set_item("liquidations", liquidations)?;
    Ok(d)
}

/// The arrays as the core's columns (views, no copy).
pub(crate) fn account_columns<'a>(a: &'a AccountArrays<'_>) -> PyResult<AccountColumns<'a>> {
    Ok(AccountColumns {
        trader_id: a.0.as_slice()?,
        balance: a.1.as_slice()?,
        margin_mode: a.2.as_slice()?,
        side: a.3.as_slice()?,
        qty: a.4.as_slice()?,
        entry_price: a.5.as_slice()?,
        leverage: a.6.as_slice()?,
        isolated_margin: a.7.as_ref().map(|m| m.as_slice()).transpose()?,
    })
}

/// The core names a refused book row's price in ticks; the user gave a float: show that instead.
pub(crate) fn with_user_price(err: CoreError, price: &[f64]) -> CoreError {
    match err {
        CoreError::BadInput { column: "price", row, message } if row < price.len() => {
            let message = match message.split_once(" at ") {
                Some((side, rest)) if rest.contains(" ticks ") => {
                    let tail = rest.split_once(" ticks ").map_or(rest, |(_, t)| t);
                    format!("{side} at {} {tail}", price[row])
                }
                _ => message,
            };
            CoreError::BadInput { column: "price", row, message }
        }
        other => other,
    }
}

/// A tier table from Python: floor, cap, MMR, max leverage.
type TierColumns = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<u32>);

/// The Rust exchange behind `liqsim.Exchange`.
#[pyclass(module = "liqsim._core", name = "Exchange")]
#[derive(Clone)]
pub struct PyExchange {
    pub(crate) ex: Exchange,
    pub(crate) tick: Grid,
    pub(crate) lot: Grid,
}

impl PyExchange {
    fn price(&self, ticks: i64) -> f64 {
        self.tick.to_f64(ticks)
    }
    fn qty(&self, lots: i64) -> f64 {
        self.lot.to_f64(lots)
    }
    /// A price above the market's largest (see `liqsim_core::limits`) is an `OrderError` in quote
    /// currency, not a silently wrapped notional.
    fn check_price(&self, py: Python<'_>, what: &str, price: f64, ticks: i64) -> PyResult<()> {
        let max = self.ex.max_price();
        if ticks > max {
            let message =
                format!("{what} {price} is above the largest price this market holds exactly ({})", self.price(max));
            return Err(order_error(py, message, "out_of_range"));
        }
        Ok(())
    }

    fn trader(&self, py: Python<'_>, trader_id: i64) -> PyResult<TraderId> {
        match self.ex.account_index(TraderId(trader_id)) {
            Some(_) => Ok(TraderId(trader_id)),
            None => Err(order_error(py, format!("trader {trader_id} is not a loaded account"), "unknown_trader")),
        }
    }
}

#[pymethods]
impl PyExchange {
    #[new]
    #[pyo3(signature = (venue, symbol, tick_size, lot_size, insurance_fund, mark_rule, closeouts_move_mark, adl,
                        liquidation_limit, stp, tiers=None, fees=None, liquidation_fee=None, max_leverage=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        venue: &str,
        symbol: &str,
        tick_size: f64,
        lot_size: f64,
        insurance_fund: f64,
        mark_rule: Option<&str>,
        closeouts_move_mark: bool,
        adl: bool,
        liquidation_limit: Option<&str>,
        stp: &str,
        tiers: Option<TierColumns>,
        fees: Option<(f64, f64)>,
        liquidation_fee: Option<f64>,
        max_leverage: Option<u32>,
    ) -> PyResult<Self> {
        let mut preset = match (tiers, max_leverage) {
            (None, None) => preset(py, venue, symbol)?,
            (None, Some(lev)) => {
                if Venue::from_name(venue).map_err(|e| config_error(py, e))? != Venue::Hyperliquid {
                    let msg = format!("max_leverage applies to hyperliquid only (venue {venue:?})");
                    return Err(liqsim_error(py, "LiqsimError", msg, &[]));
                }
                VenuePreset::hyperliquid(symbol, Some(lev)).map_err(|e| config_error(py, e))?
            }
            (Some(_), Some(_)) => {
                let msg = "give tiers or max_leverage, not both".to_string();
                return Err(liqsim_error(py, "LiqsimError", msg, &[]));
            }
            (Some((floor, cap, mmr, max_leverage)), None) => {
                let rows: Vec<(f64, f64, f64, u32)> = floor
                    .iter()
                    .zip(&cap)
                    .zip(&mmr)
                    .zip(&max_leverage)
                    .map(|(((&f, &c), &m), &l)| (f, c, m, l))
                    .collect();
                let table = TierTable::from_f64_rows(&rows).map_err(|e| config_error(py, e))?;
                let venue = Venue::from_name(venue).map_err(|e| config_error(py, e))?;
                VenuePreset::custom(venue, symbol, table)
            }
        };
        let rate = |what: &str, x: f64| {
            Rate::from_f64(x)
                .ok_or_else(|| liqsim_error(py, "ConfigError", format!("{what} must be a number, got {x}"), &[]))
        };
        if let Some((maker, taker)) = fees {
            preset = preset.with_fees(Fees { maker: rate("maker fee", maker)?, taker: rate("taker fee", taker)? });
        }
        if let Some(fee) = liquidation_fee {
            preset = preset.with_liquidation_fee(rate("liquidation fee", fee)?);
        }
        let tick = Grid::new("tick_size", tick_size).map_err(|e| config_error(py, e))?;
        let lot = Grid::new("lot_size", lot_size).map_err(|e| config_error(py, e))?;
        let scale = NotionalScale::from_sizes(tick_size, lot_size).map_err(|e| config_error(py, e))?;
        let mut cfg = ExchangeConfig::new(preset, scale);
        if let Some(rule) = mark_rule {
            cfg.mark_rule = MarkRule::from_name(rule).map_err(|e| config_error(py, e))?;
        }
        if !(insurance_fund.is_finite() && (0.0..=MAX_BALANCE.to_f64()).contains(&insurance_fund)) {
            return Err(liqsim_error(
                py,
                "ConfigError",
                format!(
                    "insurance_fund must be within 0 ..= 1e18 (the largest balance held exactly), got {insurance_fund}"
                ),
                &[],
            ));
        }
        cfg.insurance_fund = Money::from_f64(insurance_fund);
        cfg.closeouts_move_mark = closeouts_move_mark;
        cfg.adl = adl;
        // None: the venue's own (Binance, Bybit: bankruptcy; Hyperliquid, dYdX: market).
        cfg.liquidation_limit = match liquidation_limit {
            None => cfg.liquidation_limit,
            Some("market") => LiquidationLimit::Market,
            Some("bankruptcy") => LiquidationLimit::Bankruptcy,
            Some(other) => {
                let msg = format!("liquidation_limit must be 'market' or 'bankruptcy', got {other:?}");
                return Err(liqsim_error(py, "ConfigError", msg, &[]));
            }
        };
        cfg.stp = parse_stp(py, stp)?;
        let ex = Exchange::new(cfg).map_err(|e| config_error(py, e))?;
        Ok(PyExchange { ex, tick, lot })
    }

    fn load_accounts_columns(&mut self, py: Python<'_>, columns: AccountArrays<'_>) -> PyResult<()> {
        let cols = account_columns(&columns)?;
        let (ex, lot) = (&mut self.ex, &self.lot);
        py.detach(|| account_rows(&cols, lot).and_then(|rows| ex.add_accounts(&rows)))
            .map_err(|e| scenario_error(py, "accounts", e))
    }

    #[pyo3(signature = (side, price, qty, owner=None))]
    fn load_book_columns(
        &mut self,
        py: Python<'_>,
        side: PyReadonlyArray1<'_, u8>,
        price: PyReadonlyArray1<'_, f64>,
        qty: PyReadonlyArray1<'_, f64>,
        owner: Option<PyReadonlyArray1<'_, i64>>,
    ) -> PyResult<()> {
        let owner = owner.as_ref().map(|a| a.as_slice()).transpose()?;
        let (side, price, qty) = (side.as_slice()?, price.as_slice()?, qty.as_slice()?);
        let (ex, tick, lot) = (&mut self.ex, &self.tick, &self.lot);
        let max_price = ex.max_price();
        py.detach(|| {
            let rows = book_rows(side, price, qty, owner, tick, lot)?;
            // Name a price beyond the market's largest in quote currency (the core says ticks).
            if let Some(r) = rows.iter().position(|row| row.1 > max_price) {
                let message = format!(
                    "{} is above the largest price this market holds exactly ({})",
                    price[r],
                    tick.to_f64(max_price)
                );
                return Err(liqsim_core::Error::BadInput { column: "price", row: r, message });
            }
            ex.add_resting_orders(&rows)
        })
        .map_err(|e| scenario_error(py, "book", with_user_price(e, price)))
    }

    #[pyo3(signature = (trader_id, side, qty, price=None, tif="gtc", reduce_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn submit<'py>(
        &mut self,
        py: Python<'py>,
        trader_id: i64,
        side: &str,
        qty: f64,
        price: Option<f64>,
        tif: &str,
        reduce_only: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let trader = self.trader(py, trader_id)?;
        let side = parse_side(py, side)?;
        let tif = parse_tif(py, tif)?;
        let qty = on_grid(py, &self.lot, "qty", qty)?;
        let ticks = price.map(|p| on_grid(py, &self.tick, "price", p)).transpose()?;
        if let (Some(p), Some(t)) = (price, ticks) {
            self.check_price(py, "price", p, t)?;
        }
        let req = OrderRequest { side, qty, price: ticks, tif, reduce_only };
        let liquidations_before = self.ex.tape().liquidations.len();
        let ex = &mut self.ex;
        let out = py.detach(|| ex.submit(trader, req));
        submit_result(py, &out, &self.tick, &self.lot, self.ex.tape().liquidations.len() - liquidations_before)
    }

    fn cancel<'py>(&mut self, py: Python<'py>, trader_id: i64, order_id: i64) -> PyResult<Bound<'py, PyDict>> {
        let trader = self.trader(py, trader_id)?;
        let d = PyDict::new(py);
        d.set_item("order_id", order_id)?;
        match self.ex.cancel(trader, OrderId(order_id)) {
            Ok(outcome) => {
                d.set_item("status", outcome.status.name())?;
                d.set_item("reason", outcome.reject.map(|r| r.name()))?;
            }
            Err(reject) => {
                d.set_item("status", Status::Rejected.name())?;
                d.set_item("reason", OrderReject::NAMES[reject as usize])?;
            }
        }
        Ok(d)
    }

    fn set_index(&mut self, py: Python<'_>, price: f64) -> PyResult<()> {
        let ticks = on_grid(py, &self.tick, "index price", price)?;
        if ticks <= 0 {
            return Err(order_error(py, format!("index price must be > 0, got {price}"), "invalid_price"));
        }
        self.check_price(py, "index price", price, ticks)?;
        let ex = &mut self.ex;
        py.detach(|| ex.set_index(ticks));
        Ok(())
    }

    /// Move the clock to `ts` (integer ns); it never goes back.
    fn advance(&mut self, py: Python<'_>, ts: i64) -> PyResult<()> {
        if ts < self.ex.ts() {
            let msg = format!("time only moves forward: now {}, asked {ts}", self.ex.ts());
            return Err(liqsim_error(py, "ConfigError", msg, &[]));
        }
        let ex = &mut self.ex;
        py.detach(|| ex.advance_to(ts));
        Ok(())
    }

    /// An independent deep copy: the cheap way to branch a what-if.
    fn copy(&self) -> Self {
        self.clone()
    }

    /// The core's versioned binary snapshot of the exchange (`liqsim_core::snapshot`), GIL released.
    fn _snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let ex = &self.ex;
        let bytes = py.detach(|| ex.to_snapshot()).map_err(|e| snapshot_error(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The exchange of a snapshot, on these grids (which must give the snapshot's notional scale);
    /// `liqsim.SnapshotError` for anything else.
    #[staticmethod]
    fn _from_snapshot(py: Python<'_>, tick_size: f64, lot_size: f64, snapshot: &[u8]) -> PyResult<Self> {
        let (tick, lot) = snapshot_grids(py, tick_size, lot_size)?;
        let ex = py.detach(|| Exchange::from_snapshot(snapshot)).map_err(|e| snapshot_error(py, e))?;
        if NotionalScale::from_sizes(tick_size, lot_size).ok() != Some(ex.config().scale) {
            let msg = format!(
                "invalid snapshot: tick size {tick_size} and lot size {lot_size} do not match the snapshot's notional scale"
            );
            return Err(liqsim_error(py, "SnapshotError", msg, &[]));
        }
        Ok(PyExchange { ex, tick, lot })
    }

    /// Pickling: `Exchange._from_snapshot(tick_size, lot_size, snapshot)`.
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (f64, f64, Bound<'py, PyBytes>))> {
        let py = slf.py();
        let this = slf.borrow();
        let restore = slf.get_type().getattr("_from_snapshot")?;
        Ok((restore, (this.tick.step(), this.lot.step(), this._snapshot(py)?)))
    }

    /// Number of accounts, including the insurance fund and background liquidity.
    #[getter]
    fn account_count(&self) -> usize {
        self.ex.accounts().len()
    }

    fn depth<'py>(&self, py: Python<'py>, levels: usize) -> PyResult<Bound<'py, PyDict>> {
        book_view::depth(py, self.ex.book(), &self.tick, &self.lot, levels)
    }

    fn depth_within<'py>(&self, py: Python<'py>, fraction: f64) -> PyResult<Option<Bound<'py, PyDict>>> {
        book_view::depth_within(py, self.ex.book(), &self.tick, &self.lot, fraction)
    }

    fn sweep_price(&self, py: Python<'_>, side: &str, qty: f64) -> PyResult<Option<f64>> {
        book_view::sweep_price(py, self.ex.book(), &self.tick, &self.lot, side, qty)
    }

    fn orders<'py>(&self, py: Python<'py>, side: &str) -> PyResult<Bound<'py, PyDict>> {
        // Orders in the exchange's book are owned by account indices; show trader ids.
        let accounts = self.ex.accounts();
        let trader_id =
            |index: i64| usize::try_from(index).ok().and_then(|i| accounts.get(i)).map_or(index, |a| a.id.0);
        book_view::orders(py, self.ex.book(), &self.tick, &self.lot, side, trader_id)
    }

    #[getter]
    fn ts(&self) -> i64 {
        self.ex.ts()
    }
    #[getter]
    fn mark(&self) -> Option<f64> {
        self.ex.mark().map(|p| self.price(p))
    }
    #[getter]
    fn last(&self) -> Option<f64> {
        self.ex.last().map(|p| self.price(p))
    }
    #[getter]
    fn index(&self) -> Option<f64> {
        self.ex.index_price().map(|p| self.price(p))
    }
    #[getter]
    fn best_bid(&self) -> Option<f64> {
        self.ex.book().best_bid().map(|(p, _)| self.price(p))
    }
    #[getter]
    fn best_ask(&self) -> Option<f64> {
        self.ex.book().best_ask().map(|(p, _)| self.price(p))
    }
    #[getter]
    fn insurance_fund(&self) -> f64 {
        self.ex.insurance_fund().to_f64()
    }
    #[getter]
    fn fees(&self) -> f64 {
        self.ex.fees().to_f64()
    }
    #[getter]
    fn open_interest(&self) -> f64 {
        self.qty(self.ex.open_interest())
    }
    #[getter]
    fn cascade_rounds(&self) -> (u32, u32) {
        self.ex.cascade_rounds()
    }
    #[getter]
    fn venue(&self) -> &'static str {
        self.ex.config().preset.venue.name()
    }
    #[getter]
    fn symbol(&self) -> String {
        self.ex.config().preset.symbol.clone()
    }
    #[getter]
    fn tick_size(&self) -> f64 {
        self.tick.step()
    }
    #[getter]
    fn lot_size(&self) -> f64 {
        self.lot.step()
    }

    /// Total money (deposits) and what is accounted for now; equal to the unit when conserved.
    fn money(&self) -> (f64, f64) {
        let total = self.ex.checked_money_total().map_or(f64::NAN, |m| m.to_f64());
        (self.ex.deposits().to_f64(), total)
    }

    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        self.ex.check_invariants().map_err(|m| liqsim_error(py, "LiqsimError", m, &[]))
    }

    fn accounts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let scale = self.ex.config().scale;
        let tiers = &self.ex.config().preset.tiers;
        let mark = self.ex.mark();
        let accts = self.ex.accounts();
        let n = accts.len();
        let (mut id, mut balance, mut mode, mut position, mut entry) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut realized, mut unrealized, mut margin_balance, mut mm, mut liq_price, mut liquidated) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for a in accts {
            id.push(a.id.0);
            balance.push(a.total_balance().to_f64());
            mode.push(a.mode as u8);
            position.push(self.qty(a.position.lots));
            entry.push(self.tick.fraction_to_f64(a.position.entry_ticks(scale)));
            realized.push(a.realized_pnl.to_f64());
            let (u, mb, m) = match mark {
                Some(p) => (
                    a.position.unrealized(p, scale).to_f64(),
                    a.margin_balance(p, scale).to_f64(),
                    a.maintenance_margin(p, scale, tiers).to_f64(),
                ),
                None => (f64::NAN, f64::NAN, f64::NAN),
            };
            unrealized.push(u);
            margin_balance.push(mb);
            mm.push(m);
            liq_price.push(a.trigger.map_or(f64::NAN, |t| self.price(t.price)));
            liquidated.push(a.liquidated);
        }
        let d = PyDict::new(py);
        d.set_item("trader_id", id.into_pyarray(py))?;
        d.set_item("balance", balance.into_pyarray(py))?;
        d.set_item("margin_mode", mode.into_pyarray(py))?;
        d.set_item("position", position.into_pyarray(py))?;
        d.set_item("entry_price", entry.into_pyarray(py))?;
        d.set_item("realized_pnl", realized.into_pyarray(py))?;
        d.set_item("unrealized_pnl", unrealized.into_pyarray(py))?;
        d.set_item("margin_balance", margin_balance.into_pyarray(py))?;
        d.set_item("maintenance_margin", mm.into_pyarray(py))?;
        d.set_item("liquidation_price", liq_price.into_pyarray(py))?;
        d.set_item("liquidated", liquidated.into_pyarray(py))?;
        Ok(d)
    }

    fn trades<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = &self.ex.tape().trades;
        let d = PyDict::new(py);
        d.set_item("ts", t.iter().map(|r| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("price", t.iter().map(|r| self.price(r.price)).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("qty", t.iter().map(|r| self.qty(r.qty)).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("aggressor", t.iter().map(|r| r.aggressor as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("taker", t.iter().map(|r| r.taker.0).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("maker", t.iter().map(|r| r.maker.0).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("kind", t.iter().map(|r| r.kind as u8).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }

    fn liquidations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let l = &self.ex.tape().liquidations;
        let d = PyDict::new(py);
        d.set_item("ts", l.iter().map(|r| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("trader_id", l.iter().map(|r| r.trader.0).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("side", l.iter().map(|r| r.side as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("qty", l.iter().map(|r| self.qty(r.qty)).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("mark", l.iter().map(|r| self.price(r.mark)).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item(
            "avg_fill_price",
            l.iter().map(|r| self.tick.fraction_to_f64(r.avg_fill_ticks)).collect::<Vec<_>>().into_pyarray(py),
        )?;
        d.set_item(
            "bankruptcy_price",
            l.iter().map(|r| self.price(r.bankruptcy_price)).collect::<Vec<_>>().into_pyarray(py),
        )?;
        d.set_item(
            "insurance_delta",
            l.iter().map(|r| r.insurance_delta.to_f64()).collect::<Vec<_>>().into_pyarray(py),
        )?;
        d.set_item("kind", l.iter().map(|r| r.kind as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("round", l.iter().map(|r| r.round).collect::<Vec<_>>().into_pyarray(py))?;
        let scale = self.ex.config().scale;
        d.set_item("notional", l.iter().map(|r| r.notional(scale).to_f64()).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }

    fn adl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let a = &self.ex.tape().adl;
        let d = PyDict::new(py);
        d.set_item("ts", a.iter().map(|r| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("trader_id", a.iter().map(|r| r.trader.0).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("liquidated_trader_id", a.iter().map(|r| r.liquidated.0).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("side", a.iter().map(|r| r.side as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("qty", a.iter().map(|r| self.qty(r.qty)).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("price", a.iter().map(|r| self.price(r.price)).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("round", a.iter().map(|r| r.round).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }

    fn funding<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let f = &self.ex.tape().funding;
        let d = PyDict::new(py);
        d.set_item("ts", f.iter().map(|r| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("rate", f.iter().map(|r| r.rate.to_f64()).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("mark", f.iter().map(|r| self.price(r.mark)).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("paid_by_longs", f.iter().map(|r| r.paid_by_longs.to_f64()).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }

    fn insurance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let i = &self.ex.tape().insurance;
        let d = PyDict::new(py);
        d.set_item("ts", i.iter().map(|r| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("delta", i.iter().map(|r| r.delta.to_f64()).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("balance", i.iter().map(|r| r.balance.to_f64()).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("reason", i.iter().map(|r| r.reason as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("trader_id", i.iter().map(|r| r.trader.0).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }
}

/// The presets a vectorised formula call needs: one per distinct (symbol, max leverage) of the
/// rows, built before the GIL is released so that an unknown symbol is a clean `LiqsimError`.
struct FormulaPresets {
    presets: Vec<VenuePreset>,
    /// Per row: index into `presets` (`None`: one preset for every row).
    row_preset: Option<Vec<u32>>,
}

impl FormulaPresets {
    fn of_row(&self, row: usize) -> &VenuePreset {
        match &self.row_preset {
            None => &self.presets[0],
            Some(index) => &self.presets[index[row] as usize],
        }
    }
}

/// Per-row symbol codes (into `symbols`), optional Hyperliquid max leverage per row (0: the
/// built-in table) and an optional user tier table shared by every row. Rows find their preset by
/// symbol code, then by a scan of that symbol's few max leverages (no hashing per row).
fn formula_presets(
    py: Python<'_>,
    rows: usize,
    venue: &str,
    symbols: &[String],
    symbol_code: Option<&[u32]>,
    tiers: Option<TierColumns>,
    max_leverage: Option<&[u32]>,
) -> PyResult<FormulaPresets> {
    let venue = Venue::from_name(venue).map_err(|e| config_error(py, e))?;
    let table = match tiers {
        None => None,
        Some((floor, cap, mmr, lev)) => {
            let rows: Vec<(f64, f64, f64, u32)> =
                floor.iter().zip(&cap).zip(&mmr).zip(&lev).map(|(((&f, &c), &m), &l)| (f, c, m, l)).collect();
            Some(TierTable::from_f64_rows(&rows).map_err(|e| config_error(py, e))?)
        }
    };
    let build = |symbol: &str, lev: u32| -> PyResult<VenuePreset> {
        let preset = match (&table, venue, lev) {
            (Some(t), _, _) => Ok(VenuePreset::custom(venue, symbol, t.clone())),
            (None, Venue::Hyperliquid, lev) => VenuePreset::hyperliquid(symbol, (lev > 0).then_some(lev)),
            (None, _, 0) => VenuePreset::new(venue, symbol),
            (None, _, _) => {
                let msg = format!("max_leverage applies to hyperliquid only (venue {:?})", venue.name());
                return Err(liqsim_error(py, "LiqsimError", msg, &[]));
            }
        };
        preset.map_err(|e| config_error(py, e))
    };
    if symbol_code.is_none() && max_leverage.is_none() {
        let symbol = symbols.first().map_or("BTCUSDT", |s| s.as_str());
        return Ok(FormulaPresets { presets: vec![build(symbol, 0)?], row_preset: None });
    }
    // by_symbol[code]: the (max leverage, preset index) pairs seen so far.
    let mut by_symbol: Vec<Vec<(u32, u32)>> = vec![Vec::new(); symbols.len()];
    let mut presets = Vec::new();
    let mut row_preset = Vec::with_capacity(rows);
    for row in 0..rows {
        let code = symbol_code.map_or(0, |c| c[row]);
        let lev = max_leverage.map_or(0, |m| m[row]);
        let Some(seen) = by_symbol.get_mut(code as usize) else {
            return Err(liqsim_error(py, "LiqsimError", format!("symbol code {code} out of range"), &[]));
        };
        let k = match seen.iter().find(|(l, _)| *l == lev) {
            Some(&(_, k)) => k,
            None => {
                let k = presets.len() as u32;
                presets.push(build(&symbols[code as usize], lev)?);
                seen.push((lev, k));
                k
            }
        };
        row_preset.push(k);
    }
    Ok(FormulaPresets { presets, row_preset: Some(row_preset) })
}

/// A per-position price formula of the presets over numpy columns (NaN where the formula has none).
/// `isolated` rows are backed by their initial margin at `leverage` plus `balance` as extra margin;
/// the others by `balance`.
#[allow(clippy::too_many_arguments)]
fn per_position<'py>(
    py: Python<'py>,
    (size, entry_price, balance): (PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>),
    venue: &str,
    symbols: Vec<String>,
    symbol_code: Option<PyReadonlyArray1<'py, u32>>,
    tiers: Option<TierColumns>,
    max_leverage: Option<PyReadonlyArray1<'py, u32>>,
    (isolated, leverage): (Option<PyReadonlyArray1<'py, u8>>, Option<PyReadonlyArray1<'py, f64>>),
    formula: fn(&VenuePreset, f64, f64, f64) -> Option<f64>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let (s, e, b) = (size.as_slice()?, entry_price.as_slice()?, balance.as_slice()?);
    let codes = symbol_code.as_ref().map(|a| a.as_slice()).transpose()?;
    let max_lev = max_leverage.as_ref().map(|a| a.as_slice()).transpose()?;
    let isolated = isolated.as_ref().map(|a| a.as_slice()).transpose()?;
    let leverage = leverage.as_ref().map(|a| a.as_slice()).transpose()?;
    let n = s.len();
    let lengths_agree = [e.len(), b.len()].iter().all(|&l| l == n)
        && codes.is_none_or(|c| c.len() == n)
        && max_lev.is_none_or(|c| c.len() == n)
        && isolated.is_none_or(|c| c.len() == n)
        && leverage.is_none_or(|c| c.len() == n);
    if !lengths_agree {
        return Err(liqsim_error(py, "LiqsimError", "formula columns differ in length".into(), &[]));
    }
    let p = formula_presets(py, n, venue, &symbols, codes, tiers, max_lev)?;
    let out: Vec<f64> = py.detach(|| {
        if let (None, None) = (&p.row_preset, isolated) {
            // The common case (one preset, balances given): a plain zip, as fast as it gets.
            let preset = &p.presets[0];
            return s.iter().zip(e).zip(b).map(|((&s, &e), &b)| formula(preset, s, e, b).unwrap_or(f64::NAN)).collect();
        }
        (0..n)
            .map(|i| {
                let preset = p.of_row(i);
                let backing = if isolated.is_some_and(|m| m[i] != 0) {
                    let extra = if b[i].is_nan() { 0.0 } else { b[i] };
                    isolated_position_margin(s[i], e[i], leverage.map_or(f64::NAN, |l| l[i]), extra)
                } else {
                    Some(b[i])
                };
                backing.and_then(|m| formula(preset, s[i], e[i], m)).unwrap_or(f64::NAN)
            })
            .collect()
    });
    Ok(out.into_pyarray(py))
}

/// Liquidation prices of single positions (signed `size` in base units), NaN where none.
#[pyfunction]
#[pyo3(signature = (size, entry_price, balance, venue, symbols, symbol_code=None, tiers=None, max_leverage=None,
                    isolated=None, leverage=None))]
#[allow(clippy::too_many_arguments)]
pub fn liquidation_prices<'py>(
    py: Python<'py>,
    size: PyReadonlyArray1<'py, f64>,
    entry_price: PyReadonlyArray1<'py, f64>,
    balance: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbols: Vec<String>,
    symbol_code: Option<PyReadonlyArray1<'py, u32>>,
    tiers: Option<TierColumns>,
    max_leverage: Option<PyReadonlyArray1<'py, u32>>,
    isolated: Option<PyReadonlyArray1<'py, u8>>,
    leverage: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let columns = (size, entry_price, balance);
    let (mode, formula) =
        ((isolated, leverage), VenuePreset::liquidation_price as fn(&VenuePreset, f64, f64, f64) -> _);
    per_position(py, columns, venue, symbols, symbol_code, tiers, max_leverage, mode, formula)
}

/// Bankruptcy prices of single positions, NaN where none.
#[pyfunction]
#[pyo3(signature = (size, entry_price, balance, venue, symbols, symbol_code=None, tiers=None, max_leverage=None,
                    isolated=None, leverage=None))]
#[allow(clippy::too_many_arguments)]
pub fn bankruptcy_prices<'py>(
    py: Python<'py>,
    size: PyReadonlyArray1<'py, f64>,
    entry_price: PyReadonlyArray1<'py, f64>,
    balance: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbols: Vec<String>,
    symbol_code: Option<PyReadonlyArray1<'py, u32>>,
    tiers: Option<TierColumns>,
    max_leverage: Option<PyReadonlyArray1<'py, u32>>,
    isolated: Option<PyReadonlyArray1<'py, u8>>,
    leverage: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let columns = (size, entry_price, balance);
    let (mode, formula) = ((isolated, leverage), VenuePreset::bankruptcy_price as fn(&VenuePreset, f64, f64, f64) -> _);
    per_position(py, columns, venue, symbols, symbol_code, tiers, max_leverage, mode, formula)
}

/// Maintenance margin of notionals (quote currency) with each row's tiers.
#[pyfunction]
#[pyo3(signature = (notional, venue, symbols, symbol_code=None, tiers=None, max_leverage=None))]
pub fn maintenance_margins<'py>(
    py: Python<'py>,
    notional: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbols: Vec<String>,
    symbol_code: Option<PyReadonlyArray1<'py, u32>>,
    tiers: Option<TierColumns>,
    max_leverage: Option<PyReadonlyArray1<'py, u32>>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let n = notional.as_slice()?;
    let codes = symbol_code.as_ref().map(|a| a.as_slice()).transpose()?;
    let max_lev = max_leverage.as_ref().map(|a| a.as_slice()).transpose()?;
    if codes.is_some_and(|c| c.len() != n.len()) || max_lev.is_some_and(|c| c.len() != n.len()) {
        return Err(liqsim_error(py, "LiqsimError", "formula columns differ in length".into(), &[]));
    }
    let p = formula_presets(py, n.len(), venue, &symbols, codes, tiers, max_lev)?;
    let out: Vec<f64> = py.detach(|| {
        n.iter()
            .enumerate()
            .map(|(i, &x)| if x.is_finite() { p.of_row(i).tiers.maintenance_margin_f64(x.abs()) } else { f64::NAN })
            .collect()
    });
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyExchange>()?;
    m.add_function(wrap_pyfunction!(liquidation_prices, m)?)?;
    m.add_function(wrap_pyfunction!(bankruptcy_prices, m)?)?;
    m.add_function(wrap_pyfunction!(maintenance_margins, m)?)?;
    m.add("TRADE_KIND_NAMES", TradeKind::NAMES.to_vec())?;
    m.add("LIQUIDATION_KIND_NAMES", LiquidationKind::NAMES.to_vec())?;
    m.add("INSURANCE_REASON_NAMES", InsuranceReason::NAMES.to_vec())?;
    m.add("MARGIN_MODE_NAMES", vec!["cross", "isolated"])?;
    Ok(())
}
