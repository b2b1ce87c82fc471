"""The head and worker Pods of a RayCluster: KubeRay's `reconcilePods`, from the cache.

Order of a pass: suspension (delete everything, or do nothing while suspended), the
Recreate upgrade strategy, the head (create one, replace a dead one, refuse extras),
then each worker group (replace dead workers, honour `workersToDelete`, scale to the
clamped `replicas`). A group whose last writes the cache does not show yet is skipped
(scale expectations), so a lagging watch never makes us create or delete twice.

Where we differ from KubeRay, it is to write less: a Pod already terminating is never
deleted again (it still counts towards its group until it is gone), names in
`workersToDelete` that the cache does not hold are not sent DELETEs on every pass, and
scale-down picks terminating Pods first, then by name.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from kuberay_py.api.constants import (
    DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION,
    HEAD_GROUP_NAME,
    KUBERAY_VERSION_ANNOTATION,
    RAY_CLUSTER_PROVISIONED,
    RAY_CLUSTER_SUSPENDED,
    RAY_CLUSTER_SUSPENDING,
    RAY_NODE_GROUP_LABEL,
    RAY_WORKER_REPLICA_INDEX_LABEL,
    RAY_WORKER_REPLICA_NAME_LABEL,
    UPGRADE_RECREATE,
    UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION,
)
from kuberay_py.api.raycluster import RayCluster, WorkerGroupSpec
from kuberay_py.builders.names import RAND_ALPHABET
from kuberay_py.builders.pod import build_head_pod, build_worker_pod, should_delete_pod
from kuberay_py.builders.probes import current_decision
from kuberay_py.builders.raycluster_status import desired_worker_replicas
from kuberay_py.builders.spec_hash import cluster_spec_hash
from kuberay_py.controllers.raycluster_children import autoscaling_enabled
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
    "delete_all_pods",
    "reconcile_pods",
    "suspend_status",
]

Obj = dict[str, Any]

FAILED_CREATE_HEAD_POD = "FailedCreateHeadPod"
FAILED_CREATE_WORKER_POD = "FailedCreateWorkerPod"
FAILED_DELETE_HEAD_POD = "FailedDeleteHeadPod"
FAILED_DELETE_WORKER_POD = "FailedDeleteWorkerPod"
FAILED_DELETE_ALL_PODS = "FailedDeleteAllPods"


# ---------------------------------------------------------------- small readers


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name") or "")


def _label(obj: Obj, key: str) -> str | None:
    value = (_meta(obj).get("labels") or {}).get(key)
    return None if value is None else str(value)


def _condition_true(c: RayCluster, ctype: str) -> bool:
    conditions = (c.status.conditions if c.status else None) or []
    return any(x.get("type") == ctype and x.get("status") == "True" for x in conditions)


def suspend_status(c: RayCluster) -> str:
    """KubeRay's FindRayClusterSuspendStatus: which suspend condition is True, or ""."""
    for ctype in (RAY_CLUSTER_SUSPENDING, RAY_CLUSTER_SUSPENDED):
        if _condition_true(c, ctype):
            return ctype
    return ""


def _terminated_state(pod: Obj) -> dict[str, Any] | None:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    ray_name = containers[0].get("name")
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == ray_name:
            terminated = (status.get("state") or {}).get("terminated")
            return terminated if isinstance(terminated, dict) else None
    return None


def _pod_summary(pod: Obj) -> str:
    """ "Pod status: ...; Pod restart policy: ...; Ray container terminated status: ..."""
    terminated = _terminated_state(pod)
    shown = "<nil>" if terminated is None else json.dumps(terminated, sort_keys=True)
    return (
        f"Pod status: {(pod.get('status') or {}).get('phase') or ''}; "
        f"Pod restart policy: {(pod.get('spec') or {}).get('restartPolicy') or ''}; "
        f"Ray container terminated status: {shown}"
    )


