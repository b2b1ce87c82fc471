"""Every RayCluster rule of KubeRay's validation, with KubeRay's exact message and order.

Each case starts from one valid manifest (ours, KubeRay-shaped) and breaks exactly one rule,
so the whole error list must be that one message: a stray second message means a rule fired
that should not have.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kuberay_py.api.config import FeatureGates, OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayCluster, RayClusterStatus
from kuberay_py.api.validation import (
    duplicate_worker_group_index,
    raycluster_spec_warnings,
    validate_raycluster_metadata,
    validate_raycluster_spec,
    validate_raycluster_status,
    validate_raycluster_upgrade_options,
    validate_unique_group_names,
)

Json = dict[str, Any]

HEAD_CONTAINER: Json = {"name": "ray-head", "image": "rayproject/ray:2.52.0"}
WORKER_CONTAINER: Json = {"name": "ray-worker", "image": "rayproject/ray:2.52.0"}
WORKER: Json = {
    "groupName": "small-group",
    "replicas": 1,
    "minReplicas": 0,
    "maxReplicas": 5,
    "rayStartParams": {},
    "template": {"spec": {"containers": [WORKER_CONTAINER]}},
}
SAMPLE: Json = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "raycluster-sample", "namespace": "default"},
    "spec": {
        "rayVersion": "2.52.0",
        "headGroupSpec": {
            "rayStartParams": {"dashboard-host": "0.0.0.0"},
            "template": {"spec": {"containers": [HEAD_CONTAINER]}},
        },
        "workerGroupSpecs": [WORKER],
    },
}
GATES_ON = {
    "gcs_fault_tolerance_embedded_storage": True,
    "ray_cluster_mtls": True,
    "ray_cluster_network_policy": True,
    "ray_cluster_history_server": True,
}


def merge(base: Json, patch: Json) -> Json:
    """Deep merge of dicts; a list in the patch replaces the base's list."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def cluster(*patches: Json) -> RayCluster:
    manifest = SAMPLE
    for patch in patches:
        manifest = merge(manifest, patch)
    return raycluster_from_dict(manifest)


# --- patch builders, in KubeRay manifest terms ---------------------------------------------


def spec(**fields: Any) -> Json:
    return {"spec": fields}


def head(**fields: Any) -> Json:
    return spec(headGroupSpec=fields)


def head_pod(**pod_spec: Any) -> Json:
    return head(template={"spec": pod_spec})


def head_container(**fields: Any) -> Json:
    return head_pod(containers=[{**HEAD_CONTAINER, **fields}])


def head_env(**env: str) -> Json:
    return head_container(env=[{"name": k, "value": v} for k, v in env.items()])


def groups(*groups: Json) -> Json:
    return spec(workerGroupSpecs=[merge(WORKER, g) for g in groups])


def group(**fields: Any) -> Json:
    return groups(fields)


def group_container(**fields: Any) -> Json:
    return group(template={"spec": {"containers": [{**WORKER_CONTAINER, **fields}]}})


AUTOSCALING = spec(enableInTreeAutoscaling=True)
AUTOSCALER_V2 = spec(enableInTreeAutoscaling=True, autoscalerOptions={"version": "v2"})
FT_OPTIONS = spec(gcsFaultToleranceOptions={"redisAddress": "redis:6379"})
ROCKSDB = spec(gcsFaultToleranceOptions={"backend": "rocksdb"})


def validate(c: RayCluster, annotations: dict[str, str] | None = None, **gates: bool) -> list[str]:
    config = OperatorConfig(gates=FeatureGates(**{**GATES_ON, **gates}))
    return validate_raycluster_spec(c.spec, annotations or {}, config)


# --- valid clusters --------------------------------------------------------------------------


def test_the_sample_passes_every_check() -> None:
    c = cluster()
    assert validate_raycluster_metadata(c.metadata) == []
    assert validate(c) == []
    assert validate_raycluster_status(c.status) == []
    assert validate_raycluster_upgrade_options(c) == []
    assert validate_unique_group_names(c.spec) == []
    assert raycluster_spec_warnings(c.spec) == []


