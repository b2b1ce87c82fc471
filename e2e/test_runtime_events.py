"""The event recorder and expectations against the sandbox: repeats aggregate into one
events.k8s.io/v1 Event's series; expectations are satisfied by informer events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.kube import CONFIGMAPS, EVENTS_V1, KubeClient
from kuberay_py.runtime import EventRecorder, Expectations, Manager
from kuberay_py.sandbox.server import Sandbox

NS = "default"


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(str(sandbox.kubeconfig_path))
    yield c
    await c.close()


async def test_repeated_events_become_one_series(client: KubeClient) -> None:
    cm = await client.create(CONFIGMAPS, {"metadata": {"name": "subject"}}, NS)
    rec = EventRecorder(client, "runtime-e2e", "replica-1")
    first = await rec.publish(cm, reason="Broken", note="it broke", action="Sync", type="Warning")
    assert first is not None and rec.failed == 0
    for _ in range(4):
        assert await rec.publish(
            cm, reason="Broken", note="it broke", action="Sync", type="Warning"
        )
    await rec.publish(cm, reason="Fixed", note="it works", action="Sync")
    events = (await client.list(EVENTS_V1, NS))["items"]
    broken = [e for e in events if e["reason"] == "Broken"]
    assert len(broken) == 1
    assert broken[0]["series"]["count"] == 5
    assert broken[0]["series"]["lastObservedTime"]
    assert broken[0]["regarding"]["uid"] == cm["metadata"]["uid"]
    assert broken[0]["type"] == "Warning" and broken[0]["action"] == "Sync"
    assert broken[0]["reportingController"] == "runtime-e2e"
    assert [e["reason"] for e in events if e["reason"] == "Fixed"] == ["Fixed"]
    assert rec.created == 2 and rec.patched == 4


async def test_expectations_are_met_by_the_informer(client: KubeClient) -> None:
    mgr = Manager(client, registry=CollectorRegistry(), health_address=None, metrics_address=None)
    exp = Expectations()
    (informer,) = mgr.informers_for(CONFIGMAPS)
    exp.attach(informer)
    task = asyncio.create_task(mgr.run(handle_signals=False))
    async with asyncio.timeout(15):
        await mgr.synced.wait()
    owner = await client.create(CONFIGMAPS, {"metadata": {"name": "owner"}}, NS)
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    exp.expect_names(f"{NS}/owner", created=[f"{NS}/child-a", f"{NS}/child-b"])
    for name in ("child-a", "child-b"):
        await client.create(CONFIGMAPS, {"metadata": {"name": name, "ownerReferences": [ref]}}, NS)
    async with asyncio.timeout(15):
        while not exp.satisfied(f"{NS}/owner"):
            await asyncio.sleep(0.01)
    # Read-your-writes: once satisfied, the cache holds both children.
    assert mgr.cache.get(CONFIGMAPS, "child-a", NS) is not None
    assert mgr.cache.get(CONFIGMAPS, "child-b", NS) is not None
    mgr.stop()
    await asyncio.wait_for(task, 10)
