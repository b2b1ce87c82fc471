"""Scheduler: fit, spreading, filters, and kube's FailedScheduling message and retry."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from kuberay_py.api.quantity import cpu_millis, memory_bytes, parse_quantity
from kuberay_py.sandbox.cluster.events import EventRecorder
from kuberay_py.sandbox.registry.types import DeleteOptions
from unit_tests.sandbox_cluster_harness import cluster, condition, eventually, pod_manifest


def test_quantities_parse_every_kube_suffix() -> None:
    assert cpu_millis("500m") == 500
    assert cpu_millis("1.5") == 1500
    assert cpu_millis(2) == 2000
    assert cpu_millis("100u") == 1  # rounded up like kube
    assert memory_bytes("32Gi") == 32 * 2**30
    assert memory_bytes("1G") == 10**9
    assert memory_bytes("1e3") == 1000
    assert memory_bytes("128974848") == 128974848
    assert memory_bytes("129M") == 129 * 10**6
    assert memory_bytes("123Mi") == 123 * 2**20
    assert parse_quantity("0.5Ki") == Fraction(512)
    for bad in ("", "1.2.3", "5 Gi", "abc", "1Gb"):
        with pytest.raises(ValueError):
            parse_quantity(bad)


async def test_pods_that_fit_are_bound_and_spread() -> None:
    async with cluster(kubelets=False) as c:
        for i in range(6):
            c.registry.create(c.pods, "default", pod_manifest(f"p{i}", cpu="1", memory="1Gi"))

        def all_bound() -> bool:
            return all(c.pod(f"p{i}")["spec"].get("nodeName") for i in range(6))

        await eventually(all_bound)
        nodes = Counter(c.pod(f"p{i}")["spec"]["nodeName"] for i in range(6))
        assert nodes == {"sandbox-node-1": 2, "sandbox-node-2": 2, "sandbox-node-3": 2}
        scheduled = condition(c.pod("p0"), "PodScheduled")
        assert scheduled is not None and scheduled["status"] == "True"
        events = [e for e in c.events("p0") if e["reason"] == "Scheduled"]
        assert events[0]["message"].startswith("Successfully assigned default/p0 to sandbox-node-")
        assert events[0]["source"]["component"] == "default-scheduler"


async def test_unschedulable_pod_gets_kube_message_event_and_is_retried_when_a_node_frees() -> None:
    async with cluster(kubelets=False, node_kw={"cpu": "2"}) as c:
        for i in range(3):
            c.registry.create(c.pods, "default", pod_manifest(f"big{i}", cpu="1500m"))
        await eventually(lambda: all(c.pod(f"big{i}")["spec"].get("nodeName") for i in range(3)))
        c.registry.create(c.pods, "default", pod_manifest("late", cpu="1"))
        msg = (
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod."
        )

        def unschedulable() -> bool:
            cond = condition(c.pod("late"), "PodScheduled")
            return cond is not None and cond["status"] == "False"

        await eventually(unschedulable)
        cond = condition(c.pod("late"), "PodScheduled")
        assert cond is not None and cond["reason"] == "Unschedulable" and cond["message"] == msg
        event = await eventually(
            lambda: [e for e in c.events("late") if e["reason"] == "FailedScheduling"]
        )
        assert event[0]["type"] == "Warning" and event[0]["message"] == msg
        assert event[0]["source"]["component"] == "default-scheduler"
        assert c.pod("late")["spec"].get("nodeName") is None
        # Freeing a node's cpu makes the scheduler try again at once.
        c.registry.delete(c.pods, "default", "big1", DeleteOptions(grace_period_seconds=0))
        node = await eventually(lambda: c.pod("late")["spec"].get("nodeName"))
        assert node.startswith("sandbox-node-")


async def test_node_selector_and_taints_filter_nodes() -> None:
    async with cluster(kubelets=False, nodes=2) as c:
        nodes_rt = c.rt("", "nodes")
        node = c.registry.get(nodes_rt, None, "sandbox-node-1")
        node = {
            **node,
            "spec": {
                **node["spec"],
                "taints": [{"key": "dedicated", "value": "ray", "effect": "NoSchedule"}],
            },
        }
        c.registry.update(nodes_rt, None, "sandbox-node-1", node)
        c.registry.create(
            c.pods,
            "default",
            pod_manifest("sel", nodeSelector={"kubernetes.io/hostname": "sandbox-node-1"}),
        )
        c.registry.create(
            c.pods,
            "default",
            pod_manifest(
                "tol",
                nodeSelector={"kubernetes.io/hostname": "sandbox-node-1"},
                tolerations=[
                    {
                        "key": "dedicated",
                        "operator": "Equal",
                        "value": "ray",
                        "effect": "NoSchedule",
                    }
                ],
            ),
        )
        c.registry.create(c.pods, "default", pod_manifest("free"))
        assert await eventually(lambda: c.pod("tol")["spec"].get("nodeName")) == "sandbox-node-1"
        assert await eventually(lambda: c.pod("free")["spec"].get("nodeName")) == "sandbox-node-2"
        cond = await eventually(lambda: condition(c.pod("sel"), "PodScheduled"))
        assert cond["message"] == (
            "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "1 node(s) had untolerated taint {dedicated: ray}. preemption: 0/2 nodes are "
            "available: 2 Preemption is not helpful for scheduling."
        )


async def test_pods_for_other_schedulers_or_already_bound_are_left_alone() -> None:
    async with cluster(kubelets=False) as c:
        c.registry.create(c.pods, "default", pod_manifest("other", schedulerName="volcano"))
        c.registry.create(c.pods, "default", pod_manifest("pinned", nodeName="sandbox-node-3"))
        c.registry.create(c.pods, "default", pod_manifest("mine"))
        await eventually(lambda: c.pod("mine")["spec"].get("nodeName"))
        assert c.pod("other")["spec"].get("nodeName") is None
        assert condition(c.pod("other"), "PodScheduled") is None
        assert c.pod("pinned")["spec"]["nodeName"] == "sandbox-node-3"


async def test_event_recorder_aggregates_repeats() -> None:
    async with cluster(kubelets=False, scheduler=False) as c:
        pod = c.registry.create(c.pods, "default", pod_manifest("agg"))
        rec = EventRecorder(c.registry, "kubelet", "sandbox-node-1")
        first = rec.warning(pod, "BackOff", "Back-off restarting failed container")
        rec.warning(pod, "BackOff", "Back-off restarting failed container")
        rec.warning(pod, "BackOff", "Back-off restarting failed container")
        rec.normal(pod, "Pulled", "other message")
        events = c.events("agg")
        assert len(events) == 2
        backoff = next(e for e in events if e["reason"] == "BackOff")
        assert first is not None and backoff["metadata"]["name"] == first["metadata"]["name"]
        assert backoff["count"] == 3
        assert backoff["involvedObject"]["uid"] == pod["metadata"]["uid"]
        assert backoff["source"] == {"component": "kubelet", "host": "sandbox-node-1"}
