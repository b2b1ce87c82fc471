"""RayCluster status: KubeRay's calculateStatus cases (reference §7.3, §7.5, §7.7), the
reasons that name what blocks the head, and the absence of churn between passes."""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import attrs
import pytest

from kuberay_py.api.config import FeatureGates, OperatorConfig
from kuberay_py.api.convert import converter, raycluster_from_dict
from kuberay_py.api.quantity import format_quantity, quantity_format
from kuberay_py.api.raycluster import HeadInfo, RayCluster, RayClusterStatus, WorkerGroupSpec
from kuberay_py.builders.raycluster_status import (
    MAX_INT32,
    ReconcileFailure,
    StatusError,
    calculate_status,
    cluster_max_worker_replicas,
    cluster_min_worker_replicas,
    desired_resources,
    desired_worker_replicas,
    head_pod_ready,
    head_service_endpoints,
    status_changed,
)

NAME = "raycluster-sample"
NS = "default"
T0 = "2025-01-01T00:00:00Z"
T1 = "2025-01-01T00:01:00Z"
T2 = "2025-01-01T00:02:00Z"
T3 = "2025-01-01T00:03:00Z"
CONFIG = OperatorConfig()
NO_CONDITIONS = OperatorConfig(gates=FeatureGates(ray_cluster_status_conditions=False))


def make_cluster(
    *, replicas: int | None = 3, suspend: bool | None = None, **group: Any
) -> RayCluster:
    worker: dict[str, Any] = {
        "groupName": "small-group",
        "minReplicas": 0,
        "maxReplicas": 4,
        "numOfHosts": 1,
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-worker", "image": "ray:2.46"}]}},
    }
    if replicas is not None:
        worker["replicas"] = replicas
    worker.update(group)
    spec: dict[str, Any] = {
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray:2.46"}]}},
        },
        "workerGroupSpecs": [worker],
    }
    if suspend is not None:
        spec["suspend"] = suspend
    return raycluster_from_dict(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": NAME, "namespace": NS, "uid": "uid-1", "generation": 1},
            "spec": spec,
        }
    )


def make_pod(
    name: str,
    node_type: str,
    *,
    phase: str = "Running",
    ready: str | None = "True",
    ip: str = "",
    cluster: str = NAME,
    **status: Any,
) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    body: dict[str, Any] = {"phase": phase, "conditions": conditions, **status}
    if ip:
        body["podIP"] = ip
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"ray.io/cluster": cluster, "ray.io/node-type": node_type},
        },
        "status": body,
    }


def head_pod(**kw: Any) -> dict[str, Any]:
    return make_pod("raycluster-sample-head-x7k2p", "head", ip="10.244.0.5", **kw)


def workers(n: int, **kw: Any) -> list[dict[str, Any]]:
    return [make_pod(f"raycluster-sample-small-group-worker-{i}", "worker", **kw) for i in range(n)]


PORTS = [
    {"name": "client", "port": 10001, "targetPort": 10001},
    {"name": "dashboard", "port": 8265, "targetPort": 8265},
    {"name": "metrics", "port": 8080, "targetPort": 8080},
    {"name": "gcs-server", "port": 6379, "targetPort": 6379},
    {"name": "serve", "port": 8000, "targetPort": 8000},
]
ENDPOINTS = {
    "client": "10001",
    "dashboard": "8265",
    "metrics": "8080",
    "gcs-server": "6379",
    "serve": "8000",
}


def head_service(cluster_ip: str = "10.96.0.10", ports: list[dict[str, Any]] | None = None) -> dict:
    return {
        "metadata": {
            "name": f"{NAME}-head-svc",
            "namespace": NS,
            "labels": {"ray.io/cluster": NAME, "ray.io/node-type": "head"},
        },
        "spec": {"clusterIP": cluster_ip, "ports": PORTS if ports is None else ports},
    }


