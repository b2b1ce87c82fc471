"""The batch/v1 Job controller: pods from a template until enough of them succeed.

It keeps the parts of kube's job controller that KubeRay and users observe:
pods named `<job>-xxxxx` with the job's labels and a controller
ownerReference; parallelism and completions; `status.active / ready /
succeeded / failed / terminating`, `startTime`, `completionTime`; the
backoff limit (pod failures, or container restarts under OnFailure), the
active deadline, suspension; and the 1.32 conditions (SuccessCriteriaMet then
Complete, FailureTarget then Failed) with kube's reasons, messages and Events.
Pod-creation back-off after failures is 10 s doubling to 6 min, scaled.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster.events import EventRecorder
from kuberay_py.sandbox.cluster.informer import Informer, KeyQueue, ObjKey, obj_key, supervise
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI
from kuberay_py.sandbox.registry.types import DeleteOptions

log = structlog.get_logger("sandbox.jobs")

COMPONENT = "job-controller"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
POD_BACKOFF_INITIAL = 10.0
POD_BACKOFF_MAX = 360.0
COMPLETIONS_REACHED = "Reached expected number of succeeded pods"
BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"


def _controller_uid(pod: dict[str, Any]) -> str | None:
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "Job":
            return str(ref.get("uid"))
    return None


def _condition(job: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def _is_true(job: dict[str, Any], ctype: str) -> bool:
    cond = _condition(job, ctype)
    return cond is not None and cond.get("status") == "True"


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


class JobController:
    """Runs batch/v1 Jobs on the sandbox; see the module docstring."""

    def __init__(self, registry: RegistryAPI, clock: SandboxClock) -> None:
        self.registry = registry
        self.clock = clock
        self.jobs_rt = registry.catalog.require("batch", "v1", "jobs")
        self.pods_rt = registry.catalog.require("", "v1", "pods")
        self.jobs = Informer(registry, self.jobs_rt, clock, name="job-controller-jobs")
        self.pods = Informer(registry, self.pods_rt, clock, name="job-controller-pods")
        self.events = EventRecorder(registry, COMPONENT)
        self.queue: KeyQueue[ObjKey] = KeyQueue()
        self._pods_by_job: dict[str, set[ObjKey]] = {}
        # Per job uid: the monotonic time its active period started (for the deadline),
        # the terminal pod uids already counted, and when the next pod may be created.
        self._started: dict[str, float] = {}
        self._counted: dict[str, tuple[set[str], set[str]]] = {}
        self._not_before: dict[str, float] = {}
        self._failures_seen: dict[str, int] = {}
        self.jobs.add_handler(self._on_job)
        self.pods.add_handler(self._on_pod)

    # --- event handlers ----------------------------------------------------------------

    def _on_job(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old or {}
        if new is None:
            uid = obj.get("metadata", {}).get("uid", "")
            self._started.pop(uid, None)
            self._counted.pop(uid, None)
            self._not_before.pop(uid, None)
            self._failures_seen.pop(uid, None)
            self._pods_by_job.pop(uid, None)
            return
        self.queue.add(obj_key(obj))

    def _on_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for obj, present in ((old, False), (new, True)):
            if obj is None:
                continue
            uid = _controller_uid(obj)
            if uid is None:
                continue
            keys = self._pods_by_job.setdefault(uid, set())
            if present:
                keys.add(obj_key(obj))
            elif new is None:
                keys.discard(obj_key(obj))
        pod = new or old or {}
        uid = _controller_uid(pod)
        if uid is None:
            return
        for ref in pod.get("metadata", {}).get("ownerReferences") or []:
            if ref.get("uid") == uid:
                self.queue.add((pod["metadata"].get("namespace", ""), ref.get("name", "")))

    def _job_pods(self, job_uid: str) -> list[dict[str, Any]]:
        pods = []
        for key in list(self._pods_by_job.get(job_uid, ())):
            pod = self.pods.cache.get(key)
            if pod is not None and _controller_uid(pod) == job_uid:
                pods.append(pod)
        return pods

    # --- sync --------------------------------------------------------------------------

    def sync(self, key: ObjKey) -> None:
        job = self.jobs.get(*key)
        if job is None:
            return
        try:
            job = self.registry.get(self.jobs_rt, key[0], key[1])
        except StatusError as exc:
            if exc.code == 404:
                return
            raise
        if job.get("metadata", {}).get("deletionTimestamp"):
            return
        uid = job["metadata"]["uid"]
        spec = job.get("spec", {})
        status = copy.deepcopy(job.get("status") or {})
        pods = self._job_pods(uid)
        finished = _is_true(job, "Complete") or _is_true(job, "Failed")
        active = [
            p
            for p in pods
            if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        terminating = [
            p
            for p in pods
            if p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        ]
        succeeded_uids, failed_uids = self._counted.setdefault(uid, (set(), set()))
        for p in pods:
            phase = p.get("status", {}).get("phase")
            if phase == "Succeeded":
                succeeded_uids.add(p["metadata"]["uid"])
            elif phase == "Failed":
                failed_uids.add(p["metadata"]["uid"])
        succeeded = max(int(status.get("succeeded") or 0), len(succeeded_uids))
        failed = max(int(status.get("failed") or 0), len(failed_uids))
        now = self.clock.now_rfc3339()

        if finished:
            for pod in active:
                self._delete_pod(job, pod)
            self._write_status(
                job,
                status,
                active=0,
                ready=0,
                terminating=len(terminating),
                succeeded=succeeded,
                failed=failed,
            )
            return

        suspended = bool(spec.get("suspend"))
        if suspended:
            for pod in active:
                self._delete_pod(job, pod)
            if not _is_true(job, "Suspended"):
                _set_cond(status, "Suspended", "True", "JobSuspended", "Job suspended", now)
                self.events.normal(job, "Suspended", "Job suspended")
            status.pop("startTime", None)
            self._started.pop(uid, None)
            self._write_status(
                job,
                status,
                active=0,
                ready=0,
                terminating=len(terminating),
                succeeded=succeeded,
                failed=failed,
            )
            return
        if _is_true(job, "Suspended"):
            _set_cond(status, "Suspended", "False", "JobResumed", "Job resumed", now)
            self.events.normal(job, "Resumed", "Job resumed")
        if not status.get("startTime"):
            status["startTime"] = now
            self._started[uid] = self.clock.monotonic()
        started = self._started.setdefault(uid, self.clock.monotonic())

        backoff_limit = int(spec.get("backoffLimit", 6))
        restart_policy = (spec.get("template", {}).get("spec") or {}).get("restartPolicy")
        restarts = 0
        if restart_policy == "OnFailure":
            restarts = sum(
                int(cs.get("restartCount") or 0)
                for p in active
                for cs in (p.get("status", {}).get("containerStatuses") or [])
                + (p.get("status", {}).get("initContainerStatuses") or [])
            )
        failure: tuple[str, str] | None = None
        if restart_policy == "OnFailure":
            past_limit = restarts > 0 if backoff_limit == 0 else restarts >= backoff_limit
        else:
            past_limit = failed > backoff_limit
        if past_limit:
            failure = ("BackoffLimitExceeded", BACKOFF_MESSAGE)
        deadline = spec.get("activeDeadlineSeconds")
        if failure is None and deadline is not None:
            remaining = started + self.clock.scaled(float(deadline)) - self.clock.monotonic()
            if remaining <= 0:
                failure = ("DeadlineExceeded", DEADLINE_MESSAGE)
            else:
                self.queue.add_after(key, remaining)
        if failure is not None:
            reason, message = failure
            for pod in active:
                self._delete_pod(job, pod)
            _set_cond(status, "FailureTarget", "True", reason, message, now)
            _set_cond(status, "Failed", "True", reason, message, now)
            self.events.warning(job, reason, message)
            self._write_status(
                job,
                status,
                active=0,
                ready=0,
                terminating=len(terminating) + len(active),
                succeeded=succeeded,
                failed=failed + len(active),
            )
            return

        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        if completions is None:
            done = succeeded > 0 and not active
            wanted = 0 if succeeded > 0 else parallelism
        else:
            done = succeeded >= int(completions)
            wanted = max(0, min(parallelism, int(completions) - succeeded))
        if done:
            for pod in active:
                self._delete_pod(job, pod)
            _set_cond(
                status, "SuccessCriteriaMet", "True", "CompletionsReached", COMPLETIONS_REACHED, now
            )
            _set_cond(status, "Complete", "True", "CompletionsReached", COMPLETIONS_REACHED, now)
            status["completionTime"] = now
            self.events.normal(job, "Completed", "Job completed")
            self._write_status(
                job,
                status,
                active=0,
                ready=0,
                terminating=len(terminating),
                succeeded=succeeded,
                failed=failed,
            )
            return

        if len(active) > wanted:
            extra = sorted(active, key=lambda p: (_pod_ready(p), p["metadata"]["name"]))
            for pod in extra[: len(active) - wanted]:
                self._delete_pod(job, pod)
                active.remove(pod)
        elif len(active) < wanted:
            self._note_failures(uid, failed)
            not_before = self._not_before.get(uid, 0.0)
            wait = not_before - self.clock.monotonic()
            if wait > 0:
                self.queue.add_after(key, wait)
            else:
                for _ in range(wanted - len(active)):
                    created = self._create_pod(job)
                    if created is not None:
                        active.append(created)
        self._write_status(
            job,
            status,
            active=len(active),
            ready=sum(1 for p in active if _pod_ready(p)),
            terminating=len(terminating),
            succeeded=succeeded,
            failed=failed,
        )

    def _note_failures(self, uid: str, failed: int) -> None:
        """After the n-th failure, new pods wait 10 s * 2^(n-1), capped at 6 min (scaled)."""
        if failed > self._failures_seen.get(uid, 0):
            delay = min(POD_BACKOFF_INITIAL * 2 ** (failed - 1), POD_BACKOFF_MAX)
            self._not_before[uid] = self.clock.monotonic() + self.clock.scaled(delay)
            self._failures_seen[uid] = failed
            job_key = next(
                (k for k, j in self.jobs.cache.items() if j["metadata"].get("uid") == uid), None
            )
            if job_key is not None:
                self.queue.add_after(job_key, self.clock.scaled(delay))

    def _create_pod(self, job: dict[str, Any]) -> dict[str, Any] | None:
        meta = job["metadata"]
        template = copy.deepcopy(job.get("spec", {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.setdefault(JOB_UID_LABEL, meta["uid"])
        labels.setdefault(JOB_NAME_LABEL, meta["name"])
        labels.setdefault("controller-uid", meta["uid"])
        labels.setdefault("job-name", meta["name"])
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta.get("namespace"),
                "labels": labels,
                "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template.get("spec") or {},
        }
        if tmeta.get("finalizers"):
            pod["metadata"]["finalizers"] = list(tmeta["finalizers"])
        try:
            created = self.registry.create(self.pods_rt, meta.get("namespace"), pod)
        except StatusError as exc:
            self.events.warning(job, "FailedCreate", f"Error creating: {exc.message}")
            return None
        self.pods.assume(created)
        self.events.normal(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    def _delete_pod(self, job: dict[str, Any], pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        try:
            deleted = self.registry.delete(
                self.pods_rt,
                pod["metadata"].get("namespace"),
                name,
                DeleteOptions(preconditions_uid=pod["metadata"].get("uid")),
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
            return
        if deleted.get("metadata", {}).get("deletionTimestamp"):
            self.pods.assume(deleted)
        else:
            self.pods.forget(deleted)
        self.events.normal(job, "SuccessfulDelete", f"Deleted pod: {name}")

    def _write_status(
        self,
        job: dict[str, Any],
        status: dict[str, Any],
        *,
        active: int,
        ready: int,
        terminating: int,
        succeeded: int,
        failed: int,
    ) -> None:
        for field, value in (("active", active), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["ready"] = ready
        status["terminating"] = terminating
        status.setdefault("uncountedTerminatedPods", {})
        if status == (job.get("status") or {}):
            return
        updated = dict(job)
        updated["status"] = status
        try:
            stored = self.registry.update(
                self.jobs_rt,
                job["metadata"].get("namespace"),
                job["metadata"]["name"],
                updated,
                subresource="status",
            )
            self.jobs.assume(stored)
        except StatusError as exc:
            if exc.code == 409:
                self.queue.add(obj_key(job))
            elif exc.code != 404:
                raise

    # --- loops -------------------------------------------------------------------------

    async def _work(self) -> None:
        await self.jobs.synced.wait()
        await self.pods.synced.wait()
        while True:
            key = await self.queue.get()
            try:
                self.sync(key)
            except Exception:
                log.exception("job sync failed", job=f"{key[0]}/{key[1]}")
                self.queue.add_after(key, self.clock.scaled(1.0))
            await asyncio.sleep(0)

    async def run(self) -> None:
        try:
            await asyncio.gather(
                supervise("job-controller-jobs", self.jobs.run, self.clock),
                supervise("job-controller-pods", self.pods.run, self.clock),
                supervise("job-controller", self._work, self.clock),
            )
        finally:
            self.queue.close()


def _set_cond(
    status: dict[str, Any], ctype: str, value: str, reason: str, message: str, now: str
) -> None:
    conditions = status.setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") == ctype:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = now
            cond.update(status=value, reason=reason, message=message, lastProbeTime=now)
            return
    conditions.append(
        {
            "type": ctype,
            "status": value,
            "reason": reason,
            "message": message,
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
    )
