"""camelCase JSON <-> attrs models, with unknown fields kept.

One cattrs converter with a hook factory for every model that has an `extra`
field: known keys are structured by their types, every other key goes to `extra`
and comes back out unchanged, and unset (None) fields are omitted as Go's
`omitempty` omits them. So read -> modify -> write never drops a field a newer
KubeRay (or a user's typo we should report, not erase) put there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import cattrs

from kuberay_py.api.raycluster import RayCluster

converter = cattrs.Converter()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(field: attrs.Attribute[Any]) -> str:
    return str(field.metadata.get("wire") or camel(field.name))


def _has_extra(cls: type) -> bool:
    return attrs.has(cls) and any(f.name == "extra" for f in attrs.fields(cls))


def _structure_factory(cls: Any) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cls)  # the models use postponed annotations
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    by_wire = {wire_name(f): f for f in fields}

    def structure(data: Any, _: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            field = by_wire.get(key)
            if field is None:
                extra[key] = value
            elif value is not None:
                kwargs[field.name] = converter.structure(value, field.type)
        return cls(**kwargs, extra=extra)

    return structure


def _unstructure_factory(cls: Any) -> Callable[[Any], dict[str, Any]]:
    attrs.resolve_types(cls)
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in fields:
            value = getattr(obj, field.name)
            if value is not None:
                out[wire_name(field)] = converter.unstructure(value)
        for key, value in obj.extra.items():
            out.setdefault(key, value)
        return out

    return unstructure


converter.register_structure_hook_factory(_has_extra, _structure_factory)
converter.register_unstructure_hook_factory(_has_extra, _unstructure_factory)


def raycluster_from_dict(data: dict[str, Any]) -> RayCluster:
    """Structure a RayCluster as the API returns it; raises cattrs/TypeError on bad shapes."""
    return converter.structure(data, RayCluster)


def raycluster_to_dict(cluster: RayCluster) -> dict[str, Any]:
    return converter.unstructure(cluster)  # type: ignore[no-any-return]
