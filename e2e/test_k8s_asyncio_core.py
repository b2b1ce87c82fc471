"""kubernetes-asyncio, unchanged, against the sandbox: the API semantics of built-in kinds.

Everything goes through kubernetes-asyncio's generated API classes configured from the
sandbox's kubeconfig, as a user's program would: discovery and /version, every verb,
resourceVersion and conflicts, generation, generateName, the three patch types, label
and field selectors, paging with an expired continue token, kube `Status` errors as
`ApiException`s, throttling with Retry-After, Leases, events.k8s.io Events and
EndpointSlices.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from e2e.k8s_asyncio_support import api_client, eventually, raises_api
from kuberay_py.sandbox.http.faults import FaultRule
from kuberay_py.sandbox.server import Sandbox

NS = "default"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data=dict(data) or None
    )


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(name="web", image=image),
                        client.V1Container(name="sidecar", image="busybox:1.36"),
                    ]
                ),
            ),
        ),
    )


def rv(obj: Any) -> int:
    return int(obj.metadata.resource_version)


async def test_discovery_and_version(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        version = await client.VersionApi(api).get_code()
        assert version.major == "1" and version.minor.isdigit()
        assert version.git_version.startswith(f"v1.{version.minor}.")

        core_versions = await client.CoreApi(api).get_api_versions()
        assert core_versions.versions == ["v1"]

        groups = await client.ApisApi(api).get_api_versions()
        names = {g.name: g for g in groups.groups}
        for group in ("apps", "batch", "coordination.k8s.io", "discovery.k8s.io"):
            assert group in names, sorted(names)
        assert names["apps"].preferred_version.group_version == "apps/v1"
        assert "events.k8s.io" in names and "apiextensions.k8s.io" in names

        core = await client.CoreV1Api(api).get_api_resources()
        assert core.group_version == "v1"
        by_name = {r.name: r for r in core.resources}
        pods = by_name["pods"]
        assert pods.kind == "Pod" and pods.namespaced and "po" in pods.short_names
        assert set(pods.verbs) >= {
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        }
        assert "all" in pods.categories
        assert "pods/status" in by_name and "pods/log" in by_name
        assert not by_name["namespaces"].namespaced

        apps = await client.AppsV1Api(api).get_api_resources()
        deploy = {r.name: r for r in apps.resources}["deployments"]
        assert deploy.kind == "Deployment" and "deploy" in deploy.short_names
        assert "deployments/scale" in {r.name for r in apps.resources}
        batch = await client.BatchV1Api(api).get_api_resources()
        assert {"jobs", "cronjobs"} <= {r.name for r in batch.resources}
        coordination = await client.CoordinationV1Api(api).get_api_resources()
        assert "leases" in {r.name for r in coordination.resources}


async def test_every_verb_with_monotonic_resource_versions(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        seen: list[int] = []

        created = await core.create_namespaced_config_map(NS, configmap("verbs", k="1"))
        assert created.metadata.uid and created.metadata.creation_timestamp
        assert created.metadata.namespace == NS
        seen.append(rv(created))

        got = await core.read_namespaced_config_map("verbs", NS)
        assert got.data == {"k": "1"} and rv(got) == seen[-1]

        listed = await core.list_namespaced_config_map(NS)
        assert "verbs" in [c.metadata.name for c in listed.items]
        assert int(listed.metadata.resource_version) >= seen[-1]

        got.data = {"k": "2"}
        replaced = await core.replace_namespaced_config_map("verbs", NS, got)
        assert replaced.data == {"k": "2"} and replaced.metadata.uid == created.metadata.uid
        seen.append(rv(replaced))

        patched = await core.patch_namespaced_config_map(
            "verbs", NS, {"data": {"extra": "x"}}, _content_type=MERGE
        )
        assert patched.data == {"k": "2", "extra": "x"}
        seen.append(rv(patched))

        other = await core.create_namespaced_config_map(NS, configmap("verbs-2"))
        seen.append(rv(other))
        assert seen == sorted(seen) and len(set(seen)) == len(seen), seen

        deleted = await core.delete_namespaced_config_map("verbs", NS)
        # Deleted at once: kube answers with a Success Status naming the object's uid.
        assert deleted.kind == "Status" and deleted.status == "Success"
        assert deleted.details.name == "verbs" and deleted.details.kind == "configmaps"
        assert deleted.details.uid == created.metadata.uid
        await raises_api(core.read_namespaced_config_map("verbs", NS), 404)

        # The list's resourceVersion moves past every write, including the delete.
        after = await core.list_namespaced_config_map(NS)
        assert int(after.metadata.resource_version) > seen[-1]
        assert "verbs" not in [c.metadata.name for c in after.items]


async def test_deletecollection_with_label_selector(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        for i in range(3):
            await core.create_namespaced_config_map(NS, configmap(f"doomed-{i}", {"batch": "x"}))
        await core.create_namespaced_config_map(NS, configmap("kept", {"batch": "y"}))

        await core.delete_collection_namespaced_config_map(NS, label_selector="batch=x")
        left = await core.list_namespaced_config_map(NS, label_selector="batch")
        assert [c.metadata.name for c in left.items] == ["kept"]


async def test_conflict_and_already_exists(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        first = await core.create_namespaced_config_map(NS, configmap("contended", v="0"))

        duplicate = await raises_api(
            core.create_namespaced_config_map(NS, configmap("contended")), 409
        )
        assert duplicate["reason"] == "AlreadyExists"
        assert duplicate["details"] == {"name": "contended", "kind": "configmaps"}
        assert duplicate["message"] == 'configmaps "contended" already exists'

        # Someone else writes first; replacing with the stale resourceVersion conflicts.
        fresh = await core.read_namespaced_config_map("contended", NS)
        fresh.data = {"v": "1"}
        await core.replace_namespaced_config_map("contended", NS, fresh)
        first.data = {"v": "stale"}
        conflict = await raises_api(core.replace_namespaced_config_map("contended", NS, first), 409)
        assert conflict["reason"] == "Conflict"
        assert conflict["details"]["name"] == "contended"
        assert "the object has been modified" in conflict["message"]
        assert (await core.read_namespaced_config_map("contended", NS)).data == {"v": "1"}

        # A merge patch carrying a stale resourceVersion is a precondition, and fails too.
        await raises_api(
            core.patch_namespaced_config_map(
                "contended",
                NS,
                {"metadata": {"resourceVersion": first.metadata.resource_version}},
                _content_type=MERGE,
            ),
            409,
        )


async def test_generation_moves_on_spec_changes_only(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        apps = client.AppsV1Api(api)
        created = await apps.create_namespaced_deployment(NS, deployment("gen"))
        assert created.metadata.generation == 1

        labelled = await apps.patch_namespaced_deployment(
            "gen", NS, {"metadata": {"labels": {"tier": "web"}}}, _content_type=MERGE
        )
        assert labelled.metadata.generation == 1
        assert rv(labelled) > rv(created)

        current = await apps.read_namespaced_deployment_status("gen", NS)
        current.status = client.V1DeploymentStatus(observed_generation=1, replicas=7)
        status_written = await apps.replace_namespaced_deployment_status("gen", NS, current)
        assert status_written.metadata.generation == 1
        assert status_written.status.replicas == 7

        scaled = await apps.patch_namespaced_deployment(
            "gen", NS, {"spec": {"replicas": 2}}, _content_type=MERGE
        )
        assert scaled.metadata.generation == 2
        # The status subresource does not let a main-resource write change the spec...
        again = await apps.read_namespaced_deployment("gen", NS)
        again.spec.replicas = 9
        again.status.replicas = 1
        through_status = await apps.replace_namespaced_deployment_status("gen", NS, again)
        assert through_status.spec.replicas == 2 and through_status.metadata.generation == 2


async def test_generate_name(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
        a = await core.create_namespaced_config_map(NS, body)
        b = await core.create_namespaced_config_map(NS, body)
        for made in (a, b):
            assert made.metadata.name.startswith("gen-")
            assert len(made.metadata.name) == len("gen-") + 5
            assert made.metadata.generate_name == "gen-"
        assert a.metadata.name != b.metadata.name


async def test_json_merge_and_strategic_merge_patch(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        apps = client.AppsV1Api(api)
        await core.create_namespaced_config_map(NS, configmap("patchy", a="1", b="2"))

        # A list body: kubernetes-asyncio sends application/json-patch+json by itself.
        json_patched = await core.patch_namespaced_config_map(
            "patchy",
            NS,
            [
                {"op": "test", "path": "/data/a", "value": "1"},
                {"op": "replace", "path": "/data/a", "value": "10"},
                {"op": "remove", "path": "/data/b"},
                {"op": "add", "path": "/metadata/labels", "value": {"p": "json"}},
            ],
        )
        assert json_patched.data == {"a": "10"}
        assert json_patched.metadata.labels == {"p": "json"}

        failed_test = await raises_api(
            core.patch_namespaced_config_map(
                "patchy", NS, [{"op": "test", "path": "/data/a", "value": "nope"}]
            ),
            422,
        )
        assert failed_test["reason"] == "Invalid"

        merged = await core.patch_namespaced_config_map(
            "patchy", NS, {"data": {"a": None, "c": "3"}}, _content_type=MERGE
        )
        assert merged.data == {"c": "3"}

        # Strategic merge (the client's default for a dict body) merges containers by name.
        await apps.create_namespaced_deployment(NS, deployment("smp"))
        smp = await apps.patch_namespaced_deployment(
            "smp",
            NS,
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}
                }
            },
        )
        containers = {c.name: c.image for c in smp.spec.template.spec.containers}
        assert containers == {"web": "nginx:1.28", "sidecar": "busybox:1.36"}
        assert smp.metadata.generation == 2

        # The same body as a JSON merge patch replaces the whole list.
        mp = await apps.patch_namespaced_deployment(
            "smp",
            NS,
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "x:1"}]}}}},
            _content_type=MERGE,
        )
        assert [(c.name, c.image) for c in mp.spec.template.spec.containers] == [("web", "x:1")]

        # Strategic merge's $patch: delete directive removes one element of a merged list.
        with_sidecar = await apps.patch_namespaced_deployment(
            "smp",
            NS,
            {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:1"}]}}}},
            _content_type=STRATEGIC,
        )
        assert {c.name for c in with_sidecar.spec.template.spec.containers} == {"web", "b"}
        removed = await apps.patch_namespaced_deployment(
            "smp",
            NS,
            {"spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}},
            _content_type=STRATEGIC,
        )
        assert [c.name for c in removed.spec.template.spec.containers] == ["web"]


async def test_label_and_field_selectors(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="sel")))
        specs = {
            "a": {"env": "prod", "tier": "web"},
            "b": {"env": "prod", "tier": "db"},
            "c": {"env": "dev", "tier": "web"},
            "d": {"env": "qa"},
        }
        for name, labels in specs.items():
            await core.create_namespaced_config_map("sel", configmap(name, labels))

        async def names(**kwargs: Any) -> list[str]:
            result = await core.list_namespaced_config_map("sel", **kwargs)
            return sorted(c.metadata.name for c in result.items if c.metadata.name in specs)

        assert await names(label_selector="env=prod") == ["a", "b"]
        assert await names(label_selector="env=prod,tier!=db") == ["a"]
        assert await names(label_selector="env in (dev,qa)") == ["c", "d"]
        assert await names(label_selector="tier") == ["a", "b", "c"]
        assert await names(label_selector="!tier") == ["d"]
        assert await names(field_selector="metadata.name=b") == ["b"]
        assert await names(field_selector="metadata.name!=b") == ["a", "c", "d"]
        assert await names(field_selector="metadata.name!=a", label_selector="tier=web") == ["c"]

        everywhere = await core.list_config_map_for_all_namespaces(
            field_selector="metadata.namespace=sel", label_selector="env"
        )
        assert sorted(c.metadata.name for c in everywhere.items) == ["a", "b", "c", "d"]

        bad = await raises_api(
            core.list_namespaced_config_map("sel", field_selector="data.x=y"), 400
        )
        assert bad["reason"] == "BadRequest" and "data.x" in bad["message"]
        await raises_api(core.list_namespaced_config_map("sel", label_selector="a in (b"), 400)


async def test_paging_and_expired_continue_token(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pages")))
        for i in range(7):
            await core.create_namespaced_config_map("pages", configmap(f"p{i}"))

        collected: list[str] = []
        token: str | None = None
        pages = 0
        list_rv: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 3}
            if token:
                kwargs["_continue"] = token
            page = await core.list_namespaced_config_map("pages", **kwargs)
            pages += 1
            list_rv = list_rv or page.metadata.resource_version
            # Every page of one list is served at the first page's resourceVersion.
            assert page.metadata.resource_version == list_rv
            collected += [c.metadata.name for c in page.items]
            token = page.metadata._continue
            if not token:
                assert page.metadata.remaining_item_count is None
                break
            assert page.metadata.remaining_item_count == 7 - len(collected)
        assert pages == 3
        assert collected == [f"p{i}" for i in range(7)]

        first = await core.list_namespaced_config_map("pages", limit=2)
        assert first.metadata._continue
        await core.create_namespaced_config_map("pages", configmap("later"))
        sandbox.registry.compact()
        expired = await raises_api(
            core.list_namespaced_config_map("pages", limit=2, _continue=first.metadata._continue),
            410,
        )
        assert expired["reason"] in ("Expired", "Gone")
        assert "continue" in expired["message"]


async def test_status_errors(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)

        missing = await raises_api(core.read_namespaced_pod("ghost", NS), 404)
        assert missing["reason"] == "NotFound"
        assert missing["details"] == {"name": "ghost", "kind": "pods"}
        assert missing["message"] == 'pods "ghost" not found'
        no_ns = await raises_api(
            core.create_namespaced_config_map("no-such-ns", configmap("x")), 404
        )
        assert no_ns["details"]["kind"] == "namespaces"

        # 405: PUT on a collection (the generated API never does it; its ApiClient can).
        not_allowed = await _raw(api, "/api/v1/namespaces/default/configmaps", "PUT", body={})
        assert not_allowed["code"] == 405 and not_allowed["reason"] == "MethodNotAllowed"

        # 415: a patch sent as plain application/json is not a patch type.
        await core.create_namespaced_config_map(NS, configmap("media"))
        unsupported = await raises_api(
            core.patch_namespaced_config_map(
                "media", NS, {"data": {"a": "b"}}, _content_type="application/json"
            ),
            415,
        )
        assert unsupported["reason"] == "UnsupportedMediaType"

        # 422: an invalid name, with the field path in details.causes.
        invalid = await raises_api(
            core.create_namespaced_config_map(NS, configmap("Not_A_Valid_Name")), 422
        )
        assert invalid["reason"] == "Invalid"
        assert invalid["details"]["name"] == "Not_A_Valid_Name"
        assert invalid["details"]["kind"] == "ConfigMap"
        causes = invalid["details"]["causes"]
        assert any(
            c["field"] == "metadata.name" and c["reason"] == "FieldValueInvalid" for c in causes
        ), causes

        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="badpod"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="")]),
        )
        bad_pod = await raises_api(core.create_namespaced_pod(NS, pod), 422)
        fields = {c["field"] for c in bad_pod["details"]["causes"]}
        assert "spec.containers[0].image" in fields, fields

        # 410: a watch from before compaction (the plain list call with watch=True).
        await core.create_namespaced_config_map(NS, configmap("bump"))
        sandbox.registry.compact()
        old = await _raw(
            api,
            "/api/v1/namespaces/default/configmaps",
            "GET",
            query=[("watch", "true"), ("resourceVersion", "1")],
        )
        # A watch answers 200 and carries the 410 as an ERROR event's Status.
        assert old["type"] == "ERROR"
        assert old["object"]["code"] == 410 and old["object"]["reason"] in ("Expired", "Gone")


async def _raw(
    api: client.ApiClient,
    path: str,
    method: str,
    body: Any = None,
    query: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """One request through kubernetes-asyncio's ApiClient; the decoded body, error or not."""
    try:
        resp = await api.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=5,
        )
    except ApiException as exc:
        return json.loads(exc.body)  # type: ignore[no-any-return]
    line = await resp.content.readline()
    resp.release()
    return json.loads(line)  # type: ignore[no-any-return]


