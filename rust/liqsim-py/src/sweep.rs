//! `liqsim._core.sweep`: many runs of one scenario in parallel (see `liqsim_core::sweep`).
//! Glue only: the base exchange, the scenario's columns and a list of run dicts in; one numpy
//! column per summary figure out, plus an `error` list (None where the run succeeded).

use liqsim_core::sim::{index_rows, RunSpec};
use liqsim_core::sweep::{run_many, RunPlan, RunSummary, VenueRunPlan, VenueRunSummary, SHOCK_TRADER};
use liqsim_core::units::Grid;
use liqsim_core::{Error as CoreError, Money};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::exchange::PyExchange;
use crate::multi::PyMultiExchange;
use crate::scenario_error;
use crate::sim::{agent_error, agent_spec, order_table};
use crate::sim_venue::{venue_agents, venue_index, venue_orders};

fn item<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    match d.get_item(key)? {
        Some(v) => Ok(v.extract::<T>().map_err(Into::into)?),
        None => Err(pyo3::exceptions::PyKeyError::new_err(format!("run dict has no {key:?}"))),
    }
}

/// One run dict as a plan; a bad agent or shock row is that run's error, not the sweep's.
fn plan(run: &Bound<'_, PyDict>, base: &RunSpec, tick: &Grid, lot: &Grid) -> PyResult<Result<RunPlan, CoreError>> {
    let spec = RunSpec { seed: item(run, "seed")?, end: item(run, "end")?, ..*base };
    let agents: Bound<'_, PyList> = item(run, "agents")?;
    let specs = agents
        .iter()
        .enumerate()
        .map(|(k, a)| {
            a.cast::<PyDict>().map_err(|_| agent_error(k, "not a dict".into())).and_then(|d| agent_spec(d, k, tick))
        })
        .collect::<Result<Vec<_>, _>>();
    let shock_orders: Bound<'_, PyDict> = item(run, "shock_orders")?;
    let shock_orders = order_table(&shock_orders, tick, lot)?;
    let (index_ts, index_price): (PyReadonlyArray1<'_, i64>, PyReadonlyArray1<'_, f64>) =
        (item(run, "shock_index_ts")?, item(run, "shock_index_price")?);
    let shock_index = index_rows(index_ts.as_slice()?, index_price.as_slice()?, tick);
    Ok((|| {
        Ok(RunPlan {
            spec,
            agents: specs?,
            shock_orders: shock_orders.map_err(|e| renamed(e, "shock_orders"))?,
            shock_index: shock_index.map_err(|e| renamed(e, "shock_index"))?,
        })
    })())
}

/// A shock row's error names the shock table, not the scenario's.
fn renamed(err: CoreError, table: &'static str) -> CoreError {
    match err {
        CoreError::InTable { column, row, message, .. } => CoreError::InTable { table, column, row, message },
        other => other,
    }
}

