"""Lease and events.k8s.io/v1 Event validation: kube-apiserver's 422s, field paths included."""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.store import Registry


@pytest.fixture
def reg() -> Registry:
    return Registry(Catalog())


def _rt(reg: Registry, group: str, resource: str) -> ResourceType:
    found = reg.catalog.get(group, "v1", resource)
    assert found is not None
    return found


def _causes(fn: Any, *args: Any) -> list[tuple[str, str]]:
    with pytest.raises(StatusError) as info:
        fn(*args)
    assert info.value.code == 422 and info.value.reason == "Invalid"
    return [(c.field, c.reason) for c in info.value.causes]


def test_lease_duration_and_transitions(reg: Registry) -> None:
    leases = _rt(reg, "coordination.k8s.io", "leases")
    bad = {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}}
    assert _causes(reg.create, leases, "default", bad) == [
        ("spec.leaseDurationSeconds", "FieldValueInvalid"),
        ("spec.leaseTransitions", "FieldValueInvalid"),
    ]
    good = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
    created = reg.create(leases, "default", good)
    created["spec"]["leaseDurationSeconds"] = -5
    assert _causes(reg.update, leases, "default", "l", created) == [
        ("spec.leaseDurationSeconds", "FieldValueInvalid")
    ]


def test_events_v1_create_needs_time_reporter_action_and_reason(reg: Registry) -> None:
    events = _rt(reg, "events.k8s.io", "events")
    assert _causes(reg.create, events, "default", {"metadata": {"name": "e"}, "type": "Odd"}) == [
        ("eventTime", "FieldValueRequired"),
        ("type", "FieldValueInvalid"),
        ("reportingController", "FieldValueRequired"),
        ("reportingInstance", "FieldValueRequired"),
        ("action", "FieldValueRequired"),
        ("reason", "FieldValueRequired"),
    ]
    ok = {
        "metadata": {"name": "e"},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "type": "Normal",
        "reportingController": "x.io/c",
        "reportingInstance": "c-1",
        "action": "Did",
        "reason": "Because",
    }
    assert reg.create(events, "default", ok)["reason"] == "Because"
    # core/v1 Events keep their looser rules.
    core = _rt(reg, "", "events")
    reg.create(core, "default", {"metadata": {"name": "legacy"}, "involvedObject": {}})
