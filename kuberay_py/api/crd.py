"""The RayCluster CustomResourceDefinition, generated from the attrs models.

The models are the one description of the API: adding a field to
`kuberay_py.api.raycluster` adds it to the CRD at the next `make manifests`, and
a unit test fails while the checked-in `manifests/crd/` is stale. What the
Python types cannot say (enums, int64, quantities, immutable fields, KubeRay's
descriptions of intent) sits in the tables below, keyed by model and attribute,
so a reader sees every hand-made decision in one place.

Names, printer columns, categories, defaults and required fields are KubeRay's,
so `kubectl get raycluster` and server-side defaulting look the same with either
operator. Kubernetes objects KubeRay embeds whole (pod templates, Services, env
vars) are `type: object` with `x-kubernetes-preserve-unknown-fields`: the API
server stores them as written and the kubelet/API validate them where they land,
which keeps the CRD a few hundred lines instead of KubeRay's 17,000.
"""

from __future__ import annotations

import typing
from typing import Any, Final

import attrs
import yaml

from kuberay_py.api import constants
from kuberay_py.api.convert import is_optional, non_optional, wire_name
from kuberay_py.api.defaults import NETWORK_POLICY_MODE_DEFAULT, WORKER_GROUP_DEFAULTS
from kuberay_py.api.raycluster import (
    AuthOptions,
    AutoscalerOptions,
    GcsEmbeddedStorage,
    GcsFaultToleranceOptions,
    HeadGroupSpec,
    HeadInfo,
    IngressOptions,
    RayCluster,
    RayClusterSpec,
    RayClusterStatus,
    RedisCredential,
    ScaleStrategy,
    UpgradeStrategy,
    WorkerGroupSpec,
)

Schema = dict[str, Any]

PLURAL: Final = "rayclusters"
SINGULAR: Final = "raycluster"
CRD_NAME: Final = f"{PLURAL}.{constants.GROUP}"

#: resource.Quantity as apimachinery declares it in every CRD (a number or a string like 500m).
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

PRINTER_COLUMNS: Final[tuple[Schema, ...]] = (
    {"name": "desired workers", "type": "integer", "jsonPath": ".status.desiredWorkerReplicas"},
    {
        "name": "available workers",
        "type": "integer",
        "jsonPath": ".status.availableWorkerReplicas",
    },
    {"name": "cpus", "type": "string", "jsonPath": ".status.desiredCPU"},
    {"name": "memory", "type": "string", "jsonPath": ".status.desiredMemory"},
    {"name": "gpus", "type": "string", "jsonPath": ".status.desiredGPU"},
    {"name": "tpus", "type": "string", "jsonPath": ".status.desiredTPU", "priority": 1},
    {"name": "status", "type": "string", "jsonPath": ".status.state"},
    {"name": "age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "head pod IP", "type": "string", "jsonPath": ".status.head.podIP", "priority": 1},
    {
        "name": "head service IP",
        "type": "string",
        "jsonPath": ".status.head.serviceIP",
        "priority": 1,
    },
)


def _string_enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def _immutable(message: str) -> Schema:
    return {"x-kubernetes-validations": [{"rule": "self == oldSelf", "message": message}]}


def _preserved(description: str | None = None) -> Schema:
    out: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if description:
        out["description"] = description
    return out


def _preserved_list(description: str | None = None) -> Schema:
    out: Schema = {"type": "array", "items": _preserved()}
    if description:
        out["description"] = description
    return out


QUANTITY: Final[Schema] = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "pattern": QUANTITY_PATTERN,
    "x-kubernetes-int-or-string": True,
}

#: metav1.Condition, whose constraints the API server enforces on status writes.
CONDITIONS: Final[Schema] = {
    "type": "array",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
    "items": {
        "type": "object",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "message": {"type": "string", "maxLength": 32768},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "reason": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1024,
                "pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            },
            "status": _string_enum("True", "False", "Unknown"),
            "type": {
                "type": "string",
                "maxLength": 316,
                "pattern": (
                    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                ),
            },
        },
    },
}


def _network_rules() -> Schema:
    return {
        "type": "object",
        "properties": {
            "ingressRules": _preserved_list("NetworkPolicyIngressRules added to the policy."),
            "egressRules": _preserved_list("NetworkPolicyEgressRules added to the policy."),
        },
    }


