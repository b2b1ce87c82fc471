"""The Python snippets in README.md and docs/ parse, and everything they import exists.

Docs that drift from the code are worse than none: a renamed class or module
fails this test.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import shlex
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


# --- docs/operator.md against the code ------------------------------------------------------

OPERATOR_DOC = ROOT / "docs" / "operator.md"


def _command_lines() -> list[str]:
    """Every `python -m kuberay_py ...` invocation in the docs, cut at a pipe, a comment,
    a backtick or `&`; placeholders (`<...>`) are skipped."""
    found = []
    for doc in DOCS:
        for match in re.finditer(r"python -m kuberay_py +([^\n|#&`]*)", doc.read_text()):
            args = match.group(1).strip()
            if "<" not in args:
                found.append(args)
    return found


@pytest.mark.parametrize("args", _command_lines())
def test_documented_command_lines_parse(args: str) -> None:
    """A documented command with a renamed or missing flag fails here, not for a reader."""
    from kuberay_py.cli import build_parser

    try:
        build_parser().parse_args(shlex.split(args))
    except SystemExit as exc:  # argparse reports the problem on stderr and exits 2
        pytest.fail(f"`python -m kuberay_py {args}` does not parse (exit {exc.code})")


def _subcommand(name: str) -> argparse.ArgumentParser:
    from kuberay_py.cli import build_parser

    actions = build_parser()._actions  # argparse keeps its subcommands only here
    commands = next(a for a in actions if isinstance(a, argparse._SubParsersAction))
    parser = commands.choices[name]
    assert isinstance(parser, argparse.ArgumentParser)
    return parser


def _table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the Markdown table rows whose first cell matches `first_cell`."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(first_cell, cells[0]):
            rows.append(cells)
    return rows


def test_operator_flag_table_is_the_operator_command() -> None:
    documented = {
        flag
        for cells in _table_rows(OPERATOR_DOC.read_text(), r"`--.*")
        for flag in re.findall(r"`(--[a-z-]+)", cells[0])
    }
    options = {
        flag
        for action in _subcommand("operator")._actions
        for flag in action.option_strings
        if flag not in ("-h", "--help")
    }
    assert documented == options


def _env_table() -> dict[str, str]:
    """Environment variable -> documented default, from the table in docs/operator.md."""
    rows = _table_rows(OPERATOR_DOC.read_text(), r"`[A-Z][A-Z0-9_]+`")
    return {cells[0].strip("`"): cells[1].strip("`") for cells in rows}


def test_env_var_table_is_what_operator_config_reads() -> None:
    from kuberay_py.api.config import OperatorConfig

    read = set(re.findall(r'"([A-Z][A-Z0-9_]{3,})"', inspect.getsource(OperatorConfig.from_env)))
    assert set(_env_table()) == read


@pytest.mark.parametrize(("name", "default"), sorted(_env_table().items()))
def test_each_documented_env_var_changes_the_config(name: str, default: str) -> None:
    """The documented default holds, and the documented way to change it works: a
    default-on switch goes off with `false` in any case, a default-off one on with `true`."""
    from kuberay_py.api.config import OperatorConfig

    flipped = {"on": "FALSE", "off": "True"}.get(default, "42" if default.isdigit() else "x.y")
    unset = OperatorConfig.from_env({})
    assert OperatorConfig.from_env({name: flipped}) != unset
    if default in ("on", "off"):
        same = "true" if default == "on" else "false"
        assert OperatorConfig.from_env({name: same}) == unset


def test_ray_io_names_in_operator_doc_are_kuberays() -> None:
    """Every `ray.io/...` label, annotation or finalizer the page names is one the code uses."""
    from kuberay_py.api import constants

    known = {v for v in vars(constants).values() if isinstance(v, str)}
    # Not `rayclusters.ray.io/status`: a resource, not a key.
    named = set(re.findall(r"(?<![\w.])ray\.io/[a-z0-9-]+", OPERATOR_DOC.read_text()))
    assert named, "the page names no ray.io/ keys: the pattern is wrong"
    assert named <= known, sorted(named - known)


def test_metric_table_is_what_the_operator_exports() -> None:
    from prometheus_client import CollectorRegistry

    from kuberay_py.controllers.metrics import RayClusterMetrics

    exported = {m.name for m in RayClusterMetrics(CollectorRegistry()).describe()}
    rows = _table_rows(OPERATOR_DOC.read_text(), r"`kuberay_[a-z_]+`")
    assert {cells[0].strip("`") for cells in rows} == exported


def test_status_coalescing_window_named_in_the_docs_exists() -> None:
    from kuberay_py.controllers import raycluster_status_writes

    text = OPERATOR_DOC.read_text()
    assert "`COALESCE_SECONDS` in `kuberay_py/controllers/raycluster_status_writes.py`" in text
    assert raycluster_status_writes.COALESCE_SECONDS > 0