def _delete_reason(pod: Obj, node_type: str) -> str:
    phase = (pod.get("status") or {}).get("phase") or ""
    if phase in ("Failed", "Succeeded"):
        return (
            f"The {node_type} Pod {_name(pod)} status is {phase} which is a terminal state. "
            "KubeRay will delete the Pod and create new Pods in the next reconciliation "
            "if necessary."
        )
    return (
        f"The Pod status of the {node_type} Pod {_name(pod)} is {phase}, and the Ray "
        f"container terminated status is {_terminated_state(pod)}. The container is unable "
        "to restart due to its restart policy Never, so KubeRay will delete it."
    )


def _group_probes(decision: dict[str, Any], group: str) -> dict[str, Any] | None:
    probes = decision.get(group)
    return probes if isinstance(probes, dict) and probes else None


# ---------------------------------------------------------------- writes


async def _delete(ctx: ClusterContext, pod: Obj, group: str) -> bool:
    """Delete `pod` and expect it gone; False if it already was."""
    meta = _meta(pod)
    try:
        await ctx.client.delete(PODS, _name(pod), ctx.namespace)
    except NotFound:
        return False
    ctx.expectations.expect_delete(
        ctx.namespace, ctx.name, group, _name(pod), str(meta.get("uid") or "")
    )
    return True


async def delete_all_pods(ctx: ClusterContext, pods: Sequence[Obj]) -> int:
    """KubeRay's deleteAllPods (DeleteAllOf): every Pod not already terminating.
    Raises ApiError on the first failure."""
    deleted = 0
    for pod in pods:
        if is_terminating(pod):
            continue
        group = _label(pod, RAY_NODE_GROUP_LABEL) or ""
        key = HEAD_GROUP_KEY if group == HEAD_GROUP_NAME else group
        if await _delete(ctx, pod, key):
            deleted += 1
    return deleted


async def _create(ctx: ClusterContext, pod: Obj, group: str, *, head: bool) -> Obj:
    where = f"{ctx.namespace}/{_name(pod)}" if head else ctx.key
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
    name = _name(created)
    ctx.expectations.expect_create(ctx.namespace, ctx.name, group, name)
    kind = "head" if head else "worker"
    await ctx.event(
        "CreatedHeadPod" if head else "CreatedWorkerPod",
        f"Created {kind} Pod {ctx.namespace}/{name}",
        "Create",
    )
    return created


# ---------------------------------------------------------------- the pass


async def reconcile_pods(ctx: ClusterContext, rng: random.Random | None = None) -> None:
    c = ctx.cluster
    gate = ctx.config.gates.ray_cluster_status_conditions
    suspending = suspend_status(c)
    if suspending == RAY_CLUSTER_SUSPENDING or (not gate and c.spec.suspend):
        try:
            deleted = await delete_all_pods(ctx, ctx.all_pods())
        except ApiError as exc:
            await ctx.event(
                "FailedToDeletePodCollection",
                f"Failed deleting Pods due to suspension for RayCluster {ctx.key}, "
                f"{error_text(exc)}",
                "Delete",
                warning=True,
            )
            raise ReconcileError(error_text(exc), reason=FAILED_DELETE_ALL_PODS) from exc
        if deleted:
            await ctx.event(
                "DeletedPod", f"Deleted Pods for RayCluster {ctx.key} due to suspension", "Delete"
            )
        return
    if gate and (suspending == RAY_CLUSTER_SUSPENDED or c.spec.suspend):
        return  # suspended, or about to be once the Suspending condition is written

    spec_hash = cluster_spec_hash(c)
    if await _recreate_for_upgrade(ctx, spec_hash):
        try:
            await delete_all_pods(ctx, ctx.all_pods())
        except ApiError as exc:
            await ctx.event(
                "FailedToDeletePodCollection",
                "Failed deleting Pods due to spec change with Recreate upgradeStrategy for "
                f"RayCluster {ctx.key}, {error_text(exc)}",
                "Delete",
                warning=True,
            )
            raise ReconcileError(error_text(exc), reason=FAILED_DELETE_ALL_PODS) from exc
        ctx.expectations.forget_cluster(ctx.namespace, ctx.name)
        await ctx.event(
            "DeletedPod",
            f"Deleted all Pods for RayCluster {ctx.key} due to spec change with Recreate "
            "upgradeStrategy",
            "Delete",
        )
        return

    decision = current_decision(c, ctx.config)
    if decision is None:
        ctx.log.info(
            "waiting for the probe injector's decision before creating pods",
            cluster=ctx.key,
            generation=c.metadata.get("generation"),
        )
    if not await _reconcile_head(ctx, decision):
        return
    for group in c.spec.worker_group_specs or ():
        await _reconcile_group(ctx, group, decision, rng or random.Random())


