"""SQLite storage for `--data-dir`: every acknowledged write survives SIGKILL.

Each write is its own committed transaction in WAL mode with
synchronous=NORMAL: the commit reaches the WAL file (the OS page cache) before
`put`/`delete` return, which is exactly what a process kill cannot undo (a
power cut could, which a sandbox need not survive). Reads never touch SQLite:
everything is loaded into a `MemoryStorage` on open. The newest
resourceVersion is persisted in a `meta` row with every write, so deleting the
newest object and restarting never hands out its resourceVersion again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from kuberay_py.sandbox.storage.memory import MemoryStorage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, rv INTEGER NOT NULL, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteStorage(MemoryStorage):
    """Write-through SQLite file behind an in-memory copy."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._load()

    def _load(self) -> None:
        max_rv = 0
        for key, rv, value in self._db.execute("SELECT key, rv, value FROM objects"):
            self._put_memory(key, orjson.loads(value), rv)
            max_rv = max(max_rv, rv)
        row = self._db.execute("SELECT value FROM meta WHERE name = 'rv'").fetchone()
        if row is not None:
            max_rv = max(max_rv, int(row[0]))
        self._rv = max_rv

    def put(self, key: str, obj: dict[str, Any], rv: int) -> None:
        value = orjson.dumps(obj)
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute(
                "INSERT OR REPLACE INTO objects (key, rv, value) VALUES (?, ?, ?)", (key, rv, value)
            )
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('rv', ?)", (rv,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._put_memory(key, obj, rv)

    def delete(self, key: str, rv: int) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute("DELETE FROM objects WHERE key = ?", (key,))
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('rv', ?)", (rv,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._delete_memory(key, rv)

    def close(self) -> None:
        self._db.close()