@pytest.mark.parametrize(
    "patches",
    [
        pytest.param(
            [AUTOSCALING, group(minReplicas=None, maxReplicas=None)], id="autoscaler-no-bounds"
        ),
        pytest.param([AUTOSCALER_V2, group(idleTimeoutSeconds=60)], id="idle-timeout-v2"),
        pytest.param(
            [head_env(RAY_enable_autoscaler_v2="true"), AUTOSCALING, group(idleTimeoutSeconds=0)],
            id="idle-timeout-v2-env",
        ),
        pytest.param(
            [spec(rayVersion="2.56.0"), AUTOSCALER_V2, group(priority=3)], id="priority-v2"
        ),
        pytest.param([group(priority=0)], id="priority-zero"),
        pytest.param([FT_OPTIONS], id="ft-options"),
        pytest.param([head_env(RAY_enable_autoscaler_v2="false")], id="v2-env-false"),
        pytest.param(
            [AUTOSCALER_V2, head_pod(containers=[HEAD_CONTAINER], restartPolicy="Never")],
            id="v2-never",
        ),
        pytest.param([spec(authOptions={"mode": "token"})], id="auth-token-2.52"),
        pytest.param(
            [spec(rayVersion="2.55.0", authOptions={"mode": "token", "enableK8sTokenAuth": True})],
            id="k8s-token-auth",
        ),
        pytest.param([spec(authOptions={"mode": "disabled"})], id="auth-disabled"),
        pytest.param([head(labels={"ray.io/market-type": "on-demand", "empty": ""})], id="labels"),
        pytest.param([spec(tlsOptions={"enabled": False})], id="tls-disabled"),
        pytest.param(
            [ROCKSDB, spec(gcsFaultToleranceOptions={"storage": {"claimName": "mine"}})],
            id="rocksdb-claim",
        ),
        pytest.param(
            [
                spec(
                    networkPolicy={
                        "workerGroups": [{"groupName": "small-group", "ingressRules": [{}]}]
                    }
                )
            ],
            id="network-policy",
        ),
    ],
)
def test_valid_variants_pass(patches: list[Json]) -> None:
    assert validate(cluster(*patches)) == []


def test_redis_address_env_is_the_legacy_ft_path_with_the_annotation() -> None:
    c = cluster(head_env(RAY_REDIS_ADDRESS="redis:6379"))
    assert validate(c, {"ray.io/ft-enabled": "TRUE"}) == []


# --- metadata, status, upgrade options ---------------------------------------------------------

DNS1035_ERROR = (
    "[a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')]"
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a" * 53, []),
        ("a" * 54, ["RayCluster name should be no more than 53 characters"]),
        ("1-cluster", [f"RayCluster name should be a valid DNS1035 label: {DNS1035_ERROR}"]),
        ("Cluster", [f"RayCluster name should be a valid DNS1035 label: {DNS1035_ERROR}"]),
        # Go counts bytes: 27 two-byte characters are 54.
        (
            "é" * 27,
            [
                "RayCluster name should be no more than 53 characters",
                f"RayCluster name should be a valid DNS1035 label: {DNS1035_ERROR}",
            ],
        ),
    ],
)
def test_metadata_name_rules(name: str, expected: list[str]) -> None:
    assert validate_raycluster_metadata({"name": name}) == expected


def test_metadata_name_over_63_lists_both_dns_errors_as_go_prints_a_slice() -> None:
    errors = validate_raycluster_metadata({"name": "1" * 64})
    assert errors[0] == "RayCluster name should be no more than 53 characters"
    assert errors[1] == (
        "RayCluster name should be a valid DNS1035 label: [must be no more than 63 characters "
        + DNS1035_ERROR[1:]
    )


def condition(kind: str, status: str) -> Json:
    return {"type": kind, "status": status, "reason": "x", "message": ""}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (None, []),
        ([condition("RayClusterSuspending", "True")], []),
        (
            [condition("RayClusterSuspending", "True"), condition("RayClusterSuspended", "False")],
            [],
        ),
        (
            [condition("RayClusterSuspending", "True"), condition("RayClusterSuspended", "True")],
            [
                "invalid RayCluster State: rayv1.RayClusterSuspending and "
                "rayv1.RayClusterSuspended conditions should not be both true"
            ],
        ),
    ],
)
def test_status_rule(conditions: list[Json] | None, expected: list[str]) -> None:
    assert validate_raycluster_status(RayClusterStatus(conditions=conditions)) == expected


def test_status_rule_accepts_a_cluster_without_status() -> None:
    assert validate_raycluster_status(None) == []


@pytest.mark.parametrize(
    ("strategy", "creator", "expected"),
    [
        ({"type": "Recreate"}, None, []),
        ({"type": "None"}, "RayCluster", []),
        ({}, "RayJob", []),
        (
            {"type": "InvalidStrategy"},
            None,
            [
                "The RayCluster spec is invalid: Spec.UpgradeStrategy.Type value InvalidStrategy "
                "is invalid, valid options are Recreate or None"
            ],
        ),
        (
            {"type": "Recreate"},
            "RayJob",
            ["upgradeStrategy cannot be set when RayCluster is created by RayJob"],
        ),
        (
            {"type": "None"},
            "RayService",
            ["upgradeStrategy cannot be set when RayCluster is created by RayService"],
        ),
    ],
)
def test_upgrade_options(strategy: Json, creator: str | None, expected: list[str]) -> None:
    labels = {"ray.io/originated-from-crd": creator} if creator else {}
    c = cluster(spec(upgradeStrategy=strategy), {"metadata": {"labels": labels}})
    assert validate_raycluster_upgrade_options(c) == expected


# --- spec rules 1-15 ---------------------------------------------------------------------------

LABEL_KEY_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ROCKSDB_GATE_ERROR = (
    "the embedded RocksDB GCS fault tolerance backend (GcsFaultToleranceOptions.Backend: "
    "'rocksdb') requires the GCSFaultToleranceEmbeddedStorage feature gate to be enabled"
)
NOT_IN_RAY = "it is managed by KubeRay and injected automatically into the collector container"
TLS_MANAGED = "the operator manages TLS configuration automatically"


