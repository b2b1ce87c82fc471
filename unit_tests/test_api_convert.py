"""The camelCase converter: lossless round trips, strict shapes, errors that name the field."""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.convert import (
    FieldError,
    converter,
    raycluster_from_dict,
    raycluster_to_dict,
    wire_name,
)
from kuberay_py.api.defaults import with_defaults
from kuberay_py.api.raycluster import RayCluster, WorkerGroupSpec
from kuberay_py.api.validation import (
    validate_raycluster_metadata,
    validate_raycluster_spec,
    validate_raycluster_upgrade_options,
)

SAMPLES = Path(__file__).parent.parent / "manifests" / "samples"


def _sample_clusters() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayCluster":
                out.append((path.name, doc))
    return out


SAMPLE_CLUSTERS = _sample_clusters()


def test_every_sample_is_found() -> None:
    assert sorted(name for name, _ in SAMPLE_CLUSTERS) == [
        "ray-cluster.autoscaler.yaml",
        "ray-cluster.complete.yaml",
        "ray-cluster.external-redis.yaml",
        "ray-cluster.sample.yaml",
        "ray-cluster.two-worker-groups.yaml",
    ]


@pytest.mark.parametrize(
    "doc", [d for _, d in SAMPLE_CLUSTERS], ids=[n for n, _ in SAMPLE_CLUSTERS]
)
def test_samples_round_trip_without_losing_a_field(doc: dict[str, Any]) -> None:
    cluster = raycluster_from_dict(doc)
    assert raycluster_to_dict(cluster) == doc
    # And the fields are really typed, not parked in `extra`.
    assert cluster.spec.extra == {}
    assert cluster.spec.head_group_spec.extra == {}
    assert all(g.extra == {} for g in cluster.spec.worker_group_specs or ())


def test_samples_use_the_typed_fields_they_claim() -> None:
    by_name = {d["metadata"]["name"]: raycluster_from_dict(d) for _, d in SAMPLE_CLUSTERS}
    redis = by_name["raycluster-external-redis"].spec
    assert redis.gcs_fault_tolerance_options is not None
    assert redis.gcs_fault_tolerance_options.redis_address == "redis:6379"
    password = redis.gcs_fault_tolerance_options.redis_password
    assert password is not None and password.value_from == {
        "secretKeyRef": {"name": "redis-password-secret", "key": "password"}
    }
    assert redis.head_group_spec.ray_start_params == {"num-cpus": "0"}
    assert by_name["raycluster-autoscaler"].spec.enable_in_tree_autoscaling is True
    complete = by_name["raycluster-complete"].spec
    assert complete.head_group_spec.service_type == "ClusterIP"
    assert complete.head_service_annotations == {"example.com/scrape": "true"}
    assert complete.head_group_spec.head_service is not None
    groups = complete.worker_group_specs or []
    assert [g.group_name for g in groups] == ["cpu-workers", "standby"]
    assert groups[0].resources == {"CPU": "2", "example-slot": "4"}
    assert groups[1].suspend is True


def _model_in(tp: Any) -> tuple[type | None, bool]:
    """(the model a field's type holds, whether it is a list of them)."""
    for arg in (tp, *typing.get_args(tp)):
        if attrs.has(arg):
            return arg, False
        if typing.get_origin(arg) is list and attrs.has(typing.get_args(arg)[0]):
            return typing.get_args(arg)[0], True
    return None, False


