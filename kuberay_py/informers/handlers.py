"""Event handler registrations and the tombstone for deletions seen only through a relist.

Handlers are plain synchronous functions: they run inline as the informer applies each
event, so they must be cheap (typically: map the object to keys and add them to a
workqueue). Awaiting I/O in a handler would stall the watch for every other handler
(argo-workflows#14791). A handler slower than `SLOW_HANDLER_SECONDS` is logged; one
that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = [
    "SLOW_HANDLER_SECONDS",
    "AddFunc",
    "DeleteFunc",
    "DeletedFinalStateUnknown",
    "HandlerRegistration",
    "UpdateFunc",
]

log = logging.getLogger("kuberay_py.informers")

SLOW_HANDLER_SECONDS = 0.1

Obj = dict[str, Any]


@attrs.frozen
class DeletedFinalStateUnknown:
    """Passed to on_delete for an object that vanished while the watch was down.

    The informer learned of it only by its absence from a relist, so `obj` is the last
    state it had cached, which may be stale (client-go's type of the same name).
    """

    key: str
    obj: Obj


AddFunc = Callable[[Obj], None]
UpdateFunc = Callable[[Obj, Obj], None]
DeleteFunc = Callable[[Obj | DeletedFinalStateUnknown], None]


class HandlerRegistration:
    """One set of handlers on one informer. `remove()` unregisters it."""

    def __init__(
        self,
        owner: Any,
        on_add: AddFunc | None,
        on_update: UpdateFunc | None,
        on_delete: DeleteFunc | None,
        *,
        name: str = "",
        slow_seconds: float = SLOW_HANDLER_SECONDS,
    ) -> None:
        self._owner = owner
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        self.name = name or _describe(on_add or on_update or on_delete)
        self.slow_seconds = slow_seconds
        self.removed = False
        self.slow_calls = 0
        self.errors = 0

    def remove(self) -> None:
        if not self.removed:
            self.removed = True
            self._owner._remove_registration(self)

    def has_synced(self) -> bool:
        """True once the informer synced (this handler saw every listed object)."""
        return bool(self._owner.has_synced()) and not self.removed

    def _call(self, fn: Callable[..., None], what: str, *args: Any) -> None:
        start = time.perf_counter()
        try:
            fn(*args)
        except Exception:
            self.errors += 1
            log.exception("informer %s handler %s raised", what, self.name)
        elapsed = time.perf_counter() - start
        if elapsed > self.slow_seconds:
            self.slow_calls += 1
            log.warning(
                "informer %s handler %s took %.0f ms (> %.0f ms): handlers must not block",
                what,
                self.name,
                elapsed * 1000,
                self.slow_seconds * 1000,
            )

    def add(self, obj: Obj) -> None:
        if self.on_add is not None and not self.removed:
            self._call(self.on_add, "add", obj)

    def update(self, old: Obj, new: Obj) -> None:
        if self.on_update is not None and not self.removed:
            self._call(self.on_update, "update", old, new)

    def delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        if self.on_delete is not None and not self.removed:
            self._call(self.on_delete, "delete", obj)


def _describe(fn: Callable[..., Any] | None) -> str:
    if fn is None:
        return "<none>"
    return str(getattr(fn, "__qualname__", None) or repr(fn))
