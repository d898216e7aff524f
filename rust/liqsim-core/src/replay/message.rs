//! One recorded line → one decoded message. serde_json borrows the decimal strings from the line
//! and they are parsed straight into fixed-point units, so decoding allocates only the level lists.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{parse_units, LevelUpdate};
use crate::Side;

/// A decoded message. Ids are Binance's update ids; times are the venue's, in ms.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Message {
    /// REST depth snapshot.
    Snapshot(Snapshot),
    /// `depthUpdate` diff.
    Depth(DepthDiff),
    BookTicker(BookTicker),
    /// `trade` or `aggTrade`.
    Trade(Trade),
    /// A message the replay does not use (another stream, a subscription reply).
    #[default]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub last_update_id: u64,
    pub levels: Vec<LevelUpdate>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DepthDiff {
    pub event_time_ms: i64,
    /// `U`: first update id in this event.
    pub first_update_id: u64,
    /// `u`: final update id in this event.
    pub update_id: u64,
    /// `pu`: final update id of the previous event of this stream (futures only).
    pub prev_update_id: Option<u64>,
    pub levels: Vec<LevelUpdate>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BookTicker {
    pub event_time_ms: i64,
    pub update_id: u64,
    pub bid: i64,
    pub bid_qty: i64,
    pub ask: i64,
    pub ask_qty: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    pub trade_time_ms: i64,
    pub trade_id: u64,
    pub price: i64,
    pub qty: i64,
    pub aggressor: Side,
}

/// A decimal string read as fixed-point units (1e-8).
struct Units(i64);

impl<'de> Deserialize<'de> for Units {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Units, D::Error> {
        let text = <&'de str>::deserialize(d)?;
        parse_units(text).map(Units).ok_or_else(|| {
            de::Error::custom(format!("{text:?} is not a decimal of at most 8 places that fits 64 bits"))
        })
    }
}

/// An update or trade id: it is returned in `i64` columns, so one above `i64::MAX` is refused
/// (not saturated).
struct Id(u64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        let id = u64::deserialize(d)?;
        if id > i64::MAX as u64 {
            return Err(de::Error::custom(format!("id {id} does not fit a signed 64-bit integer")));
        }
        Ok(Id(id))
    }
}

/// `[[price, qty], …]` of one side, appended to a level list.
struct Levels(Vec<(i64, i64)>);

impl<'de> Deserialize<'de> for Levels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Levels, D::Error> {
        struct LevelsVisitor;
        impl<'de> Visitor<'de> for LevelsVisitor {
            type Value = Levels;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of [price, quantity] pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Levels, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some((Units(p), Units(q))) = seq.next_element::<(Units, Units)>()? {
                    out.push((p, q));
                }
                Ok(Levels(out))
            }
        }
        d.deserialize_seq(LevelsVisitor)
    }
}

fn push_side(out: &mut Vec<LevelUpdate>, side: Side, levels: Levels) {
    out.extend(levels.0.into_iter().map(|(price, qty)| LevelUpdate { side, price, qty }));
}

#[derive(Deserialize)]
struct Wrapped<T> {
    data: T,
}

#[derive(Deserialize)]
struct DepthJson {
    #[serde(rename = "E", default)]
    event_time: i64,
    #[serde(rename = "U")]
    first: Id,
    #[serde(rename = "u")]
    last: Id,
    #[serde(rename = "pu")]
    prev: Option<Id>,
    #[serde(rename = "b")]
    bids: Levels,
    #[serde(rename = "a")]
    asks: Levels,
}

#[derive(Deserialize)]
struct SnapshotJson {
    #[serde(rename = "lastUpdateId")]
    last_update_id: Id,
    bids: Levels,
    asks: Levels,
}

#[derive(Deserialize)]
struct BookTickerJson {
    #[serde(rename = "E", default)]
    event_time: i64,
    u: Id,
    b: Units,
    #[serde(rename = "B")]
    bid_qty: Units,
    a: Units,
    #[serde(rename = "A")]
    ask_qty: Units,
}

#[derive(Deserialize)]
struct TradeJson {
    #[serde(rename = "T")]
    time: i64,
    t: Id,
    p: Units,
    q: Units,
    m: bool,
}

#[derive(Deserialize)]
struct AggTradeJson {
    #[serde(rename = "T")]
    time: i64,
    a: Id,
    p: Units,
    q: Units,
    m: bool,
}

/// Only the keys that say what a line is, for lines not in the common `{"stream":…}` shape.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    e: Option<&'a str>,
    #[serde(rename = "lastUpdateId", default)]
    last_update_id: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Depth,
    BookTicker,
    Trade,
    AggTrade,
    Other,
}

