"""KubeProxy end to end on loopback: real sockets on pod IPs, ClusterIP listeners, live changes.

The test plays the kubelet (pod status: podIP and Ready) and runs the real
registry, Service IP admission, EndpointSlice controller and KubeProxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.endpointslices import EndpointSliceController
from kuberay_py.sandbox.network.ipam import IPAllocator
from kuberay_py.sandbox.network.proxy import KubeProxy, ready_backends, service_backends
from kuberay_py.sandbox.network.service_ips import ServiceIPAdmission
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import DeleteOptions

SERVICE_PORT = 18000  # unprivileged, so the test runs as any user


async def poll(cond: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def poll_async(cond: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await cond()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@attrs.define
class Net:
    registry: Registry
    proxy: KubeProxy
    pod_ips: IPAllocator
    servers: list[web.AppRunner] = attrs.Factory(list)
    raw_servers: list[asyncio.Server] = attrs.Factory(list)

    def rt(self, group: str, resource: str) -> ResourceType:
        rt = self.registry.catalog.get(group, "v1", resource)
        assert rt is not None
        return rt

    async def http_pod(self, name: str, labels: dict[str, str]) -> tuple[str, int]:
        """A pod whose container is an aiohttp server answering its own name."""
        ip = self.pod_ips.allocate(name)

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text=name)

        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, ip, 0)
        await site.start()
        self.servers.append(runner)
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.pod(name, labels, ip, port)
        return ip, port

    async def echo_pod(self, name: str, labels: dict[str, str]) -> tuple[str, int]:
        """A pod that echoes everything until EOF, then sends "bye" and closes."""
        ip = self.pod_ips.allocate(name)

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
            writer.write(b"bye")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, ip, 0)
        self.raw_servers.append(server)
        port = server.sockets[0].getsockname()[1]
        self.pod(name, labels, ip, port)
        return ip, port

    def pod(self, name: str, labels: dict[str, str], ip: str, port: int) -> None:
        container = {
            "name": "main",
            "image": "x",
            "ports": [{"name": "web", "containerPort": port}],
        }
        body = {
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [container], "nodeName": "node-1"},
        }
        self.registry.create(self.rt("", "pods"), "default", body)
        self.set_status(name, ip=ip, ready=True)

    def set_status(self, name: str, *, ip: str, ready: bool) -> None:
        status = {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        self.registry.patch(
            self.rt("", "pods"), "default", name, "merge", {"status": status}, "status"
        )

    def service(self, name: str, selector: dict[str, str], **spec: Any) -> str:
        body: dict[str, Any] = {
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "web"}],
            "selector": selector,
        }
        body.update(spec)
        svc = self.registry.create(
            self.rt("", "services"), "default", {"metadata": {"name": name}, "spec": body}
        )
        return str(svc["spec"]["clusterIP"])

    async def close(self) -> None:
        for runner in self.servers:
            await runner.cleanup()
        for server in self.raw_servers:
            server.close()


@contextlib.asynccontextmanager
async def network() -> AsyncIterator[Net]:
    clock = SandboxClock(0.01)
    registry = Registry(Catalog(), clock=clock)
    registry.add_admission(ServiceIPAdmission(IPAllocator("127.96.0.0/12")))
    proxy = KubeProxy(registry, clock)
    tasks = [
        asyncio.create_task(EndpointSliceController(registry, clock).run()),
        asyncio.create_task(proxy.run()),
    ]
    net = Net(registry, proxy, IPAllocator("127.16.0.0/12"))
    try:
        yield net
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await net.close()
        assert not proxy.listeners  # stopping closes every listener


def fresh_session() -> aiohttp.ClientSession:
    """No keep-alive: an established connection through the proxy outlives endpoint changes
    (as with kube-proxy), so each request must open its own connection to see them."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def get(session: aiohttp.ClientSession, ip: str) -> str:
    async with session.get(f"http://{ip}:{SERVICE_PORT}/") as resp:
        assert resp.status == 200
        return await resp.text()


