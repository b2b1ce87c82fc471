"""What one RayCluster reconcile pass carries between its sub-reconcilers.

The sub-reconcilers (children, pods, GCS fault tolerance) are separate modules so each
stays small; they share this context: the cluster as read from the cache, the client
they write through, the cache they read from, events, and the scale expectations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import structlog

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    NODE_TYPE_HEAD,
    NODE_TYPE_WORKER,
    RAY_CLUSTER_LABEL,
    RAY_HEADLESS_WORKER_SVC_LABEL,
    RAY_NODE_GROUP_LABEL,
    RAY_NODE_TYPE_LABEL,
)
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.controllers.raycluster_expectations import ScaleExpectations
from kuberay_py.kube import PODS, SERVICES, ApiError, Resource
from kuberay_py.runtime import Cache, EventRecorder

__all__ = [
    "POD_INDEX",
    "POD_SELECTOR",
    "SERVICE_INDEX",
    "ClusterClient",
    "ClusterContext",
    "ReconcileError",
    "error_text",
    "is_terminating",
    "pod_index",
    "service_index",
]

Obj = dict[str, Any]

#: The Pod informer's selector. KubeRay's manager caches only Pods whose
#: `ray.io/node-type` is head, worker or redis-cleanup; an existence selector keeps the
#: same Pods (no other Pod carries the label) and every client and fake understands it.
POD_SELECTOR = RAY_NODE_TYPE_LABEL
#: Cached Pods of one cluster: `namespace/cluster`.
POD_INDEX = "raycluster-pods"
#: Cached Services of one cluster: `c:namespace/cluster` (the `ray.io/cluster` label)
#: and `h:namespace/cluster` (the headless worker Service's label).
SERVICE_INDEX = "raycluster-services"


def _labels(obj: Obj) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _ns(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def pod_index(obj: Obj) -> list[str]:
    """Index function: a Pod under `namespace/<ray.io/cluster>`."""
    cluster = _labels(obj).get(RAY_CLUSTER_LABEL)
    return [f"{_ns(obj)}/{cluster}"] if cluster else []


def service_index(obj: Obj) -> list[str]:
    """Index function: a Service under its cluster label and its headless-worker label."""
    labels = _labels(obj)
    keys = []
    if cluster := labels.get(RAY_CLUSTER_LABEL):
        keys.append(f"c:{_ns(obj)}/{cluster}")
    if headless := labels.get(RAY_HEADLESS_WORKER_SVC_LABEL):
        keys.append(f"h:{_ns(obj)}/{headless}")
    return keys


def is_terminating(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def error_text(exc: BaseException) -> str:
    """An API error as Go's client prints it (the Status message), else the exception."""
    if isinstance(exc, ApiError) and exc.message:
        return exc.message
    return str(exc)


class ReconcileError(Exception):
    """A sub-reconciler could not converge this pass.

    `reason` is set when Pods could not be created or deleted: it becomes the
    ReplicaFailure condition's reason (KubeRay's FailedCreateHeadPod, ...).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class ClusterClient(Protocol):
    """The writes the controller makes, and the rare live read that settles whether
    a cache miss is only lag (kuberay_py.kube.KubeClient satisfies it)."""

    async def get(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def create(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def replace(
        self,
        res: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: Any = ...,
    ) -> dict[str, Any]: ...

    async def delete(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...


@attrs.define
class ClusterContext:
    """One pass over one RayCluster. `obj` is the cached dict: never mutate it."""

    obj: Obj
    cluster: RayCluster
    client: ClusterClient
    cache: Cache
    config: OperatorConfig
    recorder: EventRecorder
    expectations: ScaleExpectations
    #: Suppresses a Warning already published for this (reason, note) at this generation.
    warned: Callable[[str, str], bool] = attrs.field(default=lambda reason, note: False)
    log: Any = attrs.field(factory=lambda: structlog.get_logger("kuberay_py.raycluster"))

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def namespace(self) -> str:
        return self.cluster.namespace

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def event(
        self, reason: str, note: str, action: str, *, warning: bool = False, once: bool = False
    ) -> None:
        """Publish an Event about the cluster. `once`: a Warning that would repeat on
        every pass (same spec, same problem) is published once per generation."""
        if once and self.warned(reason, note):
            return
        await self.recorder.publish(
            self.obj,
            reason=reason,
            note=note,
            action=action,
            type="Warning" if warning else "Normal",
        )

    # ---------------------------------------------------------------- cache reads

    def pods_with(self, labels: Mapping[str, str]) -> list[Obj]:
        """The cluster's cached Pods carrying all `labels`, by name (a stable order)."""
        pods = self.cache.list(
            PODS, self.namespace, label_selector=POD_SELECTOR, index=(POD_INDEX, self.key)
        )
        out = [p for p in pods if all(_labels(p).get(k) == v for k, v in labels.items())]
        out.sort(key=lambda p: str((p.get("metadata") or {}).get("name") or ""))
        return out

    def all_pods(self) -> list[Obj]:
        return self.pods_with({})

    def head_pods(self) -> list[Obj]:
        return self.pods_with({RAY_NODE_TYPE_LABEL: NODE_TYPE_HEAD})

    def worker_pods(self) -> list[Obj]:
        return self.pods_with({RAY_NODE_TYPE_LABEL: NODE_TYPE_WORKER})

    def group_pods(self, group: str) -> list[Obj]:
        """KubeRay selects a group's Pods by cluster and group label only."""
        return self.pods_with({RAY_NODE_GROUP_LABEL: group})

    def pod(self, name: str) -> Obj | None:
        return self.cache.get(PODS, name, self.namespace, label_selector=POD_SELECTOR)

    def cluster_services(self) -> list[Obj]:
        return self.cache.list(SERVICES, self.namespace, index=(SERVICE_INDEX, f"c:{self.key}"))

    def headless_services(self) -> list[Obj]:
        return self.cache.list(SERVICES, self.namespace, index=(SERVICE_INDEX, f"h:{self.key}"))

    def service(self, name: str) -> Obj | None:
        return self.cache.get(SERVICES, name, self.namespace)

    def get(
        self, resource: Resource, name: str, *, label_selector: str | None = None
    ) -> Obj | None:
        return self.cache.get(resource, name, self.namespace, label_selector=label_selector)
