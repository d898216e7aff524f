//! The scenario's `orders` and `index` tables from float columns (what Python hands over) to core
//! rows, strictly: a price off the tick grid or a size off the lot grid names its table, column
//! and row (a scenario is data, not an order a venue could refuse).

use super::{IndexPoint, OrderAction, ScenarioOrder};
use crate::book::TimeInForce;
use crate::error::Error;
use crate::types::{Side, TraderId, Ts};
use crate::units::{Grid, GridError};

fn bad(table: &'static str, column: &'static str, row: usize, message: String) -> Error {
    Error::InTable { table, column, row, message }
}

fn steps(table: &'static str, grid: &Grid, column: &'static str, row: usize, x: f64) -> Result<i64, Error> {
    grid.to_steps(x).map_err(|e| {
        let why = match e {
            GridError::NotFinite => "is missing or not a finite number".to_string(),
            GridError::OffGrid => format!("is not a multiple of {}", grid.step()),
            GridError::OutOfRange => "is out of range".to_string(),
        };
        bad(table, column, row, format!("{x} {why}"))
    })
}

/// Columns of the `orders` table. Codes: action 0 limit / 1 market / 2 cancel; side 0 buy /
/// 1 sell; tif as [`TimeInForce::from_code`]. `price` NaN: none (market orders, cancels).
/// `order_id` values < 0: none.
pub struct OrderColumns<'a> {
    pub ts: &'a [i64],
    pub trader_id: &'a [i64],
    pub action: &'a [u8],
    pub side: &'a [u8],
    pub price: &'a [f64],
    pub qty: &'a [f64],
    pub tif: &'a [u8],
    pub reduce_only: &'a [bool],
    pub order_id: &'a [i64],
}

pub fn order_rows(cols: &OrderColumns, tick: &Grid, lot: &Grid) -> Result<Vec<ScenarioOrder>, Error> {
    const T: &str = "orders";
    let n = cols.ts.len();
    for (name, len) in [
        ("trader_id", cols.trader_id.len()),
        ("action", cols.action.len()),
        ("side", cols.side.len()),
        ("price", cols.price.len()),
        ("qty", cols.qty.len()),
        ("tif", cols.tif.len()),
        ("reduce_only", cols.reduce_only.len()),
        ("order_id", cols.order_id.len()),
    ] {
        if len != n {
            return Err(bad(T, name, len.min(n), format!("column has {len} rows, ts has {n}")));
        }
    }
    (0..n)
        .map(|r| {
            let action = match cols.action[r] {
                0 => OrderAction::Limit,
                1 => OrderAction::Market,
                2 => OrderAction::Cancel,
                code => return Err(bad(T, "action", r, format!("unknown code {code}"))),
            };
            let side = match cols.side[r] {
                0 => Side::Buy,
                1 => Side::Sell,
                _ if action == OrderAction::Cancel => Side::Buy, // a cancel needs no side
                code => return Err(bad(T, "side", r, format!("unknown or missing side (code {code})"))),
            };
            let tif = TimeInForce::from_code(cols.tif[r])
                .ok_or_else(|| bad(T, "tif", r, format!("unknown code {}", cols.tif[r])))?;
            let price = match action {
                OrderAction::Limit => Some(steps(T, tick, "price", r, cols.price[r])?),
                OrderAction::Market | OrderAction::Cancel if cols.price[r].is_nan() => None,
                OrderAction::Market => Some(steps(T, tick, "price", r, cols.price[r])?), // protection
                OrderAction::Cancel => None,
            };
            let qty = if action == OrderAction::Cancel { 0 } else { steps(T, lot, "qty", r, cols.qty[r])? };
            let order_id = cols.order_id[r];
            Ok(ScenarioOrder {
                ts: cols.ts[r],
                trader: TraderId(cols.trader_id[r]),
                action,
                side,
                price,
                qty,
                tif,
                reduce_only: cols.reduce_only[r],
                order_ref: (order_id >= 0).then_some(order_id),
            })
        })
        .collect()
}

/// The `index` table: ts (ns) and price.
pub fn index_rows(ts: &[Ts], price: &[f64], tick: &Grid) -> Result<Vec<IndexPoint>, Error> {
    if price.len() != ts.len() {
        return Err(bad("index", "price", price.len().min(ts.len()), "column length differs from ts".into()));
    }
    ts.iter()
        .zip(price)
        .enumerate()
        .map(|(r, (&ts, &p))| Ok(IndexPoint { ts, price: steps("index", tick, "price", r, p)? }))
        .collect()
}
