"""Names of the types liqsim's functions take and return (for annotations in user code).

The string enums are ``Literal`` types, so a type checker flags a typo such as ``"bye"``; at run
time every string argument is also accepted in any case (see ``liqsim._choices``).
"""

from __future__ import annotations

from typing import Literal, TypedDict

# One name per line, sorted: several branches add names here.
ExtraColumns = Literal["raise", "ignore"]
LiquidationLimit = Literal["market", "bankruptcy"]
MarkRule = Literal["last", "index", "median"]
SelfTradePrevention = Literal["none", "cancel_taker", "cancel_maker", "cancel_both"]
Side = Literal["buy", "sell", "bid", "ask"]
Status = Literal["rejected", "open", "partially_filled", "filled", "expired", "cancelled"]
TimeInForce = Literal["gtc", "ioc", "fok", "post_only"]
Venue = Literal["binance", "bybit", "hyperliquid", "dydx"]


class Fill(TypedDict):
    """One trade of an order given to :meth:`liqsim.OrderBook.submit`."""

    price: float
    qty: float
    maker_order_id: int
    maker_owner: int


class BookOrderResult(TypedDict):
    """What :class:`liqsim.OrderBook` returns for ``submit``/``cancel``/``modify``."""

    order_id: int | None
    status: Status
    reason: str | None
    filled: float
    avg_price: float | None
    trades: list[Fill]


class ExchangeOrderResult(TypedDict):
    """What :meth:`liqsim.Exchange.submit` returns."""

    order_id: int | None
    status: Status
    reason: str | None
    filled: float
    avg_price: float | None
    sent_qty: float
    liquidations: int


class CancelResult(TypedDict):
    """What :meth:`liqsim.Exchange.cancel` returns."""

    order_id: int
    status: Status
    reason: str | None


class DepthWithin(TypedDict):
    """Resting quantity (base units) and notional (quote units) near the mid, per side."""

    bid_qty: float
    bid_notional: float
    ask_qty: float
    ask_notional: float


#: What a stop order watches.
TriggerOn = Literal["last", "mark"]


class StopResult(TypedDict):
    """What :meth:`liqsim.Exchange.submit_stop` returns."""

    stop_id: int | None
    status: Literal["waiting", "rejected"]
    reason: str | None
