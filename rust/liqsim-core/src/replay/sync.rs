//! Binance's rules for a consistent local book, the bookTicker agreement check, and the outputs.
//!
//! Sync rules (Binance USDⓈ-M / COIN-M "How to manage a local order book correctly", restated in
//! `shared/data/README.md`):
//! 1. Diffs received before a snapshot are buffered (bounded: only the newest are kept).
//! 2. On a snapshot with `lastUpdateId` L: drop diffs with `u < L`; the first applied diff must
//!    straddle L (`U ≤ L + 1` and `u ≥ L`, the futures form of `U ≤ L ≤ u`), else the snapshot is too
//!    old for the diffs we have: a gap. Futures ids are shared across symbols, so a snapshot id
//!    can fall between two diffs of this symbol (`pu ≤ L < U`); `pu` says no update of this symbol
//!    happened between `pu` and `U`, so such a diff continues the snapshot's book exactly and is
//!    accepted too.
//! 3. Afterwards each diff's `pu` must equal the previous applied diff's `u` (streams without `pu`,
//!    as on spot, need `U = previous u + 1`); a diff with `u` ≤ the previous `u` is a duplicate
//!    and dropped. Anything else is a gap: it is reported with its ids, the book is marked out of
//!    sync (no values are reported from it) and it resyncs at the next snapshot. It never silently
//!    continues.
//!
//! A `bookTicker` with update id `u` shows the book after every diff with final id ≤ `u`. It can be
//! aligned with the rebuilt book when `u` falls between two applied diffs (`u_k ≤ u < U_{k+1}`):
//! then the book after diff k must show the same best bid/ask price and quantity. A `u` inside a
//! diff's range (`U ≤ u < u_end`) is a state the diff stream never shows, so it is not aligned.
//! Tickers can arrive before or after the diff they follow (separate streams), so the last few
//! thousand diffs' tops are kept, and tickers ahead of the book wait for the diffs.

use std::collections::VecDeque;

use super::book::{L2Book, Top};
use super::message::{BookTicker, DepthDiff, Message, Snapshot};
use super::{notional_f64, units_to_f64, LinePosition, ReplayError, UNITS_PER_ONE};
use crate::Side;

/// Tops of this many latest diffs are kept to align late bookTickers.
const HISTORY: usize = 4096;
/// bookTickers ahead of the book wait at most this many; older ones are counted as not aligned.
const MAX_PENDING: usize = 4096;
/// At most this many mismatches are kept as examples (all are counted).
const MAX_MISMATCHES: usize = 100;
/// Longest run of sample intervals without messages that the series fills with rows.
const MAX_SAMPLE_GAP: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    /// `None`: linear contract, quantities in base currency (USDⓈ-M). `Some(c)`: inverse contract
    /// (COIN-M), quantities in contracts worth `c` quote currency each (BTCUSD_PERP: 100 USD).
    pub contract_size: Option<f64>,
    /// Interval of the sampled series, ns; 0 for none. A silence longer than a million intervals
    /// is not filled with rows (the series resumes at its last interval).
    pub sample_every_ns: i64,
    /// Bands for the depth columns of the series, as fractions of mid (0.01 = 1%).
    pub depth_fractions: Vec<f64>,
    /// Receive times (ns) at which to keep the whole book, ascending.
    pub book_times: Vec<i64>,
    /// Levels per side kept in those books; 0 for all.
    pub book_levels: usize,
    /// Stop reading after the first message later than this receive time (ns).
    pub stop_after_ns: Option<i64>,
    /// Record a top-of-book row whenever the best bid or ask (price or quantity) changes.
    pub top_of_book: bool,
    /// Diffs kept while waiting for a snapshot (older ones are dropped).
    pub max_buffered_diffs: usize,
    /// Threads for reading the files: 1 inflates and parses on the calling thread; more inflate
    /// on a second thread while this one parses and replays (outputs identical for any count).
    /// `None`: rayon's current thread count.
    pub threads: Option<usize>,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            contract_size: None,
            sample_every_ns: 1_000_000_000,
            depth_fractions: vec![0.01],
            book_times: Vec::new(),
            book_levels: 0,
            stop_after_ns: None,
            top_of_book: true,
            max_buffered_diffs: 20_000,
            threads: None,
        }
    }
}

