"""The RayCluster's objects other than Pods: autoscaler RBAC, Ingress, auth Secret, Services.

KubeRay's order, each step create-once (only the Ingress is ever updated): autoscaler
ServiceAccount, Role, RoleBinding; Ingress; auth Secret; head Service; headless worker
Service; serve Service. Existence is read from the cache, so a pass over a converged
cluster sends nothing. Every step raises ReconcileError to stop the pass.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Any, NoReturn

from kuberay_py.api.constants import (
    AUTH_MODE_TOKEN,
    NODE_TYPE_HEAD,
    RAY_CLUSTER_LABEL,
    RAY_ID_LABEL,
    RAY_NODE_TYPE_LABEL,
)
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.builders.auth import auth_secret_name, build_auth_secret
from kuberay_py.builders.autoscaler import is_autoscaling_enabled
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.ingress import build_head_ingress
from kuberay_py.builders.meta import controller_ref
from kuberay_py.builders.names import check_label, serve_service_name
from kuberay_py.builders.rbac import (
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
    user_named_service_account,
)
from kuberay_py.builders.services import (
    build_head_service,
    build_headless_worker_service,
    build_serve_service_for_raycluster,
    needs_headless_worker_service,
    serve_service_enabled,
)
from kuberay_py.controllers.raycluster_context import (
    ClusterContext,
    ReconcileError,
    error_text,
)
from kuberay_py.kube import (
    INGRESSES,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    AlreadyExists,
    ApiError,
    Resource,
)

__all__ = ["SECRET_SELECTOR", "TokenFactory", "random_token", "reconcile_children"]

Obj = dict[str, Any]
TokenFactory = Callable[[], str]

#: The auth Secret informer's selector: our Secrets carry the cluster label, and the
#: operator has no business caching every Secret of the cluster.
SECRET_SELECTOR = RAY_CLUSTER_LABEL


def random_token() -> str:
    """32 random bytes, base64: KubeRay's generated auth token."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _owned(obj: Obj, c: RayCluster) -> Obj:
    """`obj` with the cluster as controller owner (builders set it; this is a guard)."""
    meta = dict(obj.get("metadata") or {})
    if not meta.get("ownerReferences"):
        meta["ownerReferences"] = [controller_ref(c)]
    meta["namespace"] = c.namespace
    return {**obj, "metadata": meta}


def _controlled_by(obj: Obj, c: RayCluster) -> bool:
    uid = c.metadata.get("uid")
    return any(
        ref.get("controller") and ref.get("uid") == uid
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or ()
    )


async def reconcile_children(ctx: ClusterContext, token: TokenFactory = random_token) -> None:
    if is_autoscaling_enabled(ctx.cluster):
        await _service_account(ctx)
        await _create_once(ctx, ROLES, build_autoscaler_role(ctx.cluster), "Role", "role")
        await _create_once(
            ctx, ROLEBINDINGS, build_autoscaler_role_binding(ctx.cluster), "RoleBinding",
            "role binding",
        )  # fmt: skip
    if ctx.cluster.spec.head_group_spec.enable_ingress:
        await _ingress(ctx)
    await _auth_secret(ctx, token)
    await _head_service(ctx)
    await _headless_service(ctx)
    await _serve_service(ctx)


# ---------------------------------------------------------------- autoscaler RBAC


async def _service_account(ctx: ClusterContext) -> None:
    c = ctx.cluster
    user_named = user_named_service_account(c)
    if user_named:
        # The user named the head's ServiceAccount: it is theirs to create (KubeRay #1128,
        # a ServiceAccount we made would break RayService upgrades).
        if ctx.get(SERVICEACCOUNTS, user_named) is not None:
            return
        actionable = (
            "If users specify ServiceAccountName for the head Pod, they need to create a "
            f"ServiceAccount themselves. However, ServiceAccount {user_named} is not found. "
            "Please create one. See the PR description of "
            "https://github.com/ray-project/kuberay/pull/1128 for more details."
        )
        await ctx.event(
            "AutoscalerServiceAccountNotFound",
            f"Failed to reconcile RayCluster {ctx.key}. {actionable}",
            "Validate",
            warning=True,
            once=True,
        )
        raise ReconcileError(f'serviceaccounts "{user_named}" not found')
    await _create_once(
        ctx, SERVICEACCOUNTS, build_autoscaler_service_account(c), "ServiceAccount",
        "service account",
    )  # fmt: skip


async def _create_once(
    ctx: ClusterContext, resource: Resource, desired: Obj, kind: str, words: str
) -> None:
    """Create `desired` unless the cache has an object of that name (KubeRay never
    updates these). Events `Created<kind>` / `FailedToCreate<kind>`."""
    name = _name(desired)
    if ctx.get(resource, name) is not None:
        return
    try:
        await ctx.client.create(resource, _owned(desired, ctx.cluster), ctx.namespace)
    except AlreadyExists:
        return  # the cache has not caught up
    except ApiError as exc:
        await ctx.event(
            f"FailedToCreate{kind}",
            f"Failed creating {words} {ctx.namespace}/{name}, {error_text(exc)}",
            "Create",
            warning=True,
        )
        raise ReconcileError(error_text(exc)) from exc
    await ctx.event(f"Created{kind}", f"Created {words} {ctx.namespace}/{name}", "Create")


# ---------------------------------------------------------------- ingress


