"""`python -m kuberay_py sandbox up` as a user runs it: the ready line, SIGTERM, SIGKILL.

These start the real command in a child process, so they also prove the
durability promise: kill -9 during a stream of writes, start again on the
same --data-dir, and every write that got a 2xx is there with
resourceVersions still increasing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest


class SandboxProcess:
    def __init__(self, proc: asyncio.subprocess.Process, url: str, kubeconfig: str) -> None:
        self.proc = proc
        self.url = url
        self.kubeconfig = kubeconfig


async def start_sandbox(tmp_path: Path, *extra: str) -> SandboxProcess:
    kubeconfig = str(tmp_path / "kubeconfig")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kuberay_py",
        "sandbox",
        "up",
        "--kubeconfig-out",
        kubeconfig,
        "--port",
        "0",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    match = re.fullmatch(
        r"sandbox ready: server=(http://127\.0\.0\.1:\d+) kubeconfig=(\S+)\n", line
    )
    if match is None:
        err = await proc.stderr.read() if proc.stderr else b""
        raise AssertionError(f"unexpected first line {line!r}; stderr: {err.decode()[-2000:]}")
    assert match.group(2) == kubeconfig
    return SandboxProcess(proc, match.group(1), kubeconfig)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_ready_line_kubeconfig_and_clean_sigterm(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    sb = await start_sandbox(tmp_path, "--nodes", "2", "--time-scale", "0.1")
    try:
        config = Path(sb.kubeconfig).read_text()
        assert sb.url in config
        async with http.get(f"{sb.url}/api/v1/nodes") as resp:
            nodes = await resp.json()
        assert sorted(n["metadata"]["name"] for n in nodes["items"]) == [
            "sandbox-node-1",
            "sandbox-node-2",
        ]
    finally:
        sb.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(sb.proc.wait(), 30)
    assert code == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--nodes", "0"], b"at least one node"),
        (["--port", "70000"], b"a TCP port is 0-65535"),
        (["--node-cpu", "banana"], b"not a Kubernetes quantity: 'banana'"),
        (["--node-memory", "0"], b"must be positive"),
        (["--time-scale", "0"], b"must be positive"),
    ],
)
async def test_bad_flags_fail_with_a_message(
    tmp_path: Path, flags: list[str], message: bytes
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kuberay_py",
        "sandbox",
        "up",
        "--kubeconfig-out",
        str(tmp_path / "k"),
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 2
    assert out == b""
    assert message in err, err


async def test_audit_log_has_one_line_per_request(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    audit = tmp_path / "audit.jsonl"
    sb = await start_sandbox(tmp_path, "--audit-log", str(audit))
    try:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "audited"}}
        async with http.post(
            f"{sb.url}/api/v1/namespaces/default/configmaps",
            json=body,
            headers={"User-Agent": "audit-test/1.0"},
        ) as resp:
            assert resp.status == 201
        async with http.get(
            f"{sb.url}/api/v1/namespaces/default/configmaps/missing",
            headers={"User-Agent": "audit-test/1.0"},
        ) as resp:
            assert resp.status == 404
    finally:
        sb.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(sb.proc.wait(), 30) == 0
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    ours = [e for e in events if e.get("userAgent") == "audit-test/1.0"]
    assert len(ours) == 2
    create, get = ours
    assert create["apiVersion"] == "audit.k8s.io/v1" and create["kind"] == "Event"
    assert create["verb"] == "create" and create["responseStatus"]["code"] == 201
    assert create["objectRef"]["resource"] == "configmaps"
    assert create["objectRef"]["namespace"] == "default"
    assert get["verb"] == "get" and get["responseStatus"]["code"] == 404
    assert get["objectRef"]["name"] == "missing"


async def test_sigkill_loses_no_acknowledged_write(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data_dir = tmp_path / "data"
    sb = await start_sandbox(tmp_path, "--data-dir", str(data_dir), "--nodes", "1")
    acknowledged: dict[str, int] = {}
    url = f"{sb.url}/api/v1/namespaces/default/configmaps"

    async def writer(worker: int) -> None:
        for i in range(10_000):
            name = f"w{worker}-{i}"
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
            try:
                async with http.post(url, json=body) as resp:
                    if resp.status == 201:
                        acknowledged[name] = int((await resp.json())["metadata"]["resourceVersion"])
            except (aiohttp.ClientError, OSError):
                return

    writers = [asyncio.create_task(writer(w)) for w in range(4)]
    while len(acknowledged) < 300:
        await asyncio.sleep(0.01)
    os.kill(sb.proc.pid, signal.SIGKILL)
    await sb.proc.wait()
    await asyncio.gather(*writers)
    highest = max(acknowledged.values())

    sb2 = await start_sandbox(tmp_path, "--data-dir", str(data_dir), "--nodes", "1")
    url = f"{sb2.url}/api/v1/namespaces/default/configmaps"
    try:
        async with http.get(url) as resp:
            listed = await resp.json()
        stored = {
            o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in listed["items"]
        }
        missing = sorted(set(acknowledged) - set(stored))
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        for name, rv in acknowledged.items():
            assert stored[name] == rv
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-restart"}}
        async with http.post(url, json=body) as resp:
            assert resp.status == 201
            assert int((await resp.json())["metadata"]["resourceVersion"]) > highest
    finally:
        sb2.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(sb2.proc.wait(), 30) == 0
