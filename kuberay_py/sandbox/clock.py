"""Time for the sandbox's controllers, scaled by `--time-scale`.

Every delay a real cluster has (probe periods, grace periods, back-offs,
scheduling) goes through `SandboxClock.sleep`, so `--time-scale 0.1` makes the
whole cluster ten times faster while keeping the order of events. Timestamps
written into objects stay wall-clock UTC, as a real API server writes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time


class SandboxClock:
    """Scales simulated durations; `time_scale` 1.0 is real time, 0.1 ten times faster."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time scale must be positive, got {time_scale}")
        self.time_scale = time_scale

    def scaled(self, seconds: float) -> float:
        """Real seconds that a simulated duration of `seconds` takes."""
        return max(0.0, seconds * self.time_scale)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.scaled(seconds))

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    @staticmethod
    def now_rfc3339() -> str:
        """`metav1.Time` format: second precision, `Z` suffix."""
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
