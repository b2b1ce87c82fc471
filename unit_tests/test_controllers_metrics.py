"""KubeRay's RayCluster metrics: names, labels and help as KubeRay exports them, the
provisioning duration recorded on the False->True transition, cleanup on deletion, and
the series served on the Manager's own /metrics endpoint."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from kuberay_py.api.raycluster import RayClusterStatus
from kuberay_py.controllers.metrics import (
    RayClusterMetrics,
    raycluster_metrics_for,
    raycluster_metrics_for_manager,
)
from kuberay_py.kube import RAYCLUSTERS
from kuberay_py.runtime import Manager
from kuberay_py.runtime.cache import Cache
from kuberay_py.runtime.testing import FakeKube, eventually

CREATED = "2025-01-01T00:00:00Z"


def cluster(name: str, ns: str = "default", *, owner: str | None = None) -> dict[str, Any]:
    labels = {} if owner is None else {"ray.io/originated-from-crd": owner}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"{name}-uid",
            "labels": labels,
            "creationTimestamp": CREATED,
        },
        "spec": {},
    }


def provisioned(status: str, at: str = "2025-01-01T00:01:30Z") -> RayClusterStatus:
    return RayClusterStatus(
        conditions=[
            {
                "type": "RayClusterProvisioned",
                "status": status,
                "reason": "AllPodRunningAndReadyFirstTime",
                "message": "",
                "lastTransitionTime": at,
            }
        ]
    )


def value(reg: CollectorRegistry, metric: str, **labels: str) -> float | None:
    """A sample's value; `name_` stands for the `name` label."""
    if "name_" in labels:
        labels["name"] = labels.pop("name_")
    return reg.get_sample_value(metric, labels)


def test_info_names_the_owner_kind() -> None:
    reg = CollectorRegistry()
    m = RayClusterMetrics(reg)
    m.observe(cluster("test-ray-cluster", owner="RayJob"), None, RayClusterStatus())
    m.observe(cluster("test-ray-cluster-2"), None, RayClusterStatus())
    info = "kuberay_cluster_info"
    common = {"namespace": "default"}
    assert (
        value(
            reg,
            info,
            name_="test-ray-cluster",
            uid="test-ray-cluster-uid",
            owner_kind="RayJob",
            **common,
        )
        == 1
    )
    assert (
        value(
            reg,
            info,
            name_="test-ray-cluster-2",
            uid="test-ray-cluster-2-uid",
            owner_kind="None",
            **common,
        )
        == 1
    )
    text = generate_latest(reg).decode()
    assert (
        "# HELP kuberay_cluster_info Metadata information about RayCluster custom resources" in text
    )
    assert "# TYPE kuberay_cluster_info gauge" in text


def test_condition_provisioned_true_and_false() -> None:
    reg = CollectorRegistry()
    m = RayClusterMetrics(reg)
    m.observe(cluster("provisioned-cluster"), None, provisioned("True"))
    m.observe(cluster("unprovisioned-cluster"), None, provisioned("False"))
    name = "kuberay_cluster_condition_provisioned"
    assert (
        value(
            reg,
            name,
            name_="provisioned-cluster",
            namespace="default",
            uid="provisioned-cluster-uid",
            condition="true",
        )
        == 1
    )
    assert (
        value(
            reg,
            name,
            name_="unprovisioned-cluster",
            namespace="default",
            uid="unprovisioned-cluster-uid",
            condition="false",
        )
        == 1
    )
    assert (
        value(
            reg,
            name,
            name_="provisioned-cluster",
            namespace="default",
            uid="provisioned-cluster-uid",
            condition="false",
        )
        is None
    )
    text = generate_latest(reg).decode()
    assert (
        "# HELP kuberay_cluster_condition_provisioned Indicates whether the RayCluster is "
        "provisioned" in text
    )


def test_provisioned_duration_recorded_on_the_transition_only() -> None:
    reg = CollectorRegistry()
    m = RayClusterMetrics(reg)
    c = cluster("c1")
    key = {"name": "c1", "namespace": "default", "uid": "c1-uid"}
    duration = "kuberay_cluster_provisioned_duration_seconds"

    m.observe(c, None, provisioned("False"))
    assert value(reg, duration, **key) is None
    m.observe(c, provisioned("False"), provisioned("True", "2025-01-01T00:01:30Z"))
    assert value(reg, duration, **key) == 90.0
    # Already True before: not a transition, the figure stays.
    m.observe(c, provisioned("True"), provisioned("True", "2025-01-01T01:00:00Z"))
    assert value(reg, duration, **key) == 90.0
    # A suspension resets Provisioned; becoming True again is a new transition.
    m.observe(c, provisioned("False"), provisioned("True", "2025-01-01T00:10:00Z"))
    assert value(reg, duration, **key) == 600.0
    text = generate_latest(reg).decode()
    assert (
        "# HELP kuberay_cluster_provisioned_duration_seconds The time, in seconds, when a "
        "RayCluster's `RayClusterProvisioned` status transitions from false (or unset) to true"
    ) in text


