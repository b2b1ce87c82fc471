"""Reflector + SharedInformer state machine against a scripted list/watch source.

The e2e tests (e2e/test_informers_*.py) prove the same behaviour against the sandbox;
here each transition is driven exactly: which request follows a 410, a dropped
stream, a 429, a silent stream.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.informers import (
    Backoff,
    DeletedFinalStateUnknown,
    SharedInformer,
    SharedInformerFactory,
)
from kuberay_py.kube import (
    CONFIGMAPS,
    ConnectionFailure,
    Gone,
    Resource,
    TooManyRequests,
    WatchEvent,
    error_from_status,
)
from kuberay_py.runtime.testing import eventually

END = object()


class FakeWatch:
    def __init__(self, rv: str | None) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.resource_version = rv
        self.closed = False

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[WatchEvent]:
        while True:
            item = await self.queue.get()
            if item is END or self.closed:
                return
            if isinstance(item, Exception):
                raise item
            rv = item.object["metadata"].get("resourceVersion")
            if rv:
                self.resource_version = rv
            yield item

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(END)


class FakeAPI:
    """State for one resource, a call log, and the open watch streams."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.rv = 10
        self.calls: list[tuple[str, str | None]] = []
        self.list_errors: list[Exception] = []
        self.watches: list[FakeWatch] = []
        self.watch_errors: list[Exception] = []
        self.list_gate: asyncio.Event | None = None

    def put(self, name: str, **data: Any) -> dict[str, Any]:
        self.rv += 1
        obj = {"metadata": {"namespace": "ns", "name": name, "resourceVersion": str(self.rv)}}
        obj.update(data)
        self.objects[name] = obj
        return copy.deepcopy(obj)

    async def list_pages(
        self, res: Resource, namespace: str | None = None, **kw: Any
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(("list", kw.get("resource_version")))
        if self.list_gate is not None:
            await self.list_gate.wait()
        if self.list_errors:
            raise self.list_errors.pop(0)
        items = [copy.deepcopy(o) for o in self.objects.values()]
        size = kw.get("page_size") or len(items) or 1
        for i in range(0, max(len(items), 1), size):
            last = i + size >= len(items)
            yield {
                "items": items[i : i + size],
                "metadata": {"resourceVersion": str(self.rv), "continue": "" if last else "t"},
            }

    def watch(self, res: Resource, namespace: str | None = None, **kw: Any) -> Any:
        self.calls.append(("watch", kw.get("resource_version")))
        w = FakeWatch(kw.get("resource_version"))
        if self.watch_errors:
            w.queue.put_nowait(self.watch_errors.pop(0))
        self.watches.append(w)
        return w

    def remove(self, name: str) -> dict[str, Any]:
        """Delete like the API server: the DELETED event carries a fresh resourceVersion."""
        self.rv += 1
        obj = self.objects.pop(name)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(obj)

    def send(self, etype: str, obj: dict[str, Any]) -> None:
        self.watches[-1].queue.put_nowait(WatchEvent(etype, obj))

    def bookmark(self) -> None:
        self.rv += 1
        self.send("BOOKMARK", {"metadata": {"resourceVersion": str(self.rv)}})


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def add(self, obj: dict[str, Any]) -> None:
        self.events.append(("add", obj["metadata"]["name"]))

    def update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.events.append(
            ("update", (old["metadata"]["name"], new["metadata"]["resourceVersion"]))
        )

    def delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.events.append(("tombstone", obj.key))
        else:
            self.events.append(("delete", obj["metadata"]["name"]))


def fast_backoff() -> Backoff:
    return Backoff(initial=0.002, cap=0.01)


def informer_for(api: FakeAPI, **kw: Any) -> SharedInformer:
    kw.setdefault("registry", CollectorRegistry())
    kw.setdefault("backoff", fast_backoff())
    return SharedInformer(api, CONFIGMAPS, **kw)


@pytest.fixture
async def running() -> Any:
    started: list[SharedInformer] = []

    def start(inf: SharedInformer) -> SharedInformer:
        inf.start()
        started.append(inf)
        return inf

    yield start
    for inf in started:
        await inf.stop()


async def test_lists_then_watches_from_the_list_rv(running: Any) -> None:
    api = FakeAPI()
    api.put("a", managedFields=None)
    api.objects["a"]["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    api.put("b")
    rec = Recorder()
    inf = informer_for(api)
    inf.add_event_handler(rec.add, rec.update, rec.delete)
    running(inf)
    assert await inf.wait_for_sync(2)
    await eventually(lambda: len(api.watches) == 1)
    assert api.calls == [("list", "0"), ("watch", "12")]
    assert sorted(e for e in rec.events) == [("add", "a"), ("add", "b")]
    cached = inf.store.get("ns/a")
    assert cached is not None and "managedFields" not in cached["metadata"]
    assert cached["kind"] == "ConfigMap" and cached["apiVersion"] == "v1"

    api.send("ADDED", api.put("c"))
    api.send("MODIFIED", api.put("a", data={"k": "v"}))
    api.send("DELETED", api.remove("b"))
    await eventually(lambda: len(rec.events) == 5)
    assert rec.events[2:] == [("add", "c"), ("update", ("a", "14")), ("delete", "b")]
    assert sorted(inf.store.keys()) == ["ns/a", "ns/c"]
    assert inf.resource_version == "15"


async def test_dropped_stream_resumes_from_last_rv_including_bookmarks(running: Any) -> None:
    api = FakeAPI()
    api.put("a")
    inf = running(informer_for(api))
    await eventually(lambda: len(api.watches) == 1)
    api.send("ADDED", api.put("b"))
    api.bookmark()
    await eventually(lambda: inf.resource_version == "13")
    api.watches[-1].queue.put_nowait(END)  # server closed the stream
    await eventually(lambda: len(api.watches) == 2)
    assert api.calls == [("list", "0"), ("watch", "11"), ("watch", "13")]
    assert inf.reflector.relists_after_gone == 0


async def test_410_relists_with_quorum_read_and_emits_tombstones(running: Any) -> None:
    api = FakeAPI()
    api.put("keep")
    api.put("change")
    api.put("vanish")
    rec = Recorder()
    inf = informer_for(api)
    inf.add_event_handler(rec.add, rec.update, rec.delete)
    running(inf)
    await eventually(lambda: len(api.watches) == 1)
    rec.events.clear()
    # While "the watch was down": one changed, one deleted, one created.
    api.put("change", data={"x": "1"})
    del api.objects["vanish"]
    api.put("new")
    api.watches[-1].queue.put_nowait(error_from_status(410, {"kind": "Status", "code": 410}))
    await eventually(lambda: len(api.watches) == 2)
    assert api.calls[-2:] == [("list", ""), ("watch", str(api.rv))]
    assert sorted(rec.events) == [
        ("add", "new"),
        ("tombstone", "ns/vanish"),
        ("update", ("change", "14")),
    ]
    assert sorted(inf.store.keys()) == ["ns/change", "ns/keep", "ns/new"]
    assert inf.reflector.relists_after_gone == 1


async def test_429_and_connection_errors_rewatch_without_relisting(running: Any) -> None:
    api = FakeAPI()
    api.put("a")
    api.watch_errors = [
        TooManyRequests({"kind": "Status", "code": 429}),
        ConnectionFailure("reset"),
    ]
    inf = running(informer_for(api))
    await eventually(lambda: len(api.watches) == 3)
    assert api.calls == [("list", "0"), ("watch", "11"), ("watch", "11"), ("watch", "11")]
    assert inf.reflector.watch_failures == 2


async def test_failed_list_backs_off_and_expired_list_retries_as_quorum(running: Any) -> None:
    api = FakeAPI()
    api.put("a")
    api.list_errors = [ConnectionFailure("refused", sent=False), Gone({"code": 410})]
    inf = running(informer_for(api))
    assert await inf.wait_for_sync(2)
    assert [c for c in api.calls if c[0] == "list"] == [("list", "0"), ("list", "0"), ("list", "")]


async def test_short_empty_watch_counts_as_failure(running: Any) -> None:
    api = FakeAPI()
    inf = running(informer_for(api))
    await eventually(lambda: len(api.watches) == 1)
    api.watches[-1].queue.put_nowait(END)
    await eventually(lambda: len(api.watches) == 2)
    assert inf.reflector.watch_failures == 1
    assert "no events" in (inf.reflector.last_error or "")


async def test_watchdog_restarts_a_silent_watch(running: Any) -> None:
    api = FakeAPI()
    api.put("a")
    inf = running(informer_for(api, bookmark_interval=0.05, watchdog_margin=0.05))
    await eventually(lambda: len(api.watches) >= 2)
    assert inf.watchdog_restarts >= 1
    assert api.watches[0].closed
    assert all(c == ("watch", "11") for c in api.calls[1:])
    assert inf.reflector.relists_after_gone == 0


async def test_late_handler_gets_synthetic_adds_and_handler_errors_are_contained(
    running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api = FakeAPI()
    api.put("a")
    api.put("b")
    inf = running(informer_for(api, slow_handler_seconds=0.0))
    assert await inf.wait_for_sync(2)

    def boom(obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    bad = inf.add_event_handler(on_add=boom)
    rec = Recorder()
    with caplog.at_level(logging.WARNING, logger="kuberay_py.informers"):
        reg = inf.add_event_handler(rec.add, rec.update, rec.delete, name="recorder")
    assert sorted(rec.events) == [("add", "a"), ("add", "b")]
    assert bad.errors == 2
    assert reg.has_synced()
    assert any("must not block" in r.getMessage() for r in caplog.records)
    await eventually(lambda: len(api.watches) == 1)
    api.send("ADDED", api.put("c"))
    await eventually(lambda: ("add", "c") in rec.events)
    reg.remove()
    api.send("ADDED", api.put("d"))
    await eventually(lambda: inf.store.get("ns/d") is not None)
    assert ("add", "d") not in rec.events


async def test_stall_reporting_and_metrics(running: Any) -> None:
    now = [1000.0]
    registry = CollectorRegistry()
    api = FakeAPI()
    api.put("a")
    inf = running(informer_for(api, clock=lambda: now[0], registry=registry))
    assert await inf.wait_for_sync(2)
    assert inf.healthy() and inf.stalled_for() == 0.0
    labels = {"resource": "configmaps", "namespace": ""}
    assert registry.get_sample_value("informer_last_event_age_seconds", labels) == 0.0
    assert registry.get_sample_value("informer_cached_objects", labels) == 1.0
    now[0] += 100.0
    assert inf.stalled_for() == 100.0  # past the 90 s watchdog timeout
    assert inf.healthy()  # still within 2 x 90 s
    assert not inf.healthy(max_stall=50)
    now[0] += 100.0
    assert not inf.healthy()
    assert registry.get_sample_value("informer_last_event_age_seconds", labels) == 200.0
    assert inf.status()["stalledForSeconds"] == 200.0


async def test_factory_shares_by_key_and_reports_sync() -> None:
    api = FakeAPI()
    api.put("a")
    factory = SharedInformerFactory(api, registry=CollectorRegistry(), backoff=None)
    one = factory.informer(CONFIGMAPS, "ns")
    assert factory.informer(CONFIGMAPS, "ns") is one
    assert factory.informer(CONFIGMAPS, "ns", label_selector="x=y") is not one
    assert factory.informer(CONFIGMAPS, "ns", transform=None) is not one
    factory.start()
    late = factory.informer(CONFIGMAPS, "other")
    try:
        assert late.started
        assert await factory.wait_for_cache_sync(2)
        assert factory.healthy()
        assert factory.unhealthy() == []
    finally:
        await factory.stop()
    assert not factory.healthy() or all(not i.alive() for i in factory.informers())


async def test_wait_for_cache_sync_times_out_while_a_list_hangs() -> None:
    api = FakeAPI()
    api.list_gate = asyncio.Event()
    factory = SharedInformerFactory(api, registry=CollectorRegistry())
    inf = factory.informer(CONFIGMAPS)
    factory.start()
    try:
        assert not await factory.wait_for_cache_sync(0.2)
        assert not inf.has_synced()
        api.list_gate.set()
        assert await factory.wait_for_cache_sync(2)
    finally:
        await factory.stop()
