"""Server-side Table printing: exact cells as kube-apiserver renders them for kubectl get."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.sandbox.registry import crds
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.printers import human_duration, jsonpath_first, to_table

NOW = datetime.datetime(2025, 1, 10, 12, 0, 0, tzinfo=datetime.UTC)
CATALOG = Catalog()
CRD_FILE = Path(__file__).parent.parent / "manifests" / "crd" / "ray.io_rayclusters.yaml"


def ago(seconds: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rt(group: str, resource: str, version: str = "v1") -> ResourceType:
    found = CATALOG.get(group, version, resource)
    assert found is not None
    return found


def meta(name: str, age: float = 300, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(age), **extra}


def cells(resource_type: ResourceType, obj: dict[str, Any]) -> list[Any]:
    table = to_table(resource_type, [obj], now=NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    result: list[Any] = table["rows"][0]["cells"]
    return result


def headers(resource_type: ResourceType, wide: bool = False) -> list[str]:
    table = to_table(resource_type, [], now=NOW)
    return [c["name"] for c in table["columnDefinitions"] if wide or c["priority"] == 0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 300, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (51 * 3600, "2d3h"),
        (48 * 3600, "2d"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (800 * 86400, "2y70d"),
        (730 * 86400, "2y"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_table_envelope_and_included_object() -> None:
    cm = {"metadata": meta("cm1", 5), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    table = to_table(
        rt("", "configmaps"), [cm], resource_version="42", continue_token="tok", now=NOW
    )
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok"}
    assert table["columnDefinitions"][0]["name"] == "Name"
    assert table["columnDefinitions"][0]["format"] == "name"
    assert {"name", "type", "format", "description", "priority"} == set(
        table["columnDefinitions"][1]
    )
    assert table["rows"] == [
        {
            "cells": ["cm1", 3, "5s"],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": cm["metadata"],
            },
        }
    ]
    assert (
        to_table(rt("", "configmaps"), [cm], include_object="Object", now=NOW)["rows"][0]["object"]
        is cm
    )
    assert (
        "object"
        not in to_table(rt("", "configmaps"), [cm], include_object="None", now=NOW)["rows"][0]
    )
    assert to_table(rt("", "configmaps"), [], now=NOW)["metadata"] == {}


def _container(name: str = "main", **state: Any) -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": 0, "image": "busybox", **state}


def _pod(status: dict[str, Any], spec: dict[str, Any] | None = None, **m: Any) -> dict[str, Any]:
    return {
        "metadata": meta("web-1", **m),
        "spec": spec or {"containers": [{"name": "main"}], "nodeName": "node-1"},
        "status": status,
    }


def test_pod_columns_running_with_restarts_and_wide_cells() -> None:
    assert headers(rt("", "pods")) == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert headers(rt("", "pods"), wide=True)[5:] == [
        "IP",
        "Node",
        "Nominated Node",
        "Readiness Gates",
    ]
    pod = _pod(
        {
            "phase": "Running",
            "podIP": "127.16.0.5",
            "podIPs": [{"ip": "127.16.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "gate", "status": "True"}],
            "containerStatuses": [
                _container(
                    ready=True,
                    restartCount=2,
                    state={"running": {"startedAt": ago(60)}},
                    lastState={"terminated": {"exitCode": 1, "finishedAt": ago(302)}},
                )
            ],
        },
        spec={
            "containers": [{"name": "main"}],
            "nodeName": "node-1",
            "readinessGates": [{"conditionType": "gate"}, {"conditionType": "other"}],
        },
    )
    assert cells(rt("", "pods"), pod) == [
        "web-1",
        "1/1",
        "Running",
        "2 (5m2s ago)",
        "5m",
        "127.16.0.5",
        "node-1",
        "<none>",
        "1/2",
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"phase": "Pending"}, ["0/1", "Pending"]),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    _container(state={"waiting": {"reason": "ContainerCreating"}})
                ],
            },
            ["0/1", "ContainerCreating"],
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    _container(
                        restartCount=4,
                        state={"waiting": {"reason": "CrashLoopBackOff"}},
                        lastState={"terminated": {"exitCode": 1, "finishedAt": ago(30)}},
                    )
                ],
            },
            ["0/1", "CrashLoopBackOff", "4 (30s ago)"],
        ),
        (
            {
                "phase": "Succeeded",
                "containerStatuses": [
                    _container(state={"terminated": {"exitCode": 0, "reason": "Completed"}})
                ],
            },
            ["0/1", "Completed"],
        ),
        (
            {
                "phase": "Failed",
                "containerStatuses": [_container(state={"terminated": {"exitCode": 137}})],
            },
            ["0/1", "ExitCode:137"],
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    _container(state={"terminated": {"exitCode": 0, "signal": 9}})
                ],
            },
            ["0/1", "Signal:9"],
        ),
        ({"phase": "Failed", "reason": "Evicted"}, ["0/1", "Evicted"]),
        (
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            },
            ["0/1", "SchedulingGated"],
        ),
    ],
)
def test_pod_status_words(status: dict[str, Any], expected: list[str]) -> None:
    row = cells(rt("", "pods"), _pod(status))
    assert row[1 : 1 + len(expected)] == expected
    if len(expected) == 2:
        assert row[3] == "0"


def test_pod_completed_but_one_container_running() -> None:
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            _container("a", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
            _container("b", ready=True, state={"running": {}}),
        ],
    }
    spec = {"containers": [{"name": "a"}, {"name": "b"}]}
    assert cells(rt("", "pods"), _pod(status, spec))[1:3] == ["1/2", "NotReady"]
    status["conditions"] = [{"type": "Ready", "status": "True"}]
    assert cells(rt("", "pods"), _pod(status, spec))[1:3] == ["1/2", "Running"]


def test_pod_init_containers() -> None:
    spec = {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "main"}]}
    waiting_init = {
        "phase": "Pending",
        "initContainerStatuses": [
            _container("i1", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
            _container("i2", state={"running": {}}),
        ],
        "containerStatuses": [_container(state={"waiting": {"reason": "PodInitializing"}})],
    }
    assert cells(rt("", "pods"), _pod(waiting_init, spec))[1:4] == ["0/1", "Init:1/2", "0"]
    crashing = {
        "phase": "Pending",
        "initContainerStatuses": [
            _container(
                "i1",
                restartCount=3,
                state={"waiting": {"reason": "CrashLoopBackOff"}},
                lastState={"terminated": {"exitCode": 1, "finishedAt": ago(10)}},
            ),
        ],
    }
    assert cells(rt("", "pods"), _pod(crashing, spec))[1:4] == [
        "0/1",
        "Init:CrashLoopBackOff",
        "3 (10s ago)",
    ]
    failed = {
        "phase": "Pending",
        "initContainerStatuses": [_container("i1", state={"terminated": {"exitCode": 2}})],
    }
    assert cells(rt("", "pods"), _pod(failed, spec))[2] == "Init:ExitCode:2"
    # A sidecar (restartable init container) counts toward READY and total.
    sidecar_spec = {
        "initContainers": [{"name": "side", "restartPolicy": "Always"}],
        "containers": [{"name": "main"}],
    }
    sidecar = {
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [
            _container("side", ready=True, started=True, state={"running": {}})
        ],
        "containerStatuses": [_container(ready=True, state={"running": {}})],
    }
    assert cells(rt("", "pods"), _pod(sidecar, sidecar_spec))[1:3] == ["2/2", "Running"]


def test_pod_terminating_and_row_conditions() -> None:
    status = {
        "phase": "Running",
        "containerStatuses": [_container(ready=True, state={"running": {}})],
    }
    pod = _pod(status, deletionTimestamp=ago(1))
    assert cells(rt("", "pods"), pod)[2] == "Terminating"
    done = _pod({"phase": "Succeeded"}, deletionTimestamp=ago(1))
    table = to_table(rt("", "pods"), [done], now=NOW)
    assert table["rows"][0]["cells"][2] == "Succeeded"
    assert table["rows"][0]["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def test_service() -> None:
    assert headers(rt("", "services"), wide=True) == [
        "Name",
        "Type",
        "Cluster-IP",
        "External-IP",
        "Port(s)",
        "Age",
        "Selector",
    ]
    svc = {
        "metadata": meta("web", 7200),
        "spec": {
            "type": "NodePort",
            "clusterIP": "127.96.0.10",
            "clusterIPs": ["127.96.0.10"],
            "ports": [
                {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                {"port": 53, "protocol": "UDP"},
            ],
            "selector": {"tier": "web", "app": "shop"},
        },
    }
    assert cells(rt("", "services"), svc) == [
        "web",
        "NodePort",
        "127.96.0.10",
        "<none>",
        "80:30080/TCP,53/UDP",
        "120m",
        "app=shop,tier=web",
    ]
    lb = {
        "metadata": meta("lb"),
        "spec": {"type": "LoadBalancer", "clusterIPs": ["127.96.0.11"]},
        "status": {"loadBalancer": {}},
    }
    assert cells(rt("", "services"), lb)[2:5] == ["127.96.0.11", "<pending>", "<none>"]
    headless = {"metadata": meta("h"), "spec": {"clusterIP": "None", "clusterIPs": ["None"]}}
    assert cells(rt("", "services"), headless)[1:3] == ["ClusterIP", "None"]
    assert cells(rt("", "services"), headless)[6] == "<none>"


def test_deployment_replicaset_job() -> None:
    template = {
        "spec": {"containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "x"}]}
    }
    deploy = {
        "metadata": meta("web", 90000),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert headers(rt("apps", "deployments")) == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert cells(rt("apps", "deployments"), deploy) == [
        "web",
        "2/3",
        3,
        2,
        "25h",
        "a,b",
        "nginx:1,x",
        "app=web",
    ]
    rs = {
        "metadata": meta("web-abc"),
        "spec": {
            "replicas": 2,
            "template": template,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            },
        },
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert cells(rt("apps", "replicasets"), rs) == [
        "web-abc",
        2,
        2,
        1,
        "5m",
        "a,b",
        "nginx:1,x",
        "app=web,tier in (a,b)",
    ]
    assert headers(rt("batch", "jobs")) == ["Name", "Status", "Completions", "Duration", "Age"]
    job = {
        "metadata": meta("j", 600),
        "spec": {"completions": 3, "template": template},
        "status": {"succeeded": 1, "startTime": ago(125)},
    }
    assert cells(rt("batch", "jobs"), job)[:5] == ["j", "Running", "1/3", "2m5s", "10m"]
    job["status"] = {
        "succeeded": 3,
        "startTime": ago(300),
        "completionTime": ago(240),
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    assert cells(rt("batch", "jobs"), job)[:4] == ["j", "Complete", "3/3", "60s"]
    job["spec"] = {"parallelism": 2, "template": template}
    job["status"] = {"conditions": [{"type": "Failed", "status": "True"}]}
    assert cells(rt("batch", "jobs"), job)[:4] == ["j", "Failed", "0/1 of 2", ""]
    assert cells(rt("batch", "jobs"), job)[7] == "<none>"


def test_node_namespace_configmap_secret_sa_lease() -> None:
    node = {
        "metadata": {
            "name": "n1",
            "creationTimestamp": ago(3 * 86400 + 3600),
            "labels": {"node-role.kubernetes.io/control-plane": "", "x": "y"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.2"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0"},
        },
    }
    assert headers(rt("", "nodes")) == ["Name", "Status", "Roles", "Age", "Version"]
    assert cells(rt("", "nodes"), node) == [
        "n1",
        "Ready,SchedulingDisabled",
        "control-plane",
        "3d1h",
        "v1.32.0",
        "127.0.0.2",
        "<none>",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]
    ns = {"metadata": {"name": "shop", "creationTimestamp": ago(45)}, "status": {"phase": "Active"}}
    assert cells(rt("", "namespaces"), ns) == ["shop", "Active", "45s"]
    secret = {
        "metadata": meta("s"),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""},
    }
    assert headers(rt("", "secrets")) == ["Name", "Type", "Data", "Age"]
    assert cells(rt("", "secrets"), secret) == ["s", "kubernetes.io/tls", 2, "5m"]
    sa = {"metadata": meta("default"), "secrets": [{"name": "t"}]}
    assert cells(rt("", "serviceaccounts"), sa) == ["default", 1, "5m"]
    lease = {"metadata": meta("leader"), "spec": {"holderIdentity": "pod-a_123"}}
    assert headers(rt("coordination.k8s.io", "leases")) == ["Name", "Holder", "Age"]
    assert cells(rt("coordination.k8s.io", "leases"), lease) == ["leader", "pod-a_123", "5m"]


def test_events_core_and_events_k8s_io() -> None:
    assert headers(rt("", "events")) == ["Last Seen", "Type", "Reason", "Object", "Message"]
    ev = {
        "metadata": meta("web-1.abc"),
        "involvedObject": {"kind": "Pod", "name": "web-1"},
        "reason": "Scheduled",
        "message": " Successfully assigned default/web-1 ",
        "type": "Normal",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": ago(90),
        "lastTimestamp": ago(30),
        "count": 3,
    }
    assert cells(rt("", "events"), ev) == [
        "30s",
        "Normal",
        "Scheduled",
        "pod/web-1",
        "",
        "default-scheduler",
        "Successfully assigned default/web-1",
        "90s",
        3,
        "web-1.abc",
    ]
    new = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta("e2"),
        "regarding": {"kind": "Pod", "name": "web-2"},
        "reason": "Pulled",
        "note": "pulled",
        "type": "Normal",
        "eventTime": "2025-01-10T11:59:39.500000Z",
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
    }
    assert cells(rt("events.k8s.io", "events"), new) == [
        "20s",
        "Normal",
        "Pulled",
        "pod/web-2",
        "",
        "kubelet, node-1",
        "pulled",
        "20s",
        1,
        "e2",
    ]


def test_endpoints_and_endpointslices() -> None:
    ep = {
        "metadata": meta("web"),
        "subsets": [
            {
                "addresses": [{"ip": "127.16.0.1"}, {"ip": "127.16.0.2"}],
                "ports": [{"port": 80}, {"port": 81}],
            }
        ],
    }
    assert cells(rt("", "endpoints"), ep) == [
        "web",
        "127.16.0.1:80,127.16.0.2:80,127.16.0.1:81 + 1 more...",
        "5m",
    ]
    assert cells(rt("", "endpoints"), {"metadata": meta("none")}) == ["none", "<none>", "5m"]
    es = {
        "metadata": meta("web-x"),
        "addressType": "IPv4",
        "ports": [{"port": 80, "name": "http"}],
        "endpoints": [{"addresses": ["127.16.0.1"]}, {"addresses": ["127.16.0.2"]}],
    }
    assert headers(rt("discovery.k8s.io", "endpointslices")) == [
        "Name",
        "AddressType",
        "Ports",
        "Endpoints",
        "Age",
    ]
    assert cells(rt("discovery.k8s.io", "endpointslices"), es) == [
        "web-x",
        "IPv4",
        "80",
        "127.16.0.1,127.16.0.2",
        "5m",
    ]
    empty = {"metadata": meta("e"), "addressType": "IPv4"}
    assert cells(rt("discovery.k8s.io", "endpointslices"), empty)[2:4] == ["<unset>", "<unset>"]


def test_crd_and_default_printers() -> None:
    crd = {"metadata": {"name": "rayclusters.ray.io", "creationTimestamp": "2025-01-01T00:00:00Z"}}
    crd_rt = rt("apiextensions.k8s.io", "customresourcedefinitions")
    assert headers(crd_rt) == ["Name", "Created At"]
    assert cells(crd_rt, crd) == ["rayclusters.ray.io", "2025-01-01T00:00:00Z"]
    pdb_rt = rt("policy", "poddisruptionbudgets")
    assert headers(pdb_rt) == ["Name", "Age"]
    assert cells(pdb_rt, {"metadata": meta("p", 10)}) == ["p", "10s"]


def test_custom_resource_printer_columns() -> None:
    ray_rt = crds.resource_types(yaml.safe_load(CRD_FILE.read_text()))[0]
    assert headers(ray_rt) == [
        "Name",
        "desired workers",
        "available workers",
        "cpus",
        "memory",
        "gpus",
        "status",
        "age",
    ]
    obj = {
        "metadata": meta("rc", 3600),
        "spec": {},
        "status": {
            "desiredWorkerReplicas": 2,
            "availableWorkerReplicas": 1.0,
            "desiredCPU": "3",
            "desiredMemory": "6G",
            "state": "ready",
            "head": {"podIP": "127.16.0.9"},
        },
    }
    assert cells(ray_rt, obj) == [
        "rc",
        2,
        1,
        "3",
        "6G",
        None,
        None,
        "ready",
        "60m",
        "127.16.0.9",
        None,
    ]
    table = to_table(ray_rt, [obj], now=NOW)
    assert table["columnDefinitions"][1] == {
        "name": "desired workers",
        "type": "integer",
        "format": "",
        "description": "Custom resource definition column (in JSONPath format): "
        ".status.desiredWorkerReplicas",
        "priority": 0,
    }
    no_columns = ResourceType(
        group="example.com",
        version="v1",
        resource="widgets",
        kind="Widget",
        namespaced=True,
        is_crd=True,
    )
    assert headers(no_columns) == ["Name", "Age"]
    assert cells(no_columns, {"metadata": meta("w", 61)}) == ["w", "61s"]
    typed = ResourceType(
        group="example.com",
        version="v1",
        resource="widgets",
        kind="Widget",
        namespaced=True,
        is_crd=True,
        printer_columns=(
            {"name": "Ok", "type": "boolean", "jsonPath": ".spec.ok"},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
            {"name": "Obj", "type": "string", "jsonPath": ".spec.obj"},
            {
                "name": "Ready",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            },
            {"name": "Bad", "type": "integer", "jsonPath": ".spec.ok"},
            {"name": "When", "type": "date", "jsonPath": ".spec.when"},
        ),
    )
    widget = {
        "metadata": meta("w"),
        "spec": {"ok": True, "ratio": 1, "obj": {"a": [1]}, "when": "x"},
        "status": {
            "conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True"},
            ]
        },
    }
    assert cells(typed, widget) == ["w", True, 1.0, '{"a":[1]}', "True", None, "<invalid>"]


def test_jsonpath_subset() -> None:
    obj = {"a": {"b.c": [{"x": 1}, {"x": 2}]}}
    assert jsonpath_first(obj, ".a['b.c'][1].x") == (True, 2)
    assert jsonpath_first(obj, "{.a['b.c'][*].x}") == (True, 1)
    assert jsonpath_first(obj, ".a.missing") == (False, None)
    assert jsonpath_first(obj, "not a path") == (False, None)
