"""Resource descriptors build the REST paths kube-apiserver serves."""

from __future__ import annotations

from kuberay_py.kube import (
    CRDS,
    EVENTS_V1,
    JOBS,
    LEASES,
    NODES,
    PODS,
    RAYCLUSTERS,
    Resource,
    object_key,
)


def test_core_group_paths() -> None:
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path("ns") == "/api/v1/namespaces/ns/pods"
    assert PODS.path("ns", "p") == "/api/v1/namespaces/ns/pods/p"
    assert PODS.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert PODS.api_version == "v1"


def test_named_group_paths_and_cluster_scope() -> None:
    assert JOBS.path("a", "j") == "/apis/batch/v1/namespaces/a/jobs/j"
    assert LEASES.api_version == "coordination.k8s.io/v1"
    assert EVENTS_V1.path("x") == "/apis/events.k8s.io/v1/namespaces/x/events"
    assert NODES.path("ignored", "n1") == "/api/v1/nodes/n1"
    assert CRDS.path(None, "rayclusters.ray.io") == (
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rayclusters.ray.io"
    )
    assert RAYCLUSTERS.path("d", "c", "status") == (
        "/apis/ray.io/v1/namespaces/d/rayclusters/c/status"
    )
    assert RAYCLUSTERS.label == "rayclusters.ray.io"
    assert Resource("example.com", "v1alpha1", "widgets", True, "Widget").api_version == (
        "example.com/v1alpha1"
    )


def test_object_key() -> None:
    assert object_key({"metadata": {"namespace": "a", "name": "b"}}) == "a/b"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"
