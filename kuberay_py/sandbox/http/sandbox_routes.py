"""/sandbox/...: run-time controls for tests (fault rules, compaction, dropped watches).

Not part of the Kubernetes API: a test or a person with curl uses these to
make the server misbehave (see faults.py) or to force the situations
clients must survive (410 after compaction, watch streams ending).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from kuberay_py.sandbox.http.codec import json_response
from kuberay_py.sandbox.http.context import ApiContext
from kuberay_py.sandbox.http.faults import FaultRule
from kuberay_py.sandbox.registry import errors
from kuberay_py.sandbox.registry.errors import StatusError


async def handle(request: web.Request, ctx: ApiContext, path: str) -> web.Response:
    """Serve one /sandbox/ request (path without the /sandbox prefix)."""
    method = request.method
    if path in ("/faults", "/faults/"):
        if method == "GET":
            return json_response({"items": ctx.faults.describe()})
        if method == "POST":
            raw = await request.read()
            try:
                rule = FaultRule.from_wire(orjson.loads(raw))
            except orjson.JSONDecodeError as exc:
                raise errors.bad_request(f"the fault rule is not valid JSON: {exc}") from None
            except (ValueError, TypeError) as exc:
                raise errors.bad_request(f"invalid fault rule: {exc}") from None
            fault_id = ctx.faults.add(rule)
            return json_response({"id": fault_id, **rule.to_wire()}, status=201)
        if method == "DELETE":
            ctx.faults.clear()
            return json_response({"deleted": "all"})
        raise errors.method_not_allowed(f"{method} is not allowed on /sandbox/faults")
    if path.startswith("/faults/"):
        fault_id = path[len("/faults/") :]
        if method != "DELETE":
            raise errors.method_not_allowed(f"{method} is not allowed on /sandbox/faults/ID")
        try:
            ctx.faults.remove(fault_id)
        except KeyError:
            raise StatusError(404, "NotFound", f'fault "{fault_id}" not found') from None
        return json_response({"deleted": fault_id})
    if path == "/compact":
        if method != "POST":
            raise errors.method_not_allowed("use POST /sandbox/compact")
        ctx.registry.compact()
        return json_response({"compacted": ctx.registry.resource_version})
    if path == "/drop-watches":
        if method != "POST":
            raise errors.method_not_allowed("use POST /sandbox/drop-watches")
        return json_response({"dropped": ctx.registry.drop_watches()})
    raise StatusError(404, "NotFound", "the server could not find the requested resource")
