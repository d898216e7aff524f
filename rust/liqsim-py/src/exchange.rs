//! Binding of `liqsim_core::exchange::Exchange` and the vectorised margin formulas.

use liqsim_core::book::Status;
use liqsim_core::exchange::{
    account_rows, book_rows, AccountColumns, Exchange, ExchangeConfig, InsuranceReason, LiquidationKind,
    LiquidationLimit, OrderReject, OrderRequest, TradeKind,
};
use liqsim_core::funding::MarkRule;
use liqsim_core::limits::MAX_BALANCE;
use liqsim_core::margin::{NotionalScale, Rate, TierTable};
use liqsim_core::units::Grid;
use liqsim_core::venue::{Fees, Venue, VenuePreset};
use liqsim_core::{Error as CoreError, Money, OrderId, TraderId};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::book_view;
use crate::{config_error, liqsim_error, on_grid, order_error, parse_side, parse_stp, parse_tif, scenario_error};

fn preset(py: Python<'_>, venue: &str, symbol: &str) -> PyResult<VenuePreset> {
    VenuePreset::from_names(venue, symbol).map_err(|e| config_error(py, e))
}

/// The core names a refused book row's price in ticks; the user gave a float: show that instead.
fn with_user_price(err: CoreError, price: &[f64]) -> CoreError {
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
                        liquidation_limit, stp, tiers=None, fees=None, liquidation_fee=None))]
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
        liquidation_limit: &str,
        stp: &str,
        tiers: Option<TierColumns>,
        fees: Option<(f64, f64)>,
        liquidation_fee: Option<f64>,
    ) -> PyResult<Self> {
        let mut preset = match tiers {
            None => preset(py, venue, symbol)?,
            Some((floor, cap, mmr, max_leverage)) => {
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
        cfg.liquidation_limit = match liquidation_limit {
            "market" => LiquidationLimit::Market,
            "bankruptcy" => LiquidationLimit::Bankruptcy,
            other => {
                let msg = format!("liquidation_limit must be 'market' or 'bankruptcy', got {other:?}");
                return Err(liqsim_error(py, "ConfigError", msg, &[]));
            }
        };
        cfg.stp = parse_stp(py, stp)?;
        let ex = Exchange::new(cfg).map_err(|e| config_error(py, e))?;
        Ok(PyExchange { ex, tick, lot })
    }

    #[pyo3(signature = (trader_id, balance, margin_mode, side, qty, entry_price, leverage, isolated_margin=None))]
    #[allow(clippy::too_many_arguments)]
    fn load_accounts_columns(
        &mut self,
        py: Python<'_>,
        trader_id: PyReadonlyArray1<'_, i64>,
        balance: PyReadonlyArray1<'_, f64>,
        margin_mode: PyReadonlyArray1<'_, u8>,
        side: PyReadonlyArray1<'_, i8>,
        qty: PyReadonlyArray1<'_, f64>,
        entry_price: PyReadonlyArray1<'_, f64>,
        leverage: PyReadonlyArray1<'_, f64>,
        isolated_margin: Option<PyReadonlyArray1<'_, f64>>,
    ) -> PyResult<()> {
        let cols = AccountColumns {
            trader_id: trader_id.as_slice()?,
            balance: balance.as_slice()?,
            margin_mode: margin_mode.as_slice()?,
            side: side.as_slice()?,
            qty: qty.as_slice()?,
            entry_price: entry_price.as_slice()?,
            leverage: leverage.as_slice()?,
            isolated_margin: isolated_margin.as_ref().map(|a| a.as_slice()).transpose()?,
        };
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
        let d = PyDict::new(py);
        d.set_item("order_id", out.outcome.order_id.map(|id| id.0))?;
        let status = if out.reject.is_some() { Status::Rejected } else { out.outcome.status };
        d.set_item("status", status.name())?;
        let reason = out.reject.map(|r| OrderReject::NAMES[r as usize]).or(out.outcome.reject.map(|r| r.name()));
        d.set_item("reason", reason)?;
        d.set_item("filled", self.qty(out.outcome.filled))?;
        let avg = (out.outcome.filled > 0).then(|| self.tick.average(out.outcome.notional, out.outcome.filled));
        d.set_item("avg_price", avg)?;
        d.set_item("sent_qty", self.qty(out.sent_qty))?;
        d.set_item("liquidations", self.ex.tape().liquidations.len() - liquidations_before)?;
        Ok(d)
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

/// A per-position price formula of a preset over numpy columns (NaN where the formula has none).
fn per_position<'py>(
    py: Python<'py>,
    (size, entry_price, balance): (PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>),
    venue: &str,
    symbol: &str,
    formula: fn(&VenuePreset, f64, f64, f64) -> Option<f64>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let p = preset(py, venue, symbol)?;
    let (s, e, b) = (size.as_slice()?, entry_price.as_slice()?, balance.as_slice()?);
    let out: Vec<f64> =
        py.detach(|| s.iter().zip(e).zip(b).map(|((&s, &e), &b)| formula(&p, s, e, b).unwrap_or(f64::NAN)).collect());
    Ok(out.into_pyarray(py))
}

/// Liquidation prices of single positions (signed `size` in base units), NaN where none.
#[pyfunction]
pub fn liquidation_prices<'py>(
    py: Python<'py>,
    size: PyReadonlyArray1<'py, f64>,
    entry_price: PyReadonlyArray1<'py, f64>,
    balance: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbol: &str,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    per_position(py, (size, entry_price, balance), venue, symbol, VenuePreset::liquidation_price)
}

/// Bankruptcy prices of single positions, NaN where none.
#[pyfunction]
pub fn bankruptcy_prices<'py>(
    py: Python<'py>,
    size: PyReadonlyArray1<'py, f64>,
    entry_price: PyReadonlyArray1<'py, f64>,
    balance: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbol: &str,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    per_position(py, (size, entry_price, balance), venue, symbol, VenuePreset::bankruptcy_price)
}

/// Maintenance margin of notionals (quote currency) with the venue's tiers.
#[pyfunction]
pub fn maintenance_margins<'py>(
    py: Python<'py>,
    notional: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbol: &str,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let p = preset(py, venue, symbol)?;
    let n = notional.as_slice()?;
    let out: Vec<f64> = py.detach(|| {
        n.iter().map(|&x| if x.is_finite() { p.tiers.maintenance_margin_f64(x.abs()) } else { f64::NAN }).collect()
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
