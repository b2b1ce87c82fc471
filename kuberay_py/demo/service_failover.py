"""Scenario `service-failover`: a Service keeps answering while its pods are replaced.

Three echo pods behind a Service take continuous traffic through the
Service's ClusterIP (the kube-proxy-like forwarder). One pod is deleted
gracefully and a replacement started; its endpoint leaves the EndpointSlice
as soon as it terminates, so no new connection reaches it, and the traffic
generator counts every request. This is the mechanism the RayService stories
rely on, shown on the sandbox alone.
"""

from __future__ import annotations

from typing import Any, TextIO

from kuberay_py.demo.echo_runtime import EchoRuntime
from kuberay_py.demo.render import render_table
from kuberay_py.demo.timeline import Timeline, wait_for
from kuberay_py.sandbox.registry.printers import to_table
from kuberay_py.sandbox.server import Sandbox, SandboxConfig
from kuberay_py.sandbox.traffic import TrafficGenerator

NAMESPACE = "demo"
TIME_SCALE = 0.2


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "echo"}},
        "spec": {
            "terminationGracePeriodSeconds": 10,
            "containers": [
                {
                    "name": "echo",
                    "image": "kuberay-py/echo:1",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 1,
                    },
                }
            ],
        },
    }


def _ready_pods(sb: Sandbox) -> set[str]:
    pods_rt = sb.catalog.get("", "v1", "pods")
    assert pods_rt is not None
    ready = set()
    for pod in sb.registry.list(pods_rt, NAMESPACE).items:
        conditions = pod.get("status", {}).get("conditions", [])
        is_ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        if is_ready and not pod["metadata"].get("deletionTimestamp"):
            ready.add(pod["metadata"]["name"])
    return ready


def _print_tables(sb: Sandbox, out: TextIO) -> None:
    for group, version, resource in (
        ("", "v1", "pods"),
        ("", "v1", "services"),
        ("discovery.k8s.io", "v1", "endpointslices"),
    ):
        rt = sb.catalog.get(group, version, resource)
        assert rt is not None
        objects = sb.registry.list(rt, NAMESPACE).items
        print(f"\n$ kubectl get {resource} -n {NAMESPACE}", file=out)
        print(render_table(to_table(rt, objects)), file=out)


async def run_service_failover(out: TextIO) -> int:
    timeline = Timeline(out)
    config = SandboxConfig(time_scale=TIME_SCALE, runtime=EchoRuntime(), nodes=3)
    async with Sandbox(config) as sb:
        timeline.say(f"sandbox up at {sb.url} with 3 nodes (time scale {TIME_SCALE})")
        ns_rt = sb.catalog.get("", "v1", "namespaces")
        pods_rt = sb.catalog.get("", "v1", "pods")
        svc_rt = sb.catalog.get("", "v1", "services")
        assert ns_rt and pods_rt and svc_rt
        sb.registry.create(
            ns_rt, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        for i in (1, 2, 3):
            sb.registry.create(pods_rt, NAMESPACE, _pod(f"echo-{i}"))
        svc = sb.registry.create(
            svc_rt,
            NAMESPACE,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "echo", "namespace": NAMESPACE},
                "spec": {
                    "selector": {"app": "echo"},
                    "ports": [{"name": "http", "port": 18080, "targetPort": "http"}],
                },
            },
        )
        cluster_ip = svc["spec"]["clusterIP"]
        timeline.say(f"created 3 echo pods and Service echo (ClusterIP {cluster_ip})")
        await wait_for(lambda: len(_ready_pods(sb)) == 3, "3 ready pods")
        timeline.say("all 3 pods Ready; starting traffic through the ClusterIP")

        traffic = TrafficGenerator(lambda: f"http://{cluster_ip}:18080/", concurrency=4)
        await traffic.start()
        await wait_for(lambda: len(traffic.outcomes) >= 200, "first 200 requests")

        sb.registry.delete(pods_rt, NAMESPACE, "echo-1")
        timeline.say("deleted pod echo-1 (graceful: it drains while it leaves the endpoints)")
        sb.registry.create(pods_rt, NAMESPACE, _pod("echo-4"))
        timeline.say("created replacement pod echo-4")
        await wait_for(
            lambda: _ready_pods(sb) == {"echo-2", "echo-3", "echo-4"},
            "echo-4 Ready and echo-1 gone from the ready set",
        )
        timeline.say("echo-4 Ready; echo-1 terminating")

        def echo_1_gone() -> bool:
            names = {p["metadata"]["name"] for p in sb.registry.list(pods_rt, NAMESPACE).items}
            return "echo-1" not in names

        await wait_for(echo_1_gone, "echo-1 to be deleted")
        timeline.say("echo-1 deleted by its kubelet after its containers stopped")
        mark = len(traffic.outcomes)
        await wait_for(lambda: len(traffic.outcomes) >= mark + 200, "200 more requests")
        summary = await traffic.stop()
        timeline.say(f"traffic stopped: {summary.describe()}")

        _print_tables(sb, out)
        print("\nrequests per second (ok/failed):", file=out)
        print("  " + "  ".join(f"{s}s:{ok}/{bad}" for s, ok, bad in summary.per_second), file=out)
        print(
            f"\nsuccess rate: {1 - summary.failure_rate:.2%} "
            f"({summary.total - summary.failures}/{summary.total})",
            file=out,
        )
        return 0 if summary.failures == 0 else 1
