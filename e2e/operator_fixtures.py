"""A pytest plugin: the sandbox with the real operator beside it, talking HTTP.

Compatibility tests must see what a user of KubeRay sees: the operator's requests
go through the sandbox's REST API (so they land in the audit log), and kubectl
reads the result. Test modules load the plugin with
`pytest_plugins = ("e2e.operator_fixtures",)` and import their helpers from
e2e/operator_support.py; a module changes the operator's configuration by defining
its own `operator_config` fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from e2e.operator_support import (
    TEST_USER_AGENT,
    TIME_SCALE,
    CleanupRuntime,
    Kubectl,
    KubectlResult,
    OperatorSandbox,
)
from kuberay_py.api.config import OperatorConfig
from kuberay_py.controllers.install import install_crds
from kuberay_py.controllers.setup import OperatorOptions, run_operator
from kuberay_py.kube import KubeClient
from kuberay_py.sandbox.server import Sandbox, SandboxConfig


@pytest.fixture
def operator_config() -> OperatorConfig:
    """The operator's configuration; override in a test module to change a knob."""
    return OperatorConfig()


@pytest.fixture
def cleanup_runtime() -> CleanupRuntime:
    return CleanupRuntime()


@pytest.fixture
async def operator_sandbox(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    operator_config: OperatorConfig,
    cleanup_runtime: CleanupRuntime,
) -> AsyncIterator[OperatorSandbox]:
    """A sandbox with an audit log, the CRDs installed and the operator running."""
    if request.config.getoption("--backend") != "sandbox":
        pytest.skip("runs the operator in-process against the embedded sandbox")
    kubeconfig = str(tmp_path / "kubeconfig")
    config = SandboxConfig(
        time_scale=TIME_SCALE,
        kubeconfig_out=kubeconfig,
        audit_log=str(tmp_path / "audit.log"),
        bookmark_interval=1.0,
    )
    sb = Sandbox(config)
    # Wrap the default runtime (built with the sandbox's registry); kubelets take the
    # runtime when the sandbox starts.
    cleanup_runtime.inner = sb.runtime
    sb.runtime = cleanup_runtime
    async with sb:
        operator_client = await KubeClient.from_config(kubeconfig)
        client = await KubeClient.from_config(kubeconfig, user_agent=TEST_USER_AGENT)
        stop = asyncio.Event()
        operator: asyncio.Task[int] | None = None
        try:
            await install_crds(client)
            options = OperatorOptions(
                config=operator_config, metrics_address=None, health_address=None
            )
            operator = asyncio.create_task(
                run_operator(operator_client, options, handle_signals=False, stop=stop),
                name="operator",
            )
            yield OperatorSandbox(sb, kubeconfig, client)
            assert not operator.done(), f"the operator stopped during the test: {operator!r}"
        finally:
            stop.set()
            if operator is not None:
                try:
                    code = await asyncio.wait_for(operator, 30)
                finally:
                    with contextlib.suppress(Exception):
                        await client.close()
                        await operator_client.close()
                assert code == 0, f"the operator exited with {code}"
            else:
                await client.close()
                await operator_client.close()


@pytest.fixture
def operator_kubectl(operator_sandbox: OperatorSandbox, tmp_path: Path) -> Kubectl:
    """kubectl against the operator's sandbox, as e2e/conftest.py's `kubectl`."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed on this machine (needed to prove wire compatibility)")
    cache_dir = tmp_path / "kube-cache"
    kubeconfig = operator_sandbox.kubeconfig

    async def run(*args: str, stdin: str | None = None, timeout: float = 60) -> KubectlResult:
        proc = await asyncio.create_subprocess_exec(
            binary,
            f"--kubeconfig={kubeconfig}",
            f"--cache-dir={cache_dir}",
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(tmp_path), "KUBECONFIG": kubeconfig},
        )
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout
        )
        assert proc.returncode is not None
        return KubectlResult(proc.returncode, out.decode(), err.decode())

    return run
