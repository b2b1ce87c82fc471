"""RayCluster convergence: N clusters of 1 head + 2 workers, from apply to all `ready`.

A sandbox in this process (fast time scale, audit log on) and the operator beside it,
talking HTTP as it would to a real cluster. The benchmark creates N RayClusters at
once and measures:

- seconds from the first create to every cluster `status.state == ready`;
- the operator's API requests per cluster, by verb, read from the sandbox's audit log
  (the operator's user agent is `kuberay-py/<version>`; this script's own client uses
  another), and its write requests per cluster (create, update, patch, delete,
  deletecollection: pods, services, status updates, probe stamps and Events);
- the operator's writes during a quiet window after convergence (target 0).

Baseline, in the same run and the same sandbox: the same 3N pods created directly by
a client (no operator), timed to all Ready. The ratio shows what the operator adds
on top of the (simulated) scheduling and probe delays.

Targets (issue 5): <= 10 write requests per cluster, 0 writes in the 60 s after.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kuberay_py.api.config import OperatorConfig
from kuberay_py.api.convert import raycluster_from_dict
from kuberay_py.api.defaults import with_defaults
from kuberay_py.builders.pod import build_head_pod, build_worker_pod
from kuberay_py.builders.probes import decide_probes
from kuberay_py.controllers.install import install_crds
from kuberay_py.controllers.setup import OperatorOptions, run_operator
from kuberay_py.kube import NAMESPACES, PODS, RAYCLUSTERS, KubeClient
from kuberay_py.kube.client import USER_AGENT
from kuberay_py.sandbox.server import Sandbox, SandboxConfig

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
BENCH_AGENT = "kuberay-py-bench/1"


def raycluster(name: str, namespace: str) -> dict[str, Any]:
    container = {
        "image": "rayproject/ray:2.60.0",
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", **container}]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": 2,
                    "minReplicas": 0,
                    "maxReplicas": 4,
                    "rayStartParams": {},
                    "template": {"spec": {"containers": [{"name": "ray-worker", **container}]}},
                }
            ],
        },
    }


def operator_requests(audit_path: Path, since: float, until: float) -> Counter[tuple[str, str]]:
    """(verb, resource[/subresource]) counts of the operator's requests in [since, until).

    The audit log is complete once the sandbox has stopped (closing it flushes)."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in audit_path.read_bytes().splitlines():
        event = orjson.loads(line)
        if not event.get("userAgent", "").startswith(USER_AGENT):
            continue
        seconds = dt.datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
        if not since <= seconds < until:
            continue
        ref = event.get("objectRef") or {}
        resource = ref.get("resource", "?") + (
            f"/{ref['subresource']}" if "subresource" in ref else ""
        )
        counts[(event["verb"], resource)] += 1
    return counts


async def wait_until(check: Any, timeout: float, describe: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            detail = await describe() if describe else ""
            raise TimeoutError(f"did not converge in {timeout} s {detail}")
        await asyncio.sleep(0.1)


async def run(
    clusters: int, window: float, time_scale: float, timeout: float = 900
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(Path(tmp) / "kubeconfig")
        audit = Path(tmp) / "audit.jsonl"
        config = SandboxConfig(
            nodes=8,
            node_cpu="64",
            node_memory="256Gi",
            time_scale=time_scale,
            kubeconfig_out=kubeconfig,
            audit_log=str(audit),
        )
        async with Sandbox(config):
            client = await KubeClient.from_config(kubeconfig, user_agent=BENCH_AGENT)
            await install_crds(client)
            for ns in ("bench", "baseline"):
                await client.create(
                    NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
                )

            # Baseline: the very pods the operator would create (same init container,
            # same probes and so the same simulated delays), created directly.
            op_config = OperatorConfig()
            started = time.perf_counter()
            for i in range(clusters):
                model = with_defaults(raycluster_from_dict(raycluster(f"base-{i:04d}", "baseline")))
                probes = decide_probes(model, op_config)
                pods = [build_head_pod(model, op_config, probes=probes.get("headgroup"))]
                group = (model.spec.worker_group_specs or [])[0]
                pods += [
                    build_worker_pod(
                        model, group, op_config, replica_index=r, probes=probes.get("workers")
                    )
                    for r in (0, 1)
                ]
                for pod in pods:
                    pod["metadata"].pop("ownerReferences", None)
                    await client.create(PODS, pod, "baseline")

            async def baseline_ready() -> bool:
                items = (await client.list(PODS, "baseline"))["items"]
                return len(items) == 3 * clusters and all(_pod_ready(p) for p in items)

            await wait_until(baseline_ready, 600)
            baseline_seconds = time.perf_counter() - started

            # The operator.
            stop = asyncio.Event()
            options = OperatorOptions(
                config=OperatorConfig(), metrics_address=None, health_address=None
            )
            operator_client = await KubeClient.from_config(kubeconfig)
            operator = asyncio.create_task(
                run_operator(operator_client, options, handle_signals=False, stop=stop)
            )
            t0 = time.time()
            started = time.perf_counter()
            for i in range(clusters):
                await client.create(RAYCLUSTERS, raycluster(f"rc-{i:04d}", "bench"), "bench")

            async def all_ready() -> bool:
                items = (await client.list(RAYCLUSTERS, "bench"))["items"]
                states = [(c.get("status") or {}).get("state") for c in items]
                return len(items) == clusters and all(s == "ready" for s in states)

            async def not_ready() -> str:
                items = (await client.list(RAYCLUSTERS, "bench"))["items"]
                stuck = [c for c in items if (c.get("status") or {}).get("state") != "ready"]
                return json.dumps(
                    [{"name": c["metadata"]["name"], "status": c.get("status")} for c in stuck[:3]]
                )

            await wait_until(all_ready, timeout, not_ready)
            converge_seconds = time.perf_counter() - started
            # Let the last status writes and Events land before the quiet window starts.
            await asyncio.sleep(2.0)
            t1 = time.time()
            await asyncio.sleep(window)
            t2 = time.time()
            stop.set()
            await operator
            await operator_client.close()
            await client.close()
        until_converged = operator_requests(audit, t0, t1)
        quiet = operator_requests(audit, t1, t2)
    by_verb: Counter[str] = Counter()
    for (verb, _), n in until_converged.items():
        by_verb[verb] += n
    writes = sum(n for (v, _), n in until_converged.items() if v in WRITE_VERBS)
    return {
        "benchmark": "raycluster_convergence",
        "clusters": clusters,
        "pods": 3 * clusters,
        "time_scale": time_scale,
        "seconds_to_all_ready": round(converge_seconds, 2),
        "baseline_direct_pods_seconds_to_all_ready": round(baseline_seconds, 2),
        "ratio_operator_to_direct": round(converge_seconds / baseline_seconds, 2),
        "requests_per_cluster_by_verb": {
            v: round(n / clusters, 2) for v, n in sorted(by_verb.items())
        },
        "writes_per_cluster": round(writes / clusters, 2),
        "writes_by_resource": {
            f"{v} {r}": n for (v, r), n in sorted(until_converged.items()) if v in WRITE_VERBS
        },
        "quiet_window_seconds": window,
        "writes_in_quiet_window": sum(n for (v, _), n in quiet.items() if v in WRITE_VERBS),
        "requests_in_quiet_window": dict(Counter({f"{v} {r}": n for (v, r), n in quiet.items()})),
        "targets": {"writes_per_cluster": "<= 10", "writes_in_quiet_window": 0},
    }


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--window", type=float, default=60.0, help="quiet window, seconds")
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for ready")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    result = asyncio.run(run(args.clusters, args.window, args.time_scale, args.timeout))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
