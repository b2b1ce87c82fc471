"""Pod enum fields kube validates (imagePullPolicy, restartPolicy): 422 with kube's words."""

from __future__ import annotations

from typing import Any

from unit_tests.sandbox_http_harness import api_client

PODS = "/api/v1/namespaces/default/pods"
PULL = 'Unsupported value: "Foo": supported values: "Always", "IfNotPresent", "Never"'


def _pod(name: str, container: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    c = {"name": "main", "image": "busybox:1.36", **(container or {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [c], **spec},
    }


async def test_image_pull_policy_must_be_one_of_three() -> None:
    async with api_client() as (client, _):
        resp = await client.post(PODS, json=_pod("p", {"imagePullPolicy": "Foo"}))
        body = await resp.json()
        assert resp.status == 422 and body["reason"] == "Invalid"
        assert body["message"] == (
            f'Pod "p" is invalid: spec.containers[0].imagePullPolicy: {PULL}'
        )
        assert body["details"]["causes"] == [
            {
                "reason": "FieldValueNotSupported",
                "message": PULL,
                "field": "spec.containers[0].imagePullPolicy",
            }
        ]
        # Each valid value is accepted; an empty one is defaulted as if unset.
        for i, policy in enumerate(("Always", "IfNotPresent", "Never", "")):
            resp = await client.post(PODS, json=_pod(f"ok{i}", {"imagePullPolicy": policy}))
            assert resp.status == 201, await resp.text()
        stored = await (await client.get(f"{PODS}/ok3")).json()
        assert stored["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


async def test_restart_policy_and_several_causes_in_kube_order() -> None:
    async with api_client() as (client, _):
        resp = await client.post(PODS, json=_pod("r", restartPolicy="Sometimes"))
        body = await resp.json()
        assert resp.status == 422
        assert body["message"] == (
            'Pod "r" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": '
            'supported values: "Always", "OnFailure", "Never"'
        )
        bad = _pod("many", {"imagePullPolicy": "Foo"}, restartPolicy="Sometimes")
        bad["spec"]["initContainers"] = [
            {"name": "init", "image": "busybox", "imagePullPolicy": "Bar", "restartPolicy": "No"}
        ]
        body = await (await client.post(PODS, json=bad)).json()
        assert [c["field"] for c in body["details"]["causes"]] == [
            "spec.containers[0].imagePullPolicy",
            "spec.initContainers[0].imagePullPolicy",
            "spec.initContainers[0].restartPolicy",
            "spec.restartPolicy",
        ]
        assert body["message"].startswith(
            f'Pod "many" is invalid: [spec.containers[0].imagePullPolicy: {PULL}, '
            'spec.initContainers[0].imagePullPolicy: Unsupported value: "Bar": '
        )
        assert 'spec.initContainers[0].restartPolicy: Unsupported value: "No": ' in body["message"]
        # A container-level restartPolicy is only for init containers (sidecars).
        resp = await client.post(PODS, json=_pod("c", {"restartPolicy": "Always"}))
        body = await resp.json()
        assert resp.status == 422 and body["message"] == (
            'Pod "c" is invalid: spec.containers[0].restartPolicy: '
            "Forbidden: may not be set for non-init containers"
        )


async def test_pod_templates_are_validated_the_same_way() -> None:
    async with api_client() as (client, _):
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "x", "imagePullPolicy": "Foo"}],
                    }
                }
            },
        }
        resp = await client.post("/apis/batch/v1/namespaces/default/jobs", json=job)
        body = await resp.json()
        assert resp.status == 422
        assert f"spec.template.spec.containers[0].imagePullPolicy: {PULL}" in body["message"]
