"""The readiness-probe-injector controller: records, on each RayCluster, which probes
its Ray containers get, and for which generation.

KubeRay decides probes inside its pod builder. Here the decision is published on the
RayCluster (`ray.io/injected-probes`, `ray.io/probes-generation`) so that it is
visible, testable and owned by one controller; the RayCluster controller creates no
Pod until the stamp matches the current generation, then merges the decision in. The
user's spec is never rewritten and existing Pods are never touched: a new decision
applies to Pods created from then on, as a spec change does in KubeRay.

Switched off (operator-wide or with `ray.io/probe-injection: "false"`), the controller
removes a stamp left from when it was on. A stamp present must mean "computed while
injection was on, for this generation": were a stale one kept, switching injection
back on could let the RayCluster controller use it before this controller had looked
again (e.g. after a label change, which decides the Serve check but does not bump the
generation). Removal costs one write, once; absent annotations cost nothing.
"""

from __future__ import annotations

from typing import Any

import cattrs
import structlog

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    INJECTED_PROBES_ANNOTATION,
    MANAGED_BY_KUBERAY,
    PROBES_GENERATION_ANNOTATION,
)
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.builders.probes import decide_probes, encode_decision, probes_enabled
from kuberay_py.kube import RAYCLUSTERS, KubeClient, NotFound
from kuberay_py.runtime import (
    AnnotationChanged,
    Controller,
    ControllerBuilder,
    GenerationChanged,
    LabelChanged,
    Manager,
    Request,
    Result,
)

__all__ = ["CONTROLLER_NAME", "ProbeInjectorReconciler", "add_probe_injector_controller"]

log = structlog.get_logger(__name__)

CONTROLLER_NAME = "raycluster-probe-injector"

#: What structuring a malformed RayCluster raises (cattrs, or our hooks on a wrong type).
_BAD_SHAPE = (cattrs.BaseValidationError, TypeError, ValueError, AttributeError, KeyError)


def _stamp_patch(obj: dict[str, Any], config: OperatorConfig) -> dict[str, str | None] | None:
    """The annotation changes this cluster needs (None for a key = remove it); None when
    the cluster is not ours to stamp or cannot be read."""
    meta = obj.get("metadata")
    spec = obj.get("spec")
    if not isinstance(meta, dict) or meta.get("deletionTimestamp"):
        return None
    managed_by = spec.get("managedBy") if isinstance(spec, dict) else None
    if managed_by is not None and managed_by != MANAGED_BY_KUBERAY:
        return None  # another controller (e.g. MultiKueue) runs this cluster
    try:
        cluster = raycluster_from_dict(obj)
    except _BAD_SHAPE as exc:
        # Validation in the RayCluster controller tells the user; retrying here cannot
        # help until the spec changes, and a spec change enqueues the cluster again.
        log.warning(
            "cannot read RayCluster; no probe decision",
            namespace=meta.get("namespace"),
            name=meta.get("name"),
            error=str(exc),
        )
        return None
    current = cluster.annotations
    if not probes_enabled(cluster, config):
        keys = (INJECTED_PROBES_ANNOTATION, PROBES_GENERATION_ANNOTATION)
        return {key: None for key in keys if key in current}
    generation = meta.get("generation")
    if not isinstance(generation, int) or isinstance(generation, bool):
        log.warning(
            "RayCluster has no metadata.generation; no probe decision",
            namespace=meta.get("namespace"),
            name=meta.get("name"),
        )
        return None
    want = {
        INJECTED_PROBES_ANNOTATION: encode_decision(decide_probes(cluster, config)),
        PROBES_GENERATION_ANNOTATION: str(generation),
    }
    return {key: value for key, value in want.items() if current.get(key) != value}


class ProbeInjectorReconciler:
    """Stamps each RayCluster with its probe decision; reads the cache, writes only
    differences (an unchanged cluster costs no request)."""

    def __init__(self, mgr: Manager, client: KubeClient, config: OperatorConfig) -> None:
        self.mgr = mgr
        self.client = client
        self.config = config

    async def reconcile(self, request: Request) -> Result | None:
        obj = self.mgr.cache.get(RAYCLUSTERS, request.name, request.namespace)
        if obj is None:
            return None
        changes = _stamp_patch(obj, self.config)
        if not changes:
            return None
        # A merge patch of two annotations: no resourceVersion precondition is needed,
        # because the stamp names the generation the decision was computed for. If the
        # spec moved on meanwhile, the stamp is simply old and the next pass renews it.
        try:
            await self.client.patch(
                RAYCLUSTERS,
                request.name,
                {"metadata": {"annotations": changes}},
                request.namespace,
            )
        except NotFound:
            return None  # deleted since the cache saw it
        log.debug(
            "stamped probe decision",
            namespace=request.namespace,
            name=request.name,
            generation=changes.get(PROBES_GENERATION_ANNOTATION),
        )
        return None


def add_probe_injector_controller(
    mgr: Manager, client: KubeClient, config: OperatorConfig
) -> Controller:
    """Register the injector. It shares the RayCluster informer with the RayCluster
    controller; spec (generation), label and annotation changes wake it, status writes
    do not."""
    reconciler = ProbeInjectorReconciler(mgr, client, config)
    changed = GenerationChanged() | LabelChanged() | AnnotationChanged()
    return (
        ControllerBuilder(mgr)
        .named(CONTROLLER_NAME)
        .for_(RAYCLUSTERS, predicates=[changed])
        .with_options(max_concurrent_reconciles=1)
        .complete(reconciler)
    )
