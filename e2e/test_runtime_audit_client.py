"""Audit: the one resource client round-trips every API group issue 4 names (apps, batch,
coordination, discovery, events.k8s.io) on the sandbox, and its hot paths (get, list,
watch) hand back plain dicts, never kubernetes-asyncio models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.informers import SharedInformer
from kuberay_py.kube import (
    CONFIGMAPS,
    DEPLOYMENTS,
    ENDPOINTSLICES,
    EVENTS_V1,
    JOBS,
    LEASES,
    KubeClient,
    NotFound,
    Resource,
    RetryPolicy,
)
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.server import Sandbox

NS = "default"


BODIES: dict[str, tuple[Resource, dict[str, Any], dict[str, Any]]] = {
    "apps": (
        DEPLOYMENTS,
        {
            "metadata": {"name": "audit-dep"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "audit"}},
                "template": {
                    "metadata": {"labels": {"app": "audit"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        },
        {"spec": {"replicas": 0, "paused": True}},
    ),
    "batch": (
        JOBS,
        {
            "metadata": {"name": "audit-job"},
            "spec": {
                "suspend": True,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}],
                    }
                },
            },
        },
        {"metadata": {"labels": {"touched": "yes"}}},
    ),
    "coordination": (
        LEASES,
        {"metadata": {"name": "audit-lease"}, "spec": {"holderIdentity": "me"}},
        {"spec": {"holderIdentity": "you"}},
    ),
    "discovery": (
        ENDPOINTSLICES,
        {
            "metadata": {"name": "audit-eps"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.16.0.9"]}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
        {"metadata": {"labels": {"touched": "yes"}}},
    ),
    "events": (
        EVENTS_V1,
        {
            "metadata": {"name": "audit-event"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "type": "Normal",
            "reason": "Audited",
            "action": "Audit",
            "note": "hello",
            "reportingController": "kuberay-py/audit",
            "reportingInstance": "audit-1",
            "regarding": {"kind": "ConfigMap", "namespace": NS, "name": "x", "apiVersion": "v1"},
        },
        {"note": "patched"},
    ),
}


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(
        str(sandbox.kubeconfig_path), retry=RetryPolicy(attempts=3, base=0.01, cap=0.1)
    )
    yield c
    await c.close()


@pytest.mark.parametrize("group", sorted(BODIES))
async def test_round_trip_in_every_api_group(client: KubeClient, group: str) -> None:
    res, body, patch = BODIES[group]
    name = body["metadata"]["name"]
    created = await client.create(res, body, NS)
    assert type(created) is dict
    assert created["apiVersion"] == res.api_version and created["kind"] == res.kind
    watch = client.watch(res, NS, resource_version=created["metadata"]["resourceVersion"])
    try:
        got = await client.get(res, name, NS)
        assert type(got) is dict and got["metadata"]["uid"] == created["metadata"]["uid"]
        listed = await client.list(res, NS)
        assert type(listed) is dict and type(listed["items"]) is list
        assert name in [type(o) is dict and o["metadata"]["name"] for o in listed["items"]]
        await client.patch(res, name, patch, NS)
        async with asyncio.timeout(5):
            async for event_type, obj in watch:
                if event_type == "MODIFIED" and obj["metadata"]["name"] == name:
                    assert type(obj) is dict
                    break
    finally:
        watch.close()
    await client.delete(res, name, NS)
    with pytest.raises(NotFound):
        await client.get(res, name, NS)


async def test_reflector_lists_in_pages_then_watches_from_the_lists_rv(
    client: KubeClient,
) -> None:
    for i in range(5):
        body = {"metadata": {"name": f"paged-{i}", "labels": {"paged": "yes"}}}
        await client.create(CONFIGMAPS, body, NS)
    calls: list[tuple[str, dict[str, Any]]] = []
    original = client.request

    async def spy(method: str, path: str, *a: Any, **kw: Any) -> Any:
        calls.append((path, dict(kw.get("params") or {})))
        return await original(method, path, *a, **kw)

    client.request = spy  # type: ignore[method-assign]
    informer = SharedInformer(
        client,
        CONFIGMAPS,
        namespace=NS,
        label_selector="paged=yes",
        page_size=2,
        registry=CollectorRegistry(),
    )
    informer.start()
    try:
        assert await informer.wait_for_sync(10)
        assert sorted(informer.store.keys()) == [f"{NS}/paged-{i}" for i in range(5)]
        lists = [p for path, p in calls if path.endswith("/configmaps")]
        assert len(lists) == 3  # 2 + 2 + 1
        assert all(str(p.get("limit")) == "2" for p in lists)
        assert "continue" not in lists[0] and all(p.get("continue") for p in lists[1:])
        listed_rv = informer.resource_version
        assert listed_rv
        await client.create(
            CONFIGMAPS, {"metadata": {"name": "paged-5", "labels": {"paged": "yes"}}}, NS
        )
        await eventually(lambda: informer.store.get(f"{NS}/paged-5") is not None)
        assert informer.reflector.watches >= 1
    finally:
        await informer.stop()
