"""The default container runtime: containers that do nothing, successfully.

Every container starts at once and runs until stopped; every probe passes
(the kubelet applies initialDelaySeconds, so "passes once its delay has
passed" holds). Two environment variables make a container exit on its own,
so that Jobs, restart policies and CrashLoopBackOff can be exercised without
any real process:

- `SANDBOX_EXIT_CODE=N`: the container exits with N (at once, unless
  `SANDBOX_RUN_SECONDS` is also set);
- `SANDBOX_RUN_SECONDS=S`: the container exits after S simulated seconds
  (with `SANDBOX_EXIT_CODE`, default 0).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kuberay_py.sandbox.containers.base import ContainerContext

EXIT_CODE_ENV = "SANDBOX_EXIT_CODE"
RUN_SECONDS_ENV = "SANDBOX_RUN_SECONDS"
SIGTERM_EXIT_CODE = 0  # a well-behaved program exits 0 on SIGTERM


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """Literal `env` values of a container (valueFrom references are not resolved)."""
    return {
        str(e["name"]): str(e.get("value", ""))
        for e in container.get("env") or []
        if isinstance(e, dict) and "name" in e and "value" in e
    }


class NoopContainer:
    """A container that exits only when told to (or when its env says so)."""

    def __init__(self, exit_after: float | None, exit_code: int) -> None:
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        if exit_after is not None:
            self._timer = loop.call_later(exit_after, self.exit, exit_code)

    def exit(self, code: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self.exited.done():
            self.exited.set_result(code)

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)


class NoopRuntime:
    """ContainerRuntime in which nothing runs and everything is healthy."""

    async def start(self, ctx: ContainerContext) -> NoopContainer:
        env = container_env(ctx.container)
        code_text, seconds_text = env.get(EXIT_CODE_ENV), env.get(RUN_SECONDS_ENV)
        exit_after: float | None = None
        code = int(code_text) if code_text not in (None, "") else 0
        if seconds_text not in (None, ""):
            seconds = float(seconds_text)
            exit_after = ctx.clock.scaled(seconds) if ctx.clock else seconds
        elif code_text not in (None, ""):
            exit_after = 0.0
        return NoopContainer(exit_after, code)

    async def probe(self, ctx: ContainerContext, handle: Any, probe: dict[str, Any]) -> bool:
        return not (isinstance(handle, NoopContainer) and handle.exited.done())

    async def stop(self, ctx: ContainerContext, handle: Any, grace_seconds: float) -> int:
        if isinstance(handle, NoopContainer):
            handle.exit(SIGTERM_EXIT_CODE)
            with contextlib.suppress(Exception):
                return await handle.wait()
        return SIGTERM_EXIT_CODE
