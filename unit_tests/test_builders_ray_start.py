"""The `ray start` line, byte for byte as KubeRay renders it (reference section 7.1:
TestGenerateRayStartCommand, TestSetMissingRayStartParams*, TestUpdateRayStartParams*)."""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.api.config import OperatorConfig
from kuberay_py.builders.ray_start import (
    add_container_resources,
    apply_group_labels,
    apply_group_resources,
    bash_command,
    generate_ray_start_command,
    go_float,
    go_json_resources,
    is_gpu_resource_key,
    render_params,
    set_missing_ray_start_params,
)

FQDN = "raycluster-kuberay-head-svc.default.svc.cluster.local"


def limits(**values: str) -> dict[str, Any]:
    return {"limits": dict(values)}


@pytest.mark.parametrize(
    ("node_type", "params", "resources", "expected"),
    [
        ("worker", {}, {"limits": {"nvidia.com/gpu": "1"}}, "ray start  --num-gpus=1 "),
        ("worker", {}, {"limits": {"nvidia.com/mig-2g.32gb": "1"}}, "ray start  --num-gpus=1 "),
        (
            "worker",
            {},
            {"limits": {"google.com/tpu": "4"}},
            """ray start  --resources='{"TPU":4}' """,
        ),
        (
            "head",
            {},
            {"limits": {"aws.amazon.com/neuroncore": "4"}},
            """ray start --head  --resources='{"neuron_cores":4}' """,
        ),
        (
            "head",
            {},
            {"limits": {"aws.amazon.com/neuroncore": "4", "nvidia.com/gpu": "1"}},
            """ray start --head  --num-gpus=1  --resources='{"neuron_cores":4}' """,
        ),
        (
            "head",
            {},
            {
                "limits": {
                    "google.com/tpu": "8",
                    "aws.amazon.com/neuroncore": "4",
                    "nvidia.com/gpu": "1",
                }
            },
            """ray start --head  --num-gpus=1  --resources='{"neuron_cores":4}' """,
        ),
        (
            "head",
            {"resources": '"{"custom_resource":2}"'},
            {"limits": {"aws.amazon.com/neuroncore": "4"}},
            """ray start --head  --resources='{"custom_resource":2,"neuron_cores":4}' """,
        ),
        (
            "head",
            {"resources": """'{"custom_resource":2,"neuron_cores":3}'"""},
            {"limits": {"aws.amazon.com/neuroncore": "4"}},
            """ray start --head  --resources='{"custom_resource":2,"neuron_cores":3}' """,
        ),
        (
            "head",
            {"resources": """'{"custom_resource":2,"TPU":4}'"""},
            {"limits": {"google.com/tpu": "8"}},
            """ray start --head  --resources='{"custom_resource":2,"TPU":4}' """,
        ),
        (
            "head",
            {"resources": "{"},
            {"limits": {"aws.amazon.com/neuroncore": "4"}},
            "ray start --head  --resources={ ",
        ),
        ("InvalidType", {}, {}, ""),
        (
            "head",
            {"include-log-monitor": "false"},
            {},
            "ray start --head  --include-log-monitor=false ",
        ),
        (
            "head",
            {"include-log-monitor": "true"},
            {},
            "ray start --head  --include-log-monitor=true ",
        ),
    ],
    ids=[
        "worker-gpu",
        "worker-mig",
        "worker-tpu",
        "head-neuron",
        "head-neuron-gpu",
        "head-tpu-neuron-gpu-neuron-wins",
        "existing-resources-double-quoted",
        "existing-neuron-kept",
        "existing-tpu-kept",
        "invalid-resources-kept",
        "unknown-node-type",
        "include-log-monitor-false",
        "include-log-monitor-true",
    ],
)
def test_generate_ray_start_command_exact_strings(
    node_type: str, params: dict[str, str], resources: dict[str, Any], expected: str
) -> None:
    assert generate_ray_start_command(node_type, params, resources) == expected


