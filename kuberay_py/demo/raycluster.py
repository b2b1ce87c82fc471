"""Scenario `raycluster`: the operator brings a RayCluster up and heals it.

A fresh sandbox, the operator beside it (as `sandbox up --operator` runs it), and
a RayCluster with one head and two workers applied through the API. The
scenario prints what `kubectl get` would show once the cluster is `ready`,
deletes a worker pod, and shows the operator replacing it, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any, TextIO

from kuberay_py.api.config import OperatorConfig
from kuberay_py.controllers.install import install_crds
from kuberay_py.controllers.setup import OperatorOptions, run_operator
from kuberay_py.demo.render import render_table
from kuberay_py.demo.timeline import Timeline, wait_for
from kuberay_py.kube import NAMESPACES, PODS, RAYCLUSTERS, KubeClient
from kuberay_py.sandbox.registry.printers import to_table
from kuberay_py.sandbox.server import Sandbox, SandboxConfig

NAMESPACE = "demo"
CLUSTER = "raycluster-demo"
#: Probe delays (10 s initial, 5 s period) shrink 10x: the story takes seconds, not minutes.
TIME_SCALE = 0.1


def raycluster_manifest() -> dict[str, Any]:
    ray = {"image": "rayproject/ray:2.60.0", "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": CLUSTER, "namespace": NAMESPACE},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", **ray}]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "small-group",
                    "replicas": 2,
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [{"name": "ray-worker", **ray}]}},
                }
            ],
        },
    }


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


class _View:
    """Reads the sandbox's store directly, as `kubectl get` would show it."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    def objects(self, group: str, resource: str) -> list[dict[str, Any]]:
        rt = self.sb.catalog.get(group, "v1", resource)
        assert rt is not None, resource
        return list(self.sb.registry.list(rt, NAMESPACE).items)

    def cluster(self) -> dict[str, Any]:
        found = [
            c for c in self.objects("ray.io", "rayclusters") if c["metadata"]["name"] == CLUSTER
        ]
        return found[0] if found else {}

    def ready(self) -> bool:
        """The status says so *and* the pods agree: the operator coalesces progress-only
        status changes for up to 2 s, so the status alone may still count a deleted pod."""
        status = self.cluster().get("status") or {}
        pods = [p for p in self.objects("", "pods") if not p["metadata"].get("deletionTimestamp")]
        pods_ready = len(pods) == 3 and all(_pod_ready(p) for p in pods)
        return (
            pods_ready and status.get("state") == "ready" and status.get("readyWorkerReplicas") == 2
        )

    def workers(self) -> list[str]:
        return sorted(
            p["metadata"]["name"]
            for p in self.objects("", "pods")
            if p["metadata"].get("labels", {}).get("ray.io/node-type") == "worker"
            and not p["metadata"].get("deletionTimestamp")
        )

    def print_tables(self, out: TextIO) -> None:
        for group, resource in (("ray.io", "rayclusters"), ("", "pods"), ("", "services")):
            rt = self.sb.catalog.get(group, "v1", resource)
            assert rt is not None
            print(f"\n$ kubectl get {resource} -n {NAMESPACE}", file=out)
            print(render_table(to_table(rt, self.objects(group, resource))), file=out)
        print(file=out, flush=True)


async def run_raycluster(out: TextIO) -> int:
    timeline = Timeline(out)
    with tempfile.TemporaryDirectory(prefix="kuberay-py-demo-") as tmp:
        kubeconfig = str(Path(tmp) / "kubeconfig")
        config = SandboxConfig(time_scale=TIME_SCALE, nodes=3, kubeconfig_out=kubeconfig)
        async with Sandbox(config) as sb:
            timeline.say(f"sandbox up at {sb.url} with 3 nodes (time scale {TIME_SCALE})")
            client = await KubeClient.from_config(kubeconfig)
            stop = asyncio.Event()
            operator: asyncio.Task[int] | None = None
            try:
                await install_crds(client)
                options = OperatorOptions(
                    config=OperatorConfig(), metrics_address=None, health_address=None
                )
                operator = asyncio.create_task(
                    run_operator(client, options, handle_signals=False, stop=stop)
                )
                timeline.say("operator started (RayCluster and probe-injector controllers)")
                await client.create(
                    NAMESPACES,
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                )
                await client.create(RAYCLUSTERS, raycluster_manifest(), NAMESPACE)
                timeline.say(f"applied RayCluster {NAMESPACE}/{CLUSTER}: 1 head + 2 workers")
                view = _View(sb)
                await wait_for(view.ready, "the RayCluster to be ready")
                timeline.say("RayCluster is ready")
                view.print_tables(out)

                victim = view.workers()[0]
                await client.delete(PODS, victim, NAMESPACE)
                timeline.say(f"deleted worker pod {victim}")
                await wait_for(
                    lambda: victim not in view.workers() and len(view.workers()) == 2,
                    "a replacement worker",
                )
                timeline.say(f"the operator created a replacement: {view.workers()}")
                await wait_for(view.ready, "the RayCluster to be ready again")
                timeline.say("RayCluster is ready again")
                view.print_tables(out)
                return 0
            finally:
                stop.set()
                if operator is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(operator, 30)
                await client.close()
