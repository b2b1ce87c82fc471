"""What the HTTP layer needs from the rest of the sandbox, in one object.

`build_app` takes an `ApiContext` instead of a dozen arguments so that the
sandbox, tests and benchmarks can assemble an API server from exactly the
parts they have (a registry, a catalog, an OpenAPI source, a fault set).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

import attrs
from prometheus_client import CollectorRegistry

from kuberay_py.sandbox.http.faults import FaultInjector
from kuberay_py.sandbox.registry.catalog import Catalog
from kuberay_py.sandbox.registry.registry import RegistryAPI

DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024

# (namespace, pod, container or None) -> the container's log text.
LogSource = Callable[[str, str, str | None], str]


class OpenAPISource(Protocol):
    """The OpenAPI v3 provider (kuberay_py.sandbox.openapi.OpenAPIBuilder)."""

    def index(self) -> dict[str, Any]: ...

    def document(self, path: str) -> tuple[bytes, str] | None: ...


@attrs.define
class ApiContext:
    """Everything the API server's handlers use; one per served application."""

    registry: RegistryAPI
    catalog: Catalog
    openapi: OpenAPISource | None = None
    faults: FaultInjector = attrs.field(factory=FaultInjector)
    audit_log_path: str | None = None
    metrics: CollectorRegistry = attrs.field(factory=CollectorRegistry)
    rng: random.Random = attrs.field(factory=random.Random)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    version_minor: str = "32"
    # Upper bound of a watch without timeoutSeconds (kube: 30-60 min, randomised).
    watch_default_timeout: float = 1800.0
    log_source: LogSource | None = None
    # Timeout of one proxied request (pods/NAME/proxy, services/NAME/proxy).
    proxy_timeout: float = 30.0
