"""Deleting a RayCluster never hangs: a head Pod stuck terminating, a spec that no
longer validates or reads, and a Recreate upgrade waiting on terminating Pods (each
test failed before its fix)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from kuberay_py.kube import JOBS, PODS, Resource
from kuberay_py.runtime.testing import eventually
from unit_tests.raycluster_harness import NS, Harness, raycluster

Obj = dict[str, Any]

FT: Obj = {"gcsFaultToleranceOptions": {"redisAddress": "redis:6379"}}
FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _converged_ft_cluster(h: Harness, **annotations: str) -> None:
    body = raycluster(replicas=1, **FT)
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    await h.apply(body)
    await eventually(lambda: h.cluster()["metadata"].get("finalizers") == [FINALIZER])
    await eventually(lambda: len(h.pods("head")) == 1 and len(h.pods("worker")) == 1, timeout=10)
    await h.idle()


async def _stick_terminating(h: Harness, pod_name: str) -> None:
    """A Pod the node never confirms gone: marked for deletion, and kept."""
    await h.kube.patch(
        PODS, pod_name, {"metadata": {"deletionTimestamp": _stamp(dt.datetime.now(dt.UTC))}}, NS
    )


Delete = Callable[..., Awaitable[Obj]]


def _graceful_pod_deletes(h: Harness) -> Delete:
    """Make Pod DELETEs graceful, as the API server's are: the Pod stays, terminating,
    until the returned delete (the kubelet's confirmation) removes it."""
    immediate = h.kube.delete

    async def delete(res: Resource, name: str, namespace: str | None = None, **kw: Any) -> Obj:
        if res != PODS:
            return await immediate(res, name, namespace, **kw)
        h.kube.writes.append(("delete", res.plural, name))
        marked = {"metadata": {"deletionTimestamp": _stamp(dt.datetime.now(dt.UTC))}}
        return await h.kube.patch(res, name, marked, namespace)

    h.kube.delete = delete  # type: ignore[method-assign]
    return immediate


# ---------------------------------------------------------------- a head stuck terminating


async def test_a_head_stuck_terminating_is_force_removed_once_the_timeout_has_passed() -> None:
    """The timeout exists so deletion never hangs: it is checked before the wait for
    the head Pod, which a finalizer or a lost node can keep forever."""
    async with Harness() as h:
        await _converged_ft_cluster(h, **{"ray.io/gcs-ft-deletion-timeout": "60"})
        [head] = h.pods("head")
        await _stick_terminating(h, head["metadata"]["name"])
        long_ago = _stamp(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120))
        await h.patch_cluster({"metadata": {"deletionTimestamp": long_ago}})
        h.kick()
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"), timeout=5)
        [event] = h.events("ForceDeletedStuckCluster")
        assert event["type"] == "Warning" and event["action"] == "Cleanup"
        assert event["note"].startswith("Force-removed GCS FT finalizer after 2m")
        assert event["note"].endswith(
            # KubeRay's note names only the annotation, which gcsFaultToleranceOptions forbids.
            'due to Redis cleanup timeout; Redis storage namespace "" may need manual cleanup'
        )
        assert h.kube.list_of(JOBS) == []  # the GCS may still be writing: no cleanup now


async def test_the_wait_for_a_stuck_head_ends_at_the_timeout_not_at_the_next_10_s_poll() -> None:
    async with Harness() as h:
        await _converged_ft_cluster(h, **{"ray.io/gcs-ft-deletion-timeout": "2"})
        [head] = h.pods("head")
        await _stick_terminating(h, head["metadata"]["name"])
        await h.patch_cluster({"metadata": {"deletionTimestamp": _stamp(dt.datetime.now(dt.UTC))}})
        h.kick()
        await h.idle()
        assert h.cluster()["metadata"]["finalizers"] == [FINALIZER]  # still within the timeout
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"), timeout=6)
        assert len(h.events("ForceDeletedStuckCluster")) == 1
        assert h.pods("head")  # still terminating: the force-removal did not wait for it


# ---------------------------------------------------------------- a spec that no longer validates


async def _break_then_delete(h: Harness, spec_patch: Obj) -> None:
    await h.patch_cluster({"spec": spec_patch})
    now = _stamp(dt.datetime.now(dt.UTC))
    await h.patch_cluster({"metadata": {"deletionTimestamp": now}})
    h.kick()


async def test_an_invalid_spec_does_not_stop_the_redis_cleanup_of_a_deleted_cluster() -> None:
    async with Harness() as h:
        await _converged_ft_cluster(h)
        group = raycluster()["spec"]["workerGroupSpecs"][0]
        group["minReplicas"] = 20  # above maxReplicas: invalid, yet the head still builds
        await _break_then_delete(h, {"workerGroupSpecs": [group]})
        await eventually(lambda: h.kube.list_of(JOBS), timeout=15)
        assert h.pods() == []
        assert h.notes("InvalidRayClusterSpec")  # still reported
        done = {"conditions": [{"type": "Complete", "status": "True"}]}
        await h.kube.patch(JOBS, "rc-redis-cleanup", {"status": done}, NS)
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"))
        assert h.events("ForceDeletedStuckCluster") == []


