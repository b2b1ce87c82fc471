"""ResourceQuota for pods: kube's 403 wording, what counts, scopes, and status.hard/used."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.resourcequota import (
    ResourceQuotaAdmission,
    ResourceQuotaController,
    pod_usage,
)
from kuberay_py.sandbox.registry.catalog import Catalog
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import DeleteOptions, WriteOptions
from unit_tests.sandbox_cluster_harness import cluster, eventually

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def quota(name: str, hard: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name},
        "spec": {"hard": hard, **spec},
    }


def pod(
    name: str | None = None,
    *,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    generate: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox:1.36"}
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    if resources:
        container["resources"] = resources
    meta = {"name": name} if name else {"generateName": generate}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [container], **spec},
    }


@pytest.fixture
def registry() -> Registry:
    reg = Registry(Catalog())
    reg.add_validating_admission(ResourceQuotaAdmission(reg))
    return reg


def _rts(reg: Registry) -> tuple[Any, Any]:
    return reg.catalog.require("", "v1", "pods"), reg.catalog.require("", "v1", "resourcequotas")


def _forbidden(reg: Registry, obj: dict[str, Any], ns: str = "default") -> StatusError:
    pods, _ = _rts(reg)
    with pytest.raises(StatusError) as info:
        reg.create(pods, ns, obj)
    return info.value


def test_pod_count_quota_refuses_with_kube_message(registry: Registry) -> None:
    pods, quotas = _rts(registry)
    registry.create(quotas, "default", quota("pod-count", {"pods": "1"}))
    registry.create(pods, "default", pod("first"))
    err = _forbidden(registry, pod("second"))
    assert err.code == 403 and err.reason == "Forbidden"
    assert err.message == (
        'pods "second" is forbidden: exceeded quota: pod-count, '
        "requested: pods=1, used: pods=1, limited: pods=1"
    )
    assert err.status["details"] == {"name": "second", "kind": "pods"}
    # Another namespace has no quota; the refused pod was never stored.
    registry.create(pods, "kube-public", pod("second"))
    assert [p["metadata"]["name"] for p in registry.list(pods, "default").items] == ["first"]


def test_generated_name_is_the_one_in_the_message(registry: Registry) -> None:
    pods, quotas = _rts(registry)
    registry.create(quotas, "default", quota("q", {"count/pods": "1"}))
    registry.create(pods, "default", pod(generate="raycluster-worker-"))
    err = _forbidden(registry, pod(generate="raycluster-worker-"))
    # kube admits after generating the name, so the message names the generated pod.
    name = err.status["details"]["name"]
    assert name.startswith("raycluster-worker-") and len(name) == len("raycluster-worker-") + 5
    assert err.message == (
        f'pods "{name}" is forbidden: exceeded quota: q, '
        "requested: count/pods=1, used: count/pods=1, limited: count/pods=1"
    )


def test_compute_quota_lists_only_exceeded_resources_sorted(registry: Registry) -> None:
    pods, quotas = _rts(registry)
    hard = {"requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "pods": "10"}
    registry.create(quotas, "default", quota("compute", hard))
    registry.create(
        pods, "default", pod("a", requests={"cpu": "1500m", "memory": "1Gi"}, limits={"cpu": "2"})
    )
    err = _forbidden(
        registry, pod("b", requests={"cpu": "1", "memory": "1Gi"}, limits={"cpu": "3"})
    )
    assert err.message == (
        'pods "b" is forbidden: exceeded quota: compute, '
        "requested: limits.cpu=3,requests.cpu=1, used: limits.cpu=2,requests.cpu=1500m, "
        "limited: limits.cpu=4,requests.cpu=2"
    )
    # Within every limit: admitted.
    registry.create(
        pods, "default", pod("c", requests={"cpu": "500m", "memory": "3Gi"}, limits={"cpu": "2"})
    )
    err = _forbidden(
        registry, pod("d", requests={"cpu": "1m", "memory": "1"}, limits={"cpu": "1m"})
    )
    assert err.message == (
        'pods "d" is forbidden: exceeded quota: compute, '
        "requested: limits.cpu=1m,requests.cpu=1m,requests.memory=1, "
        "used: limits.cpu=4,requests.cpu=2,requests.memory=4Gi, "
        "limited: limits.cpu=4,requests.cpu=2,requests.memory=4Gi"
    )


def test_cpu_and_memory_quotas_require_every_container_to_state_them(registry: Registry) -> None:
    pods, quotas = _rts(registry)
    registry.create(quotas, "default", quota("mem", {"limits.memory": "1Gi", "requests.cpu": "1"}))
    bare = pod("bare")
    bare["spec"]["initContainers"] = [{"name": "init", "image": "busybox:1.36"}]
    err = _forbidden(registry, bare)
    assert err.code == 403
    assert err.message == (
        'pods "bare" is forbidden: failed quota: mem: must specify '
        "limits.memory for: init,main; requests.cpu for: init,main"
    )
    # A limit alone is defaulted into the request (as kube's Pod defaulting does).
    registry.create(pods, "default", pod("limited", limits={"cpu": "500m", "memory": "256Mi"}))
    stored = registry.get(pods, "default", "limited")
    assert stored["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "500m",
        "memory": "256Mi",
    }


def test_terminal_pods_are_free_but_count_pods_counts_them(registry: Registry) -> None:
    pods, quotas = _rts(registry)
    registry.create(quotas, "default", quota("q", {"pods": "1"}))
    registry.create(pods, "default", pod("done"))
    done = registry.get(pods, "default", "done")
    registry.update(
        pods, "default", "done", {**done, "status": {"phase": "Succeeded"}}, subresource="status"
    )
    registry.create(pods, "default", pod("next"))  # a Succeeded pod frees "pods"
    assert set(pod_usage(registry.get(pods, "default", "done"), NOW)) == {"count/pods"}
    registry.create(quotas, "default", quota("stored", {"count/pods": "2"}))
    err = _forbidden(registry, pod("third"))  # count/pods counts every stored pod
    assert "exceeded quota: q," in err.message  # quotas are checked in name order
    registry.delete(quotas, "default", "q")
    err = _forbidden(registry, pod("third"))
    assert err.message.endswith(
        "requested: count/pods=1, used: count/pods=2, limited: count/pods=2"
    )


def test_usage_follows_kube_pod_requests_rules() -> None:
    spec_pod = pod("x", requests={"cpu": "1", "memory": "1Gi"}, limits={"memory": "2Gi"})
    spec_pod["spec"]["initContainers"] = [
        {"name": "big-init", "image": "i", "resources": {"requests": {"cpu": "3"}}},
        {
            "name": "sidecar",
            "image": "s",
            "restartPolicy": "Always",
            "resources": {"requests": {"cpu": "250m", "nvidia.com/gpu": "1"}},
        },
    ]
    spec_pod["spec"]["overhead"] = {"cpu": "100m"}
    usage = {k: str(v) for k, v in pod_usage(spec_pod, NOW).items()}
    assert usage == {
        "count/pods": "1",
        "pods": "1",
        "cpu": "3100m",  # max(containers 1 + sidecar 250m, init 3 alone) + overhead 100m
        "requests.cpu": "3100m",
        "memory": "1Gi",
        "requests.memory": "1Gi",
        "limits.memory": "2Gi",
        "requests.nvidia.com/gpu": "1",
    }
    deleting = pod("gone")
    deleting["metadata"].update(
        deletionTimestamp="2024-12-31T23:59:00Z", deletionGracePeriodSeconds=30
    )
    assert set(pod_usage(deleting, NOW)) == {"count/pods"}  # past its grace: free


def test_scopes_choose_the_pods(registry: Registry) -> None:
    pods, quotas = _rts(registry)
    registry.create(quotas, "default", quota("best-effort", {"pods": "1"}, scopes=["BestEffort"]))
    registry.create(
        quotas,
        "default",
        quota(
            "high",
            {"pods": "0"},
            scopeSelector={
                "matchExpressions": [
                    {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
                ]
            },
        ),
    )
    registry.create(pods, "default", pod("be1"))
    assert "exceeded quota: best-effort" in _forbidden(registry, pod("be2")).message
    registry.create(pods, "default", pod("burst", requests={"cpu": "100m"}))  # NotBestEffort
    err = _forbidden(registry, pod("vip", requests={"cpu": "1"}, priorityClassName="high"))
    assert err.message.endswith(
        "exceeded quota: high, requested: pods=1, used: pods=0, limited: pods=0"
    )


def test_dry_run_is_checked_and_quota_status_starts_empty(registry: Registry) -> None:
    pods, quotas = _rts(registry)
    created = registry.create(
        quotas, "default", {**quota("q", {"pods": "0"}), "status": {"used": {"pods": "99"}}}
    )
    assert "status" not in created  # the controller's to write
    with pytest.raises(StatusError) as info:
        registry.create(pods, "default", pod("p"), WriteOptions(dry_run=True))
    assert info.value.code == 403


async def test_controller_keeps_status_hard_and_used_current() -> None:
    def with_quota(reg: Registry, clock: SandboxClock) -> ResourceQuotaController:
        reg.add_validating_admission(ResourceQuotaAdmission(reg))
        return ResourceQuotaController(reg, clock)

    async with cluster(with_quota, kubelets=False) as c:
        quotas = c.rt("", "resourcequotas")
        hard = {"pods": "3", "requests.cpu": "2000m", "requests.memory": "4096Mi", "services": "5"}
        c.registry.create(quotas, "default", quota("compute", hard))

        def status() -> dict[str, Any]:
            got = c.get(quotas, "default", "compute")
            return (got or {}).get("status") or {}

        await eventually(lambda: status().get("used"))
        assert status() == {
            "hard": {"pods": "3", "requests.cpu": "2", "requests.memory": "4Gi", "services": "5"},
            "used": {"pods": "0", "requests.cpu": "0", "requests.memory": "0"},
        }
        c.registry.create(c.pods, "default", pod("a", requests={"cpu": "500m", "memory": "1Gi"}))
        c.registry.create(c.pods, "default", pod("b", requests={"cpu": "1", "memory": "512Mi"}))
        want = {"pods": "2", "requests.cpu": "1500m", "requests.memory": "1536Mi"}
        await eventually(lambda: status().get("used") == want)
        c.registry.delete(c.pods, "default", "a", DeleteOptions(grace_period_seconds=0))
        want = {"pods": "1", "requests.cpu": "1", "requests.memory": "512Mi"}
        await eventually(lambda: status().get("used") == want)
