"""Review of the RayCluster controller: races and edge cases found by reading it
against KubeRay (each test failed before its fix)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from kuberay_py.api.config import OperatorConfig
from kuberay_py.controllers.setup import setup_controllers
from kuberay_py.kube import JOBS, PODS, RAYCLUSTERS, SERVICES, Resource
from kuberay_py.runtime import Manager
from kuberay_py.runtime.testing import eventually
from unit_tests.raycluster_harness import NS, Harness, RecordingKube, condition, raycluster

Obj = dict[str, Any]


def _cached_condition(h: Harness, ctype: str) -> str | None:
    obj = h.mgr.cache.get(RAYCLUSTERS, "rc", NS) or {}
    found = condition(obj, ctype)
    return None if found is None else str(found["status"])


# ---------------------------------------------------------------- suspend vs. a lagging cache


async def test_suspend_does_not_declare_suspended_while_created_pods_are_unseen() -> None:
    """Pods created but not yet in the cache are not deleted by a by-name deletion
    (KubeRay's DeleteAllOf deletes them server-side): the cluster must not be declared
    Suspended, which stops all Pod work, until the cache shows what we created."""
    async with Harness() as h:
        h.kube.hold_pods = True
        await h.apply(raycluster(replicas=2))
        await eventually(lambda: len(h.pods()) == 3)
        await h.patch_cluster({"spec": {"suspend": True}})
        await eventually(lambda: _cached_condition(h, "RayClusterSuspending") == "True")
        await h.settle()  # the Suspending pass: it sees no Pod in the cache
        h.kube.release_pods()
        await eventually(
            lambda: h.pods() == [] and _cached_condition(h, "RayClusterSuspended") == "True",
            timeout=10,
        )
        assert (h.cluster().get("status") or {}).get("state") == "suspended"


# ------------------------------------------------------------ GCS FT deletion vs. a lagging cache

FT = {"gcsFaultToleranceOptions": {"redisAddress": "redis:6379"}}


async def test_redis_cleanup_waits_for_a_head_pod_the_cache_does_not_show_yet() -> None:
    """The cleanup Job wipes Redis only once the GCS has stopped writing: a head Pod we
    created that the cache does not show yet still runs a GCS."""
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, **FT))
        await eventually(lambda: h.cluster()["metadata"].get("finalizers"))
        h.kube.hold_pods = True
        await eventually(lambda: len(h.pods("head")) == 1, timeout=10)
        [head] = h.pods("head")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await h.patch_cluster({"metadata": {"deletionTimestamp": now}})
        for _ in range(3):
            await h.settle()
        h.kube.release_pods()
        h.kick()
        await eventually(lambda: h.kube.list_of(JOBS), timeout=20)
        job_created = h.kube.writes.index(("create", "jobs", "rc-redis-cleanup"))
        head_deleted = h.kube.writes.index(("delete", "pods", head["metadata"]["name"]))
        assert head_deleted < job_created


# ---------------------------------------------------------------- KubeRay's webhook rule


async def test_duplicate_worker_group_names_are_an_invalid_spec_and_nothing_is_created() -> None:
    """KubeRay's webhook rejects them; without a webhook the controller must, or the two
    groups would count (and delete) each other's Pods."""
    async with Harness() as h:
        body = raycluster(replicas=1)
        groups = body["spec"]["workerGroupSpecs"]
        groups.append({**groups[0], "replicas": 2})
        await h.apply(body)
        await eventually(lambda: h.events("InvalidRayClusterSpec"))
        await h.idle()
        await h.settle()
        assert h.notes("InvalidRayClusterSpec") == [
            f"The RayCluster spec is invalid {NS}/rc: worker group names must be unique"
        ]
        [event] = h.events("InvalidRayClusterSpec")
        assert event["type"] == "Warning" and event["action"] == "Validate"
        assert h.kube.writes == [("create", "rayclusters", "rc")]


# ------------------------------------------------------------ metrics, as the operator wires them


async def test_the_operator_wiring_exports_kuberay_cluster_metrics() -> None:
    """`setup_controllers` (what `operator` runs) must hand the metrics to the
    RayCluster controller: the provisioned duration is only observed on its status
    writes, so a scrape shows it only when the wiring is right."""
    kube = RecordingKube()
    mgr = Manager(
        kube,  # type: ignore[arg-type]
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address="127.0.0.1:0",
        graceful_shutdown_timeout=2,
    )
    setup_controllers(mgr, kube, OperatorConfig())  # type: ignore[arg-type]
    task = asyncio.create_task(mgr.run(handle_signals=False))
    try:
        await eventually(lambda: mgr.started.is_set())
        await kube.create(RAYCLUSTERS, raycluster(replicas=1), NS)
        await eventually(lambda: len(_pods(kube)) == 2, timeout=10)
        for i, pod in enumerate(_pods(kube)):
            status = {
                "phase": "Running",
                "podIP": f"10.0.0.{i + 1}",
                "conditions": [{"type": "Ready", "status": "True"}],
            }
            await kube.patch(PODS, pod["metadata"]["name"], {"status": status}, NS)

        async def scraped() -> str | None:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{mgr.metrics_port}/metrics") as resp,
            ):
                body = await resp.text()
            return body if "kuberay_cluster_provisioned_duration_seconds{" in body else None

        body = await eventually(scraped, timeout=15)
        stored = kube.stored(RAYCLUSTERS, "rc", NS)
        assert stored is not None
        labels = f'name="rc",namespace="{NS}",uid="{stored["metadata"]["uid"]}"'
        assert f"kuberay_cluster_provisioned_duration_seconds{{{labels}}}" in body
        assert (
            f'kuberay_cluster_info{{name="rc",namespace="{NS}",owner_kind="None",'
            f'uid="{stored["metadata"]["uid"]}"}} 1.0'
        ) in body
        assert f'kuberay_cluster_condition_provisioned{{condition="true",{labels}}} 1.0' in body
    finally:
        mgr.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


