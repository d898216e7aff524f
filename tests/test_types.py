"""The types promised by issue 7: liqsim passes ``mypy --strict``, typical user code does too,
and a typo in a string enum (``"bye"``, ``"binanse"``) is a type error."""

from __future__ import annotations

import textwrap
from pathlib import Path


from mypy import api as mypy_api  # mypy is in the test extra

ROOT = Path(__file__).resolve().parent.parent


def mypy(*args: str) -> tuple[str, int]:
    out, err, status = mypy_api.run(["--strict", "--config-file", str(ROOT / "pyproject.toml"), *args])
    return out + err, status


def test_typos_in_string_enums_are_type_errors(tmp_path):
    code = tmp_path / "typos.py"
    code.write_text(textwrap.dedent('''
        import liqsim
        ex = liqsim.Exchange(venue="binanse")
        book = liqsim.OrderBook(0.01, 0.001, stp="cancel_takr")
        book.submit("bye", 1.0, price=1.0)
        ex.submit(1, "sell", 1.0, tif="gtd")
    '''))
    out, status = mypy(str(code))
    assert status == 1, out
    for line in (3, 4, 5, 6):
        assert f"typos.py:{line}: error" in out, out


def test_typical_user_code_passes_strict():
    out, status = mypy(str(ROOT / "tests" / "test_typed_usage.py"))
    assert status == 0, out
