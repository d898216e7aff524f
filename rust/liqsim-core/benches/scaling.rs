//! Scaling benchmarks (issue 8): each operation at 10k / 100k / 1M items, so that a cost that grows
//! with unrelated state shows up as a rising cost per item. Criterion reports the time of one
//! whole operation over n items (throughput = items/s); cost per item = time / n. Budget: at most
//! 1.5x the 10k cost per item at 1M.
//!
//! - `sweep_loaded_book/n`: a market buy sweeping n ask levels (one order each) loaded into an
//!   Exchange (all owned by the background liquidity account: per-account order bookkeeping).
//! - `one_account_places/n`: one account placing n resting bids (margin check + bookkeeping).
//! - `one_account_cancels/n`: the same account cancelling its n orders in placement order.
//! - `book_ascending_load/n`: a bare OrderBook loading n ask levels in ascending price (the order
//!   of a snapshot: each level is worse than the last). Budget: 1M < 0.5 s.
//! - `exchange_ascending_load/n`: the same through `Exchange::add_resting_orders` in one call.
//! - `accounts_in_batches/n`: n accounts loaded 1,000 at a time.
//! - `advance_idle/n`: the clock moved over n idle seconds of a loaded market (funding every 8 h):
//!   cost per second must not grow (it shrinks: idle stretches are jumped over).
//! - `cascade_all/n`: n leveraged shorts, index +30%: everyone is liquidated in one cascade. Budget:
//!   1M < 1 s on one core.
//!
//! Setup is never timed (clones are made outside the timed region).
//!
//! Run: `cargo bench -p liqsim-core --bench scaling` (or a filter: `-- cascade_all`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use liqsim_core::account::MarginMode;
use liqsim_core::book::{NewOrder, OrderBook, SelfTradePrevention, TimeInForce};
use liqsim_core::exchange::{AccountRow, Exchange, ExchangeConfig, OrderRequest};
use liqsim_core::funding::{MarkRule, SECOND};
use liqsim_core::margin::NotionalScale;
use liqsim_core::venue::VenuePreset;
use liqsim_core::{Money, Price, Qty, Side, TraderId, MONEY_SCALE};

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// 3,000.00 in ticks (tick 0.01, lot 0.001).
const MID: Price = 300_000;
const ETH: Qty = 1000;

fn config(mark_rule: MarkRule) -> ExchangeConfig {
    let preset = VenuePreset::from_names("binance", "ETHUSDT").unwrap();
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(0.01, 0.001).unwrap());
    cfg.mark_rule = mark_rule;
    cfg.insurance_fund = Money(1_000_000_000_000 * MONEY_SCALE);
    cfg
}

fn rich(id: i64) -> AccountRow {
    AccountRow {
        id: TraderId(id),
        balance: Money(100_000_000_000 * MONEY_SCALE),
        mode: MarginMode::Cross,
        lots: 0,
        entry_money_per_lot: Money::ZERO,
        leverage: 1,
        isolated_margin: None,
    }
}

fn asks_ascending(n: usize, from: Price) -> Vec<(Side, Price, Qty, Option<TraderId>)> {
    (0..n as i64).map(|i| (Side::Sell, from + i, 1, None)).collect()
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}

