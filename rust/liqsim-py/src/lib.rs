//! `liqsim._core`: the PyO3 binding of liqsim-core.
//!
//! Glue only: strings and floats from Python become core values, numpy buffers are lent to the core
//! as slices with the GIL released, results come back as numpy arrays that own the core's vectors
//! (no copy). Every core error becomes a `liqsim.errors` exception; nothing here may panic.

use liqsim_core::batch::{self, ActionColumns, ActionKind, EventKind, REASON_NAMES};
use liqsim_core::book::{
    Event, NewOrder, OrderBook as CoreBook, OrderType, Outcome, RejectReason, SelfTradePrevention, Status, TimeInForce,
};
use liqsim_core::units::{Grid, GridError};
use liqsim_core::{Error as CoreError, OrderId, Side, TraderId};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

mod analysis;
mod book_view;
mod exchange;
mod multi;
mod replay;
mod scenarios;
mod sim;
mod sim_venue;
mod sweep;

/// Raise `liqsim.errors.<name>(message)` with extra attributes (table, column, row, reason, …).
fn liqsim_error(py: Python<'_>, name: &str, message: String, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = py.import("liqsim.errors")?.getattr(name)?;
        let err = cls.call1((message.clone(),))?;
        for (k, v) in attrs {
            err.setattr(*k, v)?;
        }
        Ok(PyErr::from_value(err))
    };
    build().unwrap_or_else(|import_error| import_error)
}

fn order_error(py: Python<'_>, message: String, reason: &str) -> PyErr {
    let reason = reason.into_pyobject(py).map(|r| r.into_any().unbind());
    match reason {
        Ok(r) => liqsim_error(py, "OrderError", message, &[("reason", r)]),
        Err(e) => e.into(),
    }
}

fn scenario_error(py: Python<'_>, table: &str, err: CoreError) -> PyErr {
    match err {
        CoreError::InTable { table, column, row, message } => {
            scenario_error(py, table, CoreError::BadInput { column, row, message })
        }
        CoreError::BadInput { column, row, message } => {
            let text = format!("table '{table}', column '{column}', row {row}: {message}");
            let attrs = (|| -> PyResult<Vec<(&str, Py<PyAny>)>> {
                Ok(vec![
                    ("table", table.into_pyobject(py)?.into_any().unbind()),
                    ("column", column.into_pyobject(py)?.into_any().unbind()),
                    ("row", row.into_pyobject(py)?.into_any().unbind()),
                ])
            })();
            match attrs {
                Ok(attrs) => liqsim_error(py, "ScenarioError", text, &attrs),
                Err(e) => e,
            }
        }
        CoreError::Config { .. } => liqsim_error(py, "ConfigError", err.to_string(), &[]),
    }
}

fn config_error(py: Python<'_>, err: CoreError) -> PyErr {
    liqsim_error(py, "ConfigError", err.to_string(), &[])
}

/// A snapshot the core refused (damaged, cut, another kind or version), or one the core could not
/// write: `liqsim.SnapshotError`.
fn snapshot_error(py: Python<'_>, err: CoreError) -> PyErr {
    liqsim_error(py, "SnapshotError", err.to_string(), &[])
}

/// The tick and lot grids a pickle carries next to the core snapshot.
fn snapshot_grids(py: Python<'_>, tick_size: f64, lot_size: f64) -> PyResult<(Grid, Grid)> {
    let grid = |what, step| Grid::new(what, step).map_err(|e| snapshot_error(py, e));
    Ok((grid("tick_size", tick_size)?, grid("lot_size", lot_size)?))
}

fn parse_side(py: Python<'_>, side: &str) -> PyResult<Side> {
    match side {
        "buy" | "bid" => Ok(Side::Buy),
        "sell" | "ask" => Ok(Side::Sell),
        _ => Err(order_error(py, format!("side must be 'buy' or 'sell', got {side:?}"), "invalid_side")),
    }
}

fn parse_stp(py: Python<'_>, stp: &str) -> PyResult<SelfTradePrevention> {
    SelfTradePrevention::from_name(stp).ok_or_else(|| {
        let message = format!("stp must be one of {:?}, got {stp:?}", SelfTradePrevention::NAMES);
        liqsim_error(py, "ConfigError", message, &[])
    })
}

