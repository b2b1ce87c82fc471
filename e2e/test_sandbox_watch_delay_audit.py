"""A running sandbox: watch events held back by a fault, pod creates counted in the audit log.

This is the set-up a controller's expectations test needs: lists are current,
watches lag by a known delay, and the audit log says exactly how many pods a
client created (by verb, resource and User-Agent).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from kuberay_py.kube import PODS, KubeClient
from kuberay_py.kube.client import USER_AGENT
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.http.audit import ANY_SUBRESOURCE, count_requests
from kuberay_py.sandbox.server import Sandbox

DELAY = 1.0
PODS_URL = "/api/v1/namespaces/default/pods"


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "worker-", "labels": {"app": "delay"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }


async def _added(resp: aiohttp.ClientResponse, want: int) -> list[tuple[float, str]]:
    seen: list[tuple[float, str]] = []
    while len(seen) < want:
        line = await asyncio.wait_for(resp.content.readline(), 15)
        assert line, "the watch ended early"
        event = orjson.loads(line)
        if event["type"] == "ADDED":
            seen.append((time.monotonic(), event["object"]["metadata"]["name"]))
    return seen


async def test_delayed_pod_watch_and_counted_creates(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    async with sandbox_factory(audit_log=str(audit)) as sb:
        headers = {"User-Agent": "watch-delay-test/1.0"}
        async with (
            aiohttp.ClientSession(base_url=sb.url, headers=headers) as http,
            await KubeClient.from_config(str(sb.kubeconfig_path)) as client,
        ):
            rule = {
                "action": "watch_delay",
                "resource": "pods",
                "namespace": "default",
                "delaySeconds": DELAY,
            }
            resp = await http.post("/sandbox/faults", data=orjson.dumps(rule))
            assert resp.status == 201 and (await resp.json())["delaySeconds"] == DELAY
            listed = await (await http.get(PODS_URL)).json()
            watch = await http.get(
                PODS_URL,
                params={
                    "watch": "true",
                    "resourceVersion": listed["metadata"]["resourceVersion"],
                    "timeoutSeconds": "30",
                },
            )
            arrivals = asyncio.ensure_future(_added(watch, 5))
            started = time.monotonic()
            created = [
                (await client.create(PODS, _pod(), namespace="default"))["metadata"]["name"]
                for _ in range(5)
            ]
            # A list is current at once; the watch has delivered nothing yet.
            now = await (await http.get(PODS_URL, params={"labelSelector": "app=delay"})).json()
            assert sorted(p["metadata"]["name"] for p in now["items"]) == sorted(created)
            assert not arrivals.done()
            seen = await arrivals
            assert [name for _, name in seen] == created
            assert all(at - started >= DELAY - 0.05 for at, _ in seen)
            watch.close()

        events = sb.audit_events()
        creates = functools.partial(count_requests, events, verb="create", resource="pods")
        assert creates(user_agent=USER_AGENT) == 5
        assert creates(user_agent_prefix="kuberay-py/", code=201) == 5
        assert creates(user_agent="watch-delay-test/1.0") == 0
        assert count_requests(events, verb="list", resource="pods", user_agent_prefix="watch-") == 2
        # A watch is audited when its stream ends (stage ResponseComplete).
        await eventually(
            lambda: count_requests(sb.audit_events(), verb="watch", resource="pods") == 1
        )
        # The scheduler and kubelets work in-process: no pods/binding or pods/status requests.
        everything = count_requests(events, resource="pods", subresource=ANY_SUBRESOURCE)
        assert everything == count_requests(events, resource="pods")
