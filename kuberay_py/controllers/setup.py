"""Wiring the operator: which controllers run, and the manager they run in.

An embedding operator calls `setup_controllers(mgr, client, config)` on its own
Manager; the `operator` command and `sandbox up --operator` call `run_operator`,
which builds the Manager from `OperatorOptions` the way KubeRay's main does
(leader election, metrics and health endpoints, namespaces to watch).
"""

from __future__ import annotations

import asyncio

import attrs
import structlog

from kuberay_py.api.config import OperatorConfig
from kuberay_py.controllers.probe_injector import add_probe_injector_controller
from kuberay_py.controllers.raycluster import add_raycluster_controller
from kuberay_py.kube import KubeClient
from kuberay_py.runtime import LeaderElectionConfig, LeaderElectionLost, Manager

log = structlog.get_logger(__name__)

LEASE_NAME = "kuberay-operator"


def setup_controllers(
    mgr: Manager,
    client: KubeClient,
    config: OperatorConfig,
    *,
    max_concurrent_reconciles: int = 1,
) -> None:
    """Register every controller of the operator with `mgr` (they share its informers)."""
    add_raycluster_controller(
        mgr, client, config, max_concurrent_reconciles=max_concurrent_reconciles
    )
    # Registered even with injection off: it then removes stale stamps, so a stamp that
    # exists always means "decided, with injection on, for this generation".
    add_probe_injector_controller(mgr, client, config)


@attrs.frozen(kw_only=True)
class OperatorOptions:
    """The `operator` command's flags (DESIGN.md, "The command line")."""

    config: OperatorConfig = attrs.field(factory=OperatorConfig)
    namespaces: tuple[str, ...] = ()
    leader_elect: bool = False
    lease_namespace: str = "default"
    metrics_address: str | None = "127.0.0.1:8080"
    health_address: str | None = "127.0.0.1:8082"
    max_concurrent_reconciles: int = 1


def build_manager(client: KubeClient, options: OperatorOptions) -> Manager:
    leader_election = (
        LeaderElectionConfig(LEASE_NAME, lease_namespace=options.lease_namespace)
        if options.leader_elect
        else None
    )
    mgr = Manager(
        client,
        namespaces=list(options.namespaces) or None,
        health_address=options.health_address,
        metrics_address=options.metrics_address,
        leader_election=leader_election,
    )
    setup_controllers(
        mgr, client, options.config, max_concurrent_reconciles=options.max_concurrent_reconciles
    )
    return mgr


async def run_operator(
    client: KubeClient,
    options: OperatorOptions,
    *,
    handle_signals: bool = True,
    stop: asyncio.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or `stop`); 0 after a graceful stop, 1 if the lease was lost."""
    mgr = build_manager(client, options)
    watcher: asyncio.Task[None] | None = None
    if stop is not None:

        async def stop_when_asked() -> None:
            await stop.wait()
            mgr.stop()

        watcher = asyncio.create_task(stop_when_asked())
    try:
        await mgr.run(handle_signals=handle_signals)
    except LeaderElectionLost as exc:
        log.error("leader election lost; exiting so a new leader takes over", error=str(exc))
        return 1
    finally:
        if watcher is not None:
            watcher.cancel()
    return 0
