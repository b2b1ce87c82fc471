"""Service ClusterIP / NodePort admission and the releaser, against a real Registry."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.network.ipam import IPAllocator
from kuberay_py.sandbox.network.service_ips import (
    ServiceAllocations,
    ServiceIPAdmission,
    ServiceIPReleaser,
)
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import DeleteOptions, WriteOptions
from kuberay_py.sandbox.storage.sqlite import SqliteStorage

CIDR = "127.96.0.0/12"
NET = ipaddress.IPv4Network(CIDR)


def make(storage: Any = None) -> tuple[Registry, IPAllocator, ResourceType]:
    clock = SandboxClock(0.01)
    registry = Registry(Catalog(), storage, clock=clock)
    ips = IPAllocator(CIDR, seed=11)
    registry.add_admission(ServiceIPAdmission(ips))
    rt = registry.catalog.get("", "v1", "services")
    assert rt is not None
    return registry, ips, rt


def svc(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": [{"name": "http", "port": 80}], "selector": {"app": name}}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def invalid_message(call: Callable[[], Any]) -> str:
    with pytest.raises(StatusError) as err:
        call()
    assert err.value.code == 422, err.value.message
    assert err.value.reason == "Invalid"
    return err.value.message


async def poll(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def releaser(registry: Registry, ips: IPAllocator) -> AsyncIterator[ServiceIPReleaser]:
    rel = ServiceIPReleaser(registry, registry.clock, ips, resync_seconds=1000)
    task = asyncio.create_task(rel.run())
    try:
        await rel.informer.synced.wait()
        yield rel
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_create_allocates_cluster_ip() -> None:
    registry, ips, rt = make()
    out = registry.create(rt, "default", svc("web"))
    ip = out["spec"]["clusterIP"]
    assert ipaddress.IPv4Address(ip) in NET
    assert out["spec"]["clusterIPs"] == [ip]
    assert ips.owner_of(ip) == out["metadata"]["uid"]
    other = registry.create(rt, "default", svc("api"))
    assert other["spec"]["clusterIP"] != ip


def test_headless_and_external_name_get_no_ip() -> None:
    registry, ips, rt = make()
    headless = registry.create(rt, "default", svc("h", clusterIP="None"))
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["clusterIPs"] == ["None"]
    ext = registry.create(
        rt, "default", svc("e", type="ExternalName", externalName="example.com", ports=[])
    )
    assert "clusterIP" not in ext["spec"]
    assert len(ips) == 0


def test_requested_ip_honoured_validated_and_exclusive() -> None:
    registry, _ips, rt = make()
    out = registry.create(rt, "default", svc("a", clusterIP="127.96.5.5"))
    assert out["spec"]["clusterIP"] == "127.96.5.5"
    msg = invalid_message(lambda: registry.create(rt, "default", svc("b", clusterIP="127.96.5.5")))
    assert msg == (
        'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"127.96.5.5"}: '
        "failed to allocate IP 127.96.5.5: provided IP is already allocated"
    )
    msg = invalid_message(lambda: registry.create(rt, "default", svc("c", clusterIP="10.0.0.9")))
    assert msg == (
        'Service "c" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.9"}: '
        "failed to allocate IP 10.0.0.9: the provided IP (10.0.0.9) is not in the valid "
        "range. The range of valid IPs is 127.96.0.0/12"
    )
    # clusterIPs alone is honoured too.
    d = registry.create(rt, "default", svc("d", clusterIPs=["127.96.5.6"]))
    assert d["spec"]["clusterIP"] == "127.96.5.6"


def test_update_keeps_allocated_ip_and_refuses_changes() -> None:
    registry, ips, rt = make()
    out = registry.create(rt, "default", svc("web"))
    ip = out["spec"]["clusterIP"]
    body = {**out, "spec": {**out["spec"], "selector": {"app": "other"}}}
    del body["spec"]["clusterIP"], body["spec"]["clusterIPs"]
    updated = registry.update(rt, "default", "web", body)
    assert updated["spec"]["clusterIP"] == ip and updated["spec"]["clusterIPs"] == [ip]
    body = {**updated, "spec": {**updated["spec"], "clusterIP": "", "clusterIPs": []}}
    assert registry.update(rt, "default", "web", body)["spec"]["clusterIP"] == ip
    changed = {**updated, "spec": {**updated["spec"], "clusterIP": "127.96.9.9"}}
    msg = invalid_message(lambda: registry.update(rt, "default", "web", changed))
    assert msg == (
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"127.96.9.9"}: '
        "may not change once set"
    )
    patched, _ = registry.patch(rt, "default", "web", "merge", {"spec": {"ports": [{"port": 81}]}})
    assert patched["spec"]["clusterIP"] == ip
    assert ips.owner_of("127.96.9.9") is None


def test_node_ports_allocated_kept_and_validated() -> None:
    registry, _ips, rt = make()
    ports = [{"name": "http", "port": 80}, {"name": "metrics", "port": 8080, "nodePort": 30555}]
    out = registry.create(rt, "default", svc("np", type="NodePort", ports=ports))
    got = [p["nodePort"] for p in out["spec"]["ports"]]
    assert got[1] == 30555 and 30000 <= got[0] <= 32767 and got[0] != 30555
    # An update that omits nodePorts keeps them (by port name).
    body = {**out, "spec": {**out["spec"], "ports": [{"name": "http", "port": 80}]}}
    kept = registry.update(rt, "default", "np", body)
    assert kept["spec"]["ports"][0]["nodePort"] == got[0]
    msg = invalid_message(
        lambda: registry.create(
            rt, "default", svc("x", type="NodePort", ports=[{"port": 80, "nodePort": got[0]}])
        )
    )
    assert msg == (
        f'Service "x" is invalid: spec.ports[0].nodePort: Invalid value: {got[0]}: '
        "provided port is already allocated"
    )
    msg = invalid_message(
        lambda: registry.create(
            rt, "default", svc("y", type="NodePort", ports=[{"port": 80, "nodePort": 80}])
        )
    )
    assert msg.endswith(
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    )
    msg = invalid_message(
        lambda: registry.create(rt, "default", svc("z", ports=[{"port": 80, "nodePort": 30001}]))
    )
    assert msg.endswith(
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    )
    lb = registry.create(rt, "default", svc("lb", type="LoadBalancer"))
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    assert 30000 <= lb["spec"]["ports"][0]["nodePort"] <= 32767


def test_failed_create_rolls_back_its_ip() -> None:
    registry, ips, rt = make()
    registry.create(
        rt, "default", svc("a", type="NodePort", ports=[{"port": 1, "nodePort": 31000}])
    )
    before = len(ips)
    with pytest.raises(StatusError):
        registry.create(
            rt, "default", svc("b", type="NodePort", ports=[{"port": 1, "nodePort": 31000}])
        )
    assert len(ips) == before


async def test_releaser_frees_on_delete_and_sweeps_leaks() -> None:
    registry, ips, rt = make()
    async with releaser(registry, ips):
        a = registry.create(rt, "default", svc("a", clusterIP="127.96.7.7"))
        registry.create(rt, "default", svc("np", type="NodePort"))
        book = ServiceAllocations.of(ips)
        assert len(book.node_ports.owners()) == 1
        registry.delete(rt, "default", "a")
        await poll(lambda: ips.owner_of("127.96.7.7") is None)
        b = registry.create(rt, "default", svc("b", clusterIP="127.96.7.7"))
        assert b["metadata"]["uid"] != a["metadata"]["uid"]
        # A dry run goes through admission but stores nothing: its IP is a leak that a
        # later request for the same address reclaims at once.
        registry.create(
            rt, "default", svc("dry", clusterIP="127.96.8.8"), WriteOptions(dry_run=True)
        )
        assert ips.owner_of("127.96.8.8") is not None
        c = registry.create(rt, "default", svc("c", clusterIP="127.96.8.8"))
        assert c["spec"]["clusterIP"] == "127.96.8.8"
        # Switching NodePort -> ClusterIP releases the nodePorts on the next sync.
        np = registry.get(rt, "default", "np")
        port = np["spec"]["ports"][0]["nodePort"]
        body = {**np, "spec": {**np["spec"], "type": "ClusterIP"}}
        body["spec"]["ports"] = [{"name": "http", "port": 80}]
        registry.update(rt, "default", "np", body)
        await poll(lambda: book.node_ports.owner_of(port) is None)
        # Deleting with a finalizer keeps the IP until the object is really gone.
        registry.patch(rt, "default", "b", "merge", {"metadata": {"finalizers": ["x/y"]}})
        registry.delete(rt, "default", "b", DeleteOptions())
        await asyncio.sleep(0.05)
        assert ips.owner_of("127.96.7.7") == b["metadata"]["uid"]
        registry.patch(rt, "default", "b", "merge", {"metadata": {"finalizers": None}})
        await poll(lambda: ips.owner_of("127.96.7.7") is None)


def test_restart_re_reserves_existing_ips(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    registry, _ips, rt = make(SqliteStorage(path))
    first = registry.create(rt, "default", svc("a"))
    ip = first["spec"]["clusterIP"]
    port = registry.create(rt, "default", svc("np", type="NodePort"))["spec"]["ports"][0][
        "nodePort"
    ]
    registry.close()

    clock = SandboxClock(0.01)
    registry2 = Registry(Catalog(), SqliteStorage(path), clock=clock)
    ips2 = IPAllocator(CIDR, seed=11)  # same seed: would hand out `ip` first again
    registry2.add_admission(ServiceIPAdmission(ips2))
    ServiceIPReleaser(registry2, clock, ips2)  # re-reserves at construction
    assert ips2.owner_of(ip) == first["metadata"]["uid"]
    fresh = registry2.create(rt, "default", svc("b"))
    assert fresh["spec"]["clusterIP"] != ip
    msg = invalid_message(lambda: registry2.create(rt, "default", svc("c", clusterIP=ip)))
    assert "provided IP is already allocated" in msg
    assert ServiceAllocations.of(ips2).node_ports.owner_of(port) is not None


def test_admission_built_with_registry_re_reserves_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    registry, _ips, rt = make(SqliteStorage(path))
    ip = registry.create(rt, "default", svc("a"))["spec"]["clusterIP"]
    registry.close()
    registry2 = Registry(Catalog(), SqliteStorage(path), clock=SandboxClock(0.01))
    ips2 = IPAllocator(CIDR, seed=11)
    registry2.add_admission(ServiceIPAdmission(ips2, registry=registry2))
    assert ips2.owner_of(ip) is not None
    assert registry2.create(rt, "default", svc("b"))["spec"]["clusterIP"] != ip
