"""liqsim: order-level simulation of crypto perpetual-futures markets.

A Rust core does the matching, margin and liquidation; this package loads data
from Arrow-compatible tables, calls the core once per batch and returns numpy arrays.
"""

from ._core import __version__
from .book import OrderBook
from .errors import LiqsimError, OrderError, ScenarioError
from .exchange import Exchange
from .margin import bankruptcy_price, liquidation_price, maintenance_margin
from . import io

__all__ = [
    "Exchange",
    "OrderBook",
    "LiqsimError",
    "OrderError",
    "ScenarioError",
    "bankruptcy_price",
    "liquidation_price",
    "maintenance_margin",
    "__version__",
]
