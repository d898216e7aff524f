//! liqsim-core: the pure-Rust engine of liqsim.
//!
//! Modules follow the data: [`book`] (matching) → [`margin`] / [`venue`] (tiers, margin, liquidation
//! and bankruptcy prices) → [`funding`] (mark price and funding) → liquidation and simulation (later).
//! Nothing here knows about Python; `liqsim-py` is a thin binding over this crate.

pub mod account;
pub mod agents;
pub mod analysis;
pub mod batch;
pub mod book;
pub mod error;
pub mod exchange;
pub mod funding;
pub mod limits;
pub mod liquidation;
pub mod margin;
pub mod market;
pub mod multi;
mod prefetch;
pub mod replay;
pub mod scenarios;
pub mod sim;
pub mod snapshot;
pub mod stops;
pub mod sweep;
pub mod types;
pub mod units;
pub mod venue;

pub use error::Error;
pub use types::{Money, OrderId, Price, Qty, Side, TraderId, Ts, MONEY_SCALE};
