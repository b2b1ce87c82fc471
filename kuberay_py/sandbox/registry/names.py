"""Object-name rules and generateName, with kube-apiserver's exact wording.

kubectl prints the server's message verbatim, so a user who types a bad name
must read the same sentence a real cluster gives them; the checks themselves are
apimachinery's, shared with the operator's validation in `api.k8s_names`.
"""

from __future__ import annotations

import random

from kuberay_py.api.k8s_names import is_dns1035_label, is_dns1123_label, is_dns1123_subdomain
from kuberay_py.sandbox.registry.errors import Cause
from kuberay_py.sandbox.registry.selectors import label_value_errors, qualified_name_errors

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
        msgs = is_dns1123_label(name)
    elif (group, kind) in _DNS1035_KINDS:
        msgs = is_dns1035_label(name)
    else:
        msgs = is_dns1123_subdomain(name)
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
