"""The RayCluster controller's small parts on their own: scale expectations, status
write coalescing, the GCS FT deletion timeout and Go's duration spelling."""

from __future__ import annotations

from typing import Any

from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayClusterStatus
from kuberay_py.controllers.raycluster_expectations import ScaleExpectations
from kuberay_py.controllers.raycluster_gcs_ft import deletion_timeout, gcs_ft_enabled, go_duration
from kuberay_py.controllers.raycluster_status_writes import StatusCoalescer, urgent_change

Obj = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pod(name: str, *, uid: str = "u1", terminating: bool = False) -> Obj:
    meta: Obj = {"name": name, "uid": uid}
    if terminating:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": meta}


# ---------------------------------------------------------------- expectations


def test_a_create_is_awaited_until_the_cache_shows_the_pod() -> None:
    cache: dict[str, Obj] = {}
    exp = ScaleExpectations(lambda ns, name: cache.get(name), clock=Clock())
    exp.expect_create("ns", "rc", "g", "p1")
    assert not exp.satisfied("ns", "rc", "g")
    assert exp.satisfied("ns", "rc", "other")  # groups are independent
    assert exp.pending("ns", "rc", "g") == ["p1"]
    cache["p1"] = _pod("p1")
    assert exp.satisfied("ns", "rc", "g")
    del cache["p1"]
    assert exp.satisfied("ns", "rc", "g")  # observed records are dropped


def test_a_delete_is_observed_when_the_pod_is_gone_terminating_or_replaced() -> None:
    cache: dict[str, Obj] = {"p1": _pod("p1", uid="old")}
    exp = ScaleExpectations(lambda ns, name: cache.get(name), clock=Clock())
    exp.expect_delete("ns", "rc", "", "p1", "old")
    assert not exp.satisfied("ns", "rc", "")
    cache["p1"] = _pod("p1", uid="old", terminating=True)
    assert exp.satisfied("ns", "rc", "")
    exp.expect_delete("ns", "rc", "", "p1", "old")
    cache["p1"] = _pod("p1", uid="new")  # a deterministic head name, recreated
    assert exp.satisfied("ns", "rc", "")
    exp.expect_delete("ns", "rc", "", "p1", "new")
    del cache["p1"]
    assert exp.satisfied("ns", "rc", "")


def test_expectations_time_out_so_a_lost_event_cannot_wedge_a_group() -> None:
    clock = Clock()
    exp = ScaleExpectations(lambda ns, name: None, clock=clock, timeout=30)
    exp.expect_create("ns", "rc", "g", "lost")
    clock.now += 29.9
    assert not exp.satisfied("ns", "rc", "g")
    clock.now += 0.1
    assert exp.satisfied("ns", "rc", "g")


def test_forgetting_a_cluster_drops_only_its_records() -> None:
    exp = ScaleExpectations(lambda ns, name: None, clock=Clock())
    exp.expect_create("ns", "rc", "g", "a")
    exp.expect_create("ns", "other", "g", "b")
    exp.forget_cluster("ns", "rc")
    assert exp.satisfied("ns", "rc", "g")
    assert not exp.satisfied("ns", "other", "g")


# ---------------------------------------------------------------- status coalescing


def _status(**kw: Any) -> RayClusterStatus:
    return RayClusterStatus(**kw)


def _cond(ctype: str, status: str, reason: str = "R") -> Obj:
    return {"type": ctype, "status": status, "reason": reason}


def test_state_failures_and_suspension_are_urgent_progress_is_not() -> None:
    old = _status(state="ready", available_worker_replicas=2)
    assert not urgent_change(old, _status(state="ready", available_worker_replicas=1))
    assert not urgent_change(None, _status(conditions=[_cond("HeadPodReady", "False")]))
    # Absent and False read the same for the conditions that matter.
    assert not urgent_change(None, _status(conditions=[_cond("RayClusterSuspended", "False")]))
    assert urgent_change(old, _status(state="suspended"))
    assert urgent_change(None, _status(state="ready"))
    failing = _status(state="ready", conditions=[_cond("ReplicaFailure", "True", "A")])
    assert urgent_change(old, failing)
    other = _status(state="ready", conditions=[_cond("ReplicaFailure", "True", "B")])
    assert urgent_change(failing, other)
    suspending = _status(state="ready", conditions=[_cond("RayClusterSuspending", "True")])
    assert urgent_change(old, suspending)


def test_progress_waits_out_the_window_from_when_it_was_first_seen() -> None:
    clock = Clock()
    co = StatusCoalescer(1.0, clock=clock)
    assert co.wait_for("k", urgent=True) is None
    assert co.wait_for("k", urgent=False) == 1.0
    clock.now += 0.4
    left = co.wait_for("k", urgent=False)
    assert left is not None and abs(left - 0.6) < 1e-9
    clock.now += 0.6
    assert co.wait_for("k", urgent=False) is None
    co.written("k")
    assert co.wait_for("k", urgent=False) == 1.0  # a new window after a write


# ---------------------------------------------------------------- GCS FT


def _cluster(annotations: dict[str, str], **spec: Any) -> Any:
    return raycluster_from_dict(
        {"metadata": {"name": "rc", "annotations": annotations}, "spec": spec}
    )


def test_deletion_timeout_from_the_annotation_else_the_default() -> None:
    key = "ray.io/gcs-ft-deletion-timeout"
    assert deletion_timeout(_cluster({key: "120"}), 300) == 120
    assert deletion_timeout(_cluster({key: "abc"}), 300) == 300
    assert deletion_timeout(_cluster({key: "0"}), 300) == 300
    assert deletion_timeout(_cluster({key: "-5"}), 300) == 300
    assert deletion_timeout(_cluster({}), 45) == 45


def test_gcs_ft_is_on_with_the_annotation_or_the_options() -> None:
    assert gcs_ft_enabled(_cluster({"ray.io/ft-enabled": "True"}))
    assert not gcs_ft_enabled(_cluster({"ray.io/ft-enabled": "false"}))
    assert gcs_ft_enabled(_cluster({}, gcsFaultToleranceOptions={"redisAddress": "r:6379"}))
    assert not gcs_ft_enabled(_cluster({}))


def test_durations_are_spelled_as_go_prints_them() -> None:
    assert go_duration(0) == "0s"
    assert go_duration(0.75) == "750ms"
    assert go_duration(5) == "5s"
    assert go_duration(300.5) == "5m0.5s"
    assert go_duration(3723) == "1h2m3s"
    assert go_duration(90.25) == "1m30.25s"
