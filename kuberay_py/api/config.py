"""The operator's configuration: KubeRay's operator env vars, config file keys and gates.

One immutable object handed to builders, validation and controllers, so a pure
builder never reads the environment and a test states every knob it depends on.
`OperatorConfig.from_env` reads KubeRay's env var names with KubeRay's rules
(most switches are on unless set to exactly "false", case-insensitively).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kuberay_py.api.constants import DEFAULT_GCS_FT_DELETION_TIMEOUT_SECONDS, KUBERAY_VERSION


@attrs.frozen(kw_only=True)
class FeatureGates:
    """KubeRay's feature gates with KubeRay's defaults (`pkg/features/features.go`)."""

    ray_cluster_status_conditions: bool = True
    ray_job_deletion_policy: bool = True
    ray_multi_host_indexing: bool = True
    gcs_fault_tolerance_embedded_storage: bool = False
    ray_cluster_mtls: bool = False
    ray_cluster_network_policy: bool = False
    ray_cluster_history_server: bool = False


def _on_unless_false(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").lower() != "false"


def _on_if_true(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").lower() == "true"


@attrs.frozen(kw_only=True)
class OperatorConfig:
    kuberay_version: str = KUBERAY_VERSION
    cluster_domain: str = "cluster.local"
    #: ENABLE_INIT_CONTAINER_INJECTION: the `wait-gcs-ready` init container on workers.
    enable_init_container_injection: bool = True
    #: ENABLE_PROBES_INJECTION / `--no-probe-injection`.
    enable_probes_injection: bool = True
    #: ENABLE_RANDOM_POD_DELETE: with the autoscaler on, may the operator pick workers to delete.
    enable_random_pod_delete: bool = False
    #: ENABLE_GCS_FT_REDIS_CLEANUP: the Redis cleanup finalizer and Job.
    enable_gcs_ft_redis_cleanup: bool = True
    #: ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE: a ClusterIP head Service instead of headless.
    enable_head_cluster_ip_service: bool = False
    #: ENABLE_DETERMINISTIC_HEAD_POD_NAME: `<cluster>-head` instead of generateName.
    deterministic_head_pod_name: bool = False
    #: ENABLE_LOGIN_SHELL: `/bin/bash -cl --` instead of `/bin/bash -c --`.
    login_shell: bool = False
    #: RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV.
    default_requeue_seconds: float = 300.0
    #: Used when a cluster has no (valid) `ray.io/gcs-ft-deletion-timeout` annotation.
    gcs_ft_deletion_timeout_seconds: int = DEFAULT_GCS_FT_DELETION_TIMEOUT_SECONDS
    #: Resources of the Redis cleanup Job's container; None = KubeRay's 200m/256Mi
    #: request=limit. Some managed clusters reject fixed requests, which would then block
    #: the cluster's deletion until the timeout.
    redis_cleanup_job_resources: dict[str, Any] | None = None
    head_sidecar_containers: tuple[dict[str, Any], ...] = ()
    worker_sidecar_containers: tuple[dict[str, Any], ...] = ()
    default_container_envs: tuple[dict[str, Any], ...] = ()
    default_pod_labels: dict[str, str] = attrs.field(factory=dict)
    default_pod_annotations: dict[str, str] = attrs.field(factory=dict)
    gates: FeatureGates = attrs.field(factory=FeatureGates)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> OperatorConfig:
        """KubeRay's operator env vars, with KubeRay's parsing; `overrides` win."""
        values: dict[str, Any] = {
            "enable_init_container_injection": _on_unless_false(
                environ, "ENABLE_INIT_CONTAINER_INJECTION"
            ),
            "enable_probes_injection": _on_unless_false(environ, "ENABLE_PROBES_INJECTION"),
            "enable_random_pod_delete": _on_if_true(environ, "ENABLE_RANDOM_POD_DELETE"),
            "enable_gcs_ft_redis_cleanup": _on_unless_false(environ, "ENABLE_GCS_FT_REDIS_CLEANUP"),
            "enable_head_cluster_ip_service": _on_if_true(
                environ, "ENABLE_RAY_HEAD_CLUSTER_IP_SERVICE"
            ),
            "deterministic_head_pod_name": _on_if_true(
                environ, "ENABLE_DETERMINISTIC_HEAD_POD_NAME"
            ),
            "login_shell": _on_if_true(environ, "ENABLE_LOGIN_SHELL"),
        }
        if domain := environ.get("CLUSTER_DOMAIN"):
            values["cluster_domain"] = domain
        requeue = environ.get("RAYCLUSTER_DEFAULT_REQUEUE_SECONDS_ENV", "")
        if requeue.isdigit() and int(requeue) > 0:
            values["default_requeue_seconds"] = float(requeue)
        values.update(overrides)
        return cls(**values)
