//! Seeded correlated index paths, for what-ifs: geometric Brownian motion without drift, one
//! path per instrument, log-returns jointly Gaussian with the given volatilities and correlation
//! matrix (through its Cholesky factor). One ChaCha stream per run ([`PATH_STREAM`] of the seed,
//! apart from the agents' streams), so the same spec gives the same rows byte for byte.

use crate::agents::AgentRng;
use crate::error::Error;
use crate::multi::InstrumentId;
use crate::types::{Price, Ts};

use super::IndexPoint;

/// The paths' stream of the run seed (agents use 1, 2, …; their account draws set bit 63).
pub const PATH_STREAM: u64 = 1 << 62;

/// Seconds in a year of 365 days: volatilities are annualised over calendar time (crypto trades
/// every day).
const YEAR_S: f64 = 365.0 * 86_400.0;

/// What the generator draws.
#[derive(Clone, Debug, PartialEq)]
pub struct PathSpec {
    /// First row at `start` (the start prices), then one row per instrument every `step`, through `end`.
    pub start: Ts,
    pub end: Ts,
    pub step: Ts,
    /// Per instrument: start price (ticks) and annualised volatility of log-returns.
    pub start_prices: Vec<Price>,
    pub vols: Vec<f64>,
    /// Row-major n × n correlation matrix of the log-returns (symmetric, ones on the diagonal,
    /// positive definite).
    pub correlation: Vec<f64>,
    pub seed: u64,
}

fn config(what: &'static str, message: String) -> Error {
    Error::Config { what, message }
}

