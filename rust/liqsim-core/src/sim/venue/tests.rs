//! Venue runs on hand-built two-instrument markets: BTC-like (tick 0.1, lot 0.001, MMR 0.5 %) and
//! ETH-like (tick 0.01, lot 0.001, MMR 1 %), Binance rules, no trading fees, mark = index.

use proptest::prelude::*;

use super::*;
use crate::agents::{MarketMakerSpec, NoiseTakerSpec, Reference, SizeDist};
use crate::book::TimeInForce;
use crate::exchange::test_fixtures::index_market;
use crate::exchange::OrderRequest;
use crate::margin::{Rate, TierTable};
use crate::sim::OrderAction;
use crate::stops::TriggerOn;
use crate::types::Qty;
use crate::MONEY_SCALE;

const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);
const S: Ts = 1_000_000_000;

fn usdt(x: f64) -> Money {
    Money::from_f64(x)
}

fn venue() -> MultiExchange {
    let market = |symbol: &str, tick: f64, mmr: i64| {
        index_market(symbol, tick, TierTable::single(Rate(mmr), 100).unwrap(), None, 1_000_000.0)
    };
    MultiExchange::new(vec![market("BTCUSDT", 0.1, 500_000), market("ETHUSDT", 0.01, 1_000_000)]).unwrap()
}

fn maker(inst: InstrumentId, depth_10bp: f64) -> VenueAgentSpec {
    VenueAgentSpec::On(
        inst,
        AgentSpec::MarketMaker(MarketMakerSpec {
            reference: Reference::Index,
            depth_10bp,
            refill_half_life: 5 * S,
            pull_window: 5 * S,
            reload_after: 60 * S,
            ..MarketMakerSpec::new(LIQUIDITY_ID)
        }),
    )
}

fn flat_index(btc: Price, eth: Price) -> Vec<(InstrumentId, IndexPoint)> {
    vec![(BTC, IndexPoint { ts: 0, price: btc }), (ETH, IndexPoint { ts: 0, price: eth })]
}

fn run_spec(end: Ts, seed: u64) -> RunSpec {
    RunSpec { start: 0, end, sample_every: S, seed, check_invariants: true, agent_balance: usdt(1e9) }
}