/// Why the book went out of sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GapKind {
    /// A diff's `pu` (or `U − 1` without `pu`) is not the previous diff's `u`.
    PrevIdMismatch = 0,
    /// The first diff after the snapshot starts after `lastUpdateId + 1`: the snapshot is older than
    /// the diffs at hand.
    SnapshotTooOld = 1,
}

impl GapKind {
    pub const NAMES: [&'static str; 2] = ["prev_id_mismatch", "snapshot_too_old"];
}

/// A break in the diff chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub ts: i64,
    pub position: LinePosition,
    pub kind: GapKind,
    /// The id the rules required: previous `u` (for `pu`), or the snapshot's `lastUpdateId`.
    pub expected: u64,
    pub first_update_id: u64,
    pub update_id: u64,
    pub prev_update_id: Option<u64>,
    /// Receive time at which the book was consistent again, if it was.
    pub resynced_ts: Option<i64>,
}

/// A bookTicker that disagrees with the rebuilt book.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub ts: i64,
    pub position: LinePosition,
    pub ticker: BookTicker,
    pub book: Top,
}

/// Counts per input file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileCheck {
    pub lines: u64,
    pub snapshots: u64,
    pub diffs: u64,
    pub diffs_applied: u64,
    /// Diffs dropped because the book already holds them (`u` below the snapshot or previous diff).
    pub diffs_stale: u64,
    pub level_updates: u64,
    pub trades: u64,
    pub book_tickers: u64,
    /// bookTickers whose update id could be aligned with the rebuilt book.
    pub aligned: u64,
    /// Of those, the ones with the same best bid/ask price and quantity.
    pub matched: u64,
    /// First receive time at which the book was in sync while reading this file.
    pub first_synced_ts: Option<i64>,
    pub other: u64,
}

