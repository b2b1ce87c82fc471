"""The generated RayCluster CRD: checked in, KubeRay's names and columns, structural, complete."""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

import attrs
import kubernetes_validate
import pytest
import yaml

from kuberay_py.api import raycluster as models
from kuberay_py.api.convert import wire_name
from kuberay_py.api.crd import raycluster_crd, render_crds
from kuberay_py.sandbox.registry import crd_schema, crds
from kuberay_py.sandbox.registry.catalog import ResourceType

ROOT = Path(__file__).parent.parent
CRD_FILE = ROOT / "manifests" / "crd" / "ray.io_rayclusters.yaml"
SAMPLES = ROOT / "manifests" / "samples"

Schema = dict[str, Any]


def _schema() -> Schema:
    schema: Schema = raycluster_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _at(path: str) -> Schema:
    """The schema node at a dotted path; `[]` steps into array items."""
    node = _schema()
    for part in path.split("."):
        if part.endswith("[]"):
            node = node["properties"][part[:-2]]["items"]
        else:
            node = node["properties"][part]
    return node


def test_checked_in_crd_is_up_to_date() -> None:
    assert CRD_FILE.read_text() == render_crds(), (
        f"{CRD_FILE.relative_to(ROOT)} differs from the models: run `make manifests`"
    )


