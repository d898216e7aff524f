//! Hand-built markets shared by the close-out tests (`exchange/closeout.rs`, REFERENCE §7) and
//! the snapshot round trips (`snapshot/tests.rs`), which cut the same scenarios in two: one copy,
//! so the two cannot drift apart.

use crate::account::MarginMode;
use crate::book::TimeInForce;
use crate::exchange::{AccountRow, Exchange, ExchangeConfig, OrderRequest};
use crate::funding::MarkRule;
use crate::margin::NotionalScale;
use crate::types::{Money, Price, Qty, Side, TraderId};
use crate::venue::{Venue, VenuePreset};

/// Lots per coin (lot 0.001).
pub(crate) const LOTS: i64 = 1000;

/// ETH-like: tick 0.01, lot 0.001 (10^7 money units per tick·lot).
pub(crate) fn eth_px(x: f64) -> Price {
    (x * 100.0).round() as Price
}

pub(crate) fn usdt(x: f64) -> Money {
    Money::from_f64(x)
}

/// The venue's preset for `symbol` on a `tick` × 0.001 grid, mark = last (dYdX keeps its oracle
/// mark), with `fund` in the insurance fund.
pub(crate) fn exchange(venue: Venue, symbol: &str, tick: f64, fund: f64) -> Exchange {
    let preset = VenuePreset::new(venue, symbol).unwrap();
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(tick, 0.001).unwrap());
    if venue != Venue::Dydx {
        cfg.mark_rule = MarkRule::Last; // dYdX keeps its oracle (index) mark
    }
    cfg.insurance_fund = usdt(fund);
    Exchange::new(cfg).unwrap()
}

/// A cross account at leverage 1 holding `lots` entered at `entry` (quote per coin).
pub(crate) fn account(id: i64, balance: f64, lots: Qty, entry: f64) -> AccountRow {
    AccountRow {
        id: TraderId(id),
        balance: usdt(balance),
        mode: MarginMode::Cross,
        lots,
        entry_money_per_lot: usdt(entry / LOTS as f64),
        leverage: 1,
        isolated_margin: None,
    }
}

/// A market order of `lots` from trader `id`; the invariants must hold after it.
pub(crate) fn market(ex: &mut Exchange, id: i64, side: Side, lots: Qty) {
    let req = OrderRequest { side, qty: lots, price: None, tif: TimeInForce::Ioc, reduce_only: false };
    ex.submit(TraderId(id), req);
    ex.check_invariants().unwrap();
}
