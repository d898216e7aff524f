"""liqsim: order-level simulation of crypto perpetual-futures markets.

A Rust core does the matching (and, as it grows, margin and liquidation); this package loads data
from Arrow-compatible tables, calls the core once per batch and returns numpy arrays.
"""

from ._core import __version__
from .book import OrderBook
from .errors import LiqsimError, OrderError, ScenarioError

__all__ = ["OrderBook", "LiqsimError", "OrderError", "ScenarioError", "__version__"]
