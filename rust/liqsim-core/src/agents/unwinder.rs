//! The backstop unwinder: trades the position the backstop took over (the insurance fund on
//! Binance, Bybit's takeover, Hyperliquid's liquidator vault; REFERENCE §1, §7) back to zero.
//!
//! Without it a taken-over position sits with the backstop for the rest of the run, which
//! understates how far a squeeze carries: on real venues the fund / vault sells what it took over
//! back into the market. The unwinder sends ordinary reduce-only IOC orders of the backstop
//! account (`BACKSTOP_ID`, −1) through the same order API a user has, so its fills are normal
//! trades, the fund's realised PnL is recorded as `InsuranceReason::PositionPnl` and any cascade
//! they cause runs as after any other order. The backstop account is exempt from margin, so the
//! order API accepts its orders as they are: no path of its own was needed.
//!
//! How much per wake (every `every`):
//! - `horizon`: each taken-over lot is unwound evenly within `horizon` of the wake that first saw
//!   it (plus `delay`): at a wake `e` after that start, `qty × min(1, e / horizon)` of the lot is
//!   due, counting the wake that starts it. What a wake could not sell (price protection, a thin
//!   book) stays due and is sold at the next wake: the schedule is a target, not a ration.
//! - `participation`: a fraction of the market's traded volume since the last wake (book trades
//!   of other takers: its own are left out, or it would feed on itself), from lots whose delay
//!   has passed.
//! - both: the larger of the two, so the horizon is a deadline and busy markets speed it up.
//!
//! `max_slippage_bp` makes each order an IOC limit at the mark ∓ that many bp (rounded onto the
//! tick grid toward the mark, the protective side), so a wake never sweeps the book without bound.
//! Without it the orders are IOC market orders.
//!
//! A takeover is seen as growth of the backstop's position between wakes (a position that flips
//! side is one new lot). The backstop's position can also shrink without the unwinder (a takeover
//! of the other side nets against it): the lots are then trimmed, newest first, so the schedule
//! never asks for more than the backstop holds.

use super::AgentContext;
use crate::book::{TimeInForce, MAX_ORDER_QTY};
use crate::error::Error;
use crate::exchange::{OrderRequest, TradeKind, BACKSTOP_ID};
use crate::market::Market;
use crate::types::{Price, Qty, Side, Ts};

#[derive(Clone, Debug, PartialEq)]
pub struct BackstopUnwinderSpec {
    /// Time between wakes, ns.
    pub every: Ts,
    /// Each taken-over lot is unwound evenly within this time, ns (`None`: no schedule).
    pub horizon: Option<Ts>,
    /// Fraction of the traded volume since the last wake sold per wake (`None`: not used).
    pub participation: Option<f64>,
    /// Price protection: IOC limit at the mark ∓ this many bp (`None`: IOC market orders).
    pub max_slippage_bp: Option<f64>,
    /// Wait after a takeover is seen before its lot starts to be unwound, ns.
    pub delay: Ts,
}

impl BackstopUnwinderSpec {
    pub fn validate(&self) -> Result<(), Error> {
        let err = |what: &'static str, message: String| Err(Error::Config { what, message });
        if self.every <= 0 {
            return err("backstop unwinder every", format!("must be > 0 ns, got {}", self.every));
        }
        if let Some(h) = self.horizon {
            if h <= 0 {
                return err("backstop unwinder horizon", format!("must be > 0 ns, got {h}"));
            }
        }
        if let Some(p) = self.participation {
            if !(p > 0.0 && p <= 1.0) {
                return err("backstop unwinder participation", format!("must be in (0, 1], got {p}"));
            }
        }
        if self.horizon.is_none() && self.participation.is_none() {
            return err("backstop unwinder", "needs a horizon, a participation rate, or both".into());
        }
        if let Some(bp) = self.max_slippage_bp {
            // 10,000 bp would put a sell limit at zero: no protection at all.
            if !(0.0..10_000.0).contains(&bp) {
                return err("backstop unwinder max_slippage_bp", format!("must be in [0, 10000), got {bp}"));
            }
        }
        if self.delay < 0 {
            return err("backstop unwinder delay", format!("must be ≥ 0 ns, got {}", self.delay));
        }
        Ok(())
    }
}

