"""Store + indexers: inverted indexes follow every write, empty buckets disappear."""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.informers import (
    NAMESPACE_INDEX,
    OWNER_UID_INDEX,
    Store,
    by_controller_uid,
    by_label,
    by_namespace,
    by_owner_uid,
)


def pod(ns: str, name: str, *, labels: dict[str, str] | None = None, owners: Any = ()) -> Any:
    meta: dict[str, Any] = {"namespace": ns, "name": name, "labels": labels or {}}
    if owners:
        meta["ownerReferences"] = [
            {"uid": uid, "controller": controller, "kind": "X", "name": "x"}
            for uid, controller in owners
        ]
    return {"metadata": meta}


def make_store() -> Store:
    return Store(
        {
            NAMESPACE_INDEX: by_namespace,
            OWNER_UID_INDEX: by_owner_uid,
            "controller": by_controller_uid,
            "label:app": by_label("app"),
        }
    )


def test_add_get_and_index_lookups() -> None:
    s = make_store()
    a = pod("ns1", "a", labels={"app": "web"}, owners=[("u1", True), ("u2", False)])
    b = pod("ns1", "b", labels={"app": "db"}, owners=[("u1", False)])
    c = pod("ns2", "c", labels={"app": "web"})
    for o in (a, b, c):
        s.upsert(o)
    assert len(s) == 3
    assert s.get("ns1/a") is a  # the stored dict itself, no copy
    assert s.get_by_name("c", "ns2") is c
    assert {o["metadata"]["name"] for o in s.by_index(NAMESPACE_INDEX, "ns1")} == {"a", "b"}
    assert s.index_keys(OWNER_UID_INDEX, "u1") == ["ns1/a", "ns1/b"]
    assert s.index_keys("controller", "u1") == ["ns1/a"]
    assert s.index_keys("label:app", "web") == ["ns1/a", "ns2/c"]
    assert sorted(s.index_values(NAMESPACE_INDEX)) == ["ns1", "ns2"]
    assert s.by_index(OWNER_UID_INDEX, "nobody") == []
    assert [o["metadata"]["name"] for o in s.list_namespace("ns2")] == ["c"]


def test_update_moves_index_entries_and_drops_empty_buckets() -> None:
    s = make_store()
    s.upsert(pod("ns", "a", labels={"app": "web"}, owners=[("u1", True)]))
    old = s.upsert(pod("ns", "a", labels={"app": "api"}, owners=[("u2", True)]))
    assert old is not None and old["metadata"]["labels"] == {"app": "web"}
    assert s.index_values("label:app") == ["api"]
    assert s.index_values(OWNER_UID_INDEX) == ["u2"]
    s.delete("ns/a")
    for index in (NAMESPACE_INDEX, OWNER_UID_INDEX, "label:app", "controller"):
        assert s.index_values(index) == []
    assert s.delete("ns/a") is None


def test_replace_swaps_content_and_rebuilds_indexes() -> None:
    s = make_store()
    s.upsert(pod("ns", "a", labels={"app": "web"}))
    s.upsert(pod("ns", "b"))
    previous = s.replace([pod("ns", "b"), pod("other", "c", labels={"app": "x"})])
    assert sorted(previous) == ["ns/a", "ns/b"]
    assert sorted(s.keys()) == ["ns/b", "other/c"]
    assert s.index_values("label:app") == ["x"]
    assert sorted(s.index_values(NAMESPACE_INDEX)) == ["ns", "other"]


def test_indexers_added_later_index_existing_objects() -> None:
    s = Store()
    s.upsert(pod("ns", "a", labels={"tier": "1"}))
    s.upsert(pod("ns", "b", labels={"tier": "2"}))
    fn = by_label("tier")
    s.add_indexers({"tier": fn})
    s.add_indexers({"tier": fn})  # same function again: no-op
    assert s.index_keys("tier", "2") == ["ns/b"]
    with pytest.raises(ValueError):
        s.add_indexers({"tier": by_label("tier")})
    with pytest.raises(KeyError):
        s.by_index("missing", "x")


def test_custom_index_function_with_many_values() -> None:
    def by_container_image(obj: dict[str, Any]) -> list[str]:
        return [c["image"] for c in obj.get("spec", {}).get("containers", [])]

    s = Store({"image": by_container_image})
    p = pod("ns", "a")
    p["spec"] = {"containers": [{"image": "ray:1"}, {"image": "redis:7"}]}
    s.upsert(p)
    assert s.index_keys("image", "redis:7") == ["ns/a"]
    assert sorted(s.index_values("image")) == ["ray:1", "redis:7"]


def test_cluster_scoped_keys() -> None:
    s = make_store()
    s.upsert({"metadata": {"name": "node-1"}})
    assert s.get("node-1") is not None
    assert s.index_values(NAMESPACE_INDEX) == []
