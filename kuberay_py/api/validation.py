"""KubeRay's RayCluster validation rules, with KubeRay's messages.

A RayCluster KubeRay rejects must be rejected here with the same words: users search
Events for them, and scripts written against KubeRay match on them (reference §5).

KubeRay stops at the first failing rule. These functions return *every* failing rule, in
KubeRay's order, so `errors[0]` is exactly KubeRay's message (what the controller puts in
its Warning Event) and the rest tell the user what they will hit next. The one exception:
a head without containers stops spec validation, since every later rule reads the head's
Ray container. Each message is one KubeRay `return`, so a rule that would stop KubeRay
early (a `rocksdb` backend without its gate, say) may be followed by the messages KubeRay
would give once it is fixed.

Pure functions: no I/O; feature gates come from `OperatorConfig.gates`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kuberay_py.api.config import FeatureGates, OperatorConfig
from kuberay_py.api.constants import (
    AUTH_MODE_TOKEN,
    AUTOSCALER_V1,
    AUTOSCALER_V2,
    EXTERNAL_STORAGE_NAMESPACE_ANNOTATION,
    FT_ENABLED_ANNOTATION,
    GCS_FT_BACKEND_REDIS,
    GCS_FT_BACKEND_ROCKSDB,
    GCS_STORAGE_MOUNT_PATH,
    GCS_STORAGE_VOLUME_NAME,
    HISTORY_COLLECTOR_CONTAINER_NAME,
    HISTORY_COLLECTOR_MANAGED_ENVS,
    KUBERAY_GEN_AUTOSCALER_START_CMD_ENV,
    NETWORK_POLICY_DENY_ALL,
    NETWORK_POLICY_DENY_ALL_EGRESS,
    NETWORK_POLICY_DENY_ALL_INGRESS,
    RAY_CLUSTER_SUSPENDED,
    RAY_CLUSTER_SUSPENDING,
    RAY_CONTAINER_INDEX,
    RAY_ENABLE_AUTOSCALER_V2_ENV,
    RAY_GCS_STORAGE_ENV,
    RAY_GCS_STORAGE_PATH_ENV,
    RAY_ORIGINATED_FROM_CRD_LABEL,
    RAY_REDIS_ADDRESS_ENV,
    RAY_TLS_CERT_MOUNT_PATH,
    RAY_TLS_VOLUME_NAME,
    RAYJOB_KIND,
    RAYSERVICE_KIND,
    REDIS_PASSWORD_ENV,
    REDIS_USERNAME_ENV,
    TLS_ENVS,
    UPGRADE_NONE,
    UPGRADE_RECREATE,
)
from kuberay_py.api.k8s_names import (
    VersionError,
    go_len,
    go_list,
    go_quote,
    is_dns1035_label,
    is_dns1123_label,
    is_qualified_name,
    is_valid_label_value,
    parse_generic_version,
    version_less_than,
)
from kuberay_py.api.pod_template import containers, env_var, ray_container
from kuberay_py.api.raycluster import (
    GcsFaultToleranceOptions,
    RayCluster,
    RayClusterSpec,
    RayClusterStatus,
    WorkerGroupSpec,
)

Json = dict[str, Any]

#: Service names add up to 10 characters ("-serve-svc") and must stay DNS labels (63).
MAX_RAYCLUSTER_NAME_LENGTH = 53

MIN_RAY_VERSION_TOKEN_AUTH = "2.52.0"
MIN_RAY_VERSION_K8S_TOKEN_AUTH = "2.55.0"
MIN_RAY_VERSION_GROUP_PRIORITY = "2.56.0"

_RAY_START_RESOURCE_PARAMS = ("num-cpus", "num-gpus", "memory", "resources")
_ENV_TRUE_VALUES = ("1", "true")
_CREATOR_KINDS = (RAYJOB_KIND, RAYSERVICE_KIND)


# --- metadata, status, upgrade options -----------------------------------------------------


def validate_raycluster_metadata(meta: Json) -> list[str]:
    """The name must fit KubeRay's Service names (53) and be a DNS-1035 label."""
    name = str(meta.get("name") or "")
    errors: list[str] = []
    if go_len(name) > MAX_RAYCLUSTER_NAME_LENGTH:
        errors.append(
            f"RayCluster name should be no more than {MAX_RAYCLUSTER_NAME_LENGTH} characters"
        )
    if errs := is_dns1035_label(name):
        errors.append(f"RayCluster name should be a valid DNS1035 label: {go_list(errs)}")
    return errors


