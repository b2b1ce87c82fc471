"""The RayCluster (`ray.io/v1`) model: every field of KubeRay's CRD, spec and status.

Kubernetes sub-objects KubeRay embeds whole (pod templates, Services, env vars,
resource requirements, ingress rules) stay plain dicts: we pass them through to
the API untouched, and a typed copy of core/v1 would only lose fields. Every model
keeps the keys it does not know in `extra`, so a newer KubeRay manifest survives a
read-modify-write through us (see `kuberay_py.api.convert`).
"""

from __future__ import annotations

from typing import Any

import attrs

from kuberay_py.api.constants import API_VERSION, RAYCLUSTER_KIND

Json = dict[str, Any]


def wire(name: str) -> dict[str, str]:
    """Field metadata for a JSON name that is not the plain camelCase of the attribute."""
    return {"wire": name}


@attrs.define(kw_only=True)
class ScaleStrategy:
    workers_to_delete: list[str] | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class IngressOptions:
    host: str | None = None
    path: str | None = None
    path_type: str | None = None
    tls: list[Json] | None = attrs.field(default=None, metadata=wire("tls"))
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class HeadGroupSpec:
    template: Json = attrs.field(factory=dict)
    ray_start_params: dict[str, str] | None = None
    head_service: Json | None = None
    enable_ingress: bool | None = None
    ingress_options: IngressOptions | None = None
    resources: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    service_type: str | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class WorkerGroupSpec:
    group_name: str = ""
    template: Json = attrs.field(factory=dict)
    ray_start_params: dict[str, str] | None = None
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    num_of_hosts: int | None = None
    suspend: bool | None = None
    idle_timeout_seconds: int | None = None
    priority: int | None = None
    resources: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    scale_strategy: ScaleStrategy | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class RedisCredential:
    value: str | None = None
    value_from: Json | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class GcsEmbeddedStorage:
    claim_name: str | None = None
    size: str | None = None
    storage_class_name: str | None = None
    access_modes: list[str] | None = None
    sub_path: str | None = None
    deletion_policy: str | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class GcsFaultToleranceOptions:
    redis_address: str | None = None
    redis_password: RedisCredential | None = None
    redis_username: RedisCredential | None = None
    external_storage_namespace: str | None = None
    backend: str | None = None
    storage: GcsEmbeddedStorage | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class AutoscalerOptions:
    resources: Json | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    security_context: Json | None = None
    idle_timeout_seconds: int | None = None
    upscaling_mode: str | None = None
    version: str | None = None
    env: list[Json] | None = None
    env_from: list[Json] | None = None
    volume_mounts: list[Json] | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class UpgradeStrategy:
    type: str | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class AuthOptions:
    mode: str | None = None
    secret_name: str | None = None
    enable_k8s_token_auth: bool | None = attrs.field(
        default=None, metadata=wire("enableK8sTokenAuth")
    )
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class RayClusterSpec:
    head_group_spec: HeadGroupSpec = attrs.field(factory=HeadGroupSpec)
    worker_group_specs: list[WorkerGroupSpec] | None = None
    ray_version: str | None = None
    enable_in_tree_autoscaling: bool | None = None
    autoscaler_options: AutoscalerOptions | None = None
    head_service_annotations: dict[str, str] | None = None
    gcs_fault_tolerance_options: GcsFaultToleranceOptions | None = None
    suspend: bool | None = None
    managed_by: str | None = None
    upgrade_strategy: UpgradeStrategy | None = None
    auth_options: AuthOptions | None = None
    #: Alpha features kept as the user wrote them; we validate their gates, not their shape.
    history_server_options: Json | None = None
    network_policy: Json | None = None
    tls_options: Json | None = attrs.field(default=None, metadata=wire("tlsOptions"))
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class HeadInfo:
    pod_ip: str | None = attrs.field(default=None, metadata=wire("podIP"))
    pod_name: str | None = None
    service_ip: str | None = attrs.field(default=None, metadata=wire("serviceIP"))
    service_name: str | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class RayClusterStatus:
    state: str | None = None
    reason: str | None = None
    desired_cpu: str | None = attrs.field(default=None, metadata=wire("desiredCPU"))
    desired_memory: str | None = None
    desired_gpu: str | None = attrs.field(default=None, metadata=wire("desiredGPU"))
    desired_tpu: str | None = attrs.field(default=None, metadata=wire("desiredTPU"))
    last_update_time: str | None = None
    state_transition_times: dict[str, str] | None = None
    endpoints: dict[str, str] | None = None
    head: HeadInfo | None = None
    conditions: list[Json] | None = None
    ready_worker_replicas: int | None = None
    available_worker_replicas: int | None = None
    desired_worker_replicas: int | None = None
    min_worker_replicas: int | None = None
    max_worker_replicas: int | None = None
    observed_generation: int | None = None
    extra: Json = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class RayCluster:
    """A whole RayCluster object; `metadata` stays the API's dict (uid, labels, ...)."""

    api_version: str = API_VERSION
    kind: str = RAYCLUSTER_KIND
    metadata: Json = attrs.field(factory=dict)
    spec: RayClusterSpec = attrs.field(factory=RayClusterSpec)
    status: RayClusterStatus | None = None
    extra: Json = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.metadata.get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.metadata.get("annotations") or {})
