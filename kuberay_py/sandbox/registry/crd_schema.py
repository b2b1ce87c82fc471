"""Structural schemas of custom resources: pruning, defaulting and validation.

What kube-apiserver does to every custom resource it stores, driven by the
CRD version's `openAPIV3Schema`:

1. prune fields the schema does not declare (unless under
   `x-kubernetes-preserve-unknown-fields`); `metadata` keeps only ObjectMeta's fields;
2. drop `null`s of non-nullable fields that have no default;
3. apply `default`s to absent fields whose parent exists, recursively
   (inside array items and map values too);
4. validate, reporting each failure as kube's apiextensions validator turns
   kube-openapi's errors into `field.Error`s: same field paths
   (`spec.workerGroupSpecs[0].replicas`), same messages and reasons.

Walking the schema by hand is both faster than `jsonschema` and the only
way to reproduce those messages exactly. CEL rules (`x-kubernetes-validations`)
are not evaluated. Validation ratchets on update, as kube 1.30+ does: a
subtree equal to the old object's is not re-validated, so a tightened schema
does not block unrelated edits.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import functools
import math
import re
import uuid
from typing import Any, TypeGuard

import orjson

from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import Cause

Schema = dict[str, Any]

OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")
_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})
_MISSING = object()

# -- value rendering, as Go's field.Error prints values ----------------------------------


def _num(value: float | int) -> str:
    """Go's %v of a float64/int64: `3`, `1.5`, `1e+21`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text


def _quote(text: str) -> str:
    """Go's %q of a string (close enough: JSON quoting, printable runes kept)."""
    return orjson.dumps(text).decode()


