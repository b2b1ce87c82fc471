"""Example operator on kuberay-py's public runtime API: mirror labelled ConfigMaps.

Every ConfigMap labelled `mirror=true` gets a copy named `<name>-mirror` in the same
namespace, owned by the source (so the garbage collector deletes it with the source),
kept equal to the source's data, and deleted when the label is removed.

    python examples/configmap_mirror.py --kubeconfig ~/.kube/config [--leader-elect]

It shows the whole public surface: a Manager with probes, metrics and optional leader
election; a builder with `for_` (a narrow, label-selected informer) and `owns`; a
reconciler that reads only from the cache and writes only differences (a second
reconcile of an unchanged object sends no request); Events; and a clean exit on
SIGTERM (non-zero if the lease is lost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from kuberay_py.kube import CONFIGMAPS, AlreadyExists, KubeClient, NotFound
from kuberay_py.runtime import (
    ControllerBuilder,
    EventRecorder,
    LeaderElectionConfig,
    LeaderElectionLost,
    Manager,
    Request,
    Result,
)

SOURCE_SELECTOR = "mirror=true"
MIRROR_OF = "example.kuberay-py.dev/mirror-of"
SUFFIX = "-mirror"


def desired_mirror(source: dict[str, Any]) -> dict[str, Any]:
    """The mirror a source ConfigMap should have (pure: no I/O)."""
    meta = source["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": meta["name"] + SUFFIX,
            "namespace": meta["namespace"],
            "labels": {MIRROR_OF: meta["name"]},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": dict(source.get("data") or {}),
    }


class MirrorReconciler:
    """Converges `<name>-mirror` on the source's data; reads the cache, writes differences."""

    def __init__(self, mgr: Manager, client: KubeClient, recorder: EventRecorder) -> None:
        self.mgr = mgr
        self.client = client
        self.recorder = recorder

    async def reconcile(self, request: Request) -> Result | None:
        cache = self.mgr.cache
        source = cache.get(
            CONFIGMAPS, request.name, request.namespace, label_selector=SOURCE_SELECTOR
        )
        mirror_name = request.name + SUFFIX
        current = cache.get(CONFIGMAPS, mirror_name, request.namespace, label_selector=MIRROR_OF)
        if source is None:
            # Deleted, or no longer labelled: the mirror must go (the GC handles deletes,
            # an unlabelled source is ours to clean up).
            if current is not None:
                with contextlib.suppress(NotFound):
                    await self.client.delete(CONFIGMAPS, mirror_name, request.namespace)
            return None
        want = desired_mirror(source)
        if current is None:
            try:
                await self.client.create(CONFIGMAPS, want, request.namespace)
            except AlreadyExists:
                return Result(requeue=True)  # the cache has not seen it yet
            await self.recorder.publish(
                source, reason="Mirrored", note=f"created {mirror_name}", action="Create"
            )
            return None
        if (current.get("data") or {}) != want["data"]:
            update = {**current, "data": want["data"]}  # a new dict: never mutate the cache
            await self.client.replace(CONFIGMAPS, update, request.namespace)  # 409 -> retried
        return None


def setup(mgr: Manager, client: KubeClient, *, max_concurrent_reconciles: int = 4) -> None:
    """Register the mirror controller with a manager (what an embedding operator calls)."""
    reconciler = MirrorReconciler(mgr, client, mgr.event_recorder("configmap-mirror"))
    (
        ControllerBuilder(mgr)
        .named("configmap-mirror")
        .for_(CONFIGMAPS, label_selector=SOURCE_SELECTOR)
        .owns(CONFIGMAPS, label_selector=MIRROR_OF)
        .with_options(max_concurrent_reconciles=max_concurrent_reconciles)
        .complete(reconciler)
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster or ~/.kube)")
    parser.add_argument("--namespace", action="append", help="watch only these (repeatable)")
    parser.add_argument("--metrics-bind-address", default="127.0.0.1:8080")
    parser.add_argument("--health-probe-bind-address", default="127.0.0.1:8081")
    parser.add_argument("--leader-elect", action="store_true")
    parser.add_argument("--leader-election-namespace", default="default")
    parser.add_argument("--max-concurrent-reconciles", type=int, default=4)
    args = parser.parse_args(argv)

    client = await KubeClient.from_config(args.kubeconfig)
    election = (
        LeaderElectionConfig("configmap-mirror", args.leader_election_namespace)
        if args.leader_elect
        else None
    )
    mgr = Manager(
        client,
        namespaces=args.namespace,
        metrics_address=args.metrics_bind_address or None,
        health_address=args.health_probe_bind_address or None,
        leader_election=election,
    )
    setup(mgr, client, max_concurrent_reconciles=args.max_concurrent_reconciles)
    try:
        await mgr.run()
    except LeaderElectionLost as exc:
        print(f"leader election lost: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. a metrics or health port already in use
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
