"""The probe injector on the in-memory API: it stamps each RayCluster with its probe
decision and generation, re-stamps on spec changes, writes nothing when nothing
changed, never writes a Pod, and stands aside when injection is off."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.builders.probes import decide_probes, encode_decision
from kuberay_py.controllers.probe_injector import (
    CONTROLLER_NAME,
    add_probe_injector_controller,
)
from kuberay_py.kube import PODS, RAYCLUSTERS, Resource
from kuberay_py.runtime import Controller, Manager, Request
from kuberay_py.runtime.testing import FakeKube, eventually

NS = "default"
INJECTED = "ray.io/injected-probes"
GENERATION = "ray.io/probes-generation"
SWITCH = "ray.io/probe-injection"


class RecordingKube(FakeKube):
    """FakeKube that remembers every write by resource, so a test can say which kinds
    of object were written, not only how many requests there were."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, Resource, str]] = []

    async def create(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        self.writes.append(("create", res, str((obj.get("metadata") or {}).get("name"))))
        return await super().create(res, obj, namespace, **kw)

    async def replace(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        self.writes.append(("update", res, str((obj.get("metadata") or {}).get("name"))))
        return await super().replace(res, obj, namespace, **kw)

    async def patch(
        self, res: Resource, name: str, patch: Any, namespace: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        self.writes.append(("patch", res, name))
        return await super().patch(res, name, patch, namespace, **kw)

    async def delete(
        self, res: Resource, name: str, namespace: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        self.writes.append(("delete", res, name))
        return await super().delete(res, name, namespace, **kw)


def raycluster(
    name: str,
    *,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    worker_container: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
        "spec": {
            "rayVersion": "2.46.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": 2,
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                worker_container or {"name": "ray-worker", "image": "ray"}
                            ]
                        }
                    },
                }
            ],
            **spec,
        },
    }


class Harness:
    def __init__(self, kube: RecordingKube, mgr: Manager, ctrl: Controller) -> None:
        self.kube = kube
        self.mgr = mgr
        self.ctrl = ctrl

    def stored(self, name: str) -> dict[str, Any]:
        obj = self.kube.stored(RAYCLUSTERS, name, NS)
        assert obj is not None
        return obj

    def annotations(self, name: str) -> dict[str, str]:
        return dict(self.stored(name)["metadata"].get("annotations") or {})

    def writes_to(self, name: str) -> list[tuple[str, Resource, str]]:
        return [w for w in self.kube.writes if w[1] == RAYCLUSTERS and w[2] == name]

    def expected_stamp(self, name: str, config: OperatorConfig) -> dict[str, str]:
        obj = self.stored(name)
        decision = decide_probes(raycluster_from_dict(obj), config)
        return {
            INJECTED: encode_decision(decision),
            GENERATION: str(obj["metadata"]["generation"]),
        }

    async def settled(self) -> None:
        """The cache holds the latest of every stored object (so every handler has run
        and enqueued what it wanted) and the controller has nothing queued or running."""

        def done() -> bool:
            for (res, ns, name), obj in self.kube.objects.items():
                if res != RAYCLUSTERS:
                    continue
                cached = self.mgr.cache.get(RAYCLUSTERS, name, ns)
                rv = obj["metadata"]["resourceVersion"]
                if cached is None or cached["metadata"]["resourceVersion"] != rv:
                    return False
            return len(self.ctrl.queue) == 0 and not self.ctrl.in_flight

        await eventually(done)

    def errors(self) -> float:
        registry = self.mgr.registry
        assert registry is not None
        value = registry.get_sample_value(
            "controller_runtime_reconcile_errors_total", {"controller": CONTROLLER_NAME}
        )
        return value or 0.0


@contextlib.asynccontextmanager
async def running(kube: RecordingKube, config: OperatorConfig) -> AsyncIterator[Harness]:
    mgr = Manager(
        kube,
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
    )
    ctrl = add_probe_injector_controller(mgr, kube, config)  # type: ignore[arg-type]
    task = asyncio.create_task(mgr.run(handle_signals=False))
    await eventually(lambda: mgr.started.is_set() or task.done())
    try:
        yield Harness(kube, mgr, ctrl)
    finally:
        mgr.stop()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def kube() -> RecordingKube:
    return RecordingKube()


@pytest.fixture
async def injector(kube: RecordingKube) -> AsyncIterator[Harness]:
    async with running(kube, OperatorConfig()) as h:
        yield h


