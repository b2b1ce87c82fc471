"""Typed errors are built from Status bodies the way client-go's apierrors classify them."""

from __future__ import annotations

import pytest

from kuberay_py.kube import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Cause,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    error_from_status,
)


def status(code: int, reason: str, **details: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": f"{reason} happened",
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (400, "BadRequest", BadRequest),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Gone),
        (422, "Invalid", Invalid),
        (429, "TooManyRequests", TooManyRequests),
        (500, "InternalError", ServerError),
        (503, "ServiceUnavailable", ServerError),
        (504, "Timeout", ServerError),
    ],
)
def test_code_and_reason_pick_the_class(code: int, reason: str, cls: type[ApiError]) -> None:
    err = error_from_status(code, status(code, reason))
    assert type(err) is cls
    assert err.code == code
    assert err.reason == reason
    assert err.message == f"{reason} happened"
    assert err.status["code"] == code


def test_already_exists_is_a_conflict_but_not_the_reverse() -> None:
    assert isinstance(error_from_status(409, status(409, "AlreadyExists")), Conflict)
    assert not isinstance(error_from_status(409, status(409, "Conflict")), AlreadyExists)


def test_invalid_exposes_field_causes() -> None:
    err = error_from_status(
        422,
        status(
            422,
            "Invalid",
            name="x",
            kind="ConfigMap",
            causes=[
                {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.a"},
                {"reason": "FieldValueInvalid", "message": "bad", "field": "metadata.name"},
            ],
        ),
    )
    assert isinstance(err, Invalid)
    assert err.causes == [
        Cause("FieldValueRequired", "Required value", "spec.a"),
        Cause("FieldValueInvalid", "bad", "metadata.name"),
    ]
    assert [c.field for c in err.causes] == ["spec.a", "metadata.name"]


def test_retry_after_comes_from_header_or_details() -> None:
    from_details = error_from_status(429, status(429, "TooManyRequests", retryAfterSeconds=3))
    assert from_details.retry_after == 3.0
    from_header = error_from_status(429, status(429, "TooManyRequests"), retry_after=7.0)
    assert from_header.retry_after == 7.0


def test_non_status_body_still_yields_a_typed_error() -> None:
    err = error_from_status(502, None)
    assert isinstance(err, ServerError)
    assert err.code == 502
    assert err.status["kind"] == "Status"
    odd = error_from_status(418, {"unexpected": True})
    assert type(odd) is ApiError
    assert "unexpected" in odd.message
