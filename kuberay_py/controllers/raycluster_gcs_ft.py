"""GCS fault tolerance: the Redis cleanup finalizer and the cleanup Job on deletion.

A cluster whose GCS keeps its state in an external Redis leaves that state behind when
it is deleted, under its storage namespace. KubeRay (reference section 4.4) holds the
deletion with the `ray.io/gcs-ft-redis-cleanup-finalizer` until a Job built from the
head Pod has wiped the namespace: first every Pod goes (the GCS must stop writing),
then the Job runs, then the finalizer is removed whether the Job succeeded or failed.
A deletion stuck past its timeout has the finalizer forced off, with a Warning telling
the user the Redis data may need cleaning by hand; so has one whose cleanup Job cannot
be built (a spec gone invalid or unreadable, Redis or the cleanup switched off since),
once the head is gone. Deleting a cluster never waits for its spec to be fixed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kuberay_py.api.constants import (
    EXTERNAL_STORAGE_NAMESPACE_ANNOTATION,
    FT_ENABLED_ANNOTATION,
    GCS_FT_BACKEND_REDIS,
    GCS_FT_BACKEND_ROCKSDB,
    GCS_FT_DELETION_TIMEOUT_ANNOTATION,
    GCS_FT_REDIS_CLEANUP_FINALIZER,
    K8S_CREATED_BY_LABEL,
    KUBERAY_OPERATOR,
    NODE_TYPE_REDIS_CLEANUP,
    RAY_CLUSTER_LABEL,
    RAY_NODE_TYPE_LABEL,
)
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.pod import build_head_pod
from kuberay_py.builders.redis_cleanup import build_redis_cleanup_job
from kuberay_py.controllers.raycluster_context import ClusterContext, error_text
from kuberay_py.controllers.raycluster_expectations import HEAD_GROUP_KEY
from kuberay_py.controllers.raycluster_pod_ops import delete_all_pods
from kuberay_py.kube import JOBS, RAYCLUSTERS, AlreadyExists, ApiError
from kuberay_py.runtime import Result

__all__ = [
    "JOB_SELECTOR",
    "REQUEUE",
    "deletion_timeout",
    "finishes_deletion",
    "gcs_ft_enabled",
    "go_duration",
    "reconcile_gcs_ft",
]

Obj = dict[str, Any]

#: KubeRay's manager caches only Jobs the operator created.
JOB_SELECTOR = f"{K8S_CREATED_BY_LABEL}={KUBERAY_OPERATOR}"
#: KubeRay's DefaultRequeueDuration.
REQUEUE = 2.0
#: Waiting for the head Pod to terminate takes longer than a normal requeue.
HEAD_GONE_REQUEUE = 10.0


def gcs_ft_enabled(c: RayCluster) -> bool:
    """KubeRay's IsGCSFaultToleranceEnabled: the legacy annotation or the options."""
    return (
        c.annotations.get(FT_ENABLED_ANNOTATION, "").lower() == "true"
        or c.spec.gcs_fault_tolerance_options is not None
    )


def _embedded(c: RayCluster) -> bool:
    options = c.spec.gcs_fault_tolerance_options
    return (
        options is not None and (options.backend or GCS_FT_BACKEND_REDIS) == GCS_FT_BACKEND_ROCKSDB
    )


def deletion_timeout(c: RayCluster, default: int) -> int:
    """Seconds from `ray.io/gcs-ft-deletion-timeout` (a positive integer), else `default`."""
    value = c.annotations.get(GCS_FT_DELETION_TIMEOUT_ANNOTATION, "")
    try:
        seconds = int(value)
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def go_duration(seconds: float) -> str:
    """A duration as Go's `time.Duration.String` prints it ("5m0.25s", "1h2m3s", "750ms")."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        ms = seconds * 1000
        text = f"{ms:.6f}".rstrip("0").rstrip(".")
        return f"{sign}{text}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{sign}{int(minutes)}m{text}"
    return sign + text


def _parse_time(value: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _job_finished(job: Obj) -> bool:
    """KubeRay's IsJobFinished: Complete, Failed, or FailureTarget (a deadline hit)."""
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") in ("Complete", "Failed", "FailureTarget") and (
            cond.get("status") == "True"
        ):
            return True
    return False