def _condition_true(conditions: list[Json] | None, condition_type: str) -> bool:
    """meta.IsStatusConditionTrue: the first condition of that type decides."""
    for condition in conditions or []:
        if condition.get("type") == condition_type:
            return condition.get("status") == "True"
    return False


def validate_raycluster_status(status: RayClusterStatus | None) -> list[str]:
    conditions = status.conditions if status is not None else None
    if _condition_true(conditions, RAY_CLUSTER_SUSPENDING) and _condition_true(
        conditions, RAY_CLUSTER_SUSPENDED
    ):
        return [
            "invalid RayCluster State: rayv1.RayClusterSuspending and "
            "rayv1.RayClusterSuspended conditions should not be both true"
        ]
    return []


def validate_raycluster_upgrade_options(c: RayCluster) -> list[str]:
    """`upgradeStrategy.type` is Recreate or None, and only for clusters users create."""
    strategy = c.spec.upgrade_strategy
    if strategy is None or strategy.type is None:
        return []
    errors: list[str] = []
    if strategy.type not in (UPGRADE_RECREATE, UPGRADE_NONE):
        errors.append(
            f"The RayCluster spec is invalid: Spec.UpgradeStrategy.Type value {strategy.type} "
            f"is invalid, valid options are {UPGRADE_RECREATE} or {UPGRADE_NONE}"
        )
    creator = c.labels.get(RAY_ORIGINATED_FROM_CRD_LABEL, "")
    if creator in _CREATOR_KINDS:
        errors.append(f"upgradeStrategy cannot be set when RayCluster is created by {creator}")
    return errors


# --- webhook rule and warnings -------------------------------------------------------------


def duplicate_worker_group_index(spec: RayClusterSpec) -> int | None:
    """Index of the first worker group whose name an earlier group already has.

    KubeRay's webhook reports it at `spec.workerGroupSpecs[<index>]`.
    """
    seen: set[str] = set()
    for index, group in enumerate(spec.worker_group_specs or []):
        if group.group_name in seen:
            return index
        seen.add(group.group_name)
    return None


def validate_unique_group_names(spec: RayClusterSpec) -> list[str]:
    """KubeRay's webhook rule (the controller itself does not check it)."""
    if duplicate_worker_group_index(spec) is None:
        return []
    return ["worker group names must be unique"]


def raycluster_spec_warnings(spec: RayClusterSpec) -> list[str]:
    """Problems KubeRay reports as a Warning Event but still reconciles.

    Autoscaler v1 (explicitly `version: v1`) with a worker restartPolicy other than Never:
    a restarted worker container rejoins Ray with a new node ID the autoscaler does not
    know. KubeRay's Event note is "RayCluster spec warning <ns>/<name>: <this message>".
    """
    if not _autoscaling_enabled(spec) or _autoscaler_version(spec) != AUTOSCALER_V1:
        return []
    groups = [
        group.group_name
        for group in spec.worker_group_specs or []
        if _restart_policy(group.template) not in ("", "Never")
    ]
    if not groups:
        return []
    return [
        f"restartPolicy for worker groups [{', '.join(groups)}] should be Never or unset "
        "when using autoscaler V1"
    ]


# --- spec ----------------------------------------------------------------------------------


def validate_raycluster_spec(
    spec: RayClusterSpec, annotations: dict[str, str] | None, config: OperatorConfig
) -> list[str]:
    return list(_spec_errors(spec, annotations or {}, config.gates))


