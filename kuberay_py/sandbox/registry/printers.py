"""Server-side `Table` rendering: what `kubectl get` prints, computed as kube-apiserver does.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints
the cells verbatim, so every column, every status word ("CrashLoopBackOff",
"Init:0/1", "Terminating") and every age ("3m2s") must be produced here,
with kube's printers' rules. Columns with priority 1 are the `-o wide`
ones; the server always fills them (kubectl hides them). Custom resources
use their CRD's `additionalPrinterColumns` (JSONPath cells, `date` columns
rendered as ages) like apiextensions-apiserver's table convertor.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any

import orjson

from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.conversion import convert

Obj = dict[str, Any]
Cells = list[Any]
Column = dict[str, Any]

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

# -- time ------------------------------------------------------------------------------


def human_duration(seconds_total: float) -> str:
    """kube's `duration.HumanDuration`: `5s`, `3m2s`, `15m`, `2h5m`, `2d3h`, `1y30d`."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


@functools.lru_cache(maxsize=4096)
def parse_time(value: str) -> datetime.datetime | None:
    """An RFC 3339 timestamp (`Z` or offset, optional fraction), or None."""
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def since(value: Any, now: datetime.datetime) -> str:
    """kube's `translateTimestampSince`: `<unknown>` for a missing time."""
    if not isinstance(value, str) or not value:
        return "<unknown>"
    parsed = parse_time(value)
    if parsed is None:
        return "<invalid>"
    return human_duration((now - parsed).total_seconds())


# -- small helpers ---------------------------------------------------------------------


def _col(
    name: str, type_: str = "string", description: str = "", priority: int = 0, fmt: str = ""
) -> Column:
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


NAME_COL = _col("Name", fmt="name", description=NAME_DESCRIPTION)
AGE_COL = _col("Age", description=AGE_DESCRIPTION)
CREATED_AT_COL = _col("Created At", "date", AGE_DESCRIPTION)


def _d(obj: Any, *keys: str) -> Any:
    """Nested lookup that tolerates missing or mistyped levels."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _name(obj: Obj) -> str:
    return str(_d(obj, "metadata", "name") or "")


def _age(obj: Obj, now: datetime.datetime) -> str:
    return since(_d(obj, "metadata", "creationTimestamp"), now)


def format_labels(labels: Any) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty."""
    items = _dict(labels)
    if not items:
        return "<none>"
    return ",".join(f"{k}={items[k]}" for k in sorted(items))


def selector_string(selector: Any) -> str:
    """`LabelSelectorAsSelector(...).String()`: requirements sorted by key."""
    sel = _dict(selector)
    reqs: list[tuple[str, str]] = []
    for key, value in _dict(sel.get("matchLabels")).items():
        reqs.append((key, f"{key}={value}"))
    for expr in _list(sel.get("matchExpressions")):
        key, op = str(_d(expr, "key") or ""), _d(expr, "operator")
        values = ",".join(sorted(str(v) for v in _list(_d(expr, "values"))))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(str(op), key)
        reqs.append((key, text))
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))


def _format_selector(selector: Any) -> str:
    """`metav1.FormatLabelSelector`: like `selector_string` but `<none>` when empty."""
    return selector_string(selector) or "<none>"


def _containers_cells(pod_spec: Any) -> tuple[str, str]:
    containers = _list(_d(pod_spec, "containers"))
    names = ",".join(str(_d(c, "name") or "") for c in containers)
    images = ",".join(str(_d(c, "image") or "") for c in containers)
    return names, images


def _more(items: list[str], count: int, limit: int = 3, empty: str = "<unset>") -> str:
    text = ",".join(items)
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or empty


def _join_host_port(host: str, port: int) -> str:
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def _has_condition(conditions: Any, type_: str) -> bool:
    return any(_d(c, "type") == type_ and _d(c, "status") == "True" for c in _list(conditions))


# -- pods ------------------------------------------------------------------------------

