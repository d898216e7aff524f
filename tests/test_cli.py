"""The `liqsim` command line."""

from __future__ import annotations

import re

import pytest

import liqsim
from liqsim import cli


def test_demo_runs_the_default_scenario_and_prints_each_part(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("liqsim demo: eth-4k-squeeze")
    for part in ("setup:", "path", "(peak)", "liquidations  shorts", "by cascade round", "open interest",
                 "funding", "insurance", "ADL", "stops", "wall time", "change it: liqsim demo --scenario NAME"):
        assert part in out, part
    wall = float(re.search(r"wall time\s+([\d.]+) s", out).group(1))
    assert wall < 5.0


def test_demo_of_another_scenario_with_its_chart(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_png = tmp_path / "chart.png"
    assert cli.main(["demo", "--scenario", "btc-93k-rejection", "--plot", str(out_png)]) == 0
    out = capsys.readouterr().out
    assert "btc-93k-rejection" in out and "(low)" in out and f"chart         {out_png}" in out
    assert out_png.stat().st_size > 10_000


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([])
    assert e.value.code == 2


@pytest.mark.parametrize("argv,message", [
    (["demo", "--scenario", "eth-4k-sqeeze"], "no built-in scenario 'eth-4k-sqeeze' (did you mean 'eth-4k-squeeze'?)"),
    (["demo", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["demo", "--plot", "/nonexistent-dir/chart.png"], "cannot write the chart to /nonexistent-dir/chart.png"),
    (["demo", "--buy", "10"], "unrecognized arguments: --buy 10"),
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


def test_scenarios_lists_each_builtin_with_its_title(capsys):
    assert cli.main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[0] for l in lines] == liqsim.scenarios.names()
    assert "$4,000" in lines[0]


def test_a_closed_pipe_stops_the_demo_quietly():
    # `liqsim demo | head -3`: the reader is gone before the demo prints; the CLI stops without a
    # traceback and with the status a shell reports for a closed pipe.
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "import sys; from liqsim.cli import main; sys.exit(main(['demo']))"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err, err
