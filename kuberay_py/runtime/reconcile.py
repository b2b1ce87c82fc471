"""What a controller hands its reconciler, and what the reconciler answers.

Level-triggered, key-only work items (controller-runtime's `pkg/reconcile`): a Request
carries only the object's namespace and name, never the event that woke it, so a
reconcile must read the current state (from the cache) and converge on it whatever
happened in between. Many events for one object collapse into one Request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = ["ReconcileFunc", "Reconciler", "Request", "Result", "request_for"]


@attrs.frozen(slots=True, cache_hash=True)
class Request:
    """Which object to reconcile. `namespace` is "" for cluster-scoped objects."""

    namespace: str
    name: str

    @property
    def key(self) -> str:
        """The cache key: `namespace/name` (or `name` when cluster-scoped)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return self.key


def request_for(obj: dict[str, Any]) -> Request:
    """The Request naming `obj`."""
    meta = obj.get("metadata") or {}
    return Request(str(meta.get("namespace") or ""), str(meta.get("name") or ""))


@attrs.frozen(slots=True)
class Result:
    """What to do next: nothing (the default), `requeue_after` seconds later (the delay is
    exact, the failure history is forgotten), or `requeue=True` (again, rate-limited)."""

    requeue: bool = False
    requeue_after: float | None = None


@runtime_checkable
class Reconciler(Protocol):
    """Drive the named object toward its desired state. Raise to retry with backoff."""

    async def reconcile(self, request: Request) -> Result | None: ...


ReconcileFunc = Callable[[Request], Awaitable[Result | None]]
