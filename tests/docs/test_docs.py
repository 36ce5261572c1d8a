"""The Python examples in docs/ run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("page", ["api.md"])
def test_docs_examples_run(page: str, capsys) -> None:
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no python example"
    for code in blocks:
        exec(compile(code, str(DOCS / page), "exec"), {"__name__": "__docs__"})
    assert "dense gap" in capsys.readouterr().out