/// One numpy column per summary figure of `ok` (None: a failed run, NaN / 0 / false), named
/// `prefix` + the figure's name; prices on `tick`, positions on `lot`.
fn put_summary(
    d: &Bound<'_, PyDict>,
    prefix: &str,
    ok: &[Option<&RunSummary>],
    tick: &Grid,
    lot: &Grid,
) -> PyResult<()> {
    let py = d.py();
    let price = |p: Option<i64>| p.map_or(f64::NAN, |p| tick.to_f64(p));
    let f64s = |f: &dyn Fn(&RunSummary) -> f64| ok.iter().map(|s| s.map_or(f64::NAN, f)).collect::<Vec<f64>>();
    let i64s = |f: &dyn Fn(&RunSummary) -> i64| ok.iter().map(|s| s.map_or(0, f)).collect::<Vec<i64>>();
    let bools = |f: &dyn Fn(&RunSummary) -> bool| ok.iter().map(|s| s.is_some_and(f)).collect::<Vec<bool>>();
    let key = |name: &str| format!("{prefix}{name}");
    d.set_item(key("liquidated_long_notional"), f64s(&|s| s.liquidated_long.to_f64()).into_pyarray(py))?;
    d.set_item(key("liquidated_short_notional"), f64s(&|s| s.liquidated_short.to_f64()).into_pyarray(py))?;
    d.set_item(key("liquidated_long_count"), i64s(&|s| s.liquidated_long_count as i64).into_pyarray(py))?;
    d.set_item(key("liquidated_short_count"), i64s(&|s| s.liquidated_short_count as i64).into_pyarray(py))?;
    d.set_item(key("first_price"), f64s(&|s| price(s.first_last)).into_pyarray(py))?;
    d.set_item(key("peak_price"), f64s(&|s| price(s.peak_last)).into_pyarray(py))?;
    d.set_item(key("trough_price"), f64s(&|s| price(s.trough_last)).into_pyarray(py))?;
    d.set_item(key("last_price"), f64s(&|s| price(s.final_last)).into_pyarray(py))?;
    d.set_item(key("final_mark"), f64s(&|s| price(s.final_mark)).into_pyarray(py))?;
    d.set_item(key("cascade_rounds"), i64s(&|s| i64::from(s.deepest_round)).into_pyarray(py))?;
    d.set_item(key("stops_triggered"), i64s(&|s| s.stops_triggered as i64).into_pyarray(py))?;
    d.set_item(key("insurance_fund_change"), f64s(&|s| s.insurance_fund_change.to_f64()).into_pyarray(py))?;
    d.set_item(key("backstop_position"), f64s(&|s| lot.to_f64(s.backstop_position)).into_pyarray(py))?;
    d.set_item(key("backstop_notional"), f64s(&|s| s.backstop_notional.to_f64()).into_pyarray(py))?;
    d.set_item(key("adl_fills"), i64s(&|s| s.adl_count as i64).into_pyarray(py))?;
    d.set_item(key("bid_exhausted"), bools(&|s| s.bid_exhausted).into_pyarray(py))?;
    d.set_item(key("ask_exhausted"), bools(&|s| s.ask_exhausted).into_pyarray(py))?;
    d.set_item(key("events"), i64s(&|s| s.events as i64).into_pyarray(py))?;
    d.set_item(key("wall_time_s"), f64s(&|s| s.wall_time_s).into_pyarray(py))?;
    Ok(())
}

/// Results in run order: the error of a run whose dict was refused, else its core result.
fn in_order<T>(refused: Vec<Option<CoreError>>, results: Vec<Result<T, CoreError>>) -> Vec<Result<T, CoreError>> {
    let mut results = results.into_iter();
    refused
        .into_iter()
        .map(|r| match r {
            Some(e) => Err(e),
            None => results
                .next()
                .unwrap_or_else(|| Err(CoreError::Config { what: "run", message: "missing result".into() })),
        })
        .collect()
}

/// One venue run dict as a plan: as [`plan`], plus `shock_order_symbol` / `shock_index_symbol`
/// codes, and agents as (symbol code, dict) pairs (see `simulate_venue`).
fn venue_plan(
    run: &Bound<'_, PyDict>,
    base: &RunSpec,
    grids: &[(Grid, Grid)],
) -> PyResult<Result<VenueRunPlan, CoreError>> {
    let spec = RunSpec { seed: item(run, "seed")?, end: item(run, "end")?, ..*base };
    let agents: Bound<'_, PyList> = item(run, "agents")?;
    let specs = venue_agents(&agents, grids)?;
    let shock_orders: Bound<'_, PyDict> = item(run, "shock_orders")?;
    let order_symbol: PyReadonlyArray1<'_, u32> = item(run, "shock_order_symbol")?;
    let shock_orders = venue_orders(&shock_orders, order_symbol.as_slice()?, grids)?;
    let (index_ts, index_price, index_symbol): (
        PyReadonlyArray1<'_, i64>,
        PyReadonlyArray1<'_, f64>,
        PyReadonlyArray1<'_, u32>,
    ) = (item(run, "shock_index_ts")?, item(run, "shock_index_price")?, item(run, "shock_index_symbol")?);
    let shock_index = venue_index(index_ts.as_slice()?, index_price.as_slice()?, index_symbol.as_slice()?, grids);
    Ok((|| {
        Ok(RunPlan {
            spec,
            agents: specs?,
            shock_orders: shock_orders.map_err(|e| renamed(e, "shock_orders"))?,
            shock_index: shock_index.map_err(|e| renamed(e, "shock_index"))?,
        })
    })())
}

