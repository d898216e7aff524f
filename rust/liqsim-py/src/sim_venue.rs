//! `liqsim._core.simulate_venue` and `liqsim._core.correlated_index`: a multi-instrument scenario
//! through a `MultiExchange`, and seeded correlated index paths. Glue only: columns (with a
//! symbol code per row) become core rows on each instrument's grid; the series comes back with a
//! symbol code per row.

use liqsim_core::multi::InstrumentId;
use liqsim_core::sim::{
    self, order_rows, CrossMomentumSpec, IndexPoint, OrderColumns, PathSpec, RunSpec, ScenarioOrder, SeriesRow,
    VenueAgentSpec,
};
use liqsim_core::units::Grid;
use liqsim_core::{Error as CoreError, Money, TraderId};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::multi::PyMultiExchange;
use crate::sim::{agent_error, agent_spec, column, series_columns};
use crate::{config_error, scenario_error};

fn pick<T: Copy>(c: &[T], at: &[usize]) -> Vec<T> {
    at.iter().map(|&r| c[r]).collect()
}

/// Rows of one table whose symbol code is `k`; an unknown code names its row.
fn rows_of(symbol: &[u32], n: usize, table: &'static str) -> Result<Vec<Vec<usize>>, CoreError> {
    let mut at = vec![Vec::new(); n];
    for (r, &s) in symbol.iter().enumerate() {
        match at.get_mut(s as usize) {
            Some(v) => v.push(r),
            None => {
                let message = format!("code {s} is not one of the {n} markets");
                return Err(CoreError::InTable { table, column: "symbol", row: r, message });
            }
        }
    }
    Ok(at)
}

fn moved_row(e: CoreError, at: &[usize]) -> CoreError {
    match e {
        CoreError::InTable { table, column, row, message } => {
            CoreError::InTable { table, column, row: at.get(row).copied().unwrap_or(row), message }
        }
        other => other,
    }
}

