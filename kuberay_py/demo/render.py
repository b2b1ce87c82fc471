"""Render a meta.k8s.io/v1 Table the way `kubectl get` prints it."""

from __future__ import annotations

from typing import Any


def render_table(table: dict[str, Any], *, wide: bool = False) -> str:
    columns = [
        (i, col["name"].upper())
        for i, col in enumerate(table["columnDefinitions"])
        if wide or col.get("priority", 0) == 0
    ]
    rows = [[_cell(row["cells"][i]) for i, _ in columns] for row in table["rows"]]
    header = [name for _, name in columns]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = [
        "   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