def test_kustomization_lists_the_crd() -> None:
    kustomization = yaml.safe_load((CRD_FILE.parent / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == [CRD_FILE.name]


def test_render_is_deterministic_yaml_of_the_crd() -> None:
    text = render_crds()
    assert text == render_crds()
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert docs == [raycluster_crd()]
    assert text.startswith("# Generated from kuberay_py/api/raycluster.py by `make manifests`")


def test_names_scope_and_version_are_kuberays() -> None:
    crd = raycluster_crd()
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "rayclusters.ray.io"
    spec = crd["spec"]
    assert spec["group"] == "ray.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "RayCluster",
        "listKind": "RayClusterList",
        "plural": "rayclusters",
        "singular": "raycluster",
        "categories": ["all"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns_are_kuberays() -> None:
    columns = raycluster_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert columns == [
        {"name": "desired workers", "type": "integer", "jsonPath": ".status.desiredWorkerReplicas"},
        {
            "name": "available workers",
            "type": "integer",
            "jsonPath": ".status.availableWorkerReplicas",
        },
        {"name": "cpus", "type": "string", "jsonPath": ".status.desiredCPU"},
        {"name": "memory", "type": "string", "jsonPath": ".status.desiredMemory"},
        {"name": "gpus", "type": "string", "jsonPath": ".status.desiredGPU"},
        {"name": "tpus", "type": "string", "jsonPath": ".status.desiredTPU", "priority": 1},
        {"name": "status", "type": "string", "jsonPath": ".status.state"},
        {"name": "age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "head pod IP", "type": "string", "jsonPath": ".status.head.podIP", "priority": 1},
        {
            "name": "head service IP",
            "type": "string",
            "jsonPath": ".status.head.serviceIP",
            "priority": 1,
        },
    ]


def test_worker_group_defaults_and_required_fields_are_kuberays() -> None:
    group = _at("spec.workerGroupSpecs[]")
    defaults = {k: v["default"] for k, v in group["properties"].items() if "default" in v}
    assert defaults == {
        "replicas": 0,
        "minReplicas": 0,
        "maxReplicas": 2147483647,
        "numOfHosts": 1,
        "priority": 0,
    }
    assert group["required"] == ["groupName", "maxReplicas", "minReplicas", "template"]
    assert _at("spec")["required"] == ["headGroupSpec"]
    assert _at("spec.headGroupSpec")["required"] == ["template"]
    assert "required" not in _schema()


def test_types_and_formats_follow_the_models() -> None:
    assert _at("spec.workerGroupSpecs[].replicas") == {
        "type": "integer",
        "format": "int32",
        "default": 0,
        "description": "The desired number of replicas, kept within [minReplicas, maxReplicas].",
    }
    assert _at("spec.workerGroupSpecs[].groupName")["type"] == "string"
    assert _at("spec.enableInTreeAutoscaling")["type"] == "boolean"
    assert _at("spec.workerGroupSpecs[].rayStartParams") == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Flags for `ray start`, without the dashes.",
    }
    workers_to_delete = _at("spec.workerGroupSpecs[].scaleStrategy.workersToDelete")
    assert (workers_to_delete["type"], workers_to_delete["items"]) == ("array", {"type": "string"})
    assert _at("status.observedGeneration")["format"] == "int64"
    assert _at("status.readyWorkerReplicas")["format"] == "int32"
    assert _at("status.desiredCPU")["x-kubernetes-int-or-string"] is True
    assert _at("status.lastUpdateTime") == {
        "type": "string",
        "format": "date-time",
        "nullable": True,
    }
    assert _at("status.conditions")["x-kubernetes-list-map-keys"] == ["type"]
    assert _at("spec.authOptions.enableK8sTokenAuth")["type"] == "boolean"
    assert _at("status.head.podIP")["type"] == "string"


@pytest.mark.parametrize(
    "path",
    [
        "spec.headGroupSpec.template",
        "spec.headGroupSpec.headService",
        "spec.workerGroupSpecs[].template",
        "spec.autoscalerOptions.resources",
        "spec.autoscalerOptions.securityContext",
        "spec.gcsFaultToleranceOptions.redisPassword.valueFrom",
        "spec.gcsFaultToleranceOptions.redisUsername.valueFrom",
    ],
)
def test_embedded_kubernetes_objects_are_kept_as_written(path: str) -> None:
    node = _at(path)
    assert node["type"] == "object"
    assert node["x-kubernetes-preserve-unknown-fields"] is True
    assert "properties" not in node


@pytest.mark.parametrize(
    "path",
    [
        "spec.autoscalerOptions.env",
        "spec.autoscalerOptions.envFrom",
        "spec.autoscalerOptions.volumeMounts",
    ],
)
def test_embedded_lists_keep_their_items_as_written(path: str) -> None:
    node = _at(path)
    assert node["type"] == "array"
    assert node["items"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_managed_by_and_backend_rules_are_cel_text() -> None:
    assert _at("spec.managedBy")["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "the managedBy field is immutable"},
        {
            "rule": "self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",
            "message": "the managedBy field value must be either 'ray.io/kuberay-operator' or "
            "'kueue.x-k8s.io/multikueue'",
        },
    ]
    backend = _at("spec.gcsFaultToleranceOptions.backend")
    assert backend["enum"] == ["redis", "rocksdb"]
    assert backend["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "gcsFaultToleranceOptions.backend is immutable"}
    ]


def test_enums_are_kuberays() -> None:
    assert _at("spec.upgradeStrategy.type")["enum"] == ["Recreate", "None"]
    assert _at("spec.authOptions.mode")["enum"] == ["disabled", "token"]
    assert _at("spec.autoscalerOptions.version")["enum"] == ["v1", "v2"]
    assert _at("spec.autoscalerOptions.upscalingMode")["enum"] == [
        "Default",
        "Aggressive",
        "Conservative",
    ]
    assert _at("spec.headGroupSpec.ingressOptions.pathType")["enum"] == [
        "Exact",
        "Prefix",
        "ImplementationSpecific",
    ]
    assert _at("spec.networkPolicy.mode")["default"] == "DenyAll"


def _model_of(tp: Any) -> type | None:
    for arg in (tp, *typing.get_args(tp)):
        if attrs.has(arg):
            return arg
        if typing.get_origin(arg) is list and attrs.has(typing.get_args(arg)[0]):
            return typing.get_args(arg)[0]
    return None


def test_every_model_field_is_in_the_schema() -> None:
    """A field added to a model and forgotten here would be pruned by the API server."""
    missing = []

    def walk(cls: type, node: Schema, path: str) -> None:
        if node.get("type") == "array":
            node = node["items"]
        for field in attrs.fields(attrs.resolve_types(cls)):
            if field.name == "extra":
                continue
            name = wire_name(field)
            if name not in node.get("properties", {}):
                missing.append(f"{path}.{name}")
                continue
            inner = _model_of(field.type)
            if inner is not None:
                walk(inner, node["properties"][name], f"{path}.{name}")

    walk(models.RayCluster, _schema(), "")
    assert missing == []


def _widget(schema: Schema) -> ResourceType:
    return ResourceType(
        group="example.com",
        version="v1",
        resource="widgets",
        kind="Widget",
        namespaced=True,
        schema=schema,
        is_crd=True,
    )


def _structural_problems(node: Schema, path: str) -> list[str]:
    """Rules of kube's structural-schema check that a generator could break."""
    problems = []
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    if not node.get("type") and not (preserve or int_or_string):
        problems.append(f"{path}: type must not be empty")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties are mutually exclusive")
    if int_or_string and node.get("anyOf") != [{"type": "integer"}, {"type": "string"}]:
        problems.append(f"{path}: int-or-string must be anyOf integer/string")
    if node.get("type") == "object" and "items" in node:
        problems.append(f"{path}: an object has no items")
    if node.get("type") == "array" and not isinstance(node.get("items"), dict):
        problems.append(f"{path}: an array needs items")
    for key in node.get("required", ()):
        if key not in node.get("properties", {}):
            problems.append(f"{path}: required {key} is not a property")
    if node.get("x-kubernetes-list-type") == "map":
        items = node["items"]
        for key in node["x-kubernetes-list-map-keys"]:
            prop = items["properties"].get(key, {})
            if key not in items.get("required", ()) and "default" not in prop:
                problems.append(f"{path}: list-map key {key} must be required or defaulted")
            if prop.get("type") not in ("string", "integer", "boolean"):
                problems.append(f"{path}: list-map key {key} must be a scalar")
    if "default" in node:
        holder = _widget({"type": "object", "properties": {"value": node}})
        causes = crd_schema.validate(holder, {"value": copy.deepcopy(node["default"])}, None)
        problems += [f"{path}: default is invalid: {c.message}" for c in causes]
    for key, child in node.get("properties", {}).items():
        problems += _structural_problems(child, f"{path}.properties[{key}]")
    if isinstance(node.get("items"), dict):
        problems += _structural_problems(node["items"], f"{path}.items")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _structural_problems(
            node["additionalProperties"], f"{path}.additionalProperties"
        )
    return problems


def test_schema_is_structural() -> None:
    assert _structural_problems(_schema(), "openAPIV3Schema") == []
    assert crd_schema.validate_crd_schema(_schema()) == []


def test_structural_check_catches_a_broken_schema() -> None:
    broken: Schema = {
        "type": "object",
        "properties": {
            "a": {"properties": {}},
            "b": {"type": "integer", "format": "int32", "default": "x"},
        },
    }
    assert len(_structural_problems(broken, "s")) == 2


def test_crd_is_a_valid_kubernetes_1_33_object() -> None:
    assert kubernetes_validate.validate(raycluster_crd(), "1.33.0", strict=True) == "1.33"


def _sample_clusters() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayCluster":
                out.append((path.name, doc))
    return out


@pytest.mark.parametrize(
    "doc", [d for _, d in _sample_clusters()], ids=[n for n, _ in _sample_clusters()]
)
def test_samples_are_valid_and_nothing_in_them_is_pruned(doc: dict[str, Any]) -> None:
    rt = crds.resource_types(raycluster_crd())[0]
    assert crd_schema.unknown_fields(rt, copy.deepcopy(doc)) == []
    defaulted = copy.deepcopy(doc)
    crd_schema.default_and_prune(rt, defaulted)
    assert crd_schema.validate(rt, defaulted, None) == []


def test_the_schema_rejects_what_kuberays_would() -> None:
    rt = crds.resource_types(raycluster_crd())[0]
    doc = copy.deepcopy(_sample_clusters()[0][1])
    doc["spec"]["workerGroupSpecs"][0]["replicas"] = "abc"
    doc["spec"]["upgradeStrategy"] = {"type": "Sometimes"}
    del doc["spec"]["headGroupSpec"]["template"]
    fields = sorted(c.field for c in crd_schema.validate(rt, doc, None))
    assert fields == [
        "spec.headGroupSpec.template",
        "spec.upgradeStrategy.type",
        "spec.workerGroupSpecs[0].replicas",
    ]