def _spec_errors(
    spec: RayClusterSpec, annotations: dict[str, str], gates: FeatureGates
) -> Iterator[str]:
    head = spec.head_group_spec
    head_containers = containers(head.template)
    if not head_containers:
        yield "headGroupSpec should have at least one container"
        return
    head_container = head_containers[RAY_CONTAINER_INDEX]
    yield from _group_resources_errors("Head", head.ray_start_params, head.resources)
    yield from _group_labels_errors("Head", head.ray_start_params, head.labels)
    autoscaling = _autoscaling_enabled(spec)
    for group in spec.worker_group_specs or []:
        yield from _worker_group_errors(group, spec, head_container, autoscaling)
    yield from _gcs_ft_errors(spec, annotations, head_container, gates)
    yield from _autoscaler_errors(spec, head_container, autoscaling, gates)
    yield from _history_server_errors(spec, gates)
    yield from _auth_errors(spec)
    yield from _network_policy_errors(spec, gates)
    yield from _tls_errors(spec, head_container, gates)


def _group_resources_errors(
    group: str, params: dict[str, str] | None, resources: dict[str, str] | None
) -> Iterator[str]:
    params = params or {}
    if any(params.get(key) for key in _RAY_START_RESOURCE_PARAMS) and resources:
        yield (
            f"resource fields should not be set in both rayStartParams and Resources for {group} "
            "group; please use only one"
        )


def _group_labels_errors(
    group: str, params: dict[str, str] | None, labels: dict[str, str] | None
) -> Iterator[str]:
    if "labels" in (params or {}):
        yield (
            f"rayStartParams['labels'] is not supported for {group} group; please use the "
            "top-level Labels field instead"
        )
    problems: list[str] = []
    # Go walks a map in random order; sorted keys are what the API server serializes.
    for key, value in sorted((labels or {}).items()):
        problems.extend(
            f"invalid label key for {group} group: '{key}', error: {err}"
            for err in is_qualified_name(key)
        )
        problems.extend(
            f"invalid label value for key '{key}' in {group} group: '{value}', error: {err}"
            for err in is_valid_label_value(value)
        )
    if problems:
        yield "; ".join(problems)


def _worker_group_errors(
    group: WorkerGroupSpec, spec: RayClusterSpec, head_container: Json, autoscaling: bool
) -> Iterator[str]:
    name = group.group_name
    if not containers(group.template):
        yield "workerGroupSpec should have at least one container"
    low, high = group.min_replicas, group.max_replicas
    # With the autoscaler on, it (or the user) may leave the bounds to KubeRay's defaults.
    if not autoscaling and (low is None or high is None):
        yield (
            f"worker group {name} must set both minReplicas and maxReplicas when autoscaling "
            "is disabled"
        )
    if low is not None and low < 0:
        yield f"worker group {name} has negative minReplicas {low}"
    if high is not None and high < 0:
        yield f"worker group {name} has negative maxReplicas {high}"
    if low is not None and high is not None and low > high:
        yield f"worker group {name} has minReplicas {low} greater than maxReplicas {high}"
    yield from _group_resources_errors(name, group.ray_start_params, group.resources)
    yield from _group_labels_errors(name, group.ray_start_params, group.labels)
    v2 = _autoscaler_v2_requested(spec, head_container)
    idle = group.idle_timeout_seconds
    if idle is not None:
        if idle < 0:
            yield f"worker group {name}: idleTimeoutSeconds must be non-negative, got {idle}"
        if not v2:
            yield (
                f"worker group {name}: idleTimeoutSeconds is set, but autoscaler v2 is not "
                "enabled. Please set .spec.autoscalerOptions.version to 'v2' (or set "
                f"{RAY_ENABLE_AUTOSCALER_V2_ENV} environment variable to 'true' in the head pod "
                "if using KubeRay < 1.4.0)"
            )
    if group.priority:
        yield from _ray_version_errors(
            spec.ray_version,
            MIN_RAY_VERSION_GROUP_PRIORITY,
            subject=f"worker group {name}: priority is set",
        )
        if not v2:
            yield (
                f"worker group {name}: priority is set to {group.priority}, but autoscaler v2 "
                "is not enabled. Priority is only supported with autoscaler v2 enabled"
            )


