"""Reading and writing single Pods for the RayCluster controller, with KubeRay's Events.

Shared by the pass over the head and single-host groups (raycluster_pods) and the
multi-host groups (raycluster_multihost): every create and delete records its scale
expectation and publishes KubeRay's Event, so no path can forget either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kuberay_py.api.constants import (
    HEAD_GROUP_NAME,
    RAY_CLUSTER_SUSPENDED,
    RAY_CLUSTER_SUSPENDING,
    RAY_NODE_GROUP_LABEL,
    RAY_WORKER_REPLICA_INDEX_LABEL,
)
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.autoscaler import is_autoscaling_enabled
from kuberay_py.controllers.raycluster_context import (
    ClusterContext,
    ReconcileError,
    error_text,
    is_terminating,
)
from kuberay_py.controllers.raycluster_expectations import HEAD_GROUP_KEY
from kuberay_py.kube import PODS, ApiError, NotFound

__all__ = [
    "FAILED_CREATE_HEAD_POD",
    "FAILED_CREATE_WORKER_POD",
    "FAILED_DELETE_ALL_PODS",
    "FAILED_DELETE_HEAD_POD",
    "FAILED_DELETE_WORKER_POD",
    "condition_true",
    "create_pod",
    "delete_all_pods",
    "delete_pod",
    "delete_reason",
    "delete_worker",
    "group_probes",
    "lowest_free",
    "may_pick_workers",
    "name_of",
    "pod_label",
    "pod_meta",
    "pod_summary",
    "replica_index_of",
    "suspend_status",
    "terminated_state",
]

Obj = dict[str, Any]

FAILED_CREATE_HEAD_POD = "FailedCreateHeadPod"
FAILED_CREATE_WORKER_POD = "FailedCreateWorkerPod"
FAILED_DELETE_HEAD_POD = "FailedDeleteHeadPod"
FAILED_DELETE_WORKER_POD = "FailedDeleteWorkerPod"
FAILED_DELETE_ALL_PODS = "FailedDeleteAllPods"


# ---------------------------------------------------------------- small readers


def pod_meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def name_of(obj: Obj) -> str:
    return str(pod_meta(obj).get("name") or "")


def pod_label(obj: Obj, key: str) -> str | None:
    value = (pod_meta(obj).get("labels") or {}).get(key)
    return None if value is None else str(value)


def condition_true(c: RayCluster, ctype: str) -> bool:
    conditions = (c.status.conditions if c.status else None) or []
    return any(x.get("type") == ctype and x.get("status") == "True" for x in conditions)


def suspend_status(c: RayCluster) -> str:
    """KubeRay's FindRayClusterSuspendStatus: which suspend condition is True, or ""."""
    for ctype in (RAY_CLUSTER_SUSPENDING, RAY_CLUSTER_SUSPENDED):
        if condition_true(c, ctype):
            return ctype
    return ""


def terminated_state(pod: Obj) -> dict[str, Any] | None:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    ray_name = containers[0].get("name")
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == ray_name:
            terminated = (status.get("state") or {}).get("terminated")
            return terminated if isinstance(terminated, dict) else None
    return None


def pod_summary(pod: Obj) -> str:
    """ "Pod status: ...; Pod restart policy: ...; Ray container terminated status: ..."""
    terminated = terminated_state(pod)
    shown = "<nil>" if terminated is None else json.dumps(terminated, sort_keys=True)
    return (
        f"Pod status: {(pod.get('status') or {}).get('phase') or ''}; "
        f"Pod restart policy: {(pod.get('spec') or {}).get('restartPolicy') or ''}; "
        f"Ray container terminated status: {shown}"
    )