def test_duration_needs_both_timestamps() -> None:
    reg = CollectorRegistry()
    m = RayClusterMetrics(reg)
    c = cluster("c1")
    del c["metadata"]["creationTimestamp"]
    m.observe(c, None, provisioned("True"))
    assert "kuberay_cluster_provisioned_duration_seconds{" not in generate_latest(reg).decode()


def test_forget_drops_only_that_cluster() -> None:
    reg = CollectorRegistry()
    m = RayClusterMetrics(reg)
    for name, ns in (("cluster1", "ns1"), ("cluster2", "ns2"), ("cluster3", "ns1")):
        m.observe(cluster(name, ns), None, provisioned("True"))
    duration = "kuberay_cluster_provisioned_duration_seconds"

    def present(name: str, ns: str) -> bool:
        return value(reg, duration, name_=name, namespace=ns, uid=f"{name}-uid") is not None

    m.forget("cluster1", "ns1")
    assert [present("cluster1", "ns1"), present("cluster2", "ns2"), present("cluster3", "ns1")] == [
        False,
        True,
        True,
    ]
    info = value(
        reg,
        "kuberay_cluster_info",
        name_="cluster1",
        namespace="ns1",
        uid="cluster1-uid",
        owner_kind="None",
    )
    assert info is None
    m.forget("", "ns1")  # no name: nothing matches
    m.forget("ns2", "cluster2")  # arguments swapped: nothing matches
    assert present("cluster2", "ns2") and present("cluster3", "ns1")


def test_one_instance_per_registry() -> None:
    reg = CollectorRegistry()
    first = raycluster_metrics_for(reg)
    assert raycluster_metrics_for(reg) is first
    with pytest.raises(ValueError, match="Duplicated"):
        RayClusterMetrics(reg)
    assert raycluster_metrics_for(CollectorRegistry()) is not first


def uid_of(kube: FakeKube, name: str) -> str:
    stored = kube.stored(RAYCLUSTERS, name, "default")
    assert stored is not None
    return str(stored["metadata"]["uid"])


async def _fetch_metrics(port: int | None) -> str:
    assert port
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        return await resp.text()


async def test_served_by_the_manager_for_every_cached_cluster() -> None:
    kube = FakeKube()
    await kube.create(RAYCLUSTERS, cluster("seen-at-start", owner="RayService"))
    reg = CollectorRegistry()
    mgr = Manager(
        kube,  # type: ignore[arg-type]
        registry=reg,
        health_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
        graceful_shutdown_timeout=2,
    )
    metrics = raycluster_metrics_for_manager(mgr)
    assert raycluster_metrics_for(reg) is metrics
    # Nothing watches RayClusters yet: the scrape still works, with no cluster series.
    assert 'kuberay_cluster_info{name="seen-at-start"' not in generate_latest(reg).decode()
    mgr.informers_for(RAYCLUSTERS)
    task = asyncio.create_task(mgr.run(handle_signals=False))
    try:
        await eventually(lambda: mgr.synced.is_set())
        body = await _fetch_metrics(mgr.metrics_port)
        uid = uid_of(kube, "seen-at-start")  # the API server assigns it
        assert (
            'kuberay_cluster_info{name="seen-at-start",namespace="default",'
            f'owner_kind="RayService",uid="{uid}"}} 1.0'
        ) in body
        assert (
            'kuberay_cluster_condition_provisioned{condition="false",name="seen-at-start",'
            f'namespace="default",uid="{uid}"}} 1.0'
        ) in body

        late = cluster("late")
        late["status"] = {"conditions": [{"type": "RayClusterProvisioned", "status": "True"}]}
        await kube.create(RAYCLUSTERS, late)
        await kube.delete(RAYCLUSTERS, "seen-at-start", "default")

        late_uid = uid_of(kube, "late")

        def updated() -> bool:
            text = generate_latest(reg).decode()
            return (
                'kuberay_cluster_condition_provisioned{condition="true",name="late",'
                f'namespace="default",uid="{late_uid}"}} 1.0'
                in text
                and 'name="seen-at-start"' not in text
            )

        await eventually(updated)
    finally:
        mgr.stop()
        await asyncio.wait_for(task, 5)


def test_a_discarded_cache_is_not_kept_alive() -> None:
    reg = CollectorRegistry()
    m = RayClusterMetrics(reg)
    cache = Cache(list)
    m.watch_cache(cache)
    ref = weakref.ref(cache)
    del cache
    gc.collect()
    assert ref() is None
    m.observe(cluster("only-observed"), None, RayClusterStatus())
    # With no live cache left, the observed clusters are reported instead.
    text = generate_latest(reg).decode()
    assert 'kuberay_cluster_info{name="only-observed"' in text