def _ray_version_errors(ray_version: str | None, minimum: str, *, subject: str) -> Iterator[str]:
    """KubeRay's three Ray version messages: missing, unparsable, too old."""
    if not ray_version:
        yield (
            f"{subject}, but RayVersion was not specified. Ray version {minimum} or later is "
            "required"
        )
        return
    try:
        version = parse_generic_version(ray_version)
    except VersionError as err:
        yield f"{subject}, but RayVersion format is invalid: {ray_version}, {err}"
        return
    if version_less_than(version, parse_generic_version(minimum)):
        yield f"{subject}, but minimum Ray version is {minimum}, got {ray_version}"


def _gcs_ft_errors(
    spec: RayClusterSpec, annotations: dict[str, str], head_container: Json, gates: FeatureGates
) -> Iterator[str]:
    options = spec.gcs_fault_tolerance_options
    head = spec.head_group_spec
    params = head.ray_start_params or {}
    env = _env(head_container)
    if annotations.get(FT_ENABLED_ANNOTATION) and options is not None:
        yield (
            f"{FT_ENABLED_ANNOTATION} annotation and GcsFaultToleranceOptions are both set. "
            "Please use only GcsFaultToleranceOptions to configure GCS fault tolerance"
        )
    ft_enabled = annotations.get(FT_ENABLED_ANNOTATION, "").lower() == "true" or options is not None
    if not ft_enabled and env_var(RAY_REDIS_ADDRESS_ENV, env) is not None:
        yield (
            f"{RAY_REDIS_ADDRESS_ENV} is set which implicitly enables GCS fault tolerance, but "
            "GcsFaultToleranceOptions is not set. Please set GcsFaultToleranceOptions to enable "
            "GCS fault tolerance"
        )
    if options is not None:
        if params.get("redis-password"):
            yield (
                "cannot set `redis-password` in rayStartParams when GcsFaultToleranceOptions is "
                "enabled - use GcsFaultToleranceOptions.RedisPassword instead"
            )
        if env_var(REDIS_PASSWORD_ENV, env) is not None:
            yield (
                "cannot set `REDIS_PASSWORD` env var in head Pod when GcsFaultToleranceOptions "
                "is enabled - use GcsFaultToleranceOptions.RedisPassword instead"
            )
        if env_var(RAY_REDIS_ADDRESS_ENV, env) is not None:
            yield (
                "cannot set `RAY_REDIS_ADDRESS` env var in head Pod when "
                "GcsFaultToleranceOptions is enabled - use GcsFaultToleranceOptions.RedisAddress "
                "instead"
            )
        if annotations.get(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION):
            yield (
                "cannot set `ray.io/external-storage-namespace` annotation when "
                "GcsFaultToleranceOptions is enabled - use "
                "GcsFaultToleranceOptions.ExternalStorageNamespace instead"
            )
        yield from _gcs_ft_backend_errors(options, head_container, head.template, gates)
    if params.get("redis-username") or env_var(REDIS_USERNAME_ENV, env) is not None:
        yield (
            "cannot set redis username in rayStartParams or environment variables - use "
            "GcsFaultToleranceOptions.RedisUsername instead"
        )


