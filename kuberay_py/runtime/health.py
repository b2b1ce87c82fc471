"""The probe and metrics endpoints: `/healthz`, `/readyz`, `/metrics` on aiohttp.

- `/healthz` (liveness) fails while any informer is dead or has been stalled past its
  bound, or while this replica leads but has stopped renewing its Lease: in all three
  cases a restart is the cure, and the silent-watch stall is the failure kopf users hit
  most.
- `/readyz` (readiness) passes only once the caches have synced.
- `/metrics` is the Prometheus text exposition of the manager's registry.

Each address is `host:port`; port 0 binds a free port (read it from `ports`). When the
health and metrics addresses are equal, one listener serves all three paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "parse_address"]

Check = Callable[[], tuple[bool, Any]]


def parse_address(address: str) -> tuple[str, int]:
    """`"127.0.0.1:8080"`, `":8080"` (all interfaces) or `"[::1]:0"` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address!r} must be host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class HealthServer:
    """Serves the endpoints above from one or two listeners."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        liveness: Check,
        readiness: Check,
        health_address: str | None,
        metrics_address: str | None,
    ) -> None:
        self.registry = registry
        self.liveness = liveness
        self.readiness = readiness
        self.health_address = health_address
        self.metrics_address = metrics_address
        self._runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}

    async def _healthz(self, request: web.Request) -> web.Response:
        return self._answer(self.liveness())

    async def _readyz(self, request: web.Request) -> web.Response:
        return self._answer(self.readiness())

    @staticmethod
    def _answer(result: tuple[bool, Any]) -> web.Response:
        ok, detail = result
        if ok:
            return web.Response(text="ok")
        return web.Response(status=500, body=orjson.dumps(detail), content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _serve(self, address: str, routes: list[web.RouteDef]) -> int:
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = parse_address(address)
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"cannot serve {address}: {exc.strerror}") from exc
        self._runners.append(runner)
        bound = runner.addresses[0]
        return int(bound[1])

    async def start(self) -> None:
        health = [web.get("/healthz", self._healthz), web.get("/readyz", self._readyz)]
        metrics = [web.get("/metrics", self._metrics)]
        if self.health_address and self.health_address == self.metrics_address:
            port = await self._serve(self.health_address, health + metrics)
            self.ports = {"health": port, "metrics": port}
            return
        if self.health_address:
            self.ports["health"] = await self._serve(self.health_address, health)
        if self.metrics_address:
            self.ports["metrics"] = await self._serve(self.metrics_address, metrics)

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
