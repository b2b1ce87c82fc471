"""Watches: initial state, replay from a resourceVersion, 410, selector transitions,
bookmarks, slow watchers, fault injection, and list == replay of events (property test)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import Watch
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import DeleteOptions, ListOptions, WatchEvent, WatchOptions
from kuberay_py.sandbox.registry.watchhub import HubWatch

Obj = dict[str, Any]


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def reg(catalog: Catalog) -> Registry:
    return Registry(catalog, bookmark_interval=0.05)


@pytest.fixture
def cms(catalog: Catalog) -> ResourceType:
    found = catalog.get("", "v1", "configmaps")
    assert found is not None
    return found


def drain(w: Watch) -> list[WatchEvent]:
    assert isinstance(w, HubWatch)
    return w.drain_nowait()


def summary(events: list[WatchEvent]) -> list[tuple[str, str]]:
    return [(e.type, e.object["metadata"].get("name", "")) for e in events]


def cm(name: str, ns: str = "default", **labels: str) -> Obj:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}}


async def next_event(w: Watch, timeout: float = 2.0) -> WatchEvent:
    return await asyncio.wait_for(w.__anext__(), timeout)


def test_initial_state_then_changes(reg: Registry, cms: ResourceType) -> None:
    reg.create(cms, "default", cm("a"))
    for rv in (None, "0"):
        w = reg.watch(cms, "default", WatchOptions(resource_version=rv))
        assert summary(drain(w)) == [("ADDED", "a")]
        w.close()
    w = reg.watch(cms, "default")
    drain(w)
    obj = reg.create(cms, "default", cm("b"))
    upd = reg.update(cms, "default", "b", {**obj, "data": {"k": "v"}})
    deleted = reg.delete(cms, "default", "b")
    events = drain(w)
    assert summary(events) == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b")]
    assert events[1].object is reg.get(cms, "default", "a") or events[1].object == upd
    # DELETED carries the last state with a fresh resourceVersion.
    assert int(events[2].object["metadata"]["resourceVersion"]) > int(
        upd["metadata"]["resourceVersion"]
    )
    assert events[2].object == deleted


def test_send_initial_events_false_starts_now(reg: Registry, cms: ResourceType) -> None:
    reg.create(cms, "default", cm("a"))
    w = reg.watch(cms, None, WatchOptions(send_initial_events=False))
    reg.create(cms, "default", cm("b"))
    assert summary(drain(w)) == [("ADDED", "b")]


def test_watch_list_ends_initial_events_with_bookmark(reg: Registry, cms: ResourceType) -> None:
    reg.create(cms, "default", cm("a"))
    w = reg.watch(
        cms, None, WatchOptions(send_initial_events=True, allow_bookmarks=True, resource_version="")
    )
    events = drain(w)
    assert summary(events)[0] == ("ADDED", "a")
    assert events[1].type == "BOOKMARK"
    assert events[1].object["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert events[1].object["metadata"]["resourceVersion"] == str(reg.resource_version)


def test_watch_from_resource_version_replays_history(reg: Registry, cms: ResourceType) -> None:
    a = reg.create(cms, "default", cm("a"))
    reg.create(cms, "default", cm("b"))
    reg.delete(cms, "default", "a")
    w = reg.watch(cms, None, WatchOptions(resource_version=a["metadata"]["resourceVersion"]))
    assert summary(drain(w)) == [("ADDED", "b"), ("DELETED", "a")]
    latest = reg.watch(cms, None, WatchOptions(resource_version=str(reg.resource_version)))
    assert drain(latest) == []
    ahead = reg.watch(cms, None, WatchOptions(resource_version=str(reg.resource_version + 1)))
    reg.create(cms, "default", cm("skipped"))
    reg.create(cms, "default", cm("seen"))
    assert summary(drain(ahead)) == [("ADDED", "seen")]


def test_compacted_and_overflowed_history_is_gone(catalog: Catalog, cms: ResourceType) -> None:
    reg = Registry(catalog, history_size=3)
    first = reg.create(cms, "default", cm("a"))
    rv_a = int(first["metadata"]["resourceVersion"])
    before = str(rv_a - 1)
    reg.watch(cms, None, WatchOptions(resource_version=before))  # still retained
    for name in "bcd":
        reg.create(cms, "default", cm(name))
    # The ring kept b, c, d: a watch from a's rv misses nothing, one from before it would.
    assert summary(drain(reg.watch(cms, None, WatchOptions(resource_version=str(rv_a))))) == [
        ("ADDED", "b"),
        ("ADDED", "c"),
        ("ADDED", "d"),
    ]
    with pytest.raises(StatusError) as info:
        reg.watch(cms, None, WatchOptions(resource_version=before))
    assert info.value.code == 410 and info.value.reason == "Expired"
    assert info.value.message == f"too old resource version: {before} ({rv_a})"
    current = str(reg.resource_version)
    reg.compact()
    with pytest.raises(StatusError):
        reg.watch(cms, None, WatchOptions(resource_version=str(int(current) - 1)))
    assert drain(reg.watch(cms, None, WatchOptions(resource_version=current))) == []
    with pytest.raises(StatusError) as bad:
        reg.watch(cms, None, WatchOptions(resource_version="abc"))
    assert bad.value.code == 400


def test_label_selector_transitions(reg: Registry, cms: ResourceType) -> None:
    w = reg.watch(cms, None, WatchOptions(label_selector="app=web"))
    obj = reg.create(cms, "default", cm("x", app="db"))
    assert drain(w) == []
    obj = reg.update(
        cms, "default", "x", {**obj, "metadata": {**obj["metadata"], "labels": {"app": "web"}}}
    )
    obj = reg.update(cms, "default", "x", {**obj, "data": {"k": "v"}})
    moved = reg.update(
        cms, "default", "x", {**obj, "metadata": {**obj["metadata"], "labels": {"app": "db"}}}
    )
    events = drain(w)
    assert summary(events) == [("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]
    # The DELETED shows the last matching content, at the change's resourceVersion.
    assert events[2].object["metadata"]["labels"] == {"app": "web"}
    assert events[2].object["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]
    reg.delete(cms, "default", "x")
    assert drain(w) == []


def test_namespace_name_and_field_filters(
    reg: Registry, catalog: Catalog, cms: ResourceType
) -> None:
    nss = catalog.get("", "v1", "namespaces")
    assert nss is not None
    reg.create(nss, None, {"metadata": {"name": "other"}})
    in_ns = reg.watch(cms, "other")
    by_name = reg.watch(cms, None, WatchOptions(name="b"))
    by_field = reg.watch(cms, None, WatchOptions(field_selector="metadata.name=a"))
    for ns in ("default", "other"):
        for name in "ab":
            reg.create(cms, ns, cm(name, ns))
    assert [
        (e.object["metadata"]["namespace"], e.object["metadata"]["name"]) for e in drain(in_ns)
    ] == [("other", "a"), ("other", "b")]
    assert [e.object["metadata"]["namespace"] for e in drain(by_name)] == ["default", "other"]
    assert [e.object["metadata"]["namespace"] for e in drain(by_field)] == ["default", "other"]


def test_watchers_share_the_stored_object(reg: Registry, cms: ResourceType) -> None:
    w1, w2 = reg.watch(cms, None), reg.watch(cms, None)
    created = reg.create(cms, "default", cm("a"))
    (e1,), (e2,) = drain(w1), drain(w2)
    assert e1.object is e2.object is created


def test_requested_version_in_watch_events(reg: Registry, catalog: Catalog) -> None:
    crd_rt = catalog.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crd_rt is not None
    reg.create(
        crd_rt,
        None,
        {
            "metadata": {"name": "things.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"plural": "things", "kind": "Thing"},
                "versions": [
                    {"name": "v1", "served": True, "storage": True},
                    {"name": "v1alpha1", "served": True, "storage": False},
                ],
            },
        },
    )
    alpha = catalog.get("example.com", "v1alpha1", "things")
    assert alpha is not None
    w = reg.watch(alpha, None)
    reg.create(alpha, None, {"metadata": {"name": "t"}})
    (event,) = drain(w)
    assert event.object["apiVersion"] == "example.com/v1alpha1"


async def test_async_iteration_and_bookmarks(reg: Registry, cms: ResourceType) -> None:
    w = reg.watch(
        cms, None, WatchOptions(resource_version=str(reg.resource_version), allow_bookmarks=True)
    )
    reg.create(cms, "default", cm("a"))
    first = await next_event(w)
    assert first.type == "ADDED"
    bookmark = await next_event(w)  # nothing else happens: a bookmark arrives within ~50 ms
    assert bookmark.type == "BOOKMARK"
    assert bookmark.object == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(reg.resource_version)},
    }
    waiting = asyncio.ensure_future(next_event(w))
    await asyncio.sleep(0)
    reg.create(cms, "default", cm("b"))
    got = await waiting
    assert got.type in ("ADDED", "BOOKMARK")
    w.close()
    with pytest.raises(StopAsyncIteration):
        await next_event(w)


async def test_no_bookmarks_unless_allowed(reg: Registry, cms: ResourceType) -> None:
    w = reg.watch(cms, None, WatchOptions(resource_version=str(reg.resource_version)))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(w.__anext__(), 0.2)


async def test_drop_watches_ends_streams(
    reg: Registry, catalog: Catalog, cms: ResourceType
) -> None:
    pods = catalog.get("", "v1", "pods")
    assert pods is not None
    w_cm, w_pod = reg.watch(cms, None), reg.watch(pods, None)
    drain(w_cm)
    drain(w_pod)
    pending = asyncio.ensure_future(w_cm.__anext__())
    await asyncio.sleep(0)
    assert reg.drop_watches(cms) == 1
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 1)
    assert not w_pod.closed  # type: ignore[attr-defined]
    assert reg.drop_watches() == 1


def test_slow_watcher_is_closed_without_blocking_writers(
    catalog: Catalog, cms: ResourceType
) -> None:
    reg = Registry(catalog, watch_queue_limit=10)
    slow = reg.watch(cms, None, WatchOptions(resource_version=str(reg.resource_version)))
    for i in range(25):
        reg.create(cms, "default", cm(f"c{i}"))
    assert slow.closed and slow.overflowed  # type: ignore[attr-defined]
    assert reg.hub.watcher_count() == 0
    # The client re-watches from the last rv it saw and is replayed from history.
    again = reg.watch(cms, None, WatchOptions(resource_version=str(reg.resource_version - 5)))
    assert len(drain(again)) == 5


def test_pod_graceful_deletion_events(reg: Registry, catalog: Catalog) -> None:
    pods = catalog.get("", "v1", "pods")
    assert pods is not None
    w = reg.watch(pods, None, WatchOptions(resource_version=str(reg.resource_version)))
    reg.create(
        pods,
        "default",
        {
            "metadata": {"name": "p"},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "i:1"}]},
        },
    )
    reg.delete(pods, "default", "p")
    reg.delete(pods, "default", "p", DeleteOptions(grace_period_seconds=0))
    assert summary(drain(w)) == [("ADDED", "p"), ("MODIFIED", "p"), ("DELETED", "p")]


# -- property: list == replay of watch events -------------------------------------------------

_names = st.sampled_from(["a", "b", "c", "d"])
_ops = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "label", "delete", "finalize", "unfinalize"]),
        _names,
        st.integers(0, 3),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, selector=st.sampled_from([None, "tier=1", "tier!=2"]))
def test_list_equals_replay_of_watch_events(
    ops: list[tuple[str, str, int]], selector: str | None
) -> None:
    catalog = Catalog()
    reg = Registry(catalog)
    cms = catalog.get("", "v1", "configmaps")
    assert cms is not None
    start = str(reg.resource_version)
    live = reg.watch(cms, None, WatchOptions(label_selector=selector, resource_version=start))
    for op, name, n in ops:
        try:
            if op == "create":
                reg.create(cms, "default", {"metadata": {"name": name, "labels": {"tier": str(n)}}})
                continue
            current = reg.get(cms, "default", name)
            meta = current["metadata"]
            if op == "update":
                reg.update(cms, "default", name, {**current, "data": {"n": str(n)}})
            elif op == "label":
                reg.update(
                    cms,
                    "default",
                    name,
                    {**current, "metadata": {**meta, "labels": {"tier": str(n)}}},
                )
            elif op == "finalize":
                reg.update(
                    cms, "default", name, {**current, "metadata": {**meta, "finalizers": ["keep"]}}
                )
            elif op == "unfinalize":
                reg.update(
                    cms, "default", name, {**current, "metadata": {**meta, "finalizers": []}}
                )
            else:
                reg.delete(cms, "default", name)
        except StatusError:
            pass
    replayed = reg.watch(cms, None, WatchOptions(label_selector=selector, resource_version=start))
    for w in (live, replayed):
        state: dict[str, Obj] = {}
        last_rv = int(start)
        for event in drain(w):
            rv = int(event.object["metadata"]["resourceVersion"])
            assert rv > last_rv, "events arrive in resourceVersion order"
            last_rv = rv
            key = event.object["metadata"]["name"]
            if event.type == "DELETED":
                assert key in state
                del state[key]
            else:
                assert (key in state) == (event.type == "MODIFIED")
                state[key] = event.object
        listed = reg.list(cms, None, ListOptions(label_selector=selector))
        assert {o["metadata"]["name"]: o for o in listed.items} == state