def _ingress_needs_update(live: Obj, desired: Obj) -> Obj | None:
    """The updated Ingress, or None when labels, annotations and spec already match.
    A desired Ingress without a class adopts the live one (an admission plugin may
    have set the default class; clearing it would fight the API server forever)."""
    live_meta = live.get("metadata") or {}
    want_meta = desired.get("metadata") or {}
    spec = dict(desired.get("spec") or {})
    live_spec = live.get("spec") or {}
    if spec.get("ingressClassName") is None and live_spec.get("ingressClassName") is not None:
        spec["ingressClassName"] = live_spec["ingressClassName"]
    labels = dict(want_meta.get("labels") or {})
    annotations = dict(want_meta.get("annotations") or {})
    if (
        (live_meta.get("labels") or {}) == labels
        and (live_meta.get("annotations") or {}) == annotations
        and live_spec == spec
    ):
        return None
    meta = {**live_meta, "labels": labels, "annotations": annotations}
    return {**live, "metadata": meta, "spec": spec}


async def _ingress(ctx: ClusterContext) -> None:
    desired = _owned(build_head_ingress(ctx.cluster), ctx.cluster)
    name = _name(desired)
    live = ctx.get(INGRESSES, name)
    if live is None:
        await _create_once(ctx, INGRESSES, desired, "Ingress", "ingress")
        return
    where = f"{ctx.namespace}/{name}"
    if not _controlled_by(live, ctx.cluster):
        await ctx.event(
            "FailedToCreateIngress",
            f"Ingress {where} already exists and is not owned by this RayCluster; not modifying it",
            "Create",
            warning=True,
            once=True,
        )
        return
    updated = _ingress_needs_update(live, desired)
    if updated is None:
        return
    try:
        await ctx.client.replace(INGRESSES, updated, ctx.namespace)
    except ApiError as exc:
        await ctx.event(
            "FailedToUpdateIngress",
            f"Failed updating ingress {where}, {error_text(exc)}",
            "Update",
            warning=True,
        )
        raise ReconcileError(error_text(exc)) from exc
    await ctx.event("UpdatedIngress", f"Updated ingress {where}", "Update")


# ---------------------------------------------------------------- auth secret


async def _auth_secret(ctx: ClusterContext, token: TokenFactory) -> None:
    auth = ctx.cluster.spec.auth_options
    if (
        auth is None
        or auth.mode != AUTH_MODE_TOKEN
        or auth.enable_k8s_token_auth
        or auth.secret_name
    ):
        return
    name = auth_secret_name(ctx.cluster)
    if ctx.get(SECRETS, name, label_selector=SECRET_SELECTOR) is not None:
        return
    try:
        await ctx.client.create(
            SECRETS, _owned(build_auth_secret(ctx.cluster, token()), ctx.cluster), ctx.namespace
        )
    except AlreadyExists:
        return
    except ApiError as exc:
        raise ReconcileError(error_text(exc)) from exc


# ---------------------------------------------------------------- services


async def _ours_already(ctx: ClusterContext, resource: Resource, name: str) -> bool:
    """After AlreadyExists: is it the object we created a moment ago, which the cache
    does not show yet? (Then there is nothing to do and nothing to warn about.)"""
    try:
        live = await ctx.client.get(resource, name, ctx.namespace)
    except ApiError:
        return False
    return _controlled_by(live, ctx.cluster)


async def _create_service(ctx: ClusterContext, svc: Obj, *, events: bool = True) -> None:
    where = f"{ctx.namespace}/{_name(svc)}"
    try:
        await ctx.client.create(SERVICES, _owned(svc, ctx.cluster), ctx.namespace)
    except AlreadyExists as exc:
        if await _ours_already(ctx, SERVICES, _name(svc)):
            return
        await _failed_service(ctx, where, exc, events=events)
    except ApiError as exc:
        await _failed_service(ctx, where, exc, events=events)
    if events:
        await ctx.event("CreatedService", f"Created service {where}", "Create")


async def _failed_service(
    ctx: ClusterContext, where: str, exc: ApiError, *, events: bool
) -> NoReturn:
    if events:
        await ctx.event(
            "FailedToCreateService",
            f"Failed creating service {where}, {error_text(exc)}",
            "Create",
            warning=True,
        )
    raise ReconcileError(error_text(exc)) from exc


async def _head_service(ctx: ClusterContext) -> None:
    identifier = check_label(f"{ctx.name}-{NODE_TYPE_HEAD}")
    found = [
        s
        for s in ctx.cluster_services()
        if ((s.get("metadata") or {}).get("labels") or {}).get(RAY_NODE_TYPE_LABEL)
        == NODE_TYPE_HEAD
        and ((s.get("metadata") or {}).get("labels") or {}).get(RAY_ID_LABEL) == identifier
    ]
    if len(found) == 1:
        return
    if len(found) > 1:
        names = " ".join(sorted(_name(s) for s in found))
        raise ReconcileError(f"{len(found)} head service found [{names}]")
    svc = build_head_service(ctx.cluster, ctx.config)
    if not (svc.get("spec") or {}).get("ports"):
        raise ReconcileError(
            "ray head service does not have any ports set up. "
            f"Service specification: {svc.get('spec')}"
        )
    await _create_service(ctx, svc)


async def _headless_service(ctx: ClusterContext) -> None:
    if not needs_headless_worker_service(ctx.cluster):
        return
    if ctx.headless_services():
        return
    await _create_service(ctx, build_headless_worker_service(ctx.cluster))


async def _serve_service(ctx: ClusterContext) -> None:
    if not serve_service_enabled(ctx.cluster):
        return
    if ctx.service(serve_service_name(ctx.name)) is not None:
        return
    try:
        svc = build_serve_service_for_raycluster(ctx.cluster)
    except BuildError as exc:
        raise ReconcileError(str(exc)) from exc
    # KubeRay creates the serve Service without an Event.
    await _create_service(ctx, svc, events=False)
