//! Multi-instrument venue benchmarks (issue 14), at 10k / 100k / 1M cross accounts.
//!
//! - `multi_cascade/n`: n cross accounts, each short 0.1 BTC @ 50,000 and 1 ETH @ 3,000 (2n
//!   positions), triggers spread over +0.5 % … +20 % of BTC; BTC's index +30 %: every account is
//!   crossed and its BTC leg closed first (largest maintenance margin); Binance's bankruptcy price
//!   of a leg keeps the other legs' maintenance margin in (REFERENCE §1), so the takeovers leave
//!   each account with its ETH leg's maintenance margin; then ETH's index +30 % closes every ETH
//!   leg. Timed: both moves, 2n liquidations.
//! - `single_cascade/n`: the single-instrument reference with the same number of positions: 2n
//!   shorts of 1 ETH in one market, index +30 % (what `scaling`'s `cascade_all` does).
//!   Budget (issue 14): multi < 2× single.
//! - `single_cascade_shuffled/n`: the same with the triggers dealt to the accounts in a
//!   pseudo-random order. The multi cascade's ETH round is like that: the BTC close-outs at
//!   bankruptcy leave every ETH leg at exactly its maintenance margin, so the accounts differ in
//!   depth only by rounding, and deepest-first visits them in no order of their own. What a
//!   close-out costs when its account, its rows and its index entry are cold in cache.
//! - `multi_mark_move_same/n`, `multi_mark_move_other/n`: one ETH (BTC) index move of one tick
//!   that liquidates no one, with no instrument lagging (the setup's two moves synced both): a
//!   range query per leg index, whichever instrument moves.
//! - `multi_mark_move_both/n`: an ETH move of one tick, then a BTC move of one tick (both timed):
//!   the second move syncs the *watched* accounts open in both (their legs' `others` and
//!   triggers; `multi.rs`, "Bands": with 1 % bands, the accounts whose threshold is within about
//!   +1.6 % of BTC, a few percent of them), the cost of keeping the leg indexes exact when marks of two
//!   instruments move; after it nothing lags, so marks alternating between two instruments pay
//!   this once per two moves.
//! - `multi_mark_move_band_exit/n`: an ETH move of −2 % (out of its 1 % band; the shorts gain):
//!   the band is re-centred and all n accounts refreshed and classified.
//! - `single_mark_move/n`: the same one-tick move in a one-instrument market of n shorts.
//!
//! Setup is never timed (clones are made outside the timed region).
//!
//! **The allocator.** A cascade grows its tapes by a record per liquidation, and glibc's malloc
//! decides per block whether that costs page faults: it maps blocks above a threshold afresh, and
//! raises the threshold (and the one at which it hands the heap's top back) as it sees large
//! blocks freed. So the same cascade ran with or without page faults depending on its footprint
//! and on what ran before it: at 10k, one run had the one-market group warm (7.1 ms) and the
//! two-instrument group faulting (16.9 ms), 2.4× instead of 1.7×. For figures that compare the
//! groups, fix both thresholds at their largest:
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296`
//! (what the README's figures used); blocks above 32 MiB (the 1M markets' tapes) are still mapped
//! afresh, for both groups alike.
//!
//! Run: `cargo bench -p liqsim-core --bench multi` (or a filter: `-- multi_cascade`).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use liqsim_core::multi::{InstrumentId, MultiExchange};
use liqsim_core::Price;

#[path = "common/multi_setup.rs"]
mod multi_setup;
use multi_setup::{single, venue, BTC, BTC_MID, ETH, ETH_MID};

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// The sizes to run: all, or up to `MULTI_BENCH_MAX_N` (the setup of every size runs whatever
/// criterion's filter says, and the 1M ones take a while).
fn sizes() -> Vec<usize> {
    let max = std::env::var("MULTI_BENCH_MAX_N").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    SIZES.into_iter().filter(|&n| n <= max).collect()
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10));
    g
}

fn liquidations(v: &MultiExchange) -> usize {
    v.exchange(BTC).tape().liquidations.len() + v.exchange(ETH).tape().liquidations.len()
}

fn bench_cascades(c: &mut Criterion) {
    let mut g = group(c, "multi_cascade");
    for n in sizes() {
        let v = venue(n);
        let mut once = v.clone();
        let wall = std::time::Instant::now();
        once.set_index(BTC, BTC_MID * 13 / 10).unwrap();
        let after_btc = liquidations(&once);
        once.set_index(ETH, ETH_MID * 13 / 10).unwrap();
        eprintln!(
            "multi_cascade/{n}: one run {:.3} s wall; {} BTC + {} ETH liquidations ({after_btc} after the BTC move), \
             {} venue rounds",
            wall.elapsed().as_secs_f64(),
            once.exchange(BTC).tape().liquidations.len(),
            once.exchange(ETH).tape().liquidations.len(),
            once.rounds()
        );
        assert_eq!(liquidations(&once), 2 * n);
        drop(once);
        g.throughput(Throughput::Elements(2 * n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || v.clone(),
                |mut v| {
                    v.set_index(BTC, BTC_MID * 13 / 10).unwrap();
                    v.set_index(ETH, ETH_MID * 13 / 10).unwrap();
                    assert_eq!(liquidations(&v), 2 * n);
                    v
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    for (name, shuffled) in [("single_cascade", false), ("single_cascade_shuffled", true)] {
        let mut g = group(c, name);
        for n in sizes() {
            let ex = single(2 * n, shuffled);
            g.throughput(Throughput::Elements(2 * n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter_batched(
                    || ex.clone(),
                    |mut ex| {
                        ex.set_index(ETH_MID * 13 / 10);
                        assert_eq!(ex.tape().liquidations.len(), 2 * n);
                        ex
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }
}

fn bench_mark_moves(c: &mut Criterion) {
    let moves: [(&str, &[(InstrumentId, Price)]); 4] = [
        ("multi_mark_move_same", &[(ETH, ETH_MID + 1)]),
        ("multi_mark_move_other", &[(BTC, BTC_MID + 1)]),
        ("multi_mark_move_both", &[(ETH, ETH_MID + 1), (BTC, BTC_MID + 1)]),
        ("multi_mark_move_band_exit", &[(ETH, ETH_MID - 6_000)]),
    ];
    for (name, moves) in moves {
        let mut g = group(c, name);
        for n in sizes() {
            let v = venue(n);
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter_batched(
                    || v.clone(),
                    |mut v| {
                        for &(inst, to) in moves {
                            v.set_index(inst, to).unwrap();
                        }
                        assert_eq!(liquidations(&v), 0);
                        v
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }
    let mut g = group(c, "single_mark_move");
    for n in sizes() {
        let ex = single(n, false);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || ex.clone(),
                |mut ex| {
                    ex.set_index(ETH_MID + 1);
                    assert!(ex.tape().liquidations.is_empty());
                    ex
                },
                BatchSize::PerIteration,
            )
        });
    }
}

criterion_group!(benches, bench_cascades, bench_mark_moves);
criterion_main!(benches);
