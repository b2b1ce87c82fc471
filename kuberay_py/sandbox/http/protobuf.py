"""Decoding of the few Kubernetes protobuf bodies kubectl sends.

kubectl's typed clientset writes built-in objects as
`application/vnd.kubernetes.protobuf` for its imperative generators
(`kubectl create configmap|secret|namespace|serviceaccount`), and does not
fall back to JSON on a 415. The sandbox speaks JSON, so it decodes those
bodies into the equivalent JSON objects here. The schemas below are the
field numbers of k8s.io/api's generated.proto for the kinds concerned;
every other kind answers 415 with a hint to send JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from kuberay_py.sandbox.registry import errors

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# field number -> (JSON name, kind). Kinds: "str", "int", "bool", "bytes" (base64 in JSON),
# "time", "strs" (repeated string), "map" (string->string), "bmap" (string->bytes),
# a dict (nested message), or ("list", dict) (repeated message).
Schema = dict[int, tuple[str, Any]]

_OWNER_REF: Schema = {
    1: ("kind", "str"),
    3: ("name", "str"),
    4: ("uid", "str"),
    5: ("apiVersion", "str"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
_OBJECT_META: Schema = {
    1: ("name", "str"),
    2: ("generateName", "str"),
    3: ("namespace", "str"),
    5: ("uid", "str"),
    6: ("resourceVersion", "str"),
    7: ("generation", "int"),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", "map"),
    12: ("annotations", "map"),
    13: ("ownerReferences", ("list", _OWNER_REF)),
    14: ("finalizers", "strs"),
}
_OBJECT_REF: Schema = {
    1: ("kind", "str"),
    2: ("namespace", "str"),
    3: ("name", "str"),
    4: ("uid", "str"),
    5: ("apiVersion", "str"),
    6: ("resourceVersion", "str"),
    7: ("fieldPath", "str"),
}
_LOCAL_REF: Schema = {1: ("name", "str")}
_SELECTOR: Schema = {
    1: ("matchLabels", "map"),
    2: (
        "matchExpressions",
        ("list", {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "strs")}),
    ),
}
_CONTAINER: Schema = {
    1: ("name", "str"),
    2: ("image", "str"),
    3: ("command", "strs"),
    4: ("args", "strs"),
    5: ("workingDir", "str"),
    6: (
        "ports",
        (
            "list",
            {
                1: ("name", "str"),
                2: ("hostPort", "int"),
                3: ("containerPort", "int"),
                4: ("protocol", "str"),
                5: ("hostIP", "str"),
            },
        ),
    ),
    7: ("env", ("list", {1: ("name", "str"), 2: ("value", "str")})),
    8: ("resources", {1: ("limits", "qmap"), 2: ("requests", "qmap")}),
    13: ("terminationMessagePath", "str"),
    14: ("imagePullPolicy", "str"),
    16: ("stdin", "bool"),
    17: ("stdinOnce", "bool"),
    18: ("tty", "bool"),
    20: ("terminationMessagePolicy", "str"),
}
_POD_SPEC: Schema = {
    2: ("containers", ("list", _CONTAINER)),
    3: ("restartPolicy", "str"),
    4: ("terminationGracePeriodSeconds", "int*"),
    5: ("activeDeadlineSeconds", "int*"),
    6: ("dnsPolicy", "str"),
    7: ("nodeSelector", "map"),
    8: ("serviceAccountName", "str"),
    10: ("nodeName", "str"),
    11: ("hostNetwork", "bool"),
    15: ("imagePullSecrets", ("list", _LOCAL_REF)),
    19: ("schedulerName", "str"),
    20: ("initContainers", ("list", _CONTAINER)),
}
_POD_TEMPLATE: Schema = {1: ("metadata", _OBJECT_META), 2: ("spec", _POD_SPEC)}
_JOB_SPEC: Schema = {
    1: ("parallelism", "int*"),
    2: ("completions", "int*"),
    3: ("activeDeadlineSeconds", "int*"),
    4: ("selector", _SELECTOR),
    5: ("manualSelector", "bool*"),
    6: ("template", _POD_TEMPLATE),
    7: ("backoffLimit", "int*"),
    8: ("ttlSecondsAfterFinished", "int*"),
    9: ("completionMode", "str"),
    10: ("suspend", "bool*"),
}
_POLICY_RULE: Schema = {
    1: ("verbs", "strs"),
    2: ("apiGroups", "strs"),
    3: ("resources", "strs"),
    4: ("resourceNames", "strs"),
    5: ("nonResourceURLs", "strs"),
}
_BINDING: Schema = {
    1: ("metadata", _OBJECT_META),
    2: (
        "subjects",
        (
            "list",
            {
                1: ("kind", "str"),
                2: ("apiGroup", "str"),
                3: ("name", "str"),
                4: ("namespace", "str"),
            },
        ),
    ),
    3: ("roleRef", {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")}),
}
_RBAC = "rbac.authorization.k8s.io/v1"
KIND_SCHEMAS: dict[tuple[str, str], Schema] = {
    ("v1", "ConfigMap"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", "map"),
        3: ("binaryData", "bmap"),
        4: ("immutable", "bool*"),
    },
    ("v1", "Secret"): {
        1: ("metadata", _OBJECT_META),
        2: ("data", "bmap"),
        3: ("type", "str"),
        4: ("stringData", "map"),
        5: ("immutable", "bool*"),
    },
    ("v1", "Namespace"): {
        1: ("metadata", _OBJECT_META),
        2: ("spec", {1: ("finalizers", "strs")}),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", _OBJECT_META),
        2: ("secrets", ("list", _OBJECT_REF)),
        3: ("imagePullSecrets", ("list", _LOCAL_REF)),
        4: ("automountServiceAccountToken", "bool*"),
    },
    ("v1", "Service"): {
        1: ("metadata", _OBJECT_META),
        2: (
            "spec",
            {
                1: (
                    "ports",
                    (
                        "list",
                        {
                            1: ("name", "str"),
                            2: ("protocol", "str"),
                            3: ("port", "int"),
                            4: ("targetPort", "intstr"),
                            5: ("nodePort", "int"),
                            6: ("appProtocol", "str"),
                        },
                    ),
                ),
                2: ("selector", "map"),
                3: ("clusterIP", "str"),
                4: ("type", "str"),
                5: ("externalIPs", "strs"),
                7: ("sessionAffinity", "str"),
                10: ("externalName", "str"),
                13: ("publishNotReadyAddresses", "bool"),
                18: ("clusterIPs", "strs"),
            },
        ),
    },
    ("v1", "Pod"): {1: ("metadata", _OBJECT_META), 2: ("spec", _POD_SPEC)},
    ("apps/v1", "Deployment"): {
        1: ("metadata", _OBJECT_META),
        2: (
            "spec",
            {
                1: ("replicas", "int*"),
                2: ("selector", _SELECTOR),
                3: ("template", _POD_TEMPLATE),
                4: ("strategy", {1: ("type", "str")}),
                5: ("minReadySeconds", "int"),
                6: ("revisionHistoryLimit", "int*"),
                7: ("paused", "bool"),
                9: ("progressDeadlineSeconds", "int*"),
            },
        ),
    },
    ("batch/v1", "Job"): {1: ("metadata", _OBJECT_META), 2: ("spec", _JOB_SPEC)},
    ("batch/v1", "CronJob"): {
        1: ("metadata", _OBJECT_META),
        2: (
            "spec",
            {
                1: ("schedule", "str"),
                2: ("startingDeadlineSeconds", "int*"),
                3: ("concurrencyPolicy", "str"),
                4: ("suspend", "bool*"),
                5: ("jobTemplate", {1: ("metadata", _OBJECT_META), 2: ("spec", _JOB_SPEC)}),
                6: ("successfulJobsHistoryLimit", "int*"),
                7: ("failedJobsHistoryLimit", "int*"),
                8: ("timeZone", "str"),
            },
        ),
    },
    (_RBAC, "Role"): {1: ("metadata", _OBJECT_META), 2: ("rules", ("list", _POLICY_RULE))},
    (_RBAC, "ClusterRole"): {1: ("metadata", _OBJECT_META), 2: ("rules", ("list", _POLICY_RULE))},
    (_RBAC, "RoleBinding"): _BINDING,
    (_RBAC, "ClusterRoleBinding"): _BINDING,
}


class _Malformed(Exception):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of every field; value is int or bytes."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise _Malformed("truncated field")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise _Malformed("expected a length-delimited string")
    return value.decode("utf-8")


def _entry(value: Any) -> tuple[str, bytes]:
    key, val = "", b""
    for number, _, item in _fields(value):
        if number == 1:
            key = _text(item)
        elif number == 2:
            val = item if isinstance(item, bytes) else b""
    return key, val


def _time(value: Any) -> str:
    seconds = 0
    for number, _, item in _fields(value):
        if number == 1:
            seconds = _signed(item)
    when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(value: Any) -> int | str:
    """intstr.IntOrString: {type: 0 int / 1 string, intVal, strVal}."""
    kind, number, text = 0, 0, ""
    for field, _, item in _fields(value):
        if field == 1:
            kind = item
        elif field == 2:
            number = _signed(item)
        elif field == 3:
            text = _text(item)
    return text if kind == 1 else number


def decode_message(buf: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, _, value in _fields(buf):
        spec = schema.get(number)
        if spec is None:
            continue
        name, kind = spec
        # gogo-protobuf writes every non-pointer scalar, zero or not; JSON omits the zero
        # ones (omitempty), so they are dropped here. "int*"/"bool*" are pointer fields:
        # present only when set, so a zero is meaningful and kept.
        if kind == "str":
            text = _text(value)
            if text:
                out[name] = text
        elif kind in ("int", "int*"):
            number = _signed(value) if isinstance(value, int) else 0
            if number or kind == "int*":
                out[name] = number
        elif kind in ("bool", "bool*"):
            if value or kind == "bool*":
                out[name] = bool(value)
        elif kind == "intstr":
            out[name] = _int_or_string(value)
        elif kind == "qmap":
            k, v = _entry(value)
            quantity = ""
            for number, _, item in _fields(v):
                if number == 1:
                    quantity = _text(item)
            out.setdefault(name, {})[k] = quantity
        elif kind == "bytes":
            out[name] = base64.b64encode(value).decode()
        elif kind == "time":
            out[name] = _time(value)
        elif kind == "strs":
            out.setdefault(name, []).append(_text(value))
        elif kind == "map":
            k, v = _entry(value)
            out.setdefault(name, {})[k] = v.decode("utf-8")
        elif kind == "bmap":
            k, v = _entry(value)
            out.setdefault(name, {})[k] = base64.b64encode(v).decode()
        elif isinstance(kind, dict):
            out[name] = decode_message(value, kind)
        elif isinstance(kind, tuple):
            out.setdefault(name, []).append(decode_message(value, kind[1]))
    return out


def decode(raw: bytes) -> dict[str, Any]:
    """A protobuf-encoded object as its JSON form; 400 if malformed, 415 for other kinds."""
    if not raw.startswith(MAGIC):
        raise errors.bad_request("the protobuf body lacks the k8s\\x00 envelope prefix")
    try:
        api_version, kind, inner = "", "", b""
        for number, _, value in _fields(raw[len(MAGIC) :]):
            if number == 1:
                for n, _, v in _fields(value):
                    if n == 1:
                        api_version = _text(v)
                    elif n == 2:
                        kind = _text(v)
            elif number == 2:
                inner = value
        schema = KIND_SCHEMAS.get((api_version, kind))
        if schema is None:
            raise errors.StatusError(
                415,
                "UnsupportedMediaType",
                f"the sandbox decodes protobuf only for "
                f"{', '.join(k for _, k in KIND_SCHEMAS)}; send {kind or 'this object'} as "
                f"application/json",
            )
        obj = decode_message(inner, schema)
    except (_Malformed, UnicodeDecodeError, OverflowError, ValueError, OSError) as exc:
        raise errors.bad_request(f"unable to decode the protobuf body: {exc}") from None
    return {"kind": kind, "apiVersion": api_version, **obj}
