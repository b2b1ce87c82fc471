"""Review: a leader whose election task dies stops, instead of leading un-renewed.

The manager waited for a stop, a runnable's end, or the elector's `lost` event, but not
for the elector task itself. An unexpected exception in the renew loop (anything that
is not a KubeError, e.g. a bug or a malformed Lease) ended the task without setting
`lost`: the manager kept reconciling as leader while nobody renewed the Lease, and a
standby took it over once it expired. Two leaders until a liveness probe noticed.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.kube import CONFIGMAPS
from kuberay_py.runtime import (
    ControllerBuilder,
    LeaderElectionConfig,
    LeaderElectionLost,
    Manager,
    Request,
)
from kuberay_py.runtime.testing import FakeKube


class Nothing:
    async def reconcile(self, request: Request) -> None:
        return None


async def test_a_crashed_elector_stops_the_manager_as_a_lost_lease() -> None:
    kube = FakeKube()
    cfg = LeaderElectionConfig(
        "lock", "ns", identity="me", lease_duration=1.5, renew_deadline=1.0, retry_period=0.2
    )
    mgr = Manager(
        kube,  # type: ignore[arg-type]
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
        leader_election=cfg,
        graceful_shutdown_timeout=1,
    )
    ControllerBuilder(mgr).for_(CONFIGMAPS).complete(Nothing())
    run = asyncio.create_task(mgr.run(handle_signals=False))
    async with asyncio.timeout(5):
        while not mgr.started.is_set():
            await asyncio.sleep(0.01)
    # The next renewal hits a bug outside the API error types the elector handles.
    kube.fail("get", RuntimeError("malformed lease"), times=10**6)
    try:
        with pytest.raises(LeaderElectionLost):
            await asyncio.wait_for(asyncio.shield(run), 5)
        assert mgr.controllers[0].queue.shutting_down
    finally:
        mgr.stop()
        await asyncio.gather(run, return_exceptions=True)