async def test_throttled_with_retry_after(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        sandbox.faults.add(
            FaultRule(
                action="status",
                resource="configmaps",
                verb="list",
                code=429,
                retry_after=3,
                count=1,
            )
        )
        try:
            await core.list_namespaced_config_map(NS)
        except ApiException as exc:
            assert exc.status == 429
            assert exc.headers["Retry-After"] == "3"
            body = json.loads(exc.body)
            assert body["kind"] == "Status" and body["reason"] == "TooManyRequests"
            assert body["details"]["retryAfterSeconds"] == 3
        else:
            raise AssertionError("the fault rule did not fire")
        # The rule fired once; the next request is served.
        assert (await core.list_namespaced_config_map(NS)).kind == "ConfigMapList"
        # Other verbs and resources were never affected.
        await core.list_namespaced_secret(NS)


def _micro_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=123456)


async def test_leases(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        leases = client.CoordinationV1Api(api)
        acquired = _micro_now()
        lease = client.V1Lease(
            metadata=client.V1ObjectMeta(name="leader"),
            spec=client.V1LeaseSpec(
                holder_identity="a",
                lease_duration_seconds=15,
                acquire_time=acquired,
                renew_time=acquired,
                lease_transitions=0,
            ),
        )
        created = await leases.create_namespaced_lease(NS, lease)
        assert created.spec.holder_identity == "a"
        # MicroTime keeps microseconds through the round trip.
        assert created.spec.renew_time == acquired

        renewed_at = acquired + datetime.timedelta(seconds=5, microseconds=1)
        created.spec.renew_time = renewed_at
        renewed = await leases.replace_namespaced_lease("leader", NS, created)
        assert renewed.spec.renew_time == renewed_at and rv(renewed) > rv(created)

        # A second candidate holding the stale copy loses the race with 409.
        created.spec.holder_identity = "b"
        await raises_api(leases.replace_namespaced_lease("leader", NS, created), 409)
        renewed.spec.holder_identity = "b"
        renewed.spec.lease_transitions = 1
        taken = await leases.replace_namespaced_lease("leader", NS, renewed)
        assert taken.spec.holder_identity == "b" and taken.spec.lease_transitions == 1

        bad = client.V1Lease(
            metadata=client.V1ObjectMeta(name="bad"),
            spec=client.V1LeaseSpec(lease_duration_seconds=-1),
        )
        invalid = await raises_api(leases.create_namespaced_lease(NS, bad), 422)
        assert any(
            c["field"] == "spec.leaseDurationSeconds" for c in invalid["details"]["causes"]
        ), invalid


async def test_events_v1(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        events = client.EventsV1Api(api)
        core = client.CoreV1Api(api)
        target = await core.create_namespaced_config_map(NS, configmap("observed"))
        when = _micro_now()
        event = client.EventsV1Event(
            metadata=client.V1ObjectMeta(generate_name="observed."),
            event_time=when,
            reporting_controller="example.com/tester",
            reporting_instance="tester-1",
            action="Checked",
            reason="Looked",
            type="Normal",
            note="looked at it",
            regarding=client.V1ObjectReference(
                kind="ConfigMap",
                namespace=NS,
                name="observed",
                uid=target.metadata.uid,
                api_version="v1",
            ),
        )
        created = await events.create_namespaced_event(NS, event)
        assert created.event_time == when
        assert created.metadata.name.startswith("observed.")

        listed = await events.list_namespaced_event(NS, field_selector="regarding.name=observed")
        assert [e.reason for e in listed.items] == ["Looked"]
        assert listed.items[0].regarding.uid == target.metadata.uid

        # The model refuses event_time=None client-side; a plain dict body reaches the server.
        missing_time = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "no-time"},
            "reportingController": "example.com/tester",
            "reportingInstance": "tester-1",
            "action": "Checked",
            "reason": "Looked",
            "type": "Normal",
        }
        invalid = await raises_api(events.create_namespaced_event(NS, missing_time), 422)
        assert any(c["field"] == "eventTime" for c in invalid["details"]["causes"]), invalid


