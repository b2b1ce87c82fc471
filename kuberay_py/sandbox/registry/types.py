"""Request options and results passed between the HTTP layer, the registry and watchers.

These mirror metav1.ListOptions / DeleteOptions closely enough that the HTTP
layer is a thin translation of query parameters and bodies.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
PatchType = Literal["json", "merge", "strategic", "apply"]

PATCH_CONTENT_TYPES: dict[str, PatchType] = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}


@attrs.frozen
class ListOptions:
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int | None = None  # None or 0: no paging
    continue_token: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None


@attrs.frozen
class ListResult:
    items: list[dict[str, Any]]
    resource_version: int
    continue_token: str | None = None
    remaining_item_count: int | None = None


@attrs.frozen
class WatchOptions:
    label_selector: str | None = None
    field_selector: str | None = None
    # None/"" : start with synthetic ADDED events for every current object, then changes.
    # "0"     : same as None (kube: "any" — served from cache, initial state included).
    # "N"     : every change after N; raises gone() if N is compacted.
    resource_version: str | None = None
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    # Name restriction used by `.../watch/NAME` and `fieldSelector=metadata.name=`.
    name: str | None = None


@attrs.frozen
class WatchEvent:
    type: WatchEventType
    object: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "object": self.object}


@attrs.frozen
class DeleteOptions:
    propagation_policy: Literal["Background", "Foreground", "Orphan"] | None = None
    grace_period_seconds: int | None = None
    preconditions_uid: str | None = None
    preconditions_resource_version: str | None = None
    dry_run: bool = False
    orphan_dependents: bool | None = None  # deprecated field, still sent by old clients


@attrs.frozen
class WriteOptions:
    dry_run: bool = False
    field_manager: str | None = None
    # "Strict" | "Warn" | "Ignore"; Strict rejects unknown fields where a schema says so.
    field_validation: str | None = None
    force: bool = False  # server-side apply conflicts
