"""The three PATCH formats kube-apiserver applies: JSON patch, merge patch, strategic merge.

Each function takes the stored object and the decoded request body and returns
a new object; neither input is changed and the result shares no containers
with them, so the caller may stamp metadata on it freely. Every bad patch is a
`StatusError` with a 4xx code: malformed bodies are 400 BadRequest, patches
that are well formed but cannot apply to this object are 422 Invalid.

Strategic merge patch follows k8s.io/apimachinery's strategicpatch package
(server side: `MergeParallelList` and `IgnoreUnmatchedNulls` on), with the
merge strategy and key of each field read from kube's OpenAPI definitions by
`patch_meta`. Where kube would answer 500 for a malformed strategic patch
(for example a list item missing its merge key) the sandbox answers 400 with
the same message, and values inserted where the stored object had nothing are
cleaned of `null`s and directives the way a typed round trip would clean them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NoReturn, TypeVar

import jsonpatch
import orjson

from kuberay_py.sandbox.registry import errors, patch_meta
from kuberay_py.sandbox.registry.patch_meta import UNKNOWN_FIELD, FieldMeta, SchemaNode

MAX_JSON_PATCH_OPERATIONS: Final = 10000

_T = TypeVar("_T")


def _json_copy(value: Any) -> Any:
    """Deep copy of decoded JSON (dicts, lists, scalars); much faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def _guard_depth(fn: Callable[[], _T]) -> _T:
    """Runs fn, turning runaway recursion on absurdly nested bodies into a 400."""
    try:
        return fn()
    except RecursionError:
        raise errors.bad_request("the patch is nested too deeply") from None


def _render(value: Any, limit: int = 200) -> str:
    """Compact JSON of a value for error messages, truncated."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# ---------------------------------------------------------------------------------------------


def _merge_patch_into(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_patch_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = _json_copy(value)
    return target


def apply_merge_patch(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: `null` deletes, objects merge recursively, anything else replaces."""
    if not isinstance(patch, dict):
        raise errors.bad_request("Invalid JSON Patch")
    return _guard_depth(lambda: _merge_patch_into(_json_copy(doc), patch))


# ---------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ---------------------------------------------------------------------------------------------

_JSON_PATCH_OPS: Final = frozenset({"add", "remove", "replace", "move", "copy", "test"})


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1 and 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


PATCH_REJECTED_MESSAGE: Final = "the server rejected our request due to an error in our request"


class PatchNotApplied(errors.StatusError):
    """A well-formed patch that cannot apply to this object.

    kube-apiserver answers these (a failed `test`, a missing path, a list of
    lists in a strategic patch) with 422 Invalid, the generic message
    `PATCH_REJECTED_MESSAGE` and an empty `details` object, and clients match
    on exactly that shape to tell a lost optimistic-concurrency race from other
    failures. What went wrong is kept in `detail` for logs and tests.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(422, "Invalid", PATCH_REJECTED_MESSAGE)
        self.detail = detail

    @property
    def status(self) -> dict[str, Any]:
        body = super().status
        body.setdefault("details", {})
        return body


def _unprocessable(detail: str) -> PatchNotApplied:
    return PatchNotApplied(detail)


def _check_operation(index: int, op: Any) -> dict[str, Any]:
    if not isinstance(op, dict):
        raise errors.bad_request(
            f"json: cannot unmarshal {type(op).__name__} into Go value of type jsonpatch.Operation"
            f" (operation {index})"
        )
    kind = op.get("op")
    if kind not in _JSON_PATCH_OPS:
        raise _unprocessable(f"Unexpected kind: {_render(kind)}")
    for key in ("path", "from") if kind in ("move", "copy") else ("path",):
        if not isinstance(op.get(key), str):
            raise _unprocessable(f"{kind} operation does not apply: operation missing {key} field")
    if kind in ("add", "replace", "test") and "value" not in op:
        raise _unprocessable(f"{kind} operation does not apply: missing value")
    return op


def _resolve_pointer(doc: Any, pointer: str) -> tuple[bool, Any]:
    """(found, value) at an RFC 6901 pointer."""
    if pointer == "":
        return True, doc
    if not pointer.startswith("/"):
        return False, None
    cur = doc
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict):
            if part not in cur:
                return False, None
            cur = cur[part]
        elif isinstance(cur, list):
            if not part.isdigit() or (len(part) > 1 and part[0] == "0") or int(part) >= len(cur):
                return False, None
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    kind = op["op"]
    path = op["path"]
    if kind == "test":
        found, value = _resolve_pointer(doc, path)
        if not found:
            raise _unprocessable(f'testing value {path} failed: doc is missing path: "{path}"')
        if not _json_equal(value, op["value"]):
            raise _unprocessable(f"testing value {path} failed: test failed")
        return doc
    try:
        return jsonpatch.apply_patch(doc, [op], in_place=True)
    except jsonpatch.JsonPatchTestFailed as err:  # pragma: no cover - handled above
        raise _unprocessable(f"testing value {path} failed: {err}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        where = op["from"] if kind in ("move", "copy") else path
        detail = str(err)
        if len(detail) > 200:
            detail = detail[:197] + "..."
        raise _unprocessable(
            f'{kind} operation does not apply: doc is missing path: "{where}": {detail}'
        ) from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
        raise _unprocessable(f"{kind} operation does not apply: {path}: {err}") from None


def apply_json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 operations, applied in order; the first failing one is reported (422)."""
    if not isinstance(ops, list):
        raise errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.too_large(
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}"
        )
    checked = [_check_operation(i, op) for i, op in enumerate(ops)]

    def run() -> Any:
        result: Any = _json_copy(doc)
        for op in checked:
            # Copy each op so values it inserts are never shared with the request body.
            result = _apply_one(result, _json_copy(op))
        return result

    result = _guard_depth(run)
    if not isinstance(result, dict):
        raise _unprocessable("the patched document is not a JSON object")
    return result


