"""KubeRay's names: labels, annotations, ports, finalizers, env vars, condition types.

Users move between KubeRay and kuberay-py with the same dashboards, selectors and
scripts, so every string here is KubeRay's own, spelled exactly as KubeRay spells it
(reference: ../shared/reference/kuberay.md sections 1-4).
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "ray.io"
VERSION: Final = "v1"
API_VERSION: Final = "ray.io/v1"
RAYCLUSTER_KIND: Final = "RayCluster"
RAYSERVICE_KIND: Final = "RayService"

#: The value of `spec.managedBy` (and of `app.kubernetes.io/created-by`) meaning "us".
KUBERAY_OPERATOR: Final = "kuberay-operator"
MANAGED_BY_KUBERAY: Final = "ray.io/kuberay-operator"
MANAGED_BY_MULTIKUEUE: Final = "kueue.x-k8s.io/multikueue"
#: Reported in `ray.io/kuberay-version` and RAY_USAGE_STATS_EXTRA_TAGS.
KUBERAY_VERSION: Final = "v1.7.0"

# --- labels -------------------------------------------------------------------------------
RAY_CLUSTER_LABEL: Final = "ray.io/cluster"
RAY_NODE_TYPE_LABEL: Final = "ray.io/node-type"
RAY_NODE_GROUP_LABEL: Final = "ray.io/group"
RAY_IS_RAY_NODE_LABEL: Final = "ray.io/is-ray-node"
RAY_ID_LABEL: Final = "ray.io/identifier"
RAY_CLUSTER_SERVE_LABEL: Final = "ray.io/serve"
RAY_ORIGINATED_FROM_CR_NAME_LABEL: Final = "ray.io/originated-from-cr-name"
RAY_ORIGINATED_FROM_CRD_LABEL: Final = "ray.io/originated-from-crd"
RAY_HEADLESS_WORKER_SVC_LABEL: Final = "ray.io/headless-worker-svc"
RAY_WORKER_REPLICA_INDEX_LABEL: Final = "ray.io/worker-group-replica-index"
RAY_WORKER_REPLICA_NAME_LABEL: Final = "ray.io/worker-group-replica-name"
RAY_HOST_INDEX_LABEL: Final = "ray.io/replica-host-index"
K8S_APP_NAME_LABEL: Final = "app.kubernetes.io/name"
K8S_CREATED_BY_LABEL: Final = "app.kubernetes.io/created-by"
APP_NAME_DEFAULT: Final = "kuberay"

NODE_TYPE_HEAD: Final = "head"
NODE_TYPE_WORKER: Final = "worker"
NODE_TYPE_REDIS_CLEANUP: Final = "redis-cleanup"
HEAD_GROUP_NAME: Final = "headgroup"

# --- annotations --------------------------------------------------------------------------
FT_ENABLED_ANNOTATION: Final = "ray.io/ft-enabled"
EXTERNAL_STORAGE_NAMESPACE_ANNOTATION: Final = "ray.io/external-storage-namespace"
OVERWRITE_CONTAINER_CMD_ANNOTATION: Final = "ray.io/overwrite-container-cmd"
ENABLE_SERVE_SERVICE_ANNOTATION: Final = "ray.io/enable-serve-service"
GCS_FT_DELETION_TIMEOUT_ANNOTATION: Final = "ray.io/gcs-ft-deletion-timeout"
DISABLE_PROVISIONED_HEAD_RESTART_ANNOTATION: Final = "ray.io/disable-provisioned-head-restart"
UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION: Final = "ray.io/upgrade-strategy-recreate-hash"
KUBERAY_VERSION_ANNOTATION: Final = "ray.io/kuberay-version"
#: The probe injector's decision (JSON keyed by group name) and the generation it is for.
INJECTED_PROBES_ANNOTATION: Final = "ray.io/injected-probes"
PROBES_GENERATION_ANNOTATION: Final = "ray.io/probes-generation"
#: `"false"` on a RayCluster switches probe injection off for that cluster.
PROBE_INJECTION_ANNOTATION: Final = "ray.io/probe-injection"

# --- finalizers ---------------------------------------------------------------------------
GCS_FT_REDIS_CLEANUP_FINALIZER: Final = "ray.io/gcs-ft-redis-cleanup-finalizer"
DEFAULT_GCS_FT_DELETION_TIMEOUT_SECONDS: Final = 300

# --- ports --------------------------------------------------------------------------------
DEFAULT_GCS_PORT: Final = 6379
DEFAULT_DASHBOARD_PORT: Final = 8265
DEFAULT_CLIENT_PORT: Final = 10001
DEFAULT_SERVE_PORT: Final = 8000
DEFAULT_METRICS_PORT: Final = 8080
DEFAULT_DASHBOARD_AGENT_LISTEN_PORT: Final = 52365
GCS_PORT_NAME: Final = "gcs-server"
DASHBOARD_PORT_NAME: Final = "dashboard"
CLIENT_PORT_NAME: Final = "client"
SERVE_PORT_NAME: Final = "serve"
METRICS_PORT_NAME: Final = "metrics"

# --- containers, volumes ------------------------------------------------------------------
RAY_CONTAINER_INDEX: Final = 0
AUTOSCALER_CONTAINER_NAME: Final = "autoscaler"
WAIT_GCS_READY_INIT_CONTAINER_NAME: Final = "wait-gcs-ready"
SHARED_MEMORY_VOLUME_NAME: Final = "shared-mem"
SHARED_MEMORY_MOUNT_PATH: Final = "/dev/shm"
RAY_LOG_VOLUME_NAME: Final = "ray-logs"
RAY_LOG_MOUNT_PATH: Final = "/tmp/ray"
REDIS_CLEANUP_JOB_SUFFIX: Final = "-redis-cleanup"

# --- env vars -----------------------------------------------------------------------------
RAY_REDIS_ADDRESS_ENV: Final = "RAY_REDIS_ADDRESS"
REDIS_PASSWORD_ENV: Final = "REDIS_PASSWORD"
REDIS_USERNAME_ENV: Final = "REDIS_USERNAME"
RAY_EXTERNAL_STORAGE_NS_ENV: Final = "RAY_external_storage_namespace"
RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S_ENV: Final = "RAY_gcs_rpc_server_reconnect_timeout_s"
DEFAULT_WORKER_RAY_GCS_RECONNECT_TIMEOUT_S: Final = "600"
RAY_ENABLE_AUTOSCALER_V2_ENV: Final = "RAY_enable_autoscaler_v2"
KUBERAY_GEN_RAY_START_CMD_ENV: Final = "KUBERAY_GEN_RAY_START_CMD"

# --- status -------------------------------------------------------------------------------
STATE_READY: Final = "ready"
STATE_SUSPENDED: Final = "suspended"
STATE_FAILED: Final = "failed"
STATE_UNHEALTHY: Final = "unhealthy"

HEAD_POD_READY: Final = "HeadPodReady"
RAY_CLUSTER_PROVISIONED: Final = "RayClusterProvisioned"
REPLICA_FAILURE: Final = "ReplicaFailure"
RAY_CLUSTER_SUSPENDING: Final = "RayClusterSuspending"
RAY_CLUSTER_SUSPENDED: Final = "RayClusterSuspended"

# Condition reasons.
HEAD_POD_RUNNING_AND_READY: Final = "HeadPodRunningAndReady"
HEAD_POD_NOT_FOUND: Final = "HeadPodNotFound"
RAY_CLUSTER_PODS_PROVISIONING: Final = "RayClusterPodsProvisioning"
ALL_POD_RUNNING_AND_READY_FIRST_TIME: Final = "AllPodRunningAndReadyFirstTime"
