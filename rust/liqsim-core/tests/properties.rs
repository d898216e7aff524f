//! Property tests of the order book over random action sequences (proptest; shrinks on failure).
//!
//! - structure: `check_invariants()`, never crossed at rest, levels = sums of their orders;
//! - quantity conservation per order id, from events and observable state only;
//! - every event is consistent with what came before (maker_remaining, cancel/expire quantities,
//!   trade prices within the taker's limit and at the maker's price, outcome = Σ its trades);
//! - id bookkeeping: unknown vs not_open, stale cancel/modify after a full fill, assigned ids;
//! - determinism (twice from scratch, and a clone continued in parallel);
//! - sweep / sweep_notional / depth_within against brute force over `orders()`.

mod common;
mod reference_book;

use std::collections::{HashMap, HashSet};

use common::{action_strategy, apply_book, check_queries, snapshot, stp_strategy, Action, PROP_IDS};
use liqsim_core::book::{Event, OrderBook, OrderType, Outcome, RejectReason, SelfTradePrevention, Status};
use liqsim_core::{OrderId, Price, Qty, Side};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

fn actions() -> impl Strategy<Value = Vec<Action>> {
    prop::collection::vec(action_strategy(), 1..300)
}

/// Quantity flows of one order id over the whole history (all its incarnations), taken from events
/// and, for modifies, from the book's view of the order just before the modify.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Flow {
    /// Accepted quantity of new orders + new quantity of modifies.
    inflow: i128,
    as_taker: i128,
    as_maker: i128,
    cancelled: i128,
    expired: i128,
    /// Open quantity an order had when a modify replaced it with its new quantity.
    replaced: i128,
}

impl Flow {
    fn balance(&self) -> i128 {
        self.inflow - self.as_taker - self.as_maker - self.cancelled - self.expired - self.replaced
    }
}

/// What the events say is working: id → (side, owner, price, open qty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Working {
    side: Side,
    owner: i64,
    price: Option<Price>,
    open: Qty,
}

/// Does a taker on `side` limited at `limit` accept a trade at `price`?
fn within(side: Side, limit: Option<Price>, price: Price) -> bool {
    match limit {
        None => true,
        Some(l) => match side {
            Side::Buy => price <= l,
            Side::Sell => price >= l,
        },
    }
}

/// Runs actions on a book, auditing every event; the state needed for the id-bookkeeping checks.
struct Auditor {
    book: OrderBook,
    flows: HashMap<i64, Flow>,
    working: HashMap<i64, Working>,
    /// Ids the book has used (accepted, or refused after assignment).
    seen: HashSet<i64>,
    /// Per action: (events, outcome), for the determinism property.
    log: Vec<(Vec<Event>, Outcome)>,
}

impl Auditor {
    fn new(stp: SelfTradePrevention) -> Auditor {
        Auditor {
            book: OrderBook::new(stp),
            flows: HashMap::new(),
            working: HashMap::new(),
            seen: HashSet::new(),
            log: Vec::new(),
        }
    }

