"""`Registry`: Kubernetes object semantics over a versioned store (see RegistryAPI).

Everything a kube-apiserver's generic registry does between decoding a
request and writing etcd happens here, synchronously: metadata (uid,
resourceVersion, generation, generateName), namespace lifecycle, per-kind
defaults and validation (strategies.py), CRD schema hooks, optimistic
concurrency, status-subresource rules, finalizers and graceful deletion, and
publication of every change to the watch hub. Stored objects are built once
and never mutated afterwards, so readers and watchers share them without
copies; every incoming body is cloned (orjson round trip) before it is
touched, so callers may reuse what they pass in.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import builtins
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from kuberay_py.sandbox.clock import SandboxClock
from kuberay_py.sandbox.registry import conversion, crds, errors, names, patching, strategies
from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import Cause, StatusError
from kuberay_py.sandbox.registry.registry import AdmissionPlugin, Operation, Watch
from kuberay_py.sandbox.registry.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from kuberay_py.sandbox.registry.types import (
    DeleteOptions,
    ListOptions,
    ListResult,
    PatchType,
    WatchOptions,
    WriteOptions,
)
from kuberay_py.sandbox.registry.watchhub import Change, WatchHub
from kuberay_py.sandbox.storage.base import Storage
from kuberay_py.sandbox.storage.memory import MemoryStorage

Obj = dict[str, Any]
_NO_LIST = ListOptions()
_NO_WATCH = WatchOptions()
_NO_WRITE = WriteOptions()
_NO_DELETE = DeleteOptions()
SchemaValidator = Callable[[ResourceType, Obj, Obj | None], list[Cause]]
SchemaDefaulter = Callable[[ResourceType, Obj], None]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
# Metadata only the server sets: copied from the stored object on every update.
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_NOT_SPEC = frozenset({"metadata", "status", "kind", "apiVersion"})
EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)
UNSUPPORTED_CR_PATCH = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)


def clone(obj: Any) -> Any:
    """A deep copy of JSON data (orjson round trip: several times faster than deepcopy)."""
    try:
        return orjson.loads(orjson.dumps(obj))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise errors.bad_request(f"the object cannot be encoded as JSON: {exc}") from None


def _resource_key(rt: ResourceType) -> str:
    """The watch hub's key: one per storage family, so every version sees every change."""
    return rt.storage_prefix()


def _view(rt: ResourceType, obj: Obj) -> Obj:
    """The stored object as the requested version presents it (conversion.py)."""
    return conversion.convert(obj, rt.api_version)


def _to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """A request-version object in its stored version (the way in)."""
    return conversion.convert(obj, rt.stored_api_version)


