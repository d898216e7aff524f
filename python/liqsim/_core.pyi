# Hand-written stub of the Rust extension `liqsim._core` (rust/liqsim-py). Checked against the
# built module by `python -m mypy.stubtest liqsim._core` in CI. Keep sections sorted; one name
# per line, so several branches can add entries.

from typing import Any
from typing import Literal
from typing import final

import numpy as np
from numpy.typing import NDArray

from liqsim._types import BookOrderResult
from liqsim._types import CancelResult
from liqsim._types import DepthWithin
from liqsim._types import ExchangeOrderResult
from liqsim._types import StopResult

_CoreSide = Literal["buy", "sell", "bid", "ask"]
_CoreTif = Literal["gtc", "ioc", "fok", "post_only"]
_CoreStp = Literal["none", "cancel_taker", "cancel_maker", "cancel_both"]
_CoreVenue = Literal["binance", "bybit", "hyperliquid", "dydx"]
_CoreMarkRule = Literal["last", "index", "median", "binance_median"]
_CoreLiquidationLimit = Literal["market", "bankruptcy"]
_F64 = NDArray[np.float64]
_I64 = NDArray[np.int64]
_U8 = NDArray[np.uint8]
# The accounts table as liqsim.exchange.account_columns builds it: trader_id, balance,
# margin_mode code, side sign, qty, entry_price, leverage, isolated_margin (optional).
_AccountColumns = tuple[_I64, _F64, _U8, NDArray[np.int8], _F64, _F64, _F64, _F64 | None]

__all__ = [
    "ACTION_NAMES",
    "EVENT_KIND_NAMES",
    "Exchange",
    "INSURANCE_REASON_NAMES",
    "LIQUIDATION_KIND_NAMES",
    "MARGIN_MODE_NAMES",
    "MultiExchange",
    "ORDER_ACTION_NAMES",
    "OrderBook",
    "REASON_NAMES",
    "SHOCK_TRADER_ID",
    "SIDE_NAMES",
    "STATUS_NAMES",
    "STOP_STATUS_NAMES",
    "STP_NAMES",
    "TIF_NAMES",
    "TRADE_KIND_NAMES",
    "TRIGGER_ON_NAMES",
    "__version__",
    "account_liq_prices",
    "balances_for_liquidation_prices",
    "bankruptcy_prices",
    "bucket_liquidation_map",
    "cancel_stop",
    "correlated_index",
    "crossed_at",
    "estimate_liquidation_heatmap",
    "liquidation_prices",
    "maintenance_margins",
    "max_leverages",
    "read_binance_stream",
    "replay_l2",
    "simulate",
    "simulate_venue",
    "stop_tape",
    "submit_stop",
    "sweep",
    "sweep_venue",
    "waiting_stops",
]

# --- constants: code -> name tables of the core's categorical columns ---------------------------
ACTION_NAMES: list[str]
EVENT_KIND_NAMES: list[str]
INSURANCE_REASON_NAMES: list[str]
LIQUIDATION_KIND_NAMES: list[str]
MARGIN_MODE_NAMES: list[str]
REASON_NAMES: list[str]
SIDE_NAMES: list[str]
STATUS_NAMES: list[str]
STP_NAMES: list[str]
TIF_NAMES: list[str]
TRADE_KIND_NAMES: list[str]
__version__: str

