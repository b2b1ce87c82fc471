"""Transforms applied to every object before it enters an informer's store.

`managedFields` is about half of a cached object's memory (kube-rs#1210) and no
controller reads it, so the default transform drops it (controller-runtime's
`TransformStripManagedFields`); it then shares equal sub-objects between cached
objects (`Deduplicator`), which is what brings a cached pod under 4 KiB. A transform
receives the freshly decoded dict, which nobody else holds, so it may mutate it in
place and return it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = [
    "Deduplicator",
    "Transform",
    "chain",
    "default_transform",
    "strip_annotations",
    "strip_managed_fields",
]

Transform = Callable[[dict[str, Any]], dict[str, Any]]


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop `metadata.managedFields` (the default transform)."""
    meta = obj.get("metadata")
    if meta is not None:
        meta.pop("managedFields", None)
    return obj


def strip_annotations(*keys: str) -> Transform:
    """A transform that drops the named annotations (e.g. kubectl's last-applied-configuration)."""

    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        annotations = (obj.get("metadata") or {}).get("annotations")
        if annotations:
            for key in keys:
                annotations.pop(key, None)
        return obj

    return transform


def chain(*transforms: Transform) -> Transform:
    """Apply transforms left to right."""

    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        for fn in transforms:
            obj = fn(obj)
        return obj

    return transform


_METADATA_SHARED = ("labels", "annotations", "ownerReferences", "finalizers")


class Deduplicator:
    """A transform that makes equal sub-objects of cached objects one shared object.

    10,000 pods of one RayCluster group carry 10,000 equal `spec`s: equal container
    lists, tolerations, volumes, resources. Decoded JSON gives each its own dicts
    (~7 KiB per small pod); sharing the equal ones cuts that to about 1 KiB. Within
    `metadata` only labels, annotations, ownerReferences and finalizers are considered
    (names, uids and timestamps are unique anyway).

    Equality is decided on the canonical JSON bytes (orjson, in C: a few microseconds
    per pod, where a Python walk took tens). A sub-object found in the table is replaced
    by the table's; one not found has its own children deduplicated the same way, so
    two pods differing in one env var still share their tolerations and resources.
    Bytes keep 1, 1.0 and true apart; dicts with another key order are not merged.
    (Non-finite floats, which JSON cannot carry but a caller might, are told apart
    from null by a value comparison wherever the bytes hold a null.)
    Empty containers are never shared (they are what `setdefault` mutates).

    A sub-object enters the table the second time it is seen (the first sighting costs
    only a hash in a set), so objects full of unique values do not fill the table. The
    table is cleared when it holds `max_entries`, bounding what it keeps alive after
    the objects it served are gone.

    This makes the read-only rule for cached objects (store.py) stronger: mutating a
    cached object could now change many. Copy first, always.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._nodes: dict[bytes, Any] = {}
        self._seen: set[int] = set()
        self._namespaces: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def _canon(self, value: Any) -> Any:
        try:
            key = orjson.dumps(value)
        except TypeError:  # not JSON orjson can write (an int beyond 64 bits): keep as is
            return value
        nodes = self._nodes
        found = nodes.get(key)
        # orjson writes NaN and infinities as null: only where a null appears can two
        # different values share bytes, so only there is equality checked as well.
        if found is not None and (b"null" not in key or found == value):
            return found
        canon = self._canon
        items = value.items() if type(value) is dict else enumerate(value)
        for k, child in items:
            tc = type(child)
            if (tc is dict or tc is list) and child:
                shared = canon(child)
                if shared is not child:
                    value[k] = shared
        h = hash(key)
        seen = self._seen
        if h in seen:
            if len(nodes) >= self.max_entries:
                nodes.clear()
                seen.clear()
            nodes[key] = value
        else:
            if len(seen) >= self.max_entries:
                seen.clear()
            seen.add(h)
        return value

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any]:
        canon = self._canon
        for k, v in obj.items():
            tv = type(v)
            if k != "metadata" and (tv is dict or tv is list) and v:
                shared = canon(v)
                if shared is not v:
                    obj[k] = shared
        meta = obj.get("metadata")
        if meta:
            for k in _METADATA_SHARED:
                v = meta.get(k)
                if v:
                    meta[k] = canon(v)
            ns = meta.get("namespace")
            if ns is not None:
                namespaces = self._namespaces
                if len(namespaces) >= self.max_entries:
                    namespaces.clear()
                meta["namespace"] = namespaces.setdefault(ns, ns)
        return obj


def default_transform() -> Transform:
    """A fresh default transform: drop managedFields, then share equal sub-objects."""
    dedupe = Deduplicator()

    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        return dedupe(strip_managed_fields(obj))

    transform.deduplicator = dedupe  # type: ignore[attr-defined]
    return transform
