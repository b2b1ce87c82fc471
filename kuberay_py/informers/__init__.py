"""Shared informers: list+watch reflectors feeding indexed caches and event handlers.

Public API:

    factory = SharedInformerFactory(client)
    pods = factory.informer(PODS, "default", label_selector="ray.io/cluster")
    pods.add_event_handler(on_add=..., on_update=..., on_delete=...)
    factory.start()
    await factory.wait_for_cache_sync(timeout=120)
    pods.store.by_index(OWNER_UID_INDEX, uid)   # after pods.add_indexers(...)

Objects read from a store or passed to handlers are the cached dicts: read-only.
Imports only kuberay_py.kube.
"""

from kuberay_py.informers.backoff import Backoff
from kuberay_py.informers.factory import DEFAULT_TRANSFORM, InformerKey, SharedInformerFactory
from kuberay_py.informers.handlers import (
    DeletedFinalStateUnknown,
    HandlerRegistration,
)
from kuberay_py.informers.informer import SharedInformer
from kuberay_py.informers.metrics import InformerCollector, collector_for
from kuberay_py.informers.reflector import Reflector, ReflectorState
from kuberay_py.informers.store import (
    CONTROLLER_UID_INDEX,
    LABEL_INDEX_PREFIX,
    NAMESPACE_INDEX,
    OWNER_UID_INDEX,
    IndexFunc,
    Store,
    by_controller_uid,
    by_label,
    by_namespace,
    by_owner_uid,
)
from kuberay_py.informers.transforms import (
    Deduplicator,
    Transform,
    chain,
    default_transform,
    strip_annotations,
    strip_managed_fields,
)

__all__ = [
    "CONTROLLER_UID_INDEX",
    "DEFAULT_TRANSFORM",
    "LABEL_INDEX_PREFIX",
    "NAMESPACE_INDEX",
    "OWNER_UID_INDEX",
    "Backoff",
    "Deduplicator",
    "DeletedFinalStateUnknown",
    "HandlerRegistration",
    "IndexFunc",
    "InformerCollector",
    "InformerKey",
    "Reflector",
    "ReflectorState",
    "SharedInformer",
    "SharedInformerFactory",
    "Store",
    "Transform",
    "by_controller_uid",
    "by_label",
    "by_namespace",
    "by_owner_uid",
    "chain",
    "collector_for",
    "default_transform",
    "strip_annotations",
    "strip_managed_fields",
]
