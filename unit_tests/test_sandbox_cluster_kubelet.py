"""Kubelet: pod lifecycle, probes, restart policies, CrashLoopBackOff, graceful deletion."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kuberay_py.sandbox.containers.base import ContainerContext
from kuberay_py.sandbox.containers.callable import CallableRuntime
from unit_tests.sandbox_cluster_harness import (
    cluster,
    condition,
    eventually,
    is_true,
    pod_manifest,
)


def _status(pod: dict[str, Any] | None, name: str = "main") -> dict[str, Any]:
    for cs in (pod or {}).get("status", {}).get("containerStatuses") or []:
        if cs["name"] == name:
            return dict(cs)
    return {}


async def test_pod_runs_with_ip_statuses_conditions_and_events() -> None:
    async with cluster() as c:
        c.registry.create(
            c.pods,
            "default",
            pod_manifest(
                "web",
                initContainers=[
                    {
                        "name": "setup",
                        "image": "busybox:1.36",
                        "env": [{"name": "SANDBOX_EXIT_CODE", "value": "0"}],
                    }
                ],
            ),
        )
        pod = await eventually(lambda: is_true(c.pod("web"), "Ready") and c.pod("web"))
        status = pod["status"]
        assert status["phase"] == "Running"
        assert status["podIP"].startswith("127.16.") and status["podIPs"] == [
            {"ip": status["podIP"]}
        ]
        assert status["hostIP"] == "127.0.0.1" and status["startTime"]
        assert [c["type"] for c in status["conditions"]] == [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        assert all(cond["status"] == "True" for cond in status["conditions"])
        main = _status(pod)
        assert main["ready"] and main["started"] and main["restartCount"] == 0
        assert "running" in main["state"] and main["containerID"].startswith("containerd://")
        init = status["initContainerStatuses"][0]
        assert init["state"]["terminated"]["reason"] == "Completed"
        assert init["state"]["terminated"]["exitCode"] == 0
        reasons = [e["reason"] for e in c.events("web") if e["source"]["component"] == "kubelet"]
        for reason in ("Pulled", "Created", "Started"):
            assert reason in reasons
        created = next(
            e
            for e in c.events("web")
            if e["reason"] == "Created"
            and e["involvedObject"].get("fieldPath") == "spec.containers{main}"
        )
        assert created["message"] == "Created container: main"


async def test_readiness_waits_for_initial_delay() -> None:
    async with cluster() as c:
        # 50 simulated seconds = 0.5 s at this time scale.
        c.registry.create(
            c.pods,
            "default",
            pod_manifest(
                "slow",
                containers=[
                    {
                        "name": "main",
                        "image": "busybox:1.36",
                        "readinessProbe": {
                            "exec": {"command": ["true"]},
                            "initialDelaySeconds": 50,
                            "periodSeconds": 1,
                        },
                    }
                ],
            ),
        )
        await eventually(lambda: c.pod("slow")["status"].get("phase") == "Running")
        running_at = time.monotonic()
        assert not is_true(c.pod("slow"), "Ready")
        assert condition(c.pod("slow"), "Ready")["reason"] == "ContainersNotReady"
        await eventually(lambda: is_true(c.pod("slow"), "Ready"))
        waited = time.monotonic() - running_at
        assert 0.35 <= waited < 2.0, waited


async def test_liveness_failure_kills_and_restarts_the_container() -> None:
    healthy = {"ok": True}

    async def app(ctx: ContainerContext, stop: asyncio.Event) -> int:
        await stop.wait()
        return 143

    async def probe(ctx: ContainerContext, spec: dict[str, Any]) -> bool:
        return healthy["ok"]

    runtime = CallableRuntime(images={"app": app}, probe=probe)
    async with cluster(runtime=runtime) as c:
        c.registry.create(
            c.pods,
            "default",
            pod_manifest(
                "live",
                containers=[
                    {
                        "name": "main",
                        "image": "app:1",
                        "livenessProbe": {
                            "exec": {"command": ["true"]},
                            "periodSeconds": 1,
                            "failureThreshold": 2,
                        },
                    }
                ],
            ),
        )
        await eventually(lambda: is_true(c.pod("live"), "Ready"))
        healthy["ok"] = False
        cs = await eventually(
            lambda: _status(c.pod("live")).get("restartCount") == 1 and _status(c.pod("live"))
        )
        assert cs["lastState"]["terminated"]["exitCode"] == 143
        healthy["ok"] = True
        await eventually(lambda: "running" in _status(c.pod("live"))["state"])
        events = {e["reason"]: e for e in c.events("live")}
        assert events["Unhealthy"]["message"].startswith("Liveness probe failed:")
        assert events["Unhealthy"]["count"] >= 2
        assert events["Killing"]["message"] == (
            "Container main failed liveness probe, will be restarted"
        )


async def test_crashing_container_backs_off_and_counts_restarts() -> None:
    async with cluster(time_scale=0.005) as c:
        c.registry.create(c.pods, "default", pod_manifest("crash", env={"SANDBOX_EXIT_CODE": "1"}))

        def backing_off() -> dict[str, Any] | None:
            cs = _status(c.pod("crash"))
            waiting = cs.get("state", {}).get("waiting", {})
            return (
                cs
                if waiting.get("reason") == "CrashLoopBackOff" and cs["restartCount"] >= 3
                else None
            )

        cs = await eventually(backing_off)
        assert cs["lastState"]["terminated"]["exitCode"] == 1
        assert cs["lastState"]["terminated"]["reason"] == "Error"
        assert (
            "restarting failed container=main pod=crash_default("
            in cs["state"]["waiting"]["message"]
        )
        pod = c.pod("crash")
        assert pod["status"]["phase"] == "Running"  # restartPolicy Always keeps it Running
        backoff = [e for e in c.events("crash") if e["reason"] == "BackOff"]
        assert backoff and backoff[0]["type"] == "Warning"
        # 10 s, 20 s, 40 s ... backoff: after ~1.5 real seconds (300 simulated) at most ~5.
        await asyncio.sleep(0)
        assert _status(c.pod("crash"))["restartCount"] <= 6


async def test_restart_policies_decide_the_phase() -> None:
    async with cluster() as c:
        c.registry.create(
            c.pods,
            "default",
            pod_manifest("never-fails", restartPolicy="Never", env={"SANDBOX_EXIT_CODE": "3"}),
        )
        c.registry.create(
            c.pods,
            "default",
            pod_manifest(
                "onfailure-ok",
                restartPolicy="OnFailure",
                env={"SANDBOX_EXIT_CODE": "0", "SANDBOX_RUN_SECONDS": "5"},
            ),
        )
        failed = await eventually(
            lambda: c.pod("never-fails")["status"].get("phase") == "Failed" and c.pod("never-fails")
        )
        term = _status(failed)["state"]["terminated"]
        assert term["exitCode"] == 3 and term["reason"] == "Error"
        assert _status(failed)["restartCount"] == 0
        assert condition(failed, "Ready")["reason"] == "PodCompleted"
        ok = await eventually(
            lambda: (
                c.pod("onfailure-ok")["status"].get("phase") == "Succeeded"
                and c.pod("onfailure-ok")
            )
        )
        assert _status(ok)["state"]["terminated"]["reason"] == "Completed"
        # Terminal pods give their IP back.
        await eventually(lambda: len(c.ips.released) == 2)


async def test_graceful_deletion_honours_the_grace_period_then_deletes() -> None:
    stopped: list[float] = []

    async def stubborn(ctx: ContainerContext, stop: asyncio.Event) -> int:
        await stop.wait()
        stopped.append(time.monotonic())
        await asyncio.sleep(3600)  # ignores SIGTERM: killed when the grace period ends
        return 0

    async with cluster(runtime=CallableRuntime(images={"stubborn": stubborn})) as c:
        c.registry.create(
            c.pods,
            "default",
            pod_manifest(
                "g",
                containers=[{"name": "main", "image": "stubborn"}],
                terminationGracePeriodSeconds=40,
            ),
        )
        await eventually(lambda: is_true(c.pod("g"), "Ready"))
        t0 = time.monotonic()
        deleted = c.registry.delete(c.pods, "default", "g")
        assert deleted["metadata"]["deletionGracePeriodSeconds"] == 40
        await eventually(lambda: c.pod("g") is None)
        elapsed = time.monotonic() - t0
        assert stopped and 0.35 <= elapsed < 2.0, elapsed  # 40 s scaled by 0.01
        assert len(c.ips.released) == 1
        killing = [e for e in c.events("g") if e["reason"] == "Killing"]
        assert killing[0]["message"] == "Stopping container main"


async def test_pod_on_the_network_serves_through_callable_runtime() -> None:
    from aiohttp import ClientSession, web

    async def server(ctx: ContainerContext, stop: asyncio.Event) -> int:
        app = web.Application()

        async def hello(_: web.Request) -> web.Response:
            return web.Response(text="hi")

        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, ctx.pod_ip, 18080).start()
        await stop.wait()
        await runner.cleanup()
        return 0

    async with cluster(runtime=CallableRuntime(images={"srv": server})) as c:
        c.registry.create(
            c.pods,
            "default",
            pod_manifest(
                "srv",
                containers=[
                    {
                        "name": "main",
                        "image": "srv",
                        "ports": [{"name": "http", "containerPort": 18080}],
                        "readinessProbe": {
                            "httpGet": {"path": "/", "port": "http"},
                            "periodSeconds": 1,
                        },
                    }
                ],
            ),
        )
        pod = await eventually(lambda: is_true(c.pod("srv"), "Ready") and c.pod("srv"))
        async with (
            ClientSession() as session,
            session.get(f"http://{pod['status']['podIP']}:18080/") as resp,
        ):
            assert await resp.text() == "hi"
        c.registry.delete(c.pods, "default", "srv")
        await eventually(lambda: c.pod("srv") is None)


async def test_readiness_gate_holds_ready_until_its_condition_is_true() -> None:
    async with cluster() as c:
        c.registry.create(
            c.pods,
            "default",
            pod_manifest("gated", readinessGates=[{"conditionType": "example.com/lb"}]),
        )
        await eventually(lambda: is_true(c.pod("gated"), "ContainersReady"))
        ready = condition(c.pod("gated"), "Ready")
        assert ready["status"] == "False" and ready["reason"] == "ReadinessGatesNotReady"
        assert ready["message"] == (
            'corresponding condition of pod readiness gate "example.com/lb" does not exist.'
        )
        pod = c.pod("gated")
        status = {
            **pod["status"],
            "conditions": [
                *pod["status"]["conditions"],
                {"type": "example.com/lb", "status": "True"},
            ],
        }
        c.registry.update(c.pods, "default", "gated", {**pod, "status": status}, "status")
        await eventually(lambda: is_true(c.pod("gated"), "Ready"))
        assert is_true(c.pod("gated"), "example.com/lb")  # the gate's condition is kept


async def test_deleted_node_registers_again() -> None:
    async with cluster(kubelets=False, scheduler=False, nodes=1) as c:
        nodes = c.rt("", "nodes")
        node = c.get(nodes, None, "sandbox-node-1")
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0"
        assert is_true(node, "Ready") and condition(node, "Ready")["reason"] == "KubeletReady"
        assert node["status"]["allocatable"] == {
            "cpu": "8",
            "memory": "32Gi",
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }
        c.registry.delete(nodes, None, "sandbox-node-1")
        await eventually(lambda: c.get(nodes, None, "sandbox-node-1"))  # 40 s heartbeat
