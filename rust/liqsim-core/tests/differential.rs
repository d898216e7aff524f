//! Differential test: the real book against the slow reference book in `reference_book`, action by
//! action, on long random but realistic action streams (and on short shrinkable ones via proptest).
//!
//! After every action: identical events, identical outcome, same best bid/ask and open-order count,
//! `check_invariants()` passes. Every `CHECKPOINT` actions and at the end: the full resting book in
//! priority order, the levels, and the depth queries against brute force.

mod common;
mod reference_book;

use common::{apply_book, apply_ref, check_queries, order, ref_snapshot, snapshot, Action};
use liqsim_core::book::{Event, OrderBook, OrderType, SelfTradePrevention, TimeInForce};
use liqsim_core::{Price, Qty, Side};
use proptest::prelude::*;
use reference_book::RefBook;

/// splitmix64: tiny, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// True with probability pct / 100.
    fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn side(&mut self) -> Side {
        if self.pct(50) {
            Side::Buy
        } else {
            Side::Sell
        }
    }
}

/// Small explicit id space: ids are reused, duplicated and cancelled stale all the time.
const ID_SPACE: i64 = 160;
const OWNERS: i64 = 5;
const CHECKPOINT: usize = 1000;

/// Generates realistic action streams: a random-walk mid, most orders within a few ticks of it.
struct Gen {
    rng: Rng,
    mid: Price,
    /// Ids seen lately in outcomes (incl. assigned ones), for stale cancels/modifies.
    recent: Vec<i64>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen { rng: Rng(seed), mid: 10_000, recent: Vec::new() }
    }

    fn qty(&mut self) -> Qty {
        if self.rng.pct(85) {
            self.rng.range(1, 10)
        } else {
            self.rng.range(11, 60)
        }
    }

    fn owner(&mut self) -> i64 {
        self.rng.range(0, OWNERS - 1)
    }

    fn new_id(&mut self, rb: &RefBook) -> Option<i64> {
        match self.rng.below(100) {
            // Usually an id that is not live (a client reusing its ids), sometimes any id at all.
            0..=69 => {
                let mut id = self.rng.range(0, ID_SPACE - 1);
                for _ in 0..3 {
                    if rb.order(id).is_none() {
                        break;
                    }
                    id = self.rng.range(0, ID_SPACE - 1);
                }
                Some(id)
            }
            70..=84 => Some(self.rng.range(0, ID_SPACE - 1)),
            85..=98 => None,
            // Large ids go through the book's sparse id index.
            _ => Some((1 << 30) + self.rng.range(0, 7)),
        }
    }

    /// An id to cancel or modify: mostly live, sometimes stale or unknown.
    fn target(&mut self, rb: &RefBook) -> i64 {
        let r = self.rng.below(100);
        if r < 55 && !rb.resting.is_empty() {
            rb.resting[self.rng.below(rb.resting.len() as u64) as usize].id
        } else if r < 80 && !self.recent.is_empty() {
            self.recent[self.rng.below(self.recent.len() as u64) as usize]
        } else if r < 98 {
            self.rng.range(0, ID_SPACE + 16)
        } else {
            self.rng.range(-3, -1)
        }
    }

    /// A passive price on `side`: at or behind the mid, a few ticks deep.
    fn passive(&mut self, side: Side) -> Price {
        let depth = if self.rng.pct(90) { self.rng.range(0, 8) } else { self.rng.range(9, 60) };
        self.mid - side.sign() * (1 + depth) + side.sign() * self.rng.range(0, 1)
    }

    /// A price on `side` that reaches into the other side by a few ticks.
    fn aggressive(&mut self, side: Side) -> Price {
        self.mid + side.sign() * self.rng.range(0, 12)
    }

    fn next(&mut self, rb: &RefBook) -> Action {
        // Random walk of the mid, kept well above zero.
        if self.rng.pct(8) {
            self.mid = (self.mid + if self.rng.pct(50) { 1 } else { -1 }).max(200);
        }
        let side = self.rng.side();
        let r = self.rng.below(1000);
        match r {
            // GTC limit, mostly passive.
            0..=379 => {
                let price = if self.rng.pct(88) { self.passive(side) } else { self.aggressive(side) };
                let (qty, id, owner) = (self.qty(), self.new_id(rb), self.owner());
                Action::Submit(order(side, OrderType::Limit, Some(price), qty, id, owner, TimeInForce::Gtc))
            }
            // Post-only around the touch.
            380..=429 => {
                let price = if self.rng.pct(60) { self.passive(side) } else { self.aggressive(side) };
                let (qty, id, owner) = (self.qty(), self.new_id(rb), self.owner());
                Action::Submit(order(side, OrderType::Limit, Some(price), qty, id, owner, TimeInForce::PostOnly))
            }
            // IOC limit.
            430..=489 => {
                let price = if self.rng.pct(25) { self.passive(side) } else { self.aggressive(side) };
                let (qty, id, owner) = (self.qty(), self.new_id(rb), self.owner());
                Action::Submit(order(side, OrderType::Limit, Some(price), qty, id, owner, TimeInForce::Ioc))
            }
            // FOK limit, sometimes larger than what is there.
            490..=529 => {
                let price = if self.rng.pct(20) { self.passive(side) } else { self.aggressive(side) };
                let qty = if self.rng.pct(50) { self.qty() } else { self.rng.range(1, 120) };
                let (id, owner) = (self.new_id(rb), self.owner());
                Action::Submit(order(side, OrderType::Limit, Some(price), qty, id, owner, TimeInForce::Fok))
            }
            // Market orders, half with a protection price; GTC acts as IOC; post-only is refused.
            530..=579 => {
                let protection = self.rng.pct(50).then(|| self.aggressive(side));
                let tif = match self.rng.below(20) {
                    0..=9 => TimeInForce::Ioc,
                    10..=14 => TimeInForce::Gtc,
                    15..=18 => TimeInForce::Fok,
                    _ => TimeInForce::PostOnly,
                };
                let (qty, id, owner) = (self.qty(), self.new_id(rb), self.owner());
                Action::Submit(order(side, OrderType::Market, protection, qty, id, owner, tif))
            }
            // Cancels (live, stale, unknown, negative).
            580..=799 => Action::Cancel(self.target(rb)),
            // Modifies: down, same, up, price moves, into a cross, invalid.
            800..=969 => {
                let id = self.target(rb);
                let cur = rb.order(id);
                let cur_qty = cur.map_or(5, |o| o.qty);
                let cur_price = cur.map_or(self.mid, |o| o.price);
                let cur_side = cur.map_or(side, |o| o.side);
                let qty = match self.rng.below(100) {
                    0..=39 => self.rng.range(1, cur_qty),
                    40..=54 => cur_qty,
                    55..=94 => cur_qty + self.rng.range(1, 10),
                    _ => self.rng.range(-2, 0),
                };
                let price = match self.rng.below(100) {
                    0..=39 => None,
                    40..=49 => Some(cur_price),
                    50..=79 => Some(cur_price + self.rng.range(-4, 4)),
                    80..=95 => Some(self.aggressive(cur_side)),
                    _ => Some(self.rng.range(-2, 0)),
                };
                Action::Modify { id, qty, price }
            }
            // Malformed or refused new orders.
            _ => {
                let owner = self.owner();
                match self.rng.below(6) {
                    0 => Action::Submit(order(
                        side,
                        OrderType::Limit,
                        Some(self.mid),
                        self.rng.range(-3, 0),
                        self.new_id(rb),
                        owner,
                        TimeInForce::Gtc,
                    )),
                    1 => Action::Submit(order(
                        side,
                        OrderType::Limit,
                        Some(self.rng.range(-3, 0)),
                        1,
                        self.new_id(rb),
                        owner,
                        TimeInForce::Gtc,
                    )),
                    2 => {
                        Action::Submit(order(side, OrderType::Limit, None, 1, self.new_id(rb), owner, TimeInForce::Ioc))
                    }
                    3 => Action::Submit(order(
                        side,
                        OrderType::Market,
                        Some(self.rng.range(-3, 0)),
                        1,
                        None,
                        owner,
                        TimeInForce::Ioc,
                    )),
                    4 => Action::Submit(order(
                        side,
                        OrderType::Limit,
                        Some(self.mid),
                        1,
                        Some(self.rng.range(-5, -1)),
                        owner,
                        TimeInForce::Gtc,
                    )),
                    // A duplicate of a live id, when there is one.
                    _ => {
                        let id = rb.resting.first().map_or(0, |o| o.id);
                        Action::Submit(order(
                            side,
                            OrderType::Limit,
                            Some(self.passive(side)),
                            2,
                            Some(id),
                            owner,
                            TimeInForce::Gtc,
                        ))
                    }
                }
            }
        }
    }
}