# --- classes ------------------------------------------------------------------------------------
@final
class Exchange:
    def __new__(
        cls,
        venue: _CoreVenue,
        symbol: str,
        tick_size: float,
        lot_size: float,
        insurance_fund: float,
        mark_rule: _CoreMarkRule | None,
        closeouts_move_mark: bool,
        adl: bool,
        liquidation_limit: _CoreLiquidationLimit | None,
        stp: _CoreStp,
        tiers: tuple[list[float], list[float], list[float], list[int]] | None = None,
        fees: tuple[float, float] | None = None,
        liquidation_fee: float | None = None,
        max_leverage: int | None = None,
    ) -> Exchange: ...
    @property
    def account_count(self) -> int: ...
    @property
    def best_ask(self) -> float | None: ...
    @property
    def best_bid(self) -> float | None: ...
    @property
    def cascade_rounds(self) -> tuple[int, int]: ...
    @property
    def fees(self) -> float: ...
    @property
    def index(self) -> float | None: ...
    @property
    def insurance_fund(self) -> float: ...
    @property
    def last(self) -> float | None: ...
    @property
    def lot_size(self) -> float: ...
    @property
    def mark(self) -> float | None: ...
    @property
    def open_interest(self) -> float: ...
    @property
    def symbol(self) -> str: ...
    @property
    def tick_size(self) -> float: ...
    @property
    def ts(self) -> int: ...
    @property
    def venue(self) -> str: ...
    def __reduce__(self) -> tuple[Any, tuple[float, float, bytes]]: ...
    @staticmethod
    def _from_snapshot(tick_size: float, lot_size: float, snapshot: bytes) -> Exchange: ...
    def _snapshot(self) -> bytes: ...
    def accounts(self) -> dict[str, NDArray[np.generic]]: ...
    def adl(self) -> dict[str, NDArray[np.generic]]: ...
    def advance(self, ts: int) -> None: ...
    def cancel(self, trader_id: int, order_id: int) -> CancelResult: ...
    def check_invariants(self) -> None: ...
    def copy(self) -> Exchange: ...
    def depth(self, levels: int) -> dict[str, NDArray[np.generic]]: ...
    def depth_within(self, fraction: float) -> DepthWithin | None: ...
    def funding(self) -> dict[str, NDArray[np.generic]]: ...
    def insurance(self) -> dict[str, NDArray[np.generic]]: ...
    def liquidations(self) -> dict[str, NDArray[np.generic]]: ...
    def load_accounts_columns(self, columns: _AccountColumns) -> None: ...
    def load_book_columns(self, side: _U8, price: _F64, qty: _F64, owner: _I64 | None = None) -> None: ...
    def money(self) -> tuple[float, float]: ...
    def orders(self, side: _CoreSide) -> dict[str, NDArray[np.generic]]: ...
    def set_index(self, price: float) -> None: ...
    def submit(
        self,
        trader_id: int,
        side: _CoreSide,
        qty: float,
        price: float | None = None,
        tif: _CoreTif = "gtc",
        reduce_only: bool = False,
    ) -> ExchangeOrderResult: ...
    def sweep_price(self, side: _CoreSide, qty: float) -> float | None: ...
    def trades(self) -> dict[str, NDArray[np.generic]]: ...

@final
class MultiExchange:
    def __new__(cls, markets: list[tuple[str, Exchange]]) -> MultiExchange: ...
    @property
    def symbols(self) -> list[str]: ...
    def advance(self, ts: int) -> None: ...
    def check_invariants(self) -> None: ...
    def copy(self) -> MultiExchange: ...
    def load_accounts_columns(self, symbol: NDArray[np.uint32], columns: _AccountColumns) -> None: ...
    def load_book_columns(self, symbol: str, side: _U8, price: _F64, qty: _F64, owner: _I64 | None = None) -> None: ...
    def market(self, symbol: str) -> Exchange: ...
    def money(self) -> tuple[float, float]: ...
    def _triggers_at_marks(self, symbol: str) -> _F64: ...
    def set_index(self, symbol: str, price: float) -> None: ...
    def submit(
        self,
        symbol: str,
        trader_id: int,
        side: _CoreSide,
        qty: float,
        price: float | None = None,
        tif: _CoreTif = "gtc",
        reduce_only: bool = False,
    ) -> ExchangeOrderResult: ...
    def transfers(self) -> dict[str, NDArray[np.generic]]: ...
    def wallet(self, trader_id: int) -> float: ...
    def __reduce__(self) -> tuple[Any, tuple[list[tuple[float, float]], bytes]]: ...
    @staticmethod
    def _from_snapshot(grids: list[tuple[float, float]], snapshot: bytes) -> MultiExchange: ...
    def _snapshot(self) -> bytes: ...

