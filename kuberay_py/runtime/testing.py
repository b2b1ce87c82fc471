"""An in-memory API for unit-testing reconcilers and controllers without a server.

`FakeKube` implements the client calls the runtime makes (list_pages, watch, get,
create, replace, patch with a merge patch, delete) over a dict, with resourceVersions,
generations, optimistic concurrency (a stale resourceVersion raises Conflict) and live
watch streams, plus `fail(verb, error, times)` to inject API errors. It is the
controller-runtime "fake client" equivalent; for anything the wire must prove (paging,
410 after compaction, HTTP faults) use the sandbox instead.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kuberay_py.kube import AlreadyExists, ApiError, Conflict, NotFound, Resource, WatchEvent

__all__ = ["FakeKube", "FakeWatch"]

Obj = dict[str, Any]
_END = object()


def _matches(obj: Obj, selector: str | None) -> bool:
    """Equality (`k=v`, `k==v`, `k!=v`) and existence (`k`, `!k`) label selectors."""
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


class FakeWatch:
    """One open watch stream."""

    def __init__(
        self, resource: Resource, namespace: str | None, selector: str | None, rv: str | None
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.selector = selector
        self.resource_version = rv
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def wants(self, resource: Resource, obj: Obj) -> bool:
        ns = (obj.get("metadata") or {}).get("namespace")
        return (
            resource == self.resource
            and (self.namespace is None or self.namespace == ns)
            and _matches(obj, self.selector)
        )

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[WatchEvent]:
        while True:
            item = await self.queue.get()
            if item is _END or self.closed:
                return
            if isinstance(item, BaseException):
                raise item
            rv = (item.object.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            yield item

    def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(_END)


class FakeKube:
    """Objects of any resource in memory; see the module docstring."""

    def __init__(self) -> None:
        self.objects: dict[tuple[Resource, str, str], Obj] = {}
        self.rv = 100
        self.requests: Counter[str] = Counter()
        self.watches: list[FakeWatch] = []
        self._faults: list[tuple[str, ApiError | Exception, list[int]]] = []

    # ---------------------------------------------------------------- helpers

    def fail(self, verb: str, error: Exception, times: int = 1) -> None:
        """The next `times` calls of `verb` (get/list/watch/create/update/patch/delete)
        raise `error`."""
        self._faults.append((verb, error, [times]))

    def _enter(self, verb: str) -> None:
        self.requests[verb] += 1
        for fverb, error, left in self._faults:
            if fverb == verb and left[0] > 0:
                left[0] -= 1
                raise error

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _notify(self, resource: Resource, etype: str, obj: Obj, old: Obj | None = None) -> None:
        """Send to every matching watch; like the API server, an update that moves an
        object into (out of) a watch's selector arrives there as ADDED (DELETED)."""
        for w in list(self.watches):
            if w.closed:
                continue
            now = w.wants(resource, obj)
            before = now if old is None else w.wants(resource, old)
            if now and before:
                w.queue.put_nowait(WatchEvent(etype, copy.deepcopy(obj)))
            elif now:
                w.queue.put_nowait(WatchEvent("ADDED", copy.deepcopy(obj)))
            elif before:
                w.queue.put_nowait(WatchEvent("DELETED", copy.deepcopy(obj)))

    def drop_watches(self) -> None:
        """Close every open watch stream (the informers resume from their last RV)."""
        for w in self.watches:
            w.close()
        self.watches.clear()

    def stored(self, resource: Resource, name: str, namespace: str | None = None) -> Obj | None:
        obj = self.objects.get((resource, namespace or "", name))
        return copy.deepcopy(obj) if obj is not None else None

    @staticmethod
    def _ns(resource: Resource, namespace: str | None, obj: Mapping[str, Any] | None) -> str:
        if not resource.namespaced:
            return ""
        if namespace:
            return namespace
        ns = ((obj or {}).get("metadata") or {}).get("namespace")
        if not ns:
            raise ValueError(f"{resource.label} is namespaced: pass a namespace")
        return str(ns)

    @staticmethod
    def _not_found(resource: Resource, name: str) -> NotFound:
        return NotFound(
            {
                "kind": "Status",
                "code": 404,
                "reason": "NotFound",
                "message": f'{resource.label} "{name}" not found',
            }
        )

    # ---------------------------------------------------------------- reads

    async def list_pages(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        page_size: int = 500,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> AsyncIterator[Obj]:
        self._enter("list")
        items = [
            copy.deepcopy(o)
            for (r, ns, _), o in sorted(self.objects.items(), key=lambda kv: kv[0][1:])
            if r == res and (not namespace or ns == namespace) and _matches(o, label_selector)
        ]
        yield {"items": items, "metadata": {"resourceVersion": str(self.rv)}}

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_watch_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        idle_timeout: float | None = None,
    ) -> FakeWatch:
        w = FakeWatch(res, namespace, label_selector, resource_version)
        try:
            self._enter("watch")
        except Exception as exc:
            w.queue.put_nowait(exc)
        self.watches.append(w)
        return w

    async def get(self, res: Resource, name: str, namespace: str | None = None, **_: Any) -> Obj:
        self._enter("get")
        obj = self.objects.get((res, self._ns(res, namespace, None), name))
        if obj is None:
            raise self._not_found(res, name)
        return copy.deepcopy(obj)

    # ---------------------------------------------------------------- writes

    async def create(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None, **_: Any
    ) -> Obj:
        self._enter("create")
        ns = self._ns(res, namespace, obj)
        new = copy.deepcopy(dict(obj))
        meta = new.setdefault("metadata", {})
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
            meta["name"] = name
        key = (res, ns, str(name))
        if key in self.objects:
            raise AlreadyExists(
                {"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": "exists"}
            )
        if ns:
            meta["namespace"] = ns
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = self._next_rv()
        meta["generation"] = 1
        meta.setdefault("creationTimestamp", "2025-01-01T00:00:00Z")
        new.setdefault("apiVersion", res.api_version)
        new.setdefault("kind", res.kind)
        self.objects[key] = new
        self._notify(res, "ADDED", new)
        return copy.deepcopy(new)

    def _write(self, res: Resource, key: tuple[Resource, str, str], new: Obj, old: Obj) -> Obj:
        meta = new.setdefault("metadata", {})
        old_meta = old.get("metadata") or {}
        for field in ("uid", "creationTimestamp", "namespace", "name"):
            if field in old_meta:
                meta[field] = old_meta[field]
        generation = int(old_meta.get("generation") or 1)
        if new.get("spec") != old.get("spec") or new.get("data") != old.get("data"):
            generation += 1
        meta["generation"] = generation
        meta["resourceVersion"] = self._next_rv()
        self.objects[key] = new
        self._notify(res, "MODIFIED", new, old)
        return copy.deepcopy(new)

    async def replace(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None, **_: Any
    ) -> Obj:
        self._enter("update")
        ns = self._ns(res, namespace, obj)
        name = str((obj.get("metadata") or {}).get("name"))
        key = (res, ns, name)
        old = self.objects.get(key)
        if old is None:
            raise self._not_found(res, name)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise Conflict(
                {
                    "kind": "Status",
                    "code": 409,
                    "reason": "Conflict",
                    "message": "the object has been modified; please apply your changes "
                    "to the latest version and try again",
                }
            )
        return self._write(res, key, copy.deepcopy(dict(obj)), old)

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: Any = "merge",
        **_: Any,
    ) -> Obj:
        self._enter("patch")
        if patch_type != "merge":
            raise ValueError("FakeKube supports merge patches only")
        key = (res, self._ns(res, namespace, None), name)
        old = self.objects.get(key)
        if old is None:
            raise self._not_found(res, name)
        return self._write(res, key, _merge(old, patch), old)

    async def delete(self, res: Resource, name: str, namespace: str | None = None, **_: Any) -> Obj:
        self._enter("delete")
        key = (res, self._ns(res, namespace, None), name)
        old = self.objects.pop(key, None)
        if old is None:
            raise self._not_found(res, name)
        old["metadata"]["resourceVersion"] = self._next_rv()
        self._notify(res, "DELETED", old)
        return copy.deepcopy(old)


async def eventually(
    check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy, and return that.

    Controller tests must wait for convergence, never sleep and hope: this fails with
    an AssertionError carrying the last value seen once `timeout` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)
