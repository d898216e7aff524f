"""Exceptions raised by liqsim. Every error from the Rust core arrives as one of these."""


class LiqsimError(Exception):
    """Base class of every liqsim error."""


class ConfigError(LiqsimError, ValueError):
    """A configuration mistake (constructor or function argument): names the parameter, the value
    given (in the user's units) and what is accepted."""

    parameter: str | None = None


class ScenarioError(LiqsimError, ValueError):
    """Bad input data: names the table, the column and the first bad row.

    Attributes ``table``, ``column`` and ``row`` are set when known (``row`` is 0-based).
    """

    table: str | None = None
    column: str | None = None
    row: int | None = None


class OrderError(LiqsimError, ValueError):
    """An order given one at a time that cannot be formed (bad side, NaN, price off the tick grid,
    quantity off the lot grid). ``reason`` holds a short machine-readable code."""

    reason: str | None = None


class SnapshotError(LiqsimError, ValueError):
    """A pickle or snapshot of an ``OrderBook`` or ``Exchange`` that cannot be loaded: damaged,
    cut short, of the other kind, or written by a liqsim with another snapshot format version."""
