"""The autoscaler's ServiceAccount, Role and RoleBinding (`enableInTreeAutoscaling: true`).

The autoscaler sidecar runs under the head pod's ServiceAccount and patches the
RayCluster's replicas and worker pods; these grant exactly what KubeRay grants.
"""

from __future__ import annotations

from typing import Any

from kuberay_py.api.constants import (
    APP_NAME_DEFAULT,
    GROUP,
    K8S_APP_NAME_LABEL,
    K8S_CREATED_BY_LABEL,
    KUBERAY_OPERATOR,
    RAY_CLUSTER_LABEL,
)
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.autoscaler import head_service_account_name
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import check_name

Json = dict[str, Any]


def user_named_service_account(c: RayCluster) -> str:
    """The head template's `serviceAccountName` as the user wrote it (unclipped), "" if none.

    A user-named account must already exist; KubeRay never creates it (see
    AutoscalerServiceAccountNotFound), since zero-downtime upgrades would share it.
    """
    return str((c.spec.head_group_spec.template.get("spec") or {}).get("serviceAccountName") or "")


def _metadata(name: str, c: RayCluster) -> Json:
    return {
        "name": check_name(name),
        "namespace": c.namespace,
        "labels": {
            RAY_CLUSTER_LABEL: c.name,
            K8S_APP_NAME_LABEL: APP_NAME_DEFAULT,
            K8S_CREATED_BY_LABEL: KUBERAY_OPERATOR,
        },
        "ownerReferences": [controller_ref(c)],
    }


def build_autoscaler_service_account(c: RayCluster) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(head_service_account_name(c), c),
    }


def build_autoscaler_role(c: RayCluster) -> Json:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(c.name, c),
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
            {"apiGroups": [GROUP], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
        ],
    }


def build_autoscaler_role_binding(c: RayCluster) -> Json:
    """Subject and roleRef names are clipped exactly as the account and Role names are."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(c.name, c),
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": head_service_account_name(c),
                "namespace": c.namespace,
            }
        ],
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": check_name(c.name),
        },
    }
