"""Shared informers against the sandbox: sync, events, bookmarks, dropped watches, 410
relists with tombstones, the watchdog, and a fault storm after which the cache equals a
fresh LIST and every handler saw each object's final state.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.informers import (
    OWNER_UID_INDEX,
    DeletedFinalStateUnknown,
    SharedInformer,
    SharedInformerFactory,
    by_label,
    by_owner_uid,
)
from kuberay_py.kube import CONFIGMAPS, KubeClient, RetryPolicy, object_key
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.http.faults import FaultRule
from kuberay_py.sandbox.server import Sandbox

NS = "default"


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(
        sandbox.kubeconfig_path, retry=RetryPolicy(attempts=6, base=0.01, cap=0.1)
    )
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def factory(client: KubeClient) -> AsyncIterator[SharedInformerFactory]:
    f = SharedInformerFactory(
        client,
        registry=CollectorRegistry(),
        bookmark_interval=1.0,  # the e2e sandbox sends a bookmark every second
        watchdog_margin=2.0,
        backoff=None,
    )
    try:
        yield f
    finally:
        await f.stop()


class Mirror:
    """What a handler-driven consumer believes: key -> resourceVersion, plus a log."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []

    def on_add(self, obj: dict[str, Any]) -> None:
        self.state[object_key(obj)] = obj["metadata"]["resourceVersion"]
        self.log.append(("add", object_key(obj)))

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.state[object_key(new)] = new["metadata"]["resourceVersion"]
        self.log.append(("update", object_key(new)))

    def on_delete(self, obj: dict[str, Any] | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.state.pop(obj.key, None)
            self.log.append(("tombstone", obj.key))
        else:
            self.state.pop(object_key(obj), None)
            self.log.append(("delete", object_key(obj)))

    def attach(self, informer: SharedInformer) -> None:
        informer.add_event_handler(self.on_add, self.on_update, self.on_delete, name="mirror")


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"v": "0"}}


async def fresh_list(client: KubeClient) -> dict[str, str]:
    items, _ = await client.list_all(CONFIGMAPS, NS)
    return {object_key(o): o["metadata"]["resourceVersion"] for o in items}


def cached(informer: SharedInformer) -> dict[str, str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in informer.store.items()}


async def test_sync_events_indexes_and_sharing(
    client: KubeClient, factory: SharedInformerFactory
) -> None:
    # A real owner: the sandbox's garbage collector deletes children of missing owners.
    owner = await client.create(CONFIGMAPS, cm("owner"), NS)
    owner_uid = owner["metadata"]["uid"]
    for i in range(30):
        body = cm(f"c{i}", group=str(i % 3))
        if i < 5:
            body["metadata"]["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
            ]
        await client.create(CONFIGMAPS, body, NS)
    informer = factory.informer(
        CONFIGMAPS, NS, indexers={OWNER_UID_INDEX: by_owner_uid, "group": by_label("group")}
    )
    assert factory.informer(CONFIGMAPS, NS) is informer
    mirror = Mirror()
    mirror.attach(informer)
    factory.start()
    assert await factory.wait_for_cache_sync(10)
    assert cached(informer) == await fresh_list(client)
    assert mirror.state == cached(informer)
    assert len(informer.store.by_index(OWNER_UID_INDEX, owner_uid)) == 5
    assert len(informer.store.by_index("group", "1")) == 10
    assert "managedFields" not in informer.store.get(f"{NS}/c0")["metadata"]  # type: ignore[index]

    await client.patch(CONFIGMAPS, "c1", {"metadata": {"labels": {"group": "9"}}}, NS)
    await client.delete(CONFIGMAPS, "c2", NS)
    await client.create(CONFIGMAPS, cm("late"), NS)
    await eventually(lambda: informer.store.get(f"{NS}/late") is not None)
    await eventually(lambda: f"{NS}/c2" not in informer.store)
    await eventually(lambda: informer.store.index_keys("group", "9") == [f"{NS}/c1"])
    assert ("delete", f"{NS}/c2") in mirror.log
    assert mirror.state == cached(informer) == await fresh_list(client)
    # One LIST served the informer (shared by every caller of the key).
    assert informer.reflector.lists == 1


