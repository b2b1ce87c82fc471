"""The `ray start` command line: which flags KubeRay adds, and how it renders them.

Users copy KubeRay's generated command (`$KUBERAY_GEN_RAY_START_CMD`) into their own
scripts and compare pods across operators, so the rendering is reproduced to the
byte, double spaces included: every flag is written as `" --key=value "` and the
pieces are simply concatenated after `"ray start"` / `"ray start --head"`.

Every function returns a new parameter map; the caller's map (part of the cluster
spec) is never touched.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    DEFAULT_DASHBOARD_AGENT_LISTEN_PORT,
    DEFAULT_METRICS_PORT,
    NODE_TYPE_HEAD,
    NODE_TYPE_WORKER,
)
from kuberay_py.api.quantity import parse_quantity

PLASMA_DIRECTORY_PARAM = "plasma-directory"
#: `ray start` flags taking an explicit boolean; for every other flag "false" means "absent".
EXPLICIT_BOOLEAN_PARAMS = ("log-color", "include-dashboard", "include-log-monitor")
#: Container resources Ray knows under another name; the first one (by sorted key) is used.
CUSTOM_ACCELERATORS = {
    "aws.amazon.com/neuroncore": "neuron_cores",
    "google.com/tpu": "TPU",
}
ULIMIT_COMMAND = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"

_MIG_KEY = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


def bash_command(config: OperatorConfig) -> list[str]:
    """The shell every generated command runs in (`-cl` with ENABLE_LOGIN_SHELL)."""
    return ["/bin/bash", "-cl" if config.login_shell else "-c", "--"]


def is_gpu_resource_key(key: str) -> bool:
    """`nvidia.com/gpu`, anything ending in `gpu`, or an NVIDIA MIG slice."""
    return key.endswith("gpu") or _MIG_KEY.search(key) is not None


def _quantity(value: Any) -> Fraction:
    """A quantity's value; a malformed one counts as zero, as an unset kube quantity does."""
    try:
        return parse_quantity(value)
    except (TypeError, ValueError):
        return Fraction(0)


def go_float(value: float) -> str:
    """A float64 as Go's encoding/json writes it: shortest digits, `4` not `4.0`,
    exponent form below 1e-6 and from 1e21 on (`1e-7`, `1e+21`)."""
    if value == 0:
        return "0"
    d = Decimal(repr(value)).normalize()
    if 1e-6 <= abs(value) < 1e21:
        return format(d, "f")
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    text = "".join(str(digit) for digit in digits)
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    exponent = exp + len(text) - 1
    # Go pads the exponent to two digits, then its JSON encoder strips the pad of a
    # negative one again ("e-07" -> "e-7").
    suffix = f"e-{-exponent}" if exponent < 0 else f"e+{exponent:02d}"
    return f"{'-' if sign else ''}{mantissa}{suffix}"


def _go_json_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        out = out.replace(raw, escaped)
    return out


def go_json_resources(resources: Mapping[str, float]) -> str:
    """A `map[string]float64` as Go's json.Marshal writes it (sorted keys, compact)."""
    items = ",".join(
        f"{_go_json_string(k)}:{go_float(float(resources[k]))}" for k in sorted(resources)
    )
    return "{" + items + "}"


def apply_group_resources(
    params: Mapping[str, str], group_resources: Mapping[str, str] | None
) -> dict[str, str]:
    """The group's top-level `resources` map wins over rayStartParams: cpu -> `num-cpus`,
    memory -> `memory` (bytes), GPU keys -> `num-gpus`, the rest -> the `resources` JSON."""
    out = dict(params)
    if not group_resources:
        return out
    custom: dict[str, float] = {}
    for name, quantity in group_resources.items():
        try:
            q = parse_quantity(quantity)
        except (TypeError, ValueError):
            continue  # KubeRay skips (and logs) a resource it cannot parse.
        normalized = name.lower()
        # Integers as kube's Quantity.Value() gives them: rounded up ("500m" cpu -> 1).
        if normalized == "cpu":
            out["num-cpus"] = str(math.ceil(q))
        elif normalized == "memory":
            out["memory"] = str(math.ceil(q))
        elif is_gpu_resource_key(normalized):
            out["num-gpus"] = str(math.ceil(q))
        else:
            custom[name] = float(q)
    if custom:
        out["resources"] = f"'{go_json_resources(custom)}'"
    return out


def apply_group_labels(
    params: Mapping[str, str], group_labels: Mapping[str, str] | None
) -> dict[str, str]:
    """The group's top-level `labels` become Ray node labels (`--labels=k=v,...`, sorted)."""
    out = dict(params)
    if group_labels:
        out["labels"] = ",".join(f"{k}={group_labels[k]}" for k in sorted(group_labels))
    return out


