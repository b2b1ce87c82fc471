"""The sandbox's default runtime runs KubeRay's `wait-gcs-ready` and Redis cleanup containers
as they behave on a real cluster: a worker waits for its head, a cleanup Job completes."""

from __future__ import annotations

from typing import Any

from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.server import Sandbox


def _pod(name: str, node_type: str, *, init: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "ray", "image": "rayproject/ray:2.60.0"}]}
    if init:
        spec["initContainers"] = [{"name": "wait-gcs-ready", "image": "rayproject/ray:2.60.0"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"ray.io/cluster": "rc", "ray.io/node-type": node_type},
        },
        "spec": spec,
    }


def _phase(sb: Sandbox, name: str) -> str:
    pods = sb.catalog.get("", "v1", "pods")
    assert pods is not None
    return str(sb.registry.get(pods, "default", name).get("status", {}).get("phase", ""))


async def test_a_worker_leaves_init_only_once_its_head_runs(sandbox: Sandbox) -> None:
    pods = sandbox.catalog.get("", "v1", "pods")
    assert pods is not None
    sandbox.registry.create(pods, "default", _pod("worker", "worker", init=True))

    def init_running() -> bool:
        status = sandbox.registry.get(pods, "default", "worker").get("status", {})
        inits = status.get("initContainerStatuses") or [{}]
        return "running" in (inits[0].get("state") or {})

    await eventually(init_running)
    # Polled every 5 simulated seconds: several polls pass while there is no head.
    for _ in range(3):
        await sandbox.clock.sleep(5.0)
        assert _phase(sandbox, "worker") == "Pending"
    sandbox.registry.create(pods, "default", _pod("head", "head"))
    await eventually(lambda: _phase(sandbox, "head") == "Running")
    await eventually(lambda: _phase(sandbox, "worker") == "Running")


async def test_a_redis_cleanup_container_exits_zero(sandbox: Sandbox) -> None:
    pods = sandbox.catalog.get("", "v1", "pods")
    assert pods is not None
    pod = _pod("cleanup", "redis-cleanup")
    pod["spec"]["restartPolicy"] = "Never"
    sandbox.registry.create(pods, "default", pod)
    await eventually(lambda: _phase(sandbox, "cleanup") == "Succeeded")
