"""The catalog of resource types the sandbox serves.

One `ResourceType` per (group, version, resource): what discovery lists,
what the HTTP router resolves URLs against, and what storage keys are built
from. Built-in kinds are fixed here; a CustomResourceDefinition adds its
served versions when it becomes Established and removes them when deleted.
Listeners (discovery caches, the OpenAPI builder) are told of every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@attrs.frozen
class ResourceType:
    """A served group/version/resource, with everything discovery says of it."""

    group: str
    version: str
    resource: str  # plural, lower case: "pods"
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Subresources served under .../NAME/<sub>: "status", "scale", "log", "proxy", "binding",
    # "eviction", "exec", "portforward".
    subresources: tuple[str, ...] = ()
    # For CRDs: the stored version's name, the validation schema, printer columns, and
    # whether this version is the storage version (all versions share one storage key).
    storage_version: str = ""
    schema: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    is_crd: bool = False
    # The group whose storage this resource shares, when it is not its own: kube keeps one
    # stored object per group/resource family and converts it per request
    # (events.k8s.io/v1 Events are core/v1 Events in storage). None: its own group.
    storage_group: str | None = None
    # kube's AllowCreateOnUpdate: a PUT to a missing object creates it (201). True for the
    # kinds clients upsert by name: Endpoints, Events, LimitRanges, Leases and RBAC.
    create_on_update: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def stored_group(self) -> str:
        return self.group if self.storage_group is None else self.storage_group

    @property
    def stored_api_version(self) -> str:
        """The apiVersion objects of this resource have in storage (see conversion.py)."""
        version = self.storage_version or self.version
        group = self.stored_group
        return f"{group}/{version}" if group else version

    @property
    def storage_resource(self) -> tuple[str, str]:
        """(group, resource) of the storage family: every member shares one set of objects."""
        return (self.stored_group, self.resource)

    @property
    def is_storage_version(self) -> bool:
        """True for the one member of the family objects are stored as."""
        return self.api_version == self.stored_api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> str:
        """`pods` or `rayclusters.ray.io`: the name kube uses in messages and metrics."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def storage_prefix(self, namespace: str | None = None) -> str:
        """Storage key prefix. Every version (and cohabiting group) of a resource shares it."""
        base = f"/{self.stored_group or 'core'}/{self.resource}/"
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def storage_key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix()}{namespace}/{name}"
        return f"{self.storage_prefix()}{name}"


