//! The scenario's `orders` and `index` tables from float columns (what Python hands over) to core
//! rows, strictly: a price off the tick grid or a size off the lot grid names its table, column
//! and row (a scenario is data, not an order a venue could refuse).

use super::{IndexPoint, OrderAction, ScenarioOrder};
use crate::book::TimeInForce;
use crate::error::Error;
use crate::margin::Rate;
use crate::stops::{Trail, TriggerOn};
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

/// Columns of the `orders` table. Codes: action as [`OrderAction::NAMES`]; side 0 buy / 1 sell;
/// tif as [`TimeInForce::from_code`]; trigger_on 0 last / 1 mark. `price`, `trigger_price`,
/// `trail` (a price distance) and `trail_fraction` NaN: none. `order_id`, `oco_group` < 0: none.
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
    pub trigger_price: &'a [f64],
    pub trigger_on: &'a [u8],
    pub trail: &'a [f64],
    pub trail_fraction: &'a [f64],
    pub oco_group: &'a [i64],
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
        ("trigger_price", cols.trigger_price.len()),
        ("trigger_on", cols.trigger_on.len()),
        ("trail", cols.trail.len()),
        ("trail_fraction", cols.trail_fraction.len()),
        ("oco_group", cols.oco_group.len()),
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
                3 => OrderAction::StopMarket,
                4 => OrderAction::StopLimit,
                5 => OrderAction::TrailingStop,
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
                OrderAction::Limit | OrderAction::StopLimit => Some(steps(T, tick, "price", r, cols.price[r])?),
                OrderAction::Cancel => None,
                _ if cols.price[r].is_nan() => None,
                _ => Some(steps(T, tick, "price", r, cols.price[r])?), // a market order's protection
            };
            let trigger = match action {
                OrderAction::StopMarket | OrderAction::StopLimit => {
                    Some(steps(T, tick, "trigger_price", r, cols.trigger_price[r])?)
                }
                _ => None,
            };
            let trigger_on = match cols.trigger_on[r] {
                0 | 255 => TriggerOn::Last,
                1 => TriggerOn::Mark,
                code => return Err(bad(T, "trigger_on", r, format!("unknown code {code}"))),
            };
            let trail = match (action, cols.trail[r], cols.trail_fraction[r]) {
                (OrderAction::TrailingStop, amount, f) if !amount.is_nan() && f.is_nan() => {
                    let ticks = steps(T, tick, "trail", r, amount)?;
                    if ticks <= 0 {
                        return Err(bad(T, "trail", r, format!("{amount} must be > 0")));
                    }
                    Some(Trail::Ticks(ticks))
                }
                (OrderAction::TrailingStop, amount, f) if amount.is_nan() && !f.is_nan() => {
                    if !(f > 0.0 && f < 1.0) {
                        return Err(bad(T, "trail_fraction", r, format!("{f} must be in (0, 1)")));
                    }
                    Some(Trail::Fraction(
                        Rate::from_f64(f).ok_or_else(|| bad(T, "trail_fraction", r, format!("{f} is out of range")))?,
                    ))
                }
                (OrderAction::TrailingStop, amount, f) if !amount.is_nan() && !f.is_nan() => {
                    return Err(bad(T, "trail", r, "give trail or trail_fraction, not both".into()));
                }
                _ => None,
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
                trigger,
                trigger_on,
                trail,
                oco: (cols.oco_group[r] >= 0).then_some(cols.oco_group[r]),
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
