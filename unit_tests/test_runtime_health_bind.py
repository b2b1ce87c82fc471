"""A health or metrics address already in use is a clear error naming the address."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import CollectorRegistry

from kuberay_py.runtime import Manager
from kuberay_py.runtime.testing import FakeKube


async def test_busy_health_port_names_the_address() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        mgr = Manager(
            FakeKube(),  # type: ignore[arg-type]
            registry=CollectorRegistry(),
            health_address=address,
            metrics_address=None,
        )
        with pytest.raises(OSError, match=f"cannot serve {address}"):
            await mgr.run(handle_signals=False)
