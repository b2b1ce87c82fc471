"""Review: a watch whose server never answers the request is noticed, not waited on forever.

The idle timeout used to cover only reads after the response headers arrived. A request
written to a half-open pooled connection never gets headers, so `connect()` hung forever
and the informer's watchdog could not help: closing a stream that has no response yet
did nothing. The reflector went blind for good.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kuberay_py.kube import WatchIdleTimeout, WatchStream


class _Response:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


async def test_a_request_that_never_gets_headers_raises_idle_timeout() -> None:
    async def opener() -> Any:
        await asyncio.Event().wait()  # the server never answers

    stream = WatchStream(opener, idle_timeout=0.05)
    async with asyncio.timeout(5):
        with pytest.raises(WatchIdleTimeout):
            await anext(aiter(stream))


async def test_close_while_connecting_ends_iteration_and_closes_the_late_response() -> None:
    gate = asyncio.Event()
    response = _Response()

    async def opener() -> Any:
        await gate.wait()
        return response

    stream = WatchStream(opener, idle_timeout=5)
    task = asyncio.ensure_future(anext(aiter(stream)))
    await asyncio.sleep(0)
    stream.close()  # the watchdog's lever, pulled while the request is in flight
    gate.set()
    async with asyncio.timeout(5):
        with pytest.raises(StopAsyncIteration):
            await task
    assert response.closed
