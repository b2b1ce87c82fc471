"""Real loopback networking, end to end: a pod's server reached through its Service.

A tiny HTTP server runs as the pod's container through the runtime plug-in,
on the pod's own 127.x address. It must answer through the Service's
ClusterIP (the kube-proxy-like forwarder), through the services/ and pods/
proxy subresources of the API server, and not at all through the Service
once the pod is unready.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from kuberay_py.demo.echo_runtime import EchoRuntime
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.server import Sandbox


@pytest.fixture
async def echo_sandbox(sandbox_factory: Callable[..., Sandbox]) -> AsyncIterator[Sandbox]:
    sb = sandbox_factory(runtime=EchoRuntime(), nodes=2)
    async with sb:
        yield sb


def _rt(sb: Sandbox, group: str, resource: str) -> Any:
    rt = sb.catalog.get(group, "v1", resource)
    assert rt is not None
    return rt


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=3)) as resp:
            return resp.status, await resp.text()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return -1, type(exc).__name__


async def test_pod_server_through_service_proxy_and_not_when_unready(echo_sandbox: Sandbox) -> None:
    sb = echo_sandbox
    pods, services = _rt(sb, "", "pods"), _rt(sb, "", "services")
    sb.registry.create(
        pods,
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "echo", "labels": {"app": "echo"}},
            "spec": {
                "containers": [
                    {
                        "name": "echo",
                        "image": "kuberay-py/echo:1",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http"},
                            "periodSeconds": 1,
                            "failureThreshold": 1,
                        },
                    }
                ]
            },
        },
    )
    svc = sb.registry.create(
        services,
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo"},
            "spec": {
                "selector": {"app": "echo"},
                "ports": [{"name": "web", "port": 18080, "targetPort": "http"}],
            },
        },
    )
    cluster_ip = svc["spec"]["clusterIP"]
    assert cluster_ip.startswith("127.")

    def pod() -> dict[str, Any]:
        return sb.registry.get(pods, "default", "echo")

    def ready() -> bool:
        conds = pod().get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    await eventually(ready)
    pod_ip = pod()["status"]["podIP"]
    assert pod_ip.startswith("127.") and pod_ip != cluster_ip

    # A fresh connection per request: open connections stay spliced, as with kube-proxy.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        via_service = await eventually(lambda: _ok(session, f"http://{cluster_ip}:18080/"))
        assert via_service == "hello from echo\n"
        via_svc_proxy = await _get(
            session, f"{sb.url}/api/v1/namespaces/default/services/echo:web/proxy/"
        )
        assert via_svc_proxy == (200, "hello from echo\n")
        via_pod_proxy = await _get(
            session, f"{sb.url}/api/v1/namespaces/default/pods/echo:8080/proxy/healthz"
        )
        assert via_pod_proxy == (200, "ok")

        # The app starts failing its health check: the pod turns unready, and although its
        # server still answers on the pod IP, the Service sends it nothing.
        runtime = sb.runtime
        assert isinstance(runtime, EchoRuntime)
        runtime.set_healthy("default", "echo", False)
        await eventually(lambda: not ready())
        assert (await _get(session, f"http://{pod_ip}:8080/"))[0] == 200
        status, _ = await eventually(lambda: _refused(session, f"http://{cluster_ip}:18080/"))
        assert status == -1
        proxied = await _get(
            session, f"{sb.url}/api/v1/namespaces/default/services/echo:web/proxy/"
        )
        assert proxied[0] == 503

        runtime.set_healthy("default", "echo", True)
        await eventually(ready)
        assert (
            await eventually(lambda: _ok(session, f"http://{cluster_ip}:18080/"))
            == "hello from echo\n"
        )


async def _ok(session: aiohttp.ClientSession, url: str) -> str | None:
    status, text = await _get(session, url)
    return text if status == 200 else None


async def _refused(session: aiohttp.ClientSession, url: str) -> tuple[int, str] | None:
    status, text = await _get(session, url)
    return (status, text) if status == -1 else None