/// `("btcusdt", "depth@0ms")` of `btcusdt@depth@0ms` (split at the first `@`). A byte loop: the
/// names are short and `str::split_once` costs more to set up than the search (it showed in the
/// profile, called twice per message).
#[inline]
fn split_stream(stream: &str) -> Option<(&str, &str)> {
    let at = stream.bytes().position(|c| c == b'@')?;
    // '@' is ASCII, so both sides are char boundaries.
    Some((&stream[..at], &stream[at + 1..]))
}

fn kind_of_stream(stream: &str) -> Kind {
    let name = split_stream(stream).map(|(_, kind)| kind).unwrap_or("");
    if name.starts_with("depth") {
        Kind::Depth
    } else if name == "bookTicker" {
        Kind::BookTicker
    } else if name == "aggTrade" {
        Kind::AggTrade
    } else if name == "trade" {
        Kind::Trade
    } else {
        Kind::Other
    }
}

fn kind_of_event(e: &str) -> Kind {
    match e {
        "depthUpdate" => Kind::Depth,
        "bookTicker" => Kind::BookTicker,
        "trade" => Kind::Trade,
        "aggTrade" => Kind::AggTrade,
        _ => Kind::Other,
    }
}

/// A venue time in ms, checked to be expressible in ns as an `i64` (the outputs' unit).
fn millis(ms: i64, what: &str) -> Result<i64, String> {
    match ms.checked_mul(1_000_000) {
        Some(_) if ms >= 0 => Ok(ms),
        _ => Err(format!("{what} {ms} ms is not a time since 1970 that ns in 64 bits can hold")),
    }
}

fn decode<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// Decode the event object of `kind` into `out`.
fn decode_kind(kind: Kind, json: &str, wrapped: bool, out: &mut Message) -> Result<(), String> {
    fn data<'a, T: Deserialize<'a>>(json: &'a str, wrapped: bool) -> Result<T, String> {
        if wrapped {
            decode::<Wrapped<T>>(json).map(|w| w.data)
        } else {
            decode::<T>(json)
        }
    }
    *out = match kind {
        Kind::Depth => {
            let d: DepthJson = data(json, wrapped)?;
            let mut levels = Vec::with_capacity(d.bids.0.len() + d.asks.0.len());
            push_side(&mut levels, Side::Buy, d.bids);
            push_side(&mut levels, Side::Sell, d.asks);
            depth_message(d.event_time, d.first.0, d.last.0, d.prev.map(|p| p.0), levels)?
        }
        Kind::BookTicker => {
            let b: BookTickerJson = data(json, wrapped)?;
            ticker_message(b.event_time, b.u.0, b.b.0, b.bid_qty.0, b.a.0, b.ask_qty.0)?
        }
        Kind::Trade => {
            let t: TradeJson = data(json, wrapped)?;
            trade_message(t.time, t.t.0, t.p.0, t.q.0, t.m)?
        }
        Kind::AggTrade => {
            let t: AggTradeJson = data(json, wrapped)?;
            trade_message(t.time, t.a.0, t.p.0, t.q.0, t.m)?
        }
        Kind::Other => Message::Other,
    };
    Ok(())
}

// The checks and conversions after decoding, shared by serde's path and the fast scan
// (`scan.rs`), so both give the same message or the same error.

pub(super) fn depth_message(
    event_time: i64,
    first_update_id: u64,
    update_id: u64,
    prev_update_id: Option<u64>,
    levels: Vec<LevelUpdate>,
) -> Result<Message, String> {
    Ok(Message::Depth(DepthDiff {
        event_time_ms: millis(event_time, "event time E")?,
        first_update_id,
        update_id,
        prev_update_id,
        levels,
    }))
}

pub(super) fn ticker_message(
    event_time: i64,
    update_id: u64,
    bid: i64,
    bid_qty: i64,
    ask: i64,
    ask_qty: i64,
) -> Result<Message, String> {
    Ok(Message::BookTicker(BookTicker {
        event_time_ms: millis(event_time, "event time E")?,
        update_id,
        bid,
        bid_qty,
        ask,
        ask_qty,
    }))
}

/// `buyer_maker` is Binance's `m`: the buyer was the resting order, so the aggressor sold.
pub(super) fn trade_message(
    time: i64,
    trade_id: u64,
    price: i64,
    qty: i64,
    buyer_maker: bool,
) -> Result<Message, String> {
    Ok(Message::Trade(Trade {
        trade_time_ms: millis(time, "trade time T")?,
        trade_id,
        price,
        qty,
        aggressor: if buyer_maker { Side::Sell } else { Side::Buy },
    }))
}

const STREAM_PREFIX: &str = "{\"stream\":\"";

/// The symbol a combined-stream message is about (`btcusdt` of `btcusdt@depth@0ms`), kept inline
/// (no allocation per message). Symbols longer than 23 bytes are cut there (still distinct in
/// practice; only used to detect a file that mixes symbols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSymbol {
    len: u8,
    bytes: [u8; 23],
}

