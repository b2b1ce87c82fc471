"""IPAllocator and PortAllocator: ownership, ranges, randomised start, release, exhaustion."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kuberay_py.sandbox.network.ipam import (
    AllocationError,
    IPAllocator,
    PortAllocator,
    RangeFullError,
    node_ports_for,
)


def test_same_owner_same_ip_and_inside_range() -> None:
    alloc = IPAllocator("127.16.0.0/12", seed=1)
    a = alloc.allocate("pod-a")
    b = alloc.allocate("pod-b")
    assert alloc.allocate("pod-a") == a
    assert a != b
    for ip in (a, b):
        assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("127.16.0.0/12")
    assert alloc.owner_of(a) == "pod-a"
    assert alloc.ip_of("pod-b") == b
    assert len(alloc) == 2


def test_start_offset_depends_on_seed() -> None:
    firsts = {IPAllocator("127.96.0.0/12", seed=s).allocate("x") for s in range(20)}
    assert len(firsts) > 15
    assert IPAllocator("127.96.0.0/12", seed=7).allocate("x") == IPAllocator(
        "127.96.0.0/12", seed=7
    ).allocate("x")


def test_skips_network_broadcast_and_dot0_dot255_addresses() -> None:
    alloc = IPAllocator("127.96.0.0/22", seed=0)
    got = [alloc.allocate(f"o{i}") for i in range(len(range(1024)) - 8)]
    for ip in got:
        last = int(ipaddress.IPv4Address(ip)) & 0xFF
        assert 0 < last < 255, ip
    assert len(set(got)) == len(got)
    # 4 x .0 and 4 x .255 are excluded: exactly 1016 usable addresses.
    with pytest.raises(RangeFullError):
        alloc.allocate("one-too-many")


def test_allocate_specific_and_errors() -> None:
    alloc = IPAllocator("127.96.0.0/12", seed=3)
    assert alloc.allocate_specific("svc-a", "127.96.1.10") == "127.96.1.10"
    assert alloc.allocate_specific("svc-a", "127.96.1.10") == "127.96.1.10"  # idempotent
    with pytest.raises(AllocationError) as taken:
        alloc.allocate_specific("svc-b", "127.96.1.10")
    assert taken.value.code == 422
    assert taken.value.detail == "provided IP is already allocated"
    with pytest.raises(AllocationError) as outside:
        alloc.allocate_specific("svc-b", "10.0.0.1")
    assert outside.value.detail == (
        "the provided IP (10.0.0.1) is not in the valid range. "
        "The range of valid IPs is 127.96.0.0/12"
    )
    with pytest.raises(AllocationError):
        alloc.allocate_specific("svc-b", "127.96.0.0")  # the network address
    with pytest.raises(AllocationError):
        alloc.allocate_specific("svc-b", "not-an-ip")
    # Moving an owner to another address frees the old one.
    alloc.allocate_specific("svc-a", "127.96.1.11")
    assert alloc.owner_of("127.96.1.10") is None
    assert alloc.allocate_specific("svc-b", "127.96.1.10") == "127.96.1.10"


def test_release_frees_the_address_for_reuse() -> None:
    alloc = IPAllocator("127.16.0.0/30", seed=0)  # only .1 and .2 usable
    a = alloc.allocate("a")
    b = alloc.allocate("b")
    with pytest.raises(RangeFullError):
        alloc.allocate("c")
    alloc.release("a")
    alloc.release("a")  # no-op
    assert alloc.allocate("c") == a
    assert alloc.owners() == ["b", "c"]
    assert b in alloc and a in alloc


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=200))
def test_allocations_stay_unique_under_any_sequence(ops: list[tuple[bool, int]]) -> None:
    alloc = IPAllocator("127.16.0.0/24", seed=5)
    for allocate, owner in ops:
        if allocate:
            alloc.allocate(f"o{owner}")
        else:
            alloc.release(f"o{owner}")
        ips = [alloc.ip_of(o) for o in alloc.owners()]
        assert len(ips) == len(set(ips))
        assert all(alloc.owner_of(ip) == o for o, ip in zip(alloc.owners(), ips, strict=True) if ip)


def test_port_allocator() -> None:
    ports = PortAllocator(30000, 30003, seed=0)
    got = {ports.allocate("svc") for _ in range(3)}
    assert got <= set(range(30000, 30004)) and len(got) == 3
    assert ports.ports_of("svc") == got
    last = ports.allocate("other")
    with pytest.raises(RangeFullError):
        ports.allocate("third")
    with pytest.raises(AllocationError) as taken:
        ports.allocate_specific("third", last)
    assert taken.value.detail == "provided port is already allocated"
    with pytest.raises(AllocationError) as outside:
        ports.allocate_specific("third", 80)
    assert outside.value.detail == (
        "provided port is not in the valid range. The range of valid ports is 30000-30003"
    )
    ports.release("svc")
    assert ports.ports_of("svc") == set()
    assert ports.allocate_specific("third", min(got)) == min(got)
    ports.release_port(last)
    assert ports.owner_of(last) is None and ports.owners() == ["third"]


def test_node_ports_paired_with_ip_allocator() -> None:
    a, b = IPAllocator("127.96.0.0/12"), IPAllocator("127.96.0.0/12")
    assert node_ports_for(a) is node_ports_for(a)
    assert node_ports_for(a) is not node_ports_for(b)


def test_loopback_addresses_of_both_ranges_can_be_bound() -> None:
    """The contract relies on Linux routing all of 127/8 to lo; check both ranges' edges."""
    for cidr in ("127.16.0.0/12", "127.96.0.0/12"):
        net = ipaddress.IPv4Network(cidr)
        for ip in (net.network_address + 1, net.broadcast_address - 1):
            with socket.socket() as server:
                server.bind((str(ip), 0))
                server.listen()
                port = server.getsockname()[1]
                with socket.create_connection((str(ip), port), timeout=2):
                    pass
