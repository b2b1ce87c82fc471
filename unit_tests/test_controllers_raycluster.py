"""The RayCluster controller on the in-memory API: KubeRay's controller behaviours
(reference section 7.3 and 7.5) plus ours (no duplicate creates behind a lagging watch,
no writes for an unchanged cluster, one Warning per invalid generation)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kuberay_py.api.config import OperatorConfig
from kuberay_py.kube import INGRESSES, JOBS, PODS, RAYCLUSTERS, SECRETS, SERVICES, Forbidden
from kuberay_py.runtime import Request
from kuberay_py.runtime.testing import eventually
from unit_tests.raycluster_harness import NS, Harness, condition, raycluster

Obj = dict[str, Any]


def names(objs: list[Obj]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


async def converged(h: Harness, workers: int, name: str = "rc") -> None:
    await eventually(
        lambda: len(h.pods("head")) == 1 and len(h.pods("worker")) == workers, timeout=10
    )
    await h.idle(name)


# ---------------------------------------------------------------- creation and status


async def test_creates_head_service_head_and_workers_with_kuberay_events() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=3))
        await converged(h, 3)
        head = h.pods("head")[0]
        assert head["metadata"]["name"].startswith("rc-head-")
        assert head["metadata"]["labels"]["ray.io/cluster"] == "rc"
        assert all(p["metadata"]["ownerReferences"][0]["name"] == "rc" for p in h.pods())
        assert names(h.kube.list_of(SERVICES)) == ["rc-head-svc"]
        ns = NS
        assert h.notes("CreatedService") == [f"Created service {ns}/rc-head-svc"]
        assert h.notes("CreatedHeadPod") == [f"Created head Pod {ns}/{head['metadata']['name']}"]
        assert h.notes("CreatedWorkerPod") == sorted(
            f"Created worker Pod {ns}/{n}" for n in names(h.pods("worker"))
        )
        # Replica indices are the lowest free ones.
        indices = sorted(
            p["metadata"]["labels"]["ray.io/worker-group-replica-index"] for p in h.pods("worker")
        )
        assert indices == ["0", "1", "2"]
        events = h.events("CreatedWorkerPod")
        assert {e["reportingController"] for e in events} == {"raycluster-controller"}
        assert {e["action"] for e in events} == {"Create"}


async def test_ready_status_then_an_unchanged_pass_writes_nothing() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=2))
        await converged(h, 2)
        await h.run_pods()
        await eventually(lambda: (h.cluster().get("status") or {}).get("state") == "ready")
        status = h.cluster()["status"]
        assert status["desiredWorkerReplicas"] == 2
        assert status["readyWorkerReplicas"] == 2
        assert status["desiredCPU"] == "3"
        assert status["head"]["serviceName"] == "rc-head-svc"
        assert condition(h.cluster(), "RayClusterProvisioned")["status"] == "True"
        assert condition(h.cluster(), "HeadPodReady")["reason"] == "HeadPodRunningAndReady"
        await h.idle()
        writes, events = len(h.kube.writes), len(h.events())
        before = h.kube.requests.copy()
        for _ in range(3):
            await h.settle()
        assert h.kube.writes[writes:] == []
        assert len(h.events()) == events
        after = h.kube.requests
        assert {v: after[v] - before[v] for v in after if after[v] != before[v]} == {}


async def test_kuberay_metrics_follow_the_cluster_and_are_forgotten_with_it() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1))
        await converged(h, 1)
        registry = h.mgr.registry
        assert registry is not None
        uid = h.cluster()["metadata"]["uid"]
        labels = {"name": "rc", "namespace": NS, "uid": uid}
        info = {**labels, "owner_kind": "None"}
        assert registry.get_sample_value("kuberay_cluster_info", info) == 1
        assert (
            registry.get_sample_value(
                "kuberay_cluster_condition_provisioned", {**labels, "condition": "false"}
            )
            == 1
        )
        await h.run_pods()
        await eventually(lambda: (h.cluster().get("status") or {}).get("state") == "ready")
        duration = registry.get_sample_value("kuberay_cluster_provisioned_duration_seconds", labels)
        assert duration is not None and duration >= 0
        await h.kube.delete(RAYCLUSTERS, "rc", NS)
        await eventually(
            lambda: (
                registry.get_sample_value("kuberay_cluster_provisioned_duration_seconds", labels)
                is None
            )
        )
        assert registry.get_sample_value("kuberay_cluster_info", info) is None


async def test_progress_changes_are_coalesced_into_one_status_write() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=2))
        await converged(h, 2)
        await h.run_pods()
        await eventually(lambda: (h.cluster().get("status") or {}).get("state") == "ready")
        await eventually(lambda: h.cluster()["status"].get("readyWorkerReplicas") == 2)
        await h.idle()
        written = len(h.kube.statuses)
        for pod in h.pods("worker"):  # a burst of transitions
            status = {"conditions": [{"type": "Ready", "status": "False"}]}
            await h.kube.patch(PODS, pod["metadata"]["name"], {"status": status}, NS)
        await eventually(lambda: "readyWorkerReplicas" not in h.cluster()["status"], timeout=5)
        assert len(h.kube.statuses) == written + 1
        assert h.cluster()["status"]["state"] == "ready"  # ready is never left for this


async def test_replicas_are_clamped_into_min_and_max() -> None:
    async with Harness() as h:
        body = raycluster(replicas=5)
        body["spec"]["workerGroupSpecs"][0]["maxReplicas"] = 4
        await h.apply(body)
        await converged(h, 4)
        await h.settle()
        assert len(h.pods("worker")) == 4


# ---------------------------------------------------------------- healing


async def test_failed_worker_is_deleted_then_replaced() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=2))
        await converged(h, 2)
        victim = h.pods("worker")[0]["metadata"]["name"]
        await h.set_phase(victim, "Failed")
        await eventually(
            lambda: victim not in names(h.pods("worker")) and len(h.pods("worker")) == 2
        )
        note = h.notes("DeletedWorkerPod")[0]
        assert note.startswith(f"Deleted worker Pod {NS}/{victim}; Pod status: Failed;")


async def test_deleted_worker_is_recreated_with_its_replica_index() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=3))
        await converged(h, 3)
        victim = h.pods("worker")[1]
        index = victim["metadata"]["labels"]["ray.io/worker-group-replica-index"]
        await h.kube.delete(PODS, victim["metadata"]["name"], NS)
        await eventually(lambda: len(h.pods("worker")) == 3)
        indices = sorted(
            p["metadata"]["labels"]["ray.io/worker-group-replica-index"] for p in h.pods("worker")
        )
        assert indices == ["0", "1", "2"]
        assert index in indices


async def test_failed_head_is_deleted_and_recreated() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1))
        await converged(h, 1)
        old = h.pods("head")[0]["metadata"]["name"]
        await h.set_phase(old, "Failed")
        await eventually(
            lambda: len(h.pods("head")) == 1 and h.pods("head")[0]["metadata"]["name"] != old
        )
        assert h.notes("DeletedHeadPod")[0].startswith(f"Deleted head Pod {NS}/{old}; Pod status")


async def test_two_head_pods_are_an_error_and_nothing_is_deleted() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1))
        await converged(h, 1)
        extra = dict(h.pods("head")[0])
        extra["metadata"] = {
            "name": "rc-head-extra",
            "labels": extra["metadata"]["labels"],
            "ownerReferences": extra["metadata"]["ownerReferences"],
        }
        await h.kube.create(PODS, extra, NS)
        await h.settle()
        assert len(h.pods("head")) == 2
        assert not [w for w in h.kube.writes if w[0] == "delete"]


# ---------------------------------------------------------------- scaling


async def test_scale_down_without_autoscaler_deletes_surplus_workers() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=3))
        await converged(h, 3)
        first = names(h.pods("worker"))[0]
        await h.patch_cluster({"spec": {"workerGroupSpecs": [_group(replicas=1)]}})
        await eventually(lambda: len(h.pods("worker")) == 1)
        assert first in " ".join(h.notes("DeletedWorkerPod"))


async def test_workers_to_delete_are_deleted_even_with_the_autoscaler() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=3, enableInTreeAutoscaling=True))
        await converged(h, 3)
        victim = names(h.pods("worker"))[2]
        group = _group(replicas=2, workers_to_delete=[victim, "no-such-pod"])
        await h.patch_cluster({"spec": {"workerGroupSpecs": [group]}})
        await eventually(lambda: victim not in names(h.pods("worker")))
        await h.settle()
        assert len(h.pods("worker")) == 2
        assert h.notes("DeletedWorkerPod") == [f"Deleted pod {NS}/{victim}"]
        # The missing name costs no request.
        assert ("delete", "pods", "no-such-pod") not in h.kube.writes


async def test_autoscaler_alone_decides_which_workers_go() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=3, enableInTreeAutoscaling=True))
        await converged(h, 3)
        await h.patch_cluster({"spec": {"workerGroupSpecs": [_group(replicas=1)]}})
        await h.settle()
        assert len(h.pods("worker")) == 3
        assert not [w for w in h.kube.writes if w[0] == "delete"]


async def test_random_pod_delete_lets_the_operator_pick_with_the_autoscaler() -> None:
    config = OperatorConfig(enable_probes_injection=False, enable_random_pod_delete=True)
    async with Harness(config) as h:
        await h.apply(raycluster(replicas=3, enableInTreeAutoscaling=True))
        await converged(h, 3)
        victim = names(h.pods("worker"))[0]
        group = _group(replicas=1, workers_to_delete=[victim])
        await h.patch_cluster({"spec": {"workerGroupSpecs": [group]}})
        await eventually(lambda: len(h.pods("worker")) == 1)
        assert victim not in names(h.pods("worker"))


async def test_autoscaler_rbac_is_created_once() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, enableInTreeAutoscaling=True))
        await converged(h, 1)
        assert h.notes("CreatedServiceAccount") == [f"Created service account {NS}/rc"]
        assert h.notes("CreatedRole") == [f"Created role {NS}/rc"]
        assert h.notes("CreatedRoleBinding") == [f"Created role binding {NS}/rc"]
        writes = len(h.kube.writes)
        await h.settle()
        assert h.kube.writes[writes:] == []


async def test_user_named_service_account_must_exist() -> None:
    async with Harness() as h:
        body = raycluster(replicas=1, enableInTreeAutoscaling=True)
        body["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "mine"
        await h.apply(body)
        await eventually(lambda: h.events("AutoscalerServiceAccountNotFound"))
        await h.settle()
        assert h.pods() == []
        [note] = h.notes("AutoscalerServiceAccountNotFound")
        assert note.startswith(f"Failed to reconcile RayCluster {NS}/rc. If users specify")
        assert "ServiceAccount mine is not found" in note


# ---------------------------------------------------------------- services


async def test_head_service_is_created_once_and_duplicates_are_an_error() -> None:
    async with Harness() as h:
        labels = {
            "ray.io/cluster": "rc",
            "ray.io/node-type": "head",
            "ray.io/identifier": "rc-head",
        }
        for name in ("dup-a", "dup-b"):
            svc = {"metadata": {"name": name, "labels": labels}, "spec": {"clusterIP": "None"}}
            await h.kube.create(SERVICES, svc, NS)
        await eventually(lambda: len(h.mgr.cache.list(SERVICES, NS)) == 2)
        await h.apply(raycluster(replicas=1))
        await eventually(lambda: h.kube.requests["list"] > 0)
        await h.settle()
        # The head Service step fails, so the pass stops before the Pods.
        assert h.pods() == []
        assert names(h.kube.list_of(SERVICES)) == ["dup-a", "dup-b"]


async def test_multi_host_group_creates_whole_replicas_and_a_headless_service() -> None:
    async with Harness() as h:
        body = raycluster()
        body["spec"]["workerGroupSpecs"] = [_group(replicas=2, hosts=2)]
        await h.apply(body)
        await converged(h, 4)
        assert "rc-headless" in names(h.kube.list_of(SERVICES))
        replicas: dict[str, list[str]] = {}
        for pod in h.pods("worker"):
            labels = pod["metadata"]["labels"]
            replicas.setdefault(labels["ray.io/worker-group-replica-name"], []).append(
                labels["ray.io/worker-group-replica-index"]
                + "/"
                + labels["ray.io/replica-host-index"]
            )
        assert sorted(sorted(v) for v in replicas.values()) == [["0/0", "0/1"], ["1/0", "1/1"]]
        # A host deleted from outside takes its whole replica with it, then it is rebuilt.
        victim = h.pods("worker")[0]["metadata"]["name"]
        await h.kube.delete(PODS, victim, NS)
        await eventually(
            lambda: len(h.pods("worker")) == 4 and victim not in names(h.pods("worker"))
        )


async def test_serve_service_when_annotated() -> None:
    async with Harness() as h:
        body = raycluster(replicas=1)
        body["metadata"]["annotations"] = {"ray.io/enable-serve-service": "true"}
        await h.apply(body)
        await converged(h, 1)
        assert "rc-serve-svc" in names(h.kube.list_of(SERVICES))


async def test_ingress_is_created_updated_on_change_and_a_foreign_one_left_alone() -> None:
    async with Harness() as h:
        body = raycluster(replicas=1)
        body["spec"]["headGroupSpec"]["enableIngress"] = True
        await h.apply(body)
        await converged(h, 1)
        [ingress] = h.kube.list_of(INGRESSES)
        assert ingress["metadata"]["name"] == "rc-head-ingress"
        assert h.notes("CreatedIngress") == [f"Created ingress {NS}/rc-head-ingress"]
        writes = len(h.kube.writes)
        await h.settle()
        assert h.kube.writes[writes:] == []
        await h.patch_cluster({"metadata": {"annotations": {"team": "ray"}}})
        await eventually(
            lambda: (h.kube.list_of(INGRESSES)[0]["metadata"].get("annotations") or {}).get("team")
        )
        assert h.notes("UpdatedIngress") == [f"Updated ingress {NS}/rc-head-ingress"]

    async with Harness() as h:
        foreign = {"metadata": {"name": "rc-head-ingress"}, "spec": {"rules": []}}
        await h.kube.create(INGRESSES, foreign, NS)
        await eventually(lambda: h.mgr.cache.get(INGRESSES, "rc-head-ingress", NS))
        body = raycluster(replicas=1)
        body["spec"]["headGroupSpec"]["enableIngress"] = True
        await h.apply(body)
        await converged(h, 1)
        for _ in range(2):
            await h.settle()
        assert h.notes("FailedToCreateIngress") == [
            f"Ingress {NS}/rc-head-ingress already exists and is not owned by this RayCluster; "
            "not modifying it"
        ]
        assert h.kube.list_of(INGRESSES)[0]["spec"] == {"rules": []}


async def test_token_auth_gets_a_generated_secret_once() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, rayVersion="2.52.0", authOptions={"mode": "token"}))
        await converged(h, 1)
        [secret] = [s for s in h.kube.list_of(SECRETS) if s["metadata"]["name"] == "rc"]
        assert secret["stringData"] == {"auth_token": "dG9rZW4="}
        assert secret["metadata"]["ownerReferences"][0]["name"] == "rc"
        writes = len(h.kube.writes)
        await h.settle()
        assert h.kube.writes[writes:] == []


async def test_a_suspended_worker_group_loses_only_its_workers() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=2))
        await converged(h, 2)
        group = _group(replicas=2)
        group["suspend"] = True
        await h.patch_cluster({"spec": {"workerGroupSpecs": [group]}})
        await eventually(lambda: h.pods("worker") == [])
        assert len(h.pods("head")) == 1
        assert h.notes("DeletedWorkerPod") == [
            f"Deleted all pods for suspended worker group workers in RayCluster {NS}/rc"
        ]


# ---------------------------------------------------------------- failures and status


async def test_create_failure_becomes_replica_failure_and_a_warning() -> None:
    async with Harness() as h:
        quota = Forbidden(
            {
                "kind": "Status",
                "code": 403,
                "reason": "Forbidden",
                "message": 'pods "rc-head-x" is forbidden: exceeded quota: q',
            }
        )
        # The head Service exists (and is cached), so the next create is the head Pod's.
        await h.kube.create(
            SERVICES,
            {
                "metadata": {
                    "name": "rc-head-svc",
                    "labels": {
                        "ray.io/cluster": "rc",
                        "ray.io/node-type": "head",
                        "ray.io/identifier": "rc-head",
                    },
                },
                "spec": {"clusterIP": "None"},
            },
            NS,
        )
        await eventually(lambda: h.mgr.cache.get(SERVICES, "rc-head-svc", NS))
        h.kube.failures[("create", "pods")] = [quota]
        await h.kube.create(RAYCLUSTERS, raycluster(replicas=1), NS)
        await eventually(lambda: h.events("FailedToCreateHeadPod"))
        # The retry at once succeeds, so the condition may be short-lived: read the
        # status as it was written.
        failures = [condition(s, "ReplicaFailure") for s in h.kube.statuses]
        failure = next(f for f in failures if f is not None)
        assert failure["reason"] == "FailedCreateHeadPod"
        assert "forbidden: exceeded quota" in failure["message"]
        assert h.notes("FailedToCreateHeadPod") == [
            f'Failed to create head Pod {NS}/, pods "rc-head-x" is forbidden: exceeded quota: q'
        ]
        # The retry succeeds and the condition goes away.
        await converged(h, 1)
        await eventually(lambda: condition(h.cluster(), "ReplicaFailure") is None)


# ---------------------------------------------------------------- validation, managedBy


async def test_invalid_spec_one_warning_no_writes_no_requeue_then_fixed() -> None:
    async with Harness() as h:
        body = raycluster(replicas=1)
        body["spec"]["workerGroupSpecs"][0]["minReplicas"] = 5
        body["spec"]["workerGroupSpecs"][0]["maxReplicas"] = 2
        await h.apply(body)
        await eventually(lambda: h.events("InvalidRayClusterSpec"))
        await h.idle()
        for _ in range(3):
            await h.settle()
        assert h.notes("InvalidRayClusterSpec") == [
            f"The RayCluster spec is invalid {NS}/rc: worker group workers has minReplicas 5 "
            "greater than maxReplicas 2"
        ]
        [event] = h.events("InvalidRayClusterSpec")
        assert event["type"] == "Warning" and event["action"] == "Validate"
        assert "series" not in event  # not re-published on every pass
        assert h.kube.writes == [("create", "rayclusters", "rc")]
        assert h.controller.queue.ready_at(Request(NS, "rc")) is None  # no requeue
        fixed = _group(replicas=1)
        await h.patch_cluster({"spec": {"workerGroupSpecs": [fixed]}})
        await converged(h, 1)


async def test_invalid_metadata_is_reported() -> None:
    async with Harness() as h:
        await h.apply(raycluster(name="r" * 54, replicas=1))
        await eventually(lambda: h.events("InvalidRayClusterMetadata"))
        await h.idle("r" * 54)
        [note] = h.notes("InvalidRayClusterMetadata")
        assert note == (
            f"The RayCluster metadata is invalid {NS}/{'r' * 54}: "
            "RayCluster name should be no more than 53 characters"
        )
        assert h.pods() == []


async def test_a_bad_shape_is_an_invalid_spec_not_a_crash() -> None:
    async with Harness() as h:
        body = raycluster(replicas=1)
        body["spec"]["workerGroupSpecs"][0]["replicas"] = "three"
        await h.apply(body)
        await eventually(lambda: h.events("InvalidRayClusterSpec"))
        await h.idle()
        [note] = h.notes("InvalidRayClusterSpec")
        assert note.startswith(f"The RayCluster spec is invalid {NS}/rc: ")
        assert "replicas" in note
        assert h.kube.writes == [("create", "rayclusters", "rc")]


async def test_an_impossible_status_is_reported_and_retried() -> None:
    async with Harness() as h:
        body = raycluster(replicas=1)
        body["status"] = {
            "conditions": [
                {"type": "RayClusterSuspending", "status": "True", "reason": "R"},
                {"type": "RayClusterSuspended", "status": "True", "reason": "R"},
            ]
        }
        await h.apply(body)
        await eventually(lambda: h.events("InvalidRayClusterStatus"))
        assert h.notes("InvalidRayClusterStatus") == [
            f"The RayCluster status is invalid {NS}/rc, invalid RayCluster State: "
            "rayv1.RayClusterSuspending and rayv1.RayClusterSuspended conditions should not be "
            "both true"
        ]
        await eventually(lambda: h.controller.queue.ready_at(Request(NS, "rc")) is not None)
        assert h.pods() == []


async def test_managed_by_another_controller_is_left_alone() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, managedBy="kueue.x-k8s.io/multikueue"))
        await eventually(lambda: h.kube.requests["list"] > 0)
        await h.settle()
        assert h.kube.writes == [("create", "rayclusters", "rc")]
        assert h.events() == []


# ---------------------------------------------------------------- suspend


async def test_suspend_deletes_every_pod_then_resume_brings_them_back() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=2))
        await converged(h, 2)
        await h.run_pods()
        await eventually(lambda: (h.cluster().get("status") or {}).get("state") == "ready")
        await h.patch_cluster({"spec": {"suspend": True}})
        await eventually(lambda: (h.cluster().get("status") or {}).get("state") == "suspended")
        assert h.pods() == []
        assert condition(h.cluster(), "RayClusterSuspended")["status"] == "True"
        assert condition(h.cluster(), "RayClusterSuspending")["status"] == "False"
        assert h.notes("DeletedPod") == [f"Deleted Pods for RayCluster {NS}/rc due to suspension"]
        await h.patch_cluster({"spec": {"suspend": False}})
        await converged(h, 2)
        await eventually(lambda: condition(h.cluster(), "RayClusterSuspended")["status"] == "False")


# ---------------------------------------------------------------- probes


async def test_no_pod_before_the_probe_decision_for_this_generation() -> None:
    async with Harness(OperatorConfig()) as h:
        await h.apply(raycluster(replicas=1))
        await eventually(lambda: h.kube.list_of(SERVICES))
        await h.settle()
        assert h.pods() == []
        await h.stamp_probes()
        await converged(h, 1)
        head = h.pods("head")[0]["spec"]["containers"][0]
        assert "readinessProbe" in head and "livenessProbe" in head
        # A spec change (new generation) waits for a new stamp before new Pods.
        await h.patch_cluster({"spec": {"workerGroupSpecs": [_group(replicas=2)]}})
        await h.settle()
        assert len(h.pods("worker")) == 1
        await h.stamp_probes()
        await converged(h, 2)


# ---------------------------------------------------------------- expectations


async def test_a_lagging_pod_watch_never_causes_duplicate_creates() -> None:
    async with Harness() as h:
        h.kube.hold_pods = True
        await h.apply(raycluster(replicas=3))
        await eventually(lambda: len(h.pods()) == 4)
        for i in range(5):
            await h.patch_cluster({"metadata": {"annotations": {"poke": str(i)}}})
            await h.settle()
        assert len(h.pods()) == 4
        h.kube.release_pods()
        await h.settle()
        await converged(h, 3)
        creates = [w for w in h.kube.writes if w[:2] == ("create", "pods")]
        assert len(creates) == 4


# ---------------------------------------------------------------- upgrade strategy


async def test_recreate_upgrade_strategy_replaces_every_pod_on_a_spec_change() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, upgradeStrategy={"type": "Recreate"}))
        await converged(h, 1)
        old = set(names(h.pods()))
        group = _group(replicas=1)
        group["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:2.47.0"
        await h.patch_cluster({"spec": {"workerGroupSpecs": [group]}})
        await eventually(lambda: len(h.pods()) == 2 and not (set(names(h.pods())) & old))
        assert h.notes("DeletedPod") == [
            f"Deleted all Pods for RayCluster {NS}/rc due to spec change with Recreate "
            "upgradeStrategy"
        ]


# ---------------------------------------------------------------- GCS fault tolerance


FT = {"gcsFaultToleranceOptions": {"redisAddress": "redis:6379"}}


async def test_gcs_ft_finalizer_is_added_first_and_no_pod_in_that_pass() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, **FT))
        await eventually(lambda: h.cluster()["metadata"].get("finalizers"))
        assert h.cluster()["metadata"]["finalizers"] == ["ray.io/gcs-ft-redis-cleanup-finalizer"]
        assert h.kube.writes[:2] == [
            ("create", "rayclusters", "rc"),
            ("patch", "rayclusters", "rc"),
        ]
        await converged(h, 1)  # after the 2 s requeue


async def test_gcs_ft_deletion_runs_the_cleanup_job_then_drops_the_finalizer() -> None:
    async with Harness() as h:
        await h.apply(raycluster(replicas=1, **FT))
        await converged(h, 1)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await h.patch_cluster({"metadata": {"deletionTimestamp": now}})
        h.kick()
        await eventually(lambda: h.kube.list_of(JOBS), timeout=15)
        assert h.pods() == []
        [job] = h.kube.list_of(JOBS)
        assert job["metadata"]["name"] == "rc-redis-cleanup"
        assert h.notes("CreatedRedisCleanupJob") == [
            f"Created Redis cleanup Job {NS}/rc-redis-cleanup"
        ]
        assert h.cluster()["metadata"]["finalizers"] == ["ray.io/gcs-ft-redis-cleanup-finalizer"]
        done = {"conditions": [{"type": "Complete", "status": "True"}]}
        await h.kube.patch(JOBS, "rc-redis-cleanup", {"status": done}, NS)
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"))


async def test_gcs_ft_deletion_past_the_timeout_forces_the_finalizer_off() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    async with Harness(clock=lambda: later) as h:
        body = raycluster(replicas=1)  # the legacy annotation path this time
        body["metadata"]["annotations"] = {
            "ray.io/ft-enabled": "true",
            "ray.io/gcs-ft-deletion-timeout": "60",
            "ray.io/external-storage-namespace": "ns-1",
        }
        body["metadata"]["finalizers"] = ["ray.io/gcs-ft-redis-cleanup-finalizer"]
        body["metadata"]["deletionTimestamp"] = dt.datetime.now(dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        await h.apply(body)
        await eventually(lambda: not h.cluster()["metadata"].get("finalizers"))
        [event] = h.events("ForceDeletedStuckCluster")
        assert event["type"] == "Warning" and event["action"] == "Cleanup"
        assert event["note"].startswith("Force-removed GCS FT finalizer after 1m3")
        assert event["note"].endswith(
            'due to Redis cleanup timeout; Redis storage namespace "ns-1" may need manual cleanup'
        )
        assert h.kube.list_of(JOBS) == []


# ---------------------------------------------------------------- helpers


def _group(*, replicas: int, workers_to_delete: list[str] | None = None, hosts: int = 1) -> Obj:
    group = raycluster()["spec"]["workerGroupSpecs"][0]
    group["replicas"] = replicas
    group["numOfHosts"] = hosts
    if workers_to_delete is not None:
        group["scaleStrategy"] = {"workersToDelete": workers_to_delete}
    return dict(group)
