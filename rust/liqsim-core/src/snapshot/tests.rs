//! Snapshot round trips: the restored book or exchange is given the same further actions as the
//! original and must end with the same tapes, accounts, book and snapshot bytes; damaged, cut or
//! foreign bytes are errors. The market scenarios are the hand-worked close-outs of
//! `exchange/closeout.rs` (REFERENCE §7), cut in two by a snapshot where state carries over:
//! Hyperliquid's cooldown window, dYdX's next block, stops, funding samples.

use super::*;
use crate::book::{Event, NewOrder, SelfTradePrevention, TimeInForce};
use crate::exchange::test_fixtures::{
    account, dydx_blocks_market, eth_px, exchange, hyperliquid_cooldown_market, market, usdt, LOTS,
};
use crate::exchange::{AccountRow, LiquidationKind, OrderRequest, StopRequest, StopStatus};
use crate::funding::{HOUR, SECOND};
use crate::margin::Rate;
use crate::stops::{Trail, TriggerOn};
use crate::types::{Money, OrderId, Price, Qty, Side, TraderId};
use crate::venue::Venue;

fn limit(ex: &mut Exchange, id: i64, side: Side, price: f64, lots: Qty) {
    let req = OrderRequest { side, qty: lots, price: Some(eth_px(price)), tif: TimeInForce::Gtc, reduce_only: false };
    ex.submit(TraderId(id), req);
    ex.check_invariants().unwrap();
}

/// Everything observable, as text (`LiquidationRecord` has a NaN field: compare through Debug).
fn fingerprint(ex: &Exchange) -> String {
    let bids: Vec<_> = ex.book().orders(Side::Buy).collect();
    let asks: Vec<_> = ex.book().orders(Side::Sell).collect();
    let stops: Vec<_> = ex.stop_book().iter().collect();
    format!(
        "{:?}\n{:?}\n{bids:?}\n{asks:?}\n{stops:?}\nmark {:?} last {:?} index {:?} ts {} fees {:?} fund {:?} rounds {:?} \
         funding {:?}",
        ex.tape(),
        ex.accounts(),
        ex.mark(),
        ex.last(),
        ex.index_price(),
        ex.ts(),
        ex.fees(),
        ex.insurance_fund(),
        ex.cascade_rounds(),
        ex.funding_rate_estimate(),
    )
}

/// Snapshot → restore; the copy snapshots to the same bytes and looks the same.
fn restored(ex: &Exchange) -> Exchange {
    let bytes = ex.to_snapshot().unwrap();
    let copy = Exchange::from_snapshot(&bytes).unwrap();
    copy.check_invariants().unwrap();
    assert_eq!(copy.to_snapshot().unwrap(), bytes, "a restored exchange snapshots to other bytes");
    assert_eq!(fingerprint(&copy), fingerprint(ex));
    copy
}

/// Apply `steps` to the original and to a restored copy: both must end the same.
fn continue_both(ex: &mut Exchange, steps: impl Fn(&mut Exchange)) -> Exchange {
    let mut copy = restored(ex);
    steps(ex);
    steps(&mut copy);
    assert_eq!(fingerprint(&copy), fingerprint(ex));
    assert_eq!(copy.to_snapshot().unwrap(), ex.to_snapshot().unwrap());
    copy
}

#[test]
fn hyperliquid_cooldown_window_survives_a_snapshot() {
    // closeout.rs (REFERENCE §7, docs trading/liquidations), cut after the first slice: short 40
    // ETH @ 3,000 with 4,000 is sliced 20 % (8 ETH at 3,041); the next crossing, at 3,060 within
    // 30 s, takes the WHOLE 32 ETH at 3,061 and leaves 3,672 − 32 × 61 = 1,720 with the trader.
    // The restored exchange must remember the window (a fresh one would slice 20 % again).
    let mut ex = hyperliquid_cooldown_market();
    market(&mut ex, 20, Side::Buy, 1);
    assert_eq!(ex.tape().liquidations[0].kind, LiquidationKind::Partial);
    let copy = continue_both(&mut ex, |ex| market(ex, 20, Side::Buy, 1));
    let liq = copy.tape().liquidations[1];
    assert_eq!((liq.kind, liq.qty, liq.avg_fill_ticks), (LiquidationKind::Full, 32 * LOTS, eth_px(3061.0) as f64));
    assert_eq!(copy.account(TraderId(10)).unwrap().wallet, usdt(1_720.0));
}

