"""A shared informer: one reflector, one cache, many handlers, and a watchdog.

`SharedInformer` owns a Store (with a namespace index by default), runs a Reflector
into it under a supervisor that restarts it if it ever dies, calls every registered
handler for every change, and runs a watchdog: a watch that has been silent for longer
than `watchdog_timeout` (default 60 s bookmark interval + 30 s margin) is closed and
resumed from its last resourceVersion. Silent stalls are kopf users' most common
complaint; this is the fix, and `healthy()` / `stalled_for()` let a /healthz endpoint
fail while an informer is dead or stalled past a bound.

On a relist (after 410 Gone) the store is diffed against the new list: new objects
give on_add, changed ones (new resourceVersion) on_update, unchanged ones nothing, and
objects that vanished give on_delete with a `DeletedFinalStateUnknown` tombstone.

A handler registered after the cache is populated gets a synthetic on_add for every
cached object, so late joiners see the same world as early ones.

Reads (`informer.store.get(...)`, handler arguments) are the cached dicts themselves:
read-only by convention, copy before mutating (see store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from kuberay_py.informers.backoff import Backoff
from kuberay_py.informers.handlers import (
    SLOW_HANDLER_SECONDS,
    AddFunc,
    DeletedFinalStateUnknown,
    DeleteFunc,
    HandlerRegistration,
    UpdateFunc,
)
from kuberay_py.informers.metrics import InformerCollector, collector_for
from kuberay_py.informers.reflector import ListWatcher, Reflector, ReflectorState
from kuberay_py.informers.store import NAMESPACE_INDEX, IndexFunc, Store, by_namespace
from kuberay_py.informers.transforms import Transform, default_transform

__all__ = [
    "DEFAULT",
    "DEFAULT_BOOKMARK_INTERVAL",
    "DEFAULT_WATCHDOG_MARGIN",
    "SharedInformer",
]

log = logging.getLogger("kuberay_py.informers")

Obj = dict[str, Any]

DEFAULT_BOOKMARK_INTERVAL = 60.0
DEFAULT_WATCHDOG_MARGIN = 30.0
SYNC_POLL_SECONDS = 0.1


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""Sentinel for `transform=`: a fresh `default_transform()` (drop managedFields, share
equal sub-objects). Pass None to cache objects exactly as received."""


def _rv(obj: Obj) -> Any:
    return (obj.get("metadata") or {}).get("resourceVersion")