def show(value: Any) -> str:
    """A value as `field.Error.ErrorBody` prints it."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool | int | float):
        return _num(value)
    return orjson.dumps(value).decode()


def _type_of(value: Any) -> str:
    """The JSON type name kube-openapi reports for a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _matches_type(value: Any, type_: str) -> bool:
    if type_ == "object":
        return isinstance(value, dict)
    if type_ == "array":
        return isinstance(value, list)
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if type_ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _json_equal(a: Any, b: Any) -> bool:
    """Equality that tells `true` from `1`, as JSON does."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) or (_is_number(a) and _is_number(b))) and a == b


def _is_number(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- causes ----------------------------------------------------------------------------


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {show(value)}: {detail}", path)


def _type_invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueTypeInvalid", f"Invalid value: {show(value)}: {detail}", path)


def _required(path: str, detail: str = "") -> Cause:
    return Cause(
        "FieldValueRequired", f"Required value: {detail}" if detail else "Required value", path
    )


def _not_supported(path: str, value: Any, allowed: list[Any]) -> Cause:
    quoted = ", ".join(
        _quote(v if isinstance(v, str) else orjson.dumps(v).decode()) for v in allowed
    )
    message = f"Unsupported value: {show(value)}"
    if quoted:
        message += f": supported values: {quoted}"
    return Cause("FieldValueNotSupported", message, path)


def _too_long(path: str, max_length: int) -> Cause:
    unit = "byte" if max_length == 1 else "bytes"
    return Cause("FieldValueTooLong", f"Too long: may not be more than {max_length} {unit}", path)


def _too_many(path: str, actual: int, max_items: int, noun: str = "items") -> Cause:
    return Cause(
        "FieldValueTooMany", f"Too many: {actual}: must have at most {max_items} {noun}", path
    )


def _duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {show(value)}", path)


def _forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", path)


# -- formats ---------------------------------------------------------------------------

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _valid_format(fmt: str, value: str) -> bool:
    """The string formats kube checks that matter here; unknown formats pass."""
    try:
        if fmt == "date-time":
            if not _DATE_TIME.match(value):
                return False
            datetime.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        elif fmt == "date":
            datetime.date.fromisoformat(value)
        elif fmt == "uuid":
            uuid.UUID(value)
            return len(value) == 36
        elif fmt == "byte":
            base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return False
    return True


@functools.lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


# -- validation ------------------------------------------------------------------------


class _Validator:
    """One validation pass; collects causes in the order kube-openapi would find them."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def check(self, schema: Schema, value: Any, old: Any, path: str) -> None:
        if old is not _MISSING and _json_equal(value, old):
            return  # ratcheting: unchanged since the last accepted write
        if value is None:
            if schema.get("nullable") or not _declares_type(schema):
                return
            expected = (
                "integer,string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
            )
            self.causes.append(
                _type_invalid(path, "null", f'{path} in body must be of type {expected}: "null"')
            )
            return
        if not self._check_type(schema, value, path):
            return
        enum = schema.get("enum")
        if isinstance(enum, list) and not any(_json_equal(value, a) for a in enum):
            self.causes.append(_not_supported(path, value, enum))
        if isinstance(value, str):
            self._check_string(schema, value, path)
        elif _is_number(value):
            self._check_number(schema, value, path)
        elif isinstance(value, list):
            self._check_array(schema, value, old, path)
        elif isinstance(value, dict):
            self._check_object(schema, value, old, path)
        self._check_composition(schema, value, path)

    def _check_type(self, schema: Schema, value: Any, path: str) -> bool:
        if schema.get("x-kubernetes-int-or-string"):
            if isinstance(value, str) or (_is_number(value) and _matches_type(value, "integer")):
                return True
            actual = _type_of(value)
            self.causes.append(
                _type_invalid(
                    path, actual, f"{path} in body must be of type integer,string: {_quote(actual)}"
                )
            )
            return False
        expected = schema.get("type")
        if not isinstance(expected, str) or expected not in _TYPES:
            return True
        if _matches_type(value, expected):
            return True
        actual = _type_of(value)
        self.causes.append(
            _type_invalid(
                path, actual, f"{path} in body must be of type {expected}: {_quote(actual)}"
            )
        )
        return False

    def _check_string(self, schema: Schema, value: str, path: str) -> None:
        max_length = schema.get("maxLength")
        if isinstance(max_length, int) and len(value) > max_length:
            self.causes.append(_too_long(path, max_length))
        min_length = schema.get("minLength")
        if isinstance(min_length, int) and len(value) < min_length:
            self.causes.append(
                _invalid(path, value, f"{path} in body should be at least {min_length} chars long")
            )
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            compiled = _pattern(pattern)
            if compiled is not None and compiled.search(value) is None:
                self.causes.append(
                    _invalid(path, value, f"{path} in body should match '{pattern}'")
                )
        fmt = schema.get("format")
        if isinstance(fmt, str) and not _valid_format(fmt, value):
            self.causes.append(
                _type_invalid(path, value, f"{path} in body must be of type {fmt}: {_quote(value)}")
            )

    def _check_number(self, schema: Schema, value: float | int, path: str) -> None:
        minimum = schema.get("minimum")
        if _is_number(minimum):
            if schema.get("exclusiveMinimum") is True:
                if value <= minimum:
                    self.causes.append(
                        _invalid(
                            path, value, f"{path} in body should be greater than {_num(minimum)}"
                        )
                    )
            elif value < minimum:
                self.causes.append(
                    _invalid(
                        path,
                        value,
                        f"{path} in body should be greater than or equal to {_num(minimum)}",
                    )
                )
        maximum = schema.get("maximum")
        if _is_number(maximum):
            if schema.get("exclusiveMaximum") is True:
                if value >= maximum:
                    self.causes.append(
                        _invalid(path, value, f"{path} in body should be less than {_num(maximum)}")
                    )
            elif value > maximum:
                self.causes.append(
                    _invalid(
                        path,
                        value,
                        f"{path} in body should be less than or equal to {_num(maximum)}",
                    )
                )
        multiple = schema.get("multipleOf")
        if _is_number(multiple) and multiple > 0:
            quotient = value / multiple
            if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
                self.causes.append(
                    _invalid(
                        path, value, f"{path} in body should be a multiple of {_num(multiple)}"
                    )
                )

    def _check_array(self, schema: Schema, value: list[Any], old: Any, path: str) -> None:
        max_items = schema.get("maxItems")
        if isinstance(max_items, int) and len(value) > max_items:
            self.causes.append(_too_many(path, len(value), max_items))
        min_items = schema.get("minItems")
        if isinstance(min_items, int) and len(value) < min_items:
            self.causes.append(
                _invalid(path, len(value), f"{path} in body should have at least {min_items} items")
            )
        list_type = schema.get("x-kubernetes-list-type")
        if schema.get("uniqueItems") is True or list_type == "set":
            for i, item in enumerate(value):
                if any(_json_equal(item, earlier) for earlier in value[:i]):
                    self.causes.append(_duplicate(f"{path}[{i}]", item))
        elif list_type == "map":
            keys = [k for k in schema.get("x-kubernetes-list-map-keys") or () if isinstance(k, str)]
            seen: list[dict[str, Any]] = []
            for i, item in enumerate(value):
                if not isinstance(item, dict) or not keys:
                    continue
                key = {k: item.get(k) for k in keys if k in item}
                if key in seen:
                    self.causes.append(_duplicate(f"{path}[{i}]", key))
                seen.append(key)
        items = schema.get("items")
        if isinstance(items, dict):
            old_list = old if isinstance(old, list) else None
            for i, item in enumerate(value):
                # Only an atomic position match ratchets an array element.
                old_item = old_list[i] if old_list is not None and i < len(old_list) else _MISSING
                self.check(items, item, old_item, f"{path}[{i}]")

    def _check_object(self, schema: Schema, value: dict[str, Any], old: Any, path: str) -> None:
        old_map = old if isinstance(old, dict) else {}
        for name in schema.get("required") or ():
            if isinstance(name, str) and name not in value:
                self.causes.append(_required(_child(path, name)))
        max_props = schema.get("maxProperties")
        if isinstance(max_props, int) and len(value) > max_props:
            self.causes.append(_too_many(path, len(value), max_props, "properties"))
        min_props = schema.get("minProperties")
        if isinstance(min_props, int) and len(value) < min_props:
            self.causes.append(
                _invalid(
                    path, len(value), f"{path} in body should have at least {min_props} properties"
                )
            )
        if schema.get("x-kubernetes-embedded-resource"):
            for name in ("apiVersion", "kind"):
                if not value.get(name):
                    self.causes.append(_required(_child(path, name), "must not be empty"))
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key in sorted(value):
            sub = props.get(key)
            child_path = _child(path, key)
            if isinstance(sub, dict):
                self.check(sub, value[key], old_map.get(key, _MISSING), child_path)
            elif isinstance(additional, dict):
                self.check(additional, value[key], old_map.get(key, _MISSING), child_path)
            elif additional is False:
                self.causes.append(
                    _forbidden(child_path, f"{child_path} in body is a forbidden property")
                )

    def _check_composition(self, schema: Schema, value: Any, path: str) -> None:
        for sub in schema.get("allOf") or ():
            if isinstance(sub, dict):
                self.check(sub, value, _MISSING, path)
        any_of = [s for s in schema.get("anyOf") or () if isinstance(s, dict)]
        if any_of:
            results = [_sub_causes(s, value, path) for s in any_of]
            if all(results):
                self.causes.append(
                    _invalid(path, "", f"{_quote(path)} must validate at least one schema (anyOf)")
                )
                self.causes.extend(sorted(results, key=len)[0])
        one_of = [s for s in schema.get("oneOf") or () if isinstance(s, dict)]
        if one_of:
            valid = sum(1 for s in one_of if not _sub_causes(s, value, path))
            if valid != 1:
                found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                self.causes.append(
                    _invalid(
                        path,
                        "",
                        f"{_quote(path)} must validate one and only one schema (oneOf). {found}",
                    )
                )
        not_schema = schema.get("not")
        if isinstance(not_schema, dict) and not _sub_causes(not_schema, value, path):
            self.causes.append(
                _invalid(path, "", f"{_quote(path)} must not validate the schema (not)")
            )


