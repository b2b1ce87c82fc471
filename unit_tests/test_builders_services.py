"""Head, serve and headless-worker Services: KubeRay's service_test.go assertions (reference
§7.2), the exact objects, and schema validity for Kubernetes 1.33."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders import services
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.services import (
    NO_SERVE_PORT_MESSAGE,
    build_head_service,
    build_headless_worker_service,
    build_serve_service,
    build_serve_service_for_raycluster,
    head_service_ports,
    is_serving_port,
    needs_headless_worker_service,
    serve_service_enabled,
)

CONFIG = OperatorConfig()
KUBERAY_DEFAULT_PORTS = {
    "client": 10001,
    "gcs-server": 6379,
    "dashboard": 8265,
    "metrics": 8080,
    "serve": 8000,
}
FIVE_KEYS = {
    "ray.io/cluster",
    "ray.io/node-type",
    "ray.io/identifier",
    "app.kubernetes.io/name",
    "app.kubernetes.io/created-by",
}
OWNER = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "name": "raycluster-sample",
    "uid": "uid-1",
    "controller": True,
    "blockOwnerDeletion": True,
}


def schema_valid(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, "1.33.0", strict=True)


def cluster(
    name: str = "raycluster-sample",
    *,
    ports: list[dict[str, Any]] | None = None,
    head: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    template_labels: dict[str, str] | None = None,
) -> RayCluster:
    container: dict[str, Any] = {"name": "ray-head", "image": "rayproject/ray:2.52.0"}
    if ports is not None:
        container["ports"] = ports
    template: dict[str, Any] = {"spec": {"containers": [container]}}
    if template_labels:
        template["metadata"] = {"labels": template_labels}
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "uid": "uid-1"}
    if annotations:
        metadata["annotations"] = annotations
    return raycluster_from_dict(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": metadata,
            "spec": {
                "headGroupSpec": {"template": template, "rayStartParams": {}, **(head or {})},
                **(spec or {}),
            },
        }
    )


# KubeRay's `instanceWithWrongSvc`: gcs-server, dashboard and serve on the head container,
# two headServiceAnnotations.
WRONG_SVC_PORTS = [
    {"containerPort": 6379, "name": "gcs-server"},
    {"containerPort": 8265, "name": "dashboard"},
    {"containerPort": 8000, "name": "serve"},
]
HEAD_SVC_ANNOTATIONS = {
    "HeadServiceAnnotationKey1": "HeadServiceAnnotationValue1",
    "HeadServiceAnnotationKey2": "HeadServiceAnnotationValue2",
}


def wrong_svc_cluster() -> RayCluster:
    return cluster(
        ports=copy.deepcopy(WRONG_SVC_PORTS),
        spec={"headServiceAnnotations": dict(HEAD_SVC_ANNOTATIONS)},
    )


# --- head Service ----------------------------------------------------------------------------


def test_head_service_is_the_exact_kuberay_object() -> None:
    svc = build_head_service(wrong_svc_cluster(), CONFIG)
    labels = {
        "ray.io/cluster": "raycluster-sample",
        "ray.io/node-type": "head",
        "ray.io/identifier": "raycluster-sample-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    assert svc == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "raycluster-sample-head-svc",
            "namespace": "default",
            "labels": labels,
            "annotations": HEAD_SVC_ANNOTATIONS,
            "ownerReferences": [OWNER],
        },
        "spec": {
            "selector": labels,
            "ports": [
                {"name": "dashboard", "port": 8265, "appProtocol": "tcp"},
                {"name": "gcs-server", "port": 6379, "appProtocol": "tcp"},
                {"name": "metrics", "port": 8080, "appProtocol": "tcp"},
                {"name": "serve", "port": 8000, "appProtocol": "tcp"},
            ],
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
        },
    }
    schema_valid(svc)


def test_build_service_for_head_pod() -> None:
    svc = build_head_service(wrong_svc_cluster(), CONFIG, labels={}, annotations={})
    selector = svc["spec"]["selector"]
    assert selector["ray.io/cluster"] == "raycluster-sample"
    assert selector["ray.io/node-type"] == "head"
    assert selector["app.kubernetes.io/name"] == "kuberay"
    assert svc["spec"]["ports"]
    assert all(p["appProtocol"] == "tcp" for p in svc["spec"]["ports"])
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True


def test_cluster_ip_service_when_the_operator_asks_for_it() -> None:
    config = OperatorConfig.from_env({"ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE": "true"})
    svc = build_head_service(wrong_svc_cluster(), config)
    assert svc["spec"].get("clusterIP") != "None"
    assert "publishNotReadyAddresses" not in svc["spec"]
    schema_valid(svc)


@pytest.mark.parametrize("service_type", ["ClusterIP", ""])
def test_explicit_or_empty_cluster_ip_type_is_still_headless(service_type: str) -> None:
    svc = build_head_service(cluster(head={"serviceType": service_type}), CONFIG)
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"


@pytest.mark.parametrize("service_type", ["NodePort", "LoadBalancer"])
def test_other_service_types_are_not_headless(service_type: str) -> None:
    svc = build_head_service(cluster(head={"serviceType": service_type}), CONFIG)
    assert svc["spec"]["type"] == service_type
    assert "clusterIP" not in svc["spec"]
    assert "publishNotReadyAddresses" not in svc["spec"]
    schema_valid(svc)


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ([], KUBERAY_DEFAULT_PORTS),
        (None, KUBERAY_DEFAULT_PORTS),
        ([{"name": "random", "containerPort": 1234}], {"random": 1234, "metrics": 8080}),
    ],
)
def test_default_ports(ports: list[dict[str, Any]] | None, expected: dict[str, int]) -> None:
    svc = build_head_service(cluster(ports=ports), CONFIG)
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == expected
    assert len(svc["spec"]["ports"]) == len(expected)


def test_unnamed_container_port_is_named_after_its_number() -> None:
    c = cluster(ports=[{"containerPort": 6379, "name": "gcs-server"}, {"containerPort": 7777}])
    assert head_service_ports(c) == {"gcs-server": 6379, "7777-port": 7777, "metrics": 8080}


@pytest.mark.parametrize(
    ("ports", "metrics"),
    [
        ([], 8080),
        ([{"name": "random", "containerPort": 1234}], 8080),
        ([{"name": "metrics", "containerPort": 8081}], 8081),
    ],
)
def test_metrics_port(ports: list[dict[str, Any]], metrics: int) -> None:
    assert head_service_ports(cluster(ports=ports))["metrics"] == metrics


def test_app_name_label_goes_into_the_selector() -> None:
    svc = build_head_service(
        wrong_svc_cluster(), CONFIG, labels={"app.kubernetes.io/name": "testname"}
    )
    assert svc["spec"]["selector"]["app.kubernetes.io/name"] == "testname"
    assert len(svc["spec"]["selector"]) == 5


def test_controller_default_takes_only_the_app_name_from_the_head_template() -> None:
    c = cluster(template_labels={"app.kubernetes.io/name": "myapp", "ray.io/cluster": "invalid"})
    svc = build_head_service(c, CONFIG)
    assert svc["spec"]["selector"]["app.kubernetes.io/name"] == "myapp"
    assert svc["spec"]["selector"]["ray.io/cluster"] == "raycluster-sample"
    assert svc["metadata"]["labels"] == svc["spec"]["selector"]


def test_annotations_are_the_passed_map() -> None:
    annotations = {"key1": "testvalue1", "key2": "testvalue2"}
    svc = build_head_service(wrong_svc_cluster(), CONFIG, annotations=annotations)
    assert svc["metadata"]["annotations"] == annotations


def test_no_annotations_key_without_annotations() -> None:
    assert "annotations" not in build_head_service(cluster(), CONFIG)["metadata"]


def test_ports_order_is_deterministic_and_by_name() -> None:
    c = cluster(
        ports=[
            {"name": "zeta", "containerPort": 1},
            {"name": "alpha", "containerPort": 2},
            {"name": "gcs-server", "containerPort": 6379},
        ]
    )
    names = [p["name"] for p in build_head_service(c, CONFIG)["spec"]["ports"]]
    assert names == ["alpha", "gcs-server", "metrics", "zeta"]
    assert names == [p["name"] for p in build_head_service(c, CONFIG)["spec"]["ports"]]


def test_user_specified_head_service() -> None:
    user_labels = {"userLabelKey": "userLabelValue", "ray.io/cluster": "userClusterName"}
    user_annotations = {
        "userAnnotationKey": "userAnnotationValue",
        "HeadServiceAnnotationKey1": "user_override",
    }
    user_ports = [{"name": "userPort", "port": 12345}, {"name": "client", "port": 98765}]
    c = wrong_svc_cluster()
    c.spec.head_group_spec.head_service = {
        "metadata": {
            "name": "user-custom-name",
            "namespace": "user-custom-namespace",
            "labels": user_labels,
            "annotations": user_annotations,
        },
        "spec": {
            "ports": user_ports,
            "selector": {"userSelectorKey": "userSelectorValue", "ray.io/cluster": "x"},
            "type": "LoadBalancer",
            "clusterIP": "",
        },
    }
    template_labels = {"ray.io/cluster": "userTemplateClusterName"}
    svc = build_head_service(c, CONFIG, labels=template_labels)
    spec, meta = svc["spec"], svc["metadata"]

    assert spec["clusterIP"] == ""  # the user's, not forced headless
    assert "publishNotReadyAddresses" not in spec
    defaults = services.head_service_labels(c)
    assert set(spec["selector"]) == FIVE_KEYS
    for key, value in spec["selector"].items():
        assert value == template_labels.get(key, defaults[key])
    # Labels: the selector over the user's labels, nothing else.
    assert meta["labels"] == {"userLabelKey": "userLabelValue", **spec["selector"]}
    # headServiceAnnotations win over the user's annotations.
    assert meta["annotations"] == {
        "userAnnotationKey": "userAnnotationValue",
        "HeadServiceAnnotationKey1": "HeadServiceAnnotationValue1",
        "HeadServiceAnnotationKey2": "HeadServiceAnnotationValue2",
    }
    # The user's ports first, then KubeRay's (not sorted after the user's).
    pairs = [(p["name"], p["port"]) for p in spec["ports"]]
    assert pairs[:2] == [("userPort", 12345), ("client", 98765)]
    assert sorted(pairs[2:]) == [
        ("dashboard", 8265),
        ("gcs-server", 6379),
        ("metrics", 8080),
        ("serve", 8000),
    ]
    assert spec["type"] == "LoadBalancer"
    assert meta["name"] == "user-custom-name"
    assert meta["namespace"] == "default"
    assert meta["ownerReferences"] == [OWNER]
    # The cluster's own spec is not modified by the builder.
    assert c.spec.head_group_spec.head_service["spec"]["selector"]["ray.io/cluster"] == "x"
    schema_valid(svc)


def test_user_head_service_with_nothing_set() -> None:
    c = wrong_svc_cluster()
    c.spec.head_group_spec.head_service = {"metadata": {}}
    svc = build_head_service(c, CONFIG)
    assert svc["metadata"]["name"] == "raycluster-sample-head-svc"
    assert svc["metadata"]["namespace"] == "default"
    assert set(svc["spec"]["selector"]) == FIVE_KEYS
    assert svc["metadata"]["annotations"] == HEAD_SVC_ANNOTATIONS
    assert "type" not in svc["spec"]  # ClusterIP by the API server's default
    schema_valid(svc)


def test_user_head_service_takes_the_cluster_service_type_when_it_has_none() -> None:
    c = cluster(head={"serviceType": "NodePort", "headService": {"spec": {}}})
    assert build_head_service(c, CONFIG)["spec"]["type"] == "NodePort"


def test_user_port_named_or_numbered_like_a_default_port_is_not_duplicated() -> None:
    c = cluster(
        ports=[{"name": "client", "containerPort": 10001}, {"name": "dash", "containerPort": 8265}],
        head={
            "headService": {
                "spec": {
                    "ports": [
                        {"name": "client", "port": 98765},
                        {"name": "dashboard", "port": 8265},
                    ]
                }
            }
        },
    )
    svc = build_head_service(c, CONFIG)
    pairs = [(p["name"], p["port"]) for p in svc["spec"]["ports"]]
    assert pairs == [("client", 98765), ("dashboard", 8265), ("metrics", 8080)]
    schema_valid(svc)


def test_user_head_service_name_is_used_for_the_fqdn() -> None:
    c = cluster(head={"headService": {"metadata": {"name": "my-head"}}})
    assert services.head_service_fqdn(c, CONFIG) == "my-head.default.svc.cluster.local"
    assert services.head_service_fqdn(cluster(), OperatorConfig(cluster_domain="corp.local")) == (
        "raycluster-sample-head-svc.default.svc.corp.local"
    )


# --- headless worker Service -----------------------------------------------------------------


def test_headless_worker_service() -> None:
    svc = build_headless_worker_service(cluster("raycluster-sample-svc"))
    assert svc == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "raycluster-sample-svc-headless",
            "namespace": "default",
            "labels": {"ray.io/headless-worker-svc": "raycluster-sample-svc"},
            "ownerReferences": [{**OWNER, "name": "raycluster-sample-svc"}],
        },
        "spec": {
            "clusterIP": "None",
            "selector": {"ray.io/cluster": "raycluster-sample-svc", "ray.io/node-type": "worker"},
            "type": "ClusterIP",
            "publishNotReadyAddresses": True,
        },
    }
    schema_valid(svc)


def test_headless_worker_service_only_for_multi_host_groups() -> None:
    def groups(*hosts: int | None) -> RayCluster:
        specs = [{"groupName": f"g{i}", "template": {}} for i in range(len(hosts))]
        for spec, n in zip(specs, hosts, strict=True):
            if n is not None:
                spec["numOfHosts"] = n
        return cluster(spec={"workerGroupSpecs": specs})

    assert not needs_headless_worker_service(cluster())
    assert not needs_headless_worker_service(groups(1, None))
    assert needs_headless_worker_service(groups(1, 4))


# --- serve Service ---------------------------------------------------------------------------


def test_serve_service_for_raycluster() -> None:
    c = cluster(
        "raycluster-sample-svc",
        ports=[{"containerPort": 8000, "name": "serve"}],
        head={"serviceType": "ClusterIP"},
    )
    svc = build_serve_service_for_raycluster(c)
    assert svc == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "raycluster-sample-svc-serve-svc",
            "namespace": "default",
            "labels": {
                "ray.io/originated-from-cr-name": "raycluster-sample-svc",
                "ray.io/originated-from-crd": "RayCluster",
                "ray.io/serve": "raycluster-sample-svc-serve",
            },
            "ownerReferences": [{**OWNER, "name": "raycluster-sample-svc"}],
        },
        "spec": {
            "selector": {"ray.io/cluster": "raycluster-sample-svc"},
            "ports": [{"name": "serve", "port": 8000}],
            "type": "ClusterIP",
        },
    }
    schema_valid(svc)


def test_serve_service_without_serve_port_is_an_error() -> None:
    c = cluster(ports=[{"containerPort": 6379, "name": "gcs-server"}])
    with pytest.raises(BuildError) as info:
        build_serve_service_for_raycluster(c)
    assert str(info.value) == NO_SERVE_PORT_MESSAGE
    assert str(info.value) == (
        "Please specify a port named 'serve' (or with the prefix 'serve-', e.g. 'serve-grpc') "
        "in the Ray head container; otherwise, the Kubernetes service for Ray Serve will not "
        "be created."
    )
    with pytest.raises(BuildError):
        build_serve_service(c, owner_name="rayservice-sample", owner_kind="RayService")


def test_serve_service_with_grpc_port() -> None:
    c = cluster(
        "raycluster-grpc",
        ports=[
            {"containerPort": 6379, "name": "gcs-server"},
            {"containerPort": 8265, "name": "dashboard"},
            {"containerPort": 8000, "name": "serve"},
            {"containerPort": 9000, "name": "serve-grpc"},
        ],
    )
    svc = build_serve_service_for_raycluster(c)
    assert svc["spec"]["ports"] == [
        {"name": "serve", "port": 8000},
        {"name": "serve-grpc", "port": 9000},
    ]


def test_serve_service_defaults_to_port_8000_when_the_head_declares_no_ports() -> None:
    # No container ports means KubeRay's default ports, which include serve 8000.
    assert build_serve_service_for_raycluster(cluster())["spec"]["ports"] == [
        {"name": "serve", "port": 8000}
    ]


RAYSERVICE_SELECTOR = {"ray.io/cluster": "raycluster-sample", "ray.io/serve": "true"}


def test_serve_service_for_rayservice() -> None:
    svc = build_serve_service(
        wrong_svc_cluster(),
        owner_name="rayservice-sample",
        owner_kind="RayService",
        selector=RAYSERVICE_SELECTOR,
        service_type="ClusterIP",
    )
    assert svc["spec"]["selector"]["ray.io/cluster"] == "raycluster-sample"
    assert svc["metadata"]["labels"] == {
        "ray.io/originated-from-cr-name": "rayservice-sample",
        "ray.io/originated-from-crd": "RayService",
        "ray.io/serve": "rayservice-sample-serve",
    }
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["metadata"]["name"] == "rayservice-sample-serve-svc"
    assert svc["metadata"]["namespace"] == "default"


def _rayservice_user_service(c: RayCluster, user: dict[str, Any]) -> dict[str, Any]:
    return build_serve_service(
        c,
        owner_name="rayservice-sample",
        owner_kind="RayService",
        user_service=user,
        selector=RAYSERVICE_SELECTOR,
        service_type="ClusterIP",
    )


def test_user_specified_serve_service() -> None:
    user_labels = {"userLabelKey": "userLabelValue", "ray.io/cluster": "userClusterName"}
    user_annotations = {"userAnnotationKey": "userAnnotationValue", "userAnnotationKey2": "v2"}
    user = {
        "metadata": {
            "name": "user-custom-name",
            "namespace": "user-custom-namespace",
            "labels": user_labels,
            "annotations": user_annotations,
        },
        "spec": {
            "ports": [{"name": "serve", "port": 12345}, {"name": "client", "port": 98765}],
            "selector": {"userSelectorKey": "userSelectorValue", "ray.io/cluster": "x"},
            "type": "LoadBalancer",
        },
    }
    svc = _rayservice_user_service(wrong_svc_cluster(), user)
    assert svc["metadata"]["annotations"] == user_annotations
    assert svc["spec"]["selector"] == RAYSERVICE_SELECTOR
    assert svc["spec"]["ports"] == [{"name": "serve", "port": 12345}]
    assert svc["spec"]["type"] == "LoadBalancer"
    assert set(user_labels) <= set(svc["metadata"]["labels"])
    assert svc["metadata"]["labels"]["ray.io/originated-from-crd"] == "RayService"
    assert svc["metadata"]["name"] == "user-custom-name"
    assert svc["metadata"]["namespace"] == "default"
    assert user["metadata"]["namespace"] == "user-custom-namespace"  # input untouched
    schema_valid(svc)


def test_user_serve_service_keeps_only_the_auto_detected_serve_ports() -> None:
    user = {
        "metadata": {"name": "custom-serve-svc"},
        "spec": {
            "ports": [{"name": "serve", "port": 8000}, {"name": "serve-grpc", "port": 9000}],
            "type": "LoadBalancer",
        },
    }
    svc = _rayservice_user_service(wrong_svc_cluster(), user)
    assert svc["spec"]["ports"] == [{"name": "serve", "port": 8000}]


def test_user_serve_service_keeps_the_users_app_protocol() -> None:
    c = cluster(
        "raycluster-grpc",
        ports=[
            {"containerPort": 8000, "name": "serve"},
            {"containerPort": 9000, "name": "serve-grpc"},
        ],
    )
    user = {
        "metadata": {"name": "custom-serve-svc"},
        "spec": {
            "ports": [
                {"name": "serve", "port": 8000},
                {"name": "serve-grpc", "port": 9000, "appProtocol": "kubernetes.io/h2c"},
            ]
        },
    }
    ports = {p["name"]: p for p in _rayservice_user_service(c, user)["spec"]["ports"]}
    assert len(ports) == 2
    assert "appProtocol" not in ports["serve"]
    assert ports["serve-grpc"]["appProtocol"] == "kubernetes.io/h2c"


def test_user_serve_service_ports_kept_verbatim_when_nothing_is_auto_detected() -> None:
    c = cluster("raycluster-no-serve", ports=[{"containerPort": 6379, "name": "gcs-server"}])
    user_ports = [
        {"name": "serve-grpc", "port": 9000, "appProtocol": "kubernetes.io/h2c"},
        {"name": "not-a-serve-port", "port": 1234},
    ]
    user = {"metadata": {"name": "custom-serve-svc"}, "spec": {"ports": user_ports}}
    svc = _rayservice_user_service(c, user)
    assert svc["spec"]["ports"] == user_ports


def test_serve_service_annotation_must_be_exactly_true() -> None:
    key = "ray.io/enable-serve-service"
    assert serve_service_enabled(cluster(annotations={key: "true"}))
    assert not serve_service_enabled(cluster(annotations={key: "True"}))
    assert not serve_service_enabled(cluster())


def test_is_serving_port() -> None:
    assert is_serving_port("serve")
    assert is_serving_port("serve-grpc")
    assert is_serving_port("serve-http")
    for name in ("server", "dashboard", "gcs-server", "metrics", ""):
        assert not is_serving_port(name)


# --- names at the maximum length ---------------------------------------------------------------


def test_longest_cluster_name_gives_valid_service_names() -> None:
    """53 characters is KubeRay's limit precisely so `-serve-svc` still fits in 63."""
    name = "r" * 53
    c = cluster(name, annotations={"ray.io/enable-serve-service": "true"})
    head = build_head_service(c, CONFIG)
    serve = build_serve_service_for_raycluster(c)
    headless = build_headless_worker_service(c)
    assert head["metadata"]["name"] == name + "-head-svc"
    assert serve["metadata"]["name"] == name + "-serve-svc"
    assert len(serve["metadata"]["name"]) == 63
    assert headless["metadata"]["name"] == name + "-headless"
    assert head["spec"]["selector"]["ray.io/identifier"] == name + "-head"
    for svc in (head, serve, headless):
        schema_valid(svc)
