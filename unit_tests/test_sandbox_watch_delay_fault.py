"""The watch_delay fault: late watch events, in order, none lost, switchable at run time."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse

from kuberay_py.sandbox.http.faults import FaultInjector, FaultRule
from kuberay_py.sandbox.http.watch_delay import DelayingWatch
from kuberay_py.sandbox.registry.registry import Watch
from kuberay_py.sandbox.registry.types import WatchEvent
from unit_tests.sandbox_http_harness import CM_URL, api_client, configmap, eventually

DELAY = 0.5


async def _arrivals(resp: ClientResponse, want: int, sink: list[tuple[float, str]]) -> None:
    """Read `want` events, noting when each arrived and which object it was about."""
    while len(sink) < want:
        line = await asyncio.wait_for(resp.content.readline(), 10)
        assert line, "the stream ended early"
        event = orjson.loads(line)
        if event["type"] != "BOOKMARK":
            sink.append((time.monotonic(), event["object"]["metadata"]["name"]))


async def _open_watch(client: Any, url: str = CM_URL, **params: str) -> ClientResponse:
    listed = await (await client.get(url)).json()
    query = {"watch": "true", "resourceVersion": listed["metadata"]["resourceVersion"]}
    query.setdefault("timeoutSeconds", "30")
    query.update(params)
    resp: ClientResponse = await client.get(url, params=query)
    assert resp.status == 200
    return resp


def test_watch_delay_rule_wire_form_matching_and_counts() -> None:
    rule = FaultRule.from_wire(
        {"action": "watch_delay", "delaySeconds": 2, "resource": "pods", "namespace": "ray"}
    )
    expected = FaultRule(action="watch_delay", delay_seconds=2, resource="pods", namespace="ray")
    assert rule == expected
    assert rule.to_wire()["delaySeconds"] == 2
    for bad in (
        {"action": "watch_delay", "delaySeconds": -1},
        {"action": "watch_delay", "delaySeconds": "2"},
        {"action": "watch_delay", "delaySeconds": True},
    ):
        with pytest.raises(ValueError):
            FaultRule.from_wire(bad)

    faults = FaultInjector(random.Random(3))
    faults.add(FaultRule(action="watch_delay", resource="pods", delay_seconds=1.5, count=2))
    faults.add(FaultRule(action="watch_delay", namespace="ray", delay_seconds=4))
    # Only watch events are delayed; a request is never held (or counted) by it.
    assert faults.match("list", "pods", "ray", actions=("status", "latency")) == []
    assert faults.watch_delay("configmaps", "default") == 0.0
    assert faults.watch_delay("configmaps", "ray") == 4  # the namespace rule alone
    assert faults.watch_delay("pods", "ray") == 4  # both match: the longest delay wins
    assert faults.watch_delay("pods", "default") == 1.5  # the count rule's second event
    assert faults.watch_delay("pods", "default") == 0.0  # its count is spent: it is gone
    assert [r.action for _, r in faults.rules()] == ["watch_delay"]


async def test_events_are_held_in_order_and_delivered() -> None:
    async with api_client() as (client, _ctx):
        resp = await _open_watch(client)
        # Switched on after the watch opened: it applies to the open stream.
        rule = {"action": "watch_delay", "resource": "configmaps", "delaySeconds": DELAY}
        created = await client.post("/sandbox/faults", data=orjson.dumps(rule))
        assert created.status == 201
        sink: list[tuple[float, str]] = []
        reader = asyncio.ensure_future(_arrivals(resp, 20, sink))
        written: dict[str, float] = {}
        for i in range(20):
            written[f"c{i:02d}"] = time.monotonic()
            assert (await client.post(CM_URL, json=configmap(f"c{i:02d}"))).status == 201
        await reader
        assert [name for _, name in sink] == sorted(written)  # every event, in write order
        for arrived, name in sink:
            assert arrived - written[name] >= DELAY - 0.02, name
        resp.close()


async def test_switching_off_delivers_held_events_and_stops_delaying() -> None:
    async with api_client() as (client, ctx):
        resp = await _open_watch(client)
        fid = ctx.faults.add(
            FaultRule(action="watch_delay", resource="configmaps", delay_seconds=30)
        )
        await client.post(CM_URL, json=configmap("held"))
        await asyncio.sleep(0)
        # Nothing is sent while the rule holds the event back.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(resp.content.readline(), 0.3)
        # Held events keep their due time; switching the rule off affects later events only,
        # and a later event never overtakes a held one.
        ctx.faults.remove(fid)
        await client.post(CM_URL, json=configmap("after"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(resp.content.readline(), 0.3)
        resp.close()

        resp = await _open_watch(client)
        fid = ctx.faults.add(
            FaultRule(action="watch_delay", resource="configmaps", delay_seconds=DELAY)
        )
        sink: list[tuple[float, str]] = []
        reader = asyncio.ensure_future(_arrivals(resp, 2, sink))
        started = time.monotonic()
        await client.post(CM_URL, json=configmap("slow"))
        ctx.faults.remove(fid)
        await client.post(CM_URL, json=configmap("fast"))
        await reader
        assert [name for _, name in sink] == ["slow", "fast"]
        assert sink[0][0] - started >= DELAY - 0.02
        # Once the held event is out, undelayed events flow at once again.
        sink.clear()
        started = time.monotonic()
        await client.post(CM_URL, json=configmap("now"))
        await _arrivals(resp, 1, sink)
        assert sink[0][0] - started < DELAY
        resp.close()


async def test_namespace_of_the_object_decides() -> None:
    async with api_client() as (client, ctx):
        await client.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
        )
        everywhere = await _open_watch(client, "/api/v1/configmaps")
        only_default = await _open_watch(client)
        ctx.faults.add(FaultRule(action="watch_delay", namespace="team", delay_seconds=DELAY))
        sink: list[tuple[float, str]] = []
        mine: list[tuple[float, str]] = []
        readers = [
            asyncio.ensure_future(_arrivals(everywhere, 3, sink)),
            asyncio.ensure_future(_arrivals(only_default, 2, mine)),
        ]
        started = time.monotonic()
        await client.post(CM_URL, json=configmap("home"))
        team = "/api/v1/namespaces/team/configmaps"
        await client.post(team, json=configmap("away"))
        await client.post(CM_URL, json=configmap("home2"))
        await asyncio.gather(*readers)
        names = [name for _, name in sink]
        assert names == ["home", "away", "home2"]  # order kept across namespaces
        assert sink[0][0] - started < DELAY  # not held: another namespace
        assert sink[1][0] - started >= DELAY - 0.02
        assert sink[2][0] >= sink[1][0]  # queued behind the held event
        assert [n for _, n in mine] == ["home", "home2"]
        assert mine[1][0] - started < DELAY  # this stream holds nothing of "team"
        everywhere.close()
        only_default.close()


async def test_timeout_still_delivers_held_events_then_ends() -> None:
    async with api_client() as (client, ctx):
        resp = await _open_watch(client, timeoutSeconds="1")
        ctx.faults.add(FaultRule(action="watch_delay", delay_seconds=0.8))
        await asyncio.sleep(0.5)
        await client.post(CM_URL, json=configmap("late"))
        body = await asyncio.wait_for(resp.read(), 10)
        names = [
            orjson.loads(line)["object"]["metadata"]["name"]
            for line in body.splitlines()
            if line.strip()
        ]
        assert names == ["late"]
        hub = ctx.registry.hub  # type: ignore[attr-defined]
        await eventually(lambda: hub.watcher_count() == 0)


class _ListWatch(Watch):
    """A finite in-memory watch, for DelayingWatch on its own."""

    def __init__(self, events: list[WatchEvent]) -> None:
        self.events = list(events)
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def drain_nowait(self) -> list[WatchEvent]:
        out, self.events = self.events, []
        return out

    async def __anext__(self) -> WatchEvent:
        if self.events and not self.closed:
            return self.events.pop(0)
        raise StopAsyncIteration


def _cm_event(name: str) -> WatchEvent:
    return WatchEvent("ADDED", {"metadata": {"name": name, "namespace": "default"}})


async def test_delaying_watch_passes_through_until_an_event_must_wait() -> None:
    inner = _ListWatch([_cm_event(n) for n in ("a", "b", "c", "d")])
    delays = {"a": 0.0, "b": 0.0, "c": 0.2, "d": 0.0}
    watch = DelayingWatch(inner, lambda e: delays[e.object["metadata"]["name"]])
    first = await watch.__anext__()
    assert first.object["metadata"]["name"] == "a"
    # The batch stops before the first held event; the rest wait behind it.
    assert [e.object["metadata"]["name"] for e in watch.drain_nowait()] == ["b"]
    assert watch.drain_nowait() == [] and watch.held == 2
    started = time.monotonic()
    rest = [e.object["metadata"]["name"] async for e in watch]
    assert rest == ["c", "d"] and time.monotonic() - started >= 0.18


async def test_discard_forgets_held_events() -> None:
    inner = _ListWatch([_cm_event("x")])
    watch = DelayingWatch(inner, lambda e: 30.0)
    task = asyncio.ensure_future(watch.__anext__())
    await eventually(lambda: watch.held == 1)
    watch.discard()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(task, 5)
    assert inner.closed and watch.held == 0
