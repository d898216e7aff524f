//! The simulation loop: events per second on a market-maker + noise workload, and one simulated
//! busy hour with leveraged accounts loaded (cost independent of the account count).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use liqsim_core::account::MarginMode;
use liqsim_core::agents::{AgentSpec, MarketMakerSpec, NoiseTakerSpec, Reference, SizeDist};
use liqsim_core::exchange::{AccountRow, Exchange, ExchangeConfig, LIQUIDITY_ID};
use liqsim_core::funding::MarkRule;
use liqsim_core::margin::NotionalScale;
use liqsim_core::sim::{run, IndexPoint, RunSpec};
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
        AgentSpec::MarketMaker(MarketMakerSpec {
            trader: LIQUIDITY_ID,
            reference: Reference::Mid,
            depth_10bp: 2_000_000.0,
            beta: 0.65,
            first_level_bp: 1.0,
            level_spacing_bp: 2.0,
            levels: 100,
            refresh_every: S / 10,
            refill_half_life: 20 * S,
            requote_bp: 2.0,
            pull_move: 0.0,
            pull_window: 60 * S,
            pull_liquidations: 0.0,
            pull_both_sides: false,
            reload_after: 120 * S,
            depth_schedule: Vec::new(),
        }),
        AgentSpec::NoiseTaker(NoiseTakerSpec {
            trader: TraderId(9_000_000_000),
            rate_per_s: 2.0,
            size: SizeDist::Pareto { x_min: 2_000.0, alpha: 1.5 },
            buy_share: 0.5,
        }),
    ]
}

fn busy_hour(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_busy_hour");
    group.sample_size(10);
    for accounts in [10_000usize, 100_000, 1_000_000] {
        let base = market(accounts);
        let spec = RunSpec {
            start: 0,
            end: 3600 * S,
            sample_every: S,
            seed: 1,
            check_invariants: false,
            agent_balance: Money::from_f64(1e12),
        };
        let index = [IndexPoint { ts: 0, price: 300_000 }];
        let probe = run(&mut base.clone(), &[], &index, &agents(), &spec).unwrap();
        let events = probe.events + probe.agent_actions;
        println!("busy hour, {accounts} accounts: {} events + {} agent actions", probe.events, probe.agent_actions);
        group.throughput(Throughput::Elements(events));
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, _| {
            b.iter_batched(
                || base.clone(),
                |mut ex| run(&mut ex, &[], &index, &agents(), &spec).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, busy_hour);
criterion_main!(benches);
