//! Turning float columns (what Python hands over) into the integer rows the exchange loads, with
//! errors that name the column and the row. Strict: a price off the tick grid or a size off the lot
//! grid is an error here (a scenario is data, not an order a venue could refuse).

use super::{AccountRow, RestingOrder};
use crate::account::MarginMode;
use crate::error::Error;
use crate::limits::{MAX_BALANCE, MAX_NOTIONAL};
use crate::types::{Money, Side, TraderId, MONEY_SCALE};
use crate::units::{Grid, GridError};

fn bad(column: &'static str, row: usize, message: String) -> Error {
    Error::BadInput { column, row, message }
}

fn steps(grid: &Grid, column: &'static str, row: usize, x: f64) -> Result<i64, Error> {
    grid.to_steps(x).map_err(|e| {
        let why = match e {
            GridError::NotFinite => "is missing or not a finite number".to_string(),
            GridError::OffGrid => format!("is not a multiple of {}", grid.step()),
            GridError::OutOfRange => "is out of range".to_string(),
        };
        bad(column, row, format!("{x} {why}"))
    })
}

/// Columns of the `accounts` table. `side`: +1 long, −1 short, 0 flat. `isolated_margin`: NaN or
/// absent means "entry notional / leverage".
pub struct AccountColumns<'a> {
    pub trader_id: &'a [i64],
    pub balance: &'a [f64],
    pub margin_mode: &'a [u8],
    pub side: &'a [i8],
    pub qty: &'a [f64],
    pub entry_price: &'a [f64],
    pub leverage: &'a [f64],
    pub isolated_margin: Option<&'a [f64]>,
}

pub fn account_rows(cols: &AccountColumns, lot: &Grid) -> Result<Vec<AccountRow>, Error> {
    let n = cols.trader_id.len();
    for (name, len) in [
        ("balance", cols.balance.len()),
        ("margin_mode", cols.margin_mode.len()),
        ("side", cols.side.len()),
        ("qty", cols.qty.len()),
        ("entry_price", cols.entry_price.len()),
        ("leverage", cols.leverage.len()),
        ("isolated_margin", cols.isolated_margin.map_or(n, <[f64]>::len)),
    ] {
        if len != n {
            return Err(bad(name, len.min(n), format!("column has {len} rows, trader_id has {n}")));
        }
    }
    let money_per_lot = lot.step() * MONEY_SCALE as f64;
    (0..n)
        .map(|r| {
            let balance = cols.balance[r];
            if !(balance.is_finite() && balance >= 0.0) {
                return Err(bad("balance", r, format!("{balance} must be a number ≥ 0")));
            }
            if balance > MAX_BALANCE.to_f64() {
                return Err(bad("balance", r, format!("{balance} is above the largest balance held exactly (1e18)")));
            }
            let mode = match cols.margin_mode[r] {
                0 => MarginMode::Cross,
                1 => MarginMode::Isolated,
                code => return Err(bad("margin_mode", r, format!("unknown code {code}"))),
            };
            let qty = steps(lot, "qty", r, cols.qty[r])?;
            if qty < 0 {
                return Err(bad("qty", r, "must be ≥ 0 (the side column gives the direction)".into()));
            }
            let sign = cols.side[r] as i64;
            if qty > 0 && sign == 0 {
                return Err(bad("side", r, "a non-zero qty needs side long or short".into()));
            }
            let lots = sign * qty;
            let entry = cols.entry_price[r];
            let entry_money_per_lot = if lots == 0 {
                Money::ZERO
            } else if entry.is_finite() && entry > 0.0 {
                // Beyond 1e18 per unit no market can hold the notional (the exchange then checks
                // the price against its own limit); refusing here keeps the conversion exact.
                if entry > MAX_NOTIONAL.to_f64() {
                    return Err(bad("entry_price", r, format!("{entry} is above the largest price held exactly")));
                }
                Money((entry * money_per_lot).round() as i128)
            } else {
                return Err(bad("entry_price", r, format!("{entry} must be > 0 for an open position")));
            };
            let leverage = cols.leverage[r];
            if !(leverage.is_finite() && leverage >= 1.0 && leverage.fract() == 0.0 && leverage <= 1000.0) {
                return Err(bad("leverage", r, format!("{leverage} must be a whole number from 1 to 1000")));
            }
            let isolated_margin = match cols.isolated_margin.map(|c| c[r]) {
                Some(m) if m.is_nan() => None,
                Some(m) if m.is_finite() && m > MAX_BALANCE.to_f64() => {
                    return Err(bad(
                        "isolated_margin",
                        r,
                        format!("{m} is above the largest balance held exactly (1e18)"),
                    ))
                }
                Some(m) if m.is_finite() && m >= 0.0 => Some(Money::from_f64(m)),
                Some(m) => return Err(bad("isolated_margin", r, format!("{m} must be ≥ 0"))),
                None => None,
            };
            Ok(AccountRow {
                id: TraderId(cols.trader_id[r]),
                balance: Money::from_f64(balance),
                mode,
                lots,
                entry_money_per_lot,
                leverage: leverage as u32,
                isolated_margin,
            })
        })
        .collect()
}

