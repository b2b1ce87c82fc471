"""Audit of issue 3 points 2 and 5 over real HTTP on a running sandbox.

Plain aiohttp against the `sandbox` fixture, so what is checked is the wire:
paging with `limit`/`continue` (and 410 once the token's revision is
compacted), deletecollection, generateName, watch `timeoutSeconds` and 410
after compaction, exact `apiserver_request_total` values after a known
sequence of requests, and every fault kind managed through `/sandbox/faults`.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from kuberay_py.sandbox.server import Sandbox, SandboxConfig

NS = "default"


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


CM = f"/api/v1/namespaces/{NS}/configmaps"


async def read_events(resp: aiohttp.ClientResponse) -> list[dict[str, Any]]:
    body = await asyncio.wait_for(resp.read(), 10)
    return [orjson.loads(line) for line in body.splitlines() if line.strip()]


async def test_paging_limit_continue_and_expired_token(http: aiohttp.ClientSession) -> None:
    for i in range(5):
        assert (await http.post(CM, json=cm(f"p{i}", page="yes"))).status == 201
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"limit": "2", "labelSelector": "page=yes"}
        if token:
            params["continue"] = token
        body = await (await http.get(CM, params=params)).json()
        assert len(body["items"]) <= 2
        seen += [o["metadata"]["name"] for o in body["items"]]
        pages += 1
        token = body["metadata"].get("continue", "")
        # As kube-apiserver: no remainingItemCount when a selector filters the list.
        assert "remainingItemCount" not in body["metadata"]
        if not token:
            break
    assert pages == 3 and seen == [f"p{i}" for i in range(5)]

    first = await (await http.get(CM, params={"limit": "2"})).json()
    assert first["metadata"]["remainingItemCount"] == 3  # unfiltered: kube counts the rest
    assert (await http.post(CM, json=cm("later"))).status == 201
    assert (await http.post("/sandbox/compact")).status == 200
    resp = await http.get(CM, params={"limit": "2", "continue": first["metadata"]["continue"]})
    status = await resp.json()
    assert resp.status == 410
    assert status["kind"] == "Status" and status["reason"] == "Expired" and status["code"] == 410


async def test_deletecollection_and_generate_name(http: aiohttp.ClientSession) -> None:
    names = []
    for _ in range(3):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
        resp = await http.post(CM, json=body)
        assert resp.status == 201
        created = await resp.json()
        assert re.fullmatch(r"gen-[a-z0-9]{5}", created["metadata"]["name"])
        assert created["metadata"]["generateName"] == "gen-"
        names.append(created["metadata"]["name"])
    assert len(set(names)) == 3
    assert (await http.post(CM, json=cm("keep", group="b"))).status == 201
    for n in names:
        patch = {"metadata": {"labels": {"group": "a"}}}
        resp = await http.patch(
            f"{CM}/{n}",
            data=orjson.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert resp.status == 200

    resp = await http.delete(CM, params={"labelSelector": "group=a"})
    assert resp.status == 200
    gone = await resp.json()
    assert gone["kind"] == "ConfigMapList"
    assert sorted(o["metadata"]["name"] for o in gone["items"]) == sorted(names)
    left = await (await http.get(CM)).json()
    assert [o["metadata"]["name"] for o in left["items"]] == ["keep"]


async def test_watch_timeout_seconds_and_410_after_compaction(
    http: aiohttp.ClientSession,
) -> None:
    created = await (await http.post(CM, json=cm("w0"))).json()
    old_rv = created["metadata"]["resourceVersion"]
    started = time.monotonic()
    resp = await http.get(
        CM, params={"watch": "true", "resourceVersion": old_rv, "timeoutSeconds": "1"}
    )
    assert resp.status == 200
    assert await read_events(resp) == []  # nothing changed since old_rv: the stream just ends
    assert time.monotonic() - started < 8  # ended by timeoutSeconds, not by the client

    assert (await http.post(CM, json=cm("w1"))).status == 201
    assert (await http.post("/sandbox/compact")).status == 200
    resp = await http.get(
        CM, params={"watch": "true", "resourceVersion": old_rv, "timeoutSeconds": "5"}
    )
    events = await read_events(resp)
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    found = False
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else 0.0


async def test_request_total_values_after_a_known_sequence(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    ns = "/api/v1/namespaces/default/serviceaccounts"
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "m", "labels": {}}}
    assert (await http.post(ns, json=sa)).status == 201
    assert (await http.post(ns, json=sa)).status == 409
    assert (await http.get(f"{ns}/m")).status == 200
    assert (await http.get(f"{ns}/m")).status == 200
    assert (await http.get(f"{ns}/nope")).status == 404
    assert (await http.get(ns)).status == 200
    current = await (await http.get(f"{ns}/m")).json()
    assert (await http.put(f"{ns}/m", json=current)).status == 200
    resp = await http.patch(
        f"{ns}/m", data=b"{}", headers={"Content-Type": "application/merge-patch+json"}
    )
    assert resp.status == 200
    (await http.get(ns, params={"watch": "1", "timeoutSeconds": "1"})).close()
    assert (await http.delete(f"{ns}/m")).status == 200
    assert (await http.delete(ns)).status == 200
    pods = "/api/v1/namespaces/default/pods"
    assert (await http.get(f"{pods}/none/status")).status == 404

    text = await (await http.get("/metrics")).text()
    t = "apiserver_request_total"
    r = "serviceaccounts"
    assert _sample(text, t, verb="POST", resource=r, subresource="", code="201") == 1
    assert _sample(text, t, verb="POST", resource=r, code="409") == 1
    assert _sample(text, t, verb="GET", resource=r, code="200") == 3
    assert _sample(text, t, verb="GET", resource=r, code="404") == 1
    assert _sample(text, t, verb="LIST", resource=r, code="200") == 1
    assert _sample(text, t, verb="PUT", resource=r, code="200") == 1
    assert _sample(text, t, verb="PATCH", resource=r, code="200") == 1
    assert _sample(text, t, verb="DELETE", resource=r, code="200") == 1
    assert _sample(text, t, verb="DELETECOLLECTION", resource=r, code="200") == 1

    async def watch_counted() -> bool:
        text = await (await http.get("/metrics")).text()
        return _sample(text, t, verb="WATCH", resource=r) == 1

    deadline = time.monotonic() + 10
    while not await watch_counted():
        assert time.monotonic() < deadline, "the watch was never counted"
        await asyncio.sleep(0.05)
    assert _sample(text, t, verb="GET", resource="pods", subresource="status", code="404") == 1
    assert _sample(text, t, resource=r) == 11 + _sample(text, t, verb="WATCH", resource=r)


async def _add_fault(http: aiohttp.ClientSession, **rule: Any) -> str:
    resp = await http.post("/sandbox/faults", data=orjson.dumps(rule))
    assert resp.status == 201, await resp.text()
    fid: str = (await resp.json())["id"]
    return fid


async def test_every_fault_kind_through_the_http_endpoint(http: aiohttp.ClientSession) -> None:
    assert (await http.post(CM, json=cm("f"))).status == 201

    # 429 with Retry-After, only for the named resource and verb.
    await _add_fault(
        http, action="status", resource="configmaps", verb="get", code=429, retryAfter=2
    )
    resp = await http.get(f"{CM}/f")
    assert resp.status == 429 and resp.headers["Retry-After"] == "2"
    assert (await resp.json())["reason"] == "TooManyRequests"
    assert (await http.get(CM)).status == 200  # list is another verb
    assert (await http.get("/api/v1/namespaces/default/secrets")).status == 200
    assert (await http.delete("/sandbox/faults")).status == 200
    assert (await (await http.get("/sandbox/faults")).json())["items"] == []
    assert (await http.get(f"{CM}/f")).status == 200

    # 500 and 503 that fire `count` times, then the rule is gone.
    for code, reason in ((500, "InternalError"), (503, "ServiceUnavailable")):
        await _add_fault(http, action="status", resource="configmaps", code=code, count=2)
        for _ in range(2):
            resp = await http.get(CM)
            assert resp.status == code and (await resp.json())["reason"] == reason
        assert (await http.get(CM)).status == 200
        assert (await (await http.get("/sandbox/faults")).json())["items"] == []

    # Added latency on one verb.
    fid = await _add_fault(
        http, action="latency", resource="configmaps", verb="list", latencySeconds=0.3
    )
    started = time.monotonic()
    assert (await http.get(CM)).status == 200
    assert time.monotonic() - started >= 0.3
    assert (await http.delete(f"/sandbox/faults/{fid}")).status == 200

    # A dropped watch stream: ended by the server after one event, long before its timeout.
    await _add_fault(http, action="drop_watch", afterEvents=1, count=1)
    started = time.monotonic()
    resp = await http.get(CM, params={"watch": "true", "timeoutSeconds": "30"})
    events = await read_events(resp)
    assert len(events) == 1 and time.monotonic() - started < 20

    # Forced 410 for watch (an ERROR event) and for list (a 410 Status).
    await _add_fault(http, action="gone", resource="configmaps", verb="watch", count=1)
    resp = await http.get(CM, params={"watch": "true", "timeoutSeconds": "5"})
    events = await read_events(resp)
    assert [e["type"] for e in events] == ["ERROR"] and events[0]["object"]["code"] == 410
    await _add_fault(http, action="gone", resource="configmaps", verb="list", count=1)
    resp = await http.get(CM)
    assert resp.status == 410 and (await resp.json())["reason"] == "Expired"
    assert (await http.get(CM)).status == 200

    # Probability: roughly half of the matching requests fail.
    await _add_fault(http, action="status", resource="configmaps", verb="get", probability=0.5)
    codes = [(await http.get(f"{CM}/f")).status for _ in range(200)]
    assert set(codes) == {200, 500}
    assert 40 < codes.count(500) < 160
    assert (await http.delete("/sandbox/faults")).status == 200
    assert (await http.get(f"{CM}/f")).status == 200


def test_seeded_sandboxes_inject_probabilistic_faults_identically() -> None:
    """`SandboxConfig(seed=...)` makes probability-based faults reproducible."""
    from kuberay_py.sandbox.http.faults import FaultRule

    def fired(seed: int) -> list[bool]:
        sb = Sandbox(SandboxConfig(seed=seed, nodes=1))
        sb.faults.add(FaultRule(action="status", probability=0.5))
        return [bool(sb.faults.match("get", "pods", "default")) for _ in range(64)]

    assert fired(11) == fired(11)
    assert fired(11) != fired(12)
    expected = random.Random(11)
    assert fired(11) == [expected.random() < 0.5 for _ in range(64)]