async def test_stamp_appears_with_the_generation(injector: Harness) -> None:
    await injector.kube.create(RAYCLUSTERS, raycluster("c1"), NS)
    await eventually(lambda: GENERATION in injector.annotations("c1"))
    stamp = injector.annotations("c1")
    assert stamp[GENERATION] == "1"
    assert {k: stamp[k] for k in (INJECTED, GENERATION)} == injector.expected_stamp(
        "c1", OperatorConfig()
    )
    decision = json.loads(stamp[INJECTED])
    assert set(decision) == {"headgroup", "workers"}
    assert decision["workers"]["readinessProbe"]["exec"]["command"] == [
        "bash",
        "-c",
        "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success",
    ]
    # The annotation write did not bump the generation, so the stamp stays exact.
    assert injector.stored("c1")["metadata"]["generation"] == 1
    # The user's spec is untouched: only annotations were written.
    assert injector.stored("c1")["spec"] == raycluster("c1")["spec"]


async def test_second_reconcile_writes_nothing(injector: Harness) -> None:
    await injector.kube.create(RAYCLUSTERS, raycluster("c1"), NS)
    await eventually(lambda: GENERATION in injector.annotations("c1"))
    await injector.settled()  # includes the pass woken by the injector's own patch
    assert [w[0] for w in injector.writes_to("c1")] == ["create", "patch"]
    before = dict(injector.kube.requests)
    injector.ctrl.queue.add(Request(NS, "c1"))
    await injector.settled()
    after = dict(injector.kube.requests)
    for verb in ("create", "update", "patch", "delete"):
        assert after.get(verb, 0) == before.get(verb, 0), verb
    assert injector.errors() == 0


async def test_spec_change_restamps_without_touching_pods(injector: Harness) -> None:
    kube = injector.kube
    await kube.create(RAYCLUSTERS, raycluster("c1"), NS)
    # A Pod of the cluster, as the RayCluster controller would have made it.
    pod = await kube.create(
        PODS,
        {
            "metadata": {
                "name": "c1-head-abcde",
                "labels": {"ray.io/cluster": "c1", "ray.io/node-type": "head"},
            },
            "spec": {"containers": [{"name": "ray-head", "image": "ray"}]},
        },
        NS,
    )
    await eventually(lambda: injector.annotations("c1").get(GENERATION) == "1")
    old_decision = injector.annotations("c1")[INJECTED]
    assert "exec" in json.loads(old_decision)["headgroup"]["livenessProbe"]
    kube.writes.clear()

    await kube.patch(RAYCLUSTERS, "c1", {"spec": {"rayVersion": "2.53.0"}}, NS)
    assert injector.stored("c1")["metadata"]["generation"] == 2
    await eventually(lambda: injector.annotations("c1").get(GENERATION) == "2")
    await injector.settled()
    new = injector.annotations("c1")
    assert new[INJECTED] != old_decision
    assert json.loads(new[INJECTED])["headgroup"]["livenessProbe"]["httpGet"] == {
        "path": "/api/healthz",
        "port": 52365,
    }
    assert {k: new[k] for k in (INJECTED, GENERATION)} == injector.expected_stamp(
        "c1", OperatorConfig()
    )
    # The test's spec change and the injector's one re-stamp: no Pod write at all.
    assert kube.writes == [("patch", RAYCLUSTERS, "c1"), ("patch", RAYCLUSTERS, "c1")]
    assert kube.stored(PODS, "c1-head-abcde", NS) == pod


async def test_a_label_change_that_changes_the_decision_restamps(injector: Harness) -> None:
    await injector.kube.create(RAYCLUSTERS, raycluster("c1"), NS)
    await eventually(lambda: GENERATION in injector.annotations("c1"))
    labels = {"metadata": {"labels": {"ray.io/originated-from-crd": "RayService"}}}
    await injector.kube.patch(RAYCLUSTERS, "c1", labels, NS)

    def has_serve_check() -> bool:
        decision = json.loads(injector.annotations("c1")[INJECTED])
        return "-/healthz" in decision["workers"]["readinessProbe"]["exec"]["command"][2]

    await eventually(has_serve_check)
    assert injector.annotations("c1")[GENERATION] == "1"  # labels do not bump it


async def test_user_probe_is_never_in_the_decision(injector: Harness) -> None:
    mine = {"httpGet": {"path": "/my/health", "port": 8080}, "periodSeconds": 7}
    worker = {"name": "ray-worker", "image": "ray", "readinessProbe": mine}
    await injector.kube.create(RAYCLUSTERS, raycluster("c1", worker_container=worker), NS)
    await eventually(lambda: GENERATION in injector.annotations("c1"))
    decision = json.loads(injector.annotations("c1")[INJECTED])
    assert set(decision["workers"]) == {"livenessProbe"}
    assert set(decision["headgroup"]) == {"livenessProbe", "readinessProbe"}
    # And the user's probe stays in the spec exactly as written.
    stored_worker = injector.stored("c1")["spec"]["workerGroupSpecs"][0]
    assert stored_worker["template"]["spec"]["containers"][0]["readinessProbe"] == mine


