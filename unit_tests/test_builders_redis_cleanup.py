"""The Redis cleanup Job (reference §4.4): built from the head pod, every field KubeRay sets."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from kuberay_py.api.config import FeatureGates, OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.pod import build_head_pod
from kuberay_py.builders.redis_cleanup import (
    build_redis_cleanup_job,
    redis_cleanup_args,
    redis_cleanup_job_name,
)

CONFIG = OperatorConfig()
OWNER = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "name": "raycluster-ft",
    "uid": "uid-ft",
    "controller": True,
    "blockOwnerDeletion": True,
}
DOCS_ECHO = (
    'echo "To get more information about manually deleting the storage namespace in Redis and '
    "removing the RayCluster's finalizer, please check "
    "https://docs.ray.io/en/master/cluster/kubernetes/user-guides/kuberay-gcs-ft.html for more "
    'details." && '
)
SCRIPT_HEAD = (
    'python -c "from ray._private.gcs_utils import cleanup_redis_storage; '
    "from urllib.parse import urlparse; import os; import sys; "
    "redis_address = os.getenv('RAY_REDIS_ADDRESS', '').split(',')[0]; "
    "redis_address = redis_address if '://' in redis_address else 'redis://' + redis_address; "
    "parsed = urlparse(redis_address); "
)
CALL_WITHOUT_USERNAME = (
    "sys.exit(1) if not cleanup_redis_storage(host=parsed.hostname, port=parsed.port, "
    "password=os.getenv('REDIS_PASSWORD', parsed.password or ''), "
    "use_ssl=parsed.scheme=='rediss', "
    "storage_namespace=os.getenv('RAY_external_storage_namespace')) else None\""
)
CALL_WITH_USERNAME = (
    "sys.exit(1) if not cleanup_redis_storage(host=parsed.hostname, port=parsed.port, "
    "username=os.getenv('REDIS_USERNAME', parsed.username), "
    "password=os.getenv('REDIS_PASSWORD', parsed.password or ''), "
    "use_ssl=parsed.scheme=='rediss', "
    "storage_namespace=os.getenv('RAY_external_storage_namespace')) else None\""
)


def ft_cluster(name: str = "raycluster-ft") -> RayCluster:
    return raycluster_from_dict(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": name, "namespace": "default", "uid": "uid-ft"},
            "spec": {
                "gcsFaultToleranceOptions": {"redisAddress": "redis:6379"},
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}},
                },
            },
        }
    )


def head_pod(env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A head pod as build_head_pod shapes it, written by hand (only what the Job uses)."""
    labels = {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": "raycluster-ft",
        "ray.io/node-type": "head",
        "ray.io/group": "headgroup",
        "ray.io/identifier": "raycluster-ft-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    probe = {"exec": {"command": ["bash", "-c", "true"]}, "periodSeconds": 5}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "raycluster-ft-head-",
            "namespace": "default",
            "labels": labels,
            "annotations": {
                "ray.io/ft-enabled": "true",
                "ray.io/external-storage-namespace": "uid-ft",
            },
            "ownerReferences": [OWNER],
        },
        "spec": {
            "initContainers": [
                {"name": "wait-for-tls-ip-san", "image": "busybox"},
                {"name": "user-init", "image": "busybox"},
            ],
            "containers": [
                {
                    "name": "ray-head",
                    "image": "rayproject/ray:2.52.0",
                    "command": ["/bin/bash", "-c", "--"],
                    "args": ["ulimit -n 65536; ray start --head --block"],
                    "env": env
                    if env is not None
                    else [
                        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
                        {"name": "RAY_external_storage_namespace", "value": "uid-ft"},
                    ],
                    "resources": {"limits": {"cpu": "4", "nvidia.com/gpu": "1"}},
                    "livenessProbe": probe,
                    "readinessProbe": probe,
                    "volumeMounts": [{"name": "shared-mem", "mountPath": "/dev/shm"}],
                },
                {"name": "autoscaler", "image": "ray"},
            ],
            "volumes": [{"name": "shared-mem", "emptyDir": {"medium": "Memory"}}],
            "restartPolicy": "Always",
            "serviceAccountName": "raycluster-ft",
        },
    }


