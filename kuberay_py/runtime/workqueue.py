"""The workqueue: client-go's `util/workqueue` semantics on asyncio.

Three layers, each a subclass of the one before (client-go composes them the same way):

- `Queue`: a FIFO of keys with a *dirty* set and a *processing* set. A key is queued at
  most once however often it is added. `get()` moves a key into processing; a key added
  while it is being processed is only marked dirty and goes back in the queue at
  `done()`, so no key is ever handed to two workers at once, and no add is lost.
- `DelayingQueue`: `add_after(key, delay)`, with one heap and one timer task for every
  delayed key (not a task per key). A key already waiting keeps the sooner time.
- `RateLimitingQueue` (alias `WorkQueue`): `add_rate_limited` asks a `RateLimiter` for
  the delay, `forget` clears the key's failure history, `num_requeues` reports it.

`shutdown()` makes the queue ignore new adds; queued keys are still handed out and
`get()` raises `ShutDown` once the queue is empty. `shutdown_with_drain()` also waits
until every handed-out key is `done()`.

Everything runs on one event loop, so each method is atomic without locks. Metrics use
client-go's names with the queue's `name` as label (see metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry

from kuberay_py.runtime.clock import Clock, RealClock
from kuberay_py.runtime.metrics import metrics_for
from kuberay_py.runtime.rate_limiters import RateLimiter, default_controller_rate_limiter

__all__ = ["DelayingQueue", "Queue", "QueueEmpty", "RateLimitingQueue", "ShutDown", "WorkQueue"]

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """`get()` on a queue that is shut down and empty: the worker should exit."""


class QueueEmpty(Exception):
    """`get_nowait()` found nothing queued."""


class Queue(Generic[T]):
    """Deduplicating FIFO with dirty and processing sets (see the module docstring)."""

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        metrics: bool = True,
    ) -> None:
        self.name = name
        self._clock: Clock = clock or RealClock()
        self._now = self._clock.now
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: dict[T, float] = {}
        self._added_at: dict[T, float] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        self._metrics = metrics
        if metrics:
            m = metrics_for(registry)
            m.queues.sources.add(self)
            self._m_adds = m.adds.labels(name)
            self._m_queue_duration = m.queue_duration.labels(name)
            self._m_work_duration = m.work_duration.labels(name)
            self._m_retries = m.retries.labels(name)

    # ---------------------------------------------------------------- adding

    def add(self, item: T) -> None:
        """Queue `item` unless it is already queued (or dirty while being processed)."""
        if self._shutting_down or item in self._dirty:
            return
        if self._metrics:
            self._m_adds.inc()
        self._dirty.add(item)
        if item in self._processing:
            return  # re-queued by done()
        self._added_at[item] = self._now()
        self._queue.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # ---------------------------------------------------------------- taking

    def get_nowait(self) -> T:
        """Hand out the oldest queued key (now processing). QueueEmpty / ShutDown if none."""
        if not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            raise QueueEmpty(self.name)
        item = self._queue.popleft()
        now = self._now()
        self._processing[item] = now
        self._dirty.discard(item)
        added = self._added_at.pop(item, now)
        if self._metrics:
            self._m_queue_duration.observe(now - added)
        return item

    async def get(self) -> T:
        """Wait for a key and hand it out; raises ShutDown once shut down and empty.

        The caller must call `done(key)` when finished with it.
        """
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled() and self._queue:
                    self._wake_one()  # we were woken for an item we will not take
                raise
        return self.get_nowait()

    def done(self, item: T) -> None:
        """Finish processing `item`; if it was added meanwhile, it is queued again."""
        started = self._processing.pop(item, None)
        if started is None:
            return
        now = self._now()
        if self._metrics:
            self._m_work_duration.observe(now - started)
        if item in self._dirty:
            self._added_at[item] = now
            self._queue.append(item)
            self._wake_one()
        elif self._drained is not None and not self._processing and not self._queue:
            self._drained.set()

    # ---------------------------------------------------------------- state

    def __len__(self) -> int:
        """Queued keys (not counting those being processed or waiting for a delay)."""
        return len(self._queue)

    @property
    def processing(self) -> frozenset[T]:
        return frozenset(self._processing)

    def is_processing(self, item: T) -> bool:
        return item in self._processing

    def is_queued(self, item: T) -> bool:
        return item in self._dirty and item not in self._processing

    def queued(self) -> list[T]:
        return list(self._queue)

    def unfinished_work(self) -> tuple[float, float]:
        if not self._processing:
            return 0.0, 0.0
        now = self._now()
        ages = [now - t for t in self._processing.values()]
        return sum(ages), max(ages)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # ---------------------------------------------------------------- shutdown

    def shutdown(self) -> None:
        """Ignore new adds; waiting `get()`s raise ShutDown once the queue is empty."""
        self._shutting_down = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def shutdown_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down, then wait until every queued and in-flight key is done.

        Returns False if `timeout` seconds passed first. Workers must keep calling
        `get()` for the queued keys to drain.
        """
        self.shutdown()
        if not self._processing and not self._queue:
            return True
        self._drained = asyncio.Event()
        return await self._clock.wait(self._drained, timeout)


