"""Watch streams: registry events as chunked, newline-delimited JSON.

Events are written in batches (everything queued when the writer wakes goes
out in one chunk), which is what keeps tens of thousands of events per
second within reach of one core. A stream ends cleanly when its
timeoutSeconds elapse, when the registry closes the watch (drop_watches,
overflow), when a drop_watch fault's event budget is spent, or when the
client goes away (checked on a timer, since aiohttp does not cancel
handlers on disconnect by default). Every stream goes through a
`DelayingWatch`, which holds events back while a watch_delay fault matches
them and is a plain pass-through otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from kuberay_py.sandbox.http import codec, options
from kuberay_py.sandbox.http.codec import TABLE_CONTENT_TYPE
from kuberay_py.sandbox.http.context import ApiContext
from kuberay_py.sandbox.http.requestinfo import RequestInfo
from kuberay_py.sandbox.http.watch_delay import DelayingWatch
from kuberay_py.sandbox.registry import printers
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.registry import Watch
from kuberay_py.sandbox.registry.types import WatchEvent

DISCONNECT_CHECK_INTERVAL = 1.0


def error_event(err: StatusError) -> bytes:
    return orjson.dumps({"type": "ERROR", "object": err.status}) + b"\n"


class _Closer:
    """Ends the registry watch at the deadline or when the client's connection is gone."""

    def __init__(self, watch: Watch, request: web.Request, timeout: float) -> None:
        self.watch = watch
        self.request = request
        self.timed_out = False
        self.disconnected = False
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(timeout, self._expire)
        self._checker = loop.call_later(DISCONNECT_CHECK_INTERVAL, self._check)

    def _expire(self) -> None:
        self.timed_out = True
        self.watch.close()

    def _check(self) -> None:
        transport = self.request.transport
        if transport is None or transport.is_closing():
            self.disconnected = True
            discard = getattr(self.watch, "discard", None)
            if discard is not None:
                discard()  # nobody will read the held events
            else:
                self.watch.close()
            return
        self._checker = asyncio.get_running_loop().call_later(
            DISCONNECT_CHECK_INTERVAL, self._check
        )

    def cancel(self) -> None:
        self._deadline.cancel()
        self._checker.cancel()


def _encoder(request: web.Request, rt: ResourceType) -> tuple[str, Any]:
    """(content type, event -> bytes) for the Accept header (plain objects or Table rows)."""
    if not codec.wants_table(request.headers.get("Accept")):

        def plain(event: WatchEvent) -> bytes:
            return orjson.dumps({"type": event.type, "object": event.object}) + b"\n"

        return codec.JSON, plain
    include = request.query.get("includeObject") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        include = "Metadata"

    def table(event: WatchEvent) -> bytes:
        obj = event.object
        if event.type in ("ADDED", "MODIFIED", "DELETED"):
            rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
            obj = printers.to_table(rt, [obj], include_object=include, resource_version=rv)
        return orjson.dumps({"type": event.type, "object": obj}) + b"\n"

    return TABLE_CONTENT_TYPE, table


def _delay_of(ctx: ApiContext, rt: ResourceType) -> Callable[[WatchEvent], float]:
    """The watch_delay faults' verdict for one event, matched on the object's namespace."""
    resource = rt.resource

    def delay(event: WatchEvent) -> float:
        if not ctx.faults:
            return 0.0
        meta = event.object.get("metadata") if isinstance(event.object, dict) else None
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        return ctx.faults.watch_delay(resource, namespace or None)

    return delay


async def serve_watch(
    request: web.Request,
    info: RequestInfo,
    rt: ResourceType,
    ctx: ApiContext,
    *,
    drop_after: int | None = None,
    gone: StatusError | None = None,
) -> web.StreamResponse:
    """Stream a watch. `drop_after`: end after that many events; `gone`: one ERROR event."""
    query = request.query
    timeout = options.timeout_seconds(query)
    name = info.name if info.watch_path else None
    opts = options.watch_options(query, name)
    content_type, encode = _encoder(request, rt)
    watch: Watch | None = None
    if gone is None:
        try:
            watch = ctx.registry.watch(rt, info.registry_namespace, opts)
        except StatusError as err:
            if err.code != 410:
                raise
            gone = err  # kube's watch cache answers an expired RV with an ERROR event
    if watch is not None:
        watch = DelayingWatch(watch, _delay_of(ctx, rt))
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": content_type, "Cache-Control": "no-cache, private"},
    )
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
    except BaseException:
        # The client went away before the headers: release the registry watch, which
        # would otherwise stay subscribed and buffer every later event.
        if watch is not None:
            watch.close()
        raise
    if watch is None:
        assert gone is not None
        await response.write(error_event(gone))
        await response.write_eof()
        return response
    if timeout is None or timeout == 0:
        limit = ctx.watch_default_timeout * (1.0 + ctx.rng.random())
    else:
        limit = float(timeout)
    closer = _Closer(watch, request, limit)
    drain = getattr(watch, "drain_nowait", None)
    sent = 0
    try:
        if drop_after is not None and drop_after <= 0:
            watch.close()
        async for event in watch:
            batch = [event]
            if drain is not None:
                batch.extend(drain())
            if drop_after is not None and sent + len(batch) >= drop_after:
                batch = batch[: drop_after - sent]
                watch.close()
            chunk = b"".join([encode(e) for e in batch])
            sent += len(batch)
            await response.write(chunk)
            if drop_after is not None and sent >= drop_after:
                break
    except ConnectionResetError:
        closer.disconnected = True
    finally:
        closer.cancel()
        watch.close()
    if not closer.disconnected:
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
    return response