@final
class OrderBook:
    def __new__(cls, tick_size: float, lot_size: float, stp: _CoreStp = "none") -> OrderBook: ...
    @property
    def best_ask(self) -> float | None: ...
    @property
    def best_bid(self) -> float | None: ...
    @property
    def lot_size(self) -> float: ...
    @property
    def open_orders(self) -> int: ...
    @property
    def stp(self) -> str: ...
    @property
    def tick_size(self) -> float: ...
    def __reduce__(self) -> tuple[Any, tuple[float, float, bytes]]: ...
    @staticmethod
    def _from_snapshot(tick_size: float, lot_size: float, snapshot: bytes) -> OrderBook: ...
    def _snapshot(self) -> bytes: ...
    def cancel(self, order_id: int) -> BookOrderResult: ...
    def check_invariants(self) -> None: ...
    def copy(self) -> OrderBook: ...
    def depth(self, levels: int) -> dict[str, NDArray[np.generic]]: ...
    def depth_within(self, fraction: float) -> DepthWithin | None: ...
    def modify(self, order_id: int, qty: float, price: float | None = None) -> BookOrderResult: ...
    def orders(self, side: _CoreSide) -> dict[str, NDArray[np.generic]]: ...
    def process_columns(
        self,
        table: str,
        action: _U8,
        side: _U8 | None = None,
        price: _F64 | None = None,
        qty: _F64 | None = None,
        order_id: _I64 | None = None,
        owner: _I64 | None = None,
        tif: _U8 | None = None,
        ts: _I64 | None = None,
    ) -> dict[str, dict[str, NDArray[np.generic]]]: ...
    def submit(
        self,
        side: _CoreSide,
        qty: float,
        price: float | None = None,
        tif: _CoreTif = "gtc",
        owner: int = 0,
        order_id: int | None = None,
        market: bool = False,
    ) -> BookOrderResult: ...
    def sweep_price(self, side: _CoreSide, qty: float) -> float | None: ...

# --- functions ----------------------------------------------------------------------------------
def bankruptcy_prices(
    size: _F64,
    entry_price: _F64,
    balance: _F64,
    venue: str,
    symbols: list[str],
    symbol_code: NDArray[np.uint32] | None = None,
    tiers: tuple[list[float], list[float], list[float], list[int]] | None = None,
    max_leverage: NDArray[np.uint32] | None = None,
    isolated: _U8 | None = None,
    leverage: _F64 | None = None,
) -> _F64: ...
def liquidation_prices(
    size: _F64,
    entry_price: _F64,
    balance: _F64,
    venue: str,
    symbols: list[str],
    symbol_code: NDArray[np.uint32] | None = None,
    tiers: tuple[list[float], list[float], list[float], list[int]] | None = None,
    max_leverage: NDArray[np.uint32] | None = None,
    isolated: _U8 | None = None,
    leverage: _F64 | None = None,
) -> _F64: ...
def maintenance_margins(
    notional: _F64,
    venue: str,
    symbols: list[str],
    symbol_code: NDArray[np.uint32] | None = None,
    tiers: tuple[list[float], list[float], list[float], list[int]] | None = None,
    max_leverage: NDArray[np.uint32] | None = None,
) -> _F64: ...