    fn step(&mut self, action: &Action) -> Result<(), TestCaseError> {
        let before = match *action {
            Action::Modify { id, .. } => self.book.order(OrderId(id)),
            _ => None,
        };
        let expected_auto_id = self.seen.iter().max().map_or(0, |m| m + 1);
        let mut events = Vec::new();
        let out = apply_book(&mut self.book, action, &mut events);

        // The taker of this action (new order or re-entered modify), once known.
        let mut taker: Option<i64> = None;
        let (mut traded, mut notional) = (0i128, 0i128);
        for e in &events {
            match *e {
                Event::Accepted { order_id, owner, side, price, qty } => {
                    let Action::Submit(o) = action else {
                        return Err(TestCaseError::fail("Accepted for a non-submit"));
                    };
                    prop_assert_eq!((owner, side, price, qty), (o.owner, o.side, o.price, o.qty));
                    match o.id {
                        Some(id) => prop_assert_eq!(order_id, id),
                        None => prop_assert_eq!(order_id.0, expected_auto_id, "assigned id"),
                    }
                    prop_assert!(!self.working.contains_key(&order_id.0), "accepted a live id {}", order_id.0);
                    self.working.insert(order_id.0, Working { side, owner: owner.0, price, open: qty });
                    self.flows.entry(order_id.0).or_default().inflow += qty as i128;
                    self.seen.insert(order_id.0);
                    taker = Some(order_id.0);
                }
                Event::Modified { order_id, owner, side, price, qty, kept_priority } => {
                    let Action::Modify { id, qty: want_qty, price: want_price } = *action else {
                        return Err(TestCaseError::fail("Modified for a non-modify"));
                    };
                    let old = before.ok_or_else(|| TestCaseError::fail("modified an order that was not resting"))?;
                    prop_assert_eq!((order_id.0, qty), (id, want_qty));
                    prop_assert_eq!((owner, side), (old.owner, old.side));
                    prop_assert_eq!(price, want_price.unwrap_or(old.price));
                    prop_assert_eq!(kept_priority, price == old.price && qty <= old.qty);
                    let w = self.working.get_mut(&id).ok_or_else(|| TestCaseError::fail("modify of non-working id"))?;
                    prop_assert_eq!(w.open, old.qty, "events and book disagree on the open qty");
                    w.open = qty;
                    w.price = Some(price);
                    let f = self.flows.entry(id).or_default();
                    f.replaced += old.qty as i128;
                    f.inflow += qty as i128;
                    if !kept_priority {
                        taker = Some(id);
                    }
                }
                Event::Trade(t) => {
                    let tk = taker.ok_or_else(|| TestCaseError::fail("trade without a taker"))?;
                    prop_assert_eq!(t.taker_order_id.0, tk);
                    prop_assert!(t.qty > 0);
                    prop_assert!(t.maker_order_id.0 != tk, "order traded with itself");
                    let tw = self.working[&tk];
                    prop_assert_eq!((t.aggressor, t.taker_owner.0), (tw.side, tw.owner));
                    prop_assert!(
                        within(tw.side, tw.price, t.price),
                        "trade at {} beyond the taker's limit {:?}",
                        t.price,
                        tw.price
                    );
                    let mw = self
                        .working
                        .get_mut(&t.maker_order_id.0)
                        .ok_or_else(|| TestCaseError::fail("maker not working"))?;
                    prop_assert_eq!(
                        (mw.side, mw.owner, mw.price),
                        (tw.side.opposite(), t.maker_owner.0, Some(t.price))
                    );
                    if self.book.self_trade_prevention() != SelfTradePrevention::None {
                        prop_assert!(mw.owner != tw.owner, "self-trade despite prevention");
                    }
                    mw.open -= t.qty;
                    prop_assert!(mw.open >= 0);
                    prop_assert_eq!(t.maker_remaining, mw.open);
                    if mw.open == 0 {
                        self.working.remove(&t.maker_order_id.0);
                    }
                    let tw = self.working.get_mut(&tk).unwrap();
                    tw.open -= t.qty;
                    prop_assert!(tw.open >= 0, "taker overfilled");
                    self.flows.entry(tk).or_default().as_taker += t.qty as i128;
                    self.flows.entry(t.maker_order_id.0).or_default().as_maker += t.qty as i128;
                    traded += t.qty as i128;
                    notional += t.price as i128 * t.qty as i128;
                }
                Event::Cancelled { order_id, owner, side, qty, .. } => {
                    let w = self
                        .working
                        .remove(&order_id.0)
                        .ok_or_else(|| TestCaseError::fail("cancel of non-working id"))?;
                    prop_assert_eq!((w.owner, w.side, w.open), (owner.0, side, qty));
                    prop_assert!(qty > 0);
                    self.flows.entry(order_id.0).or_default().cancelled += qty as i128;
                }
                Event::Expired { order_id, owner, side, qty } => {
                    prop_assert_eq!(Some(order_id.0), taker, "only the taker expires");
                    let w = self
                        .working
                        .remove(&order_id.0)
                        .ok_or_else(|| TestCaseError::fail("expiry of non-working id"))?;
                    prop_assert_eq!((w.owner, w.side, w.open), (owner.0, side, qty));
                    prop_assert!(qty > 0);
                    self.flows.entry(order_id.0).or_default().expired += qty as i128;
                }
                Event::Rejected { order_id, reason } => {
                    prop_assert_eq!(events.len(), 1, "a rejection is the only event of its action");
                    prop_assert_eq!(out.reject, Some(reason));
                    if matches!(reason, RejectReason::PostOnlyWouldCross | RejectReason::FokCannotFill) {
                        let id = order_id.ok_or_else(|| TestCaseError::fail("post-only/FOK rejection without id"))?;
                        if let Action::Submit(o) = action {
                            if o.id.is_none() {
                                prop_assert_eq!(id.0, expected_auto_id, "assigned id");
                            }
                        }
                        self.seen.insert(id.0);
                    }
                }
            }
        }
        // A taker that filled completely is gone.
        if let Some(tk) = taker {
            if self.working.get(&tk).is_some_and(|w| w.open == 0) {
                self.working.remove(&tk);
            }
        }
        prop_assert_eq!(out.filled as i128, traded, "outcome.filled = Σ trades");
        prop_assert_eq!(out.notional, notional, "outcome.notional = Σ price × qty");
        if let Some(tk) = taker {
            prop_assert_eq!(out.order_id, Some(OrderId(tk)));
            let resting = self.book.order(OrderId(tk)).is_some();
            prop_assert_eq!(resting, matches!(out.status, Status::Open | Status::PartiallyFilled));
        }

        // Structure.
        if let Err(e) = self.book.check_invariants() {
            return Err(TestCaseError::fail(format!("invariants: {e}")));
        }
        if let (Some((b, _)), Some((a, _))) = (self.book.best_bid(), self.book.best_ask()) {
            prop_assert!(b < a, "crossed at rest: {} >= {}", b, a);
        }
        for side in [Side::Buy, Side::Sell] {
            let mut levels: Vec<(Price, Qty, u32)> = Vec::new();
            for o in self.book.orders(side) {
                match levels.last_mut() {
                    Some(l) if l.0 == o.price => {
                        l.1 += o.qty;
                        l.2 += 1;
                    }
                    _ => levels.push((o.price, o.qty, 1)),
                }
            }
            let book_levels: Vec<_> = self.book.levels(side).map(|l| (l.price, l.qty, l.count)).collect();
            prop_assert_eq!(book_levels, levels);
        }

        // The events' idea of what is resting is exactly the book's.
        let resting: Vec<_> = self.book.orders(Side::Buy).chain(self.book.orders(Side::Sell)).collect();
        prop_assert_eq!(resting.len(), self.working.len());
        prop_assert_eq!(resting.len(), self.book.open_orders());
        for o in &resting {
            let w =
                self.working.get(&o.id.0).ok_or_else(|| TestCaseError::fail(format!("{} rests unannounced", o.id)))?;
            prop_assert_eq!((w.side, w.owner, w.price, w.open), (o.side, o.owner.0, Some(o.price), o.qty));
        }

        // Conservation per id: everything that came in either traded, was cancelled or expired, was
        // replaced by a modify, or is resting now.
        let mut total = 0i128;
        for (&id, f) in &self.flows {
            let now = self.book.order(OrderId(id)).map_or(0, |o| o.qty as i128);
            prop_assert_eq!(f.balance(), now, "conservation for id {}: {:?}", id, f);
            total += f.balance();
        }
        prop_assert_eq!(total, resting.iter().map(|o| o.qty as i128).sum::<i128>());

        // Stale ids: whatever filled completely in this action is now not open (on a copy).
        let mut filled_ids: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Trade(t) if t.maker_remaining == 0 => Some(t.maker_order_id.0),
                _ => None,
            })
            .collect();
        if out.status == Status::Filled {
            filled_ids.push(out.order_id.unwrap().0);
        }
        for id in filled_ids {
            let mut copy = self.book.clone();
            let mut ev = Vec::new();
            prop_assert_eq!(
                copy.cancel(OrderId(id), &mut ev).reject,
                Some(RejectReason::NotOpen),
                "stale cancel of {}",
                id
            );
            prop_assert_eq!(copy.modify(OrderId(id), 1, None, &mut ev).reject, Some(RejectReason::NotOpen));
            prop_assert_eq!(snapshot(&copy), snapshot(&self.book));
        }

        self.log.push((events, out));
        Ok(())
    }

    /// Every id in the test's range: live → cancels; used before → not_open; else unknown_order.
    fn check_id_bookkeeping(&mut self) -> Result<(), TestCaseError> {
        let top = self.seen.iter().max().copied().unwrap_or(0).max(PROP_IDS + 8);
        for id in -2..=top + 2 {
            let mut ev = Vec::new();
            let live = self.book.order(OrderId(id));
            let out = self.book.cancel(OrderId(id), &mut ev);
            if let Some(o) = live {
                prop_assert_eq!(out.status, Status::Cancelled);
                let cancelled_whole = matches!(ev[..], [Event::Cancelled { qty, .. }] if qty == o.qty);
                prop_assert!(cancelled_whole, "cancel events {:?}", ev);
                self.working.remove(&id);
            } else if self.seen.contains(&id) {
                prop_assert_eq!(out.reject, Some(RejectReason::NotOpen), "id {}", id);
            } else {
                prop_assert_eq!(out.reject, Some(RejectReason::UnknownOrder), "id {}", id);
            }
        }
        prop_assert_eq!(self.book.open_orders(), 0);
        prop_assert_eq!(self.book.best_bid(), None);
        prop_assert_eq!(self.book.best_ask(), None);
        Ok(())
    }
}

