"""KubeRay's samples, applied with kubectl, give what KubeRay's operator gives.

Issue 5 point 7, and KubeRay's `test/sampleyaml` e2e (reference section 7.7): each
sample converges to `state: ready` with HeadPodReady/RayClusterProvisioned True,
the Pods and Services carry KubeRay's names and labels, `kubectl get raycluster`
prints KubeRay's columns, and every object the operator created (found in the audit
log, then by owner reference) is valid Kubernetes 1.33 as the API server returns it.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
import yaml

from e2e.operator_support import (
    NAMESPACE,
    OPERATOR_USER_AGENT_PREFIX,
    SAMPLES,
    CleanupRuntime,
    Kubectl,
    OperatorSandbox,
    assert_valid_kubernetes,
    condition,
    events_about,
    objects_of,
    owned_by,
    ready_with_kuberay_conditions,
    show,
    validate_everything_the_operator_created,
    wait_for_cluster,
)
from kuberay_py.kube import (
    EVENTS,
    INGRESSES,
    JOBS,
    PODS,
    RAYCLUSTERS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    KubeClient,
    NotFound,
)
from kuberay_py.runtime.testing import eventually

pytest_plugins = ("e2e.operator_fixtures",)

pytestmark = pytest.mark.kubectl

Obj = dict[str, Any]

FT_FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
COLUMNS = [
    "NAME",
    "DESIRED WORKERS",
    "AVAILABLE WORKERS",
    "CPUS",
    "MEMORY",
    "GPUS",
    "STATUS",
    "AGE",
]


@attrs.frozen
class Sample:
    file: str
    name: str
    #: Worker pods per group once converged (suspended groups have none).
    workers: dict[str, int]
    #: status.desiredCPU / desiredMemory / desiredGPU: head template plus every
    #: unsuspended group's template times replicas, requests before limits.
    cpus: str
    memory: str
    gpus: str = "0"
    #: A user-supplied headService keeps its ClusterIP; otherwise the head Service is headless.
    headless: bool = True

    @property
    def desired(self) -> int:
        return sum(self.workers.values())


SAMPLE_LIST = [
    Sample("ray-cluster.sample.yaml", "raycluster-kuberay", {"workergroup": 1}, "2", "3Gi"),
    Sample(
        "ray-cluster.two-worker-groups.yaml",
        "raycluster-two-groups",
        {"small": 2, "large": 1},
        # head 1 + small 2 x 500m (requests win over limits) + large 2
        "4",
        "8Gi",
    ),
    Sample(
        "ray-cluster.external-redis.yaml",
        "raycluster-external-redis",
        {"workergroup": 1},
        "2",
        "3Gi",
    ),
    Sample("ray-cluster.autoscaler.yaml", "raycluster-autoscaler", {"elastic": 0}, "1", "2Gi"),
    Sample(
        "ray-cluster.complete.yaml",
        "raycluster-complete",
        # `standby` is suspended: no pods, and no share of the desired resources.
        {"cpu-workers": 2, "standby": 0},
        "2500m",
        "6Gi",
        headless=False,
    ),
]
SAMPLES_BY_FILE = {s.file: s for s in SAMPLE_LIST}


async def apply_and_wait_ready(
    kubectl: Kubectl, client: KubeClient, sample: Sample
) -> dict[str, Any]:
    (await kubectl("apply", "-f", str(SAMPLES / sample.file))).check()
    return await wait_for_cluster(
        client,
        sample.name,
        lambda c: (
            ready_with_kuberay_conditions(c)
            # Go's omitempty: a zero count is absent from the status.
            and (c.get("status") or {}).get("availableWorkerReplicas", 0) == sample.desired
        ),
        "state ready with HeadPodReady/RayClusterProvisioned True and every worker available",
    )


async def ray_pods(client: KubeClient, cluster: str) -> list[Obj]:
    return await objects_of(client, PODS, label_selector=f"ray.io/cluster={cluster}")


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env") or ()}


def assert_kuberay_pod_labels(pod: Obj, cluster: str, node_type: str, group: str) -> None:
    labels = pod["metadata"].get("labels") or {}
    expected = {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": cluster,
        "ray.io/node-type": node_type,
        "ray.io/group": group,
        "ray.io/identifier": f"{cluster}-{node_type}",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    got = {k: labels.get(k) for k in expected}
    assert got == expected, f"pod {pod['metadata']['name']} labels {labels}"


def table_row(header: str, line: str) -> dict[str, str]:
    """Cells of a kubectl table row, cut at the header's column starts (cells may be empty)."""
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s\s))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return dict(zip(names, cells, strict=True))


