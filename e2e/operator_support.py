"""Shared pieces of the operator compatibility tests: runtime, client identities, helpers.

The fixtures themselves live in e2e/operator_fixtures.py (a plugin loaded with
`pytest_plugins`); test modules import what they assert with from here.

The operator's client keeps the default `kuberay-py/<version>` User-Agent; the
test's own client identifies itself as `TEST_USER_AGENT`, so counting the
operator's writes in the audit log never counts the test's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import kubernetes_validate
from prometheus_client import REGISTRY

from kuberay_py.api.constants import NODE_TYPE_REDIS_CLEANUP, RAY_NODE_TYPE_LABEL
from kuberay_py.kube import (
    EVENTS_V1,
    INGRESSES,
    JOBS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    RAYCLUSTERS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    KubeClient,
    NotFound,
    Resource,
)
from kuberay_py.runtime.testing import eventually
from kuberay_py.sandbox.containers.base import ContainerContext, ContainerHandle, ContainerRuntime
from kuberay_py.sandbox.containers.noop import NoopContainer, NoopRuntime
from kuberay_py.sandbox.http.audit import count_requests
from kuberay_py.sandbox.server import Sandbox

#: As e2e/conftest.py: fast, but every simulated step still ordered.
TIME_SCALE = 0.05
TEST_USER_AGENT = "compat-e2e/1.0"
OPERATOR_USER_AGENT_PREFIX = "kuberay-py/"
Obj = dict[str, Any]


class CleanupRuntime:
    """The sandbox's default runtime, with the Redis cleanup script under test control.

    The default (`RayNodeRuntime`) already lets `wait-gcs-ready` exit once the head runs
    and the cleanup container exit 0 at once. The cleanup's environment is a copy of the
    head's, so the noop runtime's exit switches cannot target it alone; instead the Job's
    container here exits `exit_code` after `run_seconds` simulated seconds (0: the
    storage namespace was wiped), or runs forever when `exit_code` is None (Redis
    unreachable, the script still retrying). Everything else goes to `inner`.
    """

    def __init__(self) -> None:
        self.inner: ContainerRuntime = NoopRuntime()
        self.exit_code: int | None = 0
        self.run_seconds = 0.0
        self.starts = 0

    async def start(self, ctx: ContainerContext) -> ContainerHandle:
        labels = (ctx.pod.get("metadata") or {}).get("labels") or {}
        if labels.get(RAY_NODE_TYPE_LABEL) != NODE_TYPE_REDIS_CLEANUP:
            return await self.inner.start(ctx)
        self.starts += 1
        if self.exit_code is None:
            return NoopContainer(None, 0)
        seconds = ctx.clock.scaled(self.run_seconds) if ctx.clock else self.run_seconds
        return NoopContainer(seconds, self.exit_code)

    async def probe(self, ctx: ContainerContext, handle: ContainerHandle, probe: Obj) -> bool:
        return await self.inner.probe(ctx, handle, probe)

    async def stop(self, ctx: ContainerContext, handle: ContainerHandle, grace: float) -> int:
        return await self.inner.stop(ctx, handle, grace)


class OperatorSandbox(NamedTuple):
    sandbox: Sandbox
    kubeconfig: str
    client: KubeClient


@attrs.frozen
class KubectlResult:
    code: int
    out: str
    err: str

    def check(self) -> KubectlResult:
        assert self.code == 0, f"kubectl failed ({self.code}):\n{self.err}\n{self.out}"
        return self


Kubectl = Callable[..., Awaitable[KubectlResult]]


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    """True when `obj` has an ownerReference to the object with `uid`."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(ref.get("uid") == uid for ref in refs)


# ---------------------------------------------------------------- helpers for the tests

NAMESPACE = "default"
SAMPLES = Path(__file__).resolve().parents[1] / "manifests" / "samples"
#: Every kind KubeRay's RayCluster controller creates (reference section 1.2 and 1.11).
CREATED_KINDS: tuple[Resource, ...] = (
    PODS,
    SERVICES,
    JOBS,
    SERVICEACCOUNTS,
    ROLES,
    ROLEBINDINGS,
    SECRETS,
    INGRESSES,
    PERSISTENTVOLUMECLAIMS,
    EVENTS_V1,
)


def operator_requests(sb: Sandbox, **filters: Any) -> int:
    """Requests the operator (User-Agent `kuberay-py/...`) sent, per `count_requests`."""
    return count_requests(
        sb.audit_events(), user_agent_prefix=OPERATOR_USER_AGENT_PREFIX, **filters
    )


def operator_writes(sb: Sandbox) -> list[dict[str, Any]]:
    """Audit events of every write the operator sent (any verb that is not a read)."""
    return [
        e
        for e in sb.audit_events()
        if str(e.get("userAgent") or "").startswith(OPERATOR_USER_AGENT_PREFIX)
        and e.get("verb") not in ("get", "list", "watch")
    ]


def operator_creates(sb: Sandbox, namespace: str = NAMESPACE) -> Counter[Resource]:
    """Successful creates by the operator in `namespace`, by resource."""
    by_ref = {(r.group, r.version, r.plural): r for r in CREATED_KINDS}
    counts: Counter[Resource] = Counter()
    for event in sb.audit_events():
        ref = event.get("objectRef") or {}
        if (
            event.get("verb") != "create"
            or ref.get("subresource")
            or ref.get("namespace") != namespace
            or (event.get("responseStatus") or {}).get("code") != 201
            or not str(event.get("userAgent") or "").startswith(OPERATOR_USER_AGENT_PREFIX)
        ):
            continue
        key = (ref.get("apiGroup", ""), ref.get("apiVersion", ""), ref.get("resource", ""))
        assert key in by_ref, f"the operator created a kind nobody expects: {key}"
        counts[by_ref[key]] += 1
    return counts


