"""Services on a running sandbox: what kubectl shows, rolling readiness, and a restart.

Complements e2e/test_sandbox_networking.py (one pod through ClusterIP and the proxy
subresources) with what the network pieces promise across the whole stack: kubectl's
views of EndpointSlices/Endpoints and its error for a taken ClusterIP, traffic spread
over several ready pods, and ClusterIPs that survive a restart from SQLite.
Service ports are above 1024 so the tests run as any user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from kuberay_py.demo.echo_runtime import EchoRuntime
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.server import Sandbox

PORT = 18080


def rt(sb: Sandbox, group: str, resource: str) -> Any:
    found = sb.catalog.get(group, "v1", resource)
    assert found is not None
    return found


def echo_pod(name: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
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
    }


def service(name: str, app: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": app},
            "ports": [{"name": "web", "port": PORT, "targetPort": "http"}],
            **spec,
        },
    }


def ready_addresses(sb: Sandbox, svc: str) -> set[str]:
    try:
        ep = sb.registry.get(rt(sb, "", "endpoints"), "default", svc)
    except StatusError:
        return set()  # not written yet
    return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}


async def fetch(url: str) -> tuple[int, str]:
    """One request on its own connection (spliced connections outlive endpoint changes)."""
    connector = aiohttp.TCPConnector(force_close=True)
    try:
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=3)) as resp,
        ):
            return resp.status, await resp.text()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return -1, type(exc).__name__


async def test_kubectl_sees_slices_endpoints_and_cluster_ip_errors(
    sandbox: Sandbox, kubectl: Any
) -> None:
    sb = sandbox
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox:1.36",
                    "ports": [{"name": "http", "containerPort": 8080}],
                }
            ]
        },
    }
    for manifest in (pod, service("web", "web")):
        (await kubectl("apply", "-f", "-", stdin=json.dumps(manifest))).check()
    pod_ip = await eventually(
        lambda: (sb.registry.get(rt(sb, "", "pods"), "default", "web-1").get("status") or {}).get(
            "podIP"
        )
    )
    await eventually(lambda: ready_addresses(sb, "web") == {pod_ip})
    cluster_ip = sb.registry.get(rt(sb, "", "services"), "default", "web")["spec"]["clusterIP"]

    slices = (
        await kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "json")
    ).check()
    [item] = json.loads(slices.out)["items"]
    assert item["endpoints"][0]["addresses"] == [pod_ip]
    assert item["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    endpoints = (await kubectl("get", "endpoints", "web")).check()
    assert f"{pod_ip}:8080" in endpoints.out
    described = (await kubectl("describe", "service", "web")).check()
    assert cluster_ip in described.out and f"{pod_ip}:8080" in described.out

    taken = await kubectl(
        "create", "-f", "-", stdin=json.dumps(service("copy", "web", clusterIP=cluster_ip))
    )
    assert taken.code != 0
    assert taken.err.strip() == (
        'The Service "copy" is invalid: spec.clusterIPs: '
        f'Invalid value: []string{{"{cluster_ip}"}}: '
        f"failed to allocate IP {cluster_ip}: provided IP is already allocated"
    )
    changed = await kubectl(
        "patch", "service", "web", "--type=merge", "-p", '{"spec":{"clusterIP":"127.96.1.1"}}'
    )
    assert changed.code != 0 and "may not change once set" in changed.err


async def test_traffic_spreads_over_ready_pods_and_follows_readiness(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    async with sandbox_factory(runtime=EchoRuntime(), nodes=2) as sb:
        runtime = sb.runtime
        assert isinstance(runtime, EchoRuntime)
        for name in ("echo-a", "echo-b"):
            sb.registry.create(rt(sb, "", "pods"), "default", echo_pod(name, "echo"))
        ip = sb.registry.create(rt(sb, "", "services"), "default", service("echo", "echo"))["spec"][
            "clusterIP"
        ]
        await eventually(lambda: len(ready_addresses(sb, "echo")) == 2)
        url = f"http://{ip}:{PORT}/"
        answers = {(await fetch(url))[1] for _ in range(8)}
        assert answers == {"hello from echo-a\n", "hello from echo-b\n"}

        runtime.set_healthy("default", "echo-a", False)
        await eventually(lambda: len(ready_addresses(sb, "echo")) == 1)
        answers = {(await fetch(url))[1] for _ in range(6)}
        assert answers == {"hello from echo-b\n"}

        runtime.set_healthy("default", "echo-b", False)
        await eventually(lambda: not ready_addresses(sb, "echo"))
        status, error = await eventually(
            lambda: _refused(url)  # no ready endpoint: the listener is gone
        )
        assert status == -1 and error == "ClientConnectorError"

        runtime.set_healthy("default", "echo-a", True)
        assert await eventually(lambda: _ok(url)) == "hello from echo-a\n"


async def test_cluster_ips_survive_a_restart(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    async with sandbox_factory(runtime=EchoRuntime(), data_dir=data_dir, nodes=1) as sb:
        sb.registry.create(rt(sb, "", "pods"), "default", echo_pod("echo", "echo"))
        ip = sb.registry.create(rt(sb, "", "services"), "default", service("echo", "echo"))["spec"][
            "clusterIP"
        ]
        assert await eventually(lambda: _ok(f"http://{ip}:{PORT}/")) == "hello from echo\n"

    async with sandbox_factory(runtime=EchoRuntime(), data_dir=data_dir, nodes=1) as sb:
        services = rt(sb, "", "services")
        assert sb.registry.get(services, "default", "echo")["spec"]["clusterIP"] == ip
        other = sb.registry.create(services, "default", service("other", "echo"))
        assert other["spec"]["clusterIP"] != ip
        # The restarted cluster serves the old ClusterIP again once its pod is ready.
        assert await eventually(lambda: _ok(f"http://{ip}:{PORT}/")) == "hello from echo\n"


async def _ok(url: str) -> str | None:
    status, text = await fetch(url)
    return text if status == 200 else None


async def _refused(url: str) -> tuple[int, str] | None:
    status, text = await fetch(url)
    return (status, text) if status == -1 else None
