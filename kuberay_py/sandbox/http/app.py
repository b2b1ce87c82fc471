"""The sandbox's Kubernetes API server as one aiohttp application.

`build_app(ctx)` returns an application with a single catch-all route:
`ApiServer.handle` resolves the URL itself (static endpoints by dict,
resources via requestinfo.parse and the catalog), applies fault rules,
calls the handler, and records metrics and the audit line for every
request, whatever happened. Any exception becomes a kube `Status` (500
InternalError for bugs, logged), so no input can crash the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from kuberay_py.sandbox.http import codec, discovery, sandbox_routes
from kuberay_py.sandbox.http.audit import AuditLog
from kuberay_py.sandbox.http.audit import now as audit_now
from kuberay_py.sandbox.http.codec import json_response, raw_json_response, status_response
from kuberay_py.sandbox.http.context import ApiContext
from kuberay_py.sandbox.http.faults import REQUEST_ACTIONS, FaultRule
from kuberay_py.sandbox.http.metrics import ApiMetrics
from kuberay_py.sandbox.http.proxy import Proxy
from kuberay_py.sandbox.http.requestinfo import RequestInfo, parse
from kuberay_py.sandbox.http.resources import ResourceHandlers, check_verb
from kuberay_py.sandbox.http.watch import serve_watch
from kuberay_py.sandbox.registry import errors
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError

log = structlog.get_logger("sandbox.http")

_FAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_FAULT_MESSAGES = {
    429: "the server has received too many requests and has asked us to try again later",
    500: "Internal error occurred: injected by a sandbox fault rule",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be "
    "processing the request",
}
AUDIT_VERBS = {"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}
APP_KEY: web.AppKey[ApiServer] = web.AppKey("sandbox_api_server")


def fault_error(rule: FaultRule) -> StatusError:
    """The Status an injected `status` fault answers with (429 always has Retry-After)."""
    code = rule.code
    retry_after = rule.retry_after
    if code == 429 and retry_after is None:
        retry_after = 1
    message = _FAULT_MESSAGES.get(code, f"injected fault: HTTP {code}")
    return StatusError(
        code, _FAULT_REASONS.get(code, "Unknown"), message, retry_after_seconds=retry_after
    )


class ApiServer:
    """Request dispatch, fault injection, metrics and audit around the handlers."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.catalog = ctx.catalog
        self.discovery = discovery.DiscoveryCache(ctx.catalog)
        self.metrics = ApiMetrics(ctx.metrics)
        self.audit = AuditLog(ctx.audit_log_path) if ctx.audit_log_path else None
        self.resources = ResourceHandlers(ctx)
        self.proxy = Proxy(ctx, ctx.rng)
        self._static: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            "/version": self._version,
            "/healthz": self._ok,
            "/livez": self._ok,
            "/readyz": self._ok,
            "/metrics": self._metrics,
            "/api": self._api,
            "/apis": self._apis,
            "/openapi/v3": self._openapi_index,
            "/openapi/v2": self._openapi_v2,
        }

    async def close(self) -> None:
        await self.proxy.close()
        if self.audit is not None:
            self.audit.close()

    # -- the one route ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        received = audit_now() if self.audit is not None else None
        raw = request.raw_path
        path = raw.split("?", 1)[0]
        info: RequestInfo | None = None
        watching = False
        try:
            if path.startswith(("/api/", "/apis/")):
                query_watch = False
                if request.method == "GET" and "watch" in request.query:
                    query_watch = bool(codec.go_bool("watch", request.query.get("watch")))
                info = parse(request.method, path, query_watch, self.catalog)
            if info is not None:
                watching = info.verb == "watch"
                response = await self._resource(request, info)
            else:
                response = await self._nonresource(request, path)
        except StatusError as err:
            response = status_response(err)
        except Exception as exc:  # a bug: answer 500, never crash the server
            log.exception("unhandled error serving request", method=request.method, path=raw)
            response = status_response(errors.internal_error(f"{type(exc).__name__}: {exc}"))
        self._record(request, info, response.status, started, received, watching)
        return response

    def _record(
        self,
        request: web.Request,
        info: RequestInfo | None,
        code: int,
        started: float,
        received: Any,
        watching: bool,
    ) -> None:
        if info is not None:
            verb = info.metrics_verb
            resource = info.resource
            sub = info.subresource or ""
        else:
            verb, resource, sub = request.method, "", ""
        self.metrics.observe(verb, resource, sub, code, time.perf_counter() - started)
        if self.audit is not None:
            self.audit.record(
                verb=info.verb if info is not None else request.method.lower(),
                request_uri=request.raw_path,
                user_agent=request.headers.get("User-Agent"),
                source_ip=request.remote,
                code=code,
                received=received,
                object_ref=_object_ref(info) if info is not None else None,
            )

    # -- resources -------------------------------------------------------------------------

    async def _resource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        rt = info.rt
        if rt is None:
            raise codec.not_found_path()
        check_verb(info, rt)
        drop_after: int | None = None
        gone: StatusError | None = None
        if self.ctx.faults:
            drop_after, gone = await self._apply_faults(info, rt)
        verb = info.verb
        sub = info.subresource
        if sub == "proxy":
            return await self.proxy.forward(request, info, rt)
        if verb == "watch":
            self.metrics.watch_started(info.resource, sub or "")
            try:
                return await serve_watch(
                    request, info, rt, self.ctx, drop_after=drop_after, gone=gone
                )
            finally:
                self.metrics.watch_ended(info.resource, sub or "")
        handlers = self.resources
        if verb == "get":
            if sub == "log":
                return handlers.log(info, rt, request.query)
            return handlers.get(request, info, rt)
        if verb == "list":
            return handlers.list(request, info, rt)
        if verb == "create":
            return await handlers.create(request, info, rt)
        if verb == "update":
            return await handlers.update(request, info, rt)
        if verb == "patch":
            return await handlers.patch(request, info, rt)
        if verb == "delete":
            return await handlers.delete(request, info, rt)
        if verb == "deletecollection":
            return await handlers.delete_collection(request, info, rt)
        raise errors.method_not_allowed(
            "the server does not allow this method on the requested resource"
        )

    async def _apply_faults(
        self, info: RequestInfo, rt: ResourceType
    ) -> tuple[int | None, StatusError | None]:
        fired = self.ctx.faults.match(
            info.verb, rt.resource, info.namespace, actions=REQUEST_ACTIONS
        )
        if not fired:
            return None, None
        for rule in fired:
            if rule.action == "latency" and rule.latency_seconds > 0:
                await asyncio.sleep(rule.latency_seconds)
        for rule in fired:
            if rule.action == "status":
                raise fault_error(rule)
        drop_after: int | None = None
        gone: StatusError | None = None
        for rule in fired:
            if rule.action == "gone":
                gone = errors.gone("too old resource version: injected by a sandbox fault rule")
                if info.verb != "watch":
                    raise gone
            elif rule.action == "drop_watch":
                after = max(rule.after_events, 0)
                drop_after = after if drop_after is None else min(drop_after, after)
        return drop_after, gone

    # -- everything else -------------------------------------------------------------------

    async def _nonresource(self, request: web.Request, path: str) -> web.StreamResponse:
        static = self._static.get(path.rstrip("/") or path)
        if static is not None:
            return await static(request)
        if path.startswith("/sandbox/"):
            return await sandbox_routes.handle(request, self.ctx, path[len("/sandbox") :])
        if path.startswith("/openapi/v3/"):
            return self._openapi_document(request, path[len("/openapi/v3/") :])
        if path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return web.Response(text="ok", content_type="text/plain")
        segments = path.strip("/").split("/")
        if request.method == "GET":
            if segments[0] == "api" and len(segments) == 2:
                return self._discovery(request, ("gv", "", segments[1]))
            if segments[0] == "apis" and len(segments) == 3:
                return self._discovery(request, ("gv", segments[1], segments[2]))
            if segments[0] == "apis" and len(segments) == 2:
                return self._discovery(request, ("group", segments[1]))
        elif segments[0] in ("api", "apis") and len(segments) <= 3:
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource"
            )
        raise codec.not_found_path()

    async def _version(self, request: web.Request) -> web.StreamResponse:
        minor = self.ctx.version_minor
        return json_response(
            {
                "major": "1",
                "minor": minor,
                "gitVersion": f"v1.{minor.rstrip('+')}.0",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.23.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def _ok(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok", content_type="text/plain")

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": self.metrics.content_type}
        )

    async def _api(self, request: web.Request) -> web.StreamResponse:
        version = codec.discovery_version(request.headers.get("Accept"))
        if version is not None:
            return self._discovery(request, ("agg", "api", version), aggregated=version)
        host = request.host or "127.0.0.1"
        return self._discovery(request, ("api",), server_address=host)

    async def _apis(self, request: web.Request) -> web.StreamResponse:
        version = codec.discovery_version(request.headers.get("Accept"))
        if version is not None:
            return self._discovery(request, ("agg", "apis", version), aggregated=version)
        return self._discovery(request, ("apis",))

    def _discovery(
        self,
        request: web.Request,
        key: tuple[str, ...],
        *,
        aggregated: str | None = None,
        server_address: str = "",
    ) -> web.StreamResponse:
        if request.method != "GET":
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource"
            )
        found = self.discovery.get(key, server_address)
        if found is None:
            raise codec.not_found_path()
        body, etag = found
        headers = {"ETag": etag, "Vary": "Accept"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        content_type = codec.JSON
        if aggregated is not None:
            content_type = discovery.AGGREGATED_CONTENT_TYPE.format(v=aggregated)
        return raw_json_response(body, content_type=content_type, headers=headers)

    async def _openapi_index(self, request: web.Request) -> web.StreamResponse:
        if self.ctx.openapi is None:
            raise codec.not_found_path()
        return json_response(self.ctx.openapi.index())

    async def _openapi_v2(self, request: web.Request) -> web.StreamResponse:
        raise codec.not_found_path()

    def _openapi_document(self, request: web.Request, path: str) -> web.StreamResponse:
        found = self.ctx.openapi.document(path) if self.ctx.openapi is not None else None
        if found is None:
            raise codec.not_found_path()
        body, digest = found
        etag = f'"{digest}"'
        headers = {"ETag": etag}
        if request.query.get("hash") == digest:
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = "Thu, 31 Dec 2099 23:59:59 GMT"
        else:
            headers["Cache-Control"] = "no-cache, private"
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return raw_json_response(body, headers=headers)


def _object_ref(info: RequestInfo) -> dict[str, str]:
    ref: dict[str, str] = {"resource": info.resource}
    if info.namespace:
        ref["namespace"] = info.namespace
    if info.name:
        ref["name"] = info.name
    if info.group:
        ref["apiGroup"] = info.group
    ref["apiVersion"] = info.version
    if info.subresource:
        ref["subresource"] = info.subresource
    return ref


def build_app(ctx: ApiContext) -> web.Application:
    """The API server application; its cleanup closes the audit log and proxy client."""
    server = ApiServer(ctx)
    # The body limit is enforced by the handlers (413 Status); aiohttp's must not be lower.
    app = web.Application(client_max_size=ctx.max_body_bytes + 1)
    app[APP_KEY] = server
    app.router.add_route("*", "/{tail:.*}", server.handle)

    async def cleanup(_: web.Application) -> None:
        await server.close()

    app.on_cleanup.append(cleanup)
    return app
