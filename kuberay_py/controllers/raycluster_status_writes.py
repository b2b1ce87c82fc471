"""When a RayCluster's new status is worth a write now, and when it can wait a moment.

KubeRay writes the status whenever `InconsistentRayClusterStatus` says it changed, so a
cluster coming up writes once per step of every Pod (scheduled, running, ready...).
Readers care about some changes at once and only about the latest value of others:

- at once: `state` and `reason`, a ReplicaFailure, the Suspending/Suspended conditions
  (suspension is a two-step protocol through them), and any pass that failed;
- coalesced: progress only (counts of available/ready workers, HeadPodReady while
  Pods start, endpoints, head IPs, a first status). Such a change is written once it
  has been pending for `COALESCE_SECONDS`, or with the next immediate change, so a
  burst of Pod transitions costs one write instead of one per transition.

The delay is bounded and the pass that finds it is requeued to the end of the window,
so a coalesced change is never lost and at most `COALESCE_SECONDS` late: two seconds,
KubeRay's own requeue period after a status change. On the sandbox a 1 head + 2 worker
cluster then comes up with one status write (10 writes in all, issue 5's budget).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kuberay_py.api.constants import RAY_CLUSTER_SUSPENDED, RAY_CLUSTER_SUSPENDING, REPLICA_FAILURE
from kuberay_py.api.raycluster import RayClusterStatus

__all__ = ["COALESCE_SECONDS", "StatusCoalescer", "urgent_change"]

#: KubeRay's DefaultRequeueDuration: no reader of KubeRay's status expects it fresher.
COALESCE_SECONDS = 2.0


def _true(conditions: Iterable[Mapping[str, Any]] | None, ctype: str) -> tuple[bool, str]:
    for cond in conditions or ():
        if cond.get("type") == ctype:
            truth = cond.get("status") == "True"
            return truth, str(cond.get("reason") or "") if truth else ""
    return False, ""


def urgent_change(old: RayClusterStatus | None, new: RayClusterStatus) -> bool:
    """A change a reader (or our own suspend protocol) must see without delay."""
    before = old or RayClusterStatus()
    if (before.state or "", before.reason or "") != (new.state or "", new.reason or ""):
        return True
    return any(
        _true(before.conditions, ctype) != _true(new.conditions, ctype)
        for ctype in (REPLICA_FAILURE, RAY_CLUSTER_SUSPENDING, RAY_CLUSTER_SUSPENDED)
    )


class StatusCoalescer:
    """Per cluster, since when a progress-only change has been waiting to be written."""

    def __init__(
        self, window: float = COALESCE_SECONDS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self._clock = clock
        self._since: dict[str, float] = {}

    def wait_for(self, key: str, *, urgent: bool) -> float | None:
        """None: write now. Else the seconds to wait before writing this change."""
        if urgent:
            return None
        now = self._clock()
        since = self._since.setdefault(key, now)
        left = since + self.window - now
        return left if left > 0 else None

    def written(self, key: str) -> None:
        """The status was written (or nothing is pending any more)."""
        self._since.pop(key, None)
