"""liqsim.Table and the time conversions: properties over many inputs (hypothesis)."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from liqsim import Table
from liqsim._time import duration_ns, time_ns

NAMES = ["", "buy", "sell", "partially_filled"]  # "" is the core's "no value" name


@settings(deadline=None)  # pandas/polars conversions: slow first calls on a busy machine
@given(codes=st.lists(st.integers(0, 255), max_size=50), ts=st.lists(st.integers(-(2**62), 2**62), min_size=50, max_size=50))
def test_categories_decode_the_same_in_numpy_arrow_pandas_and_polars(codes, ts):
    n = len(codes)
    t = Table({"code": np.array(codes, dtype=np.uint8), "ts": np.array(ts[:n], dtype=np.int64)},
              categories={"code": NAMES}, timestamps=["ts"], name="t")
    expected = [NAMES[c] if c < len(NAMES) else "" for c in codes]
    assert t["code"].tolist() == expected  # numpy: nulls read as ""
    arrow = t.to_arrow()
    assert [v if v is not None else "" for v in arrow.column("code").to_pylist()] == expected
    assert arrow.column("code").null_count == sum(1 for v in expected if v == "")  # "" and unknown codes are nulls
    assert pd.Series(t.to_pandas()["code"]).fillna("").astype(str).tolist() == expected
    assert t.to_polars()["code"].fill_null("").cast(pl.String).to_list() == expected
    assert arrow.column("ts").cast(pa.int64()).to_pylist() == ts[:n]
    assert len(t) == n and t.num_rows == n


@settings(deadline=None)
@given(us=st.integers(-(10**15), 10**15))
def test_every_duration_type_gives_the_same_nanoseconds(us):
    ns = us * 1000
    assert duration_ns("dt", ns) == ns
    assert duration_ns("dt", dt.timedelta(microseconds=us)) == ns
    assert duration_ns("dt", np.timedelta64(us, "us")) == ns
    assert duration_ns("dt", pd.Timedelta(microseconds=us)) == ns


@settings(deadline=None)
@given(us=st.integers(-(10**15), 10**15))
def test_every_time_type_gives_the_same_nanoseconds(us):
    ns = us * 1000
    when = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    assert time_ns("t", when) == ns
    assert time_ns("t", when.replace(tzinfo=None)) == ns  # naive = UTC
    assert time_ns("t", np.datetime64(ns, "ns")) == ns
    assert time_ns("t", pd.Timestamp(ns, unit="ns", tz="UTC")) == ns
    assert time_ns("t", pd.Timestamp(ns, unit="ns", tz="UTC").tz_convert("Asia/Tokyo")) == ns


def test_float_seconds_are_rounded_to_the_nearest_nanosecond():
    assert duration_ns("dt", 3600.5) == 3_600_500_000_000
    assert duration_ns("dt", 1e-9) == 1


def test_test_extra_has_the_interop_libraries_so_nothing_is_skipped():
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    extra = " ".join(pyproject["project"]["optional-dependencies"]["test"])
    for name in ("pytest", "hypothesis", "pandas", "polars", "mypy"):
        assert name in extra


def test_membership_does_not_build_strings():
    t = Table({"side": np.zeros(3, dtype=np.uint8)}, categories={"side": ["buy", "sell"]})
    assert "side" in t and "qty" not in t
    assert t._decoded == {}  # nothing decoded by asking


def test_out_of_range_or_odd_unit_times_are_refused_not_wrapped():
    import pytest

    from liqsim import ConfigError

    for bad in (1e300, float("nan"), np.timedelta64(10**12, "D"), np.timedelta64(1, "Y"), 2**63):
        with pytest.raises(ConfigError):
            duration_ns("dt", bad)
    with pytest.raises(ConfigError):
        time_ns("t", np.datetime64(10**12, "D"))
    assert time_ns("t", np.datetime64("1970-02")) == 31 * 86_400 * 10**9  # months: via days, exactly
    assert duration_ns("dt", np.timedelta64(2, "W")) == 14 * 86_400 * 10**9
