"""The sandbox API server over HTTP: discovery, CRUD, errors, Table, OpenAPI, metrics, audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import yaml

from kuberay_py.sandbox.http import protobuf
from unit_tests.sandbox_http_harness import (
    AGGREGATED_ACCEPT,
    CM_URL,
    TABLE_ACCEPT,
    api_client,
    configmap,
)

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
            "categories": ["all"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer"}},
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
                "subresources": {"status": {}},
            }
        ],
    },
}


def _status(body: Any, code: int, reason: str | None = None) -> dict[str, Any]:
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == code, body
    if reason is not None:
        assert body["reason"] == reason, body
    assert body["message"]
    return dict(body)


# -- non-resource endpoints ------------------------------------------------------------------


async def test_version_health_and_openapi() -> None:
    async with api_client() as (client, _):
        resp = await client.get("/version")
        version = await resp.json()
        assert version["major"] == "1" and version["minor"] == "32"
        assert version["gitVersion"].startswith("v1.32.")
        for path in ("/healthz", "/livez", "/readyz", "/readyz/ping"):
            resp = await client.get(path)
            assert resp.status == 200 and await resp.text() == "ok"

        index = await (await client.get("/openapi/v3")).json()
        url = index["paths"]["api/v1"]["serverRelativeURL"]
        assert url.startswith("/openapi/v3/api/v1?hash=")
        resp = await client.get(url)
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "public, immutable"
        etag = resp.headers["ETag"]
        doc = await resp.json()
        assert "components" in doc
        unhashed = await client.get("/openapi/v3/api/v1")
        assert unhashed.headers["Cache-Control"] != "public, immutable"
        cached = await client.get(url, headers={"If-None-Match": etag})
        assert cached.status == 304
        missing = await client.get("/openapi/v3/apis/nope/v1")
        _status(await missing.json(), 404, "NotFound")
        v2 = await client.get("/openapi/v2")
        _status(await v2.json(), 404, "NotFound")
        nowhere = await client.get("/no/such/path")
        _status(await nowhere.json(), 404, "NotFound")


# -- discovery -------------------------------------------------------------------------------


async def test_legacy_discovery_shapes_and_etag() -> None:
    async with api_client() as (client, _):
        api = await (await client.get("/api")).json()
        assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
        resp = await client.get("/apis")
        assert resp.headers["Content-Type"].startswith("application/json")
        groups = await resp.json()
        assert groups["kind"] == "APIGroupList"
        names = [g["name"] for g in groups["groups"]]
        assert "apps" in names and "" not in names
        apps = next(g for g in groups["groups"] if g["name"] == "apps")
        assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
        etag = resp.headers["ETag"]
        again = await client.get("/apis", headers={"If-None-Match": etag})
        assert again.status == 304

        core = await (await client.get("/api/v1")).json()
        assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
        by_name = {r["name"]: r for r in core["resources"]}
        pods = by_name["pods"]
        assert pods["singularName"] == "pod" and pods["namespaced"] is True
        assert pods["kind"] == "Pod" and pods["shortNames"] == ["po"]
        assert "all" in pods["categories"]
        assert set(pods["verbs"]) >= {"get", "list", "watch", "create", "delete", "patch"}
        assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
        assert by_name["pods/log"]["kind"] == "Pod"
        assert by_name["pods/binding"]["kind"] == "Binding"
        assert by_name["namespaces"]["namespaced"] is False
        deployments = await (await client.get("/apis/apps/v1")).json()
        scale = {r["name"]: r for r in deployments["resources"]}["deployments/scale"]
        assert scale["kind"] == "Scale" and scale["group"] == "autoscaling"
        group = await (await client.get("/apis/apps")).json()
        assert group["kind"] == "APIGroup" and group["name"] == "apps"
        missing = await client.get("/apis/example.com/v1")
        _status(await missing.json(), 404, "NotFound")


async def test_aggregated_discovery_v2_and_v2beta1() -> None:
    async with api_client() as (client, _):
        resp = await client.get("/apis", headers={"Accept": AGGREGATED_ACCEPT})
        assert resp.headers["Content-Type"] == (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
        doc = await resp.json()
        assert doc["kind"] == "APIGroupDiscoveryList"
        assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
        apps = next(i for i in doc["items"] if i["metadata"]["name"] == "apps")
        version = apps["versions"][0]
        assert version["version"] == "v1" and version["freshness"] == "Current"
        deploy = next(r for r in version["resources"] if r["resource"] == "deployments")
        assert deploy["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
        assert deploy["scope"] == "Namespaced" and deploy["shortNames"] == ["deploy"]
        subs = {s["subresource"]: s for s in deploy["subresources"]}
        assert subs["status"]["verbs"] == ["get", "patch", "update"]

        core = await (await client.get("/api", headers={"Accept": AGGREGATED_ACCEPT})).json()
        assert len(core["items"]) == 1 and core["items"][0]["metadata"] == {}
        pods = next(
            r for r in core["items"][0]["versions"][0]["resources"] if r["resource"] == "pods"
        )
        assert pods["singularResource"] == "pod"

        old = (
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
            "application/json"
        )
        resp = await client.get("/apis", headers={"Accept": old})
        assert "v=v2beta1" in resp.headers["Content-Type"]
        assert (await resp.json())["apiVersion"] == "apidiscovery.k8s.io/v2beta1"


async def test_a_crd_registered_later_appears_in_discovery_and_routes() -> None:
    async with api_client() as (client, _):
        before = await (await client.get("/apis")).json()
        assert "example.com" not in [g["name"] for g in before["groups"]]
        resp = await client.post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=WIDGET_CRD
        )
        assert resp.status == 201, await resp.text()
        after = await (await client.get("/apis")).json()
        assert "example.com" in [g["name"] for g in after["groups"]]
        resources = await (await client.get("/apis/example.com/v1")).json()
        names = {r["name"] for r in resources["resources"]}
        assert names == {"widgets", "widgets/status"}
        agg = await (await client.get("/apis", headers={"Accept": AGGREGATED_ACCEPT})).json()
        assert any(i["metadata"]["name"] == "example.com" for i in agg["items"])
        widget = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        }
        url = "/apis/example.com/v1/namespaces/default/widgets"
        created = await client.post(url, json=widget)
        assert created.status == 201, await created.text()
        table = await client.get(url, headers={"Accept": TABLE_ACCEPT})
        rows = (await table.json())["rows"]
        assert rows[0]["cells"][0] == "w1"
        # Custom resources take no strategic merge patch.
        bad = await client.patch(
            f"{url}/w1",
            data=b"{}",
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        _status(await bad.json(), 415, "UnsupportedMediaType")


# -- CRUD ------------------------------------------------------------------------------------


async def test_create_get_list_update_patch_delete() -> None:
    async with api_client() as (client, _):
        resp = await client.post(CM_URL, json=configmap("a", k="1"))
        assert resp.status == 201
        created = await resp.json()
        assert created["kind"] == "ConfigMap" and created["apiVersion"] == "v1"
        rv = created["metadata"]["resourceVersion"]

        got = await (await client.get(f"{CM_URL}/a")).json()
        assert got["data"] == {"k": "1"}

        # YAML bodies are accepted too.
        body = yaml.safe_dump(configmap("b", k="2")).encode()
        resp = await client.post(CM_URL, data=body, headers={"Content-Type": "application/yaml"})
        assert resp.status == 201, await resp.text()

        listed = await (await client.get(CM_URL)).json()
        assert listed["kind"] == "ConfigMapList" and listed["apiVersion"] == "v1"
        assert [i["metadata"]["name"] for i in listed["items"]] == ["a", "b"]
        assert int(listed["metadata"]["resourceVersion"]) >= int(rv)
        everywhere = await (await client.get("/api/v1/configmaps")).json()
        assert {i["metadata"]["name"] for i in everywhere["items"]} >= {"a", "b"}

        page = await (await client.get(CM_URL, params={"limit": "1"})).json()
        assert len(page["items"]) == 1 and page["metadata"]["continue"]
        rest = await (
            await client.get(
                CM_URL, params={"limit": "1", "continue": page["metadata"]["continue"]}
            )
        ).json()
        assert [i["metadata"]["name"] for i in rest["items"]] == ["b"]
        selected = await (
            await client.get(CM_URL, params={"fieldSelector": "metadata.name=b"})
        ).json()
        assert [i["metadata"]["name"] for i in selected["items"]] == ["b"]

        update = dict(got, data={"k": "updated"})
        resp = await client.put(f"{CM_URL}/a", json=update)
        assert resp.status == 200
        assert (await resp.json())["data"] == {"k": "updated"}

        stale = dict(update, data={"k": "stale"})  # carries the old resourceVersion
        resp = await client.put(f"{CM_URL}/a", json=stale)
        _status(await resp.json(), 409, "Conflict")

        for content_type, patch, expected in (
            ("application/merge-patch+json", {"data": {"m": "1"}}, {"k": "updated", "m": "1"}),
            (
                "application/json-patch+json",
                [{"op": "add", "path": "/data/j", "value": "2"}],
                {"k": "updated", "m": "1", "j": "2"},
            ),
            (
                "application/strategic-merge-patch+json",
                {"data": {"k": None}},
                {"m": "1", "j": "2"},
            ),
        ):
            resp = await client.patch(
                f"{CM_URL}/a", data=orjson.dumps(patch), headers={"Content-Type": content_type}
            )
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["data"] == expected

        # Server-side apply creates (201) and then updates (200).
        applied = orjson.dumps(configmap("applied", x="1"))
        resp = await client.patch(
            f"{CM_URL}/applied?fieldManager=test",
            data=applied,
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert resp.status == 201, await resp.text()
        resp = await client.patch(
            f"{CM_URL}/applied?fieldManager=test",
            data=yaml.safe_dump(configmap("applied", x="2")).encode(),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert resp.status == 200 and (await resp.json())["data"] == {"x": "2"}

        # dryRun=All answers as if created but stores nothing.
        resp = await client.post(f"{CM_URL}?dryRun=All", json=configmap("dry"))
        assert resp.status == 201
        assert (await client.get(f"{CM_URL}/dry")).status == 404

        resp = await client.delete(
            f"{CM_URL}/a",
            data=b'{"propagationPolicy":"Background"}',
            headers={"Content-Type": "application/json"},
        )
        assert resp.status == 200
        assert (await client.get(f"{CM_URL}/a")).status == 404
        resp = await client.delete(f"{CM_URL}/b?gracePeriodSeconds=0")
        assert resp.status == 200

        resp = await client.delete(CM_URL, params={"labelSelector": "nothing=here"})
        assert resp.status == 200
        assert (await resp.json())["items"] == []
        resp = await client.delete(CM_URL)
        deleted = await resp.json()
        assert {i["metadata"]["name"] for i in deleted["items"]} == {"applied"}


async def test_cluster_scoped_status_binding_scale_and_log() -> None:
    logs: list[tuple[str, str, str | None]] = []

    def log_source(ns: str, pod: str, container: str | None) -> str:
        logs.append((ns, pod, container))
        return "line 1\nline 2\nline 3\n"

    async with api_client(log_source=log_source) as (client, _):
        resp = await client.post("/api/v1/namespaces", json={"metadata": {"name": "team"}})
        assert resp.status == 201
        ns = await (await client.get("/api/v1/namespaces/team")).json()
        assert ns["kind"] == "Namespace"
        # A cluster-scoped type under a namespace path does not exist.
        resp = await client.get("/api/v1/namespaces/team/nodes")
        _status(await resp.json(), 404, "NotFound")

        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        }
        url = "/api/v1/namespaces/team/pods"
        assert (await client.post(url, json=pod)).status == 201
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "p"},
            "target": {"kind": "Node", "name": "node-a"},
        }
        resp = await client.post(f"{url}/p/binding", json=binding)
        assert resp.status == 201, await resp.text()
        bound = await (await client.get(f"{url}/p")).json()
        assert bound["spec"]["nodeName"] == "node-a"

        status_patch = {"status": {"phase": "Running"}}
        resp = await client.patch(
            f"{url}/p/status",
            data=orjson.dumps(status_patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert resp.status == 200 and (await resp.json())["status"]["phase"] == "Running"
        got = await (await client.get(f"{url}/p/status")).json()
        assert got["status"]["phase"] == "Running"

        resp = await client.get(f"{url}/p/log?tailLines=2")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        assert await resp.text() == "line 2\nline 3\n"
        assert logs == [("team", "p", "main")]

        for sub in ("exec", "portforward"):
            resp = await client.get(f"{url}/p/{sub}")
            body = _status(await resp.json(), 400, "BadRequest")
            assert "not supported by the sandbox" in body["message"]

        deploy = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "d"}},
                "template": {
                    "metadata": {"labels": {"app": "d"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        }
        durl = "/apis/apps/v1/namespaces/team/deployments"
        assert (await client.post(durl, json=deploy)).status == 201, "deployment"
        scale = await (await client.get(f"{durl}/d/scale")).json()
        assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
        assert scale["status"]["selector"] == "app=d"
        resp = await client.patch(
            f"{durl}/d/scale",
            data=b'{"spec":{"replicas":4}}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert resp.status == 200 and (await resp.json())["spec"]["replicas"] == 4
        assert (await (await client.get(f"{durl}/d")).json())["spec"]["replicas"] == 4


async def test_kubectl_protobuf_create_is_decoded() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    def entry(key: str, value: str) -> bytes:
        return field(1, key.encode()) + field(2, value.encode())

    meta = field(1, b"from-proto") + field(11, entry("app", "x"))
    inner = field(1, meta) + field(2, entry("k", "v"))
    type_meta = field(1, b"v1") + field(2, b"ConfigMap")
    body = protobuf.MAGIC + field(1, type_meta) + field(2, inner)
    async with api_client() as (client, _):
        resp = await client.post(CM_URL, data=body, headers={"Content-Type": protobuf.PROTOBUF})
        assert resp.status == 201, await resp.text()
        got = await resp.json()
        assert got["metadata"]["name"] == "from-proto"
        assert got["metadata"]["labels"] == {"app": "x"} and got["data"] == {"k": "v"}

        # A Service: IntOrString targetPort, and zero scalars (always on the wire) dropped.
        def varint(number: int, value: int) -> bytes:
            return bytes([number << 3, value])

        target = varint(1, 1) + varint(2, 0) + field(3, b"web")
        port = field(1, b"http") + field(2, b"TCP") + varint(3, 80) + field(4, target)
        port += varint(5, 0)
        spec = field(1, port) + field(2, entry("app", "x")) + field(3, b"")
        svc_meta = field(1, b"svc") + varint(7, 0)
        svc = protobuf.MAGIC + field(1, field(1, b"v1") + field(2, b"Service"))
        svc += field(2, field(1, svc_meta) + field(2, spec))
        resp = await client.post(
            "/api/v1/namespaces/default/services",
            data=svc,
            headers={"Content-Type": protobuf.PROTOBUF},
        )
        assert resp.status == 201, await resp.text()
        got = await resp.json()
        assert got["spec"]["ports"][0]["targetPort"] == "web"
        assert got["spec"]["ports"][0]["port"] == 80
        assert got["spec"]["selector"] == {"app": "x"}
        assert "clusterIP" not in got["spec"]  # the empty string on the wire is dropped
        resp = await client.post(
            CM_URL, data=protobuf.MAGIC + b"\xff\xff", headers={"Content-Type": protobuf.PROTOBUF}
        )
        _status(await resp.json(), 400, "BadRequest")


# -- errors ----------------------------------------------------------------------------------


async def test_every_error_path_is_a_status() -> None:
    async with api_client(max_body_bytes=1024) as (client, ctx):
        await client.post(CM_URL, json=configmap("keep", k="v"))

        async def expect(resp: Any, code: int, reason: str) -> dict[str, Any]:
            assert resp.status == code, await resp.text()
            return _status(await resp.json(), code, reason)

        ct = {"Content-Type": "application/json"}
        body = await expect(
            await client.post(CM_URL, data=b"{not json", headers=ct), 400, "BadRequest"
        )
        assert "json" in body["message"]
        await expect(
            await client.post(
                CM_URL, data=b"a: [b\n  c: :", headers={"Content-Type": "application/yaml"}
            ),
            400,
            "BadRequest",
        )
        await expect(await client.post(CM_URL, data=b"[1, 2]", headers=ct), 400, "BadRequest")
        await expect(await client.post(CM_URL, data=b"", headers=ct), 400, "BadRequest")
        # kind / apiVersion / namespace / name that do not match the URL
        wrong_kind = dict(configmap("x"), kind="Secret")
        await expect(await client.post(CM_URL, json=wrong_kind), 400, "BadRequest")
        wrong_version = dict(configmap("x"), apiVersion="apps/v1")
        await expect(await client.post(CM_URL, json=wrong_version), 400, "BadRequest")
        other_ns = configmap("x")
        other_ns["metadata"]["namespace"] = "kube-system"
        body = await expect(await client.post(CM_URL, json=other_ns), 400, "BadRequest")
        assert "does not match the namespace" in body["message"]
        await expect(await client.put(f"{CM_URL}/keep", json=configmap("other")), 400, "BadRequest")
        # unknown group / version / resource / subresource
        await expect(await client.get("/api/v1/namespaces/default/widgets"), 404, "NotFound")
        await expect(await client.get("/apis/nope.example.com/v1/things"), 404, "NotFound")
        await expect(await client.get("/api/v2/pods"), 404, "NotFound")
        await expect(await client.get(f"{CM_URL}/keep/status"), 404, "NotFound")
        await expect(await client.get(f"{CM_URL}/keep/a/b"), 404, "NotFound")
        await expect(await client.get(f"{CM_URL}/missing"), 404, "NotFound")
        # verbs the resource does not have
        await expect(
            await client.post(f"{CM_URL}/keep", json=configmap("keep")), 405, "MethodNotAllowed"
        )
        await expect(await client.put(CM_URL, json=configmap("keep")), 405, "MethodNotAllowed")
        await expect(await client.delete("/api/v1/namespaces"), 405, "MethodNotAllowed")
        await expect(
            await client.post("/api/v1/namespaces/default/pods/p/log"), 405, "MethodNotAllowed"
        )
        # conflicts, size, media types, validation
        await expect(await client.post(CM_URL, json=configmap("keep")), 409, "AlreadyExists")
        big = configmap("big", k="x" * 2048)
        await expect(await client.post(CM_URL, json=big), 413, "RequestEntityTooLarge")
        await expect(
            await client.patch(
                f"{CM_URL}/keep", data=b"{}", headers={"Content-Type": "text/plain"}
            ),
            415,
            "UnsupportedMediaType",
        )
        await expect(
            await client.post(CM_URL, data=b"x", headers={"Content-Type": "text/plain"}),
            415,
            "UnsupportedMediaType",
        )
        body = await expect(await client.post(CM_URL, json=configmap("Not_Valid")), 422, "Invalid")
        assert body["details"]["causes"][0]["field"] == "metadata.name"
        await expect(
            await client.patch(
                f"{CM_URL}/keep",
                data=b'{"not": "a list"}',
                headers={"Content-Type": "application/json-patch+json"},
            ),
            400,
            "BadRequest",
        )
        # malformed query parameters
        await expect(await client.get(CM_URL, params={"limit": "many"}), 400, "BadRequest")
        await expect(await client.get(CM_URL, params={"watch": "maybe"}), 400, "BadRequest")
        await expect(
            await client.post(f"{CM_URL}?dryRun=Some", json=configmap("d")), 400, "BadRequest"
        )
        await expect(
            await client.post(f"{CM_URL}?fieldValidation=Loose", json=configmap("d")),
            400,
            "BadRequest",
        )
        await expect(
            await client.delete(f"{CM_URL}/keep?propagationPolicy=Sideways"), 422, "Invalid"
        )
        await expect(
            await client.delete(f"{CM_URL}/keep", data=b"[]", headers=ct), 400, "BadRequest"
        )
        # state survived all of it
        kept = await (await client.get(f"{CM_URL}/keep")).json()
        assert kept["data"] == {"k": "v"}
        assert [
            i["metadata"]["name"]
            for i in ctx.registry.list(
                ctx.catalog.get("", "v1", "configmaps"),
                "default",  # type: ignore[arg-type]
            ).items
        ] == ["keep"]


async def test_unexpected_exception_is_a_500_status() -> None:
    async with api_client() as (client, ctx):

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

        ctx.registry.get = broken  # type: ignore[method-assign]
        resp = await client.get(f"{CM_URL}/x")
        body = _status(await resp.json(), 500, "InternalError")
        assert "boom" in body["message"]
        assert (await client.get("/healthz")).status == 200


# -- Table -----------------------------------------------------------------------------------


async def test_table_for_get_and_list() -> None:
    async with api_client() as (client, _):
        await client.post(CM_URL, json=configmap("t1", a="1", b="2"))
        resp = await client.get(CM_URL, headers={"Accept": TABLE_ACCEPT})
        assert resp.headers["Content-Type"] == "application/json;as=Table;v=v1;g=meta.k8s.io"
        table = await resp.json()
        assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
        row = table["rows"][0]
        assert row["cells"][:2] == ["t1", 2]
        assert row["object"]["kind"] == "PartialObjectMetadata"
        assert table["metadata"]["resourceVersion"]

        full = await (
            await client.get(f"{CM_URL}?includeObject=Object", headers={"Accept": TABLE_ACCEPT})
        ).json()
        assert full["rows"][0]["object"]["data"] == {"a": "1", "b": "2"}
        one = await (await client.get(f"{CM_URL}/t1", headers={"Accept": TABLE_ACCEPT})).json()
        assert one["kind"] == "Table" and len(one["rows"]) == 1
        # Protobuf first falls back to JSON; plain JSON stays plain.
        proto = await client.get(
            f"{CM_URL}/t1",
            headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"},
        )
        assert proto.headers["Content-Type"].startswith("application/json")
        assert (await proto.json())["kind"] == "ConfigMap"


# -- metrics and audit -----------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_with_kube_labels() -> None:
    async with api_client() as (client, _):
        await client.post(CM_URL, json=configmap("m"))
        await client.get(f"{CM_URL}/m")
        await client.get(f"{CM_URL}/missing")
        await client.get(CM_URL)
        await client.patch(
            f"{CM_URL}/m", data=b"{}", headers={"Content-Type": "application/merge-patch+json"}
        )
        resp = await client.get("/metrics")
        text = await resp.text()
        total = "apiserver_request_total"
        assert _sample(text, total, verb="POST", resource="configmaps", code="201") == 1
        assert (
            _sample(text, total, verb="GET", resource="configmaps", subresource="", code="200") == 1
        )
        assert _sample(text, total, verb="GET", resource="configmaps", code="404") == 1
        assert _sample(text, total, verb="LIST", resource="configmaps", code="200") == 1
        assert _sample(text, total, verb="PATCH", resource="configmaps", code="200") == 1
        assert "apiserver_request_duration_seconds_bucket" in text
        assert "apiserver_longrunning_requests" in text


async def test_metrics_count_watches_and_longrunning_gauge() -> None:
    async with api_client() as (client, _):
        resp = await client.get(f"{CM_URL}?watch=1&timeoutSeconds=1")
        await resp.read()
        text = await (await client.get("/metrics")).text()
        assert _sample(text, "apiserver_request_total", verb="WATCH", resource="configmaps") == 1
        assert (
            _sample(text, "apiserver_longrunning_requests", verb="WATCH", resource="configmaps")
            == 0
        )


async def test_audit_log_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    async with api_client(audit_log_path=str(path)) as (client, _):
        headers = {"User-Agent": "audit-test/1.0"}
        await client.post(CM_URL, json=configmap("audited"), headers=headers)
        await client.get(f"{CM_URL}/missing", headers=headers)
        await client.get("/api/v1/namespaces/default/pods/p/status", headers=headers)
        await client.get("/version", headers=headers)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    ours = [e for e in events if e["userAgent"] == "audit-test/1.0"]
    assert len(ours) == 4
    create, get, status, version = ours
    for event in ours:
        assert event["apiVersion"] == "audit.k8s.io/v1" and event["kind"] == "Event"
        assert event["level"] == "Metadata" and event["stage"] == "ResponseComplete"
        assert event["user"]["username"] == "system:anonymous"
        assert event["sourceIPs"] == ["127.0.0.1"]
        assert event["requestReceivedTimestamp"] <= event["stageTimestamp"]
        assert len(event["auditID"]) == 36
    assert create["verb"] == "create" and create["responseStatus"] == {"metadata": {}, "code": 201}
    assert create["objectRef"] == {
        "resource": "configmaps",
        "namespace": "default",
        "apiVersion": "v1",
    }
    assert create["requestURI"] == CM_URL
    assert get["verb"] == "get" and get["responseStatus"]["code"] == 404
    assert get["objectRef"]["name"] == "missing"
    assert status["objectRef"]["subresource"] == "status"
    assert version["verb"] == "get" and "objectRef" not in version
