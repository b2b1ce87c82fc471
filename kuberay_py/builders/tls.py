"""Ray's mutual TLS (`tlsOptions.enabled`, behind the RayClusterMTLS gate): the
cert-manager Secret each pod mounts, the env vars Ray reads it through, and the init
container that waits until the certificate names the pod's own IP.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    NODE_TYPE_HEAD,
    POD_IP_ENV,
    RAY_CONTAINER_INDEX,
    RAY_TLS_CA_CERT_ENV,
    RAY_TLS_CERT_MOUNT_PATH,
    RAY_TLS_SERVER_CERT_ENV,
    RAY_TLS_SERVER_KEY_ENV,
    RAY_TLS_VOLUME_NAME,
    RAY_USE_TLS_ENV,
    WAIT_FOR_TLS_INIT_CONTAINER_NAME,
    WAIT_GCS_READY_INIT_CONTAINER_NAME,
)
from kuberay_py.api.pod_template import field_ref_env, has_env, list_at, without_empty
from kuberay_py.api.raycluster import RayCluster


def is_tls_enabled(c: RayCluster, config: OperatorConfig) -> bool:
    tls = c.spec.tls_options
    return config.gates.ray_cluster_mtls and isinstance(tls, dict) and tls.get("enabled") is True


def tls_secret_name(cluster_name: str, node_type: str) -> str:
    """The cert-manager Secret holding the head's or the workers' certificate."""
    prefix = "ray-head-secret" if node_type == NODE_TYPE_HEAD else "ray-worker-secret"
    return f"{prefix}-{cluster_name}"


def set_tls_config(container: dict[str, Any]) -> None:
    env = list_at(container, "env")
    for name, value in (
        (RAY_USE_TLS_ENV, "1"),
        (RAY_TLS_SERVER_CERT_ENV, f"{RAY_TLS_CERT_MOUNT_PATH}/tls.crt"),
        (RAY_TLS_SERVER_KEY_ENV, f"{RAY_TLS_CERT_MOUNT_PATH}/tls.key"),
        (RAY_TLS_CA_CERT_ENV, f"{RAY_TLS_CERT_MOUNT_PATH}/ca.crt"),
    ):
        if not has_env(name, env):
            env.append({"name": name, "value": value})
    mounts = list_at(container, "volumeMounts")
    if not any(
        m.get("name") == RAY_TLS_VOLUME_NAME or m.get("mountPath") == RAY_TLS_CERT_MOUNT_PATH
        for m in mounts
    ):
        mounts.append(
            {"name": RAY_TLS_VOLUME_NAME, "mountPath": RAY_TLS_CERT_MOUNT_PATH, "readOnly": True}
        )


def wait_for_tls_script() -> str:
    """Block until cert-manager has put this pod's IP into its certificate's SANs."""
    return "\n".join(
        [
            f'CERT="{RAY_TLS_CERT_MOUNT_PATH}/tls.crt"',
            'if [ -z "${POD_IP}" ]; then',
            "  POD_IP=$(hostname -i 2>/dev/null | awk '{print $1}')",
            "fi",
            "if ! command -v openssl >/dev/null 2>&1; then",
            '  echo "openssl not found; cannot verify IP SAN" >&2',
            "  exit 1",
            "fi",
            'echo "Waiting for TLS cert to include IP SAN for ${POD_IP}..."',
            "while true; do",
            '  if openssl x509 -in "${CERT}" -noout -text 2>/dev/null | grep -qE '
            '"IP Address:${POD_IP}([^0-9.]|$)"; then',
            '    echo "TLS cert now includes IP SAN for ${POD_IP}"',
            "    exit 0",
            "  fi",
            '  echo "IP SAN for ${POD_IP} not yet in cert, retrying in 5s..."',
            "  sleep 5",
            "done",
        ]
    )


def configure_tls(c: RayCluster, spec: dict[str, Any], node_type: str) -> None:
    volumes = list_at(spec, "volumes")
    if not any(v.get("name") == RAY_TLS_VOLUME_NAME for v in volumes):
        volumes.append(
            {
                "name": RAY_TLS_VOLUME_NAME,
                "secret": {"secretName": tls_secret_name(c.name, node_type)},
            }
        )
    ray = spec["containers"][RAY_CONTAINER_INDEX]
    set_tls_config(ray)
    inits = list_at(spec, "initContainers")
    for init in inits:
        if init.get("name") == WAIT_GCS_READY_INIT_CONTAINER_NAME:
            set_tls_config(init)
    if any(init.get("name") == WAIT_FOR_TLS_INIT_CONTAINER_NAME for init in inits):
        return
    waiter = without_empty(
        {
            "name": WAIT_FOR_TLS_INIT_CONTAINER_NAME,
            "image": ray.get("image"),
            "imagePullPolicy": ray.get("imagePullPolicy"),
            "command": ["sh", "-c"],
            "args": [wait_for_tls_script()],
            "securityContext": copy.deepcopy(ray.get("securityContext")),
            "env": [field_ref_env(POD_IP_ENV, "status.podIP")],
            "volumeMounts": [
                {
                    "name": RAY_TLS_VOLUME_NAME,
                    "mountPath": RAY_TLS_CERT_MOUNT_PATH,
                    "readOnly": True,
                }
            ],
            "resources": {
                "limits": {"cpu": "50m", "memory": "64Mi"},
                "requests": {"cpu": "50m", "memory": "64Mi"},
            },
        }
    )
    spec["initContainers"] = [waiter, *inits]