async def _recreate_for_upgrade(ctx: ClusterContext, spec_hash: str) -> bool:
    """KubeRay's shouldRecreatePodsForUpgrade (upgradeStrategy Recreate)."""
    strategy = ctx.cluster.spec.upgrade_strategy
    if strategy is None or strategy.type != UPGRADE_RECREATE:
        return False
    heads = ctx.head_pods()
    if not heads:
        return False
    head = heads[0]
    annotations = _meta(head).get("annotations") or {}
    version = annotations.get(KUBERAY_VERSION_ANNOTATION)
    if version and version != ctx.config.kuberay_version:
        # A new operator version: re-stamp the head instead of recreating every Pod.
        patch = {
            "metadata": {
                "annotations": {
                    UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION: spec_hash,
                    KUBERAY_VERSION_ANNOTATION: ctx.config.kuberay_version,
                }
            }
        }
        try:
            await ctx.client.patch(PODS, _name(head), patch, ctx.namespace, patch_type="merge")
        except ApiError as exc:
            ctx.log.warning("could not re-annotate the head pod", error=error_text(exc))
        return False
    actual = annotations.get(UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION)
    return bool(actual) and actual != spec_hash


async def _reconcile_head(ctx: ClusterContext, decision: dict[str, Any] | None) -> bool:
    """The head Pod. False: stop the pass here (KubeRay skips the workers then)."""
    c = ctx.cluster
    heads = ctx.head_pods()
    if not ctx.expectations.satisfied(ctx.namespace, ctx.name, HEAD_GROUP_KEY):
        ctx.log.info("head expectations not satisfied; head reconciled later", cluster=ctx.key)
        return True
    if len(heads) == 1:
        head = heads[0]
        if is_terminating(head) or not should_delete_pod(head):
            return True
        where = f"{ctx.namespace}/{_name(head)}"
        try:
            await _delete(ctx, head, HEAD_GROUP_KEY)
        except ApiError as exc:
            await ctx.event(
                "FailedToDeleteHeadPod",
                f"Failed deleting head Pod {where}; {_pod_summary(head)}, {error_text(exc)}",
                "Delete",
                warning=True,
            )
            raise ReconcileError(error_text(exc), reason=FAILED_DELETE_HEAD_POD) from exc
        await ctx.event(
            "DeletedHeadPod", f"Deleted head Pod {where}; {_pod_summary(head)}", "Delete"
        )
        raise ReconcileError(_delete_reason(head, "head"))
    if len(heads) > 1:
        names = " ".join(_name(p) for p in heads)
        raise ReconcileError(
            f"{len(heads)} head pods found [{names}]. Please delete extra head pods"
        )
    if (
        _condition_true(c, RAY_CLUSTER_PROVISIONED)
        and c.annotations.get(DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION) == "true"
    ):
        ctx.log.info("head pod gone; not recreated (disable-provisioned-head-restart)")
        return False
    if decision is None:
        return True
    # The builder stamps the spec hash and operator version the Recreate check reads.
    pod = build_head_pod(c, ctx.config, probes=_group_probes(decision, HEAD_GROUP_NAME))
    await _create(ctx, pod, HEAD_GROUP_KEY, head=True)
    return True


async def _delete_worker(ctx: ClusterContext, pod: Obj, group: str, note: str) -> bool:
    try:
        deleted = await _delete(ctx, pod, group)
    except ApiError as exc:
        await ctx.event(
            "FailedToDeleteWorkerPod",
            f"Failed deleting {note}, {error_text(exc)}",
            "Delete",
            warning=True,
        )
        raise ReconcileError(error_text(exc), reason=FAILED_DELETE_WORKER_POD) from exc
    return deleted


