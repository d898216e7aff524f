"""The `liqsim` command line."""

from __future__ import annotations

import re

import pytest

from liqsim import cli

# "best bid 3,849.99  best ask 3,850.01" or "best bid 3,849.99 / best ask 3,850.01"
BID_ASK = re.compile(r"best bid ([\d,]+\.\d+)\W+best ask ([\d,]+\.\d+)")


def test_demo_runs_and_prints_best_bid_and_ask(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    m = BID_ASK.search(out)
    assert m, out
    bid, ask = (float(x.replace(",", "")) for x in m.groups())
    assert 0 < bid < ask


def test_demo_with_a_custom_buy_size(capsys):
    assert cli.main(["demo", "--buy", "10"]) == 0
    assert BID_ASK.search(capsys.readouterr().out)


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([])
    assert e.value.code == 2
