"""Head and worker Pods exactly as KubeRay's operator builds them.

Dashboards, `kubectl` selectors, users' entrypoint scripts and Ray itself read what
KubeRay puts on a pod (labels, env vars, the generated `ray start` line, volumes), so
each step below follows KubeRay's order: the group's pod template is copied, the
KubeRay-managed pieces are layered on, then the operator-wide defaults and sidecars,
then the container command and the env vars that depend on it.

Pure: the cluster, its templates and the config are never modified; every call
returns a fresh Pod dict.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    APP_NAME_DEFAULT,
    AUTOSCALER_CONTAINER_NAME,
    DEFAULT_METRICS_PORT,
    FQ_RAY_IP_ENV,
    HEAD_GROUP_NAME,
    K8S_APP_NAME_LABEL,
    K8S_CREATED_BY_LABEL,
    KUBERAY_GEN_RAY_START_CMD_ENV,
    KUBERAY_OPERATOR,
    KUBERAY_VERSION_ANNOTATION,
    METRICS_PORT_NAME,
    NODE_TYPE_HEAD,
    NODE_TYPE_WORKER,
    OVERWRITE_CONTAINER_CMD_ANNOTATION,
    RAY_CLUSTER_LABEL,
    RAY_CLUSTER_NAME_ENV,
    RAY_CLUSTER_NAMESPACE_ENV,
    RAY_CLUSTER_SERVE_LABEL,
    RAY_CONTAINER_INDEX,
    RAY_ENABLE_AUTOSCALER_V2_ENV,
    RAY_HOST_INDEX_LABEL,
    RAY_ID_LABEL,
    RAY_IS_RAY_NODE_LABEL,
    RAY_LOG_MOUNT_PATH,
    RAY_LOG_VOLUME_NAME,
    RAY_NODE_GROUP_LABEL,
    RAY_NODE_TYPE_LABEL,
    RAY_ORIGINATED_FROM_CRD_LABEL,
    RAY_WORKER_REPLICA_INDEX_LABEL,
    RAY_WORKER_REPLICA_NAME_LABEL,
    RAYCLUSTER_KIND,
    RAYJOB_KIND,
    RAYSERVICE_KIND,
    SHARED_MEMORY_MOUNT_PATH,
    SHARED_MEMORY_VOLUME_NAME,
    UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION,
)
from kuberay_py.api.pod_template import dict_at, field_ref_env, has_env, list_at, without_empty
from kuberay_py.api.raycluster import RayCluster, WorkerGroupSpec
from kuberay_py.builders.addresses import head_port, head_service_fqdn, ray_ip_from_fqdn
from kuberay_py.builders.auth import configure_token_auth, is_auth_enabled, set_token_auth_env
from kuberay_py.builders.autoscaler import (
    build_autoscaler_container,
    head_service_account_name,
    is_autoscaling_enabled,
    is_autoscaling_v1,
    is_autoscaling_v2,
    merge_autoscaler_overrides,
)
from kuberay_py.builders.gcs_ft import configure_gcs_fault_tolerance
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import check_label, pod_name
from kuberay_py.builders.ray_start import (
    PLASMA_DIRECTORY_PARAM,
    ULIMIT_COMMAND,
    apply_group_labels,
    apply_group_resources,
    bash_command,
    generate_ray_start_command,
    set_missing_ray_start_params,
)
from kuberay_py.builders.spec_hash import cluster_spec_hash
from kuberay_py.builders.tls import configure_tls, is_tls_enabled, set_tls_config
from kuberay_py.builders.wait_gcs_ready import wait_gcs_ready_container

#: Labels a user's template or group labels can never override.
PROTECTED_LABELS = (RAY_NODE_TYPE_LABEL, RAY_NODE_GROUP_LABEL, RAY_CLUSTER_LABEL)
LOCAL_HOST = "127.0.0.1"


# --- cluster-level facts ------------------------------------------------------------------


def creator_crd(c: RayCluster) -> str:
    """Which CRD made this cluster: `RayService`, `RayJob`, else `RayCluster`."""
    origin = c.labels.get(RAY_ORIGINATED_FROM_CRD_LABEL, "")
    return origin if origin in (RAYSERVICE_KIND, RAYJOB_KIND) else RAYCLUSTER_KIND


# --- labels and annotations ---------------------------------------------------------------


def label_pod(
    node_type: str, cluster_name: str, group_name: str, user_labels: dict[str, str]
) -> dict[str, str]:
    """KubeRay's labels with the user's on top, except the three the operator selects by."""
    labels = {
        RAY_IS_RAY_NODE_LABEL: "yes",
        RAY_CLUSTER_LABEL: cluster_name,
        RAY_NODE_TYPE_LABEL: node_type,
        RAY_NODE_GROUP_LABEL: group_name,
        RAY_ID_LABEL: check_label(f"{cluster_name}-{node_type}"),
        K8S_APP_NAME_LABEL: APP_NAME_DEFAULT,
        K8S_CREATED_BY_LABEL: KUBERAY_OPERATOR,
    }
    for key, value in user_labels.items():
        if key not in PROTECTED_LABELS:
            labels[key] = value
    return labels


def _merged_labels(template: dict[str, Any], group_labels: dict[str, str] | None) -> dict[str, str]:
    """Template labels overlaid by the group's top-level `labels` (those win)."""
    return {**((template.get("metadata") or {}).get("labels") or {}), **(group_labels or {})}


