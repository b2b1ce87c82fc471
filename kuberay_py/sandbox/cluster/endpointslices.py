"""The EndpointSlice (and legacy Endpoints) controller of the sandbox.

For every Service with a selector it keeps discovery.k8s.io/v1 EndpointSlices and
the core/v1 Endpoints object of the same name equal to the pods the selector picks,
the way kube-controller-manager's endpointslice and endpoints controllers do:
RayService readiness counts ready endpoints in the slices, kube-proxy (ours in
`network/proxy.py`) routes to them, and `kubectl describe svc` prints the Endpoints.

Level-triggered: a reconcile of one Service computes the desired objects from the
caches and writes only the difference, so an idle resync makes zero writes.
Services without a selector are left to their users (their slices and Endpoints
are never touched); slices this controller manages carry the
`endpointslice.kubernetes.io/managed-by` label and are the only ones it deletes.
"""

from __future__ import annotations

import asyncio
import copy
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.informer import Informer, KeyQueue, ObjKey, obj_key, supervise
from kuberay_py.sandbox.cluster.slices import SERVICE_NAME_LABEL, SlicesByService
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI

log = structlog.get_logger("sandbox.endpointslices")

Obj = dict[str, Any]

MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
MAX_ENDPOINTS_PER_SLICE = 100
RESYNC_SECONDS = 300.0

PortsKey = tuple[tuple[str, int, str, str], ...]  # (name, port, protocol, appProtocol)


# -- pure helpers ------------------------------------------------------------------------------


def selector_of(svc: Obj) -> dict[str, str] | None:
    """The Service's selector, None for selectorless (user-managed) Services."""
    selector = (svc.get("spec") or {}).get("selector")
    if not isinstance(selector, dict) or not selector:
        return None
    return {str(k): str(v) for k, v in selector.items()}


def matches(selector: dict[str, str], pod: Obj | None) -> bool:
    if pod is None:
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_ip(pod: Obj) -> str | None:
    status = pod.get("status") or {}
    ip = status.get("podIP")
    if not ip:
        ips = status.get("podIPs") or []
        ip = ips[0].get("ip") if ips and isinstance(ips[0], dict) else None
    return str(ip) if ip else None


