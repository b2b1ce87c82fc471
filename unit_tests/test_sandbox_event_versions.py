"""core/v1 and events.k8s.io/v1 Events are one stored resource seen through two versions.

Writes through either API are read, listed, watched, selected and patched through the
other with kube's field conversion (pkg/apis/events/v1 conversion.go); a CRD's versions
use the same path with only apiVersion changing.
"""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.sandbox.registry import conversion
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import ListOptions, WatchEvent, WatchOptions

NS = "default"
STAMP = "2024-05-01T10:00:00.000000Z"
POD_REF = {"kind": "Pod", "namespace": NS, "name": "web-0", "uid": "u-1", "apiVersion": "v1"}


@pytest.fixture
def reg() -> Registry:
    return Registry(Catalog())


def _rt(reg: Registry, group: str, version: str = "v1", resource: str = "events") -> ResourceType:
    found = reg.catalog.get(group, version, resource)
    assert found is not None
    return found


def _new_event(name: str = "web-0.1") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "eventTime": STAMP,
        "regarding": dict(POD_REF),
        "related": {"kind": "Node", "name": "node-1", "apiVersion": "v1"},
        "note": "pulled the image",
        "reason": "Pulled",
        "type": "Normal",
        "action": "Pull",
        "reportingController": "kuberay-operator",
        "reportingInstance": "kuberay-operator-abc",
        "series": {"count": 2, "lastObservedTime": STAMP},
    }


def _core_event(name: str = "web-0.2") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "involvedObject": dict(POD_REF),
        "message": "Successfully assigned default/web-0 to node-1",
        "reason": "Scheduled",
        "type": "Normal",
        "source": {"component": "default-scheduler", "host": "node-1"},
        "firstTimestamp": "2024-05-01T10:00:00Z",
        "lastTimestamp": "2024-05-01T10:00:05Z",
        "count": 3,
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-node-1",
    }


def _drain(w: Any) -> list[WatchEvent]:
    events: list[WatchEvent] = w.drain_nowait()
    return events