def test_redis_cleanup_job() -> None:
    pod = head_pod()
    original = copy.deepcopy(pod)
    job = build_redis_cleanup_job(ft_cluster(), pod, CONFIG)
    assert pod == original  # the head pod is not modified

    labels = {**pod["metadata"]["labels"], "ray.io/node-type": "redis-cleanup"}
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert job["metadata"] == {
        "name": "raycluster-ft-redis-cleanup",
        "namespace": "default",
        "labels": labels,
        "annotations": pod["metadata"]["annotations"],
        "ownerReferences": [OWNER],
    }
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 300
    template = spec["template"]
    assert template["metadata"]["labels"] == labels
    assert template["metadata"]["annotations"] == pod["metadata"]["annotations"]
    pod_spec = template["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["initContainers"] == [{"name": "user-init", "image": "busybox"}]
    assert pod_spec["volumes"] == pod["spec"]["volumes"]
    assert pod_spec["serviceAccountName"] == "raycluster-ft"
    [container] = pod_spec["containers"]
    assert container["name"] == "ray-head"
    assert container["image"] == "rayproject/ray:2.52.0"
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert container["args"] == [DOCS_ECHO + SCRIPT_HEAD + CALL_WITHOUT_USERNAME]
    assert "livenessProbe" not in container
    assert "readinessProbe" not in container
    assert container["env"] == [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
        {"name": "RAY_external_storage_namespace", "value": "uid-ft"},
        {"name": "RAY_redis_db_connect_retries", "value": "120"},
        {"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"},
    ]
    # No GPU: a fixed small request and limit.
    assert container["resources"] == {
        "limits": {"cpu": "200m", "memory": "256Mi"},
        "requests": {"cpu": "200m", "memory": "256Mi"},
    }
    assert container["volumeMounts"] == [{"name": "shared-mem", "mountPath": "/dev/shm"}]
    kubernetes_validate.validate(job, "1.33.0", strict=True)


def test_username_is_passed_only_when_the_head_has_redis_username() -> None:
    env = [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"},
        {"name": "REDIS_USERNAME", "value": "ray"},
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}},
    ]
    job = build_redis_cleanup_job(ft_cluster(), head_pod(env), CONFIG)
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [DOCS_ECHO + SCRIPT_HEAD + CALL_WITH_USERNAME]
    assert container["env"][:3] == env
    assert redis_cleanup_args(True) == [DOCS_ECHO + SCRIPT_HEAD + CALL_WITH_USERNAME]
    assert redis_cleanup_args(False) == [DOCS_ECHO + SCRIPT_HEAD + CALL_WITHOUT_USERNAME]


def test_configured_resources_replace_the_fixed_request() -> None:
    resources = {"limits": {"memory": "512Mi"}}
    config = OperatorConfig(redis_cleanup_job_resources=resources)
    job = build_redis_cleanup_job(ft_cluster(), head_pod(), config)
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == {"limits": {"memory": "512Mi"}}
    container["resources"]["limits"]["memory"] = "1Gi"
    assert resources == {"limits": {"memory": "512Mi"}}  # the config is not aliased


def test_empty_configured_resources_mean_no_request_at_all() -> None:
    config = OperatorConfig(redis_cleanup_job_resources={})
    job = build_redis_cleanup_job(ft_cluster(), head_pod(), config)
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"] == {}


def test_login_shell() -> None:
    config = OperatorConfig.from_env({"ENABLE_LOGIN_SHELL": "true"})
    job = build_redis_cleanup_job(ft_cluster(), head_pod(), config)
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "/bin/bash",
        "-cl",
        "--",
    ]


@pytest.mark.parametrize(
    ("cluster_name", "job_name"),
    [
        ("raycluster-ft", "raycluster-ft-redis-cleanup"),
        # 49 + 14 = 63: kept whole.
        ("a" * 49, "a" * 49 + "-redis-cleanup"),
        # 53 + 14 = 67: the first 4 characters go.
        ("b" * 4 + "c" * 49, "c" * 49 + "-redis-cleanup"),
        # ...and a leading punctuation character left by the cut becomes "r" (CheckLabel).
        ("abcd-" + "e" * 48, "r" + "e" * 48 + "-redis-cleanup"),
    ],
)
def test_job_name_is_trimmed_from_the_front(cluster_name: str, job_name: str) -> None:
    assert redis_cleanup_job_name(ft_cluster(cluster_name)) == job_name
    assert len(job_name) <= 63


# --- fed by the real head pod builder ----------------------------------------------------------


