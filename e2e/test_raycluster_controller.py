"""The RayCluster controller against the sandbox: level-triggered healing, restarts,
expectations behind a lagging watch, and zero writes for an unchanged cluster.

The operator runs in-process (a Manager with the operator's controllers) against the
sandbox over HTTP, with KubeClient's own User-Agent (`kuberay-py/...`); the test's own
requests use another User-Agent, so the audit log tells the operator's writes apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.api.config import OperatorConfig
from kuberay_py.controllers.install import install_crds
from kuberay_py.controllers.setup import setup_controllers
from kuberay_py.kube import PODS, RAYCLUSTERS, SERVICES, KubeClient
from kuberay_py.kube.client import USER_AGENT
from kuberay_py.runtime import Manager
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.http.audit import count_requests
from kuberay_py.sandbox.http.faults import FaultRule
from kuberay_py.sandbox.server import Sandbox

NS = "default"
NAME = "rc"
TEST_AGENT = "raycluster-e2e-test/1.0"
OPERATOR_AGENT = USER_AGENT.split("/")[0] + "/"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

Obj = dict[str, Any]

#: The operator's defaults: probe injection and the `wait-gcs-ready` init container on
#: (the sandbox's runtime ends it once the head runs).
CONFIG = OperatorConfig()


def raycluster(replicas: int) -> Obj:
    """A cluster of small pods (many fit on the sandbox's three nodes)."""
    small = {"requests": {"cpu": "100m", "memory": "128Mi"}}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": NAME, "namespace": NS},
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
                                "resources": small,
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
                    "maxReplicas": 100,
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-worker",
                                    "image": "rayproject/ray:2.46.0",
                                    "resources": small,
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }


@attrs.define
class Operator:
    """The operator's Manager running as a task; stop() ends it (gracefully or not)."""

    mgr: Manager
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.mgr.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 30)

    def reconciles(self) -> float:
        """Finished RayCluster reconciles so far (any result)."""
        assert self.mgr.registry is not None
        return sum(
            self.mgr.registry.get_sample_value(
                "controller_runtime_reconcile_total", {"controller": "raycluster", "result": r}
            )
            or 0.0
            for r in ("success", "error", "requeue", "requeue_after")
        )


@attrs.define
class Env:
    sandbox: Sandbox
    client: KubeClient  # the test's own client (its User-Agent is not the operator's)
    operator_client: KubeClient
    operators: list[Operator] = attrs.field(factory=list)

    async def start_operator(self, *, graceful: float = 30.0) -> Operator:
        mgr = Manager(
            self.operator_client,
            registry=CollectorRegistry(),
            health_address=None,
            metrics_address=None,
            graceful_shutdown_timeout=graceful,
            bookmark_interval=1.0,
            watchdog_margin=2.0,
        )
        setup_controllers(mgr, self.operator_client, CONFIG)
        op = Operator(mgr, asyncio.create_task(mgr.run(handle_signals=False)))
        self.operators.append(op)
        await eventually(lambda: mgr.started.is_set(), timeout=30)
        return op

    async def pods(self, node_type: str | None = None) -> list[Obj]:
        selector = f"ray.io/cluster={NAME}"
        if node_type:
            selector += f",ray.io/node-type={node_type}"
        items, _ = await self.client.list_all(PODS, NS, label_selector=selector)
        return items

    async def cluster(self) -> Obj:
        return await self.client.get(RAYCLUSTERS, NAME, NS)

    async def state(self) -> str | None:
        return ((await self.cluster()).get("status") or {}).get("state")

    async def running(self, workers: int) -> bool:
        """Exactly one head and `workers` workers, all Running and not terminating."""
        pods = await self.pods()
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        types = sorted(p["metadata"]["labels"]["ray.io/node-type"] for p in live)
        return (
            len(live) == len(pods)
            and types == ["head"] + ["worker"] * workers
            and all((p.get("status") or {}).get("phase") == "Running" for p in pods)
        )

    def operator_requests(self, verbs: tuple[str, ...] = WRITE_VERBS, **filters: Any) -> int:
        events = self.sandbox.audit_events()
        return sum(
            count_requests(
                events, verb=v, user_agent_prefix=OPERATOR_AGENT, subresource="*", **filters
            )
            for v in verbs
        )