def test_events_v1_create_reads_as_core(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    created = reg.create(new, NS, _new_event())
    assert created["apiVersion"] == "events.k8s.io/v1" and created["note"] == "pulled the image"
    got = reg.get(core, NS, "web-0.1")
    assert got["apiVersion"] == "v1" and got["kind"] == "Event"
    assert got["involvedObject"] == POD_REF
    assert got["message"] == "pulled the image"
    assert got["reportingComponent"] == "kuberay-operator"
    assert got["reportingInstance"] == "kuberay-operator-abc"
    assert got["related"] == {"kind": "Node", "name": "node-1", "apiVersion": "v1"}
    assert got["series"] == {"count": 2, "lastObservedTime": STAMP}
    assert (got["eventTime"], got["action"], got["reason"], got["type"]) == (
        STAMP,
        "Pull",
        "Pulled",
        "Normal",
    )
    for events_only in ("regarding", "note", "reportingController", "deprecatedSource"):
        assert events_only not in got
    # One object: same uid and resourceVersion through both.
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    # Listing through core finds it; no second copy exists.
    assert [e["metadata"]["name"] for e in reg.list(core, NS).items] == ["web-0.1"]
    assert [e["metadata"]["name"] for e in reg.list(new, None).items] == ["web-0.1"]


def test_core_create_reads_as_events_v1(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    reg.create(core, NS, _core_event())
    got = reg.get(new, NS, "web-0.2")
    assert got["apiVersion"] == "events.k8s.io/v1"
    assert got["regarding"] == POD_REF
    assert got["note"] == "Successfully assigned default/web-0 to node-1"
    assert got["deprecatedSource"] == {"component": "default-scheduler", "host": "node-1"}
    assert got["deprecatedFirstTimestamp"] == "2024-05-01T10:00:00Z"
    assert got["deprecatedLastTimestamp"] == "2024-05-01T10:00:05Z"
    assert got["deprecatedCount"] == 3
    assert got["reportingController"] == "default-scheduler"
    assert got["reportingInstance"] == "default-scheduler-node-1"
    for core_only in ("involvedObject", "message", "source", "count", "reportingComponent"):
        assert core_only not in got
    listed = reg.list(new, NS).items
    assert [e["regarding"]["name"] for e in listed] == ["web-0"]


def test_conversion_round_trips_both_ways() -> None:
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", **_new_event()}
    core = conversion.convert(event, "v1")
    assert conversion.convert(core, "events.k8s.io/v1") == event
    plain = {"apiVersion": "v1", "kind": "Event", **_core_event()}
    assert conversion.convert(conversion.convert(plain, "events.k8s.io/v1"), "v1") == plain
    assert conversion.convert(plain, "v1") is plain
    with pytest.raises(conversion.ConversionError):
        conversion.convert({"apiVersion": "v1", "kind": "Pod"}, "apps/v1")


def test_field_selectors_through_both_versions(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    reg.create(new, NS, _new_event("a"))
    other = _new_event("b")
    other["regarding"] = {**POD_REF, "name": "web-1", "uid": "u-2"}
    reg.create(new, NS, other)
    reg.create(core, NS, _core_event("c"))
    describe = f"involvedObject.name=web-0,involvedObject.namespace={NS},involvedObject.uid=u-1"
    names = [
        e["metadata"]["name"]
        for e in reg.list(core, NS, ListOptions(field_selector=describe)).items
    ]
    assert names == ["a", "c"]
    by_regarding = "regarding.name=web-1,regarding.kind=Pod"
    got = reg.list(new, NS, ListOptions(field_selector=by_regarding)).items
    assert [e["metadata"]["name"] for e in got] == ["b"]
    assert got[0]["regarding"]["uid"] == "u-2"
    # A core-created event is found by the events.k8s.io names of its fields, and back.
    sched = "reportingController=default-scheduler"
    assert [e["note"] for e in reg.list(new, NS, ListOptions(field_selector=sched)).items] == [
        "Successfully assigned default/web-0 to node-1"
    ]
    ours = "reportingComponent=kuberay-operator,reason=Pulled"
    got = reg.list(core, NS, ListOptions(field_selector=ours)).items
    assert sorted(e["metadata"]["name"] for e in got) == ["a", "b"]
    assert all(e["apiVersion"] == "v1" and "involvedObject" in e for e in got)


def test_watch_sees_the_other_versions_writes_converted(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    core_watch = reg.watch(core, NS, WatchOptions(resource_version=str(reg.resource_version)))
    new_watch = reg.watch(
        new,
        NS,
        WatchOptions(
            resource_version=str(reg.resource_version), field_selector="regarding.name=web-0"
        ),
    )
    reg.create(new, NS, _new_event("a"))
    reg.create(core, NS, _core_event("c"))
    reg.patch(core, NS, "c", "merge", {"count": 4})
    reg.delete(new, NS, "a")
    seen_core = _drain(core_watch)
    assert [(e.type, e.object["metadata"]["name"]) for e in seen_core] == [
        ("ADDED", "a"),
        ("ADDED", "c"),
        ("MODIFIED", "c"),
        ("DELETED", "a"),
    ]
    assert all(e.object["apiVersion"] == "v1" for e in seen_core)
    assert seen_core[0].object["message"] == "pulled the image"
    assert "note" not in seen_core[0].object
    seen_new = _drain(new_watch)
    assert [(e.type, e.object["metadata"]["name"]) for e in seen_new] == [
        ("ADDED", "a"),
        ("ADDED", "c"),
        ("MODIFIED", "c"),
        ("DELETED", "a"),
    ]
    assert all(e.object["apiVersion"] == "events.k8s.io/v1" for e in seen_new)
    assert seen_new[1].object["regarding"] == POD_REF
    assert seen_new[2].object["deprecatedCount"] == 4
    assert "count" not in seen_new[2].object
    # Initial state through a new watch is converted too.
    initial = _drain(reg.watch(new, NS, WatchOptions()))
    assert [(e.type, e.object["note"]) for e in initial] == [
        ("ADDED", "Successfully assigned default/web-0 to node-1")
    ]


def test_watch_selector_transitions_use_the_watchers_version(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    reg.create(core, NS, _core_event("c"))
    w = reg.watch(
        new,
        NS,
        WatchOptions(resource_version=str(reg.resource_version), field_selector="reason=BackOff"),
    )
    reg.patch(core, NS, "c", "merge", {"reason": "BackOff"})
    reg.patch(core, NS, "c", "merge", {"reason": "Pulled"})
    seen = _drain(w)
    assert [e.type for e in seen] == ["ADDED", "DELETED"]
    assert all(e.object["apiVersion"] == "events.k8s.io/v1" for e in seen)
    assert seen[1].object["reason"] == "BackOff" and "regarding" in seen[1].object


def test_patch_via_events_v1_then_read_via_core(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    reg.create(new, NS, _new_event())
    patched, created = reg.patch(
        new,
        NS,
        "web-0.1",
        "merge",
        {"series": {"count": 7, "lastObservedTime": "2024-05-01T10:05:00.000000Z"}, "note": "x"},
    )
    assert not created and patched["apiVersion"] == "events.k8s.io/v1"
    assert patched["series"]["count"] == 7 and patched["note"] == "x"
    got = reg.get(core, NS, "web-0.1")
    assert got["series"] == {"count": 7, "lastObservedTime": "2024-05-01T10:05:00.000000Z"}
    assert got["message"] == "x" and "note" not in got
    # A JSON patch addresses the requested version's field names.
    reg.patch(core, NS, "web-0.1", "json", [{"op": "replace", "path": "/message", "value": "y"}])
    assert reg.get(new, NS, "web-0.1")["note"] == "y"
    with pytest.raises(StatusError) as info:
        reg.patch(new, NS, "web-0.1", "json", [{"op": "replace", "path": "/message", "value": "z"}])
    assert info.value.code in (422, 400)


def test_update_through_core_keeps_events_fields_and_noop_keeps_rv(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    reg.create(new, NS, _new_event())
    got = reg.get(core, NS, "web-0.1")
    same = reg.update(core, NS, "web-0.1", got)
    assert same["metadata"]["resourceVersion"] == got["metadata"]["resourceVersion"]
    changed = dict(got, message="updated through core", count=9)
    updated = reg.update(core, NS, "web-0.1", changed)
    assert updated["metadata"]["resourceVersion"] != got["metadata"]["resourceVersion"]
    view = reg.get(new, NS, "web-0.1")
    assert view["note"] == "updated through core" and view["deprecatedCount"] == 9
    assert view["reportingController"] == "kuberay-operator"
    # An events.k8s.io update in its own shape works too, with a stale rv refused.
    view["note"] = "again"
    assert reg.update(new, NS, "web-0.1", view)["note"] == "again"
    with pytest.raises(StatusError) as info:
        reg.update(new, NS, "web-0.1", view)
    assert info.value.code == 409


def test_delete_through_either_version_and_name_clash(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    reg.create(core, NS, _core_event("c"))
    with pytest.raises(StatusError) as info:
        reg.create(new, NS, _new_event("c"))
    assert info.value.code == 409
    gone = reg.delete(new, NS, "c")
    assert gone["apiVersion"] == "events.k8s.io/v1" and gone["note"].startswith("Successfully")
    for rt in (core, new):
        with pytest.raises(StatusError) as info:
            reg.get(rt, NS, "c")
        assert info.value.code == 404


def test_catalog_describes_the_shared_storage(reg: Registry) -> None:
    new, core = _rt(reg, "events.k8s.io"), _rt(reg, "")
    assert new.storage_resource == core.storage_resource == ("", "events")
    assert new.stored_api_version == core.stored_api_version == "v1"
    assert core.is_storage_version and not new.is_storage_version
    assert new.storage_key(NS, "x") == core.storage_key(NS, "x") == "/core/events/default/x"


CRD = {
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": [
            {"name": "v1", "served": True, "storage": True},
            {"name": "v1beta1", "served": True, "storage": False},
        ],
    },
}


def test_crd_versions_share_storage_through_the_same_conversion(reg: Registry) -> None:
    crd_rt = _rt(reg, "apiextensions.k8s.io", resource="customresourcedefinitions")
    reg.create(crd_rt, None, CRD)
    v1, beta = (
        _rt(reg, "example.com", "v1", "widgets"),
        _rt(reg, "example.com", "v1beta1", "widgets"),
    )
    assert (
        beta.stored_api_version == "example.com/v1" and beta.storage_resource == v1.storage_resource
    )
    w = reg.watch(v1, NS, WatchOptions(resource_version=str(reg.resource_version)))
    created = reg.create(beta, NS, {"metadata": {"name": "w"}, "spec": {"size": 1}})
    assert created["apiVersion"] == "example.com/v1beta1"
    assert reg.get(v1, NS, "w")["apiVersion"] == "example.com/v1"
    patched, _ = reg.patch(beta, NS, "w", "merge", {"spec": {"size": 2}})
    assert patched["apiVersion"] == "example.com/v1beta1" and patched["spec"]["size"] == 2
    seen = _drain(w)
    assert [(e.type, e.object["apiVersion"], e.object["spec"]["size"]) for e in seen] == [
        ("ADDED", "example.com/v1", 1),
        ("MODIFIED", "example.com/v1", 2),
    ]