async def _set_finalizers(ctx: ClusterContext, finalizers: list[str]) -> None:
    """Merge-patch the finalizer list, guarded by the cached resourceVersion (a stale
    cache gets a 409, never a lost update of someone else's finalizer)."""
    meta = ctx.obj.get("metadata") or {}
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}}
    await ctx.client.patch(RAYCLUSTERS, ctx.name, patch, ctx.namespace, patch_type="merge")


def _without_finalizer(c: RayCluster) -> list[str]:
    return [f for f in c.metadata.get("finalizers") or () if f != GCS_FT_REDIS_CLEANUP_FINALIZER]


def finishes_deletion(obj: Obj) -> bool:
    """A deleted RayCluster still holding our finalizer: only we can let it go, so the
    deletion is handled whatever its spec says (invalid, unreadable, FT switched off)."""
    meta = obj.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and GCS_FT_REDIS_CLEANUP_FINALIZER in (
        meta.get("finalizers") or ()
    )


async def reconcile_gcs_ft(
    ctx: ClusterContext, now: dt.datetime, *, unreadable: str | None = None
) -> Result | None:
    """Finalizer handling. Returns the Result that ends this pass, or None to go on.

    `unreadable`: why the stored spec could not be read (`ctx.cluster` then carries
    only the metadata); only a deletion is handled then."""
    c = ctx.cluster
    deleting = bool(c.metadata.get("deletionTimestamp"))
    has_finalizer = GCS_FT_REDIS_CLEANUP_FINALIZER in (c.metadata.get("finalizers") or ())
    if deleting and has_finalizer:
        if unreadable is None and _embedded(c):
            # Switched to the embedded backend after the finalizer was added: no Redis
            # to clean, and nothing else would ever remove it.
            await _set_finalizers(ctx, _without_finalizer(c))
            return Result()
        return await _cleanup_on_deletion(ctx, now, unreadable or _no_cleanup(ctx))
    if unreadable is not None:
        return None
    if not (ctx.config.enable_gcs_ft_redis_cleanup and gcs_ft_enabled(c) and not _embedded(c)):
        return None
    if not deleting:
        if has_finalizer:
            return None
        await _set_finalizers(
            ctx, [*(c.metadata.get("finalizers") or ()), GCS_FT_REDIS_CLEANUP_FINALIZER]
        )
        # Only once the finalizer is stored may Pods (and their Redis state) exist.
        return Result(requeue_after=REQUEUE)
    return Result()  # cleanup already done; other finalizers are not ours


def _no_cleanup(ctx: ClusterContext) -> str | None:
    """Why a deleted cluster holding our finalizer gets no cleanup Job, if it does not:
    the finalizer was added under settings that have changed since."""
    if not ctx.config.enable_gcs_ft_redis_cleanup:
        return "Redis cleanup is disabled in the operator"
    if not gcs_ft_enabled(ctx.cluster):
        return "GCS fault tolerance is no longer enabled in the spec"
    return None


def _storage_namespace(obj: Obj) -> str:
    """The storage namespace the head was given (builders.gcs_ft's rule), read from
    the stored object so that it works when the spec cannot be read."""
    meta = obj.get("metadata") or {}
    options = (obj.get("spec") or {}).get("gcsFaultToleranceOptions")
    pinned = options.get("externalStorageNamespace") if isinstance(options, dict) else None
    if isinstance(pinned, str) and pinned:
        return pinned
    annotated = (meta.get("annotations") or {}).get(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION)
    return str(annotated or meta.get("uid") or "")


async def _remove_without_cleanup(ctx: ClusterContext, why: str) -> Result:
    """Let the deletion go on without the cleanup Job, telling the user what is left."""
    await _set_finalizers(ctx, _without_finalizer(ctx.cluster))
    await ctx.event(
        "ForceDeletedStuckCluster",
        f"Force-removed GCS FT finalizer without Redis cleanup: {why}; Redis storage "
        f"namespace {json.dumps(_storage_namespace(ctx.obj))} may need manual cleanup",
        "Cleanup",
        warning=True,
    )
    return Result()


