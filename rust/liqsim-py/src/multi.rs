//! Binding of `liqsim_core::multi::MultiExchange` (glue only: argument conversion and result dicts).

use liqsim_core::exchange::{account_rows, book_rows, AccountColumns, AccountRow, OrderRequest};
use liqsim_core::margin::NotionalScale;
use liqsim_core::multi::{InstrumentId, MultiExchange};
use liqsim_core::units::Grid;
use liqsim_core::{Error as CoreError, TraderId};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::exchange::{account_columns, submit_result, with_user_price, AccountArrays, PyExchange};
use crate::{
    config_error, liqsim_error, on_grid, order_error, parse_side, parse_tif, scenario_error, snapshot_error,
    snapshot_grids,
};

/// The Rust venue behind `liqsim.MultiExchange`.
#[pyclass(module = "liqsim._core", name = "MultiExchange")]
#[derive(Clone)]
pub struct PyMultiExchange {
    pub(crate) v: MultiExchange,
    /// (tick, lot) grid per instrument, in the venue's order.
    pub(crate) grids: Vec<(Grid, Grid)>,
}

impl PyMultiExchange {
    fn inst(&self, py: Python<'_>, symbol: &str) -> PyResult<usize> {
        self.v.instrument_id(symbol).map(|i| i.0 as usize).ok_or_else(|| {
            let known: Vec<&str> = self.v.instruments().iter().map(|i| i.symbol.as_str()).collect();
            liqsim_error(py, "ConfigError", format!("no market {symbol:?} in this venue (markets: {known:?})"), &[])
        })
    }
}

