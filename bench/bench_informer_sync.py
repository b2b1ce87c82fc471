"""Initial informer sync of N pods: our informer vs kubernetes-asyncio's typed client.

A sandbox runs in a child process (so the memory we trace is only the client's) and
creates the pods through its registry directly, which makes setup take seconds; it
then freezes its heap out of the garbage collector (`gc.freeze()`), so that its full
collections do not add 100+ ms pauses at random into either client's LIST. Then,
in this process and in the same run:

- ours: `SharedInformer(PODS, "default")` from start until `has_synced()` (paged LIST
  of 500, orjson into dicts, default transform: drop managedFields and share equal
  sub-objects, store + namespace index); also with `transform=strip_managed_fields`
  only, to show what the sharing buys;
- baseline: `CoreV1Api.list_namespaced_pod(limit=500, _continue=...)` until the last
  page, keeping every `V1Pod` model (what a kubernetes-asyncio operator holds): the
  same requests as ours, so the ratio is the client-side work. Also reported: one
  unpaged `list_namespaced_pod` (fewer, bigger requests; the sandbox serves continue
  pages more slowly than a first page, which this variant avoids).

Seconds are the median of `--runs` runs without tracing; bytes per cached pod are
measured separately with tracemalloc (traced memory still held after gc, divided by
the pod count). Prints one JSON document. Targets: >= 5x faster, <= 4 KiB per pod.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

NAMESPACE = "default"


def bench_pod(i: int) -> dict[str, Any]:
    """A Ray-worker-like pod: a few labels, one container with env, ports, resources."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"worker-{i:05d}",
            "labels": {
                "app.kubernetes.io/name": "kuberay",
                "ray.io/cluster": f"bench-{i % 10}",
                "ray.io/node-type": "worker",
                "ray.io/group": "small-group",
            },
        },
        "spec": {
            # No scheduler claims this name: the pods stay Pending and the sandbox idle.
            "schedulerName": "bench-none",
            "containers": [
                {
                    "name": "ray-worker",
                    "image": "rayproject/ray:2.46.0",
                    "command": ["/bin/bash", "-lc", "--"],
                    "args": ["ray start --address=bench-head-svc:6379 --block"],
                    "env": [
                        {"name": "RAY_CLUSTER_NAME", "value": f"bench-{i % 10}"},
                        {"name": "RAY_USAGE_STATS_ENABLED", "value": "0"},
                    ],
                    "ports": [{"containerPort": 8080, "name": "metrics", "protocol": "TCP"}],
                    "resources": {
                        "requests": {"cpu": "1", "memory": "2Gi"},
                        "limits": {"cpu": "1", "memory": "2Gi"},
                    },
                }
            ],
        },
    }


# ---------------------------------------------------------------------------- child


async def serve(pods: int, kubeconfig: str) -> None:
    from kuberay_py.sandbox.server import Sandbox, SandboxConfig

    config = SandboxConfig(nodes=1, kubeconfig_out=kubeconfig)
    async with Sandbox(config) as sb:
        rt = sb.catalog.get("", "v1", "pods")
        assert rt is not None
        for i in range(pods):
            sb.registry.create(rt, NAMESPACE, bench_pod(i))
        # The stored pods live for the whole run: park them outside the collector, or
        # the sandbox's full collections (100+ ms each over this heap) land inside the
        # timed LISTs of both clients and drown the difference between them.
        gc.collect()
        gc.freeze()
        print(f"ready {sb.url}", flush=True)
        # Serve until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# ---------------------------------------------------------------------------- parent


async def sync_ours(kubeconfig: str, transform: Any) -> tuple[float, Any]:
    from kuberay_py.informers import SharedInformer
    from kuberay_py.kube import PODS, KubeClient

    client = await KubeClient.from_config(kubeconfig)
    kwargs = {} if transform == "default" else {"transform": transform}
    informer = SharedInformer(
        client, PODS, namespace=NAMESPACE, registry=CollectorRegistry(), **kwargs
    )
    started = time.perf_counter()
    informer.start()
    assert await informer.wait_for_sync(600)
    elapsed = time.perf_counter() - started
    await informer.stop()
    await client.close()
    return elapsed, informer