# --- analysis (issue 11) -------------------------------------------------------------------------
_TierColumns = tuple[list[float], list[float], list[float], list[int]]
def account_liq_prices(
    size: _F64,
    entry_price: _F64,
    balance: _F64,
    isolated: NDArray[np.bool_],
    leverage: _F64,
    isolated_margin: _F64 | None,
    venue: str,
    symbol: str,
    tiers: _TierColumns | None = None,
) -> _F64: ...
def bucket_liquidation_map(
    edges: list[float], liq_price: _F64, size: _F64, entry_price: _F64
) -> dict[str, dict[str, Any]]: ...
def estimate_liquidation_heatmap(
    edges: list[float],
    high: _F64,
    low: _F64,
    open_price: _F64,
    oi_change: _F64,
    oi_closed_fraction: _F64,
    long_share: _F64,
    leverage: list[float],
    weights: list[float],
    position_notional: float,
    oi_decrease: str,
    lookback: int | None,
    venue: str,
    symbol: str,
    tiers: _TierColumns | None = None,
) -> dict[str, _F64]: ...
# --- simulation and stop orders (issue 9) ------------------------------------------------------
ORDER_ACTION_NAMES: list[str]
STOP_STATUS_NAMES: list[str]
TRIGGER_ON_NAMES: list[str]
def cancel_stop(exchange: Exchange, trader_id: int, stop_id: int) -> bool: ...
def crossed_at(exchange: Exchange, price: float) -> list[int]: ...
def simulate(
    exchange: Exchange,
    orders: dict[str, NDArray[np.generic]],
    index_ts: _I64,
    index_price: _F64,
    agents: list[dict[str, object]],
    start: int,
    end: int,
    sample_every: int,
    seed: int,
    check_invariants: bool,
    agent_balance: float,
    state_times: list[int] = ...,
) -> dict[str, Any]: ...
def simulate_venue(
    venue: MultiExchange,
    orders: dict[str, NDArray[np.generic]],
    order_symbol: NDArray[np.uint32],
    index_ts: _I64,
    index_price: _F64,
    index_symbol: NDArray[np.uint32],
    agents: list[tuple[int, dict[str, Any]]],
    start: int,
    end: int,
    sample_every: int,
    seed: int,
    check_invariants: bool,
    agent_balance: float,
    state_times: list[int] = ...,
) -> dict[str, Any]: ...
def correlated_index(
    start_prices: list[float],
    tick_sizes: list[float],
    vols: list[float],
    correlation: list[float],
    start: int,
    end: int,
    step: int,
    seed: int,
) -> dict[str, NDArray[np.generic]]: ...
def stop_tape(exchange: Exchange) -> dict[str, NDArray[np.generic]]: ...
def submit_stop(
    exchange: Exchange,
    trader_id: int,
    side: _CoreSide,
    qty: float,
    trigger_price: float | None,
    limit_price: float | None,
    trigger_on: Literal["last", "mark"],
    trail: float | None,
    trail_fraction: float | None,
    reduce_only: bool,
    oco_group: int | None,
) -> StopResult: ...
def waiting_stops(exchange: Exchange) -> dict[str, NDArray[np.generic]]: ...

# --- liqsim.io: Binance L2 replay (rust/liqsim-py/src/replay.rs) --------------------------------
def read_binance_stream(paths: list[str]) -> dict[str, Any]: ...
def replay_l2(
    paths: list[str],
    contract_size: float | None = None,
    sample_every_ns: int = 1_000_000_000,
    depth_fractions: list[float] = ...,
    book_times: list[int] = ...,
    book_levels: int = 0,
    stop_after_ns: int | None = None,
    top_of_book: bool = True,
) -> dict[str, Any]: ...

# --- scenarios (issue 10) ------------------------------------------------------------------------
def balances_for_liquidation_prices(size: _F64, entry_price: _F64, liquidation_price: _F64, venue: str, symbol: str) -> _F64: ...
def max_leverages(notional: _F64, venue: str, symbol: str) -> NDArray[np.uint32]: ...

# --- sweeps (liqsim.sweep) ---------------------------------------------------------------------
SHOCK_TRADER_ID: int

def sweep(
    exchange: Exchange,
    orders: dict[str, NDArray[np.generic]],
    index_ts: _I64,
    index_price: _F64,
    runs: list[dict[str, object]],
    start: int,
    sample_every: int,
    agent_balance: float,
    threads: int | None = None,
) -> dict[str, object]: ...
def sweep_venue(
    venue: MultiExchange,
    orders: dict[str, NDArray[np.generic]],
    order_symbol: NDArray[np.uint32],
    index_ts: _I64,
    index_price: _F64,
    index_symbol: NDArray[np.uint32],
    runs: list[dict[str, object]],
    start: int,
    sample_every: int,
    agent_balance: float,
    threads: int | None = None,
) -> dict[str, object]: ...
