//! A whole table of order-book actions in one call: float columns in, columnar results out.
//!
//! This is what `OrderBook.process` in Python runs. The rules for bad rows:
//! - a row that is well-formed but that an exchange would refuse (zero or negative quantity, price
//!   off the tick grid, quantity off the lot grid, unknown or closed order id, post-only that would
//!   cross, FOK that cannot fill, duplicate id) is *rejected*: status `rejected` with a reason, and
//!   processing goes on, as on a venue;
//! - a row that is not data at all (NaN or infinite number, unknown code, a column the row needs is
//!   missing) stops the batch with [`Error::BadInput`] naming the column and the row. Rows before it
//!   have been applied to the book: the caller decides whether to keep that book.

use crate::book::{CancelReason, Event, NewOrder, OrderBook, OrderType, RejectReason, Status, TimeInForce};
use crate::error::Error;
use crate::types::{OrderId, Side, TraderId};
use crate::units::{Grid, GridError};

/// Action codes of the `action` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ActionKind {
    Limit = 0,
    Market = 1,
    Cancel = 2,
    Modify = 3,
}

impl ActionKind {
    pub const NAMES: [&'static str; 4] = ["limit", "market", "cancel", "modify"];

    pub fn from_code(code: u8) -> Option<ActionKind> {
        [ActionKind::Limit, ActionKind::Market, ActionKind::Cancel, ActionKind::Modify].get(code as usize).copied()
    }
}

/// Kinds of rows in [`EventColumns`] (trades have a table of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    Accepted = 0,
    Rejected = 1,
    Cancelled = 2,
    Expired = 3,
    Modified = 4,
}

impl EventKind {
    pub const NAMES: [&'static str; 5] = ["accepted", "rejected", "cancelled", "expired", "modified"];
}

/// Reasons in the output tables: 0 none, then the [`RejectReason`] codes, then cancel reasons.
pub const REASON_NAMES: [&str; 15] = [
    "",
    "unknown_order",
    "not_open",
    "post_only_would_cross",
    "fok_cannot_fill",
    "non_positive_qty",
    "off_tick_price",
    "off_lot_qty",
    "invalid_price",
    "duplicate_order_id",
    "invalid_order_id",
    "invalid_time_in_force",
    "qty_too_large",
    "user",
    "self_trade",
];

fn cancel_reason_code(reason: CancelReason) -> u8 {
    match reason {
        CancelReason::User => 13,
        CancelReason::SelfTrade => 14,
    }
}

/// Code of a categorical cell with no value (null). An error only where the row needs the value.
pub const MISSING: u8 = 255;

/// Input columns; all of one length. Optional columns may be absent when no row needs them.
/// Conventions: `price` NaN = no price (market without protection, modify keeping its price);
/// `order_id` < 0 on a new order = let the book assign one; `owner` absent = 0; `tif` absent = GTC.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActionColumns<'a> {
    pub ts: Option<&'a [i64]>,
    pub action: &'a [u8],
    pub side: Option<&'a [u8]>,
    pub price: Option<&'a [f64]>,
    pub qty: Option<&'a [f64]>,
    pub order_id: Option<&'a [i64]>,
    pub owner: Option<&'a [i64]>,
    pub tif: Option<&'a [u8]>,
}

/// One row per action.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderColumns {
    pub order_id: Vec<i64>,
    pub status: Vec<u8>,
    pub reason: Vec<u8>,
    pub filled_qty: Vec<f64>,
    /// Average fill price of this action's trades (NaN when nothing filled).
    pub avg_price: Vec<f64>,
}

/// One row per trade.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TradeColumns {
    /// Index of the action that caused the trade.
    pub row: Vec<i64>,
    pub ts: Vec<i64>,
    pub price: Vec<f64>,
    pub qty: Vec<f64>,
    /// Taker side code (0 buy, 1 sell).
    pub aggressor: Vec<u8>,
    pub maker_order_id: Vec<i64>,
    pub taker_order_id: Vec<i64>,
    pub maker_owner: Vec<i64>,
    pub taker_owner: Vec<i64>,
}

/// One row per non-trade event (accepted, rejected, cancelled, expired, modified).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventColumns {
    pub row: Vec<i64>,
    pub ts: Vec<i64>,
    pub kind: Vec<u8>,
    pub order_id: Vec<i64>,
    pub owner: Vec<i64>,
    /// Side code, 255 when unknown (a rejected row).
    pub side: Vec<u8>,
    /// NaN when the event has no price (market orders, rejections, cancels).
    pub price: Vec<f64>,
    pub qty: Vec<f64>,
    /// Index into [`REASON_NAMES`].
    pub reason: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOutput {
    pub orders: OrderColumns,
    pub trades: TradeColumns,
    pub events: EventColumns,
}

