"""The Job that deletes a GCS-FT cluster's keys from Redis after the cluster is deleted.

Built from the head pod so it sees Redis exactly as the head did (same env, Secrets,
volumes, image), minus everything that would start or supervise Ray.
"""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.constants import (
    KUBERAY_VERSION_ANNOTATION,
    NODE_TYPE_REDIS_CLEANUP,
    RAY_CONTAINER_INDEX,
    RAY_NODE_TYPE_LABEL,
    REDIS_CLEANUP_JOB_SUFFIX,
    REDIS_USERNAME_ENV,
    UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION,
    WAIT_FOR_TLS_INIT_CONTAINER_NAME,
)
from kuberay_py.api.pod_template import has_env
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import check_label
from kuberay_py.builders.ray_start import bash_command

Json = dict[str, Any]

#: Best effort: the finalizer is removed after this anyway (KubeRay's 5 minutes).
ACTIVE_DEADLINE_SECONDS = 300
DEFAULT_RESOURCES: Json = {
    "limits": {"cpu": "200m", "memory": "256Mi"},
    "requests": {"cpu": "200m", "memory": "256Mi"},
}
#: 120 retries x 500 ms: the Job keeps trying for a minute while Redis comes back.
EXTRA_ENV: tuple[Json, ...] = (
    {"name": "RAY_redis_db_connect_retries", "value": "120"},
    {"name": "RAY_redis_db_connect_wait_milliseconds", "value": "500"},
)

_DOCS_NOTE = (
    'echo "To get more information about manually deleting the storage namespace in Redis '
    "and removing the RayCluster's finalizer, please check "
    "https://docs.ray.io/en/master/cluster/kubernetes/user-guides/kuberay-gcs-ft.html "
    'for more details." && '
)
# The first address of RAY_REDIS_ADDRESS (a comma list), given a scheme when it has none,
# then Ray's own cleanup helper; a False result fails the Job.
_SCRIPT_PREAMBLE = (
    '"from ray._private.gcs_utils import cleanup_redis_storage; '
    "from urllib.parse import urlparse; "
    "import os; "
    "import sys; "
    "redis_address = os.getenv('RAY_REDIS_ADDRESS', '').split(',')[0]; "
    "redis_address = redis_address if '://' in redis_address else 'redis://' + redis_address; "
    "parsed = urlparse(redis_address); "
)
_USERNAME_ARG = "username=os.getenv('REDIS_USERNAME', parsed.username), "


def redis_cleanup_job_name(c: RayCluster) -> str:
    """`<cluster>-redis-cleanup` through KubeRay's TrimJobName (= CheckLabel): the front is
    cut to 63 characters and a leading punctuation character becomes `r`."""
    return check_label(f"{c.name}{REDIS_CLEANUP_JOB_SUFFIX}")


def redis_cleanup_args(with_username: bool) -> list[str]:
    """The container's single bash argument. The username is passed only when the head has
    REDIS_USERNAME (Ray >= 2.41 understands it; older Rays would reject the keyword)."""
    call = (
        "sys.exit(1) if not cleanup_redis_storage(host=parsed.hostname, port=parsed.port, "
        + (_USERNAME_ARG if with_username else "")
        + "password=os.getenv('REDIS_PASSWORD', parsed.password or ''), "
        "use_ssl=parsed.scheme=='rediss', "
        "storage_namespace=os.getenv('RAY_external_storage_namespace')) else None\""
    )
    return [_DOCS_NOTE + "python -c " + _SCRIPT_PREAMBLE + call]


def build_redis_cleanup_job(c: RayCluster, head_pod: Json, config: OperatorConfig) -> Json:
    """`head_pod` is what `build_head_pod(c, config)` returns; it is not modified."""
    pod_meta: Json = copy.deepcopy(head_pod.get("metadata") or {})
    pod_spec: Json = copy.deepcopy(head_pod.get("spec") or {})
    labels: dict[str, str] = pod_meta.setdefault("labels", {})
    labels[RAY_NODE_TYPE_LABEL] = NODE_TYPE_REDIS_CLEANUP
    # KubeRay stamps these on the head pod when it creates it, after building it, so its
    # cleanup Job never carries them; the Job is not a Ray node to upgrade or re-stamp.
    annotations: dict[str, str] = pod_meta.get("annotations") or {}
    for key in (UPGRADE_STRATEGY_RECREATE_HASH_ANNOTATION, KUBERAY_VERSION_ANNOTATION):
        annotations.pop(key, None)

    ray_container: Json = pod_spec["containers"][RAY_CONTAINER_INDEX]
    pod_spec["containers"] = [ray_container]
    if "initContainers" in pod_spec:
        # The mTLS init container waits for the pod IP in the head certificate, which the
        # cleanup pod never gets: left in, it would block the cleanup until it timed out.
        pod_spec["initContainers"] = [
            ic
            for ic in pod_spec["initContainers"] or []
            if ic.get("name") != WAIT_FOR_TLS_INIT_CONTAINER_NAME
        ]
    env: list[Json] = list(ray_container.get("env") or [])
    with_username = has_env(REDIS_USERNAME_ENV, env)
    ray_container["command"] = bash_command(config)
    ray_container["args"] = redis_cleanup_args(with_username)
    ray_container.pop("livenessProbe", None)
    ray_container.pop("readinessProbe", None)
    ray_container["env"] = env + [dict(e) for e in EXTRA_ENV]
    ray_container["resources"] = copy.deepcopy(
        config.redis_cleanup_job_resources
        if config.redis_cleanup_job_resources is not None
        else DEFAULT_RESOURCES
    )
    pod_spec["restartPolicy"] = "Never"

    metadata: Json = {
        "name": redis_cleanup_job_name(c),
        "namespace": c.namespace,
        "labels": dict(labels),
        "ownerReferences": [controller_ref(c)],
    }
    if pod_meta.get("annotations"):
        metadata["annotations"] = dict(pod_meta["annotations"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
            "template": {"metadata": pod_meta, "spec": pod_spec},
        },
    }