#[test]
fn dydx_next_block_survives_a_snapshot() {
    // closeout.rs (REFERENCE §7, x/clob/keeper/liquidations.go), cut between blocks: block 1 buys
    // 20 ETH at 3,025 (fee 907.5); the account is still liquidatable but waits. Block 2, 1 s later
    // on the restored exchange: 18 ETH at 3,030, fee 818.1.
    let mut ex = dydx_blocks_market();
    ex.set_index(eth_px(3020.0));
    assert_eq!(ex.insurance_fund(), usdt(907.5));
    let copy = continue_both(&mut ex, |ex| ex.advance_to(SECOND));
    let liq = copy.tape().liquidations[1];
    assert_eq!((liq.qty, liq.ts, liq.avg_fill_ticks), (18 * LOTS, SECOND, eth_px(3030.0) as f64));
    assert_eq!(copy.insurance_fund(), usdt(907.5 + 818.1));
}

#[test]
fn stops_trailing_stops_and_oco_groups_survive_a_snapshot() {
    // Binance ETHUSDT, mark = last. Trader 20 buys 1 ETH at 3,000, then places a trailing sell 1 %
    // under the high (high 3,000 → trigger 2,970), an OCO pair (sell stop 2,950 / buy stop-limit
    // 3,100 at 3,105, group 7) and a plain sell stop at 2,900. Trader 30 bids 1 ETH at 3,019 and
    // 5 at 2,950. After the snapshot, trader 40 lifts the 3,050 ask (trail: 3,050 − 1 % = 3,019.50),
    // then sells 1 lot into the 3,019 bid: the trailing stop fires (round 1) and its market sell
    // takes the other 0.999 ETH at 3,019 and 1 lot at 2,950, which fires the OCO sell (round 2)
    // and cancels its sibling. The 2,900 stop still waits.
    let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 1_000.0);
    let rich = [account(20, 100_000.0, 0, 0.0), account(30, 1e6, 0, 0.0), account(40, 1e6, 0, 0.0)];
    ex.add_accounts(&rich).unwrap();
    ex.add_resting_orders(&[(Side::Sell, eth_px(3000.0), LOTS, None), (Side::Sell, eth_px(3050.0), LOTS, None)])
        .unwrap();
    market(&mut ex, 20, Side::Buy, LOTS);
    limit(&mut ex, 30, Side::Buy, 3019.0, LOTS);
    limit(&mut ex, 30, Side::Buy, 2950.0, 5 * LOTS);
    let stop = |side, trigger: f64, limit: Option<f64>, trail, oco| StopRequest {
        side,
        qty: LOTS,
        limit: limit.map(eth_px),
        trigger: eth_px(trigger),
        trigger_on: TriggerOn::Last,
        trail,
        reduce_only: false,
        oco,
    };
    ex.submit_stop(TraderId(20), stop(Side::Sell, 0.0, None, Some(Trail::Fraction(Rate(1_000_000))), None)).unwrap();
    ex.submit_stop(TraderId(20), stop(Side::Sell, 2950.0, None, None, Some(7))).unwrap();
    ex.submit_stop(TraderId(20), stop(Side::Buy, 3100.0, Some(3105.0), None, Some(7))).unwrap();
    ex.submit_stop(TraderId(20), stop(Side::Sell, 2900.0, None, None, None)).unwrap();
    assert_eq!(ex.stop_book().iter().next().unwrap().trigger, eth_px(2970.0));
    let copy = continue_both(&mut ex, |ex| {
        market(ex, 40, Side::Buy, LOTS);
        market(ex, 40, Side::Sell, 1);
    });
    let records: Vec<(i64, StopStatus, Price, u32)> =
        copy.tape().stops.iter().map(|r| (r.stop_id, r.status, r.trigger, r.round)).collect();
    assert_eq!(
        records,
        vec![
            (1, StopStatus::Triggered, eth_px(3019.5), 1),
            (3, StopStatus::Cancelled, eth_px(3100.0), 2), // the sibling's cancel is recorded first
            (2, StopStatus::Triggered, eth_px(2950.0), 2),
        ]
    );
    assert_eq!(copy.stop_book().len(), 1);
    assert_eq!(copy.account(TraderId(20)).unwrap().position.lots, -LOTS);
}

