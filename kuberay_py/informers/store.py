"""The informer cache: objects by `namespace/name` key, plus secondary indexes.

Like client-go's `threadSafeStore`: named index functions map an object to index
values, and the store keeps the inverted index (value -> keys) up to date in the same
step as the object map, so a lookup by owner UID or label is a dict lookup, not a
scan. Buckets that become empty are removed (kubernetes#84959 was that leak).

Everything runs on one event loop and every method is synchronous, so each call is
atomic without locks.

Reads hand out the stored dicts themselves, not copies: deep-copying 10,000 pods costs
seconds (controller-runtime's copy-on-read default caps cached reads at ~5-10 k/s in
Python). Treat them as read-only; `copy.deepcopy` (or build a patch) before changing
anything. Mutating a cached dict corrupts the cache for every other reader.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kuberay_py.kube import object_key

__all__ = [
    "CONTROLLER_UID_INDEX",
    "LABEL_INDEX_PREFIX",
    "NAMESPACE_INDEX",
    "OWNER_UID_INDEX",
    "IndexFunc",
    "Store",
    "by_controller_uid",
    "by_label",
    "by_namespace",
    "by_owner_uid",
]

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"
OWNER_UID_INDEX = "owner-uid"
CONTROLLER_UID_INDEX = "controller-uid"
LABEL_INDEX_PREFIX = "label:"


def by_namespace(obj: Obj) -> Iterable[str]:
    """Index function: the object's namespace (cluster-scoped objects are not indexed)."""
    ns = (obj.get("metadata") or {}).get("namespace")
    return (ns,) if ns else ()


def by_owner_uid(obj: Obj) -> Iterable[str]:
    """Index function: the UID of every ownerReference."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return tuple(r["uid"] for r in refs if isinstance(r, dict) and r.get("uid"))


def by_controller_uid(obj: Obj) -> Iterable[str]:
    """Index function: the UID of the controlling ownerReference (`controller: true`) only."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return tuple(
        r["uid"] for r in refs if isinstance(r, dict) and r.get("controller") and r.get("uid")
    )


def by_label(key: str) -> IndexFunc:
    """Index function factory: the value of label `key` (objects without it are not indexed)."""

    def index(obj: Obj) -> Iterable[str]:
        labels = (obj.get("metadata") or {}).get("labels")
        if labels and key in labels:
            return (str(labels[key]),)
        return ()

    index.__name__ = f"by_label({key})"
    return index


class Store:
    """Keyed objects with named inverted indexes. See the module docstring for read rules."""

    def __init__(
        self,
        indexers: Mapping[str, IndexFunc] | None = None,
        *,
        key_func: Callable[[Obj], str] = object_key,
    ) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._key_func = key_func
        if indexers:
            self.add_indexers(indexers)

    # ---------------------------------------------------------------- indexes

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add named index functions; existing objects are indexed at once.

        Re-adding a name with the same function is a no-op; with another one, ValueError.
        """
        for name, fn in indexers.items():
            existing = self._indexers.get(name)
            if existing is not None:
                if existing is fn:
                    continue
                raise ValueError(f"indexer {name!r} already exists with another function")
            self._indexers[name] = fn
            index: dict[str, set[str]] = {}
            self._indices[name] = index
            for key, obj in self._items.items():
                for value in fn(obj):
                    index.setdefault(value, set()).add(key)

    @property
    def indexers(self) -> Mapping[str, IndexFunc]:
        return dict(self._indexers)

    def key_of(self, obj: Obj) -> str:
        return self._key_func(obj)

    def _index_add(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                bucket = index.get(value)
                if bucket is None:
                    index[value] = {key}
                else:
                    bucket.add(key)

    def _index_remove(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]

    def _index_update(self, key: str, old: Obj, new: Obj) -> None:
        for name, fn in self._indexers.items():
            old_values = set(fn(old))
            new_values = set(fn(new))
            if old_values == new_values:
                continue
            index = self._indices[name]
            for value in old_values - new_values:
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]
            for value in new_values - old_values:
                index.setdefault(value, set()).add(key)

    # ---------------------------------------------------------------- writes

    def upsert(self, obj: Obj) -> Obj | None:
        """Add or replace the object under its key; returns the previous one (or None)."""
        key = self._key_func(obj)
        old = self._items.get(key)
        self._items[key] = obj
        if old is None:
            self._index_add(key, obj)
        else:
            self._index_update(key, old, obj)
        return old

    def delete(self, obj_or_key: Obj | str) -> Obj | None:
        """Remove by object or key; returns what was stored (or None)."""
        key = obj_or_key if isinstance(obj_or_key, str) else self._key_func(obj_or_key)
        old = self._items.pop(key, None)
        if old is not None:
            self._index_remove(key, old)
        return old

    def replace(self, objs: Iterable[Obj]) -> dict[str, Obj]:
        """Swap the whole content for `objs` at once; returns the previous key -> object map.

        Indexes are rebuilt from scratch (one pass), which is cheaper than diffing them.
        """
        old = self._items
        items: dict[str, Obj] = {}
        key_func = self._key_func
        for obj in objs:
            items[key_func(obj)] = obj
        self._items = items
        self._indices = {name: {} for name in self._indexers}
        for key, obj in items.items():
            self._index_add(key, obj)
        return old

    def clear(self) -> None:
        self.replace(())

    # ---------------------------------------------------------------- reads

    def get(self, key: str) -> Obj | None:
        """The stored object for `namespace/name` (or `name`), or None. Read-only."""
        return self._items.get(key)

    def get_by_name(self, name: str, namespace: str | None = None) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Obj]:
        return iter(list(self._items.values()))

    def list(self) -> builtins.list[Obj]:
        """Every stored object (a new list of the stored, read-only dicts)."""
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def items(self) -> builtins.list[tuple[str, Obj]]:
        return list(self._items.items())

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]:
        """Objects whose index function returned `value`. KeyError for an unknown index."""
        index = self._indices[index_name]
        keys = index.get(value)
        if not keys:
            return []
        items = self._items
        return [items[k] for k in keys]

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        """Keys of the objects in an index bucket."""
        return sorted(self._indices[index_name].get(value, ()))

    def index_values(self, index_name: str) -> builtins.list[str]:
        """Every value that currently has at least one object in the index."""
        return list(self._indices[index_name])

    def list_namespace(self, namespace: str) -> builtins.list[Obj]:
        """Objects of one namespace (uses the namespace index when present)."""
        if NAMESPACE_INDEX in self._indices:
            return self.by_index(NAMESPACE_INDEX, namespace)
        prefix = f"{namespace}/"
        return [o for k, o in self._items.items() if k.startswith(prefix)]
