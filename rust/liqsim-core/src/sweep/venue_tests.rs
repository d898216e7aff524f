//! Venue sweeps on a hand-built two-instrument market, as in `sim::venue`'s tests: BTC-like
//! (tick 0.1, lot 0.001, one tier MMR 0.5 %) and ETH-like (tick 0.01, lot 0.001, MMR 1 %),
//! Binance rules, no trading or liquidation fees (so a close-out costs exactly its fills), mark =
//! index.

use super::*;
use crate::agents::{MarketMakerSpec, NoiseTakerSpec, Reference, SizeDist};
use crate::exchange::test_fixtures::index_market;
use crate::exchange::LIQUIDITY_ID;
use crate::margin::{Rate, TierTable};
use crate::types::Qty;
use crate::MONEY_SCALE;

const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);
const S: Ts = 1_000_000_000;

fn usdt(x: f64) -> Money {
    Money::from_f64(x)
}

fn per_lot(price: f64) -> Money {
    Money((price * MONEY_SCALE as f64 / 1000.0).round() as i128)
}

fn row(id: i64, lots: Qty, entry: f64, balance: f64, leverage: u32) -> AccountRow {
    AccountRow {
        id: TraderId(id),
        balance: usdt(balance),
        mode: MarginMode::Cross,
        lots,
        entry_money_per_lot: per_lot(entry),
        leverage,
        isolated_margin: None,
    }
}

/// The venue at BTC 50,000.0 / ETH 3,000.00 with one cross account (trader 1) short 0.2 BTC @
/// 50,000 and short 2 ETH @ 3,000 with 800 USDT (in its BTC row), one long per instrument on the
/// other side, and 100 ETH of asks at 3,000.50 (bids at 2,999.50) in the ETH book.
fn venue() -> MultiExchange {
    let market = |symbol: &str, tick: f64, mmr: i64| {
        index_market(symbol, tick, TierTable::single(Rate(mmr), 100).unwrap(), Some(Rate::ZERO), 1_000_000.0)
    };
    let mut v = MultiExchange::new(vec![market("BTCUSDT", 0.1, 500_000), market("ETHUSDT", 0.01, 1_000_000)]).unwrap();
    v.add_accounts(&[
        (BTC, row(1, -200, 50_000.0, 800.0, 50)),
        (ETH, row(1, -2_000, 3_000.0, 0.0, 50)),
        (BTC, row(2, 200, 50_000.0, 10_000_000.0, 10)),
        (ETH, row(3, 2_000, 3_000.0, 10_000_000.0, 10)),
    ])
    .unwrap();
    v.add_resting_orders(ETH, &[(Side::Sell, 300_050, 100_000, None), (Side::Buy, 299_950, 100_000, None)]).unwrap();
    v.set_index(BTC, 500_000).unwrap();
    v.set_index(ETH, 300_000).unwrap();
    v
}

fn spec(end: Ts, seed: u64) -> RunSpec {
    RunSpec { start: 0, end, sample_every: S, seed, check_invariants: true, agent_balance: usdt(1e9) }
}

fn btc_index_at_5s(price: Price) -> VenueRunPlan {
    RunPlan {
        spec: spec(10 * S, 1),
        agents: vec![],
        shock_orders: vec![],
        shock_index: vec![(BTC, IndexPoint { ts: 5 * S, price })],
    }
}

#[test]
fn a_btc_index_shock_liquidates_the_eth_short_through_cross_margin() {
    // Trader 1 at a BTC mark P (ETH at 3,000): equity 800 − 0.2 (P − 50,000), maintenance
    // 0.5 % × 0.2 P + 1 % × 6,000 = 0.001 P + 60 (Binance single tier, MMR 0.5 % / 1 %): under
    // maintenance once 10,740 < 0.201 P, P > 53,432.84. So 53,400 leaves it alone and 53,500
    // liquidates it; the venue closes the leg with the larger MM first, ETH's (60 > 53.5): 2 ETH
    // bought at the 3,000.50 asks = 6,001.00 USDT of shorts liquidated in ETH, whose index never
    // moved. Then equity 800 − 700 − 1 = 99 > 53.5: the BTC leg stays.
    let base = venue();
    let plans = [btc_index_at_5s(534_000), btc_index_at_5s(535_000)];
    let out = run_many(&base, &[], &[], &plans, Some(2));
    let calm = out[0].as_ref().unwrap();
    assert_eq!(calm.venue.liquidated_short_count + calm.venue.liquidated_long_count, 0);
    let hit = out[1].as_ref().unwrap();
    let (btc, eth) = (&hit.instruments[0], &hit.instruments[1]);
    assert_eq!((eth.liquidated_short_count, eth.liquidated_long_count), (1, 0));
    assert_eq!(eth.liquidated_short, usdt(6_001.0));
    assert_eq!(eth.final_mark, Some(300_000), "ETH's mark is its untouched index");
    assert_eq!(eth.final_last, Some(300_050));
    assert_eq!(btc.liquidated_short_count + btc.liquidated_long_count, 0);
    assert_eq!(btc.final_mark, Some(535_000));
    assert!(btc.bid_exhausted && btc.ask_exhausted, "the BTC book is empty");
    assert_eq!(hit.venue.liquidated_short, usdt(6_001.0));
    assert_eq!(hit.venue.liquidated_short_count, 1);
    assert_eq!(hit.venue.deepest_round, eth.deepest_round);
    assert!(hit.venue.final_last.is_none(), "no venue-wide price");
    // The base venue is untouched: trader 1 still holds both legs.
    assert_eq!(base.legs(TraderId(1)).len(), 2);
    assert!(base.exchange(ETH).tape().liquidations.is_empty());
}

