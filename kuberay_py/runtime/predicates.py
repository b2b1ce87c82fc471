"""Event filters: which informer events are worth waking a reconcile for.

controller-runtime's `pkg/predicate`, for dict objects. A predicate answers per event
kind; create/delete default to True and only updates are usually filtered (a status
write bumps resourceVersion but not generation, so `GenerationChanged` skips the
reconcile storm a controller's own status updates would otherwise cause).
Combine with `And`, `Or`, `Not`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "And",
    "AnnotationChanged",
    "Funcs",
    "GenerationChanged",
    "LabelChanged",
    "LabelsMatch",
    "Not",
    "Or",
    "Predicate",
    "ResourceVersionChanged",
]

Obj = dict[str, Any]


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


class Predicate:
    """Passes everything; subclasses override the event kinds they filter."""

    def create(self, obj: Obj) -> bool:
        return True

    def update(self, old: Obj, new: Obj) -> bool:
        return True

    def delete(self, obj: Obj) -> bool:
        return True

    def __and__(self, other: Predicate) -> Predicate:
        return And(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return Or(self, other)

    def __invert__(self) -> Predicate:
        return Not(self)


class Funcs(Predicate):
    """A predicate from plain functions; a missing one passes."""

    def __init__(
        self,
        *,
        create: Callable[[Obj], bool] | None = None,
        update: Callable[[Obj, Obj], bool] | None = None,
        delete: Callable[[Obj], bool] | None = None,
    ) -> None:
        self._create = create
        self._update = update
        self._delete = delete

    def create(self, obj: Obj) -> bool:
        return self._create is None or self._create(obj)

    def update(self, old: Obj, new: Obj) -> bool:
        return self._update is None or self._update(old, new)

    def delete(self, obj: Obj) -> bool:
        return self._delete is None or self._delete(obj)


class GenerationChanged(Predicate):
    """Updates pass only when metadata.generation changed (spec changes, not status)."""

    def update(self, old: Obj, new: Obj) -> bool:
        return _meta(old).get("generation") != _meta(new).get("generation")


class ResourceVersionChanged(Predicate):
    """Updates pass only when resourceVersion changed (drops resync replays)."""

    def update(self, old: Obj, new: Obj) -> bool:
        return _meta(old).get("resourceVersion") != _meta(new).get("resourceVersion")


class LabelChanged(Predicate):
    """Updates pass only when the labels changed."""

    def update(self, old: Obj, new: Obj) -> bool:
        return (_meta(old).get("labels") or {}) != (_meta(new).get("labels") or {})


class AnnotationChanged(Predicate):
    """Updates pass only when the annotations changed."""

    def update(self, old: Obj, new: Obj) -> bool:
        return (_meta(old).get("annotations") or {}) != (_meta(new).get("annotations") or {})


class LabelsMatch(Predicate):
    """Events pass only for objects carrying all these labels (an update passes if the old
    or the new object matches, so losing the label is still seen)."""

    def __init__(self, match_labels: Mapping[str, str]) -> None:
        self.match_labels = dict(match_labels)

    def _matches(self, obj: Obj) -> bool:
        labels = _meta(obj).get("labels") or {}
        return all(labels.get(k) == v for k, v in self.match_labels.items())

    def create(self, obj: Obj) -> bool:
        return self._matches(obj)

    def update(self, old: Obj, new: Obj) -> bool:
        return self._matches(old) or self._matches(new)

    def delete(self, obj: Obj) -> bool:
        return self._matches(obj)


class And(Predicate):
    def __init__(self, *predicates: Predicate) -> None:
        self.predicates = predicates

    def create(self, obj: Obj) -> bool:
        return all(p.create(obj) for p in self.predicates)

    def update(self, old: Obj, new: Obj) -> bool:
        return all(p.update(old, new) for p in self.predicates)

    def delete(self, obj: Obj) -> bool:
        return all(p.delete(obj) for p in self.predicates)


class Or(Predicate):
    def __init__(self, *predicates: Predicate) -> None:
        self.predicates = predicates

    def create(self, obj: Obj) -> bool:
        return any(p.create(obj) for p in self.predicates)

    def update(self, old: Obj, new: Obj) -> bool:
        return any(p.update(old, new) for p in self.predicates)

    def delete(self, obj: Obj) -> bool:
        return any(p.delete(obj) for p in self.predicates)


class Not(Predicate):
    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate

    def create(self, obj: Obj) -> bool:
        return not self.predicate.create(obj)

    def update(self, old: Obj, new: Obj) -> bool:
        return not self.predicate.update(old, new)

    def delete(self, obj: Obj) -> bool:
        return not self.predicate.delete(obj)
