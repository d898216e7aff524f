//! Liquidation engine benchmarks (DESIGN §10).
//!
//! - `trigger/*`: cost of a mark move that crosses exactly k = 100 accounts, with n = 10^4, 10^5
//!   and 10^6 shorts whose triggers are spread over the same wide range (+1 % … +334 %: one per
//!   100 ticks for 10^4, one per tick for 10^6). `crossed_k100` times `TriggerIndex::crossed` alone;
//!   `set_index_liquidate_k100` times `Exchange::set_index` moving the (index) mark past the next
//!   100 triggers, including their 100 close-outs against a deep background book; `set_index_no_cross`
//!   a move that crosses nobody. The cost must not depend on n.
//! - `cascade/1m_accounts`: 1,000,000 leveraged shorts with triggers spread over +1 % … +20 %, a
//!   background ask book at 80 % of the shorts' density per tick (each round's close-outs sweep the
//!   price a quarter further than the round before), mark = last trade, close-outs move it; one
//!   market buy sets it off. Timed: that `submit` call. Budget < 2 s.
//! - memory: resident bytes per account for 10^6 accounts (from /proc/self/statm). Budget < 200 MB.
//!
//! Setup is never timed (clones are made outside the timed region). Key figures are printed with
//! `eprintln!`.
//!
//! Run: `cargo bench -p liqsim-core --bench liquidation`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use liqsim_core::account::MarginMode;
use liqsim_core::book::TimeInForce;
use liqsim_core::exchange::{AccountRow, Exchange, ExchangeConfig, LiquidationKind, OrderRequest};
use liqsim_core::funding::MarkRule;
use liqsim_core::margin::NotionalScale;
use liqsim_core::venue::VenuePreset;
use liqsim_core::{Money, Price, Qty, Side, TraderId, MONEY_SCALE};

/// ETH-like grid: tick 0.01, lot 0.001 (10^7 money units per tick·lot).
fn scale() -> NotionalScale {
    NotionalScale::from_sizes(0.01, 0.001).unwrap()
}

/// 3,000.00 in ticks.
const MID: Price = 300_000;
/// Crossed accounts per mark move.
const K: usize = 100;
const RICH: TraderId = TraderId(0);
/// Mark moves (of K liquidations each) made on one clone before a fresh one is taken.
const WINDOWS_PER_CLONE: usize = 100;

fn config(mark_rule: MarkRule) -> ExchangeConfig {
    let preset = VenuePreset::from_names("binance", "ETHUSDT").unwrap();
    let mut cfg = ExchangeConfig::new(preset, scale());
    cfg.mark_rule = mark_rule;
    // Large enough that the fund never runs dry: what the book cannot take goes to the backstop
    // (never to ADL, which would rank every account).
    cfg.insurance_fund = Money(1_000_000_000_000 * MONEY_SCALE);
    cfg
}

/// A short of `lots` entered at the mid whose trigger is exactly `trigger` ticks: the collateral
/// makes the margin balance equal the maintenance margin at `trigger` (and exceed it a tick below).
fn short_with_trigger(cfg: &ExchangeConfig, id: i64, lots: Qty, trigger: Price) -> AccountRow {
    let m = cfg.scale.money_per_tick_lot();
    let cost = lots as i128 * MID as i128 * m;
    let notional = lots as i128 * trigger as i128 * m;
    let mm = cfg.preset.tiers.maintenance_margin(Money(notional)).unwrap();
    AccountRow {
        id: TraderId(id),
        balance: Money(notional + mm.0 - cost),
        mode: MarginMode::Cross,
        lots: -lots,
        entry_money_per_lot: Money(MID as i128 * m),
        leverage: 20,
        isolated_margin: None,
    }
}

fn rich_trader() -> AccountRow {
    AccountRow {
        id: RICH,
        balance: Money(10_000_000_000 * MONEY_SCALE),
        mode: MarginMode::Cross,
        lots: 0,
        entry_money_per_lot: Money::ZERO,
        leverage: 10,
        isolated_margin: None,
    }
}

/// Resident set size in bytes (Linux), 0 elsewhere.
fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: u64 = s.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    pages * 4096
}

// ---------------------------------------------------------------------------------------------
// (a) trigger cost per mark move vs n
// ---------------------------------------------------------------------------------------------

