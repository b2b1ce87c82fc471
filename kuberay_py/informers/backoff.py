"""The reflector's retry delay: client-go's numbers (800 ms, x2, cap 30 s, reset after 2 min).

A delay is jittered over [d/2, d] with d = min(cap, initial * 2**n), so that informers
failing together do not retry together yet never wait longer than the cap (client-go
jitters over [d, 2d), which overshoots its own cap). The step count resets once no
failure happened for `reset_after` seconds: a watch that ran fine for a while and then
broke starts again from 800 ms, not from 30 s (the quilkin#734 bug).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """`next_delay()` after each failure; `reset()` on demand. Clock and RNG are injectable."""

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        factor: float = 2.0,
        reset_after: float = 120.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.reset_after = reset_after
        self._clock = clock
        self._rng = rng or random.Random()
        self._steps = 0
        self._last_failure: float | None = None

    @property
    def steps(self) -> int:
        return self._steps

    def ceiling(self, steps: int) -> float:
        """The un-jittered delay after `steps` earlier failures."""
        return min(self.cap, self.initial * (self.factor**steps))

    def next_delay(self) -> float:
        """Record a failure now and return how long to wait before trying again."""
        now = self._clock()
        if self._last_failure is not None and now - self._last_failure >= self.reset_after:
            self._steps = 0
        self._last_failure = now
        d = self.ceiling(self._steps)
        self._steps += 1
        return d / 2 + self._rng.random() * d / 2

    def reset(self) -> None:
        self._steps = 0
        self._last_failure = None
