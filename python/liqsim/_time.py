"""Times and durations from the user's types to the core's integer nanoseconds.

A bare ``int`` is always nanoseconds (since the Unix epoch for a time). A bare ``float`` is
seconds, and only for a duration: a float time since the epoch cannot hold nanoseconds exactly, so
it is refused. ``datetime``/``timedelta``, numpy ``datetime64``/``timedelta64`` and pandas
``Timestamp``/``Timedelta`` are converted exactly; a naive ``datetime`` is taken as UTC.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Union

import numpy as np

from .errors import ConfigError

#: What a time accepts: int ns since the epoch, datetime, numpy datetime64, pandas Timestamp.
TimeLike = Union[int, np.integer, _dt.datetime, np.datetime64]
#: What a duration accepts: int ns, float seconds, timedelta, numpy timedelta64, pandas Timedelta.
DurationLike = Union[int, float, np.integer, np.floating, _dt.timedelta, np.timedelta64]

_I64_MAX = 2**63 - 1
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _error(argument: str, value: object, accepted: str) -> ConfigError:
    err = ConfigError(f"{argument} must be {accepted}, got {value!r} ({type(value).__name__})")
    err.parameter = argument
    return err


#: Nanoseconds per numpy time unit (sub-nanosecond units: a fraction, exact only for whole ns).
_NS_PER_UNIT = {"W": 604_800 * 10**9, "D": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9, "s": 10**9,
                "ms": 10**6, "us": 10**3, "μs": 10**3, "ns": 1}


def _numpy_ns(argument: str, value: np.timedelta64 | np.datetime64) -> int:
    """Exact integer nanoseconds of a numpy time value, computed with Python integers (numpy's
    own cast to ns wraps around silently on overflow)."""
    if isinstance(value, np.datetime64) and np.datetime_data(value.dtype)[0] in ("Y", "M"):
        value = value.astype("datetime64[D]")  # calendar units: to days, exactly
    unit, step = np.datetime_data(value.dtype)
    per_unit = _NS_PER_UNIT.get(unit)
    if per_unit is None:
        raise _error(argument, value, "in units from weeks to nanoseconds (not years, months or below ns)")
    return _checked(argument, value, int(value.astype(np.int64)) * step * per_unit)


def _checked(argument: str, value: object, ns: int) -> int:
    if not -_I64_MAX <= ns <= _I64_MAX:
        raise _error(argument, value, "within ±292 years of 1970 (int64 nanoseconds)")
    return ns


def duration_ns(argument: str, value: object) -> int:
    """A duration in integer nanoseconds (``float`` = seconds, ``int`` = nanoseconds)."""
    # numpy's timedelta64 is a numpy integer subclass: convert it by its unit first.
    if isinstance(value, np.timedelta64):
        if np.isnat(value):
            raise _error(argument, value, "a duration, not NaT")
        return _numpy_ns(argument, value)
    if isinstance(value, (bool, np.bool_)):
        raise _error(argument, value, "a duration")
    if isinstance(value, (int, np.integer)):
        return _checked(argument, value, int(value))
    if isinstance(value, (float, np.floating)):
        ns = float(value) * 1e9
        if not (math.isfinite(ns) and abs(ns) < 2.0**63):
            raise _error(argument, value, "a finite number of seconds within ±292 years")
        return _checked(argument, value, round(ns))
    value_ns = getattr(value, "value", None)  # pandas Timedelta: exact ns
    if type(value).__name__ == "Timedelta" and isinstance(value_ns, int):
        return _checked(argument, value, value_ns)
    if isinstance(value, _dt.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return _checked(argument, value, micros * 1000)
    raise _error(
        argument, value, "a duration: int nanoseconds, float seconds, timedelta, numpy timedelta64 or pandas Timedelta"
    )


def time_ns(argument: str, value: object) -> int:
    """A point in time in integer nanoseconds since the Unix epoch (``int`` = nanoseconds)."""
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise _error(argument, value, "a time, not NaT")
        return _numpy_ns(argument, value)
    if isinstance(value, (bool, np.bool_)):
        raise _error(argument, value, "a time")
    if isinstance(value, (int, np.integer)):
        return _checked(argument, value, int(value))
    value_ns = getattr(value, "value", None)  # pandas Timestamp: exact ns since the epoch (UTC)
    if type(value).__name__ == "Timestamp" and isinstance(value_ns, int):
        return _checked(argument, value, value_ns)
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)
        delta = aware - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return _checked(argument, value, micros * 1000)
    if isinstance(value, (float, np.floating)):
        raise _error(
            argument, value,
            "a time: int nanoseconds since the epoch, datetime, numpy datetime64 or pandas Timestamp "
            "(a float is ambiguous; for a step use advance(seconds))",
        )
    raise _error(argument, value, "a time: int nanoseconds since the epoch, datetime, numpy datetime64 or pandas Timestamp")