/// n shorts of 1 ETH, trigger of account i at 3,030.00 + i × spacing ticks (distinct), and a deep
/// ask book at the mid (the close-outs' fills do not move the index mark).
fn trigger_market(n: usize) -> (Exchange, Vec<Price>) {
    let cfg = config(MarkRule::Index);
    let spacing = (1_000_000 / n as i64).max(1); // same 10,000 USDT range for every n
    let triggers: Vec<Price> = (0..n as i64).map(|i| 303_000 + i * spacing).collect();
    let rows: Vec<AccountRow> =
        triggers.iter().enumerate().map(|(i, &t)| short_with_trigger(&cfg, 1 + i as i64, 1_000, t)).collect();
    let mut ex = Exchange::new(cfg).unwrap();
    ex.add_accounts(&rows).unwrap();
    let asks: Vec<_> = (1..=200).map(|d| (Side::Sell, MID + d, 1_000_000_000, None)).collect();
    let bids: Vec<_> = (1..=200).map(|d| (Side::Buy, MID - d, 1_000_000_000, None)).collect();
    ex.add_resting_orders(&asks).unwrap();
    ex.add_resting_orders(&bids).unwrap();
    ex.set_index(MID);
    assert!(ex.tape().liquidations.is_empty());
    // The engine's triggers are exactly the constructed ones.
    for &i in &[0usize, n / 2, n - 1] {
        let t = ex.account(TraderId(1 + i as i64)).unwrap().trigger.unwrap().price;
        assert_eq!(t, triggers[i], "account {i}");
    }
    (ex, triggers)
}

