"""The generated RayCluster CRD, installed with kubectl on the sandbox, behaves as KubeRay's.

`manifests/crd/` is what users apply; these tests apply exactly that (through its
kustomization), then our samples, and look at what kubectl shows and what the API
server stored: the printer columns, the CRD defaults filled in, kubectl explain,
and a wrongly typed field rejected with its path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from e2e.conftest import Kubectl
from kuberay_py.api.convert import raycluster_from_dict, raycluster_to_dict
from kuberay_py.api.defaults import with_defaults
from kuberay_py.runtime.testing import eventually

ROOT = Path(__file__).parent.parent
CRD_DIR = ROOT / "manifests" / "crd"
SAMPLES = ROOT / "manifests" / "samples"


async def _install_crd(kubectl: Kubectl) -> None:
    applied = (await kubectl("apply", "-k", str(CRD_DIR))).check().out
    assert "customresourcedefinition.apiextensions.k8s.io/rayclusters.ray.io created" in applied

    async def served() -> bool:
        res = await kubectl("api-resources", "--api-group=ray.io", "-o", "name")
        return "rayclusters.ray.io" in res.out

    await eventually(served)


async def _get(kubectl: Kubectl, name: str) -> dict[str, Any]:
    out = (await kubectl("get", "raycluster", name, "-o", "json")).check().out
    obj: dict[str, Any] = json.loads(out)
    return obj


async def test_kubectl_get_shows_kuberays_columns(kubectl: Kubectl) -> None:
    await _install_crd(kubectl)
    sample = SAMPLES / "ray-cluster.two-worker-groups.yaml"
    created = (await kubectl("apply", "-f", str(sample))).check().out
    assert "raycluster.ray.io/raycluster-two-groups created" in created

    # What the operator writes once the pods run: 2 small + 1 large worker, 1+0.5*2+2 CPUs.
    status = {
        "state": "ready",
        "desiredWorkerReplicas": 3,
        "availableWorkerReplicas": 3,
        "readyWorkerReplicas": 3,
        "desiredCPU": "5",
        "desiredMemory": "8Gi",
        "desiredGPU": "0",
        "desiredTPU": "0",
        "head": {"podIP": "10.244.0.7", "serviceIP": "10.244.0.7"},
    }
    patch = json.dumps({"status": status})
    (
        await kubectl(
            "patch",
            "raycluster",
            "raycluster-two-groups",
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        )
    ).check()

    table = (await kubectl("get", "raycluster")).check().out.splitlines()
    header = re.split(r"\s{2,}", table[0].strip())
    assert header == [
        "NAME",
        "DESIRED WORKERS",
        "AVAILABLE WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "STATUS",
        "AGE",
    ], table[0]
    assert re.fullmatch(
        r"raycluster-two-groups\s+3\s+3\s+5\s+8Gi\s+0\s+ready\s+\d+s", table[1].strip()
    ), table

    wide = (await kubectl("get", "raycluster", "-o", "wide")).check().out.splitlines()
    assert re.split(r"\s{2,}", wide[0].strip()) == [
        "NAME",
        "DESIRED WORKERS",
        "AVAILABLE WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "TPUS",
        "STATUS",
        "AGE",
        "HEAD POD IP",
        "HEAD SERVICE IP",
    ], wide[0]
    assert wide[1].split()[-2:] == ["10.244.0.7", "10.244.0.7"], wide

    # categories: [all]
    everything = (await kubectl("get", "all")).check().out
    assert "raycluster.ray.io/raycluster-two-groups" in everything, everything


async def test_server_applies_the_crd_defaults(kubectl: Kubectl) -> None:
    await _install_crd(kubectl)
    sample = SAMPLES / "ray-cluster.two-worker-groups.yaml"
    written = yaml.safe_load(sample.read_text())
    assert all("numOfHosts" not in g for g in written["spec"]["workerGroupSpecs"])
    (await kubectl("apply", "-f", str(sample))).check()

    stored = await _get(kubectl, "raycluster-two-groups")
    small, large = stored["spec"]["workerGroupSpecs"]
    assert [small["numOfHosts"], large["numOfHosts"]] == [1, 1]
    assert [small["priority"], large["priority"]] == [0, 0]
    assert large["minReplicas"] == 0  # omitted in the sample
    assert [small["minReplicas"], small["maxReplicas"], small["replicas"]] == [1, 4, 2]

    # The converter keeps every field the server returned (managedFields, uid, ...), and
    # with_defaults has nothing left to add to an object the server defaulted.
    cluster = raycluster_from_dict(stored)
    assert raycluster_to_dict(cluster) == stored
    assert with_defaults(cluster) == cluster


async def test_every_sample_applies(kubectl: Kubectl) -> None:
    await _install_crd(kubectl)
    names = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        out = (await kubectl("apply", "-f", str(path))).check().out
        names += re.findall(r"^raycluster\.ray\.io/(\S+) created$", out, re.M)
    assert sorted(names) == [
        "raycluster-autoscaler",
        "raycluster-complete",
        "raycluster-external-redis",
        "raycluster-kuberay",
        "raycluster-two-groups",
    ]
    listed = (await kubectl("get", "raycluster", "-o", "name")).check().out.split()
    assert sorted(listed) == [f"raycluster.ray.io/{n}" for n in sorted(names)]

    # Nothing a sample says was pruned by the schema: each comes back as written,
    # plus the server's metadata and the CRD defaults.
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] != "RayCluster":
                continue
            stored = await _get(kubectl, doc["metadata"]["name"])
            expected = raycluster_to_dict(with_defaults(raycluster_from_dict(doc)))
            assert stored["spec"] == expected["spec"], path.name

    secret = json.loads(
        (await kubectl("get", "secret", "redis-password-secret", "-o", "json")).check().out
    )
    assert set(secret["data"]) == {"password"}


async def test_wrongly_typed_field_is_rejected_with_its_path(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    await _install_crd(kubectl)
    bad = (
        (SAMPLES / "ray-cluster.sample.yaml")
        .read_text()
        .replace("replicas: 1\n", 'replicas: "abc"\n')
    )
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    res = await kubectl("apply", "-f", str(path))
    assert res.code != 0
    assert "spec.workerGroupSpecs[0].replicas" in res.err, res.err
    assert "must be of type integer" in res.err, res.err


async def test_kubectl_explain(kubectl: Kubectl) -> None:
    await _install_crd(kubectl)
    spec = (await kubectl("explain", "raycluster.spec")).check().out
    assert re.search(r"^KIND:\s+RayCluster$", spec, re.M), spec
    assert re.search(r"^\s+headGroupSpec\s+<Object> -required-", spec, re.M), spec
    assert re.search(r"^\s+workerGroupSpecs\s+<\[\]Object>", spec, re.M), spec
    assert "Groups of identical worker pods." in spec

    hosts = (await kubectl("explain", "raycluster.spec.workerGroupSpecs.numOfHosts")).check().out
    assert re.search(r"^FIELD:\s+numOfHosts\s+<integer>", hosts, re.M), hosts
    assert "Pods per replica" in hosts
