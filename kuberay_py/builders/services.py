"""The Services a RayCluster owns: head, serve and headless-worker.

Users, Ray's own tools and dashboards dial these by KubeRay's names and select them by
KubeRay's labels, so names, labels, selectors and port names follow KubeRay exactly.
Two places where KubeRay's output depends on Go's random map order (the port lists)
are made deterministic here: ports are sorted by name, so a rebuilt Service compares
equal to the stored one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    APP_NAME_DEFAULT,
    CLIENT_PORT_NAME,
    DASHBOARD_PORT_NAME,
    DEFAULT_CLIENT_PORT,
    DEFAULT_DASHBOARD_PORT,
    DEFAULT_GCS_PORT,
    DEFAULT_METRICS_PORT,
    DEFAULT_SERVE_PORT,
    ENABLE_SERVE_SERVICE_ANNOTATION,
    GCS_PORT_NAME,
    K8S_APP_NAME_LABEL,
    K8S_CREATED_BY_LABEL,
    KUBERAY_OPERATOR,
    METRICS_PORT_NAME,
    NODE_TYPE_HEAD,
    NODE_TYPE_WORKER,
    RAY_CLUSTER_LABEL,
    RAY_CLUSTER_SERVE_LABEL,
    RAY_HEADLESS_WORKER_SVC_LABEL,
    RAY_ID_LABEL,
    RAY_NODE_TYPE_LABEL,
    RAY_ORIGINATED_FROM_CR_NAME_LABEL,
    RAY_ORIGINATED_FROM_CRD_LABEL,
    RAYCLUSTER_KIND,
    SERVE_PORT_NAME,
)
from kuberay_py.api.pod_template import ray_container
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.addresses import head_service_fqdn, head_service_name_for
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import (
    check_label,
    headless_worker_service_name,
    serve_service_label,
    serve_service_name,
)

__all__ = [
    "NO_SERVE_PORT_MESSAGE",
    "SERVICE_APP_PROTOCOL",
    "build_head_service",
    "build_headless_worker_service",
    "build_serve_service",
    "build_serve_service_for_raycluster",
    "head_service_fqdn",
    "head_service_labels",
    "head_service_ports",
    "is_serving_port",
    "needs_headless_worker_service",
    "serve_service_enabled",
]

Json = dict[str, Any]

#: Every head Service port carries it (KubeRay's DefaultServiceAppProtocol).
SERVICE_APP_PROTOCOL = "tcp"
NO_SERVE_PORT_MESSAGE = (
    "Please specify a port named 'serve' (or with the prefix 'serve-', e.g. 'serve-grpc') "
    "in the Ray head container; otherwise, the Kubernetes service for Ray Serve will not be "
    "created."
)
_DEFAULT_PORTS: dict[str, int] = {
    CLIENT_PORT_NAME: DEFAULT_CLIENT_PORT,
    GCS_PORT_NAME: DEFAULT_GCS_PORT,
    DASHBOARD_PORT_NAME: DEFAULT_DASHBOARD_PORT,
    METRICS_PORT_NAME: DEFAULT_METRICS_PORT,
    SERVE_PORT_NAME: DEFAULT_SERVE_PORT,
}


def is_serving_port(name: str) -> bool:
    """`serve`, or `serve-<anything>` (`serve-grpc`): one Service can carry HTTP and gRPC."""
    return name == SERVE_PORT_NAME or name.startswith(SERVE_PORT_NAME + "-")


def serve_service_enabled(c: RayCluster) -> bool:
    """Only the exact value "true" turns the RayCluster's serve Service on, as in KubeRay."""
    return c.annotations.get(ENABLE_SERVE_SERVICE_ANNOTATION) == "true"


def needs_headless_worker_service(c: RayCluster) -> bool:
    """Multi-host groups (numOfHosts > 1) need DNS names for peer-to-peer traffic."""
    return any((g.num_of_hosts or 1) > 1 for g in c.spec.worker_group_specs or [])


