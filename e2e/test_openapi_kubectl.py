"""kubectl explain/apply/get through the sandbox's OpenAPI v3, CRD schemas and Table printers."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from e2e.conftest import Kubectl

MANIFESTS = Path(__file__).parent / "manifests"
#: The CRD users apply, generated from the models (`make manifests`).
CRD_FILE = Path(__file__).parents[1] / "manifests" / "crd" / "ray.io_rayclusters.yaml"


async def _install_raycluster_crd(kubectl: Kubectl) -> None:
    (await kubectl("apply", "-f", str(CRD_FILE))).check()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        res = await kubectl("api-resources", "--api-group=ray.io", "-o", "name")
        if "rayclusters.ray.io" in res.out:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("rayclusters.ray.io never appeared in discovery")


async def test_explain_builtin_types(kubectl: Kubectl) -> None:
    pod = (await kubectl("explain", "pod")).check().out
    assert re.search(r"^KIND:\s+Pod$", pod, re.M) and re.search(r"^VERSION:\s+v1$", pod, re.M)
    assert re.search(r"^\s+spec\s+<PodSpec>", pod, re.M), pod
    port = (await kubectl("explain", "pod.spec.containers.livenessProbe.httpGet.port")).check().out
    assert "<IntOrString>" in port, port
    deploy = (await kubectl("explain", "deployment.spec.replicas")).check().out
    assert re.search(r"^GROUP:\s+apps$", deploy, re.M) and "<integer>" in deploy


async def test_explain_and_apply_a_custom_resource(kubectl: Kubectl, tmp_path: Path) -> None:
    await _install_raycluster_crd(kubectl)
    explained = (await kubectl("explain", "rayclusters.spec.workerGroupSpecs")).check().out
    assert re.search(r"^KIND:\s+RayCluster$", explained, re.M), explained
    assert re.search(r"groupName\s+<string> -required-", explained), explained

    # Every schema default spelled out: a second apply then has nothing to send. (With a
    # default filled in server-side inside a list item, kubectl's three-way merge patch
    # replaces the list and says "configured", on a real cluster too.)
    sample = tmp_path / "raycluster.yaml"
    sample.write_text(
        (MANIFESTS / "raycluster-sample.yaml")
        .read_text()
        .replace(
            "    replicas: 1\n",
            "    replicas: 1\n    minReplicas: 0\n    maxReplicas: 2147483647\n"
            "    numOfHosts: 1\n    priority: 0\n",
        )
    )
    first = (await kubectl("apply", "-f", str(sample))).check().out
    assert "raycluster.ray.io/raycluster-sample created" in first
    again = (await kubectl("apply", "-f", str(sample))).check().out
    assert "raycluster.ray.io/raycluster-sample unchanged" in again

    table = (await kubectl("get", "rayclusters")).check().out
    row = table.splitlines()[1]
    assert row.startswith("raycluster-sample") and re.search(r"\d+s$", row), table