def _lowest_free(used: set[int]) -> int:
    index = 0
    while index in used:
        index += 1
    used.add(index)
    return index


def _index_of(pod: Obj) -> int | None:
    try:
        return int(_label(pod, RAY_WORKER_REPLICA_INDEX_LABEL) or "")
    except ValueError:
        return None


def _may_pick_workers(ctx: ClusterContext) -> bool:
    """With the autoscaler on, it alone decides which workers go (unless the operator
    was told to pick at random, ENABLE_RANDOM_POD_DELETE)."""
    return not autoscaling_enabled(ctx.cluster) or ctx.config.enable_random_pod_delete


async def _reconcile_group(
    ctx: ClusterContext,
    group: WorkerGroupSpec,
    decision: dict[str, Any] | None,
    rng: random.Random,
) -> None:
    name = group.group_name
    if not ctx.expectations.satisfied(ctx.namespace, ctx.name, name):
        ctx.log.info(
            "group expectations not satisfied; group reconciled later",
            cluster=ctx.key,
            group=name,
            pending=ctx.expectations.pending(ctx.namespace, ctx.name, name),
        )
        return
    pods = ctx.group_pods(name)
    if group.suspend:
        try:
            deleted = await delete_all_pods(ctx, pods)
        except ApiError as exc:
            await ctx.event(
                "FailedToDeleteWorkerPodCollection",
                f"Failed deleting worker Pods for suspended group {name} in RayCluster "
                f"{ctx.key}, {error_text(exc)}",
                "Delete",
                warning=True,
            )
            raise ReconcileError(error_text(exc), reason=FAILED_DELETE_WORKER_POD) from exc
        if deleted:
            await ctx.event(
                "DeletedWorkerPod",
                f"Deleted all pods for suspended worker group {name} in RayCluster {ctx.key}",
                "Delete",
            )
        return
    if (group.num_of_hosts or 1) > 1 and ctx.config.gates.ray_multi_host_indexing:
        await _reconcile_multi_host(ctx, group, pods, decision, rng)
        return
    desired = desired_worker_replicas(group)

    # 1. Dead workers go first; nothing is created in the pass that deletes them.
    unhealthy = [p for p in pods if not is_terminating(p) and should_delete_pod(p)]
    for pod in unhealthy:
        where = f"{ctx.namespace}/{_name(pod)}"
        await _delete_worker(ctx, pod, name, f"worker Pod {where}; {_pod_summary(pod)}")
        await ctx.event(
            "DeletedWorkerPod", f"Deleted worker Pod {where}; {_pod_summary(pod)}", "Delete"
        )
    if unhealthy:
        raise ReconcileError(f"delete {len(unhealthy)} unhealthy worker Pods")

    # 2. The autoscaler's picks (the operator never clears the list; the autoscaler does).
    gone: set[str] = set()
    by_name = {_name(p): p for p in pods}
    for victim in (group.scale_strategy.workers_to_delete if group.scale_strategy else None) or ():
        picked = by_name.get(victim)
        if picked is None:
            continue  # not in the cache: already gone (expectations cover our own deletes)
        gone.add(victim)
        if is_terminating(picked):
            continue
        where = f"{ctx.namespace}/{victim}"
        if await _delete_worker(ctx, picked, name, f"pod {where}"):
            await ctx.event("DeletedWorkerPod", f"Deleted pod {where}", "Delete")

    # 3. Scale to the clamped replicas; terminating Pods still count until they are gone.
    remaining = [p for p in pods if _name(p) not in gone]
    diff = desired - len(remaining)
    if diff > 0:
        if decision is None:
            return
        used = {i for p in remaining if (i := _index_of(p)) is not None}
        probes = _group_probes(decision, name)
        for _ in range(diff):
            pod = build_worker_pod(
                ctx.cluster, group, ctx.config, replica_index=_lowest_free(used), probes=probes
            )
            await _create(ctx, pod, name, head=False)
    elif diff < 0:
        if not _may_pick_workers(ctx):
            return
        ordered = sorted(remaining, key=lambda p: (not is_terminating(p), _name(p)))
        for pod in ordered[:-diff]:
            if is_terminating(pod):
                continue
            where = f"{ctx.namespace}/{_name(pod)}"
            await _delete_worker(ctx, pod, name, f"Pod {where}")
            await ctx.event("DeletedWorkerPod", f"Deleted Pod {where}", "Delete")