def head_service_labels(c: RayCluster) -> dict[str, str]:
    """The five keys a head Service carries and selects by (KubeRay's HeadServiceLabels)."""
    return {
        RAY_CLUSTER_LABEL: c.name,
        RAY_NODE_TYPE_LABEL: NODE_TYPE_HEAD,
        RAY_ID_LABEL: check_label(f"{c.name}-{NODE_TYPE_HEAD}"),
        K8S_APP_NAME_LABEL: APP_NAME_DEFAULT,
        K8S_CREATED_BY_LABEL: KUBERAY_OPERATOR,
    }


def _head_container_ports(c: RayCluster) -> list[Json]:
    return list(ray_container(c.spec.head_group_spec.template).get("ports") or [])


def head_service_ports(c: RayCluster) -> dict[str, int]:
    """Name -> port of the head Ray container (unnamed: `"<port>-port"`), KubeRay's defaults
    when it declares none, and `metrics` always. Shared by the head and serve Services and
    the Ingress, which must agree on the dashboard port."""
    ports: dict[str, int] = {}
    for port in _head_container_ports(c):
        number = int(port.get("containerPort") or 0)
        ports[port.get("name") or f"{number}-port"] = number
    if not ports:
        ports = dict(_DEFAULT_PORTS)
    ports.setdefault(METRICS_PORT_NAME, DEFAULT_METRICS_PORT)
    return ports


def _head_service_ports_list(c: RayCluster) -> list[Json]:
    return [
        {"name": name, "port": port, "appProtocol": SERVICE_APP_PROTOCOL}
        for name, port in sorted(head_service_ports(c).items())
    ]


def _template_selector_overrides(c: RayCluster) -> dict[str, str]:
    """What KubeRay's controller lets the head template decide: only the app name."""
    template_labels = (c.spec.head_group_spec.template.get("metadata") or {}).get("labels") or {}
    if K8S_APP_NAME_LABEL in template_labels:
        return {K8S_APP_NAME_LABEL: str(template_labels[K8S_APP_NAME_LABEL])}
    return {}


def _meta(name: str, namespace: str, labels: Mapping[str, str], c: RayCluster) -> Json:
    return {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "ownerReferences": [controller_ref(c)],
    }


def _adopt_user_service(
    user_service: Json,
    *,
    selector: Mapping[str, str],
    labels: Mapping[str, str],
    default_name: str,
    namespace: str,
    default_type: str | None,
    c: RayCluster,
) -> tuple[Json, Json, Json]:
    """A deep copy of the user's Service with KubeRay's fields forced: selector replaced,
    our labels over the user's, the name defaulted, the namespace forced, the type
    defaulted. Returns (service, metadata, spec) so callers finish the ports."""
    service = copy.deepcopy(user_service)
    service["apiVersion"] = "v1"
    service["kind"] = "Service"
    meta: Json = service.setdefault("metadata", {})
    spec: Json = service.setdefault("spec", {})
    spec["selector"] = dict(selector)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    if not meta.get("name"):
        meta["name"] = default_name
    meta["namespace"] = namespace
    if not spec.get("type") and default_type:
        spec["type"] = default_type
    meta["ownerReferences"] = [controller_ref(c)]
    return service, meta, spec


