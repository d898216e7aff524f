//! Replay of recorded Binance futures market-data streams: rebuild the L2 book from a REST snapshot
//! and `depthUpdate` diffs with Binance's sync rules, check it against the venue's own `bookTicker`,
//! and produce top-of-book and depth series, trades, gaps and books at chosen times.
//!
//! Input files are gzip, one message per line: `<local receive time, ns> <JSON>` (see
//! `shared/data/README.md`). Several files are read as one stream, so a recording split across files
//! keeps its `pu` chain. Reading is streaming (inflated blocks of 256 KiB, a bounded queue of them
//! when inflating runs on its own thread, bounded sync buffers): working memory does not grow with
//! file length; only the outputs asked for do.
//!
//! Prices and quantities are kept as fixed-point integers in units of 1e-8 ([`UNITS_PER_ONE`]),
//! parsed exactly from the decimal strings Binance sends; a value with more than 8 decimals or too
//! large for an `i64` is an error, never rounded. Floats appear only in the outputs.
//!
//! JSON: the lines the recorder writes (`{"stream":…,"data":{…}}` diffs, tickers, trades) are read
//! by a single-pass scan of the bytes (`scan.rs`) that keeps only the needed keys and parses
//! decimals straight to units; any line it is not sure of (and REST snapshots, other shapes) goes
//! to `serde_json` with borrowed strings, the most widely used and best kept Rust JSON parser,
//! which also gives every error message. The tests hold the scan to serde's result on every
//! recorded line and on every single-byte mutation of sample lines. `sonic-rs` (SIMD) was measured
//! only 16% faster than serde_json on the inflate + decode stage (portable build, no
//! `target-cpu`); the scan halves the decoding time (85 → 43 ms CPU for btcusdt_20240808 in
//! the quick profile; 34 ms in release: README performance table).
//!
//! Threads: inflating runs a block ahead on a second thread when more than one is allowed
//! ([`ReplayOptions::threads`], default rayon's count); decoding and the replay stay in line
//! order on the calling thread, so outputs are identical for any thread count.

mod book;
mod lines;
mod message;
#[cfg(test)]
mod reading_tests;
mod scan;
mod sync;
#[cfg(test)]
mod tests;

use std::path::Path;

use thiserror::Error as ThisError;

pub use book::{Depth, L2Book, Top};
pub use lines::LineReader;
pub use message::{parse_line, parse_line_with_symbol, Message, StreamSymbol};
pub use sync::{
    BookSnapshot, FileCheck, Gap, GapKind, Mismatch, ReplayOptions, ReplayOutput, Replayer, SeriesColumns, TopColumns,
    TradeColumns,
};

use crate::Side;

/// Fixed-point scale of prices and quantities in the replay: 1 unit = 1e-8.
pub const UNITS_PER_ONE: i64 = 100_000_000;
const DECIMALS: usize = 8;

/// Why a recorded stream could not be read or replayed.
#[derive(Debug, Clone, PartialEq, ThisError)]
pub enum ReplayError {
    #[error("{path}: cannot read: {message}")]
    Io { path: String, message: String },
    /// A line that is not `<ns> <JSON message>` of a known shape; `line` is 1-based.
    #[error("{path}, line {line}: {message}")]
    Malformed { path: String, line: u64, message: String },
    #[error("invalid {what}: {message}")]
    Config { what: &'static str, message: String },
}

/// A decimal string (`"63943.90"`, `"0.000"`, `"35"`) as an exact count of 1e-8 units.
/// `None` for anything else: a sign, an exponent, more than 8 decimals, or more than `i64` holds.
pub fn parse_units(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (int_part, frac_part) = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => (&bytes[..dot], &bytes[dot + 1..]),
        None => (bytes, &bytes[bytes.len()..]),
    };
    if int_part.is_empty() || frac_part.len() > DECIMALS {
        return None;
    }
    // Hot path (every price and quantity): up to 18 digits cannot overflow an i64, so the
    // accumulation needs no checks; only the final scaling can.
    let mut value: i64 = 0;
    let wide = int_part.len() + frac_part.len() > 18;
    for part in [int_part, frac_part] {
        for &b in part {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            value = if wide { value.checked_mul(10)?.checked_add(digit as i64)? } else { value * 10 + digit as i64 };
        }
    }
    value.checked_mul(POW10[DECIMALS - frac_part.len()])
}

