"""A RayCluster controller running on FakeKube, with what its tests need to look at.

FakeKube has no kubelet: tests play the kubelet by patching Pod status, and play the
API server's deletion marks by patching `deletionTimestamp`. Every write the
controller makes is recorded (Events apart), so a test can say "this pass wrote
nothing" and mean it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import random
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.builders.probes import decide_probes, encode_decision
from kuberay_py.controllers.metrics import raycluster_metrics_for_manager
from kuberay_py.controllers.raycluster import RayClusterReconciler
from kuberay_py.kube import EVENTS_V1, PODS, RAYCLUSTERS, Resource
from kuberay_py.runtime import Controller, Manager, Request
from kuberay_py.runtime.testing import FakeKube, eventually

NS = "default"
Obj = dict[str, Any]


class RecordingKube(FakeKube):
    """FakeKube that records every non-Event write, and can hold back Pod watch events
    (a lagging watch) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str, str]] = []
        self.hold_pods = False
        #: Every RayCluster written through the status subresource, in order.
        self.statuses: list[Obj] = []
        #: (verb, resource plural) -> errors the next such calls raise, in order.
        self.failures: dict[tuple[str, str], list[Exception]] = {}
        self._held: list[tuple[Resource, str, Obj, Obj | None]] = []

    def _fail(self, verb: str, res: Resource) -> None:
        pending = self.failures.get((verb, res.plural))
        if pending:
            raise pending.pop(0)

    def _record(self, verb: str, res: Resource, name: str) -> None:
        if res != EVENTS_V1:
            self.writes.append((verb, res.plural, name))

    def _notify(self, resource: Resource, etype: str, obj: Obj, old: Obj | None = None) -> None:
        if resource == PODS and self.hold_pods:
            self._held.append((resource, etype, obj, old))
            return
        super()._notify(resource, etype, obj, old)

    def release_pods(self) -> None:
        self.hold_pods = False
        held, self._held = self._held, []
        for resource, etype, obj, old in held:
            super()._notify(resource, etype, obj, old)

    async def create(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None, **kw: Any
    ) -> Obj:
        self._fail("create", res)
        created = await super().create(res, obj, namespace, **kw)
        self._record("create", res, str(created["metadata"]["name"]))
        return created

    async def replace(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None, **kw: Any
    ) -> Obj:
        verb = "update" + (f"/{kw['subresource']}" if kw.get("subresource") else "")
        if kw.get("subresource") == "status":
            self.statuses.append(copy.deepcopy(dict(obj)))
        self._record(verb, res, str((obj.get("metadata") or {}).get("name")))
        return await super().replace(res, obj, namespace, **kw)

    async def patch(
        self, res: Resource, name: str, patch: Any, namespace: str | None = None, **kw: Any
    ) -> Obj:
        self._record("patch", res, name)
        return await super().patch(res, name, patch, namespace, **kw)

    async def delete(
        self, res: Resource, name: str, namespace: str | None = None, **kw: Any
    ) -> Obj:
        self._fail("delete", res)
        self._record("delete", res, name)
        return await super().delete(res, name, namespace, **kw)

    def list_of(self, res: Resource) -> list[Obj]:
        """Stored objects of `res`, by name."""
        found = [(key[2], obj) for key, obj in self.objects.items() if key[0] == res]
        return [obj for _, obj in sorted(found, key=lambda kv: kv[0])]


def raycluster(name: str = "rc", *, replicas: int = 2, **spec: Any) -> Obj:
    """A small valid RayCluster: a head and one worker group `workers`."""
    body: Obj = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "rayVersion": "2.46.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "ray-head",
                                "image": "rayproject/ray:2.46.0",
                                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                            }
                        ]
                    }
                },
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": replicas,
                    "minReplicas": 0,
                    "maxReplicas": 10,
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-worker",
                                    "image": "rayproject/ray:2.46.0",
                                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }
    body["spec"].update(spec)
    return body


