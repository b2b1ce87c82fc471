"""A container runtime whose containers are tiny HTTP servers on the pod's own IP.

Used by the demo and the networking tests: a container of image
`kuberay-py/echo` serves `GET /` (answers with the pod name) and
`GET /healthz` on every containerPort, so probes, EndpointSlices, the
kube-proxy forwarder and the proxy subresource are exercised with real
sockets. A stop drains: the server stops accepting, finishes what is in
flight, then exits 0 — what a well-behaved server does on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from kuberay_py.sandbox.containers.base import ContainerContext

ECHO_IMAGE_PREFIX = "kuberay-py/echo"


class EchoContainer:
    def __init__(self, runners: list[web.AppRunner]) -> None:
        self.runners = runners
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)


class _IdleContainer:
    """Any other image: runs until stopped, like the default runtime."""

    def __init__(self) -> None:
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)


def _ports(container: dict[str, Any]) -> list[int]:
    ports = [int(p["containerPort"]) for p in container.get("ports", []) if "containerPort" in p]
    return ports or [8080]


class EchoRuntime:
    """ContainerRuntime: echo servers for `kuberay-py/echo*` images, idle containers otherwise."""

    def __init__(self) -> None:
        self._unhealthy: set[tuple[str, str]] = set()

    def set_healthy(self, namespace: str, pod: str, healthy: bool) -> None:
        """Make a pod's `/healthz` answer 503 (or 200 again), as a failing app would."""
        if healthy:
            self._unhealthy.discard((namespace, pod))
        else:
            self._unhealthy.add((namespace, pod))

    async def start(self, ctx: ContainerContext) -> EchoContainer | _IdleContainer:
        if not str(ctx.container.get("image", "")).startswith(ECHO_IMAGE_PREFIX):
            return _IdleContainer()
        pod_name = ctx.pod["metadata"]["name"]
        pod_key = (ctx.pod["metadata"].get("namespace", ""), pod_name)

        async def hello(_: web.Request) -> web.Response:
            return web.Response(text=f"hello from {pod_name}\n")

        async def healthz(_: web.Request) -> web.Response:
            if pod_key in self._unhealthy:
                return web.Response(status=503, text="unhealthy")
            return web.Response(text="ok")

        runners = []
        for port in _ports(ctx.container):
            app = web.Application()
            app.router.add_get("/", hello)
            app.router.add_get("/healthz", healthz)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, ctx.pod_ip, port, reuse_address=True).start()
            runners.append(runner)
        return EchoContainer(runners)

    async def probe(self, ctx: ContainerContext, handle: Any, probe: dict[str, Any]) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            spec = probe["httpGet"]
            url = f"http://{ctx.pod_ip}:{_port(ctx, spec['port'])}{spec.get('path', '/')}"
            try:
                async with (
                    ClientSession(timeout=ClientTimeout(total=timeout)) as session,
                    session.get(url) as resp,
                ):
                    return 200 <= resp.status < 400
            except (TimeoutError, ClientError, OSError):
                return False
        if "tcpSocket" in probe:
            port = _port(ctx, probe["tcpSocket"]["port"])
            if not isinstance(handle, EchoContainer):
                return True
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(ctx.pod_ip, port), timeout
                )
            except (TimeoutError, OSError):
                return False
            writer.close()
            return True
        return True

    async def stop(self, ctx: ContainerContext, handle: Any, grace_seconds: float) -> int:
        if isinstance(handle, EchoContainer):
            for runner in handle.runners:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(runner.cleanup(), max(grace_seconds, 0.01))
        if not handle.exited.done():
            handle.exited.set_result(0)
        return 0


def _port(ctx: ContainerContext, port: int | str) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in ctx.container.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"no container port named {port!r}")
