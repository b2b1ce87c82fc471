"""The operator as users start it: `sandbox up --operator`, `operator`, `manifests`, `demo`."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from e2e.test_sandbox_cli import start_sandbox
from kuberay_py.api.crd import render_crds
from kuberay_py.cli import build_parser
from kuberay_py.demo import run_scenario
from kuberay_py.runtime.testing import eventually

SAMPLE = Path(__file__).resolve().parents[1] / "manifests" / "samples" / "ray-cluster.sample.yaml"


async def _kubectl(kubeconfig: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        "--kubeconfig",
        kubeconfig,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


async def test_sandbox_up_with_operator_reconciles_an_applied_raycluster(tmp_path: Path) -> None:
    sb = await start_sandbox(tmp_path, "--operator", "--time-scale", "0.05")
    try:
        await _kubectl(sb.kubeconfig, "apply", "-f", str(SAMPLE))

        async def pods() -> list[dict[str, Any]]:
            out = await _kubectl(
                sb.kubeconfig, "get", "pods", "-l", "ray.io/is-ray-node=yes", "-o", "json"
            )
            items: list[dict[str, Any]] = json.loads(out)["items"]
            return items

        async def head_and_workers_created() -> bool:
            types = sorted(p["metadata"]["labels"]["ray.io/node-type"] for p in await pods())
            return types == ["head", "worker"]

        await eventually(head_and_workers_created, timeout=60)
        table = await _kubectl(sb.kubeconfig, "get", "raycluster")
        assert "DESIRED WORKERS" in table.splitlines()[0]
    finally:
        sb.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(sb.proc.wait(), 60) == 0


async def test_manifests_command_prints_the_generated_crds() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kuberay_py", "manifests", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode() == render_crds()


async def test_operator_command_refuses_a_missing_kubeconfig(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kuberay_py",
        "operator",
        "--kubeconfig",
        str(tmp_path / "missing"),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 1
    assert b"cannot load the Kubernetes configuration" in err


async def test_raycluster_demo_shows_the_cluster_ready_then_healed() -> None:
    out = io.StringIO()
    assert await run_scenario("raycluster", out) == 0
    text = out.getvalue()
    assert "RayCluster is ready again" in text
    assert "replacement" in text
    assert "DESIRED WORKERS" in text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not JSON"),
        ('{"requests": {"cpu": "lots"}}', "cpu: not a Kubernetes quantity"),
        ('{"claims": []}', 'expected {"requests"'),
    ],
)
def test_operator_refuses_bad_cleanup_job_resources(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["operator", "--redis-cleanup-job-resources", value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_operator_cleanup_job_flags_parse() -> None:
    args = build_parser().parse_args(
        [
            "operator",
            "--redis-cleanup-job-resources",
            '{"requests": {"cpu": "100m"}}',
            "--gcs-ft-deletion-timeout-seconds",
            "600",
        ]
    )
    assert args.redis_cleanup_job_resources == {"requests": {"cpu": "100m"}}
    assert args.gcs_ft_deletion_timeout_seconds == 600
