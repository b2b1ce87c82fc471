"""The reflector: LIST, then WATCH from the list's resourceVersion, forever.

Client-go's `Reflector.ListAndWatch` semantics, as an explicit state machine:

- LISTING: a paged LIST (500 per page). The first one asks for resourceVersion "0" (an
  apiserver serves it from its watch cache); after a 410 it asks for "" (a quorum
  read); otherwise for the last resourceVersion seen. Items are transformed page by
  page, and the store is replaced in one step at the end.
- WATCHING: a watch from the last resourceVersion with bookmarks, a server
  `timeoutSeconds` drawn from [300, 600) so streams are recycled, and a client idle
  timeout so a silently dead stream is noticed. Every event and bookmark moves the
  resourceVersion on, so a stream that ends is resumed where it stopped, not relisted.
- On 410 Gone (at the call or as an in-stream ERROR): relist, once at once; if it
  happens again without progress in between, after a backoff.
- On 429, 5xx, connection errors and idle timeouts: back off, then re-watch from the
  same resourceVersion WITHOUT relisting (client-go does the same: a relist of a big
  resource is what an overloaded apiserver needs least).
- Other API errors (403 after an RBAC change, 404 when a CRD is deleted): back off and
  relist.
- A watch that closes within `short_watch_seconds` having delivered nothing counts as
  a failure (client-go's guard against hot reconnect loops).

Backoff: 800 ms doubling to 30 s, jittered, reset after 2 minutes without failure.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from kuberay_py.informers.backoff import Backoff
from kuberay_py.informers.transforms import Transform
from kuberay_py.kube import (
    ApiError,
    ConnectionFailure,
    Gone,
    KubeError,
    Resource,
    ServerError,
    TooManyRequests,
    WatchEvent,
    gc_paused,
)

__all__ = [
    "ListWatcher",
    "Reflector",
    "ReflectorSink",
    "ReflectorState",
    "WatchLike",
]

log = logging.getLogger("kuberay_py.informers")

Obj = dict[str, Any]

MIN_WATCH_TIMEOUT = 300
SHORT_WATCH_SECONDS = 1.0
SLOW_LIST_SECONDS = 10.0


class ReflectorState(enum.Enum):
    IDLE = "idle"
    LISTING = "listing"
    WATCHING = "watching"
    BACKING_OFF = "backing-off"
    STOPPED = "stopped"


class WatchLike(Protocol):
    """What the reflector needs from a watch stream (kube.WatchStream satisfies it)."""

    resource_version: str | None

    def __aiter__(self) -> AsyncIterator[WatchEvent]: ...

    def close(self) -> None: ...


class ListWatcher(Protocol):
    """The two client calls a reflector makes (kube.KubeClient satisfies it)."""

    def list_pages(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        page_size: int = ...,
        label_selector: str | None = ...,
        field_selector: str | None = ...,
        resource_version: str | None = ...,
    ) -> AsyncIterator[Obj]: ...

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = ...,
        label_selector: str | None = ...,
        field_selector: str | None = ...,
        allow_watch_bookmarks: bool = ...,
        timeout_seconds: int | None = ...,
        idle_timeout: float | None = ...,
    ) -> Any: ...


class ReflectorSink(Protocol):
    """Where a reflector delivers what it learns (the informer)."""

    def touch(self) -> None:
        """A sign of life: a list page, an event or a bookmark arrived."""

    def replace(self, objs: list[Obj], resource_version: str) -> None:
        """A full LIST finished: this is the complete state at `resource_version`."""

    def apply(self, event_type: str, obj: Obj) -> None:
        """One ADDED / MODIFIED / DELETED watch event (already transformed)."""


class Reflector:
    """Keeps a sink in step with the API server for one resource + namespace + selectors."""

    def __init__(
        self,
        client: ListWatcher,
        resource: Resource,
        sink: ReflectorSink,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = None,
        page_size: int = 500,
        min_watch_timeout: int = MIN_WATCH_TIMEOUT,
        idle_timeout: float | None = 90.0,
        short_watch_seconds: float = SHORT_WATCH_SECONDS,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.resource = resource
        self.sink = sink
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.transform = transform
        self.page_size = page_size
        self.min_watch_timeout = min_watch_timeout
        self.idle_timeout = idle_timeout
        self.short_watch_seconds = short_watch_seconds
        self._clock = clock
        self._rng = rng or random.Random()
        self.backoff = backoff or Backoff(clock=clock, rng=self._rng)
        self._sleep = sleep
        self.state = ReflectorState.IDLE
        self.last_resource_version: str | None = None
        self.watch_started_at: float = clock()
        self._stream: WatchLike | None = None
        self._restart_requested = False
        # Counters, for tests, logs and metrics.
        self.lists = 0
        self.relists_after_gone = 0
        self.watches = 0
        self.watch_failures = 0
        self.listed_so_far = 0
        self.last_error: str | None = None

    @property
    def name(self) -> str:
        where = self.namespace or "*"
        sel = f" {self.label_selector}" if self.label_selector else ""
        return f"{self.resource.label}/{where}{sel}"

    def restart_watch(self) -> bool:
        """Close the current watch stream (the watchdog's lever); it resumes from the last RV."""
        stream = self._stream
        if stream is None:
            return False
        self._restart_requested = True
        stream.close()
        return True

    async def run(self) -> None:
        """List and watch until cancelled. Never returns normally."""
        list_rv = self.last_resource_version or "0"
        need_list = True
        gone_in_a_row = 0
        try:
            while True:
                if need_list:
                    try:
                        await self._list(list_rv)
                    except Gone as exc:
                        # The snapshot (or a continue token) expired: quorum read now.
                        if list_rv == "":
                            await self._back_off("list", exc)
                        list_rv = ""
                        continue
                    except KubeError as exc:
                        await self._back_off("list", exc)
                        continue
                    need_list = False
                try:
                    events, duration, restarted = await self._watch_once()
                except Gone as exc:
                    self.relists_after_gone += 1
                    gone_in_a_row += 1
                    log.info("%s: watch expired (%s); relisting", self.name, exc.message or exc)
                    if gone_in_a_row > 1:
                        await self._back_off("watch", exc)
                    need_list, list_rv = True, ""
                    continue
                except (TooManyRequests, ServerError, ConnectionFailure) as exc:
                    await self._back_off("watch", exc)
                    continue
                except ApiError as exc:
                    await self._back_off("watch", exc)
                    need_list, list_rv = True, self.last_resource_version or ""
                    continue
                if events:
                    gone_in_a_row = 0
                if events == 0 and duration < self.short_watch_seconds and not restarted:
                    await self._back_off("watch", "closed at once with no events")
        finally:
            self.state = ReflectorState.STOPPED
            stream, self._stream = self._stream, None
            if stream is not None:
                stream.close()

    async def _back_off(self, what: str, why: object) -> None:
        delay = self.backoff.next_delay()
        self.watch_failures += what == "watch"
        self.last_error = f"{what}: {why}"
        log.warning("%s: %s failed (%s); retrying in %.2fs", self.name, what, why, delay)
        self.state = ReflectorState.BACKING_OFF
        await self._sleep(delay)

    async def _list(self, resource_version: str) -> None:
        self.state = ReflectorState.LISTING
        started = self._clock()
        self.listed_so_far = 0
        items: list[Obj] = []
        transform = self.transform
        rv = ""
        api_version = self.resource.api_version
        kind = self.resource.kind
        async for page in self.client.list_pages(
            self.resource,
            self.namespace,
            page_size=self.page_size,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            resource_version=resource_version,
        ):
            with gc_paused():  # acyclic JSON: collections here find nothing (see kube)
                for obj in page.get("items") or ():
                    # List items carry no TypeMeta; watch events do. Make them alike.
                    if "kind" not in obj:
                        obj["apiVersion"] = api_version
                        obj["kind"] = kind
                    items.append(transform(obj) if transform is not None else obj)
            rv = str((page.get("metadata") or {}).get("resourceVersion") or rv)
            self.listed_so_far = len(items)
            self.sink.touch()
        self.lists += 1
        elapsed = self._clock() - started
        if elapsed > SLOW_LIST_SECONDS:
            log.warning("%s: listing %d objects took %.1fs", self.name, len(items), elapsed)
        with gc_paused():
            self.sink.replace(items, rv)
        self.last_resource_version = rv

    async def _watch_once(self) -> tuple[int, float, bool]:
        """One watch request; returns (events seen, seconds it lasted, closed by watchdog)."""
        timeout_seconds = int(self.min_watch_timeout * (1.0 + self._rng.random()))
        stream: WatchLike = self.client.watch(
            self.resource,
            self.namespace,
            resource_version=self.last_resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            idle_timeout=self.idle_timeout,
        )
        self._stream = stream
        self._restart_requested = False
        self.state = ReflectorState.WATCHING
        self.watch_started_at = started = self._clock()
        self.watches += 1
        events = 0
        transform = self.transform
        sink = self.sink
        try:
            async for event_type, obj in stream:
                events += 1
                if event_type == "BOOKMARK":
                    sink.touch()
                elif event_type in ("ADDED", "MODIFIED", "DELETED"):
                    sink.apply(event_type, transform(obj) if transform is not None else obj)
                else:
                    log.warning("%s: ignoring watch event of type %r", self.name, event_type)
                if stream.resource_version:
                    self.last_resource_version = stream.resource_version
        finally:
            stream.close()
            self._stream = None
        return events, self._clock() - started, self._restart_requested
