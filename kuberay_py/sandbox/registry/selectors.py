"""Label and field selectors, parsed and matched the way kube-apiserver does.

List and watch requests carry `labelSelector` and `fieldSelector` strings;
Services, Jobs and the EndpointSlice controller carry `metav1.LabelSelector`
objects or plain label maps. All of them end up here so that one grammar, one
set of validation messages and one matching rule serve every caller. The
grammar follows k8s.io/apimachinery's `labels.Parse` (set-based and
equality-based requirements, `!key`, `key`, `in`, `notin`, `>`/`<`) and
`fields.ParseSelector` (`=`, `==`, `!=` with `\\,`, `\\=`, `\\\\` escapes), and
the field names each kind accepts are the ones kube-apiserver registers, so a
client that works against the sandbox works against a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from kuberay_py.api.k8s_names import go_quote, is_qualified_name, is_valid_label_value
from kuberay_py.sandbox.registry import errors

# ---------------------------------------------------------------------------------------------
# Validation of label keys and values: apimachinery's checks with kube-apiserver 1.32's wording
# ---------------------------------------------------------------------------------------------


def qualified_name_errors(value: str) -> list[str]:
    """Problems with a label key (`[prefix/]name`), worded as kube 1.32's IsQualifiedName."""
    return is_qualified_name(value, legacy=True)


def label_value_errors(value: str) -> list[str]:
    """Problems with a label value, worded as kube 1.32's IsValidLabelValue."""
    return is_valid_label_value(value, legacy=True)


_INT_RE: Final = re.compile(r"^[+-]?[0-9]+$")


def _invalid(field: str, value: str, errs: list[str]) -> str:
    """A field.Invalid error rendered as text: `key: Invalid value: "x": detail`."""
    return f"{field}: Invalid value: {go_quote(value)}: {'; '.join(errs)}"


# ---------------------------------------------------------------------------------------------
# Label selectors
# ---------------------------------------------------------------------------------------------