proptest! {
    #![proptest_config(config())]

    /// Structure, event consistency and per-id quantity conservation after every action; id
    /// bookkeeping at the end.
    #[test]
    fn book_is_consistent_and_conserves_quantity(stp in stp_strategy(), actions in actions()) {
        let mut a = Auditor::new(stp);
        for action in &actions {
            a.step(action)?;
        }
        a.check_id_bookkeeping()?;
    }

    /// Same actions from scratch ⇒ identical events, outcomes and book; and a clone taken midway
    /// continues exactly like the original.
    #[test]
    fn deterministic(stp in stp_strategy(), actions in actions(), split in 0usize..300) {
        let run = |actions: &[Action], book: &mut OrderBook| -> Vec<(Vec<Event>, Outcome)> {
            actions.iter().map(|a| { let mut ev = Vec::new(); let out = apply_book(book, a, &mut ev); (ev, out) }).collect()
        };
        let (mut b1, mut b2) = (OrderBook::new(stp), OrderBook::new(stp));
        let l1 = run(&actions, &mut b1);
        let l2 = run(&actions, &mut b2);
        prop_assert_eq!(&l1, &l2);
        prop_assert_eq!(snapshot(&b1), snapshot(&b2));

        let split = split.min(actions.len());
        let mut b3 = OrderBook::new(stp);
        run(&actions[..split], &mut b3);
        let mut b4 = b3.clone();
        let tail3 = run(&actions[split..], &mut b3);
        let tail4 = run(&actions[split..], &mut b4);
        prop_assert_eq!(&tail3, &tail4);
        prop_assert_eq!(&tail3[..], &l1[split..]);
        prop_assert_eq!(snapshot(&b3), snapshot(&b1));
        prop_assert_eq!(snapshot(&b4), snapshot(&b1));
    }

    /// sweep / sweep_notional / depth_within equal brute force over `orders()` after every action.
    #[test]
    fn queries_match_brute_force(
        actions in actions(),
        qtys in prop::collection::vec(-2i64..80, 1..4),
        notionals in prop::collection::vec(-100i128..9_000, 1..4),
        per_milles in prop::collection::vec(prop_oneof![0i64..=30, Just(1000)], 1..4),
    ) {
        let mut book = OrderBook::new(SelfTradePrevention::None);
        let mut ev = Vec::new();
        for action in &actions {
            ev.clear();
            apply_book(&mut book, action, &mut ev);
            check_queries(&book, &qtys, &notionals, &per_milles).map_err(TestCaseError::fail)?;
        }
    }
}

