//! Read-only views of an order book, shared by `liqsim.OrderBook` and `liqsim.Exchange` (the
//! exchange shows its own book with the same methods and the same columns).

use liqsim_core::book::{OrderBook as CoreBook, RejectReason};
use liqsim_core::units::Grid;
use liqsim_core::Side;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{liqsim_error, on_grid, order_error, parse_side};

/// Top `levels` of each side as one table, bids first then asks, best first within a side:
/// `side` (0 bid, 1 ask), `level` (0 = best), `price`, `qty`, `orders`.
pub fn depth<'py>(
    py: Python<'py>,
    book: &CoreBook,
    tick: &Grid,
    lot: &Grid,
    levels: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let (mut side, mut level, mut price, mut qty, mut orders) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (code, s) in [(0u8, Side::Buy), (1u8, Side::Sell)] {
        for (i, l) in book.levels(s).take(levels).enumerate() {
            side.push(code);
            level.push(i as i64);
            price.push(tick.to_f64(l.price));
            qty.push(lot.to_f64(l.qty));
            orders.push(i64::from(l.count));
        }
    }
    let d = PyDict::new(py);
    d.set_item("side", side.into_pyarray(py))?;
    d.set_item("level", level.into_pyarray(py))?;
    d.set_item("price", price.into_pyarray(py))?;
    d.set_item("qty", qty.into_pyarray(py))?;
    d.set_item("orders", orders.into_pyarray(py))?;
    Ok(d)
}

/// Quantity and notional within `fraction` of mid; None when a side is empty.
pub fn depth_within<'py>(
    py: Python<'py>,
    book: &CoreBook,
    tick: &Grid,
    lot: &Grid,
    fraction: f64,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    if !(fraction.is_finite() && fraction >= 0.0) {
        return Err(liqsim_error(py, "ConfigError", format!("fraction must be a number >= 0, got {fraction}"), &[]));
    }
    let Some(depth) = book.depth_within(fraction) else { return Ok(None) };
    let money = tick.step() * lot.step();
    let d = PyDict::new(py);
    d.set_item("bid_qty", lot.wide_to_f64(depth.bid_qty))?;
    d.set_item("bid_notional", depth.bid_notional as f64 * money)?;
    d.set_item("ask_qty", lot.wide_to_f64(depth.ask_qty))?;
    d.set_item("ask_notional", depth.ask_notional as f64 * money)?;
    Ok(Some(d))
}

/// Average price a market order of `qty` on `side` would pay; None if the book is too thin.
pub fn sweep_price(
    py: Python<'_>,
    book: &CoreBook,
    tick: &Grid,
    lot: &Grid,
    side: &str,
    qty: f64,
) -> PyResult<Option<f64>> {
    let side = parse_side(py, side)?;
    let lots = on_grid(py, lot, "qty", qty)?;
    if lots <= 0 {
        return Err(order_error(py, format!("qty must be > 0, got {qty}"), RejectReason::NonPositiveQty.name()));
    }
    let s = book.sweep(side, lots);
    Ok((s.filled == lots).then(|| tick.average(s.notional, lots)))
}

/// Resting orders of one side in priority order: `order_id`, `owner`, `price`, `qty`. `owner_id`
/// turns the book's owner into the id the user knows (the exchange's book holds account indices).
pub fn orders<'py>(
    py: Python<'py>,
    book: &CoreBook,
    tick: &Grid,
    lot: &Grid,
    side: &str,
    owner_id: impl Fn(i64) -> i64,
) -> PyResult<Bound<'py, PyDict>> {
    let side = parse_side(py, side)?;
    let (mut id, mut owner, mut price, mut qty) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in book.orders(side) {
        id.push(o.id.0);
        owner.push(owner_id(o.owner.0));
        price.push(tick.to_f64(o.price));
        qty.push(lot.to_f64(o.qty));
    }
    let d = PyDict::new(py);
    d.set_item("order_id", id.into_pyarray(py))?;
    d.set_item("owner", owner.into_pyarray(py))?;
    d.set_item("price", price.into_pyarray(py))?;
    d.set_item("qty", qty.into_pyarray(py))?;
    Ok(d)
}
