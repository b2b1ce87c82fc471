"""Fault injection: the Python API, the /sandbox/ endpoints, and every action on the wire."""

from __future__ import annotations

import random
import time

import orjson
import pytest

from kuberay_py.sandbox.http.faults import FaultInjector, FaultRule
from unit_tests.sandbox_http_harness import CM_URL, api_client, configmap
from unit_tests.test_sandbox_http_watch import read_events


def test_rule_matching_counts_and_probability() -> None:
    faults = FaultInjector(random.Random(7))
    fid = faults.add(FaultRule(action="status", resource="pods", verb="get", count=2))
    assert faults.match("get", "configmaps", "default") == []
    assert faults.match("list", "pods", "default") == []
    assert len(faults.match("get", "pods", "default")) == 1
    assert len(faults.match("get", "pods", "default")) == 1
    assert faults.match("get", "pods", "default") == []  # count spent: the rule is gone
    assert faults.rules() == []
    with pytest.raises(KeyError):
        faults.remove(fid)

    faults.add(FaultRule(action="status", namespace="team"))
    assert faults.match("create", "pods", "default") == []
    assert len(faults.match("create", "pods", "team")) == 1
    faults.clear()

    faults.add(FaultRule(action="latency", probability=0.0))
    assert all(faults.match("get", "pods", "x") == [] for _ in range(100))
    faults.clear()
    faults.add(FaultRule(action="status", probability=0.5))
    fired = sum(bool(faults.match("get", "pods", "x")) for _ in range(1000))
    assert 400 < fired < 600

    faults.clear()
    faults.add(FaultRule(action="drop_watch", resource="pods"))
    assert faults.match("list", "pods", None) == []  # drop_watch is for watches only
    assert len(faults.match("watch", "pods", None)) == 1

    with pytest.raises(ValueError):
        FaultRule(action="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FaultRule(action="status", probability=2.0)


def test_wire_form_round_trips() -> None:
    rule = FaultRule.from_wire(
        {"action": "status", "resource": "pods", "code": 429, "retryAfter": 3, "count": 1}
    )
    assert rule == FaultRule(action="status", resource="pods", code=429, retry_after=3, count=1)
    assert rule.to_wire()["retryAfter"] == 3
    for bad in ({}, {"action": "status", "bogus": 1}, {"action": "status", "code": "x"}, []):
        with pytest.raises(ValueError):
            FaultRule.from_wire(bad)


async def test_status_faults_429_500_503() -> None:
    async with api_client() as (client, ctx):
        await client.post(CM_URL, json=configmap("c"))
        ctx.faults.add(FaultRule(action="status", resource="configmaps", verb="get", code=429))
        resp = await client.get(f"{CM_URL}/c")
        assert resp.status == 429 and resp.headers["Retry-After"] == "1"
        body = await resp.json()
        assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 1
        # Other verbs and resources are untouched.
        assert (await client.get(CM_URL)).status == 200
        assert (await client.get("/api/v1/namespaces/default/pods")).status == 200
        ctx.faults.clear()

        ctx.faults.add(FaultRule(action="status", code=429, retry_after=5, count=1))
        resp = await client.get(f"{CM_URL}/c")
        assert resp.headers["Retry-After"] == "5"
        assert (await resp.json())["details"]["retryAfterSeconds"] == 5
        assert (await client.get(f"{CM_URL}/c")).status == 200  # count=1 spent

        for code, reason in ((500, "InternalError"), (503, "ServiceUnavailable")):
            ctx.faults.add(FaultRule(action="status", verb="create", code=code, count=1))
            resp = await client.post(CM_URL, json=configmap(f"f{code}"))
            body = await resp.json()
            assert resp.status == code and body["code"] == code and body["reason"] == reason
            # The faulted create never reached the registry.
            assert (await client.get(f"{CM_URL}/f{code}")).status == 404


async def test_latency_fault_delays_matching_requests() -> None:
    async with api_client() as (client, ctx):
        ctx.faults.add(FaultRule(action="latency", resource="configmaps", latency_seconds=0.3))
        started = time.monotonic()
        assert (await client.get(CM_URL)).status == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        assert (await client.get("/api/v1/namespaces/default/secrets")).status == 200
        assert time.monotonic() - started < 0.3


async def test_drop_watch_after_n_events() -> None:
    async with api_client() as (client, ctx):
        for i in range(5):
            await client.post(CM_URL, json=configmap(f"d{i}"))
        ctx.faults.add(FaultRule(action="drop_watch", resource="configmaps", after_events=2))
        resp = await client.get(CM_URL, params={"watch": "true", "timeoutSeconds": "10"})
        started = time.monotonic()
        events = await read_events(resp)
        assert len(events) == 2 and time.monotonic() - started < 5
        ctx.faults.clear()
        ctx.faults.add(FaultRule(action="drop_watch", after_events=0, count=1))
        resp = await client.get(CM_URL, params={"watch": "true", "timeoutSeconds": "10"})
        assert await read_events(resp) == []
        await _assert_no_watchers(ctx)


async def _assert_no_watchers(ctx: object) -> None:
    from unit_tests.sandbox_http_harness import eventually

    await eventually(lambda: ctx.registry.hub.watcher_count() == 0)  # type: ignore[attr-defined]


async def test_gone_fault_for_watch_and_list() -> None:
    async with api_client() as (client, ctx):
        ctx.faults.add(FaultRule(action="gone", resource="configmaps", verb="watch", count=1))
        resp = await client.get(CM_URL, params={"watch": "true", "timeoutSeconds": "10"})
        assert resp.status == 200
        events = await read_events(resp)
        assert [e["type"] for e in events] == ["ERROR"]
        assert events[0]["object"]["code"] == 410
        ctx.faults.add(FaultRule(action="gone", resource="configmaps", verb="list", count=1))
        resp = await client.get(CM_URL)
        body = await resp.json()
        assert resp.status == 410 and body["reason"] == "Expired"
        assert (await client.get(CM_URL)).status == 200


async def test_sandbox_fault_endpoints() -> None:
    async with api_client() as (client, ctx):
        rule = {"action": "status", "resource": "configmaps", "verb": "list", "code": 503}
        resp = await client.post("/sandbox/faults", data=orjson.dumps(rule))
        assert resp.status == 201
        fid = (await resp.json())["id"]
        listed = (await (await client.get("/sandbox/faults")).json())["items"]
        assert [r["id"] for r in listed] == [fid] and listed[0]["code"] == 503
        assert (await client.get(CM_URL)).status == 503
        resp = await client.delete(f"/sandbox/faults/{fid}")
        assert resp.status == 200
        assert (await client.get(CM_URL)).status == 200
        assert (await client.delete(f"/sandbox/faults/{fid}")).status == 404

        for body in (b"{not json", b'{"action": "nope"}', b'{"action": "status", "x": 1}'):
            resp = await client.post("/sandbox/faults", data=body)
            assert resp.status == 400 and (await resp.json())["kind"] == "Status"

        await client.post("/sandbox/faults", data=orjson.dumps(rule))
        await client.post("/sandbox/faults", data=orjson.dumps({"action": "latency"}))
        assert len(ctx.faults.rules()) == 2
        assert (await client.delete("/sandbox/faults")).status == 200
        assert ctx.faults.rules() == []
        assert (await client.get("/sandbox/compact")).status == 405
        assert (await client.get("/sandbox/nothing")).status == 404
        # Fault rules never apply to the /sandbox/ endpoints themselves.
        ctx.faults.add(FaultRule(action="status", code=500))
        assert (await client.get("/sandbox/faults")).status == 200
