"""Runnables: one that finishes is done, one that raises stops the manager with its error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.runtime import Manager
from kuberay_py.runtime.testing import FakeKube


def manager(**kw: Any) -> Manager:
    return Manager(
        FakeKube(),
        registry=CollectorRegistry(),
        health_address=None,
        metrics_address=None,
        **kw,
    )


async def test_a_runnable_that_returns_does_not_stop_the_others() -> None:
    mgr = manager()
    finished = asyncio.Event()
    ticks: list[int] = []

    async def one_shot() -> None:
        finished.set()

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    mgr.add_runnable(one_shot)
    mgr.add_runnable(ticker)
    run = asyncio.create_task(mgr.run(handle_signals=False))
    await asyncio.wait_for(finished.wait(), 5)
    seen = len(ticks)
    async with asyncio.timeout(5):
        while len(ticks) < seen + 5:  # the ticker keeps running after one_shot returned
            await asyncio.sleep(0.01)
    assert not run.done()
    mgr.stop()
    await asyncio.wait_for(run, 5)


async def test_a_runnable_that_raises_stops_the_manager_with_its_error() -> None:
    mgr = manager()

    async def broken() -> None:
        raise RuntimeError("boom")

    mgr.add_runnable(broken)
    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(mgr.run(handle_signals=False), 5)