def cond(status: RayClusterStatus, ctype: str) -> dict[str, Any]:
    found = [c for c in status.conditions or [] if c["type"] == ctype]
    assert len(found) == 1, f"{ctype} in {status.conditions}"
    return found[0]


def has_cond(status: RayClusterStatus, ctype: str) -> bool:
    return any(c["type"] == ctype for c in status.conditions or [])


def with_status(c: RayCluster, status: RayClusterStatus) -> RayCluster:
    """The cluster as the next pass reads it back: status through the wire format."""
    wire = converter.unstructure(status)
    return attrs.evolve(c, status=converter.structure(copy.deepcopy(wire), RayClusterStatus))


def calc(
    c: RayCluster,
    pods: list[dict[str, Any]],
    services: list[dict[str, Any]] | None = None,
    *,
    failure: ReconcileFailure | None = None,
    now: str = T0,
    config: OperatorConfig = CONFIG,
) -> RayClusterStatus:
    svcs = [head_service()] if services is None else services
    return calculate_status(c, pods, svcs, failure=failure, now=now, config=config)


# ------------------------------------------------------------------ TestCalculateStatus


def test_head_info_ready_state_and_transition_time() -> None:
    c = make_cluster()
    status = calc(c, [head_pod(), *workers(3)], [head_service("10.96.0.10")])
    assert status.head == HeadInfo(
        pod_ip="10.244.0.5",
        pod_name="raycluster-sample-head-x7k2p",
        service_ip="10.96.0.10",
        service_name="raycluster-sample-head-svc",
    )
    assert status.state == "ready"
    assert status.state_transition_times == {"ready": T0}
    assert status.last_update_time == status.state_transition_times["ready"]
    assert status.observed_generation == 1
    assert (status.ready_worker_replicas, status.available_worker_replicas) == (3, 3)
    assert (status.desired_worker_replicas, status.min_worker_replicas) == (3, None)
    assert status.max_worker_replicas == 4


def test_feature_gate_off_leaves_conditions_alone() -> None:
    c = make_cluster()
    failure = ReconcileFailure("FailedCreateHeadPod", "invalid")
    status = calc(c, [head_pod(), *workers(3)], failure=failure, config=NO_CONDITIONS)
    assert status.conditions is None


def test_head_pod_ready_follows_the_pod_and_failure_sets_replica_failure() -> None:
    c = make_cluster()
    ready = calc(c, [head_pod(), *workers(3)])
    assert cond(ready, "HeadPodReady")["status"] == "True"
    assert cond(ready, "HeadPodReady")["reason"] == "HeadPodRunningAndReady"
    assert not has_cond(ready, "ReplicaFailure")

    unready = calc(c, [head_pod(ready="False")])
    assert cond(unready, "HeadPodReady")["status"] == "False"

    failed = calc(c, [head_pod(phase="Failed", ready="False")])
    assert cond(failed, "HeadPodReady")["status"] == "False"

    err = calc(c, [head_pod()], failure=ReconcileFailure("FailedCreateHeadPod", "invalid"))
    rf = cond(err, "ReplicaFailure")
    assert (rf["status"], rf["reason"], rf["message"]) == (
        "True",
        "FailedCreateHeadPod",
        "FailedCreateHeadPod\ninvalid",
    )
    # A clean pass removes it again.
    assert not has_cond(calc(with_status(c, err), [head_pod()], now=T1), "ReplicaFailure")


def test_not_ready_while_pod_count_differs_from_desired() -> None:
    status = calc(make_cluster(), [head_pod()])
    assert status.desired_worker_replicas == 3
    assert status.ready_worker_replicas is None  # zero is omitted, as Go's omitempty does
    assert status.state is None
    assert status.reason is None
    assert status.state_transition_times is None


