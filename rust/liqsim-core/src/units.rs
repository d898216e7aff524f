//! Conversion between the floats users speak (3850.01 USDT, 1.5 ETH) and the integers the engine
//! computes with (ticks, lots). Strict: a value that is not on the grid is an error, never rounded.

use crate::error::Error;

/// Relative tolerance for "on the grid": a value within this of a grid multiple is taken as that
/// multiple. Float inputs like 3850.01 are never exact binary fractions; 1e-9 accepts their
/// representation error and rejects any real off-grid value of a sane instrument.
pub const GRID_TOLERANCE: f64 = 1e-9;

/// Why a float could not become a whole number of grid steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridError {
    /// NaN or infinite.
    NotFinite,
    /// Not within [`GRID_TOLERANCE`] of a multiple of the step.
    OffGrid,
    /// Too large to count in an `i64` of steps.
    OutOfRange,
}

/// A price or quantity grid: tick size or lot size.
///
/// When the step is the reciprocal of a whole number (0.01 = 1/100, 0.001 = 1/1000, which covers
/// real instruments) conversions divide by that whole number instead of multiplying by the step,
/// so that `to_f64(from_f64(3850.01)) == 3850.01` bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    step: f64,
    /// `1 / step` when it is a whole number.
    per_unit: Option<f64>,
}

impl Grid {
    pub fn new(what: &'static str, step: f64) -> Result<Grid, Error> {
        if !(step.is_finite() && step > 0.0) {
            return Err(Error::Config { what, message: format!("must be a positive number, got {step}") });
        }
        let inv = 1.0 / step;
        let per_unit =
            if inv >= 1.0 && (inv - inv.round()).abs() <= GRID_TOLERANCE * inv { Some(inv.round()) } else { None };
        Ok(Grid { step, per_unit })
    }

    pub fn step(&self) -> f64 {
        self.step
    }

    /// The whole number of steps `x` stands for, or why it is not one.
    #[inline]
    pub fn to_steps(&self, x: f64) -> Result<i64, GridError> {
        if !x.is_finite() {
            return Err(GridError::NotFinite);
        }
        let raw = match self.per_unit {
            Some(k) => x * k,
            None => x / self.step,
        };
        let n = raw.round();
        if n.abs() >= 9.0e18 {
            return Err(GridError::OutOfRange);
        }
        // Compare in the caller's units: |n·step − x| relative to |x| (or to one step near zero).
        let back = self.to_f64(n as i64);
        if (back - x).abs() > GRID_TOLERANCE * x.abs().max(self.step) {
            return Err(GridError::OffGrid);
        }
        Ok(n as i64)
    }

    #[inline]
    pub fn to_f64(&self, steps: i64) -> f64 {
        self.wide_to_f64(steps as i128)
    }

    /// [`to_f64`](Self::to_f64) for sums that may exceed `i64` (depth over many levels).
    #[inline]
    pub fn wide_to_f64(&self, steps: i128) -> f64 {
        self.fraction_to_f64(steps as f64)
    }

    /// A fractional number of steps (an average price in ticks) in the caller's units, with the
    /// same exact division as [`to_f64`](Self::to_f64): an average of fills all at 4.35 is 4.35.
    #[inline]
    pub fn fraction_to_f64(&self, steps: f64) -> f64 {
        match self.per_unit {
            Some(k) => steps / k,
            None => steps * self.step,
        }
    }

    /// The average price of `notional` (ticks × lots) over `lots`, in the caller's units.
    #[inline]
    pub fn average(&self, notional: i128, lots: i64) -> f64 {
        self.fraction_to_f64(notional as f64 / lots as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_prices_round_trip_exactly() {
        let tick = Grid::new("tick_size", 0.01).unwrap();
        for x in [3850.01, 0.01, 0.07, 93_900.0, 123_456.78, 1e-2 * 3.0] {
            let n = tick.to_steps(x).unwrap();
            assert_eq!(tick.to_f64(n), x, "{x}");
        }
        assert_eq!(tick.to_steps(3850.01), Ok(385_001));
        let lot = Grid::new("lot_size", 0.001).unwrap();
        assert_eq!(lot.to_steps(1.5), Ok(1500));
        assert_eq!(lot.to_f64(1500), 1.5);
    }

    #[test]
    fn off_grid_values_are_errors_not_rounded() {
        let tick = Grid::new("tick_size", 0.01).unwrap();
        assert_eq!(tick.to_steps(3850.015), Err(GridError::OffGrid));
        // 1e-5 off on 3850 is 2.6e-9 relative: outside the 1e-9 tolerance. 1e-7 off (2.6e-11) is inside.
        assert_eq!(tick.to_steps(3850.01001), Err(GridError::OffGrid));
        assert_eq!(tick.to_steps(3850.0100001), Ok(385_001));
        assert_eq!(tick.to_steps(f64::NAN), Err(GridError::NotFinite));
        assert_eq!(tick.to_steps(f64::INFINITY), Err(GridError::NotFinite));
        assert_eq!(tick.to_steps(1e300), Err(GridError::OutOfRange));
    }

    #[test]
    fn steps_that_are_not_reciprocals_of_integers() {
        let g = Grid::new("tick_size", 0.5).unwrap(); // 1/0.5 = 2: still the exact path
        assert_eq!(g.to_steps(10.5), Ok(21));
        let g = Grid::new("tick_size", 2.5).unwrap(); // multiply path
        assert_eq!(g.to_steps(10.0), Ok(4));
        assert_eq!(g.to_steps(11.0), Err(GridError::OffGrid));
        assert_eq!(g.to_f64(4), 10.0);
    }

    #[test]
    fn averages_use_the_exact_division() {
        let tick = Grid::new("tick_size", 0.01).unwrap();
        // 3 lots all at 4.35: 1305 / 3 = 435 ticks → 4.35 exactly (435 × 0.01 would be 4.3500000000000005).
        assert_eq!(tick.average(1305, 3), 4.35);
        assert_eq!(tick.fraction_to_f64(113.0), 1.13);
    }

    #[test]
    fn bad_steps_are_config_errors() {
        assert!(Grid::new("tick_size", 0.0).is_err());
        assert!(Grid::new("tick_size", -0.01).is_err());
        assert!(Grid::new("lot_size", f64::NAN).is_err());
    }
}