async def test_an_invalid_spec_that_cannot_build_the_job_drops_the_finalizer_with_a_warning() -> (
    None
):
    async with Harness() as h:
        await _converged_ft_cluster(h)
        uid = h.cluster()["metadata"]["uid"]
        head = raycluster()["spec"]["headGroupSpec"]
        head["template"]["spec"]["containers"] = []
        await _break_then_delete(h, {"headGroupSpec": head})
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"), timeout=15)
        assert h.pods() == []  # the head went before the finalizer did
        assert h.kube.list_of(JOBS) == []
        [event] = h.events("ForceDeletedStuckCluster")
        assert event["type"] == "Warning" and event["action"] == "Cleanup"
        assert event["note"] == (
            "Force-removed GCS FT finalizer without Redis cleanup: the cleanup Job cannot be "
            "built from the spec (headGroupSpec should have at least one container); Redis "
            f'storage namespace "{uid}" may need manual cleanup'
        )


async def test_an_unreadable_spec_drops_the_finalizer_once_the_pods_are_gone() -> None:
    async with Harness() as h:
        await _converged_ft_cluster(h)
        confirm = _graceful_pod_deletes(h)
        group = raycluster()["spec"]["workerGroupSpecs"][0]
        group["replicas"] = "three"  # cannot be read into the model at all
        await _break_then_delete(
            h,
            {
                "workerGroupSpecs": [group],
                "gcsFaultToleranceOptions": {"externalStorageNamespace": "pinned"},
            },
        )
        await eventually(lambda: all(p["metadata"].get("deletionTimestamp") for p in h.pods()))
        assert len(h.pods()) == 2
        for _ in range(2):
            await h.settle()
        assert h.cluster()["metadata"]["finalizers"] == [FINALIZER]  # the head still runs
        for pod in h.pods():
            await confirm(PODS, pod["metadata"]["name"], NS)
        h.kick()
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"), timeout=15)
        assert h.kube.list_of(JOBS) == []
        [event] = h.events("ForceDeletedStuckCluster")
        assert event["type"] == "Warning"
        assert event["note"].startswith(
            "Force-removed GCS FT finalizer without Redis cleanup: the RayCluster spec cannot "
            "be read ("
        )
        assert "replicas" in event["note"]
        assert event["note"].endswith('Redis storage namespace "pinned" may need manual cleanup')
        [note] = h.notes("InvalidRayClusterSpec")
        assert "replicas" in note


async def test_a_cluster_whose_gcs_ft_was_switched_off_still_loses_our_finalizer() -> None:
    """The finalizer is ours whatever the spec says now: with no Redis left in the spec
    there is no Job to build, and nothing else would ever remove it."""
    async with Harness() as h:
        await _converged_ft_cluster(h)
        uid = h.cluster()["metadata"]["uid"]
        await _break_then_delete(h, {"gcsFaultToleranceOptions": None})
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"), timeout=15)
        assert h.pods() == [] and h.kube.list_of(JOBS) == []
        assert h.notes("ForceDeletedStuckCluster") == [
            "Force-removed GCS FT finalizer without Redis cleanup: GCS fault tolerance is no "
            f'longer enabled in the spec; Redis storage namespace "{uid}" may need manual cleanup'
        ]


# ---------------------------------------------------------------- Recreate while Pods terminate


def _published(h: Harness, reason: str) -> list[str]:
    """Every publication of `reason`, repeats included (the recorder folds repeats of
    one note into the Event's series count)."""
    out = []
    for event in h.events(reason):
        out += [event["note"]] * int((event.get("series") or {}).get("count") or 1)
    return out


async def test_recreate_publishes_deleted_pod_only_for_the_pass_that_deleted() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, upgradeStrategy={"type": "Recreate"}))
        await eventually(lambda: len(h.pods("head")) == 1 and len(h.pods("worker")) == 1)
        await h.idle()
        confirm = _graceful_pod_deletes(h)
        group = raycluster()["spec"]["workerGroupSpecs"][0]
        group["replicas"] = 1
        group["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:2.47.0"
        await h.patch_cluster({"spec": {"workerGroupSpecs": [group]}})
        await eventually(lambda: all(p["metadata"].get("deletionTimestamp") for p in h.pods()))
        for _ in range(3):  # the old Pods are still terminating
            await h.settle()
        assert len(h.pods()) == 2
        assert _published(h, "DeletedPod") == [
            f"Deleted all Pods for RayCluster {NS}/rc due to spec change with Recreate "
            "upgradeStrategy"
        ]
        for pod in h.pods():
            await confirm(PODS, pod["metadata"]["name"], NS)
        await eventually(lambda: len(h.pods()) == 2, timeout=10)
        assert not any(p["metadata"].get("deletionTimestamp") for p in h.pods())
        assert len(_published(h, "DeletedPod")) == 1
