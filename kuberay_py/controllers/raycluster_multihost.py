"""Multi-host worker groups (`numOfHosts > 1`, TPU slices): replicas of N Pods that
live and die together.

KubeRay's reconcileMultiHostWorkerGroup (reference sections 1.3 and 1.9): a replica
missing a host is deleted whole, a dead host takes its replica with it, the
autoscaler's `workersToDelete` removes whole replicas, and scaling adds or removes
whole replicas, each new one under the lowest free replica index with a fresh
`<group>-<5 random>` replica name.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from kuberay_py.api.constants import (
    RAY_WORKER_REPLICA_NAME_LABEL,
)
from kuberay_py.api.raycluster import WorkerGroupSpec
from kuberay_py.builders.names import RAND_ALPHABET
from kuberay_py.builders.pod import build_worker_pod, should_delete_pod
from kuberay_py.builders.raycluster_status import desired_worker_replicas
from kuberay_py.controllers.raycluster_context import (
    ClusterContext,
    ReconcileError,
    is_terminating,
)
from kuberay_py.controllers.raycluster_pod_ops import (
    create_pod,
    delete_reason,
    delete_worker,
    group_probes,
    lowest_free,
    may_pick_workers,
    name_of,
    pod_label,
    pod_summary,
    replica_index_of,
)

__all__ = ["reconcile_multi_host"]

Obj = dict[str, Any]

# ---------------------------------------------------------------- multi-host groups


def _replica_name(group: str, rng: random.Random) -> str:
    """KubeRay's GenerateRayWorkerReplicaGroupName: `<group>-<5 random>`."""
    return f"{group}-{''.join(rng.choice(RAND_ALPHABET) for _ in range(5))}"


async def _delete_replicas(ctx: ClusterContext, group: str, pods: Sequence[Obj], why: str) -> None:
    for pod in pods:
        if is_terminating(pod):
            continue
        where = f"{ctx.namespace}/{name_of(pod)}"
        note = f"worker Pod {where} for group {group}; {pod_summary(pod)}"
        if await delete_worker(ctx, pod, group, note):
            await ctx.event(
                "DeletedWorkerPod", f"Deleted worker Pod {where} for group {group}: {why}", "Delete"
            )


async def reconcile_multi_host(
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
        if (replica := pod_label(pod, RAY_WORKER_REPLICA_NAME_LABEL)) is not None:
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
            await _delete_replicas(ctx, name, members, delete_reason(sick[0], "worker"))
            dead.add(replica)

    # The autoscaler's picks remove whole replicas.
    victims = set((group.scale_strategy.workers_to_delete if group.scale_strategy else None) or ())
    picked = sorted(
        {
            r
            for r, members in replicas.items()
            if r not in dead and victims & {name_of(p) for p in members}
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
        used = {i for members in valid.values() if (i := replica_index_of(members[0])) is not None}
        probes = group_probes(decision, name)
        for _ in range(to_create):
            index = lowest_free(used)
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
                await create_pod(ctx, pod, name, head=False)
    elif to_create < 0 and may_pick_workers(ctx):
        for replica in sorted(valid)[:-to_create]:
            await _delete_replicas(ctx, name, valid[replica], "scaling down")
