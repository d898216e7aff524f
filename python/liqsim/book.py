"""`liqsim.OrderBook`: a price-time priority limit order book backed by the Rust core."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _choices, _core
from ._tables import as_table, check_columns, code_column, float_column, int_column, time_column
from ._types import BookOrderResult, DepthWithin, ExtraColumns, SelfTradePrevention, Side, TimeInForce
from .results import Table

SIDE_CODES = _choices.SIDE
ACTION_CODES = {name: i for i, name in enumerate(_core.ACTION_NAMES)}
TIF_CODES = _choices.TIF
#: The columns ``OrderBook.process`` reads.
ACTION_COLUMNS = ("action", "side", "price", "qty", "order_id", "owner", "tif", "ts")


def depth_table(raw: dict[str, np.ndarray]) -> Table:
    """The core's depth columns as one table with a ``side`` column (bids first)."""
    return Table(raw, categories={"side": ["bid", "ask"]}, name="depth")


def orders_table(raw: dict[str, np.ndarray]) -> Table:
    """The core's resting-order columns as a table."""
    return Table(raw, name="orders")


class OrderBook:
    """A limit order book for one instrument, with price-time priority.

    Prices are floats on the ``tick_size`` grid and quantities floats on the ``lot_size`` grid; the
    core works in whole ticks and lots, so a value off the grid is refused rather than rounded.

    Parameters
    ----------
    tick_size : float
        Price increment in quote currency (e.g. 0.01 USDT).
    lot_size : float
        Quantity increment in base currency (e.g. 0.001 ETH).
    stp : {"none", "cancel_taker", "cancel_maker", "cancel_both"}
        Self-trade prevention: what happens when an order would trade with a resting order of the
        same ``owner``.

    Examples
    --------
    >>> book = OrderBook(tick_size=0.01, lot_size=0.001)
    >>> book.submit("sell", 1.0, price=3850.01)["status"]
    'open'
    >>> book.submit("buy", 0.4)["avg_price"]        # no price: a market order
    3850.01

    A book pickles (any protocol; a compact versioned binary snapshot of its orders, queues and
    used ids) and ``copy.deepcopy`` / ``copy.copy`` / :meth:`copy` give independent books; the copy
    continues exactly as the original would:

    >>> import pickle
    >>> pickle.loads(pickle.dumps(book)).best_ask
    3850.01
    """

    def __init__(self, tick_size: float, lot_size: float, stp: SelfTradePrevention = "none") -> None:
        self._book = _core.OrderBook(tick_size, lot_size, _choices.stp(stp))

    def copy(self) -> OrderBook:
        """An independent deep copy of the book (resting orders, queue positions, id counter)."""
        new = OrderBook.__new__(OrderBook)
        new._book = self._book.copy()
        return new

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> OrderBook:
        return self.copy()

    # Pickling needs nothing here: the instance's only state is the core book, which pickles as
    # a versioned binary snapshot (``_core.OrderBook.__reduce__``), so the default protocol works.

    def __repr__(self) -> str:
        return (
            f"OrderBook(tick_size={self.tick_size}, lot_size={self.lot_size}, stp={self.stp!r}, "
            f"best_bid={self.best_bid}, best_ask={self.best_ask}, open_orders={self.open_orders})"
        )

    @property
    def tick_size(self) -> float:
        return self._book.tick_size

    @property
    def lot_size(self) -> float:
        return self._book.lot_size

    @property
    def stp(self) -> str:
        return self._book.stp

    @property
    def open_orders(self) -> int:
        """Number of resting orders."""
        return self._book.open_orders

    @property
    def best_bid(self) -> float | None:
        """Highest resting bid price, or None."""
        return self._book.best_bid

    @property
    def best_ask(self) -> float | None:
        """Lowest resting ask price, or None."""
        return self._book.best_ask

    def submit(
        self,
        side: Side,
        qty: float,
        price: float | None = None,
        tif: TimeInForce = "gtc",
        owner: int = 0,
        order_id: int | None = None,
        protection: float | None = None,
    ) -> BookOrderResult:
        """Submit an order.

        With ``price`` it is a limit order; without, a market order (which never rests, and does not
        trade beyond ``protection`` when given). ``tif`` is ``"gtc"``, ``"ioc"``, ``"fok"`` or
        ``"post_only"``. ``order_id`` defaults to one above the highest id the book has seen.

        Returns a dict: ``order_id``, ``status`` (``open``, ``partially_filled``, ``filled``,
        ``expired``, ``cancelled`` or ``rejected``), ``reason`` (why rejected, else None),
        ``filled`` (base units), ``avg_price`` (None if nothing filled) and ``trades`` (list of
        dicts: price, qty, maker_order_id, maker_owner).

        A refusal by the market (post-only that would cross, FOK that cannot fill, duplicate id) is
        a ``rejected`` status; an order that cannot even be formed (unknown side or tif, NaN, price
        off the tick grid, quantity off the lot grid) raises :class:`liqsim.OrderError`.
        """
        market = price is None
        limit = _choices.optional_number("protection", protection) if market else _choices.number("price", price)
        return self._book.submit(
            _choices.side(side), _choices.number("qty", qty), limit, _choices.tif(tif), owner, order_id, market
        )

    def cancel(self, order_id: int) -> BookOrderResult:
        """Cancel a resting order. An unknown id is ``rejected`` with reason ``unknown_order``; one
        already filled, cancelled or expired with ``not_open``."""
        return self._book.cancel(order_id)

    def modify(self, order_id: int, qty: float, price: float | None = None) -> BookOrderResult:
        """Set a resting order's open quantity (and optionally its price).

        Lowering the quantity at the same price keeps the order's place in the queue; any other
        change sends it to the back of the queue at its new price, where it may trade at once.
        """
        return self._book.modify(order_id, _choices.number("qty", qty), _choices.optional_number("price", price))

    def depth(self, levels: int = 10) -> Table:
        """Top ``levels`` price levels of each side as one table, bids then asks, best first:
        ``side`` (``bid``/``ask``), ``level`` (0 = best), ``price``, ``qty`` (base units),
        ``orders`` (count).

        >>> book = OrderBook(tick_size=0.01, lot_size=0.001)
        >>> _ = book.submit("buy", 1.0, price=99.0)
        >>> book.depth(5)["side"].tolist(), book.depth(5)["price"].tolist()
        (['bid'], [99.0])
        """
        return depth_table(self._book.depth(_choices.count("levels", levels)))

    def depth_within(self, fraction: float) -> DepthWithin | None:
        """Resting quantity (base units) and notional (quote units) on each side within
        ``fraction`` of the mid price (0.01 = 1%), band edges included. None if a side is empty."""
        return self._book.depth_within(fraction)

    def sweep_price(self, side: Side, qty: float) -> float | None:
        """Average price a market order of ``qty`` on ``side`` would get now (a buy sweeps the
        asks); None when the book cannot fill it."""
        return self._book.sweep_price(_choices.side(side), _choices.number("qty", qty))

    def orders(self, side: Side) -> Table:
        """Resting orders of one side in priority order: ``order_id``, ``owner``, ``price``, ``qty``."""
        return orders_table(self._book.orders(_choices.side(side)))

    def check_invariants(self) -> None:
        """Raise :class:`liqsim.LiqsimError` if the book's structure is inconsistent (never expected)."""
        self._book.check_invariants()

    def process(
        self, actions: object, decode_names: bool = True, extra_columns: ExtraColumns = "raise"
    ) -> dict[str, Table]:
        """Apply a whole table of actions in one call into the core.

        ``actions`` is any Arrow-compatible table or a dict of arrays with columns:

        ========  ==========================================================================
        action    ``limit``, ``market``, ``cancel`` or ``modify`` (required)
        side      ``buy``/``sell`` (also ``bid``/``ask``); needed by limit and market rows
        price     float; limit price; optional protection price on market rows; new price on
                  modify rows (null/NaN keeps the price)
        qty       float; order quantity, or the new open quantity on modify rows
        order_id  int; the id of a new order (null or negative: assigned by the book), or the
                  order to cancel/modify
        owner     int; who owns the order (self-trade prevention; reported on trades); default 0
        tif       ``gtc``, ``ioc``, ``fok``, ``post_only``; default ``gtc``
        ts        int nanoseconds or timestamp; copied to the results; default 0
        ========  ==========================================================================

        Rows are applied in order. Bad rows are handled as a venue would: a row the market refuses
        (zero quantity, price off the tick grid, quantity off the lot grid, unknown or closed order
        id, post-only that would cross, FOK that cannot fill, duplicate id) is *rejected* with a
        reason and processing continues. A row that is not valid data (unknown action/side/tif,
        NaN quantity, missing column a row needs) raises :class:`liqsim.ScenarioError` naming the
        column and row; rows before it have already been applied to this book.

        A column not listed above raises :class:`liqsim.ScenarioError` naming it and the closest
        accepted name (``size`` → ``qty``); ``extra_columns="ignore"`` skips such columns.

        Returns ``{"orders": ..., "trades": ..., "events": ...}``, each a :class:`liqsim.Table`:

        - ``orders``: one row per action: ``order_id``, ``status``, ``reason``, ``filled_qty``,
          ``avg_price`` (NaN when nothing filled);
        - ``trades``: ``row`` (the action), ``ts``, ``price``, ``qty``, ``aggressor``,
          ``maker_order_id``, ``taker_order_id``, ``maker_owner``, ``taker_owner``;
        - ``events``: accepted / rejected / cancelled / expired / modified events with ``row``,
          ``ts``, ``kind``, ``order_id``, ``owner``, ``side``, ``price``, ``qty``, ``reason``.

        Categorical columns (status, reason, aggressor, kind, side) hold the core's small integer
        codes; ``table["status"]`` builds the strings on first use, and ``to_arrow/to_pandas/
        to_polars`` give dictionary/categorical columns without building strings. With
        ``decode_names=False`` those columns are plain codes (see ``liqsim._core.*_NAMES``).
        ``ts`` is a timestamp column (int64 ns since the epoch; ``timestamp[ns, UTC]`` in Arrow).

        >>> book = OrderBook(tick_size=0.01, lot_size=0.001)
        >>> out = book.process({"action": ["limit", "market"], "side": ["sell", "buy"],
        ...                     "price": [100.0, None], "qty": [1.0, 0.4]})
        >>> out["trades"]["price"].tolist(), out["orders"]["status"].tolist()
        ([100.0], ['open', 'filled'])
        """
        table = "actions"
        t = as_table(actions, table)
        check_columns(t, table, ACTION_COLUMNS, extra_columns)
        out = self._book.process_columns(
            table,
            action=code_column(t, table, "action", ACTION_CODES, required=True),
            side=code_column(t, table, "side", SIDE_CODES),
            price=float_column(t, table, "price"),
            qty=float_column(t, table, "qty"),
            order_id=int_column(t, table, "order_id", default=-1),
            owner=int_column(t, table, "owner", default=0),
            tif=code_column(t, table, "tif", TIF_CODES, default=0),
            ts=time_column(t, table, "ts"),
        )
        # Category columns stay the core's codes; names are built only when a user reads them
        # (decode_names=False: plain code columns, no names attached).
        names = decode_names
        return {
            "orders": Table(
                out["orders"],
                categories={"status": _core.STATUS_NAMES, "reason": _core.REASON_NAMES} if names else None,
                name="orders",
            ),
            "trades": Table(
                out["trades"], categories={"aggressor": _core.SIDE_NAMES} if names else None,
                timestamps=["ts"], name="trades",
            ),
            "events": Table(
                out["events"],
                categories=(
                    {"kind": _core.EVENT_KIND_NAMES, "side": _core.SIDE_NAMES, "reason": _core.REASON_NAMES}
                    if names else None
                ),
                timestamps=["ts"], name="events",
            ),
        }
