"""KubeRay's RayCluster Prometheus metrics, with KubeRay's names, labels and help.

Dashboards and alerts written for KubeRay (Ray docs, "KubeRay metrics references")
query these series, so they are reproduced exactly:

- `kuberay_cluster_info{name,namespace,uid,owner_kind}` 1 per RayCluster, owner_kind
  from the `ray.io/originated-from-crd` label ("None" without it);
- `kuberay_cluster_condition_provisioned{name,namespace,uid,condition}` 1, condition
  "true"/"false" from RayClusterProvisioned;
- `kuberay_cluster_provisioned_duration_seconds{name,namespace,uid}`: seconds from
  creation to RayClusterProvisioned turning True, recorded when the operator writes that
  transition (so once, and again only after a suspension reset it).

Like KubeRay, the first two describe every RayCluster at scrape time: they are read from
the manager's informer cache when one is attached (`watch_cache`), so a cluster whose
status has not changed since the operator started is still reported. Without a cache
they come from what `observe` was told. One instance per CollectorRegistry
(`raycluster_metrics_for`), since a registry accepts each metric name once.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kuberay_py.api.constants import RAY_CLUSTER_PROVISIONED, RAY_ORIGINATED_FROM_CRD_LABEL
from kuberay_py.api.raycluster import RayCluster, RayClusterStatus
from kuberay_py.kube.resources import RAYCLUSTERS
from kuberay_py.runtime.cache import Cache, NotWatched
from kuberay_py.runtime.manager import Manager

__all__ = [
    "CLUSTER_CONDITION_PROVISIONED",
    "CLUSTER_INFO",
    "CLUSTER_PROVISIONED_DURATION",
    "RayClusterMetrics",
    "raycluster_metrics_for",
    "raycluster_metrics_for_manager",
]

CLUSTER_INFO = "kuberay_cluster_info"
CLUSTER_CONDITION_PROVISIONED = "kuberay_cluster_condition_provisioned"
CLUSTER_PROVISIONED_DURATION = "kuberay_cluster_provisioned_duration_seconds"

_INFO_HELP = "Metadata information about RayCluster custom resources"
_CONDITION_HELP = "Indicates whether the RayCluster is provisioned"
_DURATION_HELP = (
    "The time, in seconds, when a RayCluster's `RayClusterProvisioned` status "
    "transitions from false (or unset) to true"
)

AnyCluster = RayCluster | Mapping[str, Any]
AnyStatus = RayClusterStatus | Mapping[str, Any] | None


@attrs.frozen
class _Seen:
    """What the scrape needs of one RayCluster."""

    name: str
    namespace: str
    uid: str
    owner_kind: str
    provisioned: bool


def _metadata(cluster: AnyCluster) -> Mapping[str, Any]:
    if isinstance(cluster, RayCluster):
        return cluster.metadata
    return cluster.get("metadata") or {}


def _conditions(status: AnyStatus) -> list[Mapping[str, Any]]:
    if status is None:
        return []
    if isinstance(status, RayClusterStatus):
        return list(status.conditions or [])
    return list(status.get("conditions") or [])


def _provisioned_condition(status: AnyStatus) -> Mapping[str, Any] | None:
    for cond in _conditions(status):
        if cond.get("type") == RAY_CLUSTER_PROVISIONED and cond.get("status") == "True":
            return cond
    return None


def _seen(cluster: AnyCluster, status: AnyStatus) -> _Seen:
    meta = _metadata(cluster)
    labels = meta.get("labels") or {}
    return _Seen(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        # KubeRay: the label's value whenever the label exists, even if empty.
        owner_kind=str(labels[RAY_ORIGINATED_FROM_CRD_LABEL])
        if RAY_ORIGINATED_FROM_CRD_LABEL in labels
        else "None",
        provisioned=_provisioned_condition(status) is not None,
    )


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class _CacheSource:
    """RayClusters from a manager's cache, held weakly so a stopped manager (tests run
    many) does not live on in the process-wide registry."""

    def __init__(self, cache: Cache) -> None:
        self._cache = weakref.ref(cache)

    @property
    def alive(self) -> bool:
        return self._cache() is not None

    def clusters(self) -> list[dict[str, Any]]:
        cache = self._cache()
        if cache is None:
            return []
        try:
            return cache.list(RAYCLUSTERS)
        except NotWatched:  # the controller has not registered its informer yet
            return []


class RayClusterMetrics(Collector):
    """The three RayCluster metric families of one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = REGISTRY if registry is None else registry
        self._lock = threading.Lock()
        self._observed: dict[tuple[str, str], _Seen] = {}
        self._durations: dict[tuple[str, str, str], float] = {}
        self._sources: list[_CacheSource] = []
        self.registry.register(self)

    # ------------------------------------------------------------------ feeding

    def watch_cache(self, cache: Cache) -> None:
        """Describe every RayCluster in `cache` at scrape time, as KubeRay lists them."""
        with self._lock:
            self._sources = [s for s in self._sources if s.alive]
            self._sources.append(_CacheSource(cache))

    def observe(self, cluster: AnyCluster, old: AnyStatus, new: AnyStatus) -> None:
        """Record a status the operator has just written (`old` is what it replaced).

        A RayClusterProvisioned that was not True before and is True now records the
        provisioning duration: creation to the condition's lastTransitionTime, the
        moment the operator saw every pod ready.
        """
        seen = _seen(cluster, new)
        with self._lock:
            self._observed[(seen.namespace, seen.name)] = seen
        became = _provisioned_condition(new)
        if became is None or _provisioned_condition(old) is not None:
            return
        created = _time(_metadata(cluster).get("creationTimestamp"))
        provisioned_at = _time(became.get("lastTransitionTime"))
        if created is None or provisioned_at is None:
            return
        seconds = max(0.0, (provisioned_at - created).total_seconds())
        with self._lock:
            self._durations[(seen.name, seen.namespace, seen.uid)] = seconds

    def forget(self, name: str, namespace: str) -> None:
        """Drop a deleted RayCluster's series (KubeRay's DeleteRayClusterMetrics order)."""
        with self._lock:
            self._observed.pop((namespace, name), None)
            for key in [k for k in self._durations if k[:2] == (name, namespace)]:
                del self._durations[key]

    # ------------------------------------------------------------------ scraping

    def _clusters(self) -> list[_Seen]:
        with self._lock:
            sources = [s for s in self._sources if s.alive]
            observed = list(self._observed.values())
        if not sources:
            return observed
        found: dict[str, _Seen] = {}
        for source in sources:
            for obj in source.clusters():
                seen = _seen(obj, obj.get("status"))
                found.setdefault(f"{seen.namespace}/{seen.name}/{seen.uid}", seen)
        return list(found.values())

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                CLUSTER_PROVISIONED_DURATION, _DURATION_HELP, labels=["name", "namespace", "uid"]
            ),
            GaugeMetricFamily(
                CLUSTER_INFO, _INFO_HELP, labels=["name", "namespace", "uid", "owner_kind"]
            ),
            GaugeMetricFamily(
                CLUSTER_CONDITION_PROVISIONED,
                _CONDITION_HELP,
                labels=["name", "namespace", "uid", "condition"],
            ),
        )

    def describe(self) -> Iterable[Metric]:
        # Names only, so the registry refuses a second instance instead of
        # exporting every series twice.
        return self._families()

    def collect(self) -> Iterator[Metric]:
        duration, info, condition = self._families()
        with self._lock:
            durations = sorted(self._durations.items())
        for (name, namespace, uid), seconds in durations:
            duration.add_metric([name, namespace, uid], seconds)
        for seen in sorted(self._clusters(), key=lambda s: (s.namespace, s.name, s.uid)):
            info.add_metric([seen.name, seen.namespace, seen.uid, seen.owner_kind], 1)
            flag = "true" if seen.provisioned else "false"
            condition.add_metric([seen.name, seen.namespace, seen.uid, flag], 1)
        yield duration
        yield info
        yield condition


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, RayClusterMetrics] = (
    weakref.WeakKeyDictionary()
)
_CREATE_LOCK = threading.Lock()


def raycluster_metrics_for(registry: CollectorRegistry | None = None) -> RayClusterMetrics:
    """The RayCluster metrics of `registry` (default: prometheus_client's global one)."""
    reg = REGISTRY if registry is None else registry
    with _CREATE_LOCK:
        found = _BY_REGISTRY.get(reg)
        if found is None:
            found = RayClusterMetrics(reg)
            _BY_REGISTRY[reg] = found
        return found


def raycluster_metrics_for_manager(mgr: Manager) -> RayClusterMetrics:
    """The metrics in the registry `mgr` serves on /metrics, describing its cache."""
    metrics = raycluster_metrics_for(mgr.registry)
    metrics.watch_cache(mgr.cache)
    return metrics