def history(collector: Json | None, *more: Json) -> list[Json]:
    """historyServerOptions with a valid-but-for-the-case collector."""
    options: Json = {} if collector is None else {"collectorOptions": collector}
    return [spec(historyServerOptions=options), *more]


def collector(*envs: tuple[str, str], image: str | None = "ray-history:1") -> Json:
    out: Json = {"env": [{"name": name, "value": value} for name, value in envs]}
    if image is not None:
        out["image"] = image
    return out


GCS_BACKEND = ("STORAGE_BACKEND", "gcs")

# (id, patches, annotations, gates, message)
SPEC_CASES: list[tuple[str, list[Json], dict[str, str], dict[str, bool], str]] = [
    # 1
    (
        "head-no-containers",
        [head_pod(containers=[])],
        {},
        {},
        "headGroupSpec should have at least one container",
    ),
    # 2
    (
        "head-resources-conflict",
        [head(rayStartParams={"num-cpus": "1"}, resources={"CPU": "1"})],
        {},
        {},
        "resource fields should not be set in both rayStartParams and Resources for Head group; "
        "please use only one",
    ),
    # 3
    (
        "head-labels-in-ray-start-params",
        [head(rayStartParams={"labels": "ray.io/node-group=head"})],
        {},
        {},
        "rayStartParams['labels'] is not supported for Head group; please use the top-level "
        "Labels field instead",
    ),
    (
        "head-label-value",
        [head(labels={"valid-key": "invalid/value"})],
        {},
        {},
        "invalid label value for key 'valid-key' in Head group: 'invalid/value', error: "
        + LABEL_VALUE_ERROR,
    ),
    (
        "head-labels-joined-in-key-order",
        [head(labels={"z!": "ok", "a": "bad value"})],
        {},
        {},
        "invalid label value for key 'a' in Head group: 'bad value', error: "
        + LABEL_VALUE_ERROR
        + "; invalid label key for Head group: 'z!', error: "
        + LABEL_KEY_ERROR,
    ),
    # 4
    (
        "worker-no-containers",
        [group(template={"spec": {"containers": []}})],
        {},
        {},
        "workerGroupSpec should have at least one container",
    ),
    (
        "worker-bounds-unset",
        [group(minReplicas=None)],
        {},
        {},
        "worker group small-group must set both minReplicas and maxReplicas when autoscaling "
        "is disabled",
    ),
    (
        "worker-negative-min",
        [group(minReplicas=-1)],
        {},
        {},
        "worker group small-group has negative minReplicas -1",
    ),
    (
        "worker-negative-max",
        [group(minReplicas=None, maxReplicas=-1), AUTOSCALING],
        {},
        {},
        "worker group small-group has negative maxReplicas -1",
    ),
    (
        "worker-min-over-max",
        [group(minReplicas=5, maxReplicas=3)],
        {},
        {},
        "worker group small-group has minReplicas 5 greater than maxReplicas 3",
    ),
    (
        "worker-resources-conflict",
        [group(rayStartParams={"resources": '{"TPU": 4}'}, resources={"TPU": "4"})],
        {},
        {},
        "resource fields should not be set in both rayStartParams and Resources for small-group "
        "group; please use only one",
    ),
    (
        "worker-labels-in-ray-start-params",
        [group(rayStartParams={"labels": "a=b"})],
        {},
        {},
        "rayStartParams['labels'] is not supported for small-group group; please use the "
        "top-level Labels field instead",
    ),
    (
        "worker-label-key",
        [group(labels={"invalid_key!": "value"})],
        {},
        {},
        "invalid label key for small-group group: 'invalid_key!', error: " + LABEL_KEY_ERROR,
    ),
    (
        "worker-negative-idle-timeout",
        [AUTOSCALER_V2, group(idleTimeoutSeconds=-10)],
        {},
        {},
        "worker group small-group: idleTimeoutSeconds must be non-negative, got -10",
    ),
    (
        "worker-idle-timeout-without-v2",
        [AUTOSCALING, group(idleTimeoutSeconds=60)],
        {},
        {},
        "worker group small-group: idleTimeoutSeconds is set, but autoscaler v2 is not enabled. "
        "Please set .spec.autoscalerOptions.version to 'v2' (or set RAY_enable_autoscaler_v2 "
        "environment variable to 'true' in the head pod if using KubeRay < 1.4.0)",
    ),
    (
        "worker-priority-without-ray-version",
        [spec(rayVersion=None), AUTOSCALER_V2, group(priority=1)],
        {},
        {},
        "worker group small-group: priority is set, but RayVersion was not specified. Ray "
        "version 2.56.0 or later is required",
    ),
    (
        "worker-priority-invalid-ray-version",
        [spec(rayVersion="invalid"), AUTOSCALER_V2, group(priority=1)],
        {},
        {},
        "worker group small-group: priority is set, but RayVersion format is invalid: invalid, "
        'could not parse "invalid" as version',
    ),
    (
        "worker-priority-old-ray",
        [spec(rayVersion="2.55.0"), AUTOSCALER_V2, group(priority=1)],
        {},
        {},
        "worker group small-group: priority is set, but minimum Ray version is 2.56.0, got 2.55.0",
    ),
    (
        "worker-priority-without-v2",
        [spec(rayVersion="2.56.0"), AUTOSCALING, group(priority=2)],
        {},
        {},
        "worker group small-group: priority is set to 2, but autoscaler v2 is not enabled. "
        "Priority is only supported with autoscaler v2 enabled",
    ),
    # 5
    (
        "ft-annotation-and-options",
        [FT_OPTIONS],
        {"ray.io/ft-enabled": "false"},
        {},
        "ray.io/ft-enabled annotation and GcsFaultToleranceOptions are both set. Please use only "
        "GcsFaultToleranceOptions to configure GCS fault tolerance",
    ),
    # 6
    (
        "redis-address-without-ft",
        [head_env(RAY_REDIS_ADDRESS="redis:6379")],
        {},
        {},
        "RAY_REDIS_ADDRESS is set which implicitly enables GCS fault tolerance, but "
        "GcsFaultToleranceOptions is not set. Please set GcsFaultToleranceOptions to enable GCS "
        "fault tolerance",
    ),
    # 7
    (
        "ft-options-redis-password-param",
        [FT_OPTIONS, head(rayStartParams={"redis-password": "$REDIS_PASSWORD"})],
        {},
        {},
        "cannot set `redis-password` in rayStartParams when GcsFaultToleranceOptions is enabled "
        "- use GcsFaultToleranceOptions.RedisPassword instead",
    ),
    (
        "ft-options-redis-password-env",
        [FT_OPTIONS, head_env(REDIS_PASSWORD="secret")],
        {},
        {},
        "cannot set `REDIS_PASSWORD` env var in head Pod when GcsFaultToleranceOptions is "
        "enabled - use GcsFaultToleranceOptions.RedisPassword instead",
    ),
    (
        "ft-options-redis-address-env",
        [FT_OPTIONS, head_env(RAY_REDIS_ADDRESS="redis:6379")],
        {},
        {},
        "cannot set `RAY_REDIS_ADDRESS` env var in head Pod when GcsFaultToleranceOptions is "
        "enabled - use GcsFaultToleranceOptions.RedisAddress instead",
    ),
    (
        "ft-options-storage-namespace-annotation",
        [FT_OPTIONS],
        {"ray.io/external-storage-namespace": "ns"},
        {},
        "cannot set `ray.io/external-storage-namespace` annotation when GcsFaultToleranceOptions "
        "is enabled - use GcsFaultToleranceOptions.ExternalStorageNamespace instead",
    ),
    (
        "rocksdb-without-gate",
        [ROCKSDB],
        {},
        {"gcs_fault_tolerance_embedded_storage": False},
        ROCKSDB_GATE_ERROR,
    ),
    (
        "rocksdb-redis-address",
        [spec(gcsFaultToleranceOptions={"backend": "rocksdb", "redisAddress": "redis:6379"})],
        {},
        {},
        "cannot set GcsFaultToleranceOptions.RedisAddress when backend is 'rocksdb'",
    ),
    (
        "rocksdb-redis-username",
        [spec(gcsFaultToleranceOptions={"backend": "rocksdb", "redisUsername": {"value": "u"}})],
        {},
        {},
        "cannot set GcsFaultToleranceOptions.RedisUsername when backend is 'rocksdb'",
    ),
    (
        "rocksdb-redis-password",
        [spec(gcsFaultToleranceOptions={"backend": "rocksdb", "redisPassword": {"value": "p"}})],
        {},
        {},
        "cannot set GcsFaultToleranceOptions.RedisPassword when backend is 'rocksdb'",
    ),
    (
        "rocksdb-storage-namespace",
        [spec(gcsFaultToleranceOptions={"backend": "rocksdb", "externalStorageNamespace": "n"})],
        {},
        {},
        "cannot set GcsFaultToleranceOptions.ExternalStorageNamespace when backend is 'rocksdb'",
    ),
    (
        "rocksdb-claim-and-size",
        [
            spec(
                gcsFaultToleranceOptions={
                    "backend": "rocksdb",
                    "storage": {"claimName": "c", "size": "1Gi"},
                }
            )
        ],
        {},
        {},
        "GcsFaultToleranceOptions.Storage.ClaimName is mutually exclusive with size, "
        "storageClassName, and accessModes",
    ),
    (
        "rocksdb-storage-env",
        [ROCKSDB, head_env(RAY_gcs_storage_path="/x")],
        {},
        {},
        "cannot set `RAY_gcs_storage` or `RAY_gcs_storage_path` env var in head Pod when the "
        "embedded GCS FT backend is used - these are managed by KubeRay",
    ),
    (
        "rocksdb-mount-path",
        [ROCKSDB, head_container(volumeMounts=[{"name": "data", "mountPath": "/data/gcs"}])],
        {},
        {},
        'cannot set a volume mount named "gcs-storage" or mounted at /data/gcs in the head '
        "container when the embedded GCS FT backend is used - it is managed by KubeRay",
    ),
    (
        "rocksdb-volume",
        [
            ROCKSDB,
            head_pod(
                containers=[HEAD_CONTAINER], volumes=[{"name": "gcs-storage", "emptyDir": {}}]
            ),
        ],
        {},
        {},
        'cannot set a volume named "gcs-storage" in the head Pod when the embedded GCS FT backend '
        "is used - it is managed by KubeRay",
    ),
    (
        "redis-backend-with-storage",
        [spec(gcsFaultToleranceOptions={"redisAddress": "r:6379", "storage": {"size": "1Gi"}})],
        {},
        {},
        "cannot set GcsFaultToleranceOptions.Storage when backend is 'redis' - it only applies "
        "to the 'rocksdb' backend",
    ),
    # 8
    (
        "redis-username-param",
        [head(rayStartParams={"redis-username": "u"})],
        {},
        {},
        "cannot set redis username in rayStartParams or environment variables - use "
        "GcsFaultToleranceOptions.RedisUsername instead",
    ),
    (
        "redis-username-env-with-ft",
        [FT_OPTIONS, head_env(REDIS_USERNAME="u")],
        {},
        {},
        "cannot set redis username in rayStartParams or environment variables - use "
        "GcsFaultToleranceOptions.RedisUsername instead",
    ),
    # 9
    (
        "suspended-group-without-gate",
        [group(suspend=True)],
        {},
        {"ray_job_deletion_policy": False},
        "worker group small-group can be suspended only when the RayJobDeletionPolicy feature "
        "gate is enabled",
    ),
    # 10
    (
        "v2-env-1-without-autoscaling",
        [head_env(RAY_enable_autoscaler_v2="1")],
        {},
        {},
        "environment variable RAY_enable_autoscaler_v2 cannot be set to '1' when "
        "enableInTreeAutoscaling is false. Please set enableInTreeAutoscaling: true to use "
        "autoscaler v2",
    ),
    (
        "v2-env-true-without-autoscaling",
        [head_env(RAY_enable_autoscaler_v2="true")],
        {},
        {},
        "environment variable RAY_enable_autoscaler_v2 cannot be set to 'true' when "
        "enableInTreeAutoscaling is false. Please set enableInTreeAutoscaling: true to use "
        "autoscaler v2",
    ),
    # 11
    (
        "suspended-group-with-autoscaler",
        [AUTOSCALING, group(suspend=True)],
        {},
        {},
        "worker group small-group cannot be suspended with Autoscaler enabled",
    ),
    (
        "autoscaler-version-and-env",
        [
            AUTOSCALING,
            spec(autoscalerOptions={"version": "v1"}),
            head_env(RAY_enable_autoscaler_v2="0"),
        ],
        {},
        {},
        "both .spec.autoscalerOptions.version and head Pod env var RAY_enable_autoscaler_v2 are "
        "set, please only use the former",
    ),
    (
        "v2-head-restart-policy",
        [AUTOSCALER_V2, head_pod(containers=[HEAD_CONTAINER], restartPolicy="Always")],
        {},
        {},
        "restartPolicy for head Pod should be Never or unset when using autoscaler V2",
    ),
    (
        "v2-worker-restart-policy",
        [
            AUTOSCALER_V2,
            group(
                template={"spec": {"containers": [WORKER_CONTAINER], "restartPolicy": "OnFailure"}}
            ),
        ],
        {},
        {},
        "restartPolicy for worker group small-group should be Never or unset when using "
        "autoscaler V2",
    ),
    # 12
    (
        "autoscaler-negative-idle-timeout",
        [AUTOSCALING, spec(autoscalerOptions={"idleTimeoutSeconds": -10})],
        {},
        {},
        "autoscalerOptions.idleTimeoutSeconds must be non-negative, got -10",
    ),
    (
        "autoscaler-start-cmd-env",
        [
            AUTOSCALING,
            spec(
                autoscalerOptions={
                    "env": [{"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": "x"}]
                }
            ),
        ],
        {},
        {},
        "autoscalerOptions.env must not contain KUBERAY_GEN_AUTOSCALER_START_CMD: it is managed "
        "by KubeRay and injected automatically into the autoscaler container",
    ),
    # 13
    (
        "history-without-gate",
        history(collector(GCS_BACKEND, ("GCS_BUCKET", "b"))),
        {},
        {"ray_cluster_history_server": False},
        "RayClusterHistoryServer feature gate is not enabled",
    ),
    (
        "history-no-collector",
        history(None),
        {},
        {},
        "historyServerOptions.collectorOptions must be set",
    ),
    (
        "history-no-image",
        history(collector(GCS_BACKEND, ("GCS_BUCKET", "b"), image=None)),
        {},
        {},
        "historyServerOptions.collectorOptions.image must be set",
    ),
    (
        "history-managed-env",
        history(collector(GCS_BACKEND, ("GCS_BUCKET", "b"), ("EVENTS_PORT", "1"))),
        {},
        {},
        f"historyServerOptions.collectorOptions.env must not contain EVENTS_PORT: {NOT_IN_RAY}",
    ),
    (
        "history-no-backend",
        history(collector(("STORAGE_BACKEND", ""))),
        {},
        {},
        "STORAGE_BACKEND environment variable must be set with a literal string value in "
        "historyServerOptions.collectorOptions.env",
    ),
    (
        "history-gcs-bucket",
        history(collector(GCS_BACKEND)),
        {},
        {},
        "GCS_BUCKET environment variable must be set when STORAGE_BACKEND is GCS",
    ),
    (
        "history-s3-region",
        history(collector(("STORAGE_BACKEND", "S3"), ("S3_REGION", ""))),
        {},
        {},
        "S3_REGION environment variable must be set when STORAGE_BACKEND is S3",
    ),
    (
        "history-azure-connection-string",
        history(
            collector(
                ("STORAGE_BACKEND", "AzureBlob"), ("AZURE_STORAGE_AUTH_MODE", " Connection_String ")
            )
        ),
        {},
        {},
        "AZURE_STORAGE_CONNECTION_STRING environment variable must be set when STORAGE_BACKEND "
        "is AZUREBLOB and AZURE_STORAGE_AUTH_MODE is connection_string",
    ),
    (
        "history-azure-workload-identity",
        history(
            collector(
                ("STORAGE_BACKEND", "azureblob"), ("AZURE_STORAGE_AUTH_MODE", "workload_identity")
            )
        ),
        {},
        {},
        "AZURE_STORAGE_ACCOUNT_URL environment variable must be set when STORAGE_BACKEND is "
        "AZUREBLOB and AZURE_STORAGE_AUTH_MODE is workload_identity",
    ),
    (
        "history-azure-either",
        history(collector(("STORAGE_BACKEND", "azureblob"))),
        {},
        {},
        "either AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL environment "
        "variable must be set when STORAGE_BACKEND is AZUREBLOB",
    ),
    (
        "history-aliyun-region",
        history(
            collector(("STORAGE_BACKEND", "aliyunoss"), ("OSS_BUCKET", "b"), ("OSS_ENDPOINT", "e"))
        ),
        {},
        {},
        "OSS_REGION environment variable must be set when STORAGE_BACKEND is ALIYUNOSS",
    ),
    (
        "history-head-collector-container",
        history(
            collector(GCS_BACKEND, ("GCS_BUCKET", "b")),
            head_pod(containers=[HEAD_CONTAINER, {"name": "ray-history-collector", "image": "x"}]),
        ),
        {},
        {},
        "head pod template must not define a container with name 'ray-history-collector' when "
        "history server collector options are enabled",
    ),
    (
        "history-worker-collector-container",
        history(
            collector(GCS_BACKEND, ("GCS_BUCKET", "b")),
            group(
                template={
                    "spec": {"containers": [WORKER_CONTAINER, {"name": "ray-history-collector"}]}
                }
            ),
        ),
        {},
        {},
        "worker group small-group pod template must not define a container with name "
        "'ray-history-collector' when history server collector options are enabled",
    ),
    # 14
    (
        "auth-token-without-ray-version",
        [spec(rayVersion="", authOptions={"mode": "token"})],
        {},
        {},
        "authOptions.mode is 'token' but RayVersion was not specified. Ray version 2.52.0 or "
        "later is required",
    ),
    (
        "auth-token-invalid-ray-version",
        [spec(rayVersion="invalid-version", authOptions={"mode": "token"})],
        {},
        {},
        "authOptions.mode is 'token' but RayVersion format is invalid: invalid-version, could "
        'not parse "invalid-version" as version',
    ),
    (
        "auth-token-old-ray",
        [spec(rayVersion="2.50.0", authOptions={"mode": "token"})],
        {},
        {},
        "authOptions.mode is 'token' but minimum Ray version is 2.52.0, got 2.50.0",
    ),
    (
        "k8s-token-auth-old-ray",
        [spec(rayVersion="2.54.0", authOptions={"mode": "token", "enableK8sTokenAuth": True})],
        {},
        {},
        "authOptions.enableK8sTokenAuth is enabled but minimum Ray version is 2.55.0, got 2.54.0",
    ),
    (
        "k8s-token-auth-and-secret",
        [
            spec(
                rayVersion="2.55.0",
                authOptions={"mode": "token", "enableK8sTokenAuth": True, "secretName": "s"},
            )
        ],
        {},
        {},
        "authOptions.enableK8sTokenAuth is enabled and authOptions.secretName is also set",
    ),
    (
        "k8s-token-auth-without-token-mode",
        [spec(authOptions={"enableK8sTokenAuth": True})],
        {},
        {},
        "authOptions.enableK8sTokenAuth is enabled but authOptions.mode not set to 'token'",
    ),
    # 15
    (
        "network-policy-without-gate",
        [spec(networkPolicy={})],
        {},
        {"ray_cluster_network_policy": False},
        "spec.networkPolicy requires the RayClusterNetworkPolicy feature gate to be enabled",
    ),
    (
        "network-policy-head-ingress-under-deny-egress",
        [spec(networkPolicy={"mode": "DenyAllEgress", "head": {"ingressRules": [{}]}})],
        {},
        {},
        'networkPolicy.head.ingressRules cannot be set when mode is "DenyAllEgress" (ingress is '
        "not restricted)",
    ),
    (
        "network-policy-worker-egress-under-deny-ingress",
        [spec(networkPolicy={"mode": "DenyAllIngress", "worker": {"egressRules": [{}]}})],
        {},
        {},
        'networkPolicy.worker.egressRules cannot be set when mode is "DenyAllIngress" (egress '
        "is not restricted)",
    ),
    (
        "network-policy-head-egress-under-deny-ingress",
        [spec(networkPolicy={"mode": "DenyAllIngress", "head": {"egressRules": [{}]}})],
        {},
        {},
        'networkPolicy.head.egressRules cannot be set when mode is "DenyAllIngress" (egress is '
        "not restricted)",
    ),
    (
        "network-policy-group-egress-under-deny-ingress",
        [
            spec(
                networkPolicy={
                    "mode": "DenyAllIngress",
                    "workerGroups": [{"groupName": "small-group", "egressRules": [{}]}],
                }
            )
        ],
        {},
        {},
        'networkPolicy.workerGroups["small-group"].egressRules cannot be set when mode is '
        '"DenyAllIngress" (egress is not restricted)',
    ),
    (
        "network-policy-group-name-not-dns1123",
        [spec(networkPolicy={}), group(groupName="GPU-Group")],
        {},
        {},
        'worker group name "GPU-Group" must be a valid DNS1123 label when networkPolicy is '
        "enabled (it is embedded in the NetworkPolicy name): [a lowercase RFC 1123 label must "
        "consist of lower case alphanumeric characters or '-', and must start and end with an "
        "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')]",
    ),
    (
        "network-policy-group-rules-against-mode",
        [
            spec(
                networkPolicy={
                    "mode": "DenyAllEgress",
                    "workerGroups": [{"groupName": "small-group", "ingressRules": [{}]}],
                }
            )
        ],
        {},
        {},
        'networkPolicy.workerGroups["small-group"].ingressRules cannot be set when mode is '
        '"DenyAllEgress" (ingress is not restricted)',
    ),
    (
        "network-policy-unknown-group",
        [spec(networkPolicy={"workerGroups": [{"groupName": "samll-group"}]})],
        {},
        {},
        'networkPolicy.workerGroups["samll-group"] does not match any group name in '
        "workerGroupSpecs",
    ),
    (
        "tls-without-gate",
        [spec(tlsOptions={"enabled": True})],
        {},
        {"ray_cluster_mtls": False},
        "spec.tlsOptions requires the RayClusterMTLS feature gate to be enabled",
    ),
    (
        "tls-head-env",
        [spec(tlsOptions={"enabled": True}), head_env(RAY_USE_TLS="1")],
        {},
        {},
        "cannot set RAY_USE_TLS environment variable in head Pod when tlsOptions is set - "
        + TLS_MANAGED,
    ),
    (
        "tls-head-mount-name",
        [
            spec(tlsOptions={"enabled": True}),
            head_container(volumeMounts=[{"name": "ray-tls", "mountPath": "/x"}]),
        ],
        {},
        {},
        'cannot use volume mount named "ray-tls" in head Pod when tlsOptions is set - '
        + TLS_MANAGED,
    ),
    (
        "tls-worker-env",
        [
            spec(tlsOptions={"enabled": True}),
            group_container(env=[{"name": "RAY_TLS_CA_CERT", "value": "x"}]),
        ],
        {},
        {},
        'cannot set RAY_TLS_CA_CERT environment variable in worker group "small-group" when '
        f"tlsOptions is set - {TLS_MANAGED}",
    ),
    (
        "tls-worker-mount-path",
        [
            spec(tlsOptions={"enabled": True}),
            group_container(volumeMounts=[{"name": "c", "mountPath": "/etc/ray/tls"}]),
        ],
        {},
        {},
        'cannot use volume mount at path "/etc/ray/tls" in worker group "small-group" when '
        f"tlsOptions is set - {TLS_MANAGED}",
    ),
    (
        "tls-autoscaler-env",
        [
            spec(
                tlsOptions={"enabled": True},
                autoscalerOptions={"env": [{"name": "RAY_TLS_SERVER_KEY"}]},
            )
        ],
        {},
        {},
        "cannot set RAY_TLS_SERVER_KEY environment variable in autoscalerOptions.env when "
        "tlsOptions is set - the operator manages TLS configuration for the autoscaler "
        "automatically",
    ),
    (
        "tls-autoscaler-mount",
        [
            spec(
                tlsOptions={"enabled": True},
                autoscalerOptions={"volumeMounts": [{"name": "ray-tls", "mountPath": "/y"}]},
            )
        ],
        {},
        {},
        'cannot use volume mount named "ray-tls" in autoscalerOptions.volumeMounts when '
        f"tlsOptions is set - {TLS_MANAGED}",
    ),
]


