"""A RayCluster's status, computed from what the cluster's pods and head Service show.

KubeRay users read `status` with scripts, dashboards and `kubectl get raycluster`, so
every field, condition type, reason and message is KubeRay's (reference §1.10). Three
things go further than KubeRay, because GitOps tools and humans read the status too:

- HeadPodReady names what blocks the head: the scheduler's reason when the pod cannot be
  placed (KubeRay says "Unknown" there), and the failing init container when the Ray
  container only waits for it;
- `lastUpdateTime` moves only when something `status_changed` looks at moved, so two
  passes over the same pods produce identical statuses and nothing is written;
- `endpoints` are rebuilt from the head Service (KubeRay only ever adds keys), so a port
  removed from the Service leaves the status too.

Pure: the clock comes in as `now` (RFC 3339), and the pods and Services are handed in.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import attrs

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    ALL_POD_RUNNING_AND_READY_FIRST_TIME,
    HEAD_POD_NOT_FOUND,
    HEAD_POD_READY,
    HEAD_POD_RUNNING_AND_READY,
    NODE_TYPE_HEAD,
    NODE_TYPE_WORKER,
    RAY_CLUSTER_LABEL,
    RAY_CLUSTER_PODS_PROVISIONING,
    RAY_CLUSTER_PROVISIONED,
    RAY_CLUSTER_SUSPENDED,
    RAY_CLUSTER_SUSPENDING,
    RAY_NODE_TYPE_LABEL,
    REPLICA_FAILURE,
    STATE_READY,
    STATE_SUSPENDED,
)
from kuberay_py.api.quantity import QuantityFormat, format_quantity, parse_quantity, quantity_format
from kuberay_py.api.raycluster import HeadInfo, RayCluster, RayClusterStatus, WorkerGroupSpec

Json = dict[str, Any]

MAX_INT32 = 2**31 - 1

# ReplicaFailure reasons: the step of reconcilePods that failed.
FAILED_CREATE_HEAD_POD = "FailedCreateHeadPod"
FAILED_CREATE_WORKER_POD = "FailedCreateWorkerPod"
FAILED_DELETE_HEAD_POD = "FailedDeleteHeadPod"
FAILED_DELETE_WORKER_POD = "FailedDeleteWorkerPod"
FAILED_DELETE_ALL_PODS = "FailedDeleteAllPods"
REPLICA_FAILURE_REASONS = frozenset(
    {
        FAILED_CREATE_HEAD_POD,
        FAILED_CREATE_WORKER_POD,
        FAILED_DELETE_HEAD_POD,
        FAILED_DELETE_WORKER_POD,
        FAILED_DELETE_ALL_PODS,
    }
)

UNKNOWN_REASON = "Unknown"
CONTAINERS_NOT_READY = "ContainersNotReady"
POD_INITIALIZING = "PodInitializing"
UNSCHEDULABLE = "Unschedulable"
TPU_RESOURCE = "google.com/tpu"

HEAD_POD_NOT_FOUND_MESSAGE = "Head Pod not found"
PROVISIONING_MESSAGE = "RayCluster Pods are being provisioned for first time"
PROVISIONED_MESSAGE = "All Ray Pods are ready for the first time"
SUSPENDED_PROVISIONED_MESSAGE = "RayCluster has been suspended"

# metav1.Condition's schema: a reason the API server rejects would block every later
# status write, so a reason we did not choose ourselves is checked before use.
_CONDITION_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_MAX_REASON = 1024
_MAX_MESSAGE = 32768
_MIG_KEY = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


class StatusError(ValueError):
    """The pods or Services contradict the cluster (no head Service, two heads).

    KubeRay writes no status then and retries; so should the caller.
    """


@attrs.frozen
class ReconcileFailure:
    """Why this reconcile pass failed.

    `reason` is one of REPLICA_FAILURE_REASONS for a failed pod create/delete, which
    becomes the ReplicaFailure condition; any other reason (a Service that could not be
    created, ...) only keeps the cluster from being called ready, as in KubeRay.
    `message` is the API's error text ("pods \"x\" is forbidden: exceeded quota: ...").
    """

    reason: str
    message: str


@attrs.frozen
class DesiredResources:
    """The `desiredCPU/Memory/GPU/TPU` status fields, as Kubernetes prints quantities."""

    cpu: str
    memory: str
    gpu: str
    tpu: str


# ----------------------------------------------------------------------------- replicas


def saturate_int32(value: int) -> int:
    """Clamp into int32, because KubeRay's status counters are int32 and saturate."""
    return max(-MAX_INT32 - 1, min(MAX_INT32, value))


