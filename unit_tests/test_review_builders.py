"""Review findings on the builders: each test pins one place where a builder differed
from KubeRay or broke its purity promise (a fresh object on every call, the input
never touched, not even through a dict the output shares with it).

Fixture written for this file: cluster `rc` in namespace `ns`, one head container and
one worker group `g`.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
import kubernetes_validate
import pytest

from kuberay_py.api.config import FeatureGates, OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict, raycluster_to_dict
from kuberay_py.api.defaults import with_defaults
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.auth import build_auth_secret
from kuberay_py.builders.ingress import build_head_ingress
from kuberay_py.builders.pod import build_head_pod, build_worker_pod
from kuberay_py.builders.probes import decide_probes
from kuberay_py.builders.rbac import (
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
)
from kuberay_py.builders.redis_cleanup import build_redis_cleanup_job
from kuberay_py.builders.services import (
    build_head_service,
    build_headless_worker_service,
    build_serve_service_for_raycluster,
)

Json = dict[str, Any]
CONFIG = OperatorConfig()
SECRET_REF = {"secretKeyRef": {"name": "redis-secret", "key": "password"}}
USERNAME_REF = {"secretKeyRef": {"name": "redis-secret", "key": "username"}}


def cluster_dict() -> Json:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "rc", "namespace": "ns", "uid": "uid-rc", "generation": 1},
        "spec": {
            "rayVersion": "2.46.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": "rayproject/ray:2.46.0",
                                "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                            }
                        ]
                    }
                },
            },
            "workerGroupSpecs": [
                {
                    "groupName": "g",
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 5,
                    "rayStartParams": {},
                    "template": {
                        "spec": {"containers": [{"name": "w", "image": "rayproject/ray:2.46.0"}]}
                    },
                }
            ],
        },
    }


def cluster(d: Json) -> RayCluster:
    return with_defaults(raycluster_from_dict(d))


def scribble(obj: Any) -> None:
    """Write into every dict and list of a built object, as a caller (or the fake API
    server storing it) may: none of it may reach the cluster the object was built from."""
    if isinstance(obj, dict):
        for value in list(obj.values()):
            scribble(value)
        obj["scribbled"] = True
    elif isinstance(obj, list):
        for value in list(obj):
            scribble(value)
        obj.append("scribbled")


def build_everything(c: RayCluster, config: OperatorConfig) -> list[Json]:
    probes = decide_probes(c, config)
    head = build_head_pod(c, config, probes=probes.get("headgroup"))
    out = [head]
    for group in c.spec.worker_group_specs or []:
        multi = (group.num_of_hosts or 1) > 1
        out.append(
            build_worker_pod(
                c,
                group,
                config,
                replica_index=0,
                probes=probes.get(group.group_name),
                replica_name=f"{group.group_name}-abcde" if multi else None,
                host_index=0 if multi else None,
            )
        )
    out.append(build_redis_cleanup_job(c, head, config))
    out.append(build_head_service(c, config))
    out.append(build_headless_worker_service(c))
    out.append(build_head_ingress(c))
    out.append(build_autoscaler_service_account(c))
    out.append(build_autoscaler_role(c))
    out.append(build_autoscaler_role_binding(c))
    out.append(build_auth_secret(c, "dG9rZW4="))
    if (c.annotations.get("ray.io/enable-serve-service")) == "true":
        out.append(build_serve_service_for_raycluster(c))
    return out


def gcs_ft_with_secrets() -> Json:
    d = cluster_dict()
    d["spec"]["gcsFaultToleranceOptions"] = {
        "redisAddress": "redis:6379",
        "redisUsername": {"valueFrom": copy.deepcopy(USERNAME_REF)},
        "redisPassword": {"valueFrom": copy.deepcopy(SECRET_REF)},
    }
    return d


def unusual_specs() -> list[tuple[str, Json, OperatorConfig]]:
    """Unusual but valid specs: every object built from them must pass 1.33 validation."""
    specs: list[tuple[str, Json, OperatorConfig]] = [
        ("gcs-ft-secrets", gcs_ft_with_secrets(), CONFIG)
    ]

    d = cluster_dict()
    d["metadata"]["annotations"] = {"ray.io/enable-serve-service": "true"}
    d["spec"]["headServiceAnnotations"] = {"team": "ray"}
    d["spec"]["headGroupSpec"]["headService"] = {
        "metadata": {"name": "my-head", "labels": {"a": "b"}, "annotations": {"team": "x"}},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "client", "port": 30001}]},
    }
    d["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "serve", "containerPort": 8000},
        {"name": "serve-grpc", "containerPort": 9000},
        {"containerPort": 6379},
    ]
    d["spec"]["headGroupSpec"]["enableIngress"] = True
    d["spec"]["headGroupSpec"]["ingressOptions"] = {"host": "ray.example.com"}
    specs.append(("user-head-service", d, CONFIG))

    d = cluster_dict()
    d["spec"]["workerGroupSpecs"][0]["numOfHosts"] = 4
    specs.append(("multi-host", d, CONFIG))

    d = cluster_dict()
    d["spec"]["enableInTreeAutoscaling"] = True
    d["spec"]["autoscalerOptions"] = {
        "version": "v2",
        "idleTimeoutSeconds": 60,
        "env": [{"name": "EXTRA", "value": "1"}],
        "envFrom": [{"configMapRef": {"name": "autoscaler-env"}}],
        "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
        "securityContext": {"runAsUser": 1000},
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
    }
    d["spec"]["headGroupSpec"]["template"]["spec"]["volumes"] = [{"name": "extra", "emptyDir": {}}]
    specs.append(("autoscaler-v2", d, CONFIG))

    d = cluster_dict()
    d["metadata"]["annotations"] = {"ray.io/overwrite-container-cmd": "true"}
    head = d["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["command"] = ["/bin/bash", "-c", "--"]
    head["args"] = ["echo hi && $KUBERAY_GEN_RAY_START_CMD"]
    specs.append(("overwrite-cmd", d, CONFIG))

    sidecars = OperatorConfig(
        head_sidecar_containers=({"name": "fluentbit", "image": "fluent/fluent-bit:3"},),
        worker_sidecar_containers=({"name": "side", "image": "busybox"},),
        default_container_envs=({"name": "DEFAULT_ENV", "value": "1"},),
        default_pod_labels={"team": "ray"},
        default_pod_annotations={"example.com/note": "x"},
        redis_cleanup_job_resources={"limits": {"cpu": "1"}},
    )
    specs.append(("sidecars", gcs_ft_with_secrets(), sidecars))

    d = cluster_dict()
    d["spec"]["rayVersion"] = "2.55.0"
    d["spec"]["authOptions"] = {"mode": "token", "enableK8sTokenAuth": True}
    d["spec"]["enableInTreeAutoscaling"] = True
    specs.append(("k8s-token-auth", d, CONFIG))

    d = cluster_dict()
    d["spec"]["tlsOptions"] = {"enabled": True}
    d["spec"]["authOptions"] = {"mode": "token"}
    specs.append(("mtls", d, OperatorConfig(gates=FeatureGates(ray_cluster_mtls=True))))
    return specs


@pytest.mark.parametrize(
    ("spec", "config"),
    [(d, cfg) for _, d, cfg in unusual_specs()],
    ids=[name for name, _, _ in unusual_specs()],
)
def test_built_objects_share_nothing_with_the_cluster(spec: Json, config: OperatorConfig) -> None:
    c = cluster(spec)
    before = copy.deepcopy(raycluster_to_dict(c))
    config_before = attrs.asdict(config)
    built = build_everything(c, config)
    assert raycluster_to_dict(c) == before  # building does not modify the cluster
    for obj in built:
        scribble(obj)
    assert raycluster_to_dict(c) == before  # and the objects do not alias it
    assert attrs.asdict(config) == config_before


@pytest.mark.parametrize(
    ("spec", "config"),
    [(d, cfg) for _, d, cfg in unusual_specs()],
    ids=[name for name, _, _ in unusual_specs()],
)
def test_unusual_specs_build_valid_objects(spec: Json, config: OperatorConfig) -> None:
    for obj in build_everything(cluster(spec), config):
        kubernetes_validate.validate(obj, "1.33", strict=True)


def test_redis_credentials_in_the_head_pod_are_copies() -> None:
    c = cluster(gcs_ft_with_secrets())
    pod = build_head_pod(c, CONFIG)
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"] == SECRET_REF
    assert env["REDIS_USERNAME"]["valueFrom"] == USERNAME_REF
    env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] = "changed"
    env["REDIS_USERNAME"]["valueFrom"]["secretKeyRef"]["name"] = "changed"
    options = c.spec.gcs_fault_tolerance_options
    assert options is not None and options.redis_password and options.redis_username
    assert options.redis_password.value_from == SECRET_REF
    assert options.redis_username.value_from == USERNAME_REF


def test_ingress_without_a_host_omits_it_like_kuberay() -> None:
    """KubeRay's IngressRule.Host is `omitempty`: an empty `ingressOptions.host` writes no
    host, so the API server's copy has none; writing `host: ""` would differ from the live
    Ingress on every comparison and rewrite it on every reconcile."""
    d = cluster_dict()
    d["spec"]["headGroupSpec"]["enableIngress"] = True
    d["spec"]["headGroupSpec"]["ingressOptions"] = {"host": ""}
    rule = build_head_ingress(cluster(d))["spec"]["rules"][0]
    assert "host" not in rule
