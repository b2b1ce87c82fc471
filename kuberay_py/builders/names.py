"""Object names as KubeRay derives them, truncation included.

Names must match KubeRay's byte for byte: users' scripts and dashboards select
`<cluster>-head-svc`, and a long name must be cut at the same end KubeRay cuts it.
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 50
MAX_LABEL_LENGTH = 63
#: Kubernetes' random-suffix alphabet (no vowels, no confusable characters).
RAND_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_LEADING_DIGIT_OR_PUNCT = re.compile(r"^[0-9!-/:-@\[-`{-~]")
_LEADING_PUNCT = re.compile(r"^[!-/:-@\[-`{-~]")


def check_name(name: str) -> str:
    """KubeRay's `CheckName`: keep the *last* 50 characters; a leading digit or punctuation
    character becomes `r`."""
    if len(name) > MAX_NAME_LENGTH:
        name = name[len(name) - MAX_NAME_LENGTH :]
    if _LEADING_DIGIT_OR_PUNCT.match(name):
        name = "r" + name[1:]
    return name


def check_label(value: str) -> str:
    """KubeRay's `CheckLabel`: keep the last 63 characters, leading punctuation becomes `r`."""
    if len(value) > MAX_LABEL_LENGTH:
        value = value[len(value) - MAX_LABEL_LENGTH :]
    if _LEADING_PUNCT.match(value):
        value = "r" + value[1:]
    return value


def pod_name(prefix: str, node_type: str, *, generate: bool = True) -> str:
    """`<prefix[:50]>-head-` / `<prefix[:50]>-worker-` (generateName), lowercased."""
    name = f"{prefix[:MAX_NAME_LENGTH]}-{node_type}"
    if generate:
        name += "-"
    return name.lower()


# Service names are not shortened: that is why a RayCluster name may have at most 53
# characters (53 + len("-serve-svc") = 63), a rule validation enforces.
def head_service_name(cluster_name: str) -> str:
    """The default head Service name; `headGroupSpec.headService.metadata.name` overrides it."""
    return f"{cluster_name}-head-svc"


def serve_service_name(owner_name: str) -> str:
    return f"{owner_name}-serve-svc"


def serve_service_label(owner_name: str) -> str:
    return f"{owner_name}-serve"


def headless_worker_service_name(cluster_name: str) -> str:
    return f"{cluster_name}-headless"
