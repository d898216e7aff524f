"""README.md runs as written: every ```python block is executed, in order, in one namespace (as a
reader pasting them into one session would), and every expression statement whose line ends in
``# -> value`` must show that value (its ``repr``). The test command shown in the README must be
the one .ci/run runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
STATED = re.compile(r"#\s*->\s*(.+?)\s*$")


def python_blocks() -> list[tuple[int, str]]:
    """(first line number in README.md, source) of each ```python block."""
    text = README.read_text()
    return [(text[: m.start(1)].count("\n") + 1, m.group(1)) for m in BLOCK.finditer(text)]


class _StatedOutputs(ast.NodeTransformer):
    """Wraps each expression statement that states its value in a check of that value."""

    def __init__(self, lines: list[str], first_line: int) -> None:
        self.lines, self.first_line = lines, first_line

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        m = STATED.search(self.lines[(node.end_lineno or node.lineno) - 1])
        if m is None:
            return node
        call = ast.Call(
            func=ast.Name("__readme_check__", ast.Load()),
            args=[node.value, ast.Constant(m.group(1)), ast.Constant(self.first_line + node.lineno - 1)],
            keywords=[],
        )
        return ast.copy_location(ast.Expr(call), node)


def _check(value: Any, stated: str, line: int) -> None:
    shown = repr(value)
    assert shown == stated, f"README.md line {line}: the README states {stated}, the code shows {shown}"


def test_readme_python_blocks_run_in_order_and_show_what_they_state():
    blocks = python_blocks()
    assert len(blocks) >= 5
    namespace: dict[str, Any] = {"__readme_check__": _check, "__name__": "__readme__"}
    checked = 0
    for first_line, source in blocks:
        tree = ast.parse(source, filename=f"README.md:{first_line}")
        tree = ast.fix_missing_locations(_StatedOutputs(source.splitlines(), first_line).visit(tree))
        checked += sum(1 for line in source.splitlines() if STATED.search(line))
        code = compile(tree, f"README.md (block at line {first_line})", "exec")
        exec(code, namespace)
    assert checked >= 20


def test_readme_and_ci_run_the_same_commands():
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    bash_blocks = re.findall(r"^```bash\n(.*?)^```", readme, re.S | re.M)
    test_command = next(b.strip() for b in bash_blocks if "pytest" in b)
    type_command = next(b.strip() for b in bash_blocks if "stubtest" in b)
    assert test_command in ci.splitlines()
    assert type_command in ci.splitlines()
