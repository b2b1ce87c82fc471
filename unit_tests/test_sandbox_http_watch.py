"""Watch streams over HTTP: events, timeouts, bookmarks, 410, Table rows, disconnects."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import ClientResponse

from unit_tests.sandbox_http_harness import (
    CM_URL,
    TABLE_ACCEPT,
    api_client,
    configmap,
    eventually,
)


async def read_events(resp: ClientResponse) -> list[dict[str, Any]]:
    """Every event until the server ends the stream."""
    body = await resp.read()
    return [orjson.loads(line) for line in body.splitlines() if line.strip()]


async def next_event(resp: ClientResponse, timeout: float = 5.0) -> dict[str, Any]:
    line = await asyncio.wait_for(resp.content.readline(), timeout)
    assert line, "the stream ended"
    event: dict[str, Any] = orjson.loads(line)
    return event


def _watchers(ctx: Any) -> int:
    count: int = ctx.registry.hub.watcher_count()
    return count


async def test_watch_initial_state_changes_and_timeout() -> None:
    async with api_client() as (client, ctx):
        await client.post(CM_URL, json=configmap("before"))
        started = time.monotonic()
        resp = await client.get(CM_URL, params={"watch": "true", "timeoutSeconds": "1"})
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        first = await next_event(resp)
        assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "before"
        assert first["object"]["kind"] == "ConfigMap" and first["object"]["apiVersion"] == "v1"
        await client.patch(
            f"{CM_URL}/before",
            data=b'{"data":{"a":"1"}}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        await client.delete(f"{CM_URL}/before")
        rest = await read_events(resp)
        assert [e["type"] for e in rest] == ["MODIFIED", "DELETED"]
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 3.0, elapsed
        await eventually(lambda: _watchers(ctx) == 0)


async def test_watch_from_resource_version_with_bookmarks() -> None:
    async with api_client(bookmark_interval=0.1) as (client, _):
        created = await (await client.post(CM_URL, json=configmap("old"))).json()
        rv = created["metadata"]["resourceVersion"]
        resp = await client.get(
            CM_URL,
            params={
                "watch": "1",
                "resourceVersion": rv,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "1",
            },
        )
        await client.post(CM_URL, json=configmap("new"))
        events = await read_events(resp)
        changes = [e for e in events if e["type"] != "BOOKMARK"]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in changes] == [("ADDED", "new")]
        bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
        assert bookmarks, events
        assert bookmarks[-1]["object"]["kind"] == "ConfigMap"
        assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)


async def test_compacted_resource_version_is_an_error_event() -> None:
    async with api_client() as (client, _):
        created = await (await client.post(CM_URL, json=configmap("a"))).json()
        old = int(created["metadata"]["resourceVersion"])
        await client.post(CM_URL, json=configmap("b"))
        resp = await client.post("/sandbox/compact")
        assert resp.status == 200
        resp = await client.get(
            CM_URL, params={"watch": "true", "resourceVersion": str(old), "timeoutSeconds": "5"}
        )
        assert resp.status == 200
        events = await read_events(resp)
        assert len(events) == 1 and events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["kind"] == "Status" and status["code"] == 410
        assert status["reason"] == "Expired"


async def test_table_watch_sends_one_row_tables() -> None:
    async with api_client() as (client, _):
        await client.post(CM_URL, json=configmap("row", k="v"))
        resp = await client.get(
            CM_URL,
            params={"watch": "true", "timeoutSeconds": "1"},
            headers={"Accept": TABLE_ACCEPT},
        )
        assert resp.headers["Content-Type"] == "application/json;as=Table;v=v1;g=meta.k8s.io"
        events = await read_events(resp)
        assert len(events) == 1
        table = events[0]["object"]
        assert table["kind"] == "Table" and len(table["rows"]) == 1
        assert table["rows"][0]["cells"][0] == "row"
        assert table["rows"][0]["object"]["metadata"]["name"] == "row"


async def test_legacy_watch_path_and_field_selector() -> None:
    async with api_client() as (client, _):
        await client.post(CM_URL, json=configmap("one"))
        await client.post(CM_URL, json=configmap("two"))
        resp = await client.get(
            "/api/v1/watch/namespaces/default/configmaps/two", params={"timeoutSeconds": "1"}
        )
        names = [e["object"]["metadata"]["name"] for e in await read_events(resp)]
        assert names == ["two"]
        resp = await client.get(
            CM_URL,
            params={"watch": "true", "fieldSelector": "metadata.name=one", "timeoutSeconds": "1"},
        )
        names = [e["object"]["metadata"]["name"] for e in await read_events(resp)]
        assert names == ["one"]
        resp = await client.get("/api/v1/watch/configmaps", params={"timeoutSeconds": "1"})
        assert len(await read_events(resp)) >= 2


async def test_client_disconnect_closes_the_registry_watch() -> None:
    async with api_client() as (client, ctx):
        resp = await client.get(CM_URL, params={"watch": "true"})
        assert resp.status == 200
        await eventually(lambda: _watchers(ctx) == 1)
        resp.close()
        await eventually(lambda: _watchers(ctx) == 0, timeout=5)


async def test_drop_watches_ends_streams_and_burst_is_delivered_in_order() -> None:
    async with api_client() as (client, ctx):
        resp = await client.get(CM_URL, params={"watch": "true", "timeoutSeconds": "30"})
        await eventually(lambda: _watchers(ctx) == 1)
        rt = ctx.catalog.get("", "v1", "configmaps")
        assert rt is not None
        for i in range(500):  # written synchronously: the stream gets them in batches
            ctx.registry.create(rt, "default", configmap(f"burst-{i}"))
        received: list[str] = []
        while len(received) < 500:
            received.append((await next_event(resp))["object"]["metadata"]["name"])
        assert received == [f"burst-{i}" for i in range(500)]
        dropped = await (await client.post("/sandbox/drop-watches")).json()
        assert dropped == {"dropped": 1}
        assert await read_events(resp) == []
