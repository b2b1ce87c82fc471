"""examples/configmap_mirror.py as a user runs it (`python examples/configmap_mirror.py
--kubeconfig PATH`) against the sandbox: mirrors converge, two replicas elect one
leader, SIGTERM exits 0 and releases the Lease so the standby takes over."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kuberay_py.kube import CONFIGMAPS, EVENTS_V1, LEASES, KubeClient, NotFound
from kuberay_py.sandbox.server import Sandbox

NS = "default"
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "configmap_mirror.py"


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[KubeClient]:
    assert sandbox.kubeconfig_path
    c = await KubeClient.from_config(str(sandbox.kubeconfig_path))
    yield c
    await c.close()


async def start(sandbox: Sandbox, log: Path) -> asyncio.subprocess.Process:
    out = log.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--kubeconfig",
        str(sandbox.kubeconfig_path),
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--health-probe-bind-address",
        "127.0.0.1:0",
        "--leader-elect",
        stdout=out,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(ROOT),
    )
    out.close()
    return proc


async def mirror_data(client: KubeClient, name: str) -> dict[str, str] | None:
    try:
        obj = await client.get(CONFIGMAPS, f"{name}-mirror", NS)
    except NotFound:
        return None
    return obj.get("data") or {}


async def until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.05)


async def holder(client: KubeClient) -> str:
    try:
        lease = await client.get(LEASES, "configmap-mirror", NS)
    except NotFound:
        return ""
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


async def test_example_mirrors_and_hands_over_on_sigterm(
    sandbox: Sandbox, client: KubeClient, tmp_path: Path
) -> None:
    await client.create(
        CONFIGMAPS,
        {"metadata": {"name": "web", "labels": {"mirror": "true"}}, "data": {"a": "1"}},
        NS,
    )
    first = await start(sandbox, tmp_path / "first.log")
    second: asyncio.subprocess.Process | None = None
    try:

        async def mirrored(want: dict[str, str]) -> bool:
            return await mirror_data(client, "web") == want

        await until(lambda: mirrored({"a": "1"}))
        leader = await holder(client)
        assert leader
        mirror = await client.get(CONFIGMAPS, "web-mirror", NS)
        assert mirror["metadata"]["ownerReferences"][0]["name"] == "web"
        events = (await client.list(EVENTS_V1, NS))["items"]
        mirrored_events = [e for e in events if e.get("reason") == "Mirrored"]
        assert mirrored_events, events
        assert mirrored_events[0]["regarding"]["name"] == "web"
        assert mirrored_events[0]["reportingController"] == "configmap-mirror"
        assert mirrored_events[0]["reportingInstance"] == leader
        second = await start(sandbox, tmp_path / "second.log")
        await asyncio.sleep(1.0)  # the standby starts and sees a held lease
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), 30) == 0

        async def taken_over() -> bool:
            return (await holder(client)) not in ("", leader)

        # Released on SIGTERM: the standby takes over in about one retry period (2 s,
        # jittered up to 4.4 s), far sooner than the 15 s lease would take to expire.
        loop = asyncio.get_running_loop()
        released_at = loop.time()
        await until(taken_over, 12)
        assert loop.time() - released_at < 10
        await client.patch(CONFIGMAPS, "web", {"data": {"a": "2"}}, NS)
        await until(lambda: mirrored({"a": "2"}))
        await client.patch(CONFIGMAPS, "web", {"metadata": {"labels": {"mirror": None}}}, NS)

        async def unmirrored() -> bool:
            return await mirror_data(client, "web") is None

        await until(unmirrored)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
        assert await holder(client) == ""
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
