"""Suspend and resume, as KubeRay's e2e TestRayClusterSuspend checks it (reference 7.7).

`spec.suspend: true` deletes every pod of the cluster, the state becomes `suspended`,
RayClusterSuspended is True (reason RayClusterSuspended), HeadPodReady False
(HeadPodNotFound) and RayClusterProvisioned False (RayClusterPodsProvisioning); on the
way RayClusterSuspending and RayClusterSuspended are never True together. Resuming
brings the cluster back to `ready` with the conditions of a fresh cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from e2e.operator_support import (
    NAMESPACE,
    SAMPLES,
    Kubectl,
    OperatorSandbox,
    condition,
    condition_is,
    events_about,
    objects_of,
    operator_requests,
    passes,
    ready_with_kuberay_conditions,
    show,
    wait_for_cluster,
)
from kuberay_py.api.config import OperatorConfig
from kuberay_py.kube import PODS, RAYCLUSTERS, KubeClient

pytest_plugins = ("e2e.operator_fixtures",)

pytestmark = pytest.mark.kubectl

Obj = dict[str, Any]

NAME = "raycluster-kuberay"  # manifests/samples/ray-cluster.sample.yaml


@pytest.fixture
def operator_config() -> OperatorConfig:
    # Periodic passes every 0.2 s, so "nothing happens while suspended" covers several.
    return OperatorConfig(default_requeue_seconds=0.2)


def suspended(c: Obj) -> bool:
    return (
        (c.get("status") or {}).get("state") == "suspended"
        and condition_is(c, "RayClusterSuspended", "True", "RayClusterSuspended")
        and condition_is(c, "HeadPodReady", "False", "HeadPodNotFound")
        and condition_is(c, "RayClusterProvisioned", "False", "RayClusterPodsProvisioning")
    )


@contextlib.asynccontextmanager
async def status_history(client: KubeClient, since: str) -> AsyncIterator[list[Obj]]:
    """Every status the RayCluster takes from resourceVersion `since` on (a watch)."""
    seen: list[Obj] = []

    async def follow() -> None:
        stream = client.watch(
            RAYCLUSTERS,
            NAMESPACE,
            field_selector=f"metadata.name={NAME}",
            resource_version=since,
            allow_watch_bookmarks=False,
        )
        async with stream:
            async for event in stream:
                seen.append(event.object)

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def set_suspend(client: KubeClient, value: bool) -> None:
    await client.patch(RAYCLUSTERS, NAME, {"spec": {"suspend": value}}, NAMESPACE)


async def test_suspend_deletes_every_pod_and_resume_brings_the_cluster_back(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    sb, _, client = operator_sandbox
    (await operator_kubectl("apply", "-f", str(SAMPLES / "ray-cluster.sample.yaml"))).check()
    ready = await wait_for_cluster(client, NAME, ready_with_kuberay_conditions, "ready")
    uid = ready["metadata"]["uid"]

    async with status_history(client, ready["metadata"]["resourceVersion"]) as history:
        await set_suspend(client, True)
        cluster = await wait_for_cluster(
            client,
            NAME,
            suspended,
            "suspended: state suspended, RayClusterSuspended True, HeadPodReady False "
            "HeadPodNotFound, RayClusterProvisioned False RayClusterPodsProvisioning",
        )
    assert not await objects_of(client, PODS, label_selector=f"ray.io/cluster={NAME}")
    assert condition_is(cluster, "RayClusterSuspending", "False", "RayClusterSuspending"), show(
        cluster
    )
    assert "suspended" in (cluster["status"].get("stateTransitionTimes") or {}), show(cluster)
    both = [
        c["metadata"]["resourceVersion"]
        for c in history
        if condition_is(c, "RayClusterSuspending", "True", "RayClusterSuspending")
        and condition_is(c, "RayClusterSuspended", "True", "RayClusterSuspended")
    ]
    assert not both, f"Suspending and Suspended both True at resourceVersions {both}"
    assert any(
        condition_is(c, "RayClusterSuspending", "True", "RayClusterSuspending") for c in history
    ), "the cluster went to Suspended without passing through Suspending"
    assert condition(cluster, "ReplicaFailure") is None, show(cluster)
    notes = [(e["reason"], e.get("note")) for e in await events_about(client, uid)]
    assert (
        "DeletedPod",
        f"Deleted Pods for RayCluster {NAMESPACE}/{NAME} due to suspension",
    ) in notes, notes

    # While suspended, periodic passes create nothing and change nothing.
    creates = operator_requests(sb, verb="create", resource="pods")
    await passes(5)
    assert operator_requests(sb, verb="create", resource="pods") == creates
    still = await client.get(RAYCLUSTERS, NAME, NAMESPACE)
    assert still["metadata"]["resourceVersion"] == cluster["metadata"]["resourceVersion"], show(
        still
    )

    await set_suspend(client, False)
    resumed = await wait_for_cluster(
        client,
        NAME,
        lambda c: (
            ready_with_kuberay_conditions(c)
            and condition_is(c, "RayClusterSuspended", "False", "RayClusterSuspended")
            and (c.get("status") or {}).get("availableWorkerReplicas") == 1
        ),
        "resumed: ready, RayClusterSuspended False, HeadPodReady True HeadPodRunningAndReady, "
        "RayClusterProvisioned True AllPodRunningAndReadyFirstTime",
    )
    pods = await objects_of(client, PODS, label_selector=f"ray.io/cluster={NAME}")
    types = sorted(p["metadata"]["labels"]["ray.io/node-type"] for p in pods)
    assert types == ["head", "worker"], types
    assert resumed["status"]["head"]["podName"] in {p["metadata"]["name"] for p in pods}