def test_suspended_worker_groups_count_nothing() -> None:
    c = make_cluster(
        suspend=None,
        minReplicas=100,
        maxReplicas=100,
        template={
            "spec": {
                "containers": [
                    {"name": "w", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}
                ]
            }
        },
    )
    c.spec.worker_group_specs[0].suspend = True  # type: ignore[index]
    status = calc(c, [head_pod()])
    assert status.desired_worker_replicas is None
    assert status.min_worker_replicas is None
    assert status.max_worker_replicas is None
    assert (status.desired_cpu, status.desired_memory) == ("0", "0")
    assert status.state == "ready"
    assert status.state_transition_times == {"ready": T0}


def test_a_failure_blocks_ready_but_never_takes_it_away() -> None:
    c = make_cluster()
    pods = [head_pod(), *workers(3)]
    other = ReconcileFailure("FailedToCreateService", "boom")
    first = calc(c, pods, failure=other, now=T0)
    assert first.ready_worker_replicas == first.desired_worker_replicas == 3
    assert first.state is None
    assert first.state_transition_times is None
    assert not has_cond(first, "ReplicaFailure")  # not a pod failure: no condition

    second = calc(with_status(c, first), pods, now=T1)
    assert second.state == "ready"
    assert second.state_transition_times == {"ready": T1}

    third = calc(with_status(c, second), pods, failure=other, now=T2)
    assert third.state == "ready"
    assert third.state_transition_times == {"ready": T1}


def test_a_non_pod_failure_keeps_an_existing_replica_failure() -> None:
    c = make_cluster()
    first = calc(c, [head_pod()], failure=ReconcileFailure("FailedCreateWorkerPod", "quota"))
    second = calc(with_status(c, first), [head_pod()], failure=ReconcileFailure("X", "y"))
    assert cond(second, "ReplicaFailure") == cond(first, "ReplicaFailure")


def test_state_transition_time_unchanged_without_state_change() -> None:
    c = make_cluster(replicas=0)
    c.status = RayClusterStatus(state="ready", state_transition_times={"ready": T0})
    status = calc(c, [head_pod(ready=None)], now=T3)
    assert status.state == "ready"
    assert status.state_transition_times == {"ready": T0}


def test_provisioned_goes_true_once_and_stays() -> None:
    c = make_cluster(replicas=1)
    unready = [head_pod(ready="False"), *workers(1, ready="False")]
    s1 = calc(c, unready, now=T0)
    p1 = cond(s1, "RayClusterProvisioned")
    assert (p1["status"], p1["reason"], p1["message"]) == (
        "False",
        "RayClusterPodsProvisioning",
        "RayCluster Pods are being provisioned for first time",
    )
    s2 = calc(with_status(c, s1), [head_pod(), *workers(1)], now=T1)
    p2 = cond(s2, "RayClusterProvisioned")
    assert (p2["status"], p2["reason"], p2["message"], p2["lastTransitionTime"]) == (
        "True",
        "AllPodRunningAndReadyFirstTime",
        "All Ray Pods are ready for the first time",
        T1,
    )
    s3 = calc(with_status(c, s2), [head_pod(), *workers(1, ready="False")], now=T2)
    assert cond(s3, "RayClusterProvisioned") == p2
    s4 = calc(with_status(c, s3), unready, now=T3)
    assert cond(s4, "RayClusterProvisioned") == p2
    assert s4.state == "ready"  # ready never goes back either
    assert cond(s4, "HeadPodReady")["status"] == "False"


def test_head_pod_not_found() -> None:
    status = calc(make_cluster(), [])
    hp = cond(status, "HeadPodReady")
    assert (hp["status"], hp["reason"], hp["message"]) == (
        "False",
        "HeadPodNotFound",
        "Head Pod not found",
    )
    assert status.head is not None
    assert (status.head.pod_ip, status.head.pod_name) == (None, None)


def test_conditions_carry_generation_and_wire_shape() -> None:
    status = calc(make_cluster(), [head_pod(), *workers(3)])
    for c in status.conditions or []:
        assert set(c) == {
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        }
        assert c["observedGeneration"] == 1
        assert c["lastTransitionTime"] == T0
    types = [c["type"] for c in status.conditions or []]
    assert types == [
        "HeadPodReady",
        "RayClusterProvisioned",
        "RayClusterSuspended",
        "RayClusterSuspending",
    ]


