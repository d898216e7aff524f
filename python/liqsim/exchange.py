"""`liqsim.Exchange`: one perpetual-futures market with accounts, margin and the liquidation engine."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from . import _choices, _core
from ._tables import as_table, check_columns, code_column, float_column, int_column, scenario_error
from ._time import DurationLike, TimeLike, duration_ns, time_ns
from ._types import (
    CancelResult,
    DepthWithin,
    ExchangeOrderResult,
    ExtraColumns,
    LiquidationLimit,
    MarkRule,
    SelfTradePrevention,
    Side,
    StopResult,
    TimeInForce,
    TriggerOn,
    Venue,
)
from .book import SIDE_CODES, depth_table, orders_table
from .errors import ConfigError
from .results import Table

MARGIN_MODE_CODES = _choices.MARGIN_MODE
POSITION_SIDE_CODES = _choices.POSITION_SIDE
#: The columns each loader reads.
BOOK_COLUMNS = ("side", "price", "qty", "owner")
ACCOUNT_COLUMNS = ("trader_id", "balance", "margin_mode", "side", "qty", "entry_price", "leverage", "isolated_margin")
TIER_COLUMNS = ("floor", "cap", "mmr", "max_leverage")


def _rate(argument: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        err = ConfigError(f"{argument} must be a number (a fraction, 0.0005 = 0.05%), got {value!r}")
        err.parameter = argument
        raise err
    return float(value)


def _fees(fees: object) -> tuple[float, float] | None:
    """``(maker, taker)`` rates; a single number is refused, not guessed."""
    if fees is None:
        return None
    if isinstance(fees, (int, float, np.integer, np.floating)) and not isinstance(fees, bool):
        err = ConfigError(
            f"fees must be a (maker, taker) pair of rates, e.g. fees=({fees!r}, {fees!r}) for the same "
            f"rate on both sides; got the single number {fees!r}"
        )
        err.parameter = "fees"
        raise err
    pair = tuple(fees) if isinstance(fees, (tuple, list)) else ()
    if len(pair) != 2:
        err = ConfigError(f"fees must be a (maker, taker) pair of rates such as (0.0002, 0.0005), got {fees!r}")
        err.parameter = "fees"
        raise err
    return _rate("fees (maker)", pair[0]), _rate("fees (taker)", pair[1])
_POSITION_SIGN = np.array([1, -1, 0], dtype=np.int8)
POSITION_SIDE_NAMES = ["long", "short"]  # by the core's side code of a position: 0 buy = long


def account_columns(t: Any, table: str) -> tuple[Any, ...]:
    """The accounts table's columns as the core reads them (codes, signs, defaults filled in):
    trader_id, balance, margin_mode, side sign, qty, entry_price, leverage, isolated_margin."""
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
    return (
        int_column(t, table, "trader_id", required=True),
        float_column(t, table, "balance", required=True),
        np.zeros(n, dtype=np.uint8) if mode is None else mode,
        sign,
        qty,
        np.full(n, np.nan) if entry is None else entry,
        np.full(n, 10.0) if leverage is None else leverage,
        float_column(t, table, "isolated_margin"),
    )


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
        Trading fee rates overriding the preset's, as fractions (e.g. ``(0.0002, 0.0005)``: 0.02% maker,
        0.05% taker). A single number is refused (which side would it be?): pass it twice.
    liquidation_fee : float or None
        Liquidation fee rate overriding the preset's.
    max_leverage : int or None
        Hyperliquid only: the asset's max leverage (one tier, MMR = 1 / (2 × it)), for assets
        without a built-in table (BTC, ETH, SOL, XRP have one).

    String arguments accept any case; a value not accepted raises :class:`liqsim.ConfigError`
    naming the parameter (``venue="binanse"`` → did you mean 'binance'?).

    An exchange pickles (any protocol, so process pools and ``copy.deepcopy`` work): the pickle is
    a compact versioned binary snapshot of its whole state (configuration, book and queues,
    accounts, open and stop orders, funding accumulators, cooldowns, clocks and tapes), and the
    unpickled exchange continues exactly as the original would. A damaged pickle, or one from a
    liqsim with another snapshot format, raises :class:`liqsim.SnapshotError`.

    Examples
    --------
    >>> ex = Exchange(venue="binance", symbol="ETHUSDT", insurance_fund=1e6, mark_rule="last")
    >>> ex.load_accounts({"trader_id": [1, 2], "balance": [100.0, 1e6], "side": ["short", "flat"],
    ...                   "qty": [1.0, 0.0], "entry_price": [3000.0, float("nan")], "leverage": [50, 5]})
    >>> ex.load_book({"side": ["ask", "ask", "bid"], "price": [3001.0, 3100.0, 2999.0], "qty": [1.0, 5.0, 1.0]})
    >>> ex.set_index(3000.0)
    >>> ex.sweep_price("buy", 2.0)                  # 1 at 3,001 and 1 at 3,100
    3050.5
    >>> ex.submit(2, "buy", 2.0)["liquidations"]     # the 3,100 print liquidates the short
    1
    >>> ex.liquidations()["trader_id"].tolist(), ex.liquidations()["kind"].tolist()
    ([1], ['full'])
    """

    def __init__(
        self,
        venue: Venue = "binance",
        symbol: str = "ETHUSDT",
        tick_size: float = 0.01,
        lot_size: float = 0.001,
        insurance_fund: float = 0.0,
        mark_rule: MarkRule | None = None,
        closeouts_move_mark: bool = True,
        adl: bool = True,
        liquidation_limit: LiquidationLimit | None = None,
        stp: SelfTradePrevention = "none",
        tiers: object | None = None,
        fees: tuple[float, float] | None = None,
        liquidation_fee: float | None = None,
        max_leverage: int | None = None,
    ) -> None:
        tier_columns = None
        if tiers is not None:
            t = as_table(tiers, "tiers")
            check_columns(t, "tiers", TIER_COLUMNS)
            tier_columns = (
                float_column(t, "tiers", "floor", required=True).tolist(),
                float_column(t, "tiers", "cap", required=True).tolist(),
                float_column(t, "tiers", "mmr", required=True).tolist(),
                int_column(t, "tiers", "max_leverage", required=True).tolist(),
            )
        self._ex = _core.Exchange(
            _choices.venue(venue),
            symbol,
            tick_size,
            lot_size,
            insurance_fund,
            None if mark_rule is None else _choices.mark_rule(mark_rule),
            closeouts_move_mark,
            adl,
            None if liquidation_limit is None else _choices.liquidation_limit(liquidation_limit),
            _choices.stp(stp),
            tier_columns,
            _fees(fees),
            None if liquidation_fee is None else _rate("liquidation_fee", liquidation_fee),
            None if max_leverage is None else int(max_leverage),
        )

    def __repr__(self) -> str:
        def price(p: float | None) -> str:
            return "None" if p is None else f"{p:,.2f}"

        return (
            f"<liqsim.Exchange {self.venue} {self.symbol}: mark {price(self.mark)}, last {price(self.last)}, "
            f"index {price(self.index)}; bid {price(self.best_bid)} / ask {price(self.best_ask)}; "
            f"{self._ex.account_count - 2:,} accounts, open interest {self.open_interest:,.3f}, "
            f"insurance fund {self.insurance_fund:,.2f}, time {np.datetime64(self.ts, 'ns')}Z>"
        )

    @classmethod
    def _wrap(cls, core: _core.Exchange) -> Exchange:
        """An Exchange around a core exchange the binding made (e.g. a state kept by a run)."""
        new = cls.__new__(cls)
        new._ex = core
        return new

    def copy(self) -> Exchange:
        """An independent deep copy (book, accounts, tapes, clock): the cheap way to branch a
        what-if. Acting on the copy leaves the original as it was.

        >>> ex = Exchange()
        >>> what_if = ex.copy()                  # or copy.deepcopy(ex), or pickle.loads(pickle.dumps(ex))
        >>> what_if.set_index(3000.0)
        >>> ex.index is None, what_if.index
        (True, 3000.0)
        """
        new = Exchange.__new__(Exchange)
        new._ex = self._ex.copy()
        return new

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Exchange:
        return self.copy()

    # Pickling needs nothing here: the instance's only state is the core exchange, which pickles
    # as a versioned binary snapshot (``_core.Exchange.__reduce__``), so the default protocol works.

    # --- loading ---------------------------------------------------------------------------

    def load_book(self, book: object, extra_columns: ExtraColumns = "raise") -> None:
        """Load resting orders in one call. Columns: ``side`` (bid/ask or buy/sell), ``price``,
        ``qty``, and optionally ``owner`` (a loaded trader id; default: background liquidity).
        Raises :class:`liqsim.ScenarioError` for a bad row, one that crosses the book, or an
        unknown column (unless ``extra_columns="ignore"``)."""
        table = "book"
        t = as_table(book, table)
        check_columns(t, table, BOOK_COLUMNS, extra_columns)
        self._ex.load_book_columns(
            code_column(t, table, "side", SIDE_CODES, required=True),
            float_column(t, table, "price", required=True),
            float_column(t, table, "qty", required=True),
            int_column(t, table, "owner"),
        )

    def load_accounts(self, accounts: object, extra_columns: ExtraColumns = "raise") -> None:
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

        Any other column raises :class:`liqsim.ScenarioError` naming it and the closest accepted
        one (``size`` → ``qty``, ``lev`` → ``leverage``); ``extra_columns="ignore"`` skips them.
        """
        table = "accounts"
        t = as_table(accounts, table)
        check_columns(t, table, ACCOUNT_COLUMNS, extra_columns)
        self._ex.load_accounts_columns(account_columns(t, table))

    # --- acting ----------------------------------------------------------------------------

    def submit(
        self,
        trader_id: int,
        side: Side,
        qty: float,
        price: float | None = None,
        tif: TimeInForce = "gtc",
        reduce_only: bool = False,
    ) -> ExchangeOrderResult:
        """Place an order for a loaded account (``price`` None: market order), then run the
        cascade. Returns ``order_id``, ``status``, ``reason`` (e.g. ``insufficient_margin``,
        ``leverage_exceeds_tier``, ``reduce_only_would_increase``, or a book reason),
        ``filled``, ``avg_price``, ``sent_qty`` (reduce-only orders are trimmed to the position)
        and ``liquidations`` (how many the cascade after it recorded)."""
        return self._ex.submit(
            trader_id,
            _choices.side(side),
            _choices.number("qty", qty),
            _choices.optional_number("price", price),
            _choices.tif(tif),
            reduce_only,
        )

    def cancel(self, trader_id: int, order_id: int) -> CancelResult:
        """Cancel one of the account's resting orders."""
        return self._ex.cancel(trader_id, order_id)

    def set_index(self, price: float) -> None:
        """Set the index (spot) price, quote currency, then run the cascade."""
        self._ex.set_index(_choices.number("index price", price))

    def advance(self, dt: DurationLike) -> None:
        """Move the clock forward by ``dt``: a ``float`` is seconds, an ``int`` nanoseconds;
        ``timedelta``, numpy ``timedelta64`` and pandas ``Timedelta`` are taken as they are.

        On the way it samples the mark basis each second, the funding premium on the venue's
        schedule, settles funding at interval boundaries, and runs the cascade at each step.

        >>> ex = Exchange()
        >>> ex.advance(1.5)                       # seconds
        >>> ex.ts
        1500000000
        """
        step = duration_ns("dt", dt)
        if step < 0:
            err = ConfigError(f"dt must be ≥ 0 (time only moves forward), got {dt!r}")
            err.parameter = "dt"
            raise err
        self.advance_to(self.ts + step)

    def advance_to(self, t: TimeLike) -> None:
        """Move the clock to time ``t``: an ``int`` is nanoseconds since the Unix epoch;
        ``datetime`` (naive = UTC), numpy ``datetime64`` and pandas ``Timestamp`` are converted
        exactly. A float is refused (use :meth:`advance` for a step in seconds)."""
        target = time_ns("t", t)
        if target < self.ts:
            err = ConfigError(f"t must not be before the exchange's clock ({self.ts} ns), got {t!r} = {target} ns")
            err.parameter = "t"
            raise err
        self._ex.advance(target)

    # --- the book ---------------------------------------------------------------------------

    def depth(self, levels: int = 10) -> Table:
        """The exchange's book: top ``levels`` of each side as one table (see
        :meth:`liqsim.OrderBook.depth`)."""
        return depth_table(self._ex.depth(_choices.count("levels", levels)))

    def depth_within(self, fraction: float) -> DepthWithin | None:
        """Resting quantity and notional within ``fraction`` of mid (see
        :meth:`liqsim.OrderBook.depth_within`)."""
        return self._ex.depth_within(fraction)

    def sweep_price(self, side: Side, qty: float) -> float | None:
        """Average price a market order of ``qty`` on ``side`` would get now; None if the book
        cannot fill it."""
        return self._ex.sweep_price(_choices.side(side), _choices.number("qty", qty))

    def orders(self, side: Side) -> Table:
        """Resting orders of one side in priority order: ``order_id``, ``owner`` (trader id;
        −2 for background liquidity), ``price``, ``qty``."""
        return orders_table(self._ex.orders(_choices.side(side)))

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

    def accounts(self) -> Table:
        """All accounts, including the insurance fund (−1) and background liquidity (−2):
        trader_id, balance, margin_mode, position (signed, base units), entry_price,
        realized_pnl, unrealized_pnl, margin_balance, maintenance_margin (at the mark),
        liquidation_price (NaN when none) and liquidated."""
        return Table(self._ex.accounts(), categories={"margin_mode": _core.MARGIN_MODE_NAMES}, name="accounts")

    def trades(self) -> Table:
        """The trade tape: ts, price, qty, aggressor, taker, maker, kind (normal / liquidation /
        adl / backstop)."""
        return Table(
            self._ex.trades(),
            categories={"aggressor": _core.SIDE_NAMES, "kind": _core.TRADE_KIND_NAMES},
            timestamps=["ts"],
            name="trades",
        )

    def liquidations(self) -> Table:
        """One row per liquidation: ts, trader_id, side (long/short), qty, mark (at trigger),
        avg_fill_price (NaN when the book filled nothing), bankruptcy_price, insurance_delta,
        kind (partial / full / backstop / adl), round (of the cascade), notional (quote: qty × the
        average fill price, or × the bankruptcy price where the book filled nothing)."""
        return Table(
            self._ex.liquidations(),
            categories={"side": POSITION_SIDE_NAMES, "kind": _core.LIQUIDATION_KIND_NAMES},
            timestamps=["ts"],
            name="liquidations",
        )

    def adl(self) -> Table:
        """Auto-deleveraging: ts, trader_id (deleveraged), liquidated_trader_id, side, qty, price
        (the bankruptcy price), round."""
        return Table(self._ex.adl(), categories={"side": POSITION_SIDE_NAMES}, timestamps=["ts"], name="adl")

    def funding(self) -> Table:
        """Funding settlements: ts, rate, mark, paid_by_longs (quote; negative: shorts paid)."""
        return Table(self._ex.funding(), timestamps=["ts"], name="funding")

    def insurance(self) -> Table:
        """Insurance fund changes: ts, delta, balance, reason, trader_id."""
        return Table(
            self._ex.insurance(),
            categories={"reason": _core.INSURANCE_REASON_NAMES},
            timestamps=["ts"],
            name="insurance",
        )

    # --- stop orders -------------------------------------------------------------------------

    def submit_stop(
        self,
        trader_id: int,
        side: Side,
        qty: float,
        trigger_price: float | None = None,
        limit_price: float | None = None,
        trigger_on: TriggerOn = "last",
        trail: float | None = None,
        trail_fraction: float | None = None,
        reduce_only: bool = False,
        oco_group: int | None = None,
    ) -> StopResult:
        """Place a stop order: a market order (or a GTC limit at ``limit_price``) sent when the
        ``trigger_on`` price (last trade or mark) reaches ``trigger_price``: at or above it for
        a buy, at or below it for a sell. A trailing stop gives ``trail`` (a price distance) or
        ``trail_fraction`` (of the best price seen) instead of a trigger: its trigger follows
        the high (sell) or low (buy) and never moves back. Stops of one ``oco_group`` cancel
        each other when one triggers. Stops fire inside the cascade: a stop's fills can
        liquidate accounts, and liquidations can trigger stops.

        Returns ``stop_id``, ``status`` (``waiting`` or ``rejected``) and ``reason``
        (``stop_would_trigger_now`` for a trigger already crossed, ``no_price_to_trail``,
        ``unknown_trader``).

        >>> ex = Exchange(mark_rule="last")
        >>> ex.load_accounts({"trader_id": [1], "balance": [10_000.0]})
        >>> ex.submit_stop(1, "buy", 1.0, trigger_price=3100.0)["status"]
        'waiting'
        """
        trigger_on_name = cast(
            TriggerOn, _choices.parse("trigger_on", trigger_on, _choices.TRIGGER_ON, order_reason="invalid_trigger")
        )
        def optional(argument: str, value: float | None) -> float | None:
            return None if value is None else _choices.number(argument, value)

        return _core.submit_stop(
            self._ex,
            trader_id,
            _choices.side(side),
            _choices.number("qty", qty),
            optional("trigger_price", trigger_price),
            optional("limit_price", limit_price),
            trigger_on_name,
            optional("trail", trail),
            optional("trail_fraction", trail_fraction),
            reduce_only,
            oco_group,
        )

    def cancel_stop(self, trader_id: int, stop_id: int) -> bool:
        """Cancel a waiting stop of the trader; False when it is not waiting."""
        return _core.cancel_stop(self._ex, trader_id, stop_id)

    def waiting_stops(self) -> Table:
        """Stops waiting for their trigger: stop_id, trader_id, side, qty, trigger_price (where a
        trailing stop's trigger is now), limit_price (NaN: stop-market), trigger_on, reduce_only."""
        return Table(
            _core.waiting_stops(self._ex),
            categories={"side": _core.SIDE_NAMES, "trigger_on": _core.TRIGGER_ON_NAMES},
            name="waiting_stops",
        )

    def stops(self) -> Table:
        """The stop tape: one row per stop triggered, refused when triggered (margin,
        reduce-only on a flat position) or cancelled (by its owner, an OCO sibling or its
        account's liquidation): ts, trader_id, stop_id, side, qty (sent), trigger_price,
        status, filled (at once), round (of the cascade; 0 outside one)."""
        return Table(
            _core.stop_tape(self._ex),
            categories={"side": _core.SIDE_NAMES, "status": _core.STOP_STATUS_NAMES},
            timestamps=["ts"],
            name="stops",
        )
