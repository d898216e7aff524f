//! The two-instrument cascade against the one-market cascade of the same 2n positions
//! (`benches/multi.rs`: `multi_cascade/n`, `single_cascade/n`, `single_cascade_shuffled/n`, same
//! setups), interleaved: each repetition runs the three one after the other on fresh copies, so
//! that all three see the same machine load, and the medians' ratio is printed. On a shared
//! machine criterion's groups run minutes apart and the one-market figure alone moved by 25 %
//! between runs; this is the ratio the budget (issue 14: under 2×) is about.
//!
//! Run: `cargo run -p liqsim-core --profile bench --example multi_ratio -- 100000 7` (n, repetitions),
//! with the allocator's thresholds fixed as `benches/multi.rs` explains ("The allocator"):
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296`.

use std::time::Instant;

#[path = "../benches/common/multi_setup.rs"]
mod multi_setup;
use multi_setup::{single, venue, BTC, BTC_MID, ETH, ETH_MID};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7).max(1);
    let (v, plain, shuffled) = (venue(n), single(2 * n, false), single(2 * n, true));
    let (mut multi_ms, mut single_ms, mut shuffled_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let mut c = v.clone();
        let t = Instant::now();
        c.set_index(BTC, BTC_MID * 13 / 10).unwrap();
        c.set_index(ETH, ETH_MID * 13 / 10).unwrap();
        multi_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let liquidations = c.exchange(BTC).tape().liquidations.len() + c.exchange(ETH).tape().liquidations.len();
        assert_eq!(liquidations, 2 * n);
        drop(c);
        for (ex, out) in [(&plain, &mut single_ms), (&shuffled, &mut shuffled_ms)] {
            let mut c = ex.clone();
            let t = Instant::now();
            c.set_index(ETH_MID * 13 / 10);
            out.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(c.tape().liquidations.len(), 2 * n);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (m, s, h) = (median(&mut multi_ms), median(&mut single_ms), median(&mut shuffled_ms));
    println!(
        "n = {n}, medians of {reps}: two instruments {m:.2} ms, one market {s:.2} ms ({:.2}x), \
         one market shuffled {h:.2} ms ({:.2}x)",
        m / s,
        m / h
    );
}