# ------------------------------------------------------------------------- suspension


def test_suspend_and_resume_state_machine() -> None:
    running = [head_pod(), *workers(3)]
    c = make_cluster()
    s = calc(c, running, now=T0)
    assert cond(s, "RayClusterSuspending")["status"] == "False"
    assert cond(s, "RayClusterSuspended")["status"] == "False"

    # spec.suspend: Suspending goes True while pods still exist.
    c = attrs.evolve(with_status(c, s), spec=attrs.evolve(c.spec, suspend=True))
    s = calc(c, running, now=T1)
    assert cond(s, "RayClusterSuspending")["status"] == "True"
    assert cond(s, "RayClusterSuspended")["status"] == "False"
    assert s.state == "ready"

    # All pods gone: Suspending False, Suspended True, Provisioned reset, state suspended.
    c = with_status(c, s)
    s = calc(c, [], now=T2)
    assert cond(s, "RayClusterSuspending")["status"] == "False"
    suspended = cond(s, "RayClusterSuspended")
    assert (suspended["status"], suspended["reason"]) == ("True", "RayClusterSuspended")
    prov = cond(s, "RayClusterProvisioned")
    assert (prov["status"], prov["reason"], prov["message"]) == (
        "False",
        "RayClusterPodsProvisioning",
        "RayCluster has been suspended",
    )
    assert cond(s, "HeadPodReady")["reason"] == "HeadPodNotFound"
    assert s.state == "suspended"
    assert s.state_transition_times == {"ready": T0, "suspended": T2}

    # Still suspended: nothing moves (Provisioned not recomputed while Suspended).
    c = with_status(c, s)
    again = calc(c, [], now=T3)
    assert again == s

    # Resume: Suspended False; pods come back and everything is provisioned again.
    c = attrs.evolve(c, spec=attrs.evolve(c.spec, suspend=False))
    s = calc(c, [], now=T3)
    assert cond(s, "RayClusterSuspended")["status"] == "False"
    assert s.state == "suspended"
    c = with_status(c, s)
    s = calc(c, running, now="2025-01-01T00:04:00Z")
    assert cond(s, "RayClusterSuspending")["status"] == "False"
    assert cond(s, "RayClusterProvisioned")["reason"] == "AllPodRunningAndReadyFirstTime"
    assert cond(s, "HeadPodReady")["reason"] == "HeadPodRunningAndReady"
    assert s.state == "ready"


# -------------------------------------------------------------------------- endpoints


def test_update_endpoints_from_target_ports() -> None:
    assert head_service_endpoints(head_service()) == ENDPOINTS
    assert calc(make_cluster(), [head_pod()]).endpoints == ENDPOINTS


def test_endpoints_prefer_node_port_and_skip_unnamed_ports() -> None:
    svc = head_service(
        ports=[
            {"name": "dashboard", "port": 8265, "targetPort": 8265, "nodePort": 30265},
            {"port": 9999, "targetPort": 9999},
            {"name": "client", "port": 10001},
            {"name": "serve", "port": 8000, "targetPort": "serve-port"},
        ]
    )
    assert head_service_endpoints(svc) == {
        "dashboard": "30265",
        "client": "10001",
        "serve": "serve-port",
    }


def test_endpoints_follow_the_service_when_a_port_goes() -> None:
    c = make_cluster()
    first = calc(c, [head_pod()])
    second = calc(with_status(c, first), [head_pod()], [head_service(ports=PORTS[:2])], now=T1)
    assert second.endpoints == {"client": "10001", "dashboard": "8265"}


# -------------------------------------------------------------- head service IP / name


