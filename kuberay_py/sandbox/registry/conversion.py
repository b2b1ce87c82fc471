"""Converting stored objects between the API versions that serve them.

kube-apiserver keeps one stored object per group/resource family and
converts on the way in (request version -> storage version) and on the way
out (storage version -> the version asked for), for every verb and every
watch event. The registry does the same through `convert`:

- Versions of one group (a CRD's served versions; conversion strategy
  "None") differ only in `apiVersion`.
- Across groups, a converter registered for the (group, kind) pair maps the
  fields; the pair here is kube's cohabiting Event: core/v1 and
  events.k8s.io/v1 (k8s.io/kubernetes pkg/apis/events/v1 conversion.go).

Converters never mutate their input and share unchanged nested values with
it (stored objects are immutable, so sharing is safe).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

Obj = dict[str, Any]
Converter = Callable[[Obj], Obj]

# events.k8s.io/v1 field -> core/v1 field. Every other field (metadata, related, reason,
# type, action, eventTime, reportingInstance, series {count, lastObservedTime}) has the
# same name and shape in both, as in kube's generated conversions.
_EVENTS_TO_CORE: Final[tuple[tuple[str, str], ...]] = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)


def _renamed(obj: Obj, mapping: tuple[tuple[str, str], ...], api_version: str) -> Obj:
    """`obj` with each `src` field moved to `dst`; fields of the target's names are dropped
    first, since the source version has no such fields (a stray one is not carried over)."""
    drop = {dst for _, dst in mapping}
    out = {k: v for k, v in obj.items() if k not in drop}
    for src, dst in mapping:
        if src in out:
            out[dst] = out.pop(src)
    out["apiVersion"] = api_version
    return out


def _event_to_core(obj: Obj, api_version: str) -> Obj:
    return _renamed(obj, _EVENTS_TO_CORE, api_version)


def _core_to_event(obj: Obj, api_version: str) -> Obj:
    return _renamed(obj, tuple((dst, src) for src, dst in _EVENTS_TO_CORE), api_version)


GroupConverter = Callable[[Obj, str], Obj]

# (from group, to group, kind) -> converter; the target apiVersion is passed in.
CONVERTERS: Final[dict[tuple[str, str, str], GroupConverter]] = {
    ("events.k8s.io", "", "Event"): _event_to_core,
    ("", "events.k8s.io", "Event"): _core_to_event,
}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


class ConversionError(ValueError):
    """No conversion between two groups of a kind: a catalog wiring mistake."""


def convert(obj: Obj, api_version: str) -> Obj:
    """`obj` as `api_version` presents it (`obj` itself when it already is)."""
    current = obj.get("apiVersion")
    if current == api_version:
        return obj
    src, dst = _group(str(current or "")), _group(api_version)
    if current is None or src == dst:
        out = dict(obj)
        out["apiVersion"] = api_version
        return out
    kind = str(obj.get("kind") or "")
    converter = CONVERTERS.get((src, dst, kind))
    if converter is None:
        raise ConversionError(f"no conversion of {kind} from {current} to {api_version}")
    return converter(obj, api_version)