def _hosts(group: WorkerGroupSpec) -> int:
    # The CRD defaults numOfHosts to 1; a model that skipped defaulting means the same.
    return 1 if group.num_of_hosts is None else group.num_of_hosts


def desired_worker_replicas(group: WorkerGroupSpec) -> int:
    """Pods the group should have: `replicas` clamped into [min, max], times hosts.

    A missing `replicas` means `minReplicas` (the CRD default would say 0, which the
    clamp turns into min anyway); a suspended group wants none.
    """
    if group.suspend:
        return 0
    low = group.min_replicas if group.min_replicas is not None else 0
    high = group.max_replicas if group.max_replicas is not None else MAX_INT32
    replicas = group.replicas
    if replicas is None or replicas < low:
        wanted = low
    elif replicas > high:
        wanted = high
    else:
        wanted = replicas
    return saturate_int32(wanted * _hosts(group))


def _active_groups(c: RayCluster) -> list[WorkerGroupSpec]:
    return [g for g in c.spec.worker_group_specs or [] if not g.suspend]


def cluster_desired_worker_replicas(c: RayCluster) -> int:
    return saturate_int32(sum(desired_worker_replicas(g) for g in c.spec.worker_group_specs or []))


def cluster_min_worker_replicas(c: RayCluster) -> int:
    return saturate_int32(sum((g.min_replicas or 0) * _hosts(g) for g in _active_groups(c)))


def cluster_max_worker_replicas(c: RayCluster) -> int:
    """Sum of max * hosts; an unset max is MaxInt32, so the sum saturates rather than wraps."""
    return saturate_int32(
        sum(
            (g.max_replicas if g.max_replicas is not None else MAX_INT32) * _hosts(g)
            for g in _active_groups(c)
        )
    )


# ---------------------------------------------------------------------------- resources


@attrs.define
class _Amount:
    """A running quantity sum that keeps the family of the first non-zero term, as
    apimachinery's Quantity.Add does (so "1Gi" + "1Gi" prints "2Gi", not "2147483648")."""

    value: Fraction = Fraction(0)
    fmt: QuantityFormat = "DecimalSI"

    def add(self, value: Fraction, fmt: QuantityFormat) -> None:
        if self.value == 0:
            self.fmt = fmt
        self.value += value

    def text(self) -> str:
        return format_quantity(self.value, self.fmt)


def _container_resources(container: Mapping[str, Any]) -> dict[str, Any]:
    # Requests win; limits fill only the keys requests leave out (KubeRay's rule).
    resources = container.get("resources") or {}
    merged = dict(resources.get("requests") or {})
    for key, value in (resources.get("limits") or {}).items():
        merged.setdefault(key, value)
    return merged


