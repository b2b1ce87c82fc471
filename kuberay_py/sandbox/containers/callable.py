"""A container runtime whose containers are async Python callables.

Tests (and small demos) need a pod whose "container" really does something,
such as serving HTTP on the pod's IP, without any process or image. A
`CallableRuntime` maps container names or images to an async function
`main(ctx, stop) -> exit code`; `stop` is set when the kubelet stops the
container (SIGTERM), and the function is cancelled (exit 137, SIGKILL) if it
has not returned within the grace period. Probes really connect: httpGet and
tcpSocket go to the pod IP; exec probes pass (nothing to execute).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import structlog

from kuberay_py.sandbox.containers.base import ContainerContext, ContainerHandle, ContainerRuntime
from kuberay_py.sandbox.containers.noop import NoopRuntime

log = structlog.get_logger("sandbox.containers")

ContainerMain = Callable[[ContainerContext, asyncio.Event], Awaitable[int]]
ProbeFunction = Callable[[ContainerContext, dict[str, Any]], Awaitable[bool]]
SIGKILL_EXIT_CODE = 137


class CallableContainer:
    """A running callable: a task plus the event that asks it to stop."""

    def __init__(self, main: ContainerMain, ctx: ContainerContext) -> None:
        self.stop_requested = asyncio.Event()
        self.task: asyncio.Task[int] = asyncio.create_task(
            self._run(main, ctx), name=f"container-{ctx.container.get('name', '')}"
        )

    async def _run(self, main: ContainerMain, ctx: ContainerContext) -> int:
        try:
            return int(await main(ctx, self.stop_requested))
        except asyncio.CancelledError:
            return SIGKILL_EXIT_CODE
        except Exception:
            log.exception("container function failed", container=ctx.container.get("name"))
            return 1

    async def wait(self) -> int:
        return await asyncio.shield(self.task)


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"no container port named {port!r}")


async def network_probe(ctx: ContainerContext, probe: dict[str, Any], seconds: float) -> bool:
    """Run an httpGet / tcpSocket / grpc probe for real against the pod IP; exec passes."""
    try:
        if "httpGet" in probe:
            spec = probe["httpGet"]
            host = spec.get("host") or ctx.pod_ip
            scheme = str(spec.get("scheme") or "HTTP").lower()
            port = resolve_port(ctx.container, spec["port"])
            url = f"{scheme}://{host}:{port}{spec.get('path') or '/'}"
            headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
            client_timeout = aiohttp.ClientTimeout(total=seconds)
            async with (
                aiohttp.ClientSession(timeout=client_timeout) as session,
                session.get(url, headers=headers, ssl=False) as resp,
            ):
                return 200 <= resp.status < 400
        if "tcpSocket" in probe or "grpc" in probe:
            spec = probe.get("tcpSocket") or probe["grpc"]
            port = resolve_port(ctx.container, spec["port"])
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(spec.get("host") or ctx.pod_ip, port), seconds
            )
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return True
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return False
    return True


class CallableRuntime:
    """ContainerRuntime delegating to callables per container name or image; others fall back."""

    def __init__(
        self,
        images: Mapping[str, ContainerMain] | None = None,
        containers: Mapping[str, ContainerMain] | None = None,
        *,
        probe: ProbeFunction | None = None,
        fallback: ContainerRuntime | None = None,
    ) -> None:
        self.images = dict(images or {})
        self.containers = dict(containers or {})
        self.probe_function = probe
        self.fallback: ContainerRuntime = fallback or NoopRuntime()

    def _main_for(self, container: dict[str, Any]) -> ContainerMain | None:
        name = str(container.get("name", ""))
        if name in self.containers:
            return self.containers[name]
        image = str(container.get("image", ""))
        if image in self.images:
            return self.images[image]
        repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        return self.images.get(repo)

    async def start(self, ctx: ContainerContext) -> ContainerHandle:
        main = self._main_for(ctx.container)
        if main is None:
            return await self.fallback.start(ctx)
        return CallableContainer(main, ctx)

    async def probe(
        self, ctx: ContainerContext, handle: ContainerHandle, probe: dict[str, Any]
    ) -> bool:
        if not isinstance(handle, CallableContainer):
            return await self.fallback.probe(ctx, handle, probe)
        if self.probe_function is not None:
            return await self.probe_function(ctx, probe)
        return await network_probe(ctx, probe, float(probe.get("timeoutSeconds") or 1))

    async def stop(
        self, ctx: ContainerContext, handle: ContainerHandle, grace_seconds: float
    ) -> int:
        if not isinstance(handle, CallableContainer):
            return await self.fallback.stop(ctx, handle, grace_seconds)
        handle.stop_requested.set()
        try:
            return await asyncio.wait_for(asyncio.shield(handle.task), max(grace_seconds, 0.0))
        except TimeoutError:
            handle.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handle.task
            return SIGKILL_EXIT_CODE
