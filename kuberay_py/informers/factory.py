"""One informer per (resource, namespace, label selector, field selector, transform).

Every controller in a process asks the factory, and every caller asking for the same
key gets the same `SharedInformer`, so one LIST and one WATCH serve them all
(kubernetes#14978 was three identical Pod lists from one binary). Selectors are part
of the key from day one: a narrow informer is the cure for cache memory blow-ups.

Informers created after `start()` start at once. Nothing creates an informer
implicitly from a read: ask the factory explicitly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from kuberay_py.informers.informer import (
    DEFAULT,
    DEFAULT_BOOKMARK_INTERVAL,
    DEFAULT_WATCHDOG_MARGIN,
    SharedInformer,
)
from kuberay_py.informers.reflector import ListWatcher
from kuberay_py.informers.store import IndexFunc
from kuberay_py.informers.transforms import Transform
from kuberay_py.informers.transforms import default_transform as _default_transform
from kuberay_py.kube import Resource

__all__ = ["DEFAULT_TRANSFORM", "InformerKey", "SharedInformerFactory"]

log = logging.getLogger("kuberay_py.informers")


DEFAULT_TRANSFORM: Any = DEFAULT
"""Sentinel for `transform=`: the factory's default transform (one instance shared by the
factory's informers, so they share one deduplication table)."""

InformerKey = tuple[Resource, str | None, str | None, str | None, Transform | None]


class SharedInformerFactory:
    """Hands out shared informers and starts, syncs, checks and stops them together."""

    def __init__(
        self,
        client: ListWatcher,
        *,
        registry: CollectorRegistry | None = None,
        default_transform: Any = DEFAULT,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        watchdog_margin: float = DEFAULT_WATCHDOG_MARGIN,
        page_size: int = 500,
        **informer_options: Any,
    ) -> None:
        self.client = client
        self.registry = registry
        self.default_transform: Transform | None = (
            _default_transform() if default_transform is DEFAULT else default_transform
        )
        self.bookmark_interval = bookmark_interval
        self.watchdog_margin = watchdog_margin
        self.page_size = page_size
        self._options = informer_options
        self._informers: dict[InformerKey, SharedInformer] = {}
        self._started = False

    def informer(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = DEFAULT_TRANSFORM,
        indexers: Mapping[str, IndexFunc] | None = None,
    ) -> SharedInformer:
        """The shared informer for this key (created on first request).

        `namespace=None` watches all namespaces. `transform=None` caches objects as
        received. `indexers` are added to the (possibly existing) informer.
        """
        fn = self.default_transform if transform is DEFAULT_TRANSFORM else transform
        key: InformerKey = (
            resource,
            namespace or None,
            label_selector or None,
            field_selector or None,
            fn,
        )
        informer = self._informers.get(key)
        if informer is None:
            informer = SharedInformer(
                self.client,
                resource,
                namespace=key[1],
                label_selector=key[2],
                field_selector=key[3],
                transform=fn,
                registry=self.registry,
                bookmark_interval=self.bookmark_interval,
                watchdog_margin=self.watchdog_margin,
                page_size=self.page_size,
                **self._options,
            )
            self._informers[key] = informer
            if self._started:
                informer.start()
        if indexers:
            informer.add_indexers(indexers)
        return informer

    def informers(self) -> list[SharedInformer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer not yet started (and, from now on, new ones at creation)."""
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(i.stop() for i in self._informers.values()))

    async def wait_for_cache_sync(
        self,
        timeout: float | None = 120.0,
        *,
        log_every: float = 5.0,
    ) -> bool:
        """Wait until every informer synced; False (and a log of the laggards) on timeout.

        Logs progress every `log_every` seconds: objects listed so far and the rate, so a
        slow start on a big cluster is visibly progressing rather than silently stuck.
        """
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        next_log = started + log_every
        while True:
            pending = [i for i in self._informers.values() if not i.has_synced()]
            if not pending:
                return True
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                log.error(
                    "caches not synced after %.1fs: %s",
                    now - started,
                    ", ".join(f"{i.name} ({i.reflector.listed_so_far} listed)" for i in pending),
                )
                return False
            if now >= next_log:
                next_log = now + log_every
                for i in pending:
                    listed = i.reflector.listed_so_far
                    log.info(
                        "waiting for cache sync of %s: %d objects listed (%.0f/s), state %s",
                        i.name,
                        listed,
                        listed / max(now - started, 1e-9),
                        i.reflector.state.value,
                    )
            # client-go polls every 100 ms too (syncedPollPeriod).
            await asyncio.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - now)))

    def healthy(self, max_stall: float | None = None) -> bool:
        """True when every started informer is alive and not stalled past `max_stall`."""
        return all(i.healthy(max_stall) for i in self._informers.values() if i.started)

    def unhealthy(self, max_stall: float | None = None) -> list[dict[str, Any]]:
        """Status of each started informer that is dead or stalled (for /healthz bodies)."""
        return [
            i.status() for i in self._informers.values() if i.started and not i.healthy(max_stall)
        ]