class SharedInformer:
    """Cache + reflector + handlers for one (resource, namespace, selectors, transform)."""

    def __init__(
        self,
        client: ListWatcher,
        resource: Any,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Any = DEFAULT,
        indexers: Mapping[str, IndexFunc] | None = None,
        registry: CollectorRegistry | None = None,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        watchdog_margin: float = DEFAULT_WATCHDOG_MARGIN,
        page_size: int = 500,
        min_watch_timeout: int = 300,
        backoff: Backoff | None = None,
        slow_handler_seconds: float = SLOW_HANDLER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        if transform is DEFAULT:
            transform = default_transform()
        self.transform: Transform | None = transform
        self.watchdog_timeout = bookmark_interval + watchdog_margin
        self.slow_handler_seconds = slow_handler_seconds
        self._clock = clock
        self.store = Store({NAMESPACE_INDEX: by_namespace})
        if indexers:
            self.store.add_indexers(indexers)
        self.reflector = Reflector(
            client,
            resource,
            self,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            transform=self.transform,
            page_size=page_size,
            min_watch_timeout=min_watch_timeout,
            idle_timeout=self.watchdog_timeout,
            backoff=backoff,
            clock=clock,
            rng=rng,
        )
        self._registrations: list[HandlerRegistration] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopped = False
        self._started_at: float | None = None
        self.last_event_at = clock()
        self.watchdog_restarts = 0
        self.reflector_restarts = 0
        self._collector: InformerCollector = collector_for(registry)
        self._collector.attach(self)

    # ---------------------------------------------------------------- identity

    @property
    def name(self) -> str:
        return self.reflector.name

    @property
    def metric_labels(self) -> tuple[str, str]:
        return (self.resource.label, self.namespace or "")

    def metric_counts(self) -> tuple[int, int, int, int]:
        r = self.reflector
        return (len(self.store), r.relists_after_gone, self.watchdog_restarts, r.watch_failures)

    def __repr__(self) -> str:
        return f"<SharedInformer {self.name} objects={len(self.store)} synced={self.has_synced()}>"

    # ---------------------------------------------------------------- handlers

    def add_event_handler(
        self,
        on_add: AddFunc | None = None,
        on_update: UpdateFunc | None = None,
        on_delete: DeleteFunc | None = None,
        *,
        name: str = "",
    ) -> HandlerRegistration:
        """Register synchronous handlers; existing cached objects are replayed as adds."""
        reg = HandlerRegistration(
            self, on_add, on_update, on_delete, name=name, slow_seconds=self.slow_handler_seconds
        )
        self._registrations.append(reg)
        if on_add is not None and len(self.store):
            for obj in self.store.list():
                reg.add(obj)
        return reg

    def _remove_registration(self, reg: HandlerRegistration) -> None:
        with contextlib.suppress(ValueError):
            self._registrations.remove(reg)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add secondary indexes (allowed at any time; existing objects are indexed)."""
        self.store.add_indexers(indexers)

    # ---------------------------------------------------------------- sink (reflector)

    def touch(self) -> None:
        self.last_event_at = self._clock()

    def replace(self, objs: list[Obj], resource_version: str) -> None:
        self.last_event_at = self._clock()
        old = self.store.replace(objs)
        regs = list(self._registrations)
        if regs:
            new_items = self.store.items()
            for key, obj in new_items:
                before = old.pop(key, None)
                if before is None:
                    for reg in regs:
                        reg.add(obj)
                elif _rv(before) != _rv(obj):
                    for reg in regs:
                        reg.update(before, obj)
            for key, gone in old.items():
                tombstone = DeletedFinalStateUnknown(key, gone)
                for reg in regs:
                    reg.delete(tombstone)
        if not self._synced.is_set():
            log.info(
                "informer %s synced: %d objects at resourceVersion %s",
                self.name,
                len(self.store),
                resource_version,
            )
        self._synced.set()

    def apply(self, event_type: str, obj: Obj) -> None:
        self.last_event_at = self._clock()
        regs = self._registrations
        if event_type == "DELETED":
            # The event carries the final state (newer than the cached one): hand that out.
            self.store.delete(obj)
            for reg in list(regs):
                reg.delete(obj)
            return
        old = self.store.upsert(obj)
        if old is None:
            for reg in list(regs):
                reg.add(obj)
        else:
            for reg in list(regs):
                reg.update(old, obj)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start listing and watching (idempotent). Needs a running event loop."""
        if self._task is not None or self._stopped:
            return
        self._started_at = self._clock()
        self.last_event_at = self._clock()
        self._task = asyncio.create_task(self._supervise(), name=f"informer {self.name}")
        self._watchdog = asyncio.create_task(self._watch_dog(), name=f"watchdog {self.name}")

    @property
    def started(self) -> bool:
        return self._task is not None

    async def stop(self) -> None:
        """Stop the reflector and the watchdog; the cache keeps its last content."""
        self._stopped = True
        tasks = [t for t in (self._task, self._watchdog) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._collector.detach(self)

    async def _supervise(self) -> None:
        """Run the reflector; if it ever dies of a bug, log it and start it again."""
        backoff = Backoff(clock=self._clock)
        while True:
            try:
                await self.reflector.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.reflector_restarts += 1
                delay = backoff.next_delay()
                log.exception("informer %s: reflector died; restarting in %.2fs", self.name, delay)
                await asyncio.sleep(delay)

    async def _watch_dog(self) -> None:
        interval = max(0.05, min(5.0, self.watchdog_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            r = self.reflector
            if r.state is not ReflectorState.WATCHING:
                continue
            silent = self._clock() - max(self.last_event_at, r.watch_started_at)
            if silent > self.watchdog_timeout and r.restart_watch():
                self.watchdog_restarts += 1
                log.warning(
                    "informer %s: watch silent for %.1fs (> %.1fs); restarting it from %s",
                    self.name,
                    silent,
                    self.watchdog_timeout,
                    r.last_resource_version,
                )

    # ---------------------------------------------------------------- status

    def has_synced(self) -> bool:
        """True once the first full LIST is in the cache (and handlers saw it)."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until synced; False if `timeout` seconds pass first."""
        if self._synced.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    @property
    def resource_version(self) -> str | None:
        """The newest resourceVersion the cache reflects."""
        return self.reflector.last_resource_version

    def last_event_age(self) -> float:
        """Seconds since the last list page, event or bookmark."""
        return max(0.0, self._clock() - self.last_event_at)

    def stalled_for(self) -> float:
        """0 while the informer heard from the server within `watchdog_timeout`; otherwise
        the seconds since it last did."""
        age = self.last_event_age()
        return age if age > self.watchdog_timeout else 0.0

    def alive(self) -> bool:
        """Started, not stopped, and the supervisor task still running."""
        return self._task is not None and not self._task.done() and not self._stopped

    def healthy(self, max_stall: float | None = None) -> bool:
        """Alive and not stalled past `max_stall` (default: twice the watchdog timeout, i.e.
        the watchdog's restart did not bring the stream back)."""
        bound = max_stall if max_stall is not None else 2 * self.watchdog_timeout
        return self.alive() and self.stalled_for() <= bound

    def status(self) -> dict[str, Any]:
        """A summary for /healthz bodies and logs."""
        r = self.reflector
        return {
            "informer": self.name,
            "alive": self.alive(),
            "synced": self.has_synced(),
            "state": r.state.value,
            "objects": len(self.store),
            "resourceVersion": r.last_resource_version,
            "lastEventAgeSeconds": round(self.last_event_age(), 3),
            "stalledForSeconds": round(self.stalled_for(), 3),
            "relists": r.relists_after_gone,
            "watchFailures": r.watch_failures,
            "watchdogRestarts": self.watchdog_restarts,
            "lastError": r.last_error,
        }
