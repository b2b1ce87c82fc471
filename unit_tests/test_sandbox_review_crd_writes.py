"""Review regression: a malformed CRD must fail before it is stored, not after."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import WatchOptions
from kuberay_py.sandbox.registry.watchhub import HubWatch

Obj = dict[str, Any]
CRD_NAME = "widgets.example.com"


def _rt(catalog: Catalog, group: str, version: str, resource: str) -> ResourceType:
    found = catalog.get(group, version, resource)
    assert found is not None
    return found


def _crd() -> Obj:
    return {
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        target: Any = obj["spec"]
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return apply


@pytest.mark.parametrize(
    "mutate",
    [
        _set(("versions", 0, "schema"), ["not", "an", "object"]),
        _set(("names", "shortNames"), 5),
        _set(("names", "kind"), 5),
        _set(("versions", 0, "name"), 5),
    ],
    ids=["schema-list", "shortNames-int", "kind-int", "version-name-int"],
)
def test_malformed_crd_is_refused_before_anything_is_stored(mutate: Callable[[Obj], None]) -> None:
    catalog = Catalog()
    reg = Registry(catalog)
    crds = _rt(catalog, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    watch = reg.watch(crds, None, WatchOptions(send_initial_events=False))
    rv = reg.resource_version
    body = _crd()
    mutate(body)
    with pytest.raises(StatusError) as caught:
        reg.create(crds, None, body)
    assert caught.value.code in (400, 422)
    # Nothing half-done: not stored, no event, no resourceVersion used.
    assert reg.storage.get(crds.storage_key(None, CRD_NAME)) is None
    assert isinstance(watch, HubWatch) and watch.drain_nowait() == []
    assert reg.resource_version == rv
    # The same holds for an update of a good CRD: it stays served as it was.
    good = reg.create(crds, None, _crd())
    bad = copy.deepcopy(good)
    mutate(bad)
    with pytest.raises(StatusError):
        reg.update(crds, None, CRD_NAME, bad)
    assert catalog.get("example.com", "v1", "widgets") is not None
    assert reg.get(crds, None, CRD_NAME) == good
    # And a registry reopened on the same storage starts (it re-registers stored CRDs).
    Registry(Catalog(), reg.storage)