def _gcs_ft_backend_errors(
    options: GcsFaultToleranceOptions,
    head_container: Json,
    head_template: Json,
    gates: FeatureGates,
) -> Iterator[str]:
    if (options.backend or GCS_FT_BACKEND_REDIS) != GCS_FT_BACKEND_ROCKSDB:
        if options.storage is not None:
            yield (
                "cannot set GcsFaultToleranceOptions.Storage when backend is 'redis' - it only "
                "applies to the 'rocksdb' backend"
            )
        return
    if not gates.gcs_fault_tolerance_embedded_storage:
        yield (
            "the embedded RocksDB GCS fault tolerance backend (GcsFaultToleranceOptions.Backend: "
            "'rocksdb') requires the GCSFaultToleranceEmbeddedStorage feature gate to be enabled"
        )
    for field, is_set in (
        ("RedisAddress", bool(options.redis_address)),
        ("RedisUsername", options.redis_username is not None),
        ("RedisPassword", options.redis_password is not None),
        ("ExternalStorageNamespace", bool(options.external_storage_namespace)),
    ):
        if is_set:
            yield f"cannot set GcsFaultToleranceOptions.{field} when backend is 'rocksdb'"
    storage = options.storage
    if (
        storage is not None
        and storage.claim_name
        and (
            storage.size is not None
            or storage.storage_class_name is not None
            or storage.access_modes
        )
    ):
        yield (
            "GcsFaultToleranceOptions.Storage.ClaimName is mutually exclusive with size, "
            "storageClassName, and accessModes"
        )
    env = _env(head_container)
    if env_var(RAY_GCS_STORAGE_ENV, env) is not None or (
        env_var(RAY_GCS_STORAGE_PATH_ENV, env) is not None
    ):
        yield (
            f"cannot set `{RAY_GCS_STORAGE_ENV}` or `{RAY_GCS_STORAGE_PATH_ENV}` env var in head "
            "Pod when the embedded GCS FT backend is used - these are managed by KubeRay"
        )
    if any(
        mount.get("mountPath") == GCS_STORAGE_MOUNT_PATH
        or mount.get("name") == GCS_STORAGE_VOLUME_NAME
        for mount in _volume_mounts(head_container)
    ):
        yield (
            f"cannot set a volume mount named {go_quote(GCS_STORAGE_VOLUME_NAME)} or mounted at "
            f"{GCS_STORAGE_MOUNT_PATH} in the head container when the embedded GCS FT backend is "
            "used - it is managed by KubeRay"
        )
    volumes = (head_template.get("spec") or {}).get("volumes") or []
    if any(volume.get("name") == GCS_STORAGE_VOLUME_NAME for volume in volumes):
        yield (
            f"cannot set a volume named {go_quote(GCS_STORAGE_VOLUME_NAME)} in the head Pod when "
            "the embedded GCS FT backend is used - it is managed by KubeRay"
        )


def _autoscaler_errors(
    spec: RayClusterSpec, head_container: Json, autoscaling: bool, gates: FeatureGates
) -> Iterator[str]:
    groups = spec.worker_group_specs or []
    if not gates.ray_job_deletion_policy:
        for group in groups:
            if group.suspend:
                yield (
                    f"worker group {group.group_name} can be suspended only when the "
                    "RayJobDeletionPolicy feature gate is enabled"
                )
    v2_env = env_var(RAY_ENABLE_AUTOSCALER_V2_ENV, _env(head_container))
    if not autoscaling:
        if v2_env is not None and _env_value(v2_env) in _ENV_TRUE_VALUES:
            yield (
                f"environment variable {RAY_ENABLE_AUTOSCALER_V2_ENV} cannot be set to "
                f"'{_env_value(v2_env)}' when enableInTreeAutoscaling is false. Please set "
                "enableInTreeAutoscaling: true to use autoscaler v2"
            )
    else:
        for group in groups:
            if group.suspend:
                yield (
                    f"worker group {group.group_name} cannot be suspended with Autoscaler enabled"
                )
        if _autoscaler_version(spec) is not None and v2_env is not None:
            yield (
                "both .spec.autoscalerOptions.version and head Pod env var "
                f"{RAY_ENABLE_AUTOSCALER_V2_ENV} are set, please only use the former"
            )
        if _autoscaler_version(spec) == AUTOSCALER_V2:
            if _restart_policy(spec.head_group_spec.template) not in ("", "Never"):
                yield "restartPolicy for head Pod should be Never or unset when using autoscaler V2"
            for group in groups:
                if _restart_policy(group.template) not in ("", "Never"):
                    yield (
                        f"restartPolicy for worker group {group.group_name} should be Never or "
                        "unset when using autoscaler V2"
                    )
    options = spec.autoscaler_options
    if options is None:
        return
    if options.idle_timeout_seconds is not None and options.idle_timeout_seconds < 0:
        yield (
            "autoscalerOptions.idleTimeoutSeconds must be non-negative, got "
            f"{options.idle_timeout_seconds}"
        )
    if env_var(KUBERAY_GEN_AUTOSCALER_START_CMD_ENV, options.env or []) is not None:
        yield (
            f"autoscalerOptions.env must not contain {KUBERAY_GEN_AUTOSCALER_START_CMD_ENV}: it is "
            "managed by KubeRay and injected automatically into the autoscaler container"
        )


