"""Audit of issue 3 point 9: the throughput benchmark runs and reports every figure.

A smoke run with tiny sizes: only the shape of the JSON is asserted (bench
figures are never asserted as timed tests, per DESIGN.md), so a broken
benchmark script is caught by `make test` rather than on the day it is needed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "sandbox_throughput.py"


async def test_sandbox_throughput_bench_reports_every_figure() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH),
        "--creates",
        "40",
        "--pods",
        "30",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    figures = json.loads(out)
    for key in (
        "creates_per_s",
        "watch_events_per_s",
        "watch_events_per_s_live",
        "rss_bytes_per_pod",
        "list_10k_pods_s",
    ):
        assert isinstance(figures[key], int | float), key
    assert figures["creates_per_s"] > 0 and figures["watch_events_per_s"] > 0
    assert figures["list_items"] == 30
    assert figures["targets"] == {"creates_per_s": 2000, "watch_events_per_s": 20000}