#[test]
fn funding_samples_carry_over_to_the_settlement() {
    // Binance ETHUSDT (8 h, premium sampled every 5 s, linear weights): the index sits 1 % under a
    // one-tick market, so every sample is the same positive premium. Snapshot half way through
    // the interval; both settle at 8 h with the same rate from the same samples (a fresh
    // accumulator would average half as many).
    let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 0.0);
    ex.add_accounts(&[account(10, 100_000.0, LOTS, 3000.0), account(11, 100_000.0, -LOTS, 3000.0)]).unwrap();
    ex.add_resting_orders(&[
        (Side::Sell, eth_px(3030.01), 100 * LOTS, None),
        (Side::Buy, eth_px(3030.0), 100 * LOTS, None),
    ])
    .unwrap();
    ex.set_index(eth_px(3000.0));
    ex.advance_to(4 * HOUR + 3 * SECOND);
    assert!(ex.tape().funding.is_empty());
    let copy = continue_both(&mut ex, |ex| ex.advance_to(8 * HOUR + SECOND));
    let f = copy.tape().funding[0];
    assert_eq!(f.ts, 8 * HOUR);
    assert!(f.rate > Rate::ZERO && f.paid_by_longs > Money::ZERO, "{f:?}");
}

#[test]
fn the_same_state_gives_the_same_bytes() {
    // Hash maps inside (cooldowns, a sparse id index, the open-order tables) iterate in a random
    // order per instance: two exchanges built alike must still give identical bytes.
    let build = || {
        let mut ex = exchange(Venue::Hyperliquid, "ETH", 0.01, 0.0);
        let rows: Vec<AccountRow> = (0..40)
            .map(|i| account(100 + i, 4_000.0, if i % 2 == 0 { -40 * LOTS } else { 40 * LOTS }, 3000.0))
            .collect();
        ex.add_accounts(&rows).unwrap();
        ex.add_accounts(&[account(20, 1e9, 0, 0.0)]).unwrap();
        let mut book: Vec<(Side, Price, Qty, Option<TraderId>)> = Vec::new();
        for k in 0..50 {
            book.push((Side::Sell, eth_px(3040.0 + k as f64), 8 * LOTS, None));
            book.push((Side::Buy, eth_px(2960.0 - k as f64), 8 * LOTS, None));
        }
        ex.add_resting_orders(&book).unwrap();
        limit(&mut ex, 20, Side::Buy, 2900.0, 3);
        limit(&mut ex, 20, Side::Sell, 3200.0, 3);
        market(&mut ex, 20, Side::Buy, 4 * LOTS); // slices some shorts: cooldown windows open
        ex
    };
    let (a, b) = (build(), build());
    assert_eq!(a.to_snapshot().unwrap(), b.to_snapshot().unwrap());
    assert!(!a.tape().liquidations.is_empty());
    restored(&a);
}

fn book_fingerprint(book: &OrderBook) -> String {
    let bids: Vec<_> = book.orders(Side::Buy).collect();
    let asks: Vec<_> = book.orders(Side::Sell).collect();
    format!("{bids:?}\n{asks:?}\n{:?}", book.self_trade_prevention())
}

