//! `liqsim._core.simulate`: runs a scenario's orders, index path and agents through an exchange.
//! Glue only: columns become core rows, agent dicts become core specs, the series comes back as
//! numpy arrays in the user's units.

use liqsim_core::agents::{
    AgentSpec, BackstopUnwinderSpec, BasisArbSpec, DepthStep, IndexCouplingSpec, MarketMakerSpec, MomentumTakerSpec,
    NoiseTakerSpec, PositionOpenerSpec, Reference, SizeDist, StopPlacerSpec,
};
use liqsim_core::exchange::{OrderReject, StopRequest, StopStatus};
use liqsim_core::margin::Rate;
use liqsim_core::sim::{self, index_rows, order_rows, OrderColumns, RunSpec, ScenarioOrder, SeriesRow};
use liqsim_core::stops::{Trail, TriggerOn};
use liqsim_core::units::Grid;
use liqsim_core::{Error as CoreError, Money, TraderId};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::exchange::PyExchange;
use crate::{config_error, on_grid, order_error, parse_side, scenario_error};

pub(crate) fn agent_error(k: usize, message: String) -> CoreError {
    CoreError::Config { what: "agent", message: format!("agent {k}: {message}") }
}

/// A typed value of an agent's parameter dict (Python fills in every default before the call).
fn get<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
    d: &Bound<'py, PyDict>,
    k: usize,
    key: &str,
) -> Result<T, CoreError> {
    match d.get_item(key) {
        Ok(Some(v)) => v.extract::<T>().map_err(|_| agent_error(k, format!("{key}: wrong type ({v})"))),
        _ => Err(agent_error(k, format!("missing parameter {key}"))),
    }
}

fn size_dist(d: &Bound<'_, PyDict>, k: usize) -> Result<SizeDist, CoreError> {
    let kind: String = get(d, k, "size_dist")?;
    match kind.as_str() {
        "lognormal" => Ok(SizeDist::LogNormal { median: get(d, k, "size_median")?, sigma: get(d, k, "size_sigma")? }),
        "pareto" => Ok(SizeDist::Pareto { x_min: get(d, k, "size_min")?, alpha: get(d, k, "size_alpha")? }),
        other => Err(agent_error(k, format!("size_dist {other:?} is not lognormal or pareto"))),
    }
}

