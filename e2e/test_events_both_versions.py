"""One Event, two APIs: what the operator's recorder writes as events.k8s.io/v1 shows in
`kubectl describe pod` and `kubectl get events` (core/v1), and the sandbox's own core/v1
Events reach an events.k8s.io/v1 watcher, converted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from e2e.conftest import Kubectl
from kuberay_py.kube import EVENTS, EVENTS_V1, PODS, KubeClient
from kuberay_py.runtime import EventRecorder
from kuberay_py.sandbox.server import Sandbox

NS = "default"
POD = {
    "metadata": {"name": "head-0"},
    "spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.9.0"}]},
}


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(str(sandbox.kubeconfig_path))
    yield c
    await c.close()


async def test_recorder_event_shows_in_kubectl_describe_and_get(
    client: KubeClient, kubectl: Kubectl
) -> None:
    pod = await client.create(PODS, POD, NS)
    rec = EventRecorder(client, "kuberay-operator", "kuberay-operator-7d9")
    published = await rec.publish(
        pod, reason="HeadPodCreated", note="created head pod head-0", action="Create"
    )
    assert published is not None and rec.failed == 0
    uid = pod["metadata"]["uid"]

    # kubectl describe's own query: core/v1 with the involvedObject field selector.
    selector = f"involvedObject.name=head-0,involvedObject.namespace={NS},involvedObject.uid={uid}"
    core = (await client.list(EVENTS, NS, field_selector=selector))["items"]
    ours = [e for e in core if e["reason"] == "HeadPodCreated"]
    assert len(ours) == 1
    assert ours[0]["apiVersion"] == "v1"
    assert ours[0]["message"] == "created head pod head-0"
    assert ours[0]["involvedObject"]["uid"] == uid
    assert ours[0]["reportingComponent"] == "kuberay-operator"

    described = (await kubectl("describe", "pod", "head-0", "-n", NS)).check().out
    events_section = described.split("Events:", 1)[1]
    line = next(ln for ln in events_section.splitlines() if "HeadPodCreated" in ln)
    assert "Normal" in line and "kuberay-operator" in line
    assert "created head pod head-0" in line

    listed = (await kubectl("get", "events", "-n", NS)).check().out
    line = next(ln for ln in listed.splitlines() if "HeadPodCreated" in ln)
    assert "pod/head-0" in line and "created head pod head-0" in line

    as_json = (
        await kubectl(
            "get",
            "events.v1.events.k8s.io",
            "-n",
            NS,
            "--field-selector",
            "regarding.name=head-0,reason=HeadPodCreated",
            "-o",
            "jsonpath={.items[*].note}",
        )
    ).check()
    assert as_json.out == "created head pod head-0"


async def _first_matching(
    client: KubeClient, rv: str, pod_name: str, reason: str
) -> dict[str, Any]:
    async with client.watch(
        EVENTS_V1,
        NS,
        resource_version=rv,
        field_selector=f"regarding.name={pod_name}",
        timeout_seconds=30,
        idle_timeout=20,
    ) as stream:
        async with asyncio.timeout(20):
            async for etype, obj in stream:
                if etype in ("ADDED", "MODIFIED") and obj.get("reason") == reason:
                    return obj
    raise AssertionError(f"no {reason} event for {pod_name}")


async def test_sandbox_core_events_reach_an_events_v1_watch(client: KubeClient) -> None:
    rv = (await client.list(EVENTS_V1, NS))["metadata"]["resourceVersion"]
    watching = asyncio.create_task(_first_matching(client, rv, "head-0", "Scheduled"))
    pod = await client.create(PODS, POD, NS)
    event = await asyncio.wait_for(watching, 25)
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["regarding"]["uid"] == pod["metadata"]["uid"]
    assert event["note"].startswith("Successfully assigned default/head-0 to ")
    assert event["deprecatedSource"]["component"] == "default-scheduler"
    assert "involvedObject" not in event and "message" not in event
