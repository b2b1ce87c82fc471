"""Audit of issue 4 items that had no direct test: the default rate limiter's numbers,
reconcile errors logged with the object key bound, the manager's start order (no
controller before every cache synced), /healthz failing on a stalled (not dead)
informer, and connection errors retried by the client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from kuberay_py.kube import CONFIGMAPS, PODS, KubeClient, RetryPolicy
from kuberay_py.runtime import (
    ControllerBuilder,
    FakeClock,
    ItemExponentialFailureRateLimiter,
    Manager,
    Request,
    WorkQueue,
    default_controller_rate_limiter,
)
from kuberay_py.runtime.testing import FakeKube, eventually


def manager(kube: FakeKube, **kw: Any) -> Manager:
    kw.setdefault("health_address", "127.0.0.1:0")
    kw.setdefault("metrics_address", None)
    return Manager(
        kube,  # type: ignore[arg-type]
        registry=CollectorRegistry(),
        graceful_shutdown_timeout=2,
        **kw,
    )


async def healthz(mgr: Manager) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{mgr.health_port}/healthz") as resp,
    ):
        return resp.status


def test_default_controller_rate_limiter_is_client_go_numbers() -> None:
    clock = FakeClock()
    lim = default_controller_rate_limiter(clock=clock)
    # Per item: 5 ms doubling, capped at 1000 s (the 19th failure reaches the cap).
    delays = [lim.when("k") for _ in range(19)]
    assert delays[0] == pytest.approx(0.005) and delays[1] == pytest.approx(0.010)
    assert delays[-1] == 1000.0 and delays[-2] < 1000.0
    # Overall: a burst of 100 (k used 19 tokens), then 10 qps -> 0.1 s apart.
    other = [lim.when(f"o{i}") for i in range(81)]
    assert max(other) == pytest.approx(0.005)
    assert lim.when("next") == pytest.approx(0.1)
    assert lim.when("after") == pytest.approx(0.2)
    # A WorkQueue with no limiter given gets exactly this default.
    q: WorkQueue[str] = WorkQueue("dflt", clock=clock, registry=CollectorRegistry())
    assert [q.rate_limiter.when("x") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    assert q.rate_limiter.when(0) == pytest.approx(0.005)


async def test_reconcile_error_is_logged_with_the_object_key_bound() -> None:
    kube = FakeKube()
    await kube.create(CONFIGMAPS, {"metadata": {"name": "broken", "namespace": "team"}})
    mgr = manager(kube, health_address=None)

    async def reconcile(request: Request) -> None:
        raise RuntimeError("boom")

    ctrl = (
        ControllerBuilder(mgr)
        .named("audit-log")
        .for_(CONFIGMAPS)
        .with_options(rate_limiter=ItemExponentialFailureRateLimiter(0.01, 0.02))
        .complete(reconcile)
    )
    with capture_logs() as logs:
        task = asyncio.create_task(mgr.run(handle_signals=False))
        await eventually(lambda: ctrl.queue.num_requeues(Request("team", "broken")) >= 2)
        mgr.stop()
        await asyncio.wait_for(task, 5)
    errors = [e for e in logs if e.get("event") == "reconciler error"]
    assert errors, logs
    first = errors[0]
    assert first["controller"] == "audit-log"
    assert (first["namespace"], first["name"]) == ("team", "broken")
    assert first["log_level"] == "error" and isinstance(first["exc_info"], RuntimeError)


async def test_controllers_start_only_after_every_cache_synced() -> None:
    kube = FakeKube()
    await kube.create(CONFIGMAPS, {"metadata": {"name": "a", "namespace": "d"}})
    await kube.create(PODS, {"metadata": {"name": "p", "namespace": "d"}})
    mgr = manager(kube)
    seen: list[Request] = []

    async def reconcile(request: Request) -> None:
        seen.append(request)

    ctrl = ControllerBuilder(mgr).for_(CONFIGMAPS).owns(PODS).complete(reconcile)
    gate = asyncio.Event()
    original = kube.list_pages

    async def gated(res: Any, *a: Any, **kw: Any) -> Any:
        if res == PODS:  # only the owned resource's LIST hangs
            await gate.wait()
        async for page in original(res, *a, **kw):
            yield page

    kube.list_pages = gated  # type: ignore[method-assign]
    task = asyncio.create_task(mgr.run(handle_signals=False))
    primary = mgr.informers_for(CONFIGMAPS)[0]
    await eventually(primary.has_synced)
    await eventually(lambda: mgr.health_port is not None)
    assert not ctrl.started and seen == [] and not mgr.synced.is_set()
    gate.set()
    await eventually(lambda: ctrl.started and seen == [Request("d", "a")])
    assert mgr.synced.is_set()
    mgr.stop()
    await asyncio.wait_for(task, 5)


async def test_healthz_fails_while_an_informer_is_stalled_and_recovers() -> None:
    kube = FakeKube()  # its watches never send bookmarks: silence is a stall
    mgr = manager(kube, bookmark_interval=0.1, watchdog_margin=0.1, max_informer_stall=0.4)
    ControllerBuilder(mgr).for_(CONFIGMAPS).complete(lambda request: asyncio.sleep(0))
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await eventually(lambda: mgr.synced.is_set())
    informer = mgr.factory.informers()[0]
    assert await healthz(mgr) == 200
    await eventually(lambda: informer.stalled_for() > 0.4)
    assert informer.alive() and informer.watchdog_restarts >= 1
    assert await healthz(mgr) == 500
    await kube.create(CONFIGMAPS, {"metadata": {"name": "wake", "namespace": "d"}})
    await eventually(lambda: informer.store.get("d/wake") is not None)
    assert await healthz(mgr) == 200
    mgr.stop()
    await asyncio.wait_for(task, 5)


async def test_connection_errors_are_retried_for_reads(tmp_path: Path) -> None:
    """The first connection is dropped before any answer; the GET is retried and wins."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        if connections == 1:
            writer.transport.abort()
            return
        body = json.dumps({"kind": "Pod", "metadata": {"name": "p"}}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(cfg))
    client = await KubeClient.from_config(
        str(path), retry=RetryPolicy(attempts=3, base=0.001, cap=0.01)
    )
    try:
        assert await client.get(PODS, "p", "ns") == {"kind": "Pod", "metadata": {"name": "p"}}
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert connections == 2


