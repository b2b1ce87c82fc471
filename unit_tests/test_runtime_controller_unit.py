"""Controllers over shared informers on an in-memory API: mapping, predicates, requeues,
error isolation, concurrency, metrics and graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.kube import CONFIGMAPS, PODS, SECRETS, Conflict
from kuberay_py.runtime import (
    AnnotationChanged,
    ControllerBuilder,
    Funcs,
    GenerationChanged,
    ItemExponentialFailureRateLimiter,
    LabelChanged,
    LabelsMatch,
    Manager,
    Not,
    Request,
    ResourceVersionChanged,
    Result,
)
from kuberay_py.runtime.handlers import EnqueueRequestForOwner
from kuberay_py.runtime.testing import FakeKube, eventually


def cm(name: str, ns: str = "default", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, **meta}, "data": {"k": "v"}}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Request] = []
        self.active: set[Request] = set()
        self.max_parallel = 0
        self.overlap = False

    async def reconcile(self, request: Request) -> Result | None:
        if request in self.active:
            self.overlap = True
        self.active.add(request)
        self.max_parallel = max(self.max_parallel, len(self.active))
        self.calls.append(request)
        await asyncio.sleep(0.005)
        self.active.discard(request)
        return None


@pytest.fixture
async def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
async def manager(kube: FakeKube) -> AsyncIterator[Manager]:
    mgr = Manager(
        kube,  # type: ignore[arg-type]
        registry=CollectorRegistry(),
        health_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
        graceful_shutdown_timeout=2,
    )
    yield mgr
    mgr.stop()


async def start(mgr: Manager) -> asyncio.Task[None]:
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await eventually(lambda: mgr.started.is_set() or task.done())
    return task


async def test_for_owns_watches_map_events_to_requests(kube: FakeKube, manager: Manager) -> None:
    rec = Recorder()
    await kube.create(CONFIGMAPS, cm("parent"))
    ctrl = (
        ControllerBuilder(manager)
        .named("mirror")
        .for_(CONFIGMAPS, label_selector="role=parent")
        .owns(PODS)
        .watches(SECRETS, lambda s: [Request("default", s["metadata"]["labels"]["for"])])
        .complete(rec)
    )
    assert ctrl.max_concurrent_reconciles == 4
    task = await start(manager)
    parent = await kube.create(CONFIGMAPS, cm("p1", labels={"role": "parent"}))
    await eventually(lambda: Request("default", "p1") in rec.calls)
    assert Request("default", "parent") not in rec.calls  # not matching the selector
    rec.calls.clear()
    owner_ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "p1",
        "uid": parent["metadata"]["uid"],
        "controller": True,
    }
    await kube.create(
        PODS, {"metadata": {"name": "child", "ownerReferences": [owner_ref]}}, "default"
    )
    await kube.create(
        PODS,
        {"metadata": {"name": "other", "ownerReferences": [{**owner_ref, "controller": False}]}},
        "default",
    )
    await eventually(lambda: rec.calls == [Request("default", "p1")])
    await kube.create(SECRETS, {"metadata": {"name": "s", "labels": {"for": "p9"}}}, "default")
    await eventually(lambda: Request("default", "p9") in rec.calls)
    await kube.delete(PODS, "child", "default")
    await eventually(lambda: rec.calls.count(Request("default", "p1")) == 2)
    manager.stop()
    await asyncio.wait_for(task, 5)


def test_owner_mapping_needs_matching_group_and_kind() -> None:
    handler = EnqueueRequestForOwner(CONFIGMAPS)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u", "controller": True}
    obj = {"metadata": {"namespace": "ns", "name": "c", "ownerReferences": [ref]}}
    assert list(handler.map(obj)) == [Request("ns", "o")]
    wrong_group = {**ref, "apiVersion": "example.com/v1"}
    obj["metadata"]["ownerReferences"] = [wrong_group]
    assert list(handler.map(obj)) == []
    any_owner = EnqueueRequestForOwner(CONFIGMAPS, only_controller=False)
    obj["metadata"]["ownerReferences"] = [{**ref, "controller": False}]
    assert list(any_owner.map(obj)) == [Request("ns", "o")]


def test_predicates() -> None:
    old = {"metadata": {"generation": 1, "resourceVersion": "1", "labels": {"a": "1"}}}
    status_only = {"metadata": {"generation": 1, "resourceVersion": "2", "labels": {"a": "1"}}}
    spec = {"metadata": {"generation": 2, "resourceVersion": "3", "labels": {"a": "2"}}}
    assert not GenerationChanged().update(old, status_only)
    assert GenerationChanged().update(old, spec)
    assert GenerationChanged().create(old) and GenerationChanged().delete(old)
    assert ResourceVersionChanged().update(old, status_only)
    assert not ResourceVersionChanged().update(old, old)
    assert not LabelChanged().update(old, status_only) and LabelChanged().update(old, spec)
    annotated = {"metadata": {"annotations": {"x": "y"}}}
    assert AnnotationChanged().update(old, annotated) and not AnnotationChanged().update(old, old)
    both = GenerationChanged() | LabelChanged()
    assert both.update(old, spec) and not both.update(old, status_only)
    assert (GenerationChanged() & ResourceVersionChanged()).update(old, spec)
    assert not (GenerationChanged() & ResourceVersionChanged()).update(old, status_only)
    assert Not(GenerationChanged()).update(old, status_only)
    assert not (~GenerationChanged()).update(old, spec)
    match = LabelsMatch({"a": "1"})
    assert match.create(old) and not match.create(spec) and match.update(old, spec)
    only_create = Funcs(update=lambda o, n: False)
    assert only_create.create(old) and not only_create.update(old, spec)


async def test_generation_predicate_skips_status_updates(kube: FakeKube, manager: Manager) -> None:
    rec = Recorder()
    ControllerBuilder(manager).for_(CONFIGMAPS, predicates=[GenerationChanged()]).complete(rec)
    task = await start(manager)
    created = await kube.create(CONFIGMAPS, cm("g"))
    await eventually(lambda: len(rec.calls) == 1)
    await kube.patch(CONFIGMAPS, "g", {"status": {"x": 1}}, "default")  # generation unchanged
    await kube.patch(CONFIGMAPS, "g", {"data": {"k": "new"}}, "default")  # generation bumps
    await eventually(lambda: len(rec.calls) == 2)
    assert created["metadata"]["generation"] == 1
    manager.stop()
    await asyncio.wait_for(task, 5)


async def test_errors_requeue_with_backoff_and_never_stall_others(
    kube: FakeKube, manager: Manager
) -> None:
    calls: dict[str, int] = {}
    done: set[str] = set()

    async def reconcile(req: Request) -> Result | None:
        calls[req.name] = calls.get(req.name, 0) + 1
        if req.name == "bad":
            raise RuntimeError("always fails")
        if req.name == "conflict" and calls[req.name] < 3:
            raise Conflict({"code": 409, "reason": "Conflict", "message": "stale"})
        if req.name == "later" and calls[req.name] == 1:
            return Result(requeue_after=0.05)
        if req.name == "again" and calls[req.name] == 1:
            return Result(requeue=True)
        done.add(req.name)
        return None

    ctrl = (
        ControllerBuilder(manager)
        .for_(CONFIGMAPS)
        .with_options(
            max_concurrent_reconciles=2, rate_limiter=ItemExponentialFailureRateLimiter(0.01, 0.05)
        )
        .complete(reconcile)
    )
    await kube.create(CONFIGMAPS, cm("bad"))
    task = await start(manager)
    for name in ("ok1", "conflict", "later", "again", "ok2"):
        await kube.create(CONFIGMAPS, cm(name))
    await eventually(lambda: done == {"ok1", "ok2", "conflict", "later", "again"})
    await eventually(lambda: calls["bad"] >= 4)
    assert ctrl.queue.num_requeues(Request("default", "bad")) >= 3
    assert ctrl.queue.num_requeues(Request("default", "ok1")) == 0
    reg = manager.registry
    assert reg is not None

    def sample(name: str, **labels: str) -> float:
        return reg.get_sample_value(name, {"controller": "configmap", **labels}) or 0.0

    assert sample("controller_runtime_reconcile_total", result="success") >= 5
    assert sample("controller_runtime_reconcile_total", result="requeue_after") == 1
    assert sample("controller_runtime_reconcile_total", result="requeue") == 1
    assert sample("controller_runtime_reconcile_total", result="error") >= 6
    assert sample("controller_runtime_reconcile_errors_total") >= 6
    assert sample("controller_runtime_reconcile_time_seconds_count") >= 12
    assert sample("controller_runtime_max_concurrent_reconciles") == 2
    manager.stop()
    await asyncio.wait_for(task, 5)


async def test_concurrency_is_capped_and_keys_never_overlap(
    kube: FakeKube, manager: Manager
) -> None:
    rec = Recorder()
    ControllerBuilder(manager).for_(CONFIGMAPS).with_options(max_concurrent_reconciles=3).complete(
        rec
    )
    task = await start(manager)
    for i in range(20):
        await kube.create(CONFIGMAPS, cm(f"c{i}"))
    for i in range(20):
        await kube.patch(CONFIGMAPS, f"c{i}", {"data": {"k": "2"}}, "default")
    await eventually(lambda: {r.name for r in rec.calls} == {f"c{i}" for i in range(20)})
    assert rec.max_parallel == 3
    assert not rec.overlap
    manager.stop()
    await asyncio.wait_for(task, 5)


async def test_graceful_stop_waits_for_in_flight_then_cancels_after_timeout(
    kube: FakeKube,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(req: Request) -> None:
        started.set()
        await release.wait()
        finished.append(req.name)

    mgr = Manager(
        kube,  # type: ignore[arg-type]
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
        graceful_shutdown_timeout=5,
    )
    ctrl = ControllerBuilder(mgr).for_(CONFIGMAPS).complete(slow)
    await kube.create(CONFIGMAPS, cm("slow"))
    task = await start(mgr)
    await asyncio.wait_for(started.wait(), 5)
    mgr.stop()
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting for the in-flight reconcile
    release.set()
    await asyncio.wait_for(task, 5)
    assert finished == ["slow"]
    assert ctrl.queue.shutting_down

    hung = asyncio.Event()

    async def never(req: Request) -> None:
        hung.set()
        await asyncio.Event().wait()

    mgr2 = Manager(
        kube,  # type: ignore[arg-type]
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
        graceful_shutdown_timeout=0.1,
    )
    ControllerBuilder(mgr2).for_(CONFIGMAPS).complete(never)
    task2 = await start(mgr2)
    await asyncio.wait_for(hung.wait(), 5)
    mgr2.stop()
    await asyncio.wait_for(task2, 5)  # cancelled after 0.1 s instead of hanging


async def test_builder_validation(manager: Manager) -> None:
    with pytest.raises(ValueError, match="for_"):
        ControllerBuilder(manager).owns(PODS).complete(Recorder())
    with pytest.raises(ValueError, match="named"):
        ControllerBuilder(manager).watches(PODS, lambda o: []).complete(Recorder())
    ControllerBuilder(manager).for_(PODS).complete(Recorder())
    with pytest.raises(ValueError, match="already exists"):
        ControllerBuilder(manager).for_(PODS).complete(Recorder())
    with pytest.raises(TypeError):
        ControllerBuilder(manager).named("x").for_(SECRETS).complete(42)  # type: ignore[arg-type]


async def test_reconcile_timeout_frees_the_worker(kube: FakeKube, manager: Manager) -> None:
    done: list[str] = []

    async def reconcile(req: Request) -> None:
        if req.name == "hang":
            await asyncio.Event().wait()
        done.append(req.name)

    ctrl = (
        ControllerBuilder(manager)
        .for_(CONFIGMAPS)
        .with_options(
            max_concurrent_reconciles=1,
            reconcile_timeout=0.05,
            rate_limiter=ItemExponentialFailureRateLimiter(0.01, 0.05),
        )
        .complete(reconcile)
    )
    await kube.create(CONFIGMAPS, cm("hang"))
    task = await start(manager)
    await kube.create(CONFIGMAPS, cm("fine"))
    await eventually(lambda: "fine" in done)  # one worker, yet not stuck behind "hang"
    await eventually(lambda: ctrl.queue.num_requeues(Request("default", "hang")) >= 2)
    manager.stop()
    await asyncio.wait_for(task, 5)


async def test_a_stray_cancelled_error_in_a_reconcile_does_not_kill_the_worker(
    kube: FakeKube, manager: Manager
) -> None:
    calls: list[str] = []

    async def reconcile(req: Request) -> None:
        calls.append(req.name)
        if calls.count(req.name) == 1:
            raise asyncio.CancelledError  # e.g. a library cancelling its own inner task

    ControllerBuilder(manager).for_(CONFIGMAPS).with_options(
        max_concurrent_reconciles=1, rate_limiter=ItemExponentialFailureRateLimiter(0.01, 0.05)
    ).complete(reconcile)
    task = await start(manager)
    await kube.create(CONFIGMAPS, cm("a"))
    await kube.create(CONFIGMAPS, cm("b"))
    await eventually(lambda: calls.count("a") == 2 and calls.count("b") == 2)
    manager.stop()
    await asyncio.wait_for(task, 5)