const POW10: [i64; DECIMALS + 1] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// Units (1e-8) as a float: the nearest double to the decimal the venue sent.
#[inline]
pub fn units_to_f64(units: i64) -> f64 {
    units as f64 / UNITS_PER_ONE as f64
}

/// Price × quantity of two unit counts, as a float in the quote currency.
#[inline]
pub fn notional_f64(price: i64, qty: i64) -> f64 {
    (price as i128 * qty as i128) as f64 / (UNITS_PER_ONE as f64 * UNITS_PER_ONE as f64)
}

/// One price level change of a diff or snapshot: absolute quantity, 0 removes the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelUpdate {
    pub side: Side,
    pub price: i64,
    pub qty: i64,
}

/// Where a line came from: index into the path list and 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePosition {
    pub file: usize,
    pub line: u64,
}

/// Threads for reading: `None` is rayon's current count (`RAYON_NUM_THREADS`, or the pool the
/// call runs in), so the replay follows the same setting as the rest of the library.
fn reading_threads(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(rayon::current_num_threads)
}

/// Decode the files' lines in order and hand each message to `visit` (which returns false to
/// stop). With `threads` > 1, inflating runs a block ahead on a second thread (see `lines.rs`);
/// decoding and the visitor stay on this thread, in line order, so the result does not depend on
/// the thread count.
fn for_each_message<P: AsRef<Path>>(
    paths: &[P],
    threads: usize,
    mut visit: impl FnMut(i64, LinePosition, &Message) -> bool,
) -> Result<(), ReplayError> {
    let mut lines = LineReader::with_threads(paths, threads)?;
    let mut message = Message::default();
    // One book per replay: a recording that mixes symbols (several streams in one connection)
    // would blend their diffs, and its REST snapshots do not say which symbol they are.
    let mut first_symbol: Option<StreamSymbol> = None;
    while let Some((position, text)) = lines.next_line()? {
        let (ts, symbol) = parse_line_with_symbol(text, &mut message).map_err(|message| ReplayError::Malformed {
            path: lines.path(position.file),
            line: position.line,
            message,
        })?;
        if let Some(symbol) = symbol.filter(|_| !matches!(message, Message::Other)) {
            match first_symbol {
                None => first_symbol = Some(symbol),
                Some(first) if first != symbol => {
                    let message = format!(
                        "the recording mixes symbols ({} and {}); replay one symbol per file",
                        first.as_str(),
                        symbol.as_str()
                    );
                    return Err(ReplayError::Malformed {
                        path: lines.path(position.file),
                        line: position.line,
                        message,
                    });
                }
                Some(_) => {}
            }
        }
        if !visit(ts, position, &message) {
            break;
        }
    }
    Ok(())
}

/// Replay the files as one stream (see [`Replayer`] for the rules and outputs).
pub fn replay_files<P: AsRef<Path>>(paths: &[P], options: ReplayOptions) -> Result<ReplayOutput, ReplayError> {
    let threads = reading_threads(options.threads);
    let mut replayer = Replayer::new(options, paths.len())?;
    for_each_message(paths, threads, |ts, position, message| replayer.on_message(ts, position, message))?;
    Ok(replayer.finish())
}

/// The decoded messages of a stream as columns (fixed-point units of 1e-8): what
/// `read_binance_stream` returns, and what the decoded-diff benchmark replays.
#[derive(Debug, Default, Clone)]
pub struct DecodedStream {
    /// One row per level of a `depthUpdate`: message fields repeated.
    pub depth: DepthColumns,
    /// One row per level of a REST snapshot.
    pub snapshots: SnapshotColumns,
    pub book_ticker: BookTickerColumns,
    pub trades: RawTradeColumns,
    /// Lines of a kind the replay does not use (other streams), per file.
    pub skipped: Vec<u64>,
}

