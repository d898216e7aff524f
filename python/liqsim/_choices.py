"""The one case-insensitive lookup of every string argument and every categorical column.

Each choice is a mapping from accepted spellings (lower case) to the core's code; a value is
looked up after ``strip().lower()``. Table columns go through the same mappings (vectorised in
``_tables.code_column``), so ``"Buy"`` means the same in ``submit`` as in a table.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from .errors import ConfigError, OrderError

SIDE = {"buy": 0, "sell": 1, "bid": 0, "ask": 1, "b": 0, "s": 1}
POSITION_SIDE = {"long": 0, "short": 1, "flat": 2, "buy": 0, "sell": 1}
TIF = {"gtc": 0, "ioc": 1, "fok": 2, "post_only": 3, "gtx": 3, "post-only": 3}
STP = {"none": 0, "cancel_taker": 1, "cancel_maker": 2, "cancel_both": 3}
VENUE = {"binance": 0, "bybit": 1, "hyperliquid": 2, "dydx": 3}
MARK_RULE = {"last": 0, "index": 1, "median": 2, "binance_median": 2}
LIQUIDATION_LIMIT = {"market": 0, "bankruptcy": 1}
MARGIN_MODE = {"cross": 0, "isolated": 1}
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


def parse(argument: str, value: object, codes: Mapping[str, int], *, order_reason: str | None = None) -> str:
    """The canonical name of ``value`` among ``codes`` (case-insensitive).

    A value not accepted raises :class:`ConfigError` naming the argument, the value and the
    accepted names, or, for an argument of a single order (``order_reason`` given),
    :class:`OrderError` with that reason.
    """
    if isinstance(value, str):
        key = value.strip().lower()
        if key in codes:
            return canonical(codes)[codes[key]]
        hint = did_you_mean(key, codes)
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
