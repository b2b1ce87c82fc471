"""kubernetes-asyncio against the sandbox: watches, deletion and garbage collection.

`kubernetes_asyncio.watch.Watch` streams from a resourceVersion with bookmarks and
meets 410 Gone after compaction; deletion honours finalizers and pod grace periods;
ownerReferences are collected with background, foreground and orphan propagation.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from e2e.k8s_asyncio_support import api_client, eventually, raises_api
from kuberay_py.sandbox.server import Sandbox

NS = "default"
MERGE = "application/merge-patch+json"


def configmap(
    name: str,
    finalizers: list[str] | None = None,
    owners: list[client.V1OwnerReference] | None = None,
    **data: str,
) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name=name, finalizers=finalizers, owner_references=owners, labels={"w": "1"}
        ),
        data=dict(data) or None,
    )


def owned_by(obj: Any, block: bool = False) -> client.V1OwnerReference:
    return client.V1OwnerReference(
        api_version="v1",
        kind="ConfigMap",
        name=obj.metadata.name,
        uid=obj.metadata.uid,
        block_owner_deletion=block or None,
    )


async def test_watch_from_resource_version_with_bookmarks(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        before = await core.create_namespaced_config_map(NS, configmap("before"))
        start_rv = before.metadata.resource_version
        # Changes after start_rv, made before the watch opens: the watch replays them.
        await core.patch_namespaced_config_map(
            "before", NS, {"data": {"a": "1"}}, _content_type=MERGE
        )
        await core.create_namespaced_config_map(NS, configmap("second"))

        w = watch.Watch()
        events: list[tuple[str, str | None, str]] = []
        stream = w.stream(
            core.list_namespaced_config_map,
            NS,
            resource_version=start_rv,
            allow_watch_bookmarks=True,
            label_selector="w=1",
            timeout_seconds=10,
        )
        async with w:
            async for event in stream:
                obj = event["raw_object"]
                events.append(
                    (event["type"], obj["metadata"].get("name"), obj["metadata"]["resourceVersion"])
                )
                if event["type"] == "ADDED" and obj["metadata"]["name"] == "second":
                    await core.delete_namespaced_config_map("before", NS)
                if event["type"] == "BOOKMARK":
                    # A bookmark is a bare object of the watched kind carrying only an rv.
                    assert obj["kind"] == "ConfigMap"
                    assert set(obj["metadata"]) == {"resourceVersion"}
                    break
        kinds = [(t, n) for t, n, _ in events]
        assert kinds[:3] == [("MODIFIED", "before"), ("ADDED", "second"), ("DELETED", "before")]
        assert kinds[3][0] == "BOOKMARK"
        rvs = [int(rv) for _, _, rv in events]
        assert rvs == sorted(rvs) and rvs[0] > int(start_rv)
        # The watch remembers where it got to: the bookmark's rv.
        assert w.resource_version == events[-1][2]


async def test_watch_yields_typed_objects_and_ends_at_timeout(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map(NS)
        w = watch.Watch()
        seen: list[Any] = []

        async def writer() -> None:
            await core.create_namespaced_config_map(NS, configmap("typed", k="v"))

        task = asyncio.create_task(writer())
        async with w:
            async for event in w.stream(
                core.list_namespaced_config_map,
                NS,
                resource_version=listed.metadata.resource_version,
                timeout_seconds=1,
            ):
                seen.append(event)
        await task
        # The stream ended by itself when the server-side timeout passed.
        assert [e["type"] for e in seen] == ["ADDED"]
        assert isinstance(seen[0]["object"], client.V1ConfigMap)
        assert seen[0]["object"].data == {"k": "v"}


async def test_watch_after_compaction_is_410(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        old = await core.create_namespaced_config_map(NS, configmap("old"))
        await core.patch_namespaced_config_map("old", NS, {"data": {"x": "1"}}, _content_type=MERGE)
        sandbox.registry.compact()

        w = watch.Watch()
        # With timeout_seconds set, Watch does not retry: the ERROR event's Status
        # (410 Expired) surfaces as an ApiException.
        with pytest.raises(ApiException) as caught:
            async with w:
                async for _ in w.stream(
                    core.list_namespaced_config_map,
                    NS,
                    resource_version=old.metadata.resource_version,
                    timeout_seconds=5,
                ):
                    pass
        assert caught.value.status == 410
        assert "Expired" in caught.value.reason or "Gone" in caught.value.reason
        assert "too old resource version" in caught.value.reason

        # The recovery kube clients do: list again, watch from the list's rv.
        relisted = await core.list_namespaced_config_map(NS)
        w2 = watch.Watch()
        async with w2:
            stream = w2.stream(
                core.list_namespaced_config_map,
                NS,
                resource_version=relisted.metadata.resource_version,
                timeout_seconds=5,
            )
            await core.create_namespaced_config_map(NS, configmap("fresh"))
            async for event in stream:
                assert (event["type"], event["object"].metadata.name) == ("ADDED", "fresh")
                break


async def test_finalizers_hold_deletion(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_config_map(
            NS, configmap("held", finalizers=["example.com/hold"])
        )
        await core.delete_namespaced_config_map("held", NS)
        held = await core.read_namespaced_config_map("held", NS)
        assert held.metadata.deletion_timestamp is not None
        assert held.metadata.deletion_grace_period_seconds == 0
        assert held.metadata.finalizers == ["example.com/hold"]

        # A terminating object accepts no new finalizers, but is otherwise writable.
        await raises_api(
            core.patch_namespaced_config_map(
                "held",
                NS,
                {"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}},
                _content_type=MERGE,
            ),
            422,
        )
        await core.patch_namespaced_config_map(
            "held", NS, {"data": {"still": "writable"}}, _content_type=MERGE
        )

        await core.patch_namespaced_config_map(
            "held", NS, [{"op": "remove", "path": "/metadata/finalizers"}]
        )
        await raises_api(core.read_namespaced_config_map("held", NS), 404)


async def test_graceful_pod_deletion(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="slow"),
            spec=client.V1PodSpec(
                termination_grace_period_seconds=20,
                containers=[client.V1Container(name="c", image="busybox")],
            ),
        )
        await core.create_namespaced_pod(NS, pod)

        async def running() -> bool:
            got = await core.read_namespaced_pod("slow", NS)
            return got.status.phase == "Running"

        await eventually(running)
        answer = await core.delete_namespaced_pod(
            "slow", NS, body=client.V1DeleteOptions(grace_period_seconds=10)
        )
        # A graceful delete answers with the pod, now terminating.
        assert answer.metadata.deletion_timestamp is not None
        assert answer.metadata.deletion_grace_period_seconds == 10

        async def gone() -> bool:
            try:
                await core.read_namespaced_pod("slow", NS)
            except ApiException as exc:
                return exc.status == 404
            return False

        await eventually(gone)

        # Unscheduled pods have no kubelet to wait for: they go at once.
        unscheduled = client.V1Pod(
            metadata=client.V1ObjectMeta(name="nowhere"),
            spec=client.V1PodSpec(
                node_selector={"no": "such-node"},
                containers=[client.V1Container(name="c", image="busybox")],
            ),
        )
        await core.create_namespaced_pod(NS, unscheduled)
        await core.delete_namespaced_pod("nowhere", NS)
        await raises_api(core.read_namespaced_pod("nowhere", NS), 404)


async def _absent(core: client.CoreV1Api, name: str) -> bool:
    try:
        await core.read_namespaced_config_map(name, NS)
    except ApiException as exc:
        return exc.status == 404
    return False


async def test_garbage_collection_background(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        owner = await core.create_namespaced_config_map(NS, configmap("bg-owner"))
        await core.create_namespaced_config_map(NS, configmap("bg-child", owners=[owned_by(owner)]))
        await core.delete_namespaced_config_map(
            "bg-owner", NS, body=client.V1DeleteOptions(propagation_policy="Background")
        )
        # The owner goes at once; the collector removes the dependent afterwards.
        await raises_api(core.read_namespaced_config_map("bg-owner", NS), 404)
        await eventually(lambda: _absent(core, "bg-child"))


async def test_garbage_collection_foreground(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        owner = await core.create_namespaced_config_map(NS, configmap("fg-owner"))
        # The child blocks its owner's deletion and holds a finalizer of its own, so the
        # owner stays visible (with foregroundDeletion) until the child is really gone.
        await core.create_namespaced_config_map(
            NS,
            configmap("fg-child", finalizers=["example.com/slow"], owners=[owned_by(owner, True)]),
        )
        await core.delete_namespaced_config_map(
            "fg-owner", NS, body=client.V1DeleteOptions(propagation_policy="Foreground")
        )
        waiting = await core.read_namespaced_config_map("fg-owner", NS)
        assert waiting.metadata.deletion_timestamp is not None
        assert "foregroundDeletion" in waiting.metadata.finalizers

        async def child_terminating() -> bool:
            child = await core.read_namespaced_config_map("fg-child", NS)
            return child.metadata.deletion_timestamp is not None

        await eventually(child_terminating)
        still = await core.read_namespaced_config_map("fg-owner", NS)
        assert still.metadata.deletion_timestamp is not None

        await core.patch_namespaced_config_map(
            "fg-child", NS, {"metadata": {"finalizers": None}}, _content_type=MERGE
        )
        await eventually(lambda: _absent(core, "fg-child"))
        await eventually(lambda: _absent(core, "fg-owner"))


async def test_garbage_collection_orphan(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        owner = await core.create_namespaced_config_map(NS, configmap("or-owner"))
        await core.create_namespaced_config_map(NS, configmap("or-child", owners=[owned_by(owner)]))
        await core.delete_namespaced_config_map(
            "or-owner", NS, body=client.V1DeleteOptions(propagation_policy="Orphan")
        )
        await eventually(lambda: _absent(core, "or-owner"))

        async def orphaned() -> bool:
            child = await core.read_namespaced_config_map("or-child", NS)
            return not child.metadata.owner_references

        await eventually(orphaned)
        child = await core.read_namespaced_config_map("or-child", NS)
        assert child.metadata.deletion_timestamp is None


async def test_job_pods_are_collected_with_their_job(sandbox: Sandbox) -> None:
    """A Job's pods are owned by it; deleting the Job in the background removes them."""
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        batch = client.BatchV1Api(api)
        job = client.V1Job(
            metadata=client.V1ObjectMeta(name="once"),
            spec=client.V1JobSpec(
                template=client.V1PodTemplateSpec(
                    spec=client.V1PodSpec(
                        restart_policy="Never",
                        containers=[client.V1Container(name="c", image="busybox")],
                    )
                )
            ),
        )
        created = await batch.create_namespaced_job(NS, job)
        selector = f"batch.kubernetes.io/controller-uid={created.metadata.uid}"

        async def has_pod() -> Any:
            pods = await core.list_namespaced_pod(NS, label_selector=selector)
            return pods.items

        [pod] = await eventually(has_pod)
        assert pod.metadata.owner_references[0].uid == created.metadata.uid
        await batch.delete_namespaced_job(
            "once", NS, body=client.V1DeleteOptions(propagation_policy="Background")
        )

        async def no_pods() -> bool:
            pods = await core.list_namespaced_pod(NS, label_selector=selector)
            return not pods.items

        await eventually(no_pods)