/// An agent's dict as a core spec; `tick` is the grid of the market it trades (prices such as a
/// maker's `reload_levels` become ticks on it).
pub(crate) fn agent_spec(d: &Bound<'_, PyDict>, k: usize, tick: &Grid) -> Result<AgentSpec, CoreError> {
    let kind: String = get(d, k, "type")?;
    let trader = |d| get::<i64>(d, k, "trader_id").map(TraderId);
    Ok(match kind.as_str() {
        "market_maker" => AgentSpec::MarketMaker(MarketMakerSpec {
            trader: trader(d)?,
            reference: match get::<String>(d, k, "reference")?.as_str() {
                "index" => Reference::Index,
                "mid" => Reference::Mid,
                "last" => Reference::Last,
                other => return Err(agent_error(k, format!("reference {other:?} is not index, mid or last"))),
            },
            depth_10bp: get(d, k, "depth_10bp")?,
            beta: get(d, k, "beta")?,
            first_level_bp: get(d, k, "first_level_bp")?,
            level_spacing_bp: get(d, k, "level_spacing_bp")?,
            levels: get(d, k, "levels")?,
            refresh_every: get(d, k, "refresh_every")?,
            refill_half_life: get(d, k, "refill_half_life")?,
            requote_bp: get(d, k, "requote_bp")?,
            pull_move: get(d, k, "pull_move")?,
            pull_window: get(d, k, "pull_window")?,
            pull_liquidations: get(d, k, "pull_liquidations")?,
            pull_both_sides: get(d, k, "pull_both_sides")?,
            reload_after: get(d, k, "reload_after")?,
            depth_schedule: get::<Vec<(i64, f64, f64)>>(d, k, "depth_schedule")?
                .into_iter()
                .map(|(at, bid_scale, ask_scale)| DepthStep { at, bid_scale, ask_scale })
                .collect(),
            skew_bp_per_million: get(d, k, "skew_bp_per_million")?,
            max_position: get(d, k, "max_position")?,
            reload_levels: get::<Vec<f64>>(d, k, "reload_levels")?
                .into_iter()
                .enumerate()
                .map(|(row, price)| {
                    tick.to_steps(price).map_err(|_| {
                        let step = tick.step();
                        agent_error(
                            k,
                            format!("reload_levels row {row}: price {price} is not a multiple of the tick size {step}"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        }),
        "noise_taker" => AgentSpec::NoiseTaker(NoiseTakerSpec {
            trader: trader(d)?,
            rate_per_s: get(d, k, "rate_per_s")?,
            size: size_dist(d, k)?,
            buy_share: get(d, k, "buy_share")?,
        }),
        "momentum_taker" => AgentSpec::MomentumTaker(MomentumTakerSpec {
            trader: trader(d)?,
            check_every: get(d, k, "check_every")?,
            window: get(d, k, "window")?,
            threshold: get(d, k, "threshold")?,
            base_notional: get(d, k, "base_notional")?,
            exponent: get(d, k, "exponent")?,
            cooldown: get(d, k, "cooldown")?,
        }),
        "position_openers" => AgentSpec::PositionOpeners(PositionOpenerSpec {
            first_trader: TraderId(get(d, k, "first_trader_id")?),
            accounts: get(d, k, "accounts")?,
            balance: get(d, k, "balance")?,
            leverage: get(d, k, "leverage_mix")?,
            isolated_share: get(d, k, "isolated_share")?,
            rate_per_s: get(d, k, "rate_per_s")?,
            long_share: get(d, k, "long_share")?,
            close_share: get(d, k, "close_share")?,
            momentum_window: get(d, k, "momentum_window")?,
            momentum_sensitivity: get(d, k, "momentum_sensitivity")?,
            funding_sensitivity: get(d, k, "funding_sensitivity")?,
            size_fraction: get(d, k, "size_fraction")?,
        }),
        "basis_arbitrageur" => AgentSpec::BasisArb(BasisArbSpec {
            trader: trader(d)?,
            check_every: get(d, k, "check_every")?,
            target_basis: get(d, k, "target_basis")?,
            band_bp: get(d, k, "band_bp")?,
            clip: get(d, k, "clip")?,
            max_position: get(d, k, "max_position")?,
        }),
        "stop_placer" => AgentSpec::StopPlacer(StopPlacerSpec {
            trader: trader(d)?,
            every: get(d, k, "every")?,
            lookback: get(d, k, "lookback")?,
            offset_bp: get(d, k, "offset_bp")?,
            levels: get(d, k, "levels")?,
            spacing_bp: get(d, k, "spacing_bp")?,
            notional: get(d, k, "notional")?,
        }),
        "index_coupling" => AgentSpec::IndexCoupling(IndexCouplingSpec {
            every: get(d, k, "every")?,
            elasticity: get(d, k, "elasticity")?,
        }),
        "backstop_unwinder" => AgentSpec::BackstopUnwinder(BackstopUnwinderSpec {
            every: get(d, k, "every")?,
            horizon: get(d, k, "horizon")?,
            participation: get(d, k, "participation")?,
            max_slippage_bp: get(d, k, "max_slippage_bp")?,
            delay: get(d, k, "delay")?,
        }),
        other => return Err(agent_error(k, format!("unknown agent type {other:?}"))),
    })
}

/// A dict of the `orders` columns (as `liqsim._core.simulate` takes them) as core rows.
pub(crate) fn order_table(
    orders: &Bound<'_, PyDict>,
    tick: &Grid,
    lot: &Grid,
) -> PyResult<Result<Vec<ScenarioOrder>, CoreError>> {
    let (ts, trader_id, action) =
        (column::<i64>(orders, "ts")?, column::<i64>(orders, "trader_id")?, column::<u8>(orders, "action")?);
    let (side, price, qty) =
        (column::<u8>(orders, "side")?, column::<f64>(orders, "price")?, column::<f64>(orders, "qty")?);
    let (tif, reduce_only, order_id) =
        (column::<u8>(orders, "tif")?, column::<bool>(orders, "reduce_only")?, column::<i64>(orders, "order_id")?);
    let (trigger_price, trigger_on) = (column::<f64>(orders, "trigger_price")?, column::<u8>(orders, "trigger_on")?);
    let (trail, trail_fraction, oco_group) = (
        column::<f64>(orders, "trail")?,
        column::<f64>(orders, "trail_fraction")?,
        column::<i64>(orders, "oco_group")?,
    );
    let cols = OrderColumns {
        ts: ts.as_slice()?,
        trader_id: trader_id.as_slice()?,
        action: action.as_slice()?,
        side: side.as_slice()?,
        price: price.as_slice()?,
        qty: qty.as_slice()?,
        tif: tif.as_slice()?,
        reduce_only: reduce_only.as_slice()?,
        order_id: order_id.as_slice()?,
        trigger_price: trigger_price.as_slice()?,
        trigger_on: trigger_on.as_slice()?,
        trail: trail.as_slice()?,
        trail_fraction: trail_fraction.as_slice()?,
        oco_group: oco_group.as_slice()?,
    };
    Ok(order_rows(&cols, tick, lot))
}

/// Run a scenario through `exchange` (mutated in place: its tapes and accounts are the result's).
/// Order columns as [`OrderColumns`]; times in ns; `agents` a list of dicts with every parameter
/// in core units (ns, quote). Returns the series columns and counters.
/// A column of the `orders` dict (Python builds every column, defaults filled in).
pub(crate) fn column<'py, T: numpy::Element>(
    orders: &Bound<'py, PyDict>,
    name: &str,
) -> PyResult<PyReadonlyArray1<'py, T>> {
    match orders.get_item(name)? {
        Some(v) => Ok(v.extract::<PyReadonlyArray1<'py, T>>()?),
        None => Err(pyo3::exceptions::PyKeyError::new_err(format!("orders column {name} not given"))),
    }
}

/// Run a scenario through `exchange` (mutated in place: its tapes and accounts are the result's).
/// `orders`: a dict of the [`OrderColumns`] arrays; times in ns; `agents` a list of dicts with every
/// parameter in core units (ns, quote). Returns the series columns and counters.
#[pyfunction]
#[pyo3(signature = (exchange, orders, index_ts, index_price, agents, start, end, sample_every, seed, check_invariants, agent_balance, state_times=vec![]))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    exchange: &Bound<'py, PyExchange>,
    orders: &Bound<'py, PyDict>,
    index_ts: PyReadonlyArray1<'py, i64>,
    index_price: PyReadonlyArray1<'py, f64>,
    agents: &Bound<'py, PyList>,
    start: i64,
    end: i64,
    sample_every: i64,
    seed: u64,
    check_invariants: bool,
    agent_balance: f64,
    state_times: Vec<i64>,
) -> PyResult<Bound<'py, PyDict>> {
    let tick = exchange.borrow().tick;
    let specs = agents
        .iter()
        .enumerate()
        .map(|(k, a)| {
            a.cast::<PyDict>().map_err(|_| agent_error(k, "not a dict".into())).and_then(|d| agent_spec(d, k, &tick))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(py, e))?;
    let balance = Money::from_f64(agent_balance);
    let spec = RunSpec { start, end, sample_every, seed, check_invariants, agent_balance: balance };
    let mut guard = exchange.borrow_mut();
    let this = &mut *guard;
    let (tick, lot) = (this.tick, this.lot);
    let rows = order_table(orders, &tick, &lot)?.map_err(|e| scenario_error(py, "orders", e))?;
    let index =
        index_rows(index_ts.as_slice()?, index_price.as_slice()?, &tick).map_err(|e| scenario_error(py, "index", e))?;
    let ex = &mut this.ex;
    let started = std::time::Instant::now();
    let out =
        py.detach(|| sim::run_with_states(ex, &rows, &index, &specs, &spec, &state_times)).map_err(|e| match e {
            CoreError::Config { .. } => config_error(py, e),
            other => scenario_error(py, "scenario", other),
        })?;
    let wall = started.elapsed().as_secs_f64();
    let (out, states) = out;
    let rows: Vec<(&SeriesRow, Grid, Grid)> = out.series.iter().map(|r| (r, tick, lot)).collect();
    let d = series_columns(py, &rows, None)?;
    let result = PyDict::new(py);
    result.set_item("series", d)?;
    result.set_item("events", out.events)?;
    result.set_item("agent_actions", out.agent_actions)?;
    result.set_item("refused_orders", out.refused_orders.into_pyarray(py))?;
    result.set_item("wall_time", wall)?;
    // What the backstop holds at the end (the series' last sample may be earlier): one
    // (position in base units, notional in quote) per market, as for a venue.
    let (position, notional) = sim::backstop_holding(ex);
    result.set_item("backstop", vec![(lot.to_f64(position), notional.to_f64())])?;
    let kept = PyList::empty(py);
    for (ts, state) in states {
        let copy = Py::new(py, PyExchange { ex: state, tick, lot })?;
        kept.append((ts, copy))?;
    }
    result.set_item("states", kept)?;
    Ok(result)
}

/// The series columns in the user's units: prices on each row's tick grid (NaN where there was
/// none), quantities on its lot grid, money in quote. One row per sample, or per sample and market
/// for a venue, whose `symbol` codes follow `ts`.
pub(crate) fn series_columns<'py>(
    py: Python<'py>,
    rows: &[(&SeriesRow, Grid, Grid)],
    symbol: Option<Vec<u8>>,
) -> PyResult<Bound<'py, PyDict>> {
    let price = |f: fn(&SeriesRow) -> Option<i64>| -> Vec<f64> {
        rows.iter().map(|(r, tick, _)| f(r).map_or(f64::NAN, |p| tick.to_f64(p))).collect()
    };
    let money = |f: fn(&SeriesRow) -> Money| -> Vec<f64> { rows.iter().map(|(r, _, _)| f(r).to_f64()).collect() };
    let lots = |f: fn(&SeriesRow) -> i64| -> Vec<f64> { rows.iter().map(|(r, _, lot)| lot.to_f64(f(r))).collect() };
    let d = PyDict::new(py);
    d.set_item("ts", rows.iter().map(|(r, _, _)| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
    if let Some(symbol) = symbol {
        d.set_item("symbol", symbol.into_pyarray(py))?;
    }
    d.set_item("last", price(|r| r.last).into_pyarray(py))?;
    d.set_item("mark", price(|r| r.mark).into_pyarray(py))?;
    d.set_item("index", price(|r| r.index).into_pyarray(py))?;
    d.set_item("best_bid", price(|r| r.best_bid).into_pyarray(py))?;
    d.set_item("best_ask", price(|r| r.best_ask).into_pyarray(py))?;
    d.set_item("bid_depth_1pct", money(|r| r.bid_depth_1pct).into_pyarray(py))?;
    d.set_item("ask_depth_1pct", money(|r| r.ask_depth_1pct).into_pyarray(py))?;
    d.set_item("open_interest", lots(|r| r.open_interest).into_pyarray(py))?;
    let funding: Vec<f64> = rows.iter().map(|(r, _, _)| r.funding_rate.to_f64()).collect();
    d.set_item("funding_rate", funding.into_pyarray(py))?;
    d.set_item("liquidated_long", money(|r| r.liquidated_long).into_pyarray(py))?;
    d.set_item("liquidated_short", money(|r| r.liquidated_short).into_pyarray(py))?;
    d.set_item("insurance_fund", money(|r| r.insurance_fund).into_pyarray(py))?;
    d.set_item("backstop_position", lots(|r| r.backstop_position).into_pyarray(py))?;
    d.set_item("backstop_notional", money(|r| r.backstop_notional).into_pyarray(py))?;
    d.set_item("cvd", lots(|r| r.cvd).into_pyarray(py))?;
    d.set_item("volume", lots(|r| r.volume).into_pyarray(py))?;
    Ok(d)
}

/// Place a stop order for a loaded account; returns {"stop_id", "status", "reason"}.
#[pyfunction]
#[pyo3(signature = (exchange, trader_id, side, qty, trigger_price, limit_price, trigger_on, trail, trail_fraction, reduce_only, oco_group))]
#[allow(clippy::too_many_arguments)]
fn submit_stop<'py>(
    py: Python<'py>,
    exchange: &Bound<'py, PyExchange>,
    trader_id: i64,
    side: &str,
    qty: f64,
    trigger_price: Option<f64>,
    limit_price: Option<f64>,
    trigger_on: &str,
    trail: Option<f64>,
    trail_fraction: Option<f64>,
    reduce_only: bool,
    oco_group: Option<i64>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut guard = exchange.borrow_mut();
    let this = &mut *guard;
    let side = parse_side(py, side)?;
    let qty = on_grid(py, &this.lot, "qty", qty)?;
    if qty <= 0 {
        return Err(order_error(py, format!("qty must be > 0, got {}", this.lot.to_f64(qty)), "non_positive_qty"));
    }
    let trigger_on = match trigger_on {
        "last" => TriggerOn::Last,
        "mark" => TriggerOn::Mark,
        other => {
            return Err(order_error(py, format!("trigger_on must be last or mark, got {other:?}"), "invalid_trigger"))
        }
    };
    let trail = match (trail, trail_fraction) {
        (Some(_), Some(_)) => {
            return Err(order_error(py, "give trail or trail_fraction, not both".into(), "invalid_trail"));
        }
        (Some(amount), None) => {
            let ticks = on_grid(py, &this.tick, "trail", amount)?;
            if ticks <= 0 {
                return Err(order_error(py, format!("trail must be > 0, got {amount}"), "invalid_trail"));
            }
            Some(Trail::Ticks(ticks))
        }
        (None, Some(f)) => match Rate::from_f64(f).filter(|_| f > 0.0 && f < 1.0) {
            Some(rate) => Some(Trail::Fraction(rate)),
            None => return Err(order_error(py, format!("trail_fraction must be in (0, 1), got {f}"), "invalid_trail")),
        },
        (None, None) => None,
    };
    let trigger = match (trigger_price, trail) {
        (Some(p), _) => on_grid(py, &this.tick, "trigger_price", p)?,
        (None, Some(_)) => 0,
        (None, None) => {
            return Err(order_error(py, "a stop needs trigger_price (or a trail)".into(), "invalid_trigger"));
        }
    };
    let limit = limit_price.map(|p| on_grid(py, &this.tick, "limit_price", p)).transpose()?;
    let req = StopRequest { side, qty, limit, trigger, trigger_on, trail, reduce_only, oco: oco_group };
    let ex = &mut this.ex;
    let out = py.detach(|| ex.submit_stop(TraderId(trader_id), req));
    let d = PyDict::new(py);
    match out {
        Ok(id) => {
            d.set_item("stop_id", id)?;
            d.set_item("status", "waiting")?;
            d.set_item("reason", py.None())?;
        }
        Err(reject) => {
            d.set_item("stop_id", py.None())?;
            d.set_item("status", "rejected")?;
            d.set_item("reason", OrderReject::NAMES[reject as usize])?;
        }
    }
    Ok(d)
}

/// Trader ids whose liquidation trigger a mark at `price` would cross, in account order.
#[pyfunction]
fn crossed_at(py: Python<'_>, exchange: &Bound<'_, PyExchange>, price: f64) -> PyResult<Vec<i64>> {
    let this = exchange.borrow();
    let ticks = on_grid(py, &this.tick, "price", price)?;
    Ok(this.ex.crossed_at(ticks).into_iter().map(|t| t.0).collect())
}

/// Cancel a waiting stop; False when it is not waiting (or not the trader's).
#[pyfunction]
fn cancel_stop(exchange: &Bound<'_, PyExchange>, trader_id: i64, stop_id: i64) -> bool {
    exchange.borrow_mut().ex.cancel_stop(TraderId(trader_id), stop_id)
}

/// The stop tape: one row per stop triggered, refused or cancelled.
#[pyfunction]
fn stop_tape<'py>(py: Python<'py>, exchange: &Bound<'py, PyExchange>) -> PyResult<Bound<'py, PyDict>> {
    let this = exchange.borrow();
    let t = &this.ex.tape().stops;
    let d = PyDict::new(py);
    d.set_item("ts", t.iter().map(|r| r.ts).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trader_id", t.iter().map(|r| r.trader.0).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("stop_id", t.iter().map(|r| r.stop_id).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("side", t.iter().map(|r| r.side as u8).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("qty", t.iter().map(|r| this.lot.to_f64(r.qty)).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trigger_price", t.iter().map(|r| this.tick.to_f64(r.trigger)).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("status", t.iter().map(|r| r.status as u8).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("filled", t.iter().map(|r| this.lot.to_f64(r.filled)).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("round", t.iter().map(|r| r.round).collect::<Vec<_>>().into_pyarray(py))?;
    Ok(d)
}

/// Stops waiting for their trigger, by id.
#[pyfunction]
fn waiting_stops<'py>(py: Python<'py>, exchange: &Bound<'py, PyExchange>) -> PyResult<Bound<'py, PyDict>> {
    let this = exchange.borrow();
    let stops: Vec<_> = this.ex.stop_book().iter().copied().collect();
    let accounts = this.ex.accounts();
    let d = PyDict::new(py);
    d.set_item("stop_id", stops.iter().map(|s| s.id).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item(
        "trader_id",
        stops.iter().map(|s| accounts[s.owner as usize].id.0).collect::<Vec<_>>().into_pyarray(py),
    )?;
    d.set_item("side", stops.iter().map(|s| s.side as u8).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("qty", stops.iter().map(|s| this.lot.to_f64(s.qty)).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item(
        "trigger_price",
        stops.iter().map(|s| this.tick.to_f64(s.trigger)).collect::<Vec<_>>().into_pyarray(py),
    )?;
    d.set_item(
        "limit_price",
        stops.iter().map(|s| s.limit.map_or(f64::NAN, |p| this.tick.to_f64(p))).collect::<Vec<_>>().into_pyarray(py),
    )?;
    d.set_item("trigger_on", stops.iter().map(|s| s.trigger_on as u8).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("reduce_only", stops.iter().map(|s| s.reduce_only).collect::<Vec<_>>().into_pyarray(py))?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(submit_stop, m)?)?;
    m.add_function(wrap_pyfunction!(cancel_stop, m)?)?;
    m.add_function(wrap_pyfunction!(crossed_at, m)?)?;
    m.add_function(wrap_pyfunction!(stop_tape, m)?)?;
    m.add_function(wrap_pyfunction!(waiting_stops, m)?)?;
    m.add("STOP_STATUS_NAMES", StopStatus::NAMES.to_vec())?;
    m.add("TRIGGER_ON_NAMES", TriggerOn::NAMES.to_vec())?;
    m.add("ORDER_ACTION_NAMES", liqsim_core::sim::OrderAction::NAMES.to_vec())?;
    Ok(())
}