fn bad(column: &'static str, row: usize, message: impl Into<String>) -> Error {
    Error::BadInput { column, row, message: message.into() }
}

fn need<'a, T>(col: Option<&'a [T]>, name: &'static str, row: usize, what: &str) -> Result<&'a [T], Error> {
    col.ok_or_else(|| bad(name, row, format!("column is missing but {what} rows need it")))
}

/// Apply every action of `cols` to `book`, in row order.
pub fn process(book: &mut OrderBook, tick: &Grid, lot: &Grid, cols: &ActionColumns) -> Result<BatchOutput, Error> {
    let n = cols.action.len();
    let lengths = [
        ("ts", cols.ts.map(<[_]>::len)),
        ("side", cols.side.map(<[_]>::len)),
        ("price", cols.price.map(<[_]>::len)),
        ("qty", cols.qty.map(<[_]>::len)),
        ("order_id", cols.order_id.map(<[_]>::len)),
        ("owner", cols.owner.map(<[_]>::len)),
        ("tif", cols.tif.map(<[_]>::len)),
    ];
    for (name, len) in lengths {
        if let Some(len) = len {
            if len != n {
                return Err(bad(name, len.min(n), format!("column has {len} rows, action has {n}")));
            }
        }
    }
    let mut out = BatchOutput::default();
    out.orders.order_id.reserve(n);
    out.orders.status.reserve(n);
    out.orders.reason.reserve(n);
    out.orders.filled_qty.reserve(n);
    out.orders.avg_price.reserve(n);
    let mut events: Vec<Event> = Vec::with_capacity(64);
    for row in 0..n {
        let ts = cols.ts.map_or(0, |c| c[row]);
        let kind = ActionKind::from_code(cols.action[row])
            .ok_or_else(|| bad("action", row, format!("unknown action code {}", cols.action[row])))?;
        events.clear();
        let outcome = match kind {
            ActionKind::Limit | ActionKind::Market => {
                let what = ActionKind::NAMES[kind as usize];
                let side_code = need(cols.side, "side", row, what)?[row];
                let side = Side::from_code(side_code).ok_or_else(|| match side_code {
                    MISSING => bad("side", row, format!("missing value ({what} rows need a side)")),
                    _ => bad("side", row, format!("unknown side code {side_code}")),
                })?;
                let qty_f = need(cols.qty, "qty", row, what)?[row];
                let price_f = match kind {
                    ActionKind::Limit => Some(need(cols.price, "price", row, what)?[row]),
                    _ => cols.price.map(|c| c[row]).filter(|p| !p.is_nan()),
                };
                let tif_code = cols.tif.map_or(0, |c| c[row]);
                let tif_code = if tif_code == MISSING { TimeInForce::Gtc as u8 } else { tif_code };
                let tif = TimeInForce::from_code(tif_code)
                    .ok_or_else(|| bad("tif", row, format!("unknown tif code {tif_code}")))?;
                let id = cols.order_id.map(|c| c[row]).filter(|&id| id >= 0).map(OrderId);
                let qty = qty_in_lots(lot, qty_f, row)?;
                let price = price_in_ticks(tick, price_f, row)?;
                match (qty, price) {
                    (Ok(qty), Ok(price)) => {
                        let order = NewOrder {
                            id,
                            owner: TraderId(cols.owner.map_or(0, |c| c[row])),
                            side,
                            order_type: if kind == ActionKind::Limit { OrderType::Limit } else { OrderType::Market },
                            price,
                            qty,
                            tif,
                        };
                        book.submit(order, &mut events)
                    }
                    (Err(reason), _) | (_, Err(reason)) => reject_at_edge(id, reason, &mut events),
                }
            }
            ActionKind::Cancel => {
                let id = OrderId(need(cols.order_id, "order_id", row, "cancel")?[row]);
                book.cancel(id, &mut events)
            }
            ActionKind::Modify => {
                let id = OrderId(need(cols.order_id, "order_id", row, "modify")?[row]);
                let qty_f = need(cols.qty, "qty", row, "modify")?[row];
                let price_f = cols.price.map(|c| c[row]).filter(|p| !p.is_nan());
                let qty = qty_in_lots(lot, qty_f, row)?;
                let price = price_in_ticks(tick, price_f, row)?;
                match (qty, price) {
                    (Ok(qty), Ok(price)) => book.modify(id, qty, price, &mut events),
                    (Err(reason), _) | (_, Err(reason)) => reject_at_edge(Some(id), reason, &mut events),
                }
            }
        };
        let orders = &mut out.orders;
        orders.order_id.push(outcome.order_id.map_or(-1, |id| id.0));
        orders.status.push(outcome.status as u8);
        orders.reason.push(outcome.reject.map_or(0, |r| r as u8));
        orders.filled_qty.push(lot.to_f64(outcome.filled));
        orders.avg_price.push(if outcome.filled > 0 {
            tick.average(outcome.notional, outcome.filled)
        } else {
            f64::NAN
        });
        record_events(&events, row, ts, tick, lot, &mut out);
    }
    Ok(out)
}

