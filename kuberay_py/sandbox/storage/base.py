"""The storage contract under the registry: a flat, versioned key-value map.

Kubernetes semantics (validation, watch, finalizers) live in the registry;
storage only keeps the current object of every key and the newest
resourceVersion ever handed out, so a restart never reuses one. Objects are
stored as the very dicts the registry built: callers never mutate them.
"""

from __future__ import annotations

from typing import Any, Protocol


class Storage(Protocol):
    """Synchronous key-value storage; every write returns only once it is durable."""

    @property
    def resource_version(self) -> int:
        """The highest resourceVersion written so far (0 when empty)."""
        ...

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, obj: dict[str, Any], rv: int) -> None:
        """Store `obj` (which already carries `rv`) under `key`; `rv` becomes current."""
        ...

    def delete(self, key: str, rv: int) -> None:
        """Remove `key`; the deletion consumed `rv`, which becomes current."""
        ...

    def list(self, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        """Every (key, object) whose key starts with `prefix`, sorted by key.

        `prefix` always starts with a resource prefix `/group/resource/`.
        """
        ...

    def count(self, prefix: str) -> int: ...

    def close(self) -> None: ...
