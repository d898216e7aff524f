"""The examples in the analysis docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "liqsim.analysis.maps",
    "liqsim.analysis.estimate",
    "liqsim.analysis.clusters",
    "liqsim.analysis.flow",
    "liqsim.analysis.carry",
    "liqsim.analysis.depth",
    "liqsim.analysis.cascade",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_plot_docstring_examples():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    result = doctest.testmod(importlib.import_module("liqsim.plot"))
    assert result.failed == 0
