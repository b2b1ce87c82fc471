"""The EndpointSlice/Endpoints controller against a real Registry; the test plays the kubelet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.endpointslices import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    EndpointSliceController,
)
from kuberay_py.sandbox.network.ipam import IPAllocator
from kuberay_py.sandbox.network.service_ips import ServiceIPAdmission
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import DeleteOptions, ListOptions


@attrs.define
class Env:
    registry: Registry
    controller: EndpointSliceController

    def rt(self, group: str, resource: str) -> ResourceType:
        rt = self.registry.catalog.get(group, "v1", resource)
        assert rt is not None
        return rt

    @property
    def pods(self) -> ResourceType:
        return self.rt("", "pods")

    @property
    def services(self) -> ResourceType:
        return self.rt("", "services")

    def slices(self, service: str, ns: str = "default") -> list[dict[str, Any]]:
        items = self.registry.list(
            self.rt("discovery.k8s.io", "endpointslices"),
            ns,
            ListOptions(label_selector=f"{SERVICE_NAME_LABEL}={service}"),
        ).items
        return sorted(items, key=lambda s: s["metadata"]["name"])

    def ep(self, name: str, ns: str = "default") -> dict[str, Any]:
        """The Endpoints object, {} while it does not exist."""
        return self.endpoints(name, ns) or {}

    def endpoints(self, name: str, ns: str = "default") -> dict[str, Any] | None:
        try:
            return self.registry.get(self.rt("", "endpoints"), ns, name)
        except StatusError as exc:
            assert exc.code == 404
            return None

    def pod(
        self,
        name: str,
        labels: dict[str, str],
        *,
        ports: list[dict[str, Any]] | None = None,
        node: str = "node-1",
        **spec: Any,
    ) -> dict[str, Any]:
        container: dict[str, Any] = {"name": "main", "image": "x"}
        if ports:
            container["ports"] = ports
        body = {
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [container], "nodeName": node, **spec},
        }
        return self.registry.create(self.pods, "default", body)

    def kubelet(self, name: str, *, ip: str | None, ready: bool, phase: str = "Running") -> None:
        """Write pod status as a kubelet would."""
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        if ip:
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
        self.registry.patch(self.pods, "default", name, "merge", {"status": status}, "status")

    def service(self, name: str, selector: dict[str, str] | None, **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        if selector is not None:
            body["selector"] = selector
        body.update(spec)
        return self.registry.create(
            self.services, "default", {"metadata": {"name": name}, "spec": body}
        )

    async def settle(self) -> None:
        """Wait until the controller's caches caught up and its queue is empty."""
        rv = self.registry.resource_version
        c = self.controller
        informers = (c.services, c.pods, c.slices, c.endpoints)
        for _ in range(500):
            await asyncio.sleep(0.005)
            caught_up = all(_cache_rv(i.cache.values()) <= rv for i in informers)
            if caught_up and not len(c.queue) and self.registry.resource_version == rv:
                await asyncio.sleep(0.02)
                if not len(c.queue) and self.registry.resource_version == rv:
                    return
            rv = self.registry.resource_version
        raise AssertionError("controller did not settle")


def _cache_rv(items: Any) -> int:
    return max((int(o["metadata"]["resourceVersion"]) for o in items), default=0)


