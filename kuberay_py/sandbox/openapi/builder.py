"""`/openapi/v3`: the index and one document per served group-version.

kubectl needs these for `apply`/`create` (is `fieldValidation` supported?
how to compute a strategic merge patch?) and for `explain`. The index names
every group-version with a `?hash=` URL; kubectl caches a document by that
URL forever (`Cache-Control: immutable`), so the hash must change whenever
the document would. It is computed from the document's *inputs* (the
resource types of the group-version, CRD schemas included, and the schema
release), which makes the index cheap: no document is built until one is
asked for, and an unchanged group-version keeps its cached bytes when a CRD
elsewhere changes the catalog.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson

from kuberay_py.sandbox.openapi import crd
from kuberay_py.sandbox.openapi.definitions import (
    DELETE_OPTIONS,
    KUBE_VERSION,
    PATCH,
    STATUS,
    Definitions,
)
from kuberay_py.sandbox.openapi.paths import resource_paths
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType

# Bump when the document layout changes, so kubectl's immutable cache is not reused.
LAYOUT_VERSION = "1"
_ALWAYS = (DELETE_OPTIONS, PATCH, STATUS)


@functools.cache
def shared_definitions(version: str = KUBE_VERSION) -> Definitions:
    """One converted-definitions memo per process (they never change)."""
    return Definitions(version)


def gv_path(group: str, version: str) -> str:
    """`api/v1` or `apis/apps/v1`: the key in the index and the URL tail."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _normalise(path: str) -> str:
    path = path.split("?", 1)[0].strip("/")
    if path.startswith("openapi/v3/"):
        path = path[len("openapi/v3/") :]
    return path


def _descriptor(rt: ResourceType) -> list[Any]:
    return [
        rt.resource,
        rt.kind,
        rt.namespaced,
        list(rt.subresources),
        list(rt.verbs),
        rt.is_crd,
        rt.schema if rt.is_crd else None,
    ]


class OpenAPIBuilder:
    """Serves the OpenAPI v3 index and documents for whatever the catalog holds now."""

    def __init__(self, catalog: Catalog, version: str = KUBE_VERSION) -> None:
        self.catalog = catalog
        self.version = version
        self._defs: Definitions | None = None
        self._index_generation = -1
        self._hashes: dict[str, tuple[str, str, str]] = {}  # path -> (hash, group, version)
        self._docs: dict[str, tuple[str, bytes]] = {}  # path -> (hash, encoded document)

    @property
    def definitions(self) -> Definitions:
        if self._defs is None:
            self._defs = shared_definitions(self.version)
        return self._defs

    def _refresh(self) -> None:
        if self._index_generation == self.catalog.generation:
            return
        hashes: dict[str, tuple[str, str, str]] = {}
        for group, versions in self.catalog.groups():
            for version in versions:
                rts = self.catalog.in_group_version(group, version)
                payload = [
                    LAYOUT_VERSION,
                    self.version,
                    group,
                    version,
                    [_descriptor(r) for r in rts],
                ]
                digest = hashlib.sha512(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
                hashes[gv_path(group, version)] = (digest.hexdigest().upper(), group, version)
        self._hashes = hashes
        self._docs = {p: d for p, d in self._docs.items() if p in hashes and hashes[p][0] == d[0]}
        self._index_generation = self.catalog.generation

    def index(self) -> dict[str, Any]:
        """The `/openapi/v3` reply: one server-relative URL per group-version."""
        self._refresh()
        return {
            "paths": {
                path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={h}"}
                for path, (h, _, _) in self._hashes.items()
            }
        }

    def document(self, path: str) -> tuple[bytes, str] | None:
        """The encoded document for `api/v1` / `apis/<g>/<v>` and its hash (the ETag)."""
        self._refresh()
        key = _normalise(path)
        found = self._hashes.get(key)
        if found is None:
            return None
        digest, group, version = found
        cached = self._docs.get(key)
        if cached is not None and cached[0] == digest:
            return cached[1], digest
        body = orjson.dumps(self.build(group, version))
        self._docs[key] = (digest, body)
        return body, digest

    def build(self, group: str, version: str) -> dict[str, Any]:
        """The document of one group-version as a dict (uncached; `document` caches bytes)."""
        defs = self.definitions
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        roots: list[str] = list(_ALWAYS)
        for rt in self.catalog.in_group_version(group, version):
            if rt.is_crd:
                kind_name, list_name = crd.kind_name(rt), crd.list_name(rt)
                schemas[kind_name] = crd.kind_schema(rt)
                schemas[list_name] = crd.list_schema(rt)
                roots += [
                    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                    "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
                ]
            else:
                found = defs.name_for(rt.group, rt.version, rt.kind)
                found_list = defs.name_for(rt.group, rt.version, rt.list_kind)
                if found is None:  # a built-in the bundled release lacks: accept anything
                    kind_name, list_name = crd.kind_name(rt), crd.list_name(rt)
                    schemas[kind_name] = crd.kind_schema(rt)
                    schemas[list_name] = crd.list_schema(rt)
                else:
                    kind_name = found
                    roots.append(found)
                    list_name = found_list or found
                    if found_list:
                        roots.append(found_list)
            paths.update(resource_paths(rt, kind_name, list_name))
        for name in defs.closure(roots):
            schemas.setdefault(name, defs.get(name))
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": self.version},
            "paths": dict(sorted(paths.items())),
            "components": {
                "schemas": dict(sorted(schemas.items())),
                "securitySchemes": {
                    "BearerToken": {
                        "type": "apiKey",
                        "description": "Bearer Token authentication",
                        "name": "authorization",
                        "in": "header",
                    }
                },
            },
            "security": [{"BearerToken": []}],
        }