class Harness:
    """A Manager on RecordingKube with the RayCluster controller registered."""

    def __init__(
        self,
        config: OperatorConfig | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.kube = RecordingKube()
        self.config = config or OperatorConfig(enable_probes_injection=False)
        self.mgr = Manager(
            self.kube, registry=CollectorRegistry(), health_address=None, metrics_address=None
        )
        kwargs: dict[str, Any] = {
            "token": lambda: "dG9rZW4=",
            "rng": random.Random(7),
            "metrics": raycluster_metrics_for_manager(self.mgr),
        }
        if clock is not None:
            kwargs["clock"] = clock
        self.reconciler = RayClusterReconciler(self.mgr, self.kube, self.config, **kwargs)
        self.controller: Controller = self.reconciler.register()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self._task = asyncio.create_task(self.mgr.run(handle_signals=False))
        await eventually(lambda: self.mgr.started.is_set())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.mgr.stop()
        assert self._task is not None
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, 10)

    # ---------------------------------------------------------------- driving

    async def apply(self, body: Obj) -> Obj:
        return await self.kube.create(RAYCLUSTERS, body, NS)

    def kick(self, name: str = "rc") -> None:
        """Enqueue a reconcile, as a resync or an unrelated event would."""
        self.controller.queue.add(Request(NS, name))

    async def idle(self, name: str = "rc") -> None:
        """Wait until no reconcile of `name` is queued or running."""
        req = Request(NS, name)
        await eventually(
            lambda: (
                not self.controller.queue.is_queued(req)
                and not self.controller.queue.is_processing(req)
            )
        )

    async def settle(self, name: str = "rc") -> None:
        """Kick, and wait until that pass is over."""
        self.kick(name)
        await asyncio.sleep(0)
        await self.idle(name)

    def cluster(self, name: str = "rc") -> Obj:
        stored = self.kube.stored(RAYCLUSTERS, name, NS)
        assert stored is not None
        return stored

    async def patch_cluster(self, patch: Obj, name: str = "rc") -> Obj:
        return await self.kube.patch(RAYCLUSTERS, name, patch, NS)

    async def stamp_probes(self, name: str = "rc") -> None:
        """Do the probe injector's job: record its decision for the current generation."""
        obj = self.cluster(name)
        decision = decide_probes(raycluster_from_dict(obj), self.config)
        await self.patch_cluster(
            {
                "metadata": {
                    "annotations": {
                        "ray.io/injected-probes": encode_decision(decision),
                        "ray.io/probes-generation": str(obj["metadata"]["generation"]),
                    }
                }
            },
            name,
        )

    # ---------------------------------------------------------------- looking

    def pods(self, node_type: str | None = None, group: str | None = None) -> list[Obj]:
        out = []
        for obj in self.kube.list_of(PODS):
            labels = obj["metadata"].get("labels") or {}
            if node_type and labels.get("ray.io/node-type") != node_type:
                continue
            if group and labels.get("ray.io/group") != group:
                continue
            out.append(obj)
        return out

    def events(self, reason: str | None = None) -> list[Obj]:
        events = [o for (r, _, _), o in self.kube.objects.items() if r == EVENTS_V1]
        return [e for e in events if reason is None or e["reason"] == reason]

    def notes(self, reason: str) -> list[str]:
        return sorted(e["note"] for e in self.events(reason))

    async def run_pods(self, *, ready: bool = True) -> None:
        """Play the kubelet: every Pod Running (and Ready), with an IP."""
        for i, pod in enumerate(self.pods()):
            status = {
                "phase": "Running",
                "podIP": f"10.0.0.{i + 1}",
                "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False"},
                ],
            }
            await self.kube.patch(PODS, pod["metadata"]["name"], {"status": status}, NS)

    async def set_phase(self, pod_name: str, phase: str) -> None:
        await self.kube.patch(PODS, pod_name, {"status": {"phase": phase}}, NS)


def condition(obj: Obj, ctype: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return None
