"""An idle manager's API traffic: LIST and write requests over a quiet window after sync.

A sandbox (in this process) holds N/2 ConfigMaps labelled `mirror=true`; a Manager runs
the examples/configmap_mirror.py controller, which creates the N/2 mirrors, so the
manager caches N objects in two informers. Once everything has converged (every mirror
exists, the queue is empty, nothing in flight or waiting), the sandbox's own
`apiserver_request_total` is read, the manager is left alone for `--window` seconds
(default 60), and the counter is read again.

An informer-based controller should send nothing while nothing changes: no LIST (no
polling, no relists) and no writes (a reconcile of an unchanged object writes nothing).
Watches stay open (their server timeout is 5-10 minutes). With `--leader-elect` the
Lease renewals (one PUT per retry period) are reported separately from the
controller's writes. Prints one JSON document. Targets: 0 LIST and 0 writes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.configmap_mirror import setup
from kuberay_py.kube import CONFIGMAPS, KubeClient
from kuberay_py.runtime import LeaderElectionConfig, Manager
from kuberay_py.sandbox.server import Sandbox, SandboxConfig

NAMESPACE = "default"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION")


async def request_counts(url: str) -> Counter[tuple[str, str]]:
    """apiserver_request_total summed by (verb, resource)."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            # Resource requests only: the scrape of /metrics itself is not the manager's.
            if sample.name == "apiserver_request_total" and sample.labels["resource"]:
                counts[(sample.labels["verb"], sample.labels["resource"])] += int(sample.value)
    return counts


async def run(objects: int, window: float, leader_elect: bool) -> dict[str, Any]:
    sources = objects // 2
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(Path(tmp) / "kubeconfig")
        config = SandboxConfig(nodes=1, kubeconfig_out=kubeconfig)
        async with Sandbox(config) as sb:
            rt = sb.catalog.get("", "v1", "configmaps")
            assert rt is not None
            for i in range(sources):
                sb.registry.create(
                    rt,
                    NAMESPACE,
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": f"cm-{i:05d}", "labels": {"mirror": "true"}},
                        "data": {"key": f"value-{i}", "other": "x" * 64},
                    },
                )
            client = await KubeClient.from_config(kubeconfig)
            registry = CollectorRegistry()
            mgr = Manager(
                client,
                registry=registry,
                health_address=None,
                metrics_address=None,
                leader_election=LeaderElectionConfig("idle-bench", NAMESPACE)
                if leader_elect
                else None,
            )
            setup(mgr, client)
            started = time.perf_counter()
            task = asyncio.create_task(mgr.run(handle_signals=False))
            ctrl = mgr.controllers[0]

            def converged() -> bool:
                if not mgr.synced.is_set() or len(ctrl.queue) or ctrl.in_flight:
                    return False
                if ctrl.queue.waiting:
                    return False
                mirrors = mgr.cache.list(
                    CONFIGMAPS, NAMESPACE, label_selector="example.kuberay-py.dev/mirror-of"
                )
                return len(mirrors) == sources

            while not converged():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
            converge_seconds = time.perf_counter() - started
            cached = sum(len(i.store) for i in mgr.factory.informers())
            reconciles_before = registry.get_sample_value(
                "controller_runtime_reconcile_total",
                {"controller": "configmap-mirror", "result": "success"},
            )
            before = await request_counts(sb.url)
            await asyncio.sleep(window)
            after = await request_counts(sb.url)
            reconciles_after = registry.get_sample_value(
                "controller_runtime_reconcile_total",
                {"controller": "configmap-mirror", "result": "success"},
            )
            mgr.stop()
            await task
            await client.close()
    delta = after - before
    by_verb: Counter[str] = Counter()
    for (verb, _), n in delta.items():
        by_verb[verb] += n
    lease_writes = sum(n for (v, r), n in delta.items() if r == "leases" and v in WRITE_VERBS)
    writes = sum(n for (v, r), n in delta.items() if v in WRITE_VERBS and r != "leases")
    lists = by_verb.get("LIST", 0)
    return {
        "benchmark": "idle_manager",
        "cached_objects": cached,
        "window_seconds": window,
        "leader_election": leader_elect,
        "seconds_to_converge_after_start": round(converge_seconds, 3),
        "list_requests": lists,
        "write_requests": writes,
        "lease_write_requests": lease_writes,
        "requests_by_verb": dict(sorted(by_verb.items())),
        "reconciles_in_window": (reconciles_after or 0) - (reconciles_before or 0),
        "target_list_requests": 0,
        "target_write_requests": 0,
        "meets_target": lists == 0 and writes == 0,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000, help="cached objects (even)")
    parser.add_argument("--window", type=float, default=60.0, help="idle seconds measured")
    parser.add_argument("--leader-elect", action="store_true")
    args = parser.parse_args()
    result = await run(args.objects, args.window, args.leader_elect)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    # Logs to stderr: stdout is the JSON document.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(main())
