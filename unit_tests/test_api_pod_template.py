"""The pod-template readers validation and the builders share: Go's nil-slice view of dicts."""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.api.pod_template import (
    containers,
    dict_at,
    env_var,
    field_ref_env,
    has_env,
    list_at,
    ray_container,
)


def test_env_var_is_the_first_entry_of_that_name() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B"}, {"name": "A", "value": "2"}]
    assert env_var("A", env) == {"name": "A", "value": "1"}
    assert env_var("C", env) is None
    assert env_var("A", None) is None
    assert has_env("B", env) and not has_env("C", env) and not has_env("A", None)


@pytest.mark.parametrize(
    "template",
    [None, {}, {"spec": None}, {"spec": {"containers": []}}, {"spec": {"containers": ["x"]}}],
)
def test_ray_container_of_a_template_without_one_is_empty(template: Any) -> None:
    assert ray_container(template) == {}


def test_ray_container_is_container_zero_itself() -> None:
    ray = {"name": "ray-head"}
    template = {"spec": {"containers": [ray, {"name": "sidecar"}]}}
    assert ray_container(template) is ray
    assert containers(template) == [ray, {"name": "sidecar"}]
    assert containers({"spec": {"containers": None}}) == []


def test_list_and_dict_at_create_missing_or_null_fields_in_place() -> None:
    obj: dict[str, Any] = {"env": None}
    list_at(obj, "env").append({"name": "A"})
    dict_at(obj, "labels")["k"] = "v"
    assert obj == {"env": [{"name": "A"}], "labels": {"k": "v"}}
    existing = obj["env"]
    assert list_at(obj, "env") is existing


def test_field_ref_env_is_the_downward_api() -> None:
    assert field_ref_env("POD_IP", "status.podIP") == {
        "name": "POD_IP",
        "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
    }