async def sync_baseline(kubeconfig: str, page_size: int = 500) -> tuple[float, Any]:
    from kubernetes_asyncio import client as ka_client
    from kubernetes_asyncio import config as ka_config

    configuration = ka_client.Configuration()
    await ka_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    api = ka_client.ApiClient(configuration)
    v1 = ka_client.CoreV1Api(api)
    started = time.perf_counter()
    items: list[Any] = []
    token = None
    while True:
        if page_size:
            page = await v1.list_namespaced_pod(NAMESPACE, limit=page_size, _continue=token)
        else:
            page = await v1.list_namespaced_pod(NAMESPACE)
        items.extend(page.items)
        token = page.metadata._continue
        if not token:
            break
    elapsed = time.perf_counter() - started
    await api.close()
    return elapsed, items


def count_of(result: Any) -> int:
    return len(result.store) if hasattr(result, "store") else len(result)


async def timed(fn: Callable[[], Awaitable[tuple[float, Any]]], runs: int) -> tuple[float, int]:
    times = []
    count = 0
    for _ in range(runs):
        elapsed, result = await fn()
        count = count_of(result)
        del result
        gc.collect()
        times.append(elapsed)
    return statistics.median(times), count


async def traced_bytes(fn: Callable[[], Awaitable[tuple[float, Any]]]) -> tuple[float, int]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _, result = await fn()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    count = count_of(result)
    del result
    gc.collect()
    return held / max(count, 1), count


async def measure(kubeconfig: str, pods: int, runs: int) -> dict[str, Any]:
    from kuberay_py.informers import strip_managed_fields

    def ours() -> Awaitable[tuple[float, Any]]:
        return sync_ours(kubeconfig, "default")

    def ours_plain() -> Awaitable[tuple[float, Any]]:
        return sync_ours(kubeconfig, strip_managed_fields)

    def baseline() -> Awaitable[tuple[float, Any]]:
        return sync_baseline(kubeconfig)

    def baseline_unpaged() -> Awaitable[tuple[float, Any]]:
        return sync_baseline(kubeconfig, page_size=0)

    await timed(ours, 1)  # warm-up: connections, imports, the sandbox's first list
    await timed(baseline, 1)
    ours_s, ours_n = await timed(ours, runs)
    plain_s, _ = await timed(ours_plain, runs)
    base_s, base_n = await timed(baseline, runs)
    unpaged_s, _ = await timed(baseline_unpaged, runs)
    ours_b, _ = await traced_bytes(ours)
    plain_b, _ = await traced_bytes(ours_plain)
    base_b, _ = await traced_bytes(baseline)
    assert ours_n == base_n == pods, (ours_n, base_n, pods)
    speedup = base_s / ours_s
    return {
        "benchmark": "informer_initial_sync",
        "pods": pods,
        "page_size": 500,
        "runs": runs,
        "informer_sync_seconds": round(ours_s, 3),
        "informer_bytes_per_pod": round(ours_b),
        "informer_no_dedup_sync_seconds": round(plain_s, 3),
        "informer_no_dedup_bytes_per_pod": round(plain_b),
        "baseline_kubernetes_asyncio_sync_seconds": round(base_s, 3),
        "baseline_kubernetes_asyncio_bytes_per_pod": round(base_b),
        "baseline_unpaged_sync_seconds": round(unpaged_s, 3),
        "speedup_vs_baseline": round(speedup, 2),
        "speedup_vs_unpaged_baseline": round(unpaged_s / ours_s, 2),
        "targets": {"speedup_vs_baseline": ">= 5", "informer_bytes_per_pod": "<= 4096"},
        "met": {
            "speedup_vs_baseline": speedup >= 5.0,
            "informer_bytes_per_pod": ours_b <= 4096,
        },
    }


async def main(pods: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        kubeconfig = os.path.join(workdir, "kubeconfig")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            "--pods",
            str(pods),
            "--kubeconfig",
            kubeconfig,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            stdout = proc.stdout
            async with asyncio.timeout(600):
                while not (line := await stdout.readline()).startswith(b"ready "):
                    if not line:
                        raise RuntimeError("the sandbox exited before it was ready")

            async def drain() -> None:  # the sandbox's logs must never fill the pipe
                while await stdout.read(65536):
                    pass

            drainer = asyncio.create_task(drain())
            try:
                return await measure(kubeconfig, pods, runs)
            finally:
                drainer.cancel()
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.pods, args.kubeconfig))
    else:
        print(json.dumps(asyncio.run(main(args.pods, args.runs)), indent=2))
