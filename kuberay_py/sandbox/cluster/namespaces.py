"""The namespace controller (and kube's service-account controller's one job).

Deleting a Namespace only marks it Terminating; this controller then deletes
everything namespaced in it (every namespaced type in the catalog, CRDs
included), reports what is left in the namespace's status conditions as kube
does (`NamespaceContentRemaining`, `NamespaceFinalizersRemaining`), and once
nothing is left clears `spec.finalizers` through the `finalize` subresource,
at which point the registry removes the namespace. Every Active namespace
gets a `default` ServiceAccount, recreated if deleted.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.informer import Informer, KeyQueue, supervise
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI
from kuberay_py.sandbox.registry.types import DeleteOptions

log = structlog.get_logger("sandbox.namespaces")

DEFAULT_SERVICE_ACCOUNT = "default"
RECHECK_SECONDS = 1.0


class NamespaceController:
    """Empties and finalizes terminating namespaces; keeps `default` ServiceAccounts."""

    def __init__(
        self,
        registry: RegistryAPI,
        clock: SandboxClock,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.recheck_seconds = recheck_seconds
        self.ns_rt = registry.catalog.require("", "v1", "namespaces")
        self.sa_rt = registry.catalog.require("", "v1", "serviceaccounts")
        self.namespaces = Informer(registry, self.ns_rt, clock, name="namespace-controller")
        self.accounts = Informer(registry, self.sa_rt, clock, name="serviceaccount-controller")
        self.queue: KeyQueue[str] = KeyQueue()
        self.namespaces.add_handler(self._on_namespace)
        self.accounts.add_handler(self._on_account)
        self.finalize_fallbacks = 0

    def _on_namespace(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is not None:
            self.queue.add(new["metadata"]["name"])

    def _on_account(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is None and old is not None and old["metadata"]["name"] == DEFAULT_SERVICE_ACCOUNT:
            self.queue.add(old["metadata"].get("namespace", ""))

    def _namespaced_types(self) -> list[ResourceType]:
        chosen: dict[tuple[str, str], ResourceType] = {}
        for rt in self.registry.catalog:
            if not rt.namespaced or "list" not in rt.verbs or "delete" not in rt.verbs:
                continue
            key = rt.storage_resource  # versions sharing storage are emptied once
            if key not in chosen or rt.is_storage_version:
                chosen[key] = rt
        return list(chosen.values())

    def sync(self, name: str) -> None:
        try:
            ns = self.registry.get(self.ns_rt, None, name)
        except StatusError as exc:
            if exc.code == 404:
                return
            raise
        if not ns.get("metadata", {}).get("deletionTimestamp"):
            self._ensure_service_account(name)
            return
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for rt in self._namespaced_types():
            for obj in self.registry.list(rt, name).items:
                meta = obj.get("metadata", {})
                if not meta.get("deletionTimestamp"):
                    try:
                        obj = self.registry.delete(
                            rt,
                            name,
                            meta["name"],
                            DeleteOptions(
                                propagation_policy="Background", preconditions_uid=meta.get("uid")
                            ),
                        )
                    except StatusError as exc:
                        if exc.code in (404, 409):
                            continue
                        raise
                    if not obj.get("metadata", {}).get("deletionTimestamp"):
                        continue  # deleted at once
                remaining[rt.group_resource] = remaining.get(rt.group_resource, 0) + 1
                for f in obj.get("metadata", {}).get("finalizers") or []:
                    finalizers[f] = finalizers.get(f, 0) + 1
        if remaining:
            self._report(ns, remaining, finalizers)
            self.queue.add_after(name, self.clock.scaled(self.recheck_seconds))
            return
        self._finalize(ns)

    def _report(
        self, ns: dict[str, Any], remaining: dict[str, int], finalizers: dict[str, int]
    ) -> None:
        now = self.clock.now_rfc3339()
        content = ", ".join(
            f"{res} has {n} resource instances" for res, n in sorted(remaining.items())
        )
        wanted = [
            (
                "NamespaceContentRemaining",
                True,
                "SomeResourcesRemain",
                f"Some resources are remaining: {content}",
            ),
            (
                "NamespaceFinalizersRemaining",
                bool(finalizers),
                "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: "
                + ", ".join(
                    f"{f} in {n} resource instances" for f, n in sorted(finalizers.items())
                ),
            ),
        ]
        status = copy.deepcopy(ns.get("status") or {})
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        for ctype, value, reason, message in wanted:
            cond = conditions.get(ctype)
            text = "True" if value else "False"
            new = {
                "type": ctype,
                "status": text,
                "lastTransitionTime": now,
                "reason": reason
                if value
                else "ContentRemoved"
                if "Content" in ctype
                else "ContentHasNoFinalizers",
                "message": message
                if value
                else "All content successfully removed"
                if "Content" in ctype
                else "All content-preserving finalizers finished",
            }
            if cond is not None and cond.get("status") == text:
                new["lastTransitionTime"] = cond.get("lastTransitionTime", now)
            conditions[ctype] = new
        status["conditions"] = list(conditions.values())
        if status == (ns.get("status") or {}):
            return
        updated = dict(ns)
        updated["status"] = status
        try:
            self.registry.update(self.ns_rt, None, ns["metadata"]["name"], updated, "status")
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise

    def _finalize(self, ns: dict[str, Any]) -> None:
        name = ns["metadata"]["name"]
        body = copy.deepcopy(ns)
        body.setdefault("spec", {})["finalizers"] = [
            f for f in body["spec"].get("finalizers") or [] if f != "kubernetes"
        ]
        try:
            self.registry.update(self.ns_rt, None, name, body, subresource="finalize")
            return
        except StatusError as exc:
            if exc.code == 409:
                self.queue.add(name)
                return
            if exc.code not in (404, 405):
                raise
            try:
                self.registry.get(self.ns_rt, None, name)
            except StatusError as gone:
                if gone.code == 404:
                    return
                raise
        # The registry does not serve namespaces/finalize: a plain update does the same.
        self.finalize_fallbacks += 1
        self.registry.update(self.ns_rt, None, name, body)

    def _ensure_service_account(self, namespace: str) -> None:
        if self.accounts.get(namespace, DEFAULT_SERVICE_ACCOUNT) is not None:
            return
        try:
            created = self.registry.create(
                self.sa_rt,
                namespace,
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace},
                },
            )
            self.accounts.assume(created)
        except StatusError as exc:
            if exc.code not in (403, 404, 409):
                raise

    async def _work(self) -> None:
        await self.namespaces.synced.wait()
        await self.accounts.synced.wait()
        while True:
            name = await self.queue.get()
            try:
                self.sync(name)
            except Exception:
                log.exception("namespace sync failed", namespace=name)
                self.queue.add_after(name, self.clock.scaled(self.recheck_seconds))
            await asyncio.sleep(0)

    async def run(self) -> None:
        try:
            await asyncio.gather(
                supervise("namespace-informer", self.namespaces.run, self.clock),
                supervise("serviceaccount-informer", self.accounts.run, self.clock),
                supervise("namespace-controller", self._work, self.clock),
            )
        finally:
            self.queue.close()
