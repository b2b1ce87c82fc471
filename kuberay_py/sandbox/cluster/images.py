"""Which images the sandbox's kubelet cannot pull, and the error a real node reports.

The sandbox has no registry: every image is "present on the node" except the
ones a documented, deterministic rule marks as unpullable, so tests can
produce ErrImagePull / ImagePullBackOff on purpose:

- an image whose registry host ends in `.invalid` (RFC 2606: never resolves)
  fails as a DNS lookup failure;
- an image whose name or tag contains `does-not-exist` fails as a manifest
  that is not found.

Errors are worded as containerd reports them through the CRI (what kubelet
puts in the container's waiting message and its `Failed` Event), with the
reference normalised as containerd does (`busybox` -> `docker.io/library/busybox:latest`).
"""

from __future__ import annotations

import attrs

UNPULLABLE_MARK = "does-not-exist"
INVALID_TLD = ".invalid"


@attrs.frozen
class ImageRef:
    """A parsed image reference: registry domain, repository path, tag or digest."""

    domain: str
    path: str
    tag: str
    digest: str

    @property
    def normalized(self) -> str:
        base = f"{self.domain}/{self.path}"
        return f"{base}@{self.digest}" if self.digest else f"{base}:{self.tag}"

    @property
    def host(self) -> str:
        return self.domain.rsplit(":", 1)[0] if ":" in self.domain else self.domain


def parse_image(image: str) -> ImageRef:
    """Split an image reference the way the docker/containerd reference grammar does."""
    rest, _, digest = image.partition("@")
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, remainder
    else:
        domain, path = "docker.io", rest
        if "/" not in path:
            path = f"library/{path}"
    if not tag and not digest:
        tag = "latest"
    return ImageRef(domain, path, tag, digest)


def pull_error(image: str) -> str | None:
    """The runtime's error for pulling `image`, or None when the node has (or gets) it."""
    ref = parse_image(image)
    name = ref.normalized
    prefix = f'failed to pull and unpack image "{name}": failed to resolve reference "{name}"'
    if ref.host.endswith(INVALID_TLD):
        manifest = ref.digest or ref.tag
        return (
            f"rpc error: code = Unknown desc = {prefix}: failed to do request: "
            f'Head "https://{ref.domain}/v2/{ref.path}/manifests/{manifest}": '
            f"dial tcp: lookup {ref.host}: no such host"
        )
    if UNPULLABLE_MARK in ref.path or UNPULLABLE_MARK in ref.tag:
        return f"rpc error: code = NotFound desc = {prefix}: {name}: not found"
    return None
