"""camelCase JSON <-> attrs models, with unknown fields kept and wrong shapes named.

One cattrs converter with a hook factory for every model that has an `extra`
field: known keys are structured by their types, every other key goes to `extra`
and comes back out unchanged, and unset (None) fields are omitted as Go's
`omitempty` omits them. So read -> modify -> write never drops a field a newer
KubeRay (or a user's typo we should report, not erase) put there.

Structuring is strict where cattrs is lenient by default: cattrs would turn
`replicas: "3"` into 3, `suspend: "false"` into True and `rayVersion: 2.9` into
"2.9", so a manifest the API server would reject could silently change meaning
here. Instead a wrong shape raises `FieldError` naming the field by its path from
the object's root (`spec.workerGroupSpecs[0].replicas`), because the controller
turns the message into a Warning Event and the user must be able to find the line.

Plain JSON (pod templates, Services, unknown keys) is deep-copied both ways: the
object we structure usually comes from an informer cache shared with other
controllers, and a builder that edits a template in place must not edit the cache.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs

from kuberay_py.api.raycluster import RayCluster

StructureHook = Callable[[Any, Any], Any]

converter = cattrs.Converter()


class FieldError(TypeError, ValueError):
    """A value of the wrong shape at `path` (kube's field path spelling).

    Both a TypeError and a ValueError, so callers written against either of the
    exceptions cattrs and `int()` raise keep catching it.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem

    def within(self, segment: str) -> FieldError:
        """The same error seen from one level up (`segment` is `name`, `[0]` or `[key]`)."""
        if not self.path:
            path = segment
        elif self.path.startswith("["):
            path = segment + self.path
        else:
            path = f"{segment}.{self.path}"
        return FieldError(path, self.problem)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(field: attrs.Attribute[Any]) -> str:
    return str(field.metadata.get("wire") or camel(field.name))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f'string "{shown}"'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _wrong(expected: str, value: Any) -> FieldError:
    return FieldError("", f"expected {expected}, got {_describe(value)}")


def json_copy(value: Any) -> Any:
    """A deep copy of plain JSON data (dicts, lists, scalars), faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


# --- scalars: only what the API server itself would accept for the schema type ----------


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise _wrong("a string", value)
    return value


def _structure_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise _wrong("a boolean", value)
    return value


def _structure_int(value: Any, _: Any) -> int:
    # JSON has one number type: 3.0 decoded as a float is still the integer 3.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong("an integer", value)
    return value


def _structure_any(value: Any, _: Any) -> Any:
    return json_copy(value)


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook_func(lambda t: t is Any, _structure_any)


# --- containers: cattrs' own would accept a string as a list of characters ---------------


def non_optional(tp: Any) -> Any:
    """`X | None` -> X; the models use Optional only to mean "may be absent"."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def is_optional(tp: Any) -> bool:
    return non_optional(tp) is not tp


def _structure_optional_factory(tp: Any) -> StructureHook:
    inner = converter.get_structure_hook(non_optional(tp))

    def structure(value: Any, _: Any) -> Any:
        return None if value is None else inner(value, tp)

    return structure


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) is list


def _structure_list_factory(tp: Any) -> StructureHook:
    (item_type,) = typing.get_args(tp) or (Any,)
    item_hook = converter.get_structure_hook(item_type)

    def structure(value: Any, _: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _wrong("an array", value)
        out = []
        for index, item in enumerate(value):
            try:
                out.append(item_hook(item, item_type))
            except FieldError as err:
                raise err.within(f"[{index}]") from None
        return out

    return structure


def _is_dict(tp: Any) -> bool:
    return typing.get_origin(tp) is dict


def _structure_dict_factory(tp: Any) -> StructureHook:
    _, value_type = typing.get_args(tp) or (str, Any)
    value_hook = converter.get_structure_hook(value_type)

    def structure(value: Any, _: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _wrong("an object", value)
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(f"[{key}]", "keys must be strings")
            try:
                out[key] = value_hook(item, value_type)
            except FieldError as err:
                raise err.within(f"[{key}]") from None
        return out

    return structure


converter.register_structure_hook_factory(is_optional, _structure_optional_factory)
converter.register_structure_hook_factory(_is_list, _structure_list_factory)
converter.register_structure_hook_factory(_is_dict, _structure_dict_factory)


# --- the models --------------------------------------------------------------------------


def _has_extra(cls: type) -> bool:
    return attrs.has(cls) and any(f.name == "extra" for f in attrs.fields(cls))


def _structure_factory(cls: Any) -> StructureHook:
    attrs.resolve_types(cls)  # the models use postponed annotations
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    by_wire = {wire_name(f): f for f in fields}
    # Looked up on first use: a model may (indirectly) contain itself one day.
    hooks: dict[str, StructureHook] = {}

    def structure(data: Any, _: Any) -> Any:
        if not isinstance(data, dict):
            raise _wrong("an object", data)
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            field = by_wire.get(key)
            if field is None:
                extra[key] = json_copy(value)
                continue
            if value is None:  # null means absent, as for Go's pointer fields
                continue
            hook = hooks.get(field.name)
            if hook is None:
                hook = hooks[field.name] = converter.get_structure_hook(non_optional(field.type))
            try:
                kwargs[field.name] = hook(value, field.type)
            except FieldError as err:
                raise err.within(key) from None
        return cls(**kwargs, extra=extra)

    return structure


def _plain(value: Any) -> Any:
    """A field's value as fresh JSON data: models unstructured, containers copied."""
    if attrs.has(type(value)):
        return converter.unstructure(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _unstructure_factory(cls: Any) -> Callable[[Any], dict[str, Any]]:
    attrs.resolve_types(cls)
    fields = [(f.name, wire_name(f)) for f in attrs.fields(cls) if f.name != "extra"]

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, wire in fields:
            value = getattr(obj, name)
            if value is not None:
                out[wire] = _plain(value)
        for key, value in obj.extra.items():
            if key not in out:
                out[key] = json_copy(value)
        return out

    return unstructure


converter.register_structure_hook_factory(_has_extra, _structure_factory)
converter.register_unstructure_hook_factory(_has_extra, _unstructure_factory)


def raycluster_from_dict(data: dict[str, Any]) -> RayCluster:
    """Structure a RayCluster as the API returns it; a wrong shape raises `FieldError`."""
    return converter.structure(data, RayCluster)


def raycluster_to_dict(cluster: RayCluster) -> dict[str, Any]:
    return converter.unstructure(cluster)  # type: ignore[no-any-return]