def _declares_type(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-int-or-string")) or schema.get("type") in _TYPES


def _sub_causes(schema: Schema, value: Any, path: str) -> list[Cause]:
    sub = _Validator()
    sub.check(schema, value, _MISSING, path)
    return sub.causes


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """Causes for everything in `obj` its CRD schema rejects (metadata is validated elsewhere)."""
    schema = rt.schema
    if not isinstance(schema, dict):
        return []
    root = {k: v for k, v in schema.items() if k not in ("required", "properties")}
    props = {k: v for k, v in (schema.get("properties") or {}).items() if k not in _RESOURCE_FIELDS}
    root["properties"] = props
    root["required"] = [r for r in schema.get("required") or () if r not in _RESOURCE_FIELDS]
    body = {k: v for k, v in obj.items() if k not in _RESOURCE_FIELDS}
    old_body: Any = _MISSING
    if old is not None:
        old_body = {k: v for k, v in old.items() if k not in _RESOURCE_FIELDS}
    validator = _Validator()
    validator.check(root, body, old_body, "")
    return validator.causes


# -- pruning and defaulting ------------------------------------------------------------


def _prune_meta(meta: Any, path: str, unknown: list[str] | None) -> None:
    if not isinstance(meta, dict):
        return
    for key in [k for k in meta if k not in OBJECT_META_FIELDS]:
        del meta[key]
        if unknown is not None:
            unknown.append(_child(path, key))


def _prune(
    value: Any, schema: Schema, path: str, unknown: list[str] | None, resource: bool
) -> None:
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _prune(
                    item,
                    items,
                    f"{path}[{i}]",
                    unknown,
                    bool(items.get("x-kubernetes-embedded-resource")),
                )
        return
    if not isinstance(value, dict):
        return
    props = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for key in list(value):
        child_path = _child(path, key)
        sub = props.get(key)
        if resource and key in _RESOURCE_FIELDS:
            if key == "metadata":
                _prune_meta(value[key], child_path, unknown)
            continue
        if isinstance(sub, dict):
            _prune(
                value[key],
                sub,
                child_path,
                unknown,
                bool(sub.get("x-kubernetes-embedded-resource")),
            )
        elif isinstance(additional, dict):
            _prune(
                value[key],
                additional,
                child_path,
                unknown,
                bool(additional.get("x-kubernetes-embedded-resource")),
            )
        elif additional is True or preserve:
            continue
        else:
            del value[key]
            if unknown is not None:
                unknown.append(child_path)


def _is_non_nullable_null(value: Any, schema: Schema) -> bool:
    return value is None and not schema.get("nullable")


def _default(value: Any, schema: Schema) -> None:
    """kube's structural defaulting, including its null handling."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if not isinstance(sub, dict):
                continue
            if "default" in sub and (key not in value or _is_non_nullable_null(value[key], sub)):
                value[key] = copy.deepcopy(sub["default"])
            elif key in value and _is_non_nullable_null(value[key], sub):
                del value[key]  # a null nobody may hold, with no default to take its place
        additional = schema.get("additionalProperties")
        for key in list(value):
            sub = props.get(key)
            if isinstance(sub, dict):
                _default(value[key], sub)
            elif isinstance(additional, dict):
                if _is_non_nullable_null(value[key], additional):
                    if "default" in additional:
                        value[key] = copy.deepcopy(additional["default"])
                    else:
                        del value[key]
                        continue
                _default(value[key], additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return
        for i, item in enumerate(value):
            if _is_non_nullable_null(item, items) and "default" in items:
                value[i] = copy.deepcopy(items["default"])
            _default(value[i], items)


def default_and_prune(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Prune undeclared fields, drop forbidden nulls and apply defaults, in place."""
    schema = rt.schema
    if isinstance(schema, dict):
        _prune(obj, schema, "", None, resource=True)
        _default(obj, {**schema, "properties": _without_resource_fields(schema)})
    else:
        _prune_meta(obj.get("metadata"), "metadata", None)


def _without_resource_fields(schema: Schema) -> dict[str, Any]:
    return {k: v for k, v in (schema.get("properties") or {}).items() if k not in _RESOURCE_FIELDS}


def unknown_fields(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Paths (`spec.foo`) pruning would remove: for `fieldValidation=Strict|Warn` reports."""
    if not isinstance(rt.schema, dict):
        return []
    found: list[str] = []
    _prune(copy.deepcopy(obj), rt.schema, "", found, resource=True)
    return found


# -- the CRD's own schema --------------------------------------------------------------


def validate_crd_schema(
    schema: Any, path: str = "spec.versions[0].schema.openAPIV3Schema"
) -> list[Cause]:
    """Enough structural checks that the walkers above can rely on the schema's shape."""
    if not isinstance(schema, dict):
        return [_required(path)]
    causes: list[Cause] = []
    root_type = schema.get("type")
    if not root_type:
        causes.append(_required(f"{path}.type", "must not be empty at the root"))
    elif root_type != "object":
        causes.append(_invalid(f"{path}.type", root_type, "must be object at the root"))
    _check_schema_node(schema, path, causes)
    return causes


def _check_schema_node(node: Schema, path: str, causes: list[Cause]) -> None:
    if "$ref" in node:
        causes.append(_forbidden(f"{path}.$ref", "$ref is not supported"))
    type_ = node.get("type")
    if type_ is not None and (not isinstance(type_, str) or type_ not in _TYPES):
        causes.append(
            _not_supported(
                f"{path}.type", type_, ["array", "boolean", "integer", "number", "object", "string"]
            )
        )
    if type_ == "array" and not isinstance(node.get("items"), dict):
        causes.append(_required(f"{path}.items", "must be specified"))
    for key in ("properties", "patternProperties"):
        children = node.get(key)
        if children is None:
            continue
        if not isinstance(children, dict):
            causes.append(_invalid(f"{path}.{key}", children, "must be an object"))
            continue
        for name, sub in children.items():
            if isinstance(sub, dict):
                _check_schema_node(sub, f"{path}.{key}[{name}]", causes)
            else:
                causes.append(_invalid(f"{path}.{key}[{name}]", sub, "must be a schema object"))
    items = node.get("items")
    if isinstance(items, dict):
        _check_schema_node(items, f"{path}.items", causes)
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        _check_schema_node(additional, f"{path}.additionalProperties", causes)
    if additional is not None and node.get("properties"):
        causes.append(
            _forbidden(
                f"{path}.additionalProperties",
                "additionalProperties and properties are mutual exclusive",
            )
        )
    for key in ("allOf", "anyOf", "oneOf"):
        subs = node.get(key)
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                if isinstance(sub, dict):
                    _check_schema_node(sub, f"{path}.{key}[{i}]", causes)