async def test_endpointslices_follow_ready_pods(sandbox: Sandbox) -> None:
    async with api_client(sandbox) as api:
        core = client.CoreV1Api(api)
        discovery = client.DiscoveryV1Api(api)
        await core.create_namespaced_service(
            NS,
            client.V1Service(
                metadata=client.V1ObjectMeta(name="web"),
                spec=client.V1ServiceSpec(
                    selector={"app": "web"},
                    ports=[client.V1ServicePort(name="http", port=8080, target_port=8080)],
                ),
            ),
        )
        await core.create_namespaced_pod(
            NS,
            client.V1Pod(
                metadata=client.V1ObjectMeta(name="web-0", labels={"app": "web"}),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="web",
                            image="nginx",
                            ports=[client.V1ContainerPort(container_port=8080)],
                        )
                    ]
                ),
            ),
        )

        async def ready_slice() -> Any:
            slices = await discovery.list_namespaced_endpoint_slice(
                NS, label_selector="kubernetes.io/service-name=web"
            )
            for s in slices.items:
                for ep in s.endpoints or []:
                    if ep.conditions.ready and ep.target_ref.name == "web-0":
                        return s
            return None

        found = await eventually(ready_slice)
        pod = await core.read_namespaced_pod("web-0", NS)
        assert found.address_type == "IPv4"
        assert found.endpoints[0].addresses == [pod.status.pod_ip]
        assert found.endpoints[0].node_name == pod.spec.node_name
        assert [(p.name, p.port) for p in found.ports] == [("http", 8080)]
        owner = found.metadata.owner_references[0]
        assert owner.kind == "Service" and owner.name == "web" and owner.controller
