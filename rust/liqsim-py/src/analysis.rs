//! Binding of `liqsim_core::analysis`: liquidation maps and the heatmap estimate.

use liqsim_core::analysis::{
    account_liquidation_prices, bucket_liquidations, estimate_heatmap, BarColumns, EstimateParams, OiDecrease,
    PositionColumns, PriceGrid, SideMap,
};
use liqsim_core::margin::TierTable;
use liqsim_core::venue::{Venue, VenuePreset};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{config_error, liqsim_error, scenario_error};

/// Tier rows from Python: floor, cap, MMR, max leverage.
type TierColumns = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<u32>);

fn preset(py: Python<'_>, venue: &str, symbol: &str, tiers: Option<TierColumns>) -> PyResult<VenuePreset> {
    match tiers {
        None => VenuePreset::from_names(venue, symbol).map_err(|e| config_error(py, e)),
        Some((floor, cap, mmr, lev)) => {
            let rows: Vec<(f64, f64, f64, u32)> =
                floor.iter().zip(&cap).zip(&mmr).zip(&lev).map(|(((&f, &c), &m), &l)| (f, c, m, l)).collect();
            let table = TierTable::from_f64_rows(&rows).map_err(|e| config_error(py, e))?;
            let venue = Venue::from_name(venue).map_err(|e| config_error(py, e))?;
            Ok(VenuePreset::custom(venue, symbol, table))
        }
    }
}

fn side_dict<'py>(py: Python<'py>, side: SideMap) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("notional", side.notional.into_pyarray(py))?;
    d.set_item("qty", side.qty.into_pyarray(py))?;
    d.set_item("count", side.count.into_pyarray(py))?;
    d.set_item("below", side.below)?;
    d.set_item("above", side.above)?;
    d.set_item("never", side.never)?;
    Ok(d)
}

/// Liquidation prices of account rows (NaN where none), with the venue's formula.
#[pyfunction]
#[pyo3(signature = (size, entry_price, balance, isolated, leverage, isolated_margin, venue, symbol, tiers=None))]
#[allow(clippy::too_many_arguments)]
pub fn account_liq_prices<'py>(
    py: Python<'py>,
    size: PyReadonlyArray1<'py, f64>,
    entry_price: PyReadonlyArray1<'py, f64>,
    balance: PyReadonlyArray1<'py, f64>,
    isolated: PyReadonlyArray1<'py, bool>,
    leverage: PyReadonlyArray1<'py, f64>,
    isolated_margin: Option<PyReadonlyArray1<'py, f64>>,
    venue: &str,
    symbol: &str,
    tiers: Option<TierColumns>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let preset = preset(py, venue, symbol, tiers)?;
    let cols = PositionColumns {
        size: size.as_slice()?,
        entry_price: entry_price.as_slice()?,
        balance: balance.as_slice()?,
        isolated: isolated.as_slice()?,
        isolated_margin: isolated_margin.as_ref().map(|a| a.as_slice()).transpose()?,
        leverage: leverage.as_slice()?,
    };
    let out =
        py.detach(|| account_liquidation_prices(&preset, &cols)).map_err(|e| scenario_error(py, "accounts", e))?;
    Ok(out.into_pyarray(py))
}

/// Positions summed per bucket of `edges` by their liquidation price.
#[pyfunction]
pub fn bucket_liquidation_map<'py>(
    py: Python<'py>,
    edges: Vec<f64>,
    liq_price: PyReadonlyArray1<'py, f64>,
    size: PyReadonlyArray1<'py, f64>,
    entry_price: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let grid = PriceGrid::new(edges).map_err(|e| config_error(py, e))?;
    let (lp, s, e) = (liq_price.as_slice()?, size.as_slice()?, entry_price.as_slice()?);
    let map = py.detach(|| bucket_liquidations(&grid, lp, s, e)).map_err(|e| scenario_error(py, "accounts", e))?;
    let d = PyDict::new(py);
    d.set_item("long", side_dict(py, map.long)?)?;
    d.set_item("short", side_dict(py, map.short)?)?;
    Ok(d)
}

/// The heatmap estimate over bar columns; see `liqsim.estimate_liquidation_map`.
#[pyfunction]
#[pyo3(signature = (edges, high, low, open_price, oi_change, oi_closed_fraction, long_share, leverage, weights, position_notional,
                    oi_decrease, lookback, venue, symbol, tiers=None))]
#[allow(clippy::too_many_arguments)]
pub fn estimate_liquidation_heatmap<'py>(
    py: Python<'py>,
    edges: Vec<f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    open_price: PyReadonlyArray1<'py, f64>,
    oi_change: PyReadonlyArray1<'py, f64>,
    oi_closed_fraction: PyReadonlyArray1<'py, f64>,
    long_share: PyReadonlyArray1<'py, f64>,
    leverage: Vec<f64>,
    weights: Vec<f64>,
    position_notional: f64,
    oi_decrease: &str,
    lookback: Option<usize>,
    venue: &str,
    symbol: &str,
    tiers: Option<TierColumns>,
) -> PyResult<Bound<'py, PyDict>> {
    let preset = preset(py, venue, symbol, tiers)?;
    let grid = PriceGrid::new(edges).map_err(|e| config_error(py, e))?;
    let oi_decrease = match oi_decrease {
        "proportional" => OiDecrease::Proportional,
        "oldest" => OiDecrease::Oldest,
        "nearest" => OiDecrease::Nearest,
        other => {
            let msg = format!("oi_decrease must be 'proportional', 'oldest' or 'nearest', got {other:?}");
            return Err(liqsim_error(py, "LiqsimError", msg, &[]));
        }
    };
    let params = EstimateParams { leverage, weights, position_notional, oi_decrease, lookback };
    let bars = BarColumns {
        high: high.as_slice()?,
        low: low.as_slice()?,
        open_price: open_price.as_slice()?,
        oi_change: oi_change.as_slice()?,
        oi_closed_fraction: oi_closed_fraction.as_slice()?,
        long_share: long_share.as_slice()?,
    };
    let out =
        py.detach(|| estimate_heatmap(&preset, &grid, &bars, &params)).map_err(|e| scenario_error(py, "bars", e))?;
    let d = PyDict::new(py);
    d.set_item("long", out.long.into_pyarray(py))?;
    d.set_item("short", out.short.into_pyarray(py))?;
    d.set_item("long_total", out.long_total.into_pyarray(py))?;
    d.set_item("short_total", out.short_total.into_pyarray(py))?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(account_liq_prices, m)?)?;
    m.add_function(wrap_pyfunction!(bucket_liquidation_map, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_liquidation_heatmap, m)?)?;
    Ok(())
}