def _pods(kube: RecordingKube) -> list[Obj]:
    return kube.list_of(PODS)


# ---------------------------------------------------------------- a lagging Service watch


async def test_a_lagging_service_watch_raises_no_failed_to_create_service_warning() -> None:
    """The head Service we created a moment ago is not in the cache yet: the next pass's
    create meets AlreadyExists. That is our own Service, not a failure to tell users."""
    h = Harness()
    held: list[tuple[Resource, str, Obj, Obj | None]] = []
    hold = True
    deliver = h.kube._notify

    def notify(resource: Resource, etype: str, obj: Obj, old: Obj | None = None) -> None:
        if resource == SERVICES and hold:
            held.append((resource, etype, obj, old))
            return
        deliver(resource, etype, obj, old)

    h.kube._notify = notify  # type: ignore[method-assign]
    async with h:
        await h.apply(raycluster(replicas=1))
        await eventually(lambda: len(h.pods()) == 2)
        for _ in range(3):
            await h.settle()
        hold = False
        for args in held:
            deliver(*args)
        await eventually(lambda: (h.cluster().get("status") or {}).get("head"), timeout=10)
        assert h.events("FailedToCreateService") == []
        assert h.notes("CreatedService") == [f"Created service {NS}/rc-head-svc"]


async def test_a_foreign_service_of_the_head_service_name_is_still_reported() -> None:
    async with Harness() as h:
        foreign = {"metadata": {"name": "rc-head-svc"}, "spec": {"ports": [{"port": 80}]}}
        await h.kube.create(SERVICES, foreign, NS)
        await h.apply(raycluster(replicas=1))
        await eventually(lambda: h.events("FailedToCreateService"))
        [note] = h.notes("FailedToCreateService")
        assert note.startswith(f"Failed creating service {NS}/rc-head-svc, ")
        assert h.pods() == []