def _rt(
    group: str,
    version: str,
    resource: str,
    kind: str,
    namespaced: bool = True,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    subresources: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    *,
    storage: tuple[str, str] | None = None,
    create_on_update: bool = False,
) -> ResourceType:
    """A built-in type; `storage` is the (group, version) it is stored as, if not its own."""
    return ResourceType(
        group=group,
        version=version,
        resource=resource,
        kind=kind,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short_names,
        categories=categories,
        subresources=subresources,
        verbs=verbs,
        storage_version=version if storage is None else storage[1],
        storage_group=None if storage is None else storage[0],
        create_on_update=create_on_update,
    )


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _rt(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        ("ns",),
        (),
        ("status", "finalize"),
        ("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    _rt("", "v1", "nodes", "Node", False, ("no",), (), ("status", "proxy")),
    _rt(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        ("po",),
        ("all",),
        (
            "status",
            "log",
            "proxy",
            "binding",
            "eviction",
            "exec",
            "portforward",
            "ephemeralcontainers",
        ),
    ),
    _rt("", "v1", "services", "Service", True, ("svc",), ("all",), ("status", "proxy")),
    _rt("", "v1", "endpoints", "Endpoints", True, ("ep",), create_on_update=True),
    _rt("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    _rt("", "v1", "secrets", "Secret", True),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    _rt("", "v1", "events", "Event", True, ("ev",), create_on_update=True),
    _rt(
        "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), (), ("status",)
    ),
    _rt("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), (), ("status",)),
    _rt("", "v1", "limitranges", "LimitRange", True, ("limits",), create_on_update=True),
    _rt(
        "apps", "v1", "deployments", "Deployment", True, ("deploy",), ("all",), ("status", "scale")
    ),
    _rt("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("all",), ("status", "scale")),
    _rt("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("all",), ("status", "scale")),
    _rt("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("all",), ("status",)),
    _rt("batch", "v1", "jobs", "Job", True, (), ("all",), ("status",)),
    _rt("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("all",), ("status",)),
    _rt("coordination.k8s.io", "v1", "leases", "Lease", True, create_on_update=True),
    _rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    # One stored Event seen through two APIs (kube's cohabiting resources).
    _rt(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        ("ev",),
        storage=("", "v1"),
        create_on_update=True,
    ),
    _rt("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), (), ("status",)),
    _rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    _rt(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        True,
        ("pdb",),
        (),
        ("status",),
    ),
    _rt("rbac.authorization.k8s.io", "v1", "roles", "Role", True, create_on_update=True),
    _rt(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        True,
        create_on_update=True,
    ),
    _rt(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        False,
        create_on_update=True,
    ),
    _rt(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        False,
        create_on_update=True,
    ),
    _rt(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("api-extensions",),
        ("status",),
    ),
    _rt(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
        ("all",),
        ("status",),
    ),
)

# Preferred versions and group order for discovery (kube lists core groups first).
GROUP_ORDER: tuple[str, ...] = (
    "",
    "apps",
    "events.k8s.io",
    "autoscaling",
    "batch",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
)


CatalogListener = Callable[[], None]


class Catalog:
    """Every served resource type, indexed the ways the router and clients look them up."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._listeners: list[CatalogListener] = []
        self.generation = 0  # bumped on every change; caches (discovery, OpenAPI) key on it
        for rt in types:
            self._by_gvr[(rt.group, rt.version, rt.resource)] = rt

    def add_listener(self, listener: CatalogListener) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        self.generation += 1
        for listener in list(self._listeners):
            listener()

    def register(self, types: Iterable[ResourceType]) -> None:
        """Add or replace types (a CRD becoming Established, or its spec changing)."""
        for rt in types:
            self._by_gvr[(rt.group, rt.version, rt.resource)] = rt
        self._changed()

    def unregister(self, group: str, resource: str) -> None:
        """Remove every version of group/resource (a CRD deleted)."""
        for key in [k for k in self._by_gvr if k[0] == group and k[2] == resource]:
            del self._by_gvr[key]
        self._changed()

    def get(self, group: str, version: str, resource: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, resource))

    def require(self, group: str, version: str, resource: str) -> ResourceType:
        """A type the caller cannot work without (the built-ins controllers are made for)."""
        rt = self._by_gvr.get((group, version, resource))
        if rt is None:
            raise ValueError(f"the catalog does not serve {group}/{version} {resource}")
        return rt

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        """The preferred (storage) version of a kind, for ownerReference lookups and GC."""
        found = [rt for rt in self._by_gvr.values() if rt.group == group and rt.kind == kind]
        for rt in found:
            if rt.version == rt.storage_version:
                return rt
        return found[0] if found else None

    def by_api_version_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self._by_gvr.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_gvr.values()))

    def groups(self) -> list[tuple[str, list[str]]]:
        """(group, versions) in discovery order; the first version is the preferred one."""
        versions: dict[str, list[str]] = {}
        for rt in self._by_gvr.values():
            vs = versions.setdefault(rt.group, [])
            if rt.version not in vs:
                vs.append(rt.version)
        ordered = [g for g in GROUP_ORDER if g in versions]
        ordered += sorted(g for g in versions if g not in GROUP_ORDER)
        return [(g, _sort_versions(versions[g])) for g in ordered]

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted(
            (rt for rt in self._by_gvr.values() if rt.group == group and rt.version == version),
            key=lambda rt: rt.resource,
        )


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kube's version ordering: GA > beta > alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)


def _sort_versions(versions: list[str]) -> list[str]:
    return sorted(versions, key=_version_priority)
