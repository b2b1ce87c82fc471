"""A client-side token bucket (client-go's `flowcontrol.NewTokenBucketRateLimiter`).

Off by default, as in controller-runtime (which relies on API Priority and Fairness on
the server); turn it on with `KubeClient(..., qps=5, burst=10)` for client-go's old
defaults. Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """`qps` tokens per second, up to `burst` saved; `acquire()` waits for one."""

    def __init__(
        self, qps: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if qps <= 0:
            raise ValueError("qps must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def reserve(self) -> float:
        """Take a token now (possibly going into debt); return how long to wait for it."""
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def acquire(self) -> None:
        """Wait until a token is available and take it."""
        async with self._lock:
            wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
