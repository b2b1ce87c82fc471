"""The wait-gcs-ready init container KubeRay puts on every worker.

A worker's raylet gives up if the head's GCS does not answer in time, so the worker pod
does not start Ray until `ray health-check` succeeds against the head Service.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import WAIT_GCS_READY_INIT_CONTAINER_NAME
from kuberay_py.api.pod_template import without_empty
from kuberay_py.builders.ray_start import bash_command

INIT_CONTAINER_RESOURCES: dict[str, Any] = {
    "limits": {"cpu": "200m", "memory": "256Mi"},
    "requests": {"cpu": "200m", "memory": "256Mi"},
}


def wait_gcs_ready_script(fqdn: str, port: str) -> str:
    """The init container's loop: quiet health checks for 120 s, then verbose ones."""
    address = f"{fqdn}:{port}"
    lines = [
        (0, "SECONDS=0"),
        (0, "while true; do"),
        (1, "if (( SECONDS <= 120 )); then"),
        (2, f"if ray health-check --address {address} > /dev/null 2>&1; then"),
        (3, 'echo "GCS is ready."'),
        (3, "break"),
        (2, "fi"),
        (2, 'echo "$SECONDS seconds elapsed: Waiting for GCS to be ready."'),
        (1, "else"),
        (2, f"if ray health-check --address {address}; then"),
        (3, 'echo "GCS is ready. Any error messages above can be safely ignored."'),
        (3, "break"),
        (2, "fi"),
        (
            2,
            'echo "$SECONDS seconds elapsed: Still waiting for GCS to be ready. For '
            "troubleshooting, refer to the FAQ at "
            'https://docs.ray.io/en/master/cluster/kubernetes/troubleshooting.html."',
        ),
        (1, "fi"),
        (1, "sleep 5"),
        (0, "done"),
    ]
    # KubeRay's script is an indented Go raw string: five tabs per line, four at the end.
    return "\n" + "".join("\t" * (5 + depth) + text + "\n" for depth, text in lines) + "\t" * 4


def wait_gcs_ready_container(
    ray: dict[str, Any], fqdn: str, port: str, config: OperatorConfig
) -> dict[str, Any]:
    return without_empty(
        {
            "name": WAIT_GCS_READY_INIT_CONTAINER_NAME,
            "image": ray.get("image"),
            "imagePullPolicy": ray.get("imagePullPolicy"),
            "command": bash_command(config),
            "args": [wait_gcs_ready_script(fqdn, port)],
            "securityContext": copy.deepcopy(ray.get("securityContext")),
            # TLS settings may live in env vars pointing at mounted files: copy both.
            "env": copy.deepcopy(ray.get("env")),
            "volumeMounts": copy.deepcopy(ray.get("volumeMounts")),
            "resources": copy.deepcopy(INIT_CONTAINER_RESOURCES),
        }
    )
