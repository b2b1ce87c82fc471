"""The async resource client: one object for every resource, plain dicts on the wire.

Built on kubernetes-asyncio's `ApiClient` for what it does well (configuration, TLS,
the aiohttp session and connection pool) and bypassing its generated models: responses
are decoded with orjson straight into dicts, which is several times faster and much
smaller in memory than model objects. That matters for LIST and WATCH, the hot paths
an informer lives on.

Retries follow `RetryPolicy` (see kube/retry.py for exactly what is retried). Errors
are typed (kube/errors.py). Reads hand out freshly decoded dicts the caller owns.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
import re
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Literal

import aiohttp
import orjson
from kubernetes_asyncio.client import ApiClient, Configuration

from kuberay_py import __version__
from kuberay_py.kube.config import Credentials, load_configuration
from kuberay_py.kube.errors import (
    ApiError,
    ConnectionFailure,
    Unauthorized,
    error_from_status,
)
from kuberay_py.kube.gcpause import gc_paused
from kuberay_py.kube.ratelimit import TokenBucket
from kuberay_py.kube.resources import Resource
from kuberay_py.kube.retry import RetryPolicy, parse_retry_after
from kuberay_py.kube.watch import WatchStream

__all__ = ["USER_AGENT", "KubeClient", "PatchType", "PropagationPolicy"]

log = logging.getLogger("kuberay_py.kube")

USER_AGENT = f"kuberay-py/{__version__}"

PatchType = Literal["json", "merge", "strategic", "apply"]
PropagationPolicy = Literal["Background", "Foreground", "Orphan"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

Params = dict[str, str]


_CONTINUE = re.compile(rb'"continue":"([A-Za-z0-9_\-=+/.]+)"')


def _peek_continue(raw: bytes) -> str | None:
    """The List's continue token, read from the bytes before the items (or None)."""
    items_at = raw.find(b'"items":')
    head = raw[: items_at if items_at >= 0 else 4096]
    match = _CONTINUE.search(head)
    return match.group(1).decode() if match else None


def _params(**kwargs: Any) -> Params:
    """Query parameters with None dropped and booleans spelled the way Go parses them."""
    out: Params = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


