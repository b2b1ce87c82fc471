"""Shared pieces of the sandbox-cluster unit tests: a registry, controllers as tasks, polling.

Not a test module (no `test_` prefix): imported by unit_tests/test_sandbox_cluster_*.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs

from kuberay_py.runtime.testing import eventually as eventually  # re-exported for the tests
from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.kubelet import Kubelet
from kuberay_py.sandbox.cluster.nodes import NodeController
from kuberay_py.sandbox.cluster.scheduler import Scheduler
from kuberay_py.sandbox.containers.base import ContainerRuntime
from kuberay_py.sandbox.containers.noop import NoopRuntime
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry

TIME_SCALE = 0.01


class FakeIPs:
    """IPAllocator stand-in: same owner, same IP; released IPs are remembered for asserts."""

    def __init__(self) -> None:
        self._next = itertools.count(2)
        self.owned: dict[str, str] = {}
        self.released: list[str] = []

    def allocate(self, owner: str) -> str:
        if owner not in self.owned:
            n = next(self._next)
            self.owned[owner] = f"127.16.{n // 250}.{n % 250 + 1}"
        return self.owned[owner]

    def release(self, owner: str) -> None:
        if self.owned.pop(owner, None) is not None:
            self.released.append(owner)


@attrs.define
class Cluster:
    registry: Registry
    clock: SandboxClock
    ips: FakeIPs
    components: list[Any]

    def rt(self, group: str, resource: str, version: str = "v1") -> ResourceType:
        rt = self.registry.catalog.get(group, version, resource)
        assert rt is not None
        return rt

    @property
    def pods(self) -> ResourceType:
        return self.rt("", "pods")

    def get(self, rt: ResourceType, ns: str | None, name: str) -> dict[str, Any] | None:
        try:
            return self.registry.get(rt, ns, name)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    def pod(self, name: str, ns: str = "default") -> dict[str, Any] | None:
        return self.get(self.pods, ns, name)

    def events(self, name: str | None = None, ns: str = "default") -> list[dict[str, Any]]:
        items = self.registry.list(self.rt("", "events"), ns).items
        return [e for e in items if name is None or e["involvedObject"]["name"] == name]


def pod_manifest(
    name: str,
    *,
    containers: list[dict[str, Any]] | None = None,
    cpu: str | None = None,
    memory: str | None = None,
    env: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox:1.36"}
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if requests:
        container["resources"] = {"requests": requests}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers or [container], **spec},
    }


@contextlib.asynccontextmanager
async def cluster(
    *extra: Callable[[Registry, SandboxClock], Any],
    nodes: int = 3,
    runtime: ContainerRuntime | None = None,
    time_scale: float = TIME_SCALE,
    node_kw: dict[str, Any] | None = None,
    scheduler: bool = True,
    kubelets: bool = True,
) -> AsyncIterator[Cluster]:
    """A registry with nodes, the scheduler, kubelets and `extra` controllers running."""
    clock = SandboxClock(time_scale)
    registry = Registry(Catalog(), clock=clock)
    ips = FakeIPs()
    runtime = runtime or NoopRuntime()
    names = [f"sandbox-node-{i}" for i in range(1, nodes + 1)]
    node_controller = NodeController(registry, clock, names, **(node_kw or {}))
    node_controller.ensure_nodes()
    components: list[Any] = [node_controller]
    if scheduler:
        components.append(Scheduler(registry, clock))
    if kubelets:
        components += [Kubelet(n, registry, clock, runtime, ips) for n in names]
    components += [make(registry, clock) for make in extra]
    tasks = [asyncio.create_task(c.run()) for c in components]
    try:
        yield Cluster(registry, clock, ips, components)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"controller died: {task.exception()!r}")


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    for c in (obj or {}).get("status", {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def is_true(obj: dict[str, Any] | None, ctype: str) -> bool:
    c = condition(obj, ctype)
    return c is not None and c.get("status") == "True"