/// A quantity column value in lots: off the lot grid is a rejection, NaN/inf an input error.
fn qty_in_lots(lot: &Grid, qty: f64, row: usize) -> Result<Result<i64, RejectReason>, Error> {
    match lot.to_steps(qty) {
        Ok(q) => Ok(Ok(q)),
        Err(GridError::OffGrid) => Ok(Err(RejectReason::OffLotQty)),
        Err(_) => Err(bad("qty", row, format!("{qty} is not a usable quantity"))),
    }
}

/// An optional price in ticks: off the tick grid is a rejection, inf/huge an input error.
fn price_in_ticks(tick: &Grid, price: Option<f64>, row: usize) -> Result<Result<Option<i64>, RejectReason>, Error> {
    match price.map(|p| (p, tick.to_steps(p))) {
        None => Ok(Ok(None)),
        Some((_, Ok(p))) => Ok(Ok(Some(p))),
        Some((_, Err(GridError::OffGrid))) => Ok(Err(RejectReason::OffTickPrice)),
        Some((p, Err(_))) => Err(bad("price", row, format!("{p} is not a usable price"))),
    }
}

/// A refusal decided at the float edge (off-grid values): same shape as the book's own refusals.
fn reject_at_edge(id: Option<OrderId>, reason: RejectReason, events: &mut Vec<Event>) -> crate::book::Outcome {
    events.push(Event::Rejected { order_id: id, reason });
    crate::book::Outcome { order_id: id, status: Status::Rejected, reject: Some(reason), filled: 0, notional: 0 }
}

