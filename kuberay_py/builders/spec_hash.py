"""A fingerprint of a RayCluster spec, blind to what scaling and schedulers change.

The Recreate upgrade strategy stamps it on the head pod and recreates every pod when
it changes; RayService compares it to decide whether a new cluster is needed. Fields
the autoscaler (replicas, min/max, workersToDelete) or external controllers such as
Kueue (tolerations, scheduling gates) rewrite on a live cluster must not count, nor
may the upgrade strategy itself.

Same algorithm as KubeRay (SHA-1 of the JSON spec, base32 "extended hex", 32
characters), over our camelCase wire form with sorted keys. It is not byte-equal to
KubeRay's (Go encodes struct fields in declaration order, dropping empty values), so
a Recreate cluster whose head pod KubeRay itself stamped reads as changed once this
operator takes it over.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from kuberay_py.api.convert import converter
from kuberay_py.api.raycluster import RayCluster, RayClusterSpec

_TEMPLATE_FIELDS = ("tolerations", "schedulingGates")
_WORKER_FIELDS = ("replicas", "minReplicas", "maxReplicas")


def _mute_template(group: dict[str, Any]) -> None:
    spec = (group.get("template") or {}).get("spec")
    if isinstance(spec, dict):
        for key in _TEMPLATE_FIELDS:
            spec.pop(key, None)


def _hashable_spec(spec: RayClusterSpec, *, mute_suspend: bool) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(spec)  # a fresh dict: safe to edit
    data = json.loads(json.dumps(data))  # detach from the model's nested objects
    head = data.get("headGroupSpec")
    if isinstance(head, dict):
        _mute_template(head)
    for group in data.get("workerGroupSpecs") or []:
        for key in _WORKER_FIELDS:
            group.pop(key, None)
        strategy = group.get("scaleStrategy")
        if isinstance(strategy, dict):
            strategy.pop("workersToDelete", None)
            if not strategy:
                # Go always writes the (non-pointer) struct; absent and {} are one value.
                group.pop("scaleStrategy")
        _mute_template(group)
    data.pop("upgradeStrategy", None)
    if mute_suspend:
        data.pop("suspend", None)
    return data


def _digest(data: dict[str, Any]) -> str:
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    sha = hashlib.sha1(encoded.encode(), usedforsecurity=False).digest()
    return base64.b32hexencode(sha).decode()


def spec_hash(spec: RayClusterSpec, *, mute_suspend: bool = False) -> str:
    """KubeRay's GenerateHashWithoutReplicasAndWorkersToDelete; `mute_suspend` for the
    RayService variant, which also ignores `suspend`."""
    return _digest(_hashable_spec(spec, mute_suspend=mute_suspend))


def cluster_spec_hash(c: RayCluster) -> str:
    """The hash of a RayCluster's spec for `ray.io/upgrade-strategy-recreate-hash`."""
    return spec_hash(c.spec)