async def test_bookmarks_keep_the_informer_fresh_and_watchdog_quiet(
    client: KubeClient, factory: SharedInformerFactory
) -> None:
    informer = factory.informer(CONFIGMAPS, NS)
    factory.start()
    assert await factory.wait_for_cache_sync(10)
    rv = int(informer.resource_version or 0)
    await client.create(CONFIGMAPS, cm("elsewhere"), "kube-system")  # moves the global RV
    await eventually(lambda: int(informer.resource_version or 0) > rv, timeout=5)
    await eventually(lambda: informer.last_event_age() < 1.5, timeout=5)
    assert informer.watchdog_restarts == 0
    assert informer.healthy()
    samples = {
        s.name: s.value
        for m in factory.registry.collect()  # type: ignore[union-attr]
        for s in m.samples
        if s.labels.get("resource") == "configmaps"
    }
    assert samples["informer_last_event_age_seconds"] < 3.0


async def test_watchdog_restarts_a_watch_silent_past_its_budget(client: KubeClient) -> None:
    # A budget shorter than the sandbox's 1 s bookmark interval: every stream looks dead.
    informer = SharedInformer(
        client,
        CONFIGMAPS,
        namespace=NS,
        registry=CollectorRegistry(),
        bookmark_interval=0.2,
        watchdog_margin=0.2,
    )
    informer.start()
    try:
        assert await informer.wait_for_sync(10)
        await eventually(
            lambda: informer.watchdog_restarts + informer.reflector.watch_failures >= 2
        )
        await client.create(CONFIGMAPS, cm("after-restarts"), NS)
        await eventually(lambda: informer.store.get(f"{NS}/after-restarts") is not None)
        assert informer.reflector.relists_after_gone == 0
        assert informer.reflector.lists == 1
    finally:
        await informer.stop()


async def test_dropped_watches_resume_without_relisting(
    client: KubeClient, factory: SharedInformerFactory, sandbox: Sandbox
) -> None:
    informer = factory.informer(CONFIGMAPS, NS)
    factory.start()
    assert await factory.wait_for_cache_sync(10)
    for i in range(3):
        watches_before = informer.reflector.watches
        assert sandbox.registry.drop_watches() >= 1
        await eventually(lambda: informer.reflector.watches > watches_before)  # noqa: B023
        await client.create(CONFIGMAPS, cm(f"after-drop-{i}"), NS)
        await eventually(lambda: informer.store.get(f"{NS}/after-drop-{i}") is not None)  # noqa: B023
    # drop_watch faults: the stream closes after N events
    sandbox.faults.add(
        FaultRule(action="drop_watch", resource="configmaps", after_events=2, count=3)
    )
    for i in range(10):
        await client.create(CONFIGMAPS, cm(f"burst-{i}"), NS)
    await eventually(lambda: cached(informer).keys() >= {f"{NS}/burst-{i}" for i in range(10)})
    assert informer.reflector.lists == 1
    assert informer.reflector.relists_after_gone == 0
    assert cached(informer) == await fresh_list(client)


