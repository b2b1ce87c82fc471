"""Read-only access to the manager's informer caches, by resource.

Reconcilers read here, not from the API: a reconcile of an unchanged object then costs
no request at all. A read of a resource nobody watches raises `NotWatched` instead of
silently starting a cluster-wide informer (controller-runtime's implicit informers are
a classic memory blow-up; this is its `ReaderFailOnMissingInformer` as the default).

Objects returned are the cached dicts: read-only. `copy.deepcopy` before changing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kuberay_py.informers import SharedInformer
from kuberay_py.kube import Resource

__all__ = ["Cache", "NotWatched"]

Obj = dict[str, Any]


class NotWatched(LookupError):
    """No informer of the manager covers this resource (and namespace / selector)."""


class Cache:
    """Looks objects up in whichever started informers cover the request."""

    def __init__(self, informers: Callable[[], list[SharedInformer]]) -> None:
        self._informers = informers

    def _covering(
        self, resource: Resource, namespace: str | None, label_selector: str | None
    ) -> list[SharedInformer]:
        found = [
            i
            for i in self._informers()
            if i.resource == resource
            and (label_selector is None or i.label_selector == label_selector)
            and (namespace is None or i.namespace is None or i.namespace == namespace)
        ]
        if not found:
            where = f" in namespace {namespace}" if namespace else ""
            raise NotWatched(
                f"no informer watches {resource.label}{where}"
                + (f" with selector {label_selector!r}" if label_selector else "")
                + ": add a watch (for_/owns/watches or Manager.informers_for) first"
            )
        return found

    def get(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> Obj | None:
        """The cached object, or None."""
        key = f"{namespace}/{name}" if namespace and resource.namespaced else name
        for informer in self._covering(resource, namespace, label_selector):
            obj = informer.store.get(key)
            if obj is not None:
                return obj
        return None

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        index: tuple[str, str] | None = None,
    ) -> list[Obj]:
        """Cached objects of `resource` (in `namespace`, or all), optionally from an index
        bucket `(index_name, value)`. Deduplicated across overlapping informers."""
        seen: dict[str, Obj] = {}
        for informer in self._covering(resource, namespace, label_selector):
            store = informer.store
            if index is not None:
                objs = store.by_index(*index)
                if namespace:
                    objs = [
                        o for o in objs if (o.get("metadata") or {}).get("namespace") == namespace
                    ]
            elif namespace and resource.namespaced:
                objs = store.list_namespace(namespace)
            else:
                objs = store.list()
            for obj in objs:
                seen.setdefault(store.key_of(obj), obj)
        return list(seen.values())

    def synced(self, resource: Resource) -> bool:
        return all(i.has_synced() for i in self._covering(resource, None, None))