def controller_owner(obj: Obj, cluster: Obj) -> bool:
    refs = obj["metadata"].get("ownerReferences") or ()
    return any(
        r.get("uid") == cluster["metadata"]["uid"]
        and r.get("kind") == "RayCluster"
        and r.get("apiVersion") == "ray.io/v1"
        and r.get("controller") is True
        for r in refs
    )


@pytest.mark.parametrize("file", list(SAMPLES_BY_FILE))
async def test_sample_converges_to_kuberay_pods_services_status_and_columns(
    file: str, operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    sample = SAMPLES_BY_FILE[file]
    _, _, client = operator_sandbox
    cluster = await apply_and_wait_ready(operator_kubectl, client, sample)
    name, uid = sample.name, cluster["metadata"]["uid"]

    # -- pods: one head, the right workers per group, KubeRay's names and labels
    pods = await ray_pods(client, name)
    heads = [p for p in pods if p["metadata"]["labels"].get("ray.io/node-type") == "head"]
    assert len(heads) == 1, [p["metadata"]["name"] for p in pods]
    head = heads[0]
    assert head["metadata"].get("generateName") == f"{name}-head-"
    assert head["metadata"]["name"].startswith(f"{name}-head-")
    assert_kuberay_pod_labels(head, name, "head", "headgroup")
    assert controller_owner(head, cluster)
    assert head["metadata"]["annotations"].get("ray.io/ft-enabled") == (
        "true" if "gcsFaultToleranceOptions" in cluster["spec"] else "false"
    )
    for group, count in sample.workers.items():
        members = [p for p in pods if p["metadata"]["labels"].get("ray.io/group") == group]
        assert len(members) == count, (group, [p["metadata"]["name"] for p in members])
        for pod in members:
            assert pod["metadata"].get("generateName") == f"{name}-{group}-worker-"
            assert_kuberay_pod_labels(pod, name, "worker", group)
            assert controller_owner(pod, cluster)
            init = [c["name"] for c in pod["spec"].get("initContainers") or ()]
            assert init[-1:] == ["wait-gcs-ready"], init
        indices = sorted(
            p["metadata"]["labels"].get("ray.io/worker-group-replica-index") for p in members
        )
        assert indices == [str(i) for i in range(count)]
    assert len(pods) == 1 + sample.desired

    # -- the head Service: `<cluster>-head-svc`, selecting exactly the head pod
    svc = await client.get(SERVICES, f"{name}-head-svc", NAMESPACE)
    selector = {
        "ray.io/cluster": name,
        "ray.io/node-type": "head",
        "ray.io/identifier": f"{name}-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    assert svc["spec"]["selector"] == selector
    assert selector.items() <= svc["metadata"]["labels"].items()
    assert controller_owner(svc, cluster)
    if sample.headless:
        assert svc["spec"].get("clusterIP") == "None"
        assert svc["spec"].get("publishNotReadyAddresses") is True
    else:
        assert svc["spec"].get("clusterIP") not in (None, "", "None")

    # -- status as KubeRay computes it
    status = cluster["status"]
    expected_status = {
        "state": "ready",
        "desiredWorkerReplicas": sample.desired,
        "availableWorkerReplicas": sample.desired,
        "readyWorkerReplicas": sample.desired,
        "desiredCPU": sample.cpus,
        "desiredMemory": sample.memory,
        "desiredGPU": sample.gpus,
        "observedGeneration": cluster["metadata"]["generation"],
    }
    # Counts are int32 with omitempty in KubeRay's types: zero is absent.
    got_status = {k: status.get(k, 0 if k.endswith("Replicas") else None) for k in expected_status}
    assert got_status == expected_status, show(cluster)
    assert status["head"]["podName"] == head["metadata"]["name"]
    assert status["head"]["podIP"] == head["status"]["podIP"]
    assert status["head"]["serviceName"] == f"{name}-head-svc"
    assert status["head"]["serviceIP"] == (
        head["status"]["podIP"] if sample.headless else svc["spec"]["clusterIP"]
    )
    assert condition(cluster, "ReplicaFailure") is None, show(cluster)

    # -- `kubectl get raycluster`: KubeRay's printer columns and values
    table = (await operator_kubectl("get", "raycluster", name)).check().out.splitlines()
    header = re.split(r"\s{2,}", table[0].strip())
    assert header == COLUMNS, table[0]
    row = table_row(table[0], table[1])
    assert {k: v for k, v in row.items() if k != "AGE"} == {
        "NAME": name,
        # A zero count is absent from the status (omitempty in KubeRay's types), and
        # kubectl prints an absent integer column as an empty cell.
        "DESIRED WORKERS": str(sample.desired) if sample.desired else "",
        "AVAILABLE WORKERS": str(sample.desired) if sample.desired else "",
        "CPUS": sample.cpus,
        "MEMORY": sample.memory,
        "GPUS": sample.gpus,
        "STATUS": "ready",
    }, table
    assert re.fullmatch(r"\d+s|\d+m\d*s?", row["AGE"]), row["AGE"]

    wide = (await operator_kubectl("get", "raycluster", name, "-o", "wide")).check().out
    wide_row = table_row(*wide.splitlines()[:2])
    assert {k: wide_row.get(k) for k in ("TPUS", "HEAD POD IP", "HEAD SERVICE IP")} == {
        "TPUS": "0",
        "HEAD POD IP": status["head"]["podIP"],
        "HEAD SERVICE IP": status["head"]["serviceIP"],
    }, wide

    # -- KubeRay's Events for what it created (events.k8s.io/v1, reason + action)
    events = await events_about(client, uid)
    notes = {(e["reason"], e.get("action"), e.get("note")) for e in events}
    assert (
        "CreatedHeadPod",
        "Create",
        f"Created head Pod {NAMESPACE}/{head['metadata']['name']}",
    ) in notes
    assert (
        "CreatedService",
        "Create",
        f"Created service {NAMESPACE}/{name}-head-svc",
    ) in notes
    for pod in pods:
        if pod["metadata"]["labels"]["ray.io/node-type"] == "worker":
            note = f"Created worker Pod {NAMESPACE}/{pod['metadata']['name']}"
            assert ("CreatedWorkerPod", "Create", note) in notes, sorted(notes)


@pytest.mark.parametrize("file", list(SAMPLES_BY_FILE))
async def test_every_object_the_operator_created_is_valid_kubernetes_1_33(
    file: str, operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    """Pods, Services, RBAC and Events, each as the API server returns it (strict
    schema, server-set fields included: see assert_valid_kubernetes)."""
    sample = SAMPLES_BY_FILE[file]
    sb, _, client = operator_sandbox
    cluster = await apply_and_wait_ready(operator_kubectl, client, sample)
    uid = cluster["metadata"]["uid"]

    checked = await validate_everything_the_operator_created(sb, client, uid)
    assert checked["Pod"] == 1 + sample.desired, checked
    assert {"Pod", "Service", "Event"} <= checked.keys(), checked
    if cluster["spec"].get("enableInTreeAutoscaling"):
        assert {"ServiceAccount", "Role", "RoleBinding"} <= checked.keys(), checked


async def test_gcs_ft_sample_wires_redis_into_the_head_and_reconnect_into_workers(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    sample = SAMPLES_BY_FILE["ray-cluster.external-redis.yaml"]
    _, _, client = operator_sandbox
    cluster = await apply_and_wait_ready(operator_kubectl, client, sample)
    uid = cluster["metadata"]["uid"]
    assert FT_FINALIZER in (cluster["metadata"].get("finalizers") or ()), show(cluster)

    pods = await ray_pods(client, sample.name)
    head = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    assert head["metadata"]["annotations"].get("ray.io/ft-enabled") == "true"
    assert head["metadata"]["annotations"].get("ray.io/external-storage-namespace") == uid
    env = env_of(head["spec"]["containers"][0])
    assert env["RAY_REDIS_ADDRESS"] == {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}
    assert env["REDIS_PASSWORD"] == {
        "name": "REDIS_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "redis-password-secret", "key": "password"}},
    }
    assert env["RAY_external_storage_namespace"] == {
        "name": "RAY_external_storage_namespace",
        "value": uid,
    }
    assert "RAY_gcs_rpc_server_reconnect_timeout_s" not in env
    assert "--redis-password=$REDIS_PASSWORD" in env["KUBERAY_GEN_RAY_START_CMD"]["value"]

    workers = [p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]
    assert workers
    for worker in workers:
        wenv = env_of(worker["spec"]["containers"][0])
        assert wenv["RAY_gcs_rpc_server_reconnect_timeout_s"] == {
            "name": "RAY_gcs_rpc_server_reconnect_timeout_s",
            "value": "600",
        }
        assert not {"RAY_REDIS_ADDRESS", "REDIS_PASSWORD"} & wenv.keys()


async def test_autoscaler_sample_gets_rbac_and_the_sidecar(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    sample = SAMPLES_BY_FILE["ray-cluster.autoscaler.yaml"]
    _, _, client = operator_sandbox
    cluster = await apply_and_wait_ready(operator_kubectl, client, sample)
    name = sample.name
    common = {
        "ray.io/cluster": name,
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    sa = await client.get(SERVICEACCOUNTS, name, NAMESPACE)
    role = await client.get(ROLES, name, NAMESPACE)
    binding = await client.get(ROLEBINDINGS, name, NAMESPACE)
    for obj in (sa, role, binding):
        assert common.items() <= (obj["metadata"].get("labels") or {}).items(), obj["metadata"]
        assert controller_owner(obj, cluster), obj["metadata"]
    rules = {
        (tuple(r.get("apiGroups") or ()), tuple(r["resources"]), tuple(sorted(r["verbs"])))
        for r in role["rules"]
    }
    assert (("",), ("pods",), ("get", "list", "patch", "watch")) in rules, rules
    assert (("",), ("pods/resize",), ("patch",)) in rules, rules
    assert (("ray.io",), ("rayclusters",), ("get", "patch")) in rules, rules
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": name,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]

    [head] = [
        p
        for p in await ray_pods(client, name)
        if p["metadata"]["labels"]["ray.io/node-type"] == "head"
    ]
    assert head["spec"]["serviceAccountName"] == name
    names = [c["name"] for c in head["spec"]["containers"]]
    assert names == ["ray-head", "autoscaler"], names
    sidecar = head["spec"]["containers"][1]
    assert sidecar["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert "ray kuberay-autoscaler" in " ".join(sidecar.get("args") or ())
    start = env_of(head["spec"]["containers"][0])["KUBERAY_GEN_RAY_START_CMD"]["value"]
    assert "--no-monitor" in start, start
    # The autoscaler decides the workers: with replicas 0 the operator creates none.
    assert "desiredWorkerReplicas" not in cluster["status"], show(cluster)  # 0, omitempty


async def test_complete_sample_keeps_the_user_head_service_and_suspended_group(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    sample = SAMPLES_BY_FILE["ray-cluster.complete.yaml"]
    _, _, client = operator_sandbox
    cluster = await apply_and_wait_ready(operator_kubectl, client, sample)
    svc = await client.get(SERVICES, f"{sample.name}-head-svc", NAMESPACE)
    assert svc["metadata"]["labels"].get("example.com/exposed-by") == sample.name
    assert svc["metadata"]["annotations"].get("example.com/note")
    # headServiceAnnotations are merged into the user's head Service.
    assert svc["metadata"]["annotations"].get("example.com/scrape") == "true"
    assert svc["spec"]["type"] == "ClusterIP"
    pods = await ray_pods(client, sample.name)
    assert not [p for p in pods if p["metadata"]["labels"].get("ray.io/group") == "standby"]
    head = next(p for p in pods if p["metadata"]["labels"]["ray.io/node-type"] == "head")
    assert head["metadata"]["labels"].get("example.com/tier") == "head"
    assert head["metadata"]["annotations"].get("example.com/profile") == "standard"
    assert cluster["status"]["maxWorkerReplicas"] == 6  # the suspended group is not counted
    assert cluster["status"]["minWorkerReplicas"] == 1


# ---------------------------------------------------------------- GCS FT deletion


async def _ft_cluster_ready(kubectl: Kubectl, client: KubeClient, annotate: dict[str, str]) -> Obj:
    sample = SAMPLES_BY_FILE["ray-cluster.external-redis.yaml"]
    cluster = await apply_and_wait_ready(kubectl, client, sample)
    if annotate:
        patch = {"metadata": {"annotations": annotate}}
        cluster = await client.patch(RAYCLUSTERS, sample.name, patch, NAMESPACE, patch_type="merge")
    assert FT_FINALIZER in (cluster["metadata"].get("finalizers") or ()), show(cluster)
    return cluster


async def _gone(client: KubeClient, name: str) -> bool:
    try:
        await client.get(RAYCLUSTERS, name, NAMESPACE)
    except NotFound:
        return True
    return False


async def test_deleting_a_gcs_ft_cluster_runs_the_redis_cleanup_job_then_drops_the_finalizer(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl, cleanup_runtime: CleanupRuntime
) -> None:
    sb, _, client = operator_sandbox
    cleanup_runtime.exit_code = 0
    # Long enough (2 s real) to find the running Job before it completes and is collected.
    cleanup_runtime.run_seconds = 40
    cluster = await _ft_cluster_ready(operator_kubectl, client, {})
    name, uid = cluster["metadata"]["name"], cluster["metadata"]["uid"]
    await client.delete(RAYCLUSTERS, name, NAMESPACE)

    async def job() -> Obj | None:
        try:
            return await client.get(JOBS, f"{name}-redis-cleanup", NAMESPACE)
        except NotFound:
            return None

    found = await eventually(job, timeout=30)
    assert_valid_kubernetes(found)
    labels = found["metadata"]["labels"]
    assert labels.get("ray.io/node-type") == "redis-cleanup", labels
    assert labels.get("ray.io/cluster") == name, labels
    assert owned_by(found, uid)
    await eventually(lambda: _gone(client, name), timeout=30)
    assert cleanup_runtime.starts >= 1
    # KubeRay deletes the pods first and starts the cleanup only once the head is gone
    # (the GCS must have stopped writing to Redis).
    order = [
        (e["verb"], (e.get("objectRef") or {}).get("resource"))
        for e in sb.audit_events()
        if str(e.get("userAgent", "")).startswith(OPERATOR_USER_AGENT_PREFIX)
        and e["verb"] in ("delete", "deletecollection", "create")
        and (e.get("objectRef") or {}).get("resource") in ("pods", "jobs")
    ]
    job_create = order.index(("create", "jobs"))
    assert any(verb != "create" for verb, res in order[:job_create] if res == "pods"), order
    # The Job completed (the GC removes it with the cluster, so look at the Events).
    events = await events_about(client, uid)
    reasons = [e["reason"] for e in events]
    assert "CreatedRedisCleanupJob" in reasons, reasons
    for event in events:
        assert_valid_kubernetes(event)
    assert "ForceDeletedStuckCluster" not in reasons, reasons
    job_events = [
        e
        for e in await objects_of(client, EVENTS)
        if (e.get("involvedObject") or e.get("regarding") or {}).get("kind") == "Job"
    ]
    assert any(e["reason"] == "Completed" for e in job_events), [
        (e["reason"], e.get("message") or e.get("note")) for e in job_events
    ]


async def _job_events(client: KubeClient, job: str) -> list[tuple[str, str]]:
    """(reason, message) of the sandbox Job controller's core/v1 Events about `job`."""
    return [
        (e["reason"], e.get("message") or "")
        for e in await objects_of(client, EVENTS)
        if (e.get("involvedObject") or {}).get("kind") == "Job"
        and (e.get("involvedObject") or {}).get("name") == job
    ]


async def test_a_failed_redis_cleanup_job_still_releases_the_cluster(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl, cleanup_runtime: CleanupRuntime
) -> None:
    """KubeRay removes the finalizer when the Job finished, Failed included (section 4.4)."""
    _, _, client = operator_sandbox
    cleanup_runtime.exit_code = 1
    cluster = await _ft_cluster_ready(operator_kubectl, client, {})
    name, uid = cluster["metadata"]["name"], cluster["metadata"]["uid"]
    await client.delete(RAYCLUSTERS, name, NAMESPACE)
    await eventually(lambda: _gone(client, name), timeout=30)
    job_events = await _job_events(client, f"{name}-redis-cleanup")
    assert any(reason == "BackoffLimitExceeded" for reason, _ in job_events), job_events
    reasons = [e["reason"] for e in await events_about(client, uid)]
    assert "CreatedRedisCleanupJob" in reasons, reasons
    assert "ForceDeletedStuckCluster" not in reasons, reasons


async def test_a_stuck_redis_cleanup_is_force_finalized_after_the_annotated_timeout(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl, cleanup_runtime: CleanupRuntime
) -> None:
    _, _, client = operator_sandbox
    cleanup_runtime.exit_code = None  # the cleanup script never returns
    cluster = await _ft_cluster_ready(
        operator_kubectl, client, {"ray.io/gcs-ft-deletion-timeout": "1"}
    )
    name, uid = cluster["metadata"]["name"], cluster["metadata"]["uid"]
    await client.delete(RAYCLUSTERS, name, NAMESPACE)
    await eventually(lambda: _gone(client, name), timeout=30)
    assert cleanup_runtime.starts >= 1, "the cleanup Job never ran a pod"
    job_events = await _job_events(client, f"{name}-redis-cleanup")
    assert not [r for r, _ in job_events if r in ("Completed", "BackoffLimitExceeded")], job_events
    forced = [
        e for e in await events_about(client, uid) if e["reason"] == "ForceDeletedStuckCluster"
    ]
    assert len(forced) == 1, forced
    assert_valid_kubernetes(forced[0])
    assert forced[0]["type"] == "Warning"
    assert forced[0].get("action") == "Cleanup"
    assert re.fullmatch(
        r"Force-removed GCS FT finalizer after [0-9.]+(ms|s) due to Redis cleanup timeout; "
        r'Redis storage namespace ".*" may need manual cleanup',
        forced[0].get("note") or "",
    ), forced[0].get("note")


async def test_token_auth_and_ingress_objects_are_valid_kubernetes_1_33(
    operator_sandbox: OperatorSandbox, operator_kubectl: Kubectl
) -> None:
    """The basic sample plus `authOptions.mode: token` and `enableIngress`: the operator
    then also creates the auth token Secret and the dashboard Ingress."""
    sb, _, client = operator_sandbox
    manifest = yaml.safe_load((SAMPLES / "ray-cluster.sample.yaml").read_text())
    manifest["metadata"]["name"] = name = "raycluster-auth-ingress"
    manifest["spec"]["authOptions"] = {"mode": "token"}
    manifest["spec"]["headGroupSpec"]["enableIngress"] = True
    (await operator_kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest))).check()
    cluster = await wait_for_cluster(
        client, name, ready_with_kuberay_conditions, "ready with KubeRay's conditions"
    )
    checked = await validate_everything_the_operator_created(sb, client, cluster["metadata"]["uid"])
    assert {"Pod", "Service", "Secret", "Ingress", "Event"} <= checked.keys(), checked
    secret = await client.get(SECRETS, name, NAMESPACE)
    assert set(secret["data"]) == {"auth_token"}
    ingress = await client.get(INGRESSES, f"{name}-head-ingress", NAMESPACE)
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{name}-head-svc", "port": {"number": 8265}}
