"""Scale expectations: the RayCluster controller never acts on a cache that lags its writes.

A reconcile that creates three workers and is woken again before the Pod informer has
seen them would count three too few and create them again. As KubeRay does
(`expectations/scale_expectations.go`), every Pod we create or delete is recorded
under `namespace/cluster/group`; a group whose records the cache does not yet reflect
is skipped for that pass. The check reads the cache, not an event stream, so it is as
level-triggered as the reconcile: whatever woke us, the question is only "does the
cache show what we did?".

Differences from KubeRay, each to keep a lagging or lossy watch from wedging a group:
a deletion counts as observed once the cache shows the Pod terminating (it still counts
towards the group's size, so nothing is created early), and deletions time out like
creations do (30 s), so one lost DELETED event delays a group, never blocks it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["EXPECTATIONS_TIMEOUT", "HEAD_GROUP_KEY", "ScaleExpectations"]

#: KubeRay's ExpectationsTimeout.
EXPECTATIONS_TIMEOUT = 30.0
#: The head's group key (KubeRay's `expectations.HeadGroup`): no worker group may be "".
HEAD_GROUP_KEY = ""

Obj = dict[str, Any]
#: (namespace, pod name) -> the cached Pod, or None.
PodLookup = Callable[[str, str], Obj | None]


@attrs.define
class _Record:
    name: str
    create: bool
    uid: str
    at: float


class ScaleExpectations:
    """Pending creations and deletions per `namespace/cluster/group`."""

    def __init__(
        self,
        lookup: PodLookup,
        *,
        timeout: float = EXPECTATIONS_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self.timeout = timeout
        self._clock = clock
        self._groups: dict[tuple[str, str, str], dict[str, _Record]] = {}

    def expect_create(self, namespace: str, cluster: str, group: str, pod_name: str) -> None:
        self._add(namespace, cluster, group, _Record(pod_name, True, "", self._clock()))

    def expect_delete(
        self, namespace: str, cluster: str, group: str, pod_name: str, uid: str = ""
    ) -> None:
        """`uid` tells a same-named replacement (deterministic head name) from the old Pod."""
        self._add(namespace, cluster, group, _Record(pod_name, False, uid, self._clock()))

    def _add(self, namespace: str, cluster: str, group: str, record: _Record) -> None:
        self._groups.setdefault((namespace, cluster, group), {})[record.name] = record

    def _observed(self, namespace: str, record: _Record) -> bool:
        if self._clock() - record.at >= self.timeout:
            return True
        pod = self._lookup(namespace, record.name)
        if record.create:
            return pod is not None
        if pod is None:
            return True
        meta = pod.get("metadata") or {}
        if record.uid and meta.get("uid") != record.uid:
            return True
        return bool(meta.get("deletionTimestamp"))

    def satisfied(self, namespace: str, cluster: str, group: str) -> bool:
        """True when the cache reflects every recorded write of the group; observed
        records are dropped, so a satisfied group costs nothing on the next pass."""
        key = (namespace, cluster, group)
        records = self._groups.get(key)
        if not records:
            return True
        for name in [n for n, r in records.items() if self._observed(namespace, r)]:
            del records[name]
        if records:
            return False
        del self._groups[key]
        return True

    def cluster_satisfied(self, namespace: str, cluster: str) -> bool:
        """`satisfied` for every group of the cluster, the head included."""
        groups = [k[2] for k in self._groups if k[0] == namespace and k[1] == cluster]
        return all([self.satisfied(namespace, cluster, group) for group in groups])

    def pending(self, namespace: str, cluster: str, group: str) -> list[str]:
        """Pod names still awaited (for logs)."""
        return sorted(self._groups.get((namespace, cluster, group)) or ())

    def forget_cluster(self, namespace: str, cluster: str) -> None:
        """Drop every record of a cluster (it was deleted, or all its Pods were)."""
        for key in [k for k in self._groups if k[0] == namespace and k[1] == cluster]:
            del self._groups[key]