/// Rows of the `book` table: side code (0 bid, 1 ask), price, qty, optional owner.
pub fn book_rows(
    side: &[u8],
    price: &[f64],
    qty: &[f64],
    owner: Option<&[i64]>,
    tick: &Grid,
    lot: &Grid,
) -> Result<Vec<RestingOrder>, Error> {
    let n = side.len();
    for (name, len) in [("price", price.len()), ("qty", qty.len()), ("owner", owner.map_or(n, <[i64]>::len))] {
        if len != n {
            return Err(bad(name, len.min(n), format!("column has {len} rows, side has {n}")));
        }
    }
    (0..n)
        .map(|r| {
            let s = Side::from_code(side[r]).ok_or_else(|| bad("side", r, "missing or unknown side".into()))?;
            let p = steps(tick, "price", r, price[r])?;
            if p <= 0 {
                return Err(bad("price", r, format!("{} must be > 0", price[r])));
            }
            let q = steps(lot, "qty", r, qty[r])?;
            if q <= 0 {
                return Err(bad("qty", r, format!("{} must be > 0", qty[r])));
            }
            Ok((s, p, q, owner.map(|o| TraderId(o[r]))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_columns_convert_and_report_bad_rows() {
        let lot = Grid::new("lot_size", 0.001).unwrap();
        let cols = AccountColumns {
            trader_id: &[1, 2],
            balance: &[100.0, 50.0],
            margin_mode: &[0, 1],
            side: &[-1, 0],
            qty: &[1.5, 0.0],
            entry_price: &[3000.5, f64::NAN],
            leverage: &[20.0, 5.0],
            isolated_margin: None,
        };
        let rows = account_rows(&cols, &lot).unwrap();
        assert_eq!(rows[0].lots, -1500);
        // 3000.5 USDT × 0.001 per lot = 3.0005 USDT per lot.
        assert_eq!(rows[0].entry_money_per_lot, Money(3_000_500_000_000));
        assert_eq!((rows[1].lots, rows[1].mode), (0, MarginMode::Isolated));
        let bad_lev = AccountColumns { leverage: &[20.0, 2.5], ..cols };
        assert!(matches!(account_rows(&bad_lev, &lot), Err(Error::BadInput { column: "leverage", row: 1, .. })));
        let bad_qty = AccountColumns { qty: &[1.0005, 0.0], ..cols };
        assert!(matches!(account_rows(&bad_qty, &lot), Err(Error::BadInput { column: "qty", row: 0, .. })));
        let no_side = AccountColumns { side: &[0, 0], ..cols };
        assert!(matches!(account_rows(&no_side, &lot), Err(Error::BadInput { column: "side", row: 0, .. })));
    }
}
