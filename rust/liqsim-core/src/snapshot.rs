//! Snapshots: an [`OrderBook`], an [`Exchange`] or a [`crate::multi::MultiExchange`] (every
//! market's state plus the accounts' legs, `multi/snapshot.rs`) as bytes, and back, so that the
//! copy continues exactly as the original would (what pickling in Python is built on). The
//! venue's kind (3) is new; the bytes of the other two kinds are unchanged, so the format version
//! stays.
//!
//! Layout: a 24-byte header, then a [postcard](https://docs.rs/postcard) payload.
//!
//! | bytes | content                                                     |
//! |-------|-------------------------------------------------------------|
//! | 0–7   | magic `LIQSIMSN`                                            |
//! | 8–9   | format version, u16 little-endian ([`FORMAT_VERSION`])      |
//! | 10    | kind: 1 order book, 2 exchange, 3 multi-instrument venue    |
//! | 11    | 0 (reserved)                                                |
//! | 12–19 | payload length, u64 little-endian                           |
//! | 20–23 | CRC-32 of the payload, u32 little-endian                    |
//!
//! The payload holds state, not layout: slab indices, free lists and caches that can be rebuilt
//! (the trigger index, the id → account map, per-account order lists' positions, stop indices,
//! the float copies of tier tables) are rebuilt on load, and hash maps are written in key order,
//! so the same state always gives the same bytes, and a restored market snapshots to the bytes it
//! came from. Loading refuses, with [`Error::Config`] naming `snapshot`, anything that is not a
//! whole, undamaged snapshot of the right kind and version, then checks the state's invariants
//! (book structure, every index in range, resting orders matching their accounts, money conserved),
//! so that a damaged snapshot is an error rather than a market that panics later.
//!
//! Any change to a serialized type changes the format: bump [`FORMAT_VERSION`] (a test pins the
//! bytes of a reference snapshot so that such a change cannot go unnoticed).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::book::OrderBook;
use crate::error::Error;
use crate::exchange::Exchange;

/// The first 8 bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"LIQSIMSN";
/// Version of the payload format. Snapshots of another version are refused, not guessed at.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the header in front of the payload.
pub const HEADER_LEN: usize = 24;

/// What a snapshot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    OrderBook = 1,
    Exchange = 2,
    MultiExchange = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::OrderBook => "an order book",
            Kind::Exchange => "an exchange",
            Kind::MultiExchange => "a multi-instrument venue",
        }
    }
}

pub(crate) fn bad(message: String) -> Error {
    Error::Config { what: "snapshot", message }
}

/// Header and payload of `value`.
pub(crate) fn encode<T: Serialize + ?Sized>(kind: Kind, value: &T) -> Result<Vec<u8>, Error> {
    // Into a vector of its own, then behind the header: postcard's growing-vector writer is
    // several times faster than its byte-at-a-time `Extend` writer, and the copy is a memcpy.
    let payload = postcard::to_allocvec(value).map_err(|e| bad(format!("cannot encode: {e}")))?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(kind as u8);
    out.push(0);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The value in `bytes`, after checking the header against `kind` and the payload's checksum.
pub(crate) fn decode<T: DeserializeOwned>(kind: Kind, bytes: &[u8]) -> Result<T, Error> {
    if bytes.len() < HEADER_LEN || bytes[..8] != MAGIC {
        return Err(bad(format!(
            "not a liqsim snapshot ({} bytes, expected the {HEADER_LEN}-byte header starting with {:?})",
            bytes.len(),
            std::str::from_utf8(&MAGIC).unwrap_or_default()
        )));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {version}, but this liqsim reads version {FORMAT_VERSION} (make the snapshot with the \
             same liqsim version that loads it)"
        )));
    }
    if bytes[10] != kind as u8 || bytes[11] != 0 {
        let found = match bytes[10] {
            1 => Kind::OrderBook.name(),
            2 => Kind::Exchange.name(),
            3 => Kind::MultiExchange.name(),
            _ => "an unknown kind",
        };
        return Err(bad(format!("holds {found}, not {}", kind.name())));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[12..20]);
    let len = u64::from_le_bytes(len);
    let payload = &bytes[HEADER_LEN..];
    if len != payload.len() as u64 {
        return Err(bad(format!("truncated or padded: the header says {len} payload bytes, found {}", payload.len())));
    }
    let crc = u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    if crc32fast::hash(payload) != crc {
        return Err(bad("damaged: the payload's checksum does not match".into()));
    }
    let (value, rest) = postcard::take_from_bytes(payload).map_err(|e| bad(format!("cannot decode: {e}")))?;
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes left over after the state", rest.len())));
    }
    Ok(value)
}

impl OrderBook {
    /// The book as a versioned binary snapshot (see the [module](self) documentation). The same
    /// book (same orders, queues, used ids) always gives the same bytes.
    pub fn to_snapshot(&self) -> Result<Vec<u8>, Error> {
        encode(Kind::OrderBook, self)
    }

    /// The book a snapshot holds; `Error::Config` (what: `snapshot`) for anything else.
    pub fn from_snapshot(bytes: &[u8]) -> Result<OrderBook, Error> {
        decode(Kind::OrderBook, bytes)
    }
}

impl Exchange {
    /// The exchange as a versioned binary snapshot: configuration, book, accounts, open and stop
    /// orders, funding accumulators, clocks, tapes and every cache that changes what it does next.
    /// The same state always gives the same bytes.
    ///
    /// An instrument of a [`crate::multi::MultiExchange`] whose accounts have legs elsewhere is
    /// refused: its cross collateral depends on the other instruments, which are not in the
    /// snapshot ([`crate::multi::MultiExchange::to_snapshot`] writes the whole venue).
    pub fn to_snapshot(&self) -> Result<Vec<u8>, Error> {
        if self.accounts().iter().any(|a| a.leg) {
            return Err(bad(
                "this market is one instrument of a MultiExchange with multi-instrument accounts; it cannot be snapshotted on its own".into(),
            ));
        }
        encode(Kind::Exchange, &self.snapshot_state())
    }

    /// The exchange a snapshot holds, checked (see the [module](self) documentation);
    /// `Error::Config` (what: `snapshot`) for anything else.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Exchange, Error> {
        Exchange::from_snapshot_state(decode(Kind::Exchange, bytes)?).map_err(bad)
    }
}

#[cfg(test)]
mod tests;
