"""The controller runtime: workqueue, controllers, manager, leader election, events.

Public API (what an operator embedding kuberay-py uses; see docs/embedding.md):

    from kuberay_py.kube import KubeClient, CONFIGMAPS
    from kuberay_py.runtime import ControllerBuilder, Manager, Request, Result

    client = await KubeClient.from_config()
    mgr = Manager(client, leader_election=LeaderElectionConfig("my-operator"))
    ControllerBuilder(mgr).for_(CONFIGMAPS).complete(my_reconciler)
    await mgr.run()

Imports only kuberay_py.kube and kuberay_py.informers.
"""

from kuberay_py.runtime.builder import ControllerBuilder, ControllerHost
from kuberay_py.runtime.cache import Cache, NotWatched
from kuberay_py.runtime.clock import Clock, FakeClock, RealClock
from kuberay_py.runtime.controller import DEFAULT_MAX_CONCURRENT_RECONCILES, Controller
from kuberay_py.runtime.events import EventRecorder, object_reference
from kuberay_py.runtime.expectations import (
    DEFAULT_EXPECTATIONS_TIMEOUT,
    Expectations,
    controller_owner_key,
)
from kuberay_py.runtime.handlers import (
    EnqueueRequestForObject,
    EnqueueRequestForOwner,
    EnqueueRequestsFromMapFunc,
)
from kuberay_py.runtime.leader_election import (
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
    default_identity,
)
from kuberay_py.runtime.manager import CacheSyncTimeout, Manager, ManagerClient
from kuberay_py.runtime.metrics import metrics_for
from kuberay_py.runtime.predicates import (
    And,
    AnnotationChanged,
    Funcs,
    GenerationChanged,
    LabelChanged,
    LabelsMatch,
    Not,
    Or,
    Predicate,
    ResourceVersionChanged,
)
from kuberay_py.runtime.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from kuberay_py.runtime.reconcile import (
    ReconcileFunc,
    Reconciler,
    Request,
    Result,
    request_for,
)
from kuberay_py.runtime.workqueue import (
    DelayingQueue,
    Queue,
    QueueEmpty,
    RateLimitingQueue,
    ShutDown,
    WorkQueue,
)

__all__ = [
    "DEFAULT_EXPECTATIONS_TIMEOUT",
    "DEFAULT_MAX_CONCURRENT_RECONCILES",
    "And",
    "AnnotationChanged",
    "BucketRateLimiter",
    "Cache",
    "CacheSyncTimeout",
    "Clock",
    "Controller",
    "ControllerBuilder",
    "ControllerHost",
    "DelayingQueue",
    "EnqueueRequestForObject",
    "EnqueueRequestForOwner",
    "EnqueueRequestsFromMapFunc",
    "EventRecorder",
    "Expectations",
    "FakeClock",
    "Funcs",
    "GenerationChanged",
    "ItemExponentialFailureRateLimiter",
    "LabelChanged",
    "LabelsMatch",
    "LeaderElectionConfig",
    "LeaderElectionLost",
    "LeaderElector",
    "Manager",
    "ManagerClient",
    "MaxOfRateLimiter",
    "Not",
    "NotWatched",
    "Or",
    "Predicate",
    "Queue",
    "QueueEmpty",
    "RateLimiter",
    "RateLimitingQueue",
    "RealClock",
    "ReconcileFunc",
    "Reconciler",
    "Request",
    "ResourceVersionChanged",
    "Result",
    "ShutDown",
    "WorkQueue",
    "controller_owner_key",
    "default_controller_rate_limiter",
    "default_identity",
    "metrics_for",
    "object_reference",
    "request_for",
]
