"""In-memory storage: the default, and the cache the SQLite storage reads from.

Keys are grouped by resource (`/group/resource/`), and each group keeps a
lazily sorted key list so that listing 10,000 pods sorts at most once after
a burst of creates, while updates (the common write) never invalidate it.
"""

from __future__ import annotations

import bisect
from typing import Any


def resource_prefix(key: str) -> str:
    """`/core/pods/` for `/core/pods/ns/name` (the first two path segments)."""
    end = key.index("/", key.index("/", 1) + 1)
    return key[: end + 1]


class _Bucket:
    __slots__ = ("objects", "sorted_keys")

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.sorted_keys: list[str] | None = []

    def keys_sorted(self) -> list[str]:
        if self.sorted_keys is None:
            self.sorted_keys = sorted(self.objects)
        return self.sorted_keys


class MemoryStorage:
    """A dict per resource; nothing survives the process."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._rv = 0

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: str) -> dict[str, Any] | None:
        bucket = self._buckets.get(resource_prefix(key))
        return None if bucket is None else bucket.objects.get(key)

    def _bucket(self, key: str) -> _Bucket:
        prefix = resource_prefix(key)
        bucket = self._buckets.get(prefix)
        if bucket is None:
            bucket = self._buckets[prefix] = _Bucket()
        return bucket

    def _put_memory(self, key: str, obj: dict[str, Any], rv: int) -> None:
        bucket = self._bucket(key)
        if key not in bucket.objects:
            bucket.sorted_keys = None
        bucket.objects[key] = obj
        if rv > self._rv:
            self._rv = rv

    def _delete_memory(self, key: str, rv: int) -> None:
        bucket = self._buckets.get(resource_prefix(key))
        if bucket is not None and bucket.objects.pop(key, None) is not None:
            bucket.sorted_keys = None
        if rv > self._rv:
            self._rv = rv

    def put(self, key: str, obj: dict[str, Any], rv: int) -> None:
        self._put_memory(key, obj, rv)

    def delete(self, key: str, rv: int) -> None:
        self._delete_memory(key, rv)

    def _range(self, prefix: str) -> tuple[_Bucket | None, list[str], int, int]:
        bucket = self._buckets.get(resource_prefix(prefix))
        if bucket is None:
            return None, [], 0, 0
        keys = bucket.keys_sorted()
        if resource_prefix(prefix) == prefix:
            return bucket, keys, 0, len(keys)
        lo = bisect.bisect_left(keys, prefix)
        # Every key with the prefix sorts before prefix + the highest code point.
        hi = bisect.bisect_left(keys, prefix + "\U0010ffff", lo)
        return bucket, keys, lo, hi

    def list(self, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        bucket, keys, lo, hi = self._range(prefix)
        if bucket is None:
            return []
        objects = bucket.objects
        return [(k, objects[k]) for k in keys[lo:hi]]

    def count(self, prefix: str) -> int:
        _, _, lo, hi = self._range(prefix)
        return hi - lo

    def close(self) -> None:
        pass
