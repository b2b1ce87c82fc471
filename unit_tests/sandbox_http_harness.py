"""Shared pieces of the sandbox HTTP unit tests: an API server on a real Registry.

Not a test module (no `test_` prefix): imported by unit_tests/test_sandbox_http_*.py.
pytest-aiohttp is not installed, so the server is aiohttp.test_utils.TestServer
and the client a TestClient, both inside the test's own event loop.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kuberay_py.runtime.testing import eventually as eventually  # re-exported for the tests
from kuberay_py.sandbox.http.app import build_app
from kuberay_py.sandbox.http.context import ApiContext
from kuberay_py.sandbox.http.faults import FaultInjector
from kuberay_py.sandbox.openapi import OpenAPIBuilder
from kuberay_py.sandbox.registry.catalog import Catalog
from kuberay_py.sandbox.registry.store import Registry

TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
CM_URL = "/api/v1/namespaces/default/configmaps"


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def make_context(**overrides: Any) -> ApiContext:
    catalog = Catalog()
    registry = Registry(catalog, bookmark_interval=overrides.pop("bookmark_interval", 60.0))
    fields: dict[str, Any] = {
        "registry": registry,
        "catalog": catalog,
        "openapi": OpenAPIBuilder(catalog),
        "faults": FaultInjector(random.Random(1)),
        "metrics": CollectorRegistry(),
        "rng": random.Random(1),
    }
    fields.update(overrides)
    return ApiContext(**fields)


@asynccontextmanager
async def api_client(**overrides: Any) -> AsyncIterator[tuple[TestClient[Any, Any], ApiContext]]:
    """A started API server on 127.0.0.1 and a client for it."""
    ctx = make_context(**overrides)
    server = TestServer(build_app(ctx), host="127.0.0.1")
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    try:
        yield client, ctx
    finally:
        await client.close()