def pod_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_terminating(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """kube's podutil.FindPort: a numeric targetPort as is, a named one from containerPorts."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target:
        protocol = service_port.get("protocol") or "TCP"
        spec = pod.get("spec") or {}
        for container in spec.get("containers") or ():
            for port in (container or {}).get("ports") or ():
                if (
                    isinstance(port, dict)
                    and port.get("name") == target
                    and (port.get("protocol") or "TCP") == protocol
                ):
                    number = port.get("containerPort")
                    return number if isinstance(number, int) else None
    return None


def endpoint_ports(svc: Obj, pod: Obj) -> list[Obj]:
    """The service ports resolved for one pod (ports the pod cannot serve are left out)."""
    ports: list[Obj] = []
    for sp in (svc.get("spec") or {}).get("ports") or ():
        if not isinstance(sp, dict):
            continue
        number = find_port(pod, sp)
        if number is None:
            continue
        port: Obj = {
            "name": sp.get("name") or "",
            "port": number,
            "protocol": sp.get("protocol") or "TCP",
        }
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)
    return ports


def ports_key(ports: Iterable[Obj]) -> PortsKey:
    return tuple(
        sorted(
            (
                str(p.get("name") or ""),
                int(p.get("port") or 0),
                str(p.get("protocol") or "TCP"),
                str(p.get("appProtocol") or ""),
            )
            for p in ports
        )
    )


def _ports_from_key(key: PortsKey) -> list[Obj]:
    ports: list[Obj] = []
    for name, number, protocol, app_protocol in key:
        port: Obj = {"name": name, "port": number, "protocol": protocol}
        if app_protocol:
            port["appProtocol"] = app_protocol
        ports.append(port)
    return ports


def is_headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def service_labels(svc: Obj) -> dict[str, str]:
    labels = dict((svc.get("metadata") or {}).get("labels") or {})
    if is_headless(svc):
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def _target_ref(pod: Obj) -> Obj:
    meta = pod.get("metadata") or {}
    return {
        "kind": "Pod",
        "namespace": meta.get("namespace") or "",
        "name": meta.get("name") or "",
        "uid": meta.get("uid") or "",
    }


def _hostname(svc: Obj, pod: Obj) -> str | None:
    spec = pod.get("spec") or {}
    name = (svc.get("metadata") or {}).get("name")
    if spec.get("hostname") and spec.get("subdomain") == name:
        return str(spec["hostname"])
    return None


def slice_endpoint(svc: Obj, pod: Obj, ip: str) -> Obj:
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    terminating = is_terminating(pod)
    ready = publish or (pod_ready(pod) and not terminating)
    serving = publish or pod_ready(pod)
    return {
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        **_whereabouts(svc, pod),
    }


def _whereabouts(svc: Obj, pod: Obj) -> Obj:
    """hostname (when set), nodeName (when bound) and targetRef: what an endpoint (slice
    or legacy) says about the pod behind an address."""
    out: Obj = {}
    hostname = _hostname(svc, pod)
    if hostname:
        out["hostname"] = hostname
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        out["nodeName"] = node
    out["targetRef"] = _target_ref(pod)
    return out


def desired_slice_groups(svc: Obj, pods: Iterable[Obj]) -> dict[PortsKey, list[Obj]]:
    """Endpoints grouped by their resolved ports (one group of slices per distinct mapping)."""
    groups: dict[PortsKey, list[Obj]] = defaultdict(list)
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name") or ""):
        ip = pod_ip(pod)
        if ip is None or is_terminal(pod):
            continue
        key = ports_key(endpoint_ports(svc, pod))
        groups[key].append(slice_endpoint(svc, pod, ip))
    return dict(groups)


def desired_subsets(svc: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The legacy Endpoints subsets, packed like kube's endpoints.RepackSubsets."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    by_ports: dict[PortsKey, tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        ip = pod_ip(pod)
        if ip is None or is_terminal(pod) or (is_terminating(pod) and not publish):
            continue
        address: Obj = {"ip": ip, **_whereabouts(svc, pod)}
        ports = endpoint_ports(svc, pod)
        if not ports and not (not spec.get("ports") and is_headless(svc)):
            continue
        ready, not_ready = by_ports.setdefault(ports_key(ports), ([], []))
        (ready if publish or pod_ready(pod) else not_ready).append(address)
    subsets: list[Obj] = []
    for key in sorted(by_ports):
        ready, not_ready = by_ports[key]
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=_address_order)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_address_order)
        if key:
            subset["ports"] = _ports_from_key(key)
        subsets.append(subset)
    return subsets


def _address_order(address: Obj) -> tuple[str, str]:
    return (address.get("ip") or "", (address.get("targetRef") or {}).get("uid") or "")


def owner_reference(svc: Obj) -> Obj:
    meta = svc.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "name": meta.get("name") or "",
        "uid": meta.get("uid") or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _chunks(items: list[Obj]) -> list[list[Obj]]:
    if not items:
        return [[]]
    return [
        items[i : i + MAX_ENDPOINTS_PER_SLICE]
        for i in range(0, len(items), MAX_ENDPOINTS_PER_SLICE)
    ]


# -- the controller ----------------------------------------------------------------------------


class EndpointSliceController:
    """Maintains EndpointSlices and Endpoints for every selector-bearing Service."""

    def __init__(
        self,
        registry: RegistryAPI,
        clock: SandboxClock,
        *,
        resync_seconds: float = RESYNC_SECONDS,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.resync_seconds = resync_seconds
        self.services_rt = registry.catalog.require("", "v1", "services")
        self.pods_rt = registry.catalog.require("", "v1", "pods")
        self.endpoints_rt = registry.catalog.require("", "v1", "endpoints")
        self.slices_rt = registry.catalog.require("discovery.k8s.io", "v1", "endpointslices")
        self.services = Informer(registry, self.services_rt, clock, name="eps-services")
        self.pods = Informer(registry, self.pods_rt, clock, name="eps-pods")
        self.slices = Informer(
            registry,
            self.slices_rt,
            clock,
            label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}",
            name="eps-slices",
        )
        self.endpoints = Informer(registry, self.endpoints_rt, clock, name="eps-endpoints")
        self.queue: KeyQueue[ObjKey] = KeyQueue()
        self._failures: dict[ObjKey, int] = {}
        # Services seen deleted: their Endpoints object goes too (slices always go).
        self._deleted_services: set[ObjKey] = set()
        self._pods_by_ns: dict[str, dict[str, Obj]] = defaultdict(dict)
        self._slices = SlicesByService()
        self._selectors_by_ns: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
        self.services.add_handler(self._on_service)
        self.pods.add_handler(self._on_pod)
        self.slices.add_handler(self._on_slice)
        self.endpoints.add_handler(self._on_endpoints)

    # -- event handlers ----------------------------------------------------------------------

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        key = obj_key(new or old or {})
        selectors = self._selectors_by_ns[key[0]]
        selector = selector_of(new) if new is not None else None
        if selector is None:
            selectors.pop(key[1], None)
        else:
            selectors[key[1]] = selector
        if new is None:
            self._deleted_services.add(key)
        else:
            self._deleted_services.discard(key)
        self.queue.add(key)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        pod = new or old or {}
        ns, name = obj_key(pod)
        if new is None:
            self._pods_by_ns[ns].pop(name, None)
        else:
            self._pods_by_ns[ns][name] = new
        for service, selector in self._selectors_by_ns.get(ns, {}).items():
            if matches(selector, old) or matches(selector, new):
                self.queue.add((ns, service))

    def _on_slice(self, old: Obj | None, new: Obj | None) -> None:
        for key in self._slices.observe(old, new):
            self.queue.add(key)

    def _on_endpoints(self, old: Obj | None, new: Obj | None) -> None:
        if new is None or old is None or new.get("subsets") != old.get("subsets"):
            key = obj_key(new or old or {})
            if self.services.get(*key) is not None:
                self.queue.add(key)

    # -- reconcile ---------------------------------------------------------------------------

    def pods_for(self, svc: Obj) -> list[Obj]:
        selector = selector_of(svc)
        if selector is None:
            return []
        ns = (svc.get("metadata") or {}).get("namespace") or ""
        return [p for p in self._pods_by_ns.get(ns, {}).values() if matches(selector, p)]

    def _managed_slices(self, ns: str, service: str) -> list[Obj]:
        found = [
            s
            for s in self._slices.of(ns, service)
            if ((s.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
            and not (s.get("metadata") or {}).get("deletionTimestamp")
        ]
        return sorted(found, key=lambda s: s["metadata"]["name"])

    def reconcile(self, ns: str, name: str) -> int:
        """Bring one Service's slices and Endpoints up to date; returns the number of writes."""
        svc = self.services.get(ns, name)
        if svc is None:
            writes = self._delete_slices(self._managed_slices(ns, name))
            if (ns, name) in self._deleted_services:
                writes += self._delete_endpoints(ns, name)
                self._deleted_services.discard((ns, name))
            return writes
        spec = svc.get("spec") or {}
        if selector_of(svc) is None or spec.get("type") == "ExternalName":
            # User-managed: never touch their Endpoints; remove only slices we made earlier.
            return self._delete_slices(self._managed_slices(ns, name))
        pods = self.pods_for(svc)
        return self._sync_slices(svc, pods) + self._sync_endpoints(svc, pods)

    def _desired_slice(self, svc: Obj, key: PortsKey, endpoints: list[Obj]) -> Obj:
        meta = svc["metadata"]
        labels = service_labels(svc)
        labels[SERVICE_NAME_LABEL] = meta["name"]
        labels[MANAGED_BY_LABEL] = MANAGED_BY
        body: Obj = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta.get("namespace"),
                "labels": labels,
                "ownerReferences": [owner_reference(svc)],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
        }
        if key:
            body["ports"] = _ports_from_key(key)
        return body

    @staticmethod
    def _slice_differs(existing: Obj, desired: Obj) -> bool:
        meta, want = existing.get("metadata") or {}, desired["metadata"]
        return (
            (meta.get("labels") or {}) != want["labels"]
            or (meta.get("ownerReferences") or []) != want["ownerReferences"]
            or existing.get("addressType") != desired["addressType"]
            or (existing.get("endpoints") or []) != desired["endpoints"]
            or (existing.get("ports") or []) != (desired.get("ports") or [])
        )

    def _sync_slices(self, svc: Obj, pods: list[Obj]) -> int:
        ns, name = obj_key(svc)
        groups = desired_slice_groups(svc, pods) or {(): []}
        desired: list[tuple[PortsKey, Obj]] = []
        for key in sorted(groups):
            for chunk in _chunks(groups[key]):
                desired.append((key, self._desired_slice(svc, key, chunk)))
        existing = self._managed_slices(ns, name)
        by_key: dict[PortsKey, list[Obj]] = defaultdict(list)
        for s in existing:
            by_key[ports_key(s.get("ports") or [])].append(s)
        # Pair desired slices with existing ones of the same ports first, then reuse any
        # leftover slice (an update keeps endpoints visible; delete + create would blink).
        pairs: list[tuple[Obj | None, Obj]] = []
        unmatched: list[Obj] = []
        for key, want in desired:
            candidates = by_key.get(key)
            if candidates:
                pairs.append((candidates.pop(0), want))
            else:
                unmatched.append(want)
        leftovers = [s for group in by_key.values() for s in group]
        leftovers.sort(key=lambda s: s["metadata"]["name"])
        for want in unmatched:
            pairs.append((leftovers.pop(0) if leftovers else None, want))
        writes = 0
        for current, want in pairs:
            if current is None:
                created = self.registry.create(self.slices_rt, ns, want)
                self.slices.assume(created)
                writes += 1
            elif self._slice_differs(current, want):
                body = copy.deepcopy(current)
                body["metadata"]["labels"] = want["metadata"]["labels"]
                body["metadata"]["ownerReferences"] = want["metadata"]["ownerReferences"]
                body["addressType"] = want["addressType"]
                body["endpoints"] = want["endpoints"]
                if "ports" in want:
                    body["ports"] = want["ports"]
                else:
                    body.pop("ports", None)
                updated = self.registry.update(
                    self.slices_rt, ns, current["metadata"]["name"], body
                )
                self.slices.assume(updated)
                writes += 1
        return writes + self._delete_slices(leftovers)

    def _delete_slices(self, slices: list[Obj]) -> int:
        writes = 0
        for s in slices:
            ns, name = obj_key(s)
            try:
                self.registry.delete(self.slices_rt, ns, name)
                writes += 1
            except StatusError as exc:
                if exc.code != 404:
                    raise
            self.slices.forget(s)
        return writes

    def _sync_endpoints(self, svc: Obj, pods: list[Obj]) -> int:
        ns, name = obj_key(svc)
        labels = service_labels(svc)
        subsets = desired_subsets(svc, pods)
        current = self.endpoints.get(ns, name)
        if current is None:
            body: Obj = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
            }
            if subsets:
                body["subsets"] = subsets
            try:
                created = self.registry.create(self.endpoints_rt, ns, body)
            except StatusError as exc:
                if exc.code != 409:
                    raise
                # Our cache lags: the object exists; come back with the stored version.
                self.endpoints.assume(self.registry.get(self.endpoints_rt, ns, name))
                return self._sync_endpoints(svc, pods)
            self.endpoints.assume(created)
            return 1
        meta = current.get("metadata") or {}
        if (meta.get("labels") or {}) == labels and (current.get("subsets") or []) == subsets:
            return 0
        new = copy.deepcopy(current)
        new["metadata"]["labels"] = labels
        if subsets:
            new["subsets"] = subsets
        else:
            new.pop("subsets", None)
        updated = self.registry.update(self.endpoints_rt, ns, name, new)
        self.endpoints.assume(updated)
        return 1

    def _delete_endpoints(self, ns: str, name: str) -> int:
        current = self.endpoints.get(ns, name)
        try:
            self.registry.delete(self.endpoints_rt, ns, name)
        except StatusError as exc:
            if exc.code != 404:
                raise
            return 0
        finally:
            if current is not None:
                self.endpoints.forget(current)
        return 1

    # -- loops -------------------------------------------------------------------------------

    def resync(self) -> None:
        """Queue every Service (and every Service a managed slice names) for a reconcile."""
        for svc in self.services.items():
            self.queue.add(obj_key(svc))
        for s in self.slices.items():
            service = ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
            if service:
                self.queue.add((obj_key(s)[0], service))

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                self.reconcile(*key)
                self._failures.pop(key, None)
            except StatusError as exc:
                self._retry(key, exc.message)
            except Exception as exc:
                log.exception("endpointslice reconcile failed", service=key)
                self._retry(key, str(exc))
            await asyncio.sleep(0)

    def _retry(self, key: ObjKey, reason: str) -> None:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(0.05 * 2 ** min(failures, 10), 10.0)
        if failures > 1:
            log.info("retrying endpoints of service", service=key, reason=reason)
        self.queue.add_after(key, self.clock.scaled(delay))

    async def _resync_loop(self) -> None:
        while True:
            await self.clock.sleep(self.resync_seconds)
            self.resync()

    async def run(self) -> None:
        informers = [self.services, self.pods, self.slices, self.endpoints]
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in informers]
        try:
            for informer in informers:
                await informer.synced.wait()
            self.resync()
            await asyncio.gather(
                supervise("endpointslice-worker", self._work, self.clock),
                supervise("endpointslice-resync", self._resync_loop, self.clock),
            )
        finally:
            self.queue.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
