"""The API server's own Prometheus metrics, named and labelled as kube-apiserver names them.

Tests and dashboards written for a real cluster read
`apiserver_request_total{verb,resource,subresource,code}`; the sandbox
keeps those names so the same queries work. Metrics live in the app's own
CollectorRegistry (never the process-global one) so several sandboxes in one
process do not mix their numbers. Labelled children are cached because
`labels()` is measurable on the hot path.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 10, 30, 60)


class ApiMetrics:
    """Request counter, latency histogram and long-running (watch) gauge."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, resource, subresource "
            "and HTTP response code.",
            ["verb", "resource", "subresource", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, resource and subresource.",
            ["verb", "resource", "subresource"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.longrunning = Gauge(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, resource "
            "and subresource.",
            ["verb", "resource", "subresource"],
            registry=registry,
        )
        self._counters: dict[tuple[str, str, str, str], Counter] = {}
        self._histograms: dict[tuple[str, str, str], Histogram] = {}

    def observe(
        self, verb: str, resource: str, subresource: str, code: int, seconds: float
    ) -> None:
        key = (verb, resource, subresource, str(code))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(*key)
        counter.inc()
        hkey = (verb, resource, subresource)
        hist = self._histograms.get(hkey)
        if hist is None:
            hist = self._histograms[hkey] = self.duration.labels(*hkey)
        hist.observe(seconds)

    def watch_started(self, resource: str, subresource: str) -> None:
        self.longrunning.labels("WATCH", resource, subresource).inc()

    def watch_ended(self, resource: str, subresource: str) -> None:
        self.longrunning.labels("WATCH", resource, subresource).dec()

    def render(self) -> bytes:
        return generate_latest(self.registry)