async def test_two_controllers_on_one_resource_share_one_list_and_one_watch() -> None:
    kube = FakeKube()
    await kube.create(CONFIGMAPS, {"metadata": {"name": "a", "namespace": "d"}})
    mgr = manager(kube, health_address=None)
    first: list[Request] = []
    second: list[Request] = []

    async def one(request: Request) -> None:
        first.append(request)

    async def two(request: Request) -> None:
        second.append(request)

    ControllerBuilder(mgr).named("one").for_(CONFIGMAPS).complete(one)
    ControllerBuilder(mgr).named("two").for_(CONFIGMAPS).complete(two)
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await eventually(lambda: first == second == [Request("d", "a")])
    await kube.create(CONFIGMAPS, {"metadata": {"name": "b", "namespace": "d"}})
    await eventually(lambda: Request("d", "b") in first and Request("d", "b") in second)
    assert len(mgr.factory.informers()) == 1
    assert (kube.requests["list"], kube.requests["watch"]) == (1, 1)
    mgr.stop()
    await asyncio.wait_for(task, 5)


async def test_example_main_exits_non_zero_when_the_lease_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from examples import configmap_mirror
    from kuberay_py.runtime import LeaderElectionLost

    async def lose(self: Manager, **_: Any) -> None:
        raise LeaderElectionLost("lost the lease default/configmap-mirror")

    monkeypatch.setattr(configmap_mirror.Manager, "run", lose)
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(cfg))
    argv = ["--kubeconfig", str(path), "--leader-elect", "--metrics-bind-address", ""]
    assert await configmap_mirror.main([*argv, "--health-probe-bind-address", ""]) == 1
