"""Bytes in, bytes out: request bodies, query parameters and kube-shaped responses.

Every reply the API server sends is encoded here with orjson, and every error
is a `Status` object, so handlers only deal with dicts and `StatusError`s.
Query parameters are parsed with Go's rules (strconv.ParseBool, ParseInt) so
that what kube-apiserver rejects with 400 is rejected here too.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from aiohttp import web

from kuberay_py.sandbox.http import protobuf
from kuberay_py.sandbox.registry import errors
from kuberay_py.sandbox.registry.errors import StatusError

JSON = "application/json"
TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


def json_response(
    body: Any, status: int = 200, content_type: str = JSON, headers: dict[str, str] | None = None
) -> web.Response:
    """An orjson-encoded reply (Content-Type may carry kube's parameters, e.g. as=Table)."""
    all_headers = {"Content-Type": content_type}
    if headers:
        all_headers.update(headers)
    return web.Response(body=orjson.dumps(body), status=status, headers=all_headers)


def raw_json_response(
    body: bytes, status: int = 200, content_type: str = JSON, headers: dict[str, str] | None = None
) -> web.Response:
    all_headers = {"Content-Type": content_type}
    if headers:
        all_headers.update(headers)
    return web.Response(body=body, status=status, headers=all_headers)


def status_response(err: StatusError) -> web.Response:
    """The `Status` body and code of an error; 429/503 also get a Retry-After header."""
    headers: dict[str, str] = {"Content-Type": JSON}
    if err.retry_after_seconds is not None:
        headers["Retry-After"] = str(err.retry_after_seconds)
    return web.Response(body=orjson.dumps(err.status), status=err.code, headers=headers)


def not_found_path() -> StatusError:
    """kube-apiserver's answer to a URL it has no route for."""
    return StatusError(404, "NotFound", "the server could not find the requested resource")


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """A JSON or YAML request body as Python data; 400 when it does not parse, 415 if neither."""
    kind = media_type(content_type)
    if kind in ("", JSON, "*/*", "application/apply-patch+yaml") or kind.endswith("+json"):
        if not raw.strip():
            raise errors.bad_request("the request body is empty: an object was expected")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if kind != "application/apply-patch+yaml":
                raise errors.bad_request(
                    f"couldn't get version/kind; json parse error: {exc}"
                ) from None
        return _decode_yaml(raw)
    if kind in YAML_TYPES:
        return _decode_yaml(raw)
    if kind == protobuf.PROTOBUF:
        return protobuf.decode(raw)
    raise StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml (got {content_type!r})",
    )


def _decode_yaml(raw: bytes) -> Any:
    if not raw.strip():
        raise errors.bad_request("the request body is empty: an object was expected")
    try:
        docs = list(yaml.load_all(raw, Loader=_YAML_LOADER))
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"error converting YAML to JSON: {_one_line(str(exc))}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise errors.bad_request(f"error converting YAML to JSON: {exc}") from None
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        raise errors.bad_request(
            f"error converting YAML to JSON: expected exactly one document, got {len(docs)}"
        )
    # Only JSON-representable data may reach the registry (YAML has dates, sets, ...).
    try:
        return orjson.loads(orjson.dumps(docs[0], option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise errors.bad_request(f"error converting YAML to JSON: {exc}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def go_bool(name: str, value: str | None) -> bool | None:
    """strconv.ParseBool, as kube's query parameter conversion uses it (None if absent)."""
    if value is None:
        return None
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE or value == "":
        return False
    raise errors.bad_request(
        f'strconv.ParseBool: parsing "{value}": invalid syntax for query parameter {name}'
    )


def go_int(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value, 10)
    except ValueError:
        raise errors.bad_request(
            f'strconv.ParseInt: parsing "{value}": invalid syntax for query parameter {name}'
        ) from None
    if not -(2**63) <= number < 2**63:
        raise errors.bad_request(
            f'strconv.ParseInt: parsing "{value}": value out of range for query parameter {name}'
        )
    return number


def accept_clauses(accept: str) -> list[tuple[str, dict[str, str]]]:
    """`a/b;x=1, c/d` -> [("a/b", {"x": "1"}), ("c/d", {})], in the client's order."""
    out: list[tuple[str, dict[str, str]]] = []
    for clause in accept.split(","):
        pieces = clause.split(";")
        kind = pieces[0].strip().lower()
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip()] = value.strip()
        if kind:
            out.append((kind, params))
    return out


def wants_table(accept: str | None) -> bool:
    """True when the first JSON-compatible clause of Accept asks for a meta.k8s.io Table."""
    if not accept or "as=Table" not in accept:
        return False
    for kind, params in accept_clauses(accept):
        if kind in (JSON, "application/*", "*/*"):
            return params.get("as") == "Table"
    return False


def discovery_version(accept: str | None) -> str | None:
    """ "v2"/"v2beta1" when Accept asks for aggregated discovery before plain JSON, else None."""
    if not accept or "APIGroupDiscoveryList" not in accept:
        return None
    for kind, params in accept_clauses(accept):
        if kind not in (JSON, "application/*", "*/*"):
            continue
        if params.get("as") == "APIGroupDiscoveryList":
            if params.get("g") == "apidiscovery.k8s.io" and params.get("v") in ("v2", "v2beta1"):
                return params["v"]
            continue
        if "as" not in params:
            return None
    return None
