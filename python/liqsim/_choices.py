"""The one case-insensitive lookup of every string argument and every categorical column.

Each choice is a mapping from accepted spellings (lower case) to the core's code; a value is
looked up after ``strip().lower()``. Table columns go through the same mappings (vectorised in
``_tables.code_column``), so ``"Buy"`` means the same in ``submit`` as in a table.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Literal, cast

import numpy as np

from ._types import LiquidationLimit, MarkRule, SelfTradePrevention, TimeInForce, Venue
from .errors import ConfigError, OrderError

SIDE = {"buy": 0, "sell": 1, "bid": 0, "ask": 1, "b": 0, "s": 1}
POSITION_SIDE = {"long": 0, "short": 1, "flat": 2, "buy": 0, "sell": 1}
TIF = {"gtc": 0, "ioc": 1, "fok": 2, "post_only": 3, "gtx": 3, "post-only": 3}
STP = {"none": 0, "cancel_taker": 1, "cancel_maker": 2, "cancel_both": 3}
VENUE = {"binance": 0, "bybit": 1, "hyperliquid": 2, "dydx": 3}
MARK_RULE = {"last": 0, "index": 1, "median": 2, "binance_median": 2}
LIQUIDATION_LIMIT = {"market": 0, "bankruptcy": 1}
MARGIN_MODE = {"cross": 0, "isolated": 1}
TRIGGER_ON = {"last": 0, "mark": 1}
EXTRA_COLUMNS = {"raise": 0, "ignore": 1}


#: Names users bring from other tools, and what liqsim calls them.
SYNONYMS = {
    "size": "qty",
    "quantity": "qty",
    "amount": "qty",
    "volume": "qty",
    "lev": "leverage",
    "px": "price",
    "entry": "entry_price",
    "id": "trader_id",
    "trader": "trader_id",
    "account": "trader_id",
    "wallet": "balance",
    "mode": "margin_mode",
    "time": "ts",
    "timestamp": "ts",
    "type": "action",
}


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The accepted name closest to a misspelt one (None when nothing is close): a known synonym
    first (``size`` → ``qty``), then the nearest spelling."""
    candidates = list(candidates)
    synonym = SYNONYMS.get(word.lower())
    if synonym in candidates:
        return synonym
    found = difflib.get_close_matches(word.lower(), [c.lower() for c in candidates], n=1, cutoff=0.5)
    if not found:
        return None
    by_lower = {c.lower(): c for c in candidates}
    return by_lower[found[0]]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'qty'?)`` or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean {match!r}?)" if match is not None else ""


def canonical(codes: Mapping[str, int]) -> list[str]:
    """The first spelling of each code, in code order (what messages list as accepted)."""
    names: dict[int, str] = {}
    for name, code in codes.items():
        names.setdefault(code, name)
    return [names[c] for c in sorted(names)]


#: Per choice table: every accepted spelling → its canonical name (built once per table).
_SPELLINGS: dict[int, dict[str, str]] = {}


def _spellings(codes: Mapping[str, int]) -> dict[str, str]:
    table = _SPELLINGS.get(id(codes))
    if table is None:
        names = canonical(codes)
        table = _SPELLINGS[id(codes)] = {spelling: names[code] for spelling, code in codes.items()}
    return table


def parse(argument: str, value: object, codes: Mapping[str, int], *, order_reason: str | None = None) -> str:
    """The canonical name of ``value`` among ``codes`` (case-insensitive, surrounding spaces
    ignored).

    A value not accepted raises :class:`ConfigError` naming the argument, the value and the
    accepted names, or, for an argument of a single order (``order_reason`` given),
    :class:`OrderError` with that reason.
    """
    spellings = _spellings(codes)
    if isinstance(value, str):
        name = spellings.get(value)  # the usual case: already a lower-case spelling
        if name is None:
            name = spellings.get(value.strip().lower())
        if name is not None:
            return name
        hint = did_you_mean(value.strip().lower(), codes)
    else:
        hint = ""
    message = f"{argument} must be one of {canonical(codes)}, got {value!r}{hint}"
    if order_reason is not None:
        order_err = OrderError(message)
        order_err.reason = order_reason
        raise order_err
    config_err = ConfigError(message)
    config_err.parameter = argument
    raise config_err


def number(argument: str, value: object) -> float:
    """A plain number for one order's price or quantity, or an OrderError naming the argument
    (a string or a bool is refused, not converted)."""
    if type(value) is float:  # the common case, first
        return value
    if isinstance(value, int | np.integer | np.floating) and not isinstance(value, bool | np.bool_):
        return float(value)
    err = OrderError(f"{argument} must be a number, got {value!r}")
    err.reason = "invalid_number"
    raise err


def optional_number(argument: str, value: object) -> float | None:
    return None if value is None else number(argument, value)


def count(argument: str, value: object) -> int:
    """A whole number ≥ 0 (e.g. a number of levels), or a ConfigError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        err = ConfigError(f"{argument} must be a whole number ≥ 0, got {value!r}")
        err.parameter = argument
        raise err
    return int(value)


# Typed front doors: the canonical name as the core's Literal type.


OrderSide = Literal["buy", "sell"]
_SIDE_NAMES: dict[object, OrderSide] = {"buy": "buy", "sell": "sell"}
_TIF_NAMES: dict[object, TimeInForce] = {"gtc": "gtc", "ioc": "ioc", "fok": "fok", "post_only": "post_only"}


def side(value: object) -> OrderSide:
    """``buy``/``sell`` from any accepted spelling (``Buy``, ``bid``, ``ask``, …) of an order's side."""
    # One dict lookup for the usual spelling: this runs on every order given one at a time.
    name = _SIDE_NAMES.get(value) if isinstance(value, str) else None
    return name if name is not None else cast(OrderSide, parse("side", value, SIDE, order_reason="invalid_side"))


def tif(value: object) -> TimeInForce:
    name = _TIF_NAMES.get(value) if isinstance(value, str) else None
    return name if name is not None else cast(TimeInForce, parse("tif", value, TIF, order_reason="invalid_tif"))


def stp(value: object) -> SelfTradePrevention:
    return cast(SelfTradePrevention, parse("stp", value, STP))


def venue(value: object) -> Venue:
    return cast(Venue, parse("venue", value, VENUE))


def mark_rule(value: object) -> MarkRule:
    return cast(MarkRule, parse("mark_rule", value, MARK_RULE))


def liquidation_limit(value: object) -> LiquidationLimit:
    return cast(LiquidationLimit, parse("liquidation_limit", value, LIQUIDATION_LIMIT))