async def _cleanup_on_deletion(
    ctx: ClusterContext, now: dt.datetime, no_cleanup: str | None
) -> Result:
    """Every Pod goes, then the cleanup Job runs (or, when `no_cleanup` says why there
    can be none, the finalizer goes with a Warning), all bounded by the timeout."""
    c = ctx.cluster
    started = _parse_time(str(c.metadata.get("deletionTimestamp")))
    age = (now - started).total_seconds() if started else 0.0
    left = deletion_timeout(c, ctx.config.gcs_ft_deletion_timeout_seconds) - age
    heads = ctx.head_pods()
    try:
        await delete_all_pods(ctx, heads)
        await delete_all_pods(ctx, ctx.worker_pods())
    except ApiError as exc:
        ctx.log.warning("could not delete pods of a deleted cluster", error=error_text(exc))
        if left > 0:
            return Result(requeue=True)
    if left <= 0:
        # Before the waits below, unlike KubeRay: a head Pod held by a finalizer or a
        # lost node would otherwise hold the deletion forever, which the timeout is for.
        await _set_finalizers(ctx, _without_finalizer(c))
        storage = c.annotations.get(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION, "")
        await ctx.event(
            "ForceDeletedStuckCluster",
            f"Force-removed GCS FT finalizer after {go_duration(age)} due to Redis cleanup "
            f"timeout; Redis storage namespace {json.dumps(storage)} may need manual cleanup",
            "Cleanup",
            warning=True,
        )
        return Result()
    if heads:
        # The GCS may still write to Redis until the head is gone; look again at the
        # timeout at the latest.
        return Result(requeue_after=min(HEAD_GONE_REQUEUE, left))
    if not ctx.expectations.satisfied(ctx.namespace, ctx.name, HEAD_GROUP_KEY):
        # A head we created that the cache does not show yet runs a GCS too (KubeRay's
        # DeleteAllOf would have reached it; our by-name deletion waits to see it).
        return Result(requeue_after=min(REQUEUE, left))
    if no_cleanup is not None:
        return await _remove_without_cleanup(ctx, no_cleanup)

    jobs = [
        j
        for j in ctx.cache.list(JOBS, ctx.namespace, label_selector=JOB_SELECTOR)
        if ((j.get("metadata") or {}).get("labels") or {}).get(RAY_CLUSTER_LABEL) == ctx.name
        and ((j.get("metadata") or {}).get("labels") or {}).get(RAY_NODE_TYPE_LABEL)
        == NODE_TYPE_REDIS_CLEANUP
    ]
    if jobs:
        if not _job_finished(jobs[0]):
            return Result(requeue_after=REQUEUE)
        # Complete or failed alike: a failed cleanup is logged, not retried forever.
        ctx.log.info(
            "redis cleanup job finished; removing the finalizer",
            job=(jobs[0].get("metadata") or {}).get("name"),
            status=(jobs[0].get("status") or {}).get("conditions"),
        )
        await _set_finalizers(ctx, _without_finalizer(c))
        return Result()

    try:
        job = build_redis_cleanup_job(c, build_head_pod(c, ctx.config), ctx.config)
    except Exception as exc:  # a spec that fails validation may not build at all
        why = f"the cleanup Job cannot be built from the spec ({exc})"
        return await _remove_without_cleanup(ctx, why)
    where = f"{ctx.namespace}/{(job.get('metadata') or {}).get('name')}"
    try:
        await ctx.client.create(JOBS, job, ctx.namespace)
    except AlreadyExists:
        return Result(requeue_after=REQUEUE)
    except ApiError as exc:
        await ctx.event(
            "FailedToCreateRedisCleanupJob",
            f"Failed to create Redis cleanup Job {where}, {error_text(exc)}",
            "Create",
            warning=True,
        )
        return Result(requeue=True)
    await ctx.event("CreatedRedisCleanupJob", f"Created Redis cleanup Job {where}", "Create")
    return Result(requeue_after=REQUEUE)
