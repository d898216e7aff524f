//! Sync rules with hand-made messages. Source of the rules: Binance futures "How to manage a local
//! order book correctly" as restated in shared/data/README.md (snapshot; drop `u` < lastUpdateId;
//! first diff `U` ≤ lastUpdateId + 1 ≤ `u`, futures accept `U` ≤ lastUpdateId ≤ `u`; then `pu` =
//! previous `u`; a bookTicker `u` shows the book after all diffs with final id ≤ `u`).

use super::message::{BookTicker, DepthDiff, Message, Snapshot};
use super::*;

const ONE: i64 = UNITS_PER_ONE;

fn at(line: u64) -> LinePosition {
    LinePosition { file: 0, line }
}

fn level(side: Side, price: i64, qty_milli: i64) -> LevelUpdate {
    LevelUpdate { side, price: price * ONE, qty: qty_milli * ONE / 1000 }
}

fn snapshot(last_update_id: u64) -> Message {
    // bids 100 × 1.000, 99 × 2.000; asks 101 × 1.500, 102 × 3.000
    Message::Snapshot(Snapshot {
        last_update_id,
        levels: vec![
            level(Side::Buy, 100, 1000),
            level(Side::Buy, 99, 2000),
            level(Side::Sell, 101, 1500),
            level(Side::Sell, 102, 3000),
        ],
    })
}

fn diff(first: u64, last: u64, prev: u64, levels: Vec<LevelUpdate>) -> Message {
    Message::Depth(DepthDiff {
        event_time_ms: 0,
        first_update_id: first,
        update_id: last,
        prev_update_id: Some(prev),
        levels,
    })
}

fn ticker(u: u64, bid: i64, bid_qty_milli: i64, ask: i64, ask_qty_milli: i64) -> Message {
    Message::BookTicker(BookTicker {
        event_time_ms: 0,
        update_id: u,
        bid: bid * ONE,
        bid_qty: bid_qty_milli * ONE / 1000,
        ask: ask * ONE,
        ask_qty: ask_qty_milli * ONE / 1000,
    })
}

fn options() -> ReplayOptions {
    ReplayOptions { sample_every_ns: 0, ..Default::default() }
}

fn run(messages: &[Message]) -> (Replayer, Vec<i64>) {
    let mut r = Replayer::new(options(), 1).unwrap();
    let mut ts = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let t = (i as i64 + 1) * 1000;
        assert!(r.on_message(t, at(i as u64 + 1), m));
        ts.push(t);
    }
    (r, ts)
}

#[test]
fn decimal_strings_become_exact_units_or_are_refused() {
    assert_eq!(parse_units("63943.90"), Some(6_394_390_000_000));
    assert_eq!(parse_units("0.000"), Some(0));
    assert_eq!(parse_units("35"), Some(35 * ONE));
    assert_eq!(parse_units("0.00000001"), Some(1));
    assert_eq!(parse_units("0.000000001"), None, "9 decimals cannot be held exactly");
    assert_eq!(parse_units("-1.0"), None);
    assert_eq!(parse_units("1e5"), None);
    assert_eq!(parse_units(""), None);
    assert_eq!(parse_units(".5"), None);
    assert_eq!(parse_units("92233720368.54775807"), Some(i64::MAX));
    assert_eq!(parse_units("92233720368.54775808"), None, "one unit past i64::MAX");
    assert_eq!(units_to_f64(parse_units("63943.9").unwrap()), 63943.9);
}

