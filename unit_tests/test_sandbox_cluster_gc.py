"""Garbage collector: background, foreground, orphan, a remaining owner; namespace deletion."""

from __future__ import annotations

import asyncio
from typing import Any

from kuberay_py.sandbox.cluster.garbage_collector import GarbageCollector
from kuberay_py.sandbox.cluster.namespaces import NamespaceController
from kuberay_py.sandbox.containers.base import ContainerContext
from kuberay_py.sandbox.containers.callable import CallableRuntime
from kuberay_py.sandbox.registry.types import DeleteOptions
from unit_tests.sandbox_cluster_harness import Cluster, cluster, eventually, pod_manifest


def _cm(name: str, *owners: dict[str, Any], block: bool = False) -> dict[str, Any]:
    refs = [
        {
            "apiVersion": o["apiVersion"],
            "kind": o["kind"],
            "name": o["metadata"]["name"],
            "uid": o["metadata"]["uid"],
            **({"blockOwnerDeletion": True} if block else {}),
        }
        for o in owners
    ]
    meta: dict[str, Any] = {"name": name}
    if refs:
        meta["ownerReferences"] = refs
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def _gc(c: Cluster) -> Any:
    return c.rt("", "configmaps")


async def test_background_deletes_dependents_whose_owners_are_all_gone() -> None:
    async with cluster(GarbageCollector, kubelets=False, scheduler=False) as c:
        cms = _gc(c)
        owner = c.registry.create(cms, "default", _cm("owner"))
        child = c.registry.create(cms, "default", _cm("child", owner))
        grandchild = c.registry.create(cms, "default", _cm("grandchild", child))
        c.registry.delete(cms, "default", "owner")
        await eventually(lambda: c.get(cms, "default", "child") is None)
        await eventually(lambda: c.get(cms, "default", "grandchild") is None)
        assert grandchild["metadata"]["uid"]


async def test_dependent_created_after_its_owner_is_gone_is_collected() -> None:
    async with cluster(GarbageCollector, kubelets=False, scheduler=False) as c:
        cms = _gc(c)
        ghost = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ghost", "uid": "00000000-dead-beef-0000-000000000000"},
        }
        c.registry.create(cms, "default", _cm("orphaned", ghost))
        await eventually(lambda: c.get(cms, "default", "orphaned") is None)


async def test_one_remaining_owner_keeps_the_dependent_and_drops_the_dangling_ref() -> None:
    async with cluster(GarbageCollector, kubelets=False, scheduler=False) as c:
        cms = _gc(c)
        a = c.registry.create(cms, "default", _cm("a"))
        b = c.registry.create(cms, "default", _cm("b"))
        c.registry.create(cms, "default", _cm("shared", a, b))
        c.registry.delete(cms, "default", "a")

        def refs() -> list[str] | None:
            obj = c.get(cms, "default", "shared")
            names = [r["name"] for r in obj["metadata"].get("ownerReferences", [])]
            return names if names == ["b"] else None

        await eventually(refs)
        assert c.get(cms, "default", "shared") is not None