# ---------------------------------------------------------------------------------------------
# Strategic merge patch
# ---------------------------------------------------------------------------------------------

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER: Final = "$setElementOrder"
_DELETE_PRIMITIVE: Final = "$deleteFromPrimitiveList"
_BAD_RETAIN_KEYS: Final = "invalid patch format of retainKeys"
_BAD_SET_ORDER: Final = "invalid patch format of setElementOrder list"
_BAD_PRIMITIVE_LIST: Final = "invalid patch format of primitive list"


def _bad(message: str) -> NoReturn:
    raise errors.bad_request(message)


def _scalar_key(value: Any) -> tuple[str, Any]:
    """A hashable identity for a list element or merge-key value with JSON equality."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z", None)
    return ("j", _render(value, limit=1 << 20))


def _element_kind(*lists: list[Any]) -> str | None:
    """'map', 'scalar' or None (all empty), as strategicpatch's sliceElementType checks."""
    kind: str | None = None
    first: tuple[str, Any] | None = None
    for items in lists:
        for item in items:
            if isinstance(item, list):
                raise _unprocessable("lists of lists are not supported")
            this = "map" if isinstance(item, dict) else "scalar"
            tag = ("map", None) if this == "map" else (_scalar_key(item)[0], None)
            if first is None:
                first, kind = tag, this
            elif tag != first:
                _bad(f"list element types are not identical: {_render(list(lists))}")
    return kind


def _merge_key_of(item: dict[str, Any], merge_key: str) -> tuple[str, Any]:
    if merge_key not in item:
        _bad(f"map: {_render(item)} does not contain declared merge key: {merge_key}")
    return _scalar_key(item[merge_key])


def _order_index(
    order: list[Any], merge_key: str, kind: str, *, strict: bool
) -> dict[tuple[str, Any], int]:
    """Position of each element's identity in `order`.

    `strict` (orders that come from the patch) rejects elements without the
    merge key, as kube does; the stored list is read leniently so a stored
    object kube would never have accepted still patches.
    """
    index: dict[tuple[str, Any], int] = {}
    for i, item in enumerate(order):
        if kind == "map":
            if strict and not isinstance(item, dict):
                _bad(f"expected a map in the order list, got {_render(item)}")
            if strict:
                key = _merge_key_of(item, merge_key)
            else:
                ident = _identity(item, merge_key, kind)
                if ident is None:
                    continue
                key = ident
        else:
            key = _scalar_key(item)
        index.setdefault(key, i)
    return index


