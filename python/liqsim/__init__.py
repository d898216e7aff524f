"""liqsim: order-level simulation of crypto perpetual-futures markets.

A Rust core does the matching, margin and liquidation; this package loads data
from Arrow-compatible tables, calls the core once per batch and returns every table as a
:class:`liqsim.Table` (a mapping of numpy columns that converts to Arrow, pandas and polars).
"""

# One name per line, sorted within each section: several branches add exports here.
from . import agents
from . import analysis
from . import io
from . import plot
from . import scenarios
from ._core import __version__
from .analysis import estimate_liquidation_map
from .analysis import liquidation_map
from .book import OrderBook
from .errors import ConfigError
from .errors import LiqsimError
from .errors import OrderError
from .errors import ScenarioError
from .errors import SnapshotError
from .exchange import Exchange
from .margin import bankruptcy_price
from .margin import liquidation_price
from .margin import maintenance_margin
from .multi import MultiExchange
from .results import Table
from .scenario import Scenario
from .simulation import SimulationResult
from .simulation import correlated_index
from .simulation import simulate
from .sweep import CriticalShock
from .sweep import critical_shock
from .sweep import sweep

__all__ = [
    "ConfigError",
    "CriticalShock",
    "Exchange",
    "LiqsimError",
    "MultiExchange",
    "OrderBook",
    "OrderError",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "SnapshotError",
    "Table",
    "__version__",
    "agents",
    "analysis",
    "io",
    "bankruptcy_price",
    "correlated_index",
    "critical_shock",
    "estimate_liquidation_map",
    "liquidation_map",
    "liquidation_price",
    "maintenance_margin",
    "plot",
    "scenarios",
    "simulate",
    "sweep",
]
