"""Kubernetes' string checks, with its messages (apimachinery v0.36, which KubeRay builds with).

KubeRay embeds these messages in its own (a RayCluster name that is not a DNS-1035 label, a
worker group label Kubernetes would reject), so users grep for the same words. Two details
matter for byte-for-byte output: apimachinery has two message flavours (`util/validation` says
"characters", `api/validate/content` — behind `IsQualifiedName` and `IsValidLabelValue` —
says "bytes"), and Go measures length in UTF-8 bytes. Go's `%v` of a string list and `%q`
quoting are here too, because KubeRay formats these lists and names with them.

Before v0.35 `util/validation` had its own label-key and label-value checks ("a qualified
name", lengths in "characters"); kube-apiserver 1.32, which the sandbox plays, still prints
those, so the two checks take `legacy=True` for that wording rather than the sandbox keeping
a second copy of the rules.

`parse_generic_version` is apimachinery's `version.ParseGeneric`, whose errors KubeRay also
wraps into its messages (Ray version checks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DNS1035_LABEL_MAX_LENGTH = 63
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
LABEL_KEY_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63

DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + LABEL_KEY_FMT + ")?"

_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)

# Go's regexp `^...$` anchors at the very ends of the text; Python's fullmatch does the same
# (a bare `$` would also accept a trailing newline).
_DNS1035_LABEL_RE = re.compile(DNS1035_LABEL_FMT)
_DNS1123_LABEL_RE = re.compile(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(DNS1123_SUBDOMAIN_FMT)
_LABEL_KEY_RE = re.compile(LABEL_KEY_FMT)
_LABEL_VALUE_RE = re.compile(LABEL_VALUE_FMT)


def go_len(value: str) -> int:
    """Go's `len` of a string: UTF-8 bytes, so a name with an accent is longer than it looks."""
    return len(value.encode("utf-8", "surrogatepass"))


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's `RegexError`, including the double space it puts before each " or "."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    msg += " (e.g. "
    for i, example in enumerate(examples):
        if i > 0:
            msg += " or "
        msg += f"'{example}', "
    return msg + f"regex used for validation is '{fmt}')"


def max_len_error(length: int, *, unit: str = "characters") -> str:
    """`MaxLenError`: "characters" in util/validation, "bytes" in api/validate/content."""
    return f"must be no more than {length} {unit}"


EMPTY_ERROR = "must be non-empty"


def is_dns1035_label(value: str) -> list[str]:
    """`validation.IsDNS1035Label` (the rule for RayCluster, RayJob and RayService names)."""
    errs: list[str] = []
    if go_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_dns1123_label(value: str) -> list[str]:
    """`validation.IsDNS1123Label`; a valid subdomain that is not a label can only have dots."""
    errs: list[str] = []
    if go_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str, *, unit: str = "characters") -> list[str]:
    """`IsDNS1123Subdomain`; `unit="bytes"` gives the api/validate/content flavour."""
    errs: list[str] = []
    if go_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH, unit=unit))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_qualified_name(value: str, *, legacy: bool = False) -> list[str]:
    """`validation.IsQualifiedName` (= content.IsLabelKey): `[prefix/]name`, a label key.

    `legacy` gives apimachinery v0.32-v0.34's util/validation wording (see the module doc).
    """
    unit = "characters" if legacy else "bytes"
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + EMPTY_ERROR)
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix, unit=unit))
    else:
        return [
            ("a qualified name " if legacy else "a valid label key ")
            + regex_error(_LABEL_KEY_MSG, LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + EMPTY_ERROR)
    elif go_len(name) > LABEL_KEY_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(LABEL_KEY_NAME_MAX_LENGTH, unit=unit))
    if not _LABEL_KEY_RE.fullmatch(name):
        errs.append(
            "name part "
            + regex_error(_LABEL_KEY_MSG, LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str, *, legacy: bool = False) -> list[str]:
    """`validation.IsValidLabelValue` (= content.IsLabelValue); the empty string is valid.

    `legacy` counts "characters" as util/validation did before v0.35 (see the module doc).
    """
    errs: list[str] = []
    if go_len(value) > LABEL_VALUE_MAX_LENGTH:
        unit = "characters" if legacy else "bytes"
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH, unit=unit))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


# --- Go formatting -------------------------------------------------------------------------

_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_list(items: Sequence[str]) -> str:
    """Go's `%v` of a `[]string`: `[a b c]`, elements separated by single spaces."""
    return "[" + " ".join(items) + "]"


def go_quote(value: str) -> str:
    """Go's `%q` of a string (strconv.Quote): printable runes kept, the rest escaped."""
    out = ['"']
    for ch in value:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# --- versions ------------------------------------------------------------------------------

# Go's `\s` is ASCII whitespace only, and Go's `$` (no multiline) is the end of the text.
_VERSION_RE = re.compile(r"[\t\n\f\r ]*v?([0-9]+(?:\.[0-9]+)*)(.*)\Z")
_UINT64_MAX = 2**64 - 1


class VersionError(ValueError):
    """A version string `version.ParseGeneric` rejects; `str()` is apimachinery's message."""


def parse_generic_version(value: str) -> tuple[int, ...]:
    """`version.ParseGeneric`: two or more dot-separated numbers, anything after is ignored.

    Returns the numeric components; compare them with `version_less_than`.
    """
    match = _VERSION_RE.match(value)
    if match is None:
        raise VersionError(f"could not parse {go_quote(value)} as version")
    components = match.group(1).split(".")
    if len(components) < 2:
        raise VersionError(f"illegal version string {go_quote(value)}")
    numbers: list[int] = []
    for i, comp in enumerate(components):
        if i == 0 and comp.startswith("0") and comp != "0":
            raise VersionError(
                f"illegal zero-prefixed version component {go_quote(comp)} in {go_quote(value)}"
            )
        number = int(comp)
        if number > _UINT64_MAX:
            raise VersionError(
                f"illegal non-numeric version component {go_quote(comp)} in {go_quote(value)}: "
                f"strconv.ParseUint: parsing {go_quote(comp)}: value out of range"
            )
        numbers.append(number)
    return tuple(numbers)


def version_less_than(a: Sequence[int], b: Sequence[int]) -> bool:
    """Generic versions compare component-wise; missing trailing components count as zero."""
    width = max(len(a), len(b))
    return tuple(a) + (0,) * (width - len(a)) < tuple(b) + (0,) * (width - len(b))
