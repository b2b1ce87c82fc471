"""The traffic generator: real HTTP requests through a Service, measured.

"Zero failed requests" is a claim about a measurement, so this sends real
requests over real sockets (to a ClusterIP, a proxy URL, anything), keeps
every outcome, and summarises them per second and overall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import attrs


@attrs.frozen
class Outcome:
    started: float  # seconds since the generator started
    latency: float
    ok: bool
    detail: str  # HTTP status code or the exception's class name


@attrs.frozen
class TrafficSummary:
    total: int
    failures: int
    p50_ms: float
    p99_ms: float
    per_second: list[tuple[int, int, int]]  # (second, successes, failures)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.total if self.total else 0.0

    def describe(self) -> str:
        return (
            f"{self.total} requests, {self.failures} failed ({self.failure_rate:.2%}), "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
        )


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


class TrafficGenerator:
    """Sends GETs to `url()` from `concurrency` workers until stopped; `url` may change live."""

    def __init__(
        self,
        url: Callable[[], str],
        *,
        concurrency: int = 4,
        timeout: float = 5.0,
        ok_statuses: frozenset[int] = frozenset({200}),
        pause: float = 0.01,
    ) -> None:
        self._url = url
        self._concurrency = concurrency
        self._timeout = timeout
        self._ok = ok_statuses
        self._pause = pause
        self.outcomes: list[Outcome] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._t0 = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._t0 = time.monotonic()
        # A fresh connection per request: a Service spreads connections, not requests.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout)
        )
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self._concurrency)]

    async def _worker(self) -> None:
        assert self._session is not None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                async with self._session.get(self._url()) as resp:
                    await resp.read()
                    ok, detail = resp.status in self._ok, str(resp.status)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                ok, detail = False, type(exc).__name__
            self.outcomes.append(
                Outcome(started - self._t0, time.monotonic() - started, ok, detail)
            )
            if self._pause:
                await asyncio.sleep(self._pause)

    async def stop(self) -> TrafficSummary:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        return self.summary()

    def summary(self) -> TrafficSummary:
        latencies = sorted(o.latency * 1000 for o in self.outcomes)
        buckets: dict[int, list[int]] = {}
        for o in self.outcomes:
            bucket = buckets.setdefault(int(o.started), [0, 0])
            bucket[0 if o.ok else 1] += 1
        return TrafficSummary(
            total=len(self.outcomes),
            failures=sum(1 for o in self.outcomes if not o.ok),
            p50_ms=_percentile(latencies, 0.5),
            p99_ms=_percentile(latencies, 0.99),
            per_second=[(s, ok, bad) for s, (ok, bad) in sorted(buckets.items())],
        )