def _template_resources(template: Mapping[str, Any] | None) -> dict[str, _Amount]:
    totals: dict[str, _Amount] = {}
    spec = (template or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        for key, raw in _container_resources(container).items():
            try:
                value, fmt = parse_quantity(raw), quantity_format(raw)
            except (ValueError, TypeError, AttributeError):
                continue  # not a quantity: nothing a scheduler could count either
            totals.setdefault(key, _Amount(fmt=fmt)).add(value, fmt)
    return totals


def is_gpu_resource(key: str) -> bool:
    """Keys KubeRay counts as GPUs: anything ending in "gpu", and NVIDIA MIG slices."""
    return key.endswith("gpu") or _MIG_KEY.search(key) is not None


def desired_resources(c: RayCluster) -> DesiredResources:
    """Head template + sum of group template * replicas * hosts, suspended groups left out.

    `replicas` is taken as written (unclamped, missing = 0), as KubeRay does, so these
    figures can differ from what `desiredWorkerReplicas` would suggest.
    """
    totals: dict[str, _Amount] = {}
    parts = [(_template_resources(c.spec.head_group_spec.template), 1)]
    for group in _active_groups(c):
        parts.append((_template_resources(group.template), (group.replicas or 0) * _hosts(group)))
    for resources, count in parts:
        for key, amount in resources.items():
            totals.setdefault(key, _Amount(fmt=amount.fmt)).add(amount.value * count, amount.fmt)
    gpu = _Amount()
    for key in sorted(totals):
        if is_gpu_resource(key) and totals[key].value != 0:
            gpu.add(totals[key].value, totals[key].fmt)
    zero = _Amount()
    return DesiredResources(
        cpu=totals.get("cpu", zero).text(),
        memory=totals.get("memory", zero).text(),
        gpu=gpu.text(),
        tpu=totals.get(TPU_RESOURCE, zero).text(),
    )


# --------------------------------------------------------------------------------- pods


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _pod_conditions(pod: Mapping[str, Any]) -> list[Json]:
    return list((pod.get("status") or {}).get("conditions") or [])


def _pod_condition(pod: Mapping[str, Any], ctype: str) -> Json | None:
    return next((x for x in _pod_conditions(pod) if x.get("type") == ctype), None)


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_running_and_ready(pod: Mapping[str, Any]) -> bool:
    """Phase Running and a Ready condition that is True (a worker counted as ready)."""
    ready = _pod_condition(pod, "Ready")
    return _phase(pod) == "Running" and ready is not None and ready.get("status") == "True"


def all_pods_running(pods: Sequence[Mapping[str, Any]]) -> bool:
    """Every pod Running and none with a Ready condition other than True; none at all is
    not "all running". A pod without a Ready condition passes, as in KubeRay."""
    if not pods:
        return False
    for pod in pods:
        if _phase(pod) != "Running":
            return False
        ready = _pod_condition(pod, "Ready")
        if ready is not None and ready.get("status") != "True":
            return False
    return True


def _safe_reason(candidate: str | None, fallback: str) -> str:
    if candidate and len(candidate) <= _MAX_REASON and _CONDITION_REASON.match(candidate):
        return candidate
    return fallback


def _blocked_container(statuses: Iterable[Mapping[str, Any]]) -> tuple[str, str] | None:
    # The first container that is waiting or has terminated, with what kubelet said.
    for status in statuses:
        state = status.get("state") or {}
        for key in ("waiting", "terminated"):
            if key in state and state[key] is not None:
                detail = state[key]
                name = status.get("name", "")
                return str(detail.get("reason") or ""), f"{name}: {detail.get('message') or ''}"
    return None


def _blocked_init_container(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    # An init container that is stuck (pulling, crash-looping) or failed is what a main
    # container reporting PodInitializing is really waiting for.
    for status in (pod.get("status") or {}).get("initContainerStatuses") or []:
        state = status.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason") not in (None, "", POD_INITIALIZING):
            detail = waiting
        elif terminated and terminated.get("exitCode", 0) != 0:
            detail = terminated
        else:
            continue
        name = status.get("name", "")
        return str(detail.get("reason") or ""), f"{name}: {detail.get('message') or ''}"
    return None


def head_pod_ready(pod: Mapping[str, Any]) -> tuple[str, str, str]:
    """(status, reason, message) of the HeadPodReady condition for the head pod.

    KubeRay's rule: copy the pod's Ready condition; a True condition without reason
    becomes HeadPodRunningAndReady; ContainersNotReady is replaced by the first waiting
    or terminated container's reason (ErrImagePull, ImagePullBackOff, CrashLoopBackOff,
    ...) with "<container>: <message>" appended. No Ready condition: False, "Unknown".
    Beyond KubeRay: a pod the scheduler could not place reports PodScheduled's reason
    (Unschedulable) and message, and PodInitializing names the blocking init container.
    """
    status, reason, message = "False", UNKNOWN_REASON, ""
    ready = _pod_condition(pod, "Ready")
    if ready is not None:
        status = str(ready.get("status") or "False")
        message = str(ready.get("message") or "")
        given = str(ready.get("reason") or "")
        if status == "True" and not given:
            given = HEAD_POD_RUNNING_AND_READY
        reason = _safe_reason(given, reason)
        if given == CONTAINERS_NOT_READY:
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            blocked = _blocked_container(statuses)
            if blocked is not None and blocked[0] == POD_INITIALIZING:
                blocked = _blocked_init_container(pod) or blocked
            if blocked is not None:
                message = f"{message}; {blocked[1]}" if message else blocked[1]
                reason = _safe_reason(blocked[0], reason)
    if status != "True":
        scheduled = _pod_condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            reason = _safe_reason(str(scheduled.get("reason") or ""), UNSCHEDULABLE)
            message = str(scheduled.get("message") or "")
    return status, reason, message


# ----------------------------------------------------------------------------- services


def head_service_endpoints(service: Mapping[str, Any]) -> dict[str, str]:
    """Named ports of the head Service: nodePort if allocated, else targetPort, else port
    (the API server defaults targetPort to port; a hand-built dict may not have it)."""
    endpoints: dict[str, str] = {}
    for port in (service.get("spec") or {}).get("ports") or []:
        name = port.get("name")
        if not name:
            continue
        target = port.get("targetPort")
        if port.get("nodePort"):
            endpoints[name] = str(port["nodePort"])
        elif target not in (None, "", 0):
            endpoints[name] = str(target)
        elif port.get("port"):
            endpoints[name] = str(port["port"])
    return endpoints


def _single_head_service(c: RayCluster, services: Iterable[Mapping[str, Any]]) -> Json:
    found = [
        dict(s)
        for s in services
        if _labels(s).get(RAY_CLUSTER_LABEL) == c.name
        and _labels(s).get(RAY_NODE_TYPE_LABEL) == NODE_TYPE_HEAD
    ]
    where = f"RayCluster {c.namespace}/{c.name}"
    if not found:
        raise StatusError(f"no head Service found for {where}")
    if len(found) > 1:
        names = sorted(str((s.get("metadata") or {}).get("name")) for s in found)
        raise StatusError(f"{len(found)} head Services found for {where}: {names}")
    if not (found[0].get("spec") or {}).get("clusterIP"):
        raise StatusError(f"the head Service of {where} has no clusterIP yet")
    return found[0]


def _single_head_pod(c: RayCluster, pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    heads = [p for p in pods if _labels(p).get(RAY_NODE_TYPE_LABEL) == NODE_TYPE_HEAD]
    if len(heads) > 1:
        names = sorted(str((p.get("metadata") or {}).get("name")) for p in heads)
        raise StatusError(
            f"{len(heads)} head pods found for RayCluster {c.namespace}/{c.name}: {names}"
        )
    return heads[0] if heads else None


# --------------------------------------------------------------------------- conditions


def find_condition(conditions: Iterable[Mapping[str, Any]] | None, ctype: str) -> Json | None:
    return next((dict(x) for x in conditions or [] if x.get("type") == ctype), None)


def condition_is_true(conditions: Iterable[Mapping[str, Any]] | None, ctype: str) -> bool:
    found = find_condition(conditions, ctype)
    return found is not None and found.get("status") == "True"


def set_condition(
    conditions: list[Json],
    ctype: str,
    status: str,
    reason: str,
    message: str,
    *,
    now: str,
    generation: int | None,
) -> None:
    """Add or update one condition in place, like apimachinery's SetStatusCondition:
    lastTransitionTime moves only when the status flips, so re-asserting the same
    condition on every pass changes nothing."""
    message = message[:_MAX_MESSAGE]
    for cond in conditions:
        if cond.get("type") == ctype:
            if cond.get("status") != status:
                cond["status"] = status
                cond["lastTransitionTime"] = now
            cond["reason"] = reason
            cond["message"] = message
            if generation is not None:
                cond["observedGeneration"] = generation
            return
    new: Json = {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    conditions.append(new)


def remove_condition(conditions: list[Json], ctype: str) -> None:
    conditions[:] = [x for x in conditions if x.get("type") != ctype]


def _suspend_status(conditions: Sequence[Mapping[str, Any]]) -> str:
    for cond in conditions:
        suspend_type = cond.get("type") in (RAY_CLUSTER_SUSPENDING, RAY_CLUSTER_SUSPENDED)
        if suspend_type and cond.get("status") == "True":
            return str(cond["type"])
    return ""


def _update_conditions(
    c: RayCluster,
    conditions: list[Json],
    pods: Sequence[Mapping[str, Any]],
    head_pod: Mapping[str, Any] | None,
    failure: ReconcileFailure | None,
    *,
    now: str,
) -> None:
    generation = c.metadata.get("generation")
    gen = generation if isinstance(generation, int) else None

    def put(ctype: str, status: str, reason: str, message: str = "") -> None:
        set_condition(conditions, ctype, status, reason, message, now=now, generation=gen)

    if failure is None:
        remove_condition(conditions, REPLICA_FAILURE)
    elif failure.reason in REPLICA_FAILURE_REASONS:
        # KubeRay's message is its joined error: the marker, a newline, the API's text.
        put(REPLICA_FAILURE, "True", failure.reason, f"{failure.reason}\n{failure.message}")

    if head_pod is None:
        put(HEAD_POD_READY, "False", HEAD_POD_NOT_FOUND, HEAD_POD_NOT_FOUND_MESSAGE)
    else:
        put(HEAD_POD_READY, *head_pod_ready(head_pod))

    suspend_status = _suspend_status(conditions)
    if (
        not condition_is_true(conditions, RAY_CLUSTER_PROVISIONED)
        and suspend_status != RAY_CLUSTER_SUSPENDED
    ):
        # Provisioned answers "were all pods ever ready?": once True it stays True.
        if all_pods_running(pods):
            put(
                RAY_CLUSTER_PROVISIONED,
                "True",
                ALL_POD_RUNNING_AND_READY_FIRST_TIME,
                PROVISIONED_MESSAGE,
            )
        else:
            put(
                RAY_CLUSTER_PROVISIONED,
                "False",
                RAY_CLUSTER_PODS_PROVISIONING,
                PROVISIONING_MESSAGE,
            )

    if suspend_status == RAY_CLUSTER_SUSPENDING:
        if not pods:
            put(
                RAY_CLUSTER_PROVISIONED,
                "False",
                RAY_CLUSTER_PODS_PROVISIONING,
                SUSPENDED_PROVISIONED_MESSAGE,
            )
            put(RAY_CLUSTER_SUSPENDING, "False", RAY_CLUSTER_SUSPENDING)
            put(RAY_CLUSTER_SUSPENDED, "True", RAY_CLUSTER_SUSPENDED)
    elif suspend_status == RAY_CLUSTER_SUSPENDED:
        if c.spec.suspend is False:
            put(RAY_CLUSTER_SUSPENDED, "False", RAY_CLUSTER_SUSPENDED)
    else:
        put(RAY_CLUSTER_SUSPENDED, "False", RAY_CLUSTER_SUSPENDED)
        put(RAY_CLUSTER_SUSPENDING, "True" if c.spec.suspend else "False", RAY_CLUSTER_SUSPENDING)


# ------------------------------------------------------------------------------- status


def _nonzero(value: int) -> int | None:
    # KubeRay's counters are `omitempty`: zero is absent on the wire, and so here.
    return value or None


def calculate_status(
    c: RayCluster,
    pods: Sequence[Mapping[str, Any]],
    head_services: Sequence[Mapping[str, Any]],
    *,
    failure: ReconcileFailure | None,
    now: str,
    config: OperatorConfig,
) -> RayClusterStatus:
    """The status KubeRay's calculateStatus would give `c`, without churn.

    `pods` are the cluster's pods (label `ray.io/cluster`; others are ignored),
    `head_services` its head Service(s); `failure` is this pass's error, if any.
    Raises StatusError when there is not exactly one head Service (with a clusterIP)
    or there are several head pods: then KubeRay writes no status.
    """
    old = c.status or RayClusterStatus()
    cluster_pods = [p for p in pods if _labels(p).get(RAY_CLUSTER_LABEL) == c.name]
    head_pod = _single_head_pod(c, cluster_pods)
    service = _single_head_service(c, head_services)
    workers = [p for p in cluster_pods if _labels(p).get(RAY_NODE_TYPE_LABEL) == NODE_TYPE_WORKER]
    desired = cluster_desired_worker_replicas(c)

    state, reason = old.state, old.reason
    if failure is None and len(cluster_pods) == desired + 1 and all_pods_running(cluster_pods):
        state, reason = STATE_READY, None

    conditions = copy.deepcopy(list(old.conditions or []))
    if config.gates.ray_cluster_status_conditions:
        _update_conditions(c, conditions, cluster_pods, head_pod, failure, now=now)

    if c.spec.suspend and not cluster_pods:
        state = STATE_SUSPENDED

    head_status = (head_pod or {}).get("status") or {}
    head_pod_ip = head_status.get("podIP") or None
    cluster_ip = service["spec"]["clusterIP"]
    head = HeadInfo(
        pod_ip=head_pod_ip,
        pod_name=(head_pod or {}).get("metadata", {}).get("name") or None,
        # A headless Service has no IP of its own; clients reach the head pod directly.
        service_ip=head_pod_ip if cluster_ip == "None" else cluster_ip,
        service_name=service.get("metadata", {}).get("name") or None,
        extra=dict(old.head.extra) if old.head else {},
    )

    transitions = dict(old.state_transition_times) if old.state_transition_times else None
    if state and state != old.state:
        transitions = {**(transitions or {}), state: now}

    resources = desired_resources(c)
    generation = c.metadata.get("generation")
    new = RayClusterStatus(
        state=state,
        reason=reason,
        desired_cpu=resources.cpu,
        desired_memory=resources.memory,
        desired_gpu=resources.gpu,
        desired_tpu=resources.tpu,
        last_update_time=old.last_update_time,
        state_transition_times=transitions,
        endpoints=head_service_endpoints(service) or None,
        head=head,
        conditions=conditions or None,
        ready_worker_replicas=_nonzero(sum(1 for p in workers if is_running_and_ready(p))),
        available_worker_replicas=_nonzero(sum(1 for p in workers if _phase(p) == "Running")),
        desired_worker_replicas=_nonzero(desired),
        min_worker_replicas=_nonzero(cluster_min_worker_replicas(c)),
        max_worker_replicas=_nonzero(cluster_max_worker_replicas(c)),
        observed_generation=generation if isinstance(generation, int) and generation else None,
        extra=copy.deepcopy(old.extra),
    )
    if status_changed(c.status, new):
        new = attrs.evolve(new, last_update_time=now)
    return new


def _head_key(head: HeadInfo | None) -> tuple[str, str, str, str]:
    h = head or HeadInfo()
    return (h.pod_ip or "", h.pod_name or "", h.service_ip or "", h.service_name or "")


def _condition_key(cond: Mapping[str, Any]) -> Json:
    # What the API hands back for what we wrote: absent message/generation read as empty.
    return {"message": "", "observedGeneration": 0, **cond}


def status_changed(old: RayClusterStatus | None, new: RayClusterStatus) -> bool:
    """Whether `new` is worth a status write (KubeRay's InconsistentRayClusterStatus).

    Looks at state, reason, the five worker counts, endpoints, head and conditions;
    desired resources, lastUpdateTime, stateTransitionTimes and observedGeneration alone
    never cause a write. Absent and zero/empty compare equal, as they do once Go's
    `omitempty` has been through the API.
    """
    before = old or RayClusterStatus()
    if (before.state or "", before.reason or "") != (new.state or "", new.reason or ""):
        return True
    counts = (
        "ready_worker_replicas",
        "available_worker_replicas",
        "desired_worker_replicas",
        "min_worker_replicas",
        "max_worker_replicas",
    )
    if any((getattr(before, f) or 0) != (getattr(new, f) or 0) for f in counts):
        return True
    if dict(before.endpoints or {}) != dict(new.endpoints or {}):
        return True
    if _head_key(before.head) != _head_key(new.head):
        return True
    old_conditions = [_condition_key(x) for x in before.conditions or []]
    return old_conditions != [_condition_key(x) for x in new.conditions or []]
