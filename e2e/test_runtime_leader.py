"""Leader election between two managers in one process on the sandbox's Lease API:
handover on release (about one retry period), takeover after expiry when the holder
vanished without releasing, and a lost lease (renewals failing) that stops the
controllers and makes run() raise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.kube import CONFIGMAPS, LEASES, KubeClient, NotFound, RetryPolicy
from kuberay_py.runtime import (
    ControllerBuilder,
    LeaderElectionConfig,
    LeaderElectionLost,
    Manager,
    Request,
)
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.http.faults import FaultRule
from kuberay_py.sandbox.server import Sandbox

NS = "default"
FAST = {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.2}


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(
        str(sandbox.kubeconfig_path), retry=RetryPolicy(attempts=2, base=0.01, cap=0.05)
    )
    yield c
    await c.close()


class Seen:
    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def reconcile(self, request: Request) -> None:
        self.requests.append(request)


def candidate(client: KubeClient, identity: str, **kw: Any) -> tuple[Manager, Seen]:
    cfg = LeaderElectionConfig("runtime-e2e", NS, identity=identity, **{**FAST, **kw})
    mgr = Manager(
        client,
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
        leader_election=cfg,
        graceful_shutdown_timeout=2,
    )
    seen = Seen()
    ControllerBuilder(mgr).for_(CONFIGMAPS, label_selector="le=1").complete(seen)
    return mgr, seen


async def holder(client: KubeClient) -> str | None:
    try:
        lease = await client.get(LEASES, "runtime-e2e", NS)
    except NotFound:
        return None
    return (lease.get("spec") or {}).get("holderIdentity")


async def wait_holder(client: KubeClient, want: str | None, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while await holder(client) != want:
            await asyncio.sleep(0.05)


async def test_handover_on_release_within_about_the_retry_period(client: KubeClient) -> None:
    await client.create(CONFIGMAPS, {"metadata": {"name": "x", "labels": {"le": "1"}}}, NS)
    # A long lease and a short retry period: a takeover well before the lease could expire
    # can only come from the release, however loaded the machine is.
    slow_expiry = {"lease_duration": 8, "renew_deadline": 1.0, "retry_period": 0.2}
    first, seen1 = candidate(client, "first", **slow_expiry)
    second, seen2 = candidate(client, "second", **slow_expiry)
    t1 = asyncio.create_task(first.run(handle_signals=False))
    await eventually(lambda: bool(seen1.requests))
    t2 = asyncio.create_task(second.run(handle_signals=False))
    await eventually(
        lambda: second.elector is not None and second.elector.observed_holder == "first"
    )
    await asyncio.sleep(0.6)  # three retry periods as a standby: it must stay idle
    assert seen2.requests == [] and not second.is_leader
    loop = asyncio.get_running_loop()
    stopped = loop.time()
    first.stop()
    await asyncio.wait_for(t1, 10)
    await eventually(lambda: bool(seen2.requests))
    assert loop.time() - stopped < 4  # about a retry period (0.2 s), not the 8 s lease
    assert await holder(client) == "second"
    lease = await client.get(LEASES, "runtime-e2e", NS)
    assert lease["spec"]["leaseTransitions"] == 1
    second.stop()
    await asyncio.wait_for(t2, 10)
    assert await holder(client) is None  # released again


async def test_takeover_after_expiry_without_release(client: KubeClient) -> None:
    first, _ = candidate(client, "first", release_on_cancel=False)
    second, seen2 = candidate(client, "second")
    t1 = asyncio.create_task(first.run(handle_signals=False))
    await wait_holder(client, "first")
    t2 = asyncio.create_task(second.run(handle_signals=False))
    await eventually(
        lambda: second.elector is not None and second.elector.observed_holder == "first"
    )
    loop = asyncio.get_running_loop()
    first.stop()  # as if it crashed: the lease is left held
    await asyncio.wait_for(t1, 10)
    gone = loop.time()
    assert await holder(client) == "first"
    await client.create(CONFIGMAPS, {"metadata": {"name": "y", "labels": {"le": "1"}}}, NS)
    await eventually(lambda: Request(NS, "y") in seen2.requests)
    waited = loop.time() - gone
    assert waited >= 1.0  # had to wait for the 2 s (ceil of 1.5) lease to expire
    assert await holder(client) == "second"
    second.stop()
    await asyncio.wait_for(t2, 10)


async def test_lost_lease_stops_controllers_and_raises(
    sandbox: Sandbox, client: KubeClient
) -> None:
    mgr, _ = candidate(client, "doomed")
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await wait_holder(client, "doomed")
    await eventually(lambda: mgr.controllers[0].started)
    fault = sandbox.faults.add(FaultRule("status", resource="leases", verb="update", code=500))
    with pytest.raises(LeaderElectionLost):
        await asyncio.wait_for(task, 10)
    sandbox.faults.remove(fault)
    assert mgr.controllers[0].queue.shutting_down and not mgr.controllers[0].started
