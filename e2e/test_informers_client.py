"""The resource client against the sandbox: CRUD, paging, watch, every typed error, retries.

Fault rules make the sandbox answer 429 / 500 / 410 on demand; each retry the client
makes is a real HTTP request the sandbox counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.kube import (
    CONFIGMAPS,
    CRDS,
    NAMESPACES,
    PODS,
    RAYCLUSTERS,
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    KubeClient,
    NotFound,
    RetryPolicy,
    ServerError,
    TooManyRequests,
    WatchIdleTimeout,
)
from kuberay_py.sandbox.http.faults import FaultRule
from kuberay_py.sandbox.server import Sandbox

MANIFESTS = Path(__file__).parent / "manifests"
#: The CRD users apply, generated from the models (`make manifests`).
CRD_FILE = Path(__file__).parents[1] / "manifests" / "crd" / "ray.io_rayclusters.yaml"
FAST_RETRY = RetryPolicy(attempts=4, base=0.01, cap=0.05)


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(sandbox.kubeconfig_path, retry=FAST_RETRY)
    try:
        yield c
    finally:
        await c.close()


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": "t"}}, "data": dict(data)}


async def test_configmap_crud_round_trip(client: KubeClient) -> None:
    created = await client.create(CONFIGMAPS, cm("a", k="1"), "default")
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    got = await client.get(CONFIGMAPS, "a", "default")
    assert got["data"] == {"k": "1"}

    got["data"]["k"] = "2"
    replaced = await client.replace(CONFIGMAPS, got)
    assert replaced["data"] == {"k": "2"}
    assert int(replaced["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])

    merged = await client.patch(CONFIGMAPS, "a", {"data": {"m": "x"}}, "default")
    assert merged["data"] == {"k": "2", "m": "x"}
    jsonp = await client.patch(
        CONFIGMAPS, "a", [{"op": "remove", "path": "/data/m"}], "default", patch_type="json"
    )
    assert jsonp["data"] == {"k": "2"}
    applied = await client.apply(
        CONFIGMAPS,
        {"metadata": {"name": "a", "namespace": "default"}, "data": {"k": "3"}},
        field_manager="e2e",
        force=True,
    )
    assert applied["data"]["k"] == "3"

    await client.delete(CONFIGMAPS, "a", "default")
    with pytest.raises(NotFound) as info:
        await client.get(CONFIGMAPS, "a", "default")
    assert info.value.code == 404 and info.value.reason == "NotFound"


async def test_strategic_merge_patch_on_a_pod_merges_containers_by_name(
    client: KubeClient,
) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "schedulerName": "nobody",
            "containers": [
                {"name": "a", "image": "busybox:1"},
                {"name": "b", "image": "busybox:1"},
            ],
        },
    }
    await client.create(PODS, pod, "default")
    patched = await client.patch(
        PODS,
        "p",
        {"metadata": {"labels": {"x": "y"}}},
        "default",
        patch_type="strategic",
    )
    assert patched["metadata"]["labels"] == {"x": "y"}
    assert [c["name"] for c in patched["spec"]["containers"]] == ["a", "b"]


async def test_typed_errors(client: KubeClient) -> None:
    await client.create(CONFIGMAPS, cm("dup"), "default")
    with pytest.raises(AlreadyExists) as exists:
        await client.create(CONFIGMAPS, cm("dup"), "default")
    assert exists.value.code == 409 and exists.value.reason == "AlreadyExists"

    stale = await client.get(CONFIGMAPS, "dup", "default")
    await client.patch(CONFIGMAPS, "dup", {"data": {"v": "1"}}, "default")
    with pytest.raises(Conflict) as conflict:
        await client.replace(CONFIGMAPS, stale)
    assert not isinstance(conflict.value, AlreadyExists)
    assert conflict.value.reason == "Conflict"

    with pytest.raises(Conflict):
        await client.delete(CONFIGMAPS, "dup", "default", precondition_uid="not-the-uid")

    with pytest.raises(Invalid) as invalid:
        await client.create(CONFIGMAPS, cm("Not_A_Valid_Name"), "default")
    assert invalid.value.code == 422
    assert "metadata.name" in [c.field for c in invalid.value.causes]

    with pytest.raises(BadRequest):
        body = cm("mismatch")
        body["metadata"]["namespace"] = "other"
        await client.create(CONFIGMAPS, body, "default")

    with pytest.raises(NotFound):
        await client.create(CONFIGMAPS, cm("x"), "no-such-namespace")


async def test_crd_resource_with_status_subresource(client: KubeClient) -> None:
    crd = yaml.safe_load(CRD_FILE.read_text())
    await client.create(CRDS, crd)
    sample = yaml.safe_load((MANIFESTS / "raycluster-sample.yaml").read_text())
    sample["metadata"].pop("namespace", None)
    for _ in range(100):  # the CRD's resource is served once it is established
        try:
            created = await client.create(RAYCLUSTERS, sample, "default")
            break
        except NotFound:
            await asyncio.sleep(0.05)
    else:
        pytest.fail("rayclusters never became servable")
    name = created["metadata"]["name"]
    patched = await client.patch_status(
        RAYCLUSTERS, name, {"status": {"state": "ready"}}, "default"
    )
    assert patched["status"]["state"] == "ready"
    # A status write leaves the spec's generation alone.
    assert patched["metadata"]["generation"] == created["metadata"]["generation"]
    current = await client.get(RAYCLUSTERS, name, "default")
    current["status"] = {"state": "suspended"}
    replaced = await client.replace_status(RAYCLUSTERS, current)
    assert replaced["status"]["state"] == "suspended"
    with pytest.raises(Invalid):
        bad = await client.get(RAYCLUSTERS, name, "default")
        bad["spec"] = {"headGroupSpec": "not an object"}
        await client.replace(RAYCLUSTERS, bad)


async def test_paged_list_with_selectors(client: KubeClient) -> None:
    for i in range(7):
        body = cm(f"page-{i}")
        body["metadata"]["labels"]["parity"] = "even" if i % 2 == 0 else "odd"
        await client.create(CONFIGMAPS, body, "default")
    first = await client.list(CONFIGMAPS, "default", label_selector="app=t", limit=3)
    assert len(first["items"]) == 3 and first["metadata"]["continue"]
    items, rv = await client.list_all(CONFIGMAPS, "default", page_size=3, label_selector="app=t")
    assert sorted(o["metadata"]["name"] for o in items) == [f"page-{i}" for i in range(7)]
    assert int(rv) > 0
    evens, _ = await client.list_all(CONFIGMAPS, "default", label_selector="parity=even")
    assert len(evens) == 4
    named, _ = await client.list_all(CONFIGMAPS, "default", field_selector="metadata.name=page-3")
    assert [o["metadata"]["name"] for o in named] == ["page-3"]
    namespaces, _ = await client.list_all(NAMESPACES)
    assert "default" in {n["metadata"]["name"] for n in namespaces}


async def test_watch_from_rv_with_bookmarks(client: KubeClient) -> None:
    start = await client.list(CONFIGMAPS, "default")
    rv = start["metadata"]["resourceVersion"]
    seen: list[tuple[str, str]] = []
    async with client.watch(
        CONFIGMAPS, "default", resource_version=rv, timeout_seconds=30, idle_timeout=10
    ) as stream:
        await stream.connect()
        await client.create(CONFIGMAPS, cm("w"), "default")
        await client.delete(CONFIGMAPS, "w", "default")
        async with asyncio.timeout(10):
            async for etype, obj in stream:
                seen.append((etype, obj["metadata"].get("name", "")))
                if etype == "BOOKMARK":  # the fixture's sandbox sends one every second
                    break
        assert int(stream.resource_version or 0) > int(rv)
    assert seen[:2] == [("ADDED", "w"), ("DELETED", "w")]
    assert seen[-1][0] == "BOOKMARK"


async def test_watch_from_a_compacted_rv_raises_gone(client: KubeClient, sandbox: Sandbox) -> None:
    old = (await client.create(CONFIGMAPS, cm("old"), "default"))["metadata"]["resourceVersion"]
    await client.patch(CONFIGMAPS, "old", {"data": {"a": "b"}}, "default")
    sandbox.registry.compact()
    with pytest.raises(Gone) as info:
        async with client.watch(CONFIGMAPS, "default", resource_version=old) as stream:
            async for _ in stream:
                pass
    assert info.value.code == 410


async def test_429_retry_after_is_honoured(client: KubeClient, sandbox: Sandbox) -> None:
    await client.create(CONFIGMAPS, cm("busy"), "default")
    sandbox.faults.add(
        FaultRule(
            action="status", resource="configmaps", verb="get", code=429, retry_after=1, count=1
        )
    )
    started = time.monotonic()
    got = await client.get(CONFIGMAPS, "busy", "default")
    assert got["metadata"]["name"] == "busy"
    assert time.monotonic() - started >= 0.9  # waited the server's Retry-After, not 10 ms

    sandbox.faults.add(
        FaultRule(action="status", resource="configmaps", verb="get", code=429, retry_after=0)
    )
    with pytest.raises(TooManyRequests) as info:
        await client.get(CONFIGMAPS, "busy", "default")
    assert info.value.retry_after == 0
    sandbox.faults.clear()


async def test_500_is_retried_then_surfaces(client: KubeClient, sandbox: Sandbox) -> None:
    await client.create(CONFIGMAPS, cm("flaky"), "default")
    sandbox.faults.add(
        FaultRule(action="status", resource="configmaps", verb="get", code=500, count=2)
    )
    assert (await client.get(CONFIGMAPS, "flaky", "default"))["metadata"]["name"] == "flaky"
    sandbox.faults.add(FaultRule(action="status", resource="configmaps", verb="get", code=503))
    with pytest.raises(ServerError) as info:
        await client.get(CONFIGMAPS, "flaky", "default")
    assert info.value.code == 503
    sandbox.faults.clear()
    # A POST that got a 500 is not replayed: the create may have happened.
    sandbox.faults.add(
        FaultRule(action="status", resource="configmaps", verb="create", code=500, count=1)
    )
    with pytest.raises(ServerError):
        await client.create(CONFIGMAPS, cm("once"), "default")
    assert await client.create(CONFIGMAPS, cm("once"), "default")


async def test_watch_timeouts_server_side_and_client_idle(client: KubeClient) -> None:
    rv = (await client.list(CONFIGMAPS, "kube-public"))["metadata"]["resourceVersion"]
    # The server ends the stream after timeoutSeconds: iteration just stops.
    started = time.monotonic()
    async with asyncio.timeout(10):
        async with client.watch(
            CONFIGMAPS, "kube-public", resource_version=rv, timeout_seconds=1
        ) as stream:
            events = [e async for e in stream if e.type != "BOOKMARK"]
    assert events == []
    assert time.monotonic() - started >= 0.9
    # No bookmarks and nothing happening: the client-side idle timeout fires.
    with pytest.raises(WatchIdleTimeout):
        async with client.watch(
            CONFIGMAPS,
            "kube-public",
            resource_version=rv,
            allow_watch_bookmarks=False,
            idle_timeout=0.3,
        ) as stream:
            async for _ in stream:
                pass