def test_generate_does_not_modify_the_callers_params() -> None:
    params = {"port": "6379"}
    generate_ray_start_command("worker", params, limits(cpu="2"))
    assert params == {"port": "6379"}


def test_invalid_resources_string_also_skips_gpus() -> None:
    # KubeRay bails out of the accelerator pass before looking at any limit.
    out = add_container_resources({"resources": "{"}, limits(**{"nvidia.com/gpu": "2"}))
    assert "num-gpus" not in out
    assert out["resources"] == "{"


def test_num_cpus_rounds_the_limit_up_and_falls_back_to_the_request() -> None:
    assert add_container_resources({}, limits(cpu="500m"))["num-cpus"] == "1"
    assert add_container_resources({}, limits(cpu="2500m"))["num-cpus"] == "3"
    assert add_container_resources({}, {"requests": {"cpu": "2"}})["num-cpus"] == "2"
    both = {"requests": {"cpu": "4"}, "limits": {"cpu": "1"}}
    assert add_container_resources({}, both)["num-cpus"] == "1"


def test_memory_comes_from_the_limit_only() -> None:
    assert add_container_resources({}, limits(memory="1Gi"))["memory"] == "1073741824"
    assert "memory" not in add_container_resources({}, {"requests": {"memory": "1Gi"}})


def test_user_params_win_over_container_resources() -> None:
    out = add_container_resources(
        {"num-cpus": "0", "memory": "5", "num-gpus": "0"},
        limits(cpu="4", memory="1Gi", **{"nvidia.com/gpu": "2"}),
    )
    assert (out["num-cpus"], out["memory"], out["num-gpus"]) == ("0", "5", "0")


def test_zero_valued_accelerators_are_ignored() -> None:
    out = add_container_resources({}, limits(**{"nvidia.com/gpu": "0", "google.com/tpu": "0"}))
    assert "num-gpus" not in out
    assert "resources" not in out


@pytest.mark.parametrize(
    ("node_type", "params", "expected"),
    [
        ("head", {}, None),
        ("head", {"address": "custom-address:1234"}, "custom-address:1234"),
        ("worker", {}, f"{FQDN}:6379"),
        ("worker", {"address": "custom-address:1234"}, "custom-address:1234"),
    ],
)
def test_set_missing_address(node_type: str, params: dict[str, str], expected: str | None) -> None:
    out = set_missing_ray_start_params(
        params, node_type, "6379", FQDN if node_type == "worker" else ""
    )
    assert out.get("address") == expected


@pytest.mark.parametrize("node_type", ["head", "worker"])
def test_set_missing_metrics_export_port(node_type: str) -> None:
    assert (
        set_missing_ray_start_params({}, node_type, "6379", FQDN)["metrics-export-port"] == "8080"
    )
    custom = {"metrics-export-port": "8081"}
    assert (
        set_missing_ray_start_params(custom, node_type, "6379", FQDN)["metrics-export-port"]
        == "8081"
    )


@pytest.mark.parametrize("node_type", ["head", "worker"])
@pytest.mark.parametrize("params", [{}, {"block": "false"}])
def test_block_is_always_forced_on(node_type: str, params: dict[str, str]) -> None:
    assert set_missing_ray_start_params(params, node_type, "6379", FQDN)["block"] == "true"


def test_dashboard_host_only_defaults_on_the_head() -> None:
    assert set_missing_ray_start_params({}, "head", "6379", "")["dashboard-host"] == "0.0.0.0"
    kept = set_missing_ray_start_params({"dashboard-host": "localhost"}, "head", "6379", "")
    assert kept["dashboard-host"] == "localhost"
    assert "dashboard-host" not in set_missing_ray_start_params({}, "worker", "6379", FQDN)
    worker = set_missing_ray_start_params({"dashboard-host": "localhost"}, "worker", "6379", FQDN)
    assert worker["dashboard-host"] == "localhost"


