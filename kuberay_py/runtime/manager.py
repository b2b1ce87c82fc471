"""The manager: shared caches, controllers, probes, metrics and leader election, in order.

    mgr = Manager(client, namespaces=["team-a"], leader_election=LeaderElectionConfig("my-op"))
    ControllerBuilder(mgr).for_(CONFIGMAPS).complete(MyReconciler(mgr))
    await mgr.run()          # until SIGTERM/SIGINT or mgr.stop(); raises on a lost lease

`run()` does, in order (controller-runtime's manager lifecycle):

1. start `/healthz`, `/readyz`, `/metrics` (liveness must answer even on a standby);
2. with leader election: optionally start informers early (`warm_standby`), then wait
   until this replica holds the Lease. A standby reconciles nothing;
3. start the informers and wait for every cache to sync (`cache_sync_timeout`, with
   progress logs; raises CacheSyncTimeout), then report ready;
4. start every controller's workers and every added runnable;
5. wait for a stop request (signal or `stop()`), a lost Lease, or a runnable's crash.

Stopping is graceful: controllers take no new keys and in-flight reconciles get
`graceful_shutdown_timeout` (30 s) to finish, then the Lease is released (a standby
takes over within about one retry period), then informers and servers stop. A lost
Lease instead stops the controllers at once and makes `run()` raise
LeaderElectionLost, so the process exits non-zero and is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

import structlog
from prometheus_client import REGISTRY, CollectorRegistry

from kuberay_py.informers import SharedInformer, SharedInformerFactory
from kuberay_py.informers.reflector import ListWatcher
from kuberay_py.kube import Resource
from kuberay_py.runtime.cache import Cache
from kuberay_py.runtime.controller import Controller
from kuberay_py.runtime.events import EventClient, EventRecorder
from kuberay_py.runtime.health import HealthServer
from kuberay_py.runtime.leader_election import (
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
    LeaseClient,
    default_identity,
)

__all__ = ["CacheSyncTimeout", "Manager", "ManagerClient"]

DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT = 30.0  # controller-runtime defaultGracefulShutdownPeriod
DEFAULT_CACHE_SYNC_TIMEOUT = 120.0  # controller-runtime CacheSyncTimeout

log = structlog.get_logger("kuberay_py.runtime.manager")


class CacheSyncTimeout(Exception):
    """The informer caches did not sync within `cache_sync_timeout`."""


class ManagerClient(ListWatcher, LeaseClient, EventClient, Protocol):
    """Everything the manager's parts call (kuberay_py.kube.KubeClient satisfies it)."""


Runnable = Callable[[], Coroutine[Any, Any, None]]


