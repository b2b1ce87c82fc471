"""KubeRay's names: labels, annotations, ports, finalizers, env vars, condition types.

Users move between KubeRay and kuberay-py with the same dashboards, selectors and
scripts, so every string here is KubeRay's own, spelled exactly as KubeRay spells it
(reference: ../shared/reference/kuberay.md sections 1-4).
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "ray.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
RAYCLUSTER_KIND: Final = "RayCluster"
RAYSERVICE_KIND: Final = "RayService"
RAYJOB_KIND: Final = "RayJob"

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
#: The embedded (RocksDB) GCS FT backend's volume on the head.
GCS_STORAGE_VOLUME_NAME: Final = "gcs-storage"
GCS_STORAGE_MOUNT_PATH: Final = "/data/gcs"
#: mTLS (alpha gate RayClusterMTLS): the certificate volume and the init container that
#: waits for the pod IP to appear in the certificate.
RAY_TLS_VOLUME_NAME: Final = "ray-tls"
RAY_TLS_CERT_MOUNT_PATH: Final = "/etc/ray/tls"
WAIT_FOR_TLS_INIT_CONTAINER_NAME: Final = "wait-for-tls-ip-san"
HISTORY_COLLECTOR_CONTAINER_NAME: Final = "ray-history-collector"
#: The data key Ray's pods read the auth token from (KubeRay's and the users' Secrets alike).
RAY_AUTH_TOKEN_SECRET_KEY: Final = "auth_token"

# --- env vars -----------------------------------------------------------------------------
RAY_REDIS_ADDRESS_ENV: Final = "RAY_REDIS_ADDRESS"
REDIS_PASSWORD_ENV: Final = "REDIS_PASSWORD"
REDIS_USERNAME_ENV: Final = "REDIS_USERNAME"
RAY_EXTERNAL_STORAGE_NS_ENV: Final = "RAY_external_storage_namespace"
RAY_GCS_RPC_SERVER_RECONNECT_TIMEOUT_S_ENV: Final = "RAY_gcs_rpc_server_reconnect_timeout_s"
DEFAULT_WORKER_RAY_GCS_RECONNECT_TIMEOUT_S: Final = "600"
RAY_ENABLE_AUTOSCALER_V2_ENV: Final = "RAY_enable_autoscaler_v2"
KUBERAY_GEN_RAY_START_CMD_ENV: Final = "KUBERAY_GEN_RAY_START_CMD"
KUBERAY_GEN_AUTOSCALER_START_CMD_ENV: Final = "KUBERAY_GEN_AUTOSCALER_START_CMD"
RAY_GCS_STORAGE_ENV: Final = "RAY_gcs_storage"
RAY_GCS_STORAGE_PATH_ENV: Final = "RAY_gcs_storage_path"
POD_IP_ENV: Final = "POD_IP"
FQ_RAY_IP_ENV: Final = "FQ_RAY_IP"
RAY_CLUSTER_NAME_ENV: Final = "RAY_CLUSTER_NAME"
RAY_CLUSTER_NAMESPACE_ENV: Final = "RAY_CLUSTER_NAMESPACE"
RAY_USE_TLS_ENV: Final = "RAY_USE_TLS"
RAY_TLS_SERVER_CERT_ENV: Final = "RAY_TLS_SERVER_CERT"
RAY_TLS_SERVER_KEY_ENV: Final = "RAY_TLS_SERVER_KEY"
RAY_TLS_CA_CERT_ENV: Final = "RAY_TLS_CA_CERT"
#: The mTLS env vars KubeRay sets, in the order it sets them.
TLS_ENVS: Final = (
    RAY_USE_TLS_ENV,
    RAY_TLS_SERVER_CERT_ENV,
    RAY_TLS_SERVER_KEY_ENV,
    RAY_TLS_CA_CERT_ENV,
)
#: Env vars KubeRay injects into the history collector itself, in KubeRay's checking order.
HISTORY_COLLECTOR_MANAGED_ENVS: Final = (
    POD_IP_ENV,
    FQ_RAY_IP_ENV,
    RAY_CLUSTER_NAME_ENV,
    RAY_CLUSTER_NAMESPACE_ENV,
    "RAY_ROLE",
    "OWNER_KIND",
    "OWNER_NAME",
    "EVENTS_PORT",
)

# --- spec enum values ---------------------------------------------------------------------
UPGRADE_RECREATE: Final = "Recreate"
UPGRADE_NONE: Final = "None"
AUTOSCALER_V1: Final = "v1"
AUTOSCALER_V2: Final = "v2"
AUTH_MODE_DISABLED: Final = "disabled"
AUTH_MODE_TOKEN: Final = "token"
GCS_FT_BACKEND_REDIS: Final = "redis"
GCS_FT_BACKEND_ROCKSDB: Final = "rocksdb"
NETWORK_POLICY_DENY_ALL: Final = "DenyAll"
NETWORK_POLICY_DENY_ALL_INGRESS: Final = "DenyAllIngress"
NETWORK_POLICY_DENY_ALL_EGRESS: Final = "DenyAllEgress"

# --- status -------------------------------------------------------------------------------
STATE_READY: Final = "ready"
STATE_SUSPENDED: Final = "suspended"

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