def _history_server_errors(spec: RayClusterSpec, gates: FeatureGates) -> Iterator[str]:
    options = spec.history_server_options
    if options is None:
        return
    if not gates.ray_cluster_history_server:
        yield "RayClusterHistoryServer feature gate is not enabled"
    collector = options.get("collectorOptions")
    if collector is None:
        yield "historyServerOptions.collectorOptions must be set"
    else:
        yield from _collector_errors(collector)
    collector_name = HISTORY_COLLECTOR_CONTAINER_NAME
    if any(c.get("name") == collector_name for c in containers(spec.head_group_spec.template)):
        yield (
            f"head pod template must not define a container with name '{collector_name}' when "
            "history server collector options are enabled"
        )
    for group in spec.worker_group_specs or []:
        if any(c.get("name") == collector_name for c in containers(group.template)):
            yield (
                f"worker group {group.group_name} pod template must not define a container with "
                f"name '{collector_name}' when history server collector options are enabled"
            )


def _collector_errors(collector: Json) -> Iterator[str]:
    if not collector.get("image"):
        yield "historyServerOptions.collectorOptions.image must be set"
    # Go builds a map from the list: a repeated name means the last entry wins.
    envs = {env.get("name"): env for env in collector.get("env") or []}

    def has_value(name: str) -> bool:
        env = envs.get(name)
        return env is not None and (bool(env.get("value")) or env.get("valueFrom") is not None)

    for name in HISTORY_COLLECTOR_MANAGED_ENVS:
        if name in envs:
            yield (
                f"historyServerOptions.collectorOptions.env must not contain {name}: it is "
                "managed by KubeRay and injected automatically into the collector container"
            )
    backend_env = envs.get("STORAGE_BACKEND")
    backend = _env_value(backend_env) if backend_env is not None else ""
    if not backend:
        yield (
            "STORAGE_BACKEND environment variable must be set with a literal string value in "
            "historyServerOptions.collectorOptions.env"
        )
        return
    backend = _go_upper(backend)
    required: dict[str, tuple[str, ...]] = {
        "GCS": ("GCS_BUCKET",),
        "S3": ("S3_REGION",),
        "ALIYUNOSS": ("OSS_BUCKET", "OSS_ENDPOINT", "OSS_REGION"),
    }
    for name in required.get(backend, ()):
        if not has_value(name):
            yield f"{name} environment variable must be set when STORAGE_BACKEND is {backend}"
    if backend != "AZUREBLOB":
        return
    mode_env = envs.get("AZURE_STORAGE_AUTH_MODE")
    mode = _go_trim_space(_env_value(mode_env)).lower() if mode_env is not None else ""
    if mode == "connection_string":
        if not has_value("AZURE_STORAGE_CONNECTION_STRING"):
            yield (
                "AZURE_STORAGE_CONNECTION_STRING environment variable must be set when "
                "STORAGE_BACKEND is AZUREBLOB and AZURE_STORAGE_AUTH_MODE is connection_string"
            )
    elif mode in ("workload_identity", "default"):
        if not has_value("AZURE_STORAGE_ACCOUNT_URL"):
            yield (
                "AZURE_STORAGE_ACCOUNT_URL environment variable must be set when STORAGE_BACKEND "
                f"is AZUREBLOB and AZURE_STORAGE_AUTH_MODE is {mode}"
            )
    elif not has_value("AZURE_STORAGE_CONNECTION_STRING") and not has_value(
        "AZURE_STORAGE_ACCOUNT_URL"
    ):
        yield (
            "either AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL environment "
            "variable must be set when STORAGE_BACKEND is AZUREBLOB"
        )


