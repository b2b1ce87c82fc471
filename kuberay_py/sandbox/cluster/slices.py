"""EndpointSlices grouped by the Service they belong to.

Both the EndpointSlice controller (which writes slices) and the kube-proxy
forwarder (which reads them) need "the slices of Service ns/name" from a
stream of slice events; this is that index, kept in one place.
"""

from __future__ import annotations

from typing import Any

from kuberay_py.sandbox.cluster.informer import ObjKey, obj_key

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

Obj = dict[str, Any]


class SlicesByService:
    """Slices indexed by their `kubernetes.io/service-name` label; unlabelled ones are ignored."""

    def __init__(self) -> None:
        self._by_service: dict[ObjKey, dict[str, Obj]] = {}

    def observe(self, old: Obj | None, new: Obj | None) -> list[ObjKey]:
        """Apply one slice event; returns the Services whose slices changed."""
        touched: list[ObjKey] = []
        for obj, alive in ((old, False), (new, True)):
            if obj is None:
                continue
            ns, name = obj_key(obj)
            service = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
            if not service:
                continue
            key = (ns, service)
            if alive:
                self._by_service.setdefault(key, {})[name] = obj
            else:
                owned = self._by_service.get(key, {})
                owned.pop(name, None)
                if not owned:
                    self._by_service.pop(key, None)
            touched.append(key)
        return touched

    def of(self, namespace: str, service: str) -> list[Obj]:
        return list(self._by_service.get((namespace, service), {}).values())
