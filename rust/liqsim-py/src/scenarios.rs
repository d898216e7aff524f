//! Bindings for `liqsim.scenarios`: placing positions by their liquidation price.

use liqsim_core::scenarios::{balance_for_liquidation_price, max_leverage_for};
use liqsim_core::venue::VenuePreset;
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::config_error;

/// Balances (quote) that put single positions' liquidation prices exactly at `liquidation_price`
/// under the venue's formula; NaN where no positive balance does it.
#[pyfunction]
pub fn balances_for_liquidation_prices<'py>(
    py: Python<'py>,
    size: PyReadonlyArray1<'py, f64>,
    entry_price: PyReadonlyArray1<'py, f64>,
    liquidation_price: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbol: &str,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let preset = VenuePreset::from_names(venue, symbol).map_err(|e| config_error(py, e))?;
    let (s, e, lp) = (size.as_slice()?, entry_price.as_slice()?, liquidation_price.as_slice()?);
    let out: Vec<f64> = py.detach(|| {
        s.iter()
            .zip(e)
            .zip(lp)
            .map(|((&s, &e), &lp)| balance_for_liquidation_price(&preset, s, e, lp).unwrap_or(f64::NAN))
            .collect()
    });
    Ok(out.into_pyarray(py))
}

/// The highest leverage setting allowed for positions of these notionals (quote) by the venue's tiers.
#[pyfunction]
pub fn max_leverages<'py>(
    py: Python<'py>,
    notional: PyReadonlyArray1<'py, f64>,
    venue: &str,
    symbol: &str,
) -> PyResult<Bound<'py, numpy::PyArray1<u32>>> {
    let preset = VenuePreset::from_names(venue, symbol).map_err(|e| config_error(py, e))?;
    let n = notional.as_slice()?;
    let out: Vec<u32> = py.detach(|| n.iter().map(|&x| max_leverage_for(&preset, x)).collect());
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(balances_for_liquidation_prices, m)?)?;
    m.add_function(wrap_pyfunction!(max_leverages, m)?)?;
    Ok(())
}
