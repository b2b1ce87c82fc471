"""The RayCluster controller: KubeRay's reconcile loop on kuberay-py's runtime.

One pass (KubeRay's `rayClusterReconcile`, reference section 1.1):

1. read the RayCluster from the cache; gone -> forget its expectations and metrics;
2. `spec.managedBy` naming another controller -> leave it alone;
3. defaults, then validation (metadata, spec, upgrade strategy, status): an invalid
   spec gets one Warning Event per generation and no requeue, no status write, no
   children (fixing the spec is a generation change, which wakes us); a deleted
   cluster holding our finalizer still goes to step 4, so deletion never waits on a fix;
4. the GCS fault-tolerance finalizer (add it and stop; on deletion run the cleanup);
5. the children in KubeRay's order (see raycluster_children), then the Pods
   (raycluster_pods), stopping at the first error;
6. the status, written through the status subresource only when it changed (progress
   coalesced over KubeRay's 2 s requeue period, see raycluster_status_writes);
7. requeue after 2 s on an error or a status change, else after the configured period.

Reads come only from the manager's cache, so a pass over an unchanged, converged
cluster sends no request at all.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any, Protocol

import cattrs
import structlog

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import MANAGED_BY_KUBERAY, RAY_CLUSTER_SUSPENDED
from kuberay_py.api.convert import FieldError, converter, raycluster_from_dict
from kuberay_py.api.defaults import with_defaults
from kuberay_py.api.raycluster import RayCluster, RayClusterStatus
from kuberay_py.api.validation import (
    raycluster_spec_warnings,
    validate_raycluster_metadata,
    validate_raycluster_spec,
    validate_raycluster_status,
    validate_raycluster_upgrade_options,
    validate_unique_group_names,
)
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.raycluster_status import (
    ReconcileFailure,
    StatusError,
    calculate_status,
    status_changed,
)
from kuberay_py.controllers.metrics import raycluster_metrics_for_manager
from kuberay_py.controllers.raycluster_children import (
    SECRET_SELECTOR,
    TokenFactory,
    random_token,
    reconcile_children,
)
from kuberay_py.controllers.raycluster_context import (
    POD_INDEX,
    POD_SELECTOR,
    SERVICE_INDEX,
    ClusterClient,
    ClusterContext,
    ReconcileError,
    error_text,
    pod_index,
    service_index,
)
from kuberay_py.controllers.raycluster_expectations import ScaleExpectations
from kuberay_py.controllers.raycluster_gcs_ft import (
    JOB_SELECTOR,
    REQUEUE,
    finishes_deletion,
    reconcile_gcs_ft,
)
from kuberay_py.controllers.raycluster_pods import reconcile_pods
from kuberay_py.controllers.raycluster_status_writes import StatusCoalescer, urgent_change
from kuberay_py.kube import (
    INGRESSES,
    JOBS,
    PODS,
    RAYCLUSTERS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    ApiError,
    Conflict,
)
from kuberay_py.runtime import (
    AnnotationChanged,
    Controller,
    ControllerBuilder,
    EventRecorder,
    GenerationChanged,
    LabelChanged,
    Manager,
    Or,
    Request,
    Result,
)

__all__ = [
    "CONTROLLER_NAME",
    "EVENT_SOURCE",
    "ClusterMetrics",
    "RayClusterReconciler",
    "add_raycluster_controller",
]

Obj = dict[str, Any]

#: The controller's name in metrics and logs (controller-runtime's lowercased kind).
CONTROLLER_NAME = "raycluster"
#: KubeRay's event recorder name (the Events' reportingController).
EVENT_SOURCE = "raycluster-controller"

log = structlog.get_logger("kuberay_py.raycluster")


class ClusterMetrics(Protocol):
    """KubeRay's RayCluster metrics (kuberay_py.controllers.metrics implements them)."""

    def observe(
        self, cluster: RayCluster, old: RayClusterStatus | None, new: RayClusterStatus
    ) -> None: ...

    def forget(self, name: str, namespace: str) -> None: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _structure_error(exc: Exception) -> str:
    """A bad shape in the stored object, said the way a user can find it."""
    if isinstance(exc, FieldError):
        return str(exc)  # names the field path
    try:
        problems = cattrs.transform_error(exc)
    except Exception:  # any failure here just means "say it plainly"
        problems = []
    return "; ".join(problems) if problems else str(exc)


