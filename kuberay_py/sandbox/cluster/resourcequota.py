"""ResourceQuota for pods: kube's quota admission check and the controller behind `status`.

Managed clusters cap namespaces with quotas, and an operator must report a
refused pod create clearly instead of retrying blindly; tests need the
refusal exactly as kube-apiserver words it:
`pods "NAME" is forbidden: exceeded quota: QUOTA, requested: pods=1, used:
pods=1, limited: pods=1` (403), and `failed quota: QUOTA: must specify
limits.cpu for: CONTAINERS` when a quota limits cpu or memory and a container
does not say how much it wants.

What is counted follows kube's pod evaluator: `count/pods` counts every
stored pod; `pods` and the compute resources (`cpu`, `memory`,
`ephemeral-storage`, `requests.*`, `limits.*`, hugepages, extended
`requests.<name>`) count pods that are not Succeeded or Failed (and not
past their deletion grace period), from the pod's effective requests and
limits (init containers as a maximum, sidecars added, overhead added).
Quota scopes and scope selectors (Terminating, NotTerminating, BestEffort,
NotBestEffort, PriorityClass, CrossNamespacePodAffinity) choose the pods.

Two deliberate differences: the admission check counts the namespace's
live pods (kube reads `status.used`, which its controller refreshes after
deletions), and it enforces `spec.hard` from the moment the quota exists
(kube waits for the controller's first sync). Both make tests deterministic;
`ResourceQuotaController` still keeps `status.hard` and `status.used` as
kube shows them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import structlog

from kuberay_py.api.quantity import Amount, amount
from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.informer import Informer, KeyQueue, supervise
from kuberay_py.sandbox.registry import errors
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import Operation, RegistryAPI

log = structlog.get_logger("sandbox.resourcequota")

Obj = dict[str, Any]

# Quota resource names the pod evaluator tracks (kube's podResources).
POD_RESOURCES = frozenset(
    {
        "count/pods",
        "pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    }
)
# A quota on one of these obliges every container to state it (kube keeps this for
# backward compatibility; no other resource has the rule).
MUST_SPECIFY = frozenset(
    {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}
)
_COMPUTE = ("cpu", "memory", "ephemeral-storage")


ONE = Amount(Fraction(1))
ZERO = Amount(Fraction(0))
ResourceList = dict[str, Amount]


def _add(into: ResourceList, other: ResourceList) -> None:
    for name, value in other.items():
        into[name] = into[name] + value if name in into else value


def _max(into: ResourceList, other: ResourceList) -> None:
    for name, value in other.items():
        if name not in into or value.value > into[name].value:
            into[name] = value


def _resources(container: Any, field: str) -> ResourceList:
    if not isinstance(container, dict):
        return {}
    raw = (container.get("resources") or {}).get(field) or {}
    out: ResourceList = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            parsed = amount(value)
            if parsed is not None:
                out[str(name)] = parsed
    return out


def _effective(pod: Obj, field: str) -> ResourceList:
    """kube's PodRequests / PodLimits: containers summed, init containers as a maximum
    (restartable sidecars add to everything after them), pod overhead added."""
    spec = pod.get("spec") or {}
    total: ResourceList = {}
    for c in spec.get("containers") or ():
        _add(total, _resources(c, field))
    sidecars: ResourceList = {}
    init_peak: ResourceList = {}
    for c in spec.get("initContainers") or ():
        own = _resources(c, field)
        if isinstance(c, dict) and c.get("restartPolicy") == "Always":
            _add(total, own)
            _add(sidecars, own)
            candidate = dict(sidecars)
        else:
            candidate = dict(own)
            _add(candidate, sidecars)
        _max(init_peak, candidate)
    _max(total, init_peak)
    overhead = {}
    raw_overhead = spec.get("overhead")
    if isinstance(raw_overhead, dict):
        overhead = {k: a for k, v in raw_overhead.items() if (a := amount(v)) is not None}
    if field == "requests":
        _add(total, overhead)
    else:
        _add(total, {k: v for k, v in overhead.items() if k in total})
    return total


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    return not _is_native(name) and not name.startswith("requests.")


def compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """kube's podComputeUsageHelper: the quota names a set of requests and limits use."""
    out: ResourceList = {"pods": ONE}
    for resource in _COMPUTE:
        if resource in requests:
            out[resource] = requests[resource]
            out[f"requests.{resource}"] = requests[resource]
        if resource in limits:
            out[f"limits.{resource}"] = limits[resource]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            out[name] = value
            out[f"requests.{name}"] = value
        if _is_extended(name):
            out[f"requests.{name}"] = value
    return out