def _identity(item: Any, merge_key: str, kind: str) -> tuple[str, Any] | None:
    if kind == "map":
        if isinstance(item, dict) and merge_key in item:
            return _scalar_key(item[merge_key])
        return None
    return _scalar_key(item)


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    kind: str,
) -> list[Any]:
    """Patch items in patch order, server-only items in live order, interleaved by live order.

    Precedence is `$setElementOrder` (or the patch list) over the live list, as
    kube's normalizeElementOrder and mergeSortedSlice do.
    """
    p_index = _order_index(patch_order, merge_key, kind, strict=True)
    s_index = _order_index(server_order, merge_key, kind, strict=False)

    def sort_by(items: list[Any], index: dict[tuple[str, Any], int]) -> list[Any]:
        def pos(item: Any) -> int:
            ident = _identity(item, merge_key, kind)
            return index.get(ident, len(index)) if ident is not None else len(index)

        return sorted(items, key=pos)

    right = sort_by(patch_items, p_index)
    left = sort_by(server_only, s_index)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = s_index.get(_identity(left[i], merge_key, kind) or ("", None), -1)
            ri = s_index.get(_identity(right[j], merge_key, kind) or ("", None), -1)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _partition(
    merged: list[Any], present_in: list[Any], merge_key: str, kind: str
) -> tuple[list[Any], list[Any]]:
    wanted = {
        ident
        for item in present_in
        if (ident := _identity(item, merge_key, kind)) is not None
        and not (isinstance(item, dict) and _DIRECTIVE in item and kind == "map")
    }
    in_patch: list[Any] = []
    server_only: list[Any] = []
    for item in merged:
        ident = _identity(item, merge_key, kind)
        (in_patch if ident is not None and ident in wanted else server_only).append(item)
    return in_patch, server_only


def _merge_list(original: list[Any], patch: list[Any], meta: FieldMeta, field: str) -> list[Any]:
    """A list with patch strategy `merge`: by merge key for maps, as a set for scalars."""
    if not original and not patch:
        return []
    kind = _element_kind(original, patch)
    item_node = meta.items()
    merge_key = meta.merge_key
    if kind == "scalar":
        seen: set[tuple[str, Any]] = set()
        merged: list[Any] = []
        for item in [*original, *patch]:
            key = _scalar_key(item)
            if key not in seen:
                seen.add(key)
                merged.append(item)
        in_patch, server_only = _partition(merged, patch, "", "scalar")
        return _normalize_order(in_patch, server_only, patch, original, "", "scalar")

    if not merge_key:
        _bad(f"cannot merge lists without merge key for {field}")
    # Directives first: `$patch: delete` items remove entries, `$patch: replace` drops the rest.
    plain: list[dict[str, Any]] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            gone = _merge_key_of(item, merge_key)
            original = [
                o
                for o in original
                if not (isinstance(o, dict) and _identity(o, merge_key, "map") == gone)
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            _bad("merging lists cannot yet be specified in the patch")
        else:
            _bad(f"unknown patch type: {_render(directive)} in map: {_render(item)}")
    if replace:
        return [_merge_map({}, item, item_node) for item in plain]

    merged = list(original)
    for item in plain:
        key = _merge_key_of(item, merge_key)
        for i, existing in enumerate(merged):
            if isinstance(existing, dict) and _identity(existing, merge_key, "map") == key:
                merged[i] = _merge_map(existing, item, item_node)
                break
        else:
            merged.append(_merge_map({}, item, item_node))
    in_patch, server_only = _partition(merged, plain, merge_key, "map")
    return _normalize_order(in_patch, server_only, plain, original, merge_key, "map")


def _replace_list(patch: list[Any], meta: FieldMeta) -> list[Any]:
    """A list without merge strategy is replaced; nested maps are cleaned of nulls."""
    item_node = meta.items()
    return [_merge_map({}, item, item_node) if isinstance(item, dict) else item for item in patch]


def _merge_field(present: bool, original: Any, value: Any, meta: FieldMeta, field: str) -> Any:
    """The new value of one field given its stored value (if `present`) and patch value."""
    if isinstance(value, dict):
        if meta.replace:
            return _merge_map({}, value, meta.node)
        base = original if present and isinstance(original, dict) else {}
        return _merge_map(base, value, meta.node)
    if isinstance(value, list):
        if meta.merge:
            base_list = original if present and isinstance(original, list) else []
            return _merge_list(base_list, value, meta, field)
        return _replace_list(value, meta)
    return value


def _field_meta(node: SchemaNode | None, field: str) -> FieldMeta:
    return node.field(field) if node is not None else UNKNOWN_FIELD


def _directive_target(key: str, prefix: str, message: str) -> str:
    head, sep, rest = key.partition("/")
    if head != prefix or not sep:
        _bad(message)
    return rest


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        _bad(_BAD_RETAIN_KEYS)
    keep = {k for k in retain if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_PRIMITIVE, _SET_ORDER)):
            continue
        if key not in keep:
            _bad(_BAD_RETAIN_KEYS)
    for key in list(original):
        if key not in keep:
            del original[key]


