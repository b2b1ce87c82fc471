"""Audit of issue 3 points 4 and 6: `sandbox up` flags that the other CLI tests leave unproven.

One child process covers an explicit `--port`, `--nodes 1` with small nodes
(a pod that fits nowhere stays Pending with a FailedScheduling event),
`--time-scale` (a readiness probe with a 60 s initial delay passes within
seconds at 0.01, which it could not at 1.0) and a clean exit on SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _until(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _pod(name: str, cpu: str, probe: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": "busybox",
        "resources": {"requests": {"cpu": cpu}},
    }
    if probe:
        container["readinessProbe"] = probe
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container]},
    }


async def test_port_nodes_time_scale_and_sigint(tmp_path: Path) -> None:
    port = _free_port()
    kubeconfig = tmp_path / "kc"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kuberay_py",
        "sandbox",
        "up",
        "--kubeconfig-out",
        str(kubeconfig),
        "--port",
        str(port),
        "--nodes",
        "1",
        "--node-cpu",
        "2",
        "--time-scale",
        "0.01",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = f"http://127.0.0.1:{port}"
        assert line == f"sandbox ready: server={url} kubeconfig={kubeconfig}\n"
        pods = f"{url}/api/v1/namespaces/default/pods"
        async with aiohttp.ClientSession() as http:
            nodes = await (await http.get(f"{url}/api/v1/nodes")).json()
            assert [n["metadata"]["name"] for n in nodes["items"]] == ["sandbox-node-1"]
            assert nodes["items"][0]["status"]["allocatable"]["cpu"] == "2"

            # Fits nowhere: stays Pending, unscheduled, with kube's FailedScheduling event.
            assert (await http.post(pods, json=_pod("huge", "3"))).status == 201

            async def failed_scheduling() -> list[dict[str, Any]]:
                events = await (
                    await http.get(
                        f"{url}/api/v1/namespaces/default/events",
                        params={"fieldSelector": "involvedObject.name=huge"},
                    )
                ).json()
                return [e for e in events["items"] if e["reason"] == "FailedScheduling"]

            event = (await _until(failed_scheduling))[0]
            assert event["type"] == "Warning"
            assert event["message"].startswith("0/1 nodes are available: 1 Insufficient cpu.")
            huge = await (await http.get(f"{pods}/huge")).json()
            assert huge["status"]["phase"] == "Pending" and "nodeName" not in huge["spec"]
            scheduled = [c for c in huge["status"]["conditions"] if c["type"] == "PodScheduled"]
            assert scheduled[0]["status"] == "False"
            assert scheduled[0]["reason"] == "Unschedulable"

            # --time-scale 0.01: a 60 s initial delay lasts about 0.6 s of real time.
            probe = {"exec": {"command": ["true"]}, "initialDelaySeconds": 60, "periodSeconds": 1}
            assert (await http.post(pods, json=_pod("slow", "1", probe))).status == 201

            async def ready() -> bool:
                pod = await (await http.get(f"{pods}/slow")).json()
                conds = pod.get("status", {}).get("conditions") or []
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

            await _until(ready, timeout=20)
            huge = await (await http.get(f"{pods}/huge")).json()
            assert huge["status"]["phase"] == "Pending"
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
