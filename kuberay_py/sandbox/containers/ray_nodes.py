"""The sandbox's default runtime: noop containers, plus the KubeRay containers whose
exit the operator waits on.

No Ray runs here (that is the fake and the process runtimes' job), but two of the
containers KubeRay's operator creates only make progress when they exit:

- `wait-gcs-ready`, the init container on every worker, loops `ray health-check`
  against the head's GCS. It exits 0 once the cluster's head pod is Running (its
  GCS is up), polling every 5 simulated seconds as KubeRay's script does, so a
  worker still waits for its head as on a real cluster.
- the Redis cleanup Job's container (`ray.io/node-type: redis-cleanup`) deletes the
  storage namespace's keys and exits 0 at once.

`SANDBOX_EXIT_CODE` / `SANDBOX_RUN_SECONDS` (see noop.py) still override both, so
tests can make a cleanup fail or hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from kuberay_py.api.constants import (
    NODE_TYPE_HEAD,
    NODE_TYPE_REDIS_CLEANUP,
    RAY_CLUSTER_LABEL,
    RAY_NODE_TYPE_LABEL,
    WAIT_GCS_READY_INIT_CONTAINER_NAME,
)
from kuberay_py.sandbox.containers.base import ContainerContext
from kuberay_py.sandbox.containers.noop import (
    EXIT_CODE_ENV,
    RUN_SECONDS_ENV,
    NoopContainer,
    NoopRuntime,
    container_env,
)
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import ListOptions

#: KubeRay's wait-gcs-ready script retries every 5 seconds.
GCS_POLL_SECONDS = 5.0

HeadRunning = Callable[[str, str], bool]


def head_running_in(registry: Registry) -> HeadRunning:
    """`(namespace, cluster) -> bool`: is a head pod of that RayCluster Running?"""
    pods = registry.catalog.get("", "v1", "pods")
    assert pods is not None

    def check(namespace: str, cluster: str) -> bool:
        selector = f"{RAY_CLUSTER_LABEL}={cluster},{RAY_NODE_TYPE_LABEL}={NODE_TYPE_HEAD}"
        heads = registry.list(pods, namespace, ListOptions(label_selector=selector)).items
        return any(
            (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
            for p in heads
        )

    return check


class RayNodeRuntime(NoopRuntime):
    def __init__(self, head_running: HeadRunning) -> None:
        self.head_running = head_running
        self._waiters: set[asyncio.Task[None]] = set()

    async def start(self, ctx: ContainerContext) -> NoopContainer:
        overridden = {EXIT_CODE_ENV, RUN_SECONDS_ENV} & container_env(ctx.container).keys()
        meta = ctx.pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if overridden:
            return await super().start(ctx)
        if ctx.init and ctx.container.get("name") == WAIT_GCS_READY_INIT_CONTAINER_NAME:
            container = NoopContainer(None, 0)
            cluster = str(labels.get(RAY_CLUSTER_LABEL, ""))
            namespace = str(meta.get("namespace", "default"))
            period = ctx.clock.scaled(GCS_POLL_SECONDS) if ctx.clock else GCS_POLL_SECONDS
            task = asyncio.get_running_loop().create_task(
                self._exit_when_head_runs(container, namespace, cluster, period)
            )
            self._waiters.add(task)
            task.add_done_callback(self._waiters.discard)
            return container
        if labels.get(RAY_NODE_TYPE_LABEL) == NODE_TYPE_REDIS_CLEANUP:
            return NoopContainer(0.0, 0)
        return await super().start(ctx)

    async def _exit_when_head_runs(
        self, container: NoopContainer, namespace: str, cluster: str, period: float
    ) -> None:
        # Ends when the head runs, or when the kubelet stops the container (a deleted pod).
        while not container.exited.done():
            if self.head_running(namespace, cluster):
                container.exit(0)
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await asyncio.shield(container.exited)
