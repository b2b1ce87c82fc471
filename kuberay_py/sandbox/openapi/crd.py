"""Component schemas for custom resources, as kube-apiserver publishes them.

A CRD's `openAPIV3Schema` is already OpenAPI v3; publishing it means
naming it like kube does (`io.ray.v1.RayCluster`: the group reversed),
marking it with `x-kubernetes-group-version-kind` (what `kubectl explain`
looks the kind up by), and replacing the standard fields with their real
types: `metadata` becomes a reference to ObjectMeta, `apiVersion`/`kind`
get kube's descriptions. The `<Kind>List` schema is synthesised alongside.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.sandbox.openapi.definitions import COMPONENTS_PREFIX, LIST_META, OBJECT_META
from kuberay_py.sandbox.registry.catalog import ResourceType

API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#types-kinds"
)
METADATA_DESCRIPTION = (
    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#metadata"
)
LIST_METADATA_DESCRIPTION = (
    "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#types-kinds"
)


def definition_prefix(group: str, version: str) -> str:
    """`io.ray.v1`: kube's name prefix for a custom group's definitions."""
    return ".".join([*reversed(group.split(".")), version])


def kind_name(rt: ResourceType) -> str:
    return f"{definition_prefix(rt.group, rt.version)}.{rt.kind}"


def list_name(rt: ResourceType) -> str:
    return f"{definition_prefix(rt.group, rt.version)}.{rt.list_kind}"


def _standard_fields(meta_ref: str, meta_description: str) -> dict[str, Any]:
    return {
        "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
        "kind": {"description": KIND_DESCRIPTION, "type": "string"},
        "metadata": {
            "allOf": [{"$ref": COMPONENTS_PREFIX + meta_ref}],
            "description": meta_description,
        },
    }


def kind_schema(rt: ResourceType) -> dict[str, Any]:
    """The published schema of one CRD version's kind."""
    source = rt.schema if isinstance(rt.schema, dict) else None
    if source is None:
        schema: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    else:
        schema = copy.deepcopy(source)
    schema.setdefault("type", "object")
    props = dict(schema.get("properties") or {})
    props.update(_standard_fields(OBJECT_META, METADATA_DESCRIPTION))
    schema["properties"] = props
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "kind": rt.kind, "version": rt.version}
    ]
    return schema


def list_schema(rt: ResourceType) -> dict[str, Any]:
    """`<Kind>List`, as kube synthesises it for every CRD version."""
    props = _standard_fields(LIST_META, LIST_METADATA_DESCRIPTION)
    props["items"] = {
        "description": (
            f"List of {rt.resource}. More info: https://git.k8s.io/community/contributors/devel/"
            "sig-architecture/api-conventions.md"
        ),
        "type": "array",
        "items": {"$ref": COMPONENTS_PREFIX + kind_name(rt)},
    }
    return {
        "description": f"{rt.list_kind} is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": dict(sorted(props.items())),
        "x-kubernetes-group-version-kind": [
            {"group": rt.group, "kind": rt.list_kind, "version": rt.version}
        ],
    }
