"""The client's transport rules against a scripted loopback HTTP server.

The sandbox e2e tests prove the client against a real API server; these pin the
retry policy, headers and credential rotation, which need exact control over
answers (a server that says 500 once, then 200).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kuberay_py import __version__
from kuberay_py.kube import (
    CONFIGMAPS,
    PODS,
    ConnectionFailure,
    KubeClient,
    NotFound,
    RetryPolicy,
    ServerError,
    TooManyRequests,
)

Reply = tuple[int, dict[str, Any], dict[str, str]]


class Script:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[web.Request] = []
        self.bodies: list[bytes] = []

    def push(self, code: int, body: dict[str, Any] | None = None, **headers: str) -> None:
        self.replies.append((code, body or {}, headers))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        self.bodies.append(await request.read())
        code, body, headers = self.replies.pop(0) if self.replies else (200, {}, {})
        return web.json_response(body, status=code, headers=headers)


def status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "code": code, "reason": reason, "message": reason}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield script, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def write_kubeconfig(tmp_path: Path, url: str, user: dict[str, Any]) -> str:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(cfg))
    return str(path)


FAST = RetryPolicy(attempts=4, base=0.001, cap=0.01)


async def client_for(tmp_path: Path, url: str, **kwargs: Any) -> KubeClient:
    path = write_kubeconfig(tmp_path, url, {"token": "t0"})
    kwargs.setdefault("retry", FAST)
    return await KubeClient.from_config(path, **kwargs)


async def test_headers_namespace_and_decoding(server: tuple[Script, str], tmp_path: Path) -> None:
    script, url = server
    script.push(200, {"kind": "Pod", "metadata": {"name": "p"}})
    async with await client_for(tmp_path, url) as client:
        assert client.namespace == "team"
        pod = await client.get(PODS, "p", "team")
    assert pod == {"kind": "Pod", "metadata": {"name": "p"}}
    req = script.requests[0]
    assert req.path == "/api/v1/namespaces/team/pods/p"
    assert req.headers["User-Agent"] == f"kuberay-py/{__version__}"
    assert req.headers["Authorization"] == "Bearer t0"


async def test_429_waits_retry_after_then_succeeds(
    server: tuple[Script, str], tmp_path: Path
) -> None:
    script, url = server
    script.push(429, status(429, "TooManyRequests"), **{"Retry-After": "0"})
    script.push(429, status(429, "TooManyRequests"), **{"Retry-After": "0"})
    script.push(201, {"kind": "ConfigMap"})
    async with await client_for(tmp_path, url) as client:
        out = await client.create(CONFIGMAPS, {"metadata": {"name": "a", "namespace": "team"}})
    assert out == {"kind": "ConfigMap"}
    assert [r.method for r in script.requests] == ["POST"] * 3
    sent = json.loads(script.bodies[0])
    assert sent["kind"] == "ConfigMap" and sent["apiVersion"] == "v1"


async def test_429_gives_up_after_attempts(server: tuple[Script, str], tmp_path: Path) -> None:
    script, url = server
    for _ in range(5):
        script.push(429, status(429, "TooManyRequests"), **{"Retry-After": "0"})
    async with await client_for(tmp_path, url) as client:
        with pytest.raises(TooManyRequests) as info:
            await client.get(PODS, "p", "team")
    assert info.value.retry_after == 0.0
    assert len(script.requests) == FAST.attempts


async def test_500_retried_for_get_not_for_post(server: tuple[Script, str], tmp_path: Path) -> None:
    script, url = server
    script.push(500, status(500, "InternalError"))
    script.push(200, {"kind": "Pod"})
    async with await client_for(tmp_path, url) as client:
        assert await client.get(PODS, "p", "team") == {"kind": "Pod"}
        assert len(script.requests) == 2
        script.push(500, status(500, "InternalError"))
        with pytest.raises(ServerError):
            await client.create(PODS, {"metadata": {"name": "p"}}, "team")
        assert len(script.requests) == 3
        script.push(503, status(503, "ServiceUnavailable"), **{"Retry-After": "0"})
        script.push(201, {"kind": "Pod"})
        assert await client.create(PODS, {"metadata": {"name": "p"}}, "team") == {"kind": "Pod"}
        assert len(script.requests) == 5


async def test_404_is_not_retried(server: tuple[Script, str], tmp_path: Path) -> None:
    script, url = server
    script.push(404, status(404, "NotFound"))
    async with await client_for(tmp_path, url) as client:
        with pytest.raises(NotFound):
            await client.get(PODS, "p", "team")
    assert len(script.requests) == 1


async def test_rotated_token_file_is_reread_after_401(
    server: tuple[Script, str], tmp_path: Path
) -> None:
    script, url = server
    token = tmp_path / "token"
    token.write_text("old\n")
    path = write_kubeconfig(tmp_path, url, {"tokenFile": str(token)})
    client = await KubeClient.from_config(path, retry=FAST)
    try:
        await client.get(PODS, "p", "team")
        token.write_text("new\n")
        script.push(401, status(401, "Unauthorized"))
        script.push(200, {"kind": "Pod"})
        assert await client.get(PODS, "p", "team") == {"kind": "Pod"}
    finally:
        await client.close()
    auth = [r.headers["Authorization"] for r in script.requests]
    assert auth == ["Bearer old", "Bearer old", "Bearer new"]


async def test_connection_refused_is_a_connection_failure(tmp_path: Path) -> None:
    client = await client_for(tmp_path, "http://127.0.0.1:9")
    try:
        with pytest.raises(ConnectionFailure) as info:
            await client.get(PODS, "p", "team")
        assert info.value.sent is False
    finally:
        await client.close()


async def test_query_parameters(server: tuple[Script, str], tmp_path: Path) -> None:
    script, url = server
    script.push(200, {"items": [], "metadata": {"resourceVersion": "7"}})
    script.push(200, {"kind": "Status"})
    script.push(200, {"kind": "Pod"})
    async with await client_for(tmp_path, url) as client:
        await client.list(PODS, None, label_selector="a=b", limit=5, continue_="tok")
        await client.delete(
            PODS,
            "p",
            "team",
            propagation_policy="Foreground",
            grace_period_seconds=0,
            precondition_uid="u1",
        )
        await client.patch(
            PODS, "p", {"a": 1}, "team", patch_type="apply", field_manager="me", force=True
        )
    list_req, _, patch_req = script.requests
    assert list_req.path == "/api/v1/pods"
    assert dict(list_req.query) == {"labelSelector": "a=b", "limit": "5", "continue": "tok"}
    assert json.loads(script.bodies[1]) == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u1"},
    }
    assert patch_req.headers["Content-Type"] == "application/apply-patch+yaml"
    assert dict(patch_req.query) == {"fieldManager": "me", "force": "true"}


async def test_exec_plugin_token_is_cached_and_rerun_after_401(
    server: tuple[Script, str], tmp_path: Path
) -> None:
    script, url = server
    token = tmp_path / "token"
    token.write_text("one")
    runs = tmp_path / "runs"
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(
        "#!/bin/sh\n"
        f'echo run >> "{runs}"\n'
        f'printf \'{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
        f'"status":{{"token":"%s"}}}}\' "$(cat "{token}")"\n'
    )
    plugin.chmod(0o755)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "interactiveMode": "Never",
        }
    }
    client = await KubeClient.from_config(write_kubeconfig(tmp_path, url, user), retry=FAST)
    try:
        await client.get(PODS, "p", "team")
        await client.get(PODS, "p", "team")
        token.write_text("two")
        script.push(401, status(401, "Unauthorized"))
        await client.get(PODS, "p", "team")
    finally:
        await client.close()
    auth = [r.headers["Authorization"] for r in script.requests]
    assert auth == ["Bearer one", "Bearer one", "Bearer one", "Bearer two"]
    assert runs.read_text().count("run") == 2  # at load, then once after the 401


def test_continue_token_is_peeked_only_from_list_metadata() -> None:
    from kuberay_py.kube.client import _peek_continue

    first = (
        b'{"kind":"PodList","metadata":{"resourceVersion":"5","continue":"eyJ2Ijo_-x"},"items":[]}'
    )
    assert _peek_continue(first) == "eyJ2Ijo_-x"
    items_first = b'{"items":[{"metadata":{"continue":"nope"}}],"metadata":{"continue":"abc"}}'
    assert _peek_continue(items_first) is None
    assert _peek_continue(b'{"metadata":{"resourceVersion":"5"},"items":[]}') is None


async def test_paged_list_prefetches_and_yields_every_page(
    server: tuple[Script, str], tmp_path: Path
) -> None:
    script, url = server
    script.push(200, {"metadata": {"continue": "t1"}, "items": [{"n": 1}]})
    script.push(200, {"metadata": {"continue": "t2"}, "items": [{"n": 2}]})
    script.push(200, {"metadata": {"resourceVersion": "9"}, "items": [{"n": 3}]})
    async with await client_for(tmp_path, url) as client:
        items, rv = await client.list_all(PODS, "team", page_size=1, resource_version="0")
    assert [i["n"] for i in items] == [1, 2, 3]
    assert rv == "9"
    queries = [dict(r.query) for r in script.requests]
    assert queries == [
        {"limit": "1", "resourceVersion": "0"},
        {"limit": "1", "continue": "t1"},
        {"limit": "1", "continue": "t2"},
    ]
