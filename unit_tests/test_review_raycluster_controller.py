"""Review of the RayCluster controller: races and edge cases found by reading it
against KubeRay (each test failed before its fix)."""

from __future__ import annotations

from typing import Any

from kuberay_py.kube import RAYCLUSTERS
from kuberay_py.runtime.testing import eventually
from unit_tests.raycluster_harness import NS, Harness, condition, raycluster

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
