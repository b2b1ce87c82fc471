"""The fluent controller builder (controller-runtime's `builder.ControllerManagedBy`).

    ControllerBuilder(mgr).named("mirror") \
        .for_(CONFIGMAPS, predicates=[LabelsMatch({"mirror": "true"})]) \
        .owns(CONFIGMAPS) \
        .watches(SECRETS, map_secret_to_configmaps) \
        .with_options(max_concurrent_reconciles=4) \
        .complete(reconciler)

`for_` is the primary resource (its events enqueue the object itself), `owns` maps
children to their controlling owner of the `for_` kind, `watches` maps anything with a
function. Every watch goes through the manager's shared informers, so two controllers
watching Pods share one LIST and one WATCH.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import attrs
from prometheus_client import CollectorRegistry

from kuberay_py.informers import SharedInformer
from kuberay_py.kube import Resource
from kuberay_py.runtime.controller import DEFAULT_MAX_CONCURRENT_RECONCILES, Controller
from kuberay_py.runtime.handlers import (
    EnqueueRequestForObject,
    EnqueueRequestForOwner,
    EnqueueRequestsFromMapFunc,
    EventHandler,
    MapFunc,
    attach,
)
from kuberay_py.runtime.predicates import Predicate
from kuberay_py.runtime.rate_limiters import RateLimiter
from kuberay_py.runtime.reconcile import ReconcileFunc, Reconciler

__all__ = ["ControllerBuilder", "ControllerHost"]


class ControllerHost(Protocol):
    """What the builder needs from a manager (kuberay_py.runtime.Manager satisfies it)."""

    registry: CollectorRegistry | None

    def informers_for(
        self,
        resource: Resource,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[SharedInformer]: ...

    def add_controller(self, controller: Controller) -> None: ...


@attrs.define
class _Watch:
    resource: Resource
    handler: EventHandler
    predicates: Sequence[Predicate]
    label_selector: str | None
    field_selector: str | None


class ControllerBuilder:
    """Collects watches and options, then `complete(reconciler)` builds and registers."""

    def __init__(self, manager: ControllerHost) -> None:
        self._manager = manager
        self._name: str | None = None
        self._for: _Watch | None = None
        self._watches: list[_Watch] = []
        self._pending_owns: list[tuple[Resource, Sequence[Predicate], bool, str | None]] = []
        self._filters: list[Predicate] = []
        self._options: dict[str, Any] = {}

    def named(self, name: str) -> ControllerBuilder:
        """The controller's name (metrics label, log field); default: the for_ kind."""
        self._name = name
        return self

    def for_(
        self,
        resource: Resource,
        *,
        predicates: Iterable[Predicate] = (),
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ControllerBuilder:
        """The primary resource: its events enqueue the object itself."""
        if self._for is not None:
            raise ValueError("for_() may be called only once")
        self._for = _Watch(
            resource,
            EnqueueRequestForObject(),
            tuple(predicates),
            label_selector,
            field_selector,
        )
        return self

    def owns(
        self,
        resource: Resource,
        *,
        predicates: Iterable[Predicate] = (),
        only_controller: bool = True,
        label_selector: str | None = None,
    ) -> ControllerBuilder:
        """Children: their events enqueue the owner of the for_ kind named in their
        (controlling) ownerReference."""
        self._pending_owns.append((resource, tuple(predicates), only_controller, label_selector))
        return self

    def watches(
        self,
        resource: Resource,
        map_fn: MapFunc,
        *,
        predicates: Iterable[Predicate] = (),
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ControllerBuilder:
        """Anything: `map_fn(obj)` returns the Requests to enqueue (cheap, no I/O)."""
        self._watches.append(
            _Watch(
                resource,
                EnqueueRequestsFromMapFunc(map_fn),
                tuple(predicates),
                label_selector,
                field_selector,
            )
        )
        return self

    def with_event_filter(self, predicate: Predicate) -> ControllerBuilder:
        """A predicate applied to every watch of this controller."""
        self._filters.append(predicate)
        return self

    def with_options(
        self,
        *,
        max_concurrent_reconciles: int | None = None,
        rate_limiter: RateLimiter | None = None,
        reconcile_timeout: float | None = None,
    ) -> ControllerBuilder:
        """Worker count (default 4), requeue rate limiter (default client-go's), and an
        optional bound on one reconcile's duration."""
        if reconcile_timeout is not None:
            self._options["reconcile_timeout"] = reconcile_timeout
        if max_concurrent_reconciles is not None:
            self._options["max_concurrent_reconciles"] = max_concurrent_reconciles
        if rate_limiter is not None:
            self._options["rate_limiter"] = rate_limiter
        return self

    def complete(self, reconciler: Reconciler | ReconcileFunc) -> Controller:
        """Build the controller, wire its watches, and add it to the manager."""
        if self._for is None and self._pending_owns:
            raise ValueError("owns() needs for_(): owners are mapped to the for_ kind")
        if self._for is None and not self._watches:
            raise ValueError("a controller needs for_() or watches()")
        name = self._name or (self._for.resource.kind.lower() if self._for else None)
        if not name:
            raise ValueError("name the controller with named() when it has no for_()")
        watches = list(self._watches)
        if self._for is not None:
            watches.insert(0, self._for)
            for resource, preds, only_controller, selector in self._pending_owns:
                handler = EnqueueRequestForOwner(
                    self._for.resource, only_controller=only_controller
                )
                watches.append(_Watch(resource, handler, preds, selector, None))
        controller = Controller(
            name,
            reconciler,
            max_concurrent_reconciles=self._options.get(
                "max_concurrent_reconciles", DEFAULT_MAX_CONCURRENT_RECONCILES
            ),
            rate_limiter=self._options.get("rate_limiter"),
            reconcile_timeout=self._options.get("reconcile_timeout"),
            registry=self._manager.registry,
        )
        for watch in watches:
            preds = (*self._filters, *watch.predicates)
            for informer in self._manager.informers_for(
                watch.resource,
                label_selector=watch.label_selector,
                field_selector=watch.field_selector,
            ):
                controller.informers.append(informer)
                controller.registrations.append(
                    attach(informer, watch.handler, controller.queue, preds, name=name)
                )
        self._manager.add_controller(controller)
        return controller