fn bench_trigger(c: &mut Criterion) {
    let mut group = c.benchmark_group("trigger");
    group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for n in [10_000usize, 100_000, 1_000_000] {
        let t0 = Instant::now();
        let (base, triggers) = trigger_market(n);
        eprintln!("trigger: built n = {n} in {:.2?} ({} indexed)", t0.elapsed(), base.trigger_index().len());
        // Windows of K per clone: the same for every n, so that the tape (which grows with every
        // liquidation) has the same length in both runs and only the index and account count differ.
        let windows = (n / K).min(WINDOWS_PER_CLONE);
        // Sanity: each move crosses and liquidates exactly K accounts.
        {
            let mut ex = base.clone();
            for w in 0..3 {
                let before = ex.tape().liquidations.len();
                ex.set_index(triggers[(w + 1) * K - 1]);
                assert_eq!(ex.tape().liquidations.len() - before, K);
                assert!(ex.tape().liquidations[before..].iter().all(|l| l.kind == LiquidationKind::Full));
            }
        }

        // The index query alone.
        let index = base.trigger_index();
        let mark = triggers[K - 1];
        let mut out = Vec::with_capacity(K);
        group.bench_function(format!("crossed_k100/n={n}"), |b| {
            b.iter(|| {
                out.clear();
                index.crossed(black_box(mark), &mut out);
                assert_eq!(out.len(), K);
                black_box(out.len())
            })
        });

        // A move that crosses nobody (back and forth below the lowest trigger).
        let mut quiet = base.clone();
        let mut up = false;
        group.bench_function(format!("set_index_no_cross/n={n}"), |b| {
            b.iter(|| {
                up = !up;
                quiet.set_index(black_box(if up { MID + 500 } else { MID - 500 }));
            })
        });
        assert!(quiet.tape().liquidations.is_empty());
        drop(quiet);

        // Index move past the next K triggers, with their close-outs. Each iteration liquidates
        // a fresh window of K accounts of one clone; a new clone (untimed) when its windows run out.
        let mut ex = base.clone();
        let mut w = 0;
        group.bench_function(format!("set_index_liquidate_k100/n={n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    if w == windows {
                        ex = base.clone();
                        w = 0;
                    }
                    let target = triggers[(w + 1) * K - 1];
                    let t = Instant::now();
                    ex.set_index(black_box(target));
                    total += t.elapsed();
                    w += 1;
                }
                total
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// (b) a full cascade through 10^6 accounts, (c) memory
// ---------------------------------------------------------------------------------------------

const CASCADE_N: usize = 1_000_000;
/// Lots per short: 0.1 ETH.
const CASCADE_LOTS: Qty = 100;
/// Triggers spread over +1 % … +20 %.
const TRIGGER_LO: Price = 303_000;
const TRIGGER_HI: Price = 360_000;

/// The cascade market: 10^6 shorts, triggers evenly over [+1 %, +20 %]; asks from the mid up at
/// 80 % of the shorts' lots per tick, long enough to take every close-out; a rich trader.
fn cascade_market() -> (Exchange, Qty, u64) {
    let cfg = config(MarkRule::Last);
    let span = (TRIGGER_HI - TRIGGER_LO) as i128;
    let mut rows: Vec<AccountRow> = Vec::with_capacity(CASCADE_N + 1);
    rows.push(rich_trader());
    rows.extend((0..CASCADE_N).map(|i| {
        let t = TRIGGER_LO + (i as i128 * span / CASCADE_N as i128) as Price;
        short_with_trigger(&cfg, 1 + i as i64, CASCADE_LOTS, t)
    }));
    let mut ex = Exchange::new(cfg).unwrap();
    ex.add_accounts(&rows).unwrap();
    drop(rows);
    let rss_accounts = rss_bytes();
    // Shorts' density: n × lots / span per tick; the book 80 % of it per tick, over 1.25 × the
    // distance to the last trigger so that it can absorb all of them.
    let density = (CASCADE_N as i64 * CASCADE_LOTS) / (TRIGGER_HI - TRIGGER_LO);
    let per_tick = density * 4 / 5;
    let top = MID + (TRIGGER_HI - MID) * 5 / 4 + 1_000;
    let asks: Vec<_> = (MID + 1..=top).map(|p| (Side::Sell, p, per_tick, None)).collect();
    let bids: Vec<_> = (1..=1_000).map(|d| (Side::Buy, MID - d, 1_000_000, None)).collect();
    ex.add_resting_orders(&asks).unwrap();
    ex.add_resting_orders(&bids).unwrap();
    ex.set_index(MID);
    assert!(ex.tape().liquidations.is_empty());
    // The push: everything up to the first trigger.
    let push = per_tick * (TRIGGER_LO - MID);
    (ex, push, rss_accounts)
}

fn push_order(push: Qty) -> OrderRequest {
    OrderRequest { side: Side::Buy, qty: push, price: None, tif: TimeInForce::Ioc, reduce_only: false }
}

fn bench_cascade(c: &mut Criterion) {
    // (c) memory: resident set before and after building 10^6 accounts (plus their book).
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    let (base, push, rss_accounts) = cascade_market();
    let build = t0.elapsed();
    let rss1 = rss_bytes();
    let accounts = base.accounts().len();
    let mb = |b: u64| b as f64 / 1e6;
    eprintln!(
        "memory: {accounts} accounts built in {build:.2?}: RSS {:.1} MB → {:.1} MB with the accounts \
         (+{:.1} MB = {:.0} bytes/account; budget 200 MB) → {:.1} MB with the book ({} resting orders); \
         size_of::<Account>() = {} B",
        mb(rss0),
        mb(rss_accounts),
        mb(rss_accounts - rss0),
        (rss_accounts - rss0) as f64 / accounts as f64,
        mb(rss1),
        base.book().open_orders(),
        std::mem::size_of::<liqsim_core::account::Account>(),
    );

    // One untimed-by-criterion run for the figures.
    let mut ex = base.clone();
    let t = Instant::now();
    let out = ex.submit(RICH, push_order(push));
    let took = t.elapsed();
    let tape = ex.tape();
    let mut kinds = [0usize; 4];
    for l in &tape.liquidations {
        kinds[l.kind as usize] += 1;
    }
    let last = ex.last().unwrap();
    eprintln!(
        "cascade: push {} lots filled {}, {} rounds, {} liquidations (partial {}, full {}, backstop {}, adl {}), \
         last {:.2} → {:.2} (+{:.2} %), {} trades, one run {took:.2?} (budget 2 s)",
        push,
        out.outcome.filled,
        ex.cascade_rounds().0,
        tape.liquidations.len(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        MID as f64 / 100.0,
        last as f64 / 100.0,
        (last - MID) as f64 / MID as f64 * 100.0,
        tape.trades.len(),
    );
    ex.check_invariants().expect("invariants after the cascade");
    drop(ex);

    let mut group = c.benchmark_group("cascade");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(15));
    group.bench_function("1m_accounts", |b| {
        b.iter_batched(
            || base.clone(),
            |mut ex| {
                ex.submit(RICH, push_order(push));
                ex
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_cascade, bench_trigger);
criterion_main!(benches);