fn tail(history: &[Action]) -> String {
    let start = history.len().saturating_sub(25);
    history[start..].iter().enumerate().map(|(i, a)| format!("  #{}: {a:?}\n", start + i)).collect()
}

fn check_full(book: &OrderBook, rb: &RefBook, ctx: &dyn Fn() -> String) {
    assert_eq!(snapshot(book), ref_snapshot(rb), "resting book differs\n{}", ctx());
    for id in (0..ID_SPACE + 16).chain((1 << 30)..(1 << 30) + 8) {
        assert_eq!(book.order(liqsim_core::OrderId(id)), rb.order(id), "order({id}) differs\n{}", ctx());
    }
    let mid = book.best_bid().zip(book.best_ask()).map_or(10_000, |(b, a)| (b.0 + a.0) / 2);
    check_queries(
        book,
        &[-1, 0, 1, 3, 7, 20, 55, 150, 1_000_000],
        &[-5, 0, 1, mid as i128, 3 * mid as i128 + 1, 40 * mid as i128, 400 * mid as i128, i128::MAX / 4],
        &[0, 1, 2, 5, 10, 50, 1000],
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
}

/// Run `n` generated actions on both books; returns the number of trades seen.
fn run(seed: u64, stp: SelfTradePrevention, n: usize) -> usize {
    let mut book = OrderBook::new(stp);
    let mut rb = RefBook::new(stp);
    let mut gen = Gen::new(seed);
    let mut history: Vec<Action> = Vec::with_capacity(n);
    let (mut ev_book, mut ev_ref) = (Vec::<Event>::new(), Vec::<Event>::new());
    let mut trades = 0;
    for step in 0..n {
        let action = gen.next(&rb);
        history.push(action);
        ev_book.clear();
        ev_ref.clear();
        let out_book = apply_book(&mut book, &action, &mut ev_book);
        let out_ref = apply_ref(&mut rb, &action, &mut ev_ref);
        let ctx = || {
            format!("seed {seed:#x}, stp {stp:?}, step {step}, action {action:?}\nlast actions:\n{}", tail(&history))
        };
        assert_eq!(ev_book, ev_ref, "events differ (left: book, right: reference)\n{}", ctx());
        assert_eq!(out_book, out_ref, "outcomes differ (left: book, right: reference)\n{}", ctx());
        assert_eq!(book.best_bid(), rb.best(Side::Buy), "best bid differs\n{}", ctx());
        assert_eq!(book.best_ask(), rb.best(Side::Sell), "best ask differs\n{}", ctx());
        assert_eq!(book.open_orders(), rb.open_orders(), "open orders differ\n{}", ctx());
        if let Err(e) = book.check_invariants() {
            panic!("invariant broken: {e}\n{}", ctx());
        }
        trades += ev_book.iter().filter(|e| matches!(e, Event::Trade(_))).count();
        if let Some(id) = out_book.order_id {
            if gen.recent.len() < 64 {
                gen.recent.push(id.0);
            } else {
                let i = gen.rng.below(64) as usize;
                gen.recent[i] = id.0;
            }
        }
        if step % CHECKPOINT == CHECKPOINT - 1 {
            check_full(&book, &rb, &ctx);
        }
    }
    check_full(&book, &rb, &|| format!("seed {seed:#x}, stp {stp:?}, end of run\n{}", tail(&history)));
    trades
}

const SEEDS: [u64; 3] = [0x5EED_0001, 0xC0FF_EE42, 0x0DDB_A115];
const ACTIONS_PER_RUN: usize = 10_000;

fn run_mode(stp: SelfTradePrevention) {
    let mut trades = 0;
    for seed in SEEDS {
        trades += run(seed, stp, ACTIONS_PER_RUN);
    }
    // Guard against a generator that silently stopped exercising matching.
    assert!(trades > SEEDS.len() * ACTIONS_PER_RUN / 10, "only {trades} trades for {stp:?}");
}

#[test]
fn differential_stp_none() {
    run_mode(SelfTradePrevention::None);
}

#[test]
fn differential_stp_cancel_taker() {
    run_mode(SelfTradePrevention::CancelTaker);
}

#[test]
fn differential_stp_cancel_maker() {
    run_mode(SelfTradePrevention::CancelMaker);
}

#[test]
fn differential_stp_cancel_both() {
    run_mode(SelfTradePrevention::CancelBoth);
}

/// Coverage of the generator itself: every kind of outcome and event the book can produce shows up.
#[test]
fn generator_reaches_every_outcome() {
    use liqsim_core::book::{RejectReason, Status};
    let mut seen_status = std::collections::HashSet::new();
    let mut seen_reject = std::collections::HashSet::new();
    let (mut kept, mut moved, mut stp_cancels) = (0, 0, 0);
    for stp in [SelfTradePrevention::None, SelfTradePrevention::CancelBoth] {
        let mut book = OrderBook::new(stp);
        let mut rb = RefBook::new(stp);
        let mut gen = Gen::new(7);
        let mut ev = Vec::new();
        for _ in 0..5_000 {
            let action = gen.next(&rb);
            ev.clear();
            let out = apply_book(&mut book, &action, &mut ev);
            apply_ref(&mut rb, &action, &mut Vec::new());
            seen_status.insert(out.status);
            if let Some(r) = out.reject {
                seen_reject.insert(r);
            }
            if let Some(id) = out.order_id {
                gen.recent.push(id.0);
            }
            for e in &ev {
                match e {
                    Event::Modified { kept_priority: true, .. } => kept += 1,
                    Event::Modified { kept_priority: false, .. } => moved += 1,
                    Event::Cancelled { reason: liqsim_core::book::CancelReason::SelfTrade, .. } => stp_cancels += 1,
                    _ => {}
                }
            }
        }
    }
    for s in
        [Status::Rejected, Status::Open, Status::PartiallyFilled, Status::Filled, Status::Expired, Status::Cancelled]
    {
        assert!(seen_status.contains(&s), "never saw status {s:?}");
    }
    for r in [
        RejectReason::UnknownOrder,
        RejectReason::NotOpen,
        RejectReason::PostOnlyWouldCross,
        RejectReason::FokCannotFill,
        RejectReason::NonPositiveQty,
        RejectReason::InvalidPrice,
        RejectReason::DuplicateOrderId,
        RejectReason::InvalidOrderId,
        RejectReason::InvalidTimeInForce,
    ] {
        assert!(seen_reject.contains(&r), "never saw reject {r:?}");
    }
    assert!(kept > 100 && moved > 100 && stp_cancels > 100, "kept {kept}, moved {moved}, stp {stp_cancels}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Short random sequences on a tight price range; on a mismatch proptest shrinks to a minimal
    /// sequence.
    #[test]
    fn differential_shrinkable(
        stp in common::stp_strategy(),
        actions in prop::collection::vec(common::action_strategy(), 1..200),
    ) {
        let mut book = OrderBook::new(stp);
        let mut rb = RefBook::new(stp);
        for (i, action) in actions.iter().enumerate() {
            let (mut eb, mut er) = (Vec::new(), Vec::new());
            let ob = apply_book(&mut book, action, &mut eb);
            let or = apply_ref(&mut rb, action, &mut er);
            prop_assert_eq!(&eb, &er, "events differ at action {}", i);
            prop_assert_eq!(ob, or, "outcomes differ at action {}", i);
            prop_assert!(book.check_invariants().is_ok(), "{:?}", book.check_invariants());
            prop_assert_eq!(snapshot(&book), ref_snapshot(&rb));
        }
    }
}