def test_head_service_ip_is_the_cluster_ip() -> None:
    status = calc(make_cluster(), [head_pod()], [head_service("10.96.0.10")])
    assert status.head is not None
    assert (status.head.service_ip, status.head.service_name) == (
        "10.96.0.10",
        "raycluster-sample-head-svc",
    )


def test_headless_head_service_reports_the_head_pod_ip() -> None:
    status = calc(make_cluster(), [head_pod()], [head_service("None")])
    assert status.head is not None
    assert status.head.service_ip == "10.244.0.5"
    no_head = calc(make_cluster(), [], [head_service("None")])
    assert no_head.head is not None
    assert (no_head.head.service_ip, no_head.head.service_name) == (
        None,
        "raycluster-sample-head-svc",
    )


@pytest.mark.parametrize(
    "services",
    [[], [head_service(), head_service("10.96.0.11")], [head_service("")]],
    ids=["none", "two", "no-cluster-ip"],
)
def test_head_service_must_be_exactly_one(services: list[dict[str, Any]]) -> None:
    with pytest.raises(StatusError):
        calc(make_cluster(), [head_pod()], services)


def test_two_head_pods_are_an_error() -> None:
    second = make_pod("raycluster-sample-head-zzzzz", "head")
    with pytest.raises(StatusError, match="2 head pods"):
        calc(make_cluster(), [head_pod(), second])


def test_other_clusters_pods_and_services_are_ignored() -> None:
    stray = make_pod("other-head", "head", cluster="other")
    other_svc = head_service()
    other_svc["metadata"]["labels"]["ray.io/cluster"] = "other"
    status = calc(make_cluster(replicas=0), [head_pod(), stray], [head_service(), other_svc])
    assert status.state == "ready"


# ------------------------------------------------------------------ replicas and limits


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ({"replicas": 3, "min_replicas": 1, "max_replicas": 5}, 3),
        ({"replicas": 0, "min_replicas": 1, "max_replicas": 5}, 1),
        ({"replicas": 6, "min_replicas": 1, "max_replicas": 5}, 5),
        ({"replicas": None, "min_replicas": 2, "max_replicas": 5}, 2),
        ({"replicas": 5, "min_replicas": 0, "max_replicas": 4}, 4),
        ({"replicas": 3, "min_replicas": 0, "max_replicas": 4, "num_of_hosts": 4}, 12),
        ({"replicas": 3, "num_of_hosts": None}, 3),
        ({"replicas": 3, "min_replicas": 1, "max_replicas": 5, "suspend": True}, 0),
        ({"replicas": MAX_INT32, "num_of_hosts": 4}, MAX_INT32),
    ],
)
def test_desired_worker_replicas(group: dict[str, Any], expected: int) -> None:
    assert desired_worker_replicas(WorkerGroupSpec(group_name="g", **group)) == expected


def test_min_and_max_sum_over_groups_and_saturate() -> None:
    c = make_cluster(numOfHosts=4, minReplicas=1)
    c.spec.worker_group_specs.append(  # type: ignore[union-attr]
        WorkerGroupSpec(group_name="big", min_replicas=2, max_replicas=None)
    )
    assert cluster_min_worker_replicas(c) == 1 * 4 + 2
    assert cluster_max_worker_replicas(c) == MAX_INT32
    c.spec.worker_group_specs[1].suspend = True  # type: ignore[index]
    assert cluster_max_worker_replicas(c) == 16


def test_multi_host_counts() -> None:
    c = make_cluster(numOfHosts=4)
    status = calc(c, [head_pod()])
    assert (status.desired_worker_replicas, status.min_worker_replicas) == (12, None)
    assert status.max_worker_replicas == 16


# --------------------------------------------------------------------------- resources


def _limits(cpu: str, memory: str) -> dict[str, Any]:
    return {
        "spec": {
            "containers": [{"name": "ray", "resources": {"limits": {"cpu": cpu, "memory": memory}}}]
        }
    }


