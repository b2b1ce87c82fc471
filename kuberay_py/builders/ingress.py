"""The Ingress to the head's dashboard (`headGroupSpec.enableIngress: true`)."""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api.constants import (
    APP_NAME_DEFAULT,
    DASHBOARD_PORT_NAME,
    DEFAULT_DASHBOARD_PORT,
    INJECTED_PROBES_ANNOTATION,
    K8S_APP_NAME_LABEL,
    K8S_CREATED_BY_LABEL,
    KUBERAY_OPERATOR,
    NODE_TYPE_HEAD,
    PROBES_GENERATION_ANNOTATION,
    RAY_CLUSTER_LABEL,
    RAY_ID_LABEL,
)
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.addresses import head_service_name_for
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import check_label, check_name
from kuberay_py.builders.services import head_service_ports

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
#: Not copied to the Ingress. The class annotation becomes `spec.ingressClassName` (the
#: API rejects both at once); the probe injector's bookkeeping is ours alone and KubeRay's
#: Ingress would not carry it (copying it would rewrite the Ingress on every spec change).
_NOT_COPIED = frozenset(
    {INGRESS_CLASS_ANNOTATION, INJECTED_PROBES_ANNOTATION, PROBES_GENERATION_ANNOTATION}
)


def head_ingress_name(c: RayCluster) -> str:
    return check_name(f"{c.name}-{NODE_TYPE_HEAD}-ingress")


def build_head_ingress(c: RayCluster) -> dict[str, Any]:
    """One rule to the head Service's dashboard port. The cluster's annotations are copied
    as KubeRay does: they are the users' generic way to configure their ingress controller."""
    options = c.spec.head_group_spec.ingress_options
    annotations = c.annotations
    dashboard_port = head_service_ports(c).get(DASHBOARD_PORT_NAME, DEFAULT_DASHBOARD_PORT)
    path: dict[str, Any] = {
        "path": options.path if options and options.path is not None else "/",
        "pathType": options.path_type if options and options.path_type is not None else "Prefix",
        "backend": {
            "service": {"name": head_service_name_for(c), "port": {"number": dashboard_port}}
        },
    }
    rule: dict[str, Any] = {"http": {"paths": [path]}}
    if options and options.host:  # KubeRay's `host` is omitempty: "" writes no host
        rule["host"] = options.host
    spec: dict[str, Any] = {"rules": [rule]}
    if options and options.tls:
        spec["tls"] = copy.deepcopy(options.tls)
    if INGRESS_CLASS_ANNOTATION in annotations:
        spec["ingressClassName"] = annotations[INGRESS_CLASS_ANNOTATION]

    metadata: dict[str, Any] = {
        "name": head_ingress_name(c),
        "namespace": c.namespace,
        "labels": {
            RAY_CLUSTER_LABEL: c.name,
            RAY_ID_LABEL: check_label(f"{c.name}-{NODE_TYPE_HEAD}"),
            K8S_APP_NAME_LABEL: APP_NAME_DEFAULT,
            K8S_CREATED_BY_LABEL: KUBERAY_OPERATOR,
        },
        "ownerReferences": [controller_ref(c)],
    }
    copied = {k: v for k, v in annotations.items() if k not in _NOT_COPIED}
    if copied:
        metadata["annotations"] = copied
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }
