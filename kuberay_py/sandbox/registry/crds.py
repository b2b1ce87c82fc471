"""CustomResourceDefinitions: light validation, status, and catalog registration.

A CRD is stored like any object; what makes it special is that storing it
changes what the server serves. The registry calls `validate_crd` and
`prepare_crd` before storing one, `resource_types` to register every served
version in the catalog afterwards, and unregisters the group/resource when
it is deleted. Status is set Established at once, as a real apiserver does
within milliseconds for a CRD without naming conflicts.
"""

from __future__ import annotations

from typing import Any

from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.errors import Cause

CRD_GROUP = "apiextensions.k8s.io"
CRD_KIND = "CustomResourceDefinition"


def is_crd_type(rt: ResourceType) -> bool:
    return rt.group == CRD_GROUP and rt.resource == "customresourcedefinitions"


def _required(field: str) -> Cause:
    return Cause("FieldValueRequired", "Required value", field)


def _invalid(field: str, value: Any, detail: str) -> Cause:
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", field)


def validate_crd(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """The checks that keep the catalog consistent (not all of kube's)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    causes: list[Cause] = []
    group = spec.get("group")
    raw_names = spec.get("names")
    names: dict[str, Any] = raw_names if isinstance(raw_names, dict) else {}
    plural = names.get("plural")
    if not group or not isinstance(group, str):
        causes.append(_required("spec.group"))
    elif "." not in group:
        causes.append(_invalid("spec.group", group, "should be a domain with at least one dot"))
    if not plural or not isinstance(plural, str):
        causes.append(_required("spec.names.plural"))
    kind = names.get("kind")
    if not kind:
        causes.append(_required("spec.names.kind"))
    elif not isinstance(kind, str):
        causes.append(_invalid("spec.names.kind", kind, "must be a string"))
    name = obj["metadata"].get("name")
    if isinstance(group, str) and isinstance(plural, str) and name != f"{plural}.{group}":
        causes.append(_invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", '
                '"Namespaced"',
                "spec.scope",
            )
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        causes.append(_required("spec.versions"))
        return causes
    storage = 0
    seen: set[str] = set()
    for i, v in enumerate(versions):
        if not isinstance(v, dict) or not v.get("name"):
            causes.append(_required(f"spec.versions[{i}].name"))
            continue
        if not isinstance(v["name"], str):
            causes.append(_invalid(f"spec.versions[{i}].name", v["name"], "must be a string"))
            continue
        if v["name"] in seen:
            causes.append(
                Cause(
                    "FieldValueDuplicate",
                    f'Duplicate value: "{v["name"]}"',
                    f"spec.versions[{i}].name",
                )
            )
        seen.add(v["name"])
        if v.get("storage") is True:
            storage += 1
    if storage != 1:
        causes.append(
            _invalid(
                "spec.versions", versions, "must have exactly one version marked as storage version"
            )
        )
    if old is not None:
        old_spec = old.get("spec") or {}
        if old_spec.get("group") != group:
            causes.append(_invalid("spec.group", group, "field is immutable"))
        if (old_spec.get("names") or {}).get("plural") != plural:
            causes.append(_invalid("spec.names.plural", plural, "field is immutable"))
        if old_spec.get("scope") != spec.get("scope"):
            causes.append(_invalid("spec.scope", spec.get("scope"), "field is immutable"))
    return causes


def prepare_crd(obj: dict[str, Any], old: dict[str, Any] | None, now: str) -> None:
    """Default names and set status (accepted names, Established, storedVersions)."""
    spec = obj["spec"]
    names = spec["names"]
    kind = names["kind"]
    names.setdefault("singular", kind.lower())
    names.setdefault("listKind", f"{kind}List")
    spec.setdefault("conversion", {"strategy": "None"})
    for v in spec["versions"]:
        v.setdefault("served", True)
    storage = next(v["name"] for v in spec["versions"] if v.get("storage") is True)
    old_status = (old or {}).get("status") or {}
    stored = list(old_status.get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    old_conditions = {c.get("type"): c for c in old_status.get("conditions") or ()}

    def condition(ctype: str, reason: str, message: str) -> dict[str, Any]:
        previous = old_conditions.get(ctype)
        since = previous.get("lastTransitionTime", now) if previous else now
        if previous and previous.get("status") != "True":
            since = now
        return {
            "type": ctype,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    obj["status"] = {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
        "acceptedNames": dict(names),
        "storedVersions": stored,
    }


def resource_types(crd: dict[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version of a (validated) CRD."""
    spec = crd["spec"]
    names = spec["names"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage") is True)
    out = []
    for v in spec["versions"]:
        if v.get("served", True) is False:
            continue
        sub = v.get("subresources") or {}
        subresources = tuple(s for s in ("status", "scale") if s in sub)
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=spec["group"],
                version=v["name"],
                resource=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
                storage_version=storage,
                schema=schema,
                printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
                is_crd=True,
            )
        )
    return out
