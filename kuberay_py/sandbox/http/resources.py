"""Handlers for /api/v1/... and /apis/G/V/...: the REST verbs over the registry.

Each handler turns one parsed request (`RequestInfo`) into one registry call
and one orjson-encoded reply. Everything a client can get wrong (bodies,
kinds, names, namespaces, parameters) is rejected here or by the registry
with kube's Status; nothing here mutates a stored object.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kuberay_py.sandbox.http import codec, options
from kuberay_py.sandbox.http.codec import TABLE_CONTENT_TYPE, json_response
from kuberay_py.sandbox.http.context import ApiContext
from kuberay_py.sandbox.http.requestinfo import RequestInfo
from kuberay_py.sandbox.registry import errors, patching, printers
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.types import PATCH_CONTENT_TYPES, WriteOptions

Obj = dict[str, Any]

# Subresource -> the kube verbs it serves (proxy is handled apart, any method).
_SUBRESOURCE_VERBS: dict[str, frozenset[str]] = {
    "status": frozenset({"get", "update", "patch"}),
    "scale": frozenset({"get", "update", "patch"}),
    "ephemeralcontainers": frozenset({"get", "update", "patch"}),
    "binding": frozenset({"create"}),
    "eviction": frozenset({"create"}),
    "log": frozenset({"get"}),
    "finalize": frozenset({"update"}),
}
_UNSUPPORTED_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})
_SUCCESS_201 = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Success",
    "code": 201,
}


# Kinds whose REST storage sets ReturnDeletedObject: an immediate DELETE answers with the
# object. Every other kind answers a finished delete with a Status (Success, details with
# name, group, resource and uid), which is what kubectl's --wait reads the uid from.
RETURN_DELETED_OBJECT = frozenset(
    {
        ("", "pods"),
        ("", "services"),
        ("", "serviceaccounts"),
        ("", "namespaces"),
        ("", "persistentvolumeclaims"),
        ("", "persistentvolumes"),
        ("storage.k8s.io", "storageclasses"),
    }
)


def deleted_status(rt: ResourceType, obj: Obj) -> Obj:
    """kube-apiserver's answer to a DELETE that removed the object at once."""
    meta = obj.get("metadata") or {}
    details: Obj = {"name": meta.get("name", "")}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.resource
    if meta.get("uid"):
        details["uid"] = meta["uid"]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def method_not_allowed() -> StatusError:
    return errors.method_not_allowed(
        "the server does not allow this method on the requested resource"
    )


async def read_body(request: web.Request, ctx: ApiContext) -> bytes:
    """The raw body, refusing anything over ctx.max_body_bytes with 413."""
    limit = ctx.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise errors.too_large(f"Request entity too large: limit is {limit}")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.too_large(f"Request entity too large: limit is {limit}") from None
    if len(raw) > limit:
        raise errors.too_large(f"Request entity too large: limit is {limit}")
    return raw


def check_verb(info: RequestInfo, rt: ResourceType) -> None:
    """404 for an unknown subresource / wrong scope, 405 for a verb the resource lacks."""
    sub = info.subresource
    if rt.namespaced:
        if info.namespace is None and info.verb not in ("list", "watch", "deletecollection"):
            raise codec.not_found_path()
        if info.namespace is None and info.verb == "deletecollection":
            raise codec.not_found_path()
    elif info.namespace is not None and rt.resource != "namespaces":
        raise codec.not_found_path()
    if sub is None:
        if info.verb == "create" and info.name is not None:
            raise method_not_allowed()
        if info.verb in ("update", "patch") and info.name is None:
            raise method_not_allowed()
        if info.verb not in rt.verbs:
            raise method_not_allowed()
        return
    if sub not in rt.subresources:
        raise codec.not_found_path()
    if sub in _UNSUPPORTED_SUBRESOURCES:
        raise errors.bad_request(
            f"{rt.resource}/{sub} is not supported by the sandbox (no container runtime "
            f"streams): use the pod's logs or its proxy subresource instead"
        )
    allowed = _SUBRESOURCE_VERBS.get(sub)
    if allowed is not None and info.verb not in allowed:
        raise method_not_allowed()


def _check_type(rt: ResourceType, obj: Any, expect_kind: str, expect_api_version: str) -> Obj:
    """The body must be an object of the URL's kind and apiVersion (missing ones are filled)."""
    if not isinstance(obj, dict):
        raise errors.bad_request(
            f"the request body must be a {expect_kind} object, not a JSON {type(obj).__name__}"
        )
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind is None or kind == "":
        obj["kind"] = expect_kind
    elif not isinstance(kind, str) or kind != expect_kind:
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({expect_kind})"
        )
    if api_version is None or api_version == "":
        obj["apiVersion"] = expect_api_version
    elif not isinstance(api_version, str) or api_version != expect_api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({expect_api_version})"
        )
    return obj


