"""with_defaults: KubeRay's setDefaults plus the CRD defaults, agreeing with the API server."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.api.convert import raycluster_from_dict, raycluster_to_dict
from kuberay_py.api.crd import raycluster_crd
from kuberay_py.api.defaults import MAX_INT32, with_defaults
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.sandbox.registry import crd_schema, crds

SAMPLES = Path(__file__).parent.parent / "manifests" / "samples"


def _cluster(*groups: dict[str, Any], **spec: Any) -> RayCluster:
    return raycluster_from_dict(
        {
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {
                "headGroupSpec": {"template": {"spec": {"containers": [{"name": "ray-head"}]}}},
                "workerGroupSpecs": [{"template": {}, **g} for g in groups],
                **spec,
            },
        }
    )


def test_absent_ray_start_params_become_empty_maps() -> None:
    out = with_defaults(
        _cluster({"groupName": "a"}, {"groupName": "b", "rayStartParams": {"x": "1"}})
    )
    assert out.spec.head_group_spec.ray_start_params == {}
    groups = out.spec.worker_group_specs or []
    assert [g.ray_start_params for g in groups] == [{}, {"x": "1"}]


def test_absent_worker_group_fields_get_the_crd_defaults() -> None:
    group = (with_defaults(_cluster({"groupName": "a"})).spec.worker_group_specs or [])[0]
    assert (
        group.num_of_hosts,
        group.min_replicas,
        group.max_replicas,
        group.replicas,
        group.priority,
    ) == (1, 0, MAX_INT32, 0, 0)
    assert MAX_INT32 == 2147483647


def test_values_the_user_wrote_are_kept_even_zero() -> None:
    written = {
        "groupName": "a",
        "numOfHosts": 0,
        "minReplicas": 2,
        "maxReplicas": 3,
        "replicas": 5,
        "priority": 7,
    }
    out = raycluster_to_dict(with_defaults(_cluster(written)))
    assert out["spec"]["workerGroupSpecs"][0] == {**written, "template": {}, "rayStartParams": {}}


def test_the_input_is_not_modified() -> None:
    cluster = _cluster({"groupName": "a"}, networkPolicy={})
    before = copy.deepcopy(cluster)
    out = with_defaults(cluster)
    assert cluster == before
    assert out != cluster
    assert out.spec.network_policy == {"mode": "DenyAll"}
    assert cluster.spec.network_policy == {}


def test_network_policy_mode_defaults_only_when_absent() -> None:
    assert with_defaults(_cluster()).spec.network_policy is None
    kept = with_defaults(_cluster(networkPolicy={"mode": "DenyAllIngress"}))
    assert kept.spec.network_policy == {"mode": "DenyAllIngress"}


def test_idempotent() -> None:
    once = with_defaults(_cluster({"groupName": "a"}))
    assert with_defaults(once) == once


def _sample_docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RayCluster":
                out.append((path.name, doc))
    return out


def _server_defaulted(doc: dict[str, Any]) -> dict[str, Any]:
    """What kube-apiserver stores for `doc` under our CRD (the sandbox's own defaulting)."""
    rt = crds.resource_types(raycluster_crd())[0]
    out = copy.deepcopy(doc)
    crd_schema.default_and_prune(rt, out)
    return out


MINIMAL = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "m"},
    "spec": {
        "headGroupSpec": {"rayStartParams": {}, "template": {}},
        "workerGroupSpecs": [
            {"groupName": "a", "rayStartParams": {}, "template": {}},
            {"groupName": "b", "rayStartParams": {}, "template": {}, "numOfHosts": 4},
        ],
        "networkPolicy": {"workerGroups": [{"groupName": "a"}]},
    },
}


@pytest.mark.parametrize(
    "doc",
    [MINIMAL, *(d for _, d in _sample_docs())],
    ids=["minimal", *(n for n, _ in _sample_docs())],
)
def test_with_defaults_is_what_the_api_server_fills_in(doc: dict[str, Any]) -> None:
    # Every sample writes rayStartParams (setDefaults' part), so the API server's CRD
    # defaulting and with_defaults must produce the same object.
    from_server = raycluster_from_dict(_server_defaulted(doc))
    assert with_defaults(raycluster_from_dict(doc)) == from_server
    assert with_defaults(from_server) == from_server