/// One taken-over lot: when its unwinding starts, how many lots it was, how many are left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lot {
    start: Ts,
    qty: Qty,
    left: Qty,
}

impl Lot {
    fn new(start: Ts, qty: Qty) -> Lot {
        Lot { start, qty, left: qty }
    }
}

#[derive(Clone, Debug)]
pub struct BackstopUnwinder {
    pub spec: BackstopUnwinderSpec,
    next_wake: Ts,
    /// Lots not yet unwound, oldest first; what is left of them sums to at most |position|.
    lots: Vec<Lot>,
    /// The backstop's position right after the last wake's own fills (growth since then is a
    /// takeover, including one its own order's cascade caused).
    seen: Qty,
    /// Trades on the tape already counted for participation.
    trades_seen: usize,
}

impl BackstopUnwinder {
    pub fn new(spec: BackstopUnwinderSpec, start: Ts) -> BackstopUnwinder {
        BackstopUnwinder { next_wake: start, spec, lots: Vec::new(), seen: 0, trades_seen: 0 }
    }

    pub fn next_wake(&self) -> Ts {
        self.next_wake
    }

    /// Lots the horizon schedule wants sold at `ts`: of every lot, what is due by now less what
    /// is already gone.
    fn scheduled_due(&self, ts: Ts, horizon: Ts) -> i128 {
        self.lots
            .iter()
            .map(|l| {
                // Counting the wake that starts a lot: a lot seen at a wake sells its first
                // slice there, and the last one `horizon − every` later.
                let elapsed = (ts - l.start).saturating_add(self.spec.every).clamp(0, horizon) as i128;
                let undue = l.qty as i128 - l.qty as i128 * elapsed / horizon as i128;
                (l.left as i128 - undue).max(0)
            })
            .sum()
    }

    /// Keep the lots consistent with a position of `held` lots (same side as the lots): what
    /// the position lost without the unwinder counts as unwound, newest lot first.
    fn trim_to(&mut self, held: Qty) {
        let mut total: Qty = self.lots.iter().map(|l| l.left).sum();
        while total > held {
            let Some(last) = self.lots.last_mut() else { break };
            let cut = (total - held).min(last.left);
            last.left -= cut;
            total -= cut;
            if last.left == 0 {
                self.lots.pop();
            }
        }
    }

    pub fn wake<M: Market>(&mut self, ts: Ts, ex: &mut M, _ctx: &AgentContext) -> u64 {
        self.next_wake = ts.saturating_add(self.spec.every);
        let pos = ex.account(BACKSTOP_ID).map_or(0, |a| a.position.lots);
        let tape = &ex.tape().trades;
        // Volume of book trades since the last wake; off-book transfers (takeovers, ADL) are not
        // market volume, and its own sales are not the market's.
        let volume: i128 = tape
            .get(self.trades_seen..)
            .unwrap_or(&[])
            .iter()
            .filter(|t| !matches!(t.kind, TradeKind::Backstop | TradeKind::Adl) && t.taker != BACKSTOP_ID)
            .map(|t| t.qty as i128)
            .sum();
        self.trades_seen = tape.len();
        // Takeovers since the last wake: growth on the same side, or a new side.
        if pos == 0 || pos.signum() != self.seen.signum() {
            self.lots.clear();
            if pos != 0 {
                self.lots.push(Lot::new(ts.saturating_add(self.spec.delay), pos.abs()));
            }
        } else if pos.abs() > self.seen.abs() {
            self.lots.push(Lot::new(ts.saturating_add(self.spec.delay), pos.abs() - self.seen.abs()));
        } else {
            self.trim_to(pos.abs());
        }
        self.seen = pos;
        if pos == 0 {
            return 0;
        }
        let held = pos.abs() as i128;
        // Lots whose delay has not passed are not sold, whatever the participation allows.
        let waiting: i128 = self.lots.iter().filter(|l| l.start > ts).map(|l| l.left as i128).sum();
        let cap = held - waiting;
        let by_schedule = self.spec.horizon.map_or(0, |h| self.scheduled_due(ts, h));
        let by_volume = self.spec.participation.map_or(0, |p| (p * volume as f64).floor() as i128);
        let qty = by_schedule.max(by_volume).min(cap).min(MAX_ORDER_QTY as i128);
        if qty < 1 {
            return 0;
        }
        // A long backstop sells, a short one buys.
        let side = if pos > 0 { Side::Sell } else { Side::Buy };
        let price = match self.spec.max_slippage_bp {
            None => None,
            Some(bp) => {
                let Some(reference) = ex.mark().or(ex.last()) else { return 0 };
                Some(protected_limit(reference, side, bp))
            }
        };
        let req = OrderRequest { side, qty: qty as Qty, price, tif: TimeInForce::Ioc, reduce_only: true };
        let result = ex.submit(BACKSTOP_ID, req);
        // Its own fills come off the oldest lots (the most overdue). The cascade they may set off
        // can take more over: that growth is measured from the position right after the fills,
        // so the next wake sees it as a new lot with its own schedule.
        let filled = result.outcome.filled.min(pos.abs());
        let mut left = filled;
        for l in &mut self.lots {
            let take = left.min(l.left);
            l.left -= take;
            left -= take;
        }
        self.lots.retain(|l| l.left > 0);
        self.seen = pos - pos.signum() * filled;
        1
    }
}