async def test_forced_410_relists_and_emits_tombstones(
    client: KubeClient, factory: SharedInformerFactory, sandbox: Sandbox
) -> None:
    for name in ("keep", "change", "vanish"):
        await client.create(CONFIGMAPS, cm(name), NS)
    informer = factory.informer(CONFIGMAPS, NS)
    mirror = Mirror()
    mirror.attach(informer)
    factory.start()
    assert await factory.wait_for_cache_sync(10)
    mirror.log.clear()

    # Blind the informer: every watch attempt fails, then end its current stream.
    blind = sandbox.faults.add(
        FaultRule(action="status", resource="configmaps", verb="watch", code=500)
    )
    sandbox.registry.drop_watches()
    await eventually(lambda: informer.reflector.watch_failures >= 1)
    # Meanwhile the world changes, and history is compacted past the informer's RV.
    await client.delete(CONFIGMAPS, "vanish", NS)
    await client.patch(CONFIGMAPS, "change", {"data": {"v": "1"}}, NS)
    await client.create(CONFIGMAPS, cm("new"), NS)
    sandbox.registry.compact()
    sandbox.faults.remove(blind)

    await eventually(lambda: informer.reflector.relists_after_gone >= 1)
    await eventually(
        lambda: cached(informer).keys() == {f"{NS}/{n}" for n in ("keep", "change", "new")}
    )
    assert ("tombstone", f"{NS}/vanish") in mirror.log
    assert ("update", f"{NS}/change") in mirror.log
    assert ("add", f"{NS}/new") in mirror.log
    assert ("update", f"{NS}/keep") not in mirror.log  # unchanged objects stay quiet
    assert mirror.state == cached(informer) == await fresh_list(client)

    # The sandbox's "gone" fault: the next watch is answered 410 -> one more relist.
    relists = informer.reflector.relists_after_gone
    sandbox.faults.add(FaultRule(action="gone", resource="configmaps", verb="watch", count=1))
    sandbox.registry.drop_watches()
    await eventually(lambda: informer.reflector.relists_after_gone > relists)
    await client.create(CONFIGMAPS, cm("after-gone"), NS)
    await eventually(lambda: informer.store.get(f"{NS}/after-gone") is not None)


async def test_cache_equals_a_fresh_list_after_a_fault_storm(
    client: KubeClient, factory: SharedInformerFactory, sandbox: Sandbox
) -> None:
    rng = random.Random(4)
    names = [f"s{i}" for i in range(40)]
    for name in names[:20]:
        await client.create(CONFIGMAPS, cm(name), NS)
    informer = factory.informer(CONFIGMAPS, NS)
    mirror = Mirror()
    mirror.attach(informer)
    factory.start()
    assert await factory.wait_for_cache_sync(10)

    rules = [
        FaultRule(action="drop_watch", resource="configmaps", after_events=3, probability=0.5),
        FaultRule(action="status", resource="configmaps", verb="watch", code=500, probability=0.3),
        FaultRule(
            action="status",
            resource="configmaps",
            verb="list",
            code=429,
            retry_after=0,
            probability=0.3,
        ),
        FaultRule(action="gone", resource="configmaps", verb="watch", probability=0.15),
        FaultRule(action="latency", resource="configmaps", latency_seconds=0.05, probability=0.3),
    ]
    ids = [sandbox.faults.add(rule) for rule in rules]
    writer = await KubeClient.from_config(
        sandbox.kubeconfig_path or "", retry=RetryPolicy(attempts=20, base=0.01, cap=0.05)
    )
    try:
        for step in range(150):
            name = rng.choice(names)
            exists = name in {k.split("/", 1)[1] for k in await fresh_list(writer)}
            if not exists:
                await writer.create(CONFIGMAPS, cm(name), NS)
            elif rng.random() < 0.3:
                await writer.delete(CONFIGMAPS, name, NS)
            else:
                await writer.patch(CONFIGMAPS, name, {"data": {"v": str(step)}}, NS)
            if step % 40 == 0:
                sandbox.registry.compact()
                sandbox.registry.drop_watches()
    finally:
        for fault_id in ids:
            sandbox.faults.remove(fault_id)
        await writer.close()

    truth: dict[str, str] = {}

    async def converged() -> bool:
        truth.update(await fresh_list(client))
        return cached(informer) == truth and mirror.state == truth

    async with asyncio.timeout(60):
        while True:
            truth.clear()
            if await converged():
                break
            await asyncio.sleep(0.05)
    assert informer.healthy()
    assert informer.reflector.watch_failures + informer.reflector.relists_after_gone > 0
