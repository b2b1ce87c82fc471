"""Transforms: managedFields dropped; equal sub-objects shared without changing any value."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from kuberay_py.informers import (
    Deduplicator,
    chain,
    default_transform,
    strip_annotations,
    strip_managed_fields,
)


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"p{i}",
            "namespace": "default",
            "uid": f"uid-{i}",
            "labels": {"app": "web"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": {
            "containers": [{"name": "main", "image": "busybox", "resources": {}}],
            "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 300}],
            "priority": 0,
            "enableServiceLinks": True,
        },
        "status": {"phase": "Pending"},
    }


def test_strip_and_chain() -> None:
    obj = pod(1)
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    out = chain(
        strip_managed_fields, strip_annotations("kubectl.kubernetes.io/last-applied-configuration")
    )(obj)
    assert "managedFields" not in out["metadata"]
    assert out["metadata"]["annotations"] == {}


def test_equal_specs_become_one_object_and_values_are_unchanged() -> None:
    t = default_transform()
    originals = [pod(i) for i in range(8)]
    out = [t(copy.deepcopy(p)) for p in originals]
    for o, p in zip(out, originals, strict=True):
        p["metadata"].pop("managedFields")
        assert o == p
    # A first sighting is only hashed; from the second on, one shared object.
    assert out[0]["spec"] is not out[1]["spec"]
    assert out[1]["spec"] is out[2]["spec"] is out[7]["spec"]
    assert out[1]["metadata"]["labels"] is out[7]["metadata"]["labels"]
    assert out[1]["metadata"] is not out[2]["metadata"]  # names and uids stay per object


def test_objects_differing_in_one_field_still_share_the_rest() -> None:
    d = Deduplicator()
    out = []
    for i in range(4):
        p = pod(i)
        p["spec"]["containers"][0]["image"] = f"img:{i}"
        out.append(d(p))
    assert out[2]["spec"] is not out[3]["spec"]
    assert out[2]["spec"]["tolerations"] is out[3]["spec"]["tolerations"]
    assert out[3]["spec"]["containers"][0]["image"] == "img:3"


def test_empty_containers_are_never_shared() -> None:
    d = Deduplicator()
    _, b, c = (d({"spec": {"securityContext": {}, "x": [1]}}) for _ in range(3))
    assert b["spec"] is c["spec"]  # equal non-empty parents are shared as a whole
    e, f = (d({"spec": {}}) for _ in range(2))
    assert e["spec"] is not f["spec"]


def test_bools_ints_and_floats_are_not_conflated() -> None:
    d = Deduplicator()
    a = [d({"spec": {"x": 1}}) for _ in range(2)]
    b = [d({"spec": {"x": True}}) for _ in range(2)]
    c = [d({"spec": {"x": 1.0}}) for _ in range(2)]
    assert type(a[1]["spec"]["x"]) is int
    assert b[1]["spec"]["x"] is True
    assert type(c[1]["spec"]["x"]) is float
    assert a[1]["spec"] is not b[1]["spec"] and a[1]["spec"] is not c[1]["spec"]


def test_table_is_bounded() -> None:
    d = Deduplicator(max_entries=10)
    for i in range(100):
        for _ in range(2):
            d({"spec": {"n": i}})
        assert len(d) <= 10


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=6))
@example([[None], [float("inf")]])  # orjson writes inf as null: the bytes alone collide
def test_dedup_never_changes_what_an_object_says(values: list[Any]) -> None:
    d = Deduplicator()
    objs = [{"metadata": {"name": str(i)}, "spec": v} for i, v in enumerate(values * 2)]
    expected = copy.deepcopy(objs)
    out = [d(o) for o in objs]
    assert out == expected
    for o, e in zip(out, expected, strict=True):
        assert repr(o) == repr(e)  # same types too (1 vs True vs 1.0)
