//! Hand-built markets shared by the close-out tests (`exchange/closeout.rs`, REFERENCE §7) and
//! the snapshot round trips (`snapshot/tests.rs`), which cut the same scenarios in two: one copy,
//! so the two cannot drift apart; and the market every venue test builds its instruments from
//! ([`index_market`]).

use crate::account::MarginMode;
use crate::book::TimeInForce;
use crate::exchange::{AccountRow, Exchange, ExchangeConfig, OrderRequest};
use crate::funding::MarkRule;
use crate::margin::{NotionalScale, Rate, TierTable};
use crate::types::{Money, Price, Qty, Side, TraderId};
use crate::venue::{Fees, Venue, VenuePreset};

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

/// An instrument for the venue tests (`multi`, `sim::venue`, `sweep`): Binance rules with `tiers`
/// on a `tick` × 0.001 grid, no trading fees, the given liquidation fee (`None`: Binance's), mark =
/// index (the marks are what a test sets), `fund` USDT in the insurance fund.
pub(crate) fn index_market(
    symbol: &str,
    tick: f64,
    tiers: TierTable,
    liquidation_fee: Option<Rate>,
    fund: f64,
) -> (String, ExchangeConfig) {
    let mut preset =
        VenuePreset::custom(Venue::Binance, symbol, tiers).with_fees(Fees { maker: Rate::ZERO, taker: Rate::ZERO });
    if let Some(fee) = liquidation_fee {
        preset = preset.with_liquidation_fee(fee);
    }
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(tick, 0.001).unwrap());
    cfg.mark_rule = MarkRule::Index;
    cfg.insurance_fund = usdt(fund);
    (symbol.to_string(), cfg)
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

/// Hyperliquid ETH (REFERENCE §7, docs trading/liquidations): trader 10 short 40 ETH @ 3,000 with
/// 4,000 (trigger 3,039.22), trader 20 with 10,000 to trade; one-lot asks at 3,040 and 3,060 to
/// move the last price, 8 ETH at 3,041 for the 20 % slice and 32 ETH at 3,061 for the rest.
pub(crate) fn hyperliquid_cooldown_market() -> Exchange {
    let mut ex = exchange(Venue::Hyperliquid, "ETH", 0.01, 0.0);
    ex.add_accounts(&[account(10, 4_000.0, -40 * LOTS, 3000.0), account(20, 10_000.0, 0, 0.0)]).unwrap();
    ex.add_resting_orders(&[
        (Side::Sell, eth_px(3040.0), 1, None),
        (Side::Sell, eth_px(3041.0), 8 * LOTS, None),
        (Side::Sell, eth_px(3060.0), 1, None),
        (Side::Sell, eth_px(3061.0), 32 * LOTS, None),
    ])
    .unwrap();
    ex
}

/// dYdX ETH-USD (REFERENCE §7, x/clob/keeper/liquidations.go): trader 10 short 200 ETH @ 3,000
/// with 10,000; a bid at 2,900, asks of 20 ETH at 3,025 and 100 ETH at 3,030 and 3,034. The
/// index is not set yet: 3,020 starts block 1.
pub(crate) fn dydx_blocks_market() -> Exchange {
    let mut ex = exchange(Venue::Dydx, "ETH-USD", 0.01, 0.0);
    ex.add_accounts(&[account(10, 10_000.0, -200 * LOTS, 3000.0)]).unwrap();
    ex.add_resting_orders(&[
        (Side::Buy, eth_px(2900.0), LOTS, None),
        (Side::Sell, eth_px(3025.0), 20 * LOTS, None),
        (Side::Sell, eth_px(3030.0), 100 * LOTS, None),
        (Side::Sell, eth_px(3034.0), 100 * LOTS, None),
    ])
    .unwrap();
    ex
}
