"""Which liveness and readiness probes the operator adds to each Ray container.

KubeRay computes these inside its pod builder; here the decision is a value of its
own, because the probe injector records it on the RayCluster
(`ray.io/injected-probes`, stamped with the generation it was computed for) and the
RayCluster controller merges it into the Pods it creates. Both sides call this
module, so they cannot disagree about the rules or about the annotation's encoding.

The rules, timings and command strings are KubeRay's (`initLivenessAndReadinessProbe`,
reference section 2): users' dashboards, alerts and `kubectl describe` output expect
them byte for byte. Quirks kept on purpose: the GCS check's wget timeout is KubeRay's
readiness failureThreshold (10), the Serve check's is the readiness initial delay (10).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    DEFAULT_DASHBOARD_AGENT_LISTEN_PORT,
    DEFAULT_DASHBOARD_PORT,
    DEFAULT_SERVE_PORT,
    HEAD_GROUP_NAME,
    INJECTED_PROBES_ANNOTATION,
    PROBE_INJECTION_ANNOTATION,
    PROBES_GENERATION_ANNOTATION,
    RAY_ORIGINATED_FROM_CRD_LABEL,
    RAYSERVICE_KIND,
    SERVE_PORT_NAME,
)
from kuberay_py.api.k8s_names import VersionError, parse_generic_version, version_less_than
from kuberay_py.api.pod_template import ray_container
from kuberay_py.api.raycluster import RayCluster

__all__ = [
    "LIVENESS",
    "READINESS",
    "current_decision",
    "decide_probes",
    "encode_decision",
    "parse_decision",
    "probes_enabled",
    "supports_unified_health_check",
    "wget_health_command",
]

Probe = dict[str, Any]
Decision = dict[str, dict[str, Probe]]

LIVENESS = "livenessProbe"
READINESS = "readinessProbe"

AGENT_PORT_PARAM = "dashboard-agent-listen-port"
DASHBOARD_PORT_PARAM = "dashboard-port"

RAYLET_HEALTH_PATH = "api/local_raylet_healthz"
GCS_HEALTH_PATH = "api/gcs_healthz"
SERVE_PROXY_HEALTH_PATH = "-/healthz"
#: Ray >= 2.53 answers one HTTP health endpoint on the dashboard agent port.
UNIFIED_HEALTH_PATH = "/api/healthz"
UNIFIED_HEALTH_MIN_VERSION = (2, 53, 0)

# KubeRay's timing constants (utils/constant.go).
LIVENESS_INITIAL_DELAY = 30
LIVENESS_TIMEOUT = 2
HEAD_LIVENESS_TIMEOUT = 5
LIVENESS_PERIOD = 5
LIVENESS_SUCCESS = 1
LIVENESS_FAILURE = 120
READINESS_INITIAL_DELAY = 10
READINESS_TIMEOUT = 2
HEAD_READINESS_TIMEOUT = 5
READINESS_PERIOD = 5
READINESS_SUCCESS = 1
READINESS_FAILURE = 10
SERVE_READINESS_FAILURE = 1

# wget timeouts inside the exec commands: KubeRay reuses other constants for them.
RAYLET_WGET_TIMEOUT = READINESS_TIMEOUT
GCS_WGET_TIMEOUT = READINESS_FAILURE
SERVE_WGET_TIMEOUT = READINESS_INITIAL_DELAY

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
#: Go's strconv.ParseInt(s, 10, 32) syntax: an optional sign, then ASCII digits only.
_GO_DECIMAL = re.compile(r"[+-]?[0-9]+")


def probes_enabled(c: RayCluster, config: OperatorConfig) -> bool:
    """The operator switch AND the cluster's `ray.io/probe-injection` annotation.

    "false" is matched case-insensitively, as KubeRay reads ENABLE_PROBES_INJECTION.
    """
    if not config.enable_probes_injection:
        return False
    value = c.annotations.get(PROBE_INJECTION_ANNOTATION)
    return not (isinstance(value, str) and value.lower() == "false")


def supports_unified_health_check(ray_version: str | None) -> bool:
    """`rayVersion` >= 2.53.0 with KubeRay's lenient version parser; unparsable -> False.

    The parser is apimachinery's ParseGeneric: optional leading whitespace and `v`, at
    least two numeric components, anything after them ignored, and no leading zero on
    the first component. Missing components compare as zero.
    """
    if not ray_version:
        return False
    try:
        version = parse_generic_version(ray_version)
    except VersionError:
        return False
    return not version_less_than(version, UNIFIED_HEALTH_MIN_VERSION)


def wget_health_command(timeout: int, port: int, path: str) -> str:
    """One health check as KubeRay writes it (`BaseWgetHealthCommand`)."""
    return f"wget --tries 1 -T {timeout} -q -O- http://localhost:{port}/{path} | grep success"


def _param_port(params: Mapping[str, str], key: str, default: int) -> int:
    """A port from rayStartParams as KubeRay reads it: Go's int32 parse, else the default."""
    raw = params.get(key)
    if not isinstance(raw, str) or not _GO_DECIMAL.fullmatch(raw):
        return default
    value = int(raw)
    return value if _INT32_MIN <= value <= _INT32_MAX else default


def _serve_port(container: Mapping[str, Any]) -> int:
    """The container port named `serve`, else 8000 (KubeRay's FindContainerPort)."""
    ports = container.get("ports")
    for port in ports if isinstance(ports, list) else ():
        if isinstance(port, Mapping) and port.get("name") == SERVE_PORT_NAME:
            value = port.get("containerPort", 0)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0
    return DEFAULT_SERVE_PORT


