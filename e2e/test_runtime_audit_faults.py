"""Audit: one fault type at a time (dropped watches, forced 410, 500s, 429s with
Retry-After, conflicts, slow responses). For each, a controller on the sandbox sees
every source changed while the fault was armed, the fault is proven to have fired (its
count is spent), and afterwards every change is reconciled and the caches equal a
fresh LIST. The combined storm lives in test_runtime_controller.py; this pins each
fault on its own so one that breaks is named."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.kube import CONFIGMAPS, ApiError, KubeClient, RetryPolicy
from kuberay_py.runtime import (
    ControllerBuilder,
    Manager,
    Request,
    Result,
    default_controller_rate_limiter,
)
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.http.faults import FaultRule
from kuberay_py.sandbox.server import Sandbox

NS = "default"
SRC = "audit=src"
ACK = "audit-ack"
N = 6

FAULTS: dict[str, list[FaultRule]] = {
    "dropped-watches": [FaultRule("drop_watch", resource="configmaps", after_events=1, count=4)],
    "forced-410": [FaultRule("gone", resource="configmaps", verb="watch", count=2)],
    "500s": [
        FaultRule("status", resource="configmaps", verb="watch", code=500, count=2),
        FaultRule("status", resource="configmaps", verb="update", code=500, count=3),
    ],
    "429-retry-after": [
        FaultRule("status", resource="configmaps", verb="watch", code=429, retry_after=1, count=1),
        FaultRule("status", resource="configmaps", verb="update", code=429, retry_after=1, count=1),
    ],
    "conflicts": [FaultRule("status", resource="configmaps", verb="update", code=409, count=4)],
    "slow-responses": [FaultRule("latency", resource="configmaps", latency_seconds=0.2, count=8)],
}


async def persist(op: Callable[[], Awaitable[Any]]) -> Any:
    """The test's own writes cross the same faulty server: retry what a fault caused."""
    for _ in range(100):
        try:
            return await op()
        except ApiError as exc:
            if exc.code not in (409, 429) and exc.code < 500:
                raise
            await asyncio.sleep(0.02)
    raise AssertionError("write never succeeded")


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(
        str(sandbox.kubeconfig_path), retry=RetryPolicy(attempts=3, base=0.01, cap=0.1)
    )
    yield c
    await c.close()


class Ack:
    """Keeps `<name>-ack` (owned by the source) holding the source's `v`."""

    def __init__(self, mgr: Manager, client: KubeClient) -> None:
        self.mgr, self.client = mgr, client

    async def reconcile(self, request: Request) -> Result | None:
        src = self.mgr.cache.get(CONFIGMAPS, request.name, request.namespace, label_selector=SRC)
        if src is None:
            return None
        name = f"{request.name}-ack"
        ack = self.mgr.cache.get(CONFIGMAPS, name, request.namespace, label_selector=ACK)
        want = {"seen": src["data"]["v"]}
        if ack is None:
            owner = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": request.name,
                "uid": src["metadata"]["uid"],
                "controller": True,
            }
            meta = {"name": name, "labels": {ACK: request.name}, "ownerReferences": [owner]}
            await self.client.create(CONFIGMAPS, {"metadata": meta, "data": want}, NS)
        elif ack.get("data") != want:
            await self.client.replace(CONFIGMAPS, {**ack, "data": want}, NS)
        return None


async def acks(client: KubeClient) -> dict[str, str]:
    items, _ = await client.list_all(CONFIGMAPS, NS, label_selector=ACK)
    return {o["metadata"]["labels"][ACK]: o["data"]["seen"] for o in items}


async def cache_matches(client: KubeClient, mgr: Manager) -> bool:
    for selector in (SRC, ACK):
        items, _ = await client.list_all(CONFIGMAPS, NS, label_selector=selector)
        fresh = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}
        cached = {
            o["metadata"]["name"]: o["metadata"]["resourceVersion"]
            for o in mgr.cache.list(CONFIGMAPS, NS, label_selector=selector)
        }
        if fresh != cached:
            return False
    return True


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_each_fault_alone_ends_reconciled_and_cache_equal_to_a_fresh_list(
    sandbox: Sandbox, client: KubeClient, fault: str
) -> None:
    mgr = Manager(
        client,
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
        graceful_shutdown_timeout=5,
        bookmark_interval=1.0,  # the e2e sandbox sends a bookmark every second
        watchdog_margin=2.0,
    )
    (
        ControllerBuilder(mgr)
        .named("audit-ack")
        .for_(CONFIGMAPS, label_selector=SRC)
        .owns(CONFIGMAPS, label_selector=ACK)
        .with_options(rate_limiter=default_controller_rate_limiter(max_delay=0.5))
        .complete(Ack(mgr, client))
    )
    for i in range(N):
        body = {"metadata": {"name": f"s{i}", "labels": {"audit": "src"}}, "data": {"v": "0"}}
        await client.create(CONFIGMAPS, body, NS)
    task = asyncio.create_task(mgr.run(handle_signals=False))
    try:
        await eventually(lambda: mgr.synced.is_set())
        final = {f"s{i}": "0" for i in range(N)}
        await eventually(lambda: _eq(acks(client), final))

        ids = [sandbox.faults.add(rule) for rule in FAULTS[fault]]
        sandbox.registry.drop_watches()  # new watch requests meet the fault
        for i in range(N):
            final[f"s{i}"] = "1"
            await persist(lambda n=f"s{i}": client.patch(CONFIGMAPS, n, {"data": {"v": "1"}}, NS))
        # Proof the fault fired: every rule's count was spent (a spent rule is removed).
        await eventually(lambda: not ({fid for fid, _ in sandbox.faults.rules()} & set(ids)))

        await eventually(lambda: _eq(acks(client), final))
        await eventually(lambda: cache_matches(client, mgr))
        assert all(i.healthy() for i in mgr.factory.informers())
        if fault == "forced-410":
            assert sum(i.reflector.relists_after_gone for i in mgr.factory.informers()) >= 1
        if fault in ("500s", "429-retry-after"):
            assert sum(i.reflector.watch_failures for i in mgr.factory.informers()) >= 1
    finally:
        sandbox.faults.clear()
        mgr.stop()
        await asyncio.wait_for(task, 10)


async def _eq(got: Awaitable[dict[str, str]], want: dict[str, str]) -> bool:
    return await got == want
