"""The container-runtime plug-in point of the simulated kubelet.

The kubelet decides *when* (scheduling, restarts, probes' timing, grace
periods); a `ContainerRuntime` decides *what running a container means*. The
default runtime (`containers/noop.py`) runs nothing and passes every probe;
the fake Ray runtime and the process runtime (real Ray in a network
namespace) plug in here without the kubelet changing.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from kuberay_py.sandbox.clock import SandboxClock


@attrs.define
class ContainerContext:
    """What a runtime knows about the container it is asked to run."""

    pod: dict[str, Any]  # the Pod as last seen (read-only)
    container: dict[str, Any]  # its entry in spec.containers / spec.initContainers
    pod_ip: str
    node_name: str
    init: bool = False
    # The kubelet's clock, so a runtime can scale the delays it simulates (None: real time).
    clock: SandboxClock | None = None


class ContainerHandle(Protocol):
    """A started container. `wait` returns its exit code once it has exited."""

    async def wait(self) -> int: ...


class ContainerRuntime(Protocol):
    async def start(self, ctx: ContainerContext) -> ContainerHandle:
        """Start the container; raise to report a start failure (the kubelet backs off)."""
        ...

    async def probe(
        self, ctx: ContainerContext, handle: ContainerHandle, probe: dict[str, Any]
    ) -> bool:
        """Run one probe attempt (httpGet / tcpSocket / exec / grpc); True if it passed."""
        ...

    async def stop(
        self, ctx: ContainerContext, handle: ContainerHandle, grace_seconds: float
    ) -> int:
        """Ask the container to stop (SIGTERM), kill it after `grace_seconds`; exit code."""
        ...