#[test]
fn a_book_continues_exactly_after_a_round_trip() {
    // Queue positions, used ids (dense and sparse, filled, cancelled and refused) and the id
    // counter all carry over: the same actions then give the same events, including the ids the
    // book assigns and the `not_open` / `duplicate_order_id` answers.
    let mut book = OrderBook::new(SelfTradePrevention::CancelMaker);
    let mut events = Vec::new();
    for (i, (side, price, qty)) in
        [(Side::Sell, 101, 5), (Side::Sell, 101, 3), (Side::Sell, 103, 2), (Side::Buy, 99, 4), (Side::Buy, 98, 1)]
            .into_iter()
            .enumerate()
    {
        book.submit(NewOrder::limit(side, price, qty).with_owner(i as i64 % 2), &mut events);
    }
    book.submit(NewOrder::limit(Side::Buy, 97, 1).with_id(1 << 40), &mut events); // sparse id
    book.submit(NewOrder::limit(Side::Buy, 97, 1).with_id((1 << 40) + 1), &mut events);
    book.submit(NewOrder::market(Side::Buy, 6), &mut events); // fills 5 and 1 of 3 at 101
    book.cancel(OrderId(3), &mut events);
    book.cancel(OrderId(1 << 40), &mut events);
    book.submit(NewOrder::limit(Side::Sell, 200, 1).with_id(50).with_tif(TimeInForce::Fok), &mut events); // refused
    let bytes = book.to_snapshot().unwrap();
    let mut copy = OrderBook::from_snapshot(&bytes).unwrap();
    assert_eq!(copy.to_snapshot().unwrap(), bytes);
    assert_eq!(book_fingerprint(&copy), book_fingerprint(&book));
    let actions = |b: &mut OrderBook| -> Vec<Event> {
        let mut ev = Vec::new();
        b.submit(NewOrder::limit(Side::Sell, 101, 2).with_owner(1), &mut ev); // behind order 1
        b.submit(NewOrder::market(Side::Buy, 3).with_owner(1), &mut ev); // STP cancels owner 1's maker
        b.cancel(OrderId(0), &mut ev); // filled before the snapshot: not_open
        b.cancel(OrderId(3), &mut ev); // cancelled before: not_open
        b.cancel(OrderId(1 << 40), &mut ev); // sparse, cancelled before: not_open
        b.cancel(OrderId(49), &mut ev); // never seen: unknown_order
        b.cancel(OrderId(50), &mut ev); // refused before: not_open
        b.submit(NewOrder::limit(Side::Buy, 97, 1).with_id((1 << 40) + 1), &mut ev); // duplicate
        b.submit(NewOrder::limit(Side::Buy, 96, 1), &mut ev); // next assigned id
        b.submit(NewOrder::market(Side::Sell, 100), &mut ev);
        ev
    };
    let (ea, eb) = (actions(&mut book), actions(&mut copy));
    assert_eq!(format!("{ea:?}"), format!("{eb:?}"));
    assert_eq!(book.to_snapshot().unwrap(), copy.to_snapshot().unwrap());
    copy.check_invariants().unwrap();
}

/// A small exchange with something of everything: positions, resting orders, a stop, a cooldown.
fn sample_exchange() -> Exchange {
    let mut ex = exchange(Venue::Hyperliquid, "ETH", 0.01, 0.0);
    ex.add_accounts(&[account(10, 4_000.0, -40 * LOTS, 3000.0), account(20, 10_000.0, 0, 0.0)]).unwrap();
    ex.add_resting_orders(&[
        (Side::Sell, eth_px(3040.0), 1, None),
        (Side::Sell, eth_px(3041.0), 8 * LOTS, None),
        (Side::Buy, eth_px(2900.0), LOTS, None),
    ])
    .unwrap();
    market(&mut ex, 20, Side::Buy, 1);
    limit(&mut ex, 20, Side::Buy, 2950.0, 500);
    let req = StopRequest {
        side: Side::Sell,
        qty: 10,
        limit: None,
        trigger: eth_px(2000.0),
        trigger_on: TriggerOn::Mark,
        trail: None,
        reduce_only: false,
        oco: None,
    };
    ex.submit_stop(TraderId(20), req).unwrap();
    ex
}

