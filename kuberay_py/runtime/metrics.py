"""Prometheus metrics with client-go's and controller-runtime's names, per registry.

The names are verbatim so existing dashboards and alerts work unchanged:

- workqueue_depth, workqueue_adds_total, workqueue_queue_duration_seconds,
  workqueue_work_duration_seconds, workqueue_retries_total,
  workqueue_unfinished_work_seconds, workqueue_longest_running_processor_seconds
  (label `name`: the queue, i.e. the controller);
- controller_runtime_reconcile_total{controller,result},
  controller_runtime_reconcile_errors_total{controller},
  controller_runtime_reconcile_time_seconds{controller},
  controller_runtime_max_concurrent_reconciles{controller},
  controller_runtime_active_workers{controller};
- leader_election_master_status{name}.

Gauges that describe live state (queue depth, unfinished work) are computed at scrape
time by a collector that holds its queues weakly, rather than by a timer (client-go
updates them every 500 ms): nothing runs while nobody scrapes, and a queue that is
garbage-collected leaves the output. One `RuntimeMetrics` exists per CollectorRegistry,
so several queues and controllers in one process share the metric families.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ControllerSource", "QueueSource", "RuntimeMetrics", "metrics_for"]

# client-go workqueue: ExponentialBuckets(10e-9, 10, 12) -> 10 ns ... 1000 s.
WORKQUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))
# controller-runtime reconcile_time_seconds buckets (5 ms ... 60 s).
RECONCILE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7,
    0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0,
    10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip


class QueueSource(Protocol):
    """What a workqueue exposes to the scrape-time collector."""

    @property
    def name(self) -> str: ...

    def __len__(self) -> int: ...

    def unfinished_work(self) -> tuple[float, float]:
        """(sum of seconds in-flight items have been processing, the longest of them)."""
        ...


class _QueueCollector(Collector):
    def __init__(self) -> None:
        self.sources: weakref.WeakSet[QueueSource] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=["name"])
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been "
            "observed by work_duration. Large values indicate stuck threads.",
            labels=["name"],
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels=["name"],
        )
        totals: dict[str, list[float]] = {}
        for source in list(self.sources):
            acc = totals.setdefault(source.name, [0.0, 0.0, 0.0])
            total, longest_s = source.unfinished_work()
            acc[0] += len(source)
            acc[1] += total
            acc[2] = max(acc[2], longest_s)
        for name, (d, u, lg) in sorted(totals.items()):
            depth.add_metric([name], d)
            unfinished.add_metric([name], u)
            longest.add_metric([name], lg)
        yield depth
        yield unfinished
        yield longest


class ControllerSource(Protocol):
    """What a controller exposes to the scrape-time collector."""

    @property
    def name(self) -> str: ...

    @property
    def max_concurrent_reconciles(self) -> int: ...

    def active_workers(self) -> int: ...


class _ControllerCollector(Collector):
    """`active_workers` and `max_concurrent_reconciles`, read from live controllers at
    scrape time (cheaper than two gauge updates around every reconcile)."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[ControllerSource] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            labels=["controller"],
        )
        maximum = GaugeMetricFamily(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            labels=["controller"],
        )
        # Two managers in one process may both run a controller of the same name.
        totals: dict[str, list[int]] = {}
        for source in list(self.sources):
            acc = totals.setdefault(source.name, [0, 0])
            acc[0] += source.active_workers()
            acc[1] += source.max_concurrent_reconciles
        for name, (act, mx) in sorted(totals.items()):
            active.add_metric([name], act)
            maximum.add_metric([name], mx)
        yield active
        yield maximum


class RuntimeMetrics:
    """Every runtime metric family, registered once in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.queues = _QueueCollector()
        registry.register(self.queues)
        self.adds = Counter(
            "workqueue_adds_total",
            "Total number of adds handled by workqueue",
            ["name"],
            registry=registry,
        )
        self.retries = Counter(
            "workqueue_retries_total",
            "Total number of retries handled by workqueue",
            ["name"],
            registry=registry,
        )
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            ["name"],
            buckets=WORKQUEUE_BUCKETS,
            registry=registry,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            ["name"],
            buckets=WORKQUEUE_BUCKETS,
            registry=registry,
        )
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            ["controller", "result"],
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            ["controller"],
            registry=registry,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            ["controller"],
            buckets=RECONCILE_BUCKETS,
            registry=registry,
        )
        self.controllers = _ControllerCollector()
        registry.register(self.controllers)
        self.leader = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
            "backup, 1 indicates master. 'name' is the string used to identify the lease.",
            ["name"],
            registry=registry,
        )


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, RuntimeMetrics] = (
    weakref.WeakKeyDictionary()
)


def metrics_for(registry: CollectorRegistry | None = None) -> RuntimeMetrics:
    """The metric families of `registry` (default: prometheus_client's global REGISTRY)."""
    reg = REGISTRY if registry is None else registry
    found = _BY_REGISTRY.get(reg)
    if found is None:
        found = RuntimeMetrics(reg)
        _BY_REGISTRY[reg] = found
    return found