#[test]
fn cross_momentum_buys_the_follower_a_lag_after_the_leader_breaks_out() {
    // Leader 50,000.0 (500,000 ticks) for 5 s, then 50,600.0 at 5 s: +1.2 % over the 5 s window
    // (> 1 %), seen at the 5 s check; the buy goes out 3 s later, at 8 s: 30,000 USDT at the ETH
    // last 3,000.50 = 9.99833 ETH → 9,998 whole lots, filled at the 3,000.50 ask. A +0.8 % move
    // sends nothing.
    let spec = CrossMomentumSpec {
        trader: TraderId(7),
        leader: BTC,
        follower: ETH,
        check_every: S,
        window: 5 * S,
        lag: 3 * S,
        threshold: 0.01,
        notional: 30_000.0,
    };
    for (jump, expect) in [(506_000, Some(9_998)), (504_000, None)] {
        let mut v = venue();
        let row = AccountRow {
            id: TraderId(7),
            balance: usdt(100_000.0),
            mode: MarginMode::Cross,
            lots: 0,
            entry_money_per_lot: Money::ZERO,
            leverage: 10,
            isolated_margin: None,
        };
        v.add_accounts(&[(ETH, row)]).unwrap();
        v.add_resting_orders(ETH, &[(Side::Buy, 299_950, 50_000, None), (Side::Sell, 300_050, 50_000, None)]).unwrap();
        v.set_index(ETH, 300_000).unwrap();
        // A last price for the follower: 1 lot at the ask.
        v.add_accounts(&[(ETH, AccountRow { id: TraderId(8), ..row })]).unwrap();
        let one = OrderRequest { side: Side::Buy, qty: 1, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        v.submit(ETH, TraderId(8), one).unwrap();
        let ctx = AgentContext { scale: v.exchange(ETH).config().scale, liquidated_quote: [0.0; 2] };
        let mut a = CrossMomentum::new(spec.clone(), 0);
        let mut sent = Vec::new();
        while a.next_wake() <= 12 * S {
            let t = a.next_wake();
            let leader = if t < 5 * S { 500_000 } else { jump };
            let mut m = InstrumentMarket::new(&mut v, ETH).unwrap();
            if a.wake(t, Some(leader), &mut m, &ctx) > 0 {
                sent.push(t);
            }
        }
        let mine: Vec<(Qty, Price)> =
            v.exchange(ETH).tape().trades.iter().filter(|t| t.taker == TraderId(7)).map(|t| (t.qty, t.price)).collect();
        match expect {
            Some(lots) => {
                assert_eq!(sent, vec![8 * S]);
                assert_eq!(mine, vec![(lots, 300_050)]);
            }
            None => {
                assert!(sent.is_empty());
                assert!(mine.is_empty());
            }
        }
    }
}

/// The spill-over market: `n` accounts short 0.2 BTC @ 50,000 and short 2 ETH @ 3,000, with
/// 800 + 10 k USDT each. Cross: one account with both legs (the wallet in the BTC row).
/// Isolated: two traders per account, the BTC one with 10/16 of the money as isolated margin and
/// the ETH one with 6/16 (in proportion to the notionals, 10,000 and 6,000).
fn spill_over(n: usize, cross: bool) -> MultiExchange {
    let mut v = venue();
    let mut rows = Vec::new();
    let per_lot = |price: f64| Money((price * MONEY_SCALE as f64 / 1000.0).round() as i128);
    for k in 0..n {
        let w = 800.0 + 10.0 * k as f64;
        let id = k as i64 + 1;
        let leg = |inst, id, lots, entry: f64, balance: f64, iso: Option<f64>| {
            (
                inst,
                AccountRow {
                    id: TraderId(id),
                    balance: usdt(balance),
                    mode: if iso.is_some() { MarginMode::Isolated } else { MarginMode::Cross },
                    lots,
                    entry_money_per_lot: per_lot(entry),
                    leverage: 50,
                    isolated_margin: iso.map(usdt),
                },
            )
        };
        if cross {
            rows.push(leg(BTC, id, -200, 50_000.0, w, None));
            rows.push(leg(ETH, id, -2_000, 3_000.0, 0.0, None));
        } else {
            rows.push(leg(BTC, id, -200, 50_000.0, 0.0, Some(w * 10.0 / 16.0)));
            rows.push(leg(ETH, id + 100_000, -2_000, 3_000.0, 0.0, Some(w * 6.0 / 16.0)));
        }
    }
    // The other side of the positions: one long per instrument with plenty of money.
    let long = |inst, id, lots, entry: f64| {
        (
            inst,
            AccountRow {
                id: TraderId(id),
                balance: usdt(10_000_000.0),
                mode: MarginMode::Cross,
                lots,
                entry_money_per_lot: per_lot(entry),
                leverage: 10,
                isolated_margin: None,
            },
        )
    };
    rows.push(long(BTC, 1_000_000, 200 * n as Qty, 50_000.0));
    rows.push(long(ETH, 1_000_001, 2_000 * n as Qty, 3_000.0));
    v.add_accounts(&rows).unwrap();
    v
}

/// BTC breaks out: index 50,000 → 57,500 (+15 %) from 10 s to 60 s, a row a second; ETH's index
/// stays at 3,000.
fn breakout() -> Vec<(InstrumentId, IndexPoint)> {
    let mut rows = flat_index(500_000, 300_000);
    for s in 10..=60 {
        rows.push((BTC, IndexPoint { ts: s * S, price: 500_000 + (s - 10) * 1_500 }));
    }
    rows
}

fn liquidated_lots(v: &MultiExchange, inst: InstrumentId) -> Qty {
    v.exchange(inst).tape().liquidations.iter().map(|l| l.qty).sum()
}

#[test]
fn a_btc_breakout_liquidates_eth_shorts_through_cross_margin_only() {
    // Cross: equity W − 0.2 (P − 50,000) against MM ≈ 0.005 × 0.2 P + 60 (ETH 1 % of 6,000): under
    // maintenance from P ≈ 50,000 + (W − 110) / 0.2, i.e. +6.9 % (W = 800) to +9.6 % (W = 1,290),
    // all inside the +15 % breakout; each account's ETH leg (MM 60 > BTC's ≈ 55) is closed first,
    // with ETH's index (and so its mark) flat. Isolated: the BTC positions (margin 500..806, MM
    // ≈ 55) go from +4.5 %, the ETH ones (margin 300..484 on 6,000, MM 60) never.
    let n = 50;
    let agents = [maker(BTC, 2_000_000.0), maker(ETH, 2_000_000.0)];
    let mut results = Vec::new();
    for cross in [true, false] {
        let mut v = spill_over(n, cross);
        let out = run_venue(&mut v, &[], &breakout(), &agents, &run_spec(90 * S, 1)).unwrap();
        let eth_marks: Vec<Price> = out.series.iter().filter(|r| r.0 == ETH).filter_map(|r| r.1.mark).collect();
        assert!(eth_marks.iter().all(|&m| m == 300_000), "ETH's mark is its flat index");
        let eth_last_max = out.series.iter().filter(|r| r.0 == ETH).filter_map(|r| r.1.last).max().unwrap_or(0);
        assert!(eth_last_max < 301_500, "ETH trades within 0.5 % of 3,000: {eth_last_max}");
        assert_eq!(out.series.len(), 2 * 91);
        results.push((liquidated_lots(&v, BTC), liquidated_lots(&v, ETH)));
    }
    let ((btc_cross, eth_cross), (btc_iso, eth_iso)) = (results[0], results[1]);
    assert_eq!(eth_cross, 2_000 * n as Qty, "every cross account's ETH short is closed");
    assert_eq!(eth_iso, 0, "no isolated ETH short is touched");
    assert_eq!(btc_iso, 200 * n as Qty);
    assert!(btc_cross > 0);
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

fn busy_agents() -> Vec<VenueAgentSpec> {
    vec![
        maker(BTC, 300_000.0),
        maker(ETH, 200_000.0),
        noise(BTC, 2_000_000),
        noise(ETH, 2_000_001),
        VenueAgentSpec::CrossMomentum(CrossMomentumSpec {
            trader: TraderId(2_000_002),
            leader: BTC,
            follower: ETH,
            check_every: S,
            window: 5 * S,
            lag: 2 * S,
            threshold: 0.002,
            notional: 50_000.0,
        }),
    ]
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let go = |seed| {
        let mut v = spill_over(40, true);
        let out = run_venue(&mut v, &[], &breakout(), &busy_agents(), &run_spec(60 * S, seed)).unwrap();
        let tapes: Vec<String> = (0..2)
            .map(|k| {
                let t = v.exchange(InstrumentId(k)).tape();
                format!("{:?} {:?}", t.trades, t.liquidations)
            })
            .collect();
        (out, tapes, format!("{:?}", v.transfers()))
    };
    let (a, b, c) = (go(7), go(7), go(8));
    assert!(a.0 == b.0, "series differ");
    assert!(a.1 == b.1, "tapes differ");
    assert_eq!(a.2, b.2);
    assert_ne!(a.1, c.1);
    assert!(a.0.agent_actions > 100, "agent actions {}", a.0.agent_actions);
    // The cross momentum taker followed the breakout into ETH.
    let follower = a.1[1].matches("taker: TraderId(2000002)").count();
    assert!(follower > 0, "the cross momentum taker traded");
}

#[test]
fn scenario_rows_are_routed_to_their_symbol_and_errors_name_the_row() {
    let mut v = spill_over(2, true);
    let order = |ts, inst, side, order_ref, action| {
        (
            inst,
            ScenarioOrder {
                ts,
                trader: TraderId(1_000_001),
                action,
                side,
                price: Some(if inst == BTC { 490_000 } else { 290_000 }),
                qty: 1_000,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                order_ref,
                trigger: None,
                trigger_on: TriggerOn::Last,
                trail: None,
                oco: None,
            },
        )
    };
    // Trader 1,000,001 holds ETH only: its BTC order is an error naming the row.
    let orders =
        [order(S, ETH, Side::Buy, Some(1), OrderAction::Limit), order(2 * S, BTC, Side::Buy, None, OrderAction::Limit)];
    let err = run_venue(&mut v.clone(), &orders, &flat_index(500_000, 300_000), &[], &run_spec(5 * S, 1)).unwrap_err();
    assert!(matches!(err, Error::InTable { table: "orders", column: "trader_id", row: 1, .. }), "{err:?}");
    // A cancel in another symbol than its order: named too.
    let orders = [
        order(S, ETH, Side::Buy, Some(1), OrderAction::Limit),
        order(2 * S, BTC, Side::Buy, Some(1), OrderAction::Cancel),
    ];
    let err = run_venue(&mut v.clone(), &orders, &flat_index(500_000, 300_000), &[], &run_spec(5 * S, 1)).unwrap_err();
    assert!(matches!(err, Error::InTable { table: "orders", column: "symbol", row: 1, .. }), "{err:?}");
    // Rest in ETH, then cancel there.
    let orders = [
        order(S, ETH, Side::Buy, Some(1), OrderAction::Limit),
        order(2 * S, ETH, Side::Buy, Some(1), OrderAction::Cancel),
    ];
    let out = run_venue(&mut v, &orders, &flat_index(500_000, 300_000), &[], &run_spec(5 * S, 1)).unwrap();
    assert!(out.refused_orders.is_empty());
    // Rows: (0 s, BTC), (0 s, ETH), (1 s, BTC), (1 s, ETH), …; the order at 1 s runs before the
    // sample at 1 s.
    assert_eq!((out.series[3].0, out.series[3].1.ts), (ETH, S));
    assert_eq!(out.series[3].1.best_bid, Some(290_000), "ETH row at 1 s shows the bid");
    assert_eq!(out.series[2].1.best_bid, None, "BTC's book is empty");
    assert_eq!(out.series[5].1.best_bid, None, "cancelled by 2 s");
    assert!(v.exchange(BTC).book().best_bid().is_none());
}

fn scenario_strategy() -> impl Strategy<Value = (Vec<(i64, i64, u32)>, Vec<(u8, i64, i64)>, u64)> {
    (
        proptest::collection::vec((-400i64..400, -4_000i64..4_000, 100u32..3_000), 1..10),
        proptest::collection::vec((0u8..2, 1i64..20, -300i64..300), 0..12),
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random small two-instrument scenarios (cross accounts with legs in both, index moves on
    /// either, makers and noise takers on both books, the cross momentum taker) run with the
    /// venue's invariants checked after every event (money across the venue, zero-sum positions
    /// per instrument, fresh legs, nobody left under maintenance).
    #[test]
    fn random_venue_runs_keep_the_invariants((legs, moves, seed) in scenario_strategy()) {
        let mut v = venue();
        let per_lot = |price: f64| Money((price * MONEY_SCALE as f64 / 1000.0).round() as i128);
        let mut rows = Vec::new();
        let (mut net_btc, mut net_eth) = (0, 0);
        for (k, &(btc, eth, w)) in legs.iter().enumerate() {
            let id = TraderId(k as i64 + 1);
            let row = |lots, entry, balance| AccountRow {
                id, balance: usdt(balance), mode: MarginMode::Cross, lots,
                entry_money_per_lot: if lots == 0 { Money::ZERO } else { per_lot(entry) },
                leverage: 20, isolated_margin: None,
            };
            rows.push((BTC, row(btc, 50_000.0, w as f64)));
            rows.push((ETH, row(eth, 3_000.0, 0.0)));
            net_btc += btc;
            net_eth += eth;
        }
        let other = |id, lots: Qty, entry| AccountRow {
            id: TraderId(id), balance: usdt(10_000_000.0), mode: MarginMode::Cross, lots: -lots,
            entry_money_per_lot: if lots == 0 { Money::ZERO } else { per_lot(entry) }, leverage: 10, isolated_margin: None,
        };
        rows.push((BTC, other(900_000, net_btc, 50_000.0)));
        rows.push((ETH, other(900_001, net_eth, 3_000.0)));
        v.add_accounts(&rows).unwrap();
        let mut index = flat_index(500_000, 300_000);
        let mut price = [500_000i64, 300_000];
        let mut ts = 0;
        for &(k, dt, bp) in &moves {
            ts += dt * S / 2;
            if ts > 30 * S { break; }
            price[k as usize] = price[k as usize] * (10_000 + bp) / 10_000;
            index.push((InstrumentId(k as u32), IndexPoint { ts, price: price[k as usize] }));
        }
        let out = run_venue(&mut v, &[], &index, &busy_agents(), &run_spec(30 * S, seed));
        prop_assert!(out.is_ok(), "{:?}", out.err());
        for k in 0..2 {
            let net: i64 = v.exchange(InstrumentId(k)).accounts().iter().map(|a| a.position.lots).sum();
            prop_assert_eq!(net, 0);
        }
        v.check_invariants().map_err(TestCaseError::fail)?;
    }
}

#[test]
fn kept_states_are_the_venue_at_their_sample_and_leave_the_run_unchanged() {
    // States at 20 s and 35.5 s (kept at the 36 s sample, the first at or after it) of the busy
    // breakout run: each is the venue a run ending at that sample leaves, byte for byte (the
    // markets' Debug and the transfers: the venue's own trader map is a HashMap, whose Debug order
    // differs between two maps with the same entries), and keeping them changes nothing in the run.
    let print = |v: &MultiExchange| format!("{:?} {:?} {:?}", v.exchange(BTC), v.exchange(ETH), v.transfers());
    let inputs = || (spill_over(20, true), breakout(), busy_agents());
    let (mut v, index, agents) = inputs();
    let (out, states) =
        run_venue_with_states(&mut v, &[], &index, &agents, &run_spec(60 * S, 3), &[20 * S, 35 * S + S / 2]).unwrap();
    let (mut plain, _, _) = inputs();
    assert!(run_venue(&mut plain, &[], &index, &agents, &run_spec(60 * S, 3)).unwrap() == out);
    assert_eq!(print(&plain), print(&v));
    assert_eq!(states.iter().map(|s| s.0).collect::<Vec<_>>(), vec![20 * S, 36 * S]);
    for (t, state) in &states {
        let (mut upto, _, _) = inputs();
        let before: Vec<_> = index.iter().copied().filter(|p| p.1.ts <= *t).collect();
        run_venue(&mut upto, &[], &before, &agents, &run_spec(*t, 3)).unwrap();
        assert!(print(&upto) == print(state), "state at {t}");
    }
    assert!(states[1].1.exchange(BTC).tape().trades.len() > states[0].1.exchange(BTC).tape().trades.len());
    let bad = run_venue_with_states(&mut inputs().0, &[], &index, &agents, &run_spec(60 * S, 3), &[61 * S]);
    assert!(matches!(bad, Err(Error::Config { what: "state times", .. })));
}