/// The `orders` dict (as `simulate` takes it, plus a `symbol` code column) as core rows on each
/// instrument's grid, in table order.
pub(crate) fn venue_orders(
    orders: &Bound<'_, PyDict>,
    symbol: &[u32],
    grids: &[(Grid, Grid)],
) -> PyResult<Result<Vec<(InstrumentId, ScenarioOrder)>, CoreError>> {
    let ts = column::<i64>(orders, "ts")?;
    let trader_id = column::<i64>(orders, "trader_id")?;
    let action = column::<u8>(orders, "action")?;
    let side = column::<u8>(orders, "side")?;
    let price = column::<f64>(orders, "price")?;
    let qty = column::<f64>(orders, "qty")?;
    let tif = column::<u8>(orders, "tif")?;
    let reduce_only = column::<bool>(orders, "reduce_only")?;
    let order_id = column::<i64>(orders, "order_id")?;
    let trigger_price = column::<f64>(orders, "trigger_price")?;
    let trigger_on = column::<u8>(orders, "trigger_on")?;
    let trail = column::<f64>(orders, "trail")?;
    let trail_fraction = column::<f64>(orders, "trail_fraction")?;
    let oco_group = column::<i64>(orders, "oco_group")?;
    if symbol.len() != ts.as_slice()?.len() {
        let message = "column length differs from ts".to_string();
        return Ok(Err(CoreError::InTable { table: "orders", column: "symbol", row: 0, message }));
    }
    let per = match rows_of(symbol, grids.len(), "orders") {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let mut out: Vec<Option<(InstrumentId, ScenarioOrder)>> = vec![None; symbol.len()];
    for (k, at) in per.iter().enumerate() {
        if at.is_empty() {
            continue;
        }
        let (a, b, c, d, e, f, g, h, i, j, l, m, n, o) = (
            pick(ts.as_slice()?, at),
            pick(trader_id.as_slice()?, at),
            pick(action.as_slice()?, at),
            pick(side.as_slice()?, at),
            pick(price.as_slice()?, at),
            pick(qty.as_slice()?, at),
            pick(tif.as_slice()?, at),
            pick(reduce_only.as_slice()?, at),
            pick(order_id.as_slice()?, at),
            pick(trigger_price.as_slice()?, at),
            pick(trigger_on.as_slice()?, at),
            pick(trail.as_slice()?, at),
            pick(trail_fraction.as_slice()?, at),
            pick(oco_group.as_slice()?, at),
        );
        let cols = OrderColumns {
            ts: &a,
            trader_id: &b,
            action: &c,
            side: &d,
            price: &e,
            qty: &f,
            tif: &g,
            reduce_only: &h,
            order_id: &i,
            trigger_price: &j,
            trigger_on: &l,
            trail: &m,
            trail_fraction: &n,
            oco_group: &o,
        };
        let (tick, lot) = &grids[k];
        match order_rows(&cols, tick, lot) {
            Ok(rows) => {
                for (row, &r) in rows.into_iter().zip(at) {
                    out[r] = Some((InstrumentId(k as u32), row));
                }
            }
            Err(e) => return Ok(Err(moved_row(e, at))),
        }
    }
    Ok(Ok(out.into_iter().flatten().collect()))
}

fn cross_momentum(d: &Bound<'_, PyDict>, k: usize) -> Result<CrossMomentumSpec, CoreError> {
    let get_i = |key: &str| -> Result<i64, CoreError> {
        d.get_item(key)
            .ok()
            .flatten()
            .and_then(|v| v.extract::<i64>().ok())
            .ok_or_else(|| agent_error(k, format!("{key}: missing or not an integer")))
    };
    let get_f = |key: &str| -> Result<f64, CoreError> {
        d.get_item(key)
            .ok()
            .flatten()
            .and_then(|v| v.extract::<f64>().ok())
            .ok_or_else(|| agent_error(k, format!("{key}: missing or not a number")))
    };
    let code = |key: &str| -> Result<InstrumentId, CoreError> {
        u32::try_from(get_i(key)?).map(InstrumentId).map_err(|_| agent_error(k, format!("{key}: not a market")))
    };
    Ok(CrossMomentumSpec {
        trader: TraderId(get_i("trader_id")?),
        leader: code("leader_code")?,
        follower: code("follower_code")?,
        check_every: get_i("check_every")?,
        window: get_i("window")?,
        lag: get_i("lag")?,
        threshold: get_f("threshold")?,
        notional: get_f("notional")?,
    })
}

/// A list of (symbol code, agent dict) as venue agents; the cross momentum taker's dict carries
/// `leader_code` and `follower_code`. A bad agent is the returned error (naming it).
/// Agent specs as (symbol code, dict) pairs; prices in a spec are on the grid of its market.
pub(crate) fn venue_agents(
    agents: &Bound<'_, PyList>,
    grids: &[(Grid, Grid)],
) -> PyResult<Result<Vec<VenueAgentSpec>, CoreError>> {
    let mut specs = Vec::with_capacity(agents.len());
    for (k, item) in agents.iter().enumerate() {
        let Ok((code, d)) = item.extract::<(u32, Bound<'_, PyDict>)>() else {
            return Ok(Err(agent_error(k, "not a (symbol code, dict) pair".into())));
        };
        let kind: String = d.get_item("type")?.map(|v| v.extract()).transpose()?.unwrap_or_default();
        let spec = if kind == "cross_momentum_taker" {
            cross_momentum(&d, k).map(VenueAgentSpec::CrossMomentum)
        } else {
            match grids.get(code as usize) {
                Some((tick, _)) => agent_spec(&d, k, tick).map(|s| VenueAgentSpec::On(InstrumentId(code), s)),
                None => Err(agent_error(k, format!("market code {code} is not a market of the venue"))),
            }
        };
        match spec {
            Ok(s) => specs.push(s),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(specs))
}

/// Index columns with a symbol code per row as core rows on each instrument's tick grid.
pub(crate) fn venue_index(
    ts: &[i64],
    price: &[f64],
    symbol: &[u32],
    grids: &[(Grid, Grid)],
) -> Result<Vec<(InstrumentId, IndexPoint)>, CoreError> {
    if ts.len() != price.len() || ts.len() != symbol.len() {
        let message = "index columns differ in length".to_string();
        return Err(CoreError::InTable { table: "index", column: "price", row: 0, message });
    }
    let mut index = Vec::with_capacity(ts.len());
    for r in 0..ts.len() {
        let k = symbol[r] as usize;
        let Some((tick, _)) = grids.get(k) else {
            let message = format!("code {k} is not one of the {} markets", grids.len());
            return Err(CoreError::InTable { table: "index", column: "symbol", row: r, message });
        };
        let p = sim::index_rows(&ts[r..=r], &price[r..=r], tick).map_err(|e| moved_row(e, &[r]))?;
        index.push((InstrumentId(k as u32), p[0]));
    }
    Ok(index)
}

/// Run a multi-instrument scenario through `venue` (mutated in place). `orders`: the columns of
/// `simulate` plus `order_symbol` codes; index rows with `index_symbol` codes; `agents` a list of
/// (symbol code, agent dict) — the cross momentum taker's dict carries `leader_code` and
/// `follower_code` instead. Returns the series columns (with `symbol` codes) and counters, and
/// `states`: (ts, a copy of the venue) at the first sample at or after each of `state_times`.
#[pyfunction]
#[pyo3(signature = (venue, orders, order_symbol, index_ts, index_price, index_symbol, agents, start, end, sample_every, seed, check_invariants, agent_balance, state_times=vec![]))]
#[allow(clippy::too_many_arguments)]
fn simulate_venue<'py>(
    py: Python<'py>,
    venue: &Bound<'py, PyMultiExchange>,
    orders: &Bound<'py, PyDict>,
    order_symbol: PyReadonlyArray1<'py, u32>,
    index_ts: PyReadonlyArray1<'py, i64>,
    index_price: PyReadonlyArray1<'py, f64>,
    index_symbol: PyReadonlyArray1<'py, u32>,
    agents: &Bound<'py, PyList>,
    start: i64,
    end: i64,
    sample_every: i64,
    seed: u64,
    check_invariants: bool,
    agent_balance: f64,
    state_times: Vec<i64>,
) -> PyResult<Bound<'py, PyDict>> {
    let specs = venue_agents(agents, &venue.borrow().grids)?.map_err(|e| config_error(py, e))?;
    let spec =
        RunSpec { start, end, sample_every, seed, check_invariants, agent_balance: Money::from_f64(agent_balance) };
    let mut guard = venue.borrow_mut();
    let this = &mut *guard;
    let grids = this.grids.clone();
    let rows = venue_orders(orders, order_symbol.as_slice()?, &grids)?.map_err(|e| scenario_error(py, "orders", e))?;
    let index = venue_index(index_ts.as_slice()?, index_price.as_slice()?, index_symbol.as_slice()?, &grids)
        .map_err(|e| scenario_error(py, "index", e))?;
    let v = &mut this.v;
    let started = std::time::Instant::now();
    let (out, states) = py
        .detach(|| sim::run_venue_with_states(v, &rows, &index, &specs, &spec, &state_times))
        .map_err(|e| match e {
            CoreError::Config { .. } => config_error(py, e),
            other => scenario_error(py, "scenario", other),
        })?;
    let wall = started.elapsed().as_secs_f64();
    let rows: Vec<(&SeriesRow, Grid, Grid)> =
        out.series.iter().map(|(k, r)| (r, grids[k.0 as usize].0, grids[k.0 as usize].1)).collect();
    let symbol: Vec<u8> = out.series.iter().map(|(k, _)| k.0 as u8).collect();
    let d = series_columns(py, &rows, Some(symbol))?;
    let result = PyDict::new(py);
    result.set_item("series", d)?;
    result.set_item("events", out.events)?;
    result.set_item("agent_actions", out.agent_actions)?;
    result.set_item("refused_orders", out.refused_orders.into_pyarray(py))?;
    result.set_item("wall_time", wall)?;
    // What each market's backstop holds at the end: (position in base units, notional in quote).
    let backstop: Vec<(f64, f64)> = (0..grids.len())
        .map(|k| {
            let (position, notional) = sim::backstop_holding(v.exchange(InstrumentId(k as u32)));
            (grids[k].1.to_f64(position), notional.to_f64())
        })
        .collect();
    result.set_item("backstop", backstop)?;
    let kept = PyList::empty(py);
    for (ts, state) in states {
        kept.append((ts, Py::new(py, PyMultiExchange { v: state, grids: grids.clone() })?))?;
    }
    result.set_item("states", kept)?;
    Ok(result)
}