/// Every run dict of `runs` as a plan by `make`, from the run spec both sweeps share (from
/// `start`, the sampling period, the agents' balance; `make` sets seed and end): the plans that
/// could be made, and per run the error of one that could not (`None` for a plan), for
/// [`in_order`]. A run that is not a dict is a TypeError for the whole call.
fn run_plans<P>(
    runs: &Bound<'_, PyList>,
    start: i64,
    sample_every: i64,
    agent_balance: f64,
    mut make: impl FnMut(&Bound<'_, PyDict>, &RunSpec) -> PyResult<Result<P, CoreError>>,
) -> PyResult<(Vec<P>, Vec<Option<CoreError>>)> {
    let base = RunSpec {
        start,
        end: start,
        sample_every,
        seed: 0,
        check_invariants: false,
        agent_balance: Money::from_f64(agent_balance),
    };
    let mut plans = Vec::with_capacity(runs.len());
    let mut refused: Vec<Option<CoreError>> = Vec::with_capacity(runs.len());
    for run in runs.iter() {
        let run =
            run.cast::<PyDict>().map_err(|_| pyo3::exceptions::PyTypeError::new_err("each run must be a dict"))?;
        match make(run, &base)? {
            Ok(p) => {
                plans.push(p);
                refused.push(None);
            }
            Err(e) => refused.push(Some(e)),
        }
    }
    Ok((plans, refused))
}

/// `sweep` for a venue of several markets (`MultiExchange`, left unchanged): the scenario's
/// `orders` columns with `order_symbol` codes, index columns with `index_symbol` codes, and run
/// dicts as for `sweep` with symbol codes for the shock rows and (code, dict) agents. Returns the
/// venue's columns (liquidated notional and counts, cascade_rounds, stops_triggered,
/// insurance_fund_change, backstop_notional, adl_fills: sums over the markets, the deepest round;
/// bid_exhausted / ask_exhausted: that side of any market's book; `transfers`, `events`,
/// `wall_time_s`), every figure of each market as `SYMBOL.<figure>`, and `error`.
#[pyfunction]
#[pyo3(signature = (venue, orders, order_symbol, index_ts, index_price, index_symbol, runs, start, sample_every, agent_balance, threads=None))]
#[allow(clippy::too_many_arguments)]
fn sweep_venue<'py>(
    py: Python<'py>,
    venue: &Bound<'py, PyMultiExchange>,
    orders: &Bound<'py, PyDict>,
    order_symbol: PyReadonlyArray1<'py, u32>,
    index_ts: PyReadonlyArray1<'py, i64>,
    index_price: PyReadonlyArray1<'py, f64>,
    index_symbol: PyReadonlyArray1<'py, u32>,
    runs: &Bound<'py, PyList>,
    start: i64,
    sample_every: i64,
    agent_balance: f64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let this = venue.borrow();
    let grids = this.grids.clone();
    let rows = venue_orders(orders, order_symbol.as_slice()?, &grids)?.map_err(|e| scenario_error(py, "orders", e))?;
    let index = venue_index(index_ts.as_slice()?, index_price.as_slice()?, index_symbol.as_slice()?, &grids)
        .map_err(|e| scenario_error(py, "index", e))?;
    let (plans, refused) =
        run_plans(runs, start, sample_every, agent_balance, |run, base| venue_plan(run, base, &grids))?;
    let v = &this.v;
    let all: Vec<Result<VenueRunSummary, CoreError>> =
        in_order(refused, py.detach(|| run_many(v, &rows, &index, &plans, threads)));

    let d = PyDict::new(py);
    let venue_ok: Vec<Option<&RunSummary>> = all.iter().map(|r| r.as_ref().ok().map(|s| &s.venue)).collect();
    // The venue's prices are None (instruments' prices do not add up): put_summary's price
    // columns for it would be all NaN, so they are dropped, as is its backstop position (lots
    // of different instruments do not add up either; its backstop notional, a sum of quote, stays).
    // Its `bid_exhausted` / `ask_exhausted` stay: a side of some market's book was empty at some
    // sample.
    put_summary(&d, "", &venue_ok, &grids[0].0, &grids[0].1)?;
    for name in ["first_price", "peak_price", "trough_price", "last_price", "final_mark", "backstop_position"] {
        d.del_item(name)?;
    }
    let transfers: Vec<i64> = all.iter().map(|r| r.as_ref().map_or(0, |s| s.transfers as i64)).collect();
    d.set_item("transfers", transfers.into_pyarray(py))?;
    for (k, inst) in v.instruments().iter().enumerate() {
        let ok: Vec<Option<&RunSummary>> = all.iter().map(|r| r.as_ref().ok().map(|s| &s.instruments[k])).collect();
        put_summary(&d, &format!("{}.", inst.symbol), &ok, &grids[k].0, &grids[k].1)?;
        d.del_item(format!("{}.events", inst.symbol))?;
        d.del_item(format!("{}.wall_time_s", inst.symbol))?;
    }
    let errors: Vec<Option<String>> = all.iter().map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
    d.set_item("error", errors)?;
    Ok(d)
}

