"""Where strategic merge patch learns how each field merges.

kube-apiserver reads `patchStrategy` / `patchMergeKey` from the Go struct tags
of built-in types. The sandbox has no Go types, but `kubernetes-validate`
ships kube's OpenAPI definitions as JSON Schema with the same information in
the `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`
extensions. This module loads one `_definitions.json` (about 1.3 MB) the first
time a strategic merge patch needs it, indexes the definitions by
group/version/kind, and hands out `SchemaNode`s that resolve `$ref`s lazily
while the patch is walked, so only the parts of the schema a patch touches are
ever looked at.

A kind with no definition (every custom resource) has no strategic merge
metadata, which is exactly when kube refuses strategic merge patches.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Final

import attrs
import orjson

# The sandbox reports itself as v1.32 (see /version); prefer the schemas of that release.
PREFERRED_KUBE_VERSION: Final = (1, 32)
_SCHEMA_DIR_RE: Final = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local$")
_REF_PREFIX: Final = "#/$defs/"


def _schema_root() -> Path | None:
    # find_spec locates the package without importing it: importing kubernetes_validate
    # pulls in jsonschema and costs more than loading the definitions themselves.
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "kubernetes-json-schema"
        if path.is_dir():
            return path
    return None


def definitions_path(preferred: tuple[int, int] = PREFERRED_KUBE_VERSION) -> Path | None:
    """The `_definitions.json` of the preferred kube minor, else the nearest one available."""
    root = _schema_root()
    if root is None:
        return None
    candidates: list[tuple[int, int, Path]] = []
    for entry in os.scandir(root):
        m = _SCHEMA_DIR_RE.match(entry.name)
        if m and entry.is_dir():
            file = Path(entry.path) / "_definitions.json"
            if file.is_file():
                candidates.append((int(m.group(1)), int(m.group(2)), file))
    if not candidates:
        return None
    # Nearest minor first; on a tie prefer the newer release.
    candidates.sort(key=lambda c: (abs(c[0] - preferred[0]), abs(c[1] - preferred[1]), -c[1]))
    return candidates[0][2]


@attrs.frozen
class _Definitions:
    defs: dict[str, Any]
    by_gvk: dict[tuple[str, str, str], str]  # (group, version, kind) -> definition name


@functools.cache
def _load() -> _Definitions:
    path = definitions_path()
    if path is None:
        return _Definitions({}, {})
    raw = orjson.loads(path.read_bytes())
    defs: dict[str, Any] = raw.get("$defs") or raw.get("definitions") or {}
    by_gvk: dict[tuple[str, str, str], str] = {}
    for name, schema in defs.items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            # Several definitions can claim one GVK (meta types); the first one wins.
            by_gvk.setdefault(key, name)
    return _Definitions(defs, by_gvk)


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _resolve(defs: dict[str, Any], schema: Any) -> dict[str, Any] | None:
    """Follows `$ref` (and single-element `allOf`) until a concrete schema object."""
    seen = 0
    while isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            schema = defs.get(ref[len(_REF_PREFIX) :])
        elif isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema
        seen += 1
        if seen > 32:  # a reference cycle without structure: treat as unknown
            return None
    return None


class SchemaNode:
    """One resolved schema object, able to describe its fields and list items."""

    __slots__ = ("_defs", "schema")

    def __init__(self, defs: dict[str, Any], schema: dict[str, Any]) -> None:
        self._defs = defs
        self.schema = schema

    @classmethod
    def _of(cls, defs: dict[str, Any], schema: Any) -> SchemaNode | None:
        resolved = _resolve(defs, schema)
        return cls(defs, resolved) if resolved is not None else None

    def field(self, name: str) -> FieldMeta:
        """Patch metadata of field `name` of this object (or of one entry of this map)."""
        props = self.schema.get("properties")
        prop: Any = None
        if isinstance(props, dict):
            prop = props.get(name)
        if prop is None:
            additional = self.schema.get("additionalProperties")
            if isinstance(additional, dict):
                prop = additional
        if not isinstance(prop, dict):
            return UNKNOWN_FIELD
        raw_strategy = prop.get("x-kubernetes-patch-strategy")
        strategies = (
            frozenset(s.strip() for s in raw_strategy.split(",") if s.strip())
            if isinstance(raw_strategy, str)
            else frozenset()
        )
        merge_key = prop.get("x-kubernetes-patch-merge-key")
        return FieldMeta(
            node=SchemaNode._of(self._defs, prop),
            strategies=strategies,
            merge_key=merge_key if isinstance(merge_key, str) else "",
        )

    def items(self) -> SchemaNode | None:
        """The schema of this array's items, or None when unknown."""
        return SchemaNode._of(self._defs, self.schema.get("items"))

    @property
    def title(self) -> str:
        """A short name for messages: the GVK kind when the schema has one."""
        gvks = self.schema.get("x-kubernetes-group-version-kind")
        if isinstance(gvks, list) and gvks and isinstance(gvks[0], dict):
            return str(gvks[0].get("kind", ""))
        return ""


@attrs.frozen
class FieldMeta:
    """How one field merges: its schema, strategies (`merge`, `retainKeys`, `replace`)
    and, for lists merged by key, the merge key."""

    node: SchemaNode | None
    strategies: frozenset[str] = frozenset()
    merge_key: str = ""

    @property
    def merge(self) -> bool:
        return "merge" in self.strategies

    @property
    def replace(self) -> bool:
        return "replace" in self.strategies

    def items(self) -> SchemaNode | None:
        return self.node.items() if self.node is not None else None


UNKNOWN_FIELD: Final = FieldMeta(node=None)


def schema_for(api_version: str, kind: str) -> SchemaNode | None:
    """The root schema of a built-in kind, or None (custom resources, unknown kinds)."""
    loaded = _load()
    group, version = _split_api_version(api_version)
    name = loaded.by_gvk.get((group, version, kind))
    if name is None:
        return None
    return SchemaNode._of(loaded.defs, loaded.defs[name])


def strategic_merge_supported(api_version: str, kind: str) -> bool:
    """True for built-in kinds kube would accept `application/strategic-merge-patch+json` for."""
    group, version = _split_api_version(api_version)
    return (group, version, kind) in _load().by_gvk
