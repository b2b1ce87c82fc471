"""The in-tree autoscaler: when it is on, which version, its sidecar container on the head.

The autoscaler (not the operator) decides which workers go when it is on, and it
talks to the Kubernetes API as the head pod's ServiceAccount, so the head's
`serviceAccountName` and the RBAC objects must agree on one name.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api.constants import (
    AUTOSCALER_CONTAINER_NAME,
    AUTOSCALER_V1,
    AUTOSCALER_V2,
    KUBERAY_GEN_AUTOSCALER_START_CMD_ENV,
    RAY_CLUSTER_LABEL,
    RAY_CLUSTER_NAME_ENV,
    RAY_CLUSTER_NAMESPACE_ENV,
)
from kuberay_py.api.pod_template import field_ref_env
from kuberay_py.api.raycluster import AutoscalerOptions, RayCluster
from kuberay_py.builders.names import check_name

#: Also exported as KUBERAY_GEN_AUTOSCALER_START_CMD, so a user overriding the args can
#: still call the generated command.
AUTOSCALER_START_CMD = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
    "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
AUTOSCALER_RESOURCES: dict[str, Any] = {
    "limits": {"cpu": "500m", "memory": "512Mi"},
    "requests": {"cpu": "500m", "memory": "512Mi"},
}


def is_autoscaling_enabled(c: RayCluster) -> bool:
    return bool(c.spec.enable_in_tree_autoscaling)


def autoscaler_version(c: RayCluster) -> str | None:
    """`autoscalerOptions.version` as written; None when unset (neither v1 nor v2 rules apply)."""
    options = c.spec.autoscaler_options
    return options.version if options else None


def is_autoscaling_v2(c: RayCluster) -> bool:
    return autoscaler_version(c) == AUTOSCALER_V2


def is_autoscaling_v1(c: RayCluster) -> bool:
    return autoscaler_version(c) == AUTOSCALER_V1


def head_service_account_name(c: RayCluster) -> str:
    """The head template's serviceAccountName, else the cluster name, clipped by CheckName:
    the name the autoscaler's ServiceAccount, RoleBinding and head pod all use."""
    spec = c.spec.head_group_spec.template.get("spec") or {}
    return check_name(str(spec.get("serviceAccountName") or c.name))


def build_autoscaler_container(image: str, command: list[str]) -> dict[str, Any]:
    """KubeRay's default autoscaler sidecar (before `autoscalerOptions` overrides);
    `command` is the operator's bash command (`/bin/bash -c --` or `-cl`)."""
    return {
        "name": AUTOSCALER_CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            field_ref_env(RAY_CLUSTER_NAME_ENV, f"metadata.labels['{RAY_CLUSTER_LABEL}']"),
            field_ref_env(RAY_CLUSTER_NAMESPACE_ENV, "metadata.namespace"),
            field_ref_env("RAY_HEAD_POD_NAME", "metadata.name"),
            {"name": "KUBERAY_CRD_VER", "value": "v1"},
            {"name": KUBERAY_GEN_AUTOSCALER_START_CMD_ENV, "value": AUTOSCALER_START_CMD},
        ],
        "command": list(command),
        "args": [AUTOSCALER_START_CMD],
        "resources": copy.deepcopy(AUTOSCALER_RESOURCES),
    }


def merge_autoscaler_overrides(
    container: dict[str, Any], options: AutoscalerOptions | None
) -> dict[str, Any]:
    """A copy of `container` with the user's `autoscalerOptions`: resources, image, pull
    policy, securityContext, command and args replace ours; env, envFrom and volumeMounts
    are appended to ours."""
    out = copy.deepcopy(container)
    if options is None:
        return out
    if options.resources is not None:
        out["resources"] = copy.deepcopy(options.resources)
    if options.image is not None:
        out["image"] = options.image
    if options.image_pull_policy is not None:
        out["imagePullPolicy"] = options.image_pull_policy
    for key, extra in (
        ("env", options.env),
        ("envFrom", options.env_from),
        ("volumeMounts", options.volume_mounts),
    ):
        if extra:
            out[key] = list(out.get(key) or []) + copy.deepcopy(extra)
    if options.security_context is not None:
        out["securityContext"] = copy.deepcopy(options.security_context)
    if options.command:
        out["command"] = list(options.command)
    if options.args:
        out["args"] = list(options.args)
    return out