async def test_foreground_waits_for_blocking_dependents() -> None:
    async def stubborn(ctx: ContainerContext, stop: asyncio.Event) -> int:
        await asyncio.sleep(3600)  # ignores SIGTERM: the pod takes its whole grace period
        return 0

    runtime = CallableRuntime(images={"stubborn": stubborn})
    async with cluster(GarbageCollector, nodes=1, runtime=runtime) as c:
        cms = _gc(c)
        owner = c.registry.create(cms, "default", _cm("fg-owner"))
        pod = pod_manifest(
            "fg-pod",
            containers=[{"name": "main", "image": "stubborn"}],
            terminationGracePeriodSeconds=30,
        )
        pod["metadata"]["ownerReferences"] = _cm("x", owner, block=True)["metadata"][
            "ownerReferences"
        ]
        c.registry.create(c.pods, "default", pod)
        c.registry.create(cms, "default", _cm("fg-free", owner))
        await eventually(lambda: c.pod("fg-pod")["status"].get("phase") == "Running")
        c.registry.delete(
            cms, "default", "fg-owner", DeleteOptions(propagation_policy="Foreground")
        )
        # The owner stays (deletionTimestamp + foregroundDeletion) while its pod terminates.
        owner_now = c.get(cms, "default", "fg-owner")
        assert owner_now is not None and "foregroundDeletion" in owner_now["metadata"]["finalizers"]
        await eventually(
            lambda: (c.pod("fg-pod") or {}).get("metadata", {}).get("deletionTimestamp")
        )
        assert c.get(cms, "default", "fg-owner") is not None
        await eventually(lambda: c.pod("fg-pod") is None)
        await eventually(lambda: c.get(cms, "default", "fg-owner") is None)
        await eventually(lambda: c.get(cms, "default", "fg-free") is None)


async def test_orphan_removes_owner_references_and_keeps_dependents() -> None:
    async with cluster(GarbageCollector, kubelets=False, scheduler=False) as c:
        cms = _gc(c)
        owner = c.registry.create(cms, "default", _cm("o-owner"))
        c.registry.create(cms, "default", _cm("o-child", owner))
        c.registry.delete(cms, "default", "o-owner", DeleteOptions(propagation_policy="Orphan"))
        await eventually(lambda: c.get(cms, "default", "o-owner") is None)
        child = c.get(cms, "default", "o-child")
        assert child is not None and not child["metadata"].get("ownerReferences")


async def test_namespace_deletion_empties_it_then_removes_it() -> None:
    async with cluster(GarbageCollector, NamespaceController, nodes=1) as c:
        ns_rt = c.rt("", "namespaces")
        cms = _gc(c)
        c.registry.create(ns_rt, None, {"metadata": {"name": "team"}})
        sa = await eventually(lambda: c.get(c.rt("", "serviceaccounts"), "team", "default"))
        assert sa["metadata"]["namespace"] == "team"
        c.registry.create(cms, "team", _cm("cfg"))
        c.registry.create(c.pods, "team", pod_manifest("worker"))
        await eventually(
            lambda: (c.pod("worker", "team") or {}).get("status", {}).get("phase") == "Running"
        )
        c.registry.delete(ns_rt, None, "team")
        assert c.get(ns_rt, None, "team")["status"]["phase"] == "Terminating"
        await eventually(lambda: c.get(ns_rt, None, "team") is None)
        assert c.get(cms, "team", "cfg") is None and c.pod("worker", "team") is None
        assert c.components[-1].finalize_fallbacks == 0


async def test_default_service_account_is_recreated() -> None:
    async with cluster(NamespaceController, kubelets=False, scheduler=False) as c:
        sas = c.rt("", "serviceaccounts")
        await eventually(lambda: c.get(sas, "default", "default"))
        c.registry.delete(sas, "default", "default")
        await eventually(lambda: c.get(sas, "default", "default"))


async def test_custom_resource_owners_are_watched_once_their_crd_registers() -> None:
    async with cluster(GarbageCollector, kubelets=False, scheduler=False) as c:
        schema = {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        }
        c.registry.create(
            c.rt("apiextensions.k8s.io", "customresourcedefinitions"),
            None,
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {
                    "group": "example.com",
                    "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}],
                },
            },
        )
        widgets = await eventually(lambda: c.registry.catalog.get("example.com", "v1", "widgets"))
        owner = c.registry.create(
            widgets,
            "default",
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        )
        cms = _gc(c)
        c.registry.create(cms, "default", _cm("dep", owner))
        gc = c.components[-1]
        await eventually(lambda: owner["metadata"]["uid"] in gc.graph)
        c.registry.delete(widgets, "default", "w")
        await eventually(lambda: c.get(cms, "default", "dep") is None)