def set_missing_ray_start_params(
    params: Mapping[str, str], node_type: str, head_port: str, fqdn: str
) -> dict[str, str]:
    """KubeRay's defaults: workers dial the head Service, the head's dashboard listens on
    every interface, metrics on 8080, the agent on 52365, and `block` is always forced on
    (the container must live as long as the Ray node)."""
    out = dict(params)
    if node_type == NODE_TYPE_WORKER and "address" not in out:
        out["address"] = f"{fqdn}:{head_port}"
    if node_type == NODE_TYPE_HEAD and "dashboard-host" not in out:
        out["dashboard-host"] = "0.0.0.0"
    out.setdefault("metrics-export-port", str(DEFAULT_METRICS_PORT))
    out["block"] = "true"
    out.setdefault("dashboard-agent-listen-port", str(DEFAULT_DASHBOARD_AGENT_LISTEN_PORT))
    return out


def _parse_resources_param(value: str) -> dict[str, float] | None:
    """The user's `resources` JSON (quotes and backticks around it allowed); None when it is
    not a JSON object of numbers, in which case KubeRay leaves it alone."""
    text = value.strip("'\"` ")
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        return None
    out: dict[str, float] = {}
    for key, number in parsed.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            return None
        out[key] = float(number)
    return out


def _add_accelerators(params: dict[str, str], limits: Mapping[str, Any]) -> None:
    if not limits:
        return
    if "resources" in params:
        resources = _parse_resources_param(params["resources"])
        if resources is None:
            return  # unparsable: KubeRay gives up on GPUs and accelerators alike
    else:
        resources = {}
    accelerator_done = any(name in resources for name in CUSTOM_ACCELERATORS.values())
    for key in sorted(limits):
        value = _quantity(limits[key])
        if "num-gpus" not in params and is_gpu_resource_key(key) and value != 0:
            params["num-gpus"] = str(math.ceil(value))
        if not accelerator_done and key in CUSTOM_ACCELERATORS and value != 0:
            ray_name = CUSTOM_ACCELERATORS[key]
            if ray_name not in resources:
                resources[ray_name] = float(value)
                params["resources"] = f"'{go_json_resources(resources)}'"
            accelerator_done = True


def add_container_resources(
    params: Mapping[str, str], container_resources: Mapping[str, Any] | None
) -> dict[str, str]:
    """Flags derived from the Ray container's resources, only where the user set none:
    `num-cpus` = CPU limit (else request) rounded up, `memory` = memory limit in bytes,
    `num-gpus` and TPU / Neuron cores from the limits."""
    out = dict(params)
    resources = container_resources or {}
    limits: Mapping[str, Any] = resources.get("limits") or {}
    requests: Mapping[str, Any] = resources.get("requests") or {}
    if "num-cpus" not in out:
        cpu = _quantity(limits.get("cpu", 0))
        if cpu == 0:
            cpu = _quantity(requests.get("cpu", 0))
        if cpu != 0:
            out["num-cpus"] = str(math.ceil(cpu))
    if "memory" not in out:
        memory = _quantity(limits.get("memory", 0))
        if memory != 0:
            out["memory"] = str(math.ceil(memory))
    _add_accelerators(out, limits)
    return out


def render_params(params: Mapping[str, str]) -> str:
    """Flags in sorted order, each `" --key=value "`; a true boolean is a bare `" --key "`,
    a false one is dropped, except for the flags that take an explicit boolean."""
    pieces = []
    for key in sorted(params):
        value = params[key]
        lowered = value.lower()
        if lowered in ("true", "false") and key not in EXPLICIT_BOOLEAN_PARAMS:
            if lowered == "true":
                pieces.append(f" --{key} ")
        else:
            pieces.append(f" --{key}={value} ")
    return "".join(pieces)


def ray_start_command(node_type: str, params: Mapping[str, str]) -> str:
    """`ray start --head <flags>` / `ray start <flags>`; "" for an unknown node type."""
    if node_type == NODE_TYPE_HEAD:
        return f"ray start --head {render_params(params)}"
    if node_type == NODE_TYPE_WORKER:
        return f"ray start {render_params(params)}"
    return ""


def generate_ray_start_command(
    node_type: str, params: Mapping[str, str], container_resources: Mapping[str, Any] | None
) -> str:
    """KubeRay's generateRayStartCommand: container-resource flags added, then rendered."""
    return ray_start_command(node_type, add_container_resources(params, container_resources))