POD_COLUMNS = [
    NAME_COL,
    _col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", description="The aggregate status of the containers in this pod."),
    _col(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and "
        "when the last container in this pod has restarted.",
    ),
    AGE_COL,
    _col("IP", priority=1, description="podIP address allocated to the pod."),
    _col(
        "Node",
        priority=1,
        description="NodeName is a request to schedule this pod onto a specific node.",
    ),
    _col(
        "Nominated Node",
        priority=1,
        description="nominatedNodeName is set only when this pod preempts other pods on the node.",
    ),
    _col(
        "Readiness Gates",
        priority=1,
        description="If specified, all readiness gates will be evaluated for pod readiness.",
    ),
]
_EPOCH = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def _terminated_at(status: Any) -> datetime.datetime | None:
    finished = _d(status, "lastState", "terminated", "finishedAt")
    return parse_time(finished) if isinstance(finished, str) and finished else None


def pod_cells(pod: Obj, now: datetime.datetime) -> Cells:
    """kube's printPod, line for line in behaviour."""
    spec, status = _dict(pod.get("spec")), _dict(pod.get("status"))
    containers = _list(spec.get("containers"))
    init_specs = {str(_d(c, "name")): c for c in _list(spec.get("initContainers"))}
    restartable = {n for n, c in init_specs.items() if _d(c, "restartPolicy") == "Always"}
    total = len(containers) + len(restartable)
    ready = 0
    restarts = 0
    restartable_restarts = 0
    last_restart = _EPOCH
    last_restartable = _EPOCH
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    conditions = _list(status.get("conditions"))
    for cond in conditions:
        if _d(cond, "type") == "PodScheduled" and _d(cond, "reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    n_init = len(_list(spec.get("initContainers")))
    for i, cs in enumerate(_list(status.get("initContainerStatuses"))):
        restarts += _int(_d(cs, "restartCount"))
        finished = _terminated_at(cs)
        if finished and finished > last_restart:
            last_restart = finished
        is_restartable = _d(cs, "name") in restartable
        if is_restartable:
            restartable_restarts += _int(_d(cs, "restartCount"))
            if finished and finished > last_restartable:
                last_restartable = finished
        terminated = _d(cs, "state", "terminated")
        waiting = _d(cs, "state", "waiting")
        if isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0:
            continue
        if is_restartable and _d(cs, "started") is True:
            if _d(cs, "ready") is True:
                ready += 1
            continue
        if isinstance(terminated, dict):
            if not terminated.get("reason"):
                if _int(terminated.get("signal")):
                    reason = f"Init:Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
            else:
                reason = f"Init:{terminated['reason']}"
        elif (
            isinstance(waiting, dict)
            and waiting.get("reason")
            and waiting["reason"] != "PodInitializing"
        ):
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break

    if not initializing or _has_condition(conditions, "Initialized"):
        restarts = restartable_restarts
        last_restart = last_restartable
        has_running = False
        for cs in reversed(_list(status.get("containerStatuses"))):
            restarts += _int(_d(cs, "restartCount"))
            finished = _terminated_at(cs)
            if finished and finished > last_restart:
                last_restart = finished
            waiting = _d(cs, "state", "waiting")
            terminated = _d(cs, "state", "terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                if _int(terminated.get("signal")):
                    reason = f"Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif _d(cs, "ready") is True and isinstance(_d(cs, "state", "running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(conditions, "Ready") else "NotReady"

    deleting = bool(_d(pod, "metadata", "deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart != _EPOCH:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    pod_ips = _list(status.get("podIPs"))
    ip = str(_d(pod_ips[0], "ip") or "") if pod_ips else ""
    gates = _list(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        true_count = 0
        for gate in gates:
            for cond in conditions:
                if _d(cond, "type") == _d(gate, "conditionType"):
                    true_count += _d(cond, "status") == "True"
                    break
        gates_text = f"{true_count}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _age(pod, now),
        ip or "<none>",
        str(spec.get("nodeName") or "") or "<none>",
        str(status.get("nominatedNodeName") or "") or "<none>",
        gates_text,
    ]


def _pod_row_conditions(pod: Obj) -> list[dict[str, str]] | None:
    phase = _d(pod, "status", "phase")
    if phase == "Succeeded":
        return [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Succeeded",
                "message": "The pod has completed successfully.",
            }
        ]
    if phase == "Failed":
        return [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Failed",
                "message": "The pod failed.",
            }
        ]
    return None


# -- services and endpoints ------------------------------------------------------------

SERVICE_COLUMNS = [
    NAME_COL,
    _col("Type", description="type determines how the Service is exposed."),
    _col("Cluster-IP", description="clusterIP is the IP address of the service."),
    _col(
        "External-IP",
        description="IP addresses nodes also accept traffic for this service on.",
    ),
    _col("Port(s)", description="The list of ports that are exposed by this service."),
    AGE_COL,
    _col(
        "Selector",
        priority=1,
        description="Route service traffic to pods matching this selector.",
    ),
]


def _external_ip(svc: Obj) -> str:
    spec = _dict(svc.get("spec"))
    external = [str(x) for x in _list(spec.get("externalIPs"))]
    type_ = spec.get("type") or "ClusterIP"
    if type_ in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if type_ == "LoadBalancer":
        ingress = _list(_d(svc, "status", "loadBalancer", "ingress"))
        lb = [str(_d(i, "ip") or _d(i, "hostname") or "") for i in ingress]
        lb = [x for x in lb if x]
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if type_ == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def service_cells(svc: Obj, now: datetime.datetime) -> Cells:
    spec = _dict(svc.get("spec"))
    ips = _list(spec.get("clusterIPs"))
    internal = str(ips[0]) if ips else str(spec.get("clusterIP") or "<none>")
    pieces = []
    for port in _list(spec.get("ports")):
        proto = _d(port, "protocol") or "TCP"
        node_port = _int(_d(port, "nodePort"))
        if node_port > 0:
            pieces.append(f"{_int(_d(port, 'port'))}:{node_port}/{proto}")
        else:
            pieces.append(f"{_int(_d(port, 'port'))}/{proto}")
    return [
        _name(svc),
        str(spec.get("type") or "ClusterIP"),
        internal,
        _external_ip(svc),
        ",".join(pieces) or "<none>",
        _age(svc, now),
        format_labels(spec.get("selector")),
    ]


def endpoints_cells(ep: Obj, now: datetime.datetime) -> Cells:
    subsets = _list(ep.get("subsets"))
    if not subsets:
        return [_name(ep), "<none>", _age(ep, now)]
    items: list[str] = []
    count = 0
    for ss in subsets:
        addresses = _list(_d(ss, "addresses"))
        ports = _list(_d(ss, "ports"))
        if not ports:
            count += len(addresses)
            items += [str(_d(a, "ip")) for a in addresses][: max(0, 3 - len(items))]
            continue
        for port in ports:
            count += len(addresses)
            for a in addresses:
                if len(items) < 3:
                    items.append(_join_host_port(str(_d(a, "ip")), _int(_d(port, "port"))))
    return [_name(ep), _more(items, count, empty=""), _age(ep, now)]


def endpointslice_cells(es: Obj, now: datetime.datetime) -> Cells:
    ports: list[str] = []
    port_count = 0
    for port in _list(es.get("ports")):
        if len(ports) < 3:
            number = _d(port, "port")
            name = _d(port, "name")
            ports.append(
                str(number) if isinstance(number, int) else str(name) if name is not None else "*"
            )
        port_count += 1
    addresses: list[str] = []
    address_count = 0
    for endpoint in _list(es.get("endpoints")):
        for address in _list(_d(endpoint, "addresses")):
            if len(addresses) < 3:
                addresses.append(str(address))
            address_count += 1
    return [
        _name(es),
        str(es.get("addressType") or ""),
        _more(ports, port_count),
        _more(addresses, address_count),
        _age(es, now),
    ]


# -- workloads -------------------------------------------------------------------------

_CONTAINERS_COL = _col(
    "Containers", priority=1, description="Names of each container in the template."
)
_IMAGES_COL = _col(
    "Images", priority=1, description="Images referenced by each container in the template."
)
_SELECTOR_COL = _col("Selector", priority=1, description="Label selector for pods.")

DEPLOYMENT_COLUMNS = [
    NAME_COL,
    _col("Ready", description="Number of the pod with ready state"),
    _col(
        "Up-to-date",
        description="Pods targeted by this deployment with the desired template.",
    ),
    _col(
        "Available",
        description="Available pods targeted by this deployment.",
    ),
    AGE_COL,
    _CONTAINERS_COL,
    _IMAGES_COL,
    _SELECTOR_COL,
]


def deployment_cells(obj: Obj, now: datetime.datetime) -> Cells:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    desired = _int(spec.get("replicas", 1))
    names, images = _containers_cells(_d(spec, "template", "spec"))
    return [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{desired}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(obj, now),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


REPLICASET_COLUMNS = [
    NAME_COL,
    _col("Desired", "integer", "Number of desired pods."),
    _col("Current", "integer", "Replicas is the most recently observed number of replicas."),
    _col("Ready", "integer", "The number of ready replicas for this replica set."),
    AGE_COL,
    _CONTAINERS_COL,
    _IMAGES_COL,
    _SELECTOR_COL,
]


def replicaset_cells(obj: Obj, now: datetime.datetime) -> Cells:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    names, images = _containers_cells(_d(spec, "template", "spec"))
    return [
        _name(obj),
        _int(spec.get("replicas", 1)),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(obj, now),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


STATEFULSET_COLUMNS = [
    NAME_COL,
    _col("Ready", description="Number of the pod with ready state"),
    AGE_COL,
    _CONTAINERS_COL,
    _IMAGES_COL,
]


def statefulset_cells(obj: Obj, now: datetime.datetime) -> Cells:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    names, images = _containers_cells(_d(spec, "template", "spec"))
    ready = f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas', 1))}"
    return [_name(obj), ready, _age(obj, now), names, images]


DAEMONSET_COLUMNS = [
    NAME_COL,
    _col("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
    _col("Current", "integer", "The number of nodes running at least one daemon pod."),
    _col(
        "Ready",
        "integer",
        "Nodes running a ready daemon pod.",
    ),
    _col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    _col(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more available.",
    ),
    _col(
        "Node Selector",
        description="NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
    AGE_COL,
    _CONTAINERS_COL,
    _IMAGES_COL,
    _SELECTOR_COL,
]


def daemonset_cells(obj: Obj, now: datetime.datetime) -> Cells:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    names, images = _containers_cells(_d(spec, "template", "spec"))
    return [
        _name(obj),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        format_labels(_d(spec, "template", "spec", "nodeSelector")),
        _age(obj, now),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


JOB_COLUMNS = [
    NAME_COL,
    _col("Status", description="Status of the job."),
    _col("Completions", description="The number of pods which reached phase Succeeded."),
    _col("Duration", description="Time required to complete the job."),
    AGE_COL,
    _CONTAINERS_COL,
    _IMAGES_COL,
    _SELECTOR_COL,
]


def job_cells(job: Obj, now: datetime.datetime) -> Cells:
    spec, status = _dict(job.get("spec")), _dict(job.get("status"))
    succeeded = _int(status.get("succeeded"))
    if isinstance(spec.get("completions"), int):
        completions = f"{succeeded}/{spec['completions']}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {_int(spec.get('parallelism'))}"
    else:
        completions = f"{succeeded}/1"
    start = parse_time(status["startTime"]) if isinstance(status.get("startTime"), str) else None
    end = (
        parse_time(status["completionTime"])
        if isinstance(status.get("completionTime"), str)
        else None
    )
    duration = ""
    if start is not None:
        duration = human_duration(((end or now) - start).total_seconds())
    conditions = status.get("conditions")
    if _has_condition(conditions, "Complete"):
        state = "Complete"
    elif _has_condition(conditions, "Failed"):
        state = "Failed"
    elif _d(job, "metadata", "deletionTimestamp"):
        state = "Terminating"
    elif _has_condition(conditions, "Suspended"):
        state = "Suspended"
    elif _has_condition(conditions, "FailureTarget"):
        state = "FailureTarget"
    elif _has_condition(conditions, "SuccessCriteriaMet"):
        state = "SuccessCriteriaMet"
    else:
        state = "Running"
    names, images = _containers_cells(_d(spec, "template", "spec"))
    return [
        _name(job),
        state,
        completions,
        duration,
        _age(job, now),
        names,
        images,
        _format_selector(spec.get("selector")),
    ]


CRONJOB_COLUMNS = [
    NAME_COL,
    _col("Schedule", description="The schedule in Cron format."),
    _col("Timezone", description="The time zone name for the given schedule."),
    _col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions."),
    _col("Active", "integer", "A list of pointers to currently running jobs."),
    _col(
        "Last Schedule",
        description="Information when was the last time the job was successfully scheduled.",
    ),
    AGE_COL,
    _CONTAINERS_COL,
    _IMAGES_COL,
    _SELECTOR_COL,
]


def cronjob_cells(obj: Obj, now: datetime.datetime) -> Cells:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    last = status.get("lastScheduleTime")
    job_spec = _d(spec, "jobTemplate", "spec")
    names, images = _containers_cells(_d(job_spec, "template", "spec"))
    return [
        _name(obj),
        str(spec.get("schedule") or ""),
        str(spec.get("timeZone") or "<none>"),
        bool(spec.get("suspend")),
        len(_list(status.get("active"))),
        since(last, now) if last else "<none>",
        _age(obj, now),
        names,
        images,
        _format_selector(_d(job_spec, "selector")),
    ]


# -- cluster objects -------------------------------------------------------------------

NODE_COLUMNS = [
    NAME_COL,
    _col("Status", description="The status of the node"),
    _col("Roles", description="The roles of the node"),
    AGE_COL,
    _col("Version", description="Kubelet Version reported by the node."),
    _col("Internal-IP", priority=1, description="List of addresses reachable to the node."),
    _col("External-IP", priority=1, description="List of addresses reachable to the node."),
    _col(
        "OS-Image",
        priority=1,
        description="OS Image reported by the node from /etc/os-release.",
    ),
    _col(
        "Kernel-Version",
        priority=1,
        description="Kernel Version reported by the node from 'uname -r'.",
    ),
    _col(
        "Container-Runtime",
        priority=1,
        description="ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
]


def _node_address(node: Obj, type_: str) -> str:
    for addr in _list(_d(node, "status", "addresses")):
        if _d(addr, "type") == type_:
            return str(_d(addr, "address") or "")
    return "<none>"


def node_cells(node: Obj, now: datetime.datetime) -> Cells:
    status = _dict(node.get("status"))
    states: list[str] = []
    for cond in _list(status.get("conditions")):
        if _d(cond, "type") == "Ready":
            states = ["Ready" if _d(cond, "status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if _d(node, "spec", "unschedulable") is True:
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in _dict(_d(node, "metadata", "labels")).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/") :]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    info = _dict(status.get("nodeInfo"))
    return [
        _name(node),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        _age(node, now),
        str(info.get("kubeletVersion") or ""),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        str(info.get("osImage") or "<unknown>"),
        str(info.get("kernelVersion") or "<unknown>"),
        str(info.get("containerRuntimeVersion") or "<unknown>"),
    ]


NAMESPACE_COLUMNS = [NAME_COL, _col("Status", description="The status of the namespace"), AGE_COL]


def namespace_cells(ns: Obj, now: datetime.datetime) -> Cells:
    return [_name(ns), str(_d(ns, "status", "phase") or ""), _age(ns, now)]


CONFIGMAP_COLUMNS = [
    NAME_COL,
    _col("Data", "string", "Data contains the configuration data."),
    AGE_COL,
]


def configmap_cells(cm: Obj, now: datetime.datetime) -> Cells:
    return [_name(cm), len(_dict(cm.get("data"))) + len(_dict(cm.get("binaryData"))), _age(cm, now)]


SECRET_COLUMNS = [
    NAME_COL,
    _col("Type", description="Used to facilitate programmatic handling of secret data."),
    _col("Data", "string", "Data contains the secret data."),
    AGE_COL,
]


def secret_cells(secret: Obj, now: datetime.datetime) -> Cells:
    count = len(_dict(secret.get("data")).keys() | _dict(secret.get("stringData")).keys())
    return [_name(secret), str(secret.get("type") or "Opaque"), count, _age(secret, now)]


SERVICEACCOUNT_COLUMNS = [
    NAME_COL,
    _col(
        "Secrets",
        "string",
        "Secrets pods using this ServiceAccount may use.",
    ),
    AGE_COL,
]


def serviceaccount_cells(sa: Obj, now: datetime.datetime) -> Cells:
    return [_name(sa), len(_list(sa.get("secrets"))), _age(sa, now)]


LEASE_COLUMNS = [NAME_COL, _col("Holder", description="The holder of the lease."), AGE_COL]


def lease_cells(lease: Obj, now: datetime.datetime) -> Cells:
    return [_name(lease), str(_d(lease, "spec", "holderIdentity") or ""), _age(lease, now)]


def created_at_cells(obj: Obj, now: datetime.datetime) -> Cells:
    """kube's default table convertor (CRDs, Roles): the raw creation time in RFC 3339."""
    created = _d(obj, "metadata", "creationTimestamp")
    parsed = parse_time(created) if isinstance(created, str) else None
    text = (
        parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if parsed
        else "0001-01-01T00:00:00Z"
    )
    return [_name(obj), text]


def name_age_cells(obj: Obj, now: datetime.datetime) -> Cells:
    return [_name(obj), _age(obj, now)]


# -- events ----------------------------------------------------------------------------

EVENT_COLUMNS = [
    _col(
        "Last Seen",
        description="The time at which the most recent occurrence of this event was recorded.",
    ),
    _col(
        "Type",
        description="Type of this event (Normal, Warning), new types could be added in the future",
    ),
    _col(
        "Reason",
        description="A short, machine understandable reason for the transition.",
    ),
    _col("Object", description="The object that this event is about."),
    _col(
        "Subobject",
        priority=1,
        description="The piece of the object this event is about.",
    ),
    _col(
        "Source",
        priority=1,
        description="The component reporting this event.",
    ),
    _col("Message", description="A human-readable description of the status of this operation."),
    _col(
        "First Seen",
        priority=1,
        description="The time at which the event was first recorded.",
    ),
    _col("Count", "string", priority=1, description="The number of times this event has occurred."),
    _col("Name", priority=1, fmt="name", description=NAME_DESCRIPTION),
]


def _as_core_event(ev: Obj) -> Obj:
    """An events.k8s.io/v1 Event seen as core/v1, whose fields kube's printer reads."""
    if str(ev.get("apiVersion") or "").startswith("events.k8s.io/"):
        return convert(ev, "v1")
    return ev


def event_cells(raw: Obj, now: datetime.datetime) -> Cells:
    ev = _as_core_event(raw)
    first = since(ev.get("firstTimestamp"), now)
    if not ev.get("firstTimestamp"):
        first = since(ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = _int(ev.get("count"))
    series = ev.get("series")
    if isinstance(series, dict):
        last = since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    involved = _dict(ev.get("involvedObject"))
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = _dict(ev.get("source"))
    component = str(source.get("component") or ev.get("reportingComponent") or "")
    host = str(source.get("host") or ev.get("reportingInstance") or "")
    source_text = f"{component}, {host}" if host else component
    return [
        last,
        str(ev.get("type") or ""),
        str(ev.get("reason") or ""),
        target,
        str(involved.get("fieldPath") or ""),
        source_text,
        str(ev.get("message") or "").strip(),
        first,
        count,
        _name(raw),
    ]


# -- custom resources ------------------------------------------------------------------

_SEGMENT = re.compile(
    r"""\.(?P<key>[A-Za-z0-9_\-$]+)|\[(?P<index>-?\d+|\*)\]|\[['"](?P<qkey>[^'"]+)['"]\]"""
    r"""|\[\?\(@\.(?P<fkey>[A-Za-z0-9_.\-]+)\s*==\s*['"](?P<fval>[^'"]*)['"]\)\]"""
)


@functools.lru_cache(maxsize=256)
def _parse_jsonpath(path: str) -> tuple[tuple[str, str, str], ...] | None:
    """Simple JSONPath (`.a.b[0]`, `['x.y']`, `[*]`, `[?(@.type=="Ready")]`) into steps."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    steps: list[tuple[str, str, str]] = []
    pos = 0
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        if m is None:
            return None
        if m.group("key") is not None:
            steps.append(("key", m.group("key"), ""))
        elif m.group("qkey") is not None:
            steps.append(("key", m.group("qkey"), ""))
        elif m.group("index") is not None:
            steps.append(("index", m.group("index"), ""))
        else:
            steps.append(("filter", m.group("fkey"), m.group("fval")))
        pos = m.end()
    return tuple(steps)


def jsonpath_first(obj: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of the first match of a simple JSONPath."""
    steps = _parse_jsonpath(path)
    if steps is None:
        return False, None
    current: list[Any] = [obj]
    for kind, arg, value in steps:
        nxt: list[Any] = []
        for node in current:
            if kind == "key" and isinstance(node, dict) and arg in node:
                nxt.append(node[arg])
            elif kind == "index" and isinstance(node, list):
                if arg == "*":
                    nxt.extend(node)
                elif -len(node) <= int(arg) < len(node):
                    nxt.append(node[int(arg)])
            elif kind == "filter":
                items = node if isinstance(node, list) else [node]
                for item in items:
                    found, got = jsonpath_first(item, "." + arg)
                    if found and str(got) == value:
                        nxt.append(item)
            elif kind == "key" and isinstance(node, list) and arg:
                continue
        current = nxt
        if not current:
            return False, None
    return True, current[0]


def _go_text(value: Any) -> str:
    """How kube's JSONPath printer renders a value in a `string` column."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _cell_for(type_: str, value: Any, now: datetime.datetime) -> Any:
    """apiextensions' cellForJSONValue: typed cells, null when the type does not fit."""
    if value is None:
        return None
    if type_ == "string":
        return _go_text(value)
    if type_ == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        parsed = parse_time(value)
        if parsed is None:
            return "<invalid>"
        return human_duration((now - parsed).total_seconds())
    return None


def crd_columns(rt: ResourceType) -> list[Column]:
    """Name, then the CRD's printer columns (kube defaults them to Age when none are given)."""
    columns = [dict(NAME_COL)]
    printer = list(rt.printer_columns) or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]
    for col in printer:
        description = col.get("description") or (
            f"Custom resource definition column (in JSONPath format): {col.get('jsonPath', '')}"
        )
        columns.append(
            {
                "name": col.get("name", ""),
                "type": col.get("type", "string"),
                "format": col.get("format", ""),
                "description": description,
                "priority": int(col.get("priority") or 0),
            }
        )
    return columns


def _crd_cells(rt: ResourceType) -> Callable[[Obj, datetime.datetime], Cells]:
    printer = list(rt.printer_columns) or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]

    def cells(obj: Obj, now: datetime.datetime) -> Cells:
        out: Cells = [_name(obj)]
        for col in printer:
            found, value = jsonpath_first(obj, str(col.get("jsonPath", "")))
            out.append(_cell_for(str(col.get("type", "string")), value, now) if found else None)
        return out

    return cells


# -- dispatch --------------------------------------------------------------------------

CellsFn = Callable[[Obj, datetime.datetime], Cells]

PRINTERS: dict[tuple[str, str], tuple[list[Column], CellsFn]] = {
    ("", "Pod"): (POD_COLUMNS, pod_cells),
    ("", "Service"): (SERVICE_COLUMNS, service_cells),
    ("", "Endpoints"): (
        [NAME_COL, _col("Endpoints", description="Endpoints of the service"), AGE_COL],
        endpoints_cells,
    ),
    ("", "Node"): (NODE_COLUMNS, node_cells),
    ("", "Namespace"): (NAMESPACE_COLUMNS, namespace_cells),
    ("", "ConfigMap"): (CONFIGMAP_COLUMNS, configmap_cells),
    ("", "Secret"): (SECRET_COLUMNS, secret_cells),
    ("", "ServiceAccount"): (SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
    ("", "Event"): (EVENT_COLUMNS, event_cells),
    ("events.k8s.io", "Event"): (EVENT_COLUMNS, event_cells),
    ("", "LimitRange"): ([NAME_COL, CREATED_AT_COL], created_at_cells),
    ("apps", "Deployment"): (DEPLOYMENT_COLUMNS, deployment_cells),
    ("apps", "ReplicaSet"): (REPLICASET_COLUMNS, replicaset_cells),
    ("apps", "StatefulSet"): (STATEFULSET_COLUMNS, statefulset_cells),
    ("apps", "DaemonSet"): (DAEMONSET_COLUMNS, daemonset_cells),
    ("batch", "Job"): (JOB_COLUMNS, job_cells),
    ("batch", "CronJob"): (CRONJOB_COLUMNS, cronjob_cells),
    ("coordination.k8s.io", "Lease"): (LEASE_COLUMNS, lease_cells),
    (
        "discovery.k8s.io",
        "EndpointSlice",
    ): (
        [
            NAME_COL,
            _col(
                "AddressType",
                description="The type of address carried by this EndpointSlice.",
            ),
            _col(
                "Ports",
                description="Network ports exposed by each endpoint in this slice.",
            ),
            _col("Endpoints", description="endpoints is a list of unique endpoints in this slice."),
            AGE_COL,
        ],
        endpointslice_cells,
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): (
        [NAME_COL, CREATED_AT_COL],
        created_at_cells,
    ),
    ("rbac.authorization.k8s.io", "Role"): ([NAME_COL, CREATED_AT_COL], created_at_cells),
    ("rbac.authorization.k8s.io", "ClusterRole"): ([NAME_COL, CREATED_AT_COL], created_at_cells),
}


def columns_and_cells(rt: ResourceType) -> tuple[list[Column], CellsFn]:
    """The column definitions and cell function for one resource type."""
    if rt.is_crd:
        return crd_columns(rt), _crd_cells(rt)
    found = PRINTERS.get((rt.group, rt.kind))
    if found is not None:
        return found
    return [NAME_COL, AGE_COL], name_age_cells


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    rt: ResourceType,
    objects: list[Obj],
    *,
    include_object: str = "Metadata",
    resource_version: str = "",
    continue_token: str | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of `objects`, as kube-apiserver renders it for kubectl."""
    moment = now or datetime.datetime.now(datetime.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    columns, cells = columns_and_cells(rt)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, moment)}
        if rt.group == "" and rt.kind == "Pod":
            conditions = _pod_row_conditions(obj)
            if conditions:
                row["conditions"] = conditions
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in columns],
        "rows": rows,
    }