def test_dashboard_agent_listen_port_defaults_but_a_user_value_stays() -> None:
    assert (
        set_missing_ray_start_params({}, "worker", "6379", FQDN)["dashboard-agent-listen-port"]
        == "52365"
    )
    custom = {"dashboard-agent-listen-port": "9999"}
    assert (
        set_missing_ray_start_params(custom, "worker", "6379", FQDN)["dashboard-agent-listen-port"]
        == "9999"
    )


def test_render_sorts_keys_and_handles_booleans() -> None:
    params = {
        "num-cpus": "1",
        "block": "True",
        "disable-usage-stats": "FALSE",
        "log-color": "false",
        "include-dashboard": "TRUE",
    }
    assert render_params(params) == (
        " --block  --include-dashboard=TRUE  --log-color=false  --num-cpus=1 "
    )


def test_group_labels_become_sorted_ray_node_labels() -> None:
    labels = {
        "topology.kubernetes.io/zone": "us-central2",
        "ray.io/node-group": "worker-group-1",
        "cloud.google.com/gke-spot": "true",
    }
    assert apply_group_labels({}, labels) == {
        "labels": "cloud.google.com/gke-spot=true,ray.io/node-group=worker-group-1,"
        "topology.kubernetes.io/zone=us-central2"
    }
    replaced = apply_group_labels({"labels": "old=label", "resources": "x"}, {"new": "label"})
    assert replaced == {"labels": "new=label", "resources": "x"}
    assert apply_group_labels({"labels": "some=labels"}, None) == {"labels": "some=labels"}
    assert apply_group_labels({"labels": "some=labels"}, {}) == {"labels": "some=labels"}


@pytest.mark.parametrize(
    ("initial", "resources", "expected"),
    [
        ({"existing": "true"}, None, {"existing": "true"}),
        ({}, {"cpu": "2", "memory": "4Gi"}, {"num-cpus": "2", "memory": "4294967296"}),
        ({}, {"CPU": "2", "GPU": "4"}, {"num-cpus": "2", "num-gpus": "4"}),
        (
            {},
            {"nvidia.com/gpu": "1", "TPU": "4"},
            {"num-gpus": "1", "resources": """'{"TPU":4}'"""},
        ),
        (
            {"num-cpus": "1", "memory": "1000", "resources": """'{"Custom-Resource": 10}'"""},
            {"cpu": "4", "Custom-Resource": "5"},
            {"num-cpus": "4", "memory": "1000", "resources": """'{"Custom-Resource":5}'"""},
        ),
        (
            {},
            {"cpu": "500m", "accel": "250m"},
            {"num-cpus": "1", "resources": """'{"accel":0.25}'"""},
        ),
        ({}, {"cpu": "not-a-quantity"}, {}),
    ],
)
def test_group_resources_override_ray_start_params(
    initial: dict[str, str], resources: dict[str, str] | None, expected: dict[str, str]
) -> None:
    assert apply_group_resources(initial, resources) == expected


def test_gpu_resource_keys() -> None:
    assert is_gpu_resource_key("nvidia.com/gpu")
    assert is_gpu_resource_key("amd.com/gpu")
    assert is_gpu_resource_key("nvidia.com/mig-1g.5gb")
    assert not is_gpu_resource_key("google.com/tpu")
    assert not is_gpu_resource_key("nvidia.com/mig-1g.5gbx")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4.0, "4"),
        (0.5, "0.5"),
        (100.0, "100"),
        (0.000001, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (1e-10, "1e-10"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (-3.0, "-3"),
        (0.0, "0"),
    ],
)
def test_floats_are_written_as_go_json_writes_them(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_resource_json_escapes_like_go() -> None:
    assert go_json_resources({"b": 1.0, "a<&>": 2.0}) == '{"a\\u003c\\u0026\\u003e":2,"b":1}'


def test_bash_command_follows_the_login_shell_switch() -> None:
    assert bash_command(OperatorConfig()) == ["/bin/bash", "-c", "--"]
    assert bash_command(OperatorConfig(login_shell=True)) == ["/bin/bash", "-cl", "--"]
