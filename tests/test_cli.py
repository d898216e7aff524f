"""The `liqsim` command line."""

from __future__ import annotations

import re

import pytest

from liqsim import cli


def test_demo_runs_and_prints_best_bid_and_ask(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"best bid ([\d,]+\.\d\d)\s+best ask ([\d,]+\.\d\d)", out)
    assert m, out
    bid, ask = (float(x.replace(",", "")) for x in m.groups())
    assert 0 < bid < ask
    assert "depth within 1% of mid" in out
    # five slices of the market buy, each with a fill
    assert len(re.findall(r"^\s+[1-5]\s+\d", out, flags=re.M)) == 5


def test_demo_with_a_custom_buy_size(capsys):
    assert cli.main(["demo", "--buy", "10"]) == 0
    assert "market buy of 10 ETH" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([])
    assert e.value.code == 2
