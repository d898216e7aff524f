//! The simulation loop over a two-instrument venue (`sim::run_venue`): events per second of one
//! simulated busy hour with a market maker and a noise taker on each book (the workload of
//! `benches/sim.rs`, once per instrument), ETH-like markets at 3,000 with mark = last.
//!
//! `sim_venue_busy_hour/singles_N`: N accounts, half in each instrument (one position each): the
//! venue's routing and cascade bookkeeping on top of two one-market loops.
//! `sim_venue_busy_hour/cross_N`: N cross accounts with a leg in each instrument (2N positions):
//! every mark move of one instrument makes the other legs of those accounts stale. With mark =
//! last both marks move at almost every event; before the bands (`multi.rs`, "Bands") every order
//! refreshed every holder (1k: 1.28 s, 10k: 13–19 s per hour, quick profile). These accounts are
//! safe over the whole 1 % box, so now a mark move inside the bands refreshes none of them and a
//! band exit (a 1 % move) refreshes all once: the cost per event no longer grows with N
//! (measured: README, "Scenarios of several markets").
//!
//! Compare with `sim_busy_hour/N` of `benches/sim.rs` (one instrument, one maker and one taker).

use criterion::{BenchmarkId, Criterion, Throughput};
use liqsim_core::account::MarginMode;
use liqsim_core::agents::{AgentSpec, MarketMakerSpec, NoiseTakerSpec, SizeDist};
use liqsim_core::exchange::{AccountRow, ExchangeConfig, LIQUIDITY_ID};
use liqsim_core::funding::MarkRule;
use liqsim_core::margin::NotionalScale;
use liqsim_core::multi::{InstrumentId, MultiExchange};
use liqsim_core::sim::{run_venue, IndexPoint, RunSpec, VenueAgentSpec, VenueRunOutput};
use liqsim_core::venue::{Venue, VenuePreset};
use liqsim_core::{Money, TraderId};

const S: i64 = 1_000_000_000;
const A: InstrumentId = InstrumentId(0);
const B: InstrumentId = InstrumentId(1);

fn venue(accounts: usize, cross: bool) -> MultiExchange {
    let cfg = |symbol: &str| {
        let preset = VenuePreset::new(Venue::Binance, "ETHUSDT").unwrap();
        let mut cfg = ExchangeConfig::new(preset, NotionalScale::from_sizes(0.01, 0.001).unwrap());
        cfg.mark_rule = MarkRule::Last;
        cfg.insurance_fund = Money::from_f64(1e7);
        (symbol.to_string(), cfg)
    };
    let mut v = MultiExchange::new(vec![cfg("AAAUSDT"), cfg("BBBUSDT")]).unwrap();
    // Leveraged accounts far from liquidation (10x, entries at the price), as in benches/sim.rs.
    let row = |id: i64, lots: i64| AccountRow {
        id: TraderId(id),
        balance: Money::from_f64(400.0),
        mode: MarginMode::Cross,
        lots,
        entry_money_per_lot: Money::from_f64(3.0),
        leverage: 10,
        isolated_margin: None,
    };
    let rows: Vec<(InstrumentId, AccountRow)> = if cross {
        (0..accounts)
            .flat_map(|k| {
                let lots = if k % 2 == 0 { 1000 } else { -1000 };
                [(A, row(k as i64 + 1, lots)), (B, row(k as i64 + 1, -lots))]
            })
            .collect()
    } else {
        (0..accounts)
            .map(|k| {
                let lots = if (k / 2) % 2 == 0 { 1000 } else { -1000 };
                (if k % 2 == 0 { A } else { B }, row(k as i64 + 1, lots))
            })
            .collect()
    };
    v.add_accounts(&rows).unwrap();
    v
}

fn agents() -> Vec<VenueAgentSpec> {
    let mut out = Vec::new();
    for (k, inst) in [A, B].into_iter().enumerate() {
        out.push(VenueAgentSpec::On(
            inst,
            AgentSpec::MarketMaker(MarketMakerSpec { depth_10bp: 2_000_000.0, ..MarketMakerSpec::new(LIQUIDITY_ID) }),
        ));
        out.push(VenueAgentSpec::On(
            inst,
            AgentSpec::NoiseTaker(NoiseTakerSpec {
                trader: TraderId(9_000_000_000 + k as i64),
                rate_per_s: 2.0,
                size: SizeDist::Pareto { x_min: 2_000.0, alpha: 1.5 },
                buy_share: 0.5,
            }),
        ));
    }
    out
}

const INDEX: [(InstrumentId, IndexPoint); 2] =
    [(A, IndexPoint { ts: 0, price: 300_000 }), (B, IndexPoint { ts: 0, price: 300_000 })];

fn spec() -> RunSpec {
    RunSpec {
        start: 0,
        end: 3600 * S,
        sample_every: S,
        seed: 1,
        check_invariants: false,
        agent_balance: Money::from_f64(1e12),
    }
}

fn events(out: &VenueRunOutput) -> u64 {
    out.events + out.agent_actions
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("sim_venue_busy_hour");
    group.sample_size(10);
    for (cross, accounts) in [(false, 10_000usize), (false, 100_000), (true, 1_000), (true, 10_000), (true, 100_000)] {
        let base = venue(accounts, cross);
        let name = format!("{}_{accounts}", if cross { "cross" } else { "singles" });
        let t = std::time::Instant::now();
        let probe = run_venue(&mut base.clone(), &[], &INDEX, &agents(), &spec()).unwrap();
        println!(
            "venue busy hour, {name}: {} events ({} loop events + {} agent actions), probe {:.3} s",
            events(&probe),
            probe.events,
            probe.agent_actions,
            t.elapsed().as_secs_f64()
        );
        group.throughput(Throughput::Elements(events(&probe)));
        group.bench_with_input(BenchmarkId::from_parameter(&name), &name, |b, _| {
            b.iter_batched(
                || base.clone(),
                |mut v| {
                    let out = run_venue(&mut v, &[], &INDEX, &agents(), &spec()).unwrap();
                    (v, out)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
    c.final_summary();
}