/// Correlated index paths (see `liqsim_core::sim::paths`): `start_prices` in quote per market,
/// on each market's `tick_sizes`; returns (ts, symbol code, price) arrays, one row per market per
/// step in market order.
#[pyfunction]
#[pyo3(signature = (start_prices, tick_sizes, vols, correlation, start, end, step, seed))]
#[allow(clippy::too_many_arguments)]
fn correlated_index<'py>(
    py: Python<'py>,
    start_prices: Vec<f64>,
    tick_sizes: Vec<f64>,
    vols: Vec<f64>,
    correlation: Vec<f64>,
    start: i64,
    end: i64,
    step: i64,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    if tick_sizes.len() != start_prices.len() {
        return Err(config_error(
            py,
            CoreError::Config { what: "tick_sizes", message: "one tick size per market".into() },
        ));
    }
    let mut grids = Vec::with_capacity(tick_sizes.len());
    let mut ticks = Vec::with_capacity(tick_sizes.len());
    for (&t, &p) in tick_sizes.iter().zip(&start_prices) {
        let g = Grid::new("tick_size", t).map_err(|e| config_error(py, e))?;
        let steps = (p / t).round();
        if !(1.0..1e15).contains(&steps) {
            return Err(config_error(
                py,
                CoreError::Config { what: "start_prices", message: format!("{p} is not a price > 0 on tick {t}") },
            ));
        }
        ticks.push(steps as i64);
        grids.push(g);
    }
    let spec = PathSpec { start, end, step, start_prices: ticks, vols, correlation, seed };
    let rows: Vec<(InstrumentId, IndexPoint)> =
        py.detach(|| sim::correlated_index(&spec)).map_err(|e| config_error(py, e))?;
    let d = PyDict::new(py);
    d.set_item("ts", rows.iter().map(|(_, p)| p.ts).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("symbol", rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item(
        "price",
        rows.iter().map(|(k, p)| grids[k.0 as usize].to_f64(p.price)).collect::<Vec<_>>().into_pyarray(py),
    )?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate_venue, m)?)?;
    m.add_function(wrap_pyfunction!(correlated_index, m)?)?;
    Ok(())
}
