"""Where a cluster's head can be reached: its Service name, FQDN and GCS address.

Workers, init containers and the operator's own clients (dashboard, Redis cleanup)
must all dial the same name, so it is derived in one place.
"""

from __future__ import annotations

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import DEFAULT_GCS_PORT
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.names import head_service_name


def head_service_name_for(c: RayCluster) -> str:
    """The user's `headService.metadata.name` when set, else `<cluster>-head-svc`."""
    head_service = c.spec.head_group_spec.head_service or {}
    custom = (head_service.get("metadata") or {}).get("name")
    if custom:
        return str(custom)
    return head_service_name(c.name)


def head_service_fqdn(c: RayCluster, config: OperatorConfig) -> str:
    """`<headSvc>.<ns>.svc.<cluster domain>`: what workers resolve to find the head."""
    return f"{head_service_name_for(c)}.{c.namespace}.svc.{config.cluster_domain}"


def ray_ip_from_fqdn(fqdn: str) -> str:
    """The deprecated `RAY_IP`: the first DNS label of the FQDN (the short service name)."""
    return fqdn.split(".")[0]


def head_port(c: RayCluster) -> str:
    """The GCS port as KubeRay reads it: the head's `rayStartParams["port"]`, else 6379."""
    params = c.spec.head_group_spec.ray_start_params or {}
    return params["port"] if "port" in params else str(DEFAULT_GCS_PORT)