/// A stale cancel right after a full fill, worked by hand (maker filled, then taker filled).
#[test]
fn stale_cancel_after_full_fill_is_not_open() {
    let mut book = OrderBook::new(SelfTradePrevention::None);
    let mut ev = Vec::new();
    let o = |side, price, qty, id| liqsim_core::book::NewOrder {
        id: Some(OrderId(id)),
        owner: liqsim_core::TraderId(id),
        side,
        order_type: OrderType::Limit,
        price: Some(price),
        qty,
        tif: liqsim_core::book::TimeInForce::Gtc,
    };
    book.submit(o(Side::Sell, 100, 5, 1), &mut ev);
    assert_eq!(book.submit(o(Side::Buy, 100, 5, 2), &mut ev).status, Status::Filled);
    for id in [1, 2] {
        assert_eq!(book.cancel(OrderId(id), &mut ev).reject, Some(RejectReason::NotOpen));
        assert_eq!(book.modify(OrderId(id), 3, None, &mut ev).reject, Some(RejectReason::NotOpen));
    }
    assert_eq!(book.cancel(OrderId(3), &mut ev).reject, Some(RejectReason::UnknownOrder));
}

/// The action strategy is not vacuous: over a sample of sequences it produces every outcome, trades,
/// both kinds of modify, self-trade cancels, stale and unknown ids.
#[test]
fn strategy_reaches_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut statuses = HashSet::new();
    let mut rejects = HashSet::new();
    let (mut trades, mut kept, mut moved, mut stp_cancels) = (0, 0, 0, 0);
    for _ in 0..40 {
        let stp = stp_strategy().new_tree(&mut runner).unwrap().current();
        let seq = actions().new_tree(&mut runner).unwrap().current();
        let mut book = OrderBook::new(stp);
        for action in &seq {
            let mut ev = Vec::new();
            let out = apply_book(&mut book, action, &mut ev);
            statuses.insert(out.status);
            rejects.extend(out.reject);
            for e in &ev {
                match e {
                    Event::Trade(_) => trades += 1,
                    Event::Modified { kept_priority: true, .. } => kept += 1,
                    Event::Modified { kept_priority: false, .. } => moved += 1,
                    Event::Cancelled { reason: liqsim_core::book::CancelReason::SelfTrade, .. } => stp_cancels += 1,
                    _ => {}
                }
            }
        }
    }
    assert_eq!(statuses.len(), 6, "{statuses:?}");
    assert_eq!(rejects.len(), 9, "{rejects:?}");
    assert!(trades > 500 && kept > 20 && moved > 50 && stp_cancels > 20, "{trades} {kept} {moved} {stp_cancels}");
}

