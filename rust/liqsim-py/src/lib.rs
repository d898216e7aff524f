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
use pyo3::types::{PyDict, PyList};

mod exchange;
mod replay;

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
        CoreError::Config { .. } => liqsim_error(py, "LiqsimError", err.to_string(), &[]),
    }
}

fn config_error(py: Python<'_>, err: CoreError) -> PyErr {
    liqsim_error(py, "LiqsimError", err.to_string(), &[])
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
        liqsim_error(py, "LiqsimError", message, &[])
    })
}

fn parse_tif(py: Python<'_>, tif: &str) -> PyResult<TimeInForce> {
    TimeInForce::NAMES.iter().position(|n| *n == tif).and_then(|i| TimeInForce::from_code(i as u8)).ok_or_else(|| {
        order_error(py, format!("tif must be one of {:?}, got {tif:?}", TimeInForce::NAMES), "invalid_tif")
    })
}

/// A float quantity or price on its grid, or an OrderError naming the value.
fn on_grid(py: Python<'_>, grid: &Grid, what: &str, x: f64) -> PyResult<i64> {
    grid.to_steps(x).map_err(|e| {
        let (detail, reason) = match e {
            GridError::OffGrid if what == "price" => {
                ("is not a multiple of the tick size", RejectReason::OffTickPrice.name())
            }
            GridError::OffGrid => ("is not a multiple of the lot size", RejectReason::OffLotQty.name()),
            GridError::NotFinite => ("is not a finite number", "invalid_number"),
            GridError::OutOfRange => ("is out of range", "invalid_number"),
        };
        order_error(py, format!("{what} {x} {detail} ({})", grid.step()), reason)
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

    /// Top `levels` of each side, best first, as numpy arrays.
    fn depth<'py>(&self, py: Python<'py>, levels: usize) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (side, prefix) in [(Side::Buy, "bid"), (Side::Sell, "ask")] {
            let (mut price, mut qty, mut orders) = (Vec::new(), Vec::new(), Vec::new());
            for l in self.book.levels(side).take(levels) {
                price.push(self.tick.to_f64(l.price));
                qty.push(self.lot.to_f64(l.qty));
                orders.push(l.count as i64);
            }
            d.set_item(format!("{prefix}_price"), price.into_pyarray(py))?;
            d.set_item(format!("{prefix}_qty"), qty.into_pyarray(py))?;
            d.set_item(format!("{prefix}_orders"), orders.into_pyarray(py))?;
        }
        Ok(d)
    }

    /// Quantity and notional within `fraction` of mid; None when a side is empty.
    fn depth_within<'py>(&self, py: Python<'py>, fraction: f64) -> PyResult<Option<Bound<'py, PyDict>>> {
        if !(fraction.is_finite() && fraction >= 0.0) {
            return Err(liqsim_error(py, "LiqsimError", format!("fraction must be >= 0, got {fraction}"), &[]));
        }
        let Some(depth) = self.book.depth_within(fraction) else { return Ok(None) };
        let money = self.tick.step() * self.lot.step();
        let d = PyDict::new(py);
        d.set_item("bid_qty", self.lot.wide_to_f64(depth.bid_qty))?;
        d.set_item("bid_notional", depth.bid_notional as f64 * money)?;
        d.set_item("ask_qty", self.lot.wide_to_f64(depth.ask_qty))?;
        d.set_item("ask_notional", depth.ask_notional as f64 * money)?;
        Ok(Some(d))
    }

    /// Average price a market order of `qty` on `side` would pay; None if the book is too thin.
    fn sweep_price(&self, py: Python<'_>, side: &str, qty: f64) -> PyResult<Option<f64>> {
        let side = parse_side(py, side)?;
        let lots = on_grid(py, &self.lot, "qty", qty)?;
        if lots <= 0 {
            return Err(order_error(py, format!("qty must be > 0, got {qty}"), RejectReason::NonPositiveQty.name()));
        }
        let s = self.book.sweep(side, lots);
        Ok((s.filled == lots).then(|| self.tick.average(s.notional, lots)))
    }

    /// Resting orders of one side in priority order, as numpy arrays.
    fn orders<'py>(&self, py: Python<'py>, side: &str) -> PyResult<Bound<'py, PyDict>> {
        let side = parse_side(py, side)?;
        let (mut id, mut owner, mut price, mut qty) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for o in self.book.orders(side) {
            id.push(o.id.0);
            owner.push(o.owner.0);
            price.push(self.tick.to_f64(o.price));
            qty.push(self.lot.to_f64(o.qty));
        }
        let d = PyDict::new(py);
        d.set_item("order_id", id.into_pyarray(py))?;
        d.set_item("owner", owner.into_pyarray(py))?;
        d.set_item("price", price.into_pyarray(py))?;
        d.set_item("qty", qty.into_pyarray(py))?;
        Ok(d)
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
    replay::register(m)?;
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
