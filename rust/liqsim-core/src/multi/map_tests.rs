//! [`MultiExchange::triggers_at_marks`]: a leg's trigger price on its instrument with the other
//! marks where they are, hand-worked and checked against the venue's own liquidations.

use super::*;
use crate::exchange::test_fixtures::index_market;
use crate::margin::{Rate, TierTable};
use crate::types::Qty;
use crate::MONEY_SCALE;

const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);

/// BTC (tick 0.1, MMR 0.5 %) and ETH (tick 0.01, MMR 1 %): single Binance tiers, no fees, mark =
/// index at 50,000 / 3,000. Trader 10: one cross account long 2 BTC @ 50,000 and short 10 ETH @
/// 3,000 with 2,000 USDT (the README's venue example); 11 and 12 hold the other sides; 13 is a
/// one-market account short 1 ETH @ 3,000 with 100 USDT.
fn venue() -> MultiExchange {
    let mut v = unmarked();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    v
}

/// [`venue`] before any mark: the accounts loaded, no index yet.
fn unmarked() -> MultiExchange {
    let market = |symbol: &str, tick: f64, mmr: i64| {
        index_market(symbol, tick, TierTable::single(Rate(mmr), 100).unwrap(), Some(Rate::ZERO), 1e6)
    };
    let mut v = MultiExchange::new(vec![market("BTCUSDT", 0.1, 500_000), market("ETHUSDT", 0.01, 1_000_000)]).unwrap();
    let row = |id: i64, lots: Qty, entry: f64, balance: f64| AccountRow {
        id: TraderId(id),
        balance: Money::from_f64(balance),
        mode: MarginMode::Cross,
        lots,
        entry_money_per_lot: Money((entry * MONEY_SCALE as f64 / 1000.0).round() as i128),
        leverage: 50,
        isolated_margin: None,
    };
    v.add_accounts(&[
        (BTC, row(10, 2_000, 50_000.0, 0.0)),
        (ETH, row(10, -10_000, 3_000.0, 2_000.0)),
        (BTC, row(11, -2_000, 50_000.0, 1e7)),
        (ETH, row(12, 11_000, 3_000.0, 1e7)),
        (ETH, row(13, -1_000, 3_000.0, 100.0)),
    ])
    .unwrap();
    v
}

fn trigger_of(v: &MultiExchange, inst: InstrumentId, trader: i64) -> Option<Price> {
    let dense = v.exchange(inst).account_index(TraderId(trader)).unwrap();
    v.triggers_at_marks(inst)[dense as usize]
}

#[test]
fn a_legs_trigger_holds_the_other_marks_where_they_are() {
    // Trader 10 at BTC P, ETH Q: equity 2,000 + 2 (P − 50,000) − 10 (Q − 3,000), maintenance
    // 0.5 % × 2 P + 1 % × 10 Q (Binance cross, single tiers). ETH leg, BTC at 50,000: 31,500 ≤
    // 10.1 Q, Q ≥ 3,118.8119 → 3,118.82 (the first tick at or above). BTC leg, ETH at 3,000:
    // 1.99 P ≤ 98,300, P ≤ 49,396.98 → 49,396.9; with ETH at 3,020: 1.99 P ≤ 98,502, P ≤
    // 49,498.49 → 49,498.4.
    let mut v = venue();
    assert_eq!(trigger_of(&v, ETH, 10), Some(311_882));
    assert_eq!(trigger_of(&v, BTC, 10), Some(493_969));
    v.set_index(ETH, 302_000).unwrap();
    assert_eq!(trigger_of(&v, BTC, 10), Some(494_984));
    // A one-market account keeps its own trigger: 100 + 3,000 − Q ≤ 0.01 Q, Q ≥ 3,069.31 → 3,069.31.
    assert_eq!(trigger_of(&v, ETH, 13), Some(306_931));
    // The venue agrees: BTC at the trigger liquidates trader 10, a tick above does not.
    let mut at = v.clone();
    at.set_index(BTC, 494_985).unwrap();
    assert!(at.exchange(BTC).tape().liquidations.is_empty() && at.exchange(ETH).tape().liquidations.is_empty());
    at.set_index(BTC, 494_984).unwrap();
    let liquidated: usize = (0..2).map(|k| at.exchange(InstrumentId(k)).tape().liquidations.len()).sum();
    assert!(liquidated > 0, "trader 10 is liquidated at its trigger");
}

#[test]
fn before_any_mark_the_other_legs_count_at_their_entry_prices() {
    // What a liquidation map of an accounts table reads (a table has no marks): with no mark, a
    // leg's figures are its sub-wallet and the maintenance margin of its entry notional (no PnL),
    // so trader 10's triggers are those of the marks at the entries, 50,000 / 3,000 (the first
    // test): ETH 31,500 ≤ 10.1 Q → 3,118.82; BTC 1.99 P ≤ 98,300 → 49,396.9. Loading without a
    // mark liquidates nothing.
    let v = unmarked();
    assert_eq!(v.exchange(BTC).mark(), None);
    assert_eq!(trigger_of(&v, ETH, 10), Some(311_882));
    assert_eq!(trigger_of(&v, BTC, 10), Some(493_969));
    assert_eq!(trigger_of(&v, ETH, 13), Some(306_931));
    assert!((0..2).all(|k| v.exchange(InstrumentId(k)).tape().liquidations.is_empty()));
    // Marks away from the entries move the legs' triggers: BTC at 49,500 (trader 10's long leg
    // down 1,000): 2,000 − 1,000 − 10 (Q − 3,000) ≤ 0.5 % × 99,000 + 1 % × 10 Q, 30,505 ≤ 10.1 Q
    // → 3,020.30.
    let mut marked = v.clone();
    marked.set_index(BTC, 495_000).unwrap();
    assert_eq!(trigger_of(&marked, ETH, 10), Some(302_030));
}
