"""Review regression: a CRD delete that fails part-way never strands custom resources
without their CRD (kube removes the objects first, the CRD last)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.storage.sqlite import SqliteStorage

CRD_NAME = "widgets.example.com"


def _rt(catalog: Catalog, group: str, version: str, resource: str) -> ResourceType:
    found = catalog.get(group, version, resource)
    assert found is not None
    return found


def _crd() -> dict[str, Any]:
    return {
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }


def _consistent(reg: Registry, catalog: Catalog) -> None:
    """Custom resources are stored only while their CRD is, and served exactly then."""
    crds = _rt(catalog, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    crd_stored = reg.storage.get(crds.storage_key(None, CRD_NAME)) is not None
    widgets_stored = reg.storage.count("/example.com/widgets/")
    assert crd_stored or widgets_stored == 0
    assert (catalog.get("example.com", "v1", "widgets") is not None) == crd_stored


def test_crd_delete_failing_part_way_leaves_no_orphaned_custom_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "state.sqlite3")
    catalog = Catalog()
    storage = SqliteStorage(path)
    reg = Registry(catalog, storage)
    crds = _rt(catalog, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    reg.create(crds, None, _crd())
    widgets = _rt(catalog, "example.com", "v1", "widgets")
    for name in ("a", "b", "c"):
        reg.create(widgets, "default", {"metadata": {"name": name}})

    real_delete = SqliteStorage.delete
    calls = 0

    def failing_delete(self: SqliteStorage, key: str, rv: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise sqlite3.OperationalError("disk I/O error")
        real_delete(self, key, rv)

    monkeypatch.setattr(SqliteStorage, "delete", failing_delete)
    with pytest.raises(sqlite3.OperationalError):
        reg.delete(crds, None, CRD_NAME)
    monkeypatch.undo()
    _consistent(reg, catalog)
    storage.close()

    # What the disk holds is consistent too (a restart from --data-dir).
    catalog2 = Catalog()
    reopened = Registry(catalog2, SqliteStorage(path))
    _consistent(reopened, catalog2)
    # And the delete can be retried to the end.
    crds2 = _rt(catalog2, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    reopened.delete(crds2, None, CRD_NAME)
    assert reopened.storage.count("/example.com/widgets/") == 0
    _consistent(reopened, catalog2)
