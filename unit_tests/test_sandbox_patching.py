"""JSON patch, merge patch and strategic merge patch as kube-apiserver applies them."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kuberay_py.sandbox.registry import patch_meta
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.patching import (
    PatchNotApplied,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    strategic_merge_supported,
)

# ------------------------------------------------------------------------------------------------
# RFC 7386 merge patch (the examples of RFC 7386 appendix A, wrapped in an object where the
# RFC's target or result is not one, since kube objects always are)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": {"b": 1}}, {"a": {"c": {"d": None, "e": 2}}}, {"a": {"b": 1, "c": {"e": 2}}}),
        ({"a": 1}, {}, {"a": 1}),
        ({"a": [1, 2]}, {"a": [None]}, {"a": [None]}),  # nulls inside arrays are values
    ],
)
def test_merge_patch_rfc7386(
    target: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]
) -> None:
    assert apply_merge_patch(target, patch) == result


@pytest.mark.parametrize("patch", [["a"], "x", 1, None, True])
def test_merge_patch_non_object_is_400(patch: Any) -> None:
    with pytest.raises(StatusError) as info:
        apply_merge_patch({"a": 1}, patch)
    assert info.value.code == 400


def test_merge_patch_result_shares_nothing_with_inputs() -> None:
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}}
    patch = {"spec": {"new": {"x": [1]}}}
    out = apply_merge_patch(doc, patch)
    out["metadata"]["labels"]["b"] = "2"
    out["spec"]["list"].append(3)
    out["spec"]["new"]["x"].append(2)
    assert doc == {"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2]}}
    assert patch == {"spec": {"new": {"x": [1]}}}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=15,
)
_objects = st.dictionaries(st.text(max_size=4), _json, max_size=4)


@settings(max_examples=300, deadline=None)
@given(doc=_objects, patch=_objects)
def test_merge_patch_never_mutates_inputs(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    out = apply_merge_patch(doc, patch)
    assert doc == doc_before and patch == patch_before
    # Applying the same patch twice changes nothing more (merge patch is idempotent).
    assert apply_merge_patch(out, patch) == out


# ------------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ------------------------------------------------------------------------------------------------

DOC: dict[str, Any] = {
    "metadata": {"name": "x", "labels": {"a": "1"}},
    "spec": {"items": ["p", "q"], "n": 1, "flag": True},
}


@pytest.mark.parametrize(
    ("ops", "check"),
    [
        (
            [{"op": "add", "path": "/metadata/labels/b", "value": "2"}],
            lambda d: d["metadata"]["labels"] == {"a": "1", "b": "2"},
        ),
        (
            [{"op": "add", "path": "/spec/items/-", "value": "r"}],
            lambda d: d["spec"]["items"] == ["p", "q", "r"],
        ),
        (
            [{"op": "add", "path": "/spec/items/0", "value": "o"}],
            lambda d: d["spec"]["items"] == ["o", "p", "q"],
        ),
        ([{"op": "remove", "path": "/metadata/labels/a"}], lambda d: d["metadata"]["labels"] == {}),
        ([{"op": "remove", "path": "/spec/items/0"}], lambda d: d["spec"]["items"] == ["q"]),
        ([{"op": "replace", "path": "/spec/n", "value": 5}], lambda d: d["spec"]["n"] == 5),
        (
            [{"op": "move", "from": "/spec/n", "path": "/spec/m"}],
            lambda d: "n" not in d["spec"] and d["spec"]["m"] == 1,
        ),
        (
            [{"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"}],
            lambda d: d["metadata"]["annotations"] == {"a": "1"},
        ),
        (
            [
                {"op": "test", "path": "/spec/n", "value": 1},
                {"op": "replace", "path": "/spec/n", "value": 2},
            ],
            lambda d: d["spec"]["n"] == 2,
        ),
        ([{"op": "test", "path": "/spec/n", "value": 1.0}], lambda d: d["spec"]["n"] == 1),
        (
            [{"op": "add", "path": "/metadata/labels/a~1b", "value": "s"}],
            lambda d: d["metadata"]["labels"]["a/b"] == "s",
        ),
        ([], lambda d: d == DOC),
    ],
)
def test_json_patch_operations(ops: list[dict[str, Any]], check: Any) -> None:
    before = copy.deepcopy(DOC)
    ops_before = copy.deepcopy(ops)
    assert check(apply_json_patch(DOC, ops))
    assert before == DOC and ops_before == ops


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (
            [{"op": "test", "path": "/spec/n", "value": 2}],
            "testing value /spec/n failed: test failed",
        ),
        (
            [{"op": "test", "path": "/spec/flag", "value": 1}],
            "testing value /spec/flag failed: test failed",
        ),  # true is not 1
        (
            [{"op": "test", "path": "/spec/zzz", "value": 1}],
            'testing value /spec/zzz failed: doc is missing path: "/spec/zzz"',
        ),
        ([{"op": "remove", "path": "/metadata/labels/zzz"}], "remove operation does not apply"),
        (
            [{"op": "replace", "path": "/spec/zzz/y", "value": 1}],
            "replace operation does not apply",
        ),
        ([{"op": "add", "path": "/nope/deeper", "value": 1}], "add operation does not apply"),
        ([{"op": "move", "from": "/nope", "path": "/x"}], "move operation does not apply"),
        ([{"op": "remove", "path": "/spec/items/9"}], "remove operation does not apply"),
        ([{"op": "frobnicate", "path": "/x"}], 'Unexpected kind: "frobnicate"'),
        ([{"path": "/x", "value": 1}], "Unexpected kind: null"),
        ([{"op": "add", "value": 1}], "add operation does not apply: operation missing path field"),
        ([{"op": "copy", "path": "/x"}], "copy operation does not apply: operation missing from"),
        ([{"op": "add", "path": "/x"}], "add operation does not apply: missing value"),
        (
            [{"op": "replace", "path": "", "value": [1]}],
            "the patched document is not a JSON object",
        ),
    ],
)
def test_json_patch_failures_are_422(ops: list[Any], message: str) -> None:
    with pytest.raises(PatchNotApplied) as info:
        apply_json_patch(DOC, ops)
    # kube-apiserver's exact answer; the specific problem is kept for logs in `detail`
    assert info.value.status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid",
        "code": 422,
        "details": {},
    }
    assert info.value.detail.startswith(message)


def test_json_patch_failure_leaves_input_untouched() -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(StatusError):
        apply_json_patch(
            DOC,
            [
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "test", "path": "/spec/n", "value": 99},
            ],
        )
    assert before == DOC


@pytest.mark.parametrize("body", [{"op": "add"}, "x", None, 3, [1], ["add"]])
def test_json_patch_malformed_body_is_400(body: Any) -> None:
    with pytest.raises(StatusError) as info:
        apply_json_patch(DOC, body)
    assert info.value.code == 400


def test_json_patch_too_many_operations_is_413() -> None:
    ops = [{"op": "test", "path": "/spec/n", "value": 1}] * 10001
    with pytest.raises(StatusError) as info:
        apply_json_patch(DOC, ops)
    assert info.value.code == 413


def test_json_patch_values_are_not_shared_with_the_request() -> None:
    ops = [
        {"op": "add", "path": "/spec/obj", "value": {}},
        {"op": "add", "path": "/spec/obj/k", "value": "v"},
    ]
    out = apply_json_patch(DOC, ops)
    assert out["spec"]["obj"] == {"k": "v"}
    assert ops[0]["value"] == {}


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(
        st.fixed_dictionaries(
            {
                "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bad"]),
                "path": st.sampled_from(
                    [
                        "",
                        "/",
                        "/spec",
                        "/spec/n",
                        "/spec/items/0",
                        "/spec/items/-",
                        "/metadata/labels/a",
                        "/x/y",
                        "/spec/items/7",
                        "nope",
                    ]
                ),
                "from": st.sampled_from(["/spec/n", "/metadata", "/zz"]),
                "value": _json,
            }
        ),
        max_size=4,
    )
)
def test_json_patch_fuzz_is_4xx_or_object(ops: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(DOC)
    try:
        out = apply_json_patch(DOC, ops)
    except StatusError as err:
        assert 400 <= err.code < 500
    else:
        assert isinstance(out, dict)
    assert before == DOC


# ------------------------------------------------------------------------------------------------
# Strategic merge patch
# ------------------------------------------------------------------------------------------------


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "default",
            "labels": {"app": "a"},
            "finalizers": ["f1", "f2"],
        },
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "image": "busybox:1",
                    "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                    "ports": [
                        {"containerPort": 80, "protocol": "TCP"},
                        {"containerPort": 443, "protocol": "TCP"},
                    ],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "args": ["--one", "--two"],
                },
                {"name": "b", "image": "nginx"},
            ],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "cm"}},
            ],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
        },
    }
    base["spec"].update(spec)
    return base


def smp(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    before_doc, before_patch = copy.deepcopy(doc), copy.deepcopy(patch)
    out = apply_strategic_merge_patch(doc, patch, doc["kind"], doc["apiVersion"])
    assert doc == before_doc and patch == before_patch, "inputs must not change"
    return out


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [i[key] for i in items]


def test_kubectl_apply_pod_patch() -> None:
    """The exact body `kubectl apply` sends after removing container b and bumping a."""
    out = smp(
        pod(),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}],
                "containers": [
                    {"image": "busybox:2", "name": "a"},
                    {"$patch": "delete", "name": "b"},
                ],
            }
        },
    )
    containers = out["spec"]["containers"]
    assert names(containers) == ["a"]
    assert containers[0]["image"] == "busybox:2"
    assert containers[0]["env"] == pod()["spec"]["containers"][0]["env"]  # merged, not replaced


def test_kubectl_apply_configmap_patch() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm1", "annotations": {"other": "keep"}},
        "data": {"k1": "old", "k2": "gone", "k3": "keep"},
    }
    last = '{"apiVersion":"v1","data":{"k1":"v1"},"kind":"ConfigMap"}\n'
    out = smp(
        cm,
        {
            "data": {"k1": "v1", "k2": None},
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last}},
        },
    )
    assert out["data"] == {"k1": "v1", "k3": "keep"}
    assert out["metadata"]["annotations"] == {
        "other": "keep",
        "kubectl.kubernetes.io/last-applied-configuration": last,
    }


def test_containers_merge_by_name_and_new_ones_go_first() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "containers": [{"name": "c", "image": "redis"}, {"name": "b", "image": "nginx:2"}]
            }
        },
    )
    # kube's order rule: patch items in patch order, interleaved with live-only items by the
    # live order; a new item has no live position so it comes before the live ones.
    assert names(out["spec"]["containers"]) == ["c", "a", "b"]
    assert out["spec"]["containers"][2] == {"name": "b", "image": "nginx:2"}


def test_set_element_order_puts_items_in_the_requested_order() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}],
                "containers": [{"name": "c", "image": "redis"}],
            }
        },
    )
    assert names(out["spec"]["containers"]) == ["b", "c", "a"]


def test_set_element_order_alone_reorders() -> None:
    out = smp(pod(), {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}})
    assert names(out["spec"]["containers"]) == ["b", "a"]
    assert out["spec"]["containers"][1]["image"] == "busybox:1"


def test_set_element_order_keeps_server_only_items() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "$setElementOrder/volumes": [{"name": "cfg"}, {"name": "new"}],
                "volumes": [{"name": "new", "emptyDir": {}}],
            }
        },
    )
    assert names(out["spec"]["volumes"]) == ["data", "cfg", "new"]


def test_set_element_order_that_contradicts_the_patch_is_400() -> None:
    with pytest.raises(StatusError) as info:
        smp(
            pod(),
            {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}],
                    "containers": [{"name": "z", "image": "x"}],
                }
            },
        )
    assert info.value.code == 400
    assert "doesn't match $setElementOrder list" in info.value.message


def test_env_merges_by_name() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "env": [{"name": "Y", "value": "22"}, {"name": "X", "$patch": "delete"}],
                    }
                ]
            }
        },
    )
    env = out["spec"]["containers"][0]["env"]
    assert env == [{"name": "Y", "value": "22"}]


def test_env_item_null_field_removed() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "env": [
                            {
                                "name": "X",
                                "value": None,
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            }
                        ],
                    }
                ]
            }
        },
    )
    env = out["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert env[1] == {"name": "Y", "value": "2"}


def test_ports_merge_by_container_port() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "ports": [{"containerPort": 443, "name": "https"}, {"containerPort": 8080}],
                    }
                ]
            }
        },
    )
    ports = out["spec"]["containers"][0]["ports"]
    assert names(ports, "containerPort") == [80, 443, 8080]
    by_port = {p["containerPort"]: p for p in ports}
    assert by_port[443] == {"containerPort": 443, "protocol": "TCP", "name": "https"}
    assert by_port[80] == {"containerPort": 80, "protocol": "TCP"}


def test_volume_mounts_merge_by_mount_path() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "containers": [
                    {
                        "name": "a",
                        "volumeMounts": [
                            {"mountPath": "/data", "readOnly": True},
                            {"mountPath": "/cfg", "name": "cfg"},
                        ],
                    }
                ]
            }
        },
    )
    mounts = out["spec"]["containers"][0]["volumeMounts"]
    by_path = {m["mountPath"]: m for m in mounts}
    assert by_path["/data"] == {"name": "data", "mountPath": "/data", "readOnly": True}
    assert by_path["/cfg"] == {"name": "cfg", "mountPath": "/cfg"}


def test_volumes_merge_by_name_with_retain_keys() -> None:
    # kubectl switches a volume's source with $retainKeys so the old source is dropped.
    out = smp(
        pod(),
        {
            "spec": {
                "volumes": [
                    {
                        "$retainKeys": ["name", "secret"],
                        "name": "cfg",
                        "secret": {"secretName": "s"},
                    }
                ]
            }
        },
    )
    vols = {v["name"]: v for v in out["spec"]["volumes"]}
    assert vols["cfg"] == {"name": "cfg", "secret": {"secretName": "s"}}
    assert vols["data"] == {"name": "data", "emptyDir": {}}


def test_retain_keys_must_cover_the_patch() -> None:
    with pytest.raises(StatusError) as info:
        smp(
            pod(),
            {
                "spec": {
                    "volumes": [
                        {"$retainKeys": ["name"], "name": "cfg", "secret": {"secretName": "s"}}
                    ]
                }
            },
        )
    assert info.value.code == 400
    assert info.value.message == "invalid patch format of retainKeys"
    with pytest.raises(StatusError):
        smp(pod(), {"spec": {"$retainKeys": "nope"}})


def test_deployment_strategy_retain_keys() -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            }
        },
    }
    out = smp(dep, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_tolerations_have_no_merge_key_and_are_replaced() -> None:
    out = smp(pod(), {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}})
    assert out["spec"]["tolerations"] == [{"key": "k2", "operator": "Exists"}]


def test_args_are_replaced() -> None:
    out = smp(pod(), {"spec": {"containers": [{"name": "a", "args": ["--three"]}]}})
    assert out["spec"]["containers"][0]["args"] == ["--three"]


def test_patch_replace_directive_on_list() -> None:
    out = smp(
        pod(),
        {
            "spec": {
                "containers": [{"$patch": "replace"}, {"name": "z", "image": "zz", "env": None}]
            }
        },
    )
    assert out["spec"]["containers"] == [{"name": "z", "image": "zz"}]


def test_patch_replace_directive_on_map() -> None:
    out = smp(pod(), {"metadata": {"labels": {"$patch": "replace", "new": "1"}}})
    assert out["metadata"]["labels"] == {"new": "1"}


def test_patch_delete_directive_on_map() -> None:
    out = smp(pod(), {"metadata": {"labels": {"$patch": "delete"}}})
    assert out["metadata"]["labels"] == {}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"metadata": {"labels": {"$patch": "bogus"}}}, 'unknown patch type: "bogus" in map'),
        (
            {"spec": {"containers": [{"$patch": "merge", "name": "a"}]}},
            "merging lists cannot yet be specified in the patch",
        ),
        ({"spec": {"containers": [{"$patch": "bogus", "name": "a"}]}}, "unknown patch type"),
        (
            {"spec": {"containers": [{"image": "x"}]}},
            'map: {"image":"x"} does not contain declared merge key: name',
        ),
        ({"spec": {"containers": [{"$patch": "delete"}]}}, "does not contain declared merge key"),
        ({"spec": {"containers": ["a"]}}, "list element types are not identical"),
        (
            {"spec": {"$setElementOrder/containers": {"name": "a"}}},
            "invalid patch format of setElementOrder list",
        ),
        ({"spec": {"$setElementOrder": []}}, "invalid patch format of setElementOrder list"),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "f1"}},
            "invalid patch format of primitive list",
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList": ["f1"]}},
            "invalid patch format of primitive list",
        ),
    ],
)
def test_strategic_merge_errors_are_400(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(StatusError) as info:
        smp(pod(), patch)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert message in info.value.message


def test_list_of_lists_is_422() -> None:
    with pytest.raises(PatchNotApplied) as info:
        smp(pod(), {"metadata": {"finalizers": [["x"]]}})
    assert info.value.code == 422
    assert info.value.detail == "lists of lists are not supported"


def test_finalizers_merge_as_a_set() -> None:
    out = smp(pod(), {"metadata": {"finalizers": ["f3", "f1"]}})
    assert out["metadata"]["finalizers"] == ["f3", "f1", "f2"]
    same = smp(pod(), {"metadata": {"finalizers": ["f2"]}})
    assert same["metadata"]["finalizers"] == ["f1", "f2"]


def test_delete_from_primitive_list() -> None:
    out = smp(pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f1", "zz"]}})
    assert out["metadata"]["finalizers"] == ["f2"]
    # what kubectl apply sends when it removes f1 and adds f3
    out = smp(
        pod(),
        {
            "metadata": {
                "$deleteFromPrimitiveList/finalizers": ["f1"],
                "$setElementOrder/finalizers": ["f2", "f3"],
                "finalizers": ["f3"],
            }
        },
    )
    assert out["metadata"]["finalizers"] == ["f2", "f3"]
    # deleting from a list that is not there is a no-op
    bare = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert smp(bare, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}) == bare


def test_owner_references_merge_by_uid() -> None:
    doc = pod()
    doc["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "X", "name": "o1", "uid": "u1"}
    ]
    out = smp(
        doc,
        {
            "metadata": {
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "X", "name": "o2", "uid": "u2"},
                    {"uid": "u1", "controller": True},
                ]
            }
        },
    )
    refs = {r["uid"]: r for r in out["metadata"]["ownerReferences"]}
    assert refs["u1"]["controller"] is True and refs["u1"]["name"] == "o1"
    assert refs["u2"]["name"] == "o2"


def test_pod_conditions_merge_by_type() -> None:
    doc = pod()
    doc["status"] = {
        "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "PodScheduled", "status": "True"},
        ]
    }
    out = smp(doc, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    conds = {c["type"]: c["status"] for c in out["status"]["conditions"]}
    assert conds == {"Ready": "True", "PodScheduled": "True"}
    assert names(out["status"]["conditions"], "type") == ["Ready", "PodScheduled"]


def test_deployment_template_containers_merge() -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                        {"name": "side", "image": "envoy"},
                    ]
                },
            },
        },
    }
    out = smp(
        dep,
        {
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}},
            }
        },
    )
    containers = out["spec"]["template"]["spec"]["containers"]
    assert out["spec"]["replicas"] == 3
    assert containers == [
        {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80}]},
        {"name": "side", "image": "envoy"},
    ]


def test_service_ports_merge_by_port() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {
            "selector": {"app": "a"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "metrics", "port": 9090},
            ],
        },
    }
    out = smp(
        svc, {"spec": {"ports": [{"port": 80, "targetPort": 8081}], "selector": {"tier": "web"}}}
    )
    ports = {p["port"]: p for p in out["spec"]["ports"]}
    assert ports[80] == {"name": "http", "port": 80, "targetPort": 8081}
    assert ports[9090] == {"name": "metrics", "port": 9090}
    # Service selector is a plain map: merged key by key
    assert out["spec"]["selector"] == {"app": "a", "tier": "web"}


def test_null_deletes_and_unknown_null_is_ignored() -> None:
    out = smp(pod(), {"metadata": {"labels": None, "nothere": None}})
    assert "labels" not in out["metadata"] and "nothere" not in out["metadata"]


def test_new_values_are_cleaned_of_nulls_and_directives() -> None:
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    out = smp(
        doc,
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}],
                "containers": [
                    {
                        "name": "a",
                        "image": "x",
                        "command": None,
                        "env": [{"name": "E", "value": "1"}, {"$patch": "delete", "name": "F"}],
                    }
                ],
                "securityContext": {"runAsUser": None, "fsGroup": 1},
            }
        },
    )
    assert out["spec"]["containers"] == [
        {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}
    ]
    assert out["spec"]["securityContext"] == {"fsGroup": 1}


def test_type_change_replaces_value() -> None:
    out = smp(pod(), {"metadata": {"labels": "oops"}})
    assert out["metadata"]["labels"] == "oops"


def test_unknown_fields_merge_maps_and_replace_lists() -> None:
    doc = pod()
    doc["spec"]["x-extra"] = {"a": 1, "l": [1, 2]}
    out = smp(doc, {"spec": {"x-extra": {"b": 2, "l": [3]}}})
    assert out["spec"]["x-extra"] == {"a": 1, "b": 2, "l": [3]}


def test_root_directives() -> None:
    assert smp(pod(), {"$patch": "delete"}) == {}
    replaced = smp(pod(), {"$patch": "replace", "apiVersion": "v1", "kind": "Pod"})
    assert replaced == {"apiVersion": "v1", "kind": "Pod"}


def test_strategic_merge_result_shares_nothing_with_inputs() -> None:
    doc = pod()
    patch = {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]}}
    out = smp(doc, patch)
    out["spec"]["containers"][0]["env"].append({"name": "B"})
    out["spec"]["volumes"][0]["emptyDir"]["medium"] = "Memory"
    out["metadata"]["labels"]["z"] = "z"
    assert patch["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert doc == pod()


def test_custom_resources_are_unsupported_media_type() -> None:
    rc = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "r"}}
    assert not strategic_merge_supported("ray.io/v1", "RayCluster")
    assert strategic_merge_supported("v1", "Pod")
    assert strategic_merge_supported("apps/v1", "Deployment")
    assert strategic_merge_supported("events.k8s.io/v1", "Event")
    assert not strategic_merge_supported("apps/v1", "Pod")  # wrong group for the kind
    with pytest.raises(StatusError) as info:
        apply_strategic_merge_patch(rc, {"spec": {}}, "RayCluster", "ray.io/v1")
    assert info.value.code == 415
    assert info.value.reason == "UnsupportedMediaType"


@pytest.mark.parametrize("body", [["x"], "x", 3, None])
def test_strategic_merge_non_object_is_400(body: Any) -> None:
    with pytest.raises(StatusError) as info:
        apply_strategic_merge_patch(pod(), body, "Pod", "v1")
    assert info.value.code == 400


def test_deeply_nested_patch_is_400_not_a_crash() -> None:
    patch: dict[str, Any] = {}
    cur = patch
    for _ in range(5000):
        cur["x"] = {}
        cur = cur["x"]
    for fn in (
        lambda: apply_merge_patch({}, patch),
        lambda: apply_strategic_merge_patch(pod(), {"spec": patch}, "Pod", "v1"),
    ):
        try:
            fn()
        except StatusError as err:
            assert err.code == 400


_smp_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["a", "b", "delete", "replace"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "image",
                    "env",
                    "value",
                    "$patch",
                    "containers",
                    "$retainKeys",
                    "$setElementOrder/containers",
                    "$deleteFromPrimitiveList/finalizers",
                    "finalizers",
                    "labels",
                    "ports",
                    "containerPort",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(
    patch=st.dictionaries(st.sampled_from(["metadata", "spec", "status"]), _smp_values, max_size=3)
)
def test_strategic_merge_fuzz_is_4xx_or_object(patch: dict[str, Any]) -> None:
    try:
        out = smp(pod(), patch)
    except StatusError as err:
        assert 400 <= err.code < 500, err.message
    else:
        assert isinstance(out, dict)
        json.dumps(out)


def test_schema_loading_is_cheap() -> None:
    """The definitions load once; later lookups are dictionary reads."""
    patch_meta.schema_for("v1", "Pod")  # warm
    start = time.perf_counter()
    for _ in range(1000):
        node = patch_meta.schema_for("apps/v1", "Deployment")
        assert node is not None
        spec = node.field("spec").node
        assert spec is not None
        assert spec.field("template").node is not None
    assert time.perf_counter() - start < 1.0
    meta = patch_meta.schema_for("v1", "Pod")
    assert meta is not None
    containers = meta.field("spec").node.field("containers")  # type: ignore[union-attr]
    assert containers.merge and containers.merge_key == "name"
    assert patch_meta.schema_for("ray.io/v1", "RayCluster") is None
