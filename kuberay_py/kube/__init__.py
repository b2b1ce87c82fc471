"""The Kubernetes client layer: resources, an async dict-based client, typed errors.

Public API:

    from kuberay_py.kube import KubeClient, PODS, NotFound
    async with await KubeClient.from_config() as client:
        pod = await client.get(PODS, "web-0", "default")

Imports nothing else from kuberay_py (only the package version for the User-Agent).
"""

from kuberay_py.kube.client import USER_AGENT, KubeClient, PatchType, PropagationPolicy
from kuberay_py.kube.config import Credentials, LoadedConfig, load_configuration
from kuberay_py.kube.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Cause,
    Conflict,
    ConnectionFailure,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    MethodNotAllowed,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    WatchIdleTimeout,
    error_from_status,
)
from kuberay_py.kube.gcpause import gc_paused
from kuberay_py.kube.ratelimit import TokenBucket
from kuberay_py.kube.resources import (
    CONFIGMAPS,
    CRDS,
    DEPLOYMENTS,
    ENDPOINTS,
    ENDPOINTSLICES,
    EVENTS,
    EVENTS_V1,
    INGRESSES,
    JOBS,
    LEASES,
    NAMESPACES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    RAYCLUSTERS,
    RAYJOBS,
    RAYSERVICES,
    RESOURCEQUOTAS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    Resource,
    object_key,
)
from kuberay_py.kube.retry import RetryPolicy, parse_retry_after
from kuberay_py.kube.watch import WatchEvent, WatchStream

__all__ = [
    "CONFIGMAPS",
    "CRDS",
    "DEPLOYMENTS",
    "ENDPOINTS",
    "ENDPOINTSLICES",
    "EVENTS",
    "EVENTS_V1",
    "INGRESSES",
    "JOBS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PERSISTENTVOLUMECLAIMS",
    "PODS",
    "RAYCLUSTERS",
    "RAYJOBS",
    "RAYSERVICES",
    "RESOURCEQUOTAS",
    "ROLEBINDINGS",
    "ROLES",
    "SECRETS",
    "SERVICEACCOUNTS",
    "SERVICES",
    "USER_AGENT",
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Cause",
    "Conflict",
    "ConnectionFailure",
    "Credentials",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeClient",
    "KubeError",
    "LoadedConfig",
    "MethodNotAllowed",
    "NotFound",
    "PatchType",
    "PropagationPolicy",
    "Resource",
    "RetryPolicy",
    "ServerError",
    "TokenBucket",
    "TooManyRequests",
    "Unauthorized",
    "WatchEvent",
    "WatchIdleTimeout",
    "WatchStream",
    "error_from_status",
    "gc_paused",
    "load_configuration",
    "object_key",
    "parse_retry_after",
]
