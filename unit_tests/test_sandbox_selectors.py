"""Label and field selectors: kube's grammar, matching, validation and error messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kuberay_py.sandbox.registry.errors import StatusError
from kuberay_py.sandbox.registry.selectors import (
    FieldSelector,
    LabelSelector,
    label_selector_from_dict,
    label_selector_from_set,
    parse_field_selector,
    parse_label_selector,
    supported_fields,
)

# ------------------------------------------------------------------------------------------------
# Label selector grammar and matching
# ------------------------------------------------------------------------------------------------

LABELS = {"app": "web", "tier": "front", "env": "prod", "n": "5", "example.com/team": "ray"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("   ", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches objects without the label
        ("app in (web,db)", True),
        ("app in (db, cache)", False),
        ("app notin (db)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),
        ("missing in (x)", False),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("  app = web ,  tier in ( front , back ) ", True),
        ("app=web,!missing,env", True),
        ("example.com/team=ray", True),
        ("n>4", True),
        ("n>5", False),
        ("n<6", True),
        ("app>1", False),  # not an integer label: no match
        ("missing<1", False),
        ("app in (in,notin)", False),  # keywords are plain values inside a set
        ("missing=", False),
        ("missing!=", True),
    ],
)
def test_label_selector_matching(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


def test_equals_empty_value_matches_an_empty_label() -> None:
    sel = parse_label_selector("a=")
    assert sel.matches({"a": ""})
    assert not sel.matches({})
    assert parse_label_selector("a in ()").matches({"a": ""})
    assert parse_label_selector("a in (x,)").matches({"a": ""})
    assert parse_label_selector("a in (,x)").matches({"a": "x"})
    assert parse_label_selector("a in (x,,y)").matches({"a": ""})


def test_empty_and_nothing() -> None:
    assert parse_label_selector("").empty
    assert parse_label_selector(None).empty
    assert not parse_label_selector("a").empty
    assert LabelSelector().matches({})
    assert LabelSelector().matches(None)
    nothing = LabelSelector(nothing=True)
    assert not nothing.empty and not nothing.matches({}) and not nothing.matches(LABELS)


def test_requirements_sorted_and_values_deduplicated() -> None:
    sel = parse_label_selector("z=1,a in (y,x,y),m")
    assert [r.key for r in sel.requirements] == ["a", "m", "z"]
    assert sel.requirements[0].values == ("x", "y")
    assert str(sel) == "a in (x,y),m,z=1"


def test_requires_exact_match() -> None:
    sel = parse_label_selector("app=web,tier in (a),env in (a,b)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") == "a"
    assert sel.requires_exact_match("env") is None
    assert sel.requires_exact_match("other") is None


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("=b", "found '=', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        (
            "a>x",
            "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "-a=b",
            'unable to parse requirement: key: Invalid value: "-a": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
            "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        (
            "a=b-",
            'unable to parse requirement: values[0][a]: Invalid value: "b-": a valid label '
            "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            "'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
    ],
)
def test_label_selector_syntax_errors(selector: str, message: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_label_selector(selector)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert info.value.message == message


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("a" * 64, "name part must be no more than 63 characters"),
        ("/a", "prefix part must be non-empty"),
        ("a/", "name part must be non-empty"),
        ("Example.com/a", "prefix part a lowercase RFC 1123 subdomain"),
        ("a/b/c", "a qualified name must consist of"),
        ("a_", "name part must consist of"),
        ("a" * 254 + "/b", "prefix part must be no more than 253 characters"),
    ],
)
def test_label_key_validation(key: str, fragment: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_label_selector(f"{key}=x")
    assert info.value.code == 400
    assert info.value.message.startswith(
        f'unable to parse requirement: key: Invalid value: "{key}"'
    )
    assert fragment in info.value.message


def test_label_value_validation() -> None:
    assert parse_label_selector("a=" + "v" * 63).matches({"a": "v" * 63})
    with pytest.raises(StatusError) as info:
        parse_label_selector("a=" + "v" * 64)
    assert "must be no more than 63 characters" in info.value.message
    with pytest.raises(StatusError):
        parse_label_selector("a in (ok, -bad)")
    # Keys may be 63-character names with a DNS prefix.
    key = "sub.example.com/" + "k" * 63
    assert parse_label_selector(f"{key}=v").matches({key: "v"})


def test_label_selector_from_set() -> None:
    sel = label_selector_from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2", "c": "3"})
    assert not sel.matches({"a": "1"})
    assert label_selector_from_set({}).empty
    assert label_selector_from_set(None).matches({"x": "y"})


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        (
            {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
            {"a": "1"},
            False,
        ),
        ({"matchLabels": None, "matchExpressions": None}, {}, True),
    ],
)
def test_label_selector_from_dict(
    selector: dict[str, Any], labels: dict[str, str], expected: bool
) -> None:
    assert label_selector_from_dict(selector).matches(labels) is expected


def test_label_selector_from_dict_none_selects_nothing() -> None:
    sel = label_selector_from_dict(None)
    assert not sel.matches({}) and not sel.empty
    assert label_selector_from_dict({}).empty


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "values set must be empty for exists and does not exist",
        ),
        ({"matchLabels": {"a": "-x"}}, 'values[0][a]: Invalid value: "-x"'),
        ({"matchLabels": {"-a": "x"}}, 'key: Invalid value: "-a"'),
    ],
)
def test_label_selector_from_dict_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(StatusError) as info:
        label_selector_from_dict(selector)
    assert info.value.code == 400
    assert message in info.value.message


_names = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?", fullmatch=True)
_values = st.one_of(st.just(""), _names)
_requirement_text = st.one_of(
    st.tuples(_names, st.sampled_from(["=", "==", "!="]), _values).map("".join),
    st.tuples(
        _names, st.sampled_from([" in ", " notin "]), st.lists(_names, min_size=1, max_size=3)
    ).map(lambda t: f"{t[0]}{t[1]}({','.join(t[2])})"),
    _names,
    _names.map(lambda n: "!" + n),
    st.tuples(_names, st.sampled_from([">", "<"]), st.integers(-99, 99)).map(
        lambda t: f"{t[0]}{t[1]}{t[2]}"
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    reqs=st.lists(_requirement_text, max_size=5),
    labels=st.dictionaries(_names, _values, max_size=5),
)
def test_label_selector_round_trips_through_str(reqs: list[str], labels: dict[str, str]) -> None:
    sel = parse_label_selector(",".join(reqs))
    again = parse_label_selector(str(sel))
    assert again == sel
    assert again.matches(labels) == sel.matches(labels)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_arbitrary_label_selector_text_parses_or_is_400(text: str) -> None:
    try:
        sel = parse_label_selector(text)
    except StatusError as err:
        assert err.code == 400 and err.reason == "BadRequest"
    else:
        sel.matches({"a": "b"})


# ------------------------------------------------------------------------------------------------
# Field selectors
# ------------------------------------------------------------------------------------------------

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {
        "nodeName": "node-a",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "sa1",
        "hostNetwork": True,
    },
    "status": {
        "phase": "Running",
        "podIP": "127.16.0.5",
        "podIPs": [{"ip": "127.16.0.5"}],
        "nominatedNodeName": "node-b",
    },
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("metadata.name=web-1", True),
        ("metadata.name==web-1", True),
        ("metadata.name!=web-1", False),
        ("metadata.name=web-2", False),
        ("metadata.namespace=prod", True),
        ("metadata.namespace=default", False),
        ("spec.nodeName=node-a", True),
        ("spec.nodeName!=", True),
        ("spec.restartPolicy=Always", True),
        ("spec.schedulerName=default-scheduler", True),
        ("spec.serviceAccountName=sa1", True),
        ("spec.hostNetwork=true", True),
        ("spec.hostNetwork=false", False),
        ("status.phase=Running", True),
        ("status.phase!=Running", False),
        ("status.podIP=127.16.0.5", True),
        ("status.nominatedNodeName=node-b", True),
        ("metadata.name=web-1,status.phase=Running,spec.nodeName=node-a", True),
        ("metadata.name=web-1,status.phase=Pending", False),
        (",metadata.name=web-1,", True),  # empty terms are ignored
    ],
)
def test_pod_field_selectors(selector: str, expected: bool) -> None:
    assert parse_field_selector(selector, "Pod").matches(POD) is expected


def test_pod_field_defaults_for_missing_values() -> None:
    bare = {"metadata": {"name": "p", "namespace": "d"}}
    assert parse_field_selector("spec.nodeName=", "Pod").matches(bare)
    assert parse_field_selector("spec.hostNetwork=false", "Pod").matches(bare)
    assert parse_field_selector("status.podIP=", "Pod").matches(bare)
    assert parse_field_selector("status.phase=", "Pod").matches(bare)
    # podIP falls back to status.podIP when podIPs is absent
    only_ip = {"status": {"podIP": "127.16.0.9"}}
    assert parse_field_selector("status.podIP=127.16.0.9", "Pod").matches(only_ip)


CORE_EVENT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web-1.abc", "namespace": "prod"},
    "involvedObject": {
        "kind": "Pod",
        "namespace": "prod",
        "name": "web-1",
        "uid": "u-1",
        "apiVersion": "v1",
        "resourceVersion": "42",
        "fieldPath": "spec.containers{main}",
    },
    "reason": "Scheduled",
    "reportingComponent": "default-scheduler",
    "source": {"component": "default-scheduler"},
    "type": "Normal",
}

NEW_EVENT: dict[str, Any] = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "web-1.def", "namespace": "prod"},
    "regarding": {
        "kind": "Pod",
        "namespace": "prod",
        "name": "web-1",
        "uid": "u-1",
        "apiVersion": "v1",
        "resourceVersion": "42",
        "fieldPath": "",
    },
    "reason": "Pulled",
    "reportingController": "kubelet",
    "deprecatedSource": {"component": "kubelet"},
    "type": "Warning",
}


@pytest.mark.parametrize(
    ("selector", "core", "new"),
    [
        ("involvedObject.kind=Pod", True, True),
        ("involvedObject.namespace=prod", True, True),
        ("involvedObject.name=web-1", True, True),
        ("involvedObject.uid=u-1", True, True),
        ("involvedObject.apiVersion=v1", True, True),
        ("involvedObject.resourceVersion=42", True, True),
        ("involvedObject.fieldPath=spec.containers{main}", True, False),
        ("regarding.name=web-1", True, True),
        ("regarding.kind=Node", False, False),
        ("reason=Scheduled", True, False),
        ("reason=Pulled", False, True),
        ("reportingComponent=default-scheduler", True, False),
        ("reportingComponent=kubelet", False, True),
        ("source=kubelet", False, True),
        ("source=default-scheduler", True, False),
        ("type=Normal", True, False),
        ("type!=Normal", False, True),
        # what `kubectl describe pod web-1` sends
        (
            "involvedObject.name=web-1,involvedObject.namespace=prod,involvedObject.uid=u-1",
            True,
            True,
        ),
        (
            "involvedObject.name=web-1,involvedObject.namespace=prod,involvedObject.uid=u-2",
            False,
            False,
        ),
    ],
)
def test_event_field_selectors(selector: str, core: bool, new: bool) -> None:
    sel = parse_field_selector(selector, "Event")
    assert sel.matches(CORE_EVENT) is core
    assert sel.matches(NEW_EVENT) is new


@pytest.mark.parametrize(
    ("kind", "selector", "obj", "expected"),
    [
        ("Secret", "type=Opaque", {"type": "Opaque"}, True),
        ("Secret", "type=kubernetes.io/tls", {"type": "Opaque"}, False),
        ("Node", "spec.unschedulable=true", {"spec": {"unschedulable": True}}, True),
        ("Node", "spec.unschedulable=false", {"spec": {}}, True),
        ("Namespace", "status.phase=Active", {"status": {"phase": "Active"}}, True),
        ("Namespace", "status.phase=Terminating", {"status": {"phase": "Active"}}, False),
        ("Job", "status.successful=1", {"status": {"succeeded": 1}}, True),
        ("Job", "status.successful=0", {"status": {}}, True),
        ("ReplicationController", "status.replicas=3", {"status": {"replicas": 3}}, True),
        ("ReplicationController", "status.replicas=0", {}, True),
        ("Service", "spec.type=ClusterIP", {"spec": {"type": "ClusterIP"}}, True),
        ("Service", "spec.clusterIP=None", {"spec": {"clusterIP": "None"}}, True),
        ("Service", "spec.clusterIP=None", {"spec": {"clusterIP": "127.96.0.1"}}, False),
        ("CertificateSigningRequest", "spec.signerName=x", {"spec": {"signerName": "x"}}, True),
        ("Pod", "spec.host=node-a", {"spec": {"nodeName": "node-a"}}, True),  # old alias
        ("Pod", "status.podIPs=", {"status": {"podIPs": [{"ip": "1.2.3.4"}]}}, True),
        ("RayCluster", "metadata.name=rc", {"metadata": {"name": "rc"}}, True),
        ("ConfigMap", "metadata.namespace=default", {"metadata": {"namespace": "default"}}, True),
        ("Deployment", "metadata.namespace=a", {"metadata": {"namespace": "a"}}, True),
    ],
)
def test_kind_specific_field_selectors(
    kind: str, selector: str, obj: dict[str, Any], expected: bool
) -> None:
    assert parse_field_selector(selector, kind).matches(obj) is expected


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("RayCluster", "spec.nodeName"),
        ("Pod", "spec.containers"),
        ("Pod", "type"),
        ("Secret", "status.phase"),
        ("Service", "spec.nodeName"),
        ("Pod", "metadata.labels"),
        ("Pod", " metadata.name"),  # no trimming, as kube
        ("Node", "metadata.namespace"),  # cluster-scoped kinds with a conversion func
        ("Namespace", "metadata.namespace"),
        ("Event", "message"),
    ],
)
def test_unsupported_field_is_400(kind: str, field: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_field_selector(f"{field}=x", kind)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert info.value.message == f"field label not supported: {field}"


@pytest.mark.parametrize(
    ("kind", "field"),
    [("ConfigMap", "data.key"), ("ReplicaSet", "status.replicas"), ("Deployment", "spec.paused")],
)
def test_builtin_kinds_without_conversion_use_the_default_message(kind: str, field: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_field_selector(f"{field}=x", kind)
    assert info.value.code == 400
    assert info.value.message == (
        f'"{field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


def test_job_has_its_own_message() -> None:
    with pytest.raises(StatusError) as info:
        parse_field_selector("status.succeeded=1", "Job")
    assert info.value.message == 'field label "status.succeeded" not supported for batchv1.Job'


def test_custom_resources_scope_and_selectable_fields() -> None:
    rc = {"metadata": {"name": "r", "namespace": "ns"}, "spec": {"color": "red", "size": 3}}
    sel = parse_field_selector(
        "spec.color=red,spec.size=3", "RayCluster", selectable_fields=[".spec.color", "spec.size"]
    )
    assert sel.matches(rc)
    assert not parse_field_selector(
        "spec.color=blue", "RayCluster", selectable_fields=[".spec.color"]
    ).matches(rc)
    assert parse_field_selector("metadata.namespace=ns", "RayCluster").matches(rc)
    with pytest.raises(StatusError) as info:
        parse_field_selector("metadata.namespace=ns", "Widget", namespaced=False)
    assert info.value.message == "field label not supported: metadata.namespace"
    # A CR whose kind shares a built-in's name is still a CR when its group says so.
    with pytest.raises(StatusError) as info:
        parse_field_selector("status.phase=x", "Pod", api_version="example.com/v1")
    assert info.value.message == "field label not supported: status.phase"
    assert parse_field_selector("status.phase=x", "Pod", api_version="v1").terms


def test_supported_fields_lists_kind_fields() -> None:
    assert supported_fields("RayCluster") == {"metadata.name", "metadata.namespace"}
    assert supported_fields("ConfigMap") == {"metadata.name", "metadata.namespace"}
    assert supported_fields("Node") == {"metadata.name", "spec.unschedulable"}
    assert {"status.podIP", "spec.host"} <= supported_fields("Pod")
    assert {"involvedObject.uid", "regarding.uid", "source"} <= supported_fields("Event")


@pytest.mark.parametrize(
    ("selector", "value"),
    [
        (r"metadata.name=a\,b", "a,b"),
        (r"metadata.name=a\=b", "a=b"),
        (r"metadata.name=a\\b", "a\\b"),
        (r"metadata.name=\\\,\=", "\\,="),
        ("metadata.name=a==b", "=b"),  # first operator found is `==`, rest is unescaped
    ],
)
def test_field_selector_escaping(selector: str, value: str) -> None:
    if value == "=b":
        with pytest.raises(StatusError) as info:
            parse_field_selector(selector, "ConfigMap")
        assert info.value.message == "invalid field selector: unescaped character in value: ="
        return
    sel = parse_field_selector(selector, "ConfigMap")
    assert sel.terms[0].value == value
    assert sel.matches({"metadata": {"name": value}})
    assert parse_field_selector(str(sel), "ConfigMap") == sel


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        (r"metadata.name=a\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: ="),
    ],
)
def test_field_selector_syntax_errors(selector: str, message: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_field_selector(selector, "ConfigMap")
    assert info.value.code == 400
    assert info.value.message == message


def test_exact_name_and_namespace() -> None:
    assert parse_field_selector("metadata.name=x", "Pod").exact_name == "x"
    assert parse_field_selector("metadata.name==x", "Pod").exact_name == "x"
    assert parse_field_selector("metadata.name!=x", "Pod").exact_name is None
    both = parse_field_selector("metadata.name=x,status.phase=Running", "Pod")
    assert both.exact_name is None  # a GET by name would not honour the phase term
    assert both.required_value("metadata.name") == "x"
    assert both.required_value("spec.nodeName") is None
    assert parse_field_selector("metadata.namespace=ns", "Pod").exact_namespace == "ns"
    assert parse_field_selector("", "Pod").exact_name is None
    assert parse_field_selector("", "Pod").empty
    assert FieldSelector().matches({})


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40), kind=st.sampled_from(["Pod", "Event", "ConfigMap", "Widget"]))
def test_arbitrary_field_selector_text_parses_or_is_400(text: str, kind: str) -> None:
    try:
        sel = parse_field_selector(text, kind)
    except StatusError as err:
        assert err.code == 400 and err.reason == "BadRequest"
    else:
        sel.matches(POD)
        assert parse_field_selector(str(sel), kind) == sel


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=20))
def test_escaped_values_round_trip(value: str) -> None:
    from kuberay_py.sandbox.registry.selectors import escape_field_value

    sel = parse_field_selector(f"metadata.name={escape_field_value(value)}", "Pod")
    assert sel.exact_name == value
    assert sel.matches({"metadata": {"name": value}})