def test_desired_cpu_and_memory_from_limits_head_plus_three_workers() -> None:
    c = make_cluster(template=_limits("1", "1Gi"))
    c.spec.head_group_spec.template = _limits("1", "1Gi")
    status = calc(c, [head_pod()])
    assert (status.desired_cpu, status.desired_memory) == ("4", "4Gi")
    assert (status.desired_gpu, status.desired_tpu) == ("0", "0")


def test_requests_win_and_limits_fill_missing_keys() -> None:
    template = {
        "spec": {
            "containers": [
                {
                    "name": "ray",
                    "resources": {
                        "requests": {"cpu": "500m"},
                        "limits": {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": 1},
                    },
                },
                {"name": "sidecar", "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}},
            ]
        }
    }
    c = make_cluster(replicas=2, template=template)
    res = desired_resources(c)
    assert res.cpu == "1500m"  # (500m + 250m) x 2
    assert res.memory == "5Gi"  # (2Gi + 512Mi) x 2
    assert res.gpu == "2"


def test_resources_use_unclamped_replicas_hosts_and_skip_suspended() -> None:
    c = make_cluster(replicas=5, numOfHosts=2, template=_limits("1", "1Gi"))  # max is 4
    assert desired_resources(c).cpu == "10"
    assert desired_resources(make_cluster(replicas=None, template=_limits("1", "1Gi"))).cpu == "0"
    c.spec.worker_group_specs[0].suspend = True  # type: ignore[index]
    assert desired_resources(c).cpu == "0"


def test_gpu_keys_and_tpus() -> None:
    template = {
        "spec": {
            "containers": [
                {
                    "name": "ray",
                    "resources": {
                        "limits": {
                            "nvidia.com/gpu": "1",
                            "amd.com/gpu": "2",
                            "nvidia.com/mig-2g.32gb": "1",
                            "google.com/tpu": "4",
                            "example.com/gpus-not": "7",
                        }
                    },
                }
            ]
        }
    }
    res = desired_resources(make_cluster(replicas=2, template=template))
    assert (res.gpu, res.tpu) == ("8", "8")


def test_desired_resources_alone_do_not_make_a_status_change() -> None:
    c = make_cluster(template=_limits("1", "1Gi"))
    first = calc(c, [head_pod(), *workers(3)])
    bigger = make_cluster(template=_limits("2", "2Gi"))
    second = calc(with_status(bigger, first), [head_pod(), *workers(3)], now=T1)
    assert second.desired_cpu == "6"
    assert not status_changed(first, second)
    assert second.last_update_time == T0


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (0, "BinarySI", "0"),
        (4, "DecimalSI", "4"),
        (4 * 2**30, "BinarySI", "4Gi"),
        (Fraction(1, 2), "DecimalSI", "500m"),
        (1536 * 2**20, "BinarySI", "1536Mi"),
        (512, "BinarySI", "512"),
        (Fraction(3, 2), "BinarySI", "1500m"),
        (2000, "DecimalSI", "2k"),
        (1500, "DecimalSI", "1500"),
        (1000, "DecimalExponent", "1e3"),
        (Fraction(1, 10**10), "DecimalSI", "1n"),
        (-250, "DecimalSI", "-250"),
    ],
)
def test_format_quantity_is_kubernetes_canonical(value: Any, fmt: Any, text: str) -> None:
    assert format_quantity(value, fmt) == text


def test_quantity_format_families() -> None:
    assert [quantity_format(v) for v in ("1Gi", "500m", "1e3", "2", 3)] == [
        "BinarySI",
        "DecimalSI",
        "DecimalExponent",
        "DecimalSI",
        "DecimalSI",
    ]


# ------------------------------------------------------------- what blocks the head


def _waiting(reason: str, message: str, name: str = "ray-head") -> dict[str, Any]:
    return {
        "name": name,
        "ready": False,
        "state": {"waiting": {"reason": reason, "message": message}},
    }


