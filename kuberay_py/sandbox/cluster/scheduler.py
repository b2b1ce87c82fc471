"""The sandbox's kube-scheduler: binds pending pods to nodes where they fit.

It keeps kube-scheduler's observable contract: which pods it takes
(`spec.schedulerName: default-scheduler`, no `spec.nodeName`), the filters
(node unschedulable, taints vs tolerations, nodeSelector / required node
affinity, resource requests vs allocatable minus what bound pods request),
least-allocated spreading, the `PodScheduled` condition, the `Scheduled` and
`FailedScheduling` events and their message format. An unschedulable pod is
retried when nodes change or a bound pod frees resources, and after a backoff.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Iterable
from typing import Any

import structlog

from kuberay_py.api.quantity import cpu_millis, memory_bytes
from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.events import EventRecorder
from kuberay_py.sandbox.cluster.informer import Informer, KeyQueue, ObjKey, obj_key, supervise
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI

log = structlog.get_logger("sandbox.scheduler")

DEFAULT_SCHEDULER = "default-scheduler"
TERMINAL_PHASES = ("Succeeded", "Failed")
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"

Resources = dict[str, int]  # "cpu" in millicores, everything else in base units; "pods": 1


def _amount(name: str, value: Any) -> int:
    return cpu_millis(value) if name == "cpu" else memory_bytes(value)


def container_requests(container: dict[str, Any]) -> Resources:
    """Requests of one container; a resource with only a limit requests its limit."""
    resources = container.get("resources") or {}
    out: Resources = {}
    for name, value in (resources.get("limits") or {}).items():
        out[name] = _amount(name, value)
    for name, value in (resources.get("requests") or {}).items():
        out[name] = _amount(name, value)
    return out


def pod_requests(pod: dict[str, Any]) -> Resources:
    """max(sum of containers, largest init container) + overhead, plus one pod slot."""
    spec = pod.get("spec", {})
    total: Resources = {}
    for c in spec.get("containers") or []:
        for name, v in container_requests(c).items():
            total[name] = total.get(name, 0) + v
    for c in spec.get("initContainers") or []:
        for name, v in container_requests(c).items():
            total[name] = max(total.get(name, 0), v)
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0) + _amount(name, value)
    total["pods"] = 1
    return total


def needs_scheduling(pod: dict[str, Any], scheduler_name: str = DEFAULT_SCHEDULER) -> bool:
    spec = pod.get("spec", {})
    return (
        not spec.get("nodeName")
        and (spec.get("schedulerName") or DEFAULT_SCHEDULER) == scheduler_name
        and not pod.get("metadata", {}).get("deletionTimestamp")
        and pod.get("status", {}).get("phase") not in TERMINAL_PHASES
    )


def _tolerates(tolerations: Iterable[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        op = tol.get("operator") or "Equal"
        if not tol.get("key"):
            if op == "Exists":
                return True
            continue
        if tol["key"] != taint.get("key"):
            continue
        if op == "Exists" or (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _match_expression(labels: dict[str, str], expr: dict[str, Any]) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _node_affinity_matches(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node.get("metadata", {}).get("labels") or {}
    spec = pod.get("spec", {})
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    name = node.get("metadata", {}).get("name", "")
    for term in terms:
        exprs = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        if not exprs and not fields:
            continue
        if all(_match_expression(labels, e) for e in exprs) and all(
            _match_expression({"metadata.name": name}, f) for f in fields
        ):
            return True
    return False


def _node_taints(node: dict[str, Any]) -> list[dict[str, Any]]:
    taints = list(node.get("spec", {}).get("taints") or [])
    ready = next(
        (c for c in node.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    if ready is not None and ready.get("status") != "True":
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    return taints


class Scheduler:
    """Binds pods to the sandbox's nodes; see the module docstring for the rules."""

    def __init__(
        self,
        registry: RegistryAPI,
        clock: SandboxClock,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.scheduler_name = scheduler_name
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.pods_rt = registry.catalog.require("", "v1", "pods")
        nodes_rt = registry.catalog.require("", "v1", "nodes")
        self.pods = Informer(registry, self.pods_rt, clock, name="scheduler-pods")
        self.nodes = Informer(registry, nodes_rt, clock, name="scheduler-nodes")
        self.events = EventRecorder(registry, scheduler_name)
        self.queue: KeyQueue[ObjKey] = KeyQueue()
        # pod key -> (node name, requests) for bound, non-terminated pods
        self._bound: dict[ObjKey, tuple[str, Resources]] = {}
        self._used: dict[str, Resources] = {}
        self._unschedulable: set[ObjKey] = set()
        self._backoff: dict[ObjKey, float] = {}
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)
        self.scheduled = 0

    # --- bookkeeping -------------------------------------------------------------------

    def _account(self, key: ObjKey, node: str | None, requests: Resources | None) -> None:
        previous = self._bound.pop(key, None)
        if previous is not None:
            used = self._used.setdefault(previous[0], {})
            for name, v in previous[1].items():
                used[name] = used.get(name, 0) - v
        if node is not None and requests is not None:
            self._bound[key] = (node, requests)
            used = self._used.setdefault(node, {})
            for name, v in requests.items():
                used[name] = used.get(name, 0) + v
        elif previous is not None:
            self._retry_unschedulable()  # resources were freed

    def _on_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        key = obj_key(new or old or {})
        if new is None:
            self._account(key, None, None)
            self._unschedulable.discard(key)
            self._backoff.pop(key, None)
            return
        node = new.get("spec", {}).get("nodeName")
        if node and new.get("status", {}).get("phase") not in TERMINAL_PHASES:
            if key not in self._bound or self._bound[key][0] != node:
                self._account(key, node, pod_requests(new))
        elif key in self._bound:
            self._account(key, None, None)
        if needs_scheduling(new, self.scheduler_name) and key not in self._unschedulable:
            self.queue.add(key)

    def _on_node(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        def relevant(n: dict[str, Any] | None) -> Any:
            if n is None:
                return None
            ready = [
                c.get("status")
                for c in n.get("status", {}).get("conditions") or []
                if c.get("type") == "Ready"
            ]
            return (
                n.get("metadata", {}).get("labels"),
                n.get("spec", {}).get("taints"),
                n.get("spec", {}).get("unschedulable"),
                n.get("status", {}).get("allocatable"),
                ready,
            )

        if relevant(old) != relevant(new):
            self._retry_unschedulable()

    def _retry_unschedulable(self) -> None:
        for key in self._unschedulable:
            self.queue.add(key)

    # --- one scheduling attempt --------------------------------------------------------

    def _filter(
        self, pod: dict[str, Any], node: dict[str, Any], req: Resources
    ) -> tuple[list[str], bool]:
        """Why `pod` cannot go to `node` (empty: it can), and whether preemption could help."""
        if node.get("spec", {}).get("unschedulable"):
            tolerated = _tolerates(
                pod.get("spec", {}).get("tolerations") or [],
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            )
            if not tolerated:
                return ["node(s) were unschedulable"], False
        tolerations = pod.get("spec", {}).get("tolerations") or []
        for taint in _node_taints(node):
            if taint.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not _tolerates(tolerations, taint):
                return [
                    f"node(s) had untolerated taint {{{taint.get('key', '')}: "
                    f"{taint.get('value', '')}}}"
                ], False
        if not _node_affinity_matches(pod, node):
            return ["node(s) didn't match Pod's node affinity/selector"], False
        name = node["metadata"]["name"]
        allocatable = node.get("status", {}).get("allocatable") or {}
        used = self._used.get(name, {})
        reasons: list[str] = []
        if "pods" in allocatable and used.get("pods", 0) + 1 > _amount("pods", allocatable["pods"]):
            reasons.append("Too many pods")
        for resource, amount in sorted(req.items(), key=lambda kv: _RESOURCE_ORDER(kv[0])):
            if resource == "pods" or amount <= 0:
                continue
            have = _amount(resource, allocatable[resource]) if resource in allocatable else 0
            if used.get(resource, 0) + amount > have:
                reasons.append(f"Insufficient {resource}")
        return reasons, True

    def _score(self, node: dict[str, Any], req: Resources) -> tuple[float, int, str]:
        name = node["metadata"]["name"]
        allocatable = node.get("status", {}).get("allocatable") or {}
        used = self._used.get(name, {})
        fractions = []
        for resource in ("cpu", "memory"):
            total = _amount(resource, allocatable.get(resource, 0))
            if total <= 0:
                continue
            free = total - used.get(resource, 0) - req.get(resource, 0)
            fractions.append(free / total)
        score = sum(fractions) / len(fractions) if fractions else 0.0
        # Higher free share first, then fewer pods, then name: deterministic spreading.
        return (-score, used.get("pods", 0), name)

    def schedule_one(self, key: ObjKey) -> None:
        try:
            pod = self.registry.get(self.pods_rt, key[0], key[1])
        except StatusError as exc:
            if exc.code == 404:
                self._unschedulable.discard(key)
                return
            raise
        if not needs_scheduling(pod, self.scheduler_name):
            self._unschedulable.discard(key)
            return
        req = pod_requests(pod)
        nodes = sorted(self.nodes.items(), key=lambda n: n["metadata"]["name"])
        feasible: list[dict[str, Any]] = []
        failures: Counter[str] = Counter()
        preemption: Counter[str] = Counter()
        for node in nodes:
            reasons, resolvable = self._filter(pod, node, req)
            if not reasons:
                feasible.append(node)
                continue
            failures.update(reasons)
            preemption[NO_VICTIMS if resolvable else NOT_HELPFUL] += 1
        if not feasible:
            self._unschedulable_pod(pod, key, len(nodes), failures, preemption)
            return
        best = min(feasible, key=lambda n: self._score(n, req))
        self._bind(pod, key, best["metadata"]["name"], req)

    def _bind(self, pod: dict[str, Any], key: ObjKey, node: str, req: Resources) -> None:
        """POST pods/binding: one write sets spec.nodeName and PodScheduled=True."""
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": key[1], "namespace": key[0], "uid": pod["metadata"].get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            stored = self.registry.update(
                self.pods_rt, key[0], key[1], binding, subresource="binding"
            )
        except StatusError as exc:
            if exc.code == 404:
                return
            if exc.code == 409:
                self.queue.add(key)  # changed under us (or bound by someone else): look again
                return
            raise
        self._account(key, node, req)
        self._unschedulable.discard(key)
        self._backoff.pop(key, None)
        self.scheduled += 1
        self.events.normal(
            stored, "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {node}"
        )

    def _unschedulable_pod(
        self,
        pod: dict[str, Any],
        key: ObjKey,
        node_count: int,
        failures: Counter[str],
        preemption: Counter[str],
    ) -> None:
        message = unschedulable_message(node_count, failures, preemption)
        status_obj = copy.deepcopy(pod)
        status = status_obj.setdefault("status", {})
        status.setdefault("phase", "Pending")
        if _set_condition(status, "PodScheduled", "False", "Unschedulable", message, self.clock):
            try:
                self.registry.update(self.pods_rt, key[0], key[1], status_obj, subresource="status")
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise
        self.events.warning(pod, "FailedScheduling", message)
        self._unschedulable.add(key)
        backoff = self._backoff.get(key, self.initial_backoff)
        self._backoff[key] = min(backoff * 2, self.max_backoff)
        self.queue.add_after(key, self.clock.scaled(backoff))

    # --- loops -------------------------------------------------------------------------

    async def _work(self) -> None:
        await self.pods.synced.wait()
        await self.nodes.synced.wait()
        while True:
            key = await self.queue.get()
            try:
                self.schedule_one(key)
            except Exception:
                log.exception("scheduling failed", pod=f"{key[0]}/{key[1]}")
                self.queue.add_after(key, self.clock.scaled(self.initial_backoff))
            await asyncio.sleep(0)

    async def run(self) -> None:
        try:
            await asyncio.gather(
                supervise("scheduler-pods", self.pods.run, self.clock),
                supervise("scheduler-nodes", self.nodes.run, self.clock),
                supervise("scheduler", self._work, self.clock),
            )
        finally:
            self.queue.close()


