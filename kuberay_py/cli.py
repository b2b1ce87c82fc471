"""The command line: `python -m kuberay_py <command>` (console script `kuberay-py`).

The flags and the `sandbox ready: ...` line are a stable contract (DESIGN.md,
"The command line"): scripts and the e2e suite parse them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog

from kuberay_py import __version__

if TYPE_CHECKING:
    from kuberay_py.kube import KubeClient


def configure_logging(level: str | None = None) -> None:
    """Console logs on stderr (stdout stays machine-readable), JSON with KUBERAY_PY_LOG_JSON=1."""
    name = (level or os.environ.get("KUBERAY_PY_LOG_LEVEL", "warning")).upper()
    numeric = getattr(logging, name, logging.WARNING)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if os.environ.get("KUBERAY_PY_LOG_JSON") == "1"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=numeric, stream=sys.stderr)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _node_count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"a sandbox needs at least one node, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0-65535 (0: any free port), got {text}")
    return value


def _quantity(text: str) -> str:
    from kuberay_py.api.quantity import parse_quantity

    try:
        value = parse_quantity(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a Kubernetes quantity: {text!r} (examples: 8, 500m, 32Gi)"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return text


def _address(text: str) -> str | None:
    """HOST:PORT (an empty host means every interface, as controller-runtime); "0" disables."""
    if text == "0":
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (or 0 to disable), got {text!r}")
    return f"{host or '0.0.0.0'}:{port}"


def _resource_requirements(text: str) -> dict[str, Any]:
    """A core/v1 ResourceRequirements as JSON, checked before the operator starts."""
    from kuberay_py.api.quantity import parse_quantity

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict) or not set(value) <= {"requests", "limits"}:
        raise argparse.ArgumentTypeError('expected {"requests": {...}, "limits": {...}}')
    for part in value.values():
        if not isinstance(part, dict):
            raise argparse.ArgumentTypeError("requests and limits must be objects")
        for name, quantity in part.items():
            try:
                parse_quantity(quantity)
            except (ValueError, TypeError):
                raise argparse.ArgumentTypeError(
                    f"{name}: not a Kubernetes quantity: {quantity!r}"
                ) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kuberay-py", description="A Kubernetes operator for Ray, with an embedded sandbox."
    )
    parser.add_argument("--version", action="version", version=f"kuberay-py {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=("debug", "info", "warning", "error"),
        help="log level on stderr (default: warning, or $KUBERAY_PY_LOG_LEVEL)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sandbox = commands.add_parser("sandbox", help="the embedded Kubernetes cluster")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    up = sandbox_commands.add_parser("up", help="start the sandbox and serve until SIGTERM/SIGINT")
    up.add_argument("--kubeconfig-out", required=True, help="where to write the kubeconfig")
    up.add_argument("--port", type=_port, default=0, help="API port on 127.0.0.1 (0: any free)")
    up.add_argument("--data-dir", default=None, help="keep all objects in SQLite in this folder")
    up.add_argument("--nodes", type=_node_count, default=3, help="simulated nodes (default 3)")
    up.add_argument(
        "--node-cpu", type=_quantity, default="8", help="CPU capacity of each node (default 8)"
    )
    up.add_argument(
        "--node-memory", type=_quantity, default="32Gi", help="memory of each node (default 32Gi)"
    )
    up.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        help="multiply every simulated delay (0.1: ten times faster)",
    )
    up.add_argument("--audit-log", default=None, help="audit.k8s.io/v1 JSON lines file")
    up.add_argument(
        "--operator",
        action="store_true",
        help="also install the CRDs and run the operator in the same process",
    )

    operator = commands.add_parser("operator", help="run the RayCluster operator")
    operator.add_argument(
        "--kubeconfig",
        default=None,
        help="default: $KUBECONFIG, else in-cluster, else ~/.kube/config",
    )
    operator.add_argument(
        "--namespace",
        action="append",
        default=None,
        help="watch only this namespace (repeatable; default: all namespaces)",
    )
    operator.add_argument("--leader-elect", action="store_true", help="compete for a Lease")
    operator.add_argument(
        "--leader-election-namespace", default="default", help="where the Lease lives"
    )
    operator.add_argument(
        "--metrics-bind-address",
        type=_address,
        default="127.0.0.1:8080",
        help="Prometheus /metrics HOST:PORT ('0' disables; default 127.0.0.1:8080)",
    )
    operator.add_argument(
        "--health-probe-bind-address",
        type=_address,
        default="127.0.0.1:8082",
        help="/healthz and /readyz HOST:PORT ('0' disables; default 127.0.0.1:8082)",
    )
    operator.add_argument(
        "--max-concurrent-reconciles",
        type=_node_count,
        default=1,
        help="RayClusters reconciled at once (default 1, as KubeRay)",
    )
    operator.add_argument(
        "--probe-injection",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="inject KubeRay's liveness/readiness probes (default: on, or ENABLE_PROBES_INJECTION)",
    )

    operator.add_argument(
        "--gcs-ft-deletion-timeout-seconds",
        type=_node_count,
        default=None,
        help="force-remove the Redis cleanup finalizer after this long "
        "(default 300; the annotation ray.io/gcs-ft-deletion-timeout wins)",
    )
    operator.add_argument(
        "--redis-cleanup-job-resources",
        type=_resource_requirements,
        default=None,
        help="the Redis cleanup Job container's resources as JSON, e.g. "
        '\'{"requests": {"cpu": "100m"}}\' ({} for none; default 200m/256Mi request=limit)',
    )

    commands.add_parser("manifests", help="print the CRDs generated from the models")

    demo = commands.add_parser("demo", help="run a story end to end on a fresh sandbox")
    demo.add_argument("--scenario", default="raycluster", help="scenario name (default raycluster)")
    demo.add_argument("--list", action="store_true", help="list the scenarios")
    return parser


async def _sandbox_up(args: argparse.Namespace) -> int:
    from kuberay_py.sandbox.server import Sandbox, SandboxConfig

    sandbox = Sandbox(
        SandboxConfig(
            port=args.port,
            data_dir=args.data_dir,
            nodes=args.nodes,
            node_cpu=args.node_cpu,
            node_memory=args.node_memory,
            time_scale=args.time_scale,
            audit_log=args.audit_log,
            kubeconfig_out=os.path.abspath(args.kubeconfig_out),
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sandbox.start()
    except OSError as exc:
        print(f"error: cannot start the sandbox: {exc}", file=sys.stderr)
        await sandbox.stop()
        return 1
    # Everything allocated so far lives as long as the process: keep it out of the cyclic
    # collector's full passes, which otherwise stall large LISTs by 100 ms or more.
    gc.freeze()
    operator: asyncio.Task[int] | None = None
    if args.operator:
        assert sandbox.kubeconfig_path is not None  # --kubeconfig-out is required
        # The CRDs go in before the ready line: a script that applies a RayCluster right
        # after reading it must not meet "the server could not find the requested resource".
        client = await _client_with_crds(sandbox.kubeconfig_path)
        operator = asyncio.create_task(_operator_on_sandbox(client, stop))
    print(f"sandbox ready: server={sandbox.url} kubeconfig={sandbox.kubeconfig_path}", flush=True)
    await stop.wait()
    code = 0
    if operator is not None:
        code = await operator
    await sandbox.stop()
    return code


async def _client_with_crds(kubeconfig: str) -> KubeClient:
    from kuberay_py.controllers.install import install_crds
    from kuberay_py.kube import KubeClient

    client = await KubeClient.from_config(kubeconfig)
    await install_crds(client)
    return client


async def _operator_on_sandbox(client: KubeClient, stop: asyncio.Event) -> int:
    """The operator beside the sandbox, reconciling until `stop`."""
    from kuberay_py.api.config import OperatorConfig
    from kuberay_py.controllers.setup import OperatorOptions, run_operator

    try:
        options = OperatorOptions(
            config=OperatorConfig.from_env(os.environ), metrics_address=None, health_address=None
        )
        return await run_operator(client, options, handle_signals=False, stop=stop)
    finally:
        await client.close()


async def _operator(args: argparse.Namespace) -> int:
    from kubernetes_asyncio.config.config_exception import ConfigException

    from kuberay_py.api.config import OperatorConfig
    from kuberay_py.controllers.setup import OperatorOptions, run_operator
    from kuberay_py.kube import KubeClient

    overrides: dict[str, Any] = {}
    if args.probe_injection is not None:
        overrides["enable_probes_injection"] = args.probe_injection
    if args.gcs_ft_deletion_timeout_seconds is not None:
        overrides["gcs_ft_deletion_timeout_seconds"] = args.gcs_ft_deletion_timeout_seconds
    if args.redis_cleanup_job_resources is not None:
        overrides["redis_cleanup_job_resources"] = args.redis_cleanup_job_resources
    options = OperatorOptions(
        config=OperatorConfig.from_env(os.environ, **overrides),
        namespaces=tuple(args.namespace or ()),
        leader_elect=args.leader_elect,
        lease_namespace=args.leader_election_namespace,
        metrics_address=args.metrics_bind_address,
        health_address=args.health_probe_bind_address,
        max_concurrent_reconciles=args.max_concurrent_reconciles,
    )
    try:
        client = await KubeClient.from_config(args.kubeconfig)
    except (OSError, ConfigException) as exc:
        print(f"error: cannot load the Kubernetes configuration: {exc}", file=sys.stderr)
        return 1
    try:
        return await run_operator(client, options)
    finally:
        await client.close()


def _manifests() -> int:
    from kuberay_py.api.crd import render_crds

    sys.stdout.write(render_crds())
    return 0


async def _demo(args: argparse.Namespace) -> int:
    from kuberay_py.demo import run_scenario, scenario_names

    if args.list:
        for name in scenario_names():
            print(name)
        return 0
    if args.scenario not in scenario_names():
        print(
            f"error: unknown scenario {args.scenario!r}; choose one of: "
            + ", ".join(scenario_names()),
            file=sys.stderr,
        )
        return 2
    return await run_scenario(args.scenario, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    if args.command == "sandbox":
        return asyncio.run(_sandbox_up(args))
    if args.command == "demo":
        return asyncio.run(_demo(args))
    if args.command == "operator":
        return asyncio.run(_operator(args))
    if args.command == "manifests":
        return _manifests()
    raise AssertionError(f"unhandled command {args.command}")
