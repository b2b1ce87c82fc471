"""kubectl, unchanged, against the sandbox: the proof that it speaks real Kubernetes.

Each test drives the installed kubectl (the gcloud dispatcher picks the
client matching the sandbox's /version minor, 1.32) with a fresh discovery
cache, and checks what it prints, as a person at a terminal would.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from e2e.conftest import Kubectl
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.server import Sandbox

MANIFESTS = Path(__file__).parent / "manifests"
#: The CRD users apply, generated from the models (`make manifests`).
CRD_FILE = Path(__file__).parents[1] / "manifests" / "crd" / "ray.io_rayclusters.yaml"


def _pods_rt(sandbox: Sandbox) -> Any:
    rt = sandbox.catalog.get("", "v1", "pods")
    assert rt is not None
    return rt


async def test_apply_reapply_and_edit(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = MANIFESTS / "app.yaml"
    first = (await kubectl("apply", "-f", str(manifest))).check()
    assert "namespace/shop created" in first.out
    assert "configmap/shop-config created" in first.out
    assert "secret/shop-secret created" in first.out
    assert "deployment.apps/shop-web created" in first.out
    assert "service/shop-web created" in first.out

    again = (await kubectl("apply", "-f", str(manifest))).check()
    for line in (
        "namespace/shop",
        "configmap/shop-config",
        "secret/shop-secret",
        "deployment.apps/shop-web",
        "service/shop-web",
    ):
        assert f"{line} unchanged" in again.out, again.out

    edited = tmp_path / "edited.yaml"
    text = (
        manifest.read_text()
        .replace("color: blue", "color: green")
        .replace("image: nginx:1.27", "image: nginx:1.28")
    )
    edited.write_text(text)
    third = (await kubectl("apply", "-f", str(edited))).check()
    assert "configmap/shop-config configured" in third.out
    assert "deployment.apps/shop-web configured" in third.out
    assert "service/shop-web unchanged" in third.out

    cm = json.loads(
        (await kubectl("get", "cm", "shop-config", "-n", "shop", "-o", "json")).check().out
    )
    assert cm["data"] == {"color": "green", "size": "large"}
    deploy = json.loads(
        (await kubectl("get", "deployment", "shop-web", "-n", "shop", "-o", "json")).check().out
    )
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert deploy["metadata"]["generation"] == 2


async def test_get_output_formats_and_selectors(kubectl: Kubectl, sandbox: Sandbox) -> None:
    (await kubectl("apply", "-f", str(MANIFESTS / "app.yaml"))).check()
    (await kubectl("create", "configmap", "other", "-n", "shop", "--from-literal=a=b")).check()

    table = (await kubectl("get", "configmaps", "-n", "shop")).check().out
    header = table.splitlines()[0].split()
    assert header == ["NAME", "DATA", "AGE"]
    assert re.search(r"^shop-config\s+2\s+\d+s", table, re.M), table

    names = (await kubectl("get", "cm", "-n", "shop", "-o", "name")).check().out.split()
    assert "configmap/shop-config" in names and "configmap/other" in names

    as_yaml = yaml.safe_load(
        (await kubectl("get", "cm", "shop-config", "-n", "shop", "-o", "yaml")).check().out
    )
    assert as_yaml["kind"] == "ConfigMap" and as_yaml["data"]["size"] == "large"

    labelled = (
        (await kubectl("get", "cm", "-n", "shop", "-l", "app=shop", "-o", "name"))
        .check()
        .out.split()
    )
    assert labelled == ["configmap/shop-config"]

    by_field = (
        (
            await kubectl(
                "get", "cm", "-n", "shop", "--field-selector", "metadata.name=other", "-o", "name"
            )
        )
        .check()
        .out.split()
    )
    assert by_field == ["configmap/other"]

    everywhere = (await kubectl("get", "cm", "-A")).check().out
    assert everywhere.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert re.search(r"^shop\s+shop-config\s", everywhere, re.M), everywhere

    svc_wide = (await kubectl("get", "svc", "shop-web", "-n", "shop", "-o", "wide")).check().out
    assert "SELECTOR" in svc_wide.splitlines()[0] and "app=shop" in svc_wide
    cluster_ip = svc_wide.splitlines()[1].split()[2]
    assert cluster_ip.startswith("127."), svc_wide

    every = (await kubectl("get", "all", "-n", "shop")).check().out
    assert "service/shop-web" in every and "deployment.apps/shop-web" in every


async def test_get_watch_prints_a_later_change(kubectl: Kubectl, sandbox: Sandbox) -> None:
    (await kubectl("create", "configmap", "watched", "--from-literal=a=1")).check()
    watch = asyncio.create_task(
        kubectl("get", "cm", "watched", "-w", "--request-timeout=3s", "-o", "name", timeout=30)
    )

    async def watch_open() -> bool:
        # The change below must arrive on the watch, not in kubectl's initial list.
        async with aiohttp.ClientSession() as session, session.get(f"{sandbox.url}/metrics") as r:
            text = await r.text()
        return bool(
            re.search(
                r'apiserver_longrunning_requests\{[^}]*resource="configmaps"[^}]*\} [1-9]', text
            )
        )

    await eventually(watch_open)
    (await kubectl("label", "cm", "watched", "seen=yes")).check()
    result = await watch
    # One line for the initial list, one for the MODIFIED event.
    assert result.out.split().count("configmap/watched") >= 2, result


async def test_crd_printer_columns(kubectl: Kubectl) -> None:
    created = (await kubectl("create", "-f", str(CRD_FILE))).check()
    assert "customresourcedefinition.apiextensions.k8s.io/rayclusters.ray.io created" in created.out

    async def served() -> bool:
        res = await kubectl("api-resources", "--api-group=ray.io", "-o", "name")
        return "rayclusters.ray.io" in res.out

    await eventually(served)
    (await kubectl("apply", "-f", str(MANIFESTS / "raycluster-sample.yaml"))).check()
    table = (await kubectl("get", "rayclusters")).check().out
    header = re.split(r"\s{2,}", table.splitlines()[0].strip())
    assert header == [
        "NAME",
        "DESIRED WORKERS",
        "AVAILABLE WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "STATUS",
        "AGE",
    ], table
    assert table.splitlines()[1].startswith("raycluster-sample")
    wide = (await kubectl("get", "rayclusters", "-o", "wide")).check().out
    assert "HEAD POD IP" in wide and "TPUS" in wide

    # Schema defaults were applied server-side.
    obj = json.loads(
        (await kubectl("get", "raycluster", "raycluster-sample", "-o", "json")).check().out
    )
    assert obj["spec"]["workerGroupSpecs"][0]["maxReplicas"] == 2147483647

    # And the schema is enforced: a string where an integer belongs is a 422 with the field.
    bad = await kubectl(
        "patch",
        "raycluster",
        "raycluster-sample",
        "--type",
        "merge",
        "-p",
        '{"spec":{"workerGroupSpecs":[{"groupName":"g","template":{},"replicas":"many"}]}}',
    )
    assert bad.code != 0
    assert "spec.workerGroupSpecs[0].replicas" in bad.err, bad.err

    # `get all` includes the category.
    every = (await kubectl("get", "all")).check().out
    assert "raycluster.ray.io/raycluster-sample" in every


async def _make_pod(kubectl: Kubectl, name: str, labels: str = "app=demo") -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(kv.split("=") for kv in labels.split(","))},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox:1.36",
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ]
        },
    }
    (await kubectl("apply", "-f", "-", stdin=json.dumps(manifest))).check()


async def test_pod_lifecycle_describe_wait_and_events(kubectl: Kubectl) -> None:
    await _make_pod(kubectl, "web-1")
    (await kubectl("wait", "--for=condition=Ready", "pod/web-1", "--timeout=30s")).check()

    pods = (await kubectl("get", "pods", "-o", "wide")).check().out
    header = pods.splitlines()[0].split()
    assert header[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and "NODE" in header
    row = pods.splitlines()[1].split()
    assert row[0] == "web-1" and row[1] == "1/1" and row[2] == "Running"
    assert row[5].startswith("127.") and row[6].startswith("sandbox-node-")

    described = (await kubectl("describe", "pod", "web-1")).check().out
    assert re.search(r"^Status:\s+Running", described, re.M), described
    assert re.search(r"^Node:\s+sandbox-node-\d", described, re.M)
    assert "Scheduled" in described  # the scheduler's event, found via involvedObject selectors

    events = (await kubectl("get", "events")).check().out
    assert "Scheduled" in events and "pod/web-1" in events

    running = (
        await kubectl("get", "pods", "--field-selector", "status.phase=Running", "-o", "name")
    ).check()
    assert running.out.split() == ["pod/web-1"]


async def test_label_annotate_and_three_patch_types(kubectl: Kubectl) -> None:
    await _make_pod(kubectl, "patched")
    assert (
        "pod/patched labeled" in (await kubectl("label", "pod", "patched", "tier=gold")).check().out
    )
    assert (
        "pod/patched annotated"
        in (await kubectl("annotate", "pod", "patched", "owner=team-a")).check().out
    )
    (
        await kubectl(
            "patch",
            "pod",
            "patched",
            "--type",
            "merge",
            "-p",
            '{"metadata":{"labels":{"merged":"yes"}}}',
        )
    ).check()
    (
        await kubectl(
            "patch",
            "pod",
            "patched",
            "--type",
            "json",
            "-p",
            '[{"op":"add","path":"/metadata/labels/jsonpatched","value":"yes"}]',
        )
    ).check()
    (
        await kubectl(
            "patch",
            "pod",
            "patched",
            "--type",
            "strategic",
            "-p",
            '{"spec":{"containers":[{"name":"main","image":"busybox:1.37"}]}}',
        )
    ).check()
    pod = json.loads((await kubectl("get", "pod", "patched", "-o", "json")).check().out)
    assert pod["metadata"]["labels"] == {
        "app": "demo",
        "tier": "gold",
        "merged": "yes",
        "jsonpatched": "yes",
    }
    assert pod["metadata"]["annotations"]["owner"] == "team-a"
    # Strategic merge kept the container's other fields (its probe) and changed only the image.
    container = pod["spec"]["containers"][0]
    assert container["image"] == "busybox:1.37" and "readinessProbe" in container
    bad = await kubectl("patch", "pod", "patched", "--type", "json", "-p", '{"not": "a list"}')
    assert bad.code != 0


async def test_delete_cascades_to_owned_objects(kubectl: Kubectl, sandbox: Sandbox) -> None:
    (await kubectl("create", "configmap", "owner", "--from-literal=a=b")).check()
    owner = json.loads((await kubectl("get", "cm", "owner", "-o", "json")).check().out)
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                }
            ],
        },
        "data": {"x": "y"},
    }
    (await kubectl("create", "-f", "-", stdin=json.dumps(child))).check()
    deleted = (await kubectl("delete", "cm", "owner")).check()
    assert 'configmap "owner" deleted' in deleted.out

    async def child_gone() -> bool:
        res = await kubectl("get", "cm", "child")
        return res.code != 0 and "NotFound" in res.err

    await eventually(child_gone)


async def test_api_resources_and_explain(kubectl: Kubectl) -> None:
    resources = (await kubectl("api-resources")).check().out
    lines = {line.split()[0]: line for line in resources.splitlines()[1:]}
    assert "pods" in lines and "po" in lines["pods"].split()
    assert "leases" in lines and "coordination.k8s.io/v1" in lines["leases"]
    assert "endpointslices" in lines and "deployments" in lines
    explained = (await kubectl("explain", "pod.spec.containers")).check().out
    assert "KIND:" in explained and "Pod" in explained
    assert re.search(r"FIELD:\s+containers", explained), explained
    assert "image" in explained


async def test_errors_print_like_kube_apiserver(kubectl: Kubectl) -> None:
    missing = await kubectl("get", "pod", "nope")
    assert missing.code == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.err
    dup_manifest = json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}}
    )
    (await kubectl("create", "-f", "-", stdin=dup_manifest)).check()
    dup = await kubectl("create", "-f", "-", stdin=dup_manifest)
    assert dup.code == 1
    assert (
        'Error from server (AlreadyExists): error when creating "STDIN": '
        'configmaps "dup" already exists' in dup.err
    ), dup.err
    unknown = await kubectl("get", "widgets")
    assert unknown.code == 1 and 'doesn\'t have a resource type "widgets"' in unknown.err
    bad_name = await kubectl("create", "configmap", "Bad_Name")
    assert bad_name.code == 1 and "Invalid" in bad_name.err and "metadata.name" in bad_name.err
