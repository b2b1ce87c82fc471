"""Fault injection: make the API server misbehave on purpose, at run time.

Tests of clients, informers and controllers need the failures a real
control plane produces (throttling, 5xx, slow answers, watch streams that
end early, 410 Gone, watch events that arrive late) on demand and
reproducibly. Rules are matched per request by resource, verb, namespace and
probability, and may fire a limited number of times. The HTTP layer consults
`FaultInjector.match` before serving a request, and `watch_delay` for every
event an open watch is about to send (so a delay switched on or off at run
time reaches watches that are already open); the same rules can be managed
over HTTP under `/sandbox/faults` (see `sandbox_routes`).
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Literal

import attrs

FaultAction = Literal["status", "latency", "drop_watch", "gone", "watch_delay"]
ACTIONS: tuple[str, ...] = ("status", "latency", "drop_watch", "gone", "watch_delay")
# Actions that act on a request when it arrives (watch_delay acts on each watch event).
REQUEST_ACTIONS: tuple[str, ...] = ("status", "latency", "drop_watch", "gone")
# Actions that only ever concern watches, whatever verb filter the rule lacks.
WATCH_ONLY_ACTIONS: tuple[str, ...] = ("drop_watch", "watch_delay")

# camelCase wire names of FaultRule's fields (the /sandbox/faults JSON form).
_WIRE_NAMES: dict[str, str] = {
    "action": "action",
    "resource": "resource",
    "verb": "verb",
    "namespace": "namespace",
    "probability": "probability",
    "code": "code",
    "retryAfter": "retry_after",
    "latencySeconds": "latency_seconds",
    "afterEvents": "after_events",
    "delaySeconds": "delay_seconds",
    "count": "count",
}


def _check_probability(_: object, __: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"probability must be between 0 and 1, got {value}")


def _check_delay(_: object, __: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"delaySeconds must not be negative, got {value}")


def _check_action(_: object, __: attrs.Attribute[str], value: str) -> None:
    if value not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {value!r}")


@attrs.frozen
class FaultRule:
    """One way to misbehave, and which requests it applies to (None matches anything)."""

    action: FaultAction = attrs.field(validator=_check_action)
    resource: str | None = None
    verb: str | None = None
    namespace: str | None = None
    probability: float = attrs.field(default=1.0, validator=_check_probability)
    code: int = 500
    retry_after: int | None = None
    latency_seconds: float = 0.0
    after_events: int = 0
    delay_seconds: float = attrs.field(default=0.0, validator=_check_delay)
    count: int | None = None

    def applies_to(self, verb: str, resource: str | None, namespace: str | None) -> bool:
        if self.resource is not None and self.resource != resource:
            return False
        if self.namespace is not None and self.namespace != namespace:
            return False
        if self.verb is not None:
            return self.verb == verb
        # Watch-only actions match watches whatever verb filter they lack.
        if self.action in WATCH_ONLY_ACTIONS:
            return verb == "watch"
        return True

    def to_wire(self) -> dict[str, Any]:
        return {wire: getattr(self, field) for wire, field in _WIRE_NAMES.items()}

    @classmethod
    def from_wire(cls, body: Any) -> FaultRule:
        """Build from the camelCase JSON form; ValueError/TypeError on anything malformed."""
        if not isinstance(body, dict):
            raise ValueError("a fault rule must be a JSON object")
        unknown = sorted(k for k in body if k not in _WIRE_NAMES and k not in _WIRE_NAMES.values())
        if unknown:
            raise ValueError(f"unknown fault rule fields: {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in body.items():
            kwargs[_WIRE_NAMES[key] if key in _WIRE_NAMES else str(key)] = value
        if "action" not in kwargs:
            raise ValueError("a fault rule needs an action")
        _typecheck(kwargs)
        return cls(**kwargs)


def _typecheck(kwargs: dict[str, Any]) -> None:
    expect: dict[str, tuple[type, ...]] = {
        "action": (str,),
        "resource": (str, type(None)),
        "verb": (str, type(None)),
        "namespace": (str, type(None)),
        "probability": (int, float),
        "code": (int,),
        "retry_after": (int, type(None)),
        "latency_seconds": (int, float),
        "after_events": (int,),
        "delay_seconds": (int, float),
        "count": (int, type(None)),
    }
    for name, value in kwargs.items():
        types = expect[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"fault rule field {name} has the wrong type: {value!r}")
    code = kwargs.get("code", 500)
    if not 100 <= code <= 599:
        raise ValueError(f"code must be an HTTP status code, got {code}")


@attrs.define
class _Entry:
    rule: FaultRule
    remaining: int | None


class FaultInjector:
    """The live set of fault rules. Safe to change while requests are being served."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self._rules: dict[str, _Entry] = {}
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> str:
        fault_id = f"fault-{next(self._ids)}"
        self._rules[fault_id] = _Entry(rule, rule.count)
        return fault_id

    def remove(self, fault_id: str) -> None:
        """Forget a rule; KeyError when there is none with this id."""
        del self._rules[fault_id]

    def clear(self) -> None:
        self._rules.clear()

    def rules(self) -> list[tuple[str, FaultRule]]:
        return [(fid, e.rule) for fid, e in self._rules.items()]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def match(
        self,
        verb: str,
        resource: str | None,
        namespace: str | None,
        actions: tuple[str, ...] = ACTIONS,
    ) -> list[FaultRule]:
        """The rules that fire for this request now (counts are spent as they fire)."""
        fired: list[FaultRule] = []
        for fault_id, entry in list(self._rules.items()):
            rule = entry.rule
            if rule.action not in actions or not rule.applies_to(verb, resource, namespace):
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            if entry.remaining is not None:
                if entry.remaining <= 0:
                    continue
                entry.remaining -= 1
                if entry.remaining <= 0:
                    self._rules.pop(fault_id, None)
            fired.append(rule)
        return fired

    def watch_delay(self, resource: str | None, namespace: str | None) -> float:
        """Seconds to hold back one watch event of `resource` in `namespace` (0: send now).

        Asked once per event, so `count` and `probability` of a watch_delay rule are per
        event, and a rule added or removed while a watch is open takes effect at its next
        event. Several matching rules: the longest delay wins.
        """
        if not self._rules:
            return 0.0
        fired = self.match("watch", resource, namespace, actions=("watch_delay",))
        return max((rule.delay_seconds for rule in fired), default=0.0)

    def describe(self) -> list[dict[str, Any]]:
        """The `GET /sandbox/faults` form: each rule with its id and remaining count."""
        return [
            {"id": fid, **e.rule.to_wire(), "remaining": e.remaining}
            for fid, e in self._rules.items()
        ]
