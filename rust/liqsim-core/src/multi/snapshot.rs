//! The venue's serialized form (header and format in [`crate::snapshot`]): every instrument's
//! market state as [`Exchange::to_snapshot`] writes it, plus what the venue adds: which rows are
//! the legs of which account, the money deposited, the transfers between legs, the round count.
//! What is derived is rebuilt on load: each leg's `others` (from the legs at the current marks),
//! its trigger and the leg indexes, the id and leg maps, the holder lists. A venue is written with
//! every leg exact (nothing lagging), so a restored venue writes the bytes it came from.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{MultiAccount, MultiExchange, TransferRecord};
use crate::error::Error;
use crate::exchange::snapshot::ExchangeState;
use crate::exchange::Exchange;
use crate::snapshot::{bad, decode, encode, Kind};
use crate::types::{Money, TraderId};

#[derive(Serialize, Deserialize)]
struct VenueState<'a> {
    instruments: Vec<(Cow<'a, str>, ExchangeState<'a>)>,
    /// Per multi account: trader id and its legs (instrument, dense index there).
    accounts: Vec<(i64, Cow<'a, [(u32, u32)]>)>,
    deposits: Money,
    transfers: Cow<'a, [TransferRecord]>,
    round: u32,
    max_rounds: u32,
}

impl MultiExchange {
    /// The venue as a versioned binary snapshot (see [`crate::snapshot`]). The legs are brought
    /// exact first and every band re-centred at the current marks (as a loaded venue does on its
    /// first refresh; it changes nothing the venue does next, only when the work is done), so the
    /// same venue always gives the same bytes.
    pub fn to_snapshot(&mut self) -> Result<Vec<u8>, Error> {
        self.refresh();
        self.recentre_all();
        let state = VenueState {
            instruments: self
                .instruments
                .iter()
                .map(|i| (Cow::Borrowed(i.symbol.as_str()), i.exchange.snapshot_state()))
                .collect(),
            accounts: self.accounts.iter().map(|a| (a.id.0, Cow::Borrowed(&a.legs[..]))).collect(),
            deposits: self.deposits,
            transfers: Cow::Borrowed(&self.transfers),
            round: self.round,
            max_rounds: self.max_rounds,
        };
        encode(Kind::MultiExchange, &state)
    }

    /// The venue a snapshot holds, checked: every market as [`Exchange::from_snapshot`] checks
    /// it, every leg an account of its market with the account's id, no row a leg twice, money
    /// across the venue equal to its deposits. `Error::Config` (what: `snapshot`) otherwise.
    pub fn from_snapshot(bytes: &[u8]) -> Result<MultiExchange, Error> {
        let state: VenueState = decode(Kind::MultiExchange, bytes)?;
        MultiExchange::from_state(state).map_err(bad)
    }

    fn from_state(s: VenueState<'_>) -> Result<MultiExchange, String> {
        let n = s.instruments.len();
        if n == 0 {
            return Err("a venue without instruments".into());
        }
        let mut instruments = Vec::with_capacity(n);
        for (symbol, state) in s.instruments {
            let symbol = symbol.into_owned();
            if instruments.iter().any(|i: &super::Instrument| i.symbol == symbol) {
                return Err(format!("symbol {symbol:?} appears twice"));
            }
            let exchange = Exchange::from_snapshot_state(state).map_err(|e| format!("{symbol}: {e}"))?;
            instruments.push(super::Instrument { symbol, exchange });
        }
        let mut v = MultiExchange::new_empty(instruments, s.deposits, s.max_rounds);
        v.transfers = s.transfers.into_owned();
        if v.transfers.iter().any(|t| t.from.0 as usize >= n || t.to.0 as usize >= n) {
            return Err("a transfer names no instrument of the venue".into());
        }
        v.round = s.round;
        for (id, legs) in s.accounts {
            let m = v.accounts.len() as u32;
            let legs = legs.into_owned();
            if legs.len() < 2 || legs.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(format!("trader {id}: legs not in two or more distinct instruments in order"));
            }
            if v.by_id.insert(id, m).is_some() {
                return Err(format!("trader {id} is listed twice"));
            }
            for &(k, dense) in &legs {
                let ex = &mut v.instruments.get_mut(k as usize).ok_or("a leg in no instrument")?.exchange;
                if ex.accounts().get(dense as usize).map(|a| a.id) != Some(TraderId(id)) {
                    return Err(format!("trader {id}: a leg is not its row of that market"));
                }
                ex.make_leg(dense)?;
                v.leg_owner[k as usize][dense as usize] = m;
                v.holders[k as usize].push((m, dense));
            }
            v.accounts.push(MultiAccount::new(TraderId(id), &legs));
        }
        let total = v.instruments.iter().try_fold(Money::ZERO, |t, i| {
            i.exchange.checked_money_total().and_then(|x| t.0.checked_add(x.0)).map(Money)
        });
        if total != Some(v.deposits) {
            return Err("the venue's money does not add up to its deposits".into());
        }
        // Each leg's `others` and trigger from the legs at the current marks (the snapshot was
        // written exact, so the triggers come back where they were).
        for m in 0..v.accounts.len() as u32 {
            v.refresh_account(m, true);
        }
        v.marks_seen = v.instruments.iter().map(|i| i.exchange.mark()).collect();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::ExchangeConfig;
    use crate::margin::NotionalScale;
    use crate::venue::VenuePreset;

