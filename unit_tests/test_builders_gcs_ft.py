"""GCS fault tolerance on the pods (reference sections 4.2 and 7.1,
TestConfigureGCSFaultTolerance*)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.gcs_ft import (
    configure_gcs_fault_tolerance,
    external_storage_namespace,
    gcs_storage_pvc_name,
    is_gcs_ft_embedded,
    is_gcs_ft_enabled,
)
from kuberay_py.builders.pod import build_head_pod, build_worker_pod

RECONNECT = "RAY_gcs_rpc_server_reconnect_timeout_s"


def make_cluster(
    *,
    annotations: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    head_env: list[dict[str, Any]] | None = None,
    params: dict[str, str] | None = None,
) -> RayCluster:
    spec: dict[str, Any] = {
        "headGroupSpec": {
            "rayStartParams": dict(params or {}),
            "template": {
                "spec": {"containers": [{"name": "ray-head", "env": list(head_env or [])}]}
            },
        },
        "workerGroupSpecs": [
            {
                "groupName": "workers",
                "template": {"spec": {"containers": [{"name": "ray-worker", "env": []}]}},
            }
        ],
    }
    if options is not None:
        spec["gcsFaultToleranceOptions"] = options
    meta: dict[str, Any] = {"name": "test-cluster", "namespace": "ns", "uid": "test-uid"}
    if annotations is not None:
        meta["annotations"] = annotations
    return raycluster_from_dict({"metadata": meta, "spec": spec})


def configure(c: RayCluster, node_type: str) -> tuple[dict[str, Any], dict[str, str]]:
    if node_type == "head":
        template = copy.deepcopy(c.spec.head_group_spec.template)
        params = dict(c.spec.head_group_spec.ray_start_params or {})
    else:
        assert c.spec.worker_group_specs
        template = copy.deepcopy(c.spec.worker_group_specs[0].template)
        params = {}
    configure_gcs_fault_tolerance(template, c, node_type, params)
    return template, params


def env(template: dict[str, Any]) -> list[dict[str, Any]]:
    return template["spec"]["containers"][0]["env"]  # type: ignore[no-any-return]


def env_named(template: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in env(template) if e["name"] == name), None)


def assert_worker_config(template: dict[str, Any]) -> None:
    annotations = template.get("metadata", {}).get("annotations") or {}
    assert "ray.io/external-storage-namespace" not in annotations
    assert "ray.io/ft-enabled" not in annotations
    assert env_named(template, RECONNECT) == {"name": RECONNECT, "value": "600"}
    for name in ("RAY_external_storage_namespace", "RAY_REDIS_ADDRESS", "REDIS_PASSWORD"):
        assert env_named(template, name) is None


# --- the annotation path ------------------------------------------------------------------

REDIS_ADDRESS_ENV = {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}


@pytest.mark.parametrize(
    ("storage_ns", "username_env", "password_env", "username_param", "password_param"),
    [
        ("", "", "", "", ""),
        ("test-ns", "", "", "", ""),
        ("", "", "test-password", "", ""),
        ("", "test-username", "test-password", "", ""),
        ("", "", "", "", "test-password"),
        ("", "", "", "test-username", "test-password"),
        ("", "", "test-password", "", "$REDIS_PASSWORD"),
    ],
)
def test_annotation_path_head(
    storage_ns: str, username_env: str, password_env: str, username_param: str, password_param: str
) -> None:
    annotations = {"ray.io/ft-enabled": "true"}
    if storage_ns:
        annotations["ray.io/external-storage-namespace"] = storage_ns
    head_env = [REDIS_ADDRESS_ENV]
    if username_env:
        head_env.append({"name": "REDIS_USERNAME", "value": username_env})
    if password_env:
        head_env.append({"name": "REDIS_PASSWORD", "value": password_env})
    params = {}
    if username_param:
        params["redis-username"] = username_param
    if password_param:
        params["redis-password"] = password_param
    c = make_cluster(annotations=annotations, head_env=head_env, params=params)
    template, out_params = configure(c, "head")

    assert env_named(template, RECONNECT) is None
    tmpl_annotations = template["metadata"]["annotations"]
    assert tmpl_annotations["ray.io/ft-enabled"] == "true"
    expected_ns = storage_ns or "test-uid"
    assert tmpl_annotations["ray.io/external-storage-namespace"] == expected_ns
    assert env_named(template, "RAY_external_storage_namespace") == {
        "name": "RAY_external_storage_namespace",
        "value": expected_ns,
    }
    if username_env:
        assert env_named(template, "REDIS_USERNAME") == {
            "name": "REDIS_USERNAME",
            "value": username_env,
        }
    passwords = [e for e in env(template) if e["name"] == "REDIS_PASSWORD"]
    if password_env:
        assert passwords == [{"name": "REDIS_PASSWORD", "value": password_env}]
    elif password_param:
        # A literal password in rayStartParams is copied for the Redis cleanup Job.
        assert passwords == [{"name": "REDIS_PASSWORD", "value": password_param}]
    else:
        assert passwords == []
    assert env_named(template, "RAY_REDIS_ADDRESS") == REDIS_ADDRESS_ENV  # the user's, once
    assert out_params == params  # the annotation path leaves rayStartParams alone


def test_annotation_path_worker() -> None:
    c = make_cluster(
        annotations={"ray.io/ft-enabled": "true"},
        head_env=[REDIS_ADDRESS_ENV, {"name": "REDIS_PASSWORD", "value": "pw"}],
        params={"redis-password": "$REDIS_PASSWORD"},
    )
    template, _ = configure(c, "worker")
    assert_worker_config(template)


@pytest.mark.parametrize("value", ["false", "", "no"])
def test_disabled_only_stamps_the_head_annotation(value: str) -> None:
    c = make_cluster(annotations={"ray.io/ft-enabled": value})
    assert not is_gcs_ft_enabled(c)
    head, _ = configure(c, "head")
    assert head["metadata"]["annotations"] == {"ray.io/ft-enabled": "false"}
    assert env(head) == []
    work, _ = configure(c, "worker")
    assert env(work) == []
    assert "ray.io/ft-enabled" not in (work.get("metadata", {}).get("annotations") or {})


def test_annotation_value_is_case_insensitive() -> None:
    assert is_gcs_ft_enabled(make_cluster(annotations={"ray.io/ft-enabled": "TRUE"}))


def test_user_reconnect_timeout_is_kept() -> None:
    c = make_cluster(options={"redisAddress": "redis:6379"})
    assert c.spec.worker_group_specs
    c.spec.worker_group_specs[0].template["spec"]["containers"][0]["env"] = [
        {"name": RECONNECT, "value": "120"}
    ]
    template, _ = configure(c, "worker")
    assert env(template) == [{"name": RECONNECT, "value": "120"}]


# --- gcsFaultToleranceOptions -------------------------------------------------------------

SECRET_REF = {"secretKeyRef": {"name": "redis-password-secret", "key": "password"}}


@pytest.mark.parametrize(
    "options",
    [
        {"redisAddress": "redis:6379"},
        {"redisAddress": "redis:6379", "redisPassword": {"value": "test-password"}},
        {
            "redisAddress": "redis:6379",
            "redisUsername": {"value": "test-username"},
            "redisPassword": {"value": "test-password"},
        },
        {"redisAddress": "redis:6379", "redisPassword": {"valueFrom": SECRET_REF}},
        {
            "redisAddress": "redis:6379",
            "redisUsername": {"valueFrom": {"fieldRef": {"fieldPath": "spec.redisUsername"}}},
            "redisPassword": {"valueFrom": SECRET_REF},
        },
        {"redisAddress": "redis:6379", "externalStorageNamespace": "test-ns"},
    ],
)
def test_options_path_head(options: dict[str, Any]) -> None:
    c = make_cluster(options=options)
    template, params = configure(c, "head")
    assert env_named(template, RECONNECT) is None
    assert template["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert env_named(template, "RAY_REDIS_ADDRESS") == REDIS_ADDRESS_ENV
    for key, env_name, param in (
        ("redisUsername", "REDIS_USERNAME", "redis-username"),
        ("redisPassword", "REDIS_PASSWORD", "redis-password"),
    ):
        if key in options:
            assert env_named(template, env_name) == {"name": env_name, **options[key]}
            assert params[param] == f"${env_name}"
        else:
            assert env_named(template, env_name) is None
            assert param not in params
    ns = options.get("externalStorageNamespace", "test-uid")
    assert template["metadata"]["annotations"]["ray.io/external-storage-namespace"] == ns
    assert env_named(template, "RAY_external_storage_namespace") == {
        "name": "RAY_external_storage_namespace",
        "value": ns,
    }


def test_options_path_worker() -> None:
    template, params = configure(make_cluster(options={"redisAddress": "redis:6379"}), "worker")
    assert_worker_config(template)
    assert params == {}


def test_empty_redis_address_is_still_appended() -> None:
    template, _ = configure(make_cluster(options={}), "head")
    assert {"name": "RAY_REDIS_ADDRESS"} in env(template)


def test_head_env_order() -> None:
    options = {
        "redisAddress": "redis:6379",
        "redisUsername": {"value": "u"},
        "redisPassword": {"value": "p"},
    }
    template, _ = configure(make_cluster(options=options), "head")
    assert [e["name"] for e in env(template)] == [
        "RAY_external_storage_namespace",
        "RAY_REDIS_ADDRESS",
        "REDIS_USERNAME",
        "REDIS_PASSWORD",
    ]


def test_storage_namespace_precedence() -> None:
    assert external_storage_namespace(make_cluster(options={})) == "test-uid"
    annotated = make_cluster(annotations={"ray.io/external-storage-namespace": "from-annotation"})
    assert external_storage_namespace(annotated) == "from-annotation"
    both = make_cluster(
        annotations={"ray.io/external-storage-namespace": "from-annotation"},
        options={"externalStorageNamespace": "from-option"},
    )
    assert external_storage_namespace(both) == "from-option"


def test_the_pod_builders_wire_redis_credentials_into_the_command() -> None:
    options = {
        "redisAddress": "redis:6379",
        "redisUsername": {"value": "u"},
        "redisPassword": {"valueFrom": SECRET_REF},
    }
    c = make_cluster(options=options)
    config = OperatorConfig()
    head = build_head_pod(c, config)
    args = head["spec"]["containers"][0]["args"][0]
    assert " --redis-password=$REDIS_PASSWORD " in args
    assert " --redis-username=$REDIS_USERNAME " in args
    annotations = head["metadata"]["annotations"]
    assert annotations["ray.io/ft-enabled"] == "true"
    assert annotations["ray.io/external-storage-namespace"] == "test-uid"
    # The cluster's own rayStartParams are not modified.
    assert c.spec.head_group_spec.ray_start_params == {}
    assert c.spec.worker_group_specs
    work = build_worker_pod(c, c.spec.worker_group_specs[0], config, replica_index=0)
    work_env = work["spec"]["containers"][0]["env"]
    assert {"name": RECONNECT, "value": "600"} in work_env
    assert not any(e["name"].startswith(("RAY_REDIS", "REDIS_")) for e in work_env)
    assert "annotations" not in work["metadata"]


# --- embedded RocksDB ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "claim", "sub_path"),
    [
        (None, "test-cluster-gcs-pvc", None),
        ({"claimName": "my-pvc"}, "my-pvc", None),
        ({"subPath": "clusters/foo"}, "test-cluster-gcs-pvc", "clusters/foo"),
    ],
)
def test_embedded_backend(storage: dict[str, str] | None, claim: str, sub_path: str | None) -> None:
    options: dict[str, Any] = {"backend": "rocksdb"}
    if storage is not None:
        options["storage"] = storage
    c = make_cluster(options=options)
    assert is_gcs_ft_embedded(c)
    assert gcs_storage_pvc_name(c) == claim
    template, _ = configure(c, "head")
    assert env(template) == [
        {"name": "RAY_gcs_storage", "value": "rocksdb"},
        {"name": "RAY_gcs_storage_path", "value": "/data/gcs"},
    ]
    mount: dict[str, Any] = {"name": "gcs-storage", "mountPath": "/data/gcs"}
    if sub_path:
        mount["subPath"] = sub_path
    assert template["spec"]["containers"][0]["volumeMounts"] == [mount]
    assert template["spec"]["volumes"] == [
        {"name": "gcs-storage", "persistentVolumeClaim": {"claimName": claim}}
    ]
    assert "ray.io/external-storage-namespace" not in template["metadata"]["annotations"]
    work, _ = configure(c, "worker")
    assert env(work) == [{"name": RECONNECT, "value": "600"}]
