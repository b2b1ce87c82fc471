"""A kube-proxy for loopback: ClusterIP:port listeners that splice to ready endpoints.

For every non-headless Service with a ClusterIP on loopback, and each of its TCP
ports, `KubeProxy` listens on ClusterIP:port and sends every accepted connection to
one ready endpoint of the Service's EndpointSlices (round robin), copying bytes both
ways until both sides are done. It follows Services and EndpointSlices through
watches, so a pod turning ready or unready changes where the next connection goes.

No ready endpoint: the listener is closed, so clients get ECONNREFUSED at once, as
kube-proxy's iptables REJECT rule gives them, instead of a connection that is
accepted and then dropped (which HTTP clients report as a confusing "server
disconnected"). The listener opens again as soon as an endpoint is ready;
connections already spliced are never cut by endpoint changes. When there are no
ready endpoints but some are serving and terminating, those are used (kube-proxy's
terminating-endpoint fallback, which keeps a graceful drain lossless).

NodePorts are not opened: the nodes all share 127.0.0.1, and binding 30000-32767
there would collide with whatever else runs on the machine. UDP and SCTP ports are
ignored. A bind failure is logged and retried with backoff; it never stops the proxy.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import defaultdict
from typing import Any

import attrs
import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.informer import Informer, KeyQueue, ObjKey, obj_key, supervise
from kuberay_py.sandbox.cluster.slices import SERVICE_NAME_LABEL, SlicesByService
from kuberay_py.sandbox.registry.registry import RegistryAPI
from kuberay_py.sandbox.registry.types import ListOptions

log = structlog.get_logger("sandbox.kube_proxy")

Obj = dict[str, Any]
Backend = tuple[str, int]
ListenKey = tuple[str, int]  # (clusterIP, port)

CONNECT_TIMEOUT = 5.0
HIGH_WATER = 1 << 20  # pause the other side's reads above 1 MiB buffered


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.IPv4Address(ip).is_loopback
    except ValueError:
        return False


def ready_backends(slices: list[Obj], port: Obj) -> list[Backend]:
    """The endpoints a connection to a Service's `port` may go to, kube-proxy's way.

    Ready endpoints (a missing `ready` counts as ready, per the API's doc); when there
    are none, serving-and-terminating ones. Duplicates across slices count once.
    """
    name = port.get("name") or ""
    protocol = port.get("protocol") or "TCP"
    ready: dict[Backend, None] = {}
    draining: dict[Backend, None] = {}
    for s in slices:
        if s.get("addressType", "IPv4") != "IPv4":
            continue
        numbers = [
            p.get("port")
            for p in s.get("ports") or ()
            if isinstance(p, dict)
            and (p.get("name") or "") == name
            and (p.get("protocol") or "TCP") == protocol
        ]
        if not numbers or not isinstance(numbers[0], int):
            continue
        for ep in s.get("endpoints") or ():
            addresses = (ep or {}).get("addresses") or []
            if not addresses:
                continue
            cond = ep.get("conditions") or {}
            backend = (str(addresses[0]), numbers[0])
            if cond.get("ready") is not False:
                ready[backend] = None
            elif cond.get("serving") and cond.get("terminating"):
                draining[backend] = None
    return list(ready or draining)


def _service_port(svc: Obj, wanted: str | int | None) -> Obj | None:
    """The Service's port named or numbered `wanted` (None or "": the first port)."""
    for port in (svc.get("spec") or {}).get("ports") or ():
        if isinstance(port, dict) and (
            wanted is None
            or wanted == ""
            or port.get("name") == wanted
            or str(port.get("port")) == str(wanted)
        ):
            return port
    return None


def service_backends(
    registry: RegistryAPI, namespace: str, name: str, port: str | int | None = None
) -> list[Backend]:
    """Ready backends of a Service port (by name or number; None = the first port).

    Reads the registry directly, for callers without a KubeProxy at hand, such as the
    API server's `services/NAME:PORT/proxy` subresource. Raises the registry's 404
    when the Service does not exist; returns [] when nothing is ready.
    """
    services_rt = registry.catalog.require("", "v1", "services")
    slices_rt = registry.catalog.require("discovery.k8s.io", "v1", "endpointslices")
    found = _service_port(registry.get(services_rt, namespace, name), port)
    if found is None:
        return []
    selector = ListOptions(label_selector=f"{SERVICE_NAME_LABEL}={name}")
    return ready_backends(registry.list(slices_rt, namespace, selector).items, found)


class _Half(asyncio.Protocol):
    """One side of a spliced connection; forwards what it receives to its peer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.eof = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None or peer.transport is None or peer.closed:
            return False
        if peer.eof:
            peer.transport.close()
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
            return True  # half-close: keep the other direction flowing
        peer.transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            if exc is None:
                peer.transport.close()
            else:
                peer.transport.abort()

    # Flow control: when our outgoing buffer is full, stop reading from the peer.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.resume_reading()


class _Client(_Half):
    """The accepted side: holds its data until the backend connection is up."""

    def __init__(self, listener: Listener) -> None:
        super().__init__()
        self.listener = listener
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()
        self.listener.clients.add(self)
        self._task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        for backend in self.listener.choose():
            if self.closed:
                return
            try:
                _, upstream = await asyncio.wait_for(
                    loop.create_connection(_Half, backend[0], backend[1]), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                log.debug("endpoint unreachable", backend=backend, error=str(exc))
                continue
            if self.closed:
                if upstream.transport is not None:
                    upstream.transport.close()
                return
            self.peer, upstream.peer = upstream, self
            assert self.transport is not None
            self.transport.resume_reading()
            return
        if self.transport is not None and not self.closed:
            self.transport.abort()  # every endpoint refused: reset, like a REJECT

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.listener.clients.discard(self)
        if self.peer is None and self._task is not None:
            self._task.cancel()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()


@attrs.define(eq=False)
class Listener:
    """One ClusterIP:port: the backends it may use and, while it has any, a server socket."""

    service: ObjKey
    host: str
    port: int
    backends: list[Backend] = attrs.Factory(list)
    server: asyncio.Server | None = None
    next_index: int = 0
    failures: int = 0
    retry_at: float = 0.0
    clients: set[_Client] = attrs.Factory(set)

    def choose(self) -> list[Backend]:
        """Backends in the order to try them: round robin start, then the others."""
        if not self.backends:
            return []
        start = self.next_index % len(self.backends)
        self.next_index = start + 1
        return self.backends[start:] + self.backends[:start]


class KubeProxy:
    """Forwards ClusterIP:port to ready endpoints; follows Services and EndpointSlices live."""

    def __init__(self, registry: RegistryAPI, clock: SandboxClock) -> None:
        self.registry = registry
        self.clock = clock
        self.services_rt = registry.catalog.require("", "v1", "services")
        slices_rt = registry.catalog.require("discovery.k8s.io", "v1", "endpointslices")
        self.services = Informer(registry, self.services_rt, clock, name="proxy-services")
        self.slices = Informer(registry, slices_rt, clock, name="proxy-slices")
        self.listeners: dict[ListenKey, Listener] = {}
        self._by_service: dict[ObjKey, set[ListenKey]] = defaultdict(set)
        self._slices = SlicesByService()
        self.queue: KeyQueue[ObjKey] = KeyQueue()
        self.services.add_handler(self._on_service)
        self.slices.add_handler(self._on_slice)

    # -- events ------------------------------------------------------------------------------

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        self.queue.add(obj_key(new or old or {}))

    def _on_slice(self, old: Obj | None, new: Obj | None) -> None:
        for key in self._slices.observe(old, new):
            self.queue.add(key)

    # -- state -------------------------------------------------------------------------------

    def backends(
        self, namespace: str, service: str, port: str | int | None = None
    ) -> list[Backend]:
        """Ready backends of a Service port (by name or number), from this proxy's caches."""
        svc = self.services.get(namespace, service)
        found = None if svc is None else _service_port(svc, port)
        if found is None:
            return []
        return ready_backends(self._slices.of(namespace, service), found)

    def listening(self) -> set[ListenKey]:
        """The ClusterIP:port pairs with an open listener now."""
        return {key for key, lst in self.listeners.items() if lst.server is not None}

    def _desired(self, key: ObjKey) -> dict[ListenKey, list[Backend]]:
        svc = self.services.get(*key)
        if svc is None:
            return {}
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if spec.get("type") == "ExternalName" or not ip or ip == "None":
            return {}
        if not _loopback(ip):
            return {}  # never bind outside loopback
        slices = self._slices.of(*key)
        desired: dict[ListenKey, list[Backend]] = {}
        for port in spec.get("ports") or ():
            if not isinstance(port, dict) or (port.get("protocol") or "TCP") != "TCP":
                continue
            number = port.get("port")
            if isinstance(number, int):
                desired[(ip, number)] = ready_backends(slices, port)
        return desired

    async def sync(self, key: ObjKey) -> None:
        """Open, update or close the listeners of one Service."""
        desired = self._desired(key)
        for lkey in list(self._by_service.get(key, ())):
            if lkey not in desired:
                self._drop(lkey)
        for lkey, backends in desired.items():
            listener = self.listeners.get(lkey)
            if listener is not None and listener.service != key:
                self._drop(lkey)  # the address moved to another Service
                listener = None
            if listener is None:
                listener = self.listeners[lkey] = Listener(key, lkey[0], lkey[1])
                self._by_service[key].add(lkey)
            listener.backends = backends
            if backends and listener.server is None:
                await self._open(listener)
            elif not backends and listener.server is not None:
                self._close(listener)

    async def _open(self, listener: Listener) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < listener.retry_at:
            return
        try:
            listener.server = await loop.create_server(
                lambda: _Client(listener), listener.host, listener.port, reuse_address=True
            )
            listener.failures = 0
            log.debug(
                "listening", service=listener.service, address=listener.host, port=listener.port
            )
        except OSError as exc:
            listener.failures += 1
            # Real seconds, not simulated ones: the port is held by something outside.
            delay = min(0.25 * 2 ** min(listener.failures, 7), 30.0)
            listener.retry_at = loop.time() + delay
            report = log.warning if listener.failures % 10 == 1 else log.debug
            report(
                "cannot listen on service address; retrying",
                service=listener.service,
                address=f"{listener.host}:{listener.port}",
                error=str(exc),
                failures=listener.failures,
                retry_in=round(delay, 3),
            )
            self.queue.add_after(listener.service, delay)

    @staticmethod
    def _close(listener: Listener) -> None:
        if listener.server is not None:
            listener.server.close()  # stops accepting; spliced connections live on
            listener.server = None

    def _drop(self, lkey: ListenKey) -> None:
        listener = self.listeners.pop(lkey, None)
        if listener is not None:
            self._close(listener)
            self._by_service[listener.service].discard(lkey)
            if not self._by_service[listener.service]:
                del self._by_service[listener.service]

    # -- loops -------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.sync(key)
            except Exception:
                log.exception("kube-proxy sync failed", service=key)
                self.queue.add_after(key, self.clock.scaled(1.0))

    async def run(self) -> None:
        informers = [self.services, self.slices]
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in informers]
        try:
            await supervise("kube-proxy", self._work, self.clock)
        finally:
            self.queue.close()
            for lkey in list(self.listeners):
                clients = list(self.listeners[lkey].clients)
                self._drop(lkey)
                for client in clients:
                    client.abort()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
