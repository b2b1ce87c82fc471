"""Workqueue throughput: add + get + done cycles per second, against asyncio.Queue.

Measured in one run, in one process (CPython, one event loop):

- `workqueue_cycle`: one task doing `add(key); await get(); done(key)` in a loop over
  1,000 keys, metrics on (client-go's names, as in production) and off;
- `workqueue_4_workers`: N distinct keys queued, 4 worker tasks draining them with
  get + done (the controller's hot loop minus the reconcile);
- `controller_noop`: a full Controller (4 workers, metrics, rate limiter forget) with
  a no-op reconciler draining N queued requests;
- baseline `asyncio_queue_cycle` / `asyncio_queue_4_workers`: the same shapes on a
  plain asyncio.Queue (put_nowait + get + task_done), which has no dedup, no
  processing set and no metrics.

Each figure is the median of `--runs`. Prints one JSON document. Target: >= 100,000
cycles per second for the workqueue cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CollectorRegistry

from kuberay_py.runtime import Controller, Queue, Request, WorkQueue

TARGET = 100_000


async def wq_cycle(n: int, metrics: bool) -> float:
    q: WorkQueue[int] = WorkQueue("bench", registry=CollectorRegistry(), metrics=metrics)
    start = time.perf_counter()
    for i in range(n):
        q.add(i % 1000)
        key = await q.get()
        q.done(key)
    return n / (time.perf_counter() - start)


async def asyncio_cycle(n: int) -> float:
    q: asyncio.Queue[int] = asyncio.Queue()
    start = time.perf_counter()
    for i in range(n):
        q.put_nowait(i % 1000)
        await q.get()
        q.task_done()
    return n / (time.perf_counter() - start)


async def wq_workers(n: int, workers: int) -> float:
    q: Queue[int] = Queue("bench-workers", registry=CollectorRegistry())
    for i in range(n):
        q.add(i)
    q.shutdown()  # workers drain what is queued, then stop

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except Exception:
                return
            q.done(key)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return n / (time.perf_counter() - start)


async def asyncio_workers(n: int, workers: int) -> float:
    q: asyncio.Queue[int | None] = asyncio.Queue()
    for i in range(n):
        q.put_nowait(i)
    for _ in range(workers):
        q.put_nowait(None)

    async def worker() -> None:
        while True:
            key = await q.get()
            q.task_done()
            if key is None:
                return

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return n / (time.perf_counter() - start)


async def controller_noop(n: int, workers: int) -> float:
    async def noop(request: Request) -> None:
        return None

    ctrl = Controller(
        "bench", noop, max_concurrent_reconciles=workers, registry=CollectorRegistry()
    )
    for i in range(n):
        ctrl.queue.add(Request("default", f"obj-{i}"))
    start = time.perf_counter()
    ctrl.start()
    while len(ctrl.queue) or ctrl.in_flight:
        await asyncio.sleep(0.001)
    rate = n / (time.perf_counter() - start)
    await ctrl.stop(1)
    return rate


async def median(runs: int, fn: Callable[[], Awaitable[float]]) -> float:
    values = [await fn() for _ in range(runs)]
    return round(statistics.median(values))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    n, runs, w = args.cycles, args.runs, args.workers
    await wq_cycle(10_000, True)  # warm up
    ours = await median(runs, lambda: wq_cycle(n, True))
    result = {
        "benchmark": "workqueue",
        "python": platform.python_version(),
        "cycles": n,
        "runs": runs,
        "target_cycles_per_second": TARGET,
        "workqueue_cycle_per_second": ours,
        "workqueue_cycle_no_metrics_per_second": await median(runs, lambda: wq_cycle(n, False)),
        "asyncio_queue_cycle_per_second": await median(runs, lambda: asyncio_cycle(n)),
        f"workqueue_{w}_workers_per_second": await median(runs, lambda: wq_workers(n, w)),
        f"asyncio_queue_{w}_workers_per_second": await median(runs, lambda: asyncio_workers(n, w)),
        f"controller_noop_{w}_workers_per_second": await median(
            runs, lambda: controller_noop(n // 2, w)
        ),
    }
    result["meets_target"] = ours >= TARGET
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    # Logs to stderr: stdout is the JSON document.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(main())