@pytest.mark.parametrize(
    ("patches", "annotations", "gates", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in SPEC_CASES],
)
def test_spec_rule(
    patches: list[Json], annotations: dict[str, str], gates: dict[str, bool], message: str
) -> None:
    assert validate(cluster(*patches), annotations, **gates) == [message]


# --- ordering ----------------------------------------------------------------------------------


def test_first_failure_is_kuberays_and_later_rules_follow_in_order() -> None:
    c = cluster(
        head(rayStartParams={"num-cpus": "1"}, resources={"CPU": "1"}),  # rule 2
        FT_OPTIONS,  # rule 5 with the annotation
        group(minReplicas=3, maxReplicas=1),  # rule 4
        spec(authOptions={"enableK8sTokenAuth": True}),  # rule 14
    )
    errors = validate(c, {"ray.io/ft-enabled": "true"})
    assert errors == [
        "resource fields should not be set in both rayStartParams and Resources for Head group; "
        "please use only one",
        "worker group small-group has minReplicas 3 greater than maxReplicas 1",
        "ray.io/ft-enabled annotation and GcsFaultToleranceOptions are both set. Please use only "
        "GcsFaultToleranceOptions to configure GCS fault tolerance",
        "authOptions.enableK8sTokenAuth is enabled but authOptions.mode not set to 'token'",
    ]


