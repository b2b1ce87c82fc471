"""Sandbox API throughput, measured over HTTP against `sandbox up` in its own process.

Figures (JSON on stdout):
- creates_per_s: ConfigMap POSTs per second from concurrent clients.
- baseline_creates_per_s: the same load against a bare aiohttp server that only
  parses the body and stores it in a dict: the floor any Python API server pays,
  so the ratio shows what the Kubernetes semantics cost.
- watch_events_per_s: events delivered per second, summed over 3 concurrent
  watchers that each replay the same backlog of changes from an old
  resourceVersion: the server's delivery rate, not bounded by how fast one
  client can write.
- watch_events_per_s_live: the same 3 watchers while clients create objects as
  fast as they can (bounded by the create rate: at most 3 x creates/s).
- list_10k_pods_s: one unpaged LIST of 10,000 pods.
- rss_bytes_per_pod: the sandbox process's RSS growth per stored pod.

Targets on a 2-core machine: >= 2,000 creates/s, >= 20,000 watch events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def _start_sandbox(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kuberay_py",
            "sandbox",
            "up",
            "--nodes",
            "1",
            "--kubeconfig-out",
            os.path.join(workdir, "kubeconfig"),
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    match = re.match(rb"sandbox ready: server=(\S+) ", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, match.group(1).decode()


async def _create_load(
    session: aiohttp.ClientSession, url: str, total: int, concurrency: int, prefix: str
) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{prefix}-{i}"},
                "data": {"k": "v" * 32},
            }
            async with session.post(
                url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
            ) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"create failed: {resp.status} {await resp.text()}")
                await resp.read()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def _serve_baseline(port_file: str) -> None:
    """The baseline server, run in its own process like the sandbox (fair CPU share)."""
    store: dict[str, bytes] = {}

    async def create(request: web.Request) -> web.Response:
        obj = orjson.loads(await request.read())
        store[obj["metadata"]["name"]] = orjson.dumps(obj)
        return web.Response(
            status=201, body=store[obj["metadata"]["name"]], content_type="application/json"
        )

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/namespaces/default/configmaps", create)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        with open(port_file, "w", encoding="ascii") as fh:
            fh.write(str(sock.getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(serve())


def _read_if_exists(path: str) -> str:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


async def _baseline_server(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port_file = os.path.join(workdir, "baseline.port")
    proc = subprocess.Popen([sys.executable, __file__, "--serve-baseline", port_file])
    for _ in range(300):
        port = _read_if_exists(port_file)
        if port:
            return proc, f"http://127.0.0.1:{port}"
        await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("baseline server did not start")


async def _watch_one(
    session: aiohttp.ClientSession, url: str, rv: str, events: int, received: list[int], i: int
) -> None:
    async with session.get(
        f"{url}?watch=true&resourceVersion={rv}&labelSelector=fan=out",
        timeout=aiohttp.ClientTimeout(total=None),
    ) as resp:
        async for line in resp.content:
            if b'"BOOKMARK"' in line[:20]:
                continue
            received[i] += 1
            if received[i] >= events:
                return


async def _create_labelled(
    session: aiohttp.ClientSession, url: str, events: int, prefix: str
) -> None:
    counter = iter(range(events))

    async def worker() -> None:
        for i in counter:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{prefix}-{i}", "labels": {"fan": "out"}},
            }
            async with session.post(
                url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()

    await asyncio.gather(*(worker() for _ in range(16)))


async def _current_rv(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(f"{url}?limit=1") as resp:
        rv: str = (await resp.json())["metadata"]["resourceVersion"]
    return rv


async def _watch_fanout_live(session: aiohttp.ClientSession, base: str, events: int) -> float:
    url = f"{base}/api/v1/namespaces/live/configmaps"
    await _ensure_namespace(session, base, "live")
    rv = await _current_rv(session, url)
    received = [0, 0, 0]
    watchers = [
        asyncio.create_task(_watch_one(session, url, rv, events, received, i)) for i in range(3)
    ]
    await asyncio.sleep(0.3)  # benchmark setup only: let the three watches open
    started = time.perf_counter()
    await _create_labelled(session, url, events, "live")
    await asyncio.wait_for(asyncio.gather(*watchers), 120)
    return sum(received) / (time.perf_counter() - started)


async def _watch_fanout_replay(session: aiohttp.ClientSession, base: str, events: int) -> float:
    url = f"{base}/api/v1/namespaces/replay/configmaps"
    await _ensure_namespace(session, base, "replay")
    rv = await _current_rv(session, url)
    await _create_labelled(session, url, events, "replay")
    received = [0, 0, 0]
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(_watch_one(session, url, rv, events, received, i) for i in range(3))),
        120,
    )
    return sum(received) / (time.perf_counter() - started)


async def _ensure_namespace(session: aiohttp.ClientSession, base: str, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    async with session.post(f"{base}/api/v1/namespaces", json=body) as resp:
        if resp.status not in (201, 409):
            raise RuntimeError(f"namespace create failed: {resp.status}")


async def _pods(session: aiohttp.ClientSession, base: str, count: int) -> None:
    url = f"{base}/api/v1/namespaces/default/pods"
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"pod-{i}", "labels": {"app": "bench", "i": str(i % 10)}},
                # An unknown scheduler keeps the pods Pending and the sandbox quiet.
                "spec": {
                    "schedulerName": "bench-none",
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox:1.36",
                            "resources": {"requests": {"cpu": "100m"}},
                        }
                    ],
                },
            }
            async with session.post(
                url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
            ) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"pod create failed: {resp.status} {await resp.text()}")
                await resp.read()

    await asyncio.gather(*(worker() for _ in range(16)))


async def main(creates: int, pods: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir:
        proc, base = await _start_sandbox(workdir)
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
                url = f"{base}/api/v1/namespaces/default/configmaps"
                await _create_load(session, url, 500, 16, "warm")
                results["creates_per_s"] = round(await _create_load(session, url, creates, 16, "c"))
                baseline_proc, baseline = await _baseline_server(workdir)
                baseline_url = f"{baseline}/api/v1/namespaces/default/configmaps"
                try:
                    await _create_load(session, baseline_url, 500, 16, "warm")
                    results["baseline_creates_per_s"] = round(
                        await _create_load(session, baseline_url, creates, 16, "c")
                    )
                finally:
                    baseline_proc.terminate()
                    baseline_proc.wait(10)
                results["creates_vs_baseline"] = round(
                    results["creates_per_s"] / results["baseline_creates_per_s"], 3
                )
                results["watch_events_per_s"] = round(
                    await _watch_fanout_replay(session, base, creates)
                )
                results["watch_events_per_s_live"] = round(
                    await _watch_fanout_live(session, base, creates)
                )
                rss_before = _rss_bytes(proc.pid)
                await _pods(session, base, pods)
                rss_after = _rss_bytes(proc.pid)
                results["rss_bytes_per_pod"] = round((rss_after - rss_before) / pods)
                started = time.perf_counter()
                async with session.get(f"{base}/api/v1/namespaces/default/pods") as resp:
                    body = await resp.read()
                results["list_10k_pods_s"] = round(time.perf_counter() - started, 3)
                results["list_items"] = len(orjson.loads(body)["items"])
                results["list_bytes"] = len(body)
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
    results["targets"] = {"creates_per_s": 2000, "watch_events_per_s": 20000}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--serve-baseline", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        _serve_baseline(args.serve_baseline)
    print(json.dumps(asyncio.run(main(args.creates, args.pods)), indent=2))
