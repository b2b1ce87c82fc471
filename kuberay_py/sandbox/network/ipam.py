"""Address bookkeeping for pod IPs and Service ClusterIPs (and NodePorts) on loopback.

Linux routes all of 127.0.0.0/8 to `lo`, so every pod can own a 127.x.y.z address
and listen on the same ports as its neighbours, and every Service can own a
ClusterIP that the kube-proxy-like forwarder binds. These allocators only decide
who owns which address; nothing here touches a socket.

Allocation walks a cursor from a per-instance random start, so two sandboxes on one
machine rarely hand out the same addresses, and each allocation is O(1) amortised
while the range is sparsely used (a /12 holds a million addresses). Addresses whose
last octet is 0 or 255 are never handed out: they look like network and broadcast
addresses to people and to some tools, even though loopback would accept them.
"""

from __future__ import annotations

import ipaddress
import random
import weakref

from kuberay_py.sandbox.registry.errors import StatusError


class AllocationError(StatusError):
    """A specific address or port could not be reserved (422 Invalid, kube's wording).

    `detail` is the allocator's own sentence (e.g. "provided IP is already allocated");
    callers that know the object and field (the Service admission plugin) wrap it into
    a properly named field error.
    """

    def __init__(self, detail: str, value: object) -> None:
        shown = f'"{value}"' if isinstance(value, str) else str(value)
        super().__init__(422, "Invalid", f"Invalid value: {shown}: {detail}")
        self.detail = detail
        self.value = value


class RangeFullError(StatusError):
    """Every address (or port) of the range is taken (kube: 500 "range is full")."""

    def __init__(self, what: str) -> None:
        super().__init__(500, "InternalError", f"Internal error occurred: {what}: range is full")


def _usable(value: int) -> bool:
    return 0 < (value & 0xFF) < 255


class IPAllocator:
    """Hands out IPv4 addresses of `cidr` to owners; the same owner always gets the same IP."""

    def __init__(self, cidr: str, *, seed: int | None = None) -> None:
        self.network = ipaddress.IPv4Network(cidr, strict=True)
        self.cidr = str(self.network)
        self._first = int(self.network.network_address)
        self._size = self.network.num_addresses
        if self._size < 4:
            raise ValueError(f"{cidr} is too small to allocate from")
        self._cursor = random.Random(seed).randrange(self._size)
        self._by_owner: dict[str, int] = {}
        self._by_ip: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._by_ip)

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, str) and self.owner_of(ip) is not None

    def _index_ok(self, value: int) -> bool:
        offset = value - self._first
        return 0 < offset < self._size - 1 and _usable(value)

    def allocate(self, owner: str) -> str:
        """The owner's IP, picking a free one at the cursor if it has none yet."""
        held = self._by_owner.get(owner)
        if held is not None:
            return str(ipaddress.IPv4Address(held))
        for _ in range(self._size):
            value = self._first + self._cursor
            self._cursor = (self._cursor + 1) % self._size
            if self._index_ok(value) and value not in self._by_ip:
                self._by_owner[owner] = value
                self._by_ip[value] = owner
                return str(ipaddress.IPv4Address(value))
        raise RangeFullError(f"failed to allocate an IP from {self.cidr}")

    def allocate_specific(self, owner: str, ip: str) -> str:
        """Reserve exactly `ip` for `owner` (422 if it is outside the range or someone else's).

        An owner that already holds another IP gives it up for the new one.
        """
        try:
            value = int(ipaddress.IPv4Address(ip))
        except ValueError:
            raise AllocationError(
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)", ip
            ) from None
        if not self._index_ok(value):
            raise AllocationError(
                f"the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {self.cidr}",
                ip,
            )
        holder = self._by_ip.get(value)
        if holder is not None and holder != owner:
            raise AllocationError("provided IP is already allocated", ip)
        previous = self._by_owner.get(owner)
        if previous is not None and previous != value:
            del self._by_ip[previous]
        self._by_owner[owner] = value
        self._by_ip[value] = owner
        return str(ipaddress.IPv4Address(value))

    def release(self, owner: str) -> None:
        value = self._by_owner.pop(owner, None)
        if value is not None:
            self._by_ip.pop(value, None)

    def owner_of(self, ip: str) -> str | None:
        try:
            return self._by_ip.get(int(ipaddress.IPv4Address(ip)))
        except ValueError:
            return None

    def ip_of(self, owner: str) -> str | None:
        value = self._by_owner.get(owner)
        return None if value is None else str(ipaddress.IPv4Address(value))

    def owners(self) -> list[str]:
        return list(self._by_owner)

    def in_range(self, ip: str) -> bool:
        try:
            return self._index_ok(int(ipaddress.IPv4Address(ip)))
        except ValueError:
            return False


class PortAllocator:
    """NodePorts (30000-32767 by default): an owner may hold several ports, released together."""

    def __init__(self, first: int = 30000, last: int = 32767, *, seed: int | None = None) -> None:
        if not 0 < first <= last <= 65535:
            raise ValueError(f"bad port range {first}-{last}")
        self.first = first
        self.last = last
        self._size = last - first + 1
        self._cursor = random.Random(seed).randrange(self._size)
        self._by_port: dict[int, str] = {}
        self._by_owner: dict[str, set[int]] = {}

    @property
    def range_text(self) -> str:
        return f"{self.first}-{self.last}"

    def _take(self, owner: str, port: int) -> int:
        self._by_port[port] = owner
        self._by_owner.setdefault(owner, set()).add(port)
        return port

    def allocate(self, owner: str) -> int:
        """One more free port for `owner`."""
        for _ in range(self._size):
            port = self.first + self._cursor
            self._cursor = (self._cursor + 1) % self._size
            if port not in self._by_port:
                return self._take(owner, port)
        raise RangeFullError(f"failed to allocate a nodePort from {self.range_text}")

    def allocate_specific(self, owner: str, port: int) -> int:
        if not self.first <= port <= self.last:
            raise AllocationError(
                "provided port is not in the valid range. "
                f"The range of valid ports is {self.range_text}",
                port,
            )
        holder = self._by_port.get(port)
        if holder is not None and holder != owner:
            raise AllocationError("provided port is already allocated", port)
        return self._take(owner, port)

    def release_port(self, port: int) -> None:
        owner = self._by_port.pop(port, None)
        if owner is not None:
            held = self._by_owner.get(owner)
            if held is not None:
                held.discard(port)
                if not held:
                    del self._by_owner[owner]

    def release(self, owner: str) -> None:
        for port in self._by_owner.pop(owner, set()):
            self._by_port.pop(port, None)

    def owner_of(self, port: int) -> str | None:
        return self._by_port.get(port)

    def ports_of(self, owner: str) -> set[int]:
        return set(self._by_owner.get(owner, ()))

    def owners(self) -> list[str]:
        return list(self._by_owner)


_NODE_PORTS: weakref.WeakKeyDictionary[IPAllocator, PortAllocator] = weakref.WeakKeyDictionary()


def node_ports_for(ips: IPAllocator) -> PortAllocator:
    """The NodePort allocator paired with a Service IP allocator (one per sandbox).

    The admission plugin and the releaser are each built from the Service
    IPAllocator alone; pairing the port allocator with it lets both share one view
    of the NodePorts without another constructor argument.
    """
    ports = _NODE_PORTS.get(ips)
    if ports is None:
        ports = _NODE_PORTS[ips] = PortAllocator()
    return ports


__all__ = [
    "AllocationError",
    "IPAllocator",
    "PortAllocator",
    "RangeFullError",
    "node_ports_for",
]
