"""The simulated kubelet: runs the pods bound to one node through a ContainerRuntime.

It owns everything a kubelet makes observable: the pod IP, init containers
in order then containers, restart policies with CrashLoopBackOff (10 s
doubling to 300 s, first restart immediate), startup / readiness / liveness
probes with their delays, periods, timeouts and thresholds, graceful
termination honouring the deletion grace period, truthful container statuses
and pod conditions, the phase, and the kubelet's Events. Images that cannot
be pulled (see `images.py`) leave their container waiting in ErrImagePull /
ImagePullBackOff (10 s doubling to 300 s between pulls) with kubelet's
messages and Events, until the pod's image is changed to one that can.
What a container *does* is the runtime's business (`containers/base.py`).
Every duration goes through the SandboxClock, and status is written only
when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import secrets
from collections.abc import Awaitable
from typing import Any, Protocol

import structlog

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.cluster import images
from kuberay_py.sandbox.cluster.events import EventRecorder
from kuberay_py.sandbox.cluster.informer import Informer, supervise
from kuberay_py.sandbox.containers.base import ContainerContext, ContainerHandle, ContainerRuntime
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import RegistryAPI
from kuberay_py.sandbox.registry.types import DeleteOptions

log = structlog.get_logger("sandbox.kubelet")

HOST_IP = "127.0.0.1"
INITIAL_BACKOFF = 10.0
MAX_BACKOFF = 300.0
# kubelet's image pull back-off has the same shape as the crash back-off.
IMAGE_BACKOFF = INITIAL_BACKOFF
MAX_IMAGE_BACKOFF = MAX_BACKOFF
# How soon after a failed pull the pod worker syncs again and reports the back-off.
IMAGE_RESYNC = 1.0
PULL_WAITING = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")
DEFAULT_GRACE = 30
# Conditions the kubelet owns; any other condition type on a pod belongs to someone else.
# Stops of containers whose start completed after their pod was abandoned (kept referenced).
_LATE_STOPS: set[asyncio.Future[int]] = set()
OWN_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


class PodIPAllocator(Protocol):
    def allocate(self, owner: str) -> str: ...

    def release(self, owner: str) -> None: ...


def _now() -> str:
    return SandboxClock.now_rfc3339()


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, by kube's rules on requests and limits."""
    containers = list(pod.get("spec", {}).get("containers") or []) + list(
        pod.get("spec", {}).get("initContainers") or []
    )
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or str(requests.get(name, limits[name])) != str(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class ContainerRun:
    """What the kubelet knows of one container: its state, restarts and probe results."""

    def __init__(self, spec: dict[str, Any], init: bool) -> None:
        self.spec = spec
        self.name: str = spec.get("name", "")
        self.init = init
        self.state: dict[str, Any] = {
            "waiting": {"reason": "PodInitializing" if init else "ContainerCreating"}
        }
        self.last_state: dict[str, Any] = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id = ""
        self.handle: ContainerHandle | None = None
        self.ctx: ContainerContext | None = None
        self.ever_started = False
        self.backoff = 0.0
        self.backoff_updated = 0.0

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    @property
    def sidecar(self) -> bool:
        return self.init and self.spec.get("restartPolicy") == "Always"

    def terminated(self, code: int, started_at: str) -> None:
        """The container exited (or was stopped) with `code`: no handle, not ready."""
        self.handle = None
        self.ready = False
        self.started = False
        self.state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started_at,
                "finishedAt": _now(),
                "containerID": self.container_id,
            }
        }

    def terminated_code(self) -> int | None:
        term = self.state.get("terminated")
        return None if term is None else int(term.get("exitCode", 0))

    def status(self) -> dict[str, Any]:
        image = str(self.spec.get("image", ""))
        digest = hashlib.sha256(image.encode()).hexdigest()
        pulled = self.state.get("waiting", {}).get("reason") not in PULL_WAITING
        out: dict[str, Any] = {
            "name": self.name,
            "image": image,
            "imageID": f"{image.rsplit(':', 1)[0]}@sha256:{digest}" if image and pulled else "",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": copy.deepcopy(self.state),
            "lastState": copy.deepcopy(self.last_state),
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


class PodWorker:
    """Runs one pod from binding to deletion. One asyncio task per pod, plus one per container."""

    def __init__(self, kubelet: Kubelet, pod: dict[str, Any]) -> None:
        self.kubelet = kubelet
        self.clock = kubelet.clock
        self.pod = pod
        meta = pod["metadata"]
        self.namespace: str = meta.get("namespace", "")
        self.name: str = meta["name"]
        self.uid: str = meta.get("uid", "")
        spec = pod.get("spec", {})
        self.restart_policy: str = spec.get("restartPolicy") or "Always"
        self.inits = [ContainerRun(c, True) for c in spec.get("initContainers") or []]
        self.containers = [ContainerRun(c, False) for c in spec.get("containers") or []]
        self.changed = asyncio.Event()
        self.removed = False
        self.terminating = False
        self.pod_ip = ""
        self.start_time = ""
        self.sandbox_ready = False
        self.init_done = not self.inits
        self.phase = "Pending"
        self.terminal = False
        self._conditions: dict[str, dict[str, Any]] = {}
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- plumbing ----------------------------------------------------------------------

    def update(self, pod: dict[str, Any] | None) -> None:
        if pod is None:
            self.removed = True
        else:
            self.pod = pod
        self.changed.set()
        if pod is not None and pod.get("spec", {}).get("readinessGates"):
            self.mark_dirty()  # someone else's condition may have opened a readiness gate

    def mark_dirty(self) -> None:
        """Coalesce every change made in this loop iteration into one status write."""
        if not self._flush_scheduled and not self.removed:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "pod task failed",
                pod=f"{self.namespace}/{self.name}",
                task=task.get_name(),
                exc_info=task.exception(),
            )

    def _event(self, cr: ContainerRun | None, etype: str, reason: str, message: str) -> None:
        self.kubelet.events.record(
            self.pod, etype, reason, message, field_path=cr.field_path if cr else None
        )

    @property
    def pod_ref(self) -> str:
        return f"{self.name}_{self.namespace}({self.uid})"

    def _grace_seconds(self) -> float:
        meta, spec = self.pod.get("metadata", {}), self.pod.get("spec", {})
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        return float(grace if grace is not None else DEFAULT_GRACE)

    # --- status ------------------------------------------------------------------------

    def _set_condition(
        self, ctype: str, value: bool, reason: str | None = None, message: str | None = None
    ) -> None:
        status = "True" if value else "False"
        cond = self._conditions.get(ctype)
        if cond is None or cond["status"] != status:
            cond = {
                "type": ctype,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": _now(),
            }
            self._conditions[ctype] = cond
        for field, v in (("reason", reason), ("message", message)):
            if v is None:
                cond.pop(field, None)
            else:
                cond[field] = v

    def _compute_conditions(self) -> None:
        self._set_condition("PodReadyToStartContainers", self.sandbox_ready and not self.terminal)
        if self.init_done:
            self._set_condition("Initialized", True)
        else:
            pending = [c.name for c in self.inits if c.terminated_code() != 0 and not c.started]
            self._set_condition(
                "Initialized",
                False,
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(pending)}]",
            )
        unready = [c.name for c in self.containers if not c.ready]
        if self.terminal:
            self._set_condition("ContainersReady", False, "PodCompleted")
            self._set_condition("Ready", False, "PodCompleted")
            return
        if unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            self._set_condition("ContainersReady", False, "ContainersNotReady", message)
            self._set_condition("Ready", False, "ContainersNotReady", message)
            return
        self._set_condition("ContainersReady", True)
        gate_problem = self._readiness_gate_problem()
        if gate_problem:
            self._set_condition("Ready", False, "ReadinessGatesNotReady", gate_problem)
        else:
            self._set_condition("Ready", True)

    def _readiness_gate_problem(self) -> str | None:
        gates = self.pod.get("spec", {}).get("readinessGates") or []
        conds = {c.get("type"): c for c in self.pod.get("status", {}).get("conditions") or []}
        for gate in gates:
            ctype = gate.get("conditionType", "")
            cond = conds.get(ctype)
            if cond is None:
                return f'corresponding condition of pod readiness gate "{ctype}" does not exist.'
            if cond.get("status") != "True":
                return (
                    f'the status of pod readiness gate "{ctype}" is not "True", '
                    f"but {cond.get('status')}"
                )
        return None

    def _compute_phase(self) -> str:
        if self.terminal:
            return self.phase
        if not self.init_done:
            return "Pending"
        if any(not c.ever_started for c in self.containers):
            return "Pending"
        return "Running"

    def build_status(self, stored: dict[str, Any]) -> dict[str, Any]:
        self.phase = self._compute_phase()
        self._compute_conditions()
        status = dict(stored)
        foreign = [c for c in stored.get("conditions") or [] if c.get("type") not in OWN_CONDITIONS]
        if not any(c.get("type") == "PodScheduled" for c in foreign):
            foreign.append(
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.start_time or _now(),
                }
            )
        own = [copy.deepcopy(self._conditions[t]) for t in OWN_CONDITIONS if t in self._conditions]
        status["conditions"] = own + foreign
        status["phase"] = self.phase
        status["hostIP"] = HOST_IP
        status["hostIPs"] = [{"ip": HOST_IP}]
        if self.pod_ip:
            status["podIP"] = self.pod_ip
            status["podIPs"] = [{"ip": self.pod_ip}]
        if self.start_time:
            status["startTime"] = self.start_time
        if self.inits:
            status["initContainerStatuses"] = [c.status() for c in self.inits]
        status["containerStatuses"] = sorted(
            (c.status() for c in self.containers), key=lambda s: s["name"]
        )
        status.setdefault("qosClass", qos_class(self.pod))
        return status

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.removed:
            return
        try:
            self.write_status()
        except Exception:
            log.exception("pod status write failed", pod=f"{self.namespace}/{self.name}")

    def write_status(self) -> None:
        k = self.kubelet
        try:
            stored = k.registry.get(k.pods_rt, self.namespace, self.name)
        except StatusError as exc:
            if exc.code == 404:
                return
            raise
        if stored.get("metadata", {}).get("uid") != self.uid:
            return
        self.pod = stored
        current = stored.get("status") or {}
        status = self.build_status(current)
        if status == current:
            return
        obj = dict(stored)
        obj["status"] = status
        try:
            k.registry.update(k.pods_rt, self.namespace, self.name, obj, subresource="status")
            k.status_writes += 1
        except StatusError as exc:
            if exc.code == 409:
                self.mark_dirty()
            elif exc.code != 404:
                raise

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        lifecycle: asyncio.Task[Any] | None = None
        try:
            if not self.pod.get("metadata", {}).get("deletionTimestamp"):
                lifecycle = self._spawn(self._lifecycle(), f"pod-{self.name}")
            while True:
                if self.removed:
                    await self._abandon()
                    return
                if self.pod.get("metadata", {}).get("deletionTimestamp"):
                    await self._terminate()
                    return
                self.changed.clear()
                await self.changed.wait()
        except asyncio.CancelledError:
            await self._abandon()
            raise
        finally:
            if lifecycle is not None and not lifecycle.done():
                lifecycle.cancel()

    def _allocate_ip(self) -> None:
        allocator = self.kubelet.ip_allocator
        previous = (self.pod.get("status") or {}).get("podIP")
        specific = getattr(allocator, "allocate_specific", None)
        if previous and specific is not None:
            try:
                self.pod_ip = str(specific(self.uid, previous))
                return
            except Exception:
                log.debug("previous pod IP unavailable", ip=previous)
        self.pod_ip = allocator.allocate(self.uid)

    def _release_ip(self) -> None:
        if self.pod_ip:
            with contextlib.suppress(Exception):
                self.kubelet.ip_allocator.release(self.uid)

    async def _lifecycle(self) -> None:
        self._allocate_ip()
        self.start_time = (self.pod.get("status") or {}).get("startTime") or _now()
        self.sandbox_ready = True
        for cr in self.containers:
            if self.inits:
                cr.state = {"waiting": {"reason": "PodInitializing"}}
        self.mark_dirty()
        sidecars: list[asyncio.Task[Any]] = []
        for cr in self.inits:
            if cr.sidecar:
                sidecars.append(self._spawn(self._run_container(cr), f"sidecar-{cr.name}"))
                while not cr.started and not self.terminating:
                    await self.clock.sleep(0.1)
                continue
            if not await self._run_init(cr):
                self._finish("Failed")
                return
        self.init_done = True
        for cr in self.containers:
            cr.state = {"waiting": {"reason": "ContainerCreating"}}
        self.mark_dirty()
        runs = [self._spawn(self._run_container(cr), f"ctr-{cr.name}") for cr in self.containers]
        if runs:
            await asyncio.gather(*runs)
        for task in sidecars:
            task.cancel()
        codes = [cr.terminated_code() for cr in self.containers]
        self._finish("Succeeded" if all(c == 0 for c in codes) else "Failed")

    def _finish(self, phase: str) -> None:
        """The pod reached a terminal phase: its sandbox goes away, its IP is freed."""
        self.phase = phase
        self.terminal = True
        self.sandbox_ready = False
        for cr in self.containers + self.inits:
            cr.ready = False
        self._release_ip()
        self.mark_dirty()

    async def _run_init(self, cr: ContainerRun) -> bool:
        """Run an init container to completion, restarting per policy; False if the pod failed."""
        while not self.terminating:
            code, _ = await self._run_once(cr)
            if code == 0:
                return True
            if self.restart_policy == "Never":
                return False
            await self._back_off(cr)
        return False

    async def _run_container(self, cr: ContainerRun) -> None:
        """Run a container, restarting it as restartPolicy says, until it is done for good."""
        policy = "Always" if cr.sidecar else self.restart_policy
        while not self.terminating:
            code, probe_kill = await self._run_once(cr)
            if self.terminating:
                return
            if probe_kill:
                restart = policy != "Never"
            else:
                restart = policy == "Always" or (policy == "OnFailure" and code != 0)
            if not restart:
                return
            await self._back_off(cr)

    async def _back_off(self, cr: ContainerRun) -> None:
        """kubelet's crash back-off: first restart at once, then 10 s doubling to 300 s."""
        now = self.clock.monotonic()
        if cr.backoff and now - cr.backoff_updated > self.clock.scaled(2 * MAX_BACKOFF):
            cr.backoff = 0.0  # ran (or waited) long enough: forgive past crashes
        delay = cr.backoff
        cr.backoff = min(cr.backoff * 2, MAX_BACKOFF) if cr.backoff else INITIAL_BACKOFF
        cr.backoff_updated = now
        cr.last_state = cr.state
        cr.restart_count += 1
        if delay > 0:
            cr.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": (
                        f"back-off {int(delay)}s restarting failed container={cr.name} "
                        f"pod={self.pod_ref}"
                    ),
                }
            }
            self._event(
                cr,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {cr.name} in pod {self.pod_ref}",
            )
            self.mark_dirty()
            await self.clock.sleep(delay)
        else:
            cr.state = {"waiting": {"reason": "ContainerCreating"}}
            self.mark_dirty()

    async def _start(self, cr: ContainerRun) -> ContainerHandle:
        """Start through the runtime; a start finishing after cancellation is stopped again."""
        assert cr.ctx is not None
        ctx, runtime = cr.ctx, self.kubelet.runtime
        task = asyncio.ensure_future(runtime.start(ctx))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:

            def stop_late(t: asyncio.Future[ContainerHandle]) -> None:
                if not t.cancelled() and t.exception() is None:
                    late = asyncio.ensure_future(runtime.stop(ctx, t.result(), 0.0))
                    _LATE_STOPS.add(late)
                    late.add_done_callback(_LATE_STOPS.discard)

            task.add_done_callback(stop_late)
            raise

    def _current_image(self, cr: ContainerRun) -> str:
        """The container's image in the pod as it is now (images may be changed in place);
        cr.spec follows the new container entry."""
        spec = self.pod.get("spec") or {}
        for c in spec.get("initContainers" if cr.init else "containers") or ():
            if isinstance(c, dict) and c.get("name") == cr.name:
                if c.get("image") != cr.spec.get("image"):
                    cr.spec = c
                break
        return str(cr.spec.get("image", ""))

    async def _image_unchanged_for(self, cr: ContainerRun, image: str, seconds: float) -> bool:
        """Wait `seconds` (simulated); False as soon as the pod's image for `cr` changes."""
        remaining = seconds
        while remaining > 0:
            step = min(remaining, 1.0)
            await self.clock.sleep(step)
            remaining -= step
            if self._current_image(cr) != image:
                return False
        return True

    def _waiting(self, cr: ContainerRun, reason: str, message: str) -> None:
        cr.state = {"waiting": {"reason": reason, "message": message}}
        self.mark_dirty()

    async def _ensure_image(self, cr: ContainerRun) -> None:
        """kubelet's EnsureImageExists: return once the image is on the node; an image that
        cannot be pulled keeps the container waiting (ErrImagePull, then ImagePullBackOff
        until the back-off expires, then another pull), for as long as the pod asks for it."""
        backoff = 0.0
        failed_image = ""
        while True:
            image = self._current_image(cr)
            error = images.pull_error(image)
            if error is None:
                return
            if cr.spec.get("imagePullPolicy") == "Never":
                message = f'Container image "{image}" is not present with pull policy of Never'
                self._event(cr, "Warning", "ErrImageNeverPull", message)
                self._event(cr, "Warning", "Failed", "Error: ErrImageNeverPull")
                self._waiting(cr, "ErrImageNeverPull", message)
                await self._image_unchanged_for(cr, image, MAX_IMAGE_BACKOFF)
                continue
            if image != failed_image:
                backoff, failed_image = 0.0, image
            backoff = min(backoff * 2, MAX_IMAGE_BACKOFF) if backoff else IMAGE_BACKOFF
            self._event(cr, "Normal", "Pulling", f'Pulling image "{image}"')
            self._event(cr, "Warning", "Failed", f'Failed to pull image "{image}": {error}')
            self._event(cr, "Warning", "Failed", "Error: ErrImagePull")
            self._waiting(cr, "ErrImagePull", error)
            if not await self._image_unchanged_for(cr, image, min(IMAGE_RESYNC, backoff)):
                continue
            self._event(cr, "Normal", "BackOff", f'Back-off pulling image "{image}"')
            self._event(cr, "Warning", "Failed", "Error: ImagePullBackOff")
            self._waiting(
                cr,
                "ImagePullBackOff",
                f'Back-off pulling image "{image}": ErrImagePull: {error}',
            )
            await self._image_unchanged_for(cr, image, max(backoff - IMAGE_RESYNC, 0.0))

    async def _run_once(self, cr: ContainerRun) -> tuple[int, str | None]:
        """One start..exit of a container; returns (exit code, probe that killed it or None)."""
        await self._ensure_image(cr)
        image = cr.spec.get("image", "")
        self._event(cr, "Normal", "Pulled", f'Container image "{image}" already present on machine')
        cr.ctx = ContainerContext(
            pod=self.pod,
            container=cr.spec,
            pod_ip=self.pod_ip,
            node_name=self.kubelet.node_name,
            init=cr.init,
            clock=self.clock,
        )
        cr.container_id = f"containerd://{secrets.token_hex(32)}"
        self._event(cr, "Normal", "Created", f"Created container: {cr.name}")
        started_at = _now()
        try:
            handle = await self._start(cr)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            cr.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": str(exc),
                    "startedAt": started_at,
                    "finishedAt": _now(),
                    "containerID": cr.container_id,
                }
            }
            cr.ever_started = True
            self._event(cr, "Warning", "Failed", f"Error: {exc}")
            self.mark_dirty()
            return 128, None
        cr.handle = handle
        cr.ever_started = True
        cr.state = {"running": {"startedAt": started_at}}
        spec = cr.spec
        has_startup = bool(spec.get("startupProbe"))
        cr.started = not has_startup
        cr.ready = cr.started and not spec.get("readinessProbe") and not cr.init
        if cr.sidecar:
            cr.ready = cr.started and not spec.get("readinessProbe")
        self._event(cr, "Normal", "Started", f"Started container {cr.name}")
        self.mark_dirty()
        code, killed = await self._supervise(cr, handle)
        cr.terminated(code, started_at)
        self.mark_dirty()
        return code, killed

    async def _supervise(self, cr: ContainerRun, handle: ContainerHandle) -> tuple[int, str | None]:
        exit_task = asyncio.ensure_future(handle.wait())
        probe_task = asyncio.ensure_future(self._probe_container(cr, handle))
        try:
            done, _ = await asyncio.wait(
                {exit_task, probe_task}, return_when=asyncio.FIRST_COMPLETED
            )
            if exit_task in done:
                return _exit_code(exit_task), None
            failed_probe = probe_task.result()
            if failed_probe is None:  # probing ended without a verdict: wait for the exit
                await asyncio.wait({exit_task})
                return _exit_code(exit_task), None
            self._event(
                cr,
                "Normal",
                "Killing",
                f"Container {cr.name} failed {failed_probe} probe, will be restarted",
            )
            assert cr.ctx is not None
            probe = spec_probe(cr.spec, failed_probe)
            grace = probe.get("terminationGracePeriodSeconds")
            grace_s = float(grace) if grace is not None else self._grace_seconds()
            code = await self.kubelet.runtime.stop(cr.ctx, handle, self.clock.scaled(grace_s))
            return code, failed_probe
        finally:
            probe_task.cancel()
            if not exit_task.done():
                exit_task.cancel()

    # --- probes ------------------------------------------------------------------------

    async def _probe_container(self, cr: ContainerRun, handle: ContainerHandle) -> str | None:
        """Run the container's probes; return "startup"/"liveness" when one demands a kill."""
        started = self.clock.monotonic()
        spec = cr.spec
        if spec.get("startupProbe"):
            if not await self._probe_loop(cr, handle, "startup", started):
                return "startup"
            cr.started = True
            if not spec.get("readinessProbe"):
                cr.ready = True
            self.mark_dirty()
            started = self.clock.monotonic()
        tasks = []
        if spec.get("readinessProbe"):
            tasks.append(asyncio.ensure_future(self._probe_loop(cr, handle, "readiness", started)))
        liveness = None
        if spec.get("livenessProbe"):
            liveness = asyncio.ensure_future(self._probe_loop(cr, handle, "liveness", started))
            tasks.append(liveness)
        if not tasks:
            return None
        try:
            if liveness is not None:
                await liveness
                return "liveness"
            await asyncio.gather(*tasks)
            return None
        finally:
            for t in tasks:
                t.cancel()
            # Wait for them: a probe loop must never outlive the container it probes.
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _probe_once(
        self, cr: ContainerRun, handle: ContainerHandle, probe: dict[str, Any]
    ) -> bool:
        assert cr.ctx is not None
        # The probe talks to a real server: its timeout is real time (scaling it down to
        # milliseconds would fail healthy servers), but never longer than the period.
        timeout = float(probe.get("timeoutSeconds") or 1)
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the probe completes, and a probe loop that outlives its pod then keeps
        # the event loop from ever closing.
        try:
            async with asyncio.timeout(timeout + 0.5):
                return bool(await self.kubelet.runtime.probe(cr.ctx, handle, probe))
        except asyncio.CancelledError:
            raise
        except Exception:
            return False

    async def _probe_loop(
        self, cr: ContainerRun, handle: ContainerHandle, kind: str, started: float
    ) -> bool:
        """startup: True once it passes, False when it fails too often; liveness: returns
        (False) when the failure threshold is reached; readiness: never returns."""
        probe = spec_probe(cr.spec, kind)
        delay = self.clock.scaled(float(probe.get("initialDelaySeconds") or 0))
        remaining = started + delay - self.clock.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
        period = float(probe.get("periodSeconds") or 10)
        failure_threshold = int(probe.get("failureThreshold") or 3)
        success_threshold = int(probe.get("successThreshold") or 1)
        successes = failures = 0
        label = kind.capitalize()
        while True:
            ok = await self._probe_once(cr, handle, probe)
            if ok:
                successes += 1
                failures = 0
                if kind == "startup":
                    return True
                if kind == "readiness" and successes >= success_threshold and not cr.ready:
                    cr.ready = True
                    self.mark_dirty()
            else:
                failures += 1
                successes = 0
                self._event(cr, "Warning", "Unhealthy", f"{label} probe failed: {_describe(probe)}")
                if failures >= failure_threshold:
                    if kind in ("startup", "liveness"):
                        return False
                    if cr.ready:
                        cr.ready = False
                        self.mark_dirty()
            await self.clock.sleep(period)

    # --- termination -------------------------------------------------------------------

    async def _cancel_tasks(self) -> None:
        self.terminating = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _stop_all(self, grace_seconds: float, events: bool) -> None:
        async def stop(cr: ContainerRun) -> None:
            handle, ctx = cr.handle, cr.ctx
            if handle is None or ctx is None:
                return
            if events:
                self._event(cr, "Normal", "Killing", f"Stopping container {cr.name}")
            started_at = cr.state.get("running", {}).get("startedAt", _now())
            try:
                code = await self.kubelet.runtime.stop(ctx, handle, grace_seconds)
            except Exception:
                log.exception("container stop failed", container=cr.name)
                code = 137
            cr.terminated(code, started_at)

        await asyncio.gather(*(stop(cr) for cr in self.containers + self.inits))

    async def _terminate(self) -> None:
        """Graceful deletion: stop containers within the grace period, then delete the pod."""
        k = self.kubelet
        grace = self.clock.scaled(self._grace_seconds())
        await self._cancel_tasks()
        had_containers = any(cr.handle is not None for cr in self.containers + self.inits)
        await self._stop_all(grace, events=True)
        if not self.terminal and (had_containers or self.sandbox_ready):
            codes = [cr.terminated_code() for cr in self.containers]
            self.phase = "Succeeded" if codes and all(c == 0 for c in codes) else "Failed"
            self.terminal = True
            self.sandbox_ready = False
            self._flush_scheduled = False
            with contextlib.suppress(Exception):
                self.write_status()
        self._release_ip()
        try:
            k.registry.delete(
                k.pods_rt,
                self.namespace,
                self.name,
                DeleteOptions(grace_period_seconds=0, preconditions_uid=self.uid),
            )
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise

    async def _abandon(self) -> None:
        """The pod is gone (force-deleted) or the kubelet stops: kill everything, write nothing."""
        self.removed = True
        await self._cancel_tasks()
        await self._stop_all(0.0, events=False)
        self._release_ip()


