"""The Python snippets in README.md and docs/ parse, and everything they import exists.

Docs that drift from the code are worse than none: a renamed class or module
fails this test.
"""

from __future__ import annotations

import ast
import importlib
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _snippets() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        blocks = re.findall(r"^( *)```python\n(.*?)^ *```", doc.read_text(), re.S | re.M)
        for i, (_, block) in enumerate(blocks):
            found.append((f"{doc.name}#{i}", textwrap.dedent(block)))
    return found


@pytest.mark.parametrize(("where", "code"), _snippets(), ids=[w for w, _ in _snippets()])
def test_snippet_parses_and_its_imports_resolve(where: str, code: str) -> None:
    tree = ast.parse(code, filename=where)
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    for node in imports:
        assert node.module is not None
        module = importlib.import_module(node.module)
        for alias in node.names:
            assert hasattr(module, alias.name), f"{where}: {node.module} has no {alias.name}"