def delete_reason(pod: Obj, node_type: str) -> str:
    phase = (pod.get("status") or {}).get("phase") or ""
    if phase in ("Failed", "Succeeded"):
        return (
            f"The {node_type} Pod {name_of(pod)} status is {phase} which is a terminal state. "
            "KubeRay will delete the Pod and create new Pods in the next reconciliation "
            "if necessary."
        )
    return (
        f"The Pod status of the {node_type} Pod {name_of(pod)} is {phase}, and the Ray "
        f"container terminated status is {terminated_state(pod)}. The container is unable "
        "to restart due to its restart policy Never, so KubeRay will delete it."
    )


def group_probes(decision: dict[str, Any], group: str) -> dict[str, Any] | None:
    probes = decision.get(group)
    return probes if isinstance(probes, dict) and probes else None


# ---------------------------------------------------------------- writes


async def delete_pod(ctx: ClusterContext, pod: Obj, group: str) -> bool:
    """Delete `pod` and expect it gone; False if it already was."""
    meta = pod_meta(pod)
    try:
        await ctx.client.delete(PODS, name_of(pod), ctx.namespace)
    except NotFound:
        return False
    ctx.expectations.expect_delete(
        ctx.namespace, ctx.name, group, name_of(pod), str(meta.get("uid") or "")
    )
    return True


async def delete_all_pods(ctx: ClusterContext, pods: Sequence[Obj]) -> int:
    """KubeRay's deleteAllPods (DeleteAllOf): every Pod not already terminating.
    Raises ApiError on the first failure."""
    deleted = 0
    for pod in pods:
        if is_terminating(pod):
            continue
        group = pod_label(pod, RAY_NODE_GROUP_LABEL) or ""
        key = HEAD_GROUP_KEY if group == HEAD_GROUP_NAME else group
        if await delete_pod(ctx, pod, key):
            deleted += 1
    return deleted


async def create_pod(ctx: ClusterContext, pod: Obj, group: str, *, head: bool) -> Obj:
    where = f"{ctx.namespace}/{name_of(pod)}" if head else ctx.key
    try:
        created = await ctx.client.create(PODS, pod, ctx.namespace)
    except ApiError as exc:
        if head:
            note = f"Failed to create head Pod {where}, {error_text(exc)}"
            reason, failure = "FailedToCreateHeadPod", FAILED_CREATE_HEAD_POD
        else:
            note = f"Failed to create worker Pod for the cluster {where}, {error_text(exc)}"
            reason, failure = "FailedToCreateWorkerPod", FAILED_CREATE_WORKER_POD
        await ctx.event(reason, note, "Create", warning=True)
        raise ReconcileError(error_text(exc), reason=failure) from exc
    name = name_of(created)
    ctx.expectations.expect_create(ctx.namespace, ctx.name, group, name)
    kind = "head" if head else "worker"
    await ctx.event(
        "CreatedHeadPod" if head else "CreatedWorkerPod",
        f"Created {kind} Pod {ctx.namespace}/{name}",
        "Create",
    )
    return created


async def delete_worker(ctx: ClusterContext, pod: Obj, group: str, note: str) -> bool:
    try:
        deleted = await delete_pod(ctx, pod, group)
    except ApiError as exc:
        await ctx.event(
            "FailedToDeleteWorkerPod",
            f"Failed deleting {note}, {error_text(exc)}",
            "Delete",
            warning=True,
        )
        raise ReconcileError(error_text(exc), reason=FAILED_DELETE_WORKER_POD) from exc
    return deleted


def lowest_free(used: set[int]) -> int:
    index = 0
    while index in used:
        index += 1
    used.add(index)
    return index


def replica_index_of(pod: Obj) -> int | None:
    try:
        return int(pod_label(pod, RAY_WORKER_REPLICA_INDEX_LABEL) or "")
    except ValueError:
        return None


def may_pick_workers(ctx: ClusterContext) -> bool:
    """With the autoscaler on, it alone decides which workers go (unless the operator
    was told to pick at random, ENABLE_RANDOM_POD_DELETE)."""
    return not is_autoscaling_enabled(ctx.cluster) or ctx.config.enable_random_pod_delete
