"""Metadata every object the operator creates shares: owner references."""

from __future__ import annotations

from typing import Any

from kuberay_py.api.raycluster import RayCluster


def controller_ref(owner: RayCluster | dict[str, Any]) -> dict[str, Any]:
    """A controller ownerReference to `owner`, with blockOwnerDeletion as controller-runtime."""
    if isinstance(owner, RayCluster):
        api_version, kind, meta = owner.api_version, owner.kind, owner.metadata
    else:
        api_version, kind, meta = owner["apiVersion"], owner["kind"], owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