impl StreamSymbol {
    fn of_stream(stream: &str) -> Option<StreamSymbol> {
        let symbol = split_stream(stream)?.0.as_bytes();
        let len = symbol.len().min(23);
        let mut bytes = [0; 23];
        bytes[..len].copy_from_slice(&symbol[..len]);
        Some(StreamSymbol { len: len as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

/// Decode one recorded line `<receive time ns> <JSON>` into `out`; returns the receive time.
/// The error text says what is wrong (the caller adds file and line).
pub fn parse_line(line: &str, out: &mut Message) -> Result<i64, String> {
    parse_line_with_symbol(line, out).map(|(ts, _)| ts)
}

/// [`parse_line`], also returning the symbol of the message's stream when it names one.
pub fn parse_line_with_symbol(line: &str, out: &mut Message) -> Result<(i64, Option<StreamSymbol>), String> {
    parse_line_impl(line, out, true)
}

/// The recorder's own line, `<digits> {"stream":"<symbol>@<kind>","data":{…}}`, read without the
/// general path's string searches and trimming; `None` for anything else (or anything the scan is
/// unsure of), which the general path then reads.
#[inline]
fn scan_line(line: &str, out: &mut Message) -> Option<Result<(i64, Option<StreamSymbol>), String>> {
    let b = line.as_bytes();
    let (mut n, mut ts) = (0, 0u64);
    while let Some(d) = b.get(n).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
        // 19 digits (ns since 1970 have 19) always fit a u64; longer times take the general path.
        if n == 19 {
            return None;
        }
        ts = ts * 10 + d as u64;
        n += 1;
    }
    let ts = i64::try_from(ts).ok()?;
    if n == 0 || b.get(n) != Some(&b' ') {
        return None;
    }
    // The space is ASCII, so this is a char boundary. Not trimmed: the scan skips trailing JSON
    // whitespace and leaves anything else to the general path.
    let json = &line[n + 1..];
    let rest = json.strip_prefix(STREAM_PREFIX)?;
    let stream = &rest[..memchr::memchr(b'"', rest.as_bytes())?];
    let kind = kind_of_stream(stream);
    if kind == Kind::Other {
        return None;
    }
    Some(super::scan::decode_wrapped(kind, json, out)?.map(|()| (ts, StreamSymbol::of_stream(stream))))
}

/// serde_json only, without the fast scan: the reference the scan is tested against.
#[cfg(test)]
pub(super) fn parse_line_serde(line: &str, out: &mut Message) -> Result<(i64, Option<StreamSymbol>), String> {
    parse_line_impl(line, out, false)
}

fn parse_line_impl(line: &str, out: &mut Message, fast: bool) -> Result<(i64, Option<StreamSymbol>), String> {
    if fast {
        if let Some(result) = scan_line(line, out) {
            return result;
        }
    }
    let (ts_text, json) = line.split_once(' ').ok_or("expected '<receive time ns> <JSON message>'")?;
    let ts: i64 = ts_text.parse().map_err(|_| format!("receive time {ts_text:?} is not an integer of ns"))?;
    let json = json.trim();
    // Fast path: the combined-stream shape every recorder writes, stream name first.
    if let Some(rest) = json.strip_prefix(STREAM_PREFIX) {
        if let Some(end) = rest.find('"') {
            let stream = &rest[..end];
            let kind = kind_of_stream(stream);
            let scanned = if fast && kind != Kind::Other { super::scan::decode_wrapped(kind, json, out) } else { None };
            match scanned {
                Some(result) => result?,
                None => decode_kind(kind, json, true, out)?,
            }
            return Ok((ts, StreamSymbol::of_stream(stream)));
        }
    }
    let envelope: Envelope = decode(json)?;
    let mut symbol = None;
    match (envelope.stream, envelope.data, envelope.e, envelope.last_update_id) {
        (Some(stream), Some(data), _, _) => {
            decode_kind(kind_of_stream(stream), data.get(), false, out)?;
            symbol = StreamSymbol::of_stream(stream);
        }
        (None, None, Some(e), _) => decode_kind(kind_of_event(e), json, false, out)?,
        (None, None, None, Some(_)) => {
            let s: SnapshotJson = decode(json)?;
            let mut levels = Vec::with_capacity(s.bids.0.len() + s.asks.0.len());
            push_side(&mut levels, Side::Buy, s.bids);
            push_side(&mut levels, Side::Sell, s.asks);
            *out = Message::Snapshot(Snapshot { last_update_id: s.last_update_id.0, levels });
        }
        _ => *out = Message::Other,
    }
    Ok((ts, symbol))
}