@pytest.fixture
async def env(sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> AsyncIterator[Env]:
    async with sandbox_factory(audit_log=str(tmp_path / "audit.jsonl")) as sb:
        client = await KubeClient.from_config(str(sb.kubeconfig_path), user_agent=TEST_AGENT)
        operator_client = await KubeClient.from_config(str(sb.kubeconfig_path))
        env = Env(sb, client, operator_client)
        try:
            await install_crds(client)
            yield env
        finally:
            for op in env.operators:
                await op.stop()
            await operator_client.close()
            await client.close()


async def test_cluster_becomes_ready_and_heals_a_deleted_worker(env: Env) -> None:
    await env.start_operator()
    await env.client.create(RAYCLUSTERS, raycluster(2), NS)
    await eventually(lambda: env.running(2), timeout=60)
    await eventually(lambda: _is(env.state(), "ready"), timeout=60)
    status = (await env.cluster())["status"]
    assert status["desiredWorkerReplicas"] == 2 and status["availableWorkerReplicas"] == 2
    svc = await env.client.get(SERVICES, f"{NAME}-head-svc", NS)
    assert svc["spec"]["clusterIP"] == "None"

    victim = (await env.pods("worker"))[0]["metadata"]["name"]
    await env.client.delete(PODS, victim, NS)

    async def healed() -> bool:
        names = [p["metadata"]["name"] for p in await env.pods("worker")]
        return victim not in names and await env.running(2)

    await eventually(healed, timeout=60)


async def test_a_pod_relabelled_out_of_the_cluster_is_replaced(env: Env) -> None:
    await env.start_operator()
    await env.client.create(RAYCLUSTERS, raycluster(2), NS)
    await eventually(lambda: env.running(2), timeout=60)
    victim = (await env.pods("worker"))[0]["metadata"]["name"]
    patch = {"metadata": {"labels": {"ray.io/cluster": None}}}
    await env.client.patch(PODS, victim, patch, NS, patch_type="merge")

    async def replaced() -> bool:
        names = [p["metadata"]["name"] for p in await env.pods("worker")]
        return victim not in names and await env.running(2)

    await eventually(replaced, timeout=60)
    stray = await env.client.get(PODS, victim, NS)
    assert "ray.io/cluster" not in stray["metadata"]["labels"]  # left alone, not ours now


async def test_operator_restarted_while_creating_pods_converges_exactly(env: Env) -> None:
    first = await env.start_operator(graceful=0.0)
    await env.client.create(RAYCLUSTERS, raycluster(12), NS)
    await eventually(lambda: _at_least(env.pods(), 3), timeout=60)
    await first.stop()  # in-flight reconciles are cancelled mid-way
    await env.start_operator()
    await eventually(lambda: env.running(12), timeout=90)
    await eventually(lambda: _is(env.state(), "ready"), timeout=60)
    creates = env.operator_requests(("create",), resource="pods", code=201)
    assert creates == 13  # no pod was created twice across the restart
    assert len(await env.pods()) == 13


async def test_scale_from_0_to_50_behind_a_delayed_pod_watch_creates_exactly_50(
    env: Env,
) -> None:
    op = await env.start_operator()
    await env.client.create(RAYCLUSTERS, raycluster(0), NS)
    await eventually(lambda: env.running(0), timeout=60)
    env.sandbox.faults.add(
        FaultRule("watch_delay", resource="pods", namespace=NS, delay_seconds=2.0)
    )
    before = op.reconciles()
    patch = {"spec": {"workerGroupSpecs": [raycluster(50)["spec"]["workerGroupSpecs"][0]]}}
    await env.client.patch(RAYCLUSTERS, NAME, patch, NS, patch_type="merge")
    # Wake the controller repeatedly while its Pod cache lags: every pass must see
    # its own creates through the expectations, not through the (late) watch.
    for i in range(10):
        poke = {"metadata": {"annotations": {"e2e/poke": str(i)}}}
        await env.client.patch(RAYCLUSTERS, NAME, poke, NS, patch_type="merge")
        await asyncio.sleep(0.1)
    assert op.reconciles() > before + 3
    await eventually(lambda: _count(env.pods("worker"), 50), timeout=90)
    env.sandbox.faults.clear()
    await eventually(lambda: env.running(50), timeout=120)
    workers = env.operator_requests(("create",), resource="pods", code=201)
    assert workers == 51  # the head and exactly 50 workers
    assert env.operator_requests(("delete",), resource="pods") == 0


async def test_a_reconcile_of_an_unchanged_cluster_writes_nothing(env: Env) -> None:
    op = await env.start_operator()
    await env.client.create(RAYCLUSTERS, raycluster(2), NS)
    await eventually(lambda: _is(env.state(), "ready"), timeout=60)
    await eventually(lambda: env.running(2), timeout=60)

    async def quiet() -> bool:
        # Converged: a full second without an operator write.
        before = env.operator_requests()
        await asyncio.sleep(1.0)
        return env.operator_requests() == before

    await eventually(quiet, timeout=60)
    writes = env.operator_requests()
    reconciles = op.reconciles()
    for i in range(3):
        # A label change wakes the RayCluster controller (and nothing in it changes).
        poke = {"metadata": {"labels": {"e2e/poke": str(i)}}}
        await env.client.patch(RAYCLUSTERS, NAME, poke, NS, patch_type="merge")
        await eventually(lambda n=reconciles + i + 1: op.reconciles() >= n, timeout=30)
    assert op.reconciles() >= reconciles + 3
    assert env.operator_requests() == writes


# ---------------------------------------------------------------- helpers


async def _is(value: Any, want: Any) -> bool:
    return bool(await value == want)


async def _count(items: Any, n: int) -> bool:
    return len(await items) == n


async def _at_least(items: Any, n: int) -> bool:
    return len(await items) >= n
