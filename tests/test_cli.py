"""The `liqsim` command line."""

from __future__ import annotations

import re

import pytest

import liqsim
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


@pytest.mark.parametrize("argv,message", [
    (["demo", "--buy", "0"], "argument --buy: must be a positive number of ETH, got '0'"),
    (["demo", "--buy", "nan"], "must be a positive number of ETH"),
    (["demo", "--buy", "lots"], "expected a number of ETH, got 'lots'"),
    (["demo", "--buy", "60000"], "the demo buy of 60,000.0 ETH was rejected (insufficient_margin)"),
    (["demo", "--mark", "twap"], "invalid choice: 'twap'"),
])
def test_user_mistakes_are_one_line_with_exit_code_2(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        code = cli.main(argv)
        raise SystemExit(code)
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"liqsim {liqsim.__version__}"
