"""Review regression: marking an object for deletion bumps metadata.generation once, as
kube's BeforeDelete / markAsDeleting do, so GenerationChanged-filtered controllers see it."""

from __future__ import annotations

from kuberay_py.sandbox.registry.catalog import Catalog, ResourceType
from kuberay_py.sandbox.registry.store import Registry
from kuberay_py.sandbox.registry.types import DeleteOptions, WatchOptions
from kuberay_py.sandbox.registry.watchhub import HubWatch


def _rt(catalog: Catalog, group: str, version: str, resource: str) -> ResourceType:
    found = catalog.get(group, version, resource)
    assert found is not None
    return found


def test_finalizer_delete_bumps_generation_once() -> None:
    catalog = Catalog()
    reg = Registry(catalog)
    deps = _rt(catalog, "apps", "v1", "deployments")
    body = {
        "metadata": {"name": "d", "finalizers": ["example.com/cleanup"]},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    created = reg.create(deps, "default", body)
    assert created["metadata"]["generation"] == 1
    watch = reg.watch(deps, "default", WatchOptions(send_initial_events=False))
    marked = reg.delete(deps, "default", "d")
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == 2
    assert isinstance(watch, HubWatch)
    (event,) = watch.drain_nowait()
    assert event.type == "MODIFIED" and event.object["metadata"]["generation"] == 2
    # Deleting again while deletion is pending changes nothing.
    again = reg.delete(deps, "default", "d")
    assert again["metadata"]["generation"] == 2


def test_graceful_pod_delete_bumps_generation_once() -> None:
    catalog = Catalog()
    reg = Registry(catalog)
    pods = _rt(catalog, "", "v1", "pods")
    pod = {
        "metadata": {"name": "p"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
    }
    reg.create(pods, "default", pod)
    marked = reg.delete(pods, "default", "p", DeleteOptions(grace_period_seconds=30))
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert marked["metadata"]["generation"] == 2
    # A shorter grace period moves the deadline but is not a new deletion.
    shorter = reg.delete(pods, "default", "p", DeleteOptions(grace_period_seconds=10))
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    assert shorter["metadata"]["generation"] == 2