/// Lower-triangular L with L·Lᵀ = `c` (n × n, row-major); an error when `c` is not a positive
/// definite correlation matrix.
fn cholesky(c: &[f64], n: usize) -> Result<Vec<f64>, Error> {
    for i in 0..n {
        if (c[i * n + i] - 1.0).abs() > 1e-12 {
            return Err(config("correlation", format!("diagonal entry {i} must be 1, got {}", c[i * n + i])));
        }
        for j in 0..n {
            let v = c[i * n + j];
            if !v.is_finite() || v.abs() > 1.0 || (v - c[j * n + i]).abs() > 1e-12 {
                return Err(config("correlation", format!("entry ({i}, {j}) = {v}: must be in [-1, 1] and symmetric")));
            }
        }
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = c[i * n + i] - s;
                // A singular matrix (two paths identical) is refused too: say ρ = 0.999 instead.
                if d <= 1e-12 {
                    return Err(config("correlation", "the matrix must be positive definite".into()));
                }
                l[i * n + j] = d.sqrt();
            } else {
                l[i * n + j] = (c[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// The rows of an `index` table: at each time (start, start + step, … ≤ end), one row per
/// instrument in instrument order. Prices are rounded to ticks (at least 1).
pub fn correlated_index(spec: &PathSpec) -> Result<Vec<(InstrumentId, IndexPoint)>, Error> {
    let n = spec.start_prices.len();
    if n == 0 {
        return Err(config("start_prices", "at least one instrument is needed".into()));
    }
    if spec.vols.len() != n {
        return Err(config("vols", format!("{} volatilities for {n} instruments", spec.vols.len())));
    }
    if spec.correlation.len() != n * n {
        return Err(config("correlation", format!("{} entries for a {n} × {n} matrix", spec.correlation.len())));
    }
    if let Some(p) = spec.start_prices.iter().find(|&&p| p <= 0) {
        return Err(config("start_prices", format!("must be > 0 ticks, got {p}")));
    }
    if let Some(v) = spec.vols.iter().find(|v| !(v.is_finite() && **v >= 0.0 && **v <= 100.0)) {
        return Err(config("vols", format!("must be in [0, 100] (annualised), got {v}")));
    }
    if spec.step <= 0 || spec.end < spec.start || spec.start < 0 {
        return Err(config("step", "step must be > 0 ns and start ≤ end".into()));
    }
    let steps = (spec.end - spec.start) / spec.step;
    if steps > 100_000_000 / n as i64 {
        return Err(config("step", format!("{steps} steps × {n} instruments is over 100 M rows")));
    }
    let l = cholesky(&spec.correlation, n)?;
    let dt_years = spec.step as f64 * 1e-9 / YEAR_S;
    let sd: Vec<f64> = spec.vols.iter().map(|v| v * dt_years.sqrt()).collect();
    let mut rng = AgentRng::new(spec.seed, PATH_STREAM);
    let mut log = vec![0.0f64; n];
    let mut z = vec![0.0f64; n];
    let mut rows = Vec::with_capacity((steps as usize + 1) * n);
    for s in 0..=steps {
        if s > 0 {
            for zk in z.iter_mut() {
                *zk = rng.normal();
            }
            for i in 0..n {
                let e: f64 = (0..=i).map(|k| l[i * n + k] * z[k]).sum();
                log[i] += sd[i] * e;
            }
        }
        let ts = spec.start + s * spec.step;
        for (i, &p0) in spec.start_prices.iter().enumerate() {
            let p = (p0 as f64 * log[i].exp()).round();
            if !(p.is_finite() && p < 4e18) {
                return Err(config("vols", format!("instrument {i}'s path leaves the price range at {ts} ns")));
            }
            rows.push((InstrumentId(i as u32), IndexPoint { ts, price: (p as Price).max(1) }));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> PathSpec {
        // BTC-like at 60,000.0 (tick 0.1) and ETH-like at 3,000.00 (tick 0.01): 600,000 and
        // 300,000 ticks; 60 % and 80 % a year; ρ = 0.8; one-second steps over ~2.3 days.
        PathSpec {
            start: 0,
            end: 200_000 * 1_000_000_000,
            step: 1_000_000_000,
            start_prices: vec![600_000, 300_000],
            vols: vec![0.6, 0.8],
            correlation: vec![1.0, 0.8, 0.8, 1.0],
            seed,
        }
    }

    #[test]
    fn volatility_and_correlation_within_sampling_error() {
        let rows = correlated_index(&spec(7)).unwrap();
        assert_eq!(rows.len(), 2 * 200_001);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for w in rows.chunks(2).collect::<Vec<_>>().windows(2) {
            a.push((w[1][0].1.price as f64 / w[0][0].1.price as f64).ln());
            b.push((w[1][1].1.price as f64 / w[0][1].1.price as f64).ln());
        }
        let n = a.len() as f64;
        let mean = |x: &[f64]| x.iter().sum::<f64>() / n;
        let (ma, mb) = (mean(&a), mean(&b));
        let va = a.iter().map(|x| (x - ma).powi(2)).sum::<f64>() / n;
        let vb = b.iter().map(|x| (x - mb).powi(2)).sum::<f64>() / n;
        let cov = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / n;
        let rho = cov / (va * vb).sqrt();
        // Per-second σ: 0.6 / √(31,536,000) = 1.0684e-4, 0.8 / √… = 1.4246e-4. Rounding to a tick
        // adds ≤ 0.5 tick of noise (≤ 1.7e-6 relative), negligible. Standard errors with n = 2e5:
        // σ̂ relative 1/√(2n) = 0.16 %; ρ̂ (1 − ρ²)/√n = 0.0008. Bounds at ~4 standard errors.
        let (sa, sb) = (va.sqrt() * YEAR_S.sqrt(), vb.sqrt() * YEAR_S.sqrt());
        assert!((sa - 0.6).abs() < 0.6 * 0.007, "σ_A {sa}");
        assert!((sb - 0.8).abs() < 0.8 * 0.007, "σ_B {sb}");
        assert!((rho - 0.8).abs() < 0.0035, "ρ {rho}");
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let mut s = spec(1);
        s.end = 1000 * 1_000_000_000;
        let (a, b) = (correlated_index(&s).unwrap(), correlated_index(&s).unwrap());
        assert_eq!(a, b);
        s.seed = 2;
        assert_ne!(a, correlated_index(&s).unwrap());
        assert_eq!(a[0].1.price, 600_000);
        assert_eq!(a[1].1.price, 300_000);
    }

    #[test]
    fn bad_correlation_is_refused() {
        let mut s = spec(1);
        s.correlation = vec![1.0, 1.0, 1.0, 1.0];
        assert!(matches!(correlated_index(&s), Err(Error::Config { what: "correlation", .. })));
        s.correlation = vec![1.0, 0.5, 0.4, 1.0];
        assert!(matches!(correlated_index(&s), Err(Error::Config { what: "correlation", .. })));
        s.correlation = vec![1.0, 0.5, 0.5];
        assert!(matches!(correlated_index(&s), Err(Error::Config { what: "correlation", .. })));
    }
}