def spec_probe(container: dict[str, Any], kind: str) -> dict[str, Any]:
    return dict(container.get(f"{kind}Probe") or {})


def _describe(probe: dict[str, Any]) -> str:
    if "httpGet" in probe:
        return "HTTP probe failed"
    if "tcpSocket" in probe:
        return "TCP probe failed"
    if "grpc" in probe:
        return "GRPC probe failed"
    return "command probe failed"


def _exit_code(task: asyncio.Future[int]) -> int:
    if task.cancelled():
        return 137
    exc = task.exception()
    if exc is not None:
        return 1
    return int(task.result())


class Kubelet:
    """One node's kubelet: a PodWorker for every pod bound to `node_name`."""

    def __init__(
        self,
        node_name: str,
        registry: RegistryAPI,
        clock: SandboxClock,
        runtime: ContainerRuntime,
        pod_ip_allocator: PodIPAllocator,
    ) -> None:
        self.node_name = node_name
        self.registry = registry
        self.clock = clock
        self.runtime = runtime
        self.ip_allocator = pod_ip_allocator
        self.pods_rt = registry.catalog.require("", "v1", "pods")
        # Like a real kubelet, watch only this node's pods (the registry serves this selector).
        self.informer = Informer(
            registry,
            self.pods_rt,
            clock,
            field_selector=f"spec.nodeName={node_name}",
            name=f"kubelet-{node_name}",
        )
        self.informer.add_handler(self._on_pod)
        self.events = EventRecorder(registry, "kubelet", node_name)
        self.workers: dict[str, PodWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.status_writes = 0
        self._running = False

    def _on_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old or {}
        uid = obj.get("metadata", {}).get("uid", "")
        worker = self.workers.get(uid)
        if new is None:
            if worker is not None:
                worker.update(None)
            return
        if new.get("spec", {}).get("nodeName") != self.node_name:
            return
        if worker is not None:
            worker.update(new)
            return
        if not self._running:
            return
        if (new.get("status") or {}).get("phase") in ("Succeeded", "Failed") and not new.get(
            "metadata", {}
        ).get("deletionTimestamp"):
            return  # finished before this kubelet started: nothing to run
        self._start_worker(new)

    def _start_worker(self, pod: dict[str, Any]) -> None:
        worker = PodWorker(self, pod)
        uid = worker.uid
        self.workers[uid] = worker
        task = asyncio.ensure_future(self._run_worker(worker))
        task.set_name(f"pod-worker-{worker.name}")
        self._tasks[uid] = task

    async def _run_worker(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod worker failed", pod=f"{worker.namespace}/{worker.name}")
        finally:
            self.workers.pop(worker.uid, None)
            self._tasks.pop(worker.uid, None)

    async def run(self) -> None:
        self._running = True
        for pod in self.informer.items():
            self._on_pod(None, pod)
        try:
            await supervise(f"kubelet-{self.node_name}", self.informer.run, self.clock)
        finally:
            self._running = False
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
