"""The examples in liqsim's docstrings run and show what they say (of the installed package)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["liqsim.book", "liqsim.exchange", "liqsim.multi", "liqsim.results", "liqsim.margin", "liqsim._time",
           "liqsim._choices", "liqsim.scenario", "liqsim.scenarios", "liqsim.agents"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
