"""Images that cannot be pulled: the rule, kubelet's waiting reasons, messages and Events."""

from __future__ import annotations

from typing import Any

from kuberay_py.sandbox.cluster.images import parse_image, pull_error
from unit_tests.sandbox_cluster_harness import cluster, condition, eventually, pod_manifest

NOT_FOUND = (
    'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
    'failed to resolve reference "{ref}": {ref}: not found'
)


def test_the_unpullable_rule_and_containerd_wording() -> None:
    assert pull_error("busybox:1.36") is None
    assert pull_error("rayproject/ray:2.46.0") is None
    assert pull_error("registry.example.com:5000/team/app@sha256:abc") is None
    ref = "docker.io/library/nginx:does-not-exist"
    assert pull_error("nginx:does-not-exist") == NOT_FOUND.format(ref=ref)
    ref = "docker.io/team/does-not-exist:latest"
    assert pull_error("team/does-not-exist") == NOT_FOUND.format(ref=ref)
    assert pull_error("registry.invalid:5000/ray/ray:2.46.0") == (
        "rpc error: code = Unknown desc = failed to pull and unpack image "
        '"registry.invalid:5000/ray/ray:2.46.0": failed to resolve reference '
        '"registry.invalid:5000/ray/ray:2.46.0": failed to do request: '
        'Head "https://registry.invalid:5000/v2/ray/ray/manifests/2.46.0": '
        "dial tcp: lookup registry.invalid: no such host"
    )
    assert parse_image("localhost/app").normalized == "localhost/app:latest"
    assert parse_image("quay.io/a/b@sha256:1").normalized == "quay.io/a/b@sha256:1"


def _main(pod: dict[str, Any] | None) -> dict[str, Any]:
    for cs in (pod or {}).get("status", {}).get("containerStatuses") or []:
        if cs["name"] == "main":
            return dict(cs)
    return {}


def _waiting(pod: dict[str, Any] | None) -> dict[str, Any]:
    return dict(_main(pod).get("state", {}).get("waiting") or {})


async def test_err_image_pull_then_back_off_with_kubelet_messages_and_events() -> None:
    image = "rayproject/ray:does-not-exist"
    error = NOT_FOUND.format(ref=f"docker.io/{image}")
    # ErrImagePull shows for one simulated second before the back-off: 0.1 s here.
    async with cluster(time_scale=0.1) as c:
        c.registry.create(
            c.pods,
            "default",
            pod_manifest("bad", containers=[{"name": "main", "image": image}]),
        )

        def pull_failed() -> dict[str, Any] | None:
            waiting = _waiting(c.pod("bad"))
            return waiting if waiting.get("reason") == "ErrImagePull" else None

        assert await eventually(pull_failed) == {"reason": "ErrImagePull", "message": error}
        await eventually(lambda: _waiting(c.pod("bad")).get("reason") == "ImagePullBackOff")
        assert _waiting(c.pod("bad"))["message"] == (
            f'Back-off pulling image "{image}": ErrImagePull: {error}'
        )
        pod = c.pod("bad")
        assert pod is not None and pod["status"]["phase"] == "Pending"
        cs = _main(pod)
        assert cs["ready"] is False and cs["started"] is False and cs["imageID"] == ""
        ready = condition(pod, "ContainersReady")
        assert ready is not None and ready["message"] == "containers with unready status: [main]"
        events = {(e["type"], e["reason"], e["message"]) for e in c.events("bad")}
        assert ("Normal", "Pulling", f'Pulling image "{image}"') in events
        assert ("Warning", "Failed", f'Failed to pull image "{image}": {error}') in events
        assert ("Warning", "Failed", "Error: ErrImagePull") in events
        assert ("Normal", "BackOff", f'Back-off pulling image "{image}"') in events
        assert ("Warning", "Failed", "Error: ImagePullBackOff") in events
        pulling = [e for e in c.events("bad") if e["reason"] == "Pulling"]
        assert pulling[0]["involvedObject"]["fieldPath"] == "spec.containers{main}"
        assert pulling[0]["source"]["component"] == "kubelet"
        # The back-off ends with another pull attempt (10 s, simulated).
        await eventually(
            lambda: next(e for e in c.events("bad") if e["reason"] == "Pulling")["count"] >= 2
        )

        # Fixing the image (an allowed pod update) lets the container start.
        stored = c.pod("bad")
        assert stored is not None
        fixed = {**stored, "spec": {**stored["spec"]}}
        fixed["spec"]["containers"] = [{**stored["spec"]["containers"][0], "image": "ray:2.46"}]
        c.registry.update(c.pods, "default", "bad", fixed)
        await eventually(lambda: "running" in _main(c.pod("bad")).get("state", {}))
        assert _main(c.pod("bad"))["image"] == "ray:2.46"


async def test_never_pull_policy_and_invalid_registry_on_an_init_container() -> None:
    async with cluster(time_scale=0.02) as c:
        never = {"name": "main", "image": "app:does-not-exist", "imagePullPolicy": "Never"}
        c.registry.create(c.pods, "default", pod_manifest("never", containers=[never]))
        await eventually(lambda: _waiting(c.pod("never")).get("reason") == "ErrImageNeverPull")
        message = 'Container image "app:does-not-exist" is not present with pull policy of Never'
        assert _waiting(c.pod("never"))["message"] == message
        events = {(e["reason"], e["message"]) for e in c.events("never")}
        assert ("ErrImageNeverPull", message) in events
        assert ("Failed", "Error: ErrImageNeverPull") in events

        init = {"name": "init", "image": "registry.invalid/tools/wait:1"}
        spec_pod = pod_manifest("init-bad", initContainers=[init])
        c.registry.create(c.pods, "default", spec_pod)

        def init_waiting() -> dict[str, Any]:
            statuses = (c.pod("init-bad") or {}).get("status", {}).get("initContainerStatuses")
            return dict((statuses or [{}])[0].get("state", {}).get("waiting") or {})

        await eventually(lambda: init_waiting().get("reason") == "ErrImagePull")
        assert "lookup registry.invalid: no such host" in init_waiting()["message"]
        initialized = condition(c.pod("init-bad"), "Initialized")
        assert initialized is not None and initialized["status"] == "False"
        assert _waiting(c.pod("init-bad"))["reason"] == "PodInitializing"
