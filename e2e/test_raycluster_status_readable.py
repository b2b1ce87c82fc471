"""Readable, quiet status (issue 5 point 8), with the real operator on the sandbox.

When a cluster cannot come up, its conditions say why in KubeRay's words: a quota
refusal is ReplicaFailure True / FailedCreateHeadPod with kube's "exceeded quota"
(KubeRay's e2e TestRayClusterWithResourceQuota and sampleyaml quota check, reference
section 7.7); a head pod that cannot start gives HeadPodReady False with a reason that
names the blocker (Unschedulable, ErrImagePull/ImagePullBackOff, CrashLoopBackOff),
and a Warning Event says it too. Once converged, the operator writes nothing on its
periodic passes: the RayCluster's resourceVersion stays put and the audit log shows no
write from `kuberay-py/` (GitOps tools see no churn).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from e2e.operator_support import (
    NAMESPACE,
    SAMPLES,
    Kubectl,
    OperatorSandbox,
    condition,
    condition_is,
    objects_of,
    operator_writes,
    passes,
    ready_with_kuberay_conditions,
    reconciles,
    show,
    wait_for_cluster,
)
from kuberay_py.api.config import OperatorConfig
from kuberay_py.kube import EVENTS, PODS, RAYCLUSTERS, RESOURCEQUOTAS, KubeClient
from kuberay_py.runtime.testing import eventually

pytest_plugins = ("e2e.operator_fixtures",)

pytestmark = pytest.mark.kubectl

Obj = dict[str, Any]

#: Passes of a converged cluster come this often, so a short window covers many.
REQUEUE_SECONDS = 0.2


@pytest.fixture
def operator_config() -> OperatorConfig:
    return OperatorConfig(default_requeue_seconds=REQUEUE_SECONDS)


def sample(name: str) -> Obj:
    manifest: Obj = yaml.safe_load((SAMPLES / "ray-cluster.sample.yaml").read_text())
    manifest["metadata"]["name"] = name
    return manifest


def head_container(manifest: Obj) -> Obj:
    container: Obj = manifest["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    return container


async def apply(kubectl: Kubectl, manifest: Obj) -> None:
    (await kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))).check()


async def warnings(client: KubeClient, cluster: str) -> list[tuple[str, str, str]]:
    """(object, reason, message) of every Warning about the cluster or one of its pods,
    from anyone (operator, scheduler, kubelet): what `kubectl get events` shows."""
    found = []
    for event in await objects_of(client, EVENTS):
        subject = event.get("involvedObject") or {}
        ours = (subject.get("kind") == "RayCluster" and subject.get("name") == cluster) or (
            subject.get("kind") == "Pod" and str(subject.get("name", "")).startswith(cluster)
        )
        if ours and event.get("type") == "Warning":
            found.append(
                (f"{subject['kind']}/{subject['name']}", event["reason"], event["message"])
            )
    return found


# ---------------------------------------------------------------- quota


async def test_a_quota_too_small_for_the_head_is_replica_failure_failed_create_head_pod(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    """KubeRay's TestRayClusterWithResourceQuota: quota cpu 0.1 / memory 0.1Gi."""
    _, _, client = operator_sandbox
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "test-quota"},
        "spec": {"hard": {"cpu": "0.1", "memory": "0.1Gi"}},
    }
    await client.create(RESOURCEQUOTAS, quota, NAMESPACE)
    name = "raycluster-resource-quota"
    await apply(operator_kubectl, sample(name))

    cluster = await wait_for_cluster(
        client,
        name,
        lambda c: condition_is(c, "ReplicaFailure", "True", "FailedCreateHeadPod"),
        "ReplicaFailure True with reason FailedCreateHeadPod",
    )
    message = (condition(cluster, "ReplicaFailure") or {}).get("message", "")
    assert "forbidden: exceeded quota" in message, show(cluster)
    assert "test-quota" in message, show(cluster)
    assert condition_is(cluster, "HeadPodReady", "False", "HeadPodNotFound"), show(cluster)
    assert not await objects_of(client, PODS, label_selector=f"ray.io/cluster={name}")

    found = await warnings(client, name)
    assert any(
        reason == "FailedToCreateHeadPod"
        and note.startswith(f"Failed to create head Pod {NAMESPACE}/")
        and "exceeded quota" in note
        for _, reason, note in found
    ), found


async def test_quota_zero_after_provisioning_keeps_provisioned_and_reports_the_head(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    """KubeRay's sampleyaml check: a provisioned cluster that loses all pods under a
    zero-pod quota shows HeadPodNotFound, stays Provisioned, and ReplicaFailure says why."""
    _, _, client = operator_sandbox
    name = "raycluster-quota-later"
    await apply(operator_kubectl, sample(name))
    await wait_for_cluster(client, name, ready_with_kuberay_conditions, "ready")
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods"},
        "spec": {"hard": {"pods": "0"}},
    }
    await client.create(RESOURCEQUOTAS, quota, NAMESPACE)
    (
        await operator_kubectl("delete", "pods", "-l", f"ray.io/cluster={name}", "--wait=false")
    ).check()

    cluster = await wait_for_cluster(
        client,
        name,
        lambda c: (
            condition_is(c, "HeadPodReady", "False", "HeadPodNotFound")
            and condition_is(c, "ReplicaFailure", "True", "FailedCreateHeadPod")
        ),
        "HeadPodReady False/HeadPodNotFound and ReplicaFailure True/FailedCreateHeadPod",
    )
    assert condition_is(
        cluster, "RayClusterProvisioned", "True", "AllPodRunningAndReadyFirstTime"
    ), show(cluster)
    assert "exceeded quota" in (condition(cluster, "ReplicaFailure") or {}).get("message", "")


