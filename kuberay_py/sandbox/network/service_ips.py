"""Service ClusterIP and NodePort allocation, as kube-apiserver's Service REST storage does it.

Two halves share one `ServiceAllocations` book:

- `ServiceIPAdmission`, a registry admission plugin, assigns `spec.clusterIP` /
  `spec.clusterIPs` and NodePorts when a Service is created, honours requested
  values (422 when outside the range or taken), keeps the allocated values on update
  (an omitted or empty field is filled from the stored object; a changed one is
  refused: "may not change once set") and allocates when a Service stops being
  ExternalName or headless-less types gain NodePorts.
- `ServiceIPReleaser`, a small controller, makes the book equal to the stored
  Services: it re-reserves what existing Services hold (restart from SQLite) and
  releases what no stored Service holds any more (deleted Services, NodePorts
  dropped by an update, and allocations of creates that failed after admission or
  were dry runs). Because registry calls are synchronous within one loop, a sync
  never races a half-done create.

Owners in the book are Service uids, so a Service deleted and re-created under the
same name never inherits (or frees) its predecessor's addresses by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.informer import Informer, supervise
from kuberay_py.sandbox.network.ipam import (
    AllocationError,
    IPAllocator,
    PortAllocator,
    node_ports_for,
)
from kuberay_py.sandbox.registry import errors
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import Cause, StatusError
from kuberay_py.sandbox.registry.registry import Operation, RegistryAPI

log = structlog.get_logger("sandbox.service_ips")

Obj = dict[str, Any]
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
RESYNC_SECONDS = 60.0


class ServiceAllocations:
    """The ClusterIP and NodePort book, plus where each owner (uid) lives, for liveness checks."""

    def __init__(self, ips: IPAllocator, node_ports: PortAllocator | None = None) -> None:
        self.ips = ips
        self.node_ports = node_ports if node_ports is not None else node_ports_for(ips)
        self.locations: dict[str, tuple[str, str]] = {}  # uid -> (namespace, name)
        self.registry: RegistryAPI | None = None

    @classmethod
    def of(cls, source: IPAllocator | ServiceAllocations) -> ServiceAllocations:
        """The one book paired with a Service IPAllocator (built on first use)."""
        if isinstance(source, ServiceAllocations):
            return source
        book = _BOOKS.get(source)
        if book is None:
            book = _BOOKS[source] = cls(source)
        return book

    def _services_rt(self) -> ResourceType | None:
        if self.registry is None:
            return None
        return self.registry.catalog.get("", "v1", "services")

    def holder_is_live(self, owner: str) -> bool:
        """Whether `owner` is a stored Service; True when we cannot tell (no registry yet)."""
        rt = self._services_rt()
        where = self.locations.get(owner)
        if rt is None or self.registry is None or where is None:
            return True
        try:
            svc = self.registry.get(rt, where[0], where[1])
        except StatusError as exc:
            return exc.code != 404
        return bool(svc.get("metadata", {}).get("uid") == owner)

    def release(self, owner: str) -> None:
        self.ips.release(owner)
        self.node_ports.release(owner)
        self.locations.pop(owner, None)

    def sync(self, services: list[Obj]) -> None:
        """Make the book hold exactly what `services` (every stored Service) hold."""
        live: set[str] = set()
        for svc in services:
            meta = svc.get("metadata") or {}
            uid = meta.get("uid")
            if not uid:
                continue
            live.add(uid)
            self.locations[uid] = (meta.get("namespace") or "", meta.get("name") or "")
            spec = svc.get("spec") or {}
            ip = spec.get("clusterIP")
            if spec.get("type") == "ExternalName" or not ip or ip == "None":
                self.ips.release(uid)
            elif self.ips.ip_of(uid) != ip and self.ips.in_range(ip):
                try:
                    self.ips.allocate_specific(uid, ip)
                except AllocationError:
                    log.warning("two Services hold one ClusterIP", ip=ip, service=meta.get("name"))
            wanted = set(_node_ports(spec)) if spec.get("type") in NODE_PORT_TYPES else set()
            for port in self.node_ports.ports_of(uid) - wanted:
                self.node_ports.release_port(port)
            for port in wanted - self.node_ports.ports_of(uid):
                try:
                    self.node_ports.allocate_specific(uid, port)
                except AllocationError:
                    log.warning("nodePort held twice", port=port, service=meta.get("name"))
        for owner in set(self.ips.owners()) | set(self.node_ports.owners()):
            if owner not in live:
                self.release(owner)
        for owner in [o for o in self.locations if o not in live]:
            del self.locations[owner]


_BOOKS: weakref.WeakKeyDictionary[IPAllocator, ServiceAllocations] = weakref.WeakKeyDictionary()


def _node_ports(spec: Obj) -> list[int]:
    return [
        p["nodePort"]
        for p in spec.get("ports") or ()
        if isinstance(p, dict) and isinstance(p.get("nodePort"), int) and p["nodePort"]
    ]


def _go_strings(values: list[Any]) -> str:
    """How Go's %#v prints a []string, which is what kube's field errors show."""
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


def _invalid(name: str, field: str, value: str, detail: str) -> StatusError:
    """422 about one field of Service `name`, worded as kube's field.Invalid."""
    message = f"Invalid value: {value}: {detail}"
    return errors.invalid("Service", "", name, [Cause("FieldValueInvalid", message, field)])