class DelayingQueue(Queue[T]):
    """A Queue with `add_after`: one heap, one timer task."""

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        metrics: bool = True,
    ) -> None:
        super().__init__(name, clock=clock, registry=registry, metrics=metrics)
        self._ready_at: dict[T, float] = {}
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self._timer: asyncio.Task[None] | None = None
        self._timer_wake = asyncio.Event()

    def add_after(self, item: T, delay: float) -> None:
        """Add `item` after `delay` seconds (at once if <= 0). A key already waiting keeps
        whichever time is sooner."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready = self._now() + delay
        current = self._ready_at.get(item)
        if current is not None and current <= ready:
            return
        self._ready_at[item] = ready
        heapq.heappush(self._heap, (ready, next(self._seq), item))
        if self._heap[0][2] == item:
            self._timer_wake.set()
        self._ensure_timer()

    @property
    def waiting(self) -> int:
        """Keys waiting for their delay to pass."""
        return len(self._ready_at)

    def ready_at(self, item: T) -> float | None:
        return self._ready_at.get(item)

    def flush_ready(self) -> float | None:
        """Queue every key whose time has come; return seconds until the next one (or None).

        The timer task calls this; tests with a FakeClock and no event loop may too.
        """
        heap = self._heap
        now = self._now()
        while heap and heap[0][0] <= now:
            ready, _, item = heapq.heappop(heap)
            if self._ready_at.get(item) != ready:
                continue  # superseded by a sooner add_after
            del self._ready_at[item]
            self.add(item)
        while heap and self._ready_at.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # drop stale entries so the next deadline is real
        return heap[0][0] - now if heap else None

    def _ensure_timer(self) -> None:
        if self._timer is not None and not self._timer.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # driven by flush_ready() (synchronous tests)
        self._timer = loop.create_task(self._run_timer(), name=f"workqueue timer {self.name}")

    async def _run_timer(self) -> None:
        while not self._shutting_down:
            self._timer_wake.clear()
            delay = self.flush_ready()
            # delay None: nothing waits; sleep until an add_after wakes us.
            await self._clock.wait(self._timer_wake, delay)

    def shutdown(self) -> None:
        super().shutdown()
        self._ready_at.clear()
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def aclose(self) -> None:
        """Shut down and wait for the timer task to finish."""
        timer = self._timer
        self.shutdown()
        if timer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await timer


class RateLimitingQueue(DelayingQueue[T]):
    """A DelayingQueue whose retries are spaced by a RateLimiter (client-go's default)."""

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        metrics: bool = True,
    ) -> None:
        super().__init__(name, clock=clock, registry=registry, metrics=metrics)
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(
            clock=self._clock
        )

    def add_rate_limited(self, item: T) -> None:
        """Add `item` after the delay its rate limiter asks for (counts as a retry)."""
        if self._shutting_down:
            return
        if self._metrics:
            self._m_retries.inc()
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Stop tracking `item`'s failures (call after it succeeded)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)


WorkQueue = RateLimitingQueue
