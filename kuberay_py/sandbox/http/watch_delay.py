"""Late watch events: the `watch_delay` fault, applied to one open watch stream.

A real API server under load, or a client behind a slow network, sees watch
events seconds after the write that caused them. Controllers must not act on
a stale cache as if it were current (KubeRay's expectations exist for this),
and tests need that staleness on demand. `DelayingWatch` wraps the registry
watch of one HTTP stream: every event is stamped when it arrives and held
until its delay has passed, events leave in arrival order (a later event
never overtakes a held one), and nothing is dropped. The delay of each event
is asked of the fault rules as it arrives, so a rule switched on or off at
run time reaches streams that are already open.

Until the first event must wait, events pass straight through (with the
registry watch's batching); from then on a reader task keeps stamping
arrivals while the stream waits for the oldest held event to come due.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from kuberay_py.sandbox.registry.registry import Watch
from kuberay_py.sandbox.registry.types import WatchEvent

DelayOf = Callable[[WatchEvent], float]


class DelayingWatch(Watch):
    """A registry watch whose events are held back by `delay_of(event)` seconds each."""

    def __init__(self, inner: Watch, delay_of: DelayOf) -> None:
        self._inner = inner
        self._delay_of = delay_of
        self._inner_drain: Callable[[], list[WatchEvent]] | None = getattr(
            inner, "drain_nowait", None
        )
        # (monotonic due time, event), in arrival order.
        self._held: deque[tuple[float, WatchEvent]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._inner_done = False
        self._wake = asyncio.Event()

    @property
    def held(self) -> int:
        """How many events are waiting for their delay to pass."""
        return len(self._held)

    # -- producer side ---------------------------------------------------------------------

    def _hold(self, events: list[WatchEvent], first_delay: float) -> None:
        """Queue `events` (the first one's delay already asked) and keep stamping arrivals."""
        now = asyncio.get_running_loop().time()
        self._held.append((now + first_delay, events[0]))
        for event in events[1:]:
            self._held.append((now + self._delay_of(event), event))
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        self._wake.set()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for event in self._inner:
                self._held.append((loop.time() + self._delay_of(event), event))
                if self._inner_drain is not None:
                    for more in self._inner_drain():
                        self._held.append((loop.time() + self._delay_of(more), more))
                self._wake.set()
        finally:
            self._inner_done = True
            self._wake.set()

    # -- consumer side ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop taking new events; those already held are still delivered when due."""
        self._inner.close()
        self._wake.set()

    def discard(self) -> None:
        """Stop at once and forget the held events (the client has gone away)."""
        self._held.clear()
        self.close()

    def drain_nowait(self) -> list[WatchEvent]:
        """Every event that may be sent now, in order, without waiting."""
        if self._reader is None:
            batch = self._inner_drain() if self._inner_drain is not None else []
            for i, event in enumerate(batch):
                delay = self._delay_of(event)
                if delay > 0:
                    self._hold(batch[i:], delay)
                    return batch[:i]
            return batch
        now = asyncio.get_running_loop().time()
        out: list[WatchEvent] = []
        while self._held and self._held[0][0] <= now:
            out.append(self._held.popleft()[1])
        return out

    async def __anext__(self) -> WatchEvent:
        if self._reader is None:
            event = await self._inner.__anext__()
            delay = self._delay_of(event)
            if delay <= 0:
                return event
            self._hold([event], delay)
        return await self._next_held()

    async def _next_held(self) -> WatchEvent:
        loop = asyncio.get_running_loop()
        while True:
            wait: float | None = None
            if self._held:
                due, event = self._held[0]
                wait = due - loop.time()
                if wait <= 0:
                    self._held.popleft()
                    return event
            elif self._inner_done:
                raise StopAsyncIteration
            self._wake.clear()
            if wait is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
