"""The `paths` section of a group-version document: REST operations per resource.

kubectl reads little of it, but what it reads decides its behaviour: the
item path's PATCH operation, found by its `x-kubernetes-group-version-kind`,
must list the `fieldValidation` query parameter (else kubectl wants
`/openapi/v2` for client-side validation) and, for built-in kinds,
`application/strategic-merge-patch+json` in its request body (else it
cannot compute a strategic merge patch from v3). The shape follows
kube-apiserver's: inline parameters, `x-kubernetes-action`, operation ids
like `patchCoreV1NamespacedPod`.
"""

from __future__ import annotations

from typing import Any

from kuberay_py.sandbox.openapi.definitions import (
    COMPONENTS_PREFIX,
    DELETE_OPTIONS,
    PATCH,
    STATUS,
)
from kuberay_py.sandbox.registry.catalog import ResourceType

Op = dict[str, Any]

JSON_TYPES = ("application/json", "application/yaml")


def _param(name: str, where: str, description: str, type_: str = "string") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": type_, "uniqueItems": True}
    out: dict[str, Any] = {"name": name, "in": where, "description": description, "schema": schema}
    if where == "path":
        out["required"] = True
    return out


P_NAME = _param("name", "path", "name of the resource")
P_NAMESPACE = _param(
    "namespace", "path", "object name and auth scope, such as for teams and projects"
)
P_PRETTY = _param("pretty", "query", "If 'true', then the output is pretty printed.")
P_DRY_RUN = _param(
    "dryRun", "query", "When present, indicates that modifications should not be persisted."
)
P_FIELD_MANAGER = _param(
    "fieldManager", "query", "a name associated with the actor making these changes."
)
P_FIELD_VALIDATION = _param(
    "fieldValidation",
    "query",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, "
    "Warn (the default) and Strict.",
)
P_FORCE = _param("force", "query", 'Force is going to "force" Apply requests.', "boolean")
P_GRACE = _param(
    "gracePeriodSeconds",
    "query",
    "The duration in seconds before the object should be deleted.",
    "integer",
)
P_PROPAGATION = _param(
    "propagationPolicy", "query", "Whether and how garbage collection will be performed."
)
LIST_PARAMS = [
    _param(
        "allowWatchBookmarks", "query", 'requests watch events with type "BOOKMARK".', "boolean"
    ),
    _param(
        "continue",
        "query",
        "The continue option should be set when retrieving more results from the server.",
    ),
    _param(
        "fieldSelector",
        "query",
        "A selector to restrict the list of returned objects by their fields.",
    ),
    _param(
        "labelSelector",
        "query",
        "A selector to restrict the list of returned objects by their labels.",
    ),
    _param(
        "limit",
        "query",
        "limit is a maximum number of responses to return for a list call.",
        "integer",
    ),
    _param(
        "resourceVersion",
        "query",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _param(
        "resourceVersionMatch",
        "query",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _param(
        "sendInitialEvents",
        "query",
        "`sendInitialEvents=true` may be set together with `watch=true`.",
        "boolean",
    ),
    _param("timeoutSeconds", "query", "Timeout for the list/watch call.", "integer"),
    _param("watch", "query", "Watch for changes to the described resources.", "boolean"),
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": COMPONENTS_PREFIX + name}


def _content(schema: dict[str, Any], types: tuple[str, ...] = JSON_TYPES) -> dict[str, Any]:
    return {t: {"schema": schema} for t in types}


def _responses(schema_name: str, *codes: str) -> dict[str, Any]:
    texts = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: dict[str, Any] = {
        code: {"description": texts[code], "content": _content(_ref(schema_name))} for code in codes
    }
    out["401"] = {"description": "Unauthorized"}
    return out


def _op_id_part(rt: ResourceType) -> str:
    """`CoreV1`, `AppsV1`, `RbacAuthorizationV1`, `RayIoV1`: kube's operation id infix."""
    group = rt.group.replace(".k8s.io", "") if rt.group else "core"
    words = [w for part in group.split(".") for w in part.split("-")]
    return "".join(w[:1].upper() + w[1:] for w in words) + rt.version[:1].upper() + rt.version[1:]


def _tag(rt: ResourceType) -> str:
    group = rt.group.replace(".k8s.io", "").replace(".", "_") if rt.group else "core"
    return f"{group}_{rt.version}"


def resource_paths(
    rt: ResourceType, kind_schema: str, list_schema: str | None
) -> dict[str, dict[str, Any]]:
    """Collection, item, all-namespaces and status paths of one resource type."""
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    infix = _op_id_part(rt) + ("Namespaced" if rt.namespaced else "")
    kind = rt.kind
    gvk = {"group": rt.group, "version": rt.version, "kind": kind}
    tags = [_tag(rt)]

    def op(action: str, op_id: str, description: str, **extra: Any) -> Op:
        out: Op = {
            "tags": tags,
            "description": description,
            "operationId": op_id,
            **extra,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        }
        return out

    patch_types = [
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ]
    if not rt.is_crd:
        patch_types.append("application/strategic-merge-patch+json")
    patch_body = {"content": _content(_ref(PATCH), tuple(patch_types)), "required": True}
    write_body = {"content": _content(_ref(kind_schema)), "required": True}
    delete_body = {"content": _content(_ref(DELETE_OPTIONS))}
    write_params = [P_DRY_RUN, P_FIELD_MANAGER, P_FIELD_VALIDATION]

    def item_ops(suffix: str, what: str) -> dict[str, Any]:
        return {
            "get": op(
                "get",
                f"read{infix}{kind}{suffix}",
                f"read {what} of the specified {kind}",
                responses=_responses(kind_schema, "200"),
            ),
            "put": op(
                "put",
                f"replace{infix}{kind}{suffix}",
                f"replace {what} of the specified {kind}",
                parameters=write_params,
                requestBody=write_body,
                responses=_responses(kind_schema, "200", "201"),
            ),
            "patch": op(
                "patch",
                f"patch{infix}{kind}{suffix}",
                f"partially update {what} of the specified {kind}",
                parameters=[*write_params, P_FORCE],
                requestBody=patch_body,
                responses=_responses(kind_schema, "200", "201"),
            ),
        }

    scope = [P_NAMESPACE] if rt.namespaced else []
    base = (
        f"{prefix}/namespaces/{{namespace}}/{rt.resource}"
        if rt.namespaced
        else f"{prefix}/{rt.resource}"
    )
    paths: dict[str, dict[str, Any]] = {}
    list_name = list_schema or kind_schema
    collection: dict[str, Any] = {
        "get": op(
            "list",
            f"list{infix}{kind}",
            f"list or watch objects of kind {kind}",
            parameters=LIST_PARAMS,
            responses=_responses(list_name, "200"),
        ),
        "post": op(
            "post",
            f"create{infix}{kind}",
            f"create a {kind}",
            parameters=write_params,
            requestBody=write_body,
            responses=_responses(kind_schema, "200", "201", "202"),
        ),
        "parameters": [*scope, P_PRETTY],
    }
    if "deletecollection" in rt.verbs:
        collection["delete"] = op(
            "deletecollection",
            f"deleteCollection{infix}{kind}",
            f"delete collection of {kind}",
            parameters=[P_DRY_RUN, P_GRACE, P_PROPAGATION, *LIST_PARAMS],
            requestBody=delete_body,
            responses=_responses(STATUS, "200"),
        )
    paths[base] = collection
    item = item_ops("", "the")
    item["delete"] = op(
        "delete",
        f"delete{infix}{kind}",
        f"delete a {kind}",
        parameters=[P_DRY_RUN, P_GRACE, P_PROPAGATION],
        requestBody=delete_body,
        responses=_responses(STATUS, "200", "202"),
    )
    item["parameters"] = [P_NAME, *scope, P_PRETTY]
    paths[f"{base}/{{name}}"] = item
    if "status" in rt.subresources:
        status = item_ops("Status", "status")
        status["parameters"] = [P_NAME, *scope, P_PRETTY]
        paths[f"{base}/{{name}}/status"] = status
    if rt.namespaced:
        paths[f"{prefix}/{rt.resource}"] = {
            "get": op(
                "list",
                f"list{_op_id_part(rt)}{kind}ForAllNamespaces",
                f"list or watch objects of kind {kind}",
                parameters=LIST_PARAMS,
                responses=_responses(list_name, "200"),
            ),
            "parameters": [P_PRETTY],
        }
    return paths