def test_job_from_build_head_pod() -> None:
    """The Job built from build_head_pod: GCS FT options with a username and a password
    Secret, autoscaler sidecar, mTLS init container and injected probes, all handled."""
    c = raycluster_from_dict(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "raycluster-ft", "namespace": "default", "uid": "uid-ft"},
            "spec": {
                "rayVersion": "2.52.0",
                "enableInTreeAutoscaling": True,
                "tlsOptions": {"enabled": True},
                "gcsFaultToleranceOptions": {
                    "redisAddress": "redis:6379",
                    "redisUsername": {"value": "ray"},
                    "redisPassword": {
                        "valueFrom": {"secretKeyRef": {"name": "redis-pw", "key": "password"}}
                    },
                },
                "headGroupSpec": {
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-head",
                                    "image": "rayproject/ray:2.52.0",
                                    "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}},
                                }
                            ]
                        }
                    },
                },
            },
        }
    )
    config = OperatorConfig(gates=FeatureGates(ray_cluster_mtls=True))
    probe = {"exec": {"command": ["true"]}}
    pod = build_head_pod(c, config, probes={"livenessProbe": probe, "readinessProbe": probe})
    assert len(pod["spec"]["containers"]) == 2  # the Ray container and the autoscaler
    assert any(i["name"] == "wait-for-tls-ip-san" for i in pod["spec"]["initContainers"])

    job = build_redis_cleanup_job(c, pod, config)
    template = job["spec"]["template"]
    assert job["metadata"]["name"] == "raycluster-ft-redis-cleanup"
    assert job["metadata"]["labels"] == {
        **pod["metadata"]["labels"],
        "ray.io/node-type": "redis-cleanup",
    }
    assert job["metadata"]["labels"]["app.kubernetes.io/created-by"] == "kuberay-operator"
    stamped = ("ray.io/upgrade-strategy-recreate-hash", "ray.io/kuberay-version")
    assert all(key in pod["metadata"]["annotations"] for key in stamped)
    assert job["metadata"]["annotations"] == {
        k: v for k, v in pod["metadata"]["annotations"].items() if k not in stamped
    }
    assert template["metadata"]["labels"] == job["metadata"]["labels"]
    assert all(
        i["name"] != "wait-for-tls-ip-san" for i in template["spec"].get("initContainers", [])
    )
    [container] = template["spec"]["containers"]
    head_container = pod["spec"]["containers"][0]
    assert container["name"] == head_container["name"]
    assert container["args"] == [DOCS_ECHO + SCRIPT_HEAD + CALL_WITH_USERNAME]
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert "livenessProbe" not in container and "readinessProbe" not in container
    assert container["env"] == [
        *head_container["env"],
        {"name": "RAY_redis_db_connect_retries", "value": "120"},
        {"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"},
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["RAY_REDIS_ADDRESS"]["value"] == "redis:6379"
    assert env["RAY_external_storage_namespace"]["value"] == "uid-ft"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "redis-pw"
    assert container["resources"] == {
        "limits": {"cpu": "200m", "memory": "256Mi"},
        "requests": {"cpu": "200m", "memory": "256Mi"},
    }
    assert container["volumeMounts"] == head_container["volumeMounts"]
    assert template["spec"]["volumes"] == pod["spec"]["volumes"]
    assert template["spec"]["restartPolicy"] == "Never"
    kubernetes_validate.validate(job, "1.33.0", strict=True)


def test_job_from_build_head_pod_with_annotation_ft_and_password_param() -> None:
    """The legacy annotation path: the password is only in rayStartParams, so the head pod
    carries it as REDIS_PASSWORD and the Job, without a username, can still authenticate."""
    c = raycluster_from_dict(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {
                "name": "raycluster-legacy",
                "namespace": "ns1",
                "uid": "uid-2",
                "annotations": {"ray.io/ft-enabled": "true"},
            },
            "spec": {
                "headGroupSpec": {
                    "rayStartParams": {"redis-password": "5241590000000000"},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-head",
                                    "image": "rayproject/ray:2.9.0",
                                    "env": [{"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}],
                                }
                            ]
                        }
                    },
                }
            },
        }
    )
    pod = build_head_pod(c, CONFIG)
    job = build_redis_cleanup_job(c, pod, CONFIG)
    assert job["metadata"]["namespace"] == "ns1"
    assert job["metadata"]["ownerReferences"][0]["name"] == "raycluster-legacy"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [DOCS_ECHO + SCRIPT_HEAD + CALL_WITHOUT_USERNAME]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["REDIS_PASSWORD"] == "5241590000000000"
    assert env["RAY_external_storage_namespace"] == "uid-2"
    kubernetes_validate.validate(job, "1.33.0", strict=True)