fn shock(inst: InstrumentId, ts: Ts, side: Side, qty: Qty) -> (InstrumentId, ScenarioOrder) {
    (inst, ScenarioOrder::market(ts, SHOCK_TRADER, side, qty))
}

#[test]
fn a_shock_order_trades_in_its_symbol_from_one_cross_shock_account() {
    // 3 ETH bought at 3,000.50 (the only ask level); the shock trader gets one cross account with
    // a leg in ETH only (the instrument it trades), funded with the agent balance.
    let base = venue();
    let plan = RunPlan {
        spec: spec(10 * S, 1),
        agents: vec![],
        shock_orders: vec![shock(ETH, 2 * S, Side::Buy, 3_000)],
        shock_index: vec![],
    };
    let s = run_one(&base, &[], &[], &plan).unwrap();
    assert_eq!(s.instruments[1].final_last, Some(300_050));
    assert_eq!(s.instruments[0].final_last, None);
    assert_eq!(s.venue.events, 1);
    assert!(base.legs(SHOCK_TRADER).is_empty(), "the base venue gets no shock account");
}

#[test]
fn a_failed_run_is_reported_in_its_slot_and_the_others_run() {
    let base = venue();
    let good = btc_index_at_5s(535_000);
    let mut unsorted = btc_index_at_5s(535_000);
    unsorted.shock_index.push((BTC, IndexPoint { ts: S, price: 500_000 }));
    let mut unknown = btc_index_at_5s(535_000);
    unknown.shock_orders.push(shock(InstrumentId(7), 2 * S, Side::Buy, 1_000));
    let out = run_many(&base, &[], &[], &[unsorted, good.clone(), unknown, good], Some(2));
    match &out[0] {
        Err(Error::InTable { table: "shock_index", column: "ts", row: 1, .. }) => {}
        other => panic!("unsorted shock rows: {other:?}"),
    }
    match &out[2] {
        Err(Error::InTable { table: "orders", column: "symbol", .. }) => {}
        other => panic!("a shock in an instrument the venue lacks: {other:?}"),
    }
    for k in [1, 3] {
        assert_eq!(out[k].as_ref().unwrap().instruments[1].liquidated_short_count, 1);
    }
}

fn maker(inst: InstrumentId, depth_10bp: f64) -> VenueAgentSpec {
    VenueAgentSpec::On(
        inst,
        AgentSpec::MarketMaker(MarketMakerSpec {
            reference: Reference::Index,
            depth_10bp,
            levels: 50,
            refill_half_life: 5 * S,
            pull_window: 5 * S,
            reload_after: 60 * S,
            ..MarketMakerSpec::new(LIQUIDITY_ID)
        }),
    )
}

fn noise(inst: InstrumentId, trader: i64) -> VenueAgentSpec {
    VenueAgentSpec::On(
        inst,
        AgentSpec::NoiseTaker(NoiseTakerSpec {
            trader: TraderId(trader),
            rate_per_s: 4.0,
            size: SizeDist::Pareto { x_min: 2_000.0, alpha: 1.5 },
            buy_share: 0.55,
        }),
    )
}

/// A summary as text with its wall time zeroed: the one field that is not reproducible.
fn without_wall_time(r: &Result<VenueRunSummary, Error>) -> String {
    match r {
        Ok(s) => {
            let mut s = s.clone();
            <MultiExchange as SweepMarket>::set_wall_time(&mut s, 0.0);
            format!("{s:?}")
        }
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn the_same_plans_give_the_same_figures_on_any_thread_count_and_match_run_venue() {
    // Random taker flow in both books and a BTC jump in half the plans: seeds matter, so equal
    // summaries across thread counts mean each run depends only on its plan.
    let base = venue();
    let agents = vec![maker(BTC, 300_000.0), maker(ETH, 200_000.0), noise(BTC, 2_000_000), noise(ETH, 2_000_001)];
    let index = vec![(BTC, IndexPoint { ts: 0, price: 500_000 }), (ETH, IndexPoint { ts: 0, price: 300_000 })];
    let plans: Vec<VenueRunPlan> = (0..8u64)
        .map(|k| RunPlan {
            spec: RunSpec { check_invariants: false, ..spec(20 * S, 100 + k / 2) },
            agents: agents.clone(),
            shock_orders: vec![],
            shock_index: if k % 2 == 1 { vec![(BTC, IndexPoint { ts: 8 * S, price: 536_000 })] } else { vec![] },
        })
        .collect();
    let one: Vec<String> = run_many(&base, &[], &index, &plans, Some(1)).iter().map(without_wall_time).collect();
    let three: Vec<String> = run_many(&base, &[], &index, &plans, Some(3)).iter().map(without_wall_time).collect();
    assert_eq!(one, three);
    assert_ne!(one[0], one[2], "another seed, another run");
    assert!(one[1].contains("liquidated_short_count: 1"), "the jump liquidates trader 1's ETH leg: {}", one[1]);
    // A sweep run is the venue run of its plan on a clone.
    let mut v = base.clone();
    let out = sim::run_venue(&mut v, &[], &index, &agents, &plans[0].spec).unwrap();
    let s = run_one(&base, &[], &index, &plans[0]).unwrap();
    assert_eq!(s.venue.events, out.events);
    for k in 0..2 {
        let inst = InstrumentId(k as u32);
        let tape = v.exchange(inst).tape();
        let short = tape.liquidations.iter().filter(|l| l.side == Side::Sell).count() as u64;
        assert_eq!(s.instruments[k].liquidated_short_count, short);
        assert_eq!(s.instruments[k].final_last, v.exchange(inst).last());
        let lasts: Vec<Price> = out.series.iter().filter(|r| r.0 == inst).filter_map(|r| r.1.last).collect();
        assert_eq!(s.instruments[k].peak_last, lasts.iter().copied().max());
    }
}
