"""Deleting a RayCluster never hangs: a head Pod stuck terminating, a spec that no
longer validates or reads, and a Recreate upgrade waiting on terminating Pods (each
test failed before its fix)."""

from __future__ import annotations

import datetime as dt
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


def _graceful_pod_deletes(h: Harness) -> None:
    """Make Pod DELETEs graceful, as the API server's are: the Pod stays, terminating,
    until something removes it (FakeKube otherwise removes it at once)."""
    immediate = h.kube.delete

    async def delete(res: Resource, name: str, namespace: str | None = None, **kw: Any) -> Obj:
        if res != PODS:
            return await immediate(res, name, namespace, **kw)
        h.kube.writes.append(("delete", res.plural, name))
        marked = {"metadata": {"deletionTimestamp": _stamp(dt.datetime.now(dt.UTC))}}
        return await h.kube.patch(res, name, marked, namespace)

    h.kube.delete = delete  # type: ignore[method-assign]


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
