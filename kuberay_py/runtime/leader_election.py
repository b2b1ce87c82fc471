"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm.

Candidates race to write their identity into one Lease. The holder renews it every
`retry_period`; if it cannot renew within `renew_deadline` it has lost and must stop
(the manager stops its controllers and `run()` raises LeaderElectionLost, so the process
exits non-zero and is restarted). A standby acquires the Lease once the holder's record
has not changed for `lease_duration`, measured on the standby's own monotonic clock from
when it last saw the record change (client-go's `observedTime`), so clock skew between
machines does not matter. Acquisition attempts are spaced `retry_period * (1 + r * 1.2)`
(client-go's JitterFactor) so candidates do not stampede.

On a graceful stop the holder releases the Lease as client-go does with
ReleaseOnCancel: holderIdentity cleared and leaseDurationSeconds 1, so a standby takes
over within about one retry period instead of waiting out the lease.

Defaults 15 s / 10 s / 2 s are controller-runtime's (from component-base). Each Lease
request is bounded by max(renew_deadline / 2, 1 s) (controller-runtime's client timeout).
"""

from __future__ import annotations

import asyncio
import datetime
import math
import random
import socket
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import attrs
import structlog
from prometheus_client import CollectorRegistry

from kuberay_py.kube import LEASES, Conflict, KubeError, NotFound, Resource
from kuberay_py.runtime.clock import Clock, RealClock
from kuberay_py.runtime.metrics import metrics_for

__all__ = [
    "JITTER_FACTOR",
    "LeaderElectionConfig",
    "LeaderElectionLost",
    "LeaderElector",
    "LeaseClient",
    "default_identity",
    "micro_time",
]

JITTER_FACTOR = 1.2

log = structlog.get_logger("kuberay_py.runtime.leader_election")


class LeaderElectionLost(Exception):
    """The Lease could not be renewed in time: another replica may be leading now."""


class LeaseClient(Protocol):
    """The three calls leader election makes (kuberay_py.kube.KubeClient satisfies it)."""

    async def get(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def create(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def replace(
        self, res: Resource, obj: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...


def default_identity() -> str:
    """`<hostname>_<uuid>` as controller-runtime builds it: unique even for two managers in
    one process."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def micro_time(when: datetime.datetime | None = None) -> str:
    """A metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    when = when or datetime.datetime.now(datetime.UTC)
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@attrs.define
class LeaderElectionConfig:
    """Who competes for which Lease, and how fast."""

    lease_name: str
    lease_namespace: str = "default"
    identity: str = attrs.field(factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True
    jitter_factor: float = JITTER_FACTOR

    def validate(self) -> None:
        """client-go's constraints: lease > renew deadline > jitter * retry period."""
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= self.jitter_factor * self.retry_period:
            raise ValueError("renew_deadline must exceed jitter_factor * retry_period")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")
        if not self.identity:
            raise ValueError("identity must not be empty")

    @property
    def request_timeout(self) -> float:
        return max(self.renew_deadline / 2, 1.0)


class LeaderElector:
    """Runs the acquire/renew loop for one candidate (see the module docstring)."""

    def __init__(
        self,
        client: LeaseClient,
        config: LeaderElectionConfig,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        registry: CollectorRegistry | None = None,
        lease_resource: Resource = LEASES,
    ) -> None:
        config.validate()
        self.client = client
        self.config = config
        self.resource = lease_resource
        self._clock: Clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._observed: dict[str, Any] | None = None
        self._observed_time = 0.0
        self.last_renew: float | None = None
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()
        self.stopped = False
        self._gauge = metrics_for(registry).leader.labels(config.lease_name)
        self._gauge.set(0)
        self._log = log.bind(
            lease=f"{config.lease_namespace}/{config.lease_name}", identity=config.identity
        )

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set() and not self.lost.is_set() and not self.stopped

    @property
    def observed_holder(self) -> str:
        return str((self._observed or {}).get("holderIdentity") or "")

    # ---------------------------------------------------------------- loop

    async def run(self) -> None:
        """Acquire, then renew until the lease is lost (sets `lost` and returns) or the
        task is cancelled. Does not release: call `release()` after cancelling."""
        cfg = self.config
        self._log.info("attempting to acquire leader lease")
        while not await self._try_acquire_or_renew():
            await self._clock.sleep(cfg.retry_period * (1 + self._rng.random() * cfg.jitter_factor))
        self._log.info("successfully acquired lease")
        self._gauge.set(1)
        self.leading.set()
        while True:
            deadline = self._clock.now() + cfg.renew_deadline
            renewed = False
            while True:
                # Like client-go, no attempt may outlive the deadline: one started just
                # before it would otherwise keep us leading for a whole request timeout
                # more, past the point where a standby may take the Lease.
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    break
                if await self._try_acquire_or_renew(min(cfg.request_timeout, remaining)):
                    renewed = True
                    break
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    break
                await self._clock.sleep(min(cfg.retry_period, remaining))
            if not renewed:
                self._log.error("failed to renew lease in time: leadership lost")
                self._gauge.set(0)
                self.lost.set()
                return
            await self._clock.sleep(cfg.retry_period)

    async def _try_acquire_or_renew(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(self.config.request_timeout if timeout is None else timeout):
                return await self._attempt()
        except TimeoutError:
            self._log.warning("lease request timed out")
        except Conflict:
            self._log.debug("lease update conflicted; someone else wrote it")
        except KubeError as exc:
            self._log.warning("lease request failed", error=str(exc))
        return False

    async def _attempt(self) -> bool:
        cfg = self.config
        now = self._clock.now()
        stamp = micro_time()
        duration = max(1, math.ceil(cfg.lease_duration))
        try:
            lease = await self.client.get(self.resource, cfg.lease_name, cfg.lease_namespace)
        except NotFound:
            initial: dict[str, Any] = {
                "holderIdentity": cfg.identity,
                "leaseDurationSeconds": duration,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            }
            created = await self.client.create(
                self.resource,
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": cfg.lease_name, "namespace": cfg.lease_namespace},
                    "spec": initial,
                },
                cfg.lease_namespace,
            )
            self._observe(created.get("spec") or initial, now)
            self.last_renew = now
            return True
        spec: dict[str, Any] = dict(lease.get("spec") or {})
        if spec != self._observed:
            self._observe(spec, now)
        holder = str(spec.get("holderIdentity") or "")
        held_for = float(spec.get("leaseDurationSeconds") or 0)
        if holder and holder != cfg.identity and self._observed_time + held_for > now:
            return False  # someone else holds a valid lease
        if holder == cfg.identity and self.leading.is_set():
            new_spec = {**spec, "renewTime": stamp, "leaseDurationSeconds": duration}
        else:
            new_spec = {
                **spec,
                "holderIdentity": cfg.identity,
                "leaseDurationSeconds": duration,
                "acquireTime": stamp,
                "renewTime": stamp,
                # client-go counts every change of holder, a released (empty) one too.
                "leaseTransitions": int(spec.get("leaseTransitions") or 0)
                + (1 if holder != cfg.identity else 0),
            }
        updated = await self.client.replace(
            self.resource, {**lease, "spec": new_spec}, cfg.lease_namespace
        )
        self._observe(updated.get("spec") or new_spec, now)
        self.last_renew = now
        return True

    def _observe(self, spec: dict[str, Any], now: float) -> None:
        self._observed = dict(spec)
        self._observed_time = now

    # ---------------------------------------------------------------- release, health

    async def release(self) -> bool:
        """Give the Lease up (if still ours): holderIdentity cleared, duration 1 s."""
        was_leader = self.is_leader
        self.stopped = True
        self._gauge.set(0)
        if not was_leader or not self.config.release_on_cancel:
            return False
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.request_timeout):
                lease = await self.client.get(self.resource, cfg.lease_name, cfg.lease_namespace)
                spec: dict[str, Any] = dict(lease.get("spec") or {})
                if spec.get("holderIdentity") != cfg.identity:
                    return False
                stamp = micro_time()
                spec.pop("holderIdentity", None)
                spec.update(leaseDurationSeconds=1, renewTime=stamp, acquireTime=stamp)
                await self.client.replace(
                    self.resource, {**lease, "spec": spec}, cfg.lease_namespace
                )
        except (TimeoutError, KubeError) as exc:
            self._log.warning("failed to release the lease", error=str(exc))
            return False
        self._log.info("released the lease")
        return True

    def healthy(self, tolerance: float = 0.0) -> bool:
        """False when we lead but have not renewed for longer than the lease duration plus
        `tolerance` (client-go's HealthzAdaptor): this replica is wedged while leading."""
        if not self.is_leader or self.last_renew is None:
            return True
        return self._clock.now() - self.last_renew <= self.config.lease_duration + tolerance
