"""Review regression: history forgotten with a deleted CRD counts as compacted (410)."""

from __future__ import annotations

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


def test_watch_from_before_a_crd_was_recreated_is_gone() -> None:
    """Deleting a CRD forgets its history; a watch resuming from before must relist (410),
    or it would never see the DELETED events of the old custom resources."""
    catalog = Catalog()
    reg = Registry(catalog)
    crds = _rt(catalog, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    reg.create(crds, None, _crd())
    widgets = _rt(catalog, "example.com", "v1", "widgets")
    reg.create(widgets, "default", {"metadata": {"name": "old"}})
    last_seen = reg.resource_version
    watch = reg.watch(widgets, "default", WatchOptions(resource_version=str(last_seen)))
    reg.delete(crds, None, CRD_NAME)
    # The watch ended without handing out the DELETED event: the client resumes later.
    assert isinstance(watch, HubWatch) and watch.closed and watch.drain_nowait() == []
    reg.create(crds, None, _crd())
    widgets = _rt(catalog, "example.com", "v1", "widgets")
    with pytest.raises(StatusError) as caught:
        reg.watch(widgets, "default", WatchOptions(resource_version=str(last_seen)))
    assert caught.value.code == 410
    # A watch from the current state still works.
    reg.watch(widgets, "default", WatchOptions(resource_version=str(reg.resource_version)))
