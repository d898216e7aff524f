//! Set-up shared by `benches/multi.rs` and `examples/multi_ratio.rs`: the two-instrument venue of
//! n cross accounts and the one-market reference of 2n positions. Both include it with
//! `#[path = "..."] mod multi_setup;` so that the example's ratio is measured on exactly the
//! markets the criterion groups time. It lives in `benches/common/` because cargo auto-discovers
//! `benches/*.rs` (and `benches/*/main.rs`) as bench targets of their own, not files one level down.

use liqsim_core::account::MarginMode;
use liqsim_core::exchange::{AccountRow, Exchange, ExchangeConfig};
use liqsim_core::funding::MarkRule;
use liqsim_core::margin::NotionalScale;
use liqsim_core::multi::{InstrumentId, MultiExchange};
use liqsim_core::venue::VenuePreset;
use liqsim_core::{Money, Price, Qty, Side, TraderId, MONEY_SCALE};

pub const BTC: InstrumentId = InstrumentId(0);
pub const ETH: InstrumentId = InstrumentId(1);
/// 50,000.0 in BTC ticks (0.1) and 3,000.00 in ETH ticks (0.01); lots of 0.001.
pub const BTC_MID: Price = 500_000;
pub const ETH_MID: Price = 300_000;
pub const COIN: Qty = 1000;

fn config(symbol: &str, tick: f64) -> ExchangeConfig {
    let preset = VenuePreset::from_names("binance", symbol).unwrap();
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(tick, 0.001).unwrap());
    cfg.mark_rule = MarkRule::Index;
    cfg.insurance_fund = Money(1_000_000_000_000 * MONEY_SCALE);
    cfg
}

fn row(id: i64, balance: f64, lots: Qty, per_lot: Money) -> AccountRow {
    AccountRow {
        id: TraderId(id),
        balance: Money::from_f64(balance.max(1.0)),
        mode: MarginMode::Cross,
        lots,
        entry_money_per_lot: per_lot,
        leverage: 20,
        isolated_margin: None,
    }
}

/// n accounts short 0.1 BTC and 1 ETH; the balance (all in the ETH row) puts the account's
/// threshold in BTC at +0.5 % … +20 % (approximately: solved with 0.5 % maintenance on both legs).
pub fn venue(n: usize) -> MultiExchange {
    let mut v = MultiExchange::new(vec![
        ("BTCUSDT".to_string(), config("BTCUSDT", 0.1)),
        ("ETHUSDT".to_string(), config("ETHUSDT", 0.01)),
    ])
    .unwrap();
    let mut rows = Vec::with_capacity(2 * n);
    for i in 0..n as i64 {
        let up = 0.005 + 0.195 * i as f64 / n as f64; // BTC move that crosses it
        let btc_at = 50_000.0 * (1.0 + up);
        // 0.1 (btc_at − 50,000) = balance − MM(0.1 × btc_at + 3,000) at 0.5 %
        let balance = 0.1 * (btc_at - 50_000.0) + 0.005 * (0.1 * btc_at + 3_000.0);
        rows.push((BTC, row(i, 0.0, -COIN / 10, Money(50 * MONEY_SCALE))));
        rows.push((ETH, row(i, balance, -COIN, Money(3 * MONEY_SCALE))));
    }
    v.add_accounts(&rows).unwrap();
    let asks = |mid: Price, step: Price, lots: Qty| -> Vec<_> {
        (1..=100).map(|d| (Side::Sell, mid + d * step, lots, None)).collect()
    };
    v.add_resting_orders(BTC, &asks(BTC_MID, 100, 10 * COIN)).unwrap();
    v.add_resting_orders(BTC, &[(Side::Buy, BTC_MID - 100, 1_000 * COIN, None)]).unwrap();
    v.add_resting_orders(ETH, &asks(ETH_MID, 100, 100 * COIN)).unwrap();
    v.add_resting_orders(ETH, &[(Side::Buy, ETH_MID - 100, 1_000 * COIN, None)]).unwrap();
    v.set_index(BTC, BTC_MID).unwrap();
    v.set_index(ETH, ETH_MID).unwrap();
    assert!(v.exchange(BTC).tape().liquidations.is_empty() && v.exchange(ETH).tape().liquidations.is_empty());
    v
}

/// `n` shorts of 1 ETH @ 3,000 with triggers spread over +0.5 % … +20 % (as `scaling`); when
/// `shuffled`, the triggers go to the accounts in a pseudo-random order, so the cascade's order
/// (deepest under water first) jumps around the accounts instead of walking them in turn.
pub fn single(n: usize, shuffled: bool) -> Exchange {
    let mut ex = Exchange::new(config("ETHUSDT", 0.01)).unwrap();
    let rows: Vec<AccountRow> = (0..n as i64)
        .map(|i| {
            // An odd multiplier modulo a power of two at least n, walked until it lands below n:
            // a permutation of 0..n, the same every run.
            let mut r = i;
            if shuffled {
                let size = n.next_power_of_two() as i64;
                loop {
                    r = (r * 0x9E37_79B1 + 12_345) & (size - 1);
                    if r < n as i64 {
                        break;
                    }
                }
            }
            let trigger = ETH_MID + 1_500 + r * 58_500 / n as i64;
            row(i, (trigger as f64 * 1.005 - ETH_MID as f64) / 100.0, -COIN, Money(3 * MONEY_SCALE))
        })
        .collect();
    ex.add_accounts(&rows).unwrap();
    let asks: Vec<_> = (1..=100).map(|d| (Side::Sell, ETH_MID + d * 100, 100 * COIN, None)).collect();
    ex.add_resting_orders(&asks).unwrap();
    ex.add_resting_orders(&[(Side::Buy, ETH_MID - 100, 1_000 * COIN, None)]).unwrap();
    ex.set_index(ETH_MID);
    assert!(ex.tape().liquidations.is_empty());
    ex
}
