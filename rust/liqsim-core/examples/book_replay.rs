//! Matching-engine throughput on a generated, realistic message mix.
//!
//! Workload (1 M messages, seeded): new orders land around the book's own mid at a
//! power-law distance from the touch (most within a few ticks, a tail hundreds of ticks out);
//! most messages are cancels of live orders, as on real venues; some modifies (down in place, or
//! re-priced), and IOC orders that sweep one to a few levels. The generator drives a scratch book
//! so that cancels and modifies target orders that are really live at that moment; the timed run
//! replays the recorded messages on a fresh book.
//!
//! Run: `cargo bench -p liqsim-core --bench book`

use liqsim_core::book::{Event, NewOrder, OrderBook, SelfTradePrevention, TimeInForce};
use liqsim_core::{OrderId, Side};
use std::hint::black_box;

/// splitmix64: tiny, portable, good enough for workload generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy)]
enum Msg {
    Add(NewOrder),
    Cancel(OrderId),
    Modify(OrderId, i64, Option<i64>),
}

/// Ids of the orders resting in the generator's scratch book, with O(1) random pick and removal.
#[derive(Default)]
struct LiveIds {
    ids: Vec<i64>,
    pos: std::collections::HashMap<i64, usize>,
}

impl LiveIds {
    fn insert(&mut self, id: i64) {
        self.pos.insert(id, self.ids.len());
        self.ids.push(id);
    }
    fn remove(&mut self, id: i64) {
        if let Some(i) = self.pos.remove(&id) {
            self.ids.swap_remove(i);
            if let Some(&moved) = self.ids.get(i) {
                self.pos.insert(moved, i);
            }
        }
    }
    fn pick(&self, rng: &mut Rng) -> i64 {
        self.ids[rng.below(self.ids.len() as u64) as usize]
    }
}

/// Message mix in percent: add 44, cancel 44 (a twentieth of them stale: already filled or
/// cancelled), modify 7, IOC 5. The first `MIN_LIVE` messages build the book; after that a third
/// of the cancels turn into adds whenever fewer than `MIN_LIVE` orders rest, holding the book near
/// that size.
const MIN_LIVE: usize = 10_000;

fn generate(n: usize, seed: u64) -> Vec<Msg> {
    let mut rng = Rng(seed);
    let mut book = OrderBook::new(SelfTradePrevention::None);
    let mut events = Vec::new();
    let mut live = LiveIds::default();
    let mut msgs = Vec::with_capacity(n);
    let mut mid: i64 = 385_000;
    let mut next_id: i64 = 1;
    while msgs.len() < n {
        // Quote around the book's real touch (the price moves when IOC flow eats a level); the
        // reference mid drifts only while a side is empty.
        match (book.best_bid(), book.best_ask()) {
            (Some((b, _)), Some((a, _))) => mid = (b + a) / 2,
            _ if rng.below(64) == 0 => mid += if rng.below(2) == 0 { 1 } else { -1 },
            _ => {}
        }
        let r = rng.below(100);
        // Below the target size, a third of the would-be cancels become adds.
        let grow = live.ids.len() < MIN_LIVE && (44..88).contains(&r) && rng.below(3) == 0;
        let msg = if r < 44 || grow || msgs.len() < MIN_LIVE {
            let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            // Pareto(α = 1.3) distance in ticks from the touch, capped at 2,000.
            let dist = ((1.0 - rng.unit()).powf(-1.0 / 1.3) - 1.0).min(2000.0) as i64;
            let price = match side {
                Side::Buy => mid - 1 - dist,
                Side::Sell => mid + 1 + dist,
            };
            let qty = 1 + rng.below(100) as i64;
            let id = next_id;
            next_id += 1;
            Msg::Add(NewOrder::limit(side, price, qty).with_id(id).with_owner(rng.below(50) as i64))
        } else if r < 88 {
            if rng.below(20) == 0 {
                Msg::Cancel(OrderId(1 + rng.below(next_id as u64) as i64))
            } else {
                Msg::Cancel(OrderId(live.pick(&mut rng)))
            }
        } else if r < 95 {
            let id = OrderId(live.pick(&mut rng));
            let o = book.order(id).expect("live ids are resting");
            if rng.below(2) == 0 && o.qty > 1 {
                Msg::Modify(id, o.qty / 2, None)
            } else {
                Msg::Modify(id, o.qty, Some(o.price + if o.side == Side::Buy { -1 } else { 1 }))
            }
        } else {
            let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            let qty = 1 + rng.below(150) as i64;
            let limit = match side {
                Side::Buy => mid + 5,
                Side::Sell => mid - 5,
            };
            let id = next_id;
            next_id += 1;
            Msg::Add(NewOrder::limit(side, limit, qty).with_id(id).with_tif(TimeInForce::Ioc))
        };
        apply(&mut book, msg, &mut events);
        for e in &events {
            match *e {
                Event::Trade(t) if t.maker_remaining == 0 => live.remove(t.maker_order_id.0),
                Event::Cancelled { order_id, .. } => live.remove(order_id.0),
                _ => {}
            }
        }
        if let Msg::Add(o) = msg {
            if let Some(id) = o.id.filter(|&id| book.order(id).is_some()) {
                live.insert(id.0);
            }
        }
        msgs.push(msg);
    }
    let (adds, ioc) = msgs.iter().fold((0, 0), |(a, i), m| match m {
        Msg::Add(o) if o.tif == TimeInForce::Ioc => (a, i + 1),
        Msg::Add(_) => (a + 1, i),
        _ => (a, i),
    });
    let cancels = msgs.iter().filter(|m| matches!(m, Msg::Cancel(_))).count();
    eprintln!(
        "workload: {n} messages: {adds} adds, {cancels} cancels, {} modifies, {ioc} IOC; {} orders resting at the end, {} bid / {} ask levels",
        n - adds - cancels - ioc,
        book.open_orders(),
        book.levels(Side::Buy).count(),
        book.levels(Side::Sell).count(),
    );
    msgs
}

#[inline]
fn apply(book: &mut OrderBook, msg: Msg, events: &mut Vec<Event>) {
    events.clear();
    match msg {
        Msg::Add(o) => {
            book.submit(o, events);
        }
        Msg::Cancel(id) => {
            book.cancel(id, events);
        }
        Msg::Modify(id, qty, price) => {
            book.modify(id, qty, price, events);
        }
    }
}

#[inline(never)]
fn replay(msgs: &[Msg]) -> usize {
    let mut book = OrderBook::new(SelfTradePrevention::None);
    let mut events = Vec::with_capacity(64);
    for &m in msgs {
        apply(&mut book, m, &mut events);
    }
    book.open_orders()
}

fn main() {
    let msgs = generate(1_000_000, 42);
    let t = std::time::Instant::now();
    let n = black_box(replay(&msgs));
    eprintln!("replay: {:?} ({n} open)", t.elapsed());
}
