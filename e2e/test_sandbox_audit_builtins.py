"""Audit of issue 3 point 2: every built-in resource DESIGN.md names is served over HTTP.

For each one: discovery lists it (namespaced or not, with every verb), and a
create / get / list / delete round trip works on the wire. RBAC kinds are
"stored, not enforced", which is exactly what is checked for them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kuberay_py.sandbox.server import Sandbox

VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
NOW = "2026-01-01T00:00:00.000000Z"

# (group/version path, plural, kind, namespaced, extra body)
BUILTINS: list[tuple[str, str, str, bool, dict[str, Any]]] = [
    ("api/v1", "configmaps", "ConfigMap", True, {"data": {"a": "b"}}),
    ("api/v1", "secrets", "Secret", True, {"stringData": {"a": "b"}}),
    ("api/v1", "serviceaccounts", "ServiceAccount", True, {}),
    (
        "api/v1",
        "pods",
        "Pod",
        True,
        {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    ),
    ("api/v1", "services", "Service", True, {"spec": {"ports": [{"port": 80}]}}),
    ("api/v1", "endpoints", "Endpoints", True, {"subsets": []}),
    (
        "api/v1",
        "events",
        "Event",
        True,
        {"involvedObject": {"kind": "Pod", "name": "x", "namespace": "default"}, "reason": "R"},
    ),
    ("api/v1", "namespaces", "Namespace", False, {}),
    ("api/v1", "nodes", "Node", False, {}),
    (
        "apis/discovery.k8s.io/v1",
        "endpointslices",
        "EndpointSlice",
        True,
        {"addressType": "IPv4", "endpoints": []},
    ),
    (
        "apis/events.k8s.io/v1",
        "events",
        "Event",
        True,
        {
            "eventTime": NOW,
            "type": "Normal",
            "reason": "R",
            "action": "A",
            "reportingController": "audit",
            "reportingInstance": "audit-1",
        },
    ),
    (
        "apis/apps/v1",
        "deployments",
        "Deployment",
        True,
        {
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            }
        },
    ),
    (
        "apis/batch/v1",
        "jobs",
        "Job",
        True,
        {
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}],
                    }
                }
            }
        },
    ),
    (
        "apis/coordination.k8s.io/v1",
        "leases",
        "Lease",
        True,
        {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
    ),
    (
        "apis/rbac.authorization.k8s.io/v1",
        "roles",
        "Role",
        True,
        {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
    ),
    (
        "apis/rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
        False,
        {"rules": [{"apiGroups": ["ray.io"], "resources": ["*"], "verbs": ["*"]}]},
    ),
    (
        "apis/rbac.authorization.k8s.io/v1",
        "rolebindings",
        "RoleBinding",
        True,
        {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
        },
    ),
    (
        "apis/rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        False,
        {
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "r",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
        },
    ),
    (
        "apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        {},
    ),
]


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session


async def test_every_named_builtin_is_discoverable_with_all_verbs(
    http: aiohttp.ClientSession,
) -> None:
    lists: dict[str, dict[str, Any]] = {}
    for gv, plural, kind, namespaced, _ in BUILTINS:
        if gv not in lists:
            resp = await http.get(f"/{gv}")
            assert resp.status == 200, gv
            lists[gv] = await resp.json()
        entry = [r for r in lists[gv]["resources"] if r["name"] == plural]
        assert entry, f"{plural} missing from /{gv}"
        assert entry[0]["kind"] == kind and entry[0]["namespaced"] is namespaced
        # As kube-apiserver: namespaces alone have no deletecollection.
        verbs = VERBS - {"deletecollection"} if plural == "namespaces" else VERBS
        assert verbs <= set(entry[0]["verbs"]), (plural, entry[0]["verbs"])
    groups = {g["name"] for g in (await (await http.get("/apis")).json())["groups"]}
    assert {gv.split("/")[1] for gv, *_ in BUILTINS if gv.startswith("apis/")} <= groups


@pytest.mark.parametrize(
    ("gv", "plural", "kind", "namespaced", "extra"),
    [b for b in BUILTINS if b[1] != "customresourcedefinitions"],
    ids=[f"{b[0].split('/')[-2]}-{b[1]}" for b in BUILTINS if b[1] != "customresourcedefinitions"],
)
async def test_builtin_round_trip_over_http(
    http: aiohttp.ClientSession,
    gv: str,
    plural: str,
    kind: str,
    namespaced: bool,
    extra: dict[str, Any],
) -> None:
    base = f"/{gv}/namespaces/default/{plural}" if namespaced else f"/{gv}/{plural}"
    api_version = gv.removeprefix("api/").removeprefix("apis/")
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "audit-x"}, **extra}
    resp = await http.post(base, json=body)
    created = await resp.json()
    assert resp.status == 201, created
    assert created["kind"] == kind and created["apiVersion"] == api_version
    assert created["metadata"]["uid"] and int(created["metadata"]["resourceVersion"]) > 0
    got = await (await http.get(f"{base}/audit-x")).json()
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = await (await http.get(base)).json()
    assert listed["kind"] == f"{kind}List"
    assert "audit-x" in [o["metadata"]["name"] for o in listed["items"]]
    resp = await http.delete(f"{base}/audit-x", params={"gracePeriodSeconds": "0"})
    assert resp.status in (200, 202)