def _auth_errors(spec: RayClusterSpec) -> Iterator[str]:
    auth = spec.auth_options
    k8s_token = auth is not None and auth.enable_k8s_token_auth is True
    if auth is None or auth.mode != AUTH_MODE_TOKEN:
        if k8s_token:
            yield (
                "authOptions.enableK8sTokenAuth is enabled but authOptions.mode not set to 'token'"
            )
        return
    ray_version = spec.ray_version
    subject = "authOptions.mode is 'token'"
    if not ray_version:
        yield (
            f"{subject} but RayVersion was not specified. Ray version "
            f"{MIN_RAY_VERSION_TOKEN_AUTH} or later is required"
        )
        return
    try:
        version = parse_generic_version(ray_version)
    except VersionError as err:
        yield f"{subject} but RayVersion format is invalid: {ray_version}, {err}"
        return
    if version_less_than(version, parse_generic_version(MIN_RAY_VERSION_TOKEN_AUTH)):
        yield (
            f"{subject} but minimum Ray version is {MIN_RAY_VERSION_TOKEN_AUTH}, got {ray_version}"
        )
    if k8s_token:
        if version_less_than(version, parse_generic_version(MIN_RAY_VERSION_K8S_TOKEN_AUTH)):
            yield (
                "authOptions.enableK8sTokenAuth is enabled but minimum Ray version is "
                f"{MIN_RAY_VERSION_K8S_TOKEN_AUTH}, got {ray_version}"
            )
        if auth.secret_name:
            yield "authOptions.enableK8sTokenAuth is enabled and authOptions.secretName is also set"


def _network_policy_errors(spec: RayClusterSpec, gates: FeatureGates) -> Iterator[str]:
    policy = spec.network_policy
    if policy is None:
        return
    if not gates.ray_cluster_network_policy:
        yield "spec.networkPolicy requires the RayClusterNetworkPolicy feature gate to be enabled"
        return
    mode = policy.get("mode")
    mode = NETWORK_POLICY_DENY_ALL if mode is None else str(mode)
    for where in ("head", "worker"):
        yield from _rules_against_mode(f"networkPolicy.{where}", policy.get(where), mode)
    group_names: set[str] = set()
    for group in spec.worker_group_specs or []:
        # Group names become NetworkPolicy object names only when the policy is on.
        if errs := is_dns1123_label(group.group_name):
            yield (
                f"worker group name {go_quote(group.group_name)} must be a valid DNS1123 label "
                "when networkPolicy is enabled (it is embedded in the NetworkPolicy name): "
                f"{go_list(errs)}"
            )
        group_names.add(group.group_name)
    for entry in policy.get("workerGroups") or []:
        name = str(entry.get("groupName") or "")
        yield from _rules_against_mode(f"networkPolicy.workerGroups[{go_quote(name)}]", entry, mode)
        if name not in group_names:
            yield (
                f"networkPolicy.workerGroups[{go_quote(name)}] does not match any group name in "
                "workerGroupSpecs"
            )


def _rules_against_mode(where: str, rules: Json | None, mode: str) -> Iterator[str]:
    """Rules for a direction the mode leaves open would silently do nothing."""
    if rules is None:
        return
    if mode == NETWORK_POLICY_DENY_ALL_EGRESS and rules.get("ingressRules"):
        yield (
            f"{where}.ingressRules cannot be set when mode is {go_quote(mode)} "
            "(ingress is not restricted)"
        )
    if mode == NETWORK_POLICY_DENY_ALL_INGRESS and rules.get("egressRules"):
        yield (
            f"{where}.egressRules cannot be set when mode is {go_quote(mode)} "
            "(egress is not restricted)"
        )


