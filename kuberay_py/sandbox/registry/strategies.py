"""Kind-specific defaults and validation (kube's per-kind registry strategies).

Defaulting is what makes `kubectl get -o yaml` and `describe` look like a real
cluster's output and what controllers read back (restartPolicy, Job
backoffLimit, Service targetPort). Every default here is idempotent, so a
re-applied manifest compares equal and does not bump generation. Validation
covers the required fields whose absence would make a controller crash,
with kube's field paths and messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import Cause

Obj = dict[str, Any]

# Kinds whose status is the controllers' alone: a create starts from an empty status.
_RESET_STATUS_ON_CREATE = {
    ("", "Service"),
    ("", "ResourceQuota"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("networking.k8s.io", "Ingress"),
    ("policy", "PodDisruptionBudget"),
    ("autoscaling", "HorizontalPodAutoscaler"),
}


def _required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", f"Required value{': ' + detail if detail else ''}", field)


def _unsupported(field: str, value: Any, supported: list[str]) -> Cause:
    quoted = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        "FieldValueNotSupported", f'Unsupported value: "{value}": supported values: {quoted}', field
    )


def _invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_render(value)}: {detail}", field)


def _render(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _dict(parent: Obj, key: str) -> Obj:
    """parent[key] as a dict, creating it (a caller-owned copy: bodies are cloned first)."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


# -- pods and pod templates ------------------------------------------------------------------


def _default_container(c: Any) -> None:
    if not isinstance(c, dict):
        return
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = c.get("image")
    if not c.get("imagePullPolicy") and isinstance(image, str):
        last = image.rsplit("/", 1)[-1]
        tagged = ":" in last and not last.endswith(":latest")
        c["imagePullPolicy"] = "IfNotPresent" if tagged or "@" in last else "Always"
    c.setdefault("resources", {})
    for port in c.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)


def default_pod_spec(spec: Any) -> None:
    """SetDefaults_PodSpec and its containers (shared by Pods and every pod template)."""
    if not isinstance(spec, dict):
        return
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or ():
            _default_container(c)


def _qos_class(spec: Obj) -> str:
    containers = [c for c in spec.get("containers") or () if isinstance(c, dict)]
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        requests = res.get("requests") or {}
        limits = res.get("limits") or {}
        if requests or limits:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits or requests.get(r, limits[r]) != limits[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]


def _pull_policy_causes(c: Obj, cpath: str) -> list[Cause]:
    policy = c.get("imagePullPolicy")
    if policy in (None, "", *PULL_POLICIES):
        return []  # unset is defaulted before validation
    return [_unsupported(f"{cpath}.imagePullPolicy", policy, PULL_POLICIES)]


def _validate_init_containers(spec: Obj, path: str) -> list[Cause]:
    """The checks kube makes of init containers that a controller could trip over."""
    causes: list[Cause] = []
    inits = spec.get("initContainers")
    if not isinstance(inits, list):
        return causes
    for i, c in enumerate(inits):
        cpath = f"{path}.initContainers[{i}]"
        if not isinstance(c, dict):
            causes.append(_required(cpath))
            continue
        causes += _pull_policy_causes(c, cpath)
        policy = c.get("restartPolicy")
        if policy not in (None, "Always"):
            causes.append(_unsupported(f"{cpath}.restartPolicy", policy, ["Always"]))
    return causes


