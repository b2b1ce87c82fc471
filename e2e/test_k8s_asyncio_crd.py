"""kubernetes-asyncio against the sandbox: CustomResourceDefinitions and custom objects.

A CRD registered through ApiextensionsV1Api must behave as on kube-apiserver: its
resource appears in discovery with its short names and categories, objects are
validated against the structural schema (422 with field paths), defaulted and
pruned, the status subresource splits spec from status writes, and a Table request
shows the CRD's printer columns.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from e2e.k8s_asyncio_support import api_client, eventually, raises_api
from kuberay_py.sandbox.server import Sandbox

GROUP, VERSION, PLURAL, NS = "example.com", "v1", "widgets", "default"
MERGE = "application/merge-patch+json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def widget_crd() -> client.V1CustomResourceDefinition:
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                    "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "options": {
                        "type": "object",
                        "default": {},
                        "properties": {"retries": {"type": "integer", "default": 3}},
                    },
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": {"type": "string"},
                    "ready": {"type": "integer"},
                },
            },
        },
    }
    return client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=f"{PLURAL}.{GROUP}"),
        spec=client.V1CustomResourceDefinitionSpec(
            group=GROUP,
            scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(
                kind="Widget",
                list_kind="WidgetList",
                plural=PLURAL,
                singular="widget",
                short_names=["wd"],
                categories=["all", "gadgets"],
            ),
            versions=[
                client.V1CustomResourceDefinitionVersion(
                    name=VERSION,
                    served=True,
                    storage=True,
                    schema=client.V1CustomResourceValidation(open_apiv3_schema=schema),
                    subresources=client.V1CustomResourceSubresources(status={}),
                    additional_printer_columns=[
                        client.V1CustomResourceColumnDefinition(
                            name="Size", type="integer", json_path=".spec.size"
                        ),
                        client.V1CustomResourceColumnDefinition(
                            name="Color", type="string", json_path=".spec.color"
                        ),
                        client.V1CustomResourceColumnDefinition(
                            name="Phase", type="string", json_path=".status.phase"
                        ),
                        client.V1CustomResourceColumnDefinition(
                            name="Retries",
                            type="integer",
                            json_path=".spec.options.retries",
                            priority=1,
                        ),
                        client.V1CustomResourceColumnDefinition(
                            name="Age", type="date", json_path=".metadata.creationTimestamp"
                        ),
                    ],
                )
            ],
        ),
    )


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
async def api(sandbox: Sandbox) -> AsyncIterator[client.ApiClient]:
    """A client, with the Widget CRD registered and Established."""
    async with api_client(sandbox) as api:
        ext = client.ApiextensionsV1Api(api)
        await ext.create_custom_resource_definition(widget_crd())

        async def established() -> bool:
            crd = await ext.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
            conds = {c.type: c.status for c in (crd.status.conditions or [])}
            return conds.get("Established") == "True" and conds.get("NamesAccepted") == "True"

        await eventually(established)
        yield api


async def test_crd_resource_appears_in_discovery(api: client.ApiClient) -> None:
    groups = await client.ApisApi(api).get_api_versions()
    ours = [g for g in groups.groups if g.name == GROUP]
    assert ours and ours[0].preferred_version.group_version == f"{GROUP}/{VERSION}"

    resources = await client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
    by_name = {r.name: r for r in resources.resources}
    widgets = by_name[PLURAL]
    assert widgets.kind == "Widget" and widgets.namespaced and widgets.singular_name == "widget"
    assert widgets.short_names == ["wd"]
    assert widgets.categories == ["all", "gadgets"]
    assert set(widgets.verbs) == {
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    }
    assert f"{PLURAL}/status" in by_name

    # The CRD itself through the apiextensions group's own discovery.
    ext = await client.ApiextensionsV1Api(api).get_api_resources()
    assert "customresourcedefinitions" in {r.name for r in ext.resources}


async def test_custom_object_verbs(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    created = await custom.create_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, widget("w1", size=2, tags=["a"])
    )
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    assert created["kind"] == "Widget" and created["apiVersion"] == f"{GROUP}/{VERSION}"

    got = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "w1")
    assert got["spec"]["size"] == 2

    await custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        {**widget("w2", size=5), "metadata": {"name": "w2", "labels": {"k": "v"}}},
    )
    listed = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    assert listed["kind"] == "WidgetList"
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["w1", "w2"]
    labelled = await custom.list_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, label_selector="k=v"
    )
    assert [i["metadata"]["name"] for i in labelled["items"]] == ["w2"]
    everywhere = await custom.list_custom_object_for_all_namespaces(GROUP, VERSION, PLURAL)
    assert len(everywhere["items"]) == 2

    # Merge patch (custom objects have no strategic merge: the client needs _content_type).
    patched = await custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "w1", {"spec": {"size": 3, "tags": None}}, _content_type=MERGE
    )
    assert patched["spec"]["size"] == 3 and "tags" not in patched["spec"]
    assert patched["metadata"]["generation"] == 2
    # A list body goes out as a JSON patch.
    json_patched = await custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "w1", [{"op": "replace", "path": "/spec/size", "value": 4}]
    )
    assert json_patched["spec"]["size"] == 4

    smp = await raises_api(
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            PLURAL,
            "w1",
            {"spec": {"size": 1}},
            _content_type="application/strategic-merge-patch+json",
        ),
        415,
    )
    assert smp["reason"] == "UnsupportedMediaType"

    json_patched["spec"]["size"] = 6
    replaced = await custom.replace_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "w1", json_patched
    )
    assert replaced["spec"]["size"] == 6
    stale = await raises_api(
        custom.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "w1", json_patched),
        409,
    )
    assert stale["reason"] == "Conflict"
    dup = await raises_api(
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("w1", size=1)),
        409,
    )
    assert dup["reason"] == "AlreadyExists"
    assert dup["details"] == {"name": "w1", "group": GROUP, "kind": PLURAL}

    status = await custom.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "w1")
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"] == {
        "name": "w1",
        "group": GROUP,
        "kind": PLURAL,
        "uid": created["metadata"]["uid"],
    }
    missing = await raises_api(
        custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "w1"), 404
    )
    assert missing["details"] == {"name": "w1", "group": GROUP, "kind": PLURAL}
    assert missing["message"] == f'{PLURAL}.{GROUP} "w1" not found'

    await custom.delete_collection_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    left = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    assert left["items"] == []


async def test_schema_violations_are_422_with_field_paths(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    bad = widget("bad", size=0, color="green", tags=[1])
    body = await raises_api(
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, bad), 422
    )
    assert body["reason"] == "Invalid"
    assert body["details"]["name"] == "bad"
    assert body["details"]["group"] == GROUP and body["details"]["kind"] == "Widget"
    causes = {c["field"]: c for c in body["details"]["causes"]}
    assert set(causes) >= {"spec.size", "spec.color", "spec.tags[0]"}, causes
    assert causes["spec.color"]["reason"] == "FieldValueNotSupported"
    assert 'supported values: "red", "blue"' in causes["spec.color"]["message"]
    assert causes["spec.size"]["reason"] == "FieldValueInvalid"
    assert "greater than or equal to 1" in causes["spec.size"]["message"]
    assert causes["spec.tags[0]"]["reason"] == "FieldValueTypeInvalid"
    assert f'Widget.{GROUP} "bad" is invalid' in body["message"]

    required = await raises_api(
        custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("nosize")),
        422,
    )
    assert [(c["field"], c["reason"]) for c in required["details"]["causes"]] == [
        ("spec.size", "FieldValueRequired")
    ]

    # An update is validated the same way, and the stored object is untouched.
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("ok", size=1))
    await raises_api(
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, NS, PLURAL, "ok", {"spec": {"size": 11}}, _content_type=MERGE
        ),
        422,
    )
    ok = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "ok")
    assert ok["spec"]["size"] == 1 and ok["metadata"]["generation"] == 1


async def test_structural_defaults_and_pruning(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    body = widget("defaulted", size=2)
    body["spec"]["unknownField"] = "pruned"
    body["surprise"] = {"x": 1}
    created = await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    assert created["spec"] == {"size": 2, "color": "red", "options": {"retries": 3}}
    assert "surprise" not in created
    # Defaults apply on read-modify-write too: a patch removing a defaulted field restores it.
    patched = await custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "defaulted",
        {"spec": {"color": None, "options": {"retries": 7}}},
        _content_type=MERGE,
    )
    assert patched["spec"]["color"] == "red" and patched["spec"]["options"] == {"retries": 7}


async def test_status_subresource(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    body = widget("st", size=2)
    body["status"] = {"phase": "Ignored"}
    created = await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    # With a status subresource, create cannot set status.
    assert "status" not in created or created["status"] in ({}, None)

    with_status = await custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "st",
        {"status": {"phase": "Running", "ready": 1}, "spec": {"size": 9}},
        _content_type=MERGE,
    )
    assert with_status["status"] == {"phase": "Running", "ready": 1}
    assert with_status["spec"]["size"] == 2, "a status write must not change spec"
    assert with_status["metadata"]["generation"] == 1, "a status write must not bump generation"

    # The main resource ignores status: the spec change lands, the status change does not.
    current = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "st")
    current["spec"]["size"] = 4
    current["status"] = {"phase": "Hacked", "ready": 0}
    replaced = await custom.replace_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "st", current
    )
    assert replaced["spec"]["size"] == 4 and replaced["metadata"]["generation"] == 2
    assert replaced["status"] == {"phase": "Running", "ready": 1}

    # Metadata-only changes leave generation alone.
    labelled = await custom.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "st", {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE
    )
    assert labelled["metadata"]["generation"] == 2
    read_status = await custom.get_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "st")
    assert read_status["status"]["phase"] == "Running"


async def test_printer_columns_in_table(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("t1", size=7))
    await custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "t1", {"status": {"phase": "Ready"}}, _content_type=MERGE
    )
    # The generated API pins Accept; its ApiClient sends the Table media type as kubectl does.
    resp = await api.call_api(
        f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}",
        "GET",
        header_params={"Accept": TABLE},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    table = json.loads(await resp.read())
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    columns = [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", "string", 0),
        ("Size", "integer", 0),
        ("Color", "string", 0),
        ("Phase", "string", 0),
        ("Retries", "integer", 1),
        ("Age", "date", 0),
    ]
    [row] = table["rows"]
    assert row["cells"][:5] == ["t1", 7, "red", "Ready", 3]
    assert row["cells"][5].endswith("s")  # a duration like "0s"
    # includeObject defaults to metadata only, as kube-apiserver's default.
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "t1"


async def test_deleting_the_crd_removes_its_api(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("g", size=1))
    ext = client.ApiextensionsV1Api(api)
    await ext.delete_custom_resource_definition(f"{PLURAL}.{GROUP}")

    async def gone_from_discovery() -> bool:
        groups = await client.ApisApi(api).get_api_versions()
        return GROUP not in {g.name for g in groups.groups}

    await eventually(gone_from_discovery)
    missing = await raises_api(
        custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL), 404
    )
    assert missing["reason"] == "NotFound"