#[derive(Debug, Default, Clone)]
pub struct DepthColumns {
    pub ts: Vec<i64>,
    pub event_time_ms: Vec<i64>,
    pub first_update_id: Vec<i64>,
    pub update_id: Vec<i64>,
    /// −1 when the stream has no `pu` (spot).
    pub prev_update_id: Vec<i64>,
    pub side: Vec<u8>,
    pub price: Vec<i64>,
    pub qty: Vec<i64>,
}

#[derive(Debug, Default, Clone)]
pub struct SnapshotColumns {
    pub ts: Vec<i64>,
    pub last_update_id: Vec<i64>,
    pub side: Vec<u8>,
    pub price: Vec<i64>,
    pub qty: Vec<i64>,
}

#[derive(Debug, Default, Clone)]
pub struct BookTickerColumns {
    pub ts: Vec<i64>,
    pub event_time_ms: Vec<i64>,
    pub update_id: Vec<i64>,
    pub bid: Vec<i64>,
    pub bid_qty: Vec<i64>,
    pub ask: Vec<i64>,
    pub ask_qty: Vec<i64>,
}

#[derive(Debug, Default, Clone)]
pub struct RawTradeColumns {
    pub ts: Vec<i64>,
    pub trade_time_ms: Vec<i64>,
    pub trade_id: Vec<i64>,
    pub price: Vec<i64>,
    pub qty: Vec<i64>,
    /// Aggressor: 0 buy, 1 sell (Binance's `m`, buyer is maker, means a sell aggressor).
    pub side: Vec<u8>,
}

fn id_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// Decode every message of the files into columns, without replaying.
pub fn decode_files<P: AsRef<Path>>(paths: &[P]) -> Result<DecodedStream, ReplayError> {
    decode_files_with_threads(paths, None)
}

/// [`decode_files`] with the reading threads chosen as in [`ReplayOptions::threads`].
pub fn decode_files_with_threads<P: AsRef<Path>>(
    paths: &[P],
    threads: Option<usize>,
) -> Result<DecodedStream, ReplayError> {
    let mut out = DecodedStream { skipped: vec![0; paths.len()], ..Default::default() };
    for_each_message(paths, reading_threads(threads), |ts, position, message| {
        out.push(ts, position, message);
        true
    })?;
    Ok(out)
}

impl DecodedStream {
    fn push(&mut self, ts: i64, position: LinePosition, message: &Message) {
        let out = self;
        match message {
            Message::Depth(d) => {
                let c = &mut out.depth;
                for l in &d.levels {
                    c.ts.push(ts);
                    c.event_time_ms.push(d.event_time_ms);
                    c.first_update_id.push(id_i64(d.first_update_id));
                    c.update_id.push(id_i64(d.update_id));
                    c.prev_update_id.push(d.prev_update_id.map(id_i64).unwrap_or(-1));
                    c.side.push(l.side as u8);
                    c.price.push(l.price);
                    c.qty.push(l.qty);
                }
            }
            Message::Snapshot(s) => {
                let c = &mut out.snapshots;
                for l in &s.levels {
                    c.ts.push(ts);
                    c.last_update_id.push(id_i64(s.last_update_id));
                    c.side.push(l.side as u8);
                    c.price.push(l.price);
                    c.qty.push(l.qty);
                }
            }
            Message::BookTicker(b) => {
                let c = &mut out.book_ticker;
                c.ts.push(ts);
                c.event_time_ms.push(b.event_time_ms);
                c.update_id.push(id_i64(b.update_id));
                c.bid.push(b.bid);
                c.bid_qty.push(b.bid_qty);
                c.ask.push(b.ask);
                c.ask_qty.push(b.ask_qty);
            }
            Message::Trade(t) => {
                let c = &mut out.trades;
                c.ts.push(ts);
                c.trade_time_ms.push(t.trade_time_ms);
                c.trade_id.push(id_i64(t.trade_id));
                c.price.push(t.price);
                c.qty.push(t.qty);
                c.side.push(t.aggressor as u8);
            }
            Message::Other => out.skipped[position.file] += 1,
        }
    }
}
