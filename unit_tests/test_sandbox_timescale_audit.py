"""Audit of issue 3 point 4: "all delays scale with --time-scale".

Rather than timing the cluster (flaky on a loaded 2-core machine), these record
the durations the kubelet and the Job controller hand to the runtime and to the
clock, under two scales, and check the simulated-to-real arithmetic exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.containers.base import ContainerContext
from kuberay_py.sandbox.containers.noop import NoopRuntime
from unit_tests import sandbox_cluster_harness as harness
from unit_tests.sandbox_cluster_harness import cluster, eventually, pod_manifest


class RecordingRuntime(NoopRuntime):
    """NoopRuntime that remembers the real-time grace period of every stop."""

    def __init__(self) -> None:
        self.graces: list[float] = []

    async def stop(self, ctx: ContainerContext, handle: Any, grace_seconds: float) -> int:
        self.graces.append(grace_seconds)
        return await super().stop(ctx, handle, grace_seconds)


def _is_ready(pod: dict[str, Any] | None) -> bool:
    conditions = (pod or {}).get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def _grace_handed_to_runtime(time_scale: float, grace_seconds: int) -> float:
    runtime = RecordingRuntime()
    async with cluster(runtime=runtime, time_scale=time_scale, nodes=1) as c:
        c.registry.create(
            c.pods, "default", pod_manifest("g", terminationGracePeriodSeconds=grace_seconds)
        )
        await eventually(lambda: _is_ready(c.pod("g")))
        c.registry.delete(c.pods, "default", "g")
        await eventually(lambda: c.pod("g") is None)
    assert len(runtime.graces) == 1
    return runtime.graces[0]


async def test_termination_grace_period_is_scaled_by_the_clock() -> None:
    slow = await _grace_handed_to_runtime(0.02, 30)
    fast = await _grace_handed_to_runtime(0.01, 30)
    assert slow == SandboxClock(0.02).scaled(30) == 0.6
    assert fast == SandboxClock(0.01).scaled(30) == 0.3
    assert slow == 2 * fast


class RecordingClock(SandboxClock):
    """A clock that remembers every simulated duration a controller converts to real time."""

    def __init__(self, time_scale: float) -> None:
        super().__init__(time_scale)
        self.asked: list[float] = []

    def scaled(self, seconds: float) -> float:
        self.asked.append(seconds)
        return super().scaled(seconds)


async def test_probe_delays_are_simulated_seconds_converted_by_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """initialDelaySeconds / periodSeconds are converted to real time by the clock."""
    made: list[RecordingClock] = []

    def make(time_scale: float = 1.0) -> RecordingClock:
        made.append(RecordingClock(time_scale))
        return made[-1]

    monkeypatch.setattr(harness, "SandboxClock", make)
    probe = {"exec": {"command": ["true"]}, "initialDelaySeconds": 37, "periodSeconds": 13}
    container = {"name": "main", "image": "busybox", "readinessProbe": probe}
    async with harness.cluster(time_scale=0.001, nodes=1) as c:
        c.registry.create(c.pods, "default", pod_manifest("p", containers=[container]))
        await eventually(lambda: _is_ready(c.pod("p")))
        assert 37 in made[0].asked, made[0].asked  # the initial delay, in simulated seconds
        await eventually(lambda: 13 in made[0].asked)  # then the probe period
