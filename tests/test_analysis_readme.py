"""The README's "Analysis tour" runs as written, top to bottom (in a scratch directory)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_analysis_tour_runs(tmp_path, monkeypatch):
    text = README.read_text()
    start = text.index("## Analysis tour")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"```python\n(.*?)```", text[start:end], re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile("\n".join(blocks), "README.md (Analysis tour)", "exec"), namespace)
    m = namespace["m"]
    assert m["short_notional"].sum() > 0  # type: ignore[index]
