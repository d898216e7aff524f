//! Fast path for the lines every recorder writes: `{"stream":"<symbol>@<kind>","data":{…}}` with a
//! `depthUpdate`, `bookTicker`, `trade` or `aggTrade` event. A single forward scan over the bytes
//! reads only the keys the replay needs, parses prices and quantities straight into 1e-8 units,
//! and appends levels to the previous message's level buffer (no allocation per message).
//!
//! Why not serde alone: serde_json with borrowed strings spent ~85 ms of the 150 ms replay of
//! btcusdt_20240808 (quick profile) in its generic machinery (visitor per pair, `ignore_value` on
//! every unused key, an owned level list per side); this scan takes about half that (43 ms CPU
//! in the same profile, 34 ms in release; README performance table).
//!
//! Contract, relied on for correctness and checked by the tests (every line of every shared
//! recording, and every single-byte mutation of sample lines): whenever the scan returns
//! `Some`, serde_json would have decoded the same values from the line. Anything it is not sure of
//! (escapes, a key twice, `a` before `b`, numbers with a sign, fraction or exponent, trailing keys,
//! deep nesting, malformed JSON) makes it return `None`, and the caller decodes the line with
//! serde_json, which gives the result or the error message it always gave.

use super::message::{depth_message, ticker_message, trade_message, Kind, Message};
use super::{LevelUpdate, DECIMALS, POW10};
use crate::Side;

