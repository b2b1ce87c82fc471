"""The sandbox: an embedded Kubernetes made of the registry, the HTTP API and its controllers.

`Sandbox` wires the pieces the way a real control plane is wired: one
versioned store behind one API, and controllers (scheduler, kubelets,
EndpointSlice, kube-proxy, garbage collector, Job, namespace and quota
controllers) that cooperate only through that API. It is what
`python -m kuberay_py sandbox up`, the e2e fixtures and the demo start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from pathlib import Path
from typing import Any, Protocol

import attrs
import structlog
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry

from kuberay_py.api.quantity import parse_quantity
from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.endpointslices import EndpointSliceController
from kuberay_py.sandbox.cluster.garbage_collector import GarbageCollector
from kuberay_py.sandbox.cluster.jobs import JobController
from kuberay_py.sandbox.cluster.kubelet import Kubelet
from kuberay_py.sandbox.cluster.namespaces import NamespaceController
from kuberay_py.sandbox.cluster.nodes import NodeController
from kuberay_py.sandbox.cluster.resourcequota import (
    ResourceQuotaAdmission,
    ResourceQuotaController,
)
from kuberay_py.sandbox.cluster.scheduler import Scheduler
from kuberay_py.sandbox.containers.base import ContainerRuntime
from kuberay_py.sandbox.containers.ray_nodes import RayNodeRuntime, head_running_in
from kuberay_py.sandbox.http.app import APP_KEY, build_app
from kuberay_py.sandbox.http.audit import read_audit_log
from kuberay_py.sandbox.http.context import ApiContext
from kuberay_py.sandbox.http.faults import FaultInjector
from kuberay_py.sandbox.network.ipam import IPAllocator
from kuberay_py.sandbox.network.proxy import KubeProxy
from kuberay_py.sandbox.network.service_ips import ServiceIPAdmission, ServiceIPReleaser
from kuberay_py.sandbox.openapi import OpenAPIBuilder
from kuberay_py.sandbox.registry import crd_schema
from kuberay_py.sandbox.registry.catalog import Catalog
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.storage.base import Storage
from kuberay_py.sandbox.storage.memory import MemoryStorage
from kuberay_py.sandbox.storage.sqlite import SqliteStorage

log = structlog.get_logger("sandbox")

POD_CIDR = "127.16.0.0/12"
SERVICE_CIDR = "127.96.0.0/12"


class Component(Protocol):
    """A controller of the sandbox's own: runs until cancelled."""

    async def run(self) -> None: ...


@attrs.define
class SandboxConfig:
    """Everything `sandbox up` takes on its command line, plus the runtime plug-in."""

    host: str = "127.0.0.1"
    port: int = 0
    data_dir: str | None = None
    nodes: int = 3
    node_cpu: str = "8"
    node_memory: str = "32Gi"
    time_scale: float = 1.0
    audit_log: str | None = None
    kubeconfig_out: str | None = None
    runtime: ContainerRuntime | None = None
    bookmark_interval: float = 60.0
    seed: int | None = None


