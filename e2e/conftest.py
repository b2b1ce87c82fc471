"""Fixtures for end-to-end tests: a running sandbox, and kubectl pointed at it.

The sandbox runs in the test's own event loop, so anything that talks to it
from the test must be asynchronous (kubectl runs through
asyncio.create_subprocess_exec, never subprocess.run, which would block the
loop the API server answers on).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs
import pytest

from kuberay_py.sandbox.server import Sandbox, SandboxConfig

# Fast enough for tests, slow enough that every simulated step is still ordered.
E2E_TIME_SCALE = 0.05


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        default="sandbox",
        choices=("sandbox", "kind"),
        help="where e2e scenarios run: the embedded sandbox (default) or kind (needs Docker)",
    )


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.config.getoption("--backend")
    if name == "kind" and shutil.which("docker") is None:
        pytest.skip("the kind backend needs a Docker engine, and this machine has none")
    return name


def _require_sandbox_backend(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--backend") != "sandbox":
        pytest.skip(
            "this test drives the embedded sandbox itself; on --backend=kind only scenarios "
            "written against a backend-neutral cluster fixture run, and none exist yet"
        )


@pytest.fixture
async def sandbox(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    _require_sandbox_backend(request)
    config = SandboxConfig(
        time_scale=E2E_TIME_SCALE,
        kubeconfig_out=str(tmp_path / "kubeconfig"),
        bookmark_interval=1.0,
        seed=None,
    )
    async with Sandbox(config) as sb:
        yield sb


@pytest.fixture
def sandbox_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Sandbox]:
    """Build (not start) sandboxes with custom settings; the test starts and stops them."""
    _require_sandbox_backend(request)

    def make(**overrides: object) -> Sandbox:
        fields = {
            "time_scale": E2E_TIME_SCALE,
            "kubeconfig_out": str(tmp_path / f"kubeconfig-{len(os.listdir(tmp_path))}"),
            "bookmark_interval": 1.0,
        }
        fields.update(overrides)
        return Sandbox(SandboxConfig(**fields))  # type: ignore[arg-type]

    return make


@attrs.frozen
class KubectlResult:
    code: int
    out: str
    err: str

    def check(self) -> KubectlResult:
        assert self.code == 0, f"kubectl failed ({self.code}):\n{self.err}\n{self.out}"
        return self


Kubectl = Callable[..., Awaitable[KubectlResult]]


@pytest.fixture
def kubectl(sandbox: Sandbox, tmp_path: Path) -> Kubectl:
    """Run the installed kubectl against the sandbox with a fresh discovery cache."""
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed on this machine (needed to prove wire compatibility)")
    cache_dir = tmp_path / "kube-cache"

    async def run(*args: str, stdin: str | None = None, timeout: float = 60) -> KubectlResult:
        proc = await asyncio.create_subprocess_exec(
            binary,
            f"--kubeconfig={sandbox.kubeconfig_path}",
            f"--cache-dir={cache_dir}",
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(sandbox.kubeconfig_path)},
        )
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout
        )
        assert proc.returncode is not None
        return KubectlResult(proc.returncode, out.decode(), err.decode())

    return run
