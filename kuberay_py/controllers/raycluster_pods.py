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

import random
from typing import Any

from kuberay_py.api.constants import (
    DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION,
    HEAD_GROUP_NAME,
    KUBERAY_VERSION_ANNOTATION,
    RAY_CLUSTER_PROVISIONED,
    RAY_CLUSTER_SUSPENDED,
    RAY_CLUSTER_SUSPENDING,
    UPGRADE_RECREATE,
    UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION,
)
from kuberay_py.api.raycluster import WorkerGroupSpec
from kuberay_py.builders.pod import build_head_pod, build_worker_pod, should_delete_pod
from kuberay_py.builders.probes import current_decision
from kuberay_py.builders.raycluster_status import desired_worker_replicas
from kuberay_py.builders.spec_hash import cluster_spec_hash
from kuberay_py.controllers.raycluster_context import (
    ClusterContext,
    ReconcileError,
    error_text,
    is_terminating,
)
from kuberay_py.controllers.raycluster_expectations import HEAD_GROUP_KEY
from kuberay_py.controllers.raycluster_multihost import reconcile_multi_host
from kuberay_py.controllers.raycluster_pod_ops import (
    FAILED_DELETE_ALL_PODS,
    FAILED_DELETE_HEAD_POD,
    FAILED_DELETE_WORKER_POD,
    condition_true,
    create_pod,
    delete_all_pods,
    delete_pod,
    delete_reason,
    delete_worker,
    group_probes,
    lowest_free,
    may_pick_workers,
    name_of,
    pod_meta,
    pod_summary,
    replica_index_of,
    suspend_status,
)
from kuberay_py.kube import PODS, ApiError

__all__ = ["reconcile_pods"]

Obj = dict[str, Any]


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
            deleted = await delete_all_pods(ctx, ctx.all_pods())
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
        if deleted:
            # Passes while the old Pods terminate delete nothing, and say nothing.
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
    annotations = pod_meta(head).get("annotations") or {}
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
            await ctx.client.patch(PODS, name_of(head), patch, ctx.namespace, patch_type="merge")
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
        where = f"{ctx.namespace}/{name_of(head)}"
        try:
            await delete_pod(ctx, head, HEAD_GROUP_KEY)
        except ApiError as exc:
            await ctx.event(
                "FailedToDeleteHeadPod",
                f"Failed deleting head Pod {where}; {pod_summary(head)}, {error_text(exc)}",
                "Delete",
                warning=True,
            )
            raise ReconcileError(error_text(exc), reason=FAILED_DELETE_HEAD_POD) from exc
        await ctx.event(
            "DeletedHeadPod", f"Deleted head Pod {where}; {pod_summary(head)}", "Delete"
        )
        raise ReconcileError(delete_reason(head, "head"))
    if len(heads) > 1:
        names = " ".join(name_of(p) for p in heads)
        raise ReconcileError(
            f"{len(heads)} head pods found [{names}]. Please delete extra head pods"
        )
    if (
        condition_true(c, RAY_CLUSTER_PROVISIONED)
        and c.annotations.get(DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION) == "true"
    ):
        ctx.log.info("head pod gone; not recreated (disable-provisioned-head-restart)")
        return False
    if decision is None:
        return True
    # The builder stamps the spec hash and operator version the Recreate check reads.
    pod = build_head_pod(c, ctx.config, probes=group_probes(decision, HEAD_GROUP_NAME))
    await create_pod(ctx, pod, HEAD_GROUP_KEY, head=True)
    return True


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
        await reconcile_multi_host(ctx, group, pods, decision, rng)
        return
    desired = desired_worker_replicas(group)

    # 1. Dead workers go first; nothing is created in the pass that deletes them.
    unhealthy = [p for p in pods if not is_terminating(p) and should_delete_pod(p)]
    for pod in unhealthy:
        where = f"{ctx.namespace}/{name_of(pod)}"
        await delete_worker(ctx, pod, name, f"worker Pod {where}; {pod_summary(pod)}")
        await ctx.event(
            "DeletedWorkerPod", f"Deleted worker Pod {where}; {pod_summary(pod)}", "Delete"
        )
    if unhealthy:
        raise ReconcileError(f"delete {len(unhealthy)} unhealthy worker Pods")

    # 2. The autoscaler's picks (the operator never clears the list; the autoscaler does).
    gone: set[str] = set()
    by_name = {name_of(p): p for p in pods}
    for victim in (group.scale_strategy.workers_to_delete if group.scale_strategy else None) or ():
        picked = by_name.get(victim)
        if picked is None:
            continue  # not in the cache: already gone (expectations cover our own deletes)
        gone.add(victim)
        if is_terminating(picked):
            continue
        where = f"{ctx.namespace}/{victim}"
        if await delete_worker(ctx, picked, name, f"pod {where}"):
            await ctx.event("DeletedWorkerPod", f"Deleted pod {where}", "Delete")

    # 3. Scale to the clamped replicas; terminating Pods still count until they are gone.
    remaining = [p for p in pods if name_of(p) not in gone]
    diff = desired - len(remaining)
    if diff > 0:
        if decision is None:
            return
        used = {i for p in remaining if (i := replica_index_of(p)) is not None}
        probes = group_probes(decision, name)
        for _ in range(diff):
            pod = build_worker_pod(
                ctx.cluster, group, ctx.config, replica_index=lowest_free(used), probes=probes
            )
            await create_pod(ctx, pod, name, head=False)
    elif diff < 0:
        if not may_pick_workers(ctx):
            return
        ordered = sorted(remaining, key=lambda p: (not is_terminating(p), name_of(p)))
        for pod in ordered[:-diff]:
            if is_terminating(pod):
                continue
            where = f"{ctx.namespace}/{name_of(pod)}"
            await delete_worker(ctx, pod, name, f"Pod {where}")
            await ctx.event("DeletedWorkerPod", f"Deleted Pod {where}", "Delete")