# ---------------------------------------------------------------- a head that cannot start


async def _head_blocked(
    client: KubeClient, kubectl: Kubectl, manifest: Obj, reasons: set[str], what: str
) -> Obj:
    name = manifest["metadata"]["name"]
    await apply(kubectl, manifest)

    def blocked(c: Obj) -> bool:
        cond = condition(c, "HeadPodReady") or {}
        return cond.get("status") == "False" and cond.get("reason") in reasons

    return await wait_for_cluster(
        client,
        name,
        blocked,
        f"HeadPodReady False with a reason naming {what} (one of {sorted(reasons)}); "
        "an 'Unknown' or 'ContainersNotReady' reason hides the blocker from the user",
    )


async def test_an_unschedulable_head_is_named_in_head_pod_ready(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    _, _, client = operator_sandbox
    name = "raycluster-too-big"
    manifest = sample(name)
    # Sandbox nodes have 8 CPUs each; no node fits 64.
    head_container(manifest)["resources"] = {
        "requests": {"cpu": "64", "memory": "2Gi"},
        "limits": {"cpu": "64", "memory": "2Gi"},
    }
    cluster = await _head_blocked(
        client, operator_kubectl, manifest, {"Unschedulable"}, "the unschedulable head"
    )
    cond = condition(cluster, "HeadPodReady") or {}
    assert "Insufficient cpu" in cond.get("message", ""), show(cluster)
    assert cluster["status"].get("state") != "ready", show(cluster)
    found = await warnings(client, name)
    assert any(
        reason == "FailedScheduling" and "Insufficient cpu" in note for _, reason, note in found
    ), found


async def test_an_image_that_cannot_be_pulled_is_named_in_head_pod_ready(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    _, _, client = operator_sandbox
    name = "raycluster-bad-image"
    manifest = sample(name)
    # docs/sandbox.md: an image whose tag contains "does-not-exist" is not found.
    head_container(manifest)["image"] = "rayproject/ray:does-not-exist"
    cluster = await _head_blocked(
        client,
        operator_kubectl,
        manifest,
        {"ErrImagePull", "ImagePullBackOff"},
        "the image pull failure",
    )
    cond = condition(cluster, "HeadPodReady") or {}
    # KubeRay's FindHeadPodReadyCondition: "<container>: <waiting message>".
    assert "ray-head: " in cond.get("message", ""), show(cluster)
    assert "does-not-exist" in cond.get("message", ""), show(cluster)
    found = await warnings(client, name)
    assert any(reason == "Failed" and "does-not-exist" in note for _, reason, note in found), found


async def test_a_crash_looping_head_is_named_in_head_pod_ready(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    _, _, client = operator_sandbox
    name = "raycluster-crashing"
    manifest = sample(name)
    # The noop runtime's switch: the container exits 1 as soon as it starts.
    head_container(manifest)["env"] = [{"name": "SANDBOX_EXIT_CODE", "value": "1"}]
    cluster = await _head_blocked(
        client, operator_kubectl, manifest, {"CrashLoopBackOff"}, "the crash loop"
    )
    assert "ray-head: " in (condition(cluster, "HeadPodReady") or {}).get("message", "")
    found = await warnings(client, name)
    assert any(reason == "BackOff" for _, reason, _ in found), found


# ---------------------------------------------------------------- quiet when converged


async def test_a_converged_cluster_is_not_written_on_periodic_passes(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    sb, _, client = operator_sandbox
    name = "raycluster-quiet"
    await apply(operator_kubectl, sample(name))
    await wait_for_cluster(client, name, ready_with_kuberay_conditions, "ready")

    # The last status write and Events of convergence may still be on their way: start
    # the window once three passes in a row have written nothing.
    async def settled() -> Obj | None:
        writes, before = len(operator_writes(sb)), await client.get(RAYCLUSTERS, name, NAMESPACE)
        await passes(3)
        after = await client.get(RAYCLUSTERS, name, NAMESPACE)
        same = before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]
        return after if same and len(operator_writes(sb)) == writes else None

    try:
        first = copy.deepcopy(await eventually(settled, timeout=20))
    except AssertionError:
        recent = [(e["verb"], e.get("objectRef")) for e in operator_writes(sb)[-10:]]
        raise AssertionError(
            "the operator never went three passes without writing over a ready cluster; "
            f"its last writes: {recent}"
        ) from None
    writes_before = len(operator_writes(sb))
    passes_before = reconciles("raycluster")

    await passes(10)  # ten periodic passes (one every REQUEUE_SECONDS)
    second = await client.get(RAYCLUSTERS, name, NAMESPACE)
    new_writes = operator_writes(sb)[writes_before:]

    ran = reconciles("raycluster") - passes_before
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"], (
        f"the RayCluster changed during {ran:.0f} passes over a converged cluster:\n"
        f"before {show(first)}\nafter {show(second)}"
    )
    assert second["status"] == first["status"]
    assert not new_writes, (
        f"the operator wrote during {ran:.0f} passes over a converged cluster: "
        f"{[(e['verb'], e.get('objectRef')) for e in new_writes]}"
    )
