"""The Secret holding a cluster's generated Ray auth token (`authOptions.mode: token`)."""

from __future__ import annotations

from typing import Any

from kuberay_py.api.constants import RAY_AUTH_TOKEN_SECRET_KEY, RAY_CLUSTER_LABEL
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import check_name


def auth_secret_name(c: RayCluster) -> str:
    """CheckName(cluster): the controller looks the Secret up by this name before creating it."""
    return check_name(c.name)


def build_auth_secret(c: RayCluster, token: str) -> dict[str, Any]:
    """The token is passed in, not drawn here, so the builder stays pure; the controller
    draws 32 random bytes, base64-encoded, as KubeRay does. `stringData` as KubeRay
    writes it: the API server folds it into `data`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": auth_secret_name(c),
            "namespace": c.namespace,
            "labels": {RAY_CLUSTER_LABEL: c.name},
            "ownerReferences": [controller_ref(c)],
        },
        "stringData": {RAY_AUTH_TOKEN_SECRET_KEY: token},
    }
