"""core/v1 Events from the sandbox's own components, aggregated like kube's event correlator.

`kubectl describe` and `kubectl get events` show what a cluster did; the
sandbox's scheduler, kubelets and controllers report through this recorder so
those views look as they do on a real cluster. A repeat of the same
(object, type, reason, message, component) bumps `count` and `lastTimestamp`
of the existing Event instead of creating a new one.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI

log = structlog.get_logger("sandbox.events")

_EVENTS_RT_FALLBACK = ResourceType(
    group="", version="v1", resource="events", kind="Event", namespaced=True, storage_version="v1"
)

_AggKey = tuple[str, str, str, str, str, str, str, str]


def object_reference(obj: dict[str, Any], field_path: str | None = None) -> dict[str, Any]:
    """The `involvedObject` of an Event: kind, namespace, name, uid, apiVersion, resourceVersion."""
    meta = obj.get("metadata", {})
    ref: dict[str, Any] = {
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
        "apiVersion": obj.get("apiVersion", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    """Records Events for one component (`default-scheduler`, `kubelet`, `job-controller`)."""

    def __init__(
        self,
        registry: RegistryAPI,
        component: str,
        host: str | None = None,
        *,
        max_cached: int = 4096,
    ) -> None:
        self.registry = registry
        self.component = component
        self.host = host
        self._max_cached = max_cached
        # aggregation key -> (namespace, event name)
        self._recent: dict[_AggKey, tuple[str, str]] = {}
        self._rt = registry.catalog.get("", "v1", "events") or _EVENTS_RT_FALLBACK

    def normal(
        self, obj: dict[str, Any], reason: str, message: str, **kw: Any
    ) -> dict[str, Any] | None:
        return self.record(obj, "Normal", reason, message, **kw)

    def warning(
        self, obj: dict[str, Any], reason: str, message: str, **kw: Any
    ) -> dict[str, Any] | None:
        return self.record(obj, "Warning", reason, message, **kw)

    def record(
        self,
        obj: dict[str, Any],
        event_type: str,
        reason: str,
        message: str,
        *,
        field_path: str | None = None,
    ) -> dict[str, Any] | None:
        """Create or bump the Event; never raises (an Event is best effort, as in kube)."""
        try:
            return self._record(obj, event_type, reason, message, field_path)
        except StatusError as exc:
            # e.g. 403 in a terminating namespace, 404 for a namespace already gone.
            log.debug("event dropped", reason=reason, error=exc.message)
        except Exception:
            log.exception("event recording failed", reason=reason)
        return None

    def _record(
        self,
        obj: dict[str, Any],
        event_type: str,
        reason: str,
        message: str,
        field_path: str | None,
    ) -> dict[str, Any]:
        ref = object_reference(obj, field_path)
        namespace = ref.get("namespace") or "default"
        key: _AggKey = (
            ref.get("kind", ""),
            namespace,
            ref.get("name", ""),
            ref.get("uid", ""),
            field_path or "",
            event_type,
            reason,
            message,
        )
        now = SandboxClock.now_rfc3339()
        known = self._recent.get(key)
        if known is not None:
            try:
                current = self.registry.get(self._rt, known[0], known[1])
            except StatusError as exc:
                if exc.code != 404:
                    raise
            else:
                bumped = copy.deepcopy(current)
                bumped["count"] = int(current.get("count") or 1) + 1
                bumped["lastTimestamp"] = now
                return self.registry.update(self._rt, known[0], known[1], bumped)
        name = f"{ref.get('name', 'unknown')}.{time.time_ns():x}"
        source: dict[str, Any] = {"component": self.component}
        if self.host:
            source["host"] = self.host
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "eventTime": None,
            "reportingComponent": self.component,
            "reportingInstance": self.host or "",
        }
        created = self.registry.create(self._rt, namespace, event)
        if len(self._recent) >= self._max_cached:
            self._recent.pop(next(iter(self._recent)))
        self._recent[key] = (namespace, name)
        return created
