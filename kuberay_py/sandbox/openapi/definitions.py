"""Kubernetes' built-in type definitions, converted to OpenAPI v3 component schemas.

The sandbox has no Go types to generate a schema from, so it borrows the
JSON Schema that `kubernetes-validate` bundles for each Kubernetes release
and rewrites it into what kube-apiserver publishes under `/openapi/v3`:
`$ref`s point at `#/components/schemas/`, a `$ref` with sibling keys is
wrapped in `allOf` (OpenAPI 3.0 ignores siblings of `$ref`), `"null"` is
dropped from type arrays, the `apiVersion`/`kind` enums the bundle adds are
removed, and IntOrString/Quantity become the plain strings kube declares.
Definitions are converted lazily, one at a time, and memoised: a document
for core/v1 touches ~250 of the 638 definitions, apps/v1 far fewer.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

# The Kubernetes release whose schemas are served (matches the sandbox's /version minor).
KUBE_VERSION = "v1.32.0"
_REF_PREFIX = "#/$defs/"
COMPONENTS_PREFIX = "#/components/schemas/"

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"

Schema = dict[str, Any]

_INT_OR_STRING_DESCRIPTION = (
    "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
    "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you "
    "to have, for example, a JSON field that can accept a name or number."
)
_QUANTITY_DESCRIPTION = (
    "Quantity is a fixed-point representation of a number. It provides convenient "
    "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors."
)


def _schema_root() -> Path:
    """The bundled schema folder, found without importing kubernetes_validate (~70 ms)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("kubernetes-validate is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def _schema_dir_name(version: str) -> str:
    """The bundled folder for `version`, or the nearest release the package ships."""
    root = _schema_root()
    wanted = f"{version}-local"
    if (root / wanted / "_definitions.json").is_file():
        return wanted

    def minor(name: str) -> int:
        try:
            return int(name.split(".")[1])
        except (IndexError, ValueError):
            return -1

    target = minor(version)
    candidates = [
        entry.name
        for entry in root.iterdir()
        if entry.name.endswith("-local") and (entry / "_definitions.json").is_file()
    ]
    if not candidates:
        raise FileNotFoundError("kubernetes_validate ships no -local schema folders")
    return min(candidates, key=lambda n: (abs(minor(n) - target), -minor(n)))


@functools.cache
def raw_definitions(version: str = KUBE_VERSION) -> dict[str, Schema]:
    """All JSON Schema `$defs` of one release, parsed once per process."""
    root = _schema_root()
    data = orjson.loads((root / _schema_dir_name(version) / "_definitions.json").read_bytes())
    defs: dict[str, Schema] = data["$defs"]
    return defs


def _ref_name(ref: str) -> str:
    return ref[len(_REF_PREFIX) :] if ref.startswith(_REF_PREFIX) else ref.rsplit("/", 1)[-1]


def convert(node: Any) -> Any:
    """One JSON Schema node (and everything below it) in OpenAPI v3 form."""
    if isinstance(node, list):
        return [convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key in ("$schema", "$id"):
            continue
        if key == "$ref":
            out[key] = COMPONENTS_PREFIX + _ref_name(value)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: convert(sub) for name, sub in value.items()}
        else:
            out[key] = convert(value)
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


class Definitions:
    """Converted built-in definitions, the GVK index, and `$ref` closures."""

    def __init__(self, version: str = KUBE_VERSION) -> None:
        self.version = version
        self._raw = raw_definitions(version)
        self._converted: dict[str, Schema] = {}
        self._refs: dict[str, frozenset[str]] = {}
        self._by_gvk: dict[tuple[str, str, str], str] = {}
        for name, schema in self._raw.items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
                # Several definitions may claim meta kinds (DeleteOptions, WatchEvent) for
                # every group; the first one wins, which is the meta.v1 one.
                self._by_gvk.setdefault(key, name)

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def name_for(self, group: str, version: str, kind: str) -> str | None:
        """The definition name of a built-in kind, e.g. `io.k8s.api.core.v1.Pod`."""
        return self._by_gvk.get((group, version, kind))

    def get(self, name: str) -> Schema:
        """The OpenAPI v3 form of one definition (memoised; treat it as read-only)."""
        found = self._converted.get(name)
        if found is None:
            found = self._convert_definition(name)
            self._converted[name] = found
        return found

    def _convert_definition(self, name: str) -> Schema:
        raw = self._raw[name]
        description = raw.get("description")
        # kube-openapi publishes these two in v3 as a oneOf without a top-level type (which
        # is also what makes `kubectl explain` print `<IntOrString>` and `map[string]Quantity`).
        if name == INT_OR_STRING:
            description = description or _INT_OR_STRING_DESCRIPTION
            out: Schema = {
                "format": "int-or-string",
                "oneOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
        elif name == QUANTITY:
            description = description or _QUANTITY_DESCRIPTION
            out = {"oneOf": [{"type": "string"}, {"type": "number"}]}
        else:
            out = convert(raw)
            if "x-kubernetes-group-version-kind" in raw:
                # The bundle pins apiVersion/kind with enums; kube publishes plain strings.
                props = out.get("properties") or {}
                for field in ("apiVersion", "kind"):
                    if isinstance(props.get(field), dict):
                        props[field] = {k: v for k, v in props[field].items() if k != "enum"}
            return out
        if description:
            out = {"description": description, **out}
        return out

    def _direct_refs(self, name: str) -> frozenset[str]:
        found = self._refs.get(name)
        if found is None:
            acc: set[str] = set()
            _collect_refs(self._raw[name], acc)
            found = frozenset(acc)
            self._refs[name] = found
        return found

    def closure(self, roots: Iterable[str]) -> list[str]:
        """Every definition reachable from `roots` through `$ref`s, sorted."""
        seen: set[str] = set()
        stack = [r for r in roots if r in self._raw]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(r for r in self._direct_refs(name) if r not in seen and r in self._raw)
        return sorted(seen)


def _collect_refs(node: Any, acc: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                acc.add(_ref_name(value))
            else:
                _collect_refs(value, acc)
    elif isinstance(node, list):
        for item in node:
            _collect_refs(item, acc)