proptest! {
    #![proptest_config(config())]

    /// A book restored from a snapshot taken midway continues exactly like the original (same
    /// events and outcomes, including assigned ids and unknown / not-open answers), and the two
    /// give the same snapshot bytes at the split and at the end.
    #[test]
    fn a_restored_snapshot_continues_exactly(stp in stp_strategy(), actions in actions(), split in 0usize..300) {
        let run = |actions: &[Action], book: &mut OrderBook| -> Vec<(Vec<Event>, Outcome)> {
            actions.iter().map(|a| { let mut ev = Vec::new(); let out = apply_book(book, a, &mut ev); (ev, out) }).collect()
        };
        let split = split.min(actions.len());
        let mut a = OrderBook::new(stp);
        run(&actions[..split], &mut a);
        let bytes = a.to_snapshot().expect("a snapshot");
        let mut b = OrderBook::from_snapshot(&bytes).map_err(|e| TestCaseError::fail(format!("restore: {e}")))?;
        prop_assert_eq!(&b.to_snapshot().expect("a snapshot"), &bytes);
        prop_assert_eq!(snapshot(&a), snapshot(&b));
        let tail_a = run(&actions[split..], &mut a);
        let tail_b = run(&actions[split..], &mut b);
        prop_assert_eq!(&tail_a, &tail_b);
        prop_assert_eq!(snapshot(&a), snapshot(&b));
        prop_assert_eq!(a.to_snapshot().expect("a snapshot"), b.to_snapshot().expect("a snapshot"));
        b.check_invariants().map_err(TestCaseError::fail)?;
    }
}