fn parse_tif(py: Python<'_>, tif: &str) -> PyResult<TimeInForce> {
    TimeInForce::NAMES.iter().position(|n| *n == tif).and_then(|i| TimeInForce::from_code(i as u8)).ok_or_else(|| {
        order_error(py, format!("tif must be one of {:?}, got {tif:?}", TimeInForce::NAMES), "invalid_tif")
    })
}

/// A float quantity or price on its grid, or an OrderError naming the value in the user's units.
fn on_grid(py: Python<'_>, grid: &Grid, what: &str, x: f64) -> PyResult<i64> {
    grid.to_steps(x).map_err(|e| {
        let step_name = if what.ends_with("price") { "tick size" } else { "lot size" };
        let (message, reason) = match e {
            GridError::OffGrid if what.ends_with("price") => (
                format!("{what} {x} is not a multiple of the {step_name} {}", grid.step()),
                RejectReason::OffTickPrice.name(),
            ),
            GridError::OffGrid => (
                format!("{what} {x} is not a multiple of the {step_name} {}", grid.step()),
                RejectReason::OffLotQty.name(),
            ),
            // Python spells them nan and inf.
            GridError::NotFinite => {
                (format!("{what} must be a finite number, got {}", format!("{x}").to_lowercase()), "invalid_number")
            }
            GridError::OutOfRange => (format!("{what} {x} is out of range"), "invalid_number"),
        };
        order_error(py, message, reason)
    })
}

/// The Rust order book behind `liqsim.OrderBook`. Prices and quantities are floats on this side.
#[pyclass(module = "liqsim._core", name = "OrderBook")]
pub struct PyOrderBook {
    book: CoreBook,
    tick: Grid,
    lot: Grid,
    events: Vec<Event>,
}

impl PyOrderBook {
    /// The Python dict describing one action's outcome and the trades it made.
    fn outcome_dict<'py>(&self, py: Python<'py>, outcome: Outcome) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("order_id", outcome.order_id.map(|id| id.0))?;
        d.set_item("status", outcome.status.name())?;
        d.set_item("reason", outcome.reject.map(|r| r.name()))?;
        d.set_item("filled", self.lot.to_f64(outcome.filled))?;
        let avg = (outcome.filled > 0).then(|| self.tick.average(outcome.notional, outcome.filled));
        d.set_item("avg_price", avg)?;
        let trades = PyList::empty(py);
        for event in &self.events {
            if let Event::Trade(t) = event {
                let td = PyDict::new(py);
                td.set_item("price", self.tick.to_f64(t.price))?;
                td.set_item("qty", self.lot.to_f64(t.qty))?;
                td.set_item("maker_order_id", t.maker_order_id.0)?;
                td.set_item("maker_owner", t.maker_owner.0)?;
                trades.append(td)?;
            }
        }
        d.set_item("trades", trades)?;
        Ok(d)
    }
}

#[pymethods]
impl PyOrderBook {
    #[new]
    #[pyo3(signature = (tick_size, lot_size, stp = "none"))]
    fn new(py: Python<'_>, tick_size: f64, lot_size: f64, stp: &str) -> PyResult<Self> {
        let tick = Grid::new("tick_size", tick_size).map_err(|e| config_error(py, e))?;
        let lot = Grid::new("lot_size", lot_size).map_err(|e| config_error(py, e))?;
        let stp = parse_stp(py, stp)?;
        Ok(PyOrderBook { book: CoreBook::new(stp), tick, lot, events: Vec::new() })
    }

    #[getter]
    fn tick_size(&self) -> f64 {
        self.tick.step()
    }

    #[getter]
    fn lot_size(&self) -> f64 {
        self.lot.step()
    }

