"""Storage backends: ordering, prefixes, resourceVersion continuity and SQLite durability."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kuberay_py.sandbox.storage.base import Storage
from kuberay_py.sandbox.storage.memory import MemoryStorage, resource_prefix
from kuberay_py.sandbox.storage.sqlite import SqliteStorage


def _obj(name: str, rv: int) -> dict[str, object]:
    return {"metadata": {"name": name, "resourceVersion": str(rv)}}


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "memory":
        return MemoryStorage()
    return SqliteStorage(str(tmp_path / "s.sqlite3"))


def test_resource_prefix() -> None:
    assert resource_prefix("/core/pods/ns/name") == "/core/pods/"
    assert resource_prefix("/core/namespaces/default") == "/core/namespaces/"
    assert resource_prefix("/core/pods/") == "/core/pods/"


def test_put_get_delete_and_rv(storage: Storage) -> None:
    assert storage.resource_version == 0
    storage.put("/core/pods/a/x", _obj("x", 1), 1)
    storage.put("/core/pods/a/y", _obj("y", 2), 2)
    assert storage.get("/core/pods/a/x") == _obj("x", 1)
    assert storage.get("/core/pods/a/missing") is None
    assert storage.get("/apps/deployments/a/x") is None
    storage.delete("/core/pods/a/x", 3)
    assert storage.get("/core/pods/a/x") is None
    assert storage.resource_version == 3


def test_list_by_prefix_is_sorted_and_scoped(storage: Storage) -> None:
    keys = [
        "/core/pods/b/z",
        "/core/pods/a/y",
        "/core/pods/a-b/x",
        "/core/pods/a/a",
        "/core/configmaps/a/c",
    ]
    for rv, key in enumerate(keys, 1):
        storage.put(key, _obj(key, rv), rv)
    all_pods = [k for k, _ in storage.list("/core/pods/")]
    assert all_pods == sorted(k for k in keys if k.startswith("/core/pods/"))
    assert [k for k, _ in storage.list("/core/pods/a/")] == ["/core/pods/a/a", "/core/pods/a/y"]
    assert storage.count("/core/pods/a/") == 2
    assert storage.count("/core/pods/") == 4
    assert storage.list("/core/secrets/") == []
    # Updates keep order, deletes and creates refresh it.
    storage.put("/core/pods/a/a", _obj("a", 9), 9)
    storage.delete("/core/pods/a/y", 10)
    storage.put("/core/pods/a/b", _obj("b", 11), 11)
    assert [k for k, _ in storage.list("/core/pods/a/")] == ["/core/pods/a/a", "/core/pods/a/b"]


def test_sqlite_reopen_keeps_objects_and_rv(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    s = SqliteStorage(path)
    for i in range(1, 6):
        s.put(f"/core/configmaps/ns/c{i}", _obj(f"c{i}", i), i)
    s.delete("/core/configmaps/ns/c5", 6)  # the newest object is gone; its rv must not return
    s.close()
    again = SqliteStorage(path)
    assert again.resource_version == 6
    assert [k for k, _ in again.list("/core/configmaps/")] == [
        f"/core/configmaps/ns/c{i}" for i in range(1, 5)
    ]
    assert again.get("/core/configmaps/ns/c3") == _obj("c3", 3)
    again.close()


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    s = SqliteStorage(str(tmp_path / "s.sqlite3"))
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    s.close()


_WRITER = textwrap.dedent(
    """
    import sys
    from kuberay_py.sandbox.registry.catalog import Catalog
    from kuberay_py.sandbox.registry.store import Registry
    from kuberay_py.sandbox.storage.sqlite import SqliteStorage

    catalog = Catalog()
    reg = Registry(catalog, SqliteStorage(sys.argv[1]))
    cms = catalog.get("", "v1", "configmaps")
    i = 0
    while True:
        obj = reg.create(cms, "default", {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
        print(obj["metadata"]["name"], obj["metadata"]["resourceVersion"], flush=True)
        i += 1
    """
)


def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    from kuberay_py.sandbox.registry.catalog import Catalog
    from kuberay_py.sandbox.registry.store import Registry

    path = str(tmp_path / "kill.sqlite3")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, path],
        stdout=subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[1]),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.stdout is not None
    acked: list[tuple[str, int]] = []
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        name, rv = line.decode().split()
        acked.append((name, int(rv)))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Complete lines written before the kill but not yet read were acknowledged too; a torn
    # last line was not.
    for line in proc.stdout.read().decode().split("\n")[:-1]:
        name, rv = line.split()
        acked.append((name, int(rv)))
    assert len(acked) >= 300, "the writer did not get going"

    catalog = Catalog()
    reg = Registry(catalog, SqliteStorage(path))
    cms = catalog.get("", "v1", "configmaps")
    assert cms is not None
    for name, rv in acked:
        assert reg.get(cms, "default", name)["metadata"]["resourceVersion"] == str(rv)
    newest = max(rv for _, rv in acked)
    assert reg.resource_version >= newest
    created = reg.create(cms, "default", {"metadata": {"name": "after-restart"}})
    assert int(created["metadata"]["resourceVersion"]) > newest
    reg.close()