def _RESOURCE_ORDER(name: str) -> tuple[int, str]:
    order = {"cpu": 0, "memory": 1, "ephemeral-storage": 2}
    return (order.get(name, 3), name)


def unschedulable_message(node_count: int, failures: Counter[str], preemption: Counter[str]) -> str:
    """kube-scheduler's FitError text, including the preemption post-filter's verdict."""
    if node_count == 0:
        return "no nodes available to schedule pods"
    reasons = sorted(f"{n} {reason}" for reason, n in failures.items())
    victims = sorted(f"{n} {reason}" for reason, n in preemption.items())
    return (
        f"0/{node_count} nodes are available: {', '.join(reasons)}. "
        f"preemption: 0/{node_count} nodes are available: {', '.join(victims)}."
    )


def _set_condition(
    status: dict[str, Any],
    ctype: str,
    value: str,
    reason: str | None,
    message: str | None,
    clock: SandboxClock,
) -> bool:
    """Set one pod condition in place; returns whether anything changed."""
    conditions = status.setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") != ctype:
            continue
        if (cond.get("status"), cond.get("reason"), cond.get("message")) == (
            value,
            reason,
            message,
        ):
            return False
        if cond.get("status") != value:
            cond["lastTransitionTime"] = clock.now_rfc3339()
        cond["status"] = value
        for field, v in (("reason", reason), ("message", message)):
            if v is None:
                cond.pop(field, None)
            else:
                cond[field] = v
        return True
    cond = {
        "type": ctype,
        "status": value,
        "lastProbeTime": None,
        "lastTransitionTime": clock.now_rfc3339(),
    }
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    conditions.append(cond)
    return True
