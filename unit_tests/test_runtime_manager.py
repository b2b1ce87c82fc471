"""Manager lifecycle on an in-memory API: probes, metrics, cache reads, leader election
(handover on release and on expiry, loss), events and expectations."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.kube import CONFIGMAPS, EVENTS_V1, LEASES, PODS, ServerError
from kuberay_py.runtime import (
    ControllerBuilder,
    Expectations,
    FakeClock,
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
    Manager,
    NotWatched,
    Request,
)
from kuberay_py.runtime.events import EventRecorder
from kuberay_py.runtime.testing import FakeKube, eventually

FAST = {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.2}


def make_manager(kube: FakeKube, **kw: Any) -> Manager:
    kw.setdefault("registry", CollectorRegistry())
    kw.setdefault("health_address", "127.0.0.1:0")
    kw.setdefault("metrics_address", "127.0.0.1:0")
    kw.setdefault("graceful_shutdown_timeout", 2)
    return Manager(kube, **kw)  # type: ignore[arg-type]


class Counting:
    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def reconcile(self, request: Request) -> None:
        self.seen.append(request)


async def fetch(port: int | None, path: str) -> tuple[int, str]:
    assert port
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, await resp.text()


async def test_probes_metrics_and_cache_reads() -> None:
    kube = FakeKube()
    await kube.create(CONFIGMAPS, {"metadata": {"name": "a", "namespace": "team"}})
    await kube.create(CONFIGMAPS, {"metadata": {"name": "b", "namespace": "other"}})
    mgr = make_manager(kube, namespaces=["team"], metrics_address="127.0.0.1:0")
    rec = Counting()
    ControllerBuilder(mgr).for_(CONFIGMAPS).complete(rec)
    list_gate = asyncio.Event()
    original = kube.list_pages

    async def gated(*a: Any, **kw: Any) -> Any:
        await list_gate.wait()
        async for page in original(*a, **kw):
            yield page

    kube.list_pages = gated  # type: ignore[method-assign]
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await eventually(lambda: mgr.health_port is not None)
    assert await fetch(mgr.health_port, "/healthz") == (200, "ok")
    status, body = await fetch(mgr.health_port, "/readyz")
    assert status == 500 and "cachesNotSynced" in body
    list_gate.set()
    await eventually(lambda: mgr.synced.is_set())
    assert (await fetch(mgr.health_port, "/readyz"))[0] == 200
    await eventually(lambda: rec.seen == [Request("team", "a")])  # other namespace unseen
    assert mgr.cache.get(CONFIGMAPS, "a", "team") is not None
    with pytest.raises(NotWatched):
        mgr.cache.get(CONFIGMAPS, "b", "other")  # the manager watches only "team"
    assert [o["metadata"]["name"] for o in mgr.cache.list(CONFIGMAPS)] == ["a"]
    with pytest.raises(NotWatched):
        mgr.cache.get(PODS, "x", "team")
    status, text = await fetch(mgr.metrics_port, "/metrics")
    assert status == 200
    for name in (
        'workqueue_adds_total{name="configmap"}',
        'workqueue_depth{name="configmap"}',
        "workqueue_queue_duration_seconds_bucket",
        "workqueue_work_duration_seconds_bucket",
        'workqueue_unfinished_work_seconds{name="configmap"}',
        'workqueue_longest_running_processor_seconds{name="configmap"}',
        'controller_runtime_reconcile_total{controller="configmap",result="success"} 1.0',
        'controller_runtime_active_workers{controller="configmap"}',
        'controller_runtime_max_concurrent_reconciles{controller="configmap"} 4.0',
        "controller_runtime_reconcile_time_seconds_bucket",
        "informer_last_event_age_seconds",
    ):
        assert name in text, name
    # A dead informer fails liveness.
    informer = mgr.factory.informers()[0]
    assert informer._task is not None
    informer._task.cancel()
    await eventually(lambda: not informer.alive())
    status, body = await fetch(mgr.health_port, "/healthz")
    assert status == 500 and "informers" in body
    mgr.stop()
    await asyncio.wait_for(task, 5)


async def test_cache_sync_timeout_raises() -> None:
    from kuberay_py.runtime import CacheSyncTimeout

    kube = FakeKube()
    kube.fail("list", ServerError({"code": 500, "message": "down"}), times=1000)
    mgr = make_manager(kube, cache_sync_timeout=0.3, health_address=None, metrics_address=None)
    ControllerBuilder(mgr).for_(CONFIGMAPS).complete(Counting())
    with pytest.raises(CacheSyncTimeout):
        await asyncio.wait_for(mgr.run(handle_signals=False), 5)


def elected(kube: FakeKube, identity: str, **kw: Any) -> Manager:
    cfg = LeaderElectionConfig("op-lock", "kube-system", identity=identity, **{**FAST, **kw})
    mgr = make_manager(kube, leader_election=cfg, health_address=None, metrics_address=None)
    return mgr


async def test_standby_reconciles_nothing_and_takes_over_after_release() -> None:
    kube = FakeKube()
    await kube.create(CONFIGMAPS, {"metadata": {"name": "x", "namespace": "d"}})
    # A lease far longer than the retry period: an early takeover proves the release.
    slow_expiry = {"lease_duration": 8, "renew_deadline": 1.0, "retry_period": 0.2}
    first, second = elected(kube, "one", **slow_expiry), elected(kube, "two", **slow_expiry)
    rec1, rec2 = Counting(), Counting()
    ControllerBuilder(first).for_(CONFIGMAPS).complete(rec1)
    ControllerBuilder(second).for_(CONFIGMAPS).complete(rec2)
    t1 = asyncio.create_task(first.run(handle_signals=False))
    await eventually(lambda: first.is_leader and bool(rec1.seen))
    t2 = asyncio.create_task(second.run(handle_signals=False))
    await eventually(lambda: second.elector is not None and second.elector.observed_holder == "one")
    await asyncio.sleep(0.5)  # several retry periods: the standby must stay idle
    assert not second.is_leader and rec2.seen == []
    assert not second.factory.informers()[0].started  # no warm-up unless asked
    lease = kube.stored(LEASES, "op-lock", "kube-system")
    assert lease is not None and lease["spec"]["holderIdentity"] == "one"
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    first.stop()
    await asyncio.wait_for(t1, 5)
    released = kube.stored(LEASES, "op-lock", "kube-system")
    assert released is not None
    assert "holderIdentity" not in released["spec"]
    assert released["spec"]["leaseDurationSeconds"] == 1
    await eventually(lambda: second.is_leader and bool(rec2.seen))
    # Takes over within about the retry period (0.2 s * (1 + 1.2 jitter)), not the lease.
    assert loop.time() - stopped_at < 4  # about a retry period, not the 8 s lease
    taken = kube.stored(LEASES, "op-lock", "kube-system")
    assert taken is not None and taken["spec"]["holderIdentity"] == "two"
    second.stop()
    await asyncio.wait_for(t2, 5)


async def test_takeover_after_expiry_and_lost_lease_exits_nonzero() -> None:
    kube = FakeKube()
    first, second = elected(kube, "one"), elected(kube, "two")
    ControllerBuilder(first).for_(CONFIGMAPS).complete(Counting())
    ControllerBuilder(second).for_(CONFIGMAPS).complete(Counting())
    t1 = asyncio.create_task(first.run(handle_signals=False))
    await eventually(lambda: first.is_leader)
    t2 = asyncio.create_task(second.run(handle_signals=False))
    await eventually(lambda: second.elector is not None and second.elector.observed_holder == "one")
    # The leader's API calls start failing: it cannot renew, loses, and run() raises.
    kube.fail("update", ServerError({"code": 500, "message": "etcd down"}), times=10**6)
    with pytest.raises(LeaderElectionLost):
        await asyncio.wait_for(t1, 5)
    assert first.controllers[0].queue.shutting_down
    kube._faults.clear()
    await eventually(lambda: second.is_leader, timeout=5)
    lease = kube.stored(LEASES, "op-lock", "kube-system")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "two"
    assert lease["spec"]["leaseTransitions"] == 1
    second.stop()
    await asyncio.wait_for(t2, 5)


def test_leader_election_config_is_validated() -> None:
    with pytest.raises(ValueError):
        LeaderElectionConfig("x", lease_duration=10, renew_deadline=10).validate()
    with pytest.raises(ValueError):
        LeaderElectionConfig("x", renew_deadline=2, retry_period=2).validate()
    cfg = LeaderElectionConfig("x")
    assert (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period) == (15, 10, 2)
    assert cfg.jitter_factor == 1.2 and cfg.request_timeout == 5
    assert "_" in cfg.identity


async def test_elector_respects_a_valid_foreign_lease_by_observed_time() -> None:
    kube = FakeKube()
    clock = FakeClock()
    await kube.create(
        LEASES,
        {
            "metadata": {"name": "l", "namespace": "ns"},
            "spec": {"holderIdentity": "other", "leaseDurationSeconds": 15},
        },
    )
    el = LeaderElector(
        kube,  # type: ignore[arg-type]
        LeaderElectionConfig("l", "ns", identity="me"),
        clock=clock,
        registry=CollectorRegistry(),
    )
    assert not await el._try_acquire_or_renew()
    clock.advance(14)
    assert not await el._try_acquire_or_renew()  # record unchanged, 14 s < 15 s
    clock.advance(2)
    assert await el._try_acquire_or_renew()  # expired on our own clock: take it
    stored = kube.stored(LEASES, "l", "ns")
    assert stored is not None and stored["spec"]["holderIdentity"] == "me"


async def test_event_recorder_aggregates_repeats_into_a_series() -> None:
    kube = FakeKube()
    pod = await kube.create(PODS, {"metadata": {"name": "p", "namespace": "ns"}})
    rec = EventRecorder(kube, "kuberay-py/test", "instance-1")  # type: ignore[arg-type]
    first = await rec.publish(pod, reason="Failed", note="boom", action="Create", type="Warning")
    assert first is not None
    assert first["regarding"]["name"] == "p" and first["regarding"]["uid"]
    assert first["reportingController"] == "kuberay-py/test"
    assert first["reportingInstance"] == "instance-1"
    assert first["eventTime"].endswith("Z") and "." in first["eventTime"]
    assert "series" not in first
    for _ in range(3):
        await rec.publish(pod, reason="Failed", note="boom", action="Create", type="Warning")
    events = [o for (r, _, _), o in kube.objects.items() if r == EVENTS_V1]
    assert len(events) == 1
    assert events[0]["series"]["count"] == 4 and events[0]["series"]["lastObservedTime"]
    await rec.publish(pod, reason="Failed", note="other", action="Create", type="Warning")
    assert len([1 for (r, _, _) in kube.objects if r == EVENTS_V1]) == 2
    kube.fail("create", ServerError({"code": 500, "message": "x"}))
    assert await rec.publish(pod, reason="New", note="n", action="A") is None
    assert rec.failed == 1
    long = await rec.publish(pod, reason="Long", note="x" * 5000, action="A")
    assert long is not None and len(long["note"]) == 1024


async def test_expectations_wait_for_observed_creates_and_deletes() -> None:
    clock = FakeClock()
    exp = Expectations(timeout=300, clock=clock.now)
    assert exp.satisfied("ns/owner")
    exp.expect_creations("ns/owner", 2)
    assert not exp.satisfied("ns/owner")
    exp.creation_observed("ns/owner")
    assert not exp.satisfied("ns/owner")
    exp.creation_observed("ns/owner")
    assert exp.satisfied("ns/owner")
    exp.expect_names("ns/owner", created=["ns/a"], deleted_uids=["u1"])
    exp.creation_observed("ns/owner", {"metadata": {"namespace": "ns", "name": "a"}})
    assert not exp.satisfied("ns/owner") and exp.pending("ns/owner")["uids"] == ["u1"]
    exp.deletion_observed("ns/owner", {"metadata": {"uid": "u1"}})
    assert exp.satisfied("ns/owner")
    exp.expect_deletions("ns/x", 1)
    assert not exp.satisfied("ns/x")
    clock.advance(301)
    assert exp.satisfied("ns/x")  # timed out: never wedge
    exp.expect_creations("ns/y", 1)
    exp.lower("ns/y", adds=1)  # the create failed
    assert exp.satisfied("ns/y")


async def test_expectations_observe_informer_events() -> None:
    kube = FakeKube()
    mgr = make_manager(kube, health_address=None, metrics_address=None)
    exp = Expectations()
    (informer,) = mgr.informers_for(PODS)
    exp.attach(informer)
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await eventually(lambda: mgr.synced.is_set())
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "own", "uid": "u", "controller": True}
    exp.expect_creations("ns/own", 2)
    for name in ("c1", "c2"):
        await kube.create(PODS, {"metadata": {"name": name, "ownerReferences": [ref]}}, "ns")
    await eventually(lambda: exp.satisfied("ns/own"))
    exp.expect_deletions("ns/own", 1)
    await kube.delete(PODS, "c1", "ns")
    await eventually(lambda: exp.satisfied("ns/own"))
    mgr.stop()
    await asyncio.wait_for(task, 5)


async def test_warm_standby_syncs_caches_but_reconciles_nothing() -> None:
    kube = FakeKube()
    await kube.create(CONFIGMAPS, {"metadata": {"name": "w", "namespace": "d"}})
    first = elected(kube, "one")
    ControllerBuilder(first).for_(CONFIGMAPS).complete(Counting())
    cfg = LeaderElectionConfig("op-lock", "kube-system", identity="two", **FAST)
    warm = make_manager(
        kube, leader_election=cfg, warm_standby=True, health_address=None, metrics_address=None
    )
    rec = Counting()
    ControllerBuilder(warm).for_(CONFIGMAPS).complete(rec)
    t1 = asyncio.create_task(first.run(handle_signals=False))
    await eventually(lambda: first.is_leader)
    t2 = asyncio.create_task(warm.run(handle_signals=False))
    informer = warm.factory.informers()[0]
    await eventually(informer.has_synced)
    assert len(informer.store) == 1
    assert not warm.controllers[0].started and rec.seen == []
    first.stop()
    await asyncio.wait_for(t1, 5)
    await eventually(lambda: rec.seen == [Request("d", "w")])
    warm.stop()
    await asyncio.wait_for(t2, 5)