# ---------------------------------------------------------------- multi-host groups


def _replica_name(group: str, rng: random.Random) -> str:
    """KubeRay's GenerateRayWorkerReplicaGroupName: `<group>-<5 random>`."""
    return f"{group}-{''.join(rng.choice(RAND_ALPHABET) for _ in range(5))}"


async def _delete_replicas(ctx: ClusterContext, group: str, pods: Sequence[Obj], why: str) -> None:
    for pod in pods:
        if is_terminating(pod):
            continue
        where = f"{ctx.namespace}/{_name(pod)}"
        note = f"worker Pod {where} for group {group}; {_pod_summary(pod)}"
        if await _delete_worker(ctx, pod, group, note):
            await ctx.event(
                "DeletedWorkerPod", f"Deleted worker Pod {where} for group {group}: {why}", "Delete"
            )


async def _reconcile_multi_host(
    ctx: ClusterContext,
    group: WorkerGroupSpec,
    pods: list[Obj],
    decision: dict[str, Any] | None,
    rng: random.Random,
) -> None:
    """Groups of `numOfHosts` Pods that live and die together (TPU slices)."""
    name = group.group_name
    hosts = group.num_of_hosts or 1
    replicas: dict[str, list[Obj]] = {}
    for pod in pods:
        if (replica := _label(pod, RAY_WORKER_REPLICA_NAME_LABEL)) is not None:
            replicas.setdefault(replica, []).append(pod)

    # An incomplete replica (a host deleted from outside) goes whole.
    for replica, members in sorted(replicas.items()):
        if len(members) < hosts:
            await _delete_replicas(ctx, name, members, "cleanup of incomplete multi-host group")
            raise ReconcileError(f"cleaned up incomplete replica group {replica}, requeueing")

    # A dead host takes its replica with it.
    dead: set[str] = set()
    for replica, members in sorted(replicas.items()):
        sick = [p for p in members if not is_terminating(p) and should_delete_pod(p)]
        if sick:
            await _delete_replicas(ctx, name, members, _delete_reason(sick[0], "worker"))
            dead.add(replica)

    # The autoscaler's picks remove whole replicas.
    victims = set((group.scale_strategy.workers_to_delete if group.scale_strategy else None) or ())
    picked = sorted(
        {
            r
            for r, members in replicas.items()
            if r not in dead and victims & {_name(p) for p in members}
        }
    )
    if picked:
        for replica in picked:
            await _delete_replicas(ctx, name, replicas[replica], "autoscaler scale-down request")
        count = sum(len(replicas[r]) for r in picked)
        raise ReconcileError(f"deleted {count} worker Pods based on ScaleStrategy, requeueing")

    valid = {r: m for r, m in replicas.items() if r not in dead}
    desired_pods = desired_worker_replicas(group)
    if desired_pods % hosts:
        raise ReconcileError(
            f"desired worker pods ({desired_pods}) is not a multiple of NumOfHosts ({hosts}) "
            f"for group {name}"
        )
    to_create = desired_pods // hosts - len(valid)
    if to_create > 0:
        if decision is None:
            return
        used = {i for members in valid.values() if (i := _index_of(members[0])) is not None}
        probes = _group_probes(decision, name)
        for _ in range(to_create):
            index = _lowest_free(used)
            replica = _replica_name(name, rng)
            for host in range(hosts):
                pod = build_worker_pod(
                    ctx.cluster,
                    group,
                    ctx.config,
                    replica_index=index,
                    probes=probes,
                    replica_name=replica,
                    host_index=host,
                )
                await _create(ctx, pod, name, head=False)
    elif to_create < 0 and _may_pick_workers(ctx):
        for replica in sorted(valid)[:-to_create]:
            await _delete_replicas(ctx, name, valid[replica], "scaling down")
