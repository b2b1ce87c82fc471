"""API discovery: legacy (APIVersions, APIGroupList, APIResourceList) and aggregated (v2).

kubectl learns every resource name, short name, category and verb from these
replies, and caches them keyed by ETag. All documents are rebuilt from the
catalog whenever its generation changes (a CRD registered, changed or
deleted), and encoded once per generation, so discovery costs a dict lookup
on the hot path.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"

# Subresource -> (group, version, kind of what it serves, or None: the parent's kind), verbs.
_SUBRESOURCES: dict[str, tuple[tuple[str, str, str] | None, tuple[str, ...]]] = {
    "status": (None, ("get", "patch", "update")),
    "scale": (("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    "binding": (("", "v1", "Binding"), ("create",)),
    "eviction": (("policy", "v1", "Eviction"), ("create",)),
    "log": (None, ("get",)),
    "exec": (("", "v1", "PodExecOptions"), ("create", "get")),
    "attach": (("", "v1", "PodAttachOptions"), ("create", "get")),
    "portforward": (("", "v1", "PodPortForwardOptions"), ("create", "get")),
    "ephemeralcontainers": (None, ("get", "patch", "update")),
    "finalize": (None, ("update",)),
}
_PROXY_VERBS = ("create", "delete", "get", "patch", "update")


def _sub_kind(rt: ResourceType, sub: str) -> tuple[str, str, str]:
    if sub == "proxy":
        return ("", "v1", f"{rt.kind}ProxyOptions")
    found = _SUBRESOURCES.get(sub, (None, ()))[0]
    return found if found is not None else (rt.group, rt.version, rt.kind)


def _sub_verbs(sub: str) -> list[str]:
    if sub == "proxy":
        return list(_PROXY_VERBS)
    return list(_SUBRESOURCES.get(sub, (None, ("get",)))[1])


def _storage_version_hash(rt: ResourceType) -> str:
    version = rt.storage_version or rt.version
    digest = hashlib.sha256(f"{rt.stored_group}/{version}/{rt.kind}".encode())
    return digest.digest()[:8].hex()


def resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    """The APIResourceList of one group-version, or None when it is not served."""
    rts = catalog.in_group_version(group, version)
    if not rts:
        return None
    resources: list[dict[str, Any]] = []
    for rt in rts:
        entry: dict[str, Any] = {
            "name": rt.resource,
            "singularName": rt.singular or rt.kind.lower(),
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": sorted(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        entry["storageVersionHash"] = _storage_version_hash(rt)
        resources.append(entry)
        for sub in rt.subresources:
            sgroup, sversion, skind = _sub_kind(rt, sub)
            sub_entry: dict[str, Any] = {
                "name": f"{rt.resource}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": skind,
                "verbs": _sub_verbs(sub),
            }
            if (sgroup, sversion) != (group, version):
                sub_entry["group"] = sgroup
                sub_entry["version"] = sversion
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def group_list(catalog: Catalog) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(g, vs) for g, vs in catalog.groups() if g],
    }


def api_group(catalog: Catalog, group: str) -> dict[str, Any] | None:
    for g, versions in catalog.groups():
        if g == group and g:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(g, versions)}
    return None


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.resource,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular or rt.kind.lower(),
        "verbs": sorted(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.subresources:
        subs = []
        for sub in rt.subresources:
            sgroup, sversion, skind = _sub_kind(rt, sub)
            subs.append(
                {
                    "subresource": sub,
                    "responseKind": {"group": sgroup, "version": sversion, "kind": skind},
                    "verbs": _sub_verbs(sub),
                }
            )
        entry["subresources"] = subs
    return entry


def aggregated(catalog: Catalog, legacy_core: bool, version: str) -> dict[str, Any]:
    """The APIGroupDiscoveryList for /api (legacy_core) or /apis, as apidiscovery `version`."""
    items: list[dict[str, Any]] = []
    for group, versions in catalog.groups():
        if (group == "") != legacy_core:
            continue
        item: dict[str, Any] = {"metadata": {"name": group} if group else {}, "versions": []}
        for v in versions:
            item["versions"].append(
                {
                    "version": v,
                    "resources": [
                        _aggregated_resource(rt) for rt in catalog.in_group_version(group, v)
                    ],
                    "freshness": "Current",
                }
            )
        items.append(item)
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }


class DiscoveryCache:
    """Encoded discovery documents and their ETags, rebuilt when the catalog changes."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._generation = -1
        self._docs: dict[tuple[str, ...], tuple[bytes, str] | None] = {}

    def get(self, key: tuple[str, ...], server_address: str = "") -> tuple[bytes, str] | None:
        """Keys: ("api",), ("apis",), ("agg", "api"|"apis", v), ("gv", g, v), ("group", g)."""
        if self._generation != self.catalog.generation:
            self._docs.clear()
            self._generation = self.catalog.generation
        cache_key = (*key, server_address) if key == ("api",) else key
        if cache_key in self._docs:
            return self._docs[cache_key]
        doc = self._build(key, server_address)
        encoded = None if doc is None else _with_etag(orjson.dumps(doc))
        self._docs[cache_key] = encoded
        return encoded

    def _build(self, key: tuple[str, ...], server_address: str) -> dict[str, Any] | None:
        what = key[0]
        if what == "api":
            return api_versions(server_address)
        if what == "apis":
            return group_list(self.catalog)
        if what == "agg":
            return aggregated(self.catalog, key[1] == "api", key[2])
        if what == "gv":
            return resource_list(self.catalog, key[1], key[2])
        if what == "group":
            return api_group(self.catalog, key[1])
        return None


def _with_etag(body: bytes) -> tuple[bytes, str]:
    return body, '"' + hashlib.sha256(body).hexdigest()[:32].upper() + '"'
