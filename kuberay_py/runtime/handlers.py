"""Event handlers: turn informer events into Requests on a controller's queue.

controller-runtime's `pkg/handler`: `EnqueueRequestForObject` (the object itself),
`EnqueueRequestForOwner` (the owner named by an ownerReference, for `owns`) and
`EnqueueRequestsFromMapFunc` (anything, for `watches`). Each is a pure mapping from an
object to Requests; `attach()` wires one to an informer behind predicates. Handlers run
synchronously inside the informer, so mapping must be cheap and never await I/O: read
other caches if needed, never the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from kuberay_py.informers import DeletedFinalStateUnknown, HandlerRegistration, SharedInformer
from kuberay_py.kube import Resource
from kuberay_py.runtime.predicates import Predicate
from kuberay_py.runtime.reconcile import Request, request_for

__all__ = [
    "EnqueueRequestForObject",
    "EnqueueRequestForOwner",
    "EnqueueRequestsFromMapFunc",
    "EventHandler",
    "MapFunc",
    "RequestSink",
    "attach",
]

Obj = dict[str, Any]
MapFunc = Callable[[Obj], Iterable[Request]]


class RequestSink(Protocol):
    """Where requests go (a controller's workqueue)."""

    def add(self, item: Request) -> None: ...


class EventHandler(Protocol):
    def map(self, obj: Obj) -> Iterable[Request]: ...


class EnqueueRequestForObject:
    """The object itself."""

    def map(self, obj: Obj) -> Iterable[Request]:
        return (request_for(obj),)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


class EnqueueRequestForOwner:
    """The owner of kind `owner.kind` (same API group) named in the object's
    ownerReferences; by default only the controlling reference (`controller: true`)."""

    def __init__(self, owner: Resource, *, only_controller: bool = True) -> None:
        self.group = owner.group
        self.kind = owner.kind
        self.namespaced = owner.namespaced
        self.only_controller = only_controller

    def map(self, obj: Obj) -> Iterable[Request]:
        meta = obj.get("metadata") or {}
        refs = meta.get("ownerReferences") or ()
        out = []
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            if self.only_controller and not ref.get("controller"):
                continue
            if ref.get("kind") != self.kind or _group(str(ref.get("apiVersion", ""))) != self.group:
                continue
            ns = str(meta.get("namespace") or "") if self.namespaced else ""
            out.append(Request(ns, str(ref.get("name", ""))))
        return out


class EnqueueRequestsFromMapFunc:
    """Whatever the function returns (it must be cheap and must not do I/O)."""

    def __init__(self, fn: MapFunc) -> None:
        self.fn = fn

    def map(self, obj: Obj) -> Iterable[Request]:
        return self.fn(obj)


def attach(
    informer: SharedInformer,
    handler: EventHandler,
    sink: RequestSink,
    predicates: Sequence[Predicate] = (),
    *,
    name: str = "",
) -> HandlerRegistration:
    """Register `handler` on `informer`: events passing every predicate enqueue the
    requests it maps to. Updates enqueue for both the old and the new object (an owner
    that was replaced, or a label that moved, must hear about it)."""

    def on_add(obj: Obj) -> None:
        if all(p.create(obj) for p in predicates):
            for req in handler.map(obj):
                sink.add(req)

    def on_update(old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in predicates):
            reqs = list(handler.map(new))
            for req in reqs:
                sink.add(req)
            for req in handler.map(old):
                if req not in reqs:
                    sink.add(req)

    def on_delete(obj: Obj | DeletedFinalStateUnknown) -> None:
        final = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        if all(p.delete(final) for p in predicates):
            for req in handler.map(final):
                sink.add(req)

    return informer.add_event_handler(on_add, on_update, on_delete, name=name)