def _is_service(rt: ResourceType) -> bool:
    return rt.group == "" and rt.kind == "Service"


class ServiceIPAdmission:
    """Admission plugin assigning and guarding Service ClusterIPs and NodePorts."""

    def __init__(
        self,
        ips: IPAllocator | ServiceAllocations,
        node_ports: PortAllocator | None = None,
        *,
        registry: RegistryAPI | None = None,
    ) -> None:
        """`registry`, when given, re-reserves what stored Services hold right away
        (a sandbox restarted from SQLite), before the first request can be admitted."""
        if node_ports is not None and isinstance(ips, IPAllocator):
            self.book = ServiceAllocations(ips, node_ports)
            _BOOKS[ips] = self.book
        else:
            self.book = ServiceAllocations.of(ips)
        if registry is not None:
            self.book.registry = registry
            rt = registry.catalog.require("", "v1", "services")
            self.book.sync(registry.list(rt, None).items)

    def __call__(
        self,
        op: Operation,
        rt: ResourceType,
        obj: Obj,
        old: Obj | None,
        subresource: str | None,
    ) -> None:
        if not _is_service(rt) or subresource is not None or op == "DELETE":
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return  # validation reports the missing spec
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        name = str(meta.get("name") or "")
        self.book.locations[uid] = (meta.get("namespace") or "", name)
        old_spec = (old or {}).get("spec") or {}
        fresh_ip = False
        try:
            fresh_ip = self._cluster_ip(uid, name, spec, old_spec if old is not None else None)
            self._node_ports(uid, name, spec, old_spec if old is not None else None)
        except StatusError:
            if fresh_ip:
                self.book.ips.release(uid)
            raise

    # -- ClusterIP ---------------------------------------------------------------------------

    def _cluster_ip(self, uid: str, name: str, spec: Obj, old_spec: Obj | None) -> bool:
        """Settle spec.clusterIP(s); True when this call reserved a new address."""
        if spec.get("type") == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            return False
        ip = spec.get("clusterIP") or None
        ips = [v for v in spec.get("clusterIPs") or () if v]
        if old_spec is not None and old_spec.get("type") != "ExternalName":
            old_ips = list(old_spec.get("clusterIPs") or ())
            old_ip = old_spec.get("clusterIP") or (old_ips[0] if old_ips else None)
            if old_ip:
                if ip is None:
                    ip = ips[0] if ips else old_ip
                if not ips or (ip != old_ip and ips == old_ips):
                    ips = [ip]
                if ips[0] != old_ip:
                    raise _invalid(
                        name,
                        "spec.clusterIPs[0]",
                        _go_strings(ips),
                        "may not change once set",
                    )
                spec["clusterIP"] = ip
                spec["clusterIPs"] = ips[:1]
                return False
        if ip is None and ips:
            ip = ips[0]
        if ip == "None":
            spec["clusterIP"] = "None"
            spec["clusterIPs"] = ["None"]
            return False
        held = self.book.ips.ip_of(uid)
        if ip is None:
            ip = self.book.ips.allocate(uid)
        elif held != ip:
            ip = self._reserve_ip(uid, name, ip)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        return held is None

    def _reserve_ip(self, uid: str, name: str, ip: str) -> str:
        try:
            return self.book.ips.allocate_specific(uid, ip)
        except AllocationError as exc:
            holder = self.book.ips.owner_of(ip)
            if holder is not None and holder != uid and not self.book.holder_is_live(holder):
                self.book.release(holder)  # left over from a create that never got stored
                return self._reserve_ip(uid, name, ip)
            raise _invalid(
                name,
                "spec.clusterIPs",
                _go_strings([ip]),
                f"failed to allocate IP {ip}: {exc.detail}",
            ) from None

    # -- NodePorts ---------------------------------------------------------------------------

    def _node_ports(self, uid: str, name: str, spec: Obj, old_spec: Obj | None) -> None:
        ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
        stype = spec.get("type")
        if stype not in NODE_PORT_TYPES:
            causes = [
                Cause(
                    "FieldValueForbidden",
                    f"Forbidden: may not be used when `type` is '{stype}'",
                    f"spec.ports[{i}].nodePort",
                )
                for i, p in enumerate(spec.get("ports") or ())
                if isinstance(p, dict) and p.get("nodePort")
            ]
            if causes and stype in ("ClusterIP", "ExternalName"):
                raise errors.invalid("Service", "", name, causes)
            return
        if stype == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
            if spec["allocateLoadBalancerNodePorts"] is False:
                return
        if old_spec is not None and old_spec.get("type") in NODE_PORT_TYPES:
            # kube's patchAllocatedValues: an omitted nodePort keeps the old one of that name.
            used = set(_node_ports(spec))
            by_name = {
                p.get("name") or "": p.get("nodePort")
                for p in old_spec.get("ports") or ()
                if isinstance(p, dict)
            }
            for port in ports:
                if not port.get("nodePort"):
                    previous = by_name.get(port.get("name") or "")
                    if previous and previous not in used:
                        port["nodePort"] = previous
                        used.add(previous)
        mine = self.book.node_ports.ports_of(uid)
        taken: list[int] = []
        try:
            for i, port in enumerate(ports):
                wanted = port.get("nodePort")
                if wanted:
                    if wanted not in mine:
                        self._reserve_port(uid, name, i, wanted)
                        taken.append(wanted)
                    mine.add(wanted)
            for port in ports:
                if not port.get("nodePort"):
                    port["nodePort"] = self.book.node_ports.allocate(uid)
                    taken.append(port["nodePort"])
        except StatusError:
            for port_number in taken:
                self.book.node_ports.release_port(port_number)
            raise

    def _reserve_port(self, uid: str, name: str, index: int, port: int) -> None:
        try:
            self.book.node_ports.allocate_specific(uid, port)
        except AllocationError as exc:
            holder = self.book.node_ports.owner_of(port)
            if holder is not None and holder != uid and not self.book.holder_is_live(holder):
                self.book.release(holder)
                self.book.node_ports.allocate_specific(uid, port)
                return
            raise _invalid(name, f"spec.ports[{index}].nodePort", str(port), exc.detail) from None