async def objects_of(
    client: KubeClient, resource: Resource, namespace: str = NAMESPACE, **kw: Any
) -> list[dict[str, Any]]:
    """A LIST's items with apiVersion and kind filled in, as a GET returns them."""
    items = (await client.list(resource, namespace, **kw))["items"]
    return [{"apiVersion": resource.api_version, "kind": resource.kind, **o} for o in items]


def about(obj: dict[str, Any], uid: str) -> bool:
    """The object belongs to the object with `uid`: an owner reference, or an Event about it."""
    regarding = obj.get("regarding") or obj.get("involvedObject") or {}
    return owned_by(obj, uid) or regarding.get("uid") == uid


def condition(cluster: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (cluster.get("status") or {}).get("conditions") or ():
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def condition_is(cluster: dict[str, Any], ctype: str, status: str, reason: str) -> bool:
    cond = condition(cluster, ctype)
    return cond is not None and cond.get("status") == status and cond.get("reason") == reason


def ready_with_kuberay_conditions(cluster: dict[str, Any]) -> bool:
    """KubeRay e2e's "ready": state ready, head pod ready, provisioned (reference 7.7)."""
    return (
        (cluster.get("status") or {}).get("state") == "ready"
        and condition_is(cluster, "HeadPodReady", "True", "HeadPodRunningAndReady")
        and condition_is(cluster, "RayClusterProvisioned", "True", "AllPodRunningAndReadyFirstTime")
    )


def show(cluster: dict[str, Any] | None) -> str:
    """A cluster's status and metadata for assertion messages."""
    if cluster is None:
        return "<no RayCluster>"
    meta = cluster.get("metadata") or {}
    brief = {
        "resourceVersion": meta.get("resourceVersion"),
        "generation": meta.get("generation"),
        "finalizers": meta.get("finalizers"),
        "deletionTimestamp": meta.get("deletionTimestamp"),
        "status": cluster.get("status"),
    }
    return json.dumps(brief, indent=1, sort_keys=True)


async def wait_for_cluster(
    client: KubeClient,
    name: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    *,
    namespace: str = NAMESPACE,
    timeout: float = 30,
) -> dict[str, Any]:
    """Poll the RayCluster until `check` holds; fail saying `what` and the last status."""
    last: dict[str, Any] | None = None

    async def probe() -> dict[str, Any] | None:
        nonlocal last
        try:
            last = await client.get(RAYCLUSTERS, name, namespace)
        except NotFound:
            last = None
            return None
        return last if check(last) else None

    try:
        found: dict[str, Any] = await eventually(probe, timeout=timeout, interval=0.05)
    except AssertionError:
        raise AssertionError(
            f"RayCluster {namespace}/{name}: {what} not reached in {timeout}s; last seen:\n"
            f"{show(last)}"
        ) from None
    return found


async def events_about(client: KubeClient, uid: str, namespace: str = NAMESPACE) -> list[Obj]:
    return [e for e in await objects_of(client, EVENTS_V1, namespace) if about(e, uid)]


#: The Kubernetes version every object the operator writes must be valid for (issue 5.7).
KUBERNETES_VERSION = "1.33"


def assert_valid_kubernetes(obj: Obj) -> None:
    """Strict schema validation (no unknown fields) of an object as the API server
    returns it. Server-set fields (uid, resourceVersion, creationTimestamp, status, ...)
    are kept: they are part of kube's own schema, so nothing needs stripping."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise AssertionError(
            f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')} is not valid "
            f"Kubernetes {KUBERNETES_VERSION}: {path}: {exc.message}"
        ) from None


async def validate_everything_the_operator_created(
    sb: Sandbox, client: KubeClient, uid: str, namespace: str = NAMESPACE
) -> dict[str, int]:
    """Find each object the operator created (kinds from the audit log's creates, objects
    by owner reference or Event subject), check the count against the creates and
    validate each one; returns kind -> objects validated."""
    checked: dict[str, int] = {}
    for resource, count in operator_creates(sb, namespace).items():
        mine = [o for o in await objects_of(client, resource, namespace) if about(o, uid)]
        assert len(mine) == count, (
            f"{count} {resource.label} created by the operator, {len(mine)} found: "
            f"{[o['metadata']['name'] for o in mine]}"
        )
        for obj in mine:
            assert_valid_kubernetes(obj)
        checked[resource.kind] = len(mine)
    return checked


def reconciles(controller: str) -> float:
    """controller_runtime_reconcile_total for `controller`, all results (global registry:
    the in-process operator's Manager uses it)."""
    return sum(
        REGISTRY.get_sample_value(
            "controller_runtime_reconcile_total", {"controller": controller, "result": result}
        )
        or 0.0
        for result in ("success", "error", "requeue", "requeue_after")
    )


async def passes(count: int) -> None:
    """Wait until the RayCluster controller has run `count` more reconciles."""
    target = reconciles("raycluster") + count
    await eventually(lambda: reconciles("raycluster") >= target, timeout=20, interval=0.02)