/// Series as columns; prices and quantities are floats (NaN while out of sync or a side is empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopColumns {
    pub ts: Vec<i64>,
    pub update_id: Vec<i64>,
    pub bid: Vec<f64>,
    pub bid_qty: Vec<f64>,
    pub ask: Vec<f64>,
    pub ask_qty: Vec<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesColumns {
    pub top: TopColumns,
    pub synced: Vec<bool>,
    /// Per band of `depth_fractions`: [bid qty, bid notional, ask qty, ask notional]. Quantities in
    /// the venue's units (base, or contracts); notional in quote currency.
    pub depth: Vec<[Vec<f64>; 4]>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradeColumns {
    pub ts: Vec<i64>,
    pub trade_time: Vec<i64>,
    pub trade_id: Vec<i64>,
    pub price: Vec<f64>,
    pub qty: Vec<f64>,
    pub notional: Vec<f64>,
    pub side: Vec<u8>,
}

/// The whole book at a requested time.
#[derive(Debug, Clone, PartialEq)]
pub struct BookSnapshot {
    pub requested_ts: i64,
    /// Whether the book was in sync then; if not, the levels are empty.
    pub synced: bool,
    /// Whether the time is past the end of the recording (levels empty).
    pub after_end: bool,
    /// Final update id of the last diff applied, or the snapshot id.
    pub update_id: u64,
    /// Best first: (price, qty) in units of 1e-8.
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayOutput {
    pub top: TopColumns,
    pub series: SeriesColumns,
    pub trades: TradeColumns,
    pub gaps: Vec<Gap>,
    pub files: Vec<FileCheck>,
    pub books: Vec<BookSnapshot>,
    pub mismatches: Vec<Mismatch>,
    pub mismatch_count: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncState {
    /// No usable snapshot: diffs are buffered.
    WaitingSnapshot,
    /// Snapshot loaded, waiting for the diff that straddles its id.
    Snapshot { last_update_id: u64 },
    /// In sync after the diff with this final id.
    Live { last_update_id: u64 },
}

struct Buffered {
    ts: i64,
    position: LinePosition,
    diff: DepthDiff,
}

struct HistoryEntry {
    first: u64,
    last: u64,
    top: Top,
}

struct PendingTicker {
    ts: i64,
    position: LinePosition,
    ticker: BookTicker,
}

/// The replay state machine: feed messages in receive order, then [`Replayer::finish`].
pub struct Replayer {
    options: ReplayOptions,
    book: L2Book,
    state: SyncState,
    top: Top,
    buffer: VecDeque<Buffered>,
    history: VecDeque<HistoryEntry>,
    pending: VecDeque<PendingTicker>,
    open_gap: Option<usize>,
    next_sample: Option<i64>,
    next_book: usize,
    /// Receive time of the message being processed: buffered diffs applied at a snapshot count
    /// as applied then (that is when the book is known again).
    now: i64,
    /// A message past `stop_after_ns` was seen (so the recording goes on after the book times).
    stopped: bool,
    out: ReplayOutput,
}

fn level_f64(level: Option<(i64, i64)>) -> (f64, f64) {
    level.map_or((f64::NAN, f64::NAN), |(p, q)| (units_to_f64(p), units_to_f64(q)))
}

impl Replayer {
    pub fn new(options: ReplayOptions, file_count: usize) -> Result<Replayer, ReplayError> {
        if let Some(c) = options.contract_size {
            if !(c.is_finite() && c > 0.0) {
                return Err(ReplayError::Config { what: "contract_size", message: format!("must be > 0, got {c}") });
            }
        }
        if options.sample_every_ns < 0 {
            let message = format!("must be ≥ 0 ns, got {}", options.sample_every_ns);
            return Err(ReplayError::Config { what: "sample_every", message });
        }
        if let Some(f) = options.depth_fractions.iter().find(|f| !(f.is_finite() && **f >= 0.0 && **f < 1.0)) {
            return Err(ReplayError::Config {
                what: "depth_fractions",
                message: format!("each must be in [0, 1), got {f}"),
            });
        }
        if options.book_times.windows(2).any(|w| w[0] > w[1]) {
            return Err(ReplayError::Config { what: "book_times", message: "must be in ascending order".into() });
        }
        let series = SeriesColumns {
            depth: options.depth_fractions.iter().map(|_| Default::default()).collect(),
            ..Default::default()
        };
        Ok(Replayer {
            book: L2Book::new(),
            state: SyncState::WaitingSnapshot,
            top: Top::default(),
            buffer: VecDeque::new(),
            history: VecDeque::with_capacity(HISTORY),
            pending: VecDeque::new(),
            open_gap: None,
            next_sample: None,
            next_book: 0,
            now: 0,
            stopped: false,
            out: ReplayOutput { series, files: vec![FileCheck::default(); file_count], ..Default::default() },
            options,
        })
    }

    pub fn book(&self) -> &L2Book {
        &self.book
    }

    pub fn is_synced(&self) -> bool {
        matches!(self.state, SyncState::Live { .. })
    }

    /// Process one message received at `ts` (ns). Returns false once past `stop_after_ns` (the
    /// message is then not processed).
    pub fn on_message(&mut self, ts: i64, position: LinePosition, message: &Message) -> bool {
        if self.options.stop_after_ns.is_some_and(|stop| ts > stop) {
            self.stopped = true;
            return false;
        }
        self.observe_time(ts);
        self.now = ts;
        if let Some(file) = self.out.files.get_mut(position.file) {
            file.lines += 1;
        }
        match message {
            Message::Depth(diff) => {
                self.file(position).diffs += 1;
                self.on_diff(ts, position, diff);
            }
            Message::Snapshot(snapshot) => self.on_snapshot(position, snapshot),
            Message::BookTicker(ticker) => self.on_ticker(ts, position, *ticker),
            Message::Trade(t) => {
                self.file(position).trades += 1;
                let c = &mut self.out.trades;
                c.ts.push(ts);
                c.trade_time.push(t.trade_time_ms.saturating_mul(1_000_000));
                c.trade_id.push(i64::try_from(t.trade_id).unwrap_or(i64::MAX));
                c.price.push(units_to_f64(t.price));
                c.qty.push(units_to_f64(t.qty));
                c.notional.push(match self.options.contract_size {
                    None => notional_f64(t.price, t.qty),
                    Some(c) => units_to_f64(t.qty) * c,
                });
                c.side.push(t.aggressor as u8);
            }
            Message::Other => self.file(position).other += 1,
        }
        true
    }

    /// End of input: remaining samples and books, then the outputs.
    pub fn finish(mut self) -> ReplayOutput {
        if let Some(last) = self.out.last_ts {
            // Samples and books due at or before the last message.
            self.emit_due(last, true);
        }
        while self.next_book < self.options.book_times.len() {
            let t = self.options.book_times[self.next_book];
            // Stopped at a later message: the book now is the book at `t`.
            if self.stopped {
                self.push_book(t);
            } else {
                self.out.books.push(BookSnapshot {
                    requested_ts: t,
                    synced: false,
                    after_end: true,
                    update_id: 0,
                    bids: Vec::new(),
                    asks: Vec::new(),
                });
            }
            self.next_book += 1;
        }
        self.out
    }

    fn file(&mut self, position: LinePosition) -> &mut FileCheck {
        let index = position.file.min(self.out.files.len().saturating_sub(1));
        if self.out.files.is_empty() {
            self.out.files.push(FileCheck::default());
        }
        &mut self.out.files[index]
    }

    /// Emit samples and books for times before `ts` (state after every message received at or
    /// before that time).
    fn observe_time(&mut self, ts: i64) {
        if self.out.first_ts.is_none() {
            self.out.first_ts = Some(ts);
            let every = self.options.sample_every_ns;
            if every > 0 {
                // First multiple of the interval at or after the first message.
                let floor = ts.div_euclid(every).saturating_mul(every);
                self.next_sample = Some(if floor < ts { floor.saturating_add(every) } else { floor });
            }
        }
        self.emit_due(ts, false);
        self.out.last_ts = Some(self.out.last_ts.map_or(ts, |l| l.max(ts)));
    }

    /// Emit what is due before `ts` (or at `ts` too when `inclusive`).
    fn emit_due(&mut self, ts: i64, inclusive: bool) {
        let due = |t: i64| if inclusive { t <= ts } else { t < ts };
        while self.next_book < self.options.book_times.len() && due(self.options.book_times[self.next_book]) {
            self.push_book(self.options.book_times[self.next_book]);
            self.next_book += 1;
        }
        let every = self.options.sample_every_ns;
        while let Some(t) = self.next_sample {
            if !due(t) {
                break;
            }
            self.push_sample(t);
            let mut next = t.checked_add(every);
            // A silence of more than MAX_SAMPLE_GAP intervals (a recorder restarted days later, a
            // bad clock) is not filled row by row: the series resumes at the last interval.
            if let Some(n) = next {
                if every > 0 && n < ts && (ts - n) / every > MAX_SAMPLE_GAP {
                    let last = n + (ts - n) / every * every;
                    next = Some(if due(last) { last } else { last - every });
                }
            }
            self.next_sample = next;
        }
    }

    fn push_book(&mut self, t: i64) {
        let (synced, update_id) = match self.state {
            SyncState::Live { last_update_id } => (true, last_update_id),
            _ => (false, 0),
        };
        let take = if self.options.book_levels == 0 { usize::MAX } else { self.options.book_levels };
        let (bids, asks) = if synced {
            (self.book.levels(Side::Buy).take(take).collect(), self.book.levels(Side::Sell).take(take).collect())
        } else {
            (Vec::new(), Vec::new())
        };
        self.out.books.push(BookSnapshot { requested_ts: t, synced, after_end: false, update_id, bids, asks });
    }

    fn push_sample(&mut self, t: i64) {
        let synced = self.is_synced();
        let top = if synced { self.top } else { Top::default() };
        push_top(&mut self.out.series.top, t, 0, top);
        self.out.series.synced.push(synced);
        let contract_size = self.options.contract_size;
        for (i, fraction) in self.options.depth_fractions.iter().enumerate() {
            let depth = if synced { self.book.depth_within(*fraction) } else { None };
            let cols = &mut self.out.series.depth[i];
            let values = match depth {
                None => [f64::NAN; 4],
                Some((b, a)) => {
                    let qty = |d: &super::Depth| d.qty as f64 / UNITS_PER_ONE as f64;
                    let notional = |d: &super::Depth| match contract_size {
                        None => d.price_qty as f64 / (UNITS_PER_ONE as f64 * UNITS_PER_ONE as f64),
                        Some(c) => qty(d) * c,
                    };
                    [qty(&b), notional(&b), qty(&a), notional(&a)]
                }
            };
            for (col, v) in cols.iter_mut().zip(values) {
                col.push(v);
            }
        }
    }

    fn on_snapshot(&mut self, position: LinePosition, snapshot: &Snapshot) {
        self.file(position).snapshots += 1;
        match self.state {
            // An in-sync book already holds everything the snapshot does (and levels beyond its
            // 1,000 per side); replacing it would only lose depth.
            SyncState::Live { .. } => {}
            SyncState::WaitingSnapshot | SyncState::Snapshot { .. } => {
                self.book.load(&snapshot.levels);
                self.state = SyncState::Snapshot { last_update_id: snapshot.last_update_id };
                let buffered = std::mem::take(&mut self.buffer);
                for b in buffered {
                    self.on_diff(b.ts, b.position, &b.diff);
                }
            }
        }
    }

    fn on_diff(&mut self, ts: i64, position: LinePosition, diff: &DepthDiff) {
        match self.state {
            SyncState::WaitingSnapshot => {
                if self.buffer.len() >= self.options.max_buffered_diffs.max(1) {
                    self.buffer.pop_front();
                }
                self.buffer.push_back(Buffered { ts, position, diff: diff.clone() });
            }
            SyncState::Snapshot { last_update_id } => {
                if diff.update_id < last_update_id {
                    self.file(position).diffs_stale += 1;
                } else if diff.first_update_id <= last_update_id.saturating_add(1)
                    || diff.prev_update_id.is_some_and(|pu| pu <= last_update_id)
                {
                    self.apply(position, diff);
                } else {
                    self.gap(ts, position, diff, GapKind::SnapshotTooOld, last_update_id);
                }
            }
            SyncState::Live { last_update_id } => {
                let chained = match diff.prev_update_id {
                    Some(pu) => pu == last_update_id,
                    None => diff.first_update_id <= last_update_id.saturating_add(1) && diff.update_id > last_update_id,
                };
                if chained {
                    self.apply(position, diff);
                } else if diff.update_id <= last_update_id {
                    self.file(position).diffs_stale += 1;
                } else {
                    self.gap(ts, position, diff, GapKind::PrevIdMismatch, last_update_id);
                }
            }
        }
    }

    fn gap(&mut self, ts: i64, position: LinePosition, diff: &DepthDiff, kind: GapKind, expected: u64) {
        self.out.gaps.push(Gap {
            ts,
            position,
            kind,
            expected,
            first_update_id: diff.first_update_id,
            update_id: diff.update_id,
            prev_update_id: diff.prev_update_id,
            resynced_ts: None,
        });
        self.open_gap = Some(self.out.gaps.len() - 1);
        self.state = SyncState::WaitingSnapshot;
        self.history.clear();
        self.pending.clear();
        if self.options.top_of_book {
            push_top(&mut self.out.top, ts, diff.update_id, Top::default());
        }
        self.top = Top::default();
        self.buffer.clear();
        self.buffer.push_back(Buffered { ts, position, diff: diff.clone() });
    }

    fn apply(&mut self, position: LinePosition, diff: &DepthDiff) {
        let ts = self.now;
        if !self.is_synced() {
            if let Some(g) = self.open_gap.take() {
                self.out.gaps[g].resynced_ts = Some(ts);
            }
        }
        // Tickers waiting for this diff that fall before it show the book as it is now.
        while let Some(p) = self.pending.front() {
            if p.ticker.update_id >= diff.first_update_id {
                break;
            }
            if let Some(p) = self.pending.pop_front() {
                self.check_ticker(p, self.top);
            }
        }
        for level in &diff.levels {
            self.book.apply(*level);
        }
        let file = self.file(position);
        file.first_synced_ts.get_or_insert(ts);
        file.diffs_applied += 1;
        file.level_updates += diff.levels.len() as u64;
        self.state = SyncState::Live { last_update_id: diff.update_id };
        let top = self.book.top();
        if self.options.top_of_book && top != self.top {
            push_top(&mut self.out.top, ts, diff.update_id, top);
        }
        self.top = top;
        while let Some(p) = self.pending.front() {
            if p.ticker.update_id > diff.update_id {
                break;
            }
            if let Some(p) = self.pending.pop_front() {
                if p.ticker.update_id == diff.update_id {
                    self.check_ticker(p, top);
                } // else inside this diff's id range: a state the diff stream never shows.
            }
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(HistoryEntry { first: diff.first_update_id, last: diff.update_id, top });
    }

    fn on_ticker(&mut self, ts: i64, position: LinePosition, ticker: BookTicker) {
        self.file(position).book_tickers += 1;
        let SyncState::Live { last_update_id } = self.state else { return };
        let u = ticker.update_id;
        if u > last_update_id {
            if self.pending.len() >= MAX_PENDING {
                self.pending.pop_front();
            }
            // Tickers come in id order; keep the queue sorted if one does not.
            let at = self.pending.partition_point(|p| p.ticker.update_id <= u);
            self.pending.insert(at, PendingTicker { ts, position, ticker });
            return;
        }
        let k = self.history.partition_point(|e| e.last <= u);
        if k == 0 {
            return; // older than the kept history
        }
        if let Some(next) = self.history.get(k) {
            if next.first <= u {
                return; // inside a diff's id range
            }
        }
        let top = self.history[k - 1].top;
        self.check_ticker(PendingTicker { ts, position, ticker }, top);
    }

    fn check_ticker(&mut self, p: PendingTicker, top: Top) {
        let t = p.ticker;
        let agrees = top.bid == Some((t.bid, t.bid_qty)) && top.ask == Some((t.ask, t.ask_qty));
        let file = self.file(p.position);
        file.aligned += 1;
        if agrees {
            file.matched += 1;
        } else {
            self.out.mismatch_count += 1;
            if self.out.mismatches.len() < MAX_MISMATCHES {
                self.out.mismatches.push(Mismatch { ts: p.ts, position: p.position, ticker: t, book: top });
            }
        }
    }
}

fn push_top(c: &mut TopColumns, ts: i64, update_id: u64, top: Top) {
    let (bid, bid_qty) = level_f64(top.bid);
    let (ask, ask_qty) = level_f64(top.ask);
    c.ts.push(ts);
    c.update_id.push(i64::try_from(update_id).unwrap_or(i64::MAX));
    c.bid.push(bid);
    c.bid_qty.push(bid_qty);
    c.ask.push(ask);
    c.ask_qty.push(ask_qty);
}
