"""Review regression: a watch stream that fails to start must not leave its registry watch."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from unit_tests.sandbox_http_harness import CM_URL, api_client, configmap


async def test_watch_whose_response_cannot_start_releases_the_registry_watch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client is gone before the headers go out (prepare raises): the registry watch
    opened for it must be closed, or it stays subscribed and buffers every later event."""

    real_prepare = web.StreamResponse.prepare

    async def gone(self: web.StreamResponse, request: web.BaseRequest) -> Any:
        if type(self) is web.StreamResponse:  # the watch stream; plain replies still work
            raise ConnectionResetError("Cannot write to closing transport")
        return await real_prepare(self, request)

    async with api_client() as (client, ctx):
        monkeypatch.setattr(web.StreamResponse, "prepare", gone)
        resp = await client.get(CM_URL, params={"watch": "true"})
        resp.close()
        monkeypatch.undo()
        assert ctx.registry.hub.watcher_count() == 0
        created = await client.post(CM_URL, json=configmap("after"))
        assert created.status == 201
        assert ctx.registry.hub.watcher_count() == 0