async def refused(ip: str, port: int = SERVICE_PORT) -> bool:
    try:
        _, writer = await asyncio.open_connection(ip, port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_get_through_cluster_ip_follows_readiness() -> None:
    async with network() as net, fresh_session() as session:
        await net.http_pod("web-1", {"app": "web"})
        ip = net.service("web", {"app": "web"})
        await poll(lambda: (ip, SERVICE_PORT) in net.proxy.listening())
        assert await get(session, ip) == "web-1"
        net.set_status("web-1", ip=net.pod_ips.ip_of("web-1") or "", ready=False)
        await poll_async(lambda: refused(ip))
        with pytest.raises(aiohttp.ClientConnectorError):
            await get(session, ip)
        net.set_status("web-1", ip=net.pod_ips.ip_of("web-1") or "", ready=True)
        await poll(lambda: (ip, SERVICE_PORT) in net.proxy.listening())
        assert await get(session, ip) == "web-1"


async def test_round_robin_over_ready_endpoints() -> None:
    async with network() as net:
        for name in ("a", "b", "c"):
            await net.http_pod(name, {"app": "rr"})
        net.set_status("c", ip=net.pod_ips.ip_of("c") or "", ready=False)
        ip = net.service("rr", {"app": "rr"})
        await poll(lambda: len(net.proxy.backends("default", "rr", "http")) == 2)
        seen = []
        async with fresh_session() as session:
            for _ in range(6):  # a fresh connection each time
                seen.append(await get(session, ip))
        assert sorted(set(seen)) == ["a", "b"]
        assert seen[0::2] == [seen[0]] * 3 and seen[1::2] == [seen[1]] * 3


async def test_large_transfer_half_close_and_connection_survives_unready() -> None:
    async with network() as net:
        pod_ip, _ = await net.echo_pod("echo", {"app": "echo"})
        ip = net.service("echo", {"app": "echo"})
        await poll(lambda: (ip, SERVICE_PORT) in net.proxy.listening())
        reader, writer = await asyncio.open_connection(ip, SERVICE_PORT)
        # Unready after the connection is spliced: new connections are refused, this one lives.
        net.set_status("echo", ip=pod_ip, ready=False)
        await poll_async(lambda: refused(ip))
        payload = bytes(range(256)) * (8 * 4096)  # 8 MiB

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        sender = asyncio.create_task(send())
        received = await asyncio.wait_for(reader.read(-1), 20)
        await sender
        writer.close()
        assert received == payload + b"bye"


async def test_deleted_service_closes_its_listener() -> None:
    async with network() as net, fresh_session() as session:
        await net.http_pod("web-1", {"app": "web"})
        ip = net.service("web", {"app": "web"})
        await poll(lambda: (ip, SERVICE_PORT) in net.proxy.listening())
        assert await get(session, ip) == "web-1"
        net.registry.delete(net.rt("", "services"), "default", "web", DeleteOptions())
        await poll(lambda: not net.proxy.listeners)
        assert await refused(ip)


async def test_headless_service_gets_no_listener_and_backend_refusing_resets() -> None:
    async with network() as net:
        pod_ip, port = await net.http_pod("web-1", {"app": "web"})
        net.service("headless", {"app": "web"}, clusterIP="None")
        ip = net.service("web", {"app": "web"})
        await poll(lambda: (ip, SERVICE_PORT) in net.proxy.listening())
        assert net.proxy.listening() == {(ip, SERVICE_PORT)}
        await net.servers[0].cleanup()  # the pod's process died but it is still "ready"
        net.servers.clear()
        reader, writer = await asyncio.open_connection(ip, SERVICE_PORT)
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert net.proxy.backends("default", "web", SERVICE_PORT) == [(pod_ip, port)]


async def test_bind_failure_is_retried_not_fatal() -> None:
    async with network() as net, fresh_session() as session:
        await net.http_pod("web-1", {"app": "web"})
        cluster_ip = IPAllocator("127.96.0.0/12").allocate("blocked")
        blocker = socket.socket()
        # SO_REUSEADDR ignores TIME_WAIT leftovers of earlier runs; two listeners still clash.
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind((cluster_ip, SERVICE_PORT))
        blocker.listen()
        try:
            net.service("web", {"app": "web"}, clusterIP=cluster_ip)
            await poll(lambda: net.proxy.listeners.get((cluster_ip, SERVICE_PORT)) is not None)
            await poll(lambda: net.proxy.listeners[(cluster_ip, SERVICE_PORT)].failures >= 1)
            assert (cluster_ip, SERVICE_PORT) not in net.proxy.listening()
            # Another Service is unaffected.
            other = net.service("other", {"app": "web"})
            await poll(lambda: (other, SERVICE_PORT) in net.proxy.listening())
            assert await get(session, other) == "web-1"
        finally:
            blocker.close()
        await poll(lambda: (cluster_ip, SERVICE_PORT) in net.proxy.listening(), timeout=10)
        assert await get(session, cluster_ip) == "web-1"


def test_ready_backends_rules() -> None:
    svc: dict[str, Any] = {"spec": {"ports": [{"name": "http", "port": 80}]}}
    port = svc["spec"]["ports"][0]

    def ep(ip: str, **cond: bool) -> dict[str, Any]:
        return {"addresses": [ip], "conditions": cond}

    slices = [
        {
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                ep("127.16.0.1", ready=True),
                ep("127.16.0.2"),  # ready unset means ready
                ep("127.16.0.3", ready=False, serving=True, terminating=True),
                ep("127.16.0.4", ready=False, serving=False, terminating=False),
            ],
        },
        {
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [ep("127.16.0.1", ready=True)],  # duplicate across slices
        },
        {
            "addressType": "IPv4",
            "ports": [{"name": "other", "port": 9090, "protocol": "TCP"}],
            "endpoints": [ep("127.16.0.5", ready=True)],
        },
    ]
    assert ready_backends(slices, port) == [("127.16.0.1", 8080), ("127.16.0.2", 8080)]
    draining = [dict(slices[0], endpoints=slices[0]["endpoints"][2:])]
    assert ready_backends(draining, port) == [("127.16.0.3", 8080)]


async def test_service_backends_reads_the_registry() -> None:
    async with network() as net:
        pod_ip, port = await net.http_pod("web-1", {"app": "web"})
        net.service("web", {"app": "web"})
        want = [(pod_ip, port)]
        await poll(lambda: service_backends(net.registry, "default", "web", "http") == want)
        assert service_backends(net.registry, "default", "web", SERVICE_PORT) == want
        assert service_backends(net.registry, "default", "web") == want
        assert service_backends(net.registry, "default", "web", "nope") == []
        with pytest.raises(StatusError) as err:
            service_backends(net.registry, "default", "missing")
        assert err.value.code == 404


async def test_many_concurrent_connections() -> None:
    async with network() as net:
        for name in ("a", "b"):
            await net.echo_pod(name, {"app": "echo"})
        ip = net.service("echo", {"app": "echo"})
        await poll(lambda: len(net.proxy.backends("default", "echo")) == 2)

        async def one(i: int) -> bytes:
            reader, writer = await asyncio.open_connection(ip, SERVICE_PORT)
            writer.write(f"request {i}".encode())
            writer.write_eof()
            data = await reader.read(-1)
            writer.close()
            return data

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(200))), 20)
        assert results == [f"request {i}bye".encode() for i in range(200)]
        await poll(lambda: not any(lst.clients for lst in net.proxy.listeners.values()))