/// Run every plan in `runs` from a clone of `exchange` (left unchanged), GIL released, on at most
/// `threads` threads. `orders`, `index_*`: the scenario's tables, as for `simulate`. Each run is
/// a dict: seed, end (ns), agents (as for `simulate`), shock_orders (order columns),
/// shock_index_ts / shock_index_price. Returns summary columns (money in quote, prices and the
/// backstop's position in the user's units, NaN where there was none) and `error` (a message or
/// None per run).
#[pyfunction]
#[pyo3(signature = (exchange, orders, index_ts, index_price, runs, start, sample_every, agent_balance, threads=None))]
#[allow(clippy::too_many_arguments)]
fn sweep<'py>(
    py: Python<'py>,
    exchange: &Bound<'py, PyExchange>,
    orders: &Bound<'py, PyDict>,
    index_ts: PyReadonlyArray1<'py, i64>,
    index_price: PyReadonlyArray1<'py, f64>,
    runs: &Bound<'py, PyList>,
    start: i64,
    sample_every: i64,
    agent_balance: f64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let this = exchange.borrow();
    let (tick, lot) = (this.tick, this.lot);
    let rows = order_table(orders, &tick, &lot)?.map_err(|e| scenario_error(py, "orders", e))?;
    let index =
        index_rows(index_ts.as_slice()?, index_price.as_slice()?, &tick).map_err(|e| scenario_error(py, "index", e))?;
    let (plans, refused) =
        run_plans(runs, start, sample_every, agent_balance, |run, base| plan(run, base, &tick, &lot))?;
    let ex = &this.ex;
    let all: Vec<Result<RunSummary, CoreError>> =
        in_order(refused, py.detach(|| run_many(ex, &rows, &index, &plans, threads)));

    let ok: Vec<Option<&RunSummary>> = all.iter().map(|r| r.as_ref().ok()).collect();
    let d = PyDict::new(py);
    put_summary(&d, "", &ok, &tick, &lot)?;
    let errors: Vec<Option<String>> = all.iter().map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
    d.set_item("error", errors)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_venue, m)?)?;
    m.add("SHOCK_TRADER_ID", SHOCK_TRADER.0)?;
    Ok(())
}
