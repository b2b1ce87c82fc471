"""The sandbox's Nodes: registered once, kept Ready by a heartbeat.

A real kubelet registers its Node and posts status; here one controller
does it for every simulated node (`sandbox-node-1..N`). The heartbeat
rewrites only the conditions' `lastHeartbeatTime`, every 40 simulated
seconds (kube's node-monitor grace period), so an idle sandbox writes
almost nothing. A deleted Node comes back, as a kubelet re-registers.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.informer import supervise
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI

log = structlog.get_logger("sandbox.nodes")

KUBELET_VERSION = "v1.32.0"
HEARTBEAT_SECONDS = 40.0

_CONDITIONS = (
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_names(count: int) -> list[str]:
    return [f"sandbox-node-{i}" for i in range(1, count + 1)]


def build_node(
    name: str,
    *,
    cpu: str = "8",
    memory: str = "32Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """A Node as a freshly registered kubelet reports it."""
    now = now or SandboxClock.now_rfc3339()
    resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                **(labels or {}),
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": "127.16.0.0/12", "podCIDRs": ["127.16.0.0/12"]},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [
                {
                    "type": ctype,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
                for ctype, status, reason, message in _CONDITIONS
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "6.0.0-sandbox",
                "osImage": "kuberay-py sandbox",
                "containerRuntimeVersion": "sandbox://1.0.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [],
        },
    }
    if taints:
        node["spec"]["taints"] = taints
    return node


class NodeController:
    """Registers the sandbox's nodes and keeps their Ready condition's heartbeat fresh."""

    def __init__(
        self,
        registry: RegistryAPI,
        clock: SandboxClock,
        names: Sequence[str] | int = 3,
        *,
        cpu: str = "8",
        memory: str = "32Gi",
        pods: str = "110",
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.names = node_names(names) if isinstance(names, int) else list(names)
        self.cpu, self.memory, self.pods = cpu, memory, pods
        self.heartbeat_seconds = heartbeat_seconds
        self.rt = registry.catalog.require("", "v1", "nodes")

    def ensure_nodes(self) -> None:
        """Create every missing node; give a node created without status its status."""
        for name in self.names:
            desired = build_node(name, cpu=self.cpu, memory=self.memory, pods=self.pods)
            try:
                current = self.registry.get(self.rt, None, name)
            except StatusError as exc:
                if exc.code != 404:
                    raise
                current = self.registry.create(self.rt, None, copy.deepcopy(desired))
                log.info("node registered", node=name)
            if not current.get("status", {}).get("conditions"):
                fixed = copy.deepcopy(current)
                fixed["status"] = desired["status"]
                self.registry.update(self.rt, None, name, fixed, subresource="status")

    def heartbeat(self) -> None:
        now = SandboxClock.now_rfc3339()
        for name in self.names:
            try:
                current = self.registry.get(self.rt, None, name)
            except StatusError as exc:
                if exc.code == 404:
                    continue  # re-registered by ensure_nodes
                raise
            updated = copy.deepcopy(current)
            for cond in updated.get("status", {}).get("conditions", []):
                cond["lastHeartbeatTime"] = now
            try:
                self.registry.update(self.rt, None, name, updated, subresource="status")
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise

    async def _loop(self) -> None:
        self.ensure_nodes()
        while True:
            await self.clock.sleep(self.heartbeat_seconds)
            self.ensure_nodes()
            self.heartbeat()

    async def run(self) -> None:
        await supervise("nodes", self._loop, self.clock)
