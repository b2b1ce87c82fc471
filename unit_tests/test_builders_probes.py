"""KubeRay's probe rules (reference section 2, and the cases of its
TestInitLivenessAndReadinessProbe and the envtest custom-ports check), as the pure
decision the probe injector records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.probes import (
    current_decision,
    decide_probes,
    encode_decision,
    parse_decision,
    probes_enabled,
    supports_unified_health_check,
    wget_health_command,
)

CONFIG = OperatorConfig()

RAYLET_DEFAULT = (
    "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success"
)
GCS_DEFAULT = "wget --tries 1 -T 10 -q -O- http://localhost:8265/api/gcs_healthz | grep success"
SERVE_DEFAULT = "wget --tries 1 -T 10 -q -O- http://localhost:8000/-/healthz | grep success"


def container(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "rayproject/ray:2.46.0", **extra}


def cluster(
    *,
    head_params: dict[str, str] | None = None,
    worker_params: dict[str, str] | None = None,
    head_container: dict[str, Any] | None = None,
    worker_container: dict[str, Any] | None = None,
    ray_version: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    extra_groups: list[dict[str, Any]] | None = None,
) -> RayCluster:
    spec: dict[str, Any] = {
        "headGroupSpec": {
            "rayStartParams": head_params or {},
            "template": {"spec": {"containers": [head_container or container("ray-head")]}},
        },
        "workerGroupSpecs": [
            {
                "groupName": "small-group",
                "replicas": 3,
                "rayStartParams": worker_params or {},
                "template": {"spec": {"containers": [worker_container or container("ray-worker")]}},
            },
            *(extra_groups or []),
        ],
    }
    if ray_version is not None:
        spec["rayVersion"] = ray_version
    return raycluster_from_dict(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {
                "name": "raycluster-sample",
                "namespace": "default",
                "generation": 3,
                "labels": labels or {},
                "annotations": annotations or {},
            },
            "spec": spec,
        }
    )


def rayservice_cluster(**kwargs: Any) -> RayCluster:
    return cluster(labels={"ray.io/originated-from-crd": "RayService"}, **kwargs)


def command(probe: dict[str, Any]) -> str:
    argv = probe["exec"]["command"]
    assert argv[:2] == ["bash", "-c"] and len(argv) == 3
    return str(argv[2])


def test_wget_command_is_kuberays_format() -> None:
    assert wget_health_command(2, 52365, "api/local_raylet_healthz") == RAYLET_DEFAULT


def test_head_gets_raylet_and_gcs_checks_with_head_timings() -> None:
    head = decide_probes(cluster(), CONFIG)["headgroup"]
    joined = f"{RAYLET_DEFAULT} && {GCS_DEFAULT}"
    assert head == {
        "livenessProbe": {
            "exec": {"command": ["bash", "-c", joined]},
            "initialDelaySeconds": 30,
            "timeoutSeconds": 5,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 120,
        },
        "readinessProbe": {
            "exec": {"command": ["bash", "-c", joined]},
            "initialDelaySeconds": 10,
            "timeoutSeconds": 5,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 10,
        },
    }


def test_worker_gets_raylet_check_only_with_worker_timings() -> None:
    worker = decide_probes(cluster(), CONFIG)["small-group"]
    assert worker == {
        "livenessProbe": {
            "exec": {"command": ["bash", "-c", RAYLET_DEFAULT]},
            "initialDelaySeconds": 30,
            "timeoutSeconds": 2,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 120,
        },
        "readinessProbe": {
            "exec": {"command": ["bash", "-c", RAYLET_DEFAULT]},
            "initialDelaySeconds": 10,
            "timeoutSeconds": 2,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 10,
        },
    }


def test_every_group_has_an_entry_keyed_by_group_name() -> None:
    extra = {
        "groupName": "gpu-group",
        "rayStartParams": {"dashboard-agent-listen-port": "9100"},
        "template": {"spec": {"containers": [container("gpu")]}},
    }
    decision = decide_probes(cluster(extra_groups=[extra]), CONFIG)
    assert set(decision) == {"headgroup", "small-group", "gpu-group"}
    assert ":9100/api/local_raylet_healthz" in command(decision["gpu-group"]["livenessProbe"])
    assert ":52365/" in command(decision["small-group"]["livenessProbe"])


def test_rayservice_worker_readiness_adds_serve_proxy_check_and_fails_fast() -> None:
    worker = decide_probes(rayservice_cluster(), CONFIG)["small-group"]
    assert command(worker["readinessProbe"]) == f"{RAYLET_DEFAULT} && {SERVE_DEFAULT}"
    assert worker["readinessProbe"]["failureThreshold"] == 1
    assert worker["readinessProbe"]["timeoutSeconds"] == 2
    assert "-/healthz" not in command(worker["livenessProbe"])
    assert worker["livenessProbe"]["timeoutSeconds"] == 2
    assert worker["livenessProbe"]["failureThreshold"] == 120


def test_rayservice_head_never_gets_the_serve_check() -> None:
    head = decide_probes(rayservice_cluster(), CONFIG)["headgroup"]
    for kind in ("livenessProbe", "readinessProbe"):
        assert "-/healthz" not in command(head[kind])
        assert head[kind]["timeoutSeconds"] == 5
    assert head["readinessProbe"]["failureThreshold"] == 10


@pytest.mark.parametrize("value", ["RayCluster", "RayJob", "rayservice", ""])
def test_only_the_exact_rayservice_label_means_a_rayservice_cluster(value: str) -> None:
    c = cluster(labels={"ray.io/originated-from-crd": value})
    readiness = decide_probes(c, CONFIG)["small-group"]["readinessProbe"]
    assert "-/healthz" not in command(readiness)
    assert readiness["failureThreshold"] == 10


def test_serve_port_comes_from_the_container_port_named_serve() -> None:
    ports = [
        {"name": "metrics", "containerPort": 8080},
        {"name": "serve", "containerPort": 9123},
    ]
    c = rayservice_cluster(
        worker_params={"dashboard-agent-listen-port": "8500"},
        worker_container=container("ray-worker", ports=ports),
    )
    readiness = command(decide_probes(c, CONFIG)["small-group"]["readinessProbe"])
    assert readiness == (
        "wget --tries 1 -T 2 -q -O- http://localhost:8500/api/local_raylet_healthz | grep success"
        " && wget --tries 1 -T 10 -q -O- http://localhost:9123/-/healthz | grep success"
    )


def test_serve_port_defaults_to_8000_when_no_port_is_named_serve() -> None:
    c = rayservice_cluster(
        worker_container=container("w", ports=[{"name": "serving", "containerPort": 9000}])
    )
    readiness = command(decide_probes(c, CONFIG)["small-group"]["readinessProbe"])
    assert readiness.endswith("http://localhost:8000/-/healthz | grep success")


def test_custom_ports_from_ray_start_params() -> None:
    c = cluster(
        head_params={"dashboard-agent-listen-port": "8266", "dashboard-port": "8365"},
        worker_params={"dashboard-agent-listen-port": "9000"},
    )
    decision = decide_probes(c, CONFIG)
    for kind in ("livenessProbe", "readinessProbe"):
        head = command(decision["headgroup"][kind])
        assert ":8266/api/local_raylet_healthz" in head
        assert ":8365/api/gcs_healthz" in head
        worker = command(decision["small-group"][kind])
        assert ":9000" in worker
        assert ":8365" not in worker and ":8265" not in worker


def test_worker_dashboard_port_param_is_not_used() -> None:
    c = cluster(worker_params={"dashboard-port": "8365"})
    worker = command(decide_probes(c, CONFIG)["small-group"]["livenessProbe"])
    assert worker == RAYLET_DEFAULT


@pytest.mark.parametrize(
    ("raw", "port"),
    [
        ("invalid-port", 52365),
        ("", 52365),
        (" 8266", 52365),  # Go's ParseInt takes no spaces
        ("8_266", 52365),  # nor underscores (base 10)
        ("8266.0", 52365),
        ("2147483648", 52365),  # does not fit in int32
        ("+8266", 8266),
        ("08266", 8266),
        ("2147483647", 2147483647),
        ("-1", -1),  # parses, so KubeRay uses it
    ],
)
def test_agent_port_parsing_follows_go_int32(raw: str, port: int) -> None:
    c = cluster(worker_params={"dashboard-agent-listen-port": raw})
    worker = command(decide_probes(c, CONFIG)["small-group"]["livenessProbe"])
    assert worker == (
        f"wget --tries 1 -T 2 -q -O- http://localhost:{port}/api/local_raylet_healthz"
        " | grep success"
    )


def test_invalid_ports_fall_back_to_defaults_on_the_head() -> None:
    c = cluster(
        head_params={"dashboard-agent-listen-port": "invalid-port", "dashboard-port": "nope"}
    )
    head = command(decide_probes(c, CONFIG)["headgroup"]["livenessProbe"])
    assert head == f"{RAYLET_DEFAULT} && {GCS_DEFAULT}"


def test_user_http_probes_are_never_replaced() -> None:
    user_probe = {"httpGet": {"path": "/api/local_raylet_healthz", "port": 52365}}
    c = cluster(
        head_container=container("ray-head", livenessProbe=user_probe, readinessProbe=user_probe)
    )
    decision = decide_probes(c, CONFIG)
    assert decision["headgroup"] == {}
    assert set(decision["small-group"]) == {"livenessProbe", "readinessProbe"}


def test_liveness_and_readiness_are_decided_independently() -> None:
    mine = {"tcpSocket": {"port": 6379}}
    only_liveness = cluster(worker_container=container("w", livenessProbe=mine))
    assert set(decide_probes(only_liveness, CONFIG)["small-group"]) == {"readinessProbe"}
    only_readiness = rayservice_cluster(worker_container=container("w", readinessProbe=mine))
    worker = decide_probes(only_readiness, CONFIG)["small-group"]
    assert set(worker) == {"livenessProbe"}  # the serve check is not forced on the user


def test_an_empty_user_probe_counts_as_written_and_null_as_absent() -> None:
    c = cluster(worker_container=container("w", livenessProbe={}, readinessProbe=None))
    assert set(decide_probes(c, CONFIG)["small-group"]) == {"readinessProbe"}


def test_only_the_ray_container_is_considered() -> None:
    sidecar = container("sidecar", livenessProbe={"tcpSocket": {"port": 1}})
    c = raycluster_from_dict(
        {
            "metadata": {"name": "c", "generation": 1},
            "spec": {
                "headGroupSpec": {
                    "template": {"spec": {"containers": [container("ray-head"), sidecar]}}
                }
            },
        }
    )
    assert set(decide_probes(c, CONFIG)["headgroup"]) == {"livenessProbe", "readinessProbe"}


def test_ray_253_uses_http_healthz_on_the_agent_port_for_head_and_workers() -> None:
    decision = decide_probes(cluster(ray_version="2.53.0"), CONFIG)
    for group, timeout in (("headgroup", 5), ("small-group", 2)):
        assert decision[group]["livenessProbe"] == {
            "httpGet": {"path": "/api/healthz", "port": 52365},
            "initialDelaySeconds": 30,
            "timeoutSeconds": timeout,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 120,
        }
        assert decision[group]["readinessProbe"] == {
            "httpGet": {"path": "/api/healthz", "port": 52365},
            "initialDelaySeconds": 10,
            "timeoutSeconds": timeout,
            "periodSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 10,
        }
        assert "exec" not in decision[group]["livenessProbe"]


def test_ray_253_http_probe_uses_the_custom_agent_port() -> None:
    c = cluster(ray_version="2.53.0", head_params={"dashboard-agent-listen-port": "8266"})
    head = decide_probes(c, CONFIG)["headgroup"]["livenessProbe"]
    assert head["httpGet"] == {"path": "/api/healthz", "port": 8266}


def test_ray_253_rayservice_worker_readiness_stays_exec_with_serve_check() -> None:
    decision = decide_probes(rayservice_cluster(ray_version="2.53.0"), CONFIG)
    readiness = decision["small-group"]["readinessProbe"]
    assert "httpGet" not in readiness
    assert command(readiness) == f"{RAYLET_DEFAULT} && {SERVE_DEFAULT}"
    assert readiness["failureThreshold"] == 1
    assert decision["small-group"]["livenessProbe"]["httpGet"]["path"] == "/api/healthz"
    assert decision["headgroup"]["readinessProbe"]["httpGet"]["path"] == "/api/healthz"


def test_ray_252_keeps_exec_probes() -> None:
    decision = decide_probes(cluster(ray_version="2.52.0"), CONFIG)
    assert "exec" in decision["headgroup"]["livenessProbe"]
    assert "httpGet" not in decision["small-group"]["readinessProbe"]


@pytest.mark.parametrize(
    ("version", "unified"),
    [
        (None, False),
        ("", False),
        ("latest", False),
        ("nightly", False),
        ("3", False),  # one component: not a generic version
        ("02.60.0", False),  # leading zero on the first component
        ("2.53.0\n", False),  # Go's `.` stops at a newline
        ("2.52.9", False),
        ("1.99.99", False),
        ("2.53.0", True),
        ("2.53", True),
        ("v2.53.0", True),
        (" 2.53.0", True),
        ("2.53.0-rc1", True),  # extra text is ignored by the generic parser
        ("2.53.0.1", True),
        ("2.100.0", True),
        ("3.0", True),
        ("2.053.0", True),  # leading zeros only matter on the first component
        ("18446744073709551616.0", False),  # overflows Go's uint64
    ],
)
def test_ray_version_parsing_is_apimachinerys_generic_parser(
    version: str | None, unified: bool
) -> None:
    assert supports_unified_health_check(version) is unified


def test_switched_off_for_the_operator_decides_nothing() -> None:
    off = OperatorConfig(enable_probes_injection=False)
    assert not probes_enabled(cluster(), off)
    assert decide_probes(cluster(), off) == {}


@pytest.mark.parametrize("value", ["false", "False", "FALSE"])
def test_switched_off_for_one_cluster_by_annotation(value: str) -> None:
    c = cluster(annotations={"ray.io/probe-injection": value})
    assert not probes_enabled(c, CONFIG)
    assert decide_probes(c, CONFIG) == {}


@pytest.mark.parametrize("value", ["true", "no", "0", ""])
def test_other_annotation_values_leave_injection_on(value: str) -> None:
    c = cluster(annotations={"ray.io/probe-injection": value})
    assert probes_enabled(c, CONFIG)
    assert set(decide_probes(c, CONFIG)) == {"headgroup", "small-group"}


def test_bad_template_shapes_do_not_crash() -> None:
    c = raycluster_from_dict(
        {
            "metadata": {"name": "c"},
            "spec": {
                "headGroupSpec": {"template": {"spec": {"containers": "nope"}}},
                "workerGroupSpecs": [
                    {"groupName": "w", "template": {"spec": {"containers": [["x"]]}}}
                ],
            },
        }
    )
    decision = decide_probes(c, CONFIG)
    assert set(decision["headgroup"]) == {"livenessProbe", "readinessProbe"}
    assert set(decision["w"]) == {"livenessProbe", "readinessProbe"}


def test_encoding_is_compact_sorted_json_and_round_trips() -> None:
    decision = decide_probes(cluster(ray_version="2.53.0"), CONFIG)
    text = encode_decision(decision)
    assert text == json.dumps(decision, sort_keys=True, separators=(",", ":"))
    assert ", " not in text and ": " not in text
    assert text.startswith('{"headgroup":{"livenessProbe":{"failureThreshold":120,"httpGet":')
    assert parse_decision(text) == decision


@pytest.mark.parametrize("text", [None, "", "not json", "[]", '{"g": 1}', '{"g": {"p": 2}}'])
def test_parse_decision_rejects_what_is_not_a_decision(text: str | None) -> None:
    assert parse_decision(text) is None


def stamped(generation: str | None, decision: str | None, **annotations: str) -> RayCluster:
    c = cluster(annotations=annotations)
    if generation is not None:
        c.metadata["annotations"]["ray.io/probes-generation"] = generation
    if decision is not None:
        c.metadata["annotations"]["ray.io/injected-probes"] = decision
    return c


def test_current_decision_waits_for_a_stamp_of_this_generation() -> None:
    decision = encode_decision(decide_probes(cluster(), CONFIG))
    assert current_decision(stamped(None, None), CONFIG) is None
    assert current_decision(stamped("2", decision), CONFIG) is None  # generation is 3
    assert current_decision(stamped("3", "garbage"), CONFIG) is None
    assert current_decision(stamped("3", decision), CONFIG) == decide_probes(cluster(), CONFIG)


def test_current_decision_is_empty_without_waiting_when_switched_off() -> None:
    assert (
        current_decision(stamped(None, None, **{"ray.io/probe-injection": "false"}), CONFIG) == {}
    )
    off = OperatorConfig(enable_probes_injection=False)
    assert current_decision(stamped("1", '{"headgroup":{}}'), off) == {}