/// Nesting allowed inside skipped values; deeper ones go to serde_json (which has its own limit).
const MAX_SKIP_DEPTH: u32 = 32;

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    /// JSON whitespace (serde_json accepts exactly these four between tokens).
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters: the bytes between the quotes. (An escape
    /// is valid JSON, but a borrowed `&str` cannot hold it and the recorder never writes one.)
    #[inline]
    fn plain_str(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let (b, start) = (self.b, self.i);
        let mut end = start;
        loop {
            match *b.get(end)? {
                b'"' => break,
                b'\\' | 0..0x20 => return None,
                _ => end += 1,
            }
        }
        self.i = end + 1;
        Some(&b[start..end])
    }

    /// A decimal string as 1e-8 units, in one pass over its digits: the same values as
    /// [`parse_units`](super::parse_units) for up to 18 digits (which cannot overflow before the
    /// final scaling); longer ones, and anything else, go to serde's path.
    #[inline]
    fn units(&mut self) -> Option<i64> {
        self.eat(b'"')?;
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let mut value: u64 = 0;
        while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            value = value * 10 + d as u64;
            i += 1;
            if i - start > 18 {
                return None;
            }
        }
        let int_digits = i - start;
        if int_digits == 0 {
            return None;
        }
        let mut decimals = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
                value = value * 10 + d as u64;
                i += 1;
                decimals += 1;
                if decimals > DECIMALS || int_digits + decimals > 18 {
                    return None;
                }
            }
        }
        if b.get(i) != Some(&b'"') {
            return None;
        }
        self.i = i + 1;
        // value < 10^18 < i64::MAX.
        (value as i64).checked_mul(POW10[DECIMALS - decimals])
    }

    /// A non-negative JSON integer of at most 19 digits (what serde_json reads as a `u64`
    /// without question); a sign, fraction, exponent or leading zero goes to serde_json.
    #[inline]
    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let rest = &self.b[self.i..];
        let mut n = 0;
        let mut value: u64 = 0;
        while let Some(d) = rest.get(n).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            // At most 19 digits: below u64::MAX (1.8e19), no overflow.
            if n == 19 {
                return None;
            }
            value = value * 10 + d as u64;
            n += 1;
        }
        if n == 0 || (n > 1 && rest[0] == b'0') || matches!(rest.get(n), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.i += n;
        Some(value)
    }

    /// An id or time that fits an `i64` (`Id` refuses larger ones; serde gives that error).
    #[inline]
    fn id(&mut self) -> Option<u64> {
        self.uint().filter(|&v| v <= i64::MAX as u64)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    fn bool(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|_| true),
            b'f' => self.literal(b"false").map(|_| false),
            _ => None,
        }
    }

    /// `[["price","qty"], …]` appended to `out` with `side`.
    #[inline]
    fn levels(&mut self, side: Side, out: &mut Vec<LevelUpdate>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let price = self.units()?;
            self.eat(b',')?;
            let qty = self.units()?;
            self.eat(b']')?;
            out.push(LevelUpdate { side, price, qty });
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Any JSON value, checked to the grammar but not kept (unused keys such as `s`, `X`, `T`).
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.plain_str().map(|_| ()),
            open @ (b'{' | b'[') => {
                if depth == 0 {
                    return None;
                }
                self.i += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                if self.peek()? == close {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.plain_str()?;
                        self.eat(b':')?;
                    }
                    self.skip_value(depth - 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        c if c == close => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        let b = self.b;
        let mut i = self.i;
        let digits = |i: &mut usize| {
            let start = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - start
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let start = i;
        let n = digits(&mut i);
        if n == 0 || (n > 1 && b[start] == b'0') {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return None;
            }
        }
        self.i = i;
        Some(())
    }

    /// The keys of an object: `field` reads the value of a key it knows (returning false to have
    /// it skipped). Stops at the closing brace.
    #[inline]
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<bool>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.plain_str()?;
            self.eat(b':')?;
            if !field(self, key)? {
                self.skip_value(MAX_SKIP_DEPTH)?;
            }
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// Marks a key as seen; a second occurrence (serde_json: "duplicate field") goes to serde.
#[inline]
fn first_time(seen: &mut u16, bit: u16) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// Decode `{"stream":"…","data":{…}}` (the whole trimmed line after the receive time) for a
/// stream of `kind` into `out`. `None`: not sure, decode with serde_json instead; `Some(Err)`:
/// the values were read but are not valid (the same error serde's path gives).
pub(super) fn decode_wrapped(kind: Kind, json: &str, out: &mut Message) -> Option<Result<(), String>> {
    let mut s = Scanner { b: json.as_bytes(), i: 0 };
    s.eat(b'{')?;
    if s.plain_str()? != b"stream" {
        return None;
    }
    s.eat(b':')?;
    s.plain_str()?;
    s.eat(b',')?;
    if s.plain_str()? != b"data" {
        return None;
    }
    s.eat(b':')?;
    let message = match kind {
        Kind::Depth => depth(&mut s, out)?,
        Kind::BookTicker => ticker(&mut s)?,
        Kind::Trade | Kind::AggTrade => trade(&mut s, kind)?,
        Kind::Other => return None,
    };
    s.eat(b'}')?;
    s.ws();
    if s.i != s.b.len() {
        return None;
    }
    Some(message.map(|m| *out = m))
}

fn depth(s: &mut Scanner<'_>, out: &mut Message) -> Option<Result<Message, String>> {
    // The previous diff's level buffer, emptied: its capacity is reused.
    let mut levels = match out {
        Message::Depth(d) => std::mem::take(&mut d.levels),
        _ => Vec::new(),
    };
    levels.clear();
    let (mut seen, mut event_time, mut first, mut last, mut prev) = (0u16, 0i64, 0u64, 0u64, None);
    s.object(|s, key| {
        match key {
            b"E" => {
                first_time(&mut seen, 1)?;
                event_time = s.id()? as i64;
            }
            b"U" => {
                first_time(&mut seen, 2)?;
                first = s.id()?;
            }
            b"u" => {
                first_time(&mut seen, 4)?;
                last = s.id()?;
            }
            b"pu" => {
                first_time(&mut seen, 8)?;
                prev = if s.peek()? == b'n' { s.literal(b"null").map(|_| None)? } else { Some(s.id()?) };
            }
            b"b" => {
                first_time(&mut seen, 16)?;
                // Bids are listed before asks in the message's level list.
                if seen & 32 != 0 {
                    return None;
                }
                s.levels(Side::Buy, &mut levels)?;
            }
            b"a" => {
                first_time(&mut seen, 32)?;
                s.levels(Side::Sell, &mut levels)?;
            }
            _ => return Some(false),
        }
        Some(true)
    })?;
    // U, u, b and a are required (serde: "missing field").
    if seen & (2 | 4 | 16 | 32) != (2 | 4 | 16 | 32) {
        return None;
    }
    Some(depth_message(event_time, first, last, prev, levels))
}

fn ticker(s: &mut Scanner<'_>) -> Option<Result<Message, String>> {
    let mut seen = 0u16;
    let (mut event_time, mut update_id, mut bid, mut bid_qty, mut ask, mut ask_qty) = (0i64, 0u64, 0, 0, 0, 0);
    s.object(|s, key| {
        match key {
            b"E" => {
                first_time(&mut seen, 1)?;
                event_time = s.id()? as i64;
            }
            b"u" => {
                first_time(&mut seen, 2)?;
                update_id = s.id()?;
            }
            b"b" => {
                first_time(&mut seen, 4)?;
                bid = s.units()?;
            }
            b"B" => {
                first_time(&mut seen, 8)?;
                bid_qty = s.units()?;
            }
            b"a" => {
                first_time(&mut seen, 16)?;
                ask = s.units()?;
            }
            b"A" => {
                first_time(&mut seen, 32)?;
                ask_qty = s.units()?;
            }
            _ => return Some(false),
        }
        Some(true)
    })?;
    if seen & 0b111110 != 0b111110 {
        return None;
    }
    Some(ticker_message(event_time, update_id, bid, bid_qty, ask, ask_qty))
}

fn trade(s: &mut Scanner<'_>, kind: Kind) -> Option<Result<Message, String>> {
    // The trade id is `t` of a trade, `a` of an aggTrade (whose `a` is not a level list).
    let id_key: &[u8] = if kind == Kind::AggTrade { b"a" } else { b"t" };
    let mut seen = 0u16;
    let (mut time, mut id, mut price, mut qty, mut buyer_maker) = (0i64, 0u64, 0, 0, false);
    s.object(|s, key| {
        match key {
            b"T" => {
                first_time(&mut seen, 1)?;
                time = s.id()? as i64;
            }
            k if k == id_key => {
                first_time(&mut seen, 2)?;
                id = s.id()?;
            }
            b"p" => {
                first_time(&mut seen, 4)?;
                price = s.units()?;
            }
            b"q" => {
                first_time(&mut seen, 8)?;
                qty = s.units()?;
            }
            b"m" => {
                first_time(&mut seen, 16)?;
                buyer_maker = s.bool()?;
            }
            _ => return Some(false),
        }
        Some(true)
    })?;
    if seen != 0b11111 {
        return None;
    }
    Some(trade_message(time, id, price, qty, buyer_maker))
}