def _check_meta(obj: Obj, info: RequestInfo, rt: ResourceType, need_name: bool) -> None:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    ns = meta.get("namespace")
    if rt.namespaced and info.namespace is not None and ns not in (None, info.namespace, ""):
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if need_name and info.name is not None:
        name = meta.get("name")
        if name in (None, ""):
            meta["name"] = info.name
        elif name != info.name:
            raise errors.bad_request(
                f"the name of the object ({name}) does not match the name on the URL ({info.name})"
            )


def _include_object(query: Any) -> str:
    value = query.get("includeObject") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise errors.bad_request(
            f"includeObject: Unsupported value: {value!r}: supported values: None, Metadata, Object"
        )
    return str(value)


def to_scale(rt: ResourceType, obj: Obj) -> Obj:
    """autoscaling/v1 Scale of a workload (spec.replicas, status.replicas, selector)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    selector = status.get("selector")
    if not isinstance(selector, str):
        match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector},
    }


class ResourceHandlers:
    """The verbs of the REST API over `ctx.registry`."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.registry = ctx.registry

    # -- reads -----------------------------------------------------------------------------

    def get(self, request: web.Request, info: RequestInfo, rt: ResourceType) -> web.Response:
        assert info.name is not None
        obj = self.registry.get(rt, info.registry_namespace, info.name)
        if info.subresource == "scale":
            return json_response(to_scale(rt, obj))
        if info.subresource is None and codec.wants_table(request.headers.get("Accept")):
            table = printers.to_table(
                rt,
                [obj],
                include_object=_include_object(request.query),
                resource_version=str((obj.get("metadata") or {}).get("resourceVersion", "")),
            )
            return json_response(table, content_type=TABLE_CONTENT_TYPE)
        return json_response(obj)

    def list(self, request: web.Request, info: RequestInfo, rt: ResourceType) -> web.Response:
        query = request.query
        result = self.registry.list(rt, info.registry_namespace, options.list_options(query))
        rv = str(result.resource_version)
        if codec.wants_table(request.headers.get("Accept")):
            table = printers.to_table(
                rt,
                result.items,
                include_object=_include_object(query),
                resource_version=rv,
                continue_token=result.continue_token,
            )
            if result.remaining_item_count is not None:
                table["metadata"]["remainingItemCount"] = result.remaining_item_count
            return json_response(table, content_type=TABLE_CONTENT_TYPE)
        meta: Obj = {"resourceVersion": rv}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining_item_count is not None:
            meta["remainingItemCount"] = result.remaining_item_count
        return json_response(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": result.items,
            }
        )

    def log(self, info: RequestInfo, rt: ResourceType, query: Any) -> web.Response:
        assert info.name is not None and info.namespace is not None
        pod = self.registry.get(rt, info.registry_namespace, info.name)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or ()]
        container = query.get("container") or None
        if container is not None and container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {info.name}")
        if container is None and len(containers) > 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {info.name}, choose one of: "
                f"[{' '.join(str(c) for c in containers)}]"
            )
        text = ""
        if self.ctx.log_source is not None:
            text = self.ctx.log_source(
                info.namespace, info.name, container or (containers or [None])[0]
            )
        tail = codec.go_int("tailLines", query.get("tailLines"))
        if tail is not None and tail >= 0:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail else ""
        return web.Response(text=text, content_type="text/plain")

    # -- writes ----------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        raw = await read_body(request, self.ctx)
        return codec.decode_body(raw, request.headers.get("Content-Type"))

    async def create(
        self, request: web.Request, info: RequestInfo, rt: ResourceType
    ) -> web.Response:
        opts = options.write_options(request.query)
        body = await self._body(request)
        if info.subresource == "binding":
            return self._bind(info, rt, body, opts)
        if info.subresource == "eviction":
            return self._evict(info, rt, body)
        obj = _check_type(rt, body, rt.kind, rt.api_version)
        _check_meta(obj, info, rt, need_name=False)
        created = self.registry.create(rt, info.registry_namespace, obj, opts)
        return json_response(created, status=201)

    def _bind(
        self, info: RequestInfo, rt: ResourceType, body: Any, opts: WriteOptions
    ) -> web.Response:
        assert info.name is not None
        binding = _check_type(rt, body, "Binding", "v1")
        _check_meta(binding, info, rt, need_name=True)
        self.registry.update(rt, info.registry_namespace, info.name, binding, "binding", opts)
        return json_response(_SUCCESS_201, status=201)

    def _evict(self, info: RequestInfo, rt: ResourceType, body: Any) -> web.Response:
        assert info.name is not None
        if not isinstance(body, dict):
            raise errors.bad_request("the Eviction body must be a JSON object")
        kind = body.get("kind")
        if kind not in (None, "Eviction"):
            raise errors.bad_request(f"the kind in the data ({kind}) does not match Eviction")
        delete_opts = options.delete_options({}, body.get("deleteOptions"))
        self.registry.delete(rt, info.registry_namespace, info.name, delete_opts)
        return json_response(_SUCCESS_201, status=201)

    async def update(
        self, request: web.Request, info: RequestInfo, rt: ResourceType
    ) -> web.Response:
        assert info.name is not None
        opts = options.write_options(request.query)
        body = await self._body(request)
        sub = info.subresource
        if sub == "scale":
            scale = _check_type(rt, body, "Scale", "autoscaling/v1")
            _check_meta(scale, info, rt, need_name=True)
            updated = self.registry.update(rt, info.registry_namespace, info.name, scale, sub, opts)
            return json_response(to_scale(rt, updated))
        obj = _check_type(rt, body, rt.kind, rt.api_version)
        _check_meta(obj, info, rt, need_name=True)
        try:
            updated = self.registry.update(rt, info.registry_namespace, info.name, obj, sub, opts)
        except StatusError as exc:
            if not (exc.code == 404 and sub is None and rt.create_on_update):
                raise
            created = self.registry.create(rt, info.registry_namespace, obj, opts)
            return json_response(created, status=201)
        return json_response(updated)

    async def patch(
        self, request: web.Request, info: RequestInfo, rt: ResourceType
    ) -> web.Response:
        assert info.name is not None
        content_type = request.headers.get("Content-Type", "")
        patch_type = PATCH_CONTENT_TYPES.get(codec.media_type(content_type))
        if patch_type is None:
            raise errors.unsupported_media_type(content_type)
        opts = options.write_options(request.query)
        raw = await read_body(request, self.ctx)
        if patch_type == "apply" and codec.media_type(content_type).endswith("cbor"):
            raise errors.unsupported_media_type(content_type)
        body = codec.decode_body(
            raw, "application/apply-patch+yaml" if patch_type == "apply" else "application/json"
        )
        if patch_type == "apply":
            body = _check_type(rt, body, rt.kind, rt.api_version)
            _check_meta(body, info, rt, need_name=True)
        if info.subresource == "scale":
            return self._patch_scale(info, rt, patch_type, body, opts)
        obj, created = self.registry.patch(
            rt, info.registry_namespace, info.name, patch_type, body, info.subresource, opts
        )
        return json_response(obj, status=201 if created else 200)

    def _patch_scale(
        self, info: RequestInfo, rt: ResourceType, patch_type: str, body: Any, opts: WriteOptions
    ) -> web.Response:
        assert info.name is not None
        current = to_scale(rt, self.registry.get(rt, info.registry_namespace, info.name))
        if patch_type == "json":
            patched = patching.apply_json_patch(current, body)
        else:
            patched = patching.apply_merge_patch(current, body)
        updated = self.registry.update(
            rt, info.registry_namespace, info.name, patched, "scale", opts
        )
        return json_response(to_scale(rt, updated))

    async def delete(
        self, request: web.Request, info: RequestInfo, rt: ResourceType
    ) -> web.Response:
        assert info.name is not None
        raw = await read_body(request, self.ctx)
        body = codec.decode_body(raw, "application/json") if raw.strip() else None
        delete_opts = options.delete_options(request.query, body)
        obj = self.registry.delete(rt, info.registry_namespace, info.name, delete_opts)
        if (rt.group, rt.resource) in RETURN_DELETED_OBJECT or self._still_there(
            rt, info, obj, delete_opts.dry_run
        ):
            return json_response(obj)
        return json_response(deleted_status(rt, obj))

    def _still_there(self, rt: ResourceType, info: RequestInfo, obj: Obj, dry_run: bool) -> bool:
        """Whether the delete is pending (finalizers, grace period) rather than done."""
        meta = obj.get("metadata") or {}
        if dry_run:
            grace = meta.get("deletionGracePeriodSeconds") or 0
            return bool(meta.get("finalizers")) or grace > 0
        assert info.name is not None
        try:
            current = self.registry.get(rt, info.registry_namespace, info.name)
        except StatusError as exc:
            if exc.code == 404:
                return False
            raise
        return bool((current.get("metadata") or {}).get("uid") == meta.get("uid"))

    async def delete_collection(
        self, request: web.Request, info: RequestInfo, rt: ResourceType
    ) -> web.Response:
        raw = await read_body(request, self.ctx)
        body = codec.decode_body(raw, "application/json") if raw.strip() else None
        delete_opts = options.delete_options(request.query, body)
        list_opts = options.list_options(request.query)
        deleted = self.registry.delete_collection(
            rt, info.registry_namespace, list_opts, delete_opts
        )
        return json_response(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.registry.resource_version)},
                "items": deleted,
            }
        )
