"""CRD structural schemas: pruning, defaulting and validation with kube's paths and messages."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from kuberay_py.sandbox.registry import crd_schema, crds
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import Cause, invalid

CRD_FILE = Path(__file__).parent.parent / "manifests" / "crd" / "ray.io_rayclusters.yaml"
SAMPLE_FILE = Path(__file__).parent.parent / "e2e" / "manifests" / "raycluster-sample.yaml"


def _ray_rt() -> ResourceType:
    return crds.resource_types(yaml.safe_load(CRD_FILE.read_text()))[0]


def _rt(schema: dict[str, Any]) -> ResourceType:
    return ResourceType(
        group="example.com",
        version="v1",
        resource="widgets",
        kind="Widget",
        namespaced=True,
        schema=schema,
        is_crd=True,
    )


WIDGET = _rt(
    {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 3},
                    "ratio": {
                        "type": "number",
                        "exclusiveMinimum": True,
                        "minimum": 0,
                        "exclusiveMaximum": True,
                        "maximum": 1,
                    },
                    "color": {"type": "string", "enum": ["red", "blue"]},
                    "level": {"type": "integer", "enum": [1, 2]},
                    "name": {
                        "type": "string",
                        "minLength": 2,
                        "maxLength": 5,
                        "pattern": "^[a-z]+$",
                    },
                    "when": {"type": "string", "format": "date-time"},
                    "port": {
                        "x-kubernetes-int-or-string": True,
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                    },
                    "tags": {
                        "type": "array",
                        "maxItems": 2,
                        "minItems": 1,
                        "items": {"type": "string"},
                        "x-kubernetes-list-type": "set",
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "nullableNote": {"type": "string", "nullable": True},
                    "note": {"type": "string"},
                    "mode": {"type": "string", "default": "fast"},
                    "limits": {
                        "type": "object",
                        "default": {},
                        "properties": {"cpu": {"type": "integer", "default": 2}},
                    },
                    "free": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {
                            "known": {"type": "object", "properties": {"a": {"type": "string"}}}
                        },
                    },
                    "embedded": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": True,
                        "x-kubernetes-preserve-unknown-fields": True,
                    },
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "n": {"type": "integer", "default": 7},
                                "s": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    }
)


def _widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {"size": 2, **spec},
    }


def _causes(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    return [(c.reason, c.field, c.message) for c in crd_schema.validate(WIDGET, obj, old)]


def test_valid_object_has_no_causes() -> None:
    obj = _widget(
        ratio=0.5,
        color="red",
        level=2,
        name="abc",
        when="2024-01-02T03:04:05Z",
        port="http",
        tags=["a", "b"],
        labels={"x": "y"},
        nullableNote=None,
        free={"anything": [1, 2]},
        embedded={"apiVersion": "v1", "kind": "Pod"},
    )
    assert crd_schema.validate(WIDGET, obj, None) == []


def test_type_error_prints_the_actual_type_like_kube() -> None:
    rt = _ray_rt()
    obj = yaml.safe_load(SAMPLE_FILE.read_text())
    obj["spec"]["workerGroupSpecs"][0]["replicas"] = "many"
    # As the API server does: defaults (the required min/maxReplicas) before validation.
    crd_schema.default_and_prune(rt, obj)
    assert crd_schema.validate(rt, obj, None) == [
        Cause(
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.workerGroupSpecs[0].replicas in body must be of type '
            'integer: "string"',
            "spec.workerGroupSpecs[0].replicas",
        )
    ]
    err = invalid("rayclusters", "ray.io", "raycluster-sample", crd_schema.validate(rt, obj, None))
    assert err.message == (
        'rayclusters.ray.io "raycluster-sample" is invalid: spec.workerGroupSpecs[0].replicas: '
        'Invalid value: "string": spec.workerGroupSpecs[0].replicas in body must be of type '
        'integer: "string"'
    )


def test_required_enum_and_bounds() -> None:
    obj = _widget(color="green", level=5, ratio=1)
    del obj["spec"]["size"]
    assert _causes(obj) == [
        ("FieldValueRequired", "spec.size", "Required value"),
        (
            "FieldValueNotSupported",
            "spec.color",
            'Unsupported value: "green": supported values: "red", "blue"',
        ),
        (
            "FieldValueNotSupported",
            "spec.level",
            'Unsupported value: 5: supported values: "1", "2"',
        ),
        (
            "FieldValueInvalid",
            "spec.ratio",
            "Invalid value: 1: spec.ratio in body should be less than 1",
        ),
    ]
    assert _causes(_widget(size=5)) == [
        (
            "FieldValueInvalid",
            "spec.size",
            "Invalid value: 5: spec.size in body should be less than or equal to 3",
        )
    ]
    assert _causes(_widget(size=0, ratio=0)) == [
        (
            "FieldValueInvalid",
            "spec.ratio",
            "Invalid value: 0: spec.ratio in body should be greater than 0",
        ),
        (
            "FieldValueInvalid",
            "spec.size",
            "Invalid value: 0: spec.size in body should be greater than or equal to 1",
        ),
    ]


def test_strings_formats_and_arrays() -> None:
    assert _causes(_widget(name="ABCDEFG", when="yesterday", tags=["a", "a", "b"])) == [
        ("FieldValueTooLong", "spec.name", "Too long: may not be more than 5 bytes"),
        (
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'",
        ),
        ("FieldValueTooMany", "spec.tags", "Too many: 3: must have at most 2 items"),
        ("FieldValueDuplicate", "spec.tags[1]", 'Duplicate value: "a"'),
        (
            "FieldValueTypeInvalid",
            "spec.when",
            'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"',
        ),
    ]
    assert _causes(_widget(name="a", tags=[])) == [
        (
            "FieldValueInvalid",
            "spec.name",
            'Invalid value: "a": spec.name in body should be at least 2 chars long',
        ),
        (
            "FieldValueInvalid",
            "spec.tags",
            "Invalid value: 0: spec.tags in body should have at least 1 items",
        ),
    ]


def test_int_or_string_map_values_null_and_embedded() -> None:
    assert _causes(_widget(port=True, labels={"a": 1}, note=None, embedded={"metadata": {}})) == [
        ("FieldValueRequired", "spec.embedded.apiVersion", "Required value: must not be empty"),
        ("FieldValueRequired", "spec.embedded.kind", "Required value: must not be empty"),
        (
            "FieldValueTypeInvalid",
            "spec.labels.a",
            'Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
        ),
        (
            "FieldValueTypeInvalid",
            "spec.note",
            'Invalid value: "null": spec.note in body must be of type string: "null"',
        ),
        (
            "FieldValueTypeInvalid",
            "spec.port",
            'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        ),
    ]
    assert _causes(_widget(port=8080.0)) == []  # an integral JSON number is an integer


def test_update_ratchets_unchanged_invalid_fields() -> None:
    old = _widget(size=9, name="x")
    new = copy.deepcopy(old)
    new["spec"]["color"] = "red"
    assert _causes(new, old) == []
    new["spec"]["size"] = 8
    assert [c[1] for c in _causes(new, old)] == ["spec.size"]


def test_composition_keywords() -> None:
    rt = _rt(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                    "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                    "not": {"required": ["c"]},
                }
            },
        }
    )
    assert crd_schema.validate(rt, {"spec": {"a": "x"}}, None) == []
    both = crd_schema.validate(rt, {"spec": {"a": "x", "b": "y"}}, None)
    assert [(c.field, c.message) for c in both] == [
        (
            "spec",
            'Invalid value: "": "spec" must validate one and only one schema (oneOf). '
            "Found 2 valid alternatives",
        )
    ]


def test_prune_default_and_nulls() -> None:
    obj = _widget(
        unknown=1,
        note=None,
        nullableNote=None,
        free={"x": {"deep": 1}, "known": {"a": "1", "b": 2}},
        items=[{"s": "a", "zzz": 1}, {"n": 3}],
        labels={"k": "v"},
        embedded={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "bogus": 1}},
    )
    obj["metadata"]["bogus"] = True
    obj["status"] = {"x": 1}  # not declared in this schema: pruned
    obj["extra"] = "top"
    crd_schema.default_and_prune(WIDGET, obj)
    assert obj == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": {
            "size": 2,
            "nullableNote": None,
            "mode": "fast",
            "limits": {"cpu": 2},
            "free": {"x": {"deep": 1}, "known": {"a": "1"}},
            "items": [{"s": "a", "n": 7}, {"n": 3}],
            "labels": {"k": "v"},
            "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
        },
    }


def test_defaults_only_where_the_parent_exists() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
    }
    crd_schema.default_and_prune(WIDGET, obj)
    assert "spec" not in obj
    ray = yaml.safe_load(SAMPLE_FILE.read_text())
    crd_schema.default_and_prune(_ray_rt(), ray)
    group = ray["spec"]["workerGroupSpecs"][0]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (1, 0, 2147483647)
    assert group["template"]["spec"]["containers"][0]["image"] == "rayproject/ray:2.60.0"


def test_unknown_fields_lists_what_pruning_would_drop() -> None:
    obj = _widget(unknown=1, items=[{"zzz": 1}])
    obj["metadata"]["bogus"] = 1
    assert crd_schema.unknown_fields(WIDGET, obj) == [
        "metadata.bogus",
        "spec.unknown",
        "spec.items[0].zzz",
    ]
    assert "unknown" in obj["spec"]  # the object itself is untouched


def test_validate_crd_schema() -> None:
    assert crd_schema.validate_crd_schema(_ray_rt().schema) == []
    p = "spec.versions[0].schema.openAPIV3Schema"
    assert [
        (c.reason, c.field, c.message) for c in crd_schema.validate_crd_schema({"type": "string"})
    ] == [("FieldValueInvalid", f"{p}.type", 'Invalid value: "string": must be object at the root')]
    bad = {"properties": {"a": {"type": "array"}, "b": {"type": "float"}}}
    assert [(c.field, c.message) for c in crd_schema.validate_crd_schema(bad)] == [
        (f"{p}.type", "Required value: must not be empty at the root"),
        (f"{p}.properties[a].items", "Required value: must be specified"),
        (
            f"{p}.properties[b].type",
            'Unsupported value: "float": supported values: "array", "boolean", "integer", '
            '"number", "object", "string"',
        ),
    ]
