"""Rate limiters for requeues: how long an item waits before it is retried.

The protocol is client-go's (`util/workqueue/default_rate_limiters.go`): `when(item)`
records a failure and returns the delay, `forget(item)` clears the item's history after
a success, `num_requeues(item)` reports it. Defaults are client-go's
`DefaultControllerRateLimiter`: per-item exponential 5 ms doubling to 1000 s (the 19th
consecutive failure reaches the cap), combined by max with an overall token bucket of
10 qps and burst 100 (so a storm of failing items cannot retry faster than 10/s overall).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from kuberay_py.runtime.clock import Clock, RealClock

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_BUCKET_BURST",
    "DEFAULT_BUCKET_QPS",
    "DEFAULT_MAX_DELAY",
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]

DEFAULT_BASE_DELAY = 0.005  # client-go DefaultControllerRateLimiter: 5 ms
DEFAULT_MAX_DELAY = 1000.0  # ... capped at 1000 s
DEFAULT_BUCKET_QPS = 10.0  # overall bucket: 10 qps
DEFAULT_BUCKET_BURST = 100  # ... burst 100


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Record one more failure of `item`; return seconds to wait before retrying it."""
        ...

    def forget(self, item: Hashable) -> None:
        """The item succeeded: forget its failures."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """Failures recorded for `item` since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """`base * 2**failures`, capped at `max_delay`, counted per item."""

    def __init__(
        self, base_delay: float = DEFAULT_BASE_DELAY, max_delay: float = DEFAULT_MAX_DELAY
    ) -> None:
        if base_delay <= 0 or max_delay < base_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        # 2**exp overflows floats past ~1024; the cap is reached long before that.
        if exp > 62:
            return self.max_delay
        return min(self.base_delay * float(1 << exp), self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket over all items: `qps` tokens per second, up to `burst` saved.

    Like golang.org/x/time/rate's `Reserve().Delay()`: every call takes a token, going
    into debt when none is left, and returns how long until that token exists.
    """

    def __init__(
        self,
        qps: float = DEFAULT_BUCKET_QPS,
        burst: int = DEFAULT_BUCKET_BURST,
        *,
        clock: Clock | None = None,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("need qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, item: Hashable) -> float:
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        """The bucket is shared by all items: nothing to forget."""

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay any of its limiters asks for; forgets in all of them."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(
    *,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    qps: float = DEFAULT_BUCKET_QPS,
    burst: int = DEFAULT_BUCKET_BURST,
    clock: Clock | None = None,
) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter, every number overridable."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base_delay, max_delay),
        BucketRateLimiter(qps, burst, clock=clock),
    )