def build_head_service(
    c: RayCluster,
    config: OperatorConfig,
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Json:
    """The head Service, headless unless the operator asks for a ClusterIP or the user
    picked another type (one head pod needs no virtual IP, and workers must reach it
    before it is Ready).

    `labels` may override selector values for the five default keys only; None means what
    KubeRay's controller passes: the head template's `app.kubernetes.io/name`.
    `annotations` default to `spec.headServiceAnnotations`.
    """
    defaults = head_service_labels(c)
    overrides = _template_selector_overrides(c) if labels is None else labels
    selector = {key: str(overrides.get(key, value)) for key, value in defaults.items()}
    if annotations is None:
        annotations = c.spec.head_service_annotations or {}
    name = head_service_name_for(c)
    service_type = c.spec.head_group_spec.service_type or None
    ports = _head_service_ports_list(c)

    user_service = c.spec.head_group_spec.head_service
    if user_service is not None:
        service, meta, spec = _adopt_user_service(
            user_service,
            selector=selector,
            labels=selector,
            default_name=name,
            namespace=c.namespace,
            default_type=service_type,
            c=c,
        )
        if annotations:
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        # KubeRay appends its ports to the user's; a port the user already declares (by
        # name or number) is skipped, since a duplicate makes the API server reject the
        # Service. The user's definition wins.
        user_ports: list[Json] = list(spec.get("ports") or [])
        taken_names = {p.get("name") for p in user_ports}
        taken_numbers = {p.get("port") for p in user_ports}
        user_ports += [
            p for p in ports if p["name"] not in taken_names and p["port"] not in taken_numbers
        ]
        spec["ports"] = user_ports
        return service

    meta = _meta(name, c.namespace, selector, c)
    if annotations:
        meta["annotations"] = dict(annotations)
    spec = {"selector": dict(selector), "ports": ports}
    if service_type:
        spec["type"] = service_type
    if service_type in (None, "ClusterIP") and not config.enable_head_cluster_ip_service:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def build_serve_service(
    c: RayCluster,
    *,
    owner_name: str,
    owner_kind: str,
    user_service: Json | None = None,
    selector: Mapping[str, str] | None = None,
    namespace: str | None = None,
    service_type: str | None = None,
    owner_reference: Json | None = None,
) -> Json:
    """The Service in front of Ray Serve's proxies, for a RayCluster or a RayService.

    `owner_name`/`owner_kind` give the name (`<owner>-serve-svc`) and the origin labels.
    `selector` defaults to the cluster's pods (a RayService passes its `ray.io/serve=true`
    too); `user_service` is the RayService's `serveService`, adopted as KubeRay does: when
    the head container has serve ports the Service keeps exactly those (the user's
    definition of a same-named port wins, keeping e.g. its appProtocol), otherwise the
    user's ports are kept as written. `namespace` and `service_type` default to the
    cluster's; `owner_reference` to a controller reference to the cluster.
    Raises BuildError when neither the head container nor the user gives a serve port.
    """
    namespace = namespace or c.namespace
    if service_type is None:
        service_type = c.spec.head_group_spec.service_type or None
    if selector is None:
        selector = {RAY_CLUSTER_LABEL: c.name}
    labels = {
        RAY_ORIGINATED_FROM_CR_NAME_LABEL: owner_name,
        RAY_ORIGINATED_FROM_CRD_LABEL: owner_kind,
        RAY_CLUSTER_SERVE_LABEL: serve_service_label(owner_name),
    }
    name = serve_service_name(owner_name)
    ports = [
        {"name": port_name, "port": port}
        for port_name, port in sorted(head_service_ports(c).items())
        if is_serving_port(port_name)
    ]
    owner_refs = [owner_reference if owner_reference is not None else controller_ref(c)]

    if user_service is not None:
        service, meta, spec = _adopt_user_service(
            user_service,
            selector=selector,
            labels=labels,
            default_name=name,
            namespace=namespace,
            default_type=service_type,
            c=c,
        )
        meta["ownerReferences"] = owner_refs
        if ports:
            by_name = {p.get("name"): p for p in spec.get("ports") or []}
            spec["ports"] = [by_name.get(p["name"], p) for p in ports]
        return service

    if not ports:
        raise BuildError(NO_SERVE_PORT_MESSAGE)
    meta = _meta(name, namespace, labels, c)
    meta["ownerReferences"] = owner_refs
    serve_spec: Json = {"selector": dict(selector), "ports": ports}
    if service_type:
        serve_spec["type"] = service_type
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": serve_spec}


def build_serve_service_for_raycluster(c: RayCluster) -> Json:
    """`<cluster>-serve-svc`, selecting every pod of the cluster (the controller creates it
    only when `ray.io/enable-serve-service` is "true"; see serve_service_enabled)."""
    return build_serve_service(c, owner_name=c.name, owner_kind=RAYCLUSTER_KIND)


def build_headless_worker_service(c: RayCluster) -> Json:
    """`<cluster>-headless`: DNS for multi-host workers, published before they are Ready
    because peers must find each other to become Ready at all."""
    meta = _meta(
        headless_worker_service_name(c.name),
        c.namespace,
        {RAY_HEADLESS_WORKER_SVC_LABEL: c.name},
        c,
    )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": "None",
            "selector": {RAY_CLUSTER_LABEL: c.name, RAY_NODE_TYPE_LABEL: NODE_TYPE_WORKER},
            "type": "ClusterIP",
            "publishNotReadyAddresses": True,
        },
    }
