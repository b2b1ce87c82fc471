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


class _Ref:
    """Identity-keyed handle on a canonical container inside a dedup key."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ref) and other.obj is self.obj


_METADATA_SHARED = ("labels", "annotations", "ownerReferences", "finalizers")


class Deduplicator:
    """A transform that makes equal sub-objects of cached objects one shared object.

    10,000 pods of one Deployment carry 10,000 equal `spec`s: equal container lists,
    tolerations, volumes, resources. Decoded JSON gives each its own dicts (~8 KiB per
    small pod); sharing the equal ones (hash-consing, bottom-up) cuts that to about a
    tenth. Everything below `metadata` except labels, annotations, ownerReferences and
    finalizers is left alone, since it is unique per object anyway.

    A sub-object is shared from the second time it is seen (the first sighting costs
    only a hash in a set), so objects full of unique values (timestamps) do not bloat
    the table. The table is cleared when it holds `max_entries`, bounding what it keeps
    alive after the objects it served are gone.

    This makes the read-only rule for cached objects (store.py) stronger: mutating a
    cached object could now change many. Copy first, always.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._nodes: dict[tuple[Any, ...], Any] = {}
        self._seen: set[int] = set()
        self._strings: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def _canon(self, value: Any) -> Any:
        t = type(value)
        if t is str:
            s = self._strings.get(value)
            if s is not None:
                return s
            if len(self._strings) >= self.max_entries:
                self._strings.clear()
            self._strings[value] = value
            return value
        parts: list[Any]
        if t is dict:
            parts = [0]
            for k, v in value.items():
                c = self._canon(v)
                if c is not v:
                    value[k] = c
                parts.append(k)
                parts.append(self._key_part(c))
        elif t is list:
            parts = [1]
            for i, v in enumerate(value):
                c = self._canon(v)
                if c is not v:
                    value[i] = c
                parts.append(self._key_part(c))
        else:
            return value
        key = tuple(parts)
        nodes = self._nodes
        found = nodes.get(key)
        if found is not None:
            return found
        h = hash(key)
        if h in self._seen:
            if len(nodes) >= self.max_entries:
                nodes.clear()
                self._seen.clear()
            nodes[key] = value
        else:
            if len(self._seen) >= self.max_entries:
                self._seen.clear()
            self._seen.add(h)
        return value

    @staticmethod
    def _key_part(c: Any) -> Any:
        tc = type(c)
        if tc is str or tc is int or c is None:
            return c
        if tc is dict or tc is list:
            return _Ref(c)
        # bool and float compare equal to ints (True == 1 == 1.0): tag them.
        return (tc, c)

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any]:
        canon = self._canon
        for k, v in obj.items():
            if k != "metadata":
                c = canon(v)
                if c is not v:
                    obj[k] = c
        meta = obj.get("metadata")
        if meta:
            for k in _METADATA_SHARED:
                v = meta.get(k)
                if v is not None:
                    meta[k] = canon(v)
            ns = meta.get("namespace")
            if ns is not None:
                meta["namespace"] = canon(ns)
        return obj


def default_transform() -> Transform:
    """A fresh default transform: drop managedFields, then share equal sub-objects."""
    dedupe = Deduplicator()

    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        return dedupe(strip_managed_fields(obj))

    transform.deduplicator = dedupe  # type: ignore[attr-defined]
    return transform