def _validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    """kube's ValidatePodSpec order: containers, init containers, then restartPolicy."""
    if not isinstance(spec, dict):
        return [_required(path)]
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        causes.append(_required(f"{path}.containers"))
    else:
        seen: set[str] = set()
        for i, c in enumerate(containers):
            cpath = f"{path}.containers[{i}]"
            if not isinstance(c, dict):
                causes.append(_required(cpath))
                continue
            name = c.get("name")
            if not name:
                causes.append(_required(f"{cpath}.name"))
            elif name in seen:
                causes.append(
                    Cause("FieldValueDuplicate", f'Duplicate value: "{name}"', f"{cpath}.name")
                )
            else:
                seen.add(str(name))
            if not c.get("image"):
                causes.append(_required(f"{cpath}.image"))
            causes += _pull_policy_causes(c, cpath)
            if c.get("restartPolicy") is not None:
                causes.append(
                    Cause(
                        "FieldValueForbidden",
                        "Forbidden: may not be set for non-init containers",
                        f"{cpath}.restartPolicy",
                    )
                )
    causes += _validate_init_containers(spec, path)
    policy = spec.get("restartPolicy")
    if policy not in (None, "", *RESTART_POLICIES):
        causes.append(_unsupported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    return causes


def _default_template(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        template = spec.get("template")
        if isinstance(template, dict):
            default_pod_spec(template.get("spec"))


def _default_requests_from_limits(spec: Obj) -> None:
    """SetDefaults_Pod: a container with a limit but no request for a resource requests
    its limit (pods only: templates keep what was written)."""
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or ():
            if not isinstance(c, dict) or not isinstance(c.get("resources"), dict):
                continue
            limits = c["resources"].get("limits")
            if not isinstance(limits, dict) or not limits:
                continue
            requests = c["resources"].get("requests")
            if not isinstance(requests, dict):
                requests = c["resources"]["requests"] = {}
            for name, value in limits.items():
                requests.setdefault(name, value)


def prepare_pod(obj: Obj, old: Obj | None) -> None:
    spec = _dict(obj, "spec")
    default_pod_spec(spec)
    _default_requests_from_limits(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    if "serviceAccountName" not in spec:
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    if old is None:
        # DefaultTolerationSeconds admission: tolerate node trouble for five minutes.
        tolerations = spec.get("tolerations")
        if not isinstance(tolerations, list):
            tolerations = spec["tolerations"] = []
        keys = {t.get("key") for t in tolerations if isinstance(t, dict)}
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if key not in keys:
                tolerations.append(
                    {
                        "key": key,
                        "operator": "Exists",
                        "effect": "NoExecute",
                        "tolerationSeconds": 300,
                    }
                )
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}


POD_UPDATE_FORBIDDEN = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)
_POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _pod_spec_fingerprint(spec: Obj, old_node: str | None) -> Obj:
    """The spec without the fields an update may change (images, tolerations, ...)."""
    out = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
    if not old_node:
        out.pop("nodeName", None)  # binding sets it once (the scheduler may also update it)
    for key in ("containers", "initContainers"):
        if isinstance(out.get(key), list):
            out[key] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in out[key]
            ]
    return out


def validate_pod(obj: Obj, old: Obj | None) -> list[Cause]:
    causes = _validate_pod_spec(obj.get("spec"), "spec")
    if old is not None and not causes:
        old_spec = old.get("spec") or {}
        node = old_spec.get("nodeName")
        if _pod_spec_fingerprint(obj["spec"], node) != _pod_spec_fingerprint(old_spec, node):
            causes.append(Cause("FieldValueForbidden", POD_UPDATE_FORBIDDEN, "spec"))
    return causes


# -- workloads -------------------------------------------------------------------------------


