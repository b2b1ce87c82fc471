"""Head and worker pods as KubeRay builds them (reference section 7.1, pod_test.go).

Fixture (written for us): cluster `raycluster-sample` in `default`, head container
`ray-head` with 1 CPU / 1Gi request = limit and env TEST_ENV_NAME; worker group
`small-group` (replicas 3, min 0, max 10000, rayStartParams port 6379) with limits
1 CPU / 1Gi / 3 `nvidia.com/gpu`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from kuberay_py.api.config import FeatureGates, OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.addresses import head_service_fqdn, head_service_name_for
from kuberay_py.builders.autoscaler import (
    AUTOSCALER_START_CMD,
    build_autoscaler_container,
    merge_autoscaler_overrides,
)
from kuberay_py.builders.pod import (
    build_head_pod,
    build_worker_pod,
    should_delete_pod,
)
from kuberay_py.builders.spec_hash import cluster_spec_hash, spec_hash
from kuberay_py.builders.wait_gcs_ready import wait_gcs_ready_script

FQDN = "raycluster-sample-head-svc.default.svc.cluster.local"
ULIMIT = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"
CONFIG = OperatorConfig()


def sample_dict() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "raycluster-sample", "namespace": "default", "uid": "uid-1"},
        "spec": {
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "metadata": {"namespace": "default"},
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": "repo/image:custom",
                                "env": [{"name": "TEST_ENV_NAME", "value": "TEST_ENV_VALUE"}],
                                "resources": {
                                    "requests": {"cpu": "1", "memory": "1Gi"},
                                    "limits": {"cpu": "1", "memory": "1Gi"},
                                },
                            }
                        ]
                    },
                },
            },
            "workerGroupSpecs": [
                {
                    "groupName": "small-group",
                    "replicas": 3,
                    "minReplicas": 0,
                    "maxReplicas": 10000,
                    "rayStartParams": {"port": "6379"},
                    "template": {
                        "metadata": {"namespace": "default"},
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-worker",
                                    "image": "repo/image:custom",
                                    "resources": {
                                        "limits": {
                                            "cpu": "1",
                                            "memory": "1Gi",
                                            "nvidia.com/gpu": "3",
                                        }
                                    },
                                    "env": [{"name": "TEST_ENV_NAME", "value": "TEST_ENV_VALUE"}],
                                }
                            ]
                        },
                    },
                }
            ],
        },
    }


def cluster(edit: Any = None) -> RayCluster:
    data = sample_dict()
    if edit is not None:
        edit(data)
    return raycluster_from_dict(data)


def head_container(data: dict[str, Any]) -> dict[str, Any]:
    return data["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def worker_container(data: dict[str, Any]) -> dict[str, Any]:
    return data["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def worker(c: RayCluster, config: OperatorConfig = CONFIG, **kw: Any) -> dict[str, Any]:
    assert c.spec.worker_group_specs
    return build_worker_pod(c, c.spec.worker_group_specs[0], config, replica_index=0, **kw)


def ray(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]  # type: ignore[no-any-return]


def env_of(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in container.get("env") or [] if e["name"] == name), None)


def env_value(container: dict[str, Any], name: str) -> str:
    """The value, or the fieldRef path for a downward-API env var (as KubeRay's test reads it)."""
    env = env_of(container, name)
    assert env is not None, f"{name} missing"
    if env.get("value"):
        return str(env["value"])
    return str(env["valueFrom"]["fieldRef"]["fieldPath"])


def tokens(text: str) -> list[str]:
    return sorted(t for t in text.split(" ") if t)


# --- TestBuildPod -------------------------------------------------------------------------


def test_head_pod_env_labels_and_volumes() -> None:
    config = OperatorConfig(
        default_container_envs=({"name": "TEST_DEFAULT_ENV_NAME", "value": "TEST_ENV_VALUE"},)
    )
    pod = build_head_pod(cluster(), config)
    c = ray(pod)
    assert env_value(c, "RAY_ADDRESS") == "127.0.0.1:6379"
    assert env_value(c, "RAY_USAGE_STATS_KUBERAY_IN_USE") == "1"
    assert env_value(c, "RAY_CLUSTER_NAME") == "metadata.labels['ray.io/cluster']"
    assert env_value(c, "RAY_CLUSTER_NAMESPACE") == "metadata.namespace"
    assert env_value(c, "RAY_NODE_TYPE_NAME") == "metadata.labels['ray.io/group']"
    assert env_value(c, "RAY_CLOUD_INSTANCE_ID") == "metadata.name"
    assert env_value(c, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE") == "1"
    assert (
        env_value(c, "RAY_USAGE_STATS_EXTRA_TAGS")
        == f"kuberay_version={CONFIG.kuberay_version};kuberay_crd=RayCluster"
    )
    assert "ray start" in env_value(c, "KUBERAY_GEN_RAY_START_CMD")
    assert env_value(c, "TEST_DEFAULT_ENV_NAME") == "TEST_ENV_VALUE"
    assert env_of(c, "FQ_RAY_IP") is None  # the head reaches its GCS over localhost
    labels = pod["metadata"]["labels"]
    assert labels["ray.io/cluster"] == "raycluster-sample"
    assert labels["ray.io/node-type"] == "head"
    assert labels["ray.io/group"] == "headgroup"
    assert pod["spec"]["volumes"] == [
        {"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}
    ]
    assert c["volumeMounts"] == [{"name": "shared-mem", "mountPath": "/dev/shm"}]


def test_head_env_order_is_kuberays() -> None:
    names = [e["name"] for e in ray(build_head_pod(cluster(), CONFIG))["env"]]
    assert names == [
        "TEST_ENV_NAME",
        "RAY_CLUSTER_NAME",
        "RAY_CLUSTER_NAMESPACE",
        "RAY_CLOUD_INSTANCE_ID",
        "RAY_NODE_TYPE_NAME",
        "KUBERAY_GEN_RAY_START_CMD",
        "RAY_PORT",
        "RAY_ADDRESS",
        "RAY_USAGE_STATS_KUBERAY_IN_USE",
        "RAY_USAGE_STATS_EXTRA_TAGS",
        "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE",
    ]


def test_worker_pod_env_resources_and_command() -> None:
    config = OperatorConfig(
        default_container_envs=({"name": "TEST_DEFAULT_ENV_NAME", "value": "TEST_ENV_VALUE"},)
    )
    pod = worker(cluster(), config)
    c = ray(pod)
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "3"}
    assert env_value(c, "RAY_ADDRESS") == f"{FQDN}:6379"
    assert env_value(c, "FQ_RAY_IP") == FQDN
    assert env_value(c, "RAY_IP") == "raycluster-sample-head-svc"
    assert env_value(c, "RAY_CLUSTER_NAME") == "metadata.labels['ray.io/cluster']"
    assert env_value(c, "RAY_CLUSTER_NAMESPACE") == "metadata.namespace"
    assert env_value(c, "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE") == "1"
    assert env_value(c, "RAY_NODE_TYPE_NAME") == "metadata.labels['ray.io/group']"
    assert env_of(c, "RAY_USAGE_STATS_EXTRA_TAGS") is None
    assert "ray start" in env_value(c, "KUBERAY_GEN_RAY_START_CMD")
    assert tokens(c["args"][0]) == tokens(
        f"{ULIMIT}; ray start --block --dashboard-agent-listen-port=52365 --memory=1073741824 "
        f"--num-cpus=1 --num-gpus=3 --address={FQDN}:6379 --port=6379 --metrics-export-port=8080"
    )
    assert env_value(c, "TEST_ENV_NAME") == "TEST_ENV_VALUE"
    assert env_value(c, "TEST_DEFAULT_ENV_NAME") == "TEST_ENV_VALUE"


def test_exact_generated_strings() -> None:
    head = ray(build_head_pod(cluster(), CONFIG))
    cmd = (
        "ray start --head  --block  --dashboard-agent-listen-port=52365  --dashboard-host=0.0.0.0"
        "  --memory=1073741824  --metrics-export-port=8080  --num-cpus=1 "
    )
    assert head["command"] == ["/bin/bash", "-c", "--"]
    assert head["args"] == [f"{ULIMIT}; {cmd}"]
    assert env_value(head, "KUBERAY_GEN_RAY_START_CMD") == cmd
    work = ray(worker(cluster()))
    assert env_value(work, "KUBERAY_GEN_RAY_START_CMD") == (
        f"ray start  --address={FQDN}:6379  --block  --dashboard-agent-listen-port=52365"
        "  --memory=1073741824  --metrics-export-port=8080  --num-cpus=1  --num-gpus=3"
        "  --port=6379 "
    )


def test_no_cpu_limits_falls_back_to_requests() -> None:
    def edit(d: dict[str, Any]) -> None:
        head_container(d)["resources"] = {
            "requests": {"cpu": "2", "memory": "1Gi"},
            "limits": {"memory": "1Gi"},
        }
        worker_container(d)["resources"] = {
            "requests": {"cpu": "2", "memory": "1Gi"},
            "limits": {"memory": "1Gi", "nvidia.com/gpu": "3"},
        }

    c = cluster(edit)
    assert tokens(ray(build_head_pod(c, CONFIG))["args"][0]) == tokens(
        f"{ULIMIT}; ray start --head --block --dashboard-agent-listen-port=52365 "
        "--memory=1073741824 --num-cpus=2 --metrics-export-port=8080 --dashboard-host=0.0.0.0"
    )
    assert tokens(ray(worker(c))["args"][0]) == tokens(
        f"{ULIMIT}; ray start --block --dashboard-agent-listen-port=52365 --memory=1073741824 "
        f"--num-cpus=2 --num-gpus=3 --address={FQDN}:6379 --port=6379 --metrics-export-port=8080"
    )


def test_ulimit_override_stays_a_shell_expansion() -> None:
    c = cluster(
        lambda d: head_container(d)["env"].append(
            {"name": "RAY_START_ULIMIT_OPEN_FILES", "value": "1048576"}
        )
    )
    head = ray(build_head_pod(c, CONFIG))
    assert "${RAY_START_ULIMIT_OPEN_FILES:-65536}" in head["args"][0]
    assert env_value(head, "RAY_START_ULIMIT_OPEN_FILES") == "1048576"


def test_overwrite_container_cmd_keeps_the_users_command() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["metadata"]["annotations"] = {"ray.io/overwrite-container-cmd": "true"}
        head_container(d).update(command=["I am head"], args=["I am head again"])
        worker_container(d).update(command=["I am worker"], args=["I am worker again"])

    c = cluster(edit)
    head_pod = build_head_pod(c, CONFIG)
    assert ray(head_pod)["command"] == ["I am head"]
    assert ray(head_pod)["args"] == ["I am head again"]
    assert head_pod["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    worker_pod = worker(c)
    assert ray(worker_pod)["command"] == ["I am worker"]
    assert ray(worker_pod)["args"] == ["I am worker again"]
    # The generated command is still exported for the user's script.
    assert env_value(ray(worker_pod), "KUBERAY_GEN_RAY_START_CMD").startswith("ray start  --")


def test_user_command_runs_before_the_generated_one() -> None:
    c = cluster(lambda d: head_container(d).update(command=["echo"], args=["hello"]))
    head = ray(build_head_pod(c, CONFIG))
    gen = env_value(head, "KUBERAY_GEN_RAY_START_CMD")
    assert head["command"] == ["/bin/bash", "-c", "--"]
    assert head["args"] == [f" echo  hello  && {ULIMIT}; {gen}"]


def test_a_command_that_already_runs_ray_start_is_left_alone() -> None:
    command = ["/bin/sh", "-c"]
    args = ["ray start --head --block"]
    c = cluster(lambda d: head_container(d).update(command=command, args=args))
    head = ray(build_head_pod(c, CONFIG))
    assert (head["command"], head["args"]) == (command, args)


def test_autoscaler_sidecar_volumes_and_no_monitor() -> None:
    c = cluster(lambda d: d["spec"].update(enableInTreeAutoscaling=True))
    pod = build_head_pod(c, CONFIG)
    assert "--no-monitor" in ray(pod)["args"][0]
    assert len(pod["spec"]["containers"]) == 2
    assert pod["spec"]["volumes"] == [
        {"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {"name": "ray-logs", "emptyDir": {}},
    ]
    assert ray(pod)["volumeMounts"] == [
        {"name": "shared-mem", "mountPath": "/dev/shm"},
        {"name": "ray-logs", "mountPath": "/tmp/ray"},
    ]
    assert pod["spec"]["containers"][1] == {
        "name": "autoscaler",
        "image": "repo/image:custom",
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {
                "name": "RAY_CLUSTER_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}},
            },
            {
                "name": "RAY_CLUSTER_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {
                "name": "RAY_HEAD_POD_NAME",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            },
            {"name": "KUBERAY_CRD_VER", "value": "v1"},
            {
                "name": "KUBERAY_GEN_AUTOSCALER_START_CMD",
                "value": "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
                "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)",
            },
        ],
        "command": ["/bin/bash", "-c", "--"],
        "args": [
            "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
            "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
        ],
        "resources": {
            "limits": {"cpu": "500m", "memory": "512Mi"},
            "requests": {"cpu": "500m", "memory": "512Mi"},
        },
        "volumeMounts": [{"name": "ray-logs", "mountPath": "/tmp/ray"}],
    }


def test_autoscaler_options_override_the_sidecar() -> None:
    options = {
        "image": "custom-autoscaler-xxx",
        "imagePullPolicy": "Always",
        "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}},
        "env": [{"name": "fooEnv", "value": "fooValue"}],
        "envFrom": [{"prefix": "Pre"}],
        "volumeMounts": [{"name": "ca-tls", "mountPath": "/etc/ca/tls", "readOnly": True}],
        "securityContext": {"runAsNonRoot": True},
    }
    c = cluster(lambda d: d["spec"].update(enableInTreeAutoscaling=True, autoscalerOptions=options))
    sidecar = build_head_pod(c, CONFIG)["spec"]["containers"][1]
    assert sidecar["image"] == "custom-autoscaler-xxx"
    assert sidecar["imagePullPolicy"] == "Always"
    assert sidecar["resources"] == options["resources"]
    assert sidecar["envFrom"] == [{"prefix": "Pre"}]
    assert [e["name"] for e in sidecar["env"]][-1] == "fooEnv"
    assert len(sidecar["env"]) == 6
    # User mounts first, then ray-logs (added when the pod is assembled).
    assert sidecar["volumeMounts"] == [
        {"name": "ca-tls", "mountPath": "/etc/ca/tls", "readOnly": True},
        {"name": "ray-logs", "mountPath": "/tmp/ray"},
    ]
    assert sidecar["securityContext"] == {"runAsNonRoot": True}


def test_autoscaler_start_cmd_env_survives_overrides() -> None:
    base = build_autoscaler_container("rayproject/ray:2.52.0", ["/bin/bash", "-c", "--"])
    assert base["args"] == [AUTOSCALER_START_CMD]
    for options in (
        {"command": ["/bin/bash", "-lc", "--"]},
        {"args": ["ulimit -n 65536; $KUBERAY_GEN_AUTOSCALER_START_CMD"]},
        {"env": [{"name": "AUTOSCALER_UPDATE_INTERVAL_S", "value": "10"}]},
    ):
        merged = merge_autoscaler_overrides(
            base,
            cluster(
                lambda d, o=options: d["spec"].update(autoscalerOptions=o)
            ).spec.autoscaler_options,
        )
        assert env_value(merged, "KUBERAY_GEN_AUTOSCALER_START_CMD") == AUTOSCALER_START_CMD
        for key, value in options.items():
            if key == "env":
                assert merged["env"][-1] == value[0]
            else:
                assert merged[key] == value
    assert base["args"] == [AUTOSCALER_START_CMD]  # the original is untouched


def test_rayservice_serve_labels_and_env() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["metadata"]["labels"] = {"ray.io/originated-from-crd": "RayService"}
        d["spec"]["enableInTreeAutoscaling"] = True

    c = cluster(edit)
    head = build_head_pod(c, CONFIG)
    assert head["metadata"]["labels"]["ray.io/serve"] == "false"
    assert env_value(ray(head), "RAY_timeout_ms_task_wait_for_death_info") == "0"
    assert env_value(ray(head), "RAY_gcs_server_request_timeout_seconds") == "5"
    assert env_value(ray(head), "RAY_SERVE_KV_TIMEOUT_S") == "5"
    assert env_value(ray(head), "RAY_USAGE_STATS_EXTRA_TAGS").endswith("kuberay_crd=RayService")
    work = worker(c)
    assert work["metadata"]["labels"]["ray.io/serve"] == "true"
    assert env_value(ray(work), "RAY_timeout_ms_task_wait_for_death_info") == "0"
    plain = build_head_pod(cluster(), CONFIG)
    assert "ray.io/serve" not in plain["metadata"]["labels"]
    assert env_of(ray(plain), "RAY_timeout_ms_task_wait_for_death_info") is None


@pytest.mark.parametrize(("login", "expected"), [(True, "-cl"), (False, "-c")])
def test_login_shell_switch_reaches_every_generated_command(login: bool, expected: str) -> None:
    config = OperatorConfig(login_shell=login)
    c = cluster(lambda d: d["spec"].update(enableInTreeAutoscaling=True))
    head = build_head_pod(c, config)
    cmd = ["/bin/bash", expected, "--"]
    assert ray(head)["command"] == cmd
    assert head["spec"]["containers"][1]["command"] == cmd
    work = worker(c, config)
    assert ray(work)["command"] == cmd
    assert work["spec"]["initContainers"][-1]["command"] == cmd


@pytest.mark.parametrize("plasma", [None, "/dev/shm", "/dev/shm/", "/tmp/ray/plasma"])
def test_plasma_directory_skips_shared_memory(plasma: str | None) -> None:
    def edit(d: dict[str, Any]) -> None:
        if plasma is not None:
            d["spec"]["headGroupSpec"]["rayStartParams"] = {"plasma-directory": plasma}

    pod = build_head_pod(cluster(edit), CONFIG)
    mounted = any(m["mountPath"] == "/dev/shm" for m in ray(pod).get("volumeMounts") or [])
    volume = any(v["name"] == "shared-mem" for v in pod["spec"].get("volumes") or [])
    assert mounted == volume == (plasma is None)


def test_existing_dev_shm_mount_is_respected() -> None:
    def edit(d: dict[str, Any]) -> None:
        worker_container(d)["volumeMounts"] = [{"name": "my-shm", "mountPath": "/dev/shm"}]
        d["spec"]["workerGroupSpecs"][0]["template"]["spec"]["volumes"] = [
            {"name": "my-shm", "emptyDir": {"medium": "Memory"}}
        ]

    pod = worker(cluster(edit))
    assert pod["spec"]["volumes"] == [{"name": "my-shm", "emptyDir": {"medium": "Memory"}}]
    assert ray(pod)["volumeMounts"] == [{"name": "my-shm", "mountPath": "/dev/shm"}]


def test_shared_memory_size_uses_request_when_no_limit_and_none_without_either() -> None:
    def request_only(d: dict[str, Any]) -> None:
        head_container(d)["resources"] = {"requests": {"memory": "2Gi"}}

    assert build_head_pod(cluster(request_only), CONFIG)["spec"]["volumes"] == [
        {"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}
    ]
    no_memory = cluster(lambda d: head_container(d).pop("resources"))
    assert build_head_pod(no_memory, CONFIG)["spec"]["volumes"] == [
        {"name": "shared-mem", "emptyDir": {"medium": "Memory"}}
    ]


# --- service account, autoscaler versions -------------------------------------------------


def test_head_service_account_with_autoscaling() -> None:
    c = cluster(lambda d: d["spec"].update(enableInTreeAutoscaling=True))
    assert build_head_pod(c, CONFIG)["spec"]["serviceAccountName"] == "raycluster-sample"
    long_name = "a" * 200
    c = cluster(
        lambda d: (
            d["spec"].update(enableInTreeAutoscaling=True),
            d["metadata"].update(name=long_name),
        )
    )
    assert build_head_pod(c, CONFIG)["spec"]["serviceAccountName"] == "a" * 50


def test_user_service_account_is_kept() -> None:
    def edit(d: dict[str, Any], autoscale: bool) -> None:
        d["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "head-sa"
        d["spec"]["enableInTreeAutoscaling"] = autoscale

    for autoscale in (True, False):
        c = cluster(lambda d, a=autoscale: edit(d, a))
        assert build_head_pod(c, CONFIG)["spec"]["serviceAccountName"] == "head-sa"
    assert "serviceAccountName" not in build_head_pod(cluster(), CONFIG)["spec"]


def test_autoscaler_image_defaults_to_the_head_image() -> None:
    c = cluster(lambda d: d["spec"].update(enableInTreeAutoscaling=True))
    assert build_head_pod(c, CONFIG)["spec"]["containers"][1]["image"] == "repo/image:custom"
    c = cluster(
        lambda d: d["spec"].update(
            enableInTreeAutoscaling=True, autoscalerOptions={"image": "custom-autoscaler-xxx"}
        )
    )
    assert build_head_pod(c, CONFIG)["spec"]["containers"][1]["image"] == "custom-autoscaler-xxx"


@pytest.mark.parametrize(
    ("autoscaling", "version", "env_value_", "restart"),
    [
        (False, None, None, None),
        (True, None, None, None),
        (True, "v1", "false", None),
        (True, "v2", "true", "Never"),
    ],
)
def test_autoscaler_versions(
    autoscaling: bool, version: str | None, env_value_: str | None, restart: str | None
) -> None:
    def edit(d: dict[str, Any]) -> None:
        d["spec"]["enableInTreeAutoscaling"] = autoscaling
        if version:
            d["spec"]["autoscalerOptions"] = {"version": version}

    c = cluster(edit)
    head = build_head_pod(c, CONFIG)
    env = env_of(ray(head), "RAY_enable_autoscaler_v2")
    assert (env["value"] if env else None) == env_value_
    assert head["spec"].get("restartPolicy") == restart
    assert len(head["spec"]["containers"]) == (2 if autoscaling else 1)
    assert worker(c)["spec"].get("restartPolicy") == restart


def test_v1_worker_restart_policy_is_not_overridden() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["spec"].update(enableInTreeAutoscaling=True, autoscalerOptions={"version": "v1"})
        d["spec"]["workerGroupSpecs"][0]["template"]["spec"]["restartPolicy"] = "Always"

    assert worker(cluster(edit))["spec"]["restartPolicy"] == "Always"


# --- init container -----------------------------------------------------------------------


def test_wait_gcs_ready_init_container() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["spec"]["workerGroupSpecs"][0]["template"]["spec"]["initContainers"] = [
            {"name": "user-init", "image": "busybox"}
        ]
        worker_container(d)["securityContext"] = {"runAsUser": 1000}
        worker_container(d)["volumeMounts"] = [{"name": "certs", "mountPath": "/certs"}]

    pod = worker(cluster(edit))
    inits = pod["spec"]["initContainers"]
    assert [i["name"] for i in inits] == ["user-init", "wait-gcs-ready"]
    wait = inits[-1]
    assert wait["image"] == "repo/image:custom"
    assert wait["command"] == ["/bin/bash", "-c", "--"]
    assert wait["args"] == [wait_gcs_ready_script(FQDN, "6379")]
    assert wait["securityContext"] == {"runAsUser": 1000}
    assert wait["volumeMounts"] == [{"name": "certs", "mountPath": "/certs"}]
    assert wait["resources"] == {
        "limits": {"cpu": "200m", "memory": "256Mi"},
        "requests": {"cpu": "200m", "memory": "256Mi"},
    }
    # The user's Ray container env, then the head address every init container gets.
    assert wait["env"] == [
        {"name": "TEST_ENV_NAME", "value": "TEST_ENV_VALUE"},
        {"name": "FQ_RAY_IP", "value": FQDN},
        {"name": "RAY_IP", "value": "raycluster-sample-head-svc"},
    ]
    assert inits[0]["env"] == wait["env"][1:]


def test_wait_gcs_ready_script_text() -> None:
    script = wait_gcs_ready_script("h.ns.svc.cluster.local", "6380")
    assert script.startswith("\n\t\t\t\t\tSECONDS=0\n\t\t\t\t\twhile true; do\n")
    assert script.endswith("\t\t\t\t\t\tsleep 5\n\t\t\t\t\tdone\n\t\t\t\t")
    assert (
        "\t\t\t\t\t\t\tif ray health-check --address h.ns.svc.cluster.local:6380 "
        '> /dev/null 2>&1; then\n\t\t\t\t\t\t\t\techo "GCS is ready."\n' in script
    )
    assert '\t\t\t\t\t\t\techo "$SECONDS seconds elapsed: Waiting for GCS to be ready."\n' in script
    assert (
        "\t\t\t\t\t\t\tif ray health-check --address h.ns.svc.cluster.local:6380; then\n"
        '\t\t\t\t\t\t\t\techo "GCS is ready. Any error messages above can be safely ignored."\n'
        in script
    )
    assert (
        '"$SECONDS seconds elapsed: Still waiting for GCS to be ready. For troubleshooting, '
        "refer to the FAQ at https://docs.ray.io/en/master/cluster/kubernetes/"
        'troubleshooting.html."\n' in script
    )
    assert script.count("\n") == 18


@pytest.mark.parametrize("policy", ["Always", "IfNotPresent", "Never"])
def test_wait_gcs_ready_copies_the_pull_policy(policy: str) -> None:
    pod = worker(cluster(lambda d: worker_container(d).update(imagePullPolicy=policy)))
    assert pod["spec"]["initContainers"][-1]["imagePullPolicy"] == policy


def test_init_container_injection_can_be_switched_off() -> None:
    pod = worker(cluster(), OperatorConfig(enable_init_container_injection=False))
    assert "initContainers" not in pod["spec"]


def test_head_init_containers_get_the_head_address() -> None:
    c = cluster(
        lambda d: d["spec"]["headGroupSpec"]["template"]["spec"].update(
            initContainers=[{"name": "prep", "image": "busybox"}]
        )
    )
    init = build_head_pod(c, CONFIG)["spec"]["initContainers"][0]
    assert init["env"] == [
        {"name": "FQ_RAY_IP", "value": FQDN},
        {"name": "RAY_IP", "value": "raycluster-sample-head-svc"},
    ]


# --- names, labels, annotations, ports ----------------------------------------------------


def test_names_namespace_and_owner() -> None:
    c = cluster(
        lambda d: d["spec"]["workerGroupSpecs"][0]["template"]["metadata"].update(
            name="ray-worker-test", namespace="not-default"
        )
    )
    head = build_head_pod(c, CONFIG)
    assert head["metadata"]["generateName"] == "raycluster-sample-head-"
    assert "name" not in head["metadata"]
    work = worker(c)
    assert work["metadata"]["generateName"] == "raycluster-sample-small-group-worker-"
    assert "name" not in work["metadata"]
    assert work["metadata"]["namespace"] == "default"
    for pod in (head, work):
        assert pod["apiVersion"] == "v1"
        assert pod["kind"] == "Pod"
        assert pod["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "ray.io/v1",
                "kind": "RayCluster",
                "name": "raycluster-sample",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    # The builder never touches the cluster it was given.
    assert c.spec.worker_group_specs
    assert c.spec.worker_group_specs[0].template["metadata"]["name"] == "ray-worker-test"


def test_deterministic_head_name() -> None:
    pod = build_head_pod(cluster(), OperatorConfig(deterministic_head_pod_name=True))
    assert pod["metadata"]["name"] == "raycluster-sample-head"
    assert "generateName" not in pod["metadata"]


def test_long_names_are_truncated_and_lowercased() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["metadata"]["name"] = "R" * 53
        d["spec"]["workerGroupSpecs"][0]["groupName"] = "Group"

    c = cluster(edit)
    assert build_head_pod(c, CONFIG)["metadata"]["generateName"] == "r" * 50 + "-head-"
    assert worker(c)["metadata"]["generateName"] == "r" * 50 + "-worker-"


def test_labels_merge_and_protected_keys() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["spec"]["headGroupSpec"]["template"]["metadata"]["labels"] = {
            "ray.io/cluster": "invalid",
            "ray.io/node-type": "worker",
            "ray.io/group": "nope",
            "app.kubernetes.io/name": "myapp",
            "accelerator-type": "GPU",
            "market-type": "spot",
        }
        d["spec"]["headGroupSpec"]["labels"] = {"accelerator-type": "TPU-V6E"}

    head = build_head_pod(cluster(edit), CONFIG)
    assert head["metadata"]["labels"] == {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": "raycluster-sample",
        "ray.io/node-type": "head",
        "ray.io/group": "headgroup",
        "ray.io/identifier": "raycluster-sample-head",
        "app.kubernetes.io/name": "myapp",
        "app.kubernetes.io/created-by": "kuberay-operator",
        "accelerator-type": "TPU-V6E",
        "market-type": "spot",
    }
    # Group labels also become Ray node labels.
    assert "--labels=accelerator-type=TPU-V6E" in ray(head)["args"][0]


def test_identifier_label_is_clipped_to_63() -> None:
    head = build_head_pod(cluster(lambda d: d["metadata"].update(name="x" * 62)), CONFIG)
    identifier = head["metadata"]["labels"]["ray.io/identifier"]
    assert identifier == ("x" * 62 + "-head")[-63:]


def test_multi_host_labels() -> None:
    c = cluster(lambda d: d["spec"]["workerGroupSpecs"][0].update(numOfHosts=4))
    assert c.spec.worker_group_specs
    group = c.spec.worker_group_specs[0]
    pod = build_worker_pod(
        c, group, CONFIG, replica_index=0, replica_name="small-group-abcde", host_index=2
    )
    labels = pod["metadata"]["labels"]
    assert labels["ray.io/worker-group-replica-name"] == "small-group-abcde"
    assert labels["ray.io/worker-group-replica-index"] == "0"
    assert labels["ray.io/replica-host-index"] == "2"
    with pytest.raises(ValueError, match="numOfHosts"):
        build_worker_pod(c, group, CONFIG, replica_index=0)


def test_single_host_gets_only_the_replica_index() -> None:
    labels = worker(cluster())["metadata"]["labels"]
    assert labels["ray.io/worker-group-replica-index"] == "0"
    assert "ray.io/worker-group-replica-name" not in labels
    assert "ray.io/replica-host-index" not in labels
    off = OperatorConfig(gates=FeatureGates(ray_multi_host_indexing=False))
    assert "ray.io/worker-group-replica-index" not in worker(cluster(), off)["metadata"]["labels"]


def test_metrics_port_added_unless_the_user_named_one() -> None:
    assert ray(build_head_pod(cluster(), CONFIG))["ports"] == [
        {"name": "metrics", "containerPort": 8080}
    ]
    ports = [
        {"name": "gcs-server", "containerPort": 6379},
        {"name": "metrics", "containerPort": 8081},
    ]
    c = cluster(
        lambda d: (head_container(d).update(ports=ports), worker_container(d).update(ports=ports))
    )
    assert ray(build_head_pod(c, CONFIG))["ports"] == ports
    assert ray(worker(c))["ports"] == ports
    assert ray(worker(cluster()))["ports"] == [{"name": "metrics", "containerPort": 8080}]


def test_operator_defaults_sidecars_and_head_annotations() -> None:
    config = OperatorConfig(
        default_pod_labels={"team": "ml", "ray.io/cluster": "nope", "keep": "operator"},
        default_pod_annotations={"a": "operator", "b": "operator"},
        head_sidecar_containers=({"name": "fluentbit", "image": "fluent"},),
        worker_sidecar_containers=({"name": "logger", "image": "log"},),
    )

    def edit(d: dict[str, Any]) -> None:
        for template in (
            d["spec"]["headGroupSpec"]["template"],
            d["spec"]["workerGroupSpecs"][0]["template"],
        ):
            template["metadata"]["labels"] = {"keep": "user"}
            template["metadata"]["annotations"] = {"a": "user"}

    c = cluster(edit)
    head = build_head_pod(c, config)
    for pod in (head, worker(c, config)):
        assert pod["metadata"]["labels"]["team"] == "ml"
        assert pod["metadata"]["labels"]["keep"] == "user"
        assert pod["metadata"]["labels"]["ray.io/cluster"] == "raycluster-sample"
        assert pod["metadata"]["annotations"]["a"] == "user"
        assert pod["metadata"]["annotations"]["b"] == "operator"
    assert [x["name"] for x in head["spec"]["containers"]] == ["ray-head", "fluentbit"]
    assert [x["name"] for x in worker(c, config)["spec"]["containers"]] == ["ray-worker", "logger"]
    annotations = head["metadata"]["annotations"]
    assert annotations["ray.io/ft-enabled"] == "false"
    assert annotations["ray.io/kuberay-version"] == config.kuberay_version
    assert annotations["ray.io/upgrade-strategy-recreate-hash"] == cluster_spec_hash(c)


def test_worker_pods_carry_no_head_annotations() -> None:
    pod = worker(cluster())
    assert "annotations" not in pod["metadata"]


def test_custom_head_service_name_and_domain_reach_the_workers() -> None:
    c = cluster(
        lambda d: d["spec"]["headGroupSpec"].update(headService={"metadata": {"name": "my-head"}})
    )
    config = OperatorConfig(cluster_domain="corp.internal")
    assert head_service_name_for(c) == "my-head"
    assert head_service_fqdn(c, config) == "my-head.default.svc.corp.internal"
    pod = worker(c, config)
    assert env_value(ray(pod), "FQ_RAY_IP") == "my-head.default.svc.corp.internal"
    assert env_value(ray(pod), "RAY_IP") == "my-head"
    assert "--address=my-head.default.svc.corp.internal:6379" in ray(pod)["args"][0]


def test_custom_head_port_reaches_env_and_address() -> None:
    c = cluster(lambda d: d["spec"]["headGroupSpec"].update(rayStartParams={"port": "6380"}))
    assert env_value(ray(build_head_pod(c, CONFIG)), "RAY_ADDRESS") == "127.0.0.1:6380"
    work = ray(worker(c))
    assert env_value(work, "RAY_PORT") == "6380"
    assert env_value(work, "RAY_ADDRESS") == f"{FQDN}:6380"


def test_user_env_wins_where_kuberay_checks() -> None:
    def edit(d: dict[str, Any]) -> None:
        head_container(d)["env"] = [
            {"name": "RAY_ADDRESS", "value": "mine"},
            {"name": "RAY_PORT", "value": "1"},
            {"name": "RAY_USAGE_STATS_KUBERAY_IN_USE", "value": "0"},
        ]

    env = ray(build_head_pod(cluster(edit), CONFIG))["env"]
    assert [e["value"] for e in env if e["name"] == "RAY_ADDRESS"] == ["mine"]
    assert [e["value"] for e in env if e["name"] == "RAY_PORT"] == ["1"]
    assert [e["value"] for e in env if e["name"] == "RAY_USAGE_STATS_KUBERAY_IN_USE"] == ["0"]


def test_group_resources_and_ray_start_params() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["spec"]["workerGroupSpecs"][0]["resources"] = {"cpu": "3", "custom": "2"}
        d["spec"]["workerGroupSpecs"][0]["labels"] = {"zone": "a"}

    c = cluster(edit)
    args = ray(worker(c))["args"][0]
    assert "--num-cpus=3 " in args
    assert """--resources='{"custom":2}' """ in args
    assert "--labels=zone=a " in args
    assert f"--address={FQDN}:6379 " in args
    assert "--dashboard-host=0.0.0.0 " in ray(build_head_pod(cluster(), CONFIG))["args"][0]


# --- probes -------------------------------------------------------------------------------


def test_probes_are_merged_only_where_the_template_has_none() -> None:
    user_probe = {"httpGet": {"path": "/custom", "port": 8000}}
    c = cluster(lambda d: head_container(d).update(livenessProbe=user_probe))
    decided = {
        "livenessProbe": {"exec": {"command": ["bash", "-c", "x"]}},
        "readinessProbe": {"exec": {"command": ["bash", "-c", "y"]}},
    }
    head = ray(build_head_pod(c, CONFIG, probes=decided))
    assert head["livenessProbe"] == user_probe
    assert head["readinessProbe"] == decided["readinessProbe"]
    assert head["readinessProbe"] is not decided["readinessProbe"]
    work = ray(worker(c, probes={"readinessProbe": decided["readinessProbe"]}))
    assert "livenessProbe" not in work
    assert work["readinessProbe"] == decided["readinessProbe"]
    assert "livenessProbe" not in ray(worker(c))


# --- auth and TLS -------------------------------------------------------------------------


def test_token_auth_with_a_secret() -> None:
    c = cluster(
        lambda d: d["spec"].update(enableInTreeAutoscaling=True, authOptions={"mode": "token"})
    )
    head = build_head_pod(c, CONFIG)
    token = {
        "name": "RAY_AUTH_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "raycluster-sample", "key": "auth_token"}},
    }
    for container in (ray(head), head["spec"]["containers"][1]):
        assert env_of(container, "RAY_AUTH_MODE") == {"name": "RAY_AUTH_MODE", "value": "token"}
        assert env_of(container, "RAY_AUTH_TOKEN") == token
    work = worker(c)
    assert env_of(ray(work), "RAY_AUTH_TOKEN") == token
    assert env_of(work["spec"]["initContainers"][-1], "RAY_AUTH_TOKEN") == token


def test_k8s_token_auth_mounts_a_projected_token() -> None:
    c = cluster(
        lambda d: d["spec"].update(authOptions={"mode": "token", "enableK8sTokenAuth": True})
    )
    work = worker(c)
    mount = {
        "name": "ray-token",
        "mountPath": "/var/run/secrets/ray.io/serviceaccount",
        "readOnly": True,
    }
    assert env_value(ray(work), "RAY_ENABLE_K8S_TOKEN_AUTH") == "true"
    assert mount in ray(work)["volumeMounts"]
    assert mount in work["spec"]["initContainers"][-1]["volumeMounts"]
    assert {
        "name": "ray-token",
        "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
    } in work["spec"]["volumes"]
    assert env_of(ray(work), "RAY_AUTH_TOKEN") is None
    no_k8s = cluster(
        lambda d: d["spec"].update(authOptions={"mode": "token", "enableK8sTokenAuth": False})
    )
    assert env_of(ray(build_head_pod(no_k8s, CONFIG)), "RAY_ENABLE_K8S_TOKEN_AUTH") is None


def test_tls_needs_the_gate() -> None:
    c = cluster(lambda d: d["spec"].update(tlsOptions={"enabled": True}))
    assert env_of(ray(build_head_pod(c, CONFIG)), "RAY_USE_TLS") is None
    gated = OperatorConfig(gates=FeatureGates(ray_cluster_mtls=True))
    work = worker(c, gated)
    assert env_value(ray(work), "RAY_USE_TLS") == "1"
    assert env_value(ray(work), "RAY_TLS_CA_CERT") == "/etc/ray/tls/ca.crt"
    inits = work["spec"]["initContainers"]
    assert [i["name"] for i in inits] == ["wait-for-tls-ip-san", "wait-gcs-ready"]
    assert env_value(inits[1], "RAY_TLS_SERVER_CERT") == "/etc/ray/tls/tls.crt"
    assert {"name": "ray-tls", "secret": {"secretName": "ray-worker-secret-raycluster-sample"}} in (
        work["spec"]["volumes"]
    )
    head = build_head_pod(c, gated)
    assert {"name": "ray-tls", "secret": {"secretName": "ray-head-secret-raycluster-sample"}} in (
        head["spec"]["volumes"]
    )


# --- shouldDeletePod ----------------------------------------------------------------------


def pod_with(phase: str, restart: str, terminated: bool) -> dict[str, Any]:
    state: dict[str, Any] = {"terminated": {"exitCode": 1}} if terminated else {"running": {}}
    return {
        "spec": {"restartPolicy": restart, "containers": [{"name": "ray-head"}, {"name": "side"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": "side", "state": {"running": {}}},
                {"name": "ray-head", "state": state},
            ],
        },
    }


@pytest.mark.parametrize(
    ("phase", "restart", "terminated", "expected"),
    [
        ("Failed", "Always", False, True),
        ("Running", "Always", False, False),
        ("Running", "Always", True, False),
        ("Running", "OnFailure", True, False),
        ("Failed", "Never", False, True),
        ("Succeeded", "Never", False, True),
        ("Running", "Never", True, True),
        ("Running", "Never", False, False),
        ("Pending", "Never", True, False),
    ],
)
def test_should_delete_pod(phase: str, restart: str, terminated: bool, expected: bool) -> None:
    assert should_delete_pod(pod_with(phase, restart, terminated)) is expected


def test_should_delete_pod_matches_the_ray_container_by_name() -> None:
    pod = pod_with("Running", "Never", False)
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 0}}
    assert should_delete_pod(pod) is False  # only the sidecar ended
    assert should_delete_pod({"spec": {}, "status": {"phase": "Running"}}) is False


# --- spec hash ----------------------------------------------------------------------------


def test_spec_hash_ignores_scaling_and_scheduler_fields() -> None:
    base = cluster_spec_hash(cluster())
    assert re.fullmatch(r"[0-9A-V]{32}", base)

    def scale(d: dict[str, Any]) -> None:
        group = d["spec"]["workerGroupSpecs"][0]
        group.update(replicas=7, minReplicas=1, maxReplicas=9)
        group["scaleStrategy"] = {"workersToDelete": ["p1"]}
        group["template"]["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
        group["template"]["spec"]["schedulingGates"] = [{"name": "kueue"}]
        d["spec"]["headGroupSpec"]["template"]["spec"]["tolerations"] = [{"key": "k"}]
        d["spec"]["upgradeStrategy"] = {"type": "Recreate"}

    assert cluster_spec_hash(cluster(scale)) == base
    image = cluster(lambda d: worker_container(d).update(image="repo/image:new"))
    assert cluster_spec_hash(image) != base
    version = cluster(lambda d: d["spec"].update(rayVersion="2.52.0"))
    assert cluster_spec_hash(version) != base
    suspended = cluster(lambda d: d["spec"].update(suspend=True))
    assert cluster_spec_hash(suspended) != base
    assert spec_hash(suspended.spec, mute_suspend=True) == spec_hash(
        cluster().spec, mute_suspend=True
    )


def test_spec_hash_is_stable_and_leaves_the_spec_alone() -> None:
    c = cluster(
        lambda d: d["spec"]["workerGroupSpecs"][0].update(scaleStrategy={"workersToDelete": ["a"]})
    )
    before = copy.deepcopy(c.spec)
    assert cluster_spec_hash(c) == cluster_spec_hash(c)
    assert c.spec == before


# --- schema -------------------------------------------------------------------------------


def test_every_pod_variant_passes_kubernetes_1_33_schema_validation() -> None:
    import kubernetes_validate

    secret_ref = {"secretKeyRef": {"name": "redis-password-secret", "key": "password"}}

    def everything(d: dict[str, Any]) -> None:
        d["metadata"]["labels"] = {"ray.io/originated-from-crd": "RayService"}
        d["spec"].update(
            enableInTreeAutoscaling=True,
            autoscalerOptions={"version": "v2"},
            authOptions={"mode": "token", "enableK8sTokenAuth": True},
            tlsOptions={"enabled": True},
            gcsFaultToleranceOptions={
                "redisAddress": "redis:6379",
                "redisPassword": {"valueFrom": secret_ref},
            },
        )
        d["spec"]["workerGroupSpecs"][0].update(numOfHosts=2, labels={"zone": "a"})

    config = OperatorConfig(
        gates=FeatureGates(ray_cluster_mtls=True),
        head_sidecar_containers=({"name": "fluentbit", "image": "fluent/fluent-bit"},),
    )
    probe = {"exec": {"command": ["bash", "-c", "true"]}, "periodSeconds": 5}
    probes = {"livenessProbe": probe, "readinessProbe": probe}
    for c in (cluster(), cluster(everything)):
        assert c.spec.worker_group_specs
        pods = [
            build_head_pod(c, config, probes=probes),
            build_worker_pod(
                c,
                c.spec.worker_group_specs[0],
                config,
                replica_index=1,
                replica_name="small-group-abcde",
                host_index=1,
                probes=probes,
            ),
        ]
        for pod in pods:
            kubernetes_validate.validate(pod, "1.33.0", strict=True)
