"""Required columns as plain arrays (the shared readers return ``None`` for absent optional ones)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from .._tables import code_column, float_column, int_column


def required_float(t: pa.Table, table: str, name: str) -> np.ndarray:
    """A float64 column that must be present (ScenarioError naming it otherwise)."""
    out = float_column(t, table, name, required=True)
    assert out is not None  # required=True raises instead of returning None
    return out


def required_int(t: pa.Table, table: str, name: str) -> np.ndarray:
    out = int_column(t, table, name, required=True)
    assert out is not None
    return out


def required_codes(t: pa.Table, table: str, name: str, codes: Mapping[str, int]) -> np.ndarray:
    out = code_column(t, table, name, codes, required=True)
    assert out is not None
    return out