fn bench_sweep_loaded_book(c: &mut Criterion) {
    let mut g = group(c, "sweep_loaded_book");
    for n in SIZES {
        let mut ex = Exchange::new(config(MarkRule::Last)).unwrap();
        ex.add_accounts(&[rich(1)]).unwrap();
        ex.add_resting_orders(&asks_ascending(n, MID)).unwrap();
        let buy =
            OrderRequest { side: Side::Buy, qty: n as Qty, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    let out = ex.submit(TraderId(1), buy);
                    assert_eq!(out.outcome.filled, n as Qty);
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
}

fn placing_account(n: usize) -> (Exchange, Vec<OrderRequest>) {
    let mut ex = Exchange::new(config(MarkRule::Last)).unwrap();
    ex.add_accounts(&[rich(1)]).unwrap();
    // 20,000.00: room for a million distinct prices below it.
    let top: Price = 2_000_000;
    ex.add_resting_orders(&[(Side::Sell, top + 1, ETH, None)]).unwrap();
    ex.set_index(top);
    // n distinct prices below the touch (one order per level): worst case for both structures.
    let reqs = (0..n as i64)
        .map(|i| OrderRequest {
            side: Side::Buy,
            qty: 1,
            price: Some(top - 1 - i),
            tif: TimeInForce::Gtc,
            reduce_only: false,
        })
        .collect();
    (ex, reqs)
}

fn bench_one_account(c: &mut Criterion) {
    let mut g = group(c, "one_account_places");
    for n in SIZES {
        let (ex, reqs) = placing_account(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    for r in &reqs {
                        black_box(ex.submit(TraderId(1), *r));
                    }
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    let mut g = group(c, "one_account_cancels");
    for n in SIZES {
        let (mut ex, reqs) = placing_account(n);
        let ids: Vec<_> = reqs.iter().map(|r| ex.submit(TraderId(1), *r).outcome.order_id.unwrap()).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    for id in &ids {
                        black_box(ex.cancel(TraderId(1), *id).unwrap());
                    }
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
}

fn bench_ascending_load(c: &mut Criterion) {
    let mut g = group(c, "book_ascending_load");
    for n in SIZES {
        let orders: Vec<NewOrder> = (0..n as i64).map(|i| NewOrder::limit(Side::Sell, MID + i, 1)).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || (OrderBook::new(SelfTradePrevention::None), Vec::with_capacity(16)),
                |(mut book, mut events)| {
                    for o in &orders {
                        events.clear();
                        book.submit(*o, &mut events);
                    }
                    book
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    let mut g = group(c, "exchange_ascending_load");
    for n in SIZES {
        let rows = asks_ascending(n, MID);
        let ex = Exchange::new(config(MarkRule::Last)).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    ex.add_resting_orders(&rows).unwrap();
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
}

/// A short of 1 ETH entered at 3,000 whose trigger lands at `trigger` ticks (approximately: the
/// balance is solved with the first tier's MMR of 0.5%; exactness does not matter here).
fn short(id: i64, trigger: Price) -> AccountRow {
    let balance = (trigger as f64 * 1.005 - MID as f64) / 100.0; // USDT
    AccountRow {
        id: TraderId(id),
        balance: Money::from_f64(balance.max(1.0)),
        mode: MarginMode::Cross,
        lots: -ETH,
        entry_money_per_lot: Money(3 * MONEY_SCALE), // 3,000 USDT per ETH = 3 per lot
        leverage: 20,
        isolated_margin: None,
    }
}

fn shorts(n: usize) -> Vec<AccountRow> {
    // Triggers spread over +0.5% … +20%.
    (0..n as i64).map(|i| short(i, MID + 1_500 + i * 58_500 / n as i64)).collect()
}

fn bench_accounts_in_batches(c: &mut Criterion) {
    let mut g = group(c, "accounts_in_batches");
    for n in SIZES {
        let rows = shorts(n);
        let ex = Exchange::new(config(MarkRule::Index)).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    for batch in rows.chunks(1_000) {
                        ex.add_accounts(batch).unwrap();
                    }
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
}

fn bench_advance_idle(c: &mut Criterion) {
    let mut g = group(c, "advance_idle");
    let mut ex = Exchange::new(config(MarkRule::BinanceMedian)).unwrap();
    ex.add_accounts(&shorts(1_000)).unwrap();
    ex.add_resting_orders(&[(Side::Buy, MID - 100, 1_000 * ETH, None), (Side::Sell, MID + 100, 1_000 * ETH, None)])
        .unwrap();
    ex.set_index(MID);
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    ex.advance_to(n as i64 * SECOND);
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
}

fn bench_cascade_all(c: &mut Criterion) {
    let mut g = group(c, "cascade_all");
    g.measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let mut ex = Exchange::new(config(MarkRule::Index)).unwrap();
        ex.add_accounts(&shorts(n)).unwrap();
        // A background book 100 levels deep: the first close-outs fill there, the rest go to the
        // insurance fund (the backstop).
        let asks: Vec<_> = (1..=100).map(|d| (Side::Sell, MID + d * 100, 100 * ETH, None)).collect();
        ex.add_resting_orders(&asks).unwrap();
        ex.add_resting_orders(&[(Side::Buy, MID - 100, 1_000 * ETH, None)]).unwrap();
        ex.set_index(MID);
        assert!(ex.tape().liquidations.is_empty());
        // One run timed by this thread's CPU clock too: on a shared machine, wall time also counts
        // the time other processes had the core.
        let mut once = ex.clone();
        let (wall, cpu) = (std::time::Instant::now(), thread_cpu_ns());
        once.set_index(MID * 13 / 10);
        let cpu = thread_cpu_ns().zip(cpu).map(|(b, a)| (b - a) as f64 / 1e9);
        eprintln!(
            "cascade_all/{n}: one run {:.3} s wall, {} CPU; {} liquidations, {} trades, {} rounds",
            wall.elapsed().as_secs_f64(),
            cpu.map_or("n/a".to_string(), |c| format!("{c:.3} s")),
            once.tape().liquidations.len(),
            once.tape().trades.len(),
            once.cascade_rounds().0
        );
        drop(once);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    ex.set_index(MID * 13 / 10);
                    assert_eq!(ex.tape().liquidations.len(), n);
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
}

/// CPU time (user + system) of this thread in ns, at the kernel's 10 ms tick (Linux:
/// /proc/thread-self/stat fields 14 and 15, in 1/100 s).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

criterion_group!(
    benches,
    bench_ascending_load,
    bench_sweep_loaded_book,
    bench_one_account,
    bench_accounts_in_batches,
    bench_advance_idle,
    bench_cascade_all
);
criterion_main!(benches);
