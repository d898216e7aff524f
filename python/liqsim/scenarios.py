"""Built-in markets. Each builder returns plain tables (dicts of numpy arrays) that
:meth:`liqsim.Exchange.load_book` and :meth:`liqsim.Exchange.load_accounts` take, plus the
parameters the market was built for, so a user can inspect or change them before loading."""

from __future__ import annotations

from typing import Any

import numpy as np

import liqsim

from .exchange import Exchange


def names() -> list[str]:
    """Names of the built-in markets."""
    return ["eth_short_squeeze"]


def eth_short_squeeze(seed: int = 7, n_shorts: int = 4000, n_longs: int = 1000) -> dict[str, Any]:
    """An ETH-like perpetual at 3,850 with shorts stacked above the price.

    - Book (background liquidity): one level every tick near the touch, spreading out to ±10%;
      cumulative depth grows like distance^0.65 (the concave profile measured on Binance),
      about 2,600 ETH (~$10M) within 1% of mid on each side: a thin, stressed book.
    - ``n_shorts`` shorts opened between 3,700 and 3,850 at 10–100x (most 20–50x), sizes
      log-normal (median ~1.5 ETH, tail to a few hundred ETH): their liquidation prices stack in
      the +1% … +10% band above the price, densest just above it.
    - ``n_longs`` longs at 2–20x with liquidation prices well below: the counterparties that
      auto-deleveraging would pick.

    Returns ``{"book": ..., "accounts": ..., "params": ...}``; ``params`` holds venue, symbol,
    tick and lot size, index price and insurance fund.
    """
    rng = np.random.default_rng(seed)
    mid, tick, lot = 3850.0, 0.01, 0.001
    mid_ticks = round(mid / tick)

    # Book: distances in ticks, dense near the touch.
    dist = np.unique(np.round(np.geomspace(1, 0.10 * mid / tick, 700)).astype(np.int64))
    cum = 12.0 * dist.astype(np.float64) ** 0.65
    level = np.diff(np.concatenate([[0.0], cum]))
    n = len(dist)
    qty = np.round(np.concatenate([level, level]) * rng.uniform(0.8, 1.2, 2 * n), 3)
    qty = np.maximum(qty, lot)
    book = {
        "side": np.array(["bid"] * n + ["ask"] * n),
        "price": np.round(np.concatenate([mid_ticks - dist, mid_ticks + dist]) * tick, 2),
        "qty": qty,
    }

    # Shorts: entries below the price, leverage skewed to 20–50x.
    leverage = np.clip(np.round(rng.lognormal(np.log(30), 0.45, n_shorts)), 10, 100)
    entry = np.round(rng.uniform(3700.0, 3850.0, n_shorts), 2)
    size = np.round(np.clip(rng.lognormal(np.log(1.5), 1.1, n_shorts), 0.01, 400.0), 3)
    # Cross accounts holding only this position: wallet = initial margin plus a small buffer.
    balance = np.round(size * entry / leverage * rng.uniform(1.0, 1.3, n_shorts), 2)
    # Keep those that are not liquidatable at the current price (a fresh market is settled).
    lp = liqsim.liquidation_price("short", size, entry, balance, venue="binance", symbol="ETHUSDT")
    keep = lp > mid * 1.002
    shorts = {
        "trader_id": np.arange(n_shorts)[keep],
        "balance": balance[keep],
        "side": np.full(keep.sum(), "short"),
        "qty": size[keep],
        "entry_price": entry[keep],
        "leverage": leverage[keep],
    }
    long_lev = np.clip(np.round(rng.lognormal(np.log(6), 0.5, n_longs)), 2, 20)
    long_entry = np.round(rng.uniform(3600.0, 3850.0, n_longs), 2)
    long_size = np.round(np.clip(rng.lognormal(np.log(2.0), 1.0, n_longs), 0.01, 300.0), 3)
    longs = {
        "trader_id": 100_000 + np.arange(n_longs),
        "balance": np.round(long_size * long_entry / long_lev * 1.2, 2),
        "side": np.full(n_longs, "long"),
        "qty": long_size,
        "entry_price": long_entry,
        "leverage": long_lev,
    }
    whale = {"trader_id": [999_999], "balance": [50_000_000.0], "side": ["flat"], "qty": [0.0],
             "entry_price": [np.nan], "leverage": [5.0]}
    accounts = {k: np.concatenate([np.asarray(shorts[k]), np.asarray(longs[k]), np.asarray(whale[k])]) for k in shorts}
    params = {
        "venue": "binance",
        "symbol": "ETHUSDT",
        "tick_size": tick,
        "lot_size": lot,
        "index": mid,
        "insurance_fund": 2_000_000.0,
        "whale_id": 999_999,
    }
    return {"book": book, "accounts": accounts, "params": params}


def build_exchange(market: dict[str, Any], **overrides: Any) -> Exchange:
    """An :class:`Exchange` loaded with a built-in market (``overrides`` go to the constructor)."""
    p = market["params"]
    kwargs = {
        "venue": p["venue"],
        "symbol": p["symbol"],
        "tick_size": p["tick_size"],
        "lot_size": p["lot_size"],
        "insurance_fund": p["insurance_fund"],
    } | overrides
    ex = Exchange(**kwargs)
    ex.load_accounts(market["accounts"])
    ex.load_book(market["book"])
    ex.set_index(p["index"])
    return ex
