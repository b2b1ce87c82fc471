"""Job controller: completions and parallelism, backoffLimit, activeDeadlineSeconds."""

from __future__ import annotations

from typing import Any

from kuberay_py.sandbox.cluster.garbage_collector import GarbageCollector
from kuberay_py.sandbox.cluster.jobs import JobController
from unit_tests.sandbox_cluster_harness import Cluster, cluster, condition, eventually


def _job(name: str, env: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "work",
                            "image": "busybox:1.36",
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                        }
                    ],
                }
            },
            **spec,
        },
    }


def _get_job(c: Cluster, name: str) -> dict[str, Any]:
    job = c.get(c.rt("batch", "jobs"), "default", name)
    assert job is not None
    return job


def _job_pods(c: Cluster, name: str) -> list[dict[str, Any]]:
    return [
        p
        for p in c.registry.list(c.pods, "default").items
        if p["metadata"].get("labels", {}).get("job-name") == name
    ]


async def test_job_runs_to_completion_with_parallelism() -> None:
    async with cluster(JobController) as c:
        c.registry.create(
            c.rt("batch", "jobs"),
            "default",
            _job("pi", {"SANDBOX_RUN_SECONDS": "20"}, completions=3, parallelism=2),
        )
        active = await eventually(lambda: _get_job(c, "pi").get("status", {}).get("active"))
        assert active == 2
        job = await eventually(
            lambda: condition(_get_job(c, "pi"), "Complete") and _get_job(c, "pi"), timeout=10
        )
        status = job["status"]
        assert status["succeeded"] == 3 and "active" not in status and "failed" not in status
        assert status["startTime"] and status["completionTime"]
        assert [cond["type"] for cond in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
        complete = condition(job, "Complete")
        assert complete["reason"] == "CompletionsReached"
        assert complete["message"] == "Reached expected number of succeeded pods"
        pods = _job_pods(c, "pi")
        assert len(pods) == 3
        pod = pods[0]
        labels = pod["metadata"]["labels"]
        uid = job["metadata"]["uid"]
        assert labels["batch.kubernetes.io/controller-uid"] == uid
        assert labels["controller-uid"] == uid and labels["batch.kubernetes.io/job-name"] == "pi"
        assert pod["metadata"]["name"].startswith("pi-")
        ref = pod["metadata"]["ownerReferences"][0]
        assert ref["kind"] == "Job" and ref["controller"] and ref["blockOwnerDeletion"]
        reasons = [e["reason"] for e in c.events("pi")]
        assert "SuccessfulCreate" in reasons and "Completed" in reasons


async def test_job_fails_after_backoff_limit() -> None:
    async with cluster(JobController, time_scale=0.002) as c:
        c.registry.create(
            c.rt("batch", "jobs"),
            "default",
            _job("flaky", {"SANDBOX_EXIT_CODE": "1"}, backoffLimit=2),
        )
        job = await eventually(
            lambda: condition(_get_job(c, "flaky"), "Failed") and _get_job(c, "flaky"), timeout=10
        )
        failed = condition(job, "Failed")
        assert failed["reason"] == "BackoffLimitExceeded"
        assert failed["message"] == "Job has reached the specified backoff limit"
        assert condition(job, "FailureTarget")["status"] == "True"
        assert job["status"]["failed"] == 3
        assert len(_job_pods(c, "flaky")) == 3
        warning = [e for e in c.events("flaky") if e["reason"] == "BackoffLimitExceeded"]
        assert warning and warning[0]["type"] == "Warning"


async def test_job_active_deadline_kills_active_pods() -> None:
    async with cluster(JobController, GarbageCollector) as c:
        c.registry.create(
            c.rt("batch", "jobs"), "default", _job("slow", {}, activeDeadlineSeconds=30)
        )  # runs forever; 30 s = 0.3 s here
        await eventually(lambda: _get_job(c, "slow").get("status", {}).get("ready") == 1)
        job = await eventually(
            lambda: condition(_get_job(c, "slow"), "Failed") and _get_job(c, "slow")
        )
        failed = condition(job, "Failed")
        assert failed["reason"] == "DeadlineExceeded"
        assert failed["message"] == "Job was active longer than specified deadline"
        await eventually(lambda: not _job_pods(c, "slow"))
        # Deleting the Job cascades (the pods are gone already; the Job goes).
        c.registry.delete(c.rt("batch", "jobs"), "default", "slow")
        await eventually(lambda: c.get(c.rt("batch", "jobs"), "default", "slow") is None)
