"""Review: a leader whose renewals fail stops leading before its Lease can expire.

client-go bounds every renewal attempt by the renew deadline (the attempt's context is
the deadline's). Here the last attempt of a failing renew cycle could start just before
the deadline and then run for a whole request timeout, so `lost` was set up to
`retry_period + renew_deadline + request_timeout` after the last renewal: past
`lease_duration`, when a standby may already have taken the Lease. Two leaders.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CollectorRegistry

from kuberay_py.kube import ServerError
from kuberay_py.runtime import LeaderElectionConfig, LeaderElector
from kuberay_py.runtime.testing import FakeKube


class FlakyLeases(FakeKube):
    """Lease GETs work until `break_renewals()`; then they fail fast for `fail_for`
    seconds, and after that hang (a wedged API server)."""

    def __init__(self, fail_for: float) -> None:
        super().__init__()
        self.fail_for = fail_for
        self.broken_at: float | None = None

    def break_renewals(self) -> None:
        self.broken_at = time.monotonic()

    async def get(self, res: Any, name: str, namespace: str | None = None, **kw: Any) -> Any:
        if self.broken_at is not None:
            if time.monotonic() - self.broken_at < self.fail_for:
                raise ServerError({"message": "etcd unavailable"}, code=500)
            await asyncio.Event().wait()
        return await super().get(res, name, namespace, **kw)


async def test_leadership_is_given_up_before_the_lease_expires() -> None:
    # renew 2 s, retry 0.5 s: request timeout max(1, 1) = 1 s. Renewals fail fast for
    # most of a renew cycle, then the attempt made at the deadline hangs.
    cfg = LeaderElectionConfig(
        "l", "ns", identity="me", lease_duration=3.0, renew_deadline=2.0, retry_period=0.5
    )
    kube = FlakyLeases(fail_for=2.4)
    elector = LeaderElector(kube, cfg, registry=CollectorRegistry())  # type: ignore[arg-type]
    task = asyncio.create_task(elector.run())
    try:
        async with asyncio.timeout(5):
            await elector.leading.wait()
            kube.break_renewals()
            await elector.lost.wait()
        lost_at = time.monotonic()
        assert elector.last_renew is not None
        held = lost_at - elector.last_renew
        # A standby may take over `lease_duration` after our last renewal.
        assert held < cfg.lease_duration, held
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
