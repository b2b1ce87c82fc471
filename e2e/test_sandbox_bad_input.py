"""Bad input gets what kube-apiserver gives, and never crashes or corrupts the sandbox.

The fuzz tests run the sandbox in a thread of its own (hypothesis drives
synchronous examples) and send it arbitrary bodies and query parameters
over real HTTP. Whatever arrives, the answer is a kube `Status` with a 4xx
code, never a 5xx, and the objects stored before are exactly as they were.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuberay_py.sandbox.server import Sandbox, SandboxConfig


class ThreadedSandbox:
    """A sandbox serving from its own event loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sandbox = Sandbox(SandboxConfig(time_scale=0.05, nodes=1))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedSandbox:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sandbox.start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sandbox.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(self.sandbox.url + path, data=body, method=method)
        if content_type is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)


@pytest.fixture(scope="module")
def live() -> Iterator[ThreadedSandbox]:
    with ThreadedSandbox() as sb:
        status, _, _ = sb.request(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "control"},
                    "data": {"k": "v"},
                }
            ).encode(),
            "application/json",
        )
        assert status == 201
        yield sb


def _assert_status(code: int, body: bytes, expected: int | None = None) -> dict[str, Any]:
    assert code < 500, body
    if expected is not None:
        assert code == expected, body
    status: dict[str, Any] = json.loads(body)
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert status["code"] == code and status["reason"] and status["message"]
    return status


def _control_unchanged(live: ThreadedSandbox) -> None:
    code, body, _ = live.request("GET", "/api/v1/namespaces/default/configmaps/control")
    assert code == 200
    obj = json.loads(body)
    assert obj["data"] == {"k": "v"} and obj["metadata"]["resourceVersion"]


def test_malformed_json_is_400(live: ThreadedSandbox) -> None:
    code, body, _ = live.request(
        "POST", "/api/v1/namespaces/default/configmaps", b"{not json", "application/json"
    )
    _assert_status(code, body, 400)


def test_malformed_yaml_is_400(live: ThreadedSandbox) -> None:
    code, body, _ = live.request(
        "POST", "/api/v1/namespaces/default/configmaps", b"a: [b\n  c: :", "application/yaml"
    )
    _assert_status(code, body, 400)


def test_unknown_resource_is_404(live: ThreadedSandbox) -> None:
    code, body, _ = live.request("GET", "/api/v1/namespaces/default/widgets")
    _assert_status(code, body, 404)
    code, body, _ = live.request("GET", "/apis/nope.example.com/v1/things")
    _assert_status(code, body, 404)


def test_unsupported_patch_type_is_415(live: ThreadedSandbox) -> None:
    code, body, _ = live.request(
        "PATCH", "/api/v1/namespaces/default/configmaps/control", b"{}", "text/plain"
    )
    _assert_status(code, body, 415)


def test_body_too_large_is_413(live: ThreadedSandbox) -> None:
    big = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "big"},
            "data": {"k": "x" * (4 * 1024 * 1024)},
        }
    ).encode()
    code, body, _ = live.request(
        "POST", "/api/v1/namespaces/default/configmaps", big, "application/json"
    )
    _assert_status(code, body, 413)
    _control_unchanged(live)


def test_invalid_name_is_422_with_cause(live: ThreadedSandbox) -> None:
    code, body, _ = live.request(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid"}}
        ).encode(),
        "application/json",
    )
    status = _assert_status(code, body, 422)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

_bodies = st.one_of(
    st.binary(max_size=300),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "apiVersion": st.sampled_from(["v1", "apps/v1", "", "x/y"]),
            "kind": st.sampled_from(["ConfigMap", "Pod", "Nope", ""]),
            "metadata": st.one_of(
                _json_values,
                st.fixed_dictionaries(
                    {"name": st.text(max_size=70), "namespace": st.text(max_size=10)}
                ),
            ),
        },
        optional={"data": _json_values, "spec": _json_values},
    ).map(lambda v: json.dumps(v).encode()),
)

_query_keys = st.sampled_from(
    [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "timeoutSeconds",
        "watch",
        "propagationPolicy",
        "gracePeriodSeconds",
        "dryRun",
        "fieldValidation",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
    target=st.sampled_from(
        [
            "/api/v1/namespaces/default/configmaps",
            "/api/v1/namespaces/default/configmaps/control",
            "/api/v1/namespaces/default/pods",
            "/apis/apps/v1/namespaces/default/deployments",
        ]
    ),
    body=_bodies,
    content_type=st.sampled_from(
        [
            "application/json",
            "application/yaml",
            "application/merge-patch+json",
            "application/json-patch+json",
            "application/strategic-merge-patch+json",
            "text/plain",
        ]
    ),
)
def test_fuzzed_bodies_never_crash_or_corrupt(
    live: ThreadedSandbox, method: str, target: str, body: bytes, content_type: str
) -> None:
    # Writes must not touch the control object: aim them at other names, and never send a
    # collection DELETE (deletecollection would rightly remove it).
    if target.endswith("/control") and method != "POST":
        target = target.replace("/control", "/fuzz-target")
    if method == "DELETE" and not target.endswith("/fuzz-target"):
        target += "/fuzz-target"
    code, reply, _ = live.request(method, target, body, content_type)
    assert code < 500, reply
    if code >= 400:
        _assert_status(code, reply)
    _control_unchanged(live)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(_query_keys, st.text(max_size=30), max_size=4))
def test_fuzzed_query_parameters_never_crash(live: ThreadedSandbox, params: dict[str, str]) -> None:
    params = {**params, "timeoutSeconds": "1"} if "watch" in params else params
    query = urllib.parse.urlencode(params)
    code, reply, _ = live.request("GET", f"/api/v1/namespaces/default/configmaps?{query}")
    assert code < 500, reply
    if code >= 400:
        _assert_status(code, reply)
    _control_unchanged(live)