Operator = Literal["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]


@attrs.frozen
class Requirement:
    """One term of a label selector: key, operator and (sorted, unique) values."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in ("=", "==", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        # ">" and "<": the label must hold an integer (kube parses int64).
        have_text = labels.get(self.key)
        if not isinstance(have_text, str) or not _INT_RE.match(have_text):
            return False
        have = int(have_text)
        want = int(self.values[0])
        return have > want if op == ">" else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return f"!{self.key}"
        if op in ("in", "notin"):
            return f"{self.key} {op} ({','.join(self.values)})"
        return f"{self.key}{op}{self.values[0]}"


@attrs.frozen
class LabelSelector:
    """A conjunction of requirements; `nothing=True` selects no object at all.

    `LabelSelector()` selects everything (an empty selector string, or a
    `metav1.LabelSelector` of `{}`); `LabelSelector(nothing=True)` stands for a
    nil `metav1.LabelSelector`, which kube treats as selecting nothing.
    """

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector selects every object (no requirement at all)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The value `key` must equal for any match (`key=v` / `key in (v)`), else None."""
        for r in self.requirements:
            if r.key == key and r.operator in ("=", "==", "in") and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# Lexer ------------------------------------------------------------------------------------------

_T_ID = "identifier"
_T_END = "end of string"
_T_ERROR = "error"
_SPECIAL_TOKENS: Final[dict[str, str]] = {
    "!": "!",
    "!=": "!=",
    "(": "(",
    ")": ")",
    ",": ",",
    "=": "=",
    "==": "==",
    ">": ">",
    "<": "<",
}
_SPECIAL_CHARS: Final = frozenset("!=(),><")
_KEYWORDS: Final = {"in": "in", "notin": "notin"}


def _lex(selector: str) -> list[tuple[str, str]]:
    """Splits a selector into (token, literal) pairs, ending with the end-of-string token."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(selector)
    while True:
        while i < n and selector[i] in " \t\r\n":
            i += 1
        if i >= n:
            tokens.append((_T_END, ""))
            return tokens
        ch = selector[i]
        if ch in _SPECIAL_CHARS:
            # Longest run of special characters that still forms a known token.
            buf, last = "", ""
            j = i
            while j < n and selector[j] in _SPECIAL_CHARS:
                buf += selector[j]
                if buf in _SPECIAL_TOKENS:
                    last = buf
                elif last:
                    break
                j += 1
            if not last:
                tokens.append((_T_ERROR, f"error expected: keyword found '{buf}'"))
                i = j
                continue
            tokens.append((_SPECIAL_TOKENS[last], last))
            i += len(last)
            continue
        j = i
        while j < n and selector[j] not in _SPECIAL_CHARS and selector[j] not in " \t\r\n":
            j += 1
        word = selector[i:j]
        tokens.append((_KEYWORDS.get(word, _T_ID), word))
        i = j


class _SelectorSyntaxError(Exception):
    pass


class _Parser:
    """Recursive-descent parser over the lexer's tokens, following kube's labels.Parser."""

    _BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"

    def __init__(self, selector: str) -> None:
        self.tokens = _lex(selector)
        self.pos = 0

    def _lookahead(self, values_context: bool) -> tuple[str, str]:
        tok, lit = self.tokens[self.pos]
        if values_context and tok in ("in", "notin"):
            tok = _T_ID
        return tok, lit

    def _consume(self, values_context: bool) -> tuple[str, str]:
        tok, lit = self._lookahead(values_context)
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self._lookahead(True)
            if tok in (_T_ID, "!"):
                try:
                    requirements.append(self._requirement())
                except _SelectorSyntaxError as err:
                    raise _SelectorSyntaxError(f"unable to parse requirement: {err}") from None
                tok, lit = self._consume(True)
                if tok == _T_END:
                    return requirements
                if tok == ",":
                    tok2, lit2 = self._lookahead(True)
                    if tok2 not in (_T_ID, "!"):
                        raise _SelectorSyntaxError(
                            f"found '{lit2}', expected: identifier after ','"
                        )
                    continue
                raise _SelectorSyntaxError(f"found '{lit}', expected: ',' or 'end of string'")
            if tok == _T_END:
                return requirements
            raise _SelectorSyntaxError(
                f"found '{lit}', expected: !, identifier, or 'end of string'"
            )

    def _requirement(self) -> Requirement:
        does_not_exist = False
        tok, lit = self._consume(True)
        if tok == "!":
            does_not_exist = True
            tok, lit = self._consume(True)
        if tok != _T_ID:
            raise _SelectorSyntaxError(f"found '{lit}', expected: identifier")
        key = lit
        key_errs = qualified_name_errors(key)
        if key_errs:
            raise _SelectorSyntaxError(_invalid("key", key, key_errs))
        if does_not_exist:  # `!key` takes no operator; whatever follows is parse()'s problem
            return Requirement(key, "!")
        nxt, _ = self._lookahead(True)
        if nxt in (_T_END, ","):
            return Requirement(key, "exists")
        op = self._operator()
        values = self._set_values() if op in ("in", "notin") else [self._exact_value()]
        return _new_requirement(key, op, values)

    def _operator(self) -> Operator:
        tok, lit = self._consume(False)
        ops: dict[str, Operator] = {
            "in": "in",
            "notin": "notin",
            "=": "=",
            "==": "==",
            "!=": "!=",
            ">": ">",
            "<": "<",
        }
        if tok in ops:
            return ops[tok]
        if tok == _T_ERROR:
            raise _SelectorSyntaxError(lit)
        raise _SelectorSyntaxError(f"found '{lit}', expected: {self._BINARY_OPERATORS}")

    def _set_values(self) -> list[str]:
        tok, lit = self._consume(True)
        if tok != "(":
            raise _SelectorSyntaxError(f"found '{lit}' expected: '('")
        tok, lit = self._lookahead(True)
        if tok == ")":  # `()` stands for the empty value
            self._consume(True)
            return [""]
        if tok not in (_T_ID, ","):
            raise _SelectorSyntaxError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifiers()
        tok, _ = self._consume(True)
        if tok != ")":
            raise _SelectorSyntaxError(f"found '{lit}', expected: ')'")
        return values

    def _identifiers(self) -> list[str]:
        """A comma-separated list in which an empty slot (`(a,)`, `(,a)`, `(a,,b)`) is ""."""
        values: list[str] = []
        while True:
            tok, lit = self._consume(True)
            if tok == _T_ID:
                values.append(lit)
                tok2, lit2 = self._lookahead(True)
                if tok2 == ",":
                    continue
                if tok2 == ")":
                    return values
                raise _SelectorSyntaxError(f"found '{lit2}', expected: ',' or ')'")
            if tok == ",":
                if not values:
                    values.append("")
                tok2, _ = self._lookahead(True)
                if tok2 == ")":
                    values.append("")
                    return values
                if tok2 == ",":
                    self._consume(True)
                    values.append("")
                continue
            raise _SelectorSyntaxError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> str:
        tok, _ = self._lookahead(True)
        if tok in (_T_END, ","):
            return ""
        tok, lit = self._consume(True)
        if tok == _T_ID:
            return lit
        raise _SelectorSyntaxError(f"found '{lit}', expected: identifier")


def _new_requirement(key: str, op: Operator, values: Iterable[str]) -> Requirement:
    """Validates values the way kube's NewRequirement does and builds the requirement."""
    uniq = tuple(sorted(set(values)))
    if op in ("in", "notin") and not uniq:
        raise _SelectorSyntaxError("for 'in', 'notin' operators, values set can't be empty")
    if op in ("=", "==", "!=") and len(uniq) != 1:
        raise _SelectorSyntaxError("exact-match compatibility requires one single value")
    if op in ("exists", "!") and uniq:
        raise _SelectorSyntaxError("values set must be empty for exists and does not exist")
    if op in (">", "<"):
        if len(uniq) != 1:
            raise _SelectorSyntaxError("for 'Gt', 'Lt' operators, exactly one value is required")
        if not _INT_RE.match(uniq[0]):
            raise _SelectorSyntaxError("for 'Gt', 'Lt' operators, the value must be an integer")
        return Requirement(key, op, uniq)
    for i, value in enumerate(uniq):
        value_errs = label_value_errors(value)
        if value_errs:
            raise _SelectorSyntaxError(_invalid(f"values[{i}][{key}]", value, value_errs))
    return Requirement(key, op, uniq)


def parse_label_selector(selector: str | None) -> LabelSelector:
    """Parses a `labelSelector` query string; malformed input is a 400 BadRequest.

    An empty or blank string selects everything. Requirements are sorted by key
    (as kube does), which also makes `str()` of the result canonical.
    """
    if not selector or not selector.strip():
        return LabelSelector()
    try:
        requirements = _Parser(selector).parse()
    except _SelectorSyntaxError as err:
        raise errors.bad_request(str(err)) from None
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


def label_selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """`key=value` for every entry: a Service's `spec.selector` or a `matchLabels` map.

    An empty or missing map selects everything; callers that treat an empty
    Service selector as "no endpoints" check for that themselves.
    """
    if not labels:
        return LabelSelector()
    reqs = [Requirement(str(k), "=", (str(v),)) for k, v in labels.items()]
    reqs.sort(key=lambda r: r.key)
    return LabelSelector(tuple(reqs))


_EXPRESSION_OPERATORS: Final[dict[str, Operator]] = {
    "In": "in",
    "NotIn": "notin",
    "Exists": "exists",
    "DoesNotExist": "!",
}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Converts a `metav1.LabelSelector` (matchLabels + matchExpressions).

    As kube's LabelSelectorAsSelector: None selects nothing, `{}` selects
    everything. An unknown operator or a bad key/value is a 400 BadRequest.
    """
    if selector is None:
        return LabelSelector(nothing=True)
    if not isinstance(selector, Mapping):
        raise errors.bad_request("label selector must be an object")
    reqs: list[Requirement] = []
    try:
        match_labels = selector.get("matchLabels") or {}
        if not isinstance(match_labels, Mapping):
            raise _SelectorSyntaxError("matchLabels must be an object")
        for key, value in match_labels.items():
            key_errs = qualified_name_errors(str(key))
            if key_errs:
                raise _SelectorSyntaxError(_invalid("key", str(key), key_errs))
            reqs.append(_new_requirement(str(key), "=", [str(value)]))
        expressions = selector.get("matchExpressions") or []
        if not isinstance(expressions, list):
            raise _SelectorSyntaxError("matchExpressions must be a list")
        for expr in expressions:
            if not isinstance(expr, Mapping):
                raise _SelectorSyntaxError("matchExpressions items must be objects")
            op_name = expr.get("operator")
            op = _EXPRESSION_OPERATORS.get(op_name) if isinstance(op_name, str) else None
            if op is None:
                raise _SelectorSyntaxError(
                    f"{go_quote(str(op_name))} is not a valid label selector operator"
                )
            key = str(expr.get("key", ""))
            key_errs = qualified_name_errors(key)
            if key_errs:
                raise _SelectorSyntaxError(_invalid("key", key, key_errs))
            values = expr.get("values") or []
            if not isinstance(values, list):
                raise _SelectorSyntaxError("matchExpressions values must be a list")
            reqs.append(_new_requirement(key, op, [str(v) for v in values]))
    except _SelectorSyntaxError as err:
        raise errors.bad_request(str(err)) from None
    reqs.sort(key=lambda r: r.key)
    return LabelSelector(tuple(reqs))


# ---------------------------------------------------------------------------------------------
# Field selectors
# ---------------------------------------------------------------------------------------------

FieldGetter = Callable[[Mapping[str, Any]], str]


def _path(*keys: str, default: str = "") -> FieldGetter:
    """Reads a nested value and renders it as kube's field set does (bools lower case)."""

    def get(obj: Mapping[str, Any]) -> str:
        cur: Any = obj
        for key in keys:
            if not isinstance(cur, Mapping):
                return default
            cur = cur.get(key)
        if cur is None:
            return default
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get


def _first_of(*getters: FieldGetter) -> FieldGetter:
    """The first non-empty value: core and events.k8s.io Events name fields differently."""

    def get(obj: Mapping[str, Any]) -> str:
        for getter in getters:
            value = getter(obj)
            if value:
                return value
        return ""

    return get


def _pod_ip(obj: Mapping[str, Any]) -> str:
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return ""
    ips = status.get("podIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], Mapping) and ips[0].get("ip"):
        return str(ips[0]["ip"])
    ip = status.get("podIP")
    return str(ip) if ip else ""


def _object_ref_fields(prefix: str, alt: str) -> dict[str, FieldGetter]:
    subs = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    return {f"{prefix}.{sub}": _first_of(_path(prefix, sub), _path(alt, sub)) for sub in subs}


_EVENT_FIELDS: Final[dict[str, FieldGetter]] = {
    **_object_ref_fields("involvedObject", "regarding"),
    **_object_ref_fields("regarding", "involvedObject"),
    "reason": _path("reason"),
    "reportingComponent": _first_of(_path("reportingComponent"), _path("reportingController")),
    "reportingController": _first_of(_path("reportingController"), _path("reportingComponent")),
    "source": _first_of(
        _path("source", "component"),
        _path("deprecatedSource", "component"),
        _path("reportingComponent"),
        _path("reportingController"),
    ),
    "type": _path("type"),
}

_NAME: Final[dict[str, FieldGetter]] = {"metadata.name": _path("metadata", "name")}
_NAME_AND_NAMESPACE: Final[dict[str, FieldGetter]] = {
    **_NAME,
    "metadata.namespace": _path("metadata", "namespace"),
}


def _not_supported(field: str) -> str:
    return f"field label not supported: {field}"


def _not_known(field: str) -> str:
    """runtime.DefaultMetaV1FieldSelectorConversion's wording (kinds with no conversion)."""
    return f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'


@attrs.frozen
class FieldRules:
    """The field labels one kind accepts, how each is read, and how a refusal is worded.

    Mirrors the field label conversion function kube-apiserver registers per
    kind (k8s.io/kubernetes/pkg/apis/*/v1/conversion.go); `aliases` are labels
    the conversion rewrites (`spec.host` is an old name of `spec.nodeName`).
    """

    fields: Mapping[str, FieldGetter]
    reject: Callable[[str], str] = _not_supported
    aliases: Mapping[str, str] = attrs.field(factory=dict)


# Kinds with a registered conversion function, as kube-apiserver 1.32 has them. Cluster-scoped
# Node and Namespace do not accept metadata.namespace. For "Event" the core and events.k8s.io
# spellings are both accepted and each reads whichever shape the stored object has.
KIND_RULES: Final[dict[str, FieldRules]] = {
    "Pod": FieldRules(
        {
            **_NAME_AND_NAMESPACE,
            "spec.nodeName": _path("spec", "nodeName"),
            "spec.restartPolicy": _path("spec", "restartPolicy"),
            "spec.schedulerName": _path("spec", "schedulerName"),
            "spec.serviceAccountName": _path("spec", "serviceAccountName"),
            "spec.hostNetwork": _path("spec", "hostNetwork", default="false"),
            "status.phase": _path("status", "phase"),
            "status.podIP": _pod_ip,
            # Accepted by the conversion but never set by PodToSelectableFields: always "".
            "status.podIPs": lambda obj: "",
            "status.nominatedNodeName": _path("status", "nominatedNodeName"),
        },
        aliases={"spec.host": "spec.nodeName"},
    ),
    "Node": FieldRules(
        {**_NAME, "spec.unschedulable": _path("spec", "unschedulable", default="false")}
    ),
    "Namespace": FieldRules({**_NAME, "status.phase": _path("status", "phase")}),
    "Secret": FieldRules({**_NAME_AND_NAMESPACE, "type": _path("type")}),
    "Service": FieldRules(
        {
            **_NAME_AND_NAMESPACE,
            "spec.clusterIP": _path("spec", "clusterIP"),
            "spec.type": _path("spec", "type"),
        }
    ),
    "ReplicationController": FieldRules(
        {**_NAME_AND_NAMESPACE, "status.replicas": _path("status", "replicas", default="0")}
    ),
    "Event": FieldRules({**_NAME_AND_NAMESPACE, **_EVENT_FIELDS}),
    "Job": FieldRules(
        {**_NAME_AND_NAMESPACE, "status.successful": _path("status", "succeeded", default="0")},
        reject=lambda field: f'field label "{field}" not supported for batchv1.Job',
    ),
    "CertificateSigningRequest": FieldRules(
        {**_NAME, "spec.signerName": _path("spec", "signerName")}
    ),
}

# Built-in kinds without a conversion function (ConfigMap, Deployment, ReplicaSet, ...).
_DEFAULT_RULES: Final = FieldRules(_NAME_AND_NAMESPACE, reject=_not_known)


def _builtin_kinds() -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    from kuberay_py.sandbox.registry.catalog import BUILTIN_TYPES

    return (
        frozenset(t.kind for t in BUILTIN_TYPES),
        frozenset((t.group, t.kind) for t in BUILTIN_TYPES),
    )


_BUILTIN_KINDS, _BUILTIN_GROUP_KINDS = _builtin_kinds()


def _json_path_getter(json_path: str) -> tuple[str, FieldGetter]:
    label = json_path.lstrip(".")
    return label, _path(*label.split("."))


def field_rules(
    kind: str,
    *,
    api_version: str | None = None,
    namespaced: bool = True,
    custom: bool | None = None,
    selectable_fields: Iterable[str] = (),
) -> FieldRules:
    """The field label rules for a kind.

    `custom` (a custom resource) is inferred when not given: a kind the
    built-in catalog does not serve (in `api_version`'s group, when given) is
    custom. Custom resources accept metadata.name, metadata.namespace when
    namespaced, and the CRD's `selectableFields` JSON paths (`.spec.color`).
    """
    if custom is None:
        if api_version is not None:
            group = api_version.rpartition("/")[0]
            custom = (group, kind) not in _BUILTIN_GROUP_KINDS
        else:
            custom = kind not in _BUILTIN_KINDS and kind not in KIND_RULES
    if not custom:
        return KIND_RULES.get(kind, _DEFAULT_RULES)
    fields = dict(_NAME_AND_NAMESPACE if namespaced else _NAME)
    for json_path in selectable_fields:
        label, getter = _json_path_getter(json_path)
        fields[label] = getter
    return FieldRules(fields)


def supported_fields(kind: str, **kwargs: Any) -> frozenset[str]:
    """Every field label `kind` accepts in a field selector (see `field_rules`)."""
    rules = field_rules(kind, **kwargs)
    return frozenset(rules.fields) | frozenset(rules.aliases)


@attrs.frozen
class FieldTerm:
    """`field=value` (or `!=` when `negate`), with the value already unescaped."""

    field: str
    value: str
    negate: bool = False
    getter: FieldGetter = attrs.field(eq=False, repr=False, default=_path())

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (self.getter(obj) == self.value) != self.negate

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negate else '='}{escape_field_value(self.value)}"


@attrs.frozen
class FieldSelector:
    """A conjunction of field terms; the empty selector matches everything."""

    terms: tuple[FieldTerm, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(t.matches(obj) for t in self.terms)

    def required_value(self, field: str) -> str | None:
        """The value `field` must equal for any match, else None (kube's RequiresExactMatch).

        Only narrows the candidates: other terms may still reject them, so call
        `matches` on whatever this helps find.
        """
        for t in self.terms:
            if t.field == field and not t.negate:
                return t.value
        return None

    def _sole(self, field: str) -> str | None:
        if len(self.terms) == 1 and self.terms[0].field == field and not self.terms[0].negate:
            return self.terms[0].value
        return None

    @property
    def exact_name(self) -> str | None:
        """X when the selector is exactly `metadata.name=X`: a GET by name answers it fully."""
        return self._sole("metadata.name")

    @property
    def exact_namespace(self) -> str | None:
        """X when the selector is exactly `metadata.namespace=X`."""
        return self._sole("metadata.namespace")

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def escape_field_value(value: str) -> str:
    """Escapes `\\`, `,` and `=` so the value survives a round trip through the parser."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise errors.bad_request(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            raise errors.bad_request(f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if in_slash:
        raise errors.bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(selector: str) -> list[str]:
    """Splits on commas not escaped by a backslash."""
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(selector):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """(lhs, operator, rhs) at the first position where `!=`, `==` or `=` starts."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(
    selector: str | None,
    kind: str,
    *,
    api_version: str | None = None,
    namespaced: bool = True,
    custom: bool | None = None,
    selectable_fields: Iterable[str] = (),
) -> FieldSelector:
    """Parses a `fieldSelector` query string for objects of `kind`.

    The whole string is parsed first (syntax errors are 400 with kube's
    wording), then every field label goes through the kind's rules (see
    `field_rules`): an unsupported one is a 400 with the message kube-apiserver
    gives for that kind, `field label not supported: <field>` for most.
    """
    if not selector:
        return FieldSelector()
    parsed: list[tuple[str, str, bool]] = []
    for part in _split_terms(selector):
        if part == "":
            continue
        split = _split_term(part)
        if split is None:
            raise errors.bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
        lhs, op, rhs = split
        parsed.append((lhs, _unescape_field_value(rhs), op == "!="))
    rules = field_rules(
        kind,
        api_version=api_version,
        namespaced=namespaced,
        custom=custom,
        selectable_fields=selectable_fields,
    )
    terms: list[FieldTerm] = []
    for lhs, value, negate in sorted(parsed):  # canonical order: str() round-trips
        field = rules.aliases.get(lhs, lhs)
        getter = rules.fields.get(field)
        if getter is None:
            raise errors.bad_request(rules.reject(lhs))
        terms.append(FieldTerm(field, value, negate, getter))
    return FieldSelector(tuple(terms))