def _validate_set_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """Every non-delete patch item must appear in `$setElementOrder`, in the same order."""
    if not order or not patch_list:
        return
    items = [p for p in patch_list if not (isinstance(p, dict) and p.get(_DIRECTIVE) == "delete")]
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        item = items[pi]
        if isinstance(item, dict) and _DIRECTIVE in item:
            pi += 1
            continue
        if merge_key:
            if not isinstance(item, dict) or not isinstance(order[oi], dict):
                _bad(_BAD_SET_ORDER)
            equal = _merge_key_of(item, merge_key) == _merge_key_of(order[oi], merge_key)
        else:
            equal = _scalar_key(item) == _scalar_key(order[oi])
        if equal:
            pi += 1
        oi += 1
    if pi < len(items):
        _bad(
            f"The order in patch list:\n{_render(patch_list)}\n doesn't match "
            f"{_SET_ORDER} list:\n{_render(order)}\n"
        )


def _apply_set_order(
    original: dict[str, Any], patch: dict[str, Any], key: str, node: SchemaNode | None
) -> None:
    order = patch.pop(key)
    field = _directive_target(key, _SET_ORDER, _BAD_SET_ORDER)
    if not isinstance(order, list):
        _bad(_BAD_SET_ORDER)
    meta = _field_meta(node, field)
    found_original = field in original and original[field] is not None
    found_patch = field in patch and patch[field] is not None
    orig_list = original.get(field) if found_original else []
    patch_list = patch.get(field) if found_patch else []
    if not isinstance(orig_list, list) or not isinstance(patch_list, list):
        _bad(_BAD_SET_ORDER)
    if not found_original and not found_patch:
        return
    _validate_set_order(patch_list, order, meta.merge_key)
    if found_patch:
        if meta.merge:
            merged = _merge_list(orig_list if found_original else [], patch_list, meta, field)
        else:
            merged = _replace_list(patch_list, meta)
    else:
        merged = list(orig_list)
    kind = _element_kind(merged, order)
    if kind is None or (kind == "map" and not meta.merge_key):
        original[field] = merged
    else:
        merge_key = meta.merge_key if kind == "map" else ""
        in_order, server_only = _partition(merged, order, merge_key, kind)
        original[field] = _normalize_order(in_order, server_only, order, orig_list, merge_key, kind)
    patch.pop(field, None)


def _delete_from_primitive_list(original: dict[str, Any], key: str, value: Any) -> None:
    field = _directive_target(key, _DELETE_PRIMITIVE, _BAD_PRIMITIVE_LIST)
    if not isinstance(value, list):
        _bad(_BAD_PRIMITIVE_LIST)
    current = original.get(field)
    if not isinstance(current, list):
        return  # nothing stored to delete from
    if any(isinstance(v, dict | list) for v in value):
        _bad(_BAD_PRIMITIVE_LIST)
    doomed = {_scalar_key(v) for v in value}
    original[field] = [
        v for v in current if isinstance(v, dict | list) or _scalar_key(v) not in doomed
    ]


def _merge_map(original: dict[str, Any], patch: Any, node: SchemaNode | None) -> dict[str, Any]:
    """Merges `patch` into `original` in place (both are private copies) and returns it."""
    if not isinstance(patch, dict):
        _bad(f"expected a map, got {_render(patch)}")
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            rest = {k: v for k, v in patch.items() if k != _DIRECTIVE}
            return _merge_map({}, rest, node)
        if directive == "delete":
            return {}
        _bad(f"unknown patch type: {_render(directive)} in map: {_render(patch)}")
    if _RETAIN_KEYS in patch:
        _apply_retain_keys(original, patch)
    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        _apply_set_order(original, patch, key, node)
    deletions: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVE):
            deletions.append((key, value))
            continue
        if value is None:
            original.pop(key, None)
            continue
        original[key] = _merge_field(
            key in original, original.get(key), value, _field_meta(node, key), key
        )
    for key, value in deletions:
        _delete_from_primitive_list(original, key, value)
    return original


def strategic_merge_supported(api_version: str, kind: str) -> bool:
    """Whether kube accepts strategic merge patches for this kind (built-in kinds only)."""
    return patch_meta.strategic_merge_supported(api_version, kind)


def apply_strategic_merge_patch(
    doc: dict[str, Any], patch: Any, kind: str, api_version: str
) -> dict[str, Any]:
    """Applies a Kubernetes strategic merge patch to an object of a built-in kind.

    Custom resources (any kind without a built-in schema) get the 415 kube
    answers when a strategic merge patch is sent for them.
    """
    node = patch_meta.schema_for(api_version, kind)
    if node is None:
        raise errors.unsupported_media_type("application/strategic-merge-patch+json")
    if not isinstance(patch, dict):
        raise errors.bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
            if isinstance(patch, list)
            else "invalid strategic merge patch: the body must be a JSON object"
        )
    return _guard_depth(lambda: _merge_map(_json_copy(doc), _json_copy(patch), node))
