"""Object-name rules and generateName, with kube-apiserver's exact wording.

kubectl prints the server's message verbatim, so a user who types a bad name
must read the same sentence a real cluster gives them; the regexes and
example strings below are apimachinery's.
"""

from __future__ import annotations

import random
import re

from kuberay_py.sandbox.registry.errors import Cause
from kuberay_py.sandbox.registry.selectors import label_value_errors, qualified_name_errors

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"

_LABEL_RE = re.compile(f"^{DNS1123_LABEL_FMT}$")
_SUBDOMAIN_RE = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_RE = re.compile(f"^{DNS1035_LABEL_FMT}$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{DNS1123_SUBDOMAIN_FMT}')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    f"regex used for validation is '{DNS1123_LABEL_FMT}')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    f"'abc-123', regex used for validation is '{DNS1035_LABEL_FMT}')"
)

GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_SUFFIX_LEN = 5
MAX_GENERATE_BASE = 63 - GENERATE_SUFFIX_LEN

_rng = random.SystemRandom()


def generate_name(base: str) -> str:
    """`base` + 5 random characters, truncating base as kube does so labels stay <= 63."""
    base = base[:MAX_GENERATE_BASE]
    return base + "".join(_rng.choice(GENERATE_ALPHABET) for _ in range(GENERATE_SUFFIX_LEN))


def _invalid(field: str, value: str, message: str) -> Cause:
    return Cause("FieldValueInvalid", f'Invalid value: "{value}": {message}', field)


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _SUBDOMAIN_RE.match(value):
        errs.append(SUBDOMAIN_MSG)
    return errs


def dns1123_label_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_RE.match(value):
        errs.append(LABEL_MSG)
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1035_RE.match(value):
        errs.append(DNS1035_MSG)
    return errs


# Kinds whose names are stricter than a subdomain (kube's per-kind ValidateXName).
_LABEL_KINDS = {("", "Namespace")}
_DNS1035_KINDS = {("", "Service")}


def name_causes(group: str, kind: str, name: str, field: str = "metadata.name") -> list[Cause]:
    """Validation causes for an object name of `kind` (empty when valid)."""
    if not name:
        return [
            Cause("FieldValueRequired", "Required value: name or generateName is required", field)
        ]
    if (group, kind) in _LABEL_KINDS:
        msgs = dns1123_label_errors(name)
    elif (group, kind) in _DNS1035_KINDS:
        msgs = dns1035_label_errors(name)
    else:
        msgs = dns1123_subdomain_errors(name)
    return [_invalid(field, name, m) for m in msgs]


ANNOTATIONS_MAX_BYTES = 256 * 1024


def metadata_causes(meta: dict[str, object]) -> list[Cause]:
    """Label keys/values and annotation keys/size, as kube's ValidateObjectMeta words them."""
    causes: list[Cause] = []
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            causes += [_invalid("metadata.labels", key, m) for m in qualified_name_errors(key)]
            if isinstance(value, str):
                causes += [_invalid("metadata.labels", value, m) for m in label_value_errors(value)]
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        size = 0
        for key, value in annotations.items():
            causes += [
                _invalid("metadata.annotations", key, m) for m in qualified_name_errors(key.lower())
            ]
            size += len(key) + (len(value) if isinstance(value, str) else 0)
        if size > ANNOTATIONS_MAX_BYTES:
            causes.append(
                Cause(
                    "FieldValueTooLong",
                    f"Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes",
                    "metadata.annotations",
                )
            )
    return causes


def owner_reference_causes(refs: object) -> list[Cause]:
    """The checks on metadata.ownerReferences the garbage collector relies on."""
    field = "metadata.ownerReferences"
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        return [Cause("FieldValueInvalid", "Invalid value: must be a list of objects", field)]
    causes: list[Cause] = []
    controllers = 0
    for ref in refs:
        api_version = ref.get("apiVersion")
        if not api_version or not isinstance(api_version, str):
            causes.append(_invalid(f"{field}.apiVersion", "", "version must not be empty"))
        for key in ("kind", "name", "uid"):
            value = ref.get(key)
            if not value or not isinstance(value, str):
                causes.append(_invalid(f"{field}.{key}", "", f"{key} must not be empty"))
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: Only one reference can have Controller set to true",
                field,
            )
        )
    return causes