class ServiceIPReleaser:
    """Keeps the allocation book equal to the stored Services (release on delete, restore)."""

    def __init__(
        self,
        registry: RegistryAPI,
        clock: SandboxClock,
        ips: IPAllocator | ServiceAllocations,
        *,
        resync_seconds: float = RESYNC_SECONDS,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.book = ServiceAllocations.of(ips)
        self.book.registry = registry
        self.resync_seconds = resync_seconds
        self.rt = registry.catalog.require("", "v1", "services")
        self._dirty = asyncio.Event()
        self.informer = Informer(registry, self.rt, clock, name="service-ip-releaser")
        self.informer.add_handler(self._on_change)
        # Re-reserve at once: a restarted sandbox must not hand out an address an
        # existing Service holds, even before this controller's task first runs.
        self.sync()

    def sync(self) -> None:
        self.book.sync(self.registry.list(self.rt, None).items)

    def _on_change(self, old: Obj | None, new: Obj | None) -> None:
        if new is None or old is not None:
            self._dirty.set()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._dirty.wait(), timeout=self.clock.scaled(self.resync_seconds)
                )
            self._dirty.clear()
            self.sync()

    async def run(self) -> None:
        informer = asyncio.create_task(self.informer.run(), name="service-ip-informer")
        try:
            await supervise("service-ip-releaser", self._loop, self.clock)
        finally:
            informer.cancel()
            await asyncio.gather(informer, return_exceptions=True)
