"""WatchStream decodes newline-delimited events split arbitrarily across chunks."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from kuberay_py.kube import Gone, WatchEvent, WatchIdleTimeout, WatchStream


class FakeContent:
    def __init__(self, chunks: list[bytes], block_at_end: bool = False) -> None:
        self.chunks = list(chunks)
        self.block_at_end = block_at_end

    async def readany(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.block_at_end:
            await asyncio.Event().wait()
        return b""


class FakeResponse:
    def __init__(self, content: FakeContent) -> None:
        self.content = content
        self.closed = False

    def close(self) -> None:
        self.closed = True


def event(etype: str, name: str, rv: str) -> bytes:
    obj = {"kind": "Pod", "metadata": {"name": name, "resourceVersion": rv}}
    return orjson.dumps({"type": etype, "object": obj}) + b"\n"


def stream_of(chunks: list[bytes], **kwargs: Any) -> tuple[WatchStream, FakeResponse]:
    response = FakeResponse(FakeContent(chunks, block_at_end=kwargs.pop("block", False)))

    async def opener() -> Any:
        return response

    return WatchStream(opener, **kwargs), response


async def test_events_split_across_chunks_are_reassembled() -> None:
    data = event("ADDED", "a", "5") + event("MODIFIED", "a", "6") + event("BOOKMARK", "", "9")
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    stream, response = stream_of(chunks, resource_version="4")
    seen = [(t, o["metadata"]["resourceVersion"]) async for t, o in stream]
    assert seen == [("ADDED", "5"), ("MODIFIED", "6"), ("BOOKMARK", "9")]
    assert stream.resource_version == "9"
    assert stream.events_received == 3
    assert response.closed


async def test_last_line_without_newline_is_not_lost() -> None:
    stream, _ = stream_of([event("ADDED", "a", "5").rstrip(b"\n")])
    events = [e async for e in stream]
    assert events == [
        WatchEvent("ADDED", {"kind": "Pod", "metadata": {"name": "a", "resourceVersion": "5"}})
    ]


async def test_error_event_raises_typed_error_after_earlier_events() -> None:
    gone = {
        "type": "ERROR",
        "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
    }
    stream, _ = stream_of([event("ADDED", "a", "5") + orjson.dumps(gone) + b"\n"])
    first = await stream.__anext__()
    assert first.type == "ADDED"
    with pytest.raises(Gone) as info:
        await stream.__anext__()
    assert info.value.message == "too old"
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_idle_stream_raises_watch_idle_timeout() -> None:
    stream, response = stream_of([event("ADDED", "a", "5")], idle_timeout=0.05, block=True)
    assert (await stream.__anext__()).type == "ADDED"
    with pytest.raises(WatchIdleTimeout):
        await stream.__anext__()
    assert response.closed


async def test_close_ends_iteration() -> None:
    stream, response = stream_of([event("ADDED", "a", "5")], block=True)
    async with stream:
        assert (await stream.__anext__()).type == "ADDED"
    assert response.closed
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