# The three alpha features the model keeps as plain dicts (their feature gates, not their
# shape, are what the operator checks); their schemas are written out here instead.
NETWORK_POLICY: Final[Schema] = {
    "type": "object",
    "description": "NetworkPolicies for the cluster's pods (alpha, gate RayClusterNetworkPolicy).",
    "properties": {
        "mode": {
            **_string_enum(
                constants.NETWORK_POLICY_DENY_ALL,
                constants.NETWORK_POLICY_DENY_ALL_INGRESS,
                constants.NETWORK_POLICY_DENY_ALL_EGRESS,
            ),
            "default": NETWORK_POLICY_MODE_DEFAULT,
        },
        "head": _network_rules(),
        "worker": _network_rules(),
        "workerGroups": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["groupName"],
            "items": {
                "type": "object",
                "required": ["groupName"],
                "properties": {"groupName": {"type": "string"}, **_network_rules()["properties"]},
            },
        },
    },
}

HISTORY_SERVER_OPTIONS: Final[Schema] = {
    "type": "object",
    "description": "The Ray history server's log collector sidecar (alpha).",
    "properties": {
        "collectorOptions": {
            "type": "object",
            "properties": {
                "env": _preserved_list(),
                "image": {"type": "string"},
                "imagePullPolicy": {"type": "string"},
                "resources": _preserved(),
            },
        }
    },
}

TLS_OPTIONS: Final[Schema] = {
    "type": "object",
    "description": "Mutual TLS between Ray nodes (alpha, gate RayClusterMTLS).",
    "properties": {"enabled": {"type": "boolean"}},
}

MANAGED_BY_RULES: Final[Schema] = {
    "x-kubernetes-validations": [
        {"rule": "self == oldSelf", "message": "the managedBy field is immutable"},
        {
            "rule": (
                f"self in ['{constants.MANAGED_BY_KUBERAY}', '{constants.MANAGED_BY_MULTIKUEUE}']"
            ),
            "message": (
                "the managedBy field value must be either "
                f"'{constants.MANAGED_BY_KUBERAY}' or '{constants.MANAGED_BY_MULTIKUEUE}'"
            ),
        },
    ]
}

#: (model, attribute) -> keys merged over (or, with "replace", instead of) the derived schema.
OVERRIDES: Final[dict[tuple[type, str], Schema]] = {
    (AuthOptions, "mode"): _string_enum(constants.AUTH_MODE_DISABLED, constants.AUTH_MODE_TOKEN),
    (AutoscalerOptions, "upscaling_mode"): _string_enum("Default", "Aggressive", "Conservative"),
    (AutoscalerOptions, "version"): _string_enum(constants.AUTOSCALER_V1, constants.AUTOSCALER_V2),
    (GcsFaultToleranceOptions, "backend"): {
        **_string_enum(constants.GCS_FT_BACKEND_REDIS, constants.GCS_FT_BACKEND_ROCKSDB),
        **_immutable("gcsFaultToleranceOptions.backend is immutable"),
    },
    (GcsEmbeddedStorage, "size"): {"replace": QUANTITY},
    (GcsEmbeddedStorage, "deletion_policy"): _string_enum("DeleteWithCluster", "Retain"),
    (IngressOptions, "path_type"): _string_enum("Exact", "Prefix", "ImplementationSpecific"),
    (UpgradeStrategy, "type"): _string_enum(constants.UPGRADE_RECREATE, constants.UPGRADE_NONE),
    (RayClusterSpec, "managed_by"): MANAGED_BY_RULES,
    (RayClusterSpec, "network_policy"): {"replace": NETWORK_POLICY},
    (RayClusterSpec, "history_server_options"): {"replace": HISTORY_SERVER_OPTIONS},
    (RayClusterSpec, "tls_options"): {"replace": TLS_OPTIONS},
    **{
        (WorkerGroupSpec, name): {"default": value} for name, value in WORKER_GROUP_DEFAULTS.items()
    },
    (RayClusterStatus, "desired_cpu"): {"replace": QUANTITY},
    (RayClusterStatus, "desired_memory"): {"replace": QUANTITY},
    (RayClusterStatus, "desired_gpu"): {"replace": QUANTITY},
    (RayClusterStatus, "desired_tpu"): {"replace": QUANTITY},
    (RayClusterStatus, "last_update_time"): {"format": "date-time", "nullable": True},
    (RayClusterStatus, "state_transition_times"): {
        "additionalProperties": {"type": "string", "format": "date-time"}
    },
    (RayClusterStatus, "observed_generation"): {"format": "int64"},
    (RayClusterStatus, "conditions"): {"replace": CONDITIONS},
}