def _rfc3339(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def charged(pod: Obj, now: dt.datetime) -> bool:
    """kube's QuotaV1Pod: terminal pods, and pods past their deletion grace, are free."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    deleting = _rfc3339(meta.get("deletionTimestamp")) if meta.get("deletionTimestamp") else None
    grace = meta.get("deletionGracePeriodSeconds")
    if deleting is not None and isinstance(grace, int):
        return now <= deleting + dt.timedelta(seconds=grace)
    return True


def pod_usage(pod: Obj, now: dt.datetime) -> ResourceList:
    """What one pod counts against quotas (kube's PodUsageFunc)."""
    usage: ResourceList = {"count/pods": ONE}
    if charged(pod, now):
        _add(usage, compute_usage(_effective(pod, "requests"), _effective(pod, "limits")))
    return usage


def matching_resources(names: Iterable[str]) -> list[str]:
    """The quota resource names (of `names`) that pods consume."""
    return [
        n
        for n in names
        if n in POD_RESOURCES
        or n.startswith(("hugepages-", "requests.hugepages-"))
        or (not _is_native(n) and n.startswith("requests."))
    ]


# -- scopes ----------------------------------------------------------------------------------


def _scope_selectors(quota: Obj) -> list[Obj]:
    spec = quota.get("spec") or {}
    selectors: list[Obj] = [
        {"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or () if s
    ]
    scope_selector = spec.get("scopeSelector") or {}
    selectors += [e for e in scope_selector.get("matchExpressions") or () if isinstance(e, dict)]
    return selectors


def _best_effort(pod: Obj) -> bool:
    qos = (pod.get("status") or {}).get("qosClass")
    if qos:
        return bool(qos == "BestEffort")
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
        for field in ("requests", "limits"):
            if any(r in ("cpu", "memory") for r in _resources(c, field)):
                return False
    return True


def _cross_namespace_affinity(pod: Obj) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        block = affinity.get(kind) or {}
        terms = list(block.get("requiredDuringSchedulingIgnoredDuringExecution") or ())
        terms += [
            w.get("podAffinityTerm") or {}
            for w in block.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
            if isinstance(w, dict)
        ]
        for term in terms:
            if isinstance(term, dict) and (term.get("namespaces") or "namespaceSelector" in term):
                return True
    return False


def _scope_matches(selector: Obj, pod: Obj) -> bool:
    scope = selector.get("scopeName")
    spec = pod.get("spec") or {}
    if scope in ("Terminating", "NotTerminating"):
        deadline = spec.get("activeDeadlineSeconds")
        terminating = isinstance(deadline, int) and deadline >= 0
        return terminating if scope == "Terminating" else not terminating
    if scope in ("BestEffort", "NotBestEffort"):
        best_effort = _best_effort(pod)
        return best_effort if scope == "BestEffort" else not best_effort
    if scope == "PriorityClass":
        name = spec.get("priorityClassName") or ""
        operator = selector.get("operator")
        values = selector.get("values") or []
        if operator == "Exists":
            return bool(name)
        if operator == "DoesNotExist":
            return not name
        if operator == "In":
            return bool(name) and name in values
        if operator == "NotIn":
            return not name or name not in values
        return False
    if scope == "CrossNamespacePodAffinity":
        return _cross_namespace_affinity(pod)
    return False


def quota_matches(quota: Obj, pod: Obj) -> bool:
    """kube's generic Matches: the quota limits a pod resource and every scope selects it."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    if not matching_resources(hard):
        return False
    return all(_scope_matches(s, pod) for s in _scope_selectors(quota))


# -- admission -------------------------------------------------------------------------------


def _pretty(resources: ResourceList) -> str:
    """kube's prettyPrint: name=value, sorted by name, joined by commas."""
    return ",".join(f"{name}={resources[name]}" for name in sorted(resources))


def _hard(quota: Obj) -> ResourceList:
    raw = (quota.get("spec") or {}).get("hard") or {}
    return {str(k): a for k, v in raw.items() if (a := amount(v)) is not None}


def _missing(pod: Obj, required: set[str]) -> dict[str, set[str]]:
    """Per required resource, the containers that do not state it (kube's Constraints)."""
    spec = pod.get("spec") or {}
    missing: dict[str, set[str]] = {}
    for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
        if not isinstance(c, dict):
            continue
        stated = compute_usage(_resources(c, "requests"), _resources(c, "limits"))
        for resource in required - set(stated):
            missing.setdefault(resource, set()).add(str(c.get("name") or ""))
    return missing


def used_by(quota: Obj, pods: Iterable[Obj], now: dt.datetime) -> ResourceList:
    """Usage of the quota's pod resources by `pods` (zero for each when nothing uses it)."""
    names = matching_resources(_hard(quota))
    used: ResourceList = dict.fromkeys(names, ZERO)
    for pod in pods:
        if not quota_matches(quota, pod):
            continue
        usage = pod_usage(pod, now)
        _add(used, {n: usage[n] for n in names if n in usage})
    return used


def check_create(
    pod: Obj, quotas: list[Obj], existing: Callable[[], list[Obj]], now: dt.datetime
) -> None:
    """Raise kube's 403 when creating `pod` would break one of `quotas` (sorted by name)."""
    name = (pod.get("metadata") or {}).get("name") or ""
    relevant: list[Obj] = []
    for quota in quotas:
        if not quota_matches(quota, pod):
            continue
        quota_name = (quota.get("metadata") or {}).get("name", "")
        required = set(matching_resources(_hard(quota))) & MUST_SPECIFY
        missing = _missing(pod, required)
        if missing:
            detail = "; ".join(
                f"{res} for: {','.join(sorted(missing[res]))}" for res in sorted(missing)
            )
            raise errors.forbidden(
                "pods", "", name, f"failed quota: {quota_name}: must specify {detail}"
            )
        relevant.append(quota)
    if not relevant:
        return
    usage = {n: v for n, v in pod_usage(pod, now).items() if v.value != 0}
    pods = existing()
    for quota in relevant:
        hard = _hard(quota)
        requested = {n: usage[n] for n in matching_resources(hard) if n in usage}
        if not requested:
            continue
        used = used_by(quota, pods, now)
        exceeded = sorted(
            n for n, v in requested.items() if (used.get(n, ZERO) + v).value > hard[n].value
        )
        if exceeded:
            quota_name = (quota.get("metadata") or {}).get("name", "")
            raise errors.forbidden(
                "pods",
                "",
                name,
                f"exceeded quota: {quota_name}, "
                f"requested: {_pretty({n: requested[n] for n in exceeded})}, "
                f"used: {_pretty({n: used[n] for n in exceeded if n in used})}, "
                f"limited: {_pretty({n: hard[n] for n in exceeded})}",
            )


class ResourceQuotaAdmission:
    """Validating admission plugin: refuses pod creates that a ResourceQuota forbids."""

    def __init__(
        self, registry: RegistryAPI, now: Callable[[], dt.datetime] = SandboxClock.now
    ) -> None:
        self.registry = registry
        self.now = now
        self.pods_rt = registry.catalog.require("", "v1", "pods")
        self.quotas_rt = registry.catalog.require("", "v1", "resourcequotas")

    def __call__(
        self, op: Operation, rt: ResourceType, obj: Obj, old: Obj | None, subresource: str | None
    ) -> None:
        if op != "CREATE" or subresource is not None or rt.group != "" or rt.kind != "Pod":
            return
        namespace = (obj.get("metadata") or {}).get("namespace")
        if not namespace:
            return
        quotas = self.registry.list(self.quotas_rt, namespace).items
        if not quotas:
            return
        quotas = sorted(quotas, key=lambda q: str(q["metadata"].get("name", "")))

        def existing() -> list[Obj]:
            return self.registry.list(self.pods_rt, namespace).items

        check_create(obj, quotas, existing, self.now())


# -- the controller --------------------------------------------------------------------------


def desired_status(quota: Obj, pods: Iterable[Obj], now: dt.datetime) -> Obj:
    """`status` as kube's quota controller writes it: hard from spec, used per resource."""
    raw = (quota.get("spec") or {}).get("hard") or {}
    hard: dict[str, str] = {}
    for key, value in raw.items():
        parsed = amount(value)
        hard[str(key)] = str(parsed) if parsed is not None else str(value)
    used = {name: str(value) for name, value in used_by(quota, pods, now).items()}
    status: Obj = {"hard": hard}
    if used:
        status["used"] = used
    return status


def _pod_signature(pod: Obj | None) -> Any:
    """What of a pod can change its quota usage (phase, deletion); resources are immutable."""
    if pod is None:
        return None
    meta = pod.get("metadata") or {}
    return ((pod.get("status") or {}).get("phase"), meta.get("deletionTimestamp"))


class ResourceQuotaController:
    """Keeps every ResourceQuota's status.hard and status.used current, per namespace."""

    def __init__(self, registry: RegistryAPI, clock: SandboxClock) -> None:
        self.registry = registry
        self.clock = clock
        self.pods_rt = registry.catalog.require("", "v1", "pods")
        self.quotas_rt = registry.catalog.require("", "v1", "resourcequotas")
        self.quotas = Informer(registry, self.quotas_rt, clock, name="resourcequota-quotas")
        self.pods = Informer(registry, self.pods_rt, clock, name="resourcequota-pods")
        self.quotas.add_handler(self._on_quota)
        self.pods.add_handler(self._on_pod)
        self.queue: KeyQueue[str] = KeyQueue()

    def _has_quota(self, namespace: str) -> bool:
        return any(
            (q.get("metadata") or {}).get("namespace") == namespace for q in self.quotas.items()
        )

    def _on_quota(self, old: Obj | None, new: Obj | None) -> None:
        obj = new or old or {}
        self.queue.add(str((obj.get("metadata") or {}).get("namespace") or ""))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and _pod_signature(old) == _pod_signature(new):
            return
        namespace = str(((new or old or {}).get("metadata") or {}).get("namespace") or "")
        if self._has_quota(namespace):
            self.queue.add(namespace)

    def sync(self, namespace: str) -> None:
        quotas = self.registry.list(self.quotas_rt, namespace).items
        if not quotas:
            return
        pods = self.registry.list(self.pods_rt, namespace).items
        now = self.clock.now()
        for quota in quotas:
            status = desired_status(quota, pods, now)
            if quota.get("status") == status:
                continue
            name = quota["metadata"]["name"]
            try:
                self.registry.update(
                    self.quotas_rt, namespace, name, {**quota, "status": status}, "status"
                )
            except StatusError as exc:
                if exc.code == 409:
                    self.queue.add(namespace)
                elif exc.code != 404:
                    raise

    async def _work(self) -> None:
        await self.quotas.synced.wait()
        await self.pods.synced.wait()
        while True:
            namespace = await self.queue.get()
            try:
                self.sync(namespace)
            except Exception:
                log.exception("resource quota sync failed", namespace=namespace)
                self.queue.add_after(namespace, self.clock.scaled(1.0))
            await asyncio.sleep(0)

    async def run(self) -> None:
        try:
            await asyncio.gather(
                supervise("resourcequota-quotas", self.quotas.run, self.clock),
                supervise("resourcequota-pods", self.pods.run, self.clock),
                supervise("resourcequota-controller", self._work, self.clock),
            )
        finally:
            self.queue.close()
