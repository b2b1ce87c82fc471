"""What a DELETE answers: a Status once the object is gone, the object while deletion waits.

kube-apiserver's generic store returns `Status{status: Success, details: {name, group,
kind: <resource>, uid}}` for a finished delete, except for the kinds whose storage sets
ReturnDeletedObject (pods, services, ...); a delete held by finalizers or a grace period
answers with the object, now carrying deletionTimestamp.
"""

from __future__ import annotations

from unit_tests.sandbox_http_harness import CM_URL, api_client, configmap


async def test_finished_delete_answers_a_success_status() -> None:
    async with api_client() as (client, _):
        created = await (await client.post(CM_URL, json=configmap("gone"))).json()
        resp = await client.delete(f"{CM_URL}/gone")
        assert resp.status == 200
        assert await resp.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": "gone", "kind": "configmaps", "uid": created["metadata"]["uid"]},
        }
        # A dry run answers the same way and keeps the object.
        await client.post(CM_URL, json=configmap("dry"))
        dry = await (await client.delete(f"{CM_URL}/dry?dryRun=All")).json()
        assert dry["kind"] == "Status" and dry["details"]["name"] == "dry"
        assert (await client.get(f"{CM_URL}/dry")).status == 200


async def test_pending_delete_and_pods_answer_the_object() -> None:
    async with api_client() as (client, _):
        held = configmap("held")
        held["metadata"]["finalizers"] = ["example.com/x"]
        await client.post(CM_URL, json=held)
        body = await (await client.delete(f"{CM_URL}/held")).json()
        assert body["kind"] == "ConfigMap" and body["metadata"]["deletionTimestamp"]
        dry = await (await client.delete(f"{CM_URL}/held?dryRun=All")).json()
        assert dry["kind"] == "ConfigMap"

        pods = "/api/v1/namespaces/default/pods"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
        await client.post(pods, json=pod)
        # Unscheduled, so deleted at once; pods still answer with the object.
        gone = await (await client.delete(f"{pods}/p")).json()
        assert gone["kind"] == "Pod" and gone["metadata"]["name"] == "p"
        assert (await client.get(f"{pods}/p")).status == 404