async def test_annotation_switch_stamps_nothing_and_removes_a_stale_stamp(
    injector: Harness,
) -> None:
    kube = injector.kube
    await kube.create(RAYCLUSTERS, raycluster("off", annotations={SWITCH: "false"}), NS)
    await kube.create(RAYCLUSTERS, raycluster("on"), NS)
    await eventually(lambda: GENERATION in injector.annotations("on"))
    await injector.settled()
    assert injector.writes_to("off") == [("create", RAYCLUSTERS, "off")]
    assert INJECTED not in injector.annotations("off")

    # Switching a stamped cluster off removes its stamp, once.
    await kube.patch(RAYCLUSTERS, "on", {"metadata": {"annotations": {SWITCH: "False"}}}, NS)
    await eventually(lambda: GENERATION not in injector.annotations("on"))
    await injector.settled()
    assert INJECTED not in injector.annotations("on")
    patches = len(injector.writes_to("on"))
    injector.ctrl.queue.add(Request(NS, "on"))
    await injector.settled()
    assert len(injector.writes_to("on")) == patches

    # Switching it back on stamps it again for the current generation.
    await kube.patch(RAYCLUSTERS, "on", {"metadata": {"annotations": {SWITCH: None}}}, NS)
    await eventually(lambda: injector.annotations("on").get(GENERATION) == "1")
    assert (
        injector.annotations("on")[INJECTED]
        == injector.expected_stamp("on", OperatorConfig())[INJECTED]
    )


async def test_operator_switch_off_writes_nothing_but_removes_stale_stamps(
    kube: RecordingKube,
) -> None:
    stale = {INJECTED: '{"headgroup":{}}', GENERATION: "1", "keep": "me"}
    await kube.create(RAYCLUSTERS, raycluster("stale", annotations=stale), NS)
    await kube.create(RAYCLUSTERS, raycluster("fresh"), NS)
    kube.writes.clear()
    async with running(kube, OperatorConfig(enable_probes_injection=False)) as h:
        await eventually(lambda: GENERATION not in h.annotations("stale"))
        await h.settled()
        assert h.annotations("stale") == {"keep": "me"}
        assert h.annotations("fresh") == {}
        assert kube.writes == [("patch", RAYCLUSTERS, "stale")]
        h.ctrl.queue.add(Request(NS, "fresh"))
        h.ctrl.queue.add(Request(NS, "stale"))
        await h.settled()
        assert kube.writes == [("patch", RAYCLUSTERS, "stale")]


async def test_foreign_managed_by_and_deleting_clusters_are_left_alone(
    injector: Harness,
) -> None:
    kube = injector.kube
    await kube.create(RAYCLUSTERS, raycluster("kueue", managedBy="kueue.x-k8s.io/multikueue"), NS)
    deleting = raycluster("going")
    deleting["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    deleting["metadata"]["finalizers"] = ["ray.io/gcs-ft-redis-cleanup-finalizer"]
    await kube.create(RAYCLUSTERS, deleting, NS)
    await kube.create(RAYCLUSTERS, raycluster("ours", managedBy="ray.io/kuberay-operator"), NS)
    await eventually(lambda: GENERATION in injector.annotations("ours"))
    await injector.settled()
    assert injector.writes_to("kueue") == [("create", RAYCLUSTERS, "kueue")]
    assert injector.writes_to("going") == [("create", RAYCLUSTERS, "going")]
    assert injector.annotations("kueue") == {}


async def test_unreadable_spec_is_logged_not_retried(injector: Harness) -> None:
    kube = injector.kube
    bad = raycluster("bad")
    bad["spec"]["workerGroupSpecs"] = "not a list"
    await kube.create(RAYCLUSTERS, bad, NS)
    await kube.create(RAYCLUSTERS, raycluster("good"), NS)
    await eventually(lambda: GENERATION in injector.annotations("good"))
    await injector.settled()
    assert injector.writes_to("bad") == [("create", RAYCLUSTERS, "bad")]
    assert injector.errors() == 0
    assert injector.ctrl.queue.num_requeues(Request(NS, "bad")) == 0

    # Fixing the spec (a generation change) brings the stamp.
    fixed = {"spec": {"workerGroupSpecs": raycluster("bad")["spec"]["workerGroupSpecs"]}}
    await kube.patch(RAYCLUSTERS, "bad", fixed, NS)
    await eventually(lambda: injector.annotations("bad").get(GENERATION) == "2")


async def test_a_hand_edited_stamp_is_corrected(injector: Harness) -> None:
    await injector.kube.create(RAYCLUSTERS, raycluster("c1"), NS)
    await eventually(lambda: GENERATION in injector.annotations("c1"))
    want = injector.expected_stamp("c1", OperatorConfig())
    tampered = {"metadata": {"annotations": {INJECTED: "{}", GENERATION: "1"}}}
    await injector.kube.patch(RAYCLUSTERS, "c1", tampered, NS)
    await eventually(lambda: injector.annotations("c1")[INJECTED] == want[INJECTED])
