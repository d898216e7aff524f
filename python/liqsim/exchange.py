"""`liqsim.Exchange`: one perpetual-futures market with accounts, margin and the liquidation engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._tables import as_table, code_column, decode, float_column, int_column, scenario_error
from .book import SIDE_CODES

MARGIN_MODE_CODES = {"cross": 0, "isolated": 1}
POSITION_SIDE_CODES = {"long": 0, "short": 1, "flat": 2, "buy": 0, "sell": 1}
_POSITION_SIGN = np.array([1, -1, 0], dtype=np.int8)
POSITION_SIDE_NAMES = ["long", "short"]  # by the core's side code of a position: 0 buy = long


class Exchange:
    """A stateful market for one instrument: an order book, the accounts trading on it, their
    margin, and the liquidation engine (trigger index, close-out, insurance fund, ADL, cascades).

    Every action (an order, a new index price, time moving on) ends by running the liquidation
    cascade inside the core: accounts whose trigger the mark price crossed are closed out, their
    fills move the price, and that repeats until no account is liquidatable.

    Parameters
    ----------
    venue : {"binance", "bybit", "hyperliquid", "dydx"}
        Venue preset: margin tiers, fees, liquidation fee, funding, mark-price rule, close-out
        policy, backstop and ADL ranking.
    symbol : str
        Instrument; BTC- and ETH-like symbols have presets (``BTCUSDT``, ``ETHUSDT``, ``ETH``, …).
    tick_size, lot_size : float
        Price and quantity increments.
    insurance_fund : float
        Starting insurance fund, quote currency.
    mark_rule : {"last", "index", "median"} or None
        Overrides the venue's mark price rule (None keeps it; Binance's is the median rule).
    closeouts_move_mark : bool
        Whether liquidation fills move the price the mark is computed from (True lets cascades
        feed on themselves when the mark follows the last price).
    adl : bool
        Auto-deleverage profitable opposite positions when the insurance fund is empty.
    liquidation_limit : {"market", "bankruptcy"} or None
        Liquidation orders as market orders (shortfalls hit the fund, so they go past bankruptcy only
        as far as the fund can pay) or as limits at the bankruptcy price. None: what the venue
        sends (Binance, Bybit: bankruptcy; Hyperliquid: market; dYdX: its fillable price, as market).
    stp : str
        Self-trade prevention of the book.
    tiers : table or None
        Your own maintenance-margin tiers (columns ``floor``, ``cap``, ``mmr``, ``max_leverage``;
        notional in quote currency, MMR as a fraction; ``cum`` is derived so MM is continuous).
        With tiers, any symbol is accepted; the venue still gives fees, funding and policies.
    fees : (maker, taker) or None
        Trading fee rates overriding the preset's (e.g. ``(0.0002, 0.0005)``).
    liquidation_fee : float or None
        Liquidation fee rate overriding the preset's.
    max_leverage : int or None
        Hyperliquid only: the asset's max leverage (one tier, MMR = 1 / (2 × it)), for assets
        without a built-in table (BTC, ETH, SOL, XRP have one).
    """

    def __init__(
        self,
        venue: str = "binance",
        symbol: str = "ETHUSDT",
        tick_size: float = 0.01,
        lot_size: float = 0.001,
        insurance_fund: float = 0.0,
        mark_rule: str | None = None,
        closeouts_move_mark: bool = True,
        adl: bool = True,
        liquidation_limit: str | None = None,
        stp: str = "none",
        tiers: object | None = None,
        fees: tuple[float, float] | None = None,
        liquidation_fee: float | None = None,
        max_leverage: int | None = None,
    ) -> None:
        tier_columns = None
        if tiers is not None:
            t = as_table(tiers, "tiers")
            tier_columns = (
                float_column(t, "tiers", "floor", required=True).tolist(),
                float_column(t, "tiers", "cap", required=True).tolist(),
                float_column(t, "tiers", "mmr", required=True).tolist(),
                int_column(t, "tiers", "max_leverage", required=True).tolist(),
            )
        self._ex = _core.Exchange(
            venue, symbol, tick_size, lot_size, insurance_fund, mark_rule, closeouts_move_mark, adl, liquidation_limit,
            stp, tier_columns, fees, liquidation_fee, max_leverage,
        )

    def __repr__(self) -> str:
        return (
            f"Exchange(venue={self.venue!r}, symbol={self.symbol!r}, mark={self.mark}, "
            f"open_interest={self.open_interest}, insurance_fund={self.insurance_fund:,.2f})"
        )

    # --- loading ---------------------------------------------------------------------------

    def load_book(self, book: object) -> None:
        """Load resting orders in one call. Columns: ``side`` (bid/ask or buy/sell), ``price``,
        ``qty``, and optionally ``owner`` (a loaded trader id; default: background liquidity).
        Raises :class:`liqsim.ScenarioError` for a bad row, or one that crosses the book."""
        table = "book"
        t = as_table(book, table)
        self._ex.load_book_columns(
            code_column(t, table, "side", SIDE_CODES, required=True),
            float_column(t, table, "price", required=True),
            float_column(t, table, "qty", required=True),
            int_column(t, table, "owner"),
        )

    def load_accounts(self, accounts: object) -> None:
        """Load traders in one call. Columns:

        ==============  ===============================================================
        trader_id       int, unique, ≥ 0
        balance         float, wallet (for isolated accounts: besides isolated margin)
        margin_mode     ``cross`` or ``isolated`` (default cross)
        side            ``long``/``short``/``flat``; if absent, the sign of ``qty``
        qty             float, position size in base units
        entry_price     float, average entry (any value; needed when qty ≠ 0)
        leverage        whole number, default 10; must fit the tier of the position
        isolated_margin float, optional (default entry notional / leverage)
        ==============  ===============================================================

        The other side of loaded positions is held by the background liquidity account
        (trader id −2) at the same entry prices, so positions sum to zero from the start.
        """
        table = "accounts"
        t = as_table(accounts, table)
        n = t.num_rows
        qty = float_column(t, table, "qty")
        qty = np.zeros(n) if qty is None else qty
        side_codes = code_column(t, table, "side", POSITION_SIDE_CODES)
        if side_codes is None:
            sign = np.sign(np.nan_to_num(qty)).astype(np.int8)
            qty = np.abs(qty)
        else:
            missing = side_codes == 255
            sign = _POSITION_SIGN[np.where(missing, 2, side_codes)]
            bad = np.flatnonzero(missing & (np.nan_to_num(qty) != 0))
            if len(bad):
                raise scenario_error(table, "side", int(bad[0]), "missing side for a non-zero qty")
        mode = code_column(t, table, "margin_mode", MARGIN_MODE_CODES, default=0)
        entry = float_column(t, table, "entry_price")
        leverage = float_column(t, table, "leverage")
        if leverage is not None:
            leverage = np.where(np.isnan(leverage), 10.0, leverage)
        self._ex.load_accounts_columns(
            int_column(t, table, "trader_id", required=True),
            float_column(t, table, "balance", required=True),
            np.zeros(n, dtype=np.uint8) if mode is None else mode,
            sign,
            qty,
            np.full(n, np.nan) if entry is None else entry,
            np.full(n, 10.0) if leverage is None else leverage,
            float_column(t, table, "isolated_margin"),
        )

    # --- acting ----------------------------------------------------------------------------

    def submit(
        self,
        trader_id: int,
        side: str,
        qty: float,
        price: float | None = None,
        tif: str = "gtc",
        reduce_only: bool = False,
    ) -> dict[str, Any]:
        """Place an order for a loaded account (``price`` None: market order), then run the
        cascade. Returns ``order_id``, ``status``, ``reason`` (e.g. ``insufficient_margin``,
        ``leverage_exceeds_tier``, ``reduce_only_would_increase``, or a book reason),
        ``filled``, ``avg_price``, ``sent_qty`` (reduce-only orders are trimmed to the position)
        and ``liquidations`` (how many the cascade after it recorded)."""
        return self._ex.submit(trader_id, side, qty, price, tif, reduce_only)

    def cancel(self, trader_id: int, order_id: int) -> dict[str, Any]:
        """Cancel one of the account's resting orders."""
        return self._ex.cancel(trader_id, order_id)

    def set_index(self, price: float) -> None:
        """Set the index (spot) price, then run the cascade."""
        self._ex.set_index(price)

    def advance(self, ts: int) -> None:
        """Move the clock to ``ts`` (integer nanoseconds): samples the mark basis each second,
        the funding premium on the venue's schedule, settles funding at interval boundaries, and
        runs the cascade at each step."""
        self._ex.advance(int(ts))

    # --- reading ---------------------------------------------------------------------------

    @property
    def venue(self) -> str:
        return self._ex.venue

    @property
    def symbol(self) -> str:
        return self._ex.symbol

    @property
    def mark(self) -> float | None:
        return self._ex.mark

    @property
    def last(self) -> float | None:
        return self._ex.last

    @property
    def index(self) -> float | None:
        return self._ex.index

    @property
    def best_bid(self) -> float | None:
        return self._ex.best_bid

    @property
    def best_ask(self) -> float | None:
        return self._ex.best_ask

    @property
    def insurance_fund(self) -> float:
        """Insurance fund balance, quote currency."""
        return self._ex.insurance_fund

    @property
    def fees(self) -> float:
        """Trading fees collected, quote currency."""
        return self._ex.fees

    @property
    def open_interest(self) -> float:
        """Σ of long positions, base units."""
        return self._ex.open_interest

    @property
    def ts(self) -> int:
        return self._ex.ts

    @property
    def cascade_rounds(self) -> tuple[int, int]:
        """Rounds of the most recent cascade, and the most seen in one cascade."""
        return self._ex.cascade_rounds

    def money(self) -> tuple[float, float]:
        """(deposits, balances + unrealised PnL + fees now): equal when money is conserved."""
        return self._ex.money()

    def check_invariants(self) -> None:
        """Raise :class:`liqsim.LiqsimError` if any invariant of the design is broken (book,
        positions sum to zero, exact money conservation, trigger index == brute force)."""
        self._ex.check_invariants()

    def accounts(self) -> dict[str, np.ndarray]:
        """All accounts, including the insurance fund (−1) and background liquidity (−2):
        trader_id, balance, margin_mode, position (signed, base units), entry_price,
        realized_pnl, unrealized_pnl, margin_balance, maintenance_margin (at the mark),
        liquidation_price (NaN when none) and liquidated."""
        out = self._ex.accounts()
        out["margin_mode"] = decode(out["margin_mode"], _core.MARGIN_MODE_NAMES)
        return out

    def trades(self) -> dict[str, np.ndarray]:
        """The trade tape: ts, price, qty, aggressor, taker, maker, kind (normal / liquidation /
        adl / backstop)."""
        out = self._ex.trades()
        out["aggressor"] = decode(out["aggressor"], _core.SIDE_NAMES)
        out["kind"] = decode(out["kind"], _core.TRADE_KIND_NAMES)
        return out

    def liquidations(self) -> dict[str, np.ndarray]:
        """One row per liquidation: ts, trader_id, side (long/short), qty, mark (at trigger),
        avg_fill_price (NaN when the book filled nothing), bankruptcy_price, insurance_delta,
        kind (partial / full / backstop / adl), round (of the cascade)."""
        out = self._ex.liquidations()
        out["side"] = decode(out["side"], POSITION_SIDE_NAMES)
        out["kind"] = decode(out["kind"], _core.LIQUIDATION_KIND_NAMES)
        return out

    def adl(self) -> dict[str, np.ndarray]:
        """Auto-deleveraging: ts, trader_id (deleveraged), liquidated_trader_id, side, qty, price
        (the bankruptcy price), round."""
        out = self._ex.adl()
        out["side"] = decode(out["side"], POSITION_SIDE_NAMES)
        return out

    def funding(self) -> dict[str, np.ndarray]:
        """Funding settlements: ts, rate, mark, paid_by_longs (quote; negative: shorts paid)."""
        return self._ex.funding()

    def insurance(self) -> dict[str, np.ndarray]:
        """Insurance fund changes: ts, delta, balance, reason, trader_id."""
        out = self._ex.insurance()
        out["reason"] = decode(out["reason"], _core.INSURANCE_REASON_NAMES)
        return out