class Sandbox:
    """A running embedded cluster. Use `async with Sandbox(cfg) as sb:` or start()/stop()."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        if self.config.nodes < 1:
            raise ValueError(f"a sandbox needs at least one node, got --nodes {self.config.nodes}")
        for what, quantity in (
            ("node_cpu", self.config.node_cpu),
            ("node_memory", self.config.node_memory),
        ):
            if parse_quantity(quantity) <= 0:
                raise ValueError(f"{what} must be a positive quantity, got {quantity!r}")
        self.clock = SandboxClock(self.config.time_scale)
        self.catalog = Catalog()
        # A seed makes probability-based fault rules fire reproducibly from run to run.
        seed = self.config.seed
        self.faults = FaultInjector(random.Random(seed) if seed is not None else None)
        self.metrics = CollectorRegistry()
        self.pod_ips = IPAllocator(POD_CIDR, seed=self.config.seed)
        self.service_ips = IPAllocator(SERVICE_CIDR, seed=self.config.seed)
        self.registry: Registry = self._open_registry()
        self.runtime: ContainerRuntime = self.config.runtime or RayNodeRuntime(
            head_running_in(self.registry)
        )
        self.registry.add_admission(ServiceIPAdmission(self.service_ips, registry=self.registry))
        self.registry.add_validating_admission(ResourceQuotaAdmission(self.registry))
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.kubeconfig_path: str | None = self.config.kubeconfig_out

    def _open_registry(self) -> Registry:
        storage: Storage
        if self.config.data_dir:
            os.makedirs(self.config.data_dir, exist_ok=True)
            storage = SqliteStorage(str(Path(self.config.data_dir) / "sandbox.sqlite3"))
        else:
            storage = MemoryStorage()
        return Registry(
            self.catalog,
            storage,
            self.clock,
            bookmark_interval=self.config.bookmark_interval,
            schema_validator=crd_schema.validate,
            schema_defaulter=crd_schema.default_and_prune,
        )

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def _controllers(self) -> list[Component]:
        reg, clock = self.registry, self.clock
        node_names = [f"sandbox-node-{i}" for i in range(1, self.config.nodes + 1)]
        components: list[Component] = [
            NodeController(
                reg, clock, node_names, cpu=self.config.node_cpu, memory=self.config.node_memory
            ),
            Scheduler(reg, clock),
            GarbageCollector(reg, clock),
            JobController(reg, clock),
            NamespaceController(reg, clock),
            ResourceQuotaController(reg, clock),
            EndpointSliceController(reg, clock),
            ServiceIPReleaser(reg, clock, self.service_ips),
            KubeProxy(reg, clock),
        ]
        components += [Kubelet(name, reg, clock, self.runtime, self.pod_ips) for name in node_names]
        return components

    async def start(self) -> None:
        rng = random.Random(self.config.seed)
        ctx = ApiContext(
            registry=self.registry,
            catalog=self.catalog,
            openapi=OpenAPIBuilder(self.catalog),
            faults=self.faults,
            audit_log_path=self.config.audit_log,
            metrics=self.metrics,
            rng=rng,
        )
        app = build_app(ctx)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # Bind first so `--port 0` can report the port the kernel chose.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        for component in self._controllers():
            self._tasks.append(asyncio.create_task(component.run(), name=type(component).__name__))
        if self.kubeconfig_path:
            self.write_kubeconfig(self.kubeconfig_path)
        log.info("sandbox started", url=self.url, nodes=self.config.nodes)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        close = getattr(self.registry, "close", None)
        if close is not None:
            close()

    def flush_audit_log(self) -> None:
        """Write the buffered audit lines now (they are otherwise written within a second)."""
        if self._runner is None:
            return
        audit = self._runner.app[APP_KEY].audit
        if audit is not None:
            audit.flush()

    def audit_events(self) -> list[dict[str, Any]]:
        """Every audit event so far, oldest first; [] when no audit log was configured.

        Count with `kuberay_py.sandbox.http.audit.count_requests`, e.g. the pods an
        operator created: `count_requests(sb.audit_events(), verb="create",
        resource="pods", user_agent_prefix="kuberay-py/")`.
        """
        path = self.config.audit_log
        if not path:
            return []
        self.flush_audit_log()
        if not os.path.exists(path):
            return []
        return read_audit_log(path)

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig that kubectl and kubernetes-asyncio use as they are."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {"token": "sandbox"}}],
            "contexts": [
                {
                    "name": "sandbox",
                    "context": {"cluster": "sandbox", "user": "sandbox", "namespace": "default"},
                }
            ],
            "current-context": "sandbox",
            "preferences": {},
        }

    def write_kubeconfig(self, path: str) -> None:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            yaml.safe_dump(self.kubeconfig(), fh, sort_keys=False)
        os.replace(tmp, path)
        self.kubeconfig_path = path
