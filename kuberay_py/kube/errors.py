"""Typed API errors, built from the `metav1.Status` body the API server returns.

Callers branch on the exception type (`except NotFound`) rather than on status codes,
the way client-go callers use `apierrors.IsNotFound`. Every error keeps the raw Status
dict so nothing the server said is lost.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Cause",
    "Conflict",
    "ConnectionFailure",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeError",
    "MethodNotAllowed",
    "NotFound",
    "ServerError",
    "TooManyRequests",
    "Unauthorized",
    "WatchIdleTimeout",
    "error_from_status",
]


class KubeError(Exception):
    """Base of everything this client raises about talking to the API server."""


class ConnectionFailure(KubeError):
    """The request got no HTTP answer (refused, reset, DNS, TLS, timeout).

    `sent` says whether the request may have reached the server: False only when
    the connection itself could not be opened, so a replay cannot duplicate a write.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class WatchIdleTimeout(ConnectionFailure):
    """A watch stream sent no bytes (not even a bookmark) for longer than its idle timeout."""


class Cause:
    """One `details.causes` entry of a Status: which field was wrong and why."""

    __slots__ = ("field", "message", "reason")

    def __init__(self, reason: str, message: str, field: str) -> None:
        self.reason = reason
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"Cause(reason={self.reason!r}, field={self.field!r}, message={self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cause) and (self.reason, self.message, self.field) == (
            other.reason,
            other.message,
            other.field,
        )

    def __hash__(self) -> int:
        return hash((self.reason, self.message, self.field))


class ApiError(KubeError):
    """The API server answered with a non-2xx status (or a watch ERROR event)."""

    code: int = 0

    def __init__(
        self,
        status: dict[str, Any],
        *,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        raw_code = code if code is not None else status.get("code", type(self).code)
        self.code = int(raw_code or 0)
        self.reason: str = str(status.get("reason") or "")
        self.message: str = str(status.get("message") or "")
        details = status.get("details") or {}
        self.details: dict[str, Any] = details if isinstance(details, dict) else {}
        if retry_after is None and "retryAfterSeconds" in self.details:
            try:
                retry_after = float(self.details["retryAfterSeconds"])
            except (TypeError, ValueError):
                retry_after = None
        self.retry_after = retry_after
        super().__init__(f"({self.code} {self.reason or 'Unknown'}) {self.message}")

    @property
    def causes(self) -> list[Cause]:
        """Field-level causes (`details.causes`), most useful on `Invalid`."""
        out = []
        for item in self.details.get("causes") or []:
            if isinstance(item, dict):
                out.append(
                    Cause(
                        str(item.get("reason", "")),
                        str(item.get("message", "")),
                        str(item.get("field", "")),
                    )
                )
        return out


class BadRequest(ApiError):
    code = 400


class Unauthorized(ApiError):
    code = 401


class Forbidden(ApiError):
    code = 403


class NotFound(ApiError):
    code = 404


class MethodNotAllowed(ApiError):
    code = 405


class Conflict(ApiError):
    """409 with reason Conflict: the resourceVersion (or a precondition) did not match."""

    code = 409


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists: a create found the name taken.

    A subclass of Conflict because both are HTTP 409; catch AlreadyExists first when
    the difference matters.
    """


class Gone(ApiError):
    """410: the resourceVersion asked for (or a continue token) is older than history."""

    code = 410


class Invalid(ApiError):
    """422: the object failed validation; `.causes` lists each field and why."""

    code = 422


class TooManyRequests(ApiError):
    """429: the server shed the request before processing it; `.retry_after` in seconds."""

    code = 429


class ServerError(ApiError):
    """Any 5xx (500 internal, 503 unavailable, 504 timeout...)."""

    code = 500


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_status(
    code: int, status: dict[str, Any] | None, *, retry_after: float | None = None
) -> ApiError:
    """Build the right ApiError subclass for an HTTP code and (possibly missing) Status body."""
    body: dict[str, Any] = status if isinstance(status, dict) else {}
    if body.get("kind") != "Status":
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "message": str(body) if body else f"HTTP {code}",
            "reason": "",
        }
    cls: type[ApiError]
    if code == 409 and body.get("reason") == "AlreadyExists":
        cls = AlreadyExists
    elif code in _BY_CODE:
        cls = _BY_CODE[code]
    elif code >= 500:
        cls = ServerError
    else:
        cls = ApiError
    return cls(body, code=code, retry_after=retry_after)
