"""GCS fault tolerance on the Ray pods: what the head needs to find its Redis (or its
RocksDB volume), and how long workers wait for a restarted GCS.

Two ways to switch it on exist and both must keep working: the legacy annotation
`ray.io/ft-enabled: "true"` (the user wires Redis by env vars and rayStartParams) and
`spec.gcsFaultToleranceOptions` (KubeRay wires everything). The storage namespace is
also what the Redis cleanup Job deletes, so it is derived here once.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api.constants import (
    DEFAULT_WORKER_RAY_GCS_RECONNECT_TIMEOUT_S,
    EXTERNAL_STORAGE_NAMESPACE_ANNOTATION,
    FT_ENABLED_ANNOTATION,
    GCS_FT_BACKEND_REDIS,
    GCS_FT_BACKEND_ROCKSDB,
    GCS_STORAGE_MOUNT_PATH,
    GCS_STORAGE_VOLUME_NAME,
    NODE_TYPE_HEAD,
    NODE_TYPE_WORKER,
    RAY_CONTAINER_INDEX,
    RAY_EXTERNAL_STORAGE_NS_ENV,
    RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S_ENV,
    RAY_GCS_STORAGE_ENV,
    RAY_GCS_STORAGE_PATH_ENV,
    RAY_REDIS_ADDRESS_ENV,
    REDIS_PASSWORD_ENV,
    REDIS_USERNAME_ENV,
)
from kuberay_py.api.pod_template import has_env, list_at
from kuberay_py.api.raycluster import RayCluster, RedisCredential

GCS_STORAGE_PVC_SUFFIX = "-gcs-pvc"


def is_gcs_ft_enabled(c: RayCluster) -> bool:
    """The annotation (any case of "true") or the options block switches it on."""
    value = c.annotations.get(FT_ENABLED_ANNOTATION)
    return (value is not None and value.lower() == "true") or (
        c.spec.gcs_fault_tolerance_options is not None
    )


def gcs_ft_backend(c: RayCluster) -> str:
    options = c.spec.gcs_fault_tolerance_options
    return (options.backend if options else None) or GCS_FT_BACKEND_REDIS


def is_gcs_ft_embedded(c: RayCluster) -> bool:
    """The alpha RocksDB backend: GCS state on a volume of the head instead of Redis."""
    return (
        c.spec.gcs_fault_tolerance_options is not None
        and gcs_ft_backend(c) == GCS_FT_BACKEND_ROCKSDB
    )


def gcs_storage_pvc_name(c: RayCluster) -> str:
    """The user's `storage.claimName`, else the operator-managed `<cluster>-gcs-pvc`."""
    options = c.spec.gcs_fault_tolerance_options
    if options and options.storage and options.storage.claim_name:
        return options.storage.claim_name
    return c.name + GCS_STORAGE_PVC_SUFFIX


def external_storage_namespace(c: RayCluster) -> str:
    """The cluster UID, overridden by the annotation, overridden by the option: two
    clusters sharing one Redis must not share keys, and a recreated cluster with a new
    UID starts clean unless the user pins the namespace."""
    namespace = str(c.metadata.get("uid") or "")
    annotations = c.annotations
    if EXTERNAL_STORAGE_NAMESPACE_ANNOTATION in annotations:
        namespace = annotations[EXTERNAL_STORAGE_NAMESPACE_ANNOTATION]
    options = c.spec.gcs_fault_tolerance_options
    if options is not None and options.external_storage_namespace:
        namespace = options.external_storage_namespace
    return namespace


def _credential_env(name: str, credential: RedisCredential) -> dict[str, Any]:
    """An env var carrying the credential's value or valueFrom, empty parts omitted; the
    valueFrom is a copy, so the Pod never shares a dict with the cluster it came from."""
    env: dict[str, Any] = {"name": name}
    if credential.value:
        env["value"] = credential.value
    if credential.value_from is not None:
        env["valueFrom"] = copy.deepcopy(credential.value_from)
    return env


