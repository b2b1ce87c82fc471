"""Transforms applied to every object before it enters an informer's store.

`managedFields` is about half of a cached object's memory (kube-rs#1210) and no
controller reads it, so the default transform drops it (controller-runtime's
`TransformStripManagedFields`). A transform receives the freshly decoded dict, which
nobody else holds, so it may mutate it in place and return it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Transform", "chain", "strip_annotations", "strip_managed_fields"]

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
