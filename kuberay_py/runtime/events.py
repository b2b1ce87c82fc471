"""An event recorder for events.k8s.io/v1 Events, aggregating repeats into a series.

A controller that fails the same way on every retry would otherwise write one Event per
attempt. Like client-go's `tools/events` and kube-rs's `Recorder`, the first occurrence
of an (object, type, reason, action, note) creates an Event; later occurrences patch
that Event's `series` (`count`, `lastObservedTime`) instead of creating new ones. The
series cache is an LRU (4096 entries, client-go's size) whose entries expire after 6
minutes (kube-rs's TTL), after which a fresh Event starts a new series.

Recording is best effort: an API error is logged, never raised into the reconciler.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import attrs
import structlog

from kuberay_py.kube import EVENTS_V1, KubeError, NotFound, Resource
from kuberay_py.runtime.leader_election import micro_time

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_SERIES_TTL",
    "MAX_NOTE_LENGTH",
    "EventClient",
    "EventRecorder",
    "object_reference",
]

DEFAULT_CACHE_SIZE = 4096  # client-go events_cache.go maxLruCacheEntries
DEFAULT_SERIES_TTL = 360.0  # kube-rs events.rs: series cache entries live 6 minutes
MAX_NOTE_LENGTH = 1024  # the API server rejects longer notes (a limit in UTF-8 bytes)

log = structlog.get_logger("kuberay_py.runtime.events")

EventType = Literal["Normal", "Warning"]


class EventClient(Protocol):
    """The two calls the recorder makes (kuberay_py.kube.KubeClient satisfies it)."""

    async def create(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: Any = ...,
    ) -> dict[str, Any]: ...


def object_reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """An ObjectReference to `obj` (apiVersion, kind, namespace, name, uid, resourceVersion)."""
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": str(obj.get("apiVersion") or ""),
        "kind": str(obj.get("kind") or ""),
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
        "uid": str(meta.get("uid") or ""),
        "resourceVersion": str(meta.get("resourceVersion") or ""),
    }
    return {k: v for k, v in ref.items() if v}


def _truncate_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, never inside a character (the API
    server counts the note's bytes, not its characters)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


@attrs.define
class _Series:
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    name: str | None = None
    namespace: str = ""
    count: int = 0
    last_seen: float = 0.0


class EventRecorder:
    """Publishes Events as `reporting_controller` / `reporting_instance`."""

    def __init__(
        self,
        client: EventClient,
        reporting_controller: str,
        reporting_instance: str,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        series_ttl: float = DEFAULT_SERIES_TTL,
        clock: Callable[[], float] = time.monotonic,
        resource: Resource = EVENTS_V1,
    ) -> None:
        self.client = client
        self.reporting_controller = reporting_controller
        self.reporting_instance = reporting_instance
        self.cache_size = cache_size
        self.series_ttl = series_ttl
        self._clock = clock
        self._resource = resource
        self._series: OrderedDict[tuple[Any, ...], _Series] = OrderedDict()
        self.created = 0
        self.patched = 0
        self.failed = 0

    def _entry(self, key: tuple[Any, ...]) -> _Series:
        entry = self._series.get(key)
        if entry is None:
            entry = _Series()
            self._series[key] = entry
            while len(self._series) > self.cache_size:
                self._series.popitem(last=False)
        else:
            self._series.move_to_end(key)
        return entry

    async def publish(
        self,
        regarding: Mapping[str, Any],
        *,
        reason: str,
        note: str,
        action: str,
        type: EventType = "Normal",
        related: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Record one occurrence; returns the Event as the server stored it (None on error).

        `regarding` is the object (or an ObjectReference) the event is about.
        """
        ref = object_reference(regarding) if "metadata" in regarding else dict(regarding)
        note = _truncate_utf8(note, MAX_NOTE_LENGTH)
        key = (
            ref.get("apiVersion"),
            ref.get("kind"),
            ref.get("namespace"),
            ref.get("name"),
            ref.get("uid"),
            type,
            reason,
            action,
            note,
        )
        entry = self._entry(key)
        async with entry.lock:
            now = self._clock()
            stamp = micro_time()
            try:
                if entry.name and now - entry.last_seen <= self.series_ttl:
                    try:
                        result = await self._bump(entry, stamp)
                        entry.last_seen = now
                        return result
                    except NotFound:
                        entry.name = None  # the Event expired: start a new series
                result = await self._create(ref, type, reason, note, action, related, stamp)
            except KubeError as exc:
                self.failed += 1
                log.warning(
                    "could not record event",
                    reason=reason,
                    regarding=f"{ref.get('namespace', '')}/{ref.get('name', '')}",
                    error=str(exc),
                )
                return None
            meta = result.get("metadata") or {}
            entry.name = str(meta.get("name") or "")
            entry.namespace = str(meta.get("namespace") or "")
            entry.count = 1
            entry.last_seen = now
            return result

    async def _bump(self, entry: _Series, stamp: str) -> dict[str, Any]:
        assert entry.name is not None
        count = entry.count + 1
        patch = {"series": {"count": count, "lastObservedTime": stamp}}
        result = await self.client.patch(
            self._resource, entry.name, patch, entry.namespace, patch_type="merge"
        )
        entry.count = count
        self.patched += 1
        return result

    async def _create(
        self,
        ref: dict[str, Any],
        type_: str,
        reason: str,
        note: str,
        action: str,
        related: Mapping[str, Any] | None,
        stamp: str,
    ) -> dict[str, Any]:
        namespace = ref.get("namespace") or "default"
        when = datetime.datetime.now(datetime.UTC)
        event: dict[str, Any] = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": f"{ref.get('name') or 'event'}.{int(when.timestamp() * 1e9):x}",
                "namespace": namespace,
            },
            "eventTime": stamp,
            "regarding": ref,
            "reason": reason,
            "note": note,
            "type": type_,
            "action": action,
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
        }
        if related is not None:
            event["related"] = object_reference(related) if "metadata" in related else dict(related)
        result = await self.client.create(self._resource, event, namespace)
        self.created += 1
        return result
