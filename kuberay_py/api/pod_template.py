"""Pod templates, containers and env lists as plain dicts, read the way KubeRay's Go reads them.

Validation checks exactly the fields the builders later fill in (a user's `RAY_TLS_CA_CERT`
must be found by the same lookup that decides whether KubeRay adds its own), so both read
and fill templates through these few helpers. Missing or null lists count as empty, as a
nil slice does in Go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kuberay_py.api.constants import RAY_CONTAINER_INDEX

Json = dict[str, Any]


def containers(template: Mapping[str, Any]) -> list[Json]:
    """The template's `spec.containers` (a new list; the containers are the template's)."""
    return list((template.get("spec") or {}).get("containers") or [])


def ray_container(template: Any) -> Json:
    """Container 0 of a pod template; `{}` when the template has none or is the wrong shape,
    so a bad spec reads as "nothing set" and validation, not the reader, reports it."""
    spec = template.get("spec") if isinstance(template, Mapping) else None
    items = spec.get("containers") if isinstance(spec, Mapping) else None
    if isinstance(items, list) and len(items) > RAY_CONTAINER_INDEX:
        container = items[RAY_CONTAINER_INDEX]
        if isinstance(container, dict):
            return container
    return {}


def env_var(name: str, env: Iterable[Json] | None) -> Json | None:
    """The first entry of `env` with that name (KubeRay's EnvVarByName), else None."""
    return next((e for e in env or () if e.get("name") == name), None)


def has_env(name: str, env: Iterable[Mapping[str, Any]] | None) -> bool:
    """KubeRay adds an env var only where the user's container has none of that name."""
    return any(e.get("name") == name for e in env or ())


def field_ref_env(name: str, field_path: str) -> Json:
    """An env var filled by the kubelet from the pod's own fields (the downward API)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def list_at(obj: dict[str, Any], key: str) -> list[Any]:
    """`obj[key]` as a list to append to, created when absent or null."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = []
    return value


def dict_at(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """`obj[key]` as a dict to fill in, created when absent or null."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    return value


def without_empty(container: dict[str, Any]) -> dict[str, Any]:
    """Drop the keys Go's `omitempty` would not write (empty strings, nil objects), so a
    container we build compares equal to the API server's copy of it."""
    return {k: v for k, v in container.items() if v not in (None, "", [], {})}
