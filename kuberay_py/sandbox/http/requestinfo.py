"""URL -> what is being asked: kube-apiserver's RequestInfo, resolved with dict lookups.

The API server has one route for everything under /api and /apis; this
module splits the path once and looks the resource up in the catalog by
(group, version, resource), so resolving a URL costs the same whatever
the number of served types, and a CRD registered a moment ago is routable
at once.
"""

from __future__ import annotations

from urllib.parse import unquote

import attrs

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType

# Subresources of a Namespace addressed as /api/v1/namespaces/NAME/<sub>.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
# Method -> kube verb for a request naming one object.
_ITEM_VERBS = {
    "GET": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
    "POST": "create",
}
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
# Metrics use kube's verb spellings.
METRICS_VERBS = {
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETECOLLECTION",
}


@attrs.define(slots=True)
class RequestInfo:
    """One API request, parsed. `rt` is None when the URL names no served resource."""

    verb: str  # kube verb (get/list/watch/create/update/patch/delete/deletecollection)
    group: str = ""
    version: str = ""
    namespace: str | None = None
    resource: str = ""
    name: str | None = None
    subresource: str | None = None
    proxy_path: str = ""  # what follows .../proxy in a proxy URL (raw, still %-encoded)
    watch_path: bool = False  # legacy /watch/ prefix
    rt: ResourceType | None = None
    resource_request: bool = True

    @property
    def metrics_verb(self) -> str:
        if self.subresource in ("proxy", "exec", "portforward", "attach"):
            return "CONNECT"
        return METRICS_VERBS.get(self.verb, self.verb.upper())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def registry_namespace(self) -> str | None:
        """The namespace to hand the registry (None for cluster-scoped types)."""
        if self.rt is None or not self.rt.namespaced:
            return None
        return self.namespace


def parse(method: str, raw_path: str, query_watch: bool, catalog: Catalog) -> RequestInfo | None:
    """The RequestInfo of a resource URL; None when the path is not /api/V/... or /apis/G/V/...

    `raw_path` excludes the query string and is still percent-encoded.
    """
    segments = raw_path.strip("/").split("/")
    if segments[0] == "api":
        if len(segments) < 3:
            return None
        group, version, rest = "", segments[1], segments[2:]
        prefix_len = 2
    elif segments[0] == "apis":
        if len(segments) < 4:
            return None
        group, version, rest = segments[1], segments[2], segments[3:]
        prefix_len = 3
    else:
        return None
    info = RequestInfo(verb="", group=group, version=version)
    if rest[0] == "watch":
        info.watch_path = True
        rest = rest[1:]
        prefix_len += 1
        if not rest:
            return _unresolved(info, method)
    if rest[0] == "namespaces" and len(rest) > 1:
        info.namespace = unquote(rest[1])
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
            prefix_len += 2
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = unquote(rest[1])
    if len(rest) > 2:
        info.subresource = rest[2]
    if len(rest) > 3 and info.subresource != "proxy":
        info.verb = _ITEM_VERBS.get(method, method.lower())
        return info  # rt stays None: no such route
    if info.subresource == "proxy":
        info.proxy_path = _after_proxy(raw_path, prefix_len)
    # Verb, as kube's RequestInfoFactory derives it.
    if info.name is None:
        info.verb = _COLLECTION_VERBS.get(method, method.lower())
        if info.verb == "list" and (query_watch or info.watch_path):
            info.verb = "watch"
    else:
        info.verb = _ITEM_VERBS.get(method, method.lower())
        if info.watch_path and info.verb == "get":
            info.verb = "watch"
    info.rt = catalog.get(group, version, info.resource)
    return info


def _unresolved(info: RequestInfo, method: str) -> RequestInfo:
    info.verb = _COLLECTION_VERBS.get(method, method.lower())
    return info


def _after_proxy(raw_path: str, prefix_len: int) -> str:
    """The raw path after `<prefix>/<resource>/<name>/proxy` (keeps a trailing slash)."""
    parts = raw_path.split("/")
    # parts[0] is "" (leading slash); the prefix segments, then resource, name, "proxy".
    skip = 1 + prefix_len + 3
    rest = parts[skip:]
    return "/" + "/".join(rest) if rest else ""


def split_proxy_name(name: str) -> tuple[str, str, str]:
    """kube's SplitSchemeNamePort: `name`, `name:port` or `scheme:name:port`."""
    parts = name.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return "", "", ""
