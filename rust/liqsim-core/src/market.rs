//! What agents and the simulation loop use of a market: the order API a user has, and the public
//! view a venue's gateway shows (book, tape, last/mark/index, configuration, the caller's account).
//!
//! Implemented by a lone [`Exchange`] and by [`InstrumentMarket`], one instrument of a
//! [`MultiExchange`] whose orders go through the venue (so the cross-margin legs are refreshed and
//! the venue's cascade runs after each). Agents are generic over it: monomorphised, so the
//! single-instrument path compiles to the same direct calls as before.

use crate::book::{OrderBook, Outcome};
use crate::exchange::{Exchange, ExchangeConfig, OrderReject, OrderRequest, StopRequest, SubmitResult, Tape};
use crate::margin::Rate;
use crate::multi::{InstrumentId, MultiExchange};
use crate::types::{OrderId, Price, TraderId};

/// A market an agent trades in (see the module docs).
pub trait Market {
    /// The market's public state (read only).
    fn view(&self) -> &Exchange;
    fn submit(&mut self, trader: TraderId, req: OrderRequest) -> SubmitResult;
    fn cancel(&mut self, trader: TraderId, order_id: OrderId) -> Result<Outcome, OrderReject>;
    fn submit_stop(&mut self, trader: TraderId, req: StopRequest) -> Result<i64, OrderReject>;
    fn cancel_stop(&mut self, trader: TraderId, stop_id: i64) -> bool;
    /// An index update (the scenario's, or an agent that models the spot market).
    fn set_index(&mut self, price: Price);

    #[inline]
    fn book(&self) -> &OrderBook {
        self.view().book()
    }
    #[inline]
    fn tape(&self) -> &Tape {
        self.view().tape()
    }
    #[inline]
    fn config(&self) -> &ExchangeConfig {
        self.view().config()
    }
    #[inline]
    fn last(&self) -> Option<Price> {
        self.view().last()
    }
    #[inline]
    fn mark(&self) -> Option<Price> {
        self.view().mark()
    }
    #[inline]
    fn index_price(&self) -> Option<Price> {
        self.view().index_price()
    }
    #[inline]
    fn funding_rate_estimate(&self) -> Rate {
        self.view().funding_rate_estimate()
    }
    #[inline]
    fn account(&self, id: TraderId) -> Option<&crate::account::Account> {
        self.view().account(id)
    }
    #[inline]
    fn stop_book(&self) -> &crate::stops::StopBook {
        self.view().stop_book()
    }
}

impl Market for Exchange {
    #[inline]
    fn view(&self) -> &Exchange {
        self
    }
    #[inline]
    fn submit(&mut self, trader: TraderId, req: OrderRequest) -> SubmitResult {
        Exchange::submit(self, trader, req)
    }
    #[inline]
    fn cancel(&mut self, trader: TraderId, order_id: OrderId) -> Result<Outcome, OrderReject> {
        Exchange::cancel(self, trader, order_id)
    }
    #[inline]
    fn submit_stop(&mut self, trader: TraderId, req: StopRequest) -> Result<i64, OrderReject> {
        Exchange::submit_stop(self, trader, req)
    }
    #[inline]
    fn cancel_stop(&mut self, trader: TraderId, stop_id: i64) -> bool {
        Exchange::cancel_stop(self, trader, stop_id)
    }
    #[inline]
    fn set_index(&mut self, price: Price) {
        Exchange::set_index(self, price)
    }
}

/// One instrument of a [`MultiExchange`], as a [`Market`]: every action goes through the venue.
pub struct InstrumentMarket<'a> {
    venue: &'a mut MultiExchange,
    inst: InstrumentId,
}

impl<'a> InstrumentMarket<'a> {
    /// `None` when `inst` is not an instrument of the venue.
    pub fn new(venue: &'a mut MultiExchange, inst: InstrumentId) -> Option<InstrumentMarket<'a>> {
        ((inst.0 as usize) < venue.instruments().len()).then_some(InstrumentMarket { venue, inst })
    }

    pub fn instrument(&self) -> InstrumentId {
        self.inst
    }
}

// The venue's methods return `Err` only for an instrument it does not have, which `new` ruled out.
const CHECKED: &str = "instrument checked in InstrumentMarket::new";

impl Market for InstrumentMarket<'_> {
    fn view(&self) -> &Exchange {
        self.venue.exchange(self.inst)
    }
    fn submit(&mut self, trader: TraderId, req: OrderRequest) -> SubmitResult {
        self.venue.submit(self.inst, trader, req).expect(CHECKED)
    }
    fn cancel(&mut self, trader: TraderId, order_id: OrderId) -> Result<Outcome, OrderReject> {
        self.venue.cancel(self.inst, trader, order_id).expect(CHECKED)
    }
    fn submit_stop(&mut self, trader: TraderId, req: StopRequest) -> Result<i64, OrderReject> {
        self.venue.submit_stop(self.inst, trader, req).expect(CHECKED)
    }
    fn cancel_stop(&mut self, trader: TraderId, stop_id: i64) -> bool {
        self.venue.cancel_stop(self.inst, trader, stop_id).expect(CHECKED)
    }
    fn set_index(&mut self, price: Price) {
        self.venue.set_index(self.inst, price).expect(CHECKED)
    }
}
