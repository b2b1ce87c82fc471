"""The registry's object semantics, checked against kube-apiserver's behaviour and messages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import Cause, StatusError
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import (
    DeleteOptions,
    ListOptions,
    WatchOptions,
    WriteOptions,
)
from kuberay_py.sandbox.storage.sqlite import SqliteStorage

Obj = dict[str, Any]


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def reg(catalog: Catalog) -> Registry:
    return Registry(catalog)


def rt(catalog: Catalog, group: str, version: str, resource: str) -> ResourceType:
    found = catalog.get(group, version, resource)
    assert found is not None, (group, version, resource)
    return found


@pytest.fixture
def cms(catalog: Catalog) -> ResourceType:
    return rt(catalog, "", "v1", "configmaps")


@pytest.fixture
def pods(catalog: Catalog) -> ResourceType:
    return rt(catalog, "", "v1", "pods")


@pytest.fixture
def nss(catalog: Catalog) -> ResourceType:
    return rt(catalog, "", "v1", "namespaces")


@pytest.fixture
def deploys(catalog: Catalog) -> ResourceType:
    return rt(catalog, "apps", "v1", "deployments")


def raises(code: int, fn: Any, *args: Any, **kwargs: Any) -> StatusError:
    with pytest.raises(StatusError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value.status
    return info.value


def pod(name: str, node: str | None = None, **spec: Any) -> Obj:
    body: Obj = {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}], **spec},
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


def deployment(name: str, image: str = "nginx:1.27") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


# -- startup ---------------------------------------------------------------------------------


def test_system_namespaces_exist_and_are_active(reg: Registry, nss: ResourceType) -> None:
    names = [n["metadata"]["name"] for n in reg.list(nss, None).items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    default = reg.get(nss, None, "default")
    assert default["status"] == {"phase": "Active"}
    assert default["spec"] == {"finalizers": ["kubernetes"]}
    assert default["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}
    assert default["kind"] == "Namespace" and default["apiVersion"] == "v1"


# -- create ----------------------------------------------------------------------------------


def test_create_fills_server_metadata(reg: Registry, cms: ResourceType) -> None:
    before = reg.resource_version
    cm = reg.create(cms, "default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    meta = cm["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["resourceVersion"] == str(before + 1) == str(reg.resource_version)
    assert meta["generation"] == 1 and meta["namespace"] == "default"
    assert cm["kind"] == "ConfigMap" and cm["apiVersion"] == "v1"
    assert reg.get(cms, "default", "a") == cm


def test_caller_body_is_not_mutated_or_shared(reg: Registry, cms: ResourceType) -> None:
    body = {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}}
    cm = reg.create(cms, "default", body)
    assert body == {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}}
    body["metadata"]["labels"]["x"] = "2"
    assert (
        reg.get(cms, "default", "a")["metadata"]["labels"] == {"x": "1"} == cm["metadata"]["labels"]
    )


def test_generate_name(reg: Registry, cms: ResourceType) -> None:
    cm = reg.create(cms, "default", {"metadata": {"generateName": "job-"}})
    assert re.fullmatch(r"job-[bcdfghjklmnpqrstvwxz2456789]{5}", cm["metadata"]["name"])
    long = reg.create(cms, "default", {"metadata": {"generateName": "x" * 80}})
    assert len(long["metadata"]["name"]) == 63


def test_resource_version_is_global_and_increasing(
    reg: Registry, cms: ResourceType, pods: ResourceType
) -> None:
    a = int(reg.create(cms, "default", {"metadata": {"name": "a"}})["metadata"]["resourceVersion"])
    b = int(reg.create(pods, "default", pod("p"))["metadata"]["resourceVersion"])
    assert b == a + 1


def test_invalid_names_use_kube_messages(
    reg: Registry, catalog: Catalog, cms: ResourceType, nss: ResourceType
) -> None:
    err = raises(422, reg.create, cms, "default", {"metadata": {"name": "Bad_Name"}})
    assert err.reason == "Invalid"
    assert err.message == (
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase '
        "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
        "must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        r"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    assert err.causes == [Cause("FieldValueInvalid", err.causes[0].message, "metadata.name")]
    err = raises(422, reg.create, cms, "default", {"metadata": {}})
    assert err.message == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )
    err = raises(422, reg.create, nss, None, {"metadata": {"name": "A_b"}})
    assert "a lowercase RFC 1123 label must consist of" in err.message
    # A valid subdomain that is no label can only be wrong for its dots (IsDNS1123Label).
    err = raises(422, reg.create, nss, None, {"metadata": {"name": "a.b"}})
    assert err.message.endswith('metadata.name: Invalid value: "a.b": must not contain dots')
    err = raises(422, reg.create, cms, "default", {"metadata": {"name": "a" * 254}})
    assert "must be no more than 253 characters" in err.message
    services = rt(catalog, "", "v1", "services")
    err = raises(
        422,
        reg.create,
        services,
        "default",
        {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}},
    )
    assert "a DNS-1035 label" in err.message


def test_labels_and_annotations_validated(reg: Registry, cms: ResourceType) -> None:
    err = raises(
        422,
        reg.create,
        cms,
        "default",
        {"metadata": {"name": "a", "labels": {"bad key": "ok", "good": "bad value"}}},
    )
    assert [c.field for c in err.causes] == ["metadata.labels", "metadata.labels"]
    assert err.causes[0].message.startswith('Invalid value: "bad key": name part must consist')
    assert err.causes[1].message.startswith('Invalid value: "bad value": a valid label must be')
    big = {"metadata": {"name": "a", "annotations": {"k": "x" * (256 * 1024)}}}
    err = raises(422, reg.create, cms, "default", big)
    assert err.causes == [
        Cause(
            "FieldValueTooLong", "Too long: must have at most 262144 bytes", "metadata.annotations"
        )
    ]


def test_owner_references_validated(reg: Registry, cms: ResourceType) -> None:
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u", "controller": True}
    reg.create(cms, "default", {"metadata": {"name": "ok", "ownerReferences": [ref]}})
    err = raises(
        422,
        reg.create,
        cms,
        "default",
        {"metadata": {"name": "a", "ownerReferences": [{**ref, "uid": ""}, {**ref, "name": "p"}]}},
    )
    assert [c.field for c in err.causes] == [
        "metadata.ownerReferences.uid",
        "metadata.ownerReferences",
    ]
    assert err.causes[0].message == 'Invalid value: "": uid must not be empty'


def test_wrongly_typed_fields_are_400_not_500(reg: Registry, pods: ResourceType) -> None:
    body = pod("p")
    body["spec"]["containers"][0]["resources"] = 5
    raises(400, reg.create, pods, "default", body)


def test_namespace_must_exist_and_not_terminate(
    reg: Registry, cms: ResourceType, nss: ResourceType
) -> None:
    err = raises(404, reg.create, cms, "nope", {"metadata": {"name": "a"}})
    assert err.message == 'namespaces "nope" not found'
    reg.create(nss, None, {"metadata": {"name": "going"}})
    reg.delete(nss, None, "going")
    err = raises(403, reg.create, cms, "going", {"metadata": {"name": "a"}})
    assert err.reason == "Forbidden"
    assert err.message == (
        'configmaps "a" is forbidden: unable to create new content in namespace going because '
        "it is being terminated"
    )


def test_namespace_mismatch_and_duplicates(reg: Registry, cms: ResourceType) -> None:
    err = raises(400, reg.create, cms, "default", {"metadata": {"name": "a", "namespace": "x"}})
    assert err.message == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )
    reg.create(cms, "default", {"metadata": {"name": "a"}})
    err = raises(409, reg.create, cms, "default", {"metadata": {"name": "a"}})
    assert err.reason == "AlreadyExists" and err.message == 'configmaps "a" already exists'


def test_get_missing_is_404(reg: Registry, deploys: ResourceType) -> None:
    err = raises(404, reg.get, deploys, "default", "x")
    assert err.message == 'deployments.apps "x" not found'


def test_dry_run_create_stores_nothing(reg: Registry, cms: ResourceType) -> None:
    rv = reg.resource_version
    out = reg.create(cms, "default", {"metadata": {"name": "a"}}, WriteOptions(dry_run=True))
    assert out["metadata"]["name"] == "a"
    assert reg.resource_version == rv
    raises(404, reg.get, cms, "default", "a")


# -- kind defaults and validation --------------------------------------------------------------


def test_pod_defaults(reg: Registry, pods: ResourceType) -> None:
    p = reg.create(pods, "default", pod("p", status={"phase": "Running"}))
    spec = p["spec"]
    assert p["status"]["phase"] == "Pending" and p["status"]["qosClass"] == "BestEffort"
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["serviceAccountName"] == "default"
    assert spec["enableServiceLinks"] is True
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    latest = reg.create(
        pods,
        "default",
        {"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    )
    assert latest["spec"]["containers"][0]["imagePullPolicy"] == "Always"


def test_pod_requires_containers(reg: Registry, pods: ResourceType) -> None:
    err = raises(422, reg.create, pods, "default", {"metadata": {"name": "p"}, "spec": {}})
    assert err.causes == [Cause("FieldValueRequired", "Required value", "spec.containers")]
    assert err.message == 'Pod "p" is invalid: spec.containers: Required value'
    err = raises(
        422,
        reg.create,
        pods,
        "default",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}},
    )
    assert err.causes[0].field == "spec.containers[0].image"


def test_pod_spec_is_immutable_but_image(reg: Registry, pods: ResourceType) -> None:
    p = reg.create(pods, "default", pod("p", node="n1"))
    image = {**p["spec"], "containers": [{**p["spec"]["containers"][0], "image": "busybox:2"}]}
    updated = reg.update(pods, "default", "p", {**p, "spec": image})
    assert updated["spec"]["containers"][0]["image"] == "busybox:2"
    err = raises(
        422,
        reg.update,
        pods,
        "default",
        "p",
        {**updated, "spec": {**updated["spec"], "hostname": "x"}},
    )
    assert err.causes[0].field == "spec"
    assert err.causes[0].message.startswith("Forbidden: pod updates may not change fields")


def test_service_defaults_and_validation(reg: Registry, catalog: Catalog) -> None:
    services = rt(catalog, "", "v1", "services")
    svc = reg.create(
        services,
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["ipFamilies"] == ["IPv4"]
    err = raises(422, reg.create, services, "default", {"metadata": {"name": "x"}, "spec": {}})
    assert err.causes == [Cause("FieldValueRequired", "Required value", "spec.ports")]
    headless = reg.create(
        services, "default", {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}
    )
    assert headless["spec"]["clusterIP"] == "None"
    reg.create(
        services,
        "default",
        {
            "metadata": {"name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "example.com"},
        },
    )


def test_job_defaults_and_restart_policy(reg: Registry, catalog: Catalog) -> None:
    jobs = rt(catalog, "batch", "v1", "jobs")
    template = {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}
    }
    job = reg.create(jobs, "default", {"metadata": {"name": "j"}, "spec": {"template": template}})
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"], spec["suspend"]) == (
        6,
        1,
        1,
        False,
    )
    uid = job["metadata"]["uid"]
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"]["job-name"] == "j"
    bad = {"spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}
    err = raises(
        422, reg.create, jobs, "default", {"metadata": {"name": "k"}, "spec": {"template": bad}}
    )
    assert err.causes[0].field == "spec.template.spec.restartPolicy"
    assert err.causes[0].message == (
        'Unsupported value: "Always": supported values: "OnFailure", "Never"'
    )


def test_deployment_defaults(reg: Registry, deploys: ResourceType) -> None:
    d = reg.create(deploys, "default", deployment("web"))
    assert d["spec"]["replicas"] == 1
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"
    assert d["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert d["apiVersion"] == "apps/v1"
    raises(422, reg.create, deploys, "default", {"metadata": {"name": "x"}, "spec": {}})


def test_configmap_keys_validated(reg: Registry, cms: ResourceType) -> None:
    err = raises(
        422, reg.create, cms, "default", {"metadata": {"name": "a"}, "data": {"bad key": "v"}}
    )
    assert err.causes[0].field == "data[bad key]"
    assert "a valid config key must consist of alphanumeric characters" in err.causes[0].message


# -- update ----------------------------------------------------------------------------------


def test_update_conflict_and_noop(reg: Registry, cms: ResourceType) -> None:
    cm = reg.create(cms, "default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    stale = {**cm, "metadata": {**cm["metadata"], "resourceVersion": "1"}}
    err = raises(409, reg.update, cms, "default", "a", stale)
    assert err.reason == "Conflict"
    assert err.message == (
        'Operation cannot be fulfilled on configmaps "a": the object has been modified; please '
        "apply your changes to the latest version and try again"
    )
    rv = reg.resource_version
    same = reg.update(cms, "default", "a", cm)
    assert same["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]
    assert reg.resource_version == rv
    changed = reg.update(cms, "default", "a", {**cm, "data": {"k": "w"}})
    assert int(changed["metadata"]["resourceVersion"]) == rv + 1
    assert changed["metadata"]["generation"] == 2
    assert changed["metadata"]["uid"] == cm["metadata"]["uid"]


def test_update_cannot_change_server_fields_or_name(reg: Registry, cms: ResourceType) -> None:
    cm = reg.create(cms, "default", {"metadata": {"name": "a"}})
    hacked = {
        **cm,
        "metadata": {**cm["metadata"], "uid": "x", "creationTimestamp": "2000-01-01T00:00:00Z"},
        "data": {"a": "b"},
    }
    out = reg.update(cms, "default", "a", hacked)
    assert out["metadata"]["uid"] == cm["metadata"]["uid"]
    assert out["metadata"]["creationTimestamp"] == cm["metadata"]["creationTimestamp"]
    err = raises(400, reg.update, cms, "default", "a", {"metadata": {"name": "b"}})
    assert "does not match the name on the URL" in err.message
    raises(404, reg.update, cms, "default", "missing", {"metadata": {"name": "missing"}})


def test_generation_tracks_spec_not_metadata_or_status(
    reg: Registry, deploys: ResourceType
) -> None:
    d = reg.create(deploys, "default", deployment("web"))
    labelled = reg.update(
        deploys, "default", "web", {**d, "metadata": {**d["metadata"], "labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    status = reg.update(
        deploys, "default", "web", {**labelled, "status": {"replicas": 1}}, subresource="status"
    )
    assert status["metadata"]["generation"] == 1 and status["status"] == {"replicas": 1}
    spec = {**status["spec"], "replicas": 3}
    scaled = reg.update(deploys, "default", "web", {**status, "spec": spec})
    assert scaled["metadata"]["generation"] == 2


def test_status_subresource_rules(reg: Registry, deploys: ResourceType) -> None:
    d = reg.create(deploys, "default", {**deployment("web"), "status": {"replicas": 9}})
    assert "status" not in d  # status is the controllers' to write
    with_status = reg.update(
        deploys, "default", "web", {**d, "status": {"replicas": 2}}, subresource="status"
    )
    # Main-resource updates keep the stored status...
    main = reg.update(
        deploys,
        "default",
        "web",
        {
            **with_status,
            "status": {"replicas": 100},
            "metadata": {**with_status["metadata"], "labels": {"x": "y"}},
        },
    )
    assert main["status"] == {"replicas": 2} and main["metadata"]["labels"] == {"x": "y"}
    # ...and status updates keep everything else, labels included.
    spec = {**main["spec"], "replicas": 7}
    st = reg.update(
        deploys,
        "default",
        "web",
        {
            **main,
            "spec": spec,
            "status": {"replicas": 3},
            "metadata": {**main["metadata"], "labels": {}},
        },
        subresource="status",
    )
    assert st["status"] == {"replicas": 3}
    assert st["spec"]["replicas"] == 1 and st["metadata"]["labels"] == {"x": "y"}


def test_pod_binding_subresource(reg: Registry, pods: ResourceType) -> None:
    reg.create(pods, "default", pod("p"))
    wrong_uid = {"metadata": {"name": "p", "uid": "other"}, "target": {"name": "node-1"}}
    raises(409, reg.update, pods, "default", "p", wrong_uid, subresource="binding")
    bound = reg.update(pods, "default", "p", {"target": {"name": "node-1"}}, subresource="binding")
    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["status"]["conditions"][0]["type"] == "PodScheduled"
    raises(
        409, reg.update, pods, "default", "p", {"target": {"name": "node-2"}}, subresource="binding"
    )


# -- delete ----------------------------------------------------------------------------------


def test_finalizers_hold_deletion(reg: Registry, cms: ResourceType) -> None:
    reg.create(cms, "default", {"metadata": {"name": "a", "finalizers": ["x/y"]}})
    held = reg.delete(cms, "default", "a")
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0
    again = reg.delete(cms, "default", "a")
    assert again["metadata"]["resourceVersion"] == held["metadata"]["resourceVersion"]
    err = raises(
        422,
        reg.update,
        cms,
        "default",
        "a",
        {**held, "metadata": {**held["metadata"], "finalizers": ["x/y", "new"]}},
    )
    assert "no new finalizers can be added if the object is being deleted" in err.message
    gone = reg.update(
        cms, "default", "a", {**held, "metadata": {**held["metadata"], "finalizers": []}}
    )
    assert int(gone["metadata"]["resourceVersion"]) == reg.resource_version
    raises(404, reg.get, cms, "default", "a")


def test_pod_graceful_deletion(reg: Registry, pods: ResourceType) -> None:
    reg.create(pods, "default", pod("unscheduled"))
    reg.delete(pods, "default", "unscheduled")
    raises(404, reg.get, pods, "default", "unscheduled")

    reg.create(pods, "default", pod("running", node="n1", terminationGracePeriodSeconds=20))
    deleting = reg.delete(pods, "default", "running")
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 20
    assert deleting["metadata"]["deletionTimestamp"]
    # Status updates during termination do not delete it.
    reg.update(
        pods,
        "default",
        "running",
        {**deleting, "status": {"phase": "Running"}},
        subresource="status",
    )
    shorter = reg.delete(pods, "default", "running", DeleteOptions(grace_period_seconds=5))
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 5
    longer = reg.delete(pods, "default", "running", DeleteOptions(grace_period_seconds=50))
    assert longer["metadata"]["deletionGracePeriodSeconds"] == 5
    reg.delete(pods, "default", "running", DeleteOptions(grace_period_seconds=0))
    raises(404, reg.get, pods, "default", "running")


def test_propagation_policies_add_finalizers(reg: Registry, deploys: ResourceType) -> None:
    reg.create(deploys, "default", deployment("fg"))
    fg = reg.delete(deploys, "default", "fg", DeleteOptions(propagation_policy="Foreground"))
    assert fg["metadata"]["finalizers"] == ["foregroundDeletion"]
    reg.create(deploys, "default", deployment("or"))
    orphan = reg.delete(deploys, "default", "or", DeleteOptions(propagation_policy="Orphan"))
    assert orphan["metadata"]["finalizers"] == ["orphan"]
    reg.create(
        deploys,
        "default",
        {
            **deployment("bg"),
            "metadata": {
                "name": "bg",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"}
                ],
            },
        },
    )
    reg.delete(deploys, "default", "bg", DeleteOptions(propagation_policy="Background"))
    raises(404, reg.get, deploys, "default", "bg")


def test_delete_preconditions(reg: Registry, cms: ResourceType) -> None:
    cm = reg.create(cms, "default", {"metadata": {"name": "a"}})
    err = raises(409, reg.delete, cms, "default", "a", DeleteOptions(preconditions_uid="nope"))
    assert "Precondition failed: UID in precondition: nope" in err.message
    raises(409, reg.delete, cms, "default", "a", DeleteOptions(preconditions_resource_version="1"))
    out = reg.delete(cms, "default", "a", DeleteOptions(preconditions_uid=cm["metadata"]["uid"]))
    assert int(out["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])


def test_namespace_deletion_lifecycle(reg: Registry, nss: ResourceType, cms: ResourceType) -> None:
    reg.create(nss, None, {"metadata": {"name": "team"}})
    reg.create(cms, "team", {"metadata": {"name": "a"}})
    ns = reg.delete(nss, None, "team")
    assert ns["status"]["phase"] == "Terminating"
    assert ns["metadata"]["deletionTimestamp"]
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    # The namespace controller empties it, then finalizes: that removes the namespace.
    reg.delete(cms, "team", "a")
    reg.update(nss, None, "team", {**ns, "spec": {"finalizers": []}}, subresource="finalize")
    raises(404, reg.get, nss, None, "team")
    err = raises(403, reg.delete, nss, None, "default")
    assert err.message == 'namespaces "default" is forbidden: this namespace may not be deleted'


def test_delete_collection(reg: Registry, cms: ResourceType) -> None:
    for i in range(3):
        reg.create(cms, "default", {"metadata": {"name": f"c{i}", "labels": {"i": str(i)}}})
    gone = reg.delete_collection(cms, "default", ListOptions(label_selector="i in (0,2)"))
    assert sorted(o["metadata"]["name"] for o in gone) == ["c0", "c2"]
    assert [o["metadata"]["name"] for o in reg.list(cms, "default").items] == ["c1"]


# -- list ------------------------------------------------------------------------------------


def test_list_sorted_scoped_and_selected(
    reg: Registry, nss: ResourceType, cms: ResourceType
) -> None:
    reg.create(nss, None, {"metadata": {"name": "b"}})
    for ns, name, env in [("default", "z", "prod"), ("b", "a", "dev"), ("default", "a", "dev")]:
        reg.create(cms, ns, {"metadata": {"name": name, "labels": {"env": env}}})
    all_items = reg.list(cms, None)
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in all_items.items] == [
        ("b", "a"),
        ("default", "a"),
        ("default", "z"),
    ]
    assert all_items.resource_version == reg.resource_version
    assert [o["metadata"]["name"] for o in reg.list(cms, "default").items] == ["a", "z"]
    dev = reg.list(cms, None, ListOptions(label_selector="env=dev"))
    assert len(dev.items) == 2
    named = reg.list(cms, "default", ListOptions(field_selector="metadata.name=z"))
    assert [o["metadata"]["name"] for o in named.items] == ["z"]
    in_b = reg.list(cms, None, ListOptions(field_selector="metadata.namespace=b"))
    assert [o["metadata"]["name"] for o in in_b.items] == ["a"]
    raises(400, reg.list, cms, None, ListOptions(label_selector="a in ("))


def test_paging(reg: Registry, cms: ResourceType) -> None:
    for i in range(7):
        reg.create(cms, "default", {"metadata": {"name": f"c{i}", "labels": {"odd": str(i % 2)}}})
    first = reg.list(cms, "default", ListOptions(limit=3))
    assert [o["metadata"]["name"] for o in first.items] == ["c0", "c1", "c2"]
    assert first.remaining_item_count == 4 and first.continue_token
    reg.create(cms, "default", {"metadata": {"name": "c8"}})
    second = reg.list(cms, "default", ListOptions(limit=3, continue_token=first.continue_token))
    assert [o["metadata"]["name"] for o in second.items] == ["c3", "c4", "c5"]
    assert second.resource_version == first.resource_version
    third = reg.list(cms, "default", ListOptions(limit=3, continue_token=second.continue_token))
    assert [o["metadata"]["name"] for o in third.items] == ["c6", "c8"]
    assert third.continue_token is None and third.remaining_item_count is None
    # With a selector: pages of matching items, no remaining count.
    odd = reg.list(cms, "default", ListOptions(limit=2, label_selector="odd=1"))
    assert [o["metadata"]["name"] for o in odd.items] == ["c1", "c3"]
    assert odd.continue_token and odd.remaining_item_count is None
    rest = reg.list(
        cms,
        "default",
        ListOptions(limit=2, label_selector="odd=1", continue_token=odd.continue_token),
    )
    assert [o["metadata"]["name"] for o in rest.items] == ["c5"]
    assert rest.continue_token is None


def test_paging_token_expires_and_bad_token(reg: Registry, cms: ResourceType) -> None:
    for i in range(3):
        reg.create(cms, "default", {"metadata": {"name": f"c{i}"}})
    page = reg.list(cms, "default", ListOptions(limit=1))
    raises(400, reg.list, cms, "default", ListOptions(limit=1, continue_token="!!notbase64"))
    reg.create(cms, "default", {"metadata": {"name": "later"}})
    reg.compact()
    err = raises(
        410, reg.list, cms, "default", ListOptions(limit=1, continue_token=page.continue_token)
    )
    assert err.reason == "Expired"
    assert err.message == (
        "The provided continue parameter is too old to display a consistent list result. You "
        "can start a new list without the continue parameter."
    )


# -- patch -----------------------------------------------------------------------------------


def test_patch_types(reg: Registry, deploys: ResourceType, cms: ResourceType) -> None:
    reg.create(cms, "default", {"metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}})
    merged, created = reg.patch(cms, "default", "a", "merge", {"data": {"x": None, "z": "3"}})
    assert merged["data"] == {"y": "2", "z": "3"} and created is False
    jp, _ = reg.patch(cms, "default", "a", "json", [{"op": "add", "path": "/data/w", "value": "4"}])
    assert jp["data"]["w"] == "4"
    reg.create(deploys, "default", deployment("web"))
    smp, _ = reg.patch(
        deploys,
        "default",
        "web",
        "strategic",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}},
    )
    container = smp["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.28" and container["imagePullPolicy"] == "IfNotPresent"
    assert smp["metadata"]["generation"] == 2
    raises(404, reg.patch, cms, "default", "missing", "merge", {"data": {}})


def test_patch_resource_version_conflict(reg: Registry, cms: ResourceType) -> None:
    reg.create(cms, "default", {"metadata": {"name": "a"}})
    raises(409, reg.patch, cms, "default", "a", "merge", {"metadata": {"resourceVersion": "1"}})


def test_server_side_apply_creates_then_merges(reg: Registry, cms: ResourceType) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    obj, created = reg.patch(cms, "default", "a", "apply", body)
    assert created is True and obj["data"] == {"k": "v"}
    obj, created = reg.patch(cms, "default", "a", "apply", {**body, "data": {"k": "w"}})
    assert created is False and obj["data"] == {"k": "w"}


def test_status_patch(reg: Registry, pods: ResourceType) -> None:
    reg.create(pods, "default", pod("p", node="n1"))
    out, _ = reg.patch(
        pods,
        "default",
        "p",
        "merge",
        {"status": {"phase": "Running"}, "metadata": {"labels": {"no": "pe"}}},
        subresource="status",
    )
    assert out["status"]["phase"] == "Running" and "labels" not in out["metadata"]


# -- admission -------------------------------------------------------------------------------


def test_admission_plugins_mutate_and_reject(reg: Registry, cms: ResourceType) -> None:
    seen: list[tuple[str, str | None]] = []

    def plugin(op: str, rt: ResourceType, obj: Obj, old: Obj | None, sub: str | None) -> None:
        seen.append((op, sub))
        if obj["metadata"]["name"] == "forbidden":
            raise StatusError(403, "Forbidden", "no")
        obj["metadata"].setdefault("annotations", {})["admitted"] = op

    reg.add_admission(plugin)
    cm = reg.create(cms, "default", {"metadata": {"name": "a"}})
    assert cm["metadata"]["annotations"] == {"admitted": "CREATE"}
    raises(403, reg.create, cms, "default", {"metadata": {"name": "forbidden"}})
    updated = reg.update(cms, "default", "a", {**cm, "data": {"k": "v"}})
    assert updated["metadata"]["annotations"] == {"admitted": "UPDATE"}
    reg.delete(cms, "default", "a")
    assert [op for op, _ in seen] == ["CREATE", "CREATE", "UPDATE", "DELETE"]


# -- CRDs ------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def crd(versions: tuple[str, ...] = ("v1",), storage: str = "v1") -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {
                "plural": "widgets",
                "kind": "Widget",
                "shortNames": ["wd"],
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": v == storage,
                    "schema": {"openAPIV3Schema": SCHEMA},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}
                    ],
                }
                for v in versions
            ],
        },
    }


def crd_rt(catalog: Catalog) -> ResourceType:
    return rt(catalog, "apiextensions.k8s.io", "v1", "customresourcedefinitions")


def test_crd_registration_and_status(reg: Registry, catalog: Catalog) -> None:
    gen = catalog.generation
    out = reg.create(crd_rt(catalog), None, crd(("v1", "v1beta1"), "v1"))
    assert catalog.generation > gen
    widget = rt(catalog, "example.com", "v1", "widgets")
    assert widget.is_crd and widget.namespaced and widget.kind == "Widget"
    assert widget.short_names == ("wd",) and widget.categories == ("all",)
    assert widget.subresources == ("status",) and widget.storage_version == "v1"
    assert widget.schema == SCHEMA and widget.printer_columns[0]["name"] == "Replicas"
    assert rt(catalog, "example.com", "v1beta1", "widgets").storage_version == "v1"
    status = out["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "NamesAccepted": "True",
        "Established": "True",
    }
    assert status["acceptedNames"]["kind"] == "Widget"
    assert status["storedVersions"] == ["v1"]


def test_invalid_crds_are_422(reg: Registry, catalog: Catalog) -> None:
    two_storage = crd(("v1", "v2"))
    for v in two_storage["spec"]["versions"]:
        v["storage"] = True
    err = raises(422, reg.create, crd_rt(catalog), None, two_storage)
    assert "exactly one version marked as storage version" in err.message
    no_plural = crd()
    del no_plural["spec"]["names"]["plural"]
    err = raises(422, reg.create, crd_rt(catalog), None, no_plural)
    assert any(c.field == "spec.names.plural" for c in err.causes)
    assert catalog.get("example.com", "v1", "widgets") is None


def test_custom_resources_use_schema_hooks(catalog: Catalog) -> None:
    calls: list[str] = []

    def validator(rt_: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
        calls.append("validate")
        replicas = (obj.get("spec") or {}).get("replicas")
        if replicas is not None and not isinstance(replicas, int):
            return [
                Cause(
                    "FieldValueTypeInvalid",
                    'Invalid value: "string": spec.replicas in body must be of type integer',
                    "spec.replicas",
                )
            ]
        return []

    def defaulter(rt_: ResourceType, obj: Obj) -> None:
        calls.append("default")
        obj.setdefault("spec", {}).setdefault("replicas", 1)

    reg = Registry(catalog, schema_validator=validator, schema_defaulter=defaulter)
    reg.create(crd_rt(catalog), None, crd(("v1", "v1beta1")))
    widgets = rt(catalog, "example.com", "v1", "widgets")
    w = reg.create(widgets, "default", {"metadata": {"name": "w"}, "status": {"x": 1}})
    assert calls == ["default", "validate"]
    assert w["spec"] == {"replicas": 1} and "status" not in w
    assert w["apiVersion"] == "example.com/v1" and w["kind"] == "Widget"
    err = raises(
        422,
        reg.create,
        widgets,
        "default",
        {"metadata": {"name": "bad"}, "spec": {"replicas": "x"}},
    )
    assert err.message.startswith('Widget.example.com "bad" is invalid: spec.replicas:')
    beta = rt(catalog, "example.com", "v1beta1", "widgets")
    assert reg.get(beta, "default", "w")["apiVersion"] == "example.com/v1beta1"
    assert reg.list(beta, "default").items[0]["apiVersion"] == "example.com/v1beta1"
    st = reg.update(widgets, "default", "w", {**w, "status": {"ready": True}}, subresource="status")
    assert st["status"] == {"ready": True} and st["metadata"]["generation"] == 1
    raises(415, reg.patch, widgets, "default", "w", "strategic", {"spec": {"replicas": 2}})


def test_deleting_crd_removes_objects_and_types(reg: Registry, catalog: Catalog) -> None:
    reg.create(crd_rt(catalog), None, crd())
    widgets = rt(catalog, "example.com", "v1", "widgets")
    reg.create(widgets, "default", {"metadata": {"name": "w"}})
    watch = reg.watch(widgets, None)
    reg.delete(crd_rt(catalog), None, "widgets.example.com")
    assert catalog.get("example.com", "v1", "widgets") is None
    assert reg.storage.list("/example.com/widgets/") == []
    assert watch.closed  # type: ignore[attr-defined]


def test_crd_update_changes_served_versions(reg: Registry, catalog: Catalog) -> None:
    created = reg.create(crd_rt(catalog), None, crd(("v1", "v1beta1")))
    spec = {
        **created["spec"],
        "versions": [v for v in created["spec"]["versions"] if v["name"] == "v1"],
    }
    reg.update(crd_rt(catalog), None, "widgets.example.com", {**created, "spec": spec})
    assert catalog.get("example.com", "v1beta1", "widgets") is None
    assert catalog.get("example.com", "v1", "widgets") is not None


def test_sqlite_restart_keeps_everything(tmp_path: Path) -> None:
    path = str(tmp_path / "r.sqlite3")
    catalog = Catalog()
    reg = Registry(catalog, SqliteStorage(path))
    reg.create(crd_rt(catalog), None, crd())
    widgets = rt(catalog, "example.com", "v1", "widgets")
    reg.create(widgets, "default", {"metadata": {"name": "w"}})
    cms = rt(catalog, "", "v1", "configmaps")
    reg.create(cms, "default", {"metadata": {"name": "keep"}})
    reg.create(cms, "default", {"metadata": {"name": "newest"}})
    reg.delete(cms, "default", "newest")
    last_rv = reg.resource_version
    ns_uid = reg.get(rt(catalog, "", "v1", "namespaces"), None, "default")["metadata"]["uid"]
    reg.close()

    catalog2 = Catalog()
    reg2 = Registry(catalog2, SqliteStorage(path))
    assert reg2.resource_version == last_rv
    assert (
        reg2.get(rt(catalog2, "", "v1", "namespaces"), None, "default")["metadata"]["uid"] == ns_uid
    )
    widgets2 = rt(catalog2, "example.com", "v1", "widgets")
    assert reg2.get(widgets2, "default", "w")["kind"] == "Widget"
    assert reg2.get(rt(catalog2, "", "v1", "configmaps"), "default", "keep")
    created = reg2.create(
        rt(catalog2, "", "v1", "configmaps"), "default", {"metadata": {"name": "n"}}
    )
    assert int(created["metadata"]["resourceVersion"]) == last_rv + 1
    # History from before the restart is gone: watching from an old rv is 410.
    raises(410, reg2.watch, widgets2, None, WatchOptions(resource_version="1"))
    reg2.close()


# -- robustness: any body gives a StatusError below 500, never another exception ------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "image",
                    "ports",
                    "port",
                    "spec",
                    "containers",
                    "resources",
                    "template",
                    "selector",
                    "matchLabels",
                    "type",
                    "data",
                    "labels",
                    "restartPolicy",
                    "metadata",
                    "targetPort",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    resource=st.sampled_from(
        [
            ("", "pods"),
            ("", "services"),
            ("apps", "deployments"),
            ("batch", "jobs"),
            ("", "configmaps"),
            ("", "secrets"),
        ]
    ),
    spec=_json,
    data=_json,
    meta=st.dictionaries(
        st.sampled_from(["labels", "annotations", "finalizers", "ownerReferences", "generateName"]),
        _json,
        max_size=2,
    ),
)
def test_random_bodies_never_crash(
    resource: tuple[str, str], spec: Any, data: Any, meta: Obj
) -> None:
    catalog = Catalog()
    reg = Registry(catalog)
    rtype = rt(catalog, resource[0], "v1", resource[1])
    body = {"metadata": {"name": "x", **meta}, "spec": spec, "data": data}
    try:
        reg.create(rtype, "default", body)
    except StatusError as exc:
        assert exc.code < 500, exc.status
    try:
        reg.patch(rtype, "default", "x", "merge", {"spec": spec, "metadata": meta})
    except StatusError as exc:
        assert exc.code < 500, exc.status
