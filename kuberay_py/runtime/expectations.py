"""Expectations: read-your-own-writes for controllers that create and delete children.

A controller that creates a Pod and is woken again before its informer has seen that
Pod would count one Pod too few and create a duplicate (kubebuilder#1381,
controller-runtime#1464). kube-controller-manager's ReplicaSet controller solves it with
*expectations*; no mainstream runtime ships them, so here they are:

    exp.expect_creations(key, 2)                # or expect_names(key, created=[...])
    await client.create(...); await client.create(...)
    ...
    if not exp.satisfied(key):                  # in the next reconcile
        return Result(requeue_after=1)          # wait for the cache to catch up

Observations come from informer events: `exp.attach(informer, owner_key)` counts each
add as an observed creation and each delete as an observed deletion for the key the
object maps to (by default its controlling owner). Expectations also count as satisfied
once `timeout` (5 minutes, kube-controller-manager's ExpectationsTimeout) has passed
since they were set, so a lost event can only delay a controller, never wedge it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from kuberay_py.informers import DeletedFinalStateUnknown, HandlerRegistration, SharedInformer

__all__ = ["DEFAULT_EXPECTATIONS_TIMEOUT", "Expectations", "controller_owner_key"]

DEFAULT_EXPECTATIONS_TIMEOUT = 300.0

Obj = dict[str, Any]


def controller_owner_key(obj: Obj) -> str | None:
    """`namespace/name` of the object's controlling owner (same namespace), or None."""
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            ns = meta.get("namespace")
            return f"{ns}/{ref.get('name')}" if ns else str(ref.get("name"))
    return None


def _name_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def _uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


@attrs.define
class _Expectation:
    adds: int = 0
    dels: int = 0
    add_names: set[str] = attrs.field(factory=set)
    del_ids: set[str] = attrs.field(factory=set)
    set_at: float = 0.0

    def fulfilled(self) -> bool:
        return self.adds <= 0 and self.dels <= 0 and not self.add_names and not self.del_ids


class Expectations:
    """Per-controller-key pending creations and deletions (counts, names or UIDs)."""

    def __init__(
        self,
        timeout: float = DEFAULT_EXPECTATIONS_TIMEOUT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._clock = clock
        self._by_key: dict[str, _Expectation] = {}

    # ---------------------------------------------------------------- setting

    def _fresh(self, key: str) -> _Expectation:
        exp = self._by_key.get(key)
        if exp is None or exp.fulfilled() or self._expired(exp):
            exp = _Expectation(set_at=self._clock())
            self._by_key[key] = exp
        return exp

    def expect_creations(self, key: str, count: int) -> None:
        """`count` more objects mapping to `key` are about to be created."""
        exp = self._fresh(key)
        exp.adds += count

    def expect_deletions(self, key: str, count: int) -> None:
        exp = self._fresh(key)
        exp.dels += count

    def expect_names(
        self, key: str, *, created: Iterable[str] = (), deleted_uids: Iterable[str] = ()
    ) -> None:
        """Expect these `namespace/name`s to appear and these UIDs to disappear."""
        exp = self._fresh(key)
        exp.add_names.update(created)
        exp.del_ids.update(deleted_uids)

    def lower(self, key: str, *, adds: int = 0, dels: int = 0) -> None:
        """A create/delete we expected failed: it will never be observed, stop waiting."""
        exp = self._by_key.get(key)
        if exp is not None:
            exp.adds -= adds
            exp.dels -= dels

    def forget(self, key: str) -> None:
        """Drop everything for `key` (its owner was deleted)."""
        self._by_key.pop(key, None)

    # ---------------------------------------------------------------- observing

    def creation_observed(self, key: str, obj: Obj | None = None) -> None:
        exp = self._by_key.get(key)
        if exp is None:
            return
        if obj is not None and exp.add_names:
            name = _name_key(obj)
            if name in exp.add_names:
                exp.add_names.discard(name)
                return
        exp.adds -= 1

    def deletion_observed(self, key: str, obj: Obj | None = None) -> None:
        exp = self._by_key.get(key)
        if exp is None:
            return
        if obj is not None and exp.del_ids:
            uid = _uid(obj)
            if uid in exp.del_ids:
                exp.del_ids.discard(uid)
                return
        exp.dels -= 1

    def attach(
        self,
        informer: SharedInformer,
        key_of: Callable[[Obj], str | None] = controller_owner_key,
    ) -> HandlerRegistration:
        """Observe `informer`'s adds and deletes for the key `key_of(obj)` returns."""

        def on_add(obj: Obj) -> None:
            key = key_of(obj)
            if key is not None:
                self.creation_observed(key, obj)

        def on_delete(obj: Obj | DeletedFinalStateUnknown) -> None:
            final = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
            key = key_of(final)
            if key is not None:
                self.deletion_observed(key, final)

        return informer.add_event_handler(on_add, None, on_delete, name="expectations")

    # ---------------------------------------------------------------- reading

    def _expired(self, exp: _Expectation) -> bool:
        return self._clock() - exp.set_at > self.timeout

    def satisfied(self, key: str) -> bool:
        """True when nothing is pending for `key`: all observed, none set, or timed out."""
        exp = self._by_key.get(key)
        if exp is None:
            return True
        return bool(exp.fulfilled() or self._expired(exp))

    def pending(self, key: str) -> dict[str, Any]:
        """What `key` still waits for (for logs)."""
        exp = self._by_key.get(key)
        if exp is None:
            return {}
        return {
            "adds": max(exp.adds, 0),
            "dels": max(exp.dels, 0),
            "names": sorted(exp.add_names),
            "uids": sorted(exp.del_ids),
            "age": round(self._clock() - exp.set_at, 3),
        }