    /// Two markets, traders 1 and 2 each long in both (multi accounts).
    fn venue() -> MultiExchange {
        let cfg = |symbol: &str| {
            let mut c = ExchangeConfig::new(
                VenuePreset::from_names("binance", symbol).unwrap(),
                NotionalScale::from_sizes(0.1, 0.001).unwrap(),
            );
            c.mark_rule = crate::funding::MarkRule::Index;
            (symbol.to_string(), c)
        };
        let mut v = MultiExchange::new(vec![cfg("BTCUSDT"), cfg("ETHUSDT")]).unwrap();
        let row = |id: i64| crate::exchange::AccountRow {
            id: TraderId(id),
            balance: Money(1_000 * crate::MONEY_SCALE),
            mode: crate::account::MarginMode::Cross,
            lots: 100,
            entry_money_per_lot: Money(50 * crate::MONEY_SCALE),
            leverage: 20,
            isolated_margin: None,
        };
        let (b, e) = (super::super::InstrumentId(0), super::super::InstrumentId(1));
        v.add_accounts(&[(b, row(1)), (e, row(1)), (b, row(2)), (e, row(2))]).unwrap();
        v.set_index(b, 500_000).unwrap();
        v.set_index(e, 500_000).unwrap();
        v
    }

    /// The snapshot of `v` with its venue state changed by `edit`, re-encoded (a valid checksum).
    fn edited(v: &mut MultiExchange, edit: impl FnOnce(&mut VenueState<'_>)) -> Vec<u8> {
        let bytes = v.to_snapshot().unwrap();
        let mut state: VenueState = decode(Kind::MultiExchange, &bytes).unwrap();
        edit(&mut state);
        encode(Kind::MultiExchange, &state).unwrap()
    }

    #[test]
    fn inconsistent_legs_are_refused_not_loaded() {
        let mut v = venue();
        assert!(MultiExchange::from_snapshot(&v.to_snapshot().unwrap()).is_ok());
        let cases: [(&str, Box<dyn FnOnce(&mut VenueState<'_>)>); 5] = [
            ("not its row", Box::new(|s| s.accounts[0].1.to_mut()[1].1 += 1)),
            ("listed twice", Box::new(|s| s.accounts[1].0 = s.accounts[0].0)),
            ("not its row", Box::new(|s| s.accounts[0].1.to_mut()[0].1 = 1_000)),
            ("in order", Box::new(|s| s.accounts[0].1.to_mut().truncate(1))),
            ("no instrument", Box::new(|s| s.transfers = Cow::Owned(vec![transfer(7)]))),
        ];
        for (what, edit) in cases {
            let err = MultiExchange::from_snapshot(&edited(&mut v, edit)).unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
    }

    fn transfer(to: u32) -> TransferRecord {
        use super::super::InstrumentId;
        TransferRecord { ts: 0, trader: TraderId(1), from: InstrumentId(0), to: InstrumentId(to), amount: Money(1) }
    }
}