def test_a_head_without_containers_stops_validation() -> None:
    c = cluster(head_pod(containers=[]), group(minReplicas=-1), spec(networkPolicy={}))
    assert validate(c, ray_cluster_network_policy=False) == [
        "headGroupSpec should have at least one container"
    ]


def test_worker_groups_are_checked_in_order_each_group_completely() -> None:
    c = cluster(
        groups(
            {"groupName": "first", "minReplicas": -1, "labels": {"k": "bad value"}},
            {"groupName": "second", "template": {"spec": {"containers": []}}},
        )
    )
    errors = validate(c)
    assert errors[0] == "worker group first has negative minReplicas -1"
    assert errors[1].startswith("invalid label value for key 'k' in first group: 'bad value'")
    assert errors[2] == "workerGroupSpec should have at least one container"
    assert len(errors) == 3


def test_per_group_suspension_rules_name_every_group_in_order() -> None:
    c = cluster(
        AUTOSCALING,
        groups({"groupName": "a", "suspend": True}, {"groupName": "b", "suspend": True}),
    )
    assert validate(c) == [
        "worker group a cannot be suspended with Autoscaler enabled",
        "worker group b cannot be suspended with Autoscaler enabled",
    ]


def test_only_the_first_env_entry_of_a_name_counts() -> None:
    """Go's EnvVarByName returns the first match, so a later "true" does not count."""
    c = cluster(
        head_container(
            env=[
                {"name": "RAY_enable_autoscaler_v2", "value": "false"},
                {"name": "RAY_enable_autoscaler_v2", "value": "true"},
            ]
        )
    )
    assert validate(c) == []


