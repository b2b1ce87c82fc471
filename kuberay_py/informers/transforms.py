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


_CHILD = object()  # marks a container child's slot in a dedup key (its id is appended)
_METADATA_SHARED = ("labels", "annotations", "ownerReferences", "finalizers")


class Deduplicator:
    """A transform that makes equal sub-objects of cached objects one shared object.

    10,000 pods of one Deployment carry 10,000 equal `spec`s: equal container lists,
    tolerations, volumes, resources. Decoded JSON gives each its own dicts (~8 KiB per
    small pod); sharing the equal ones (hash-consing, bottom-up) cuts that to about a
    tenth. Within `metadata` only labels, annotations, ownerReferences, finalizers and
    the namespace are considered; the rest is unique per object anyway.

    A container's key lists its scalars in order, with `_CHILD` in the place of each
    child container and the children's ids appended: children are canonical already,
    and a cached parent holds exactly those children, so their ids stay valid for as
    long as the key is in the table.

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

    def _string(self, value: str) -> str:
        strings = self._strings
        s = strings.get(value)
        if s is not None:
            return s
        if len(strings) >= self.max_entries:
            strings.clear()
        strings[value] = value
        return value

    def _canon(self, value: Any) -> Any:
        t = type(value)
        if t is str:
            return self._string(value)
        if t is not dict and t is not list:
            return value
        canon = self._canon
        parts: list[Any] = [t is dict]
        ids: list[int] = []
        items = value.items() if t is dict else enumerate(value)
        for k, v in items:
            tv = type(v)
            if tv is dict or tv is list:
                c = canon(v)
                if c is not v:
                    value[k] = c
                if t is dict:
                    parts.append(k)
                parts.append(_CHILD)
                ids.append(id(c))
                continue
            if tv is str:
                c = self._string(v)
                if c is not v:
                    value[k] = c
            elif tv is not int and v is not None:
                # bool and float compare equal to ints (True == 1 == 1.0): tag them.
                c = (tv, v)
            else:
                c = v
            if t is dict:
                parts.append(k)
            parts.append(c)
        parts.extend(ids)
        key = tuple(parts)
        nodes = self._nodes
        found = nodes.get(key)
        if found is not None:
            return found
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
                meta["namespace"] = self._string(ns)
        return obj


def default_transform() -> Transform:
    """A fresh default transform: drop managedFields, then share equal sub-objects."""
    dedupe = Deduplicator()

    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        return dedupe(strip_managed_fields(obj))

    transform.deduplicator = dedupe  # type: ignore[attr-defined]
    return transform
