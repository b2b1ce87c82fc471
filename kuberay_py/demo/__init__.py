"""`kuberay-py demo`: seed stories run end to end on a fresh sandbox.

Each scenario prints what a person would look at: kubectl-like tables, the
traffic success rate measured with real requests, and a timeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TextIO

from kuberay_py.demo.raycluster import run_raycluster
from kuberay_py.demo.service_failover import run_service_failover

Scenario = Callable[[TextIO], Awaitable[int]]

SCENARIOS: dict[str, Scenario] = {
    "raycluster": run_raycluster,
    "service-failover": run_service_failover,
}


def scenario_names() -> list[str]:
    return sorted(SCENARIOS)


async def run_scenario(name: str, out: TextIO) -> int:
    return await SCENARIOS[name](out)
