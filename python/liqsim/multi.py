"""`liqsim.MultiExchange`: several perpetuals in one venue, sharing cross margin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _choices, _core
from ._tables import as_table, check_columns, float_column, int_column, code_column
from ._time import TimeLike, time_ns
from ._types import ExchangeOrderResult, ExtraColumns, Side, TimeInForce
from .book import SIDE_CODES
from .errors import ConfigError
from .exchange import ACCOUNT_COLUMNS, BOOK_COLUMNS, Exchange, account_columns
from .results import Table


def _from_core(v: _core.MultiExchange) -> MultiExchange:
    """The venue around a core venue (unpickling)."""
    new = MultiExchange.__new__(MultiExchange)
    new._v = v
    new._codes = {s.lower(): i for i, s in enumerate(v.symbols)}
    return new


class MultiExchange:
    """A venue of several perpetual markets whose accounts share cross margin.

    Each market keeps its own book, tick and lot, tiers, mark and index, funding and insurance
    fund; trader ids are shared. A trader loaded into several markets is one cross account with a
    leg in each: its margin balance is its wallet (the sum of its sub-wallets, quote currency)
    plus the unrealised PnL of every leg at its mark, its maintenance margin the sum over the legs,
    so a move in one market can liquidate its position in another. When such an account falls to
    maintenance, its legs are closed largest maintenance margin first (an assumption: the venues do
    not publish the order), each by its market's own close-out, until it is back above
    maintenance. Accounts of one market behave exactly as in a lone :class:`liqsim.Exchange`.

    A venue copies (:meth:`copy`) and pickles (any protocol; a compact versioned binary snapshot
    of every market and of the accounts' legs; an unpickled venue continues exactly as the
    original would). A damaged pickle, or one from a liqsim with another snapshot format, raises
    :class:`liqsim.SnapshotError`.

    Parameters
    ----------
    markets : mapping of symbol to Exchange
        Fresh :class:`liqsim.Exchange` objects (no accounts, orders or prices yet): the venue takes
        each one's configuration (venue rules, tick and lot size, insurance fund, mark rule).

    >>> import liqsim
    >>> venue = liqsim.MultiExchange({
    ...     "BTCUSDT": liqsim.Exchange("binance", "BTCUSDT", tick_size=0.1, mark_rule="index"),
    ...     "ETHUSDT": liqsim.Exchange("binance", "ETHUSDT", mark_rule="index"),
    ... })
    >>> venue.symbols
    ['BTCUSDT', 'ETHUSDT']
    """

    def __init__(self, markets: Mapping[str, Exchange]) -> None:
        if not isinstance(markets, Mapping) or not markets:
            err = ConfigError(f"markets must be a non-empty mapping of symbol to liqsim.Exchange, got {markets!r}")
            err.parameter = "markets"
            raise err
        pairs = []
        for symbol, ex in markets.items():
            if not isinstance(symbol, str) or not isinstance(ex, Exchange):
                err = ConfigError(f"markets maps a symbol (str) to a liqsim.Exchange, got {symbol!r}: {ex!r}")
                err.parameter = "markets"
                raise err
            pairs.append((symbol, ex._ex))
        lowered = [s.lower() for s, _ in pairs]
        if len(set(lowered)) != len(lowered):
            err = ConfigError(f"market symbols must differ (ignoring case), got {[s for s, _ in pairs]}")
            err.parameter = "markets"
            raise err
        self._v = _core.MultiExchange(pairs)
        self._codes = {s: i for i, s in enumerate(lowered)}

    def __repr__(self) -> str:
        return f"liqsim.MultiExchange({', '.join(self.symbols)})"

    @property
    def symbols(self) -> list[str]:
        """The markets' symbols, in the order given."""
        return list(self._v.symbols)

    def copy(self) -> MultiExchange:
        """An independent deep copy of the whole venue (to branch a what-if)."""
        new = MultiExchange.__new__(MultiExchange)
        new._v = self._v.copy()
        new._codes = dict(self._codes)
        return new

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> MultiExchange:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        # The core venue pickles as a versioned binary snapshot (``_core.MultiExchange.__reduce__``);
        # the symbol codes are rebuilt from its symbols.
        return (_from_core, (self._v,))

    # --- loading ---------------------------------------------------------------------------

    def load_accounts(self, accounts: object, extra_columns: ExtraColumns = "raise") -> None:
        """Load traders in one call: the columns of :meth:`liqsim.Exchange.load_accounts` plus
        ``symbol`` (required: the market of the row). A trader with rows in several markets is one
        cross account; its ``balance`` per row goes to that market's sub-wallet (the account's
        wallet is the sum), and every row of it must be ``cross``. A bad row raises
        :class:`liqsim.ScenarioError` naming the column and row; nothing is loaded then.

        >>> import liqsim
        >>> venue = liqsim.MultiExchange({
        ...     "BTCUSDT": liqsim.Exchange("binance", "BTCUSDT", tick_size=0.1),
        ...     "ETHUSDT": liqsim.Exchange("binance", "ETHUSDT"),
        ... })
        >>> venue.load_accounts({"symbol": ["BTCUSDT", "ETHUSDT"], "trader_id": [1, 1],
        ...                      "balance": [0.0, 2000.0], "qty": [2.0, -10.0],
        ...                      "entry_price": [50000.0, 3000.0], "leverage": [50, 20]})
        >>> venue.wallet(1)
        2000.0
        """
        table = "accounts"
        t = as_table(accounts, table)
        check_columns(t, table, ("symbol", *ACCOUNT_COLUMNS), extra_columns)
        symbol = code_column(t, table, "symbol", self._codes, required=True)
        self._v.load_accounts_columns(symbol.astype("uint32"), account_columns(t, table))

    def load_book(self, symbol: str, book: object, extra_columns: ExtraColumns = "raise") -> None:
        """Load resting orders into one market (columns as :meth:`liqsim.Exchange.load_book`)."""
        table = "book"
        t = as_table(book, table)
        check_columns(t, table, BOOK_COLUMNS, extra_columns)
        self._v.load_book_columns(
            symbol,
            code_column(t, table, "side", SIDE_CODES, required=True),
            float_column(t, table, "price", required=True),
            float_column(t, table, "qty", required=True),
            int_column(t, table, "owner"),
        )

    # --- acting ----------------------------------------------------------------------------

    def submit(
        self,
        symbol: str,
        trader_id: int,
        side: Side,
        qty: float,
        price: float | None = None,
        tif: TimeInForce = "gtc",
        reduce_only: bool = False,
    ) -> ExchangeOrderResult:
        """Place an order in one market (``price`` None: market order; quantities in base units,
        prices in quote currency), then run the venue's cascade. The margin check of a multi-market
        account counts its other legs (their equity less their maintenance margin). Returns what
        :meth:`liqsim.Exchange.submit` returns; ``liquidations`` counts those of every market."""
        return self._v.submit(
            symbol,
            trader_id,
            _choices.side(side),
            _choices.number("qty", qty),
            _choices.optional_number("price", price),
            _choices.tif(tif),
            reduce_only,
        )

    def set_index(self, symbol: str, price: float) -> None:
        """Set one market's index (spot) price, quote currency, then run the venue's cascade:
        losses there may liquidate cross accounts' positions in the other markets."""
        self._v.set_index(symbol, _choices.number("index price", price))

    def advance_to(self, t: TimeLike) -> None:
        """Move the venue's clock to ``t`` (``int`` ns since the epoch, or a datetime): every
        market's mark samples and funding settlements in time order, all markets together, with the
        venue's cascade after each step, so an account that a funding payment or the mark's drift
        puts under maintenance on the way is closed out then, at that time's marks (idle stretches
        are jumped over up to the first second anything could be liquidated).

        >>> venue.advance_to(8 * 3600 * 10**9)  # doctest: +SKIP
        """
        self._v.advance(time_ns("t", t))

    # --- reading ---------------------------------------------------------------------------

    def market(self, symbol: str) -> Exchange:
        """A copy of one market as it is now, to read (book, accounts, trades, liquidations, …).

        >>> import liqsim
        >>> venue = liqsim.MultiExchange({"ETHUSDT": liqsim.Exchange("binance", "ETHUSDT")})
        >>> venue.market("ETHUSDT").symbol
        'ETHUSDT'
        """
        return Exchange._wrap(self._v.market(symbol))

    def wallet(self, trader_id: int) -> float:
        """A trader's wallet over all markets: the sum of its sub-wallets, quote currency."""
        return float(self._v.wallet(trader_id))

    def money(self) -> tuple[float, float]:
        """(money put in: funds and loaded balances; the markets' money total now), quote
        currency. Equal unless the invariants are broken."""
        deposits, total = self._v.money()
        return float(deposits), float(total)

    def liquidations(self) -> Table:
        """Every market's liquidations, one table with a ``symbol`` column (market order)."""
        return self._concat("liquidations")

    def trades(self) -> Table:
        """Every market's trades, one table with a ``symbol`` column (market order)."""
        return self._concat("trades")

    def transfers(self) -> Table:
        """Money moved between the legs of one account (a flat leg's loss filled from another leg's
        sub-wallet): ts, trader_id, from_symbol, to_symbol, amount (quote currency)."""
        return Table(
            self._v.transfers(),
            categories={"from_symbol": self.symbols, "to_symbol": self.symbols},
            timestamps=["ts"],
            name="transfers",
        )

    def check_invariants(self) -> None:
        """Raise :class:`liqsim.LiqsimError` if any market's invariants or the venue's (money
        across markets, every multi-market account's legs exact, nobody left under maintenance)
        fail."""
        self._v.check_invariants()

    def _concat(self, name: str) -> Table:
        parts: list[Table] = [getattr(self.market(s), name)() for s in self.symbols]
        first = parts[0]
        columns: dict[str, Any] = {
            key: np.concatenate([p.codes(key) if key in first._categories else p[key] for p in parts])
            for key in first.columns
        }
        columns["symbol"] = np.concatenate([np.full(p.num_rows, k, dtype=np.uint8) for k, p in enumerate(parts)])
        return Table(
            columns,
            categories={**first._categories, "symbol": self.symbols},
            timestamps=first._timestamps,
            name=name,
        )
