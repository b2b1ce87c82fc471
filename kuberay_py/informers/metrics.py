"""Prometheus metrics for informers, read live from the informers at scrape time.

A custom collector rather than Gauge objects: informers come and go (tests create many
per process), two informers can share a (resource, namespace) label pair (different
selectors), and a gauge for "seconds since the last event" is only right if computed
when scraped. One collector is registered per CollectorRegistry; informers join it
weakly, so a discarded informer simply disappears from the output.

- `informer_last_event_age_seconds{resource,namespace}`: seconds since the newest list
  page, event or bookmark (the worst informer when several share the labels). Alert
  when it exceeds the bookmark interval plus a margin: the watch is stalled.
- `informer_cached_objects{resource,namespace}`
- `informer_relists_total{resource,namespace}`: relists forced by 410 Gone.
- `informer_watchdog_restarts_total{resource,namespace}`: watches the watchdog closed.
- `informer_watch_failures_total{resource,namespace}`: watch attempts that failed.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["InformerCollector", "MetricSource", "collector_for"]


class MetricSource(Protocol):
    """What an informer exposes to the collector."""

    @property
    def metric_labels(self) -> tuple[str, str]: ...

    def last_event_age(self) -> float: ...

    def metric_counts(self) -> tuple[int, int, int, int]:
        """(cached objects, relists after 410, watchdog restarts, watch failures)."""
        ...


class InformerCollector(Collector):
    """Collects the metrics above from every informer attached to it."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[MetricSource] = weakref.WeakSet()

    def attach(self, source: MetricSource) -> None:
        self._sources.add(source)

    def detach(self, source: MetricSource) -> None:
        self._sources.discard(source)

    def collect(self) -> Iterator[Metric]:
        ages: dict[tuple[str, str], float] = {}
        counts: dict[tuple[str, str], list[int]] = {}
        for source in list(self._sources):
            labels = source.metric_labels
            age = source.last_event_age()
            ages[labels] = max(age, ages.get(labels, 0.0))
            acc = counts.setdefault(labels, [0, 0, 0, 0])
            for i, value in enumerate(source.metric_counts()):
                acc[i] += value
        names = ["resource", "namespace"]
        age_metric = GaugeMetricFamily(
            "informer_last_event_age_seconds",
            "Seconds since the informer last heard from the API server (list page, event "
            "or bookmark).",
            labels=names,
        )
        objects = GaugeMetricFamily(
            "informer_cached_objects", "Objects in the informer's cache.", labels=names
        )
        relists = CounterMetricFamily(
            "informer_relists", "Relists forced by 410 Gone.", labels=names
        )
        restarts = CounterMetricFamily(
            "informer_watchdog_restarts", "Silent watches restarted by the watchdog.", labels=names
        )
        failures = CounterMetricFamily(
            "informer_watch_failures", "Watch attempts that failed and backed off.", labels=names
        )
        for labels, age in sorted(ages.items()):
            c = counts[labels]
            age_metric.add_metric(list(labels), age)
            objects.add_metric(list(labels), c[0])
            relists.add_metric(list(labels), c[1])
            restarts.add_metric(list(labels), c[2])
            failures.add_metric(list(labels), c[3])
        yield age_metric
        yield objects
        yield relists
        yield restarts
        yield failures


_COLLECTORS: weakref.WeakKeyDictionary[CollectorRegistry, InformerCollector] = (
    weakref.WeakKeyDictionary()
)


def collector_for(registry: CollectorRegistry | None) -> InformerCollector:
    """The informer collector of `registry` (default: prometheus_client.REGISTRY)."""
    reg = registry if registry is not None else REGISTRY
    collector = _COLLECTORS.get(reg)
    if collector is None:
        collector = InformerCollector()
        reg.register(collector)
        _COLLECTORS[reg] = collector
    return collector