#[pymethods]
impl PyMultiExchange {
    /// Markets from fresh `Exchange`s (their configuration only: venue rules, grid, fund, mark).
    #[new]
    fn new(py: Python<'_>, markets: Vec<(String, PyRef<'_, PyExchange>)>) -> PyResult<Self> {
        let mut configs = Vec::with_capacity(markets.len());
        let mut grids = Vec::with_capacity(markets.len());
        for (symbol, ex) in &markets {
            let fresh = ex.ex.accounts().len() == 2 && ex.ex.book().open_orders() == 0 && ex.ex.mark().is_none();
            if !fresh {
                let msg = format!(
                    "market {symbol:?}: give a fresh Exchange (no accounts, orders or prices); the venue takes its \
                     configuration only"
                );
                return Err(liqsim_error(py, "ConfigError", msg, &[]));
            }
            configs.push((symbol.clone(), ex.ex.config().clone()));
            grids.push((ex.tick, ex.lot));
        }
        let v = MultiExchange::new(configs).map_err(|e| config_error(py, e))?;
        Ok(PyMultiExchange { v, grids })
    }

    #[getter]
    fn symbols(&self) -> Vec<String> {
        self.v.instruments().iter().map(|i| i.symbol.clone()).collect()
    }

    /// Accounts with a `symbol` code per row (index into `symbols`).
    fn load_accounts_columns(
        &mut self,
        py: Python<'_>,
        symbol: PyReadonlyArray1<'_, u32>,
        columns: AccountArrays<'_>,
    ) -> PyResult<()> {
        let symbol = symbol.as_slice()?;
        let AccountColumns {
            trader_id: ids,
            balance: bal,
            margin_mode: mode,
            side: sd,
            qty: q,
            entry_price: entry,
            leverage: lev,
            isolated_margin: iso,
        } = account_columns(&columns)?;
        let grids = &self.grids;
        let v = &mut self.v;
        let result = py.detach(|| -> Result<(), CoreError> {
            let n = grids.len();
            // Rows are picked per market by index below, so every column must be as long first.
            let rows_in = ids.len();
            for (column, len) in [
                ("symbol", symbol.len()),
                ("balance", bal.len()),
                ("margin_mode", mode.len()),
                ("side", sd.len()),
                ("qty", q.len()),
                ("entry_price", entry.len()),
                ("leverage", lev.len()),
                ("isolated_margin", iso.map_or(rows_in, <[f64]>::len)),
            ] {
                if len != rows_in {
                    let message = format!("column has {len} rows, trader_id has {rows_in}");
                    return Err(CoreError::BadInput { column, row: len.min(rows_in), message });
                }
            }
            if let Some(r) = symbol.iter().position(|&s| s as usize >= n) {
                let message = format!("code {} is not one of the {n} markets", symbol[r]);
                return Err(CoreError::BadInput { column: "symbol", row: r, message });
            }
            // Each market converts its own rows (its lot size), then the venue loads them all.
            let mut rows: Vec<Option<(InstrumentId, AccountRow)>> = vec![None; ids.len()];
            for (k, (_, lot)) in grids.iter().enumerate() {
                let at: Vec<usize> = (0..ids.len()).filter(|&r| symbol[r] as usize == k).collect();
                if at.is_empty() {
                    continue;
                }
                let pick_f = |c: &[f64]| at.iter().map(|&r| c[r]).collect::<Vec<f64>>();
                let (b, qq, e, l) = (pick_f(bal), pick_f(q), pick_f(entry), pick_f(lev));
                let im = iso.map(pick_f);
                let id: Vec<i64> = at.iter().map(|&r| ids[r]).collect();
                let mm: Vec<u8> = at.iter().map(|&r| mode[r]).collect();
                let s: Vec<i8> = at.iter().map(|&r| sd[r]).collect();
                let cols = AccountColumns {
                    trader_id: &id,
                    balance: &b,
                    margin_mode: &mm,
                    side: &s,
                    qty: &qq,
                    entry_price: &e,
                    leverage: &l,
                    isolated_margin: im.as_deref(),
                };
                let converted = account_rows(&cols, lot).map_err(|err| match err {
                    CoreError::BadInput { column, row, message } => {
                        CoreError::BadInput { column, row: at[row], message }
                    }
                    other => other,
                })?;
                for (&r, row) in at.iter().zip(converted) {
                    rows[r] = Some((InstrumentId(k as u32), row));
                }
            }
            let rows: Vec<(InstrumentId, AccountRow)> = rows.into_iter().flatten().collect();
            v.add_accounts(&rows)
        });
        result.map_err(|e| scenario_error(py, "accounts", e))
    }

    #[pyo3(signature = (symbol, side, price, qty, owner=None))]
    fn load_book_columns(
        &mut self,
        py: Python<'_>,
        symbol: &str,
        side: PyReadonlyArray1<'_, u8>,
        price: PyReadonlyArray1<'_, f64>,
        qty: PyReadonlyArray1<'_, f64>,
        owner: Option<PyReadonlyArray1<'_, i64>>,
    ) -> PyResult<()> {
        let k = self.inst(py, symbol)?;
        let owner = owner.as_ref().map(|a| a.as_slice()).transpose()?;
        let (side, price, qty) = (side.as_slice()?, price.as_slice()?, qty.as_slice()?);
        let (tick, lot) = self.grids[k];
        let v = &mut self.v;
        let max_price = v.exchange(InstrumentId(k as u32)).max_price();
        py.detach(|| {
            let rows = book_rows(side, price, qty, owner, &tick, &lot)?;
            if let Some(r) = rows.iter().position(|row| row.1 > max_price) {
                let message = format!(
                    "{} is above the largest price this market holds exactly ({})",
                    price[r],
                    tick.to_f64(max_price)
                );
                return Err(CoreError::BadInput { column: "price", row: r, message });
            }
            v.add_resting_orders(InstrumentId(k as u32), &rows)
        })
        .map_err(|e| scenario_error(py, "book", with_user_price(e, price)))
    }

    #[pyo3(signature = (symbol, trader_id, side, qty, price=None, tif="gtc", reduce_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn submit<'py>(
        &mut self,
        py: Python<'py>,
        symbol: &str,
        trader_id: i64,
        side: &str,
        qty: f64,
        price: Option<f64>,
        tif: &str,
        reduce_only: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let k = self.inst(py, symbol)?;
        let inst = InstrumentId(k as u32);
        let (tick, lot) = self.grids[k];
        let ex = self.v.exchange(inst);
        if ex.account_index(TraderId(trader_id)).is_none() {
            let msg = format!("trader {trader_id} is not a loaded account in {symbol}");
            return Err(order_error(py, msg, "unknown_trader"));
        }
        let side = parse_side(py, side)?;
        let tif = parse_tif(py, tif)?;
        let lots = on_grid(py, &lot, "qty", qty)?;
        let ticks = price.map(|p| on_grid(py, &tick, "price", p)).transpose()?;
        if let (Some(p), Some(t)) = (price, ticks) {
            if t > ex.max_price() {
                let message = format!(
                    "price {p} is above the largest price this market holds exactly ({})",
                    tick.to_f64(ex.max_price())
                );
                return Err(order_error(py, message, "out_of_range"));
            }
        }
        let before = self.liquidation_count();
        let req = OrderRequest { side, qty: lots, price: ticks, tif, reduce_only };
        let v = &mut self.v;
        let out = py.detach(|| v.submit(inst, TraderId(trader_id), req)).map_err(|e| config_error(py, e))?;
        submit_result(py, &out, &tick, &lot, self.liquidation_count() - before)
    }

    fn set_index(&mut self, py: Python<'_>, symbol: &str, price: f64) -> PyResult<()> {
        let k = self.inst(py, symbol)?;
        let tick = self.grids[k].0;
        let ticks = on_grid(py, &tick, "index price", price)?;
        let max = self.v.exchange(InstrumentId(k as u32)).max_price();
        if ticks <= 0 || ticks > max {
            let msg = format!("index price must be within (0, {}], got {price}", tick.to_f64(max));
            return Err(order_error(py, msg, "invalid_price"));
        }
        let v = &mut self.v;
        py.detach(|| v.set_index(InstrumentId(k as u32), ticks)).map_err(|e| config_error(py, e))
    }

    /// Move every market's clock to `ts` (integer ns); it never goes back.
    fn advance(&mut self, py: Python<'_>, ts: i64) -> PyResult<()> {
        let now = self.v.instruments().iter().map(|i| i.exchange().ts()).max().unwrap_or(0);
        if ts < now {
            let msg = format!("time only moves forward: now {now}, asked {ts}");
            return Err(liqsim_error(py, "ConfigError", msg, &[]));
        }
        let v = &mut self.v;
        py.detach(|| v.advance_to(ts));
        Ok(())
    }

    /// Every account's trigger price on `symbol` (quote; NaN: none), in the order of
    /// `market(symbol).accounts()`: a cross account's leg with the other markets' marks where they
    /// are now (`MultiExchange::triggers_at_marks`). Reads only.
    fn _triggers_at_marks<'py>(&self, py: Python<'py>, symbol: &str) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let k = self.inst(py, symbol)?;
        let tick = self.grids[k].0;
        let prices: Vec<f64> = self
            .v
            .triggers_at_marks(InstrumentId(k as u32))
            .into_iter()
            .map(|p| p.map_or(f64::NAN, |p| tick.to_f64(p)))
            .collect();
        Ok(prices.into_pyarray(py))
    }

    /// A copy of one market as it is now (a `liqsim.Exchange` to read: book, accounts, tapes).
    fn market(&self, py: Python<'_>, symbol: &str) -> PyResult<PyExchange> {
        let k = self.inst(py, symbol)?;
        let (tick, lot) = self.grids[k];
        Ok(PyExchange { ex: self.v.exchange(InstrumentId(k as u32)).clone(), tick, lot })
    }

    /// A trader's wallet: Σ of its sub-wallets over the markets (quote currency).
    fn wallet(&self, trader_id: i64) -> f64 {
        self.v.wallet(TraderId(trader_id)).to_f64()
    }

    /// Money put in (funds and loaded balances) and the markets' total now (quote currency).
    fn money(&self) -> (f64, f64) {
        let total = self.v.instruments().iter().filter_map(|i| i.exchange().checked_money_total()).map(|m| m.to_f64());
        (self.v.deposits().to_f64(), total.sum())
    }

    fn transfers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = self.v.transfers();
        let d = PyDict::new(py);
        d.set_item("ts", t.iter().map(|r| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("trader_id", t.iter().map(|r| r.trader.0).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("from_symbol", t.iter().map(|r| r.from.0 as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("to_symbol", t.iter().map(|r| r.to.0 as u8).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("amount", t.iter().map(|r| r.amount.to_f64()).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }

    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        self.v.check_invariants().map_err(|m| liqsim_error(py, "LiqsimError", m, &[]))
    }

    fn copy(&self) -> Self {
        self.clone()
    }

    /// The core's versioned binary snapshot of the venue (`MultiExchange::to_snapshot`), GIL
    /// released.
    fn _snapshot<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let v = &mut self.v;
        let bytes = py.detach(|| v.to_snapshot()).map_err(|e| snapshot_error(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The venue of a snapshot, on these (tick, lot) grids, one per market in the venue's order
    /// (each must give its market's notional scale); `liqsim.SnapshotError` for anything else.
    #[staticmethod]
    fn _from_snapshot(py: Python<'_>, grids: Vec<(f64, f64)>, snapshot: &[u8]) -> PyResult<Self> {
        let v = py.detach(|| MultiExchange::from_snapshot(snapshot)).map_err(|e| snapshot_error(py, e))?;
        if grids.len() != v.instruments().len() {
            let msg = format!("invalid snapshot: {} grids for {} markets", grids.len(), v.instruments().len());
            return Err(liqsim_error(py, "SnapshotError", msg, &[]));
        }
        let mut out = Vec::with_capacity(grids.len());
        for (&(tick, lot), i) in grids.iter().zip(v.instruments()) {
            if NotionalScale::from_sizes(tick, lot).ok() != Some(i.exchange().config().scale) {
                let msg = format!(
                    "invalid snapshot: tick size {tick} and lot size {lot} do not match the notional scale of {}",
                    i.symbol
                );
                return Err(liqsim_error(py, "SnapshotError", msg, &[]));
            }
            out.push(snapshot_grids(py, tick, lot)?);
        }
        Ok(PyMultiExchange { v, grids: out })
    }

    /// Pickling: `MultiExchange._from_snapshot(grids, snapshot)`.
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Vec<(f64, f64)>, Bound<'py, PyBytes>))> {
        let py = slf.py();
        let restore = slf.get_type().getattr("_from_snapshot")?;
        let mut this = slf.borrow_mut();
        let grids = this.grids.iter().map(|(t, l)| (t.step(), l.step())).collect();
        let bytes = this._snapshot(py)?;
        Ok((restore, (grids, bytes)))
    }
}

impl PyMultiExchange {
    fn liquidation_count(&self) -> usize {
        self.v.instruments().iter().map(|i| i.exchange().tape().liquidations.len()).sum()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMultiExchange>()
}
