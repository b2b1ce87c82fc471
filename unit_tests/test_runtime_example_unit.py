"""The embedding example on the in-memory API: mirrors converge, and an unchanged world
costs no writes. (e2e/test_runtime_example.py runs the real script on the sandbox.)"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from examples.configmap_mirror import setup
from kuberay_py.kube import CONFIGMAPS, EVENTS_V1
from kuberay_py.runtime import Manager, Request
from kuberay_py.runtime.testing import FakeKube, eventually


async def test_mirror_controller_converges_and_then_stays_quiet() -> None:
    kube = FakeKube()
    await kube.create(
        CONFIGMAPS,
        {"metadata": {"name": "app", "labels": {"mirror": "true"}}, "data": {"a": "1"}},
        "ns",
    )
    await kube.create(CONFIGMAPS, {"metadata": {"name": "plain"}, "data": {"b": "2"}}, "ns")
    mgr = Manager(
        kube,  # type: ignore[arg-type]
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
    )
    setup(mgr, kube)  # type: ignore[arg-type]
    task = asyncio.create_task(mgr.run(handle_signals=False))

    def mirror(name: str) -> dict[str, str] | None:
        obj = kube.stored(CONFIGMAPS, f"{name}-mirror", "ns")
        return obj.get("data") if obj else None

    await eventually(lambda: mirror("app") == {"a": "1"})
    assert mirror("plain") is None
    stored = kube.stored(CONFIGMAPS, "app-mirror", "ns")
    assert stored is not None
    assert stored["metadata"]["ownerReferences"][0]["name"] == "app"
    assert any(r == EVENTS_V1 for (r, _, _) in kube.objects)
    await kube.patch(CONFIGMAPS, "app", {"data": {"a": "2"}}, "ns")
    await eventually(lambda: mirror("app") == {"a": "2"})
    await kube.delete(CONFIGMAPS, "app-mirror", "ns")  # someone deletes the mirror
    await eventually(lambda: mirror("app") == {"a": "2"})
    # Quiet: once converged, waking the controller again sends no write.
    ctrl = mgr.controllers[0]
    await eventually(lambda: len(ctrl.queue) == 0 and not ctrl.in_flight)
    writes = sum(kube.requests[v] for v in ("create", "update", "patch", "delete"))
    ctrl.queue.add(Request("ns", "app"))
    await eventually(lambda: len(ctrl.queue) == 0 and not ctrl.in_flight)
    await asyncio.sleep(0.05)
    assert sum(kube.requests[v] for v in ("create", "update", "patch", "delete")) == writes
    await kube.patch(CONFIGMAPS, "app", {"metadata": {"labels": {"mirror": None}}}, "ns")
    await eventually(lambda: mirror("app") is None)
    mgr.stop()
    await asyncio.wait_for(task, 5)