def _exec(commands: list[str]) -> dict[str, Any]:
    return {"exec": {"command": ["bash", "-c", " && ".join(commands)]}}


def _timings(
    initial_delay: int, timeout: int, period: int, success: int, failure: int
) -> dict[str, int]:
    return {
        "initialDelaySeconds": initial_delay,
        "timeoutSeconds": timeout,
        "periodSeconds": period,
        "successThreshold": success,
        "failureThreshold": failure,
    }


def _group_probes(
    container: Mapping[str, Any],
    params: Mapping[str, str],
    *,
    head: bool,
    rayservice: bool,
    unified: bool,
) -> dict[str, Probe]:
    """The probes for one group's Ray container, leaving out each one the user wrote."""
    agent_port = _param_port(params, AGENT_PORT_PARAM, DEFAULT_DASHBOARD_AGENT_LISTEN_PORT)
    commands = [wget_health_command(RAYLET_WGET_TIMEOUT, agent_port, RAYLET_HEALTH_PATH)]
    if head:
        dashboard_port = _param_port(params, DASHBOARD_PORT_PARAM, DEFAULT_DASHBOARD_PORT)
        commands.append(wget_health_command(GCS_WGET_TIMEOUT, dashboard_port, GCS_HEALTH_PATH))
    handler = (
        {"httpGet": {"path": UNIFIED_HEALTH_PATH, "port": agent_port}}
        if unified
        else _exec(commands)
    )
    out: dict[str, Probe] = {}
    # A probe the user wrote (any non-null value, even `{}`) is theirs: never replaced.
    if container.get(LIVENESS) is None:
        timeout = HEAD_LIVENESS_TIMEOUT if head else LIVENESS_TIMEOUT
        out[LIVENESS] = {
            **handler,
            **_timings(
                LIVENESS_INITIAL_DELAY,
                timeout,
                LIVENESS_PERIOD,
                LIVENESS_SUCCESS,
                LIVENESS_FAILURE,
            ),
        }
    if container.get(READINESS) is None:
        timeout = HEAD_READINESS_TIMEOUT if head else READINESS_TIMEOUT
        failure = READINESS_FAILURE
        readiness_handler = handler
        if rayservice and not head:
            # Workers of a RayService leave the serve endpoints while their Serve proxy is
            # down; this stays an exec probe even where the unified HTTP check exists.
            # Heads never get it: the RayService controller polls their proxy instead.
            failure = SERVE_READINESS_FAILURE
            serve = wget_health_command(
                SERVE_WGET_TIMEOUT, _serve_port(container), SERVE_PROXY_HEALTH_PATH
            )
            readiness_handler = _exec([*commands, serve])
        out[READINESS] = {
            **readiness_handler,
            **_timings(
                READINESS_INITIAL_DELAY, timeout, READINESS_PERIOD, READINESS_SUCCESS, failure
            ),
        }
    return out


def decide_probes(c: RayCluster, config: OperatorConfig) -> Decision:
    """The probes to inject, keyed by group name (`headgroup` for the head).

    Every group has an entry; it holds only the probes the operator adds, so a group
    whose user wrote both probes maps to `{}`. Injection switched off -> `{}` overall.
    A worker group literally named `headgroup` (KubeRay allows it) would share the
    head's key; the head's entry wins, being the one whose loss breaks the cluster.
    """
    if not probes_enabled(c, config):
        return {}
    rayservice = c.labels.get(RAY_ORIGINATED_FROM_CRD_LABEL) == RAYSERVICE_KIND
    unified = supports_unified_health_check(c.spec.ray_version)
    decision: Decision = {}
    for group in c.spec.worker_group_specs or []:
        decision[group.group_name] = _group_probes(
            ray_container(group.template),
            group.ray_start_params or {},
            head=False,
            rayservice=rayservice,
            unified=unified,
        )
    head = c.spec.head_group_spec
    decision[HEAD_GROUP_NAME] = _group_probes(
        ray_container(head.template),
        head.ray_start_params or {},
        head=True,
        rayservice=rayservice,
        unified=unified,
    )
    return decision


def encode_decision(decision: Decision) -> str:
    """The `ray.io/injected-probes` value: compact JSON with sorted keys, so one decision
    has exactly one spelling and an unchanged decision never causes a write."""
    return json.dumps(decision, sort_keys=True, separators=(",", ":"))


def parse_decision(text: str | None) -> Decision | None:
    """Read `ray.io/injected-probes`; None when absent or not a decision's shape."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    for probes in value.values():
        if not isinstance(probes, dict) or not all(isinstance(p, dict) for p in probes.values()):
            return None
    return value


def current_decision(c: RayCluster, config: OperatorConfig) -> Decision | None:
    """What the RayCluster controller may inject now.

    `{}` when injection is off (inject nothing, wait for nothing); None while the stamp
    is missing, for another generation, or unreadable (create no Pod yet); otherwise
    the recorded decision.
    """
    if not probes_enabled(c, config):
        return {}
    annotations = c.annotations
    generation = c.metadata.get("generation")
    if generation is None or annotations.get(PROBES_GENERATION_ANNOTATION) != str(generation):
        return None
    return parse_decision(annotations.get(INJECTED_PROBES_ANNOTATION))