def _meta_of(body: Any) -> Obj:
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    meta = body.get("metadata")
    if meta is None:
        meta = body["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    for field in ("name", "namespace", "generateName", "resourceVersion", "uid"):
        value = meta.get(field)
        if value is not None and not isinstance(value, str):
            raise errors.bad_request(f"metadata.{field} must be a string")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and (
            not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
        ):
            raise errors.bad_request(f"metadata.{field} must be a map of string to string")
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        raise errors.bad_request("metadata.finalizers must be a list of strings")
    return meta


def _spec_changed(new: Obj, old: Obj) -> bool:
    for key in new.keys() | old.keys():
        if key not in _NOT_SPEC and new.get(key) != old.get(key):
            return True
    return False


def _go_strings(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _rfc3339(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_error(rt: ResourceType, exc: Exception) -> StatusError:
    """A body whose fields have the wrong JSON types: kube fails to decode it (400)."""
    return errors.bad_request(
        f"unable to decode the {rt.kind} body: a field has the wrong type ({exc})"
    )


class _Matcher:
    """Label and field selectors combined into the one filter the watch hub applies."""

    __slots__ = ("field", "label")

    def __init__(self, label: LabelSelector | None, field: FieldSelector | None) -> None:
        self.label = label
        self.field = field

    def matches(self, obj: Obj) -> bool:
        if self.label is not None and not self.label.matches(obj["metadata"].get("labels") or {}):
            return False
        return self.field is None or self.field.matches(obj)


class Registry:
    """The sandbox's registry: implements `RegistryAPI` (registry.py) over a `Storage`."""

    def __init__(
        self,
        catalog: Catalog,
        storage: Storage | None = None,
        clock: SandboxClock | None = None,
        *,
        history_size: int = 100_000,
        bookmark_interval: float = 60.0,
        schema_validator: SchemaValidator | None = None,
        schema_defaulter: SchemaDefaulter | None = None,
        watch_queue_limit: int = 100_000,
    ) -> None:
        self.catalog = catalog
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.clock = clock or SandboxClock()
        self.schema_validator = schema_validator
        self.schema_defaulter = schema_defaulter
        self._admission: list[AdmissionPlugin] = []
        self._validating_admission: list[AdmissionPlugin] = []
        self.hub = WatchHub(
            lambda: self.storage.resource_version,
            history_size=history_size,
            bookmark_interval=bookmark_interval,
            queue_limit=watch_queue_limit,
        )
        ns_rt = catalog.get("", "v1", "namespaces")
        crd_rt = catalog.get(crds.CRD_GROUP, "v1", "customresourcedefinitions")
        if ns_rt is None or crd_rt is None:
            raise ValueError("the catalog must serve v1 namespaces and CRDs")
        self._ns_rt = ns_rt
        self._crd_rt = crd_rt
        for _, crd in self.storage.list(crd_rt.storage_prefix()):
            self.catalog.register(crds.resource_types(crd))
        for ns in SYSTEM_NAMESPACES:
            if self.storage.get(ns_rt.storage_key(None, ns)) is None:
                self.create(ns_rt, None, {"metadata": {"name": ns}})

    # -- small helpers ---------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self.storage.resource_version

    def add_admission(self, plugin: AdmissionPlugin) -> None:
        self._admission.append(plugin)

    def add_validating_admission(self, plugin: AdmissionPlugin) -> None:
        """A plugin that runs after validation, on the final object (kube's validating
        admission: ResourceQuota sees defaulted, valid objects with their generated name)."""
        self._validating_admission.append(plugin)

    def _admit(
        self, op: Operation, rt: ResourceType, obj: Obj, old: Obj | None, sub: str | None
    ) -> None:
        for plugin in self._admission:
            plugin(op, rt, obj, old, sub)

    def _admit_validated(
        self, op: Operation, rt: ResourceType, obj: Obj, old: Obj | None, sub: str | None
    ) -> None:
        for plugin in self._validating_admission:
            plugin(op, rt, obj, old, sub)

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> str:
        if not name:
            raise errors.not_found(rt.resource, rt.group, name)
        if rt.namespaced:
            if not namespace:
                raise errors.bad_request(
                    f"a namespace is required to address {rt.group_resource} {name!r}"
                )
            return rt.storage_key(namespace, name)
        return rt.storage_key(None, name)

    def _stored(self, rt: ResourceType, namespace: str | None, name: str) -> tuple[str, Obj]:
        key = self._key(rt, namespace, name)
        old = self.storage.get(key)
        if old is None:
            raise errors.not_found(rt.resource, rt.group, name)
        return key, old

    def _next_rv(self) -> int:
        return self.storage.resource_version + 1

    def _publish(self, rt: ResourceType, change: Change) -> None:
        self.hub.publish(_resource_key(rt), change)

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns = self.storage.get(self._ns_rt.storage_key(None, namespace))
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp") or (
            (ns.get("status") or {}).get("phase") == "Terminating"
        ):
            raise errors.forbidden(
                rt.resource,
                rt.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _resolve_namespace(self, rt: ResourceType, namespace: str | None, meta: Obj) -> str | None:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return None
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        ns = namespace or body_ns
        if not ns:
            raise errors.invalid(
                rt.kind,
                rt.group,
                meta.get("name") or "",
                [Cause("FieldValueRequired", "Required value", "metadata.namespace")],
            )
        meta["namespace"] = ns
        return str(ns)

    def _prepare(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        """Kind defaults, CRD status, and CRD schema defaults (in that order)."""
        try:
            strategies.prepare(rt, obj, old)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise _decode_error(rt, exc) from None
        if crds.is_crd_type(rt):
            causes = crds.validate_crd(obj, old)
            if causes:
                raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)
            try:
                crds.prepare_crd(obj, old, self.clock.now_rfc3339())
                # Registration runs after the write; a body it cannot read must fail here,
                # before anything is stored or published.
                crds.resource_types(obj)
            except (TypeError, AttributeError, KeyError, ValueError) as exc:
                raise _decode_error(rt, exc) from None
        if rt.is_crd:
            if old is None and rt.has_status:
                obj.pop("status", None)
            if self.schema_defaulter is not None:
                self.schema_defaulter(rt, obj)

    def _validate(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        name = obj["metadata"].get("name") or ""
        causes: list[Cause] = []
        if old is None:
            causes += names.name_causes(rt.group, rt.kind, name)
        meta = obj["metadata"]
        if meta.get("labels") or meta.get("annotations"):
            causes += names.metadata_causes(meta)
        if "ownerReferences" in meta:
            causes += names.owner_reference_causes(meta["ownerReferences"])
        try:
            causes += strategies.validate(rt, obj, old)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise _decode_error(rt, exc) from None
        if rt.is_crd and self.schema_validator is not None:
            causes += self.schema_validator(rt, obj, old)
        if causes:
            raise errors.invalid(rt.kind, rt.group, name, causes)

    # -- reads -----------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        return _view(rt, self._stored(rt, namespace, name)[1])

    def _selectors(
        self, rt: ResourceType, label: str | None, field: str | None
    ) -> tuple[_Matcher | None, str | None]:
        ls = parse_label_selector(label) if label else None
        fs = parse_field_selector(field, rt.kind) if field else None
        if ls is None and fs is None:
            return None, None
        return _Matcher(ls, fs), fs.exact_name if fs is not None else None

    @staticmethod
    def _parse_rv(value: str | None) -> int | None:
        if value is None or value in ("", "0"):
            return None
        try:
            rv = int(value)
        except ValueError:
            rv = -1
        if rv < 0:
            raise errors.bad_request(
                f"resourceVersion: Invalid value: {value!r}: must be a non-negative integer"
            )
        return rv

    def _decode_continue(self, token: str, prefix: str) -> tuple[int, str]:
        try:
            data = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            rv, start = int(data["rv"]), str(data["start"])
        except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise errors.bad_request(
                "continue key is not valid: malformed continue token"
            ) from None
        if not start.startswith(prefix):
            raise errors.bad_request("continue key is not valid: key is outside the listed range")
        if rv < self.hub.compacted_rv:
            raise errors.gone(EXPIRED_CONTINUE)
        return rv, start

    @staticmethod
    def _encode_continue(rv: int, key: str) -> str:
        raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def list(
        self, rt: ResourceType, namespace: str | None, opts: ListOptions = _NO_LIST
    ) -> ListResult:
        matcher, exact_name = self._selectors(rt, opts.label_selector, opts.field_selector)
        self._parse_rv(opts.resource_version)
        prefix = rt.storage_prefix(namespace if rt.namespaced else None)
        list_rv = self.storage.resource_version
        if exact_name is not None and (namespace or not rt.namespaced):
            found = self.storage.get(rt.storage_key(namespace, exact_name))
            pairs = [] if found is None else [(rt.storage_key(namespace, exact_name), found)]
        else:
            pairs = self.storage.list(prefix)
        if opts.continue_token:
            list_rv, start = self._decode_continue(opts.continue_token, prefix)
            pairs = pairs[bisect.bisect_right(pairs, start, key=lambda p: p[0]) :]
        limit = opts.limit if opts.limit and opts.limit > 0 else None
        token: str | None = None
        remaining: int | None = None
        if matcher is None:
            if limit is not None and len(pairs) > limit:
                remaining = len(pairs) - limit
                pairs = pairs[:limit]
                token = self._encode_continue(list_rv, pairs[-1][0])
            items = [_view(rt, obj) for _, obj in pairs]
        else:
            # Selectors see the object as the requested version presents it.
            items = []
            for i, (_, obj) in enumerate(pairs):
                view = _view(rt, obj)
                if not matcher.matches(view):
                    continue
                if limit is not None and len(items) == limit:
                    # More may match after the page: kube leaves remainingItemCount unset here.
                    if any(matcher.matches(_view(rt, o)) for _, o in pairs[i:]):
                        token = self._encode_continue(list_rv, pairs[i - 1][0])
                    break
                items.append(view)
        return ListResult(items, list_rv, token, remaining)

    def watch(
        self, rt: ResourceType, namespace: str | None, opts: WatchOptions = _NO_WATCH
    ) -> Watch:
        matcher, exact_name = self._selectors(rt, opts.label_selector, opts.field_selector)
        since = self._parse_rv(opts.resource_version)
        initial = opts.send_initial_events
        if initial is None:
            initial = since is None
        objects = None
        if initial:
            objects = [
                obj
                for _, obj in self.storage.list(
                    rt.storage_prefix(namespace if rt.namespaced else None)
                )
            ]
            since = None
        elif since is None:
            since = self.storage.resource_version
        return self.hub.watch(
            _resource_key(rt),
            rt.kind,
            rt.api_version,
            since_rv=since,
            initial=objects,
            namespace=namespace if rt.namespaced else None,
            name=opts.name or exact_name,
            matcher=matcher,
            allow_bookmarks=opts.allow_bookmarks,
            initial_end_bookmark=bool(opts.send_initial_events) and opts.allow_bookmarks,
        )

    # -- create ----------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: Obj,
        opts: WriteOptions = _NO_WRITE,
    ) -> Obj:
        body = clone(obj)
        meta = _meta_of(body)
        ns = self._resolve_namespace(rt, namespace, meta)
        name = meta.get("name") or ""
        generate = meta.get("generateName")
        if not name and generate:
            name = names.generate_name(generate)
            while self.storage.get(rt.storage_key(ns, name)) is not None:
                name = names.generate_name(generate)
            meta["name"] = name
        if ns is not None:
            self._check_namespace(rt, ns, name)
        for field in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
        ):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.clock.now_rfc3339()
        meta["generation"] = 1
        body["kind"] = rt.kind
        body["apiVersion"] = rt.api_version
        self._prepare(rt, body, None)
        self._admit("CREATE", rt, body, None, None)
        self._validate(rt, body, None)
        self._admit_validated("CREATE", rt, body, None, None)
        body = _to_storage(rt, body)
        meta = body["metadata"]
        key = rt.storage_key(ns, name)
        if self.storage.get(key) is not None:
            raise errors.already_exists(rt.resource, rt.group, name)
        if opts.dry_run:
            return _view(rt, body)
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self.storage.put(key, body, rv)
        self._publish(rt, Change(rv, "ADDED", body, None, ns or "", name))
        if crds.is_crd_type(rt):
            self.catalog.register(crds.resource_types(body))
        return _view(rt, body)

    # -- update ----------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: Obj,
        subresource: str | None = None,
        opts: WriteOptions = _NO_WRITE,
    ) -> Obj:
        key, old = self._stored(rt, namespace, name)
        return self._update_owned(rt, namespace, name, key, old, clone(obj), subresource, opts)

    def _new_from_subresource(
        self, rt: ResourceType, name: str, old: Obj, body: Obj, subresource: str | None
    ) -> Obj:
        """The object an update would store, before metadata carry-over and defaults."""
        if subresource is None:
            if rt.has_status:
                if "status" in old:
                    body["status"] = clone(old["status"])
                else:
                    body.pop("status", None)
            return body
        if subresource not in rt.subresources:
            raise errors.not_found(rt.resource, rt.group, name)
        new: Obj = clone({k: v for k, v in old.items() if k != "status"})
        if subresource == "status":
            if "status" in body:
                new["status"] = body["status"]
            return new
        if "status" in old:
            new["status"] = clone(old["status"])
        if subresource == "finalize":
            finalizers = (body.get("spec") or {}).get("finalizers") or []
            new.setdefault("spec", {})["finalizers"] = finalizers
        elif subresource == "scale":
            replicas = (body.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    [
                        Cause(
                            "FieldValueInvalid",
                            f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                            "spec.replicas",
                        )
                    ],
                )
            new.setdefault("spec", {})["replicas"] = replicas
        elif subresource == "binding":
            node = (body.get("target") or {}).get("name")
            if not node:
                raise errors.invalid(
                    "Binding",
                    "",
                    name,
                    [Cause("FieldValueRequired", "Required value", "target.name")],
                )
            uid = body["metadata"].get("uid")
            if uid and uid != old["metadata"].get("uid"):
                raise errors.conflict(
                    rt.resource,
                    rt.group,
                    name,
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{old['metadata'].get('uid')}",
                )
            current = (new.get("spec") or {}).get("nodeName")
            if current:
                raise errors.conflict(
                    rt.resource,
                    rt.group,
                    name,
                    f'pod {name} is already assigned to node "{current}"',
                )
            new.setdefault("spec", {})["nodeName"] = node
            status = new.setdefault("status", {})
            conditions = [
                c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"
            ]
            conditions.append(
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.clock.now_rfc3339(),
                }
            )
            status["conditions"] = conditions
        else:
            raise errors.method_not_allowed(
                f"the server does not allow this method on the requested resource "
                f"({rt.group_resource}/{subresource})"
            )
        return new

    def _update_owned(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        key: str,
        old: Obj,
        body: Obj,
        subresource: str | None,
        opts: WriteOptions,
    ) -> Obj:
        meta = _meta_of(body)
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        old_meta = old["metadata"]
        requested_rv = meta.get("resourceVersion")
        if requested_rv and requested_rv != old_meta["resourceVersion"]:
            raise errors.stale_resource_version(rt.resource, rt.group, name)
        # Defaults, admission and validation work on the requested version's shape; the
        # result converts back to the stored version before it is compared and stored.
        old_view = _view(rt, old)
        new = self._new_from_subresource(rt, name, old_view, body, subresource)
        if new is not body:
            # Sub-resources change only their part; metadata stays the stored one.
            new["metadata"] = clone(old_meta)
        new_meta = new["metadata"]
        for field in _SERVER_META:
            if field in old_meta:
                new_meta[field] = old_meta[field]
            else:
                new_meta.pop(field, None)
        new_meta["name"] = name
        if rt.namespaced:
            new_meta["namespace"] = old_meta.get("namespace")
        else:
            new_meta.pop("namespace", None)
        new_meta["resourceVersion"] = old_meta["resourceVersion"]
        new_meta["generation"] = old_meta.get("generation", 1)
        new_meta.pop("selfLink", None)
        new_meta.pop("managedFields", None)
        new["kind"] = rt.kind
        new["apiVersion"] = rt.api_version
        if old_meta.get("deletionTimestamp"):
            added = [
                f
                for f in new_meta.get("finalizers") or ()
                if f not in (old_meta.get("finalizers") or ())
            ]
            if added:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        Cause(
                            "FieldValueForbidden",
                            "Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers []string{{{_go_strings(added)}}}",
                            "metadata.finalizers",
                        )
                    ],
                )
        self._prepare(rt, new, old_view)
        self._admit("UPDATE", rt, new, old_view, subresource)
        self._validate(rt, new, old_view)
        self._admit_validated("UPDATE", rt, new, old_view, subresource)
        new = _to_storage(rt, new)
        new_meta = new["metadata"]
        if _spec_changed(new, old):
            new_meta["generation"] = old_meta.get("generation", 0) + 1
        elif new == old:
            return _view(rt, old)
        if opts.dry_run:
            return _view(rt, new)
        if self._should_delete_during_update(rt, new, old):
            return self._remove(rt, key, new, old)
        return self._store_update(rt, key, new, old)

    def _store_update(self, rt: ResourceType, key: str, new: Obj, old: Obj) -> Obj:
        rv = self._next_rv()
        meta = new["metadata"]
        meta["resourceVersion"] = str(rv)
        self.storage.put(key, new, rv)
        self._publish(
            rt, Change(rv, "MODIFIED", new, old, meta.get("namespace") or "", meta["name"])
        )
        if crds.is_crd_type(rt):
            self.catalog.unregister(new["spec"]["group"], new["spec"]["names"]["plural"])
            self.catalog.register(crds.resource_types(new))
        return _view(rt, new)

    @staticmethod
    def _should_delete_during_update(rt: ResourceType, new: Obj, old: Obj) -> bool:
        """kube's ShouldDeleteDuringUpdate (plus the namespace rule on spec.finalizers)."""
        meta = new["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if old["metadata"].get("deletionGracePeriodSeconds") not in (None, 0):
            return False
        if rt.group == "" and rt.kind == "Namespace":
            return not (new.get("spec") or {}).get("finalizers")
        return True

    # -- patch -----------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: PatchType,
        patch: Any,
        subresource: str | None = None,
        opts: WriteOptions = _NO_WRITE,
    ) -> tuple[Obj, bool]:
        patch = clone(patch)
        key = self._key(rt, namespace, name)
        old = self.storage.get(key)
        if old is None:
            if patch_type == "apply" and subresource is None:
                meta = _meta_of(patch)
                if meta.get("name") and meta["name"] != name:
                    raise errors.bad_request(
                        f"the name of the object ({meta['name']}) does not match the name on "
                        f"the URL ({name})"
                    )
                meta["name"] = name
                return self.create(rt, namespace, patch, opts), True
            raise errors.not_found(rt.resource, rt.group, name)
        # Patches apply to the requested version's representation.
        doc = clone(_view(rt, old))
        if patch_type == "json":
            if not isinstance(patch, list):
                raise errors.bad_request("json patch must be a list of operations")
            patched = patching.apply_json_patch(doc, patch)
        elif patch_type in ("merge", "apply"):
            if not isinstance(patch, dict):
                raise errors.bad_request("merge patch must be a JSON object")
            patched = patching.apply_merge_patch(doc, patch)
        elif patch_type == "strategic":
            if rt.is_crd:
                raise StatusError(415, "UnsupportedMediaType", UNSUPPORTED_CR_PATCH)
            if not isinstance(patch, dict):
                raise errors.bad_request("strategic merge patch must be a JSON object")
            patched = patching.apply_strategic_merge_patch(doc, patch, rt.kind, rt.api_version)
        else:
            raise errors.unsupported_media_type(str(patch_type))
        if not isinstance(patched, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        result = self._update_owned(rt, namespace, name, key, old, patched, subresource, opts)
        return result, False

    # -- delete ----------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        opts: DeleteOptions = _NO_DELETE,
    ) -> Obj:
        key, old = self._stored(rt, namespace, name)
        meta = old["metadata"]
        if opts.preconditions_uid is not None and opts.preconditions_uid != meta.get("uid"):
            raise errors.conflict(
                rt.resource,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {opts.preconditions_uid}, "
                f"UID in object meta: {meta.get('uid')}",
            )
        if (
            opts.preconditions_resource_version is not None
            and opts.preconditions_resource_version != meta.get("resourceVersion")
        ):
            raise errors.conflict(
                rt.resource,
                rt.group,
                name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{opts.preconditions_resource_version}, ResourceVersion in object meta: "
                f"{meta.get('resourceVersion')}",
            )
        is_namespace = rt.group == "" and rt.kind == "Namespace"
        if is_namespace and name in IMMORTAL_NAMESPACES:
            raise errors.forbidden("namespaces", "", name, "this namespace may not be deleted")
        if self._admission:
            old_view = _view(rt, old)
            self._admit("DELETE", rt, clone(old_view), old_view, None)

        finalizers = list(meta.get("finalizers") or ())
        policy = opts.propagation_policy
        if policy is None and opts.orphan_dependents is not None:
            policy = "Orphan" if opts.orphan_dependents else "Background"
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")

        grace = self._pod_grace(old, opts) if rt.group == "" and rt.kind == "Pod" else 0
        now = self.clock.now()
        new = dict(old)
        new_meta = dict(meta)
        new["metadata"] = new_meta
        if finalizers:
            new_meta["finalizers"] = finalizers
        if is_namespace:
            spec_finalizers = (old.get("spec") or {}).get("finalizers")
            if meta.get("deletionTimestamp") and not spec_finalizers and not finalizers:
                return self._finish_delete(rt, key, old, opts)
            if not meta.get("deletionTimestamp"):
                new_meta["deletionTimestamp"] = _rfc3339(now)
                new_meta["deletionGracePeriodSeconds"] = 0
                new["spec"] = {
                    **(old.get("spec") or {}),
                    "finalizers": spec_finalizers or ["kubernetes"],
                }
                new["status"] = {**(old.get("status") or {}), "phase": "Terminating"}
            return self._mark_deleting(rt, key, new, old, opts)
        generation = meta.get("generation")
        if (grace > 0 or finalizers) and not meta.get("deletionTimestamp") and generation:
            # The first mark bumps generation (kube's BeforeDelete / markAsDeleting), so
            # controllers filtering on generation changes still see the deletion start.
            new_meta["generation"] = generation + 1
        if grace > 0:
            current = meta.get("deletionGracePeriodSeconds")
            if meta.get("deletionTimestamp") and current is not None and current <= grace:
                return self._mark_deleting(rt, key, new, old, opts)
            new_meta["deletionTimestamp"] = _rfc3339(now + dt.timedelta(seconds=grace))
            new_meta["deletionGracePeriodSeconds"] = grace
            return self._mark_deleting(rt, key, new, old, opts)
        if finalizers:
            if not meta.get("deletionTimestamp"):
                new_meta["deletionTimestamp"] = _rfc3339(now)
            new_meta["deletionGracePeriodSeconds"] = 0
            return self._mark_deleting(rt, key, new, old, opts)
        return self._finish_delete(rt, key, old, opts)

    @staticmethod
    def _pod_grace(pod: Obj, opts: DeleteOptions) -> int:
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            return 0
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if opts.grace_period_seconds is not None:
            return max(0, opts.grace_period_seconds)
        grace = spec.get("terminationGracePeriodSeconds")
        return grace if isinstance(grace, int) and grace >= 0 else 30

    def _mark_deleting(
        self, rt: ResourceType, key: str, new: Obj, old: Obj, opts: DeleteOptions
    ) -> Obj:
        if new == old:
            return _view(rt, old)
        if opts.dry_run:
            return _view(rt, new)
        return self._store_update(rt, key, new, old)

    def _finish_delete(self, rt: ResourceType, key: str, old: Obj, opts: DeleteOptions) -> Obj:
        if opts.dry_run:
            return _view(rt, old)
        return self._remove(rt, key, old, old)

    def _remove(self, rt: ResourceType, key: str, last: Obj, old: Obj) -> Obj:
        """Delete `key` now; watchers get `last` with a fresh resourceVersion."""
        is_crd = crds.is_crd_type(rt)
        if is_crd:
            # Its objects go first and the CRD last (kube's cleanup finalizer order): a
            # delete failing part-way leaves the CRD served with what remains, never
            # stored custom resources without their CRD.
            self._delete_custom_resources(old)
        rv = self._next_rv()
        final = dict(last)
        final["metadata"] = {**last["metadata"], "resourceVersion": str(rv)}
        self.storage.delete(key, rv)
        meta = final["metadata"]
        self._publish(
            rt, Change(rv, "DELETED", final, old, meta.get("namespace") or "", meta["name"])
        )
        if is_crd:
            group, plural = old["spec"]["group"], old["spec"]["names"]["plural"]
            self.hub.forget_resource(f"/{group}/{plural}/")
            self.catalog.unregister(group, plural)
        return _view(rt, final)

    def _delete_custom_resources(self, crd: Obj) -> None:
        """A CRD being deleted takes its objects with it (each a DELETED event)."""
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        resource_key = f"/{group}/{plural}/"
        for key, obj in self.storage.list(resource_key):
            rv = self._next_rv()
            final = dict(obj)
            final["metadata"] = {**obj["metadata"], "resourceVersion": str(rv)}
            self.storage.delete(key, rv)
            meta = final["metadata"]
            self.hub.publish(
                resource_key,
                Change(rv, "DELETED", final, obj, meta.get("namespace") or "", meta["name"]),
            )

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        list_opts: ListOptions = _NO_LIST,
        delete_opts: DeleteOptions = _NO_DELETE,
    ) -> builtins.list[Obj]:
        selection = ListOptions(
            label_selector=list_opts.label_selector, field_selector=list_opts.field_selector
        )
        out = []
        for obj in self.list(rt, namespace, selection).items:
            meta = obj["metadata"]
            try:
                out.append(self.delete(rt, meta.get("namespace"), meta["name"], delete_opts))
            except StatusError as exc:
                if exc.code != 404:
                    raise
        return out

    # -- fault injection and lifecycle -----------------------------------------------------

    def compact(self, resource_version: int | None = None) -> None:
        self.hub.compact(resource_version)

    def drop_watches(self, rt: ResourceType | None = None) -> int:
        return self.hub.drop_watches(None if rt is None else _resource_key(rt))

    def close(self) -> None:
        """End every watch and close the storage (the sandbox's stop)."""
        self.hub.drop_watches()
        self.storage.close()