class Manager:
    """Owns the informer factory, the controllers, the endpoints and the Lease."""

    def __init__(
        self,
        client: ManagerClient,
        *,
        namespaces: Sequence[str] | None = None,
        registry: CollectorRegistry | None = None,
        health_address: str | None = "127.0.0.1:8081",
        metrics_address: str | None = "127.0.0.1:8080",
        leader_election: LeaderElectionConfig | None = None,
        warm_standby: bool = False,
        cache_sync_timeout: float = DEFAULT_CACHE_SYNC_TIMEOUT,
        graceful_shutdown_timeout: float = DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT,
        max_informer_stall: float | None = None,
        factory: SharedInformerFactory | None = None,
        identity: str | None = None,
        **informer_options: Any,
    ) -> None:
        """`namespaces=None` watches all namespaces; a list gives one informer per
        namespace per resource. `registry` defaults to prometheus_client's global one.
        `max_informer_stall` bounds how long an informer may be silent before /healthz
        fails (default: the informers' own bound, twice the watchdog timeout).
        `informer_options` go to the SharedInformerFactory."""
        self.client = client
        self.namespaces = list(namespaces) if namespaces else None
        self.registry: CollectorRegistry | None = registry
        self._metrics_registry = registry if registry is not None else REGISTRY
        self.factory = factory or SharedInformerFactory(
            client, registry=registry, **informer_options
        )
        self.cache = Cache(self.factory.informers)
        self.leader_election = leader_election
        self.identity = identity or (
            leader_election.identity if leader_election else default_identity()
        )
        self.warm_standby = warm_standby
        self.cache_sync_timeout = cache_sync_timeout
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        self.max_informer_stall = max_informer_stall
        self.controllers: list[Controller] = []
        self._runnables: list[tuple[str, Runnable]] = []
        self._runnable_tasks: list[asyncio.Task[None]] = []
        self.elector: LeaderElector | None = (
            LeaderElector(client, leader_election, registry=self._metrics_registry)
            if leader_election
            else None
        )
        self.server = HealthServer(
            registry=self._metrics_registry,
            liveness=self._liveness,
            readiness=self._readiness,
            health_address=health_address,
            metrics_address=metrics_address,
        )
        self.synced = asyncio.Event()
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self._running = False

    # ---------------------------------------------------------------- wiring

    def informers_for(
        self,
        resource: Resource,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[SharedInformer]:
        """The shared informers covering `resource` in the manager's namespaces."""
        if not resource.namespaced or self.namespaces is None:
            scopes: list[str | None] = [None]
        else:
            scopes = list(self.namespaces)
        return [
            self.factory.informer(
                resource, ns, label_selector=label_selector, field_selector=field_selector
            )
            for ns in scopes
        ]

    def add_controller(self, controller: Controller) -> None:
        if any(c.name == controller.name for c in self.controllers):
            raise ValueError(f"a controller named {controller.name!r} already exists")
        self.controllers.append(controller)
        if self.started.is_set():
            controller.start()

    def add_runnable(self, fn: Runnable, *, name: str = "") -> None:
        """A coroutine function run (as the leader, after cache sync) until stop; if it
        raises, the manager stops and `run()` re-raises."""
        self._runnables.append((name or getattr(fn, "__qualname__", "runnable"), fn))

    def event_recorder(self, reporting_controller: str) -> EventRecorder:
        """An events.k8s.io/v1 recorder reporting as `reporting_controller` from this
        replica (reportingInstance = the manager's identity)."""
        return EventRecorder(self.client, reporting_controller, self.identity)

    @property
    def health_port(self) -> int | None:
        return self.server.ports.get("health")

    @property
    def metrics_port(self) -> int | None:
        return self.server.ports.get("metrics")

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader if self.elector else self._running

    # ---------------------------------------------------------------- probes

    def _liveness(self) -> tuple[bool, Any]:
        problems: dict[str, Any] = {}
        bad = self.factory.unhealthy(self.max_informer_stall)
        if bad:
            problems["informers"] = bad
        if self.elector is not None and not self.elector.healthy(
            self.elector.config.request_timeout
        ):
            problems["leaderElection"] = "leading but the lease has not been renewed in time"
        return (not problems, problems)

    def _readiness(self) -> tuple[bool, Any]:
        if self.synced.is_set():
            return True, None
        pending = [i.name for i in self.factory.informers() if not i.has_synced()]
        return False, {"cachesNotSynced": pending}

    # ---------------------------------------------------------------- lifecycle

    def stop(self) -> None:
        """Ask `run()` to shut down gracefully (safe to call from a signal handler)."""
        self._stop.set()

    async def run(self, *, handle_signals: bool = True) -> None:
        """Run until stopped (see the module docstring). Raises LeaderElectionLost,
        CacheSyncTimeout, or whatever a runnable raised."""
        if self._running:
            raise RuntimeError("the manager is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self.stop)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        elector_task: asyncio.Task[None] | None = None
        lost = False
        try:
            await self.server.start()
            log.info("manager endpoints listening", ports=self.server.ports)
            if self.elector is not None:
                if self.warm_standby:
                    self.factory.start()
                elector_task = asyncio.create_task(self.elector.run(), name="leader election")
                if not await self._wait_for(self.elector.leading, elector_task):
                    return  # stopped while standing by
            self.factory.start()
            if not await self._sync():
                return
            self.started.set()
            for controller in self.controllers:
                controller.start()
            self._runnable_tasks = [
                asyncio.create_task(fn(), name=f"runnable {name}") for name, fn in self._runnables
            ]
            signals: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._stop.wait())]
            if self.elector is not None:
                signals.append(asyncio.ensure_future(self.elector.lost.wait()))
            if elector_task is not None:
                # The renew loop ending for any reason (a bug, not only a lost Lease)
                # means nobody renews: stop as if lost rather than lead un-renewed.
                signals.append(elector_task)
            # A runnable that returns normally is done, not a reason to stop (as in
            # controller-runtime); one that raises stops the manager.
            running: set[asyncio.Future[Any]] = set(self._runnable_tasks)
            try:
                while True:
                    done, _ = await asyncio.wait(
                        [*signals, *running], return_when=asyncio.FIRST_COMPLETED
                    )
                    finished = done & running
                    running -= finished
                    crashed = any(t.cancelled() or t.exception() is not None for t in finished)
                    if crashed or done - finished:
                        break
            finally:
                for w in signals:
                    if w is not elector_task:
                        w.cancel()
            if elector_task is not None and elector_task.done() and self.elector is not None:
                if not elector_task.cancelled() and elector_task.exception() is not None:
                    log.error("leader election crashed", exc_info=elector_task.exception())
                self.elector.lost.set()
            if self.elector is not None and self.elector.lost.is_set():
                lost = True
                raise LeaderElectionLost(
                    f"lost the lease {self.elector.config.lease_namespace}/"
                    f"{self.elector.config.lease_name}"
                )
            for task in self._runnable_tasks:
                failure = task.exception() if task.done() and not task.cancelled() else None
                if failure is not None:
                    raise failure
        finally:
            await self._shutdown(elector_task, lost)
            for sig in installed:
                loop.remove_signal_handler(sig)
            self._running = False

    async def _wait_for(self, event: asyncio.Event, elector_task: asyncio.Task[None]) -> bool:
        """Wait for `event`; False if a stop was requested first."""
        stop = asyncio.ensure_future(self._stop.wait())
        got = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait([stop, got, elector_task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            got.cancel()
        if elector_task.done() and not elector_task.cancelled():
            failure = elector_task.exception()
            if failure is not None:
                raise failure
        return event.is_set() and not self._stop.is_set()

    async def _sync(self) -> bool:
        sync = asyncio.ensure_future(self.factory.wait_for_cache_sync(self.cache_sync_timeout))
        stop = asyncio.ensure_future(self._stop.wait())
        waits: list[asyncio.Future[Any]] = [sync, stop]
        if self.elector is not None:
            waits.append(asyncio.ensure_future(self.elector.lost.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits[1:]:
                w.cancel()
        if not sync.done():
            sync.cancel()
            if self.elector is not None and self.elector.lost.is_set():
                raise LeaderElectionLost("lost the lease while the caches were syncing")
            return False
        if not sync.result():
            raise CacheSyncTimeout(
                f"caches did not sync within {self.cache_sync_timeout}s: "
                + ", ".join(i.name for i in self.factory.informers() if not i.has_synced())
            )
        self.synced.set()
        log.info("caches synced", informers=len(self.factory.informers()))
        return True

    async def _shutdown(self, elector_task: asyncio.Task[None] | None, lost: bool) -> None:
        timeout = 0.0 if lost else self.graceful_shutdown_timeout
        for task in self._runnable_tasks:
            task.cancel()
        results = await asyncio.gather(
            *(c.stop(timeout) for c in self.controllers), return_exceptions=True
        )
        for task in self._runnable_tasks:
            with contextlib.suppress(BaseException):
                await task
        if not all(r is True for r in results):
            log.warning("graceful shutdown timed out for some reconciles", timeout=timeout)
        if elector_task is not None:
            elector_task.cancel()
            with contextlib.suppress(BaseException):
                await elector_task
        if self.elector is not None and not lost:
            await self.elector.release()
        await self.factory.stop()
        await self.server.stop()
        self.started.clear()
        log.info("manager stopped", lost_lease=lost)