def _init_annotations(c: RayCluster, meta: dict[str, Any]) -> dict[str, str]:
    annotations = dict_at(meta, "annotations")
    if c.annotations.get(OVERWRITE_CONTAINER_CMD_ANNOTATION, "").lower() == "true":
        annotations[OVERWRITE_CONTAINER_CMD_ANNOTATION] = "true"
    return annotations


def _add_operator_defaults(meta: dict[str, Any], config: OperatorConfig) -> None:
    """The operator's default pod annotations and labels, only for keys the pod lacks."""
    if config.default_pod_annotations:
        annotations = dict_at(meta, "annotations")
        for key, value in config.default_pod_annotations.items():
            annotations.setdefault(key, value)
    if config.default_pod_labels:
        labels = dict_at(meta, "labels")
        for key, value in config.default_pod_labels.items():
            labels.setdefault(key, value)


# --- containers ---------------------------------------------------------------------------


def _copy_template(template: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(template)
    meta = out.get("metadata")
    out["metadata"] = dict(meta) if isinstance(meta, dict) else {}
    spec = out.get("spec")
    if not isinstance(spec, dict) or not spec.get("containers"):
        raise ValueError(f"{where} should have at least one container")
    return out


def _ensure_metrics_port(container: dict[str, Any]) -> None:
    """Prometheus scrapes the port named `metrics`; add 8080 unless the user named one."""
    ports = list_at(container, "ports")
    if not any(p.get("name") == METRICS_PORT_NAME for p in ports):
        ports.append({"name": METRICS_PORT_NAME, "containerPort": DEFAULT_METRICS_PORT})


def _memory_size_limit(container: dict[str, Any]) -> Any:
    resources = container.get("resources") or {}
    for kind in ("limits", "requests"):
        values = resources.get(kind) or {}
        if "memory" in values:
            return values["memory"]
    return None


def _add_empty_dir(
    container: dict[str, Any], spec: dict[str, Any], name: str, path: str, medium: str
) -> None:
    """Mount an emptyDir at `path` unless the container already mounts something there;
    a memory-backed one is capped at the container's memory (limit, else request)."""
    mounts = list_at(container, "volumeMounts")
    if any(m.get("mountPath") == path for m in mounts):
        return
    volumes = list_at(spec, "volumes")
    if not any(v.get("name") == name for v in volumes):
        empty_dir: dict[str, Any] = {}
        if medium:
            empty_dir["medium"] = medium
            size = _memory_size_limit(container)
            if size is not None:
                empty_dir["sizeLimit"] = size
        volumes.append({"name": name, "emptyDir": empty_dir})
    mounts.append({"name": name, "mountPath": path})


def _flatten_command(parts: list[Any]) -> str:
    """KubeRay joins the user's command and args as `" a  b "` before prefixing them."""
    return "".join(f" {part} " for part in parts)


def _set_ray_container_env(
    c: RayCluster,
    ray: dict[str, Any],
    node_type: str,
    fqdn: str,
    port: str,
    ray_start_cmd: str,
    config: OperatorConfig,
) -> None:
    """KubeRay's env vars, in KubeRay's order; the user's value wins where KubeRay says so."""
    env = list_at(ray, "env")
    for default in config.default_container_envs:
        if not has_env(str(default.get("name")), env):
            env.append(copy.deepcopy(default))
    ip = LOCAL_HOST
    if node_type == NODE_TYPE_WORKER:
        ip = fqdn
        env.append({"name": FQ_RAY_IP_ENV, "value": fqdn})
        env.append({"name": "RAY_IP", "value": ray_ip_from_fqdn(fqdn)})
    env.append(field_ref_env(RAY_CLUSTER_NAME_ENV, f"metadata.labels['{RAY_CLUSTER_LABEL}']"))
    env.append(field_ref_env(RAY_CLUSTER_NAMESPACE_ENV, "metadata.namespace"))
    env.append(field_ref_env("RAY_CLOUD_INSTANCE_ID", "metadata.name"))
    env.append(field_ref_env("RAY_NODE_TYPE_NAME", f"metadata.labels['{RAY_NODE_GROUP_LABEL}']"))
    env.append({"name": KUBERAY_GEN_RAY_START_CMD_ENV, "value": ray_start_cmd})

    def add_if_absent(name: str, value: str) -> None:
        if not has_env(name, env):
            env.append({"name": name, "value": value})

    add_if_absent("RAY_PORT", port)
    crd = creator_crd(c)
    if crd == RAYSERVICE_KIND:
        # Fail fast on dead actors and slow GCS calls: a serving cluster's SLA.
        add_if_absent("RAY_timeout_ms_task_wait_for_death_info", "0")
        add_if_absent("RAY_gcs_server_request_timeout_seconds", "5")
        add_if_absent("RAY_SERVE_KV_TIMEOUT_S", "5")
    add_if_absent("RAY_ADDRESS", f"{ip}:{port}")
    add_if_absent("RAY_USAGE_STATS_KUBERAY_IN_USE", "1")
    if node_type == NODE_TYPE_HEAD:
        env.append(
            {
                "name": "RAY_USAGE_STATS_EXTRA_TAGS",
                "value": f"kuberay_version={config.kuberay_version};kuberay_crd={crd}",
            }
        )
    add_if_absent("RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1")


def _finish_pod(
    c: RayCluster,
    template: dict[str, Any],
    node_type: str,
    params: dict[str, str],
    port: str,
    fqdn: str,
    config: OperatorConfig,
    probes: dict[str, Any] | None,
) -> dict[str, Any]:
    """KubeRay's BuildPod: serve label, volumes, the command, env vars, probes, owner."""
    meta = template["metadata"]
    spec = template["spec"]
    labels = dict_at(meta, "labels")
    if creator_crd(c) == RAYSERVICE_KIND:
        # Workers are gated by their readiness probe; the RayService controller flips
        # the head's label after checking its proxy.
        labels[RAY_CLUSTER_SERVE_LABEL] = "false" if node_type == NODE_TYPE_HEAD else "true"
    containers = spec["containers"]
    ray = containers[RAY_CONTAINER_INDEX]
    if PLASMA_DIRECTORY_PARAM not in params:
        _add_empty_dir(ray, spec, SHARED_MEMORY_VOLUME_NAME, SHARED_MEMORY_MOUNT_PATH, "Memory")
    if node_type == NODE_TYPE_HEAD and is_autoscaling_enabled(c):
        # The autoscaler writes event logs the head's dashboard reads.
        autoscaler = next(x for x in containers if x.get("name") == AUTOSCALER_CONTAINER_NAME)
        _add_empty_dir(ray, spec, RAY_LOG_VOLUME_NAME, RAY_LOG_MOUNT_PATH, "")
        _add_empty_dir(autoscaler, spec, RAY_LOG_VOLUME_NAME, RAY_LOG_MOUNT_PATH, "")

    user_cmd = _flatten_command(list(ray.get("command") or []))
    user_cmd += _flatten_command(list(ray.get("args") or []))
    ray_start_cmd = generate_ray_start_command(node_type, params, ray.get("resources"))
    annotations = meta.get("annotations") or {}
    overwrite = annotations.get(OVERWRITE_CONTAINER_CMD_ANNOTATION, "").lower() == "true"
    if not overwrite and "ray start" not in user_cmd:
        generated = f"{ULIMIT_COMMAND}; {ray_start_cmd}"
        ray["command"] = bash_command(config)
        # `ray start --block` never returns, so the user's command must run first.
        ray["args"] = [f"{user_cmd} && {generated}" if user_cmd else generated]

    for init in spec.get("initContainers") or []:
        env = list_at(init, "env")
        env.append({"name": FQ_RAY_IP_ENV, "value": fqdn})
        env.append({"name": "RAY_IP", "value": ray_ip_from_fqdn(fqdn)})
    _set_ray_container_env(c, ray, node_type, fqdn, port, ray_start_cmd, config)

    for key in ("livenessProbe", "readinessProbe"):
        if probes and probes.get(key) is not None and ray.get(key) is None:
            ray[key] = copy.deepcopy(probes[key])

    if not meta.get("annotations"):
        meta.pop("annotations", None)  # Go's omitempty: no empty map on the wire
    refs = [r for r in meta.get("ownerReferences") or [] if not r.get("controller")]
    meta["ownerReferences"] = [*refs, controller_ref(c)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


# --- public builders ----------------------------------------------------------------------


def _head_template(c: RayCluster, config: OperatorConfig) -> tuple[dict[str, Any], dict[str, str]]:
    head = c.spec.head_group_spec
    template = _copy_template(head.template, "headGroupSpec")
    meta = template["metadata"]
    name = pod_name(c.name, NODE_TYPE_HEAD, generate=not config.deterministic_head_pod_name)
    meta["name" if config.deterministic_head_pod_name else "generateName"] = name
    meta["namespace"] = c.namespace

    params = apply_group_resources(head.ray_start_params or {}, head.resources)
    params = apply_group_labels(params, head.labels)
    meta["labels"] = label_pod(
        NODE_TYPE_HEAD, c.name, HEAD_GROUP_NAME, _merged_labels(head.template, head.labels)
    )
    params = set_missing_ray_start_params(params, NODE_TYPE_HEAD, head_port(c), "")
    _init_annotations(c, meta)

    spec = template["spec"]
    containers = spec["containers"]
    ray = containers[RAY_CONTAINER_INDEX]
    if is_autoscaling_enabled(c):
        # Ray's own monitor cannot scale Kubernetes; the sidecar replaces it.
        params["no-monitor"] = "true"
        spec["serviceAccountName"] = head_service_account_name(c)
        autoscaler = build_autoscaler_container(str(ray.get("image") or ""), bash_command(config))
        if is_auth_enabled(c):
            set_token_auth_env(c, autoscaler)
        if is_tls_enabled(c, config):
            set_tls_config(autoscaler)
        containers.append(
            without_empty(merge_autoscaler_overrides(autoscaler, c.spec.autoscaler_options))
        )
        if is_autoscaling_v2(c):
            list_at(ray, "env").append({"name": RAY_ENABLE_AUTOSCALER_V2_ENV, "value": "true"})
            spec["restartPolicy"] = "Never"
        elif is_autoscaling_v1(c):
            list_at(ray, "env").append({"name": RAY_ENABLE_AUTOSCALER_V2_ENV, "value": "false"})

    configure_gcs_fault_tolerance(template, c, NODE_TYPE_HEAD, params)
    _ensure_metrics_port(ray)
    if is_auth_enabled(c):
        configure_token_auth(c, spec)
    if is_tls_enabled(c, config):
        configure_tls(c, spec, NODE_TYPE_HEAD)
    return template, params


def build_head_pod(
    c: RayCluster, config: OperatorConfig, *, probes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The head Pod for `c` (generateName `<cluster>-head-`, or `<cluster>-head` with
    deterministic names), stamped with the spec hash and operator version."""
    template, params = _head_template(c, config)
    spec = template["spec"]
    spec["containers"].extend(copy.deepcopy(list(config.head_sidecar_containers)))
    _add_operator_defaults(template["metadata"], config)
    pod = _finish_pod(
        c,
        template,
        NODE_TYPE_HEAD,
        params,
        head_port(c),
        head_service_fqdn(c, config),
        config,
        probes,
    )
    annotations = dict_at(pod["metadata"], "annotations")
    annotations[UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION] = cluster_spec_hash(c)
    annotations[KUBERAY_VERSION_ANNOTATION] = config.kuberay_version
    return pod


def _worker_template(
    c: RayCluster,
    group: WorkerGroupSpec,
    config: OperatorConfig,
    *,
    replica_index: int,
    replica_name: str | None,
    host_index: int | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    template = _copy_template(group.template, "workerGroupSpec")
    meta = template["metadata"]
    meta["generateName"] = pod_name(f"{c.name}-{group.group_name}", NODE_TYPE_WORKER)
    meta["namespace"] = c.namespace
    fqdn = head_service_fqdn(c, config)
    port = head_port(c)
    spec = template["spec"]
    ray = spec["containers"][RAY_CONTAINER_INDEX]
    if config.enable_init_container_injection:
        # Workers must not start before the GCS answers; their raylet would give up.
        list_at(spec, "initContainers").append(wait_gcs_ready_container(ray, fqdn, port, config))
    # Many pods share this template: a fixed name would collide.
    meta.pop("name", None)

    params = apply_group_resources(group.ray_start_params or {}, group.resources)
    params = apply_group_labels(params, group.labels)
    labels = label_pod(
        NODE_TYPE_WORKER, c.name, group.group_name, _merged_labels(group.template, group.labels)
    )
    if config.gates.ray_multi_host_indexing:
        labels[RAY_WORKER_REPLICA_INDEX_LABEL] = str(replica_index)
        if (group.num_of_hosts or 1) > 1:
            if replica_name is None or host_index is None:
                raise ValueError(
                    f"worker group {group.group_name} has numOfHosts > 1: "
                    "a replica_name and a host_index are required"
                )
            labels[RAY_WORKER_REPLICA_NAME_LABEL] = replica_name
            labels[RAY_HOST_INDEX_LABEL] = str(host_index)
    meta["labels"] = labels
    params = set_missing_ray_start_params(params, NODE_TYPE_WORKER, port, fqdn)
    _init_annotations(c, meta)
    configure_gcs_fault_tolerance(template, c, NODE_TYPE_WORKER, params)
    _ensure_metrics_port(ray)
    if is_autoscaling_enabled(c) and is_autoscaling_v2(c):
        spec["restartPolicy"] = "Never"
    if is_auth_enabled(c):
        configure_token_auth(c, spec)
    if is_tls_enabled(c, config):
        configure_tls(c, spec, NODE_TYPE_WORKER)
    return template, params


def build_worker_pod(
    c: RayCluster,
    group: WorkerGroupSpec,
    config: OperatorConfig,
    *,
    replica_index: int,
    probes: dict[str, Any] | None = None,
    replica_name: str | None = None,
    host_index: int | None = None,
) -> dict[str, Any]:
    """One worker Pod of `group` (generateName `<cluster>-<group>-worker-`). Multi-host
    groups (numOfHosts > 1) need the replica's name and this pod's host index."""
    template, params = _worker_template(
        c,
        group,
        config,
        replica_index=replica_index,
        replica_name=replica_name,
        host_index=host_index,
    )
    template["spec"]["containers"].extend(copy.deepcopy(list(config.worker_sidecar_containers)))
    _add_operator_defaults(template["metadata"], config)
    return _finish_pod(
        c,
        template,
        NODE_TYPE_WORKER,
        params,
        head_port(c),
        head_service_fqdn(c, config),
        config,
        probes,
    )


# --- pod lifecycle ------------------------------------------------------------------------


def _ray_container_terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The Ray container's `state.terminated`, found by name: containerStatuses are not
    in spec order."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return None
    name = containers[RAY_CONTAINER_INDEX].get("name")
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == name:
            terminated = (status.get("state") or {}).get("terminated")
            return terminated if isinstance(terminated, dict) else None
    return None


def should_delete_pod(pod: dict[str, Any]) -> bool:
    """KubeRay's shouldDeletePod: a Failed or Succeeded pod never runs again, nor does a
    Running pod whose Ray container ended under `restartPolicy: Never`. Anything else
    (Pending, crash-looping, restartable) is left to the kubelet."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Failed", "Succeeded"):
        return True
    if phase == "Running" and _ray_container_terminated(pod) is not None:
        return (pod.get("spec") or {}).get("restartPolicy") == "Never"
    return False