def _tls_errors(spec: RayClusterSpec, head_container: Json, gates: FeatureGates) -> Iterator[str]:
    tls = spec.tls_options
    if tls is None:
        return
    if not gates.ray_cluster_mtls:
        yield "spec.tlsOptions requires the RayClusterMTLS feature gate to be enabled"
        return
    if tls.get("enabled") is not True:
        return
    yield from _tls_container_errors(head_container, "head Pod")
    for group in spec.worker_group_specs or []:
        if containers(group.template):
            where = f"worker group {go_quote(group.group_name)}"
            yield from _tls_container_errors(ray_container(group.template), where)
    options = spec.autoscaler_options
    if options is None:
        return
    for name in TLS_ENVS:
        if env_var(name, options.env or []) is not None:
            yield (
                f"cannot set {name} environment variable in autoscalerOptions.env when "
                "tlsOptions is set - the operator manages TLS configuration for the autoscaler "
                "automatically"
            )
    yield from _tls_mount_errors(options.volume_mounts or [], "autoscalerOptions.volumeMounts")


def _tls_container_errors(container: Json, where: str) -> Iterator[str]:
    env = _env(container)
    for name in TLS_ENVS:
        if env_var(name, env) is not None:
            yield (
                f"cannot set {name} environment variable in {where} when tlsOptions is set - "
                "the operator manages TLS configuration automatically"
            )
    yield from _tls_mount_errors(_volume_mounts(container), where)


def _tls_mount_errors(mounts: list[Json], where: str) -> Iterator[str]:
    for mount in mounts:
        if mount.get("name") == RAY_TLS_VOLUME_NAME:
            yield (
                f"cannot use volume mount named {go_quote(RAY_TLS_VOLUME_NAME)} in {where} when "
                "tlsOptions is set - the operator manages TLS configuration automatically"
            )
        elif mount.get("mountPath") == RAY_TLS_CERT_MOUNT_PATH:
            yield (
                f"cannot use volume mount at path {go_quote(RAY_TLS_CERT_MOUNT_PATH)} in {where} "
                "when tlsOptions is set - the operator manages TLS configuration automatically"
            )


# --- reading pod templates as KubeRay's Go structs see them --------------------------------


def _autoscaling_enabled(spec: RayClusterSpec) -> bool:
    return spec.enable_in_tree_autoscaling is True


def _autoscaler_version(spec: RayClusterSpec) -> str | None:
    return spec.autoscaler_options.version if spec.autoscaler_options is not None else None


def _autoscaler_v2_requested(spec: RayClusterSpec, head_container: Json) -> bool:
    """`version: v2`, or the pre-1.4 way: head env RAY_enable_autoscaler_v2 = 1/true."""
    if _autoscaler_version(spec) == AUTOSCALER_V2:
        return True
    env = env_var(RAY_ENABLE_AUTOSCALER_V2_ENV, _env(head_container))
    return env is not None and _env_value(env) in _ENV_TRUE_VALUES


def _restart_policy(template: Json) -> str:
    return str((template.get("spec") or {}).get("restartPolicy") or "")


def _env(container: Json) -> list[Json]:
    return list(container.get("env") or [])


def _volume_mounts(container: Json) -> list[Json]:
    return list(container.get("volumeMounts") or [])


def _env_value(env: Json) -> str:
    return str(env.get("value") or "")


# Go's unicode.IsSpace (Python's str.isspace also counts the ASCII separators 0x1c-0x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_GO_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _go_trim_space(value: str) -> str:
    return value.strip(_GO_SPACE)


def _go_upper(value: str) -> str:
    """strings.ToUpper maps rune by rune: "ß" stays "ß" (Python's upper() makes it "SS")."""
    return "".join(up if len(up := ch.upper()) == 1 else ch for ch in value)
