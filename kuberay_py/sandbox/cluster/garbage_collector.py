"""The garbage collector: ownerReferences turned into cascading deletion, as kube's GC does.

It watches every resource type in the catalog (and each CRD type as it is
registered), keeps a graph of owner uid -> dependents, and acts on it:

- Background: an object whose every owner is gone is deleted; one whose
  owners are partly gone keeps living, and the dangling references are
  removed from it.
- Foreground: an owner with deletionTimestamp and the `foregroundDeletion`
  finalizer has its dependents deleted (in foreground themselves when they
  have dependents of their own); the finalizer is removed once no dependent
  with `blockOwnerDeletion: true` remains, which lets the registry delete it.
- Orphan: an owner with deletionTimestamp and the `orphan` finalizer has its
  reference removed from every dependent, then the finalizer removed.

The graph may lag the registry (each type has its own watch), so a missing
owner is confirmed with a live GET before anything is deleted, and every
write is conditional (uid precondition, resourceVersion) and retried on 409.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any, Literal

import attrs
import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.informer import Informer, KeyQueue, supervise
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI
from kuberay_py.sandbox.registry.types import DeleteOptions

log = structlog.get_logger("sandbox.gc")

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
# Types whose objects never own anything and are too chatty to be worth watching.
IGNORED = {("", "events"), ("events.k8s.io", "events")}
WorkItem = tuple[Literal["dependent", "owner"], str]


@attrs.define
class GraphNode:
    rt: ResourceType
    namespace: str | None
    name: str
    owners: list[dict[str, Any]]
    obj: dict[str, Any]


def _finalizers(obj: dict[str, Any]) -> list[str]:
    return list(obj.get("metadata", {}).get("finalizers") or [])


def _deleting(obj: dict[str, Any]) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


class GarbageCollector:
    """Cascading deletion for every type in the catalog; see the module docstring."""

    def __init__(self, registry: RegistryAPI, clock: SandboxClock, *, max_retries: int = 5) -> None:
        self.registry = registry
        self.clock = clock
        self.max_retries = max_retries
        self.graph: dict[str, GraphNode] = {}
        self.dependents: dict[str, set[str]] = {}
        self.queue: KeyQueue[WorkItem] = KeyQueue()
        self._informers: dict[tuple[str, str], tuple[Informer, asyncio.Task[None]]] = {}
        self._types_changed = asyncio.Event()
        self._failures: dict[WorkItem, int] = {}
        self.deleted = 0
        registry.catalog.add_listener(self._types_changed.set)

    # --- graph -------------------------------------------------------------------------

    def _wanted_types(self) -> dict[tuple[str, str], ResourceType]:
        wanted: dict[tuple[str, str], ResourceType] = {}
        for rt in self.registry.catalog:
            key = rt.storage_resource  # one informer per stored family, not per version
            if key in IGNORED or "watch" not in rt.verbs:
                continue
            best = wanted.get(key)
            if best is None or rt.is_storage_version:
                wanted[key] = rt
        return wanted

    def _sync_informers(self) -> None:
        wanted = self._wanted_types()
        for key in [k for k in self._informers if k not in wanted]:
            self._informers.pop(key)[1].cancel()
        for key, rt in wanted.items():
            if key in self._informers:
                continue
            informer = Informer(self.registry, rt, self.clock, name=f"gc-{rt.group_resource}")
            informer.add_handler(self._handler(rt))
            task = asyncio.ensure_future(
                supervise(f"gc-{rt.group_resource}", informer.run, self.clock)
            )
            self._informers[key] = (informer, task)

    def _handler(self, rt: ResourceType) -> Any:
        def on_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
            self._on_change(rt, old, new)

        return on_change

    def _unlink(self, uid: str) -> None:
        node = self.graph.pop(uid, None)
        if node is None:
            return
        for ref in node.owners:
            deps = self.dependents.get(ref.get("uid", ""))
            if deps is not None:
                deps.discard(uid)
                if not deps:
                    self.dependents.pop(ref.get("uid", ""), None)

    def _on_change(
        self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        if new is None:
            assert old is not None
            uid = old.get("metadata", {}).get("uid", "")
            node = self.graph.get(uid)
            owners = node.owners if node else old.get("metadata", {}).get("ownerReferences") or []
            self._unlink(uid)
            for dep in list(self.dependents.get(uid, ())):
                self.queue.add(("dependent", dep))
            for ref in owners:
                self.queue.add(("owner", ref.get("uid", "")))
            return
        meta = new.get("metadata", {})
        uid = meta.get("uid", "")
        owners = list(meta.get("ownerReferences") or [])
        previous = self.graph.get(uid)
        if previous is not None and previous.owners != owners:
            self._unlink(uid)
            previous = None
        if previous is None:
            for ref in owners:
                self.dependents.setdefault(ref.get("uid", ""), set()).add(uid)
            self.graph[uid] = GraphNode(
                rt, meta.get("namespace"), meta.get("name", ""), owners, new
            )
            if owners:
                self.queue.add(("dependent", uid))
            # Dependents seen before their owner: they may have been waiting for it.
            for dep in self.dependents.get(uid, ()):
                if dep in self.graph and _deleting(new):
                    self.queue.add(("dependent", dep))
        else:
            previous.obj = new
        if _deleting(new) and {FOREGROUND, ORPHAN} & set(_finalizers(new)):
            self.queue.add(("owner", uid))

    # --- owners ------------------------------------------------------------------------

    def _lookup_owner(
        self, ref: dict[str, Any], namespace: str | None
    ) -> tuple[Literal["present", "absent", "unknown"], dict[str, Any] | None]:
        uid = ref.get("uid", "")
        node = self.graph.get(uid)
        if node is not None:
            return "present", node.obj
        catalog = self.registry.catalog
        rt = catalog.by_api_version_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            group = ref.get("apiVersion", "").rpartition("/")[0]
            rt = catalog.by_kind(group, ref.get("kind", ""))
        if rt is None:
            return "unknown", None  # a kind this server does not serve (yet): leave it be
        try:
            owner = self.registry.get(rt, namespace if rt.namespaced else None, ref.get("name", ""))
        except StatusError as exc:
            if exc.code == 404:
                return "absent", None
            raise
        if owner.get("metadata", {}).get("uid") != uid:
            return "absent", None
        return "present", owner

    def _live(self, node: GraphNode, uid: str) -> dict[str, Any] | None:
        try:
            obj = self.registry.get(node.rt, node.namespace, node.name)
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise
        return obj if obj.get("metadata", {}).get("uid") == uid else None

    # --- work --------------------------------------------------------------------------

    def attempt_to_delete(self, uid: str) -> None:
        node = self.graph.get(uid)
        if node is None:
            return
        obj = self._live(node, uid)
        if obj is None:
            return
        meta = obj["metadata"]
        if _deleting(obj):
            if FOREGROUND in _finalizers(obj):
                self.queue.add(("owner", uid))
            return
        refs = list(meta.get("ownerReferences") or [])
        if not refs:
            return
        solid, dangling, waiting = [], [], []
        for ref in refs:
            state, owner = self._lookup_owner(ref, node.namespace)
            if state == "unknown":
                solid.append(ref)
            elif state == "absent" or owner is None:
                dangling.append(ref)
            elif _deleting(owner) and FOREGROUND in _finalizers(owner):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dangling or waiting:
                drop = {r.get("uid") for r in dangling + waiting}
                self._remove_owner_refs(node, uid, drop)
            return
        policy: Literal["Background", "Foreground", "Orphan"] = "Background"
        finalizers = _finalizers(obj)
        if waiting and self.dependents.get(uid):
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        try:
            self.registry.delete(
                node.rt,
                node.namespace,
                node.name,
                DeleteOptions(propagation_policy=policy, preconditions_uid=uid),
            )
            self.deleted += 1
            log.debug("garbage collected", kind=node.rt.kind, name=node.name, policy=policy)
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise

    def process_owner(self, uid: str) -> None:
        node = self.graph.get(uid)
        if node is None:
            return
        obj = self._live(node, uid)
        if obj is None or not _deleting(obj):
            return
        finalizers = _finalizers(obj)
        if ORPHAN in finalizers:
            for dep in list(self.dependents.get(uid, ())):
                dep_node = self.graph.get(dep)
                if dep_node is not None:
                    self._remove_owner_refs(dep_node, dep, {uid})
            self._remove_finalizer(node, uid, ORPHAN)
            return
        if FOREGROUND not in finalizers:
            return
        blocking = False
        for dep in list(self.dependents.get(uid, ())):
            dep_node = self.graph.get(dep)
            if dep_node is None:
                continue
            self.queue.add(("dependent", dep))
            if any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in dep_node.owners):
                blocking = True
        if not blocking:
            self._remove_finalizer(node, uid, FOREGROUND)

    def _rewrite(self, node: GraphNode, uid: str, change: Any) -> None:
        """get, change a copy, update with its resourceVersion; retry on conflict."""
        for _ in range(self.max_retries):
            obj = self._live(node, uid)
            if obj is None:
                return
            updated = copy.deepcopy(obj)
            if not change(updated):
                return
            try:
                self.registry.update(node.rt, node.namespace, node.name, updated)
                return
            except StatusError as exc:
                if exc.code == 404:
                    return
                if exc.code != 409:
                    raise
        raise RuntimeError(f"gave up rewriting {node.rt.kind} {node.name} after conflicts")

    def _remove_owner_refs(self, node: GraphNode, uid: str, owner_uids: set[Any]) -> None:
        def change(obj: dict[str, Any]) -> bool:
            refs = obj["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") not in owner_uids]
            if len(kept) == len(refs):
                return False
            if kept:
                obj["metadata"]["ownerReferences"] = kept
            else:
                obj["metadata"].pop("ownerReferences", None)
            return True

        self._rewrite(node, uid, change)

    def _remove_finalizer(self, node: GraphNode, uid: str, finalizer: str) -> None:
        def change(obj: dict[str, Any]) -> bool:
            finalizers = _finalizers(obj)
            if finalizer not in finalizers:
                return False
            obj["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
            return True

        self._rewrite(node, uid, change)

    # --- loops -------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                if item[0] == "dependent":
                    self.attempt_to_delete(item[1])
                else:
                    self.process_owner(item[1])
                self._failures.pop(item, None)
            except Exception:
                failures = self._failures.get(item, 0) + 1
                self._failures[item] = failures
                log.exception("garbage collection step failed", item=item, failures=failures)
                self.queue.add_after(item, self.clock.scaled(min(0.5 * 2**failures, 30.0)))
            await asyncio.sleep(0)

    async def _watch_types(self) -> None:
        while True:
            self._types_changed.clear()
            self._sync_informers()
            await self._types_changed.wait()

    async def run(self) -> None:
        try:
            await asyncio.gather(
                supervise("gc-types", self._watch_types, self.clock),
                supervise("gc-worker", self._work, self.clock),
            )
        finally:
            for _, task in self._informers.values():
                task.cancel()
            self._informers.clear()
            self.queue.close()
