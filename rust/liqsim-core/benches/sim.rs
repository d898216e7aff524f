//! The simulation loop: events per second on a market-maker + noise workload, and one simulated
//! busy hour with 10k / 100k / 1M leveraged accounts loaded (far from liquidation: no work of
//! their own; the same instruction count whatever their number, the time not quite: see the
//! README).
//!
//! An event is an index update, a scenario order, an agent wake-up, or an order, cancel or index
//! update an agent sent (`RunOutput::events + agent_actions`). `sim_events/N` runs the busy
//! market for as long as it takes to produce about N events (cost per event should not grow
//! with N); `sim_busy_hour/N` runs one hour with N accounts loaded.
//!
//! `SIM_ONCE=SECONDS cargo bench -p liqsim-core --bench sim` runs the workload (100k accounts)
//! once for that many simulated seconds and prints the event count and rate (for `perf` /
//! `valgrind --tool=callgrind` on the bench binary, without criterion's repetitions);
//! `SIM_REPEAT=N` runs it N times on clones of one market and prints the median and best;
//! `SIM_ACCOUNTS=N` loads N accounts instead of 100k.

use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use liqsim_core::account::MarginMode;
use liqsim_core::agents::{AgentSpec, MarketMakerSpec, NoiseTakerSpec, SizeDist};
use liqsim_core::exchange::{AccountRow, Exchange, ExchangeConfig, LIQUIDITY_ID};
use liqsim_core::funding::MarkRule;
use liqsim_core::margin::NotionalScale;
use liqsim_core::sim::{run, IndexPoint, RunOutput, RunSpec};
use liqsim_core::venue::{Venue, VenuePreset};
use liqsim_core::{Money, TraderId};

const S: i64 = 1_000_000_000;

fn market(accounts: usize) -> Exchange {
    let preset = VenuePreset::new(Venue::Binance, "ETHUSDT").unwrap();
    let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(0.01, 0.001).unwrap());
    cfg.mark_rule = MarkRule::Last;
    cfg.insurance_fund = Money::from_f64(1e7);
    let mut ex = Exchange::new(cfg).unwrap();
    // Leveraged accounts far from liquidation (10x, entries at the price): they cost memory and
    // index space, not work, unless price reaches them.
    let rows: Vec<AccountRow> = (0..accounts)
        .map(|k| AccountRow {
            id: TraderId(k as i64 + 1),
            balance: Money::from_f64(400.0),
            mode: MarginMode::Cross,
            lots: if k % 2 == 0 { 1000 } else { -1000 },
            entry_money_per_lot: Money::from_f64(3.0),
            leverage: 10,
            isolated_margin: None,
        })
        .collect();
    ex.add_accounts(&rows).unwrap();
    ex
}

fn agents() -> Vec<AgentSpec> {
    vec![
        AgentSpec::MarketMaker(MarketMakerSpec { depth_10bp: 2_000_000.0, ..MarketMakerSpec::new(LIQUIDITY_ID) }),
        AgentSpec::NoiseTaker(NoiseTakerSpec {
            trader: TraderId(9_000_000_000),
            rate_per_s: 2.0,
            size: SizeDist::Pareto { x_min: 2_000.0, alpha: 1.5 },
            buy_share: 0.5,
        }),
    ]
}

fn spec(seconds: i64) -> RunSpec {
    RunSpec {
        start: 0,
        end: seconds * S,
        sample_every: S,
        seed: 1,
        check_invariants: false,
        agent_balance: Money::from_f64(1e12),
    }
}

const INDEX: [IndexPoint; 1] = [IndexPoint { ts: 0, price: 300_000 }];

fn events(out: &RunOutput) -> u64 {
    out.events + out.agent_actions
}

/// Simulated seconds of the busy market that give about `n` events (measured rate: ~14.2 events
/// per second of market time: 10 maker wakes, ~2 noise wakes and their orders, the maker's
/// top-ups and cancels).
fn seconds_for(n: u64) -> i64 {
    (n as f64 / 14.2).round() as i64
}

fn by_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_events");
    group.sample_size(10);
    let base = market(100_000);
    for n in [10_000u64, 100_000, 1_000_000] {
        let spec = spec(seconds_for(n));
        let probe = run(&mut base.clone(), &[], &INDEX, &agents(), &spec).unwrap();
        println!(
            "{n} events nominal: {} s simulated, {} events ({} loop events + {} agent actions)",
            spec.end / S,
            events(&probe),
            probe.events,
            probe.agent_actions
        );
        group.throughput(Throughput::Elements(events(&probe)));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || base.clone(),
                // The exchange is returned, not dropped: freeing 100k accounts is not the loop's cost.
                |mut ex| {
                    let out = run(&mut ex, &[], &INDEX, &agents(), &spec).unwrap();
                    (ex, out)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn busy_hour(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_busy_hour");
    group.sample_size(10);
    let spec = spec(3600);
    for accounts in [10_000usize, 100_000, 1_000_000] {
        let base = market(accounts);
        let probe = run(&mut base.clone(), &[], &INDEX, &agents(), &spec).unwrap();
        println!(
            "busy hour, {accounts} accounts: {} events ({} loop events + {} agent actions)",
            events(&probe),
            probe.events,
            probe.agent_actions
        );
        group.throughput(Throughput::Elements(events(&probe)));
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, _| {
            b.iter_batched(
                || base.clone(),
                |mut ex| {
                    let out = run(&mut ex, &[], &INDEX, &agents(), &spec).unwrap();
                    (ex, out)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn main() {
    if let Ok(seconds) = std::env::var("SIM_ONCE") {
        let seconds: i64 = seconds.parse().expect("SIM_ONCE: simulated seconds");
        let repeat: usize = std::env::var("SIM_REPEAT").map_or(1, |r| r.parse().expect("SIM_REPEAT: runs"));
        let base = market(std::env::var("SIM_ACCOUNTS").map_or(100_000, |a| a.parse().unwrap()));
        let mut walls = Vec::with_capacity(repeat);
        let mut n = 0;
        for _ in 0..repeat {
            let mut ex = base.clone();
            let t = Instant::now();
            let out = run(&mut ex, &[], &INDEX, &agents(), &spec(seconds)).unwrap();
            walls.push(t.elapsed().as_secs_f64());
            n = events(&out);
            if repeat == 1 {
                println!("{} loop events + {} agent actions", out.events, out.agent_actions);
            }
        }
        walls.sort_by(f64::total_cmp);
        let (best, median) = (walls[0], walls[walls.len() / 2]);
        println!(
            "{seconds} s simulated, {n} events, {repeat} runs: median {:.2} ms = {:.2} M events/s, best {:.2} ms = {:.2} M events/s",
            median * 1e3,
            n as f64 / median / 1e6,
            best * 1e3,
            n as f64 / best / 1e6
        );
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    by_events(&mut c);
    busy_hour(&mut c);
    c.final_summary();
}