def configure_gcs_fault_tolerance(
    template: dict[str, Any], c: RayCluster, node_type: str, params: dict[str, str]
) -> None:
    """Add the FT env vars, annotations and (head) volume to `template`, a private copy of
    the group's pod template; `params` (the head's rayStartParams, also a copy) gains the
    `$REDIS_USERNAME` / `$REDIS_PASSWORD` references."""
    metadata = template.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    if annotations is None:
        annotations = metadata["annotations"] = {}
    enabled = is_gcs_ft_enabled(c)
    if node_type == NODE_TYPE_HEAD:
        annotations[FT_ENABLED_ANNOTATION] = "true" if enabled else "false"
    if not enabled:
        return
    container = template["spec"]["containers"][RAY_CONTAINER_INDEX]
    env = list_at(container, "env")
    # Workers survive a GCS restart for 10 minutes instead of Ray's 60 s: a new head
    # usually needs about two.
    if node_type == NODE_TYPE_WORKER and not has_env(
        RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S_ENV, env
    ):
        env.append(
            {
                "name": RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S_ENV,
                "value": DEFAULT_WORKER_RAY_GCS_RECONNECT_TIMEOUT_S,
            }
        )
    if node_type != NODE_TYPE_HEAD:
        return
    if is_gcs_ft_embedded(c):
        _configure_embedded(template, c, container, env)
    else:
        _configure_redis(annotations, c, env, params)


def _configure_redis(
    annotations: dict[str, str], c: RayCluster, env: list[dict[str, Any]], params: dict[str, str]
) -> None:
    namespace = external_storage_namespace(c)
    annotations[EXTERNAL_STORAGE_NAMESPACE_ANNOTATION] = namespace
    if not has_env(RAY_EXTERNAL_STORAGE_NS_ENV, env):
        env.append({"name": RAY_EXTERNAL_STORAGE_NS_ENV, "value": namespace})
    options = c.spec.gcs_fault_tolerance_options
    if options is not None:
        address: dict[str, Any] = {"name": RAY_REDIS_ADDRESS_ENV}
        if options.redis_address:
            address["value"] = options.redis_address
        env.append(address)  # appended even when empty, as KubeRay does
        if options.redis_username is not None:
            params["redis-username"] = "$REDIS_USERNAME"
            env.append(_credential_env(REDIS_USERNAME_ENV, options.redis_username))
        if options.redis_password is not None:
            params["redis-password"] = "$REDIS_PASSWORD"
            env.append(_credential_env(REDIS_PASSWORD_ENV, options.redis_password))
    elif not has_env(REDIS_PASSWORD_ENV, env) and "redis-password" in params:
        # A literal password in rayStartParams: the cleanup Job reads it from the env.
        password: dict[str, Any] = {"name": REDIS_PASSWORD_ENV}
        if params["redis-password"]:
            password["value"] = params["redis-password"]
        env.append(password)


def _configure_embedded(
    template: dict[str, Any], c: RayCluster, container: dict[str, Any], env: list[dict[str, Any]]
) -> None:
    if not has_env(RAY_GCS_STORAGE_ENV, env):
        env.append({"name": RAY_GCS_STORAGE_ENV, "value": GCS_FT_BACKEND_ROCKSDB})
    if not has_env(RAY_GCS_STORAGE_PATH_ENV, env):
        env.append({"name": RAY_GCS_STORAGE_PATH_ENV, "value": GCS_STORAGE_MOUNT_PATH})
    options = c.spec.gcs_fault_tolerance_options
    sub_path = options.storage.sub_path if options and options.storage else None
    mount: dict[str, Any] = {"name": GCS_STORAGE_VOLUME_NAME, "mountPath": GCS_STORAGE_MOUNT_PATH}
    if sub_path:
        mount["subPath"] = sub_path
    list_at(container, "volumeMounts").append(mount)
    list_at(template["spec"], "volumes").append(
        {
            "name": GCS_STORAGE_VOLUME_NAME,
            "persistentVolumeClaim": {"claimName": gcs_storage_pvc_name(c)},
        }
    )
