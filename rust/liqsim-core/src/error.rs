//! The one error type of the core. The binding maps it once to `liqsim.LiqsimError` subclasses.

use thiserror::Error as ThisError;

#[derive(Debug, Clone, PartialEq, ThisError)]
pub enum Error {
    /// Input data that cannot be turned into a market action at all (NaN, unknown code, off-grid
    /// value where the caller asked for strict conversion). Names the column and row.
    #[error("{column}, row {row}: {message}")]
    BadInput { column: &'static str, row: usize, message: String },
    /// Like `BadInput`, for inputs that span several tables (a scenario): names the table too.
    #[error("table '{table}', column '{column}', row {row}: {message}")]
    InTable { table: &'static str, column: &'static str, row: usize, message: String },
    /// A configuration value that makes no sense (tick size ≤ 0, empty tier table, …).
    #[error("invalid {what}: {message}")]
    Config { what: &'static str, message: String },
}
