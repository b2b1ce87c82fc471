"""Autoscaler RBAC, the dashboard Ingress and the auth Secret: KubeRay's rbac_test.go and
ingress_test.go assertions (reference §7.2) and the exact objects of §1.2 / §1.2.1."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.auth import build_auth_secret
from kuberay_py.builders.ingress import build_head_ingress
from kuberay_py.builders.rbac import (
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
    user_named_service_account,
)

THREE_LABELS = {
    "ray.io/cluster": "raycluster-sample",
    "app.kubernetes.io/name": "kuberay",
    "app.kubernetes.io/created-by": "kuberay-operator",
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
    annotations: dict[str, str] | None = None,
    head: dict[str, Any] | None = None,
    pod_spec: dict[str, Any] | None = None,
    ports: list[dict[str, Any]] | None = None,
) -> RayCluster:
    container: dict[str, Any] = {"name": "ray-head", "image": "rayproject/autoscaler"}
    if ports is not None:
        container["ports"] = ports
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "uid": "uid-1"}
    if annotations:
        metadata["annotations"] = annotations
    return raycluster_from_dict(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": metadata,
            "spec": {
                "headGroupSpec": {
                    "template": {"spec": {"containers": [container], **(pod_spec or {})}},
                    **(head or {}),
                }
            },
        }
    )


# --- RBAC ------------------------------------------------------------------------------------


def test_service_account_role_and_binding_are_kuberays() -> None:
    c = cluster()
    meta = {
        "name": "raycluster-sample",
        "namespace": "default",
        "labels": THREE_LABELS,
        "ownerReferences": [OWNER],
    }
    sa = build_autoscaler_service_account(c)
    role = build_autoscaler_role(c)
    binding = build_autoscaler_role_binding(c)
    assert sa == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    assert role == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": meta,
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
            {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
        ],
    }
    assert binding == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "subjects": [
            {"kind": "ServiceAccount", "name": "raycluster-sample", "namespace": "default"}
        ],
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "raycluster-sample",
        },
    }
    for obj in (sa, role, binding):
        schema_valid(obj)


def test_role_binding_subject_and_role_ref_names() -> None:
    def names(c: RayCluster) -> list[str]:
        binding = build_autoscaler_role_binding(c)
        return [binding["subjects"][0]["name"], binding["roleRef"]["name"]]

    with_sa = cluster(pod_spec={"serviceAccountName": "my-service-account"})
    assert names(with_sa) == ["my-service-account", "raycluster-sample"]
    assert names(cluster()) == ["raycluster-sample", "raycluster-sample"]
    long_name = "".join(chr(ord("a") + i % 26) for i in range(200))
    assert names(cluster(long_name)) == [long_name[-50:], long_name[-50:]]


def test_user_named_service_account() -> None:
    c = cluster(pod_spec={"serviceAccountName": "my-service-account"})
    assert user_named_service_account(c) == "my-service-account"
    assert user_named_service_account(cluster()) == ""
    assert build_autoscaler_service_account(c)["metadata"]["name"] == "my-service-account"
    assert build_autoscaler_role_binding(c)["subjects"][0]["namespace"] == "default"


def test_names_are_clipped_like_checkname() -> None:
    # The last 50 characters are kept; a leading digit becomes "r".
    for name, clipped in (("ab" + "9" + "x" * 49, "r" + "x" * 49), ("7" + "x" * 9, "r" + "x" * 9)):
        c = cluster(name)
        for obj in (
            build_autoscaler_service_account(c),
            build_autoscaler_role(c),
            build_autoscaler_role_binding(c),
        ):
            assert obj["metadata"]["name"] == clipped
            assert obj["metadata"]["labels"]["ray.io/cluster"] == name


# --- Ingress ---------------------------------------------------------------------------------


def test_ingress_for_head_service() -> None:
    c = cluster(annotations={"kubernetes.io/ingress.class": "nginx", "other": "kept"})
    ingress = build_head_ingress(c)
    assert ingress == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "raycluster-sample-head-ingress",
            "namespace": "default",
            "labels": {
                "ray.io/cluster": "raycluster-sample",
                "ray.io/identifier": "raycluster-sample-head",
                "app.kubernetes.io/name": "kuberay",
                "app.kubernetes.io/created-by": "kuberay-operator",
            },
            "annotations": {"other": "kept"},
            "ownerReferences": [OWNER],
        },
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": "raycluster-sample-head-svc",
                                        "port": {"number": 8265},
                                    }
                                },
                            }
                        ]
                    }
                }
            ],
        },
    }
    schema_valid(ingress)


def test_ingress_without_ingress_class() -> None:
    ingress = build_head_ingress(cluster())
    assert "ingressClassName" not in ingress["spec"]
    assert "annotations" not in ingress["metadata"]
    schema_valid(ingress)


def test_ingress_fields_from_ingress_options() -> None:
    host = "ray.example.com"
    c = cluster(
        annotations={"kubernetes.io/ingress.class": "nginx"},
        head={
            "ingressOptions": {
                "host": host,
                "path": "/dashboard",
                "pathType": "Exact",
                "tls": [{"hosts": [host], "secretName": "ray-tls"}],
            }
        },
    )
    ingress = build_head_ingress(c)
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["rules"][0]["host"] == host
    assert spec["rules"][0]["http"]["paths"][0]["path"] == "/dashboard"
    assert spec["rules"][0]["http"]["paths"][0]["pathType"] == "Exact"
    assert spec["tls"] == [{"hosts": [host], "secretName": "ray-tls"}]
    spec["tls"][0]["hosts"].append("x")
    assert c.spec.head_group_spec.ingress_options is not None
    assert c.spec.head_group_spec.ingress_options.tls == [
        {"hosts": [host], "secretName": "ray-tls"}
    ]
    schema_valid(ingress)


def test_ingress_backend_follows_dashboard_port_and_custom_head_service_name() -> None:
    c = cluster(
        ports=[{"name": "dashboard", "containerPort": 9265}],
        head={"headService": {"metadata": {"name": "my-head"}}},
    )
    backend = build_head_ingress(c)["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "my-head", "port": {"number": 9265}}}
    # A head container without a "dashboard" port: KubeRay's 8265.
    other = cluster(ports=[{"name": "gcs-server", "containerPort": 6379}])
    path = build_head_ingress(other)["spec"]["rules"][0]["http"]["paths"][0]
    assert path["backend"]["service"]["port"] == {"number": 8265}


def test_ingress_does_not_copy_the_probe_injector_bookkeeping() -> None:
    c = cluster(
        annotations={
            "ray.io/injected-probes": "{}",
            "ray.io/probes-generation": "3",
            "nginx.ingress.kubernetes.io/rewrite-target": "/",
        }
    )
    assert build_head_ingress(c)["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/rewrite-target": "/"
    }


def test_ingress_name_is_clipped() -> None:
    name = "q" * 53
    assert (
        build_head_ingress(cluster(name))["metadata"]["name"] == ("q" * 53 + "-head-ingress")[-50:]
    )


# --- auth Secret -----------------------------------------------------------------------------


def test_auth_secret() -> None:
    secret = build_auth_secret(cluster(), "dG9rZW4=")
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "raycluster-sample",
            "namespace": "default",
            "labels": {"ray.io/cluster": "raycluster-sample"},
            "ownerReferences": [OWNER],
        },
        "stringData": {"auth_token": "dG9rZW4="},
    }
    schema_valid(secret)
    assert build_auth_secret(cluster("9" + "s" * 20), "t")["metadata"]["name"] == "r" + "s" * 20
    long_name = "abc" + "s" * 50
    assert build_auth_secret(cluster(long_name), "t")["metadata"]["name"] == "s" * 50