def test_validation_does_not_modify_the_cluster() -> None:
    c = cluster(head(labels={"a": "bad value"}), group(minReplicas=-1))
    before = copy.deepcopy(c)
    validate(c)
    assert c == before


# --- webhook rule and warnings -----------------------------------------------------------------


def test_unique_group_names() -> None:
    c = cluster(groups({"groupName": "a"}, {"groupName": "b"}, {"groupName": "a"}))
    assert validate_unique_group_names(c.spec) == ["worker group names must be unique"]
    assert duplicate_worker_group_index(c.spec) == 2
    assert duplicate_worker_group_index(cluster().spec) is None
    assert validate_unique_group_names(cluster(spec(workerGroupSpecs=None)).spec) == []


def restart_group(name: str, policy: str | None) -> Json:
    pod: Json = {"containers": [WORKER_CONTAINER]}
    if policy is not None:
        pod["restartPolicy"] = policy
    return {"groupName": name, "template": {"spec": pod}}


def test_autoscaler_v1_warning_lists_groups_that_may_restart() -> None:
    c = cluster(
        AUTOSCALING,
        spec(autoscalerOptions={"version": "v1"}),
        groups(
            restart_group("a", "Always"),
            restart_group("b", "Never"),
            restart_group("c", None),
            restart_group("d", "OnFailure"),
        ),
    )
    assert raycluster_spec_warnings(c.spec) == [
        "restartPolicy for worker groups [a, d] should be Never or unset when using autoscaler V1"
    ]
    assert validate(c) == []  # a warning, never an error


@pytest.mark.parametrize(
    "patches",
    [
        # KubeRay warns only for an explicit v1, not for the default autoscaler.
        pytest.param([AUTOSCALING, groups(restart_group("a", "Always"))], id="version-unset"),
        pytest.param(
            [spec(autoscalerOptions={"version": "v1"}), groups(restart_group("a", "Always"))],
            id="autoscaler-off",
        ),
        pytest.param(
            [
                AUTOSCALING,
                spec(autoscalerOptions={"version": "v1"}),
                groups(restart_group("a", "Never")),
            ],
            id="all-never",
        ),
    ],
)
def test_no_warning(patches: list[Json]) -> None:
    assert raycluster_spec_warnings(cluster(*patches).spec) == []