def _becomes_suspended(old: RayClusterStatus | None, new: RayClusterStatus) -> bool:
    def suspended(status: RayClusterStatus | None) -> bool:
        conditions = (status.conditions if status else None) or []
        return any(
            x.get("type") == RAY_CLUSTER_SUSPENDED and x.get("status") == "True" for x in conditions
        )

    return suspended(new) and not suspended(old)


class RayClusterReconciler:
    """Reconciles one RayCluster per call; shared state is only expectations and
    which Warnings were already published."""

    def __init__(
        self,
        mgr: Manager,
        client: ClusterClient,
        config: OperatorConfig,
        *,
        recorder: EventRecorder | None = None,
        metrics: ClusterMetrics | None = None,
        clock: Callable[[], dt.datetime] = _now,
        token: TokenFactory = random_token,
        rng: random.Random | None = None,
    ) -> None:
        self.mgr = mgr
        self.cache = mgr.cache
        self.client = client
        self.config = config
        self.recorder = recorder or mgr.event_recorder(EVENT_SOURCE)
        self.metrics = metrics
        self.clock = clock
        self.token = token
        self.rng = rng or random.Random()
        self.expectations = ScaleExpectations(
            lambda ns, name: self.cache.get(PODS, name, ns, label_selector=POD_SELECTOR)
        )
        self.coalescer = StatusCoalescer()
        # ns/name -> ((uid, generation), {(reason, note)}): Warnings already published.
        self._warned: dict[str, tuple[Any, set[tuple[str, str]]]] = {}

    # ---------------------------------------------------------------- bookkeeping

    def _warned_before(self, obj: Obj) -> Callable[[str, str], bool]:
        """True (and nothing published) when this Warning was already published for
        the object's current uid and generation; a new generation publishes it again."""
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        version = (meta.get("uid"), meta.get("generation"))

        def seen(reason: str, note: str) -> bool:
            stamp, published = self._warned.get(key, (None, set()))
            if stamp != version:
                published = set()
                self._warned[key] = (version, published)
            if (reason, note) in published:
                return True
            published.add((reason, note))
            return False

        return seen

    # ---------------------------------------------------------------- reconcile

    async def reconcile(self, request: Request) -> Result | None:
        obj = self.cache.get(RAYCLUSTERS, request.name, request.namespace)
        if obj is None:
            self.expectations.forget_cluster(request.namespace, request.name)
            if self.metrics is not None:
                self.metrics.forget(request.name, request.namespace)
            self._warned.pop(request.key, None)
            self.coalescer.written(request.key)
            return None
        managed_by = (obj.get("spec") or {}).get("managedBy")
        if managed_by and managed_by != MANAGED_BY_KUBERAY:
            log.debug("skipping a RayCluster managed elsewhere", cluster=request.key, by=managed_by)
            return None
        ctx = self._context(obj)
        try:
            cluster = with_defaults(raycluster_from_dict(obj))
        except Exception as exc:  # any bad shape is the user's to fix
            why = _structure_error(exc)
            await ctx.event(
                "InvalidRayClusterSpec",
                f"The RayCluster spec is invalid {request.key}: {why}",
                "Validate",
                warning=True,
                once=True,
            )
            if finishes_deletion(obj):
                # Fixing the spec must not be the price of deleting the cluster.
                unreadable = f"the RayCluster spec cannot be read ({why})"
                return await self._gcs_ft(ctx, unreadable=unreadable)
            return None
        ctx.cluster = cluster
        invalid = await self._validate(ctx)
        if invalid is not None:
            if finishes_deletion(obj):
                return await self._gcs_ft(ctx) or invalid
            return invalid

        ft = await self._gcs_ft(ctx)
        if ft is not None:
            return ft
        if cluster.metadata.get("deletionTimestamp"):
            return None

        failure: ReconcileFailure | None = None
        try:
            await reconcile_children(ctx, self.token)
            await reconcile_pods(ctx, self.rng)
        except ReconcileError as exc:
            log.info("reconcile error", cluster=request.key, error=exc.message)
            failure = ReconcileFailure(exc.reason or "ReconcileError", exc.message)
        except BuildError as exc:
            log.warning("cannot build an object from the spec", cluster=request.key, error=str(exc))
            failure = ReconcileFailure("BuildError", str(exc))
        except ApiError as exc:
            log.warning("API error", cluster=request.key, error=str(exc))
            failure = ReconcileFailure("ApiError", error_text(exc))

        status_failed, retry_in = await self._write_status(ctx, failure)
        if failure is not None or status_failed:
            # KubeRay returns the error: controller-runtime then requeues with backoff.
            return Result(requeue=True)
        if retry_in is not None:
            # A status written (KubeRay requeues after 2 s then) or one still coalescing.
            return Result(requeue_after=retry_in)
        return Result(requeue_after=self.config.default_requeue_seconds)

    def _context(self, obj: Obj) -> ClusterContext:
        return ClusterContext(
            obj=obj,
            cluster=RayCluster(metadata=dict(obj.get("metadata") or {})),
            client=self.client,
            cache=self.cache,
            config=self.config,
            recorder=self.recorder,
            expectations=self.expectations,
            warned=self._warned_before(obj),
            log=log,
        )

    async def _validate(self, ctx: ClusterContext) -> Result | None:
        """KubeRay's validation order; a Result ends the pass."""
        c = ctx.cluster
        where = ctx.key
        if errors := validate_raycluster_metadata(c.metadata):
            await ctx.event(
                "InvalidRayClusterMetadata",
                f"The RayCluster metadata is invalid {where}: {errors[0]}",
                "Validate",
                warning=True,
                once=True,
            )
            return Result()
        # KubeRay's webhook rule, after its metadata check: we have no webhook, and two
        # groups of one name would count (and delete) each other's Pods.
        if errors := validate_unique_group_names(c.spec) or validate_raycluster_spec(
            c.spec, c.annotations, self.config
        ):
            await ctx.event(
                "InvalidRayClusterSpec",
                f"The RayCluster spec is invalid {where}: {errors[0]}",
                "Validate",
                warning=True,
                once=True,
            )
            return Result()
        for warning in raycluster_spec_warnings(c.spec):
            await ctx.event(
                "InvalidRayClusterSpec",
                f"RayCluster spec warning {where}: {warning}",
                "Validate",
                warning=True,
                once=True,
            )
        if c.spec.tls_options is not None:
            # Validation has let mTLS through (its gate is on), but we cannot issue the
            # certificates: KubeRay says the same when cert-manager is missing.
            await ctx.event(
                "InvalidRayClusterSpec",
                f"The RayCluster spec is invalid {where}: tlsOptions requires cert-manager, "
                "but cert-manager is not installed",
                "Validate",
                warning=True,
                once=True,
            )
            return Result()
        if errors := validate_raycluster_upgrade_options(c):
            await ctx.event(
                "InvalidRayClusterSpec",
                f"The RayCluster UpgradeStrategy is invalid {where}: {errors[0]}",
                "Validate",
                warning=True,
                once=True,
            )
            return Result()
        if errors := validate_raycluster_status(c.status):
            await ctx.event(
                "InvalidRayClusterStatus",
                f"The RayCluster status is invalid {where}, {errors[0]}",
                "Validate",
                warning=True,
                once=True,
            )
            return Result(requeue_after=REQUEUE)
        return None

    async def _gcs_ft(self, ctx: ClusterContext, *, unreadable: str | None = None) -> Result | None:
        try:
            return await reconcile_gcs_ft(ctx, self.clock(), unreadable=unreadable)
        except ApiError as exc:
            # A conflict means the cache was stale: the retry reads the fresh object.
            log.info("finalizer update failed", cluster=ctx.key, error=str(exc))
            return Result(requeue=True)

    async def _write_status(
        self, ctx: ClusterContext, failure: ReconcileFailure | None
    ) -> tuple[bool, float | None]:
        """(failed, retry_in): write the status through the status subresource when
        `status_changed` says a reader would see a difference, at once for an urgent
        change, else once it has waited out the coalescing window (`retry_in` says
        when to look again)."""
        c = ctx.cluster
        try:
            new = calculate_status(
                c,
                ctx.all_pods(),
                ctx.cluster_services(),
                failure=failure,
                now=_rfc3339(self.clock()),
                config=self.config,
            )
        except StatusError as exc:
            log.info("status not computed", cluster=ctx.key, reason=str(exc))
            return True, None
        if not status_changed(c.status, new):
            self.coalescer.written(ctx.key)
            return False, None
        if _becomes_suspended(c.status, new) and not self.expectations.cluster_satisfied(
            ctx.namespace, ctx.name
        ):
            # Pods we created that the cache does not show yet were not deleted (KubeRay's
            # DeleteAllOf would have reached them); Suspended would stop all Pod work and
            # leave them running. Wait until the cache shows them, then delete them.
            log.info("suspension waits for the cache to show created pods", cluster=ctx.key)
            return False, REQUEUE
        urgent = failure is not None or urgent_change(c.status, new)
        wait = self.coalescer.wait_for(ctx.key, urgent=urgent)
        if wait is not None:
            return False, wait
        body = {**ctx.obj, "status": converter.unstructure(new)}
        try:
            await self.client.replace(RAYCLUSTERS, body, ctx.namespace, subresource="status")
        except Conflict as exc:
            log.info("status update conflict; requeued", cluster=ctx.key, error=str(exc))
            return True, None
        except ApiError as exc:
            log.warning("status update failed", cluster=ctx.key, error=str(exc))
            return True, None
        self.coalescer.written(ctx.key)
        if self.metrics is not None:
            self.metrics.observe(c, c.status, new)
        return False, REQUEUE

    # ---------------------------------------------------------------- wiring

    def register(self, *, max_concurrent_reconciles: int = 1) -> Controller:
        """Watch RayClusters and what they own; index the caches this controller reads."""
        mgr = self.mgr
        for informer in mgr.informers_for(PODS, label_selector=POD_SELECTOR):
            informer.add_indexers({POD_INDEX: pod_index})
        for informer in mgr.informers_for(SERVICES):
            informer.add_indexers({SERVICE_INDEX: service_index})
        # The probe injector's stamp is an annotation: it must wake us as a spec
        # change does, while our own status writes (no generation change) must not.
        changed = Or(GenerationChanged(), LabelChanged(), AnnotationChanged())
        return (
            ControllerBuilder(mgr)
            .named(CONTROLLER_NAME)
            .for_(RAYCLUSTERS, predicates=[changed])
            .owns(PODS, label_selector=POD_SELECTOR)
            .owns(SERVICES)
            .owns(JOBS, label_selector=JOB_SELECTOR)
            .owns(SECRETS, label_selector=SECRET_SELECTOR)
            .owns(SERVICEACCOUNTS)
            .owns(ROLES)
            .owns(ROLEBINDINGS)
            .owns(INGRESSES)
            .with_options(max_concurrent_reconciles=max_concurrent_reconciles)
            .complete(self)
        )


def add_raycluster_controller(
    mgr: Manager,
    client: ClusterClient,
    config: OperatorConfig,
    *,
    max_concurrent_reconciles: int = 1,
) -> Controller:
    """Register the RayCluster controller with `mgr` (what an embedding operator calls)."""
    metrics = raycluster_metrics_for_manager(mgr)
    reconciler = RayClusterReconciler(mgr, client, config, metrics=metrics)
    return reconciler.register(max_concurrent_reconciles=max_concurrent_reconciles)
