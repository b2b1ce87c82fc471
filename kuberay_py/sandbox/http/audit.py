"""The audit log: one audit.k8s.io/v1 `Event` per request, as JSON lines.

Operators debugging a controller read kube-apiserver's audit log to see who
did what; the sandbox writes the same shape (level Metadata, stage
ResponseComplete) so the same tools and habits work. Lines are buffered and
flushed within a second (and on close), so auditing does not put a file
write on every request.

Tests read the log back with `read_audit_log` and count what a controller
did with `count_requests` (for example the pods an operator created, by
verb, resource and User-Agent); `Sandbox.audit_events()` flushes first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

FLUSH_INTERVAL = 1.0
_ANONYMOUS = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


def _micro_time(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuditLog:
    """Appends audit events to a file; `close()` flushes and closes it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fh: IO[bytes] | None = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._pending: list[bytes] = []
        self._flush_handle: asyncio.TimerHandle | None = None

    def record(
        self,
        *,
        verb: str,
        request_uri: str,
        user_agent: str | None,
        source_ip: str | None,
        code: int,
        received: dt.datetime,
        object_ref: dict[str, str] | None,
    ) -> None:
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": str(uuid.uuid4()),
            "stage": "ResponseComplete",
            "requestURI": request_uri,
            "verb": verb,
            "user": _ANONYMOUS,
            "sourceIPs": [source_ip] if source_ip else [],
            "userAgent": user_agent or "",
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": _micro_time(received),
            "stageTimestamp": _micro_time(now()),
        }
        if object_ref:
            event["objectRef"] = object_ref
        self._pending.append(orjson.dumps(event) + b"\n")
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_handle = loop.call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        self._flush_handle = None
        if self._fh is None or not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._fh.write(data)
        self._fh.flush()

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


ANY_SUBRESOURCE = "*"


def read_audit_log(path: str | Path) -> list[dict[str, Any]]:
    """Every audit event in the file, oldest first (flush the writer before reading)."""
    with open(path, "rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]


def count_requests(
    events: Iterable[dict[str, Any]],
    *,
    verb: str | None = None,
    resource: str | None = None,
    subresource: str | None = None,
    namespace: str | None = None,
    user_agent: str | None = None,
    user_agent_prefix: str | None = None,
    code: int | None = None,
) -> int:
    """How many audit events match every given filter (None: any value).

    `verb` is kube's verb (create, update, patch, delete, get, list, watch, ...);
    `resource` the plural name in objectRef. `subresource` None counts only requests
    on the resource itself (a pod create, not a pods/binding or pods/status write);
    a name counts that subresource; `ANY_SUBRESOURCE` ("*") counts both.
    `user_agent` must equal the User-Agent; `user_agent_prefix` must start it (client
    User-Agents carry versions and platforms after a fixed name). `code` is the HTTP
    status answered (201 for a create that succeeded).
    """
    total = 0
    for event in events:
        ref = event.get("objectRef") or {}
        if verb is not None and event.get("verb") != verb:
            continue
        if resource is not None and ref.get("resource") != resource:
            continue
        if subresource != ANY_SUBRESOURCE and ref.get("subresource") != subresource:
            continue
        if namespace is not None and ref.get("namespace") != namespace:
            continue
        agent = str(event.get("userAgent") or "")
        if user_agent is not None and agent != user_agent:
            continue
        if user_agent_prefix is not None and not agent.startswith(user_agent_prefix):
            continue
        if code is not None and (event.get("responseStatus") or {}).get("code") != code:
            continue
        total += 1
    return total
