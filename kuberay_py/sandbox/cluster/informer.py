"""A local cache of one resource type, fed by a registry list+watch, plus loop plumbing.

Every in-process controller of the sandbox (scheduler, kubelets, garbage
collector, Job and namespace controllers) needs the same three things a
client-go controller has: a cache it can read without calling the registry, a
de-duplicating queue of keys to work on, and a loop that never dies silently.
They live here so that each controller is only its own logic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI
from kuberay_py.sandbox.registry.types import ListOptions, WatchOptions

log = structlog.get_logger("sandbox.cluster")

ObjKey = tuple[str, str]  # (namespace or "", name)
# Called with (old, new): old None on add, new None on delete.
Handler = Callable[[dict[str, Any] | None, dict[str, Any] | None], None]

K = TypeVar("K", bound=Hashable)


def obj_key(obj: dict[str, Any]) -> ObjKey:
    meta = obj.get("metadata", {})
    return (meta.get("namespace") or "", meta.get("name", ""))


def _rv(obj: dict[str, Any] | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


async def supervise(
    name: str,
    loop: Callable[[], Awaitable[None]],
    clock: SandboxClock,
    *,
    initial_backoff: float = 1.0,
    max_backoff: float = 30.0,
) -> None:
    """Run `loop` until cancelled; log and restart it (with scaled backoff) when it fails.

    A controller whose loop dies would leave the sandbox quietly broken, which is
    worse than a noisy one: every failure is logged and the loop comes back.
    """
    backoff = initial_backoff
    while True:
        started = clock.monotonic()
        try:
            await loop()
            log.warning("controller loop returned; restarting", loop=name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("controller loop crashed; restarting", loop=name, backoff=backoff)
        if clock.monotonic() - started > clock.scaled(max_backoff * 2):
            backoff = initial_backoff
        await clock.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


class KeyQueue(Generic[K]):
    """A de-duplicating FIFO of keys with delayed adds (client-go's workqueue, minus rate limits).

    A key added while already queued is queued once; `add_after` keeps only the
    earliest pending timer per key. Consumers take keys with `await get()`.
    """

    def __init__(self) -> None:
        self._queued: dict[K, None] = {}
        self._wakeup = asyncio.Event()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}

    def add(self, key: K) -> None:
        if key not in self._queued:
            self._queued[key] = None
            self._wakeup.set()

    def add_after(self, key: K, real_seconds: float) -> None:
        """Queue `key` after `real_seconds` (already scaled by the caller)."""
        if real_seconds <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + real_seconds
        existing = self._timers.get(key)
        if existing is not None:
            if existing[0] <= due:
                return
            existing[1].cancel()
        handle = loop.call_later(real_seconds, self._fire, key)
        self._timers[key] = (due, handle)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> K:
        while not self._queued:
            self._wakeup.clear()
            await self._wakeup.wait()
        key = next(iter(self._queued))
        del self._queued[key]
        return key

    def __len__(self) -> int:
        return len(self._queued)

    def close(self) -> None:
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


class Informer:
    """Keeps `cache` equal to the registry's objects of one type, calling handlers on changes.

    It lists, then watches from the list's resourceVersion; when a watch ends (closed,
    dropped by fault injection, 410 after compaction) it lists again and reports the
    difference as add/update/delete, so handlers never miss a deletion.
    """

    def __init__(
        self,
        registry: RegistryAPI,
        rt: ResourceType,
        clock: SandboxClock,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        name: str = "",
    ) -> None:
        self.registry = registry
        self.rt = rt
        self.clock = clock
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.name = name or rt.resource
        self.cache: dict[ObjKey, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._handlers: list[Handler] = []

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.cache.get((namespace or "", name))

    def items(self) -> list[dict[str, Any]]:
        return list(self.cache.values())

    def assume(self, obj: dict[str, Any]) -> None:
        """Put an object this process just wrote into the cache before its watch event arrives.

        Controllers that create or update and then decide again from the cache would
        otherwise act twice on a stale view (client-go controllers use expectations).
        """
        key = obj_key(obj)
        old = self.cache.get(key)
        if old is not None and _rv(old) > _rv(obj):
            return
        self.cache[key] = obj
        self._notify(old, obj)

    def forget(self, obj: dict[str, Any]) -> None:
        """Drop an object this process just deleted for good."""
        old = self.cache.pop(obj_key(obj), None)
        if old is not None:
            self._notify(old, None)

    def _notify(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for handler in self._handlers:
            try:
                handler(old, new)
            except Exception:
                log.exception("informer handler failed", informer=self.name)

    def _replace(self, items: list[dict[str, Any]]) -> None:
        fresh = {obj_key(o): o for o in items}
        for key in [k for k in self.cache if k not in fresh]:
            self._notify(self.cache.pop(key), None)
        for key, obj in fresh.items():
            old = self.cache.get(key)
            if old is not None and _rv(old) == _rv(obj):
                continue
            self.cache[key] = obj
            self._notify(old, obj)

    def _apply(self, event_type: str, obj: dict[str, Any]) -> None:
        key = obj_key(obj)
        if event_type == "DELETED":
            old = self.cache.get(key)
            if old is not None and old.get("metadata", {}).get("uid") != obj.get(
                "metadata", {}
            ).get("uid"):
                return  # the deleted object was already replaced by a newer one of that name
            self.cache.pop(key, None)
            self._notify(old or obj, None)
            return
        old = self.cache.get(key)
        if old is not None and _rv(old) >= _rv(obj):
            return
        self.cache[key] = obj
        self._notify(old, obj)

    async def _list_and_watch(self) -> None:
        result = self.registry.list(
            self.rt,
            self.namespace,
            ListOptions(label_selector=self.label_selector, field_selector=self.field_selector),
        )
        self._replace(result.items)
        self.synced.set()
        watch = self.registry.watch(
            self.rt,
            self.namespace,
            WatchOptions(
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                resource_version=str(result.resource_version),
                allow_bookmarks=True,
            ),
        )
        try:
            async for event in watch:
                if event.type in ("ADDED", "MODIFIED", "DELETED"):
                    self._apply(event.type, event.object)
                elif event.type == "ERROR":
                    log.info("watch error; relisting", informer=self.name, status=event.object)
                    return
        finally:
            watch.close()

    async def run(self) -> None:
        """List and watch until cancelled; re-list at once after a watch ends or expires."""
        failures = 0
        while True:
            try:
                await self._list_and_watch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except StatusError as exc:
                failures += 1
                if exc.code != 410:
                    log.warning("informer watch failed", informer=self.name, error=exc.message)
            except Exception:
                failures += 1
                log.exception("informer crashed", informer=self.name)
            if failures:
                await self.clock.sleep(min(0.2 * 2 ** min(failures, 8), 30.0))
            else:
                await asyncio.sleep(0)
