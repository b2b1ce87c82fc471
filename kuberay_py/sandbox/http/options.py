"""Query parameters and DeleteOptions bodies -> the registry's option types.

Kept apart from the handlers so the translation (and its 400/422 answers for
malformed values) is one readable table of kube's parameter names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from kuberay_py.sandbox.http.codec import go_bool, go_int
from kuberay_py.sandbox.registry import errors
from kuberay_py.sandbox.registry.errors import Cause
from kuberay_py.sandbox.registry.types import DeleteOptions, ListOptions, WatchOptions, WriteOptions

_POLICIES = ("Foreground", "Background", "Orphan")
_FIELD_VALIDATION = ("Ignore", "Warn", "Strict")


def list_options(query: Mapping[str, str]) -> ListOptions:
    limit = go_int("limit", query.get("limit"))
    return ListOptions(
        label_selector=query.get("labelSelector") or None,
        field_selector=query.get("fieldSelector") or None,
        limit=limit if limit is not None and limit > 0 else None,
        continue_token=query.get("continue") or None,
        resource_version=query.get("resourceVersion") or None,
        resource_version_match=query.get("resourceVersionMatch") or None,
    )


def watch_options(query: Mapping[str, str], name: str | None) -> WatchOptions:
    return WatchOptions(
        label_selector=query.get("labelSelector") or None,
        field_selector=query.get("fieldSelector") or None,
        resource_version=query.get("resourceVersion") or None,
        allow_bookmarks=bool(go_bool("allowWatchBookmarks", query.get("allowWatchBookmarks"))),
        send_initial_events=go_bool("sendInitialEvents", query.get("sendInitialEvents")),
        name=name,
    )


def timeout_seconds(query: Mapping[str, str]) -> int | None:
    value = go_int("timeoutSeconds", query.get("timeoutSeconds"))
    if value is not None and value < 0:
        raise errors.bad_request(f"timeoutSeconds must not be negative, got {value}")
    return value


def _dry_run(values: list[Any]) -> bool:
    for value in values:
        if value != "All":
            raise errors.bad_request(f"Invalid dryRun value: {value!r}; the only supported is All")
    return bool(values)


def _all(query: Any, name: str) -> list[Any]:
    """Every value of a repeated query parameter (query: a MultiDict or a plain mapping)."""
    getall = getattr(query, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = query.get(name)
    return [] if value is None else [value]


def write_options(query: Any) -> WriteOptions:
    """dryRun, fieldManager, fieldValidation and force (query is a MultiDict)."""
    validation = query.get("fieldValidation") or None
    if validation is not None and validation not in _FIELD_VALIDATION:
        raise errors.bad_request(
            f"invalid fieldValidation directive: {validation}, allowed values: Ignore, Warn, Strict"
        )
    manager = query.get("fieldManager") or None
    if manager is not None and len(manager) > 128:
        raise errors.bad_request("fieldManager: Too long: may not be longer than 128 characters")
    return WriteOptions(
        dry_run=_dry_run(_all(query, "dryRun")),
        field_manager=manager,
        field_validation=validation,
        force=bool(go_bool("force", query.get("force"))),
    )


def _invalid_delete(field: str, message: str) -> errors.StatusError:
    return errors.invalid(
        "DeleteOptions", "meta.k8s.io", "", [Cause("FieldValueInvalid", message, field)]
    )


def delete_options(query: Any, body: Any) -> DeleteOptions:
    """DeleteOptions from a JSON body (may be None) overridden by query parameters."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.bad_request("the DeleteOptions body must be a JSON object")
    policy = query.get("propagationPolicy", body.get("propagationPolicy"))
    if policy is not None and policy not in _POLICIES:
        raise errors.invalid(
            "DeleteOptions",
            "meta.k8s.io",
            "",
            [
                Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: "Foreground", '
                    f'"Background", "Orphan"',
                    "propagationPolicy",
                )
            ],
        )
    grace: Any = body.get("gracePeriodSeconds")
    if "gracePeriodSeconds" in query:
        grace = go_int("gracePeriodSeconds", query.get("gracePeriodSeconds"))
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
        raise errors.bad_request("gracePeriodSeconds must be an integer")
    orphan: Any = body.get("orphanDependents")
    if "orphanDependents" in query:
        orphan = go_bool("orphanDependents", query.get("orphanDependents"))
    if orphan is not None and not isinstance(orphan, bool):
        raise errors.bad_request("orphanDependents must be a boolean")
    if orphan is not None and policy is not None:
        raise _invalid_delete(
            "propagationPolicy", "orphanDependents and deletionPropagation cannot be both set"
        )
    preconditions = body.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise errors.bad_request("preconditions must be an object")
    uid = preconditions.get("uid")
    rv = preconditions.get("resourceVersion")
    if (uid is not None and not isinstance(uid, str)) or (
        rv is not None and not isinstance(rv, str)
    ):
        raise errors.bad_request("preconditions.uid and preconditions.resourceVersion are strings")
    dry = _all(query, "dryRun")
    body_dry = body.get("dryRun") or []
    if not isinstance(body_dry, list):
        raise errors.bad_request("dryRun must be a list of strings")
    return DeleteOptions(
        propagation_policy=cast(Any, policy),
        grace_period_seconds=grace,
        preconditions_uid=uid,
        preconditions_resource_version=rv,
        dry_run=_dry_run(dry + body_dry),
        orphan_dependents=orphan,
    )
