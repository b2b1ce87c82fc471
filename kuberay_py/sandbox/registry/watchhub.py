"""Watch fan-out: recent history per resource, and one queue per open watch.

Writers call `publish` synchronously; it appends the event to the resource's
history ring and hands the same object dict to every matching watcher's
queue, so a write costs one append per watcher and no copies. A watcher that
falls too far behind is closed (its client re-watches from its last
resourceVersion and is replayed from the ring) so it can never slow writers
down or hold unbounded memory. History older than the ring, or forgotten by
`compact`, answers 410 Gone as etcd compaction does.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

from kuberay_py.sandbox.registry import conversion, errors
from kuberay_py.sandbox.registry.registry import Watch
from kuberay_py.sandbox.registry.types import WatchEvent, WatchEventType

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class ObjectFilter(Protocol):
    def matches(self, obj: dict[str, Any]) -> bool: ...


class Change(NamedTuple):
    """One stored change. `prev` is the state before (None for ADDED)."""

    rv: int
    type: WatchEventType
    obj: dict[str, Any]
    prev: dict[str, Any] | None
    namespace: str
    name: str


class HubWatch(Watch):
    """A watch on one resource: filters, a queue, bookmarks, and close-on-overflow."""

    def __init__(
        self,
        hub: WatchHub,
        resource_key: str,
        kind: str,
        api_version: str,
        *,
        namespace: str | None,
        name: str | None,
        matcher: ObjectFilter | None,
        allow_bookmarks: bool,
        bookmark_interval: float,
        queue_limit: int,
    ) -> None:
        self._hub = hub
        self.resource_key = resource_key
        self.kind = kind
        self.api_version = api_version
        self.namespace = namespace or None
        self.name = name or None
        self._matcher = matcher
        self._allow_bookmarks = allow_bookmarks
        self._bookmark_interval = bookmark_interval
        self._next_bookmark = time.monotonic() + bookmark_interval
        self._queue_limit = queue_limit
        self._queue: deque[WatchEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.overflowed = False
        # A watch from a resourceVersion ahead of the store skips changes up to it.
        self.min_rv = 0

    # -- filtering -------------------------------------------------------------------------

    def _matches(self, obj: dict[str, Any], namespace: str, name: str) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        if self.name is not None and name != self.name:
            return False
        return self._matcher is None or self._matcher.matches(obj)

    def _view(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object in this watcher's version (every version of a resource shares
        one hub key, so a change may arrive in another version's shape)."""
        return conversion.convert(obj, self.api_version)

    def _event_for(self, change: Change, shared: WatchEvent | None) -> WatchEvent | None:
        """The event this watcher sees for `change` (kube's cacheWatcher rules), or None.

        Selectors are evaluated on the converted object, as kube filters each version's view.
        """
        obj = self._view(change.obj)
        if change.type == "MODIFIED" and (self._matcher is not None and change.prev is not None):
            now = self._matches(obj, change.namespace, change.name)
            prev = self._view(change.prev)
            before = self._matches(prev, change.namespace, change.name)
            if now and not before:
                return WatchEvent("ADDED", obj)
            if before and not now:
                # The previous content, carrying this change's resourceVersion.
                old = dict(prev)
                old["metadata"] = {**old["metadata"], "resourceVersion": str(change.rv)}
                return WatchEvent("DELETED", old)
            if not now:
                return None
        elif not self._matches(obj, change.namespace, change.name):
            return None
        if shared is not None and obj is change.obj:
            return shared
        return WatchEvent(change.type, obj)

    # -- producer side ---------------------------------------------------------------------

    def _push(self, event: WatchEvent) -> None:
        queue = self._queue
        if len(queue) >= self._queue_limit:
            self.overflowed = True
            self.close()
            return
        queue.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def offer(self, change: Change, shared: WatchEvent | None = None) -> None:
        if self.closed or change.rv <= self.min_rv:
            return
        event = self._event_for(change, shared)
        if event is not None:
            self._push(event)

    def push_initial(self, objects: Iterable[dict[str, Any]], end_bookmark: bool) -> None:
        """Synthetic ADDED events for the current state (rv unset or "0", or watch-list)."""
        for stored in objects:
            obj = self._view(stored)
            meta = obj["metadata"]
            if self._matches(obj, meta.get("namespace", ""), meta["name"]):
                self._queue.append(WatchEvent("ADDED", obj))
        if end_bookmark:
            self._queue.append(self._bookmark({INITIAL_EVENTS_END: "true"}))

    def _bookmark(self, annotations: dict[str, str] | None = None) -> WatchEvent:
        meta: dict[str, Any] = {"resourceVersion": str(self._hub.current_rv())}
        if annotations:
            meta["annotations"] = annotations
        return WatchEvent(
            "BOOKMARK", {"kind": self.kind, "apiVersion": self.api_version, "metadata": meta}
        )

    # -- consumer side ---------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._hub._forget(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drain_nowait(self) -> list[WatchEvent]:
        """Every queued event, without waiting (tests and in-process consumers)."""
        events = list(self._queue)
        self._queue.clear()
        return events

    async def __anext__(self) -> WatchEvent:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self.closed:
                raise StopAsyncIteration
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle | None = None
            waiter: asyncio.Future[None] = loop.create_future()
            if self._allow_bookmarks:
                now = time.monotonic()
                if now >= self._next_bookmark:
                    self._next_bookmark = now + self._bookmark_interval
                    return self._bookmark()
                handle = loop.call_at(loop.time() + (self._next_bookmark - now), _wake, waiter)
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
                if handle is not None:
                    handle.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class WatchHub:
    """History rings and open watches for every resource of the registry."""

    def __init__(
        self,
        current_rv: Callable[[], int],
        *,
        history_size: int = 100_000,
        bookmark_interval: float = 60.0,
        queue_limit: int = 100_000,
    ) -> None:
        self.current_rv = current_rv
        self.history_size = history_size
        self.bookmark_interval = bookmark_interval
        self.queue_limit = queue_limit
        self._rings: dict[str, deque[Change]] = {}
        # Highest rv whose events may be gone, per resource and globally (compaction or
        # the point this process started: history before it was never kept).
        self._ring_compacted: dict[str, int] = {}
        self.compacted_rv = current_rv()
        self._watchers: dict[str, set[HubWatch]] = {}

    def publish(self, resource_key: str, change: Change) -> None:
        ring = self._rings.get(resource_key)
        if ring is None:
            ring = self._rings[resource_key] = deque()
        if len(ring) >= self.history_size:
            dropped = ring.popleft()
            self._ring_compacted[resource_key] = dropped.rv
        ring.append(change)
        watchers = self._watchers.get(resource_key)
        if watchers:
            shared = WatchEvent(change.type, change.obj)
            for w in list(watchers):
                w.offer(change, shared)

    def oldest_available(self, resource_key: str) -> int:
        """Watches from an rv below this get 410."""
        return max(self.compacted_rv, self._ring_compacted.get(resource_key, 0))

    def watch(
        self,
        resource_key: str,
        kind: str,
        api_version: str,
        *,
        since_rv: int | None,
        initial: Iterable[dict[str, Any]] | None,
        namespace: str | None = None,
        name: str | None = None,
        matcher: ObjectFilter | None = None,
        allow_bookmarks: bool = False,
        initial_end_bookmark: bool = False,
    ) -> HubWatch:
        """Open a watch; replays history after `since_rv` or queues `initial` ADDED events."""
        if since_rv is not None:
            oldest = self.oldest_available(resource_key)
            if since_rv < oldest:
                raise errors.gone(f"too old resource version: {since_rv} ({oldest})")
        w = HubWatch(
            self,
            resource_key,
            kind,
            api_version,
            namespace=namespace,
            name=name,
            matcher=matcher,
            allow_bookmarks=allow_bookmarks,
            bookmark_interval=self.bookmark_interval,
            queue_limit=self.queue_limit,
        )
        if initial is not None:
            w.push_initial(initial, initial_end_bookmark)
        if since_rv is not None:
            w.min_rv = since_rv
            for change in self._rings.get(resource_key, ()):
                if change.rv > since_rv:
                    w.offer(change)
        self._watchers.setdefault(resource_key, set()).add(w)
        return w

    def _forget(self, w: HubWatch) -> None:
        watchers = self._watchers.get(w.resource_key)
        if watchers is not None:
            watchers.discard(w)

    def compact(self, resource_version: int | None = None) -> None:
        target = self.current_rv() if resource_version is None else resource_version
        self.compacted_rv = max(self.compacted_rv, target)
        for ring in self._rings.values():
            while ring and ring[0].rv <= self.compacted_rv:
                ring.popleft()

    def drop_watches(self, resource_key: str | None = None) -> int:
        keys = list(self._watchers) if resource_key is None else [resource_key]
        dropped = 0
        for key in keys:
            for w in list(self._watchers.get(key, ())):
                w.close()
                dropped += 1
        return dropped

    def forget_resource(self, resource_key: str) -> None:
        """A CRD went away: its history goes too, and its watches end.

        Forgotten history is compacted history: a watch resuming from before now gets 410
        (and relists) instead of silently missing the DELETED events it never received.
        """
        self.drop_watches(resource_key)
        self._rings.pop(resource_key, None)
        self._ring_compacted[resource_key] = self.current_rv()
        self._watchers.pop(resource_key, None)

    def watcher_count(self, resource_key: str | None = None) -> int:
        if resource_key is not None:
            return len(self._watchers.get(resource_key, ()))
        return sum(len(ws) for ws in self._watchers.values())