def _selector_causes(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes: list[Cause] = []
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(_required("spec.selector"))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(_required("spec.template"))
    else:
        labels = (template.get("metadata") or {}).get("labels") or {}
        match = (selector or {}).get("matchLabels") or {} if isinstance(selector, dict) else {}
        if (
            isinstance(match, dict)
            and isinstance(labels, dict)
            and any(labels.get(k) != v for k, v in match.items())
        ):
            causes.append(
                _invalid(
                    "spec.template.metadata.labels",
                    labels,
                    "`selector` does not match template `labels`",
                )
            )
        causes += _validate_pod_spec(template.get("spec"), "spec.template.spec")
    return causes


def _default_rolling_update(spec: Obj, field: str, **parameters: Any) -> None:
    """`spec.<field>.type` defaults to RollingUpdate; a rolling update's unset parameters
    take the workload's defaults."""
    strategy = _dict(spec, field)
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        for key, value in parameters.items():
            rolling.setdefault(key, value)


def prepare_deployment(obj: Obj, old: Obj | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_rolling_update(spec, "strategy", maxUnavailable="25%", maxSurge="25%")
    _default_template(obj)


def prepare_replicaset(obj: Obj, old: Obj | None) -> None:
    _dict(obj, "spec").setdefault("replicas", 1)
    _default_template(obj)


def prepare_statefulset(obj: Obj, old: Obj | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    _default_rolling_update(spec, "updateStrategy", partition=0)
    _default_template(obj)


def prepare_daemonset(obj: Obj, old: Obj | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("revisionHistoryLimit", 10)
    _default_rolling_update(spec, "updateStrategy", maxUnavailable=1, maxSurge=0)
    _default_template(obj)


JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def prepare_job(obj: Obj, old: Obj | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("suspend", False)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = _dict(spec, "template")
    default_pod_spec(template.get("spec"))
    meta = obj["metadata"]
    if old is None and not spec.get("manualSelector"):
        # The generated selector ties the Job to its pods by uid (kube's job strategy).
        uid, name = meta["uid"], meta["name"]
        spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
        tmeta = _dict(template, "metadata")
        labels = _dict(tmeta, "labels")
        labels.setdefault(JOB_UID_LABEL, uid)
        labels.setdefault(JOB_NAME_LABEL, name)
        labels.setdefault("controller-uid", uid)
        labels.setdefault("job-name", name)


def validate_job(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(template, dict):
        return [_required("spec.template")]
    causes = _validate_pod_spec(template.get("spec"), "spec.template.spec")
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(
            _unsupported("spec.template.spec.restartPolicy", policy, ["OnFailure", "Never"])
        )
    for field in ("backoffLimit", "completions", "parallelism"):
        value = spec.get(field)
        if isinstance(value, int) and value < 0:
            causes.append(_invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
    return causes


def prepare_cronjob(obj: Obj, old: Obj | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = _dict(_dict(spec, "jobTemplate"), "spec")
    job_spec.setdefault("backoffLimit", 6)
    default_pod_spec(_dict(job_spec, "template").get("spec"))


# -- services ---------------------------------------------------------------------------------


def prepare_service(obj: Obj, old: Obj | None) -> None:
    spec = _dict(obj, "spec")
    if old is not None:
        # An update that omits the allocated IPs keeps them (kube's service REST does this).
        old_spec = old.get("spec") or {}
        for field in ("clusterIP", "clusterIPs"):
            if field not in spec and field in old_spec:
                spec[field] = old_spec[field]
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if old is None:
        obj["status"] = {"loadBalancer": {}}


def validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes: list[Cause] = []
    stype = spec.get("type")
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(
            _unsupported(
                "spec.type", stype, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
            )
        )
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports")
    if stype == "ExternalName":
        if not spec.get("externalName"):
            causes.append(_required("spec.externalName"))
    elif not ports and not headless:
        causes.append(_required("spec.ports"))
    if isinstance(ports, list):
        for i, port in enumerate(ports):
            ppath = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                causes.append(_required(ppath))
                continue
            value = port.get("port")
            if not isinstance(value, int) or not 1 <= value <= 65535:
                if value is None:
                    causes.append(_required(f"{ppath}.port"))
                else:
                    causes.append(
                        _invalid(f"{ppath}.port", value, "must be between 1 and 65535, inclusive")
                    )
            if len(ports) > 1 and not port.get("name"):
                causes.append(_required(f"{ppath}.name"))
            protocol = port.get("protocol")
            if protocol not in ("TCP", "UDP", "SCTP"):
                causes.append(_unsupported(f"{ppath}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    return causes


# -- config -----------------------------------------------------------------------------------

_CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


def _validate_data_keys(obj: Obj, fields: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    for field in fields:
        data = obj.get(field)
        if data is None:
            continue
        if not isinstance(data, dict):
            causes.append(_invalid(field, data, "must be an object"))
            continue
        for key, value in data.items():
            path = f"{field}[{key}]"
            if len(key) > 253:
                causes.append(_invalid(path, key, "must be no more than 253 characters"))
            if not _CONFIG_KEY_RE.match(key):
                causes.append(_invalid(path, key, _CONFIG_KEY_MSG))
            if not isinstance(value, str):
                causes.append(_invalid(path, value, "must be a string"))
    return causes


def validate_configmap(obj: Obj, old: Obj | None) -> list[Cause]:
    causes = _validate_data_keys(obj, ("data", "binaryData"))
    both = set(obj.get("data") or ()) & set(obj.get("binaryData") or ())
    for key in sorted(both):
        causes.append(_invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
    return causes


def prepare_secret(obj: Obj, old: Obj | None) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        import base64

        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            if isinstance(value, str):
                data[key] = base64.b64encode(value.encode()).decode()


def validate_secret(obj: Obj, old: Obj | None) -> list[Cause]:
    return _validate_data_keys(obj, ("data",))


# -- namespaces -------------------------------------------------------------------------------


def prepare_namespace(obj: Obj, old: Obj | None) -> None:
    name = obj["metadata"]["name"]
    labels = obj["metadata"].get("labels")
    if not isinstance(labels, dict):
        labels = obj["metadata"]["labels"] = {}
    labels["kubernetes.io/metadata.name"] = name
    if old is None:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}


# -- coordination and events ----------------------------------------------------------------


def validate_lease(obj: Obj, old: Obj | None) -> list[Cause]:
    """Leader election relies on these: a non-positive duration would never expire sanely."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        causes.append(_invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        causes.append(
            _invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
        )
    return causes


_EVENT_TYPES = ("Normal", "Warning")


def validate_events_v1_event(obj: Obj, old: Obj | None) -> list[Cause]:
    """events.k8s.io/v1 creates must say when, who and what (kube's ValidateEventCreate)."""
    if old is not None:
        return []
    causes: list[Cause] = []
    if not obj.get("eventTime"):
        causes.append(_required("eventTime"))
    event_type = obj.get("type")
    if event_type not in _EVENT_TYPES:
        causes.append(_invalid("type", "", f"has invalid value: {event_type or ''}"))
    for field in ("reportingController", "reportingInstance", "action", "reason"):
        if not obj.get(field):
            causes.append(_required(field))
    return causes


# -- registry of strategies -------------------------------------------------------------------

Prepare = Callable[[Obj, Obj | None], None]
Validate = Callable[[Obj, Obj | None], list[Cause]]

_PREPARE: dict[tuple[str, str], Prepare] = {
    ("", "Pod"): prepare_pod,
    ("", "Service"): prepare_service,
    ("", "Secret"): prepare_secret,
    ("", "Namespace"): prepare_namespace,
    ("apps", "Deployment"): prepare_deployment,
    ("apps", "ReplicaSet"): prepare_replicaset,
    ("apps", "StatefulSet"): prepare_statefulset,
    ("apps", "DaemonSet"): prepare_daemonset,
    ("batch", "Job"): prepare_job,
    ("batch", "CronJob"): prepare_cronjob,
}

_VALIDATE: dict[tuple[str, str], Validate] = {
    ("", "Pod"): validate_pod,
    ("", "Service"): validate_service,
    ("", "ConfigMap"): validate_configmap,
    ("", "Secret"): validate_secret,
    ("apps", "Deployment"): lambda obj, old: _selector_causes(obj),
    ("apps", "ReplicaSet"): lambda obj, old: _selector_causes(obj),
    ("apps", "StatefulSet"): lambda obj, old: _selector_causes(obj),
    ("apps", "DaemonSet"): lambda obj, old: _selector_causes(obj),
    ("batch", "Job"): validate_job,
    ("coordination.k8s.io", "Lease"): validate_lease,
    ("events.k8s.io", "Event"): validate_events_v1_event,
}


def prepare(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Apply defaults in place; on create (old None) reset controller-owned status."""
    key = (rt.group, rt.kind)
    if old is None and key in _RESET_STATUS_ON_CREATE:
        obj.pop("status", None)
    fn = _PREPARE.get(key)
    if fn is not None and not rt.is_crd:
        fn(obj, old)


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    fn = _VALIDATE.get((rt.group, rt.kind))
    if fn is None or rt.is_crd:
        return []
    return fn(obj, old)
