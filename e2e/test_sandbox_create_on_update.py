"""PUT to a missing object: created (201) for the kinds kube allows, 404 for the rest."""

from __future__ import annotations

import aiohttp

from kuberay_py.sandbox.server import Sandbox


async def test_put_creates_leases_but_not_configmaps(sandbox: Sandbox) -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "upserted", "namespace": "default"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
    }
    lease_url = f"{sandbox.url}/apis/coordination.k8s.io/v1/namespaces/default/leases/upserted"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nope"}}
    cm_url = f"{sandbox.url}/api/v1/namespaces/default/configmaps/nope"
    async with aiohttp.ClientSession() as http:
        async with http.put(lease_url, json=lease) as resp:
            assert resp.status == 201
            created = await resp.json()
        assert created["spec"]["holderIdentity"] == "me" and created["metadata"]["uid"]
        lease["spec"]["holderIdentity"] = "you"
        async with http.put(lease_url, json=lease) as resp:
            assert resp.status == 200
            assert (await resp.json())["spec"]["holderIdentity"] == "you"
        async with http.put(cm_url, json=cm) as resp:
            assert resp.status == 404
            assert (await resp.json())["reason"] == "NotFound"
        async with http.put(f"{lease_url}/status", json=lease) as resp:
            assert resp.status == 404  # leases have no status subresource
