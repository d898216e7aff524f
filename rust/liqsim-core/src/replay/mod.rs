//! Replay of recorded Binance futures market-data streams: rebuild the L2 book from a REST snapshot
//! and `depthUpdate` diffs with Binance's sync rules, check it against the venue's own `bookTicker`,
//! and produce top-of-book and depth series, trades, gaps and books at chosen times.
//!
//! Input files are gzip, one message per line: `<local receive time, ns> <JSON>` (see
//! `shared/data/README.md`). Several files are read as one stream, so a recording split across files
//! keeps its `pu` chain. Reading is streaming (one line buffer, bounded sync buffers): working memory
//! does not grow with file length; only the outputs asked for do.
//!
//! Prices and quantities are kept as fixed-point integers in units of 1e-8 ([`UNITS_PER_ONE`]),
//! parsed exactly from the decimal strings Binance sends; a value with more than 8 decimals or too
//! large for an `i64` is an error, never rounded. Floats appear only in the outputs.
//!
//! JSON: `serde_json` with borrowed strings (prices and quantities are JSON strings, so they are
//! read as `&str` slices of the line without allocating); it is the most widely used and best kept
//! Rust JSON parser. `sonic-rs` (SIMD) was measured only 16% faster on the inflate + decode stage
//! of `benches/replay.rs` (portable build, no `target-cpu`), not worth a second JSON stack.
//! (A multi-threaded pipeline was measured too; see `for_each_message`.)

mod book;
mod message;
mod sync;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use thiserror::Error as ThisError;

pub use book::{Depth, L2Book, Top};
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

/// Lines of several gzip files, read as one stream with a reused line buffer.
pub struct LineReader {
    paths: Vec<PathBuf>,
    file_index: usize,
    reader: Option<BufReader<MultiGzDecoder<File>>>,
    line_number: u64,
    buffer: Vec<u8>,
}

/// Where a line came from: index into the path list and 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePosition {
    pub file: usize,
    pub line: u64,
}

impl LineReader {
    pub fn new<P: AsRef<Path>>(paths: &[P]) -> Result<LineReader, ReplayError> {
        if paths.is_empty() {
            return Err(ReplayError::Config { what: "paths", message: "no file given".into() });
        }
        Ok(LineReader {
            paths: paths.iter().map(|p| p.as_ref().to_path_buf()).collect(),
            file_index: 0,
            reader: None,
            line_number: 0,
            buffer: Vec::with_capacity(1 << 16),
        })
    }

    pub fn path(&self, file: usize) -> String {
        self.paths.get(file).map(|p| p.display().to_string()).unwrap_or_default()
    }

    pub fn file_count(&self) -> usize {
        self.paths.len()
    }

    /// The next non-empty line (without its newline) and its position; `None` after the last file.
    pub fn next_line(&mut self) -> Result<Option<(LinePosition, &str)>, ReplayError> {
        loop {
            if self.file_index >= self.paths.len() {
                return Ok(None);
            }
            if self.reader.is_none() {
                let path = &self.paths[self.file_index];
                let file = File::open(path)
                    .map_err(|e| ReplayError::Io { path: self.path(self.file_index), message: e.to_string() })?;
                self.reader = Some(BufReader::with_capacity(1 << 18, MultiGzDecoder::new(file)));
                self.line_number = 0;
            }
            self.buffer.clear();
            let read = match self.reader.as_mut() {
                Some(r) => r.read_until(b'\n', &mut self.buffer),
                None => Ok(0),
            };
            let read = read.map_err(|e| ReplayError::Malformed {
                path: self.path(self.file_index),
                line: self.line_number + 1,
                message: format!("cannot decompress: {e}"),
            })?;
            if read == 0 {
                self.reader = None;
                self.file_index += 1;
                continue;
            }
            self.line_number += 1;
            while matches!(self.buffer.last(), Some(b'\n' | b'\r')) {
                self.buffer.pop();
            }
            if self.buffer.is_empty() {
                continue;
            }
            let position = LinePosition { file: self.file_index, line: self.line_number };
            let text = std::str::from_utf8(&self.buffer).map_err(|_| ReplayError::Malformed {
                path: self.path(position.file),
                line: position.line,
                message: "not UTF-8 text".into(),
            })?;
            return Ok(Some((position, text)));
        }
    }
}

/// Decode the files' lines in order and hand each message to `visit` (which returns false to
/// stop). One thread: a pipeline (inflating on a second thread, decoding blocks of lines on the
/// rayon pool) was built and measured against this on the project's shared 2-core machine, and
/// was slower as often as faster (btcusdt_20240808: 165–460 ms vs 150–396 ms in the same runs),
/// so the simple path stays.
fn for_each_message<P: AsRef<Path>>(
    paths: &[P],
    mut visit: impl FnMut(i64, LinePosition, &Message) -> bool,
) -> Result<(), ReplayError> {
    let mut lines = LineReader::new(paths)?;
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
    let mut replayer = Replayer::new(options, paths.len())?;
    for_each_message(paths, |ts, position, message| replayer.on_message(ts, position, message))?;
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
    let mut out = DecodedStream { skipped: vec![0; paths.len()], ..Default::default() };
    for_each_message(paths, |ts, position, message| {
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
