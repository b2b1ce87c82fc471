"""A controller: a rate-limited workqueue of Requests and N workers calling a reconciler.

The worker loop is controller-runtime's (`pkg/internal/controller`):

- an exception: `add_rate_limited` (per-key exponential backoff, 5 ms to 1000 s), logged
  with the object's key bound (a 409 Conflict is logged quietly: the cache was stale and
  the retry is the fix), counted as `error`;
- `Result(requeue_after=d)`: `forget` + `add_after(d)`, counted as `requeue_after`;
- `Result(requeue=True)`: `add_rate_limited`, counted as `requeue`;
- otherwise `forget`, counted as `success`.

The queue never hands one key to two workers, so a key is never reconciled twice at
once, and one failing object only ever delays itself: its retries wait in the delaying
queue while the workers serve everyone else. `max_concurrent_reconciles` defaults to 4
(controller-runtime's 1 lets one slow object delay all others; kube-rs's unbounded
default overloads the API server).

`stop()` is graceful: workers take no new keys, in-flight reconciles get `timeout`
seconds to finish, then they are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from kuberay_py.informers import HandlerRegistration
from kuberay_py.kube import Conflict
from kuberay_py.runtime.clock import Clock
from kuberay_py.runtime.metrics import metrics_for
from kuberay_py.runtime.rate_limiters import RateLimiter
from kuberay_py.runtime.reconcile import ReconcileFunc, Reconciler, Request, Result
from kuberay_py.runtime.workqueue import ShutDown, WorkQueue

__all__ = ["DEFAULT_MAX_CONCURRENT_RECONCILES", "Controller"]

DEFAULT_MAX_CONCURRENT_RECONCILES = 4

log = structlog.get_logger("kuberay_py.runtime.controller")


class Controller:
    """Workers draining one workqueue into one reconciler. Built by ControllerBuilder."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler | ReconcileFunc,
        *,
        max_concurrent_reconciles: int = DEFAULT_MAX_CONCURRENT_RECONCILES,
        rate_limiter: RateLimiter | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        reconcile_timeout: float | None = None,
    ) -> None:
        """`reconcile_timeout` (off by default, as in controller-runtime) bounds one
        reconcile: past it the reconcile is cancelled and handled as an error, so a
        hung call cannot hold a worker forever."""
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        self.name = name
        if isinstance(reconciler, Reconciler):
            self._reconcile: ReconcileFunc = reconciler.reconcile
        elif callable(reconciler):
            self._reconcile = reconciler
        else:
            raise TypeError("reconciler must have `async def reconcile(request)` or be one")
        self.reconciler = reconciler
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self.queue: WorkQueue[Request] = WorkQueue(
            name, rate_limiter=rate_limiter, registry=registry, clock=clock
        )
        self.registrations: list[HandlerRegistration] = []
        self.informers: list[Any] = []
        self._workers: list[asyncio.Task[None]] = []
        self._stopping = False
        self._log = log.bind(controller=name)
        m = metrics_for(registry)
        self._m_total = {
            r: m.reconcile_total.labels(name, r)
            for r in ("success", "error", "requeue", "requeue_after")
        }
        self._m_errors = m.reconcile_errors.labels(name)
        self._m_time = m.reconcile_time.labels(name)
        self.in_flight: set[Request] = set()
        m.controllers.sources.add(self)

    def active_workers(self) -> int:
        """Workers inside a reconcile right now."""
        return len(self.in_flight)

    def __repr__(self) -> str:
        return f"<Controller {self.name} workers={len(self._workers)} queued={len(self.queue)}>"

    # ---------------------------------------------------------------- lifecycle

    @property
    def started(self) -> bool:
        return bool(self._workers)

    def start(self) -> None:
        """Start the workers (idempotent). Keys queued before this are processed now."""
        if self._workers or self._stopping:
            return
        self._log.info("starting workers", worker_count=self.max_concurrent_reconciles)
        self._workers = [
            asyncio.create_task(self._worker(), name=f"controller {self.name} worker {i}")
            for i in range(self.max_concurrent_reconciles)
        ]

    async def stop(self, timeout: float = 30.0) -> bool:
        """Stop taking keys, give in-flight reconciles `timeout` seconds, then cancel them.

        Returns True if every in-flight reconcile finished on its own.
        """
        self._stopping = True
        for reg in self.registrations:
            reg.remove()
        self.queue.shutdown()
        workers, self._workers = self._workers, []
        if not workers:
            return True
        _, pending = await asyncio.wait(workers, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pending:
            self._log.warning(
                "in-flight reconciles cancelled after the graceful timeout",
                timeout=timeout,
                cancelled=len(pending),
            )
        return not pending

    # ---------------------------------------------------------------- work

    async def _worker(self) -> None:
        queue = self.queue
        while not self._stopping:
            try:
                request = await queue.get()
            except ShutDown:
                return
            self.in_flight.add(request)
            try:
                await self.reconcile_handler(request)
            finally:
                self.in_flight.discard(request)
                queue.done(request)

    async def reconcile_handler(self, request: Request) -> None:
        """Run one reconcile and requeue / forget / count as the worker loop does."""
        queue = self.queue
        start = time.perf_counter()
        try:
            if self.reconcile_timeout is None:
                result = await self._reconcile(request)
            else:
                async with asyncio.timeout(self.reconcile_timeout):
                    result = await self._reconcile(request)
        except (Exception, asyncio.CancelledError) as exc:
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                raise  # the worker itself is being stopped
            # An exception, or a stray CancelledError from inside the reconciler: either
            # way this key failed, and the worker must live on.
            self._m_time.observe(time.perf_counter() - start)
            queue.add_rate_limited(request)
            self._m_errors.inc()
            self._m_total["error"].inc()
            bound = self._log.bind(
                namespace=request.namespace,
                name=request.name,
                requeues=queue.num_requeues(request),
            )
            if isinstance(exc, Conflict):
                bound.info("reconcile hit a conflict; requeued", error=str(exc))
            else:
                bound.error("reconciler error", exc_info=exc)
            return
        self._m_time.observe(time.perf_counter() - start)
        if result is None:
            result = Result()
        if result.requeue_after is not None and result.requeue_after > 0:
            queue.forget(request)
            queue.add_after(request, result.requeue_after)
            self._m_total["requeue_after"].inc()
        elif result.requeue:
            queue.add_rate_limited(request)
            self._m_total["requeue"].inc()
        else:
            queue.forget(request)
            self._m_total["success"].inc()
