"""A controller on the sandbox through a fault storm (500s, 429s with Retry-After, slow
answers, dropped watches, forced 410, injected conflicts): afterwards every object
changed during the storm is reconciled to its final state, the caches equal a fresh
LIST, and /metrics shows what happened."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
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
SRC = "storm=src"
ACK = "storm-ack"


async def persist(op: Callable[[], Awaitable[Any]]) -> Any:
    """The test's own writes go through the same faulty server: retry them."""
    for _ in range(200):
        try:
            return await op()
        except ApiError as exc:
            if exc.code not in (409, 429) and exc.code < 500:
                raise
            await asyncio.sleep(0.01)
    raise AssertionError("write never succeeded")


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(
        str(sandbox.kubeconfig_path), retry=RetryPolicy(attempts=3, base=0.01, cap=0.1)
    )
    yield c
    await c.close()


class AckReconciler:
    """Keeps `<name>-ack` (owned by the source) holding the source's `v`."""

    def __init__(self, mgr: Manager, client: KubeClient) -> None:
        self.mgr = mgr
        self.client = client
        self.reconciles = 0

    async def reconcile(self, request: Request) -> Result | None:
        self.reconciles += 1
        src = self.mgr.cache.get(CONFIGMAPS, request.name, request.namespace, label_selector=SRC)
        if src is None:
            return None
        name = f"{request.name}-ack"
        ack = self.mgr.cache.get(CONFIGMAPS, name, request.namespace, label_selector=ACK)
        want = {"seen": src["data"]["v"]}
        if ack is None:
            await self.client.create(
                CONFIGMAPS,
                {
                    "metadata": {
                        "name": name,
                        "labels": {ACK: request.name},
                        "ownerReferences": [
                            {
                                "apiVersion": "v1",
                                "kind": "ConfigMap",
                                "name": request.name,
                                "uid": src["metadata"]["uid"],
                                "controller": True,
                            }
                        ],
                    },
                    "data": want,
                },
                request.namespace,
            )
        elif ack.get("data") != want:
            await self.client.replace(CONFIGMAPS, {**ack, "data": want}, request.namespace)
        return None


async def test_every_object_changed_during_a_fault_storm_is_reconciled(
    sandbox: Sandbox, client: KubeClient
) -> None:
    registry = CollectorRegistry()
    mgr = Manager(
        client,
        registry=registry,
        health_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
        graceful_shutdown_timeout=5,
        bookmark_interval=1.0,  # the e2e sandbox sends a bookmark every second
        watchdog_margin=2.0,
    )
    rec = AckReconciler(mgr, client)
    (
        ControllerBuilder(mgr)
        .named("ack")
        .for_(CONFIGMAPS, label_selector=SRC)
        .owns(CONFIGMAPS, label_selector=ACK)
        # The default limiter, its per-item cap lowered from 1000 s so the test is quick.
        .with_options(rate_limiter=default_controller_rate_limiter(max_delay=2.0))
        .complete(rec)
    )
    for i in range(10):
        await client.create(
            CONFIGMAPS,
            {"metadata": {"name": f"s{i}", "labels": {"storm": "src"}}, "data": {"v": "0"}},
            NS,
        )
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await eventually(lambda: mgr.synced.is_set(), 15)

    faults = sandbox.faults
    for rule in (
        FaultRule("status", resource="configmaps", code=500, probability=0.15),
        FaultRule("status", resource="configmaps", code=429, retry_after=1, probability=0.05),
        FaultRule("status", resource="configmaps", verb="update", code=409, probability=0.3),
        FaultRule("latency", resource="configmaps", latency_seconds=0.05, probability=0.2),
        FaultRule("drop_watch", resource="configmaps", after_events=4),
        FaultRule("gone", resource="configmaps", verb="watch", count=3),
    ):
        faults.add(rule)
    rng = random.Random(7)
    final: dict[str, str] = {f"s{i}": "0" for i in range(10)}
    for step in range(60):
        i = rng.randrange(25)
        name = f"s{i}"
        value = str(step + 1)
        if name in final:
            await persist(
                lambda n=name, v=value: client.patch(CONFIGMAPS, n, {"data": {"v": v}}, NS)
            )
        else:
            await persist(
                lambda n=name, v=value: client.create(
                    CONFIGMAPS,
                    {"metadata": {"name": n, "labels": {"storm": "src"}}, "data": {"v": v}},
                    NS,
                )
            )
        final[name] = value
        if step % 20 == 10:
            async with aiohttp.ClientSession() as session:
                await session.post(f"{sandbox.url}/sandbox/drop-watches")
        await asyncio.sleep(0.02)
    faults.clear()

    async def acks() -> dict[str, str]:
        items, _ = await client.list_all(CONFIGMAPS, NS, label_selector=ACK)
        return {o["metadata"]["labels"][ACK]: o["data"]["seen"] for o in items}

    async with asyncio.timeout(60):
        while (await acks()) != final:
            await asyncio.sleep(0.1)

    # The caches equal a fresh LIST (names and resourceVersions).
    async def cache_matches() -> bool:
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

    async with asyncio.timeout(30):
        while not await cache_matches():
            await asyncio.sleep(0.1)

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{mgr.metrics_port}/metrics") as resp,
    ):
        text = await resp.text()
    assert 'controller_runtime_reconcile_total{controller="ack",result="success"}' in text
    assert 'workqueue_adds_total{name="ack"}' in text
    errors = registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "ack"}
    )
    assert errors is not None and errors > 0  # the storm did reach the reconciler
    mgr.stop()
    await asyncio.wait_for(task, 10)