#: Go fields without `omitempty` whose CRD default fills them when absent: required, yet
#: optional in a manifest. (Every non-Optional attribute of a model is required too.)
ALSO_REQUIRED: Final[dict[type, tuple[str, ...]]] = {
    WorkerGroupSpec: ("min_replicas", "max_replicas"),
}

#: Our own words for what `kubectl explain` shows.
DESCRIPTIONS: Final[dict[tuple[type, str], str]] = {
    (RayCluster, "spec"): "The desired Ray cluster: one head group and any worker groups.",
    (RayCluster, "status"): "What the operator last observed; written by the operator only.",
    (RayClusterSpec, "head_group_spec"): "The head pod: its template and ray start parameters.",
    (RayClusterSpec, "worker_group_specs"): "Groups of identical worker pods.",
    (RayClusterSpec, "ray_version"): "The Ray version in the images; selects version-dependent "
    "behaviour such as the health probes.",
    (RayClusterSpec, "enable_in_tree_autoscaling"): "Run the Ray autoscaler as a head sidecar; "
    "it then decides worker replicas and which workers to delete.",
    (RayClusterSpec, "autoscaler_options"): "Image, resources and behaviour of the autoscaler "
    "sidecar.",
    (RayClusterSpec, "head_service_annotations"): "Annotations added to the head Service.",
    (RayClusterSpec, "gcs_fault_tolerance_options"): "Keep GCS state in external storage "
    "(Redis) so the cluster survives a head pod restart.",
    (RayClusterSpec, "suspend"): "Delete all pods while true; recreate them when set back.",
    (RayClusterSpec, "managed_by"): "The controller that reconciles this cluster; any value "
    "other than ray.io/kuberay-operator makes this operator leave it alone. Immutable.",
    (RayClusterSpec, "upgrade_strategy"): "What happens to running pods when the pod templates "
    "change: Recreate them, or None (the default) to leave them.",
    (RayClusterSpec, "auth_options"): "Token authentication for the Ray dashboard and clients.",
    (HeadGroupSpec, "template"): "The head pod template (a core/v1 PodTemplateSpec).",
    (HeadGroupSpec, "ray_start_params"): "Flags for `ray start --head`, without the dashes.",
    (HeadGroupSpec, "head_service"): "A Service (core/v1) to use as the base of the head Service.",
    (HeadGroupSpec, "service_type"): "The type of the head Service (ClusterIP by default).",
    (HeadGroupSpec, "enable_ingress"): "Create an Ingress for the head's dashboard.",
    (HeadGroupSpec, "resources"): "Ray logical resources; override those from the template.",
    (HeadGroupSpec, "labels"): "Ray node labels for the head.",
    (WorkerGroupSpec, "group_name"): "The group's name, unique within the cluster.",
    (WorkerGroupSpec, "template"): "The worker pod template (a core/v1 PodTemplateSpec).",
    (WorkerGroupSpec, "ray_start_params"): "Flags for `ray start`, without the dashes.",
    (WorkerGroupSpec, "replicas"): "The desired number of replicas, kept within "
    "[minReplicas, maxReplicas].",
    (WorkerGroupSpec, "min_replicas"): "The fewest replicas the group scales to.",
    (WorkerGroupSpec, "max_replicas"): "The most replicas the group scales to.",
    (WorkerGroupSpec, "num_of_hosts"): "Pods per replica (multi-host TPU slices).",
    (WorkerGroupSpec, "suspend"): "Delete this group's pods while true.",
    (WorkerGroupSpec, "idle_timeout_seconds"): "Seconds before the autoscaler (v2) removes an "
    "idle worker of this group.",
    (WorkerGroupSpec, "priority"): "Autoscaler v2 prefers higher-priority groups when scaling up.",
    (WorkerGroupSpec, "scale_strategy"): "Workers the autoscaler asked to remove.",
    (ScaleStrategy, "workers_to_delete"): "Names of worker pods to delete.",
    (GcsFaultToleranceOptions, "redis_address"): "host:port (or redis:// URI) of the Redis server.",
    (GcsFaultToleranceOptions, "external_storage_namespace"): "The key prefix in Redis; the "
    "cluster's UID when empty.",
    (RedisCredential, "value"): "The credential itself.",
    (RedisCredential, "value_from"): "Where to read it (a core/v1 EnvVarSource).",
    (RayClusterStatus, "state"): "ready once all pods ran ready; suspended while suspended.",
    (RayClusterStatus, "desired_worker_replicas"): "Worker pods the spec asks for.",
    (RayClusterStatus, "available_worker_replicas"): "Worker pods that are running.",
    (RayClusterStatus, "ready_worker_replicas"): "Worker pods that are running and ready.",
    (RayClusterStatus, "observed_generation"): "The spec generation this status describes.",
    (HeadInfo, "pod_ip"): "The head pod's IP.",
    (HeadInfo, "service_ip"): "The head Service's cluster IP (the head pod IP when headless).",
}