    #[getter]
    fn stp(&self) -> &'static str {
        SelfTradePrevention::NAMES[self.book.self_trade_prevention() as usize]
    }

    #[getter]
    fn open_orders(&self) -> usize {
        self.book.open_orders()
    }

    #[pyo3(signature = (side, qty, price = None, tif = "gtc", owner = 0, order_id = None, market = false))]
    #[allow(clippy::too_many_arguments)]
    fn submit<'py>(
        &mut self,
        py: Python<'py>,
        side: &str,
        qty: f64,
        price: Option<f64>,
        tif: &str,
        owner: i64,
        order_id: Option<i64>,
        market: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let side = parse_side(py, side)?;
        let tif = parse_tif(py, tif)?;
        let qty = on_grid(py, &self.lot, "qty", qty)?;
        let price = price.map(|p| on_grid(py, &self.tick, "price", p)).transpose()?;
        if !market && price.is_none() {
            return Err(order_error(py, "a limit order needs a price (or pass market=True)".into(), "invalid_price"));
        }
        let order = NewOrder {
            id: order_id.map(OrderId),
            owner: TraderId(owner),
            side,
            order_type: if market { OrderType::Market } else { OrderType::Limit },
            price,
            qty,
            tif,
        };
        self.events.clear();
        let outcome = self.book.submit(order, &mut self.events);
        self.outcome_dict(py, outcome)
    }

    fn cancel<'py>(&mut self, py: Python<'py>, order_id: i64) -> PyResult<Bound<'py, PyDict>> {
        self.events.clear();
        let outcome = self.book.cancel(OrderId(order_id), &mut self.events);
        self.outcome_dict(py, outcome)
    }

    #[pyo3(signature = (order_id, qty, price = None))]
    fn modify<'py>(
        &mut self,
        py: Python<'py>,
        order_id: i64,
        qty: f64,
        price: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let qty = on_grid(py, &self.lot, "qty", qty)?;
        let price = price.map(|p| on_grid(py, &self.tick, "price", p)).transpose()?;
        self.events.clear();
        let outcome = self.book.modify(OrderId(order_id), qty, price, &mut self.events);
        self.outcome_dict(py, outcome)
    }

    #[getter]
    fn best_bid(&self) -> Option<f64> {
        self.book.best_bid().map(|(p, _)| self.tick.to_f64(p))
    }

    #[getter]
    fn best_ask(&self) -> Option<f64> {
        self.book.best_ask().map(|(p, _)| self.tick.to_f64(p))
    }

    /// Top `levels` of each side as one table (see `book_view::depth`).
    fn depth<'py>(&self, py: Python<'py>, levels: usize) -> PyResult<Bound<'py, PyDict>> {
        book_view::depth(py, &self.book, &self.tick, &self.lot, levels)
    }

    fn depth_within<'py>(&self, py: Python<'py>, fraction: f64) -> PyResult<Option<Bound<'py, PyDict>>> {
        book_view::depth_within(py, &self.book, &self.tick, &self.lot, fraction)
    }

    fn sweep_price(&self, py: Python<'_>, side: &str, qty: f64) -> PyResult<Option<f64>> {
        book_view::sweep_price(py, &self.book, &self.tick, &self.lot, side, qty)
    }

    fn orders<'py>(&self, py: Python<'py>, side: &str) -> PyResult<Bound<'py, PyDict>> {
        book_view::orders(py, &self.book, &self.tick, &self.lot, side, |owner| owner)
    }

    /// An independent deep copy (the core book is cloned).
    fn copy(&self) -> Self {
        PyOrderBook { book: self.book.clone(), tick: self.tick, lot: self.lot, events: Vec::new() }
    }

    /// The core's versioned binary snapshot of the book (`liqsim_core::snapshot`), GIL released.
    fn _snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let book = &self.book;
        let bytes = py.detach(|| book.to_snapshot()).map_err(|e| snapshot_error(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The book of a snapshot, on these grids; `liqsim.SnapshotError` for anything else.
    #[staticmethod]
    fn _from_snapshot(py: Python<'_>, tick_size: f64, lot_size: f64, snapshot: &[u8]) -> PyResult<Self> {
        let (tick, lot) = snapshot_grids(py, tick_size, lot_size)?;
        let book = py.detach(|| CoreBook::from_snapshot(snapshot)).map_err(|e| snapshot_error(py, e))?;
        Ok(PyOrderBook { book, tick, lot, events: Vec::new() })
    }

    /// Pickling: `OrderBook._from_snapshot(tick_size, lot_size, snapshot)`.
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (f64, f64, Bound<'py, PyBytes>))> {
        let py = slf.py();
        let this = slf.borrow();
        let restore = slf.get_type().getattr("_from_snapshot")?;
        Ok((restore, (this.tick.step(), this.lot.step(), this._snapshot(py)?)))
    }

    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        self.book.check_invariants().map_err(|m| liqsim_error(py, "LiqsimError", m, &[]))
    }

    /// Apply a table of coded actions (see `liqsim.OrderBook.process`), GIL released.
    #[pyo3(signature = (table, action, side=None, price=None, qty=None, order_id=None, owner=None, tif=None, ts=None))]
    #[allow(clippy::too_many_arguments)]
    fn process_columns<'py>(
        &mut self,
        py: Python<'py>,
        table: &str,
        action: PyReadonlyArray1<'py, u8>,
        side: Option<PyReadonlyArray1<'py, u8>>,
        price: Option<PyReadonlyArray1<'py, f64>>,
        qty: Option<PyReadonlyArray1<'py, f64>>,
        order_id: Option<PyReadonlyArray1<'py, i64>>,
        owner: Option<PyReadonlyArray1<'py, i64>>,
        tif: Option<PyReadonlyArray1<'py, u8>>,
        ts: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let cols = ActionColumns {
            ts: ts.as_ref().map(|a| a.as_slice()).transpose()?,
            action: action.as_slice()?,
            side: side.as_ref().map(|a| a.as_slice()).transpose()?,
            price: price.as_ref().map(|a| a.as_slice()).transpose()?,
            qty: qty.as_ref().map(|a| a.as_slice()).transpose()?,
            order_id: order_id.as_ref().map(|a| a.as_slice()).transpose()?,
            owner: owner.as_ref().map(|a| a.as_slice()).transpose()?,
            tif: tif.as_ref().map(|a| a.as_slice()).transpose()?,
        };
        let (book, tick, lot) = (&mut self.book, &self.tick, &self.lot);
        let out = py.detach(|| batch::process(book, tick, lot, &cols)).map_err(|e| scenario_error(py, table, e))?;

        let orders = PyDict::new(py);
        orders.set_item("order_id", out.orders.order_id.into_pyarray(py))?;
        orders.set_item("status", out.orders.status.into_pyarray(py))?;
        orders.set_item("reason", out.orders.reason.into_pyarray(py))?;
        orders.set_item("filled_qty", out.orders.filled_qty.into_pyarray(py))?;
        orders.set_item("avg_price", out.orders.avg_price.into_pyarray(py))?;
        let trades = PyDict::new(py);
        let t = out.trades;
        trades.set_item("row", t.row.into_pyarray(py))?;
        trades.set_item("ts", t.ts.into_pyarray(py))?;
        trades.set_item("price", t.price.into_pyarray(py))?;
        trades.set_item("qty", t.qty.into_pyarray(py))?;
        trades.set_item("aggressor", t.aggressor.into_pyarray(py))?;
        trades.set_item("maker_order_id", t.maker_order_id.into_pyarray(py))?;
        trades.set_item("taker_order_id", t.taker_order_id.into_pyarray(py))?;
        trades.set_item("maker_owner", t.maker_owner.into_pyarray(py))?;
        trades.set_item("taker_owner", t.taker_owner.into_pyarray(py))?;
        let events = PyDict::new(py);
        let e = out.events;
        events.set_item("row", e.row.into_pyarray(py))?;
        events.set_item("ts", e.ts.into_pyarray(py))?;
        events.set_item("kind", e.kind.into_pyarray(py))?;
        events.set_item("order_id", e.order_id.into_pyarray(py))?;
        events.set_item("owner", e.owner.into_pyarray(py))?;
        events.set_item("side", e.side.into_pyarray(py))?;
        events.set_item("price", e.price.into_pyarray(py))?;
        events.set_item("qty", e.qty.into_pyarray(py))?;
        events.set_item("reason", e.reason.into_pyarray(py))?;
        let result = PyDict::new(py);
        result.set_item("orders", orders)?;
        result.set_item("trades", trades)?;
        result.set_item("events", events)?;
        Ok(result)
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOrderBook>()?;
    exchange::register(m)?;
    multi::register(m)?;
    analysis::register(m)?;
    sim::register(m)?;
    sim_venue::register(m)?;
    replay::register(m)?;
    scenarios::register(m)?;
    sweep::register(m)?;
    // Code → name tables, defined once in the core; Python decodes result columns with them.
    m.add("ACTION_NAMES", ActionKind::NAMES.to_vec())?;
    m.add("SIDE_NAMES", vec![Side::Buy.name(), Side::Sell.name()])?;
    m.add("TIF_NAMES", TimeInForce::NAMES.to_vec())?;
    m.add("STATUS_NAMES", Status::NAMES.to_vec())?;
    m.add("REASON_NAMES", REASON_NAMES.to_vec())?;
    m.add("EVENT_KIND_NAMES", EventKind::NAMES.to_vec())?;
    m.add("STP_NAMES", SelfTradePrevention::NAMES.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