class KubeClient:
    """Async client for any Kubernetes resource, returning plain dicts.

    Build one with `await KubeClient.from_config(...)` (kubeconfig / in-cluster) or from
    an existing kubernetes-asyncio `ApiClient`. Close it with `await client.close()` or
    `async with`.
    """

    def __init__(
        self,
        api_client: ApiClient,
        credentials: Credentials | None = None,
        *,
        namespace: str = "default",
        retry: RetryPolicy | None = None,
        qps: float | None = None,
        burst: int = 10,
        request_timeout: float = 60.0,
        user_agent: str = USER_AGENT,
        owns_api_client: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.api_client = api_client
        self.configuration: Configuration = api_client.configuration
        self.credentials = credentials or Credentials(self.configuration)
        self.namespace = namespace
        self.retry = retry or RetryPolicy()
        self.limiter = TokenBucket(qps, burst) if qps and qps > 0 else None
        self.request_timeout = request_timeout
        self.user_agent = user_agent
        api_client.user_agent = user_agent
        self._owns = owns_api_client
        self._rng = rng or random.Random()
        self._host = str(self.configuration.host).rstrip("/")
        self.requests_sent = 0

    @classmethod
    async def from_config(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        *,
        in_cluster: bool | None = None,
        **kwargs: Any,
    ) -> KubeClient:
        """Load kubeconfig or in-cluster settings (see kube/config.py) and build a client."""
        loaded = await load_configuration(kubeconfig, context, in_cluster=in_cluster)
        loaded.credentials.install_hook()
        api_client = ApiClient(configuration=loaded.configuration)
        kwargs.setdefault("namespace", loaded.namespace)
        return cls(api_client, loaded.credentials, **kwargs)

    async def close(self) -> None:
        if self._owns:
            await self.api_client.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ transport

    @property
    def _session(self) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = self.api_client.rest_client.pool_manager
        return session

    async def _send(
        self,
        method: str,
        path: str,
        params: Params | None,
        data: bytes | None,
        content_type: str | None,
        client_timeout: aiohttp.ClientTimeout,
        accept: str,
    ) -> aiohttp.ClientResponse:
        """One HTTP exchange; connection problems become ConnectionFailure."""
        if self.limiter is not None:
            await self.limiter.acquire()
        headers = {"User-Agent": self.user_agent, "Accept": accept}
        headers.update(await self.credentials.headers())
        if content_type is not None:
            headers["Content-Type"] = content_type
        kwargs: dict[str, Any] = {
            "params": params,
            "data": data,
            "headers": headers,
            "timeout": client_timeout,
        }
        rest = self.api_client.rest_client
        if getattr(rest, "proxy", None):
            kwargs["proxy"] = rest.proxy
            if getattr(rest, "proxy_headers", None):
                kwargs["proxy_headers"] = rest.proxy_headers
        if getattr(rest, "server_hostname", None):
            kwargs["server_hostname"] = rest.server_hostname
        self.requests_sent += 1
        try:
            return await self._session.request(method, self._host + path, **kwargs)
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionFailure(f"{method} {path}: cannot connect: {exc}", sent=False) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionFailure(f"{method} {path}: {exc!r}", sent=True) from exc
        except TimeoutError as exc:
            raise ConnectionFailure(f"{method} {path}: timed out", sent=True) from exc

    @staticmethod
    def _error(response: aiohttp.ClientResponse, body: bytes) -> ApiError:
        try:
            status = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            status = {"kind": "Status", "message": body[:500].decode("utf-8", "replace")}
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return error_from_status(response.status, status, retry_after=retry_after)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        request_timeout: float | None = None,
    ) -> bytes:
        """Send a request with retries (RetryPolicy) and return the raw 2xx body.

        `body` is JSON-encoded unless it is already bytes. Raises ApiError subclasses
        for HTTP errors and ConnectionFailure when no answer came.
        """
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        else:
            data = orjson.dumps(body)
        ctype = content_type if data is not None else None
        client_timeout = aiohttp.ClientTimeout(total=request_timeout or self.request_timeout)
        attempt = 0
        reauthed = False
        while True:
            try:
                response = await self._send(
                    method, path, params, data, ctype, client_timeout, accept
                )
                try:
                    payload = await response.read()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    raise ConnectionFailure(f"{method} {path}: {exc!r}", sent=True) from exc
                finally:
                    response.release()
            except ConnectionFailure as exc:
                attempt += 1
                if attempt >= self.retry.attempts or not self.retry.retryable_connection_error(
                    method, exc.sent
                ):
                    raise
                delay = self.retry.backoff(attempt - 1, self._rng)
                log.debug("retrying %s %s after %s in %.2fs", method, path, exc, delay)
                await asyncio.sleep(delay)
                continue
            if 200 <= response.status < 300:
                return payload
            error = self._error(response, payload)
            if isinstance(error, Unauthorized) and not reauthed and self.credentials.rotates:
                reauthed = True
                await self.credentials.refresh(force=True)
                continue
            attempt += 1
            if attempt >= self.retry.attempts or not self.retry.retryable_status(
                method, error.code, error.retry_after is not None
            ):
                raise error
            delay = self.retry.delay_for_status(
                error.code, error.retry_after, attempt - 1, self._rng
            )
            log.debug("retrying %s %s after HTTP %s in %.2fs", method, path, error.code, delay)
            await asyncio.sleep(delay)

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        payload = await self.request(method, path, **kwargs)
        if not payload:
            return {}
        with gc_paused():
            doc = orjson.loads(payload)
        return doc if isinstance(doc, dict) else {"value": doc}

    # ------------------------------------------------------------------ helpers

    def _namespace_for(
        self, res: Resource, namespace: str | None, obj: Mapping[str, Any] | None = None
    ) -> str | None:
        if not res.namespaced:
            return None
        if namespace:
            return namespace
        if obj is not None:
            ns = (obj.get("metadata") or {}).get("namespace")
            if ns:
                return str(ns)
        raise ValueError(f"{res.label} is namespaced: pass namespace= (or set metadata.namespace)")

    @staticmethod
    def _name_of(obj: Mapping[str, Any]) -> str:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("the object has no metadata.name")
        return str(name)

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """GET one object (raises NotFound)."""
        ns = self._namespace_for(res, namespace)
        return await self._json("GET", res.path(ns, name, subresource))

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        request_timeout: float | None = None,
    ) -> dict[str, Any]:
        """One LIST request (one page when `limit` is set); `namespace=None` lists all.

        Returns the List object: `items` plus `metadata.resourceVersion` and, when more
        pages remain, `metadata.continue`.
        """
        params = _params(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=limit,
            resourceVersion=resource_version,
            resourceVersionMatch=resource_version_match,
        )
        params.update(_params(**{"continue": continue_}))
        path = res.path(namespace if res.namespaced else None)
        doc = await self._json("GET", path, params=params, request_timeout=request_timeout)
        if doc.get("items") is None:
            doc["items"] = []
        return doc

    async def list_pages(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        page_size: int = 500,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        request_timeout: float | None = None,
        prefetch: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """LIST page by page (client-go's pager): yields each List object in turn.

        `resource_version` applies to the first page only (a continue token pins the
        snapshot for the rest). A `Gone` on a continue token propagates: relist.

        With `prefetch`, the next page is requested as soon as a page's bytes arrive
        (its continue token is read from the List metadata ahead of the items) and
        while this one is decoded and consumed, so the server's work on page N+1
        overlaps ours on page N. A guessed token is checked against the decoded one;
        on any mismatch the prefetch is dropped and the right request sent.
        """
        path = res.path(namespace if res.namespaced else None)

        def params(token: str | None) -> Params:
            p = _params(
                labelSelector=label_selector,
                fieldSelector=field_selector,
                limit=page_size if page_size > 0 else None,
                resourceVersion=None if token else resource_version,
            )
            if token:
                p["continue"] = token
            return p

        def fetch(token: str | None) -> asyncio.Task[bytes]:
            task = asyncio.ensure_future(
                self.request("GET", path, params=params(token), request_timeout=request_timeout)
            )
            # A dropped prefetch's error is nobody's: retrieve it so asyncio stays quiet.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            return task

        pending: asyncio.Task[bytes] | None = fetch(None)
        try:
            while pending is not None:
                raw = await pending
                pending = None
                guessed = _peek_continue(raw) if prefetch and page_size > 0 else None
                if guessed:
                    pending = fetch(guessed)
                with gc_paused():
                    page = orjson.loads(raw) if raw else {}
                del raw
                if page.get("items") is None:
                    page["items"] = []
                token = (page.get("metadata") or {}).get("continue") or None
                if pending is not None and token != guessed:
                    pending.cancel()
                    pending = None
                if token and pending is None:
                    pending = fetch(token)
                yield page
        finally:
            if pending is not None:
                pending.cancel()

    async def list_all(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        page_size: int = 500,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """Every object, paged; returns (items, the list's resourceVersion)."""
        items: builtins.list[dict[str, Any]] = []
        rv = ""
        async for page in self.list_pages(
            res,
            namespace,
            page_size=page_size,
            label_selector=label_selector,
            field_selector=field_selector,
            resource_version=resource_version,
        ):
            items.extend(page["items"])
            rv = str((page.get("metadata") or {}).get("resourceVersion") or rv)
        return items, rv

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_watch_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        idle_timeout: float | None = None,
        send_initial_events: bool | None = None,
    ) -> WatchStream:
        """A WatchStream of `(type, object)` events; the request is sent on first iteration.

        `timeout_seconds` is the server-side stream lifetime; `idle_timeout` the longest
        client-side silence tolerated (raises WatchIdleTimeout). No retries here: the
        caller (an informer's reflector) owns backoff and resumption.
        """
        params = _params(
            watch=True,
            resourceVersion=resource_version,
            labelSelector=label_selector,
            fieldSelector=field_selector,
            allowWatchBookmarks=allow_watch_bookmarks,
            timeoutSeconds=timeout_seconds,
            sendInitialEvents=send_initial_events,
        )
        if send_initial_events:
            params["resourceVersionMatch"] = "NotOlderThan"
        path = res.path(namespace if res.namespaced else None)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.request_timeout, sock_connect=self.request_timeout
        )

        async def open_stream() -> aiohttp.ClientResponse:
            response = await self._send(
                "GET", path, params, None, None, timeout, "application/json"
            )
            if response.status >= 300:
                try:
                    body = await response.read()
                except (aiohttp.ClientError, OSError) as exc:
                    raise ConnectionFailure(f"watch {path}: {exc!r}") from exc
                finally:
                    response.release()
                raise self._error(response, body)
            return response

        return WatchStream(
            open_stream, resource_version=resource_version, idle_timeout=idle_timeout
        )

    # ------------------------------------------------------------------ writes

    async def create(
        self,
        res: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        dry_run: bool = False,
        field_validation: str | None = None,
    ) -> dict[str, Any]:
        """POST a new object (raises AlreadyExists, Invalid...)."""
        ns = self._namespace_for(res, namespace, obj)
        body = self._with_type(res, obj)
        params = _params(
            fieldManager=field_manager,
            dryRun="All" if dry_run else None,
            fieldValidation=field_validation,
        )
        return await self._json("POST", res.path(ns), params=params, body=body)

    async def replace(
        self,
        res: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        name: str | None = None,
        subresource: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT the whole object; with metadata.resourceVersion set, a stale one raises Conflict."""
        ns = self._namespace_for(res, namespace, obj)
        name = name or self._name_of(obj)
        params = _params(fieldManager=field_manager, dryRun="All" if dry_run else None)
        body = self._with_type(res, obj)
        return await self._json("PUT", res.path(ns, name, subresource), params=params, body=body)

    async def replace_status(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """PUT the status subresource (only `.status` changes on the server)."""
        return await self.replace(res, obj, namespace, subresource="status", **kwargs)

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PATCH with a JSON patch (list of ops), merge, strategic-merge or server-side apply.

        `apply` needs `field_manager`; `force=True` takes over conflicting fields.
        """
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs field_manager")
        if patch_type != "apply" and force is not None:
            raise ValueError("force is only meaningful for server-side apply")
        ns = self._namespace_for(res, namespace)
        params = _params(fieldManager=field_manager, force=force, dryRun="All" if dry_run else None)
        return await self._json(
            "PATCH",
            res.path(ns, name, subresource),
            params=params,
            body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
        )

    async def patch_status(
        self, res: Resource, name: str, patch: Any, namespace: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """PATCH the status subresource."""
        return await self.patch(res, name, patch, namespace, subresource="status", **kwargs)

    async def apply(
        self,
        res: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str,
        force: bool = False,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply `obj` (creates it when absent)."""
        ns = self._namespace_for(res, namespace, obj)
        return await self.patch(
            res,
            self._name_of(obj),
            self._with_type(res, obj),
            ns,
            patch_type="apply",
            field_manager=field_manager,
            force=force,
            subresource=subresource,
        )

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: PropagationPolicy | None = None,
        grace_period_seconds: int | None = None,
        precondition_uid: str | None = None,
        precondition_resource_version: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE one object. Returns the object (still there while finalizers or grace run)
        or a Status. Preconditions that do not match raise Conflict."""
        ns = self._namespace_for(res, namespace)
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy is not None:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        pre: dict[str, str] = {}
        if precondition_uid is not None:
            pre["uid"] = precondition_uid
        if precondition_resource_version is not None:
            pre["resourceVersion"] = precondition_resource_version
        if pre:
            body["preconditions"] = pre
        if dry_run:
            body["dryRun"] = ["All"]
        return await self._json("DELETE", res.path(ns, name), body=body)

    @staticmethod
    def _with_type(res: Resource, obj: Mapping[str, Any]) -> dict[str, Any]:
        body = dict(obj)
        body.setdefault("apiVersion", res.api_version)
        body.setdefault("kind", res.kind)
        return body