#[test]
fn damaged_cut_or_foreign_bytes_are_errors() {
    let ex = sample_exchange();
    let bytes = ex.to_snapshot().unwrap();
    let is_snapshot_error = |r: Result<Exchange, Error>| matches!(r, Err(Error::Config { what: "snapshot", .. }));
    // Every cut, every single flipped byte (header or payload), and trailing garbage.
    for len in 0..bytes.len() {
        assert!(is_snapshot_error(Exchange::from_snapshot(&bytes[..len])), "cut at {len}");
    }
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x5A;
        assert!(is_snapshot_error(Exchange::from_snapshot(&bad)), "byte {i} flipped");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(is_snapshot_error(Exchange::from_snapshot(&long)));
    // Another kind, another version (with a valid checksum: refused by the header).
    let book = ex.book().to_snapshot().unwrap();
    let err = Exchange::from_snapshot(&book).unwrap_err().to_string();
    assert_eq!(err, "invalid snapshot: holds an order book, not an exchange");
    assert!(OrderBook::from_snapshot(&bytes).is_err());
    let mut other = bytes.clone();
    other[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = Exchange::from_snapshot(&other).unwrap_err().to_string();
    assert!(err.contains("format version 2, but this liqsim reads version 1"), "{err}");
    assert!(Exchange::from_snapshot(b"not a snapshot at all, but long enough").is_err());
}

#[test]
fn a_consistent_checksum_does_not_make_a_bad_state_acceptable() {
    // Re-encode a decoded state after breaking it: the header is then valid, the state is not.
    let ex = sample_exchange();
    let bytes = ex.to_snapshot().unwrap();
    let payload = &bytes[HEADER_LEN..];
    let reencode = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut p = payload.to_vec();
        edit(&mut p);
        let mut out = bytes[..HEADER_LEN].to_vec();
        out[12..20].copy_from_slice(&(p.len() as u64).to_le_bytes());
        out[20..24].copy_from_slice(&crc32fast::hash(&p).to_le_bytes());
        out.extend_from_slice(&p);
        out
    };
    assert_eq!(Exchange::from_snapshot(&reencode(&|_| {})).unwrap().to_snapshot().unwrap(), bytes);
    // Any single byte changed under a recomputed checksum: an error or a state that still passes
    // every check, never a panic.
    let mut accepted = 0;
    for i in 0..payload.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            if let Ok(mut ex) = Exchange::from_snapshot(&reencode(&|p| p[i] ^= flip)) {
                accepted += 1;
                // What loads must also run: an order, a cancel, a price move, time passing.
                let req =
                    OrderRequest { side: Side::Buy, qty: 20, price: None, tif: TimeInForce::Ioc, reduce_only: false };
                ex.submit(TraderId(20), req);
                let _ = ex.cancel(TraderId(20), OrderId(3));
                ex.set_index(eth_px(3100.0));
                ex.advance_to(ex.ts() + HOUR);
            }
        }
    }
    eprintln!("{accepted} of {} one-byte changes load", 3 * payload.len());
    // Truncated payloads under a recomputed checksum.
    for len in 0..payload.len() {
        assert!(Exchange::from_snapshot(&reencode(&|p| p.truncate(len))).is_err());
    }
    // A state broken on purpose: the backstop holds a position nobody is short against.
    let mut state: crate::exchange::snapshot::ExchangeState = postcard::from_bytes(payload).unwrap();
    state.accounts.to_mut()[0].position.lots += 1;
    let broken = encode(Kind::Exchange, &state).unwrap();
    let err = Exchange::from_snapshot(&broken).unwrap_err().to_string();
    assert!(err.contains("positions sum to"), "{err}");
}

#[test]
fn the_format_is_pinned() {
    // A change to any serialized type changes these bytes: if this fails, bump FORMAT_VERSION
    // (old snapshots must be refused, not misread) and update the figures.
    let bytes = sample_exchange().to_snapshot().unwrap();
    assert_eq!(&bytes[..12], b"LIQSIMSN\x01\x00\x02\x00");
    assert_eq!((bytes.len(), crc32fast::hash(&bytes)), (454, 3075049261));
}
