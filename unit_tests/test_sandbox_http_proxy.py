"""pods/NAME:PORT/proxy and services/NAME:PORT/proxy against a real local HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from unit_tests.sandbox_http_harness import api_client

UPSTREAM_HOST = "127.0.0.77"
PODS = "/api/v1/namespaces/default/pods"
SERVICES = "/api/v1/namespaces/default/services"


@asynccontextmanager
async def upstream() -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
    """A tiny HTTP server that echoes what it received; yields (port, seen requests)."""
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "body": body,
                "headers": dict(request.headers),
            }
        )
        return web.Response(
            text=f"{request.method} {request.path_qs} {body.decode()}",
            headers={"X-Upstream": "yes"},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, UPSTREAM_HOST, 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, seen
    finally:
        await runner.cleanup()


def _pod(port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": port}]}
            ]
        },
    }


async def test_pod_proxy_by_number_and_name() -> None:
    async with upstream() as (port, seen), api_client() as (client, ctx):
        assert (await client.post(PODS, json=_pod(port))).status == 201
        resp = await client.get(f"{PODS}/web:{port}/proxy/")
        assert resp.status == 503  # no pod IP yet
        assert (await resp.json())["reason"] == "ServiceUnavailable"

        rt = ctx.catalog.get("", "v1", "pods")
        assert rt is not None
        ctx.registry.patch(
            rt, "default", "web", "merge", {"status": {"podIP": UPSTREAM_HOST}}, "status"
        )
        resp = await client.get(
            f"{PODS}/web:{port}/proxy/healthz?deep=1",
            headers={"X-Test": "1", "Connection": "close"},
        )
        assert resp.status == 200 and await resp.text() == "GET /healthz?deep=1 "
        assert resp.headers["X-Upstream"] == "yes"
        assert seen[-1]["headers"]["X-Test"] == "1"

        resp = await client.post(f"{PODS}/web:http/proxy/api/submit", data=b"payload")
        assert await resp.text() == "POST /api/submit payload"
        resp = await client.put(f"{PODS}/http:web:{port}/proxy/x", data=b"p")
        assert await resp.text() == "PUT /x p"
        resp = await client.get(f"{PODS}/web:nosuchport/proxy/")
        assert resp.status == 503
        resp = await client.get(f"{PODS}/missing:80/proxy/")
        assert resp.status == 404


async def _service_with_slice(client: Any, port: int, ready: bool) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
        },
    }
    assert (await client.post(SERVICES, json=svc)).status == 201
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "echo-abc", "labels": {"kubernetes.io/service-name": "echo"}},
        "addressType": "IPv4",
        "ports": [{"name": "web", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [UPSTREAM_HOST], "conditions": {"ready": ready}}],
    }
    resp = await client.post(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", json=endpoint_slice
    )
    assert resp.status == 201, await resp.text()


async def test_service_proxy_uses_ready_endpoints() -> None:
    async with upstream() as (port, _), api_client() as (client, ctx):
        await _service_with_slice(client, port, ready=False)
        for target in ("echo:web", "echo:80", "echo"):
            resp = await client.get(f"{SERVICES}/{target}/proxy/")
            assert resp.status == 503, target
            body = await resp.json()
            assert body["message"] == 'no endpoints available for service "echo"'

        rt = ctx.catalog.get("discovery.k8s.io", "v1", "endpointslices")
        assert rt is not None
        ctx.registry.patch(
            rt,
            "default",
            "echo-abc",
            "merge",
            {"endpoints": [{"addresses": [UPSTREAM_HOST], "conditions": {"ready": True}}]},
        )
        for target in ("echo:web", "echo:80", "echo"):
            resp = await client.get(f"{SERVICES}/{target}/proxy/hello")
            assert resp.status == 200 and await resp.text() == "GET /hello ", target
        resp = await client.get(f"{SERVICES}/echo:nope/proxy/")
        assert resp.status == 503


async def test_proxy_to_a_closed_port_is_503() -> None:
    async with upstream() as (port, _), api_client() as (client, ctx):
        await client.post(PODS, json=_pod(port))
        rt = ctx.catalog.get("", "v1", "pods")
        assert rt is not None
        ctx.registry.patch(
            rt, "default", "web", "merge", {"status": {"podIP": UPSTREAM_HOST}}, "status"
        )
    # The upstream is gone now; a new API server still answers with a Status.
    async with api_client() as (client, ctx):
        await client.post(PODS, json=_pod(port))
        rt = ctx.catalog.get("", "v1", "pods")
        assert rt is not None
        ctx.registry.patch(
            rt, "default", "web", "merge", {"status": {"podIP": UPSTREAM_HOST}}, "status"
        )
        resp = await client.get(f"{PODS}/web:{port}/proxy/")
        assert resp.status == 503 and (await resp.json())["kind"] == "Status"
