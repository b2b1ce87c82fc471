"""Resource descriptors: enough to build a REST path for any kind, built-in or custom.

A `Resource` is what client-go calls a GroupVersionResource plus the two facts a
client needs without discovery: whether it is namespaced and its Kind.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "CONFIGMAPS",
    "CRDS",
    "DEPLOYMENTS",
    "ENDPOINTS",
    "ENDPOINTSLICES",
    "EVENTS",
    "EVENTS_V1",
    "JOBS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PODS",
    "RAYCLUSTERS",
    "RAYJOBS",
    "RAYSERVICES",
    "SECRETS",
    "SERVICEACCOUNTS",
    "SERVICES",
    "Resource",
    "object_key",
]


@attrs.frozen
class Resource:
    """One REST resource: `Resource("apps", "v1", "deployments", True, "Deployment")`."""

    group: str
    version: str
    plural: str
    namespaced: bool
    kind: str

    @property
    def api_version(self) -> str:
        """What objects of this resource carry in `apiVersion` (`v1`, `apps/v1`)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """The API root: `/api/v1` for the core group, `/apis/<group>/<version>` otherwise."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def label(self) -> str:
        """Short name for logs and metrics: `pods`, `rayclusters.ray.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(
        self,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The URL path; `namespace=None` on a namespaced resource means all namespaces."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts.append(f"/namespaces/{namespace}")
        parts.append(f"/{self.plural}")
        if name is not None:
            parts.append(f"/{name}")
            if subresource:
                parts.append(f"/{subresource}")
        return "".join(parts)


def object_key(obj: dict[str, Any]) -> str:
    """The cache key client-go uses: `namespace/name`, or `name` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "")
    return f"{ns}/{name}" if ns else str(name)


PODS = Resource("", "v1", "pods", True, "Pod")
SERVICES = Resource("", "v1", "services", True, "Service")
CONFIGMAPS = Resource("", "v1", "configmaps", True, "ConfigMap")
SECRETS = Resource("", "v1", "secrets", True, "Secret")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", True, "ServiceAccount")
EVENTS = Resource("", "v1", "events", True, "Event")
NAMESPACES = Resource("", "v1", "namespaces", False, "Namespace")
NODES = Resource("", "v1", "nodes", False, "Node")
ENDPOINTS = Resource("", "v1", "endpoints", True, "Endpoints")
PERSISTENTVOLUMECLAIMS = Resource("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")
RESOURCEQUOTAS = Resource("", "v1", "resourcequotas", True, "ResourceQuota")
DEPLOYMENTS = Resource("apps", "v1", "deployments", True, "Deployment")
JOBS = Resource("batch", "v1", "jobs", True, "Job")
LEASES = Resource("coordination.k8s.io", "v1", "leases", True, "Lease")
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", True, "Ingress")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", True, "Role")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", True, "RoleBinding")
EVENTS_V1 = Resource("events.k8s.io", "v1", "events", True, "Event")
CRDS = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", False, "CustomResourceDefinition"
)
RAYCLUSTERS = Resource("ray.io", "v1", "rayclusters", True, "RayCluster")
RAYSERVICES = Resource("ray.io", "v1", "rayservices", True, "RayService")
RAYJOBS = Resource("ray.io", "v1", "rayjobs", True, "RayJob")