fn record_events(events: &[Event], row: usize, ts: i64, tick: &Grid, lot: &Grid, out: &mut BatchOutput) {
    for event in events {
        let (kind, order_id, owner, side, price, qty, reason) = match *event {
            Event::Trade(t) => {
                let tr = &mut out.trades;
                tr.row.push(row as i64);
                tr.ts.push(ts);
                tr.price.push(tick.to_f64(t.price));
                tr.qty.push(lot.to_f64(t.qty));
                tr.aggressor.push(t.aggressor as u8);
                tr.maker_order_id.push(t.maker_order_id.0);
                tr.taker_order_id.push(t.taker_order_id.0);
                tr.maker_owner.push(t.maker_owner.0);
                tr.taker_owner.push(t.taker_owner.0);
                continue;
            }
            Event::Accepted { order_id, owner, side, price, qty } => {
                (EventKind::Accepted, order_id.0, owner.0, side as u8, price, qty, 0)
            }
            Event::Rejected { order_id, reason } => {
                (EventKind::Rejected, order_id.map_or(-1, |id| id.0), -1, 255, None, 0, reason as u8)
            }
            Event::Cancelled { order_id, owner, side, qty, reason } => {
                (EventKind::Cancelled, order_id.0, owner.0, side as u8, None, qty, cancel_reason_code(reason))
            }
            Event::Expired { order_id, owner, side, qty } => {
                (EventKind::Expired, order_id.0, owner.0, side as u8, None, qty, 0)
            }
            Event::Modified { order_id, owner, side, price, qty, .. } => {
                (EventKind::Modified, order_id.0, owner.0, side as u8, Some(price), qty, 0)
            }
        };
        let ev = &mut out.events;
        ev.row.push(row as i64);
        ev.ts.push(ts);
        ev.kind.push(kind as u8);
        ev.order_id.push(order_id);
        ev.owner.push(owner);
        ev.side.push(side);
        ev.price.push(price.map_or(f64::NAN, |p| tick.to_f64(p)));
        ev.qty.push(lot.to_f64(qty));
        ev.reason.push(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::SelfTradePrevention;

    fn grids() -> (Grid, Grid) {
        (Grid::new("tick_size", 0.01).unwrap(), Grid::new("lot_size", 0.001).unwrap())
    }

    #[test]
    fn reason_names_extend_the_book_reject_names() {
        assert_eq!(REASON_NAMES[..RejectReason::NAMES.len()], RejectReason::NAMES);
        assert_eq!(REASON_NAMES[cancel_reason_code(CancelReason::User) as usize], "user");
        assert_eq!(REASON_NAMES[cancel_reason_code(CancelReason::SelfTrade) as usize], "self_trade");
    }

    #[test]
    fn a_small_table_trades_and_reports_per_row() {
        let (tick, lot) = grids();
        let mut book = OrderBook::new(SelfTradePrevention::None);
        // ask 1.0 @ 100.00 (id 1), ask 2.0 @ 100.01 (id 2), buy 1.5 @ 100.01 IOC, cancel 1, cancel 2
        let action = [0u8, 0, 0, 2, 2];
        let side = [1u8, 1, 0, 0, 0];
        let price = [100.0, 100.01, 100.01, f64::NAN, f64::NAN];
        let qty = [1.0, 2.0, 1.5, 0.0, 0.0];
        let order_id = [1i64, 2, 3, 1, 2];
        let tif = [0u8, 0, 1, 0, 0];
        let cols = ActionColumns {
            ts: None,
            action: &action,
            side: Some(&side),
            price: Some(&price),
            qty: Some(&qty),
            order_id: Some(&order_id),
            owner: None,
            tif: Some(&tif),
        };
        let out = process(&mut book, &tick, &lot, &cols).unwrap();
        assert_eq!(out.trades.price, vec![100.0, 100.01]);
        assert_eq!(out.trades.qty, vec![1.0, 0.5]);
        assert_eq!(out.trades.maker_order_id, vec![1, 2]);
        assert_eq!(out.trades.row, vec![2, 2]);
        let statuses: Vec<&str> = out.orders.status.iter().map(|&s| Status::NAMES[s as usize]).collect();
        assert_eq!(statuses, ["open", "open", "filled", "rejected", "cancelled"]);
        assert_eq!(REASON_NAMES[out.orders.reason[3] as usize], "not_open");
        // (100.00 × 1.0 + 100.01 × 0.5) / 1.5 = 100.003333…
        assert!((out.orders.avg_price[2] - 100.003_333_333_333_33).abs() < 1e-9);
        assert_eq!(book.best_ask(), None);
    }

    #[test]
    fn off_grid_rows_are_rejected_and_nan_rows_are_errors() {
        let (tick, lot) = grids();
        let mut book = OrderBook::default();
        let action = [0u8, 0, 0];
        let side = [0u8, 0, 0];
        let price = [100.005, 100.0, 100.0];
        let qty = [1.0, 1.0005, f64::NAN];
        let cols = ActionColumns {
            action: &action,
            side: Some(&side),
            price: Some(&price),
            qty: Some(&qty),
            ..Default::default()
        };
        let err = process(&mut book, &tick, &lot, &cols).unwrap_err();
        assert_eq!(err, Error::BadInput { column: "qty", row: 2, message: "NaN is not a usable quantity".into() });
        let cols = ActionColumns {
            action: &action[..2],
            side: Some(&side[..2]),
            price: Some(&price[..2]),
            qty: Some(&qty[..2]),
            ..Default::default()
        };
        let mut book = OrderBook::default();
        let out = process(&mut book, &tick, &lot, &cols).unwrap();
        let reasons: Vec<&str> = out.orders.reason.iter().map(|&r| REASON_NAMES[r as usize]).collect();
        assert_eq!(reasons, ["off_tick_price", "off_lot_qty"]);
        assert_eq!(book.open_orders(), 0);
    }

    #[test]
    fn missing_columns_and_bad_codes_name_column_and_row() {
        let (tick, lot) = grids();
        let mut book = OrderBook::default();
        let action = [2u8, 0];
        let order_id = [5i64, 6];
        let cols = ActionColumns { action: &action, order_id: Some(&order_id), ..Default::default() };
        let err = process(&mut book, &tick, &lot, &cols).unwrap_err();
        assert!(matches!(err, Error::BadInput { column: "side", row: 1, .. }), "{err:?}");
        let action = [7u8];
        let cols = ActionColumns { action: &action, ..Default::default() };
        let err = process(&mut book, &tick, &lot, &cols).unwrap_err();
        assert!(matches!(err, Error::BadInput { column: "action", row: 0, .. }), "{err:?}");
        let short = [1u8];
        let action = [0u8, 0];
        let cols = ActionColumns { action: &action, side: Some(&short), ..Default::default() };
        let err = process(&mut book, &tick, &lot, &cols).unwrap_err();
        assert!(matches!(err, Error::BadInput { column: "side", .. }), "{err:?}");
    }
}
