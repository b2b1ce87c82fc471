"""The registry: Kubernetes object semantics on top of a versioned store.

INTERFACE CONTRACT (shared by the HTTP layer, the sandbox's own controllers and
tests). All mutating and reading methods are synchronous: inside one asyncio
loop each call is atomic, so no locks are needed and in-process controllers
pay no serialisation cost. Watches are asynchronous iterators.

Every method raises `errors.StatusError` (never anything else) for a request
the API server would refuse. Returned dicts are the stored objects: callers
must treat them as read-only (copy before mutating).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.types import (
    DeleteOptions,
    ListOptions,
    ListResult,
    PatchType,
    WatchEvent,
    WatchOptions,
    WriteOptions,
)

Operation = Literal["CREATE", "UPDATE", "DELETE"]


class AdmissionPlugin(Protocol):
    """Mutates or rejects an object before it is stored (like a kube admission plugin).

    `obj` is the object about to be stored (mutable); `old` the stored one (None on
    CREATE). Raise StatusError to reject. Examples: Service ClusterIP allocation,
    default ServiceAccount, namespace-exists / namespace-terminating checks.
    """

    def __call__(
        self,
        op: Operation,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        subresource: str | None,
    ) -> None: ...


class Watch(AsyncIterator[WatchEvent]):
    """A stream of WatchEvents. Ends (StopAsyncIteration) when closed by either side."""

    def close(self) -> None:
        raise NotImplementedError

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        raise NotImplementedError


class RegistryAPI(Protocol):
    """What the `Registry` class (registry/store.py... see `Registry`) offers its callers.

    Semantics every implementation keeps (kube-apiserver's):
    - resourceVersion: one global, strictly increasing integer across all types, rendered
      as a string in `metadata.resourceVersion`; list results carry the store's current one.
    - create: fills uid, creationTimestamp, resourceVersion, generation=1 (for types with a
      spec or CRDs), resolves generateName (5 random [bcdfghjklmnpqrstvwxz2456789] chars),
      validates names (DNS-1123 subdomain; label for Namespaces/Services), rejects a
      namespaced object whose namespace does not exist (404 namespaces "x" not found) or is
      terminating (403 Forbidden), applies kind-specific defaults and CRD schema defaults,
      validates the CRD schema (422 with causes). Namespace in the body must match the URL
      (400 BadRequest "the namespace of the provided object does not match the namespace
      sent on the request").
    - update: the body's resourceVersion, when given, must equal the stored one (409
      Conflict). Without status subresource semantics the whole object is replaced; when
      the type has a status subresource, an update of the main resource keeps the stored
      status and an update of `status` keeps everything but status (and metadata labels/
      annotations are the main resource's to change). generation += 1 when anything but
      metadata and status changed. uid/creationTimestamp/name cannot change. An update
      that changes nothing does not bump resourceVersion and emits no event.
      Removing the last finalizer of an object with deletionTimestamp deletes it.
    - patch: reads the stored object, applies the patch (json / merge / strategic; "apply"
      is server-side apply: create if absent, merge otherwise), then behaves as update.
      Returns (object, created).
    - delete: graceful deletion for Pods (deletionTimestamp + deletionGracePeriodSeconds,
      default spec.terminationGracePeriodSeconds or 30; grace 0 or an unscheduled pod
      deletes at once); finalizers keep the object with deletionTimestamp set;
      propagationPolicy Foreground adds finalizer `foregroundDeletion`, Orphan adds
      `orphan` (the garbage collector removes them); Background deletes now and leaves
      dependents to the garbage collector. Preconditions give 409. Deleting a Namespace
      sets phase Terminating; the namespace controller removes its content then the
      namespace. Returns the object as it is after the call (with deletionTimestamp set if
      it still exists).
    - watch: see WatchOptions. Events carry full objects; DELETED carries the last state
      with a fresh resourceVersion. Bookmarks (when allowed) carry only kind/apiVersion/
      metadata.resourceVersion and are sent at least every `bookmark_interval` seconds.
      A resourceVersion older than the retained history raises gone() at the call.
    """

    catalog: Catalog

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: dict[str, Any],
        opts: WriteOptions = ...,
    ) -> dict[str, Any]: ...

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]: ...

    def list(
        self, rt: ResourceType, namespace: str | None, opts: ListOptions = ...
    ) -> ListResult: ...

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        subresource: str | None = None,
        opts: WriteOptions = ...,
    ) -> dict[str, Any]: ...

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: PatchType,
        patch: Any,
        subresource: str | None = None,
        opts: WriteOptions = ...,
    ) -> tuple[dict[str, Any], bool]: ...

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        opts: DeleteOptions = ...,
    ) -> dict[str, Any]: ...

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        list_opts: ListOptions = ...,
        delete_opts: DeleteOptions = ...,
    ) -> builtins.list[dict[str, Any]]: ...

    def watch(self, rt: ResourceType, namespace: str | None, opts: WatchOptions = ...) -> Watch: ...

    @property
    def resource_version(self) -> int: ...

    def add_admission(self, plugin: AdmissionPlugin) -> None: ...

    def add_validating_admission(self, plugin: AdmissionPlugin) -> None: ...

    def compact(self, resource_version: int | None = None) -> None:
        """Forget history up to `resource_version` (default: now): older watches get 410."""

    def drop_watches(self, rt: ResourceType | None = None) -> int:
        """End every open watch (of `rt`, or all); returns how many. For fault injection."""