def _not_ready_head(statuses: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    pod = head_pod(phase="Running", containerStatuses=statuses, **extra)
    pod["status"]["conditions"] = [
        {
            "type": "Ready",
            "status": "False",
            "reason": "ContainersNotReady",
            "message": "containers with unready status: [ray-head]",
        }
    ]
    return pod


def test_unschedulable_head_names_the_scheduler_reason() -> None:
    pod = head_pod(phase="Pending", ready=None)
    msg = "0/3 nodes are available: 3 Insufficient cpu."
    pod["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}
    ]
    assert head_pod_ready(pod) == ("False", "Unschedulable", msg)
    hp = cond(calc(make_cluster(), [pod]), "HeadPodReady")
    assert (hp["reason"], hp["message"]) == ("Unschedulable", msg)


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff"])
def test_waiting_container_reason_replaces_containers_not_ready(reason: str) -> None:
    pod = _not_ready_head([_waiting(reason, "details from kubelet")])
    assert head_pod_ready(pod) == (
        "False",
        reason,
        "containers with unready status: [ray-head]; ray-head: details from kubelet",
    )


def test_terminated_container_reason_is_used() -> None:
    term = {"name": "ray-head", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
    assert head_pod_ready(_not_ready_head([term]))[1] == "OOMKilled"


def test_a_blocking_init_container_is_named() -> None:
    pod = _not_ready_head(
        [_waiting("PodInitializing", "")],
        initContainerStatuses=[_waiting("ImagePullBackOff", "Back-off pulling image", "init")],
    )
    status, reason, message = head_pod_ready(pod)
    assert (status, reason) == ("False", "ImagePullBackOff")
    assert message.endswith("init: Back-off pulling image")


def test_an_invalid_kubelet_reason_is_not_written() -> None:
    pod = _not_ready_head([_waiting("not a valid reason!", "x")])
    assert head_pod_ready(pod)[1] == "ContainersNotReady"


def test_ready_condition_without_reason() -> None:
    assert head_pod_ready(head_pod()) == ("True", "HeadPodRunningAndReady", "")
    assert head_pod_ready(head_pod(ready=None)) == ("False", "Unknown", "")


@pytest.mark.parametrize(
    ("reason", "api_text", "needle"),
    [
        (
            "FailedCreateHeadPod",
            'pods "raycluster-sample-head-abcde" is forbidden: exceeded quota: '
            "pods-quota, requested: pods=1, used: pods=0, limited: pods=0",
            "forbidden: exceeded quota",
        ),
        (
            "FailedCreateWorkerPod",
            'pods is forbidden: User "system:serviceaccount:ray:kuberay" cannot create '
            'resource "pods" in API group "" in the namespace "default"',
            "forbidden",
        ),
    ],
    ids=["quota", "rbac"],
)
def test_replica_failure_carries_the_api_error(reason: str, api_text: str, needle: str) -> None:
    status = calc(make_cluster(), [], failure=ReconcileFailure(reason, api_text))
    rf = cond(status, "ReplicaFailure")
    assert rf["reason"] == reason
    assert reason in rf["message"]
    assert needle in rf["message"]
    assert rf["message"].endswith(api_text)


# ------------------------------------------------------------------------------ churn


@pytest.mark.parametrize(
    "pods",
    [
        [],
        [head_pod(ready="False")],
        [head_pod(), *workers(2)],
        [head_pod(), *workers(3)],
    ],
    ids=["nothing", "head-unready", "short", "ready"],
)
def test_a_second_pass_over_the_same_inputs_changes_nothing(pods: list[dict[str, Any]]) -> None:
    c = make_cluster()
    first = calc(c, pods, failure=None, now=T0)
    again = calc(with_status(c, first), pods, now=T2)
    assert not status_changed(first, again)
    assert converter.unstructure(again) == converter.unstructure(first)
    # Pure: the same inputs and clock give the same status every time.
    assert calc(c, pods, now=T0) == first


def test_last_update_time_moves_only_with_a_real_change() -> None:
    c = make_cluster()
    s1 = calc(c, [head_pod(), *workers(2)], now=T0)
    assert s1.last_update_time == T0
    s2 = calc(with_status(c, s1), [head_pod(), *workers(2)], now=T1)
    assert s2.last_update_time == T0
    s3 = calc(with_status(c, s2), [head_pod(), *workers(3)], now=T2)
    assert s3.last_update_time == T2
    assert status_changed(s2, s3)


def test_condition_time_moves_only_when_the_status_flips() -> None:
    c = make_cluster()
    s1 = calc(c, [head_pod(ready="False")], now=T0)
    crash = _not_ready_head([_waiting("CrashLoopBackOff", "back-off 10s")])
    s2 = calc(with_status(c, s1), [crash], now=T1)
    hp = cond(s2, "HeadPodReady")
    assert (hp["reason"], hp["lastTransitionTime"]) == ("CrashLoopBackOff", T0)
    s3 = calc(with_status(c, s2), [head_pod()], now=T2)
    assert cond(s3, "HeadPodReady")["lastTransitionTime"] == T2


def test_calculate_status_does_not_touch_its_input() -> None:
    c = make_cluster()
    s1 = calc(c, [head_pod(ready="False")], now=T0)
    c1 = with_status(c, s1)
    snapshot = converter.unstructure(c1.status)
    calc(c1, [head_pod()], failure=ReconcileFailure("FailedCreateWorkerPod", "x"), now=T1)
    assert converter.unstructure(c1.status) == snapshot


def test_unknown_status_fields_survive() -> None:
    c = make_cluster()
    c.status = RayClusterStatus(extra={"futureField": {"a": 1}})
    assert calc(c, [head_pod()]).extra == {"futureField": {"a": 1}}


# ----------------------------------------------------------------------- status_changed


BASE = RayClusterStatus(
    state="ready",
    desired_worker_replicas=3,
    endpoints={"client": "10001"},
    head=HeadInfo(pod_ip="10.0.0.1"),
    conditions=[{"type": "HeadPodReady", "status": "True", "reason": "R", "message": ""}],
)


@pytest.mark.parametrize(
    "change",
    [
        {"state": "suspended"},
        {"reason": "why"},
        {"ready_worker_replicas": 1},
        {"available_worker_replicas": 1},
        {"desired_worker_replicas": 4},
        {"min_worker_replicas": 1},
        {"max_worker_replicas": 1},
        {"endpoints": {"client": "10002"}},
        {"head": HeadInfo(pod_ip="10.0.0.2")},
        {"conditions": []},
    ],
)
def test_status_changed_sees(change: dict[str, Any]) -> None:
    assert status_changed(BASE, attrs.evolve(BASE, **change))


@pytest.mark.parametrize(
    "change",
    [
        {"last_update_time": T3},
        {"desired_cpu": "8"},
        {"desired_memory": "8Gi"},
        {"desired_gpu": "1"},
        {"desired_tpu": "4"},
        {"observed_generation": 7},
        {"state_transition_times": {"ready": T3}},
        {"ready_worker_replicas": 0},
        {"head": HeadInfo(pod_ip="10.0.0.1", service_ip="")},
    ],
)
def test_status_changed_ignores(change: dict[str, Any]) -> None:
    assert not status_changed(BASE, attrs.evolve(BASE, **change))


def test_status_changed_from_nothing() -> None:
    assert status_changed(None, BASE)
    assert not status_changed(None, RayClusterStatus(endpoints={}, conditions=[]))


def test_a_zero_first_term_takes_the_family_of_the_next() -> None:
    # apimachinery's Add: a zero sum adopts the format of what is added to it.
    c = make_cluster(template=_limits("1", "1Gi"))
    c.spec.head_group_spec.template = _limits("0", "0")
    assert desired_resources(c).memory == "3Gi"
