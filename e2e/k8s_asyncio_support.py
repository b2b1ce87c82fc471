"""Shared helpers for the kubernetes-asyncio e2e tests: a client built from the kubeconfig.

The client is configured exactly as a user would configure it (load_kube_config into a
fresh Configuration), so every request goes through kubernetes-asyncio's own generated
code, serialisation and error handling.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from kuberay_py.runtime.testing import eventually as eventually  # re-exported for the tests
from kuberay_py.sandbox.server import Sandbox

T = TypeVar("T")


@asynccontextmanager
async def api_client(sandbox: Sandbox) -> AsyncIterator[client.ApiClient]:
    """An ApiClient loaded from the sandbox's kubeconfig (never the global default)."""
    assert sandbox.kubeconfig_path
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=sandbox.kubeconfig_path, client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api:
        yield api


async def raises_api(call: Awaitable[Any], status: int) -> dict[str, Any]:
    """Await `call`, expect ApiException with `status`, return its kube Status body."""
    try:
        await call
    except ApiException as exc:
        assert exc.status == status, (exc.status, exc.body)
        body = json.loads(exc.body)
        assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
        assert body["status"] == "Failure" and body["code"] == status, body
        assert isinstance(body.get("message"), str) and body["message"], body
        return body  # type: ignore[no-any-return]
    raise AssertionError(f"expected ApiException {status}, the call succeeded")