/// The IOC limit of a protected order: `reference` ∓ `bp`, rounded toward the reference (a sell
/// limit up, a buy limit down), never below one tick.
fn protected_limit(reference: Price, side: Side, bp: f64) -> Price {
    let offset = reference as f64 * bp * super::BP;
    let limit = match side {
        Side::Sell => (reference as f64 - offset).ceil(),
        Side::Buy => (reference as f64 + offset).floor(),
    };
    (limit as Price).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::test_fixtures::{account, eth_px, exchange, usdt, LOTS};
    use crate::exchange::{Exchange, InsuranceReason, LiquidationKind, BACKSTOP};
    use crate::funding::SECOND;
    use crate::margin::NotionalScale;
    use crate::types::TraderId;
    use crate::venue::Venue;

    const S: Ts = SECOND;

    /// The unwinder reads nothing from the context; the fixtures' ETH grid all the same.
    fn ctx() -> AgentContext {
        AgentContext { scale: NotionalScale::from_sizes(0.01, 0.001).unwrap(), liquidated_quote: [0.0; 2] }
    }

    fn spec(horizon: Option<Ts>, participation: Option<f64>, bp: Option<f64>, delay: Ts) -> BackstopUnwinderSpec {
        BackstopUnwinderSpec { every: S, horizon, participation, max_slippage_bp: bp, delay }
    }

    /// Binance ETHUSDT (tick 0.01, lot 0.001, mark = last, taker 0.05 %), fund 10,000. Trader 10 is
    /// long 10 ETH @ 2,000 with 1,000: bankruptcy 1,900, trigger 19,000 / (10 × 0.996) = 1,907.63
    /// (first tier, MMR 0.4 %). Trader 20 sells 1 lot into the lone 1,850 bid: the mark falls to
    /// 1,850, the IOC limit at 1,900 finds no bid, and the fund takes the 10 ETH over at 1,900
    /// (worth −500 at the mark: the fund affords it). `bids` are loaded afterwards for the unwinder.
    fn taken_over(bids: &[(f64, Qty)]) -> Exchange {
        let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 10_000.0);
        ex.add_accounts(&[account(10, 1000.0, 10 * LOTS, 2000.0), account(20, 100_000.0, 0, 0.0)]).unwrap();
        ex.add_resting_orders(&[(Side::Buy, eth_px(1850.0), 1, None)]).unwrap();
        let sell = OrderRequest { side: Side::Sell, qty: 1, price: None, tif: TimeInForce::Ioc, reduce_only: false };
        ex.submit(TraderId(20), sell);
        ex.check_invariants().unwrap();
        let l = ex.tape().liquidations[0];
        assert_eq!((l.kind, l.qty, l.bankruptcy_price), (LiquidationKind::Backstop, 10 * LOTS, eth_px(1900.0)));
        assert_eq!(ex.accounts()[BACKSTOP as usize].position.lots, 10 * LOTS);
        assert_eq!(ex.mark(), Some(eth_px(1850.0)));
        let rows: Vec<_> = bids.iter().map(|&(p, q)| (Side::Buy, eth_px(p), q, None)).collect();
        ex.add_resting_orders(&rows).unwrap();
        ex
    }

    fn backstop_lots(ex: &Exchange) -> Qty {
        ex.accounts()[BACKSTOP as usize].position.lots
    }

    #[test]
    fn a_ten_eth_takeover_over_ten_seconds_sells_one_eth_a_wake() {
        // Horizon 10 s, every 1 s: 10 ETH / 10 wakes = 1 ETH (1,000 lots) a wake, flat after the
        // tenth, nothing after. Each sale at the 1,840 bid realises (1,840 − 1,900) × 1 = −60 and
        // pays the 0.05 % taker fee on 1,840 = 0.92: one PositionPnl record of −60.92 each.
        let mut ex = taken_over(&[(1840.0, 100 * LOTS)]);
        let fund_before = ex.insurance_fund();
        let records_before = ex.tape().insurance.len();
        let mut agent = BackstopUnwinder::new(spec(Some(10 * S), None, None, 0), 0);
        let mut path = Vec::new();
        for k in 0..12 {
            let t = k * S;
            assert_eq!(agent.next_wake(), t);
            ex.advance_to(t);
            let sent = agent.wake(t, &mut ex, &ctx());
            ex.check_invariants().unwrap();
            path.push((sent, backstop_lots(&ex)));
        }
        let expected: Vec<(u64, Qty)> =
            (1..=12).map(|k: i64| if k <= 10 { (1, (10 - k) * LOTS) } else { (0, 0) }).collect();
        assert_eq!(path, expected);
        let sales: Vec<_> = ex.tape().trades.iter().filter(|t| t.taker == BACKSTOP_ID).collect();
        assert_eq!(sales.len(), 10);
        assert!(sales.iter().all(
            |t| t.kind == TradeKind::Normal && (t.price, t.qty, t.aggressor) == (eth_px(1840.0), LOTS, Side::Sell)
        ));
        let pnl = &ex.tape().insurance[records_before..];
        assert_eq!(pnl.len(), 10);
        assert!(pnl.iter().all(|r| r.reason == InsuranceReason::PositionPnl && r.delta == usdt(-60.92)));
        assert_eq!(ex.insurance_fund(), fund_before - usdt(609.2));
    }

    #[test]
    fn protection_stops_at_the_limit_and_sells_the_rest_when_the_book_comes_back() {
        // Horizon 1 s: all 10 ETH due at once. Protection 300 bp at the 1,850 mark: a sell limit
        // at 1,850 × 0.97 = 1,794.50. It sells 1 ETH at 1,840 and 1 at 1,800, not the 1,700 bid.
        // Next wake: the mark is the last trade, 1,800; the limit 1,746 still refuses 1,700.
        let mut ex = taken_over(&[(1840.0, LOTS), (1800.0, LOTS), (1700.0, 100 * LOTS)]);
        let mut agent = BackstopUnwinder::new(spec(Some(S), None, Some(300.0), 0), 0);
        assert_eq!(protected_limit(eth_px(1850.0), Side::Sell, 300.0), eth_px(1794.5));
        assert_eq!(protected_limit(eth_px(1850.0), Side::Buy, 300.0), eth_px(1905.5));
        agent.wake(0, &mut ex, &ctx());
        ex.check_invariants().unwrap();
        assert_eq!(backstop_lots(&ex), 8 * LOTS);
        assert_eq!(ex.mark(), Some(eth_px(1800.0)));
        agent.wake(S, &mut ex, &ctx());
        assert_eq!(backstop_lots(&ex), 8 * LOTS);
        assert_eq!(ex.book().best_bid(), Some((eth_px(1700.0), 100 * LOTS)));
        // Bids return at 1,790 (above 1,746): the 8 ETH still due go at once.
        ex.add_resting_orders(&[(Side::Buy, eth_px(1790.0), 20 * LOTS, None)]).unwrap();
        agent.wake(2 * S, &mut ex, &ctx());
        ex.check_invariants().unwrap();
        assert_eq!(backstop_lots(&ex), 0);
    }

    #[test]
    fn a_fresh_exchange_finds_the_backstop_by_its_id() {
        // The order API looks accounts up by external id in a list sorted by id; the two reserved
        // accounts (−2, −1) must be in that order from the start, or −1 is never found.
        let ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 10_000.0);
        assert_eq!(ex.account_index(BACKSTOP_ID), Some(BACKSTOP));
        assert_eq!(ex.account_index(crate::exchange::LIQUIDITY_ID), Some(crate::exchange::LIQUIDITY));
    }

    #[test]
    fn nothing_happens_while_the_backstop_is_flat() {
        let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 10_000.0);
        ex.add_accounts(&[account(20, 100_000.0, 0, 0.0)]).unwrap();
        ex.add_resting_orders(&[(Side::Buy, eth_px(1840.0), LOTS, None), (Side::Sell, eth_px(1860.0), LOTS, None)])
            .unwrap();
        let mut agent = BackstopUnwinder::new(spec(Some(S), Some(1.0), None, 0), 0);
        for k in 0..5 {
            assert_eq!(agent.wake(k * S, &mut ex, &ctx()), 0);
        }
        assert!(ex.tape().trades.is_empty() && ex.tape().insurance.is_empty());
        assert_eq!(ex.insurance_fund(), usdt(10_000.0));
    }

    #[test]
    fn participation_sells_a_share_of_the_volume_after_the_delay() {
        // Participation 50 %, delay 2 s, no horizon. Wake 0 sees the takeover (start 2 s): nothing.
        // Trader 20 sells 4 ETH into the 1,840 bid before the 1 s wake: still waiting. Before the
        // 2 s wake it sells 2 ETH more: 50 % of the 2 ETH traded since the 1 s wake = 1 ETH sold.
        let mut ex = taken_over(&[(1840.0, 100 * LOTS)]);
        let mut agent = BackstopUnwinder::new(spec(None, Some(0.5), None, 2 * S), 0);
        let sell = |ex: &mut Exchange, lots| {
            let req =
                OrderRequest { side: Side::Sell, qty: lots, price: None, tif: TimeInForce::Ioc, reduce_only: false };
            ex.submit(TraderId(20), req);
        };
        assert_eq!(agent.wake(0, &mut ex, &ctx()), 0);
        sell(&mut ex, 4 * LOTS);
        assert_eq!(agent.wake(S, &mut ex, &ctx()), 0);
        sell(&mut ex, 2 * LOTS);
        assert_eq!(agent.wake(2 * S, &mut ex, &ctx()), 1);
        assert_eq!(backstop_lots(&ex), 9 * LOTS);
        // A quiet wake: only its own 1 ETH traded since, which is not market volume.
        assert_eq!(agent.wake(3 * S, &mut ex, &ctx()), 0);
        assert_eq!(backstop_lots(&ex), 9 * LOTS);
        ex.check_invariants().unwrap();
    }

    #[test]
    fn validation_names_the_parameter() {
        let bad = [
            (BackstopUnwinderSpec { every: 0, ..spec(Some(S), None, None, 0) }, "every"),
            (spec(Some(0), None, None, 0), "horizon"),
            (spec(None, Some(1.5), None, 0), "participation"),
            (spec(None, Some(f64::NAN), None, 0), "participation"),
            (spec(None, None, None, 0), "horizon, a participation"),
            (spec(Some(S), None, Some(-1.0), 0), "max_slippage_bp"),
            (spec(Some(S), None, Some(10_000.0), 0), "max_slippage_bp"),
            (spec(Some(S), None, None, -1), "delay"),
        ];
        for (s, word) in bad {
            let msg = s.validate().unwrap_err().to_string();
            assert!(msg.contains(word), "{msg} should name {word}");
        }
        assert!(spec(Some(S), Some(0.1), Some(50.0), S).validate().is_ok());
    }

    /// Through the simulation loop (invariants checked after every event), one market with and
    /// without the unwinder. Longs: 10 ETH @ 2,000 with 1,000 (trigger 1,907.63, as above), 1 ETH
    /// with 160 (bankruptcy 1,840, trigger 1,840 / 0.996 = 1,847.39) and 1 ETH with 200 (1,800,
    /// trigger 1,807.23). Bids under the 1,850 lot: 1 ETH at 1,845, 1,820 and 1,790, 50 ETH at
    /// 1,700. At 1 s trader 20 sells the 1,850 lot and the fund takes the 10 ETH over at 1,900.
    /// Held, that is the end of it: one liquidation, last 1,850. Unwound 1 ETH a second (horizon
    /// 10 s), its sales walk the bids down: 1,845 crosses the second long's trigger, 1,790 the
    /// third's, and the fund ends flat with the last trade at 1,700.
    #[test]
    fn an_unwinding_backstop_deepens_a_long_cascade_that_a_holding_one_stops() {
        use crate::sim::{run, RunSpec, ScenarioOrder};
        let run_with = |agents: &[crate::agents::AgentSpec]| {
            let mut ex = exchange(Venue::Binance, "ETHUSDT", 0.01, 10_000.0);
            ex.add_accounts(&[
                account(10, 1000.0, 10 * LOTS, 2000.0),
                account(11, 160.0, LOTS, 2000.0),
                account(12, 200.0, LOTS, 2000.0),
                account(20, 100_000.0, 0, 0.0),
            ])
            .unwrap();
            let bids = [(1850.0, 1), (1845.0, LOTS), (1820.0, LOTS), (1790.0, LOTS), (1700.0, 50 * LOTS)];
            let rows: Vec<_> = bids.iter().map(|&(p, q)| (Side::Buy, eth_px(p), q, None)).collect();
            ex.add_resting_orders(&rows).unwrap();
            let order = ScenarioOrder::market(S, TraderId(20), Side::Sell, 1);
            let spec = RunSpec {
                start: 0,
                end: 30 * S,
                sample_every: S,
                seed: 1,
                check_invariants: true,
                agent_balance: usdt(0.0),
            };
            let out = run(&mut ex, &[order], &[], agents, &spec).unwrap();
            (ex, out)
        };
        let (held, _) = run_with(&[]);
        let unwinder = crate::agents::AgentSpec::BackstopUnwinder(spec(Some(10 * S), None, None, 0));
        let (unwound, out) = run_with(&[unwinder]);
        let liquidated = |ex: &Exchange| ex.tape().liquidations.iter().map(|l| l.trader.0).collect::<Vec<_>>();
        assert_eq!(liquidated(&held), vec![10]);
        assert_eq!(held.last(), Some(eth_px(1850.0)));
        assert_eq!(backstop_lots(&held), 10 * LOTS);
        assert_eq!(liquidated(&unwound), vec![10, 11, 12]);
        assert_eq!(unwound.last(), Some(eth_px(1700.0)));
        assert_eq!(backstop_lots(&unwound), 0);
        assert!(out.series.last().unwrap().last == Some(eth_px(1700.0)));
        // Every sale is a normal trade of the backstop account.
        let sales: Vec<_> = unwound.tape().trades.iter().filter(|t| t.taker == BACKSTOP_ID).collect();
        assert!(sales.iter().all(|t| t.kind == TradeKind::Normal));
        // Each takeover keeps its own schedule, from the wake that saw it. 1 s: lot A (10 ETH)
        // due 1/10 → 1 ETH at 1,845; its cascade takes 1 ETH over (B). 2 s: A 2/10 due less 1
        // sold = 1, B 1/10 = 0.1 → 1.1 ETH (1 at 1,820, 0.1 at 1,790); the third long is taken
        // over (C). 3 s: A 3 − 2.1 = 0.9, B 0.2, C 0.1 → 1.2 ETH. C, seen at 3 s, is due in full
        // at the 12 s wake: the last sale.
        let per_wake = |t: Ts| sales.iter().filter(|x| x.ts == t).map(|x| x.qty).sum::<Qty>();
        assert_eq!([per_wake(S), per_wake(2 * S), per_wake(3 * S)], [1000, 1100, 1200]);
        assert_eq!(sales.last().unwrap().ts, 12 * S);
    }
}