#[test]
fn parses_the_four_recorded_message_kinds() {
    let mut m = Message::default();
    let ts = parse_line(
        r#"17 {"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":5,"T":4,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[["100.0","1.5"]],"a":[["101.0","0.000"]]}}"#,
        &mut m,
    )
    .unwrap();
    assert_eq!(ts, 17);
    assert_eq!(
        m,
        Message::Depth(DepthDiff {
            event_time_ms: 5,
            first_update_id: 10,
            update_id: 12,
            prev_update_id: Some(9),
            levels: vec![level(Side::Buy, 100, 1500), level(Side::Sell, 101, 0)],
        })
    );
    parse_line(r#"1 {"lastUpdateId":11,"E":5,"T":4,"bids":[["100.0","1.000"]],"asks":[]}"#, &mut m).unwrap();
    assert_eq!(m, Message::Snapshot(Snapshot { last_update_id: 11, levels: vec![level(Side::Buy, 100, 1000)] }));
    parse_line(
        r#"1 {"stream":"btcusd_perp@bookTicker","data":{"u":7,"e":"bookTicker","s":"BTCUSD_PERP","b":"61804.7","B":"35","a":"61804.8","A":"1645","T":1,"E":2}}"#,
        &mut m,
    )
    .unwrap();
    let Message::BookTicker(t) = m else { panic!("not a ticker: {m:?}") };
    assert_eq!((t.update_id, t.bid, t.bid_qty, t.ask_qty), (7, 6_180_470_000_000, 35 * ONE, 1645 * ONE));
    parse_line(
        r#"1 {"stream":"btcusdt@trade","data":{"e":"trade","E":9,"T":8,"s":"BTCUSDT","t":42,"p":"63943.90","q":"0.003","X":"MARKET","m":true}}"#,
        &mut m,
    )
    .unwrap();
    let Message::Trade(t) = m else { panic!("not a trade: {m:?}") };
    // m = buyer is maker, so the aggressor sold.
    assert_eq!((t.trade_id, t.trade_time_ms, t.qty, t.aggressor), (42, 8, 300_000, Side::Sell));
    // Key order other than the recorder's: the generic path.
    parse_line(r#"1 {"data":{"e":"trade","T":8,"t":43,"p":"1","q":"2","m":false},"stream":"x@trade"}"#, &mut m)
        .unwrap();
    assert!(matches!(m, Message::Trade(t) if t.trade_id == 43 && t.aggressor == Side::Buy));
    parse_line(
        r#"1 {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":9,"a":77,"s":"BTCUSDT","p":"2.5","q":"0.5","f":1,"l":3,"T":8,"m":true}}"#,
        &mut m,
    )
    .unwrap();
    assert!(matches!(m, Message::Trade(t) if t.trade_id == 77 && t.price == 250_000_000 && t.aggressor == Side::Sell));
    // An unwrapped event (single-stream connection) and another stream kind.
    parse_line(r#"1 {"e":"bookTicker","u":5,"b":"1","B":"1","a":"2","A":"1"}"#, &mut m).unwrap();
    assert!(matches!(m, Message::BookTicker(t) if t.update_id == 5));
    parse_line(r#"1 {"stream":"btcusdt@markPrice","data":{"e":"markPriceUpdate","p":"1"}}"#, &mut m).unwrap();
    assert_eq!(m, Message::Other);
    parse_line(r#"1 {"result":null,"id":1}"#, &mut m).unwrap();
    assert_eq!(m, Message::Other);
}

#[test]
fn malformed_lines_say_what_is_wrong() {
    let mut m = Message::default();
    assert!(parse_line("no-space", &mut m).unwrap_err().contains("<receive time ns>"));
    assert!(parse_line("abc {}", &mut m).unwrap_err().contains("\"abc\""));
    let e = parse_line(r#"1 {"stream":"x@trade","data":{"T":8,"t":43,"p":"1.5e3","q":"2","m":false}}"#, &mut m)
        .unwrap_err();
    assert!(e.contains("1.5e3"), "{e}");
    assert!(parse_line(r#"1 {"stream":"x@trade","data":{"T":8,"#, &mut m).is_err());
    let e = parse_line(
        r#"1 {"stream":"x@trade","data":{"T":8,"t":9223372036854775808,"p":"1","q":"2","m":false}}"#,
        &mut m,
    )
    .unwrap_err();
    assert!(e.contains("does not fit"), "{e}");
    let e =
        parse_line(r#"1 {"stream":"x@trade","data":{"T":-8,"t":1,"p":"1","q":"2","m":false}}"#, &mut m).unwrap_err();
    assert!(e.contains("trade time T -8 ms"), "{e}");
}

#[test]
fn first_diff_must_straddle_the_snapshot_id_and_older_diffs_are_dropped() {
    // Snapshot at 100. Diff 95..99 is older (dropped); 98..103 straddles (applied); 104.. chains.
    let (r, _) = run(&[
        diff(90, 94, 89, vec![level(Side::Buy, 100, 5000)]),
        snapshot(100),
        diff(95, 99, 94, vec![level(Side::Buy, 100, 7000)]),
        diff(98, 103, 99, vec![level(Side::Buy, 100, 4000)]),
        diff(104, 106, 103, vec![level(Side::Sell, 101, 0)]),
    ]);
    assert!(r.is_synced());
    let out = r.finish();
    assert_eq!(out.files[0].diffs_stale, 2, "90..94 (buffered) and 95..99 end before the snapshot");
    assert_eq!(out.files[0].diffs_applied, 2);
    assert!(out.gaps.is_empty());
    // Top after 98..103: bid 100 × 4.000, ask 101 × 1.500; after 104..106 the ask is 102 × 3.000.
    assert_eq!(out.top.bid_qty, vec![4.0, 4.0]);
    assert_eq!(out.top.ask, vec![101.0, 102.0]);
}

#[test]
fn futures_form_u_equal_to_last_update_id_is_accepted() {
    // U ≤ L ≤ u with u = L: Binance futures accept it as the first diff.
    let (r, _) = run(&[snapshot(100), diff(97, 100, 96, vec![level(Side::Buy, 99, 0)])]);
    assert!(r.is_synced());
    assert_eq!(r.book().level_count(Side::Buy), 1);
}

#[test]
fn snapshot_id_between_two_diffs_of_the_symbol_continues_through_pu() {
    // Futures ids are shared across symbols: the snapshot at 102 falls after diff ..101 and before
    // diff 105.. (pu 101). Nothing of this symbol happened in 102..104, so 105.. applies exactly.
    let (r, _) = run(&[snapshot(102), diff(105, 107, 101, vec![level(Side::Buy, 99, 0)])]);
    assert!(r.is_synced());
    // pu 103 > 102: updates 102..103 of this symbol are missing from the snapshot's point of view.
    let (r, _) = run(&[snapshot(102), diff(105, 107, 103, vec![])]);
    assert!(!r.is_synced());
}

#[test]
fn buffered_diffs_before_the_snapshot_line_are_applied() {
    // The REST answer was recorded after diffs that are newer than it: they must not be lost.
    let (r, _) = run(&[
        diff(99, 102, 98, vec![level(Side::Buy, 100, 3000)]),
        diff(103, 104, 102, vec![level(Side::Sell, 101, 2500)]),
        snapshot(100),
    ]);
    assert!(r.is_synced());
    let top = r.book().top();
    assert_eq!(top.bid, Some((100 * ONE, 3 * ONE)));
    assert_eq!(top.ask, Some((101 * ONE, 25 * ONE / 10)));
}

#[test]
fn snapshot_older_than_every_diff_is_a_gap() {
    let (r, ts) = run(&[snapshot(100), diff(105, 110, 104, vec![])]);
    assert!(!r.is_synced());
    let out = r.finish();
    assert_eq!(out.gaps.len(), 1);
    let g = &out.gaps[0];
    assert_eq!(
        (g.kind, g.expected, g.first_update_id, g.update_id, g.ts),
        (GapKind::SnapshotTooOld, 100, 105, 110, ts[1])
    );
    assert_eq!(g.resynced_ts, None);
}

#[test]
fn broken_pu_chain_is_reported_and_the_book_resyncs_at_the_next_snapshot() {
    let (r, ts) = run(&[
        snapshot(100),
        diff(99, 101, 98, vec![]),
        diff(102, 103, 101, vec![]),
        // pu 105 ≠ 103: ids 104..105 were lost.
        diff(106, 108, 105, vec![level(Side::Buy, 100, 9000)]),
        diff(109, 110, 108, vec![]),
        ticker(110, 100, 9000, 101, 1500), // not aligned: out of sync
        snapshot(109),
        diff(111, 112, 110, vec![]),
    ]);
    assert!(r.is_synced());
    let out = r.finish();
    assert_eq!(out.gaps.len(), 1);
    let g = &out.gaps[0];
    assert_eq!(
        (g.kind, g.expected, g.prev_update_id, g.first_update_id, g.update_id),
        (GapKind::PrevIdMismatch, 103, Some(105), 106, 108)
    );
    // The diffs buffered since the gap (106..108, 109..110) resume from snapshot 109: 106..108 is
    // older than it and dropped, 109..110 straddles it. In sync again when the snapshot arrived.
    assert_eq!(g.resynced_ts, Some(ts[6]));
    assert_eq!(out.files[0].diffs_stale, 1);
    assert_eq!(out.files[0].aligned, 0);
    assert_eq!(out.files[0].diffs_applied, 4);
    // The out-of-sync stretch shows as an empty top row.
    assert!(out.top.bid.iter().any(|b| b.is_nan()));
}

#[test]
fn duplicate_diffs_are_dropped_not_gaps() {
    let (r, _) =
        run(&[snapshot(100), diff(99, 101, 98, vec![]), diff(99, 101, 98, vec![]), diff(102, 103, 101, vec![])]);
    assert!(r.is_synced());
    let out = r.finish();
    assert!(out.gaps.is_empty());
    assert_eq!(out.files[0].diffs_stale, 1);
}

#[test]
fn book_ticker_aligned_before_or_after_its_diff_must_agree() {
    let (r, _) = run(&[
        snapshot(100),
        diff(99, 101, 98, vec![level(Side::Buy, 100, 2000)]),
        // Ticker 101 arrives after diff ..101: book then is bid 100 × 2, ask 101 × 1.5. Agrees.
        ticker(101, 100, 2000, 101, 1500),
        // Ticker 104 arrives before diff 105..107: it shows the book after ..101 (ids 102..104 were
        // other symbols'). Agrees.
        ticker(104, 100, 2000, 101, 1500),
        // Ticker 106 is inside 105..107: never visible in the diff stream: not aligned.
        ticker(106, 100, 2000, 101, 1000),
        // Ticker 107 = final id of the next diff: after it, ask 101 × 1.0. This one disagrees (qty).
        ticker(107, 100, 2000, 101, 1200),
        diff(105, 107, 101, vec![level(Side::Sell, 101, 1000)]),
        // A late ticker for 101 (history): agrees with the book after ..101.
        ticker(101, 100, 2000, 101, 1500),
    ]);
    let out = r.finish();
    let f = &out.files[0];
    assert_eq!((f.book_tickers, f.aligned, f.matched), (5, 4, 3));
    assert_eq!(out.mismatch_count, 1);
    assert_eq!(out.mismatches[0].ticker.update_id, 107);
    assert_eq!(out.mismatches[0].book.ask, Some((101 * ONE, ONE)));
}

#[test]
fn samples_and_books_show_the_state_after_messages_up_to_their_time() {
    let mut o = options();
    o.sample_every_ns = 1000;
    o.book_times = vec![1500, 2000, 99_000];
    o.depth_fractions = vec![0.005];
    let mut r = Replayer::new(o, 1).unwrap();
    // t=1000 snapshot, t=2000 first diff (sync), t=3000 trade
    r.on_message(1000, at(1), &snapshot(100));
    r.on_message(2000, at(2), &diff(99, 101, 98, vec![level(Side::Buy, 100, 2000)]));
    r.on_message(3000, at(3), &Message::Other);
    let out = r.finish();
    assert_eq!(out.series.top.ts, vec![1000, 2000, 3000]);
    assert_eq!(out.series.synced, vec![false, true, true]);
    // Band 0.5% around mid 100.5: [99.9975, 101.0025] → bid 100 × 2, ask 101 × 1.5.
    let [bq, bn, aq, an] = &out.series.depth[0];
    assert_eq!((bq[1], bn[1], aq[1], an[1]), (2.0, 200.0, 1.5, 151.5));
    assert_eq!(out.books.len(), 3);
    assert!(!out.books[0].synced, "1500: snapshot loaded but no diff applied yet");
    assert!(out.books[1].synced);
    assert_eq!(out.books[1].bids, vec![(100 * ONE, 2 * ONE), (99 * ONE, 2 * ONE)]);
    assert!(out.books[2].after_end);
}

#[test]
fn a_long_silence_does_not_fill_the_series_row_by_row() {
    // 1e15 ns at 1 µs samples would be 1e9 rows: the series resumes at the last interval instead.
    let mut o = options();
    o.sample_every_ns = 1000;
    let mut r = Replayer::new(o, 1).unwrap();
    r.on_message(1000, at(1), &Message::Other);
    r.on_message(1_000_000_000_000_000, at(2), &Message::Other);
    let out = r.finish();
    assert_eq!(out.series.top.ts, vec![1000, 999_999_999_999_000, 1_000_000_000_000_000]);
}

#[test]
fn inverse_contract_notional_is_contracts_times_contract_size() {
    // COIN-M: qty in contracts of 100 USD; notional does not depend on price.
    let mut o = options();
    o.contract_size = Some(100.0);
    let mut r = Replayer::new(o, 1).unwrap();
    let mut m = Message::default();
    parse_line(
        r#"5 {"stream":"btcusd_perp@trade","data":{"e":"trade","T":8,"t":1,"p":"61804.8","q":"4","m":false}}"#,
        &mut m,
    )
    .unwrap();
    r.on_message(5, at(1), &m);
    let out = r.finish();
    assert_eq!(out.trades.notional, vec![400.0]);
    assert_eq!(out.trades.qty, vec![4.0]);
}

#[test]
fn bad_options_are_refused() {
    let bad = |o: ReplayOptions| Replayer::new(o, 1).is_err();
    assert!(bad(ReplayOptions { contract_size: Some(0.0), ..options() }));
    assert!(bad(ReplayOptions { depth_fractions: vec![f64::NAN], ..options() }));
    assert!(bad(ReplayOptions { book_times: vec![2, 1], ..options() }));
    assert!(bad(ReplayOptions { sample_every_ns: -1, ..options() }));
}

mod properties {
    //! Random id chains with shared id space (gaps between a symbol's diffs), a snapshot taken
    //! between two diffs and received late, and bookTickers reporting the true book at their id.
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// One diff of a case: id span, id gap before it, level changes (is bid, price offset, qty).
    type CaseDiff = (u64, u64, Vec<(bool, i64, i64)>);
    type Level = Option<(i64, i64)>;

    #[derive(Debug, Clone)]
    struct Case {
        /// Per diff: id span, id gap before it, level changes (side, price, qty).
        diffs: Vec<CaseDiff>,
        snapshot_after: usize,
        snapshot_delay: usize,
        ticker_delays: Vec<usize>,
    }

    fn case() -> impl Strategy<Value = Case> {
        let diff = (0u64..4, 1u64..5, prop::collection::vec((any::<bool>(), 0i64..40, 0i64..4), 1..6));
        (
            prop::collection::vec(diff, 4..60),
            any::<prop::sample::Index>(),
            0usize..6,
            prop::collection::vec(0usize..4, 60),
        )
            .prop_map(|(diffs, at, snapshot_delay, ticker_delays)| {
                let snapshot_after = at.index(diffs.len() - 2);
                Case { diffs, snapshot_after, snapshot_delay, ticker_delays }
            })
    }

    struct Built {
        messages: Vec<Message>,
        final_book: [BTreeMap<i64, i64>; 2],
        /// Ids: (U, u) per diff.
        ids: Vec<(u64, u64)>,
    }

    fn top_of(book: &[BTreeMap<i64, i64>; 2]) -> (Level, Level) {
        (book[0].iter().next_back().map(|(p, q)| (*p, *q)), book[1].iter().next().map(|(p, q)| (*p, *q)))
    }

    /// The stream of a case, with diff `drop` (if any) left out.
    fn build(c: &Case, drop: Option<usize>) -> Built {
        let mut book: [BTreeMap<i64, i64>; 2] = Default::default();
        // A starting book so both sides have levels: bids 900.., asks 1100..
        for i in 0..5 {
            book[0].insert((900 + i) * ONE, ONE);
            book[1].insert((1100 + i) * ONE, ONE);
        }
        let mut ids = Vec::new();
        let mut next_id = 1000u64;
        let mut diffs = Vec::new();
        let mut tickers: Vec<(usize, Message)> = Vec::new();
        let mut snapshot = None;
        for (k, (span, gap, levels)) in c.diffs.iter().enumerate() {
            next_id += gap;
            let (first, last) = (next_id, next_id + span);
            next_id = last;
            let prev = ids.last().map_or(first - 1, |x: &(u64, u64)| x.1);
            ids.push((first, last));
            let mut updates = Vec::new();
            for (bid, offset, qty) in levels {
                let (side, price) =
                    if *bid { (Side::Buy, (960 + offset) * ONE) } else { (Side::Sell, (1001 + offset) * ONE) };
                updates.push(LevelUpdate { side, price, qty: qty * ONE });
                let map = &mut book[side as usize];
                if *qty == 0 {
                    map.remove(&price);
                } else {
                    map.insert(price, qty * ONE);
                }
            }
            diffs.push(Message::Depth(DepthDiff {
                event_time_ms: 0,
                first_update_id: first,
                update_id: last,
                prev_update_id: Some(prev),
                levels: updates,
            }));
            let (bid, ask) = top_of(&book);
            if let (Some(b), Some(a)) = (bid, ask) {
                let t =
                    BookTicker { event_time_ms: 0, update_id: last, bid: b.0, bid_qty: b.1, ask: a.0, ask_qty: a.1 };
                tickers.push((k + c.ticker_delays[k % c.ticker_delays.len()], Message::BookTicker(t)));
            }
            if k == c.snapshot_after {
                // Taken at an id between this diff and the next (other symbols' ids).
                let levels = book[0]
                    .iter()
                    .map(|(p, q)| LevelUpdate { side: Side::Buy, price: *p, qty: *q })
                    .chain(book[1].iter().map(|(p, q)| LevelUpdate { side: Side::Sell, price: *p, qty: *q }))
                    .collect();
                snapshot =
                    Some((k + 1 + c.snapshot_delay, Message::Snapshot(Snapshot { last_update_id: last, levels })));
            }
        }
        let mut messages = Vec::new();
        for (k, d) in diffs.into_iter().enumerate() {
            if Some(k) != drop {
                messages.push(d);
            }
            if let Some((at, _)) = &snapshot {
                if *at == k {
                    messages.push(snapshot.take().map(|s| s.1).unwrap_or_default());
                }
            }
            for (_, t) in tickers.iter().filter(|(at, _)| *at == k) {
                messages.push(t.clone());
            }
        }
        if let Some((_, s)) = snapshot {
            messages.push(s);
        }
        Built { messages, final_book: book, ids }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn unbroken_chain_rebuilds_the_true_book_and_agrees_with_every_aligned_ticker(c in case()) {
            let built = build(&c, None);
            let (r, _) = run(&built.messages);
            let last_diff_after_snapshot = c.snapshot_after + 1 < c.diffs.len();
            prop_assert_eq!(r.is_synced(), last_diff_after_snapshot);
            if r.is_synced() {
                let bids: Vec<_> = built.final_book[0].iter().rev().map(|(p, q)| (*p, *q)).collect();
                let asks: Vec<_> = built.final_book[1].iter().map(|(p, q)| (*p, *q)).collect();
                prop_assert_eq!(r.book().levels(Side::Buy).collect::<Vec<_>>(), bids);
                prop_assert_eq!(r.book().levels(Side::Sell).collect::<Vec<_>>(), asks);
            }
            let out = r.finish();
            prop_assert!(out.gaps.is_empty());
            prop_assert_eq!(out.mismatch_count, 0);
            prop_assert_eq!(out.files[0].aligned, out.files[0].matched);
            if c.diffs.len() > c.snapshot_after + c.snapshot_delay + 6 {
                prop_assert!(out.files[0].aligned > 0, "tickers after sync must align");
            }
        }

        #[test]
        fn a_lost_diff_after_sync_is_one_gap_with_its_ids(c in case(), pick in any::<prop::sample::Index>()) {
            prop_assume!(c.snapshot_after + 3 < c.diffs.len());
            // Lose a diff at least two after the snapshot point, so the book was in sync before.
            let lost = c.snapshot_after + 2 + pick.index(c.diffs.len() - c.snapshot_after - 2);
            let built = build(&c, Some(lost));
            let (r, _) = run(&built.messages);
            let out = r.finish();
            if lost + 1 < c.diffs.len() {
                prop_assert_eq!(out.gaps.len(), 1);
                let g = &out.gaps[0];
                prop_assert_eq!(g.kind, GapKind::PrevIdMismatch);
                prop_assert_eq!(g.expected, built.ids[lost - 1].1);
                prop_assert_eq!(g.prev_update_id, Some(built.ids[lost].1));
                prop_assert_eq!((g.first_update_id, g.update_id), built.ids[lost + 1]);
                prop_assert_eq!(g.resynced_ts, None);
            } else {
                prop_assert!(out.gaps.is_empty()); // the last diff lost: nothing shows it
            }
            prop_assert_eq!(out.mismatch_count, 0);
        }
    }
}

#[test]
fn pieces_keep_line_numbers_and_files_are_one_stream() {
    use std::io::Write;
    // Two gzip files; the second has a bad line 1,500 lines in, after empty lines and CRLFs.
    let dir = std::env::temp_dir().join(format!("liqsim-replay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trade =
        |i: usize| format!(r#"{i} {{"stream":"x@trade","data":{{"T":{i},"t":{i},"p":"1.5","q":"2","m":false}}}}"#);
    let write = |name: &str, lines: Vec<String>| {
        let path = dir.join(name);
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        gz.write_all(lines.join("\n").as_bytes()).unwrap();
        gz.finish().unwrap();
        path
    };
    let a = write("a.gz", (1..=3000).map(trade).collect());
    let mut b: Vec<String> = (1..=2000).map(|i| if i % 7 == 0 { String::new() } else { trade(i) + "\r" }).collect();
    b[1499] = "1500 {\"stream\":\"x@trade\",\"data\":{".into();
    let b = write("b.gz", b);
    let err = replay_files(&[&a, &b], options()).unwrap_err();
    assert!(matches!(&err, ReplayError::Malformed { line: 1500, path, .. } if path.ends_with("b.gz")), "{err}");
    let c = write("c.gz", vec![trade(1), trade(2).replace("x@trade", "y@trade")]);
    let err = replay_files(&[&c], options()).unwrap_err();
    assert!(err.to_string().contains("mixes symbols (x and y)") && err.to_string().contains("line 2"), "{err}");
    let decoded = decode_files(&[&a]).unwrap();
    assert_eq!(decoded.trades.trade_id, (1..=3000).collect::<Vec<i64>>());
    let _ = std::fs::remove_dir_all(&dir);
}
