"""What blocks pods on a real cluster, reproduced on a running sandbox over HTTP.

Unschedulable requests, crash loops, quota refusals and image pull failures
are what an operator's status must name; set-based label selectors are how
KubeRay's operator finds its pods. Each is checked on the wire, as a client
such as the RayCluster controller sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from kuberay_py.kube import PODS, KubeClient
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.server import Sandbox

NS = "default"
PODS_URL = f"/api/v1/namespaces/{NS}/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session


def _pod(
    name: str, container: dict[str, Any] | None = None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "containers": [
                {"name": "ray-head", "image": "rayproject/ray:2.46.0", **(container or {})}
            ]
        },
    }


async def _get(http: aiohttp.ClientSession, name: str) -> dict[str, Any]:
    resp = await http.get(f"{PODS_URL}/{name}")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


def _condition(pod: dict[str, Any], ctype: str) -> dict[str, Any]:
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return {}


def _waiting(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return dict(statuses[0].get("state", {}).get("waiting") or {})


async def test_unschedulable_pod_names_the_missing_resource(http: aiohttp.ClientSession) -> None:
    # Requests larger than any node (the sandbox's nodes have 8 cpus).
    huge = _pod("huge", {"resources": {"requests": {"cpu": "64"}}})
    assert (await http.post(PODS_URL, json=huge)).status == 201

    async def unschedulable() -> dict[str, Any]:
        cond = _condition(await _get(http, "huge"), "PodScheduled")
        return cond if cond.get("status") == "False" else {}

    cond = await eventually(unschedulable)
    assert cond["reason"] == "Unschedulable"
    assert cond["message"] == (
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
        "3 No preemption victims found for incoming pod."
    )
    pod = await _get(http, "huge")
    assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"]


async def test_crashing_container_goes_into_crash_loop_back_off(
    http: aiohttp.ClientSession,
) -> None:
    crash = _pod("crash", {"env": [{"name": "SANDBOX_EXIT_CODE", "value": "1"}]})
    assert (await http.post(PODS_URL, json=crash)).status == 201

    async def looping() -> dict[str, Any]:
        waiting = _waiting(await _get(http, "crash"))
        return waiting if waiting.get("reason") == "CrashLoopBackOff" else {}

    waiting = await eventually(looping)
    assert waiting["message"].startswith(
        "back-off 10s restarting failed container=ray-head pod=crash_default("
    )
    pod = await _get(http, "crash")
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 1 and last["reason"] == "Error"


async def test_quota_refusal_and_image_pull_failure_on_the_wire(
    http: aiohttp.ClientSession,
) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "ray-quota"},
        "spec": {"hard": {"pods": "1"}},
    }
    assert (await http.post(f"/api/v1/namespaces/{NS}/resourcequotas", json=quota)).status == 201
    bad_image = _pod("pull", {"image": "registry.invalid/ray/ray:2.46.0"})
    assert (await http.post(PODS_URL, json=bad_image)).status == 201
    resp = await http.post(PODS_URL, json=_pod("second"))
    status = await resp.json()
    assert resp.status == 403
    assert status["kind"] == "Status" and status["reason"] == "Forbidden"
    assert status["message"] == (
        'pods "second" is forbidden: exceeded quota: ray-quota, '
        "requested: pods=1, used: pods=1, limited: pods=1"
    )
    assert status["details"] == {"name": "second", "kind": "pods"}

    async def quota_used() -> dict[str, Any]:
        resp = await http.get(f"/api/v1/namespaces/{NS}/resourcequotas/ray-quota")
        got: dict[str, Any] = (await resp.json()).get("status") or {}
        return got if got.get("used") == {"pods": "1"} else {}

    assert (await eventually(quota_used))["hard"] == {"pods": "1"}

    async def backing_off() -> dict[str, Any]:
        waiting = _waiting(await _get(http, "pull"))
        return waiting if waiting.get("reason") == "ImagePullBackOff" else {}

    waiting = await eventually(backing_off)
    assert waiting["message"].startswith(
        'Back-off pulling image "registry.invalid/ray/ray:2.46.0": ErrImagePull: rpc error: '
    )
    table = await (await http.get(PODS_URL, headers={"Accept": TABLE})).json()
    rows = {r["cells"][0]: r["cells"] for r in table["rows"]}
    assert rows["pull"][1:3] == ["0/1", "ImagePullBackOff"]
    events = await (
        await http.get(
            f"/api/v1/namespaces/{NS}/events",
            params={"fieldSelector": "involvedObject.name=pull,reason=BackOff"},
        )
    ).json()
    assert [e["message"] for e in events["items"]] == [
        'Back-off pulling image "registry.invalid/ray/ray:2.46.0"'
    ]


SET_BASED = "ray.io/node-type in (head,worker,redis-cleanup)"


async def test_set_based_selectors_in_list_and_watch(
    http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    for name, node_type in (("h", "head"), ("w", "worker"), ("r", "redis-cleanup"), ("o", "other")):
        resp = await http.post(PODS_URL, json=_pod(name, labels={"ray.io/node-type": node_type}))
        assert resp.status == 201
    assert (await http.post(PODS_URL, json=_pod("unlabelled"))).status == 201

    async def names(raw_query: str) -> list[str]:
        # Sent exactly as written: Go clients encode spaces as "+", others as "%20".
        resp = await http.get(f"{PODS_URL}?labelSelector={raw_query}")
        assert resp.status == 200, await resp.text()
        return sorted(p["metadata"]["name"] for p in (await resp.json())["items"])

    plus = "ray.io%2Fnode-type+in+%28head%2Cworker%2Credis-cleanup%29"
    assert await names(plus) == ["h", "r", "w"]
    assert await names(plus.replace("+", "%20")) == ["h", "r", "w"]
    assert await names("ray.io%2Fnode-type+notin+%28head%29") == ["o", "r", "unlabelled", "w"]
    assert await names("%21ray.io%2Fnode-type") == ["unlabelled"]
    assert await names("ray.io%2Fnode-type%2Cray.io%2Fnode-type%21%3Dother") == ["h", "r", "w"]
    bad = await http.get(PODS_URL, params={"labelSelector": "ray.io/node-type in head"})
    assert bad.status == 400

    async with await KubeClient.from_config(str(sandbox.kubeconfig_path)) as client:
        listed = await client.list(PODS, NS, label_selector=SET_BASED)
        assert sorted(p["metadata"]["name"] for p in listed["items"]) == ["h", "r", "w"]
        rv = listed["metadata"]["resourceVersion"]

        watch = await http.get(
            PODS_URL,
            params={
                "watch": "true",
                "labelSelector": SET_BASED,
                "resourceVersion": rv,
                "timeoutSeconds": "30",
            },
        )
        assert watch.status == 200
        # A matching pod appears, a non-matching one does not, and one that stops
        # matching (label changed) leaves the watch as DELETED.
        for name, node_type in (("w2", "worker"), ("o2", "other")):
            resp = await http.post(
                PODS_URL, json=_pod(name, labels={"ray.io/node-type": node_type})
            )
            assert resp.status == 201
        patch = orjson.dumps({"metadata": {"labels": {"ray.io/node-type": "other"}}})
        resp = await http.patch(
            f"{PODS_URL}/r", data=patch, headers={"Content-Type": "application/merge-patch+json"}
        )
        assert resp.status == 200
        seen: list[tuple[str, str]] = []
        while ("DELETED", "r") not in seen:
            line = await asyncio.wait_for(watch.content.readline(), 10)
            assert line, "the watch ended"
            event = orjson.loads(line)
            name = event["object"]["metadata"]["name"]
            labels = event["object"]["metadata"].get("labels") or {}
            if event["type"] != "DELETED":
                assert labels.get("ray.io/node-type") in ("head", "worker", "redis-cleanup")
            seen.append((event["type"], name))
        assert ("ADDED", "w2") in seen
        assert all(name != "o2" for _, name in seen)
        watch.close()
