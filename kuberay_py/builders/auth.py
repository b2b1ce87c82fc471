"""Ray token authentication (`authOptions.mode: token`): the generated token's Secret and
what every Ray container (head, workers, autoscaler, wait-gcs-ready) needs to present it.

Ray refuses unauthenticated peers once the head runs in token mode, so every process that
talks to the GCS gets the same env vars; KubeRay's names and paths, exactly.
"""

from __future__ import annotations

from typing import Any

from kuberay_py.api.constants import (
    AUTH_MODE_TOKEN,
    RAY_AUTH_TOKEN_SECRET_KEY,
    RAY_CLUSTER_LABEL,
    RAY_CONTAINER_INDEX,
    WAIT_GCS_READY_INIT_CONTAINER_NAME,
)
from kuberay_py.api.pod_template import has_env, list_at
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import check_name

RAY_AUTH_MODE_ENV = "RAY_AUTH_MODE"
RAY_AUTH_TOKEN_ENV = "RAY_AUTH_TOKEN"
RAY_ENABLE_K8S_TOKEN_AUTH_ENV = "RAY_ENABLE_K8S_TOKEN_AUTH"
RAY_TOKEN_VOLUME_NAME = "ray-token"
RAY_TOKEN_MOUNT_PATH = "/var/run/secrets/ray.io/serviceaccount"


def is_auth_enabled(c: RayCluster) -> bool:
    options = c.spec.auth_options
    return options is not None and options.mode == AUTH_MODE_TOKEN


def is_k8s_token_auth_enabled(c: RayCluster) -> bool:
    options = c.spec.auth_options
    return options is not None and bool(options.enable_k8s_token_auth)


def auth_secret_name(c: RayCluster) -> str:
    """CheckName(cluster): the controller looks the Secret up by this name before creating it."""
    return check_name(c.name)


def build_auth_secret(c: RayCluster, token: str) -> dict[str, Any]:
    """The token is passed in, not drawn here, so the builder stays pure; the controller
    draws 32 random bytes, base64-encoded, as KubeRay does. `stringData` as KubeRay
    writes it: the API server folds it into `data`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": auth_secret_name(c),
            "namespace": c.namespace,
            "labels": {RAY_CLUSTER_LABEL: c.name},
            "ownerReferences": [controller_ref(c)],
        },
        "stringData": {RAY_AUTH_TOKEN_SECRET_KEY: token},
    }


def set_token_auth_env(c: RayCluster, container: dict[str, Any]) -> None:
    env = list_at(container, "env")
    if not has_env(RAY_AUTH_MODE_ENV, env):
        env.append({"name": RAY_AUTH_MODE_ENV, "value": AUTH_MODE_TOKEN})
    if is_k8s_token_auth_enabled(c):
        if not has_env(RAY_ENABLE_K8S_TOKEN_AUTH_ENV, env):
            env.append({"name": RAY_ENABLE_K8S_TOKEN_AUTH_ENV, "value": "true"})
        mounts = list_at(container, "volumeMounts")
        if not any(m.get("name") == RAY_TOKEN_VOLUME_NAME for m in mounts):
            mounts.append(
                {"name": RAY_TOKEN_VOLUME_NAME, "mountPath": RAY_TOKEN_MOUNT_PATH, "readOnly": True}
            )
        return
    options = c.spec.auth_options
    secret = (options.secret_name if options else None) or auth_secret_name(c)
    if not has_env(RAY_AUTH_TOKEN_ENV, env):
        env.append(
            {
                "name": RAY_AUTH_TOKEN_ENV,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": RAY_AUTH_TOKEN_SECRET_KEY}},
            }
        )


def configure_token_auth(c: RayCluster, spec: dict[str, Any]) -> None:
    set_token_auth_env(c, spec["containers"][RAY_CONTAINER_INDEX])
    if is_k8s_token_auth_enabled(c):
        volumes = list_at(spec, "volumes")
        if not any(v.get("name") == RAY_TOKEN_VOLUME_NAME for v in volumes):
            volumes.append(
                {
                    "name": RAY_TOKEN_VOLUME_NAME,
                    "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
                }
            )
    for init in spec.get("initContainers") or []:
        if init.get("name") == WAIT_GCS_READY_INIT_CONTAINER_NAME:
            set_token_auth_env(c, init)