async def poll(cond: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def env() -> AsyncIterator[Env]:
    clock = SandboxClock(0.01)
    registry = Registry(Catalog(), clock=clock)
    registry.add_admission(ServiceIPAdmission(IPAllocator("127.96.0.0/12", seed=1)))
    controller = EndpointSliceController(registry, clock)
    task = asyncio.create_task(controller.run())
    try:
        yield Env(registry, controller)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ready_ips(slices: list[dict[str, Any]]) -> set[str]:
    return {
        ep["addresses"][0]
        for s in slices
        for ep in s.get("endpoints") or []
        if ep["conditions"]["ready"]
    }


async def test_slice_and_endpoints_content() -> None:
    async with env() as e:
        pod = e.pod("web-1", {"app": "web"})
        e.kubelet("web-1", ip="127.16.0.5", ready=True)
        e.pod("other", {"app": "other"})
        e.kubelet("other", ip="127.16.0.6", ready=True)
        svc = e.service("web", {"app": "web"}, publishNotReadyAddresses=False)
        await poll(lambda: ready_ips(e.slices("web")))
        [s] = e.slices("web")
        assert s["metadata"]["name"].startswith("web-") and len(s["metadata"]["name"]) == 9
        assert s["metadata"]["generateName"] == "web-"
        assert s["metadata"]["labels"] == {SERVICE_NAME_LABEL: "web", MANAGED_BY_LABEL: MANAGED_BY}
        assert s["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": "web",
                "uid": svc["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert s["addressType"] == "IPv4"
        assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert s["endpoints"] == [
            {
                "addresses": ["127.16.0.5"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "node-1",
                "targetRef": {
                    "kind": "Pod",
                    "namespace": "default",
                    "name": "web-1",
                    "uid": pod["metadata"]["uid"],
                },
            }
        ]
        ep = await poll(lambda: e.endpoints("web"))
        assert ep["subsets"] == [
            {
                "addresses": [
                    {
                        "ip": "127.16.0.5",
                        "nodeName": "node-1",
                        "targetRef": {
                            "kind": "Pod",
                            "namespace": "default",
                            "name": "web-1",
                            "uid": pod["metadata"]["uid"],
                        },
                    }
                ],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ]


async def test_ready_flips_pending_pods_and_terminal_pods() -> None:
    async with env() as e:
        e.service("web", {"app": "web"})
        await poll(lambda: e.slices("web"))
        placeholder = e.slices("web")[0]
        assert placeholder["endpoints"] == [] and "ports" not in placeholder
        e.pod("web-1", {"app": "web"})
        e.pod("web-2", {"app": "web"})
        await e.settle()
        assert e.slices("web")[0]["endpoints"] == []  # no podIP yet: not an endpoint
        e.kubelet("web-1", ip="127.16.0.11", ready=False)
        e.kubelet("web-2", ip="127.16.0.12", ready=True)
        await poll(lambda: ready_ips(e.slices("web")) == {"127.16.0.12"})
        [s] = e.slices("web")
        assert s["metadata"]["name"] == placeholder["metadata"]["name"]  # updated in place
        conds = {ep["targetRef"]["name"]: ep["conditions"] for ep in s["endpoints"]}
        assert conds["web-1"] == {"ready": False, "serving": False, "terminating": False}
        ep = await poll(lambda: e.endpoints("web"))
        await poll(lambda: "notReadyAddresses" in e.ep("web").get("subsets", [{}])[0])
        subset = e.ep("web")["subsets"][0]
        assert [a["ip"] for a in subset["addresses"]] == ["127.16.0.12"]
        assert [a["ip"] for a in subset["notReadyAddresses"]] == ["127.16.0.11"]
        e.kubelet("web-1", ip="127.16.0.11", ready=True)
        e.kubelet("web-2", ip="127.16.0.12", ready=False)
        await poll(lambda: ready_ips(e.slices("web")) == {"127.16.0.11"})
        e.kubelet("web-1", ip="127.16.0.11", ready=False, phase="Failed")
        await poll(
            lambda: [x["targetRef"]["name"] for x in e.slices("web")[0]["endpoints"]] == ["web-2"]
        )
        # Labels changing take a pod out of the selector.
        e.registry.patch(
            e.pods, "default", "web-2", "merge", {"metadata": {"labels": {"app": "x"}}}
        )
        await poll(lambda: e.slices("web")[0]["endpoints"] == [])
        await poll(lambda: e.ep("web") and "subsets" not in e.ep("web"))
        assert ep is not None


async def test_terminating_pod_conditions() -> None:
    async with env() as e:
        e.service("web", {"app": "web"})
        e.pod("web-1", {"app": "web"}, terminationGracePeriodSeconds=30)
        e.kubelet("web-1", ip="127.16.0.21", ready=True)
        await poll(lambda: ready_ips(e.slices("web")))
        e.registry.delete(e.pods, "default", "web-1", DeleteOptions())  # graceful: stays
        await poll(lambda: e.slices("web")[0]["endpoints"][0]["conditions"]["terminating"])
        assert e.slices("web")[0]["endpoints"][0]["conditions"] == {
            "ready": False,
            "serving": True,
            "terminating": True,
        }
        # The legacy Endpoints drop terminating pods (unless publishNotReadyAddresses).
        await poll(lambda: e.ep("web") and "subsets" not in e.ep("web"))


async def test_publish_not_ready_addresses() -> None:
    async with env() as e:
        e.service("h", {"app": "h"}, clusterIP="None", publishNotReadyAddresses=True)
        e.pod("h-1", {"app": "h"})
        e.kubelet("h-1", ip="127.16.0.31", ready=False)
        await poll(lambda: ready_ips(e.slices("h")) == {"127.16.0.31"})
        [s] = e.slices("h")
        assert s["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
        assert s["endpoints"][0]["conditions"] == {
            "ready": True,
            "serving": True,
            "terminating": False,
        }
        ep = await poll(lambda: (e.endpoints("h") or {}).get("subsets"))
        assert [a["ip"] for a in ep[0]["addresses"]] == ["127.16.0.31"]


async def test_named_target_ports_resolved_per_pod() -> None:
    async with env() as e:
        e.service(
            "dash",
            {"app": "ray"},
            ports=[
                {"name": "dashboard", "port": 8265, "targetPort": "dash"},
                {"name": "client", "port": 10001, "targetPort": 10001},
            ],
        )
        for name, number in (("a", 8265), ("b", 9265)):
            e.pod(name, {"app": "ray"}, ports=[{"name": "dash", "containerPort": number}])
            e.kubelet(name, ip=f"127.16.1.{number % 250}", ready=True)
        e.pod("c", {"app": "ray"})  # no container port named "dash": only "client" resolves
        e.kubelet("c", ip="127.16.1.99", ready=True)
        await poll(lambda: len(e.slices("dash")) == 3)
        by_pod = {
            s["endpoints"][0]["targetRef"]["name"]: sorted(
                (p["name"], p["port"]) for p in s["ports"]
            )
            for s in e.slices("dash")
        }
        assert by_pod == {
            "a": [("client", 10001), ("dashboard", 8265)],
            "b": [("client", 10001), ("dashboard", 9265)],
            "c": [("client", 10001)],
        }
        ep = await poll(lambda: (e.endpoints("dash") or {}).get("subsets"))
        assert len(ep) == 3
        # All pods gone: the extra slices go, one placeholder stays.
        for name in ("a", "b", "c"):
            e.registry.delete(e.pods, "default", name, DeleteOptions(grace_period_seconds=0))
        await poll(lambda: len(e.slices("dash")) == 1 and e.slices("dash")[0]["endpoints"] == [])


async def test_idle_resync_makes_zero_writes() -> None:
    async with env() as e:
        e.service("web", {"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "http"}])
        e.service("two", {"app": "web"})
        for i in range(5):
            e.pod(f"web-{i}", {"app": "web"}, ports=[{"name": "http", "containerPort": 8000}])
            e.kubelet(f"web-{i}", ip=f"127.16.2.{i + 1}", ready=i % 2 == 0)
        await poll(lambda: len(ready_ips(e.slices("web"))) == 3)
        await e.settle()
        rv = e.registry.resource_version
        e.controller.resync()
        await e.settle()
        assert e.registry.resource_version == rv
        for svc in ("web", "two"):
            assert e.controller.reconcile("default", svc) == 0


async def test_selectorless_service_is_left_alone_and_deletion_cleans_up() -> None:
    async with env() as e:
        e.service("manual", None)
        user_slice = {
            "metadata": {"name": "manual-1", "labels": {SERVICE_NAME_LABEL: "manual"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.16.9.9"]}],
            "ports": [{"name": "http", "port": 80}],
        }
        slices_rt = e.rt("discovery.k8s.io", "endpointslices")
        e.registry.create(slices_rt, "default", user_slice)
        e.registry.create(
            e.rt("", "endpoints"),
            "default",
            {"metadata": {"name": "manual"}, "subsets": [{"addresses": [{"ip": "127.16.9.9"}]}]},
        )
        e.service("web", {"app": "web"})
        await poll(lambda: e.slices("web") and e.endpoints("web"))
        await e.settle()
        assert [s["metadata"]["name"] for s in e.slices("manual")] == ["manual-1"]
        assert e.ep("manual")["subsets"] == [{"addresses": [{"ip": "127.16.9.9"}]}]
        e.registry.delete(e.services, "default", "web")
        await poll(lambda: not e.slices("web") and e.endpoints("web") is None)
        assert e.endpoints("manual") is not None and e.slices("manual")


async def test_restart_adopts_existing_slices_without_writes() -> None:
    clock = SandboxClock(0.01)
    registry = Registry(Catalog(), clock=clock)
    first = EndpointSliceController(registry, clock)
    e = Env(registry, first)
    e.service("web", {"app": "web"})
    e.pod("web-1", {"app": "web"})
    e.kubelet("web-1", ip="127.16.3.1", ready=True)
    task = asyncio.create_task(first.run())
    await poll(lambda: ready_ips(e.slices("web")))
    await e.settle()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    rv = registry.resource_version
    second = EndpointSliceController(registry, clock)
    e2 = Env(registry, second)
    task = asyncio.create_task(second.run())
    try:
        await second.services.synced.wait()
        await e2.settle()
        assert registry.resource_version == rv
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