def _unknown_at_every_level(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with a key no model knows added to every object a model describes."""
    out = copy.deepcopy(doc)

    def walk(data: dict[str, Any], cls: type) -> None:
        data["futureField"] = {"nested": [1, "two", None, {"three": 3.5}]}
        for field in attrs.fields(attrs.resolve_types(cls)):
            value = data.get(wire_name(field))
            model, is_list = _model_in(field.type)
            if model is None or value is None:
                continue
            for item in value if is_list else [value]:
                walk(item, model)

    walk(out, RayCluster)
    return out


def _paths_of(key: str, data: Any, path: str = "") -> list[str]:
    """Where `key` occurs in `data`, as kube field paths."""
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                found.append(path)
            else:
                found += _paths_of(key, v, f"{path}.{k}" if path else k)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _paths_of(key, v, f"{path}[{i}]")
    return found


def test_unknown_fields_survive_at_every_level() -> None:
    doc = _unknown_at_every_level(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "c"},
            "spec": {
                "headGroupSpec": {"template": {}, "ingressOptions": {"host": "h"}},
                "workerGroupSpecs": [{"groupName": "g", "template": {}, "scaleStrategy": {}}],
                "gcsFaultToleranceOptions": {
                    "redisPassword": {"value": "p"},
                    "storage": {"size": "1Gi"},
                },
                "autoscalerOptions": {},
                "upgradeStrategy": {"type": "None"},
                "authOptions": {"mode": "token"},
            },
            "status": {"head": {"podIP": "10.0.0.1"}},
        }
    )
    assert sorted(_paths_of("futureField", doc)) == [
        "",
        "spec",
        "spec.authOptions",
        "spec.autoscalerOptions",
        "spec.gcsFaultToleranceOptions",
        "spec.gcsFaultToleranceOptions.redisPassword",
        "spec.gcsFaultToleranceOptions.storage",
        "spec.headGroupSpec",
        "spec.headGroupSpec.ingressOptions",
        "spec.upgradeStrategy",
        "spec.workerGroupSpecs[0]",
        "spec.workerGroupSpecs[0].scaleStrategy",
        "status",
        "status.head",
    ]
    cluster = raycluster_from_dict(doc)
    assert raycluster_to_dict(cluster) == doc
    assert cluster.spec.worker_group_specs is not None
    assert "futureField" in cluster.spec.worker_group_specs[0].scale_strategy.extra  # type: ignore[union-attr]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


GROUP_WIRE_NAMES = frozenset(wire_name(f) for f in attrs.fields(WorkerGroupSpec))


@given(
    unknown=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k not in GROUP_WIRE_NAMES),
        JSON,
        max_size=4,
    ),
    template=st.dictionaries(st.text(max_size=6), JSON, max_size=4),
)
def test_any_unknown_json_round_trips(unknown: dict[str, Any], template: dict[str, Any]) -> None:
    group = {**unknown, "groupName": "g", "template": template, "replicas": 2}
    doc = {"spec": {"headGroupSpec": {"template": {}}, "workerGroupSpecs": [group]}}
    assert raycluster_to_dict(raycluster_from_dict(doc)) == {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {},
        **doc,
    }


def test_null_and_none_mean_absent() -> None:
    doc = {
        "metadata": {"name": "c"},
        "spec": {
            "headGroupSpec": {"template": {}, "rayStartParams": None},
            "workerGroupSpecs": [{"groupName": "g", "template": {}, "replicas": None}],
        },
        "status": None,
    }
    cluster = raycluster_from_dict(doc)
    assert cluster.status is None
    assert cluster.spec.head_group_spec.ray_start_params is None
    out = raycluster_to_dict(cluster)
    assert "status" not in out
    assert out["spec"]["headGroupSpec"] == {"template": {}}
    assert out["spec"]["workerGroupSpecs"] == [{"groupName": "g", "template": {}}]
    # Empty values are values: kept, not mistaken for absent.
    cluster.spec.head_group_spec.ray_start_params = {}
    assert raycluster_to_dict(cluster)["spec"]["headGroupSpec"]["rayStartParams"] == {}


def test_wire_names_that_are_not_plain_camel_case() -> None:
    doc = {
        "spec": {
            "headGroupSpec": {"template": {}},
            "authOptions": {"enableK8sTokenAuth": True},
            "tlsOptions": {"enabled": True},
        },
        "status": {
            "desiredCPU": "1",
            "desiredGPU": "0",
            "desiredTPU": "0",
            "head": {"podIP": "10.0.0.1", "serviceIP": "10.0.0.2"},
        },
    }
    cluster = raycluster_from_dict(doc)
    assert cluster.spec.auth_options is not None
    assert cluster.spec.auth_options.enable_k8s_token_auth is True
    assert cluster.status is not None and cluster.status.head is not None
    assert (cluster.status.desired_cpu, cluster.status.head.service_ip) == ("1", "10.0.0.2")
    assert raycluster_to_dict(cluster)["status"] == doc["status"]


def test_structuring_copies_so_the_cache_is_never_edited() -> None:
    doc = SAMPLE_CLUSTERS[0][1]
    before = copy.deepcopy(doc)
    cluster = raycluster_from_dict(doc)
    cluster.spec.head_group_spec.template["spec"]["containers"][0]["image"] = "changed"
    cluster.metadata["labels"] = {"x": "y"}
    assert doc == before
    out = raycluster_to_dict(cluster)
    out["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] = "again"
    assert cluster.spec.head_group_spec.template["spec"]["containers"][0]["image"] == "changed"


def _cluster_with_group(**group: Any) -> dict[str, Any]:
    return {
        "spec": {
            "headGroupSpec": {"template": {}},
            "workerGroupSpecs": [{"groupName": "g", "template": {}, **group}],
        }
    }


@pytest.mark.parametrize(
    ("doc", "path", "problem"),
    [
        (
            _cluster_with_group(replicas="abc"),
            "spec.workerGroupSpecs[0].replicas",
            'expected an integer, got string "abc"',
        ),
        (
            _cluster_with_group(replicas="3"),
            "spec.workerGroupSpecs[0].replicas",
            'expected an integer, got string "3"',
        ),
        (
            _cluster_with_group(minReplicas=True),
            "spec.workerGroupSpecs[0].minReplicas",
            "expected an integer, got boolean true",
        ),
        (
            _cluster_with_group(maxReplicas=2.5),
            "spec.workerGroupSpecs[0].maxReplicas",
            "expected an integer, got number 2.5",
        ),
        (
            _cluster_with_group(suspend="false"),
            "spec.workerGroupSpecs[0].suspend",
            'expected a boolean, got string "false"',
        ),
        (
            _cluster_with_group(rayStartParams={"num-cpus": 1}),
            "spec.workerGroupSpecs[0].rayStartParams[num-cpus]",
            "expected a string, got integer 1",
        ),
        (
            _cluster_with_group(scaleStrategy={"workersToDelete": "pod-a"}),
            "spec.workerGroupSpecs[0].scaleStrategy.workersToDelete",
            'expected an array, got string "pod-a"',
        ),
        (
            _cluster_with_group(template=["not", "an", "object"]),
            "spec.workerGroupSpecs[0].template",
            "expected an object, got an array",
        ),
        (
            {"spec": {"rayVersion": 2.9, "headGroupSpec": {"template": {}}}},
            "spec.rayVersion",
            "expected a string, got number 2.9",
        ),
        (
            {"spec": {"headGroupSpec": "head"}},
            "spec.headGroupSpec",
            'expected an object, got string "head"',
        ),
        (
            {"spec": {"headGroupSpec": {"template": {}}, "workerGroupSpecs": {"g": {}}}},
            "spec.workerGroupSpecs",
            "expected an array, got an object",
        ),
        (
            {"metadata": "c", "spec": {}},
            "metadata",
            'expected an object, got string "c"',
        ),
        (
            {"status": {"head": {"podIP": 10}}},
            "status.head.podIP",
            "expected a string, got integer 10",
        ),
    ],
)
def test_wrong_shapes_name_the_field(doc: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(FieldError) as caught:
        raycluster_from_dict(doc)
    err = caught.value
    assert (err.path, err.problem) == (path, problem)
    assert str(err) == f"{path}: {problem}"
    # Whatever the caller catches, it catches this.
    assert isinstance(err, TypeError) and isinstance(err, ValueError)


def test_not_an_object_at_all() -> None:
    with pytest.raises(FieldError, match=r"^expected an object, got an array$"):
        raycluster_from_dict([])  # type: ignore[arg-type]


def test_integral_floats_are_integers() -> None:
    # JSON has one number type; 3.0 is how some encoders write 3.
    group = converter.structure({"groupName": "g", "replicas": 3.0}, WorkerGroupSpec)
    assert group.replicas == 3 and type(group.replicas) is int


def test_the_converter_structures_parts_with_relative_paths() -> None:
    with pytest.raises(FieldError) as caught:
        converter.structure([{"groupName": "g"}, {"groupName": 7}], list[WorkerGroupSpec])
    assert caught.value.path == "[1].groupName"


@pytest.mark.parametrize(
    "doc", [d for _, d in SAMPLE_CLUSTERS], ids=[n for n, _ in SAMPLE_CLUSTERS]
)
def test_samples_pass_kuberays_validation(doc: dict[str, Any]) -> None:
    """A sample the operator would refuse teaches users nothing."""
    cluster = with_defaults(raycluster_from_dict(doc))
    assert validate_raycluster_metadata(cluster.metadata) == []
    assert validate_raycluster_spec(cluster.spec, cluster.annotations, OperatorConfig()) == []
    assert validate_raycluster_upgrade_options(cluster) == []
