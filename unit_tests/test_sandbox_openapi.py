"""OpenAPI v3 index and documents: what kubectl apply/create/explain read from them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from kuberay_py.sandbox.openapi import OpenAPIBuilder
from kuberay_py.sandbox.openapi.definitions import convert
from kuberay_py.sandbox.registry import crds
from kuberay_py.sandbox.registry.catalog import Catalog

CRD_FILE = Path(__file__).parent.parent / "manifests" / "crd" / "ray.io_rayclusters.yaml"


def _ray_catalog() -> Catalog:
    catalog = Catalog()
    catalog.register(crds.resource_types(yaml.safe_load(CRD_FILE.read_text())))
    return catalog


def _doc(builder: OpenAPIBuilder, path: str) -> dict[str, Any]:
    found = builder.document(path)
    assert found is not None
    body, digest = found
    assert (
        builder.index()["paths"][path]["serverRelativeURL"] == f"/openapi/v3/{path}?hash={digest}"
    )
    doc: dict[str, Any] = orjson.loads(body)
    return doc


def _gvks(schema: dict[str, Any]) -> list[dict[str, str]]:
    return list(schema.get("x-kubernetes-group-version-kind") or [])


def test_index_lists_every_group_version_with_a_hash() -> None:
    builder = OpenAPIBuilder(Catalog())
    paths = builder.index()["paths"]
    assert {
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/coordination.k8s.io/v1",
        "apis/apiextensions.k8s.io/v1",
        "apis/autoscaling/v2",
    } <= set(paths)
    url = paths["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash=") and len(url.split("=")[1]) == 128
    assert builder.document("apis/nope/v1") is None
    # Leading slashes, the /openapi/v3 prefix and a query string are all accepted.
    assert builder.document("/openapi/v3/api/v1?hash=x") == builder.document("api/v1")


def test_core_document_has_pod_gvk_and_configmap_patch_operation() -> None:
    doc = _doc(OpenAPIBuilder(Catalog()), "api/v1")
    assert doc["openapi"].startswith("3.0")
    pod = doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"]
    assert _gvks(pod) == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert pod["type"] == "object"
    assert pod["properties"]["kind"] == {
        k: v for k, v in pod["properties"]["kind"].items() if k != "enum"
    }
    spec = pod["properties"]["spec"]
    assert spec["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}]
    containers = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"][
        "containers"
    ]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"

    item = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "ConfigMap",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation"
    ).items()
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    }
    assert {"get", "put", "patch", "delete"} <= set(item)
    collection = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps"]
    assert {"get", "post"} <= set(collection)
    assert collection["post"]["operationId"] == "createCoreV1NamespacedConfigMap"
    assert "/api/v1/configmaps" in doc["paths"]  # all-namespaces list
    assert "/api/v1/nodes/{name}" in doc["paths"]  # cluster-scoped: no namespace segment
    assert "/api/v1/namespaces/{namespace}/pods/{name}/status" in doc["paths"]


def test_every_ref_resolves_and_no_null_types_remain() -> None:
    doc = _doc(OpenAPIBuilder(Catalog()), "apis/apps/v1")
    schemas = doc["components"]["schemas"]
    text = orjson.dumps(doc).decode()
    assert "#/$defs/" not in text and '"null"' not in text
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.add(value)
                    assert len(node) == 1, node  # a $ref never has siblings in OpenAPI 3.0
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    missing = {r for r in refs if r.rsplit("/", 1)[-1] not in schemas}
    assert not missing
    assert "io.k8s.api.apps.v1.Deployment" in schemas
    assert "io.k8s.api.core.v1.PodTemplateSpec" in schemas  # reached through the closure
    assert "io.k8s.api.batch.v1.Job" not in schemas  # not reachable from apps/v1


def test_int_or_string_and_quantity_as_kube_publishes_them() -> None:
    schemas = _doc(OpenAPIBuilder(Catalog()), "api/v1")["components"]["schemas"]
    ios = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert ios["x-kubernetes-int-or-string"] is True and ios["format"] == "int-or-string"
    assert ios["oneOf"] == [{"type": "integer"}, {"type": "string"}] and "type" not in ios
    assert schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["oneOf"][0] == {
        "type": "string"
    }


def test_convert_rewrites_refs_wraps_siblings_and_drops_null() -> None:
    src = {
        "type": ["object", "null"],
        "properties": {
            "a": {"$ref": "#/$defs/x.Y", "description": "d"},
            "b": {"$ref": "#/$defs/x.Z"},
            "c": {"type": ["string", "integer", "null"]},
        },
        "x-kubernetes-map-type": "atomic",
    }
    assert convert(src) == {
        "type": "object",
        "properties": {
            "a": {"allOf": [{"$ref": "#/components/schemas/x.Y"}], "description": "d"},
            "b": {"$ref": "#/components/schemas/x.Z"},
            "c": {"type": ["string", "integer"]},
        },
        "x-kubernetes-map-type": "atomic",
    }


def test_crd_schema_published_under_its_gvk() -> None:
    builder = OpenAPIBuilder(_ray_catalog())
    assert "apis/ray.io/v1" in builder.index()["paths"]
    doc = _doc(builder, "apis/ray.io/v1")
    schemas = doc["components"]["schemas"]
    rc = schemas["io.ray.v1.RayCluster"]
    assert _gvks(rc) == [{"group": "ray.io", "kind": "RayCluster", "version": "v1"}]
    assert rc["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    workers = rc["properties"]["spec"]["properties"]["workerGroupSpecs"]
    assert workers["items"]["properties"]["maxReplicas"]["default"] == 2147483647
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    rc_list = schemas["io.ray.v1.RayClusterList"]
    assert rc_list["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/io.ray.v1.RayCluster"
    }
    patch = doc["paths"]["/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "RayCluster"
    # No strategic merge for custom resources: kubectl must fall back to a merge patch.
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "/apis/ray.io/v1/namespaces/{namespace}/rayclusters/{name}/status" in doc["paths"]


def test_hash_changes_only_for_the_group_version_that_changed() -> None:
    catalog = Catalog()
    builder = OpenAPIBuilder(catalog)
    before = {p: v["serverRelativeURL"] for p, v in builder.index()["paths"].items()}
    core_body = builder.document("api/v1")
    assert core_body is not None
    catalog.register(crds.resource_types(yaml.safe_load(CRD_FILE.read_text())))
    after = {p: v["serverRelativeURL"] for p, v in builder.index()["paths"].items()}
    assert set(after) - set(before) == {"apis/ray.io/v1"}
    assert all(after[p] == before[p] for p in before)
    again = builder.document("api/v1")
    assert again is not None and again[0] is core_body[0]  # cached bytes reused

    crd = yaml.safe_load(CRD_FILE.read_text())
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "extra"
    ] = {"type": "string"}
    ray_before = builder.index()["paths"]["apis/ray.io/v1"]["serverRelativeURL"]
    catalog.register(crds.resource_types(crd))
    ray_after = builder.index()["paths"]["apis/ray.io/v1"]["serverRelativeURL"]
    assert ray_after != ray_before
    doc = _doc(builder, "apis/ray.io/v1")
    assert (
        "extra"
        in doc["components"]["schemas"]["io.ray.v1.RayCluster"]["properties"]["spec"]["properties"]
    )
    catalog.unregister("ray.io", "rayclusters")
    assert "apis/ray.io/v1" not in builder.index()["paths"]
    assert builder.document("apis/ray.io/v1") is None


def test_building_every_document_is_fast() -> None:
    builder = OpenAPIBuilder(_ray_catalog())
    start = time.perf_counter()
    for path in builder.index()["paths"]:
        assert builder.document(path) is not None
    assert time.perf_counter() - start < 3.0  # ~100 ms measured; generous for slow CI