TYPE_DESCRIPTIONS: Final[dict[type, str]] = {
    RayCluster: "A Ray cluster (one head pod and groups of worker pods) run by the operator.",
}


def schema_for_type(tp: Any) -> Schema:
    """The structural schema of a model attribute's Python type."""
    tp = non_optional(tp)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer", "format": "int32"}
    if attrs.has(tp):
        return model_schema(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        (item,) = args
        if item is Any:
            return {"type": "array", "items": _preserved()}
        return {"type": "array", "items": schema_for_type(item)}
    if origin is dict:
        _, value = args
        if value is Any:  # an embedded Kubernetes object, kept as written
            return _preserved()
        return {"type": "object", "additionalProperties": schema_for_type(value)}
    raise TypeError(f"no CRD schema for the type {tp!r}")


def model_schema(cls: type) -> Schema:
    """The schema of one model: its attributes as camelCase properties, `extra` left out."""
    attrs.resolve_types(cls)
    properties: Schema = {}
    required = [wire_name(attrs.fields_dict(cls)[name]) for name in ALSO_REQUIRED.get(cls, ())]
    for field in attrs.fields(cls):
        if field.name == "extra":
            continue
        name = wire_name(field)
        override = dict(OVERRIDES.get((cls, field.name), {}))
        schema = override.pop("replace", None) or schema_for_type(field.type)
        schema = {**schema, **override}
        description = DESCRIPTIONS.get((cls, field.name))
        if description:
            schema["description"] = description
        properties[name] = schema
        if not is_optional(field.type) and cls is not RayCluster:
            required.append(name)
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = sorted(set(required))
    if cls in TYPE_DESCRIPTIONS:
        out["description"] = TYPE_DESCRIPTIONS[cls]
    return out


def raycluster_schema() -> Schema:
    schema = model_schema(RayCluster)
    # kube owns these three: apiVersion and kind as plain strings, metadata as ObjectMeta.
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def raycluster_crd() -> dict[str, Any]:
    """The RayCluster CRD (apiextensions.k8s.io/v1) as a dict."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": constants.GROUP,
            "names": {
                "kind": constants.RAYCLUSTER_KIND,
                "listKind": f"{constants.RAYCLUSTER_KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "categories": ["all"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": raycluster_schema()},
                }
            ],
        },
    }


HEADER: Final = "# Generated from kuberay_py/api/raycluster.py by `make manifests`; do not edit.\n"


def render_crds() -> str:
    """Every CRD as one YAML stream, keys sorted, so the output is byte-for-byte stable."""
    body = yaml.safe_dump(raycluster_crd(), sort_keys=True, default_flow_style=False, width=100)
    return f"{HEADER}---\n{body}"


if __name__ == "__main__":  # `make manifests`, without going through the CLI
    import sys

    sys.stdout.write(render_crds())
