"""The defaults a RayCluster gets before anyone reasons about it.

Two sources, applied in one place so the controller, the builders and the tests
all see the same object whatever stored it:

- the CRD's `default:` values (`crd.WORKER_GROUP_DEFAULTS`, network policy mode),
  which a real API server fills in on write, but which a FakeKube in unit tests
  or an object built in Python never got;
- KubeRay's `setDefaults` at the top of every reconcile: an absent
  `rayStartParams` becomes `{}`, so later code can add keys without a None check.

A field the user set, even to a value the CRD default would not pick (an explicit
`numOfHosts: 0`), is left as written: the API server only fills absent fields.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from kuberay_py.api.constants import NETWORK_POLICY_DENY_ALL
from kuberay_py.api.raycluster import RayCluster, WorkerGroupSpec

MAX_INT32: Final = 2**31 - 1

#: attribute name -> the value KubeRay's CRD declares as `default:` for a worker group.
WORKER_GROUP_DEFAULTS: Final[dict[str, int]] = {
    "replicas": 0,
    "min_replicas": 0,
    "max_replicas": MAX_INT32,
    "num_of_hosts": 1,
    "priority": 0,
}

#: `spec.networkPolicy.mode` when a network policy is given without one.
NETWORK_POLICY_MODE_DEFAULT: Final = NETWORK_POLICY_DENY_ALL


def _default_group(group: WorkerGroupSpec) -> None:
    if group.ray_start_params is None:
        group.ray_start_params = {}
    for name, value in WORKER_GROUP_DEFAULTS.items():
        if getattr(group, name) is None:
            setattr(group, name, value)


def with_defaults(cluster: RayCluster) -> RayCluster:
    """A copy of `cluster` with the CRD's defaults and KubeRay's setDefaults applied."""
    out = copy.deepcopy(cluster)
    spec = out.spec
    if spec.head_group_spec.ray_start_params is None:
        spec.head_group_spec.ray_start_params = {}
    for group in spec.worker_group_specs or ():
        _default_group(group)
    policy: dict[str, Any] | None = spec.network_policy
    if isinstance(policy, dict) and policy.get("mode") is None:
        policy["mode"] = NETWORK_POLICY_MODE_DEFAULT
    return out
