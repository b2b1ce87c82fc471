"""Kubernetes' name checks give apimachinery v0.36's exact messages (KubeRay embeds them)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuberay_py.api.k8s_names import (
    VersionError,
    go_list,
    go_quote,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    parse_generic_version,
    regex_error,
    version_less_than,
)

DNS1035_REGEX_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_LABEL_REGEX_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_REGEX_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
NAME_PART_REGEX_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
    "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_REGEX_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def test_regex_error_without_examples_names_only_the_regex() -> None:
    assert regex_error("bad", "[a-z]+") == "bad (regex used for validation is '[a-z]+')"


@pytest.mark.parametrize("value", ["a", "my-name", "abc-123", "a" * 63])
def test_dns1035_label_accepts(value: str) -> None:
    assert is_dns1035_label(value) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1abc", [DNS1035_REGEX_ERROR]),
        ("", [DNS1035_REGEX_ERROR]),
        ("My-name", [DNS1035_REGEX_ERROR]),
        ("name-", [DNS1035_REGEX_ERROR]),
        ("name\n", [DNS1035_REGEX_ERROR]),  # Go's `$` is the end of the text
        ("a" * 64, ["must be no more than 63 characters"]),
        ("1" * 64, ["must be no more than 63 characters", DNS1035_REGEX_ERROR]),
        ("é" * 32, ["must be no more than 63 characters", DNS1035_REGEX_ERROR]),  # 64 bytes
    ],
)
def test_dns1035_label_rejects(value: str, expected: list[str]) -> None:
    assert is_dns1035_label(value) == expected


def test_dns1123_label_names_dots_when_the_value_is_a_subdomain() -> None:
    assert is_dns1123_label("1abc") == []
    assert is_dns1123_label("a.b") == ["must not contain dots"]
    assert is_dns1123_label("GPU-Group") == [DNS1123_LABEL_REGEX_ERROR]
    assert is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]


def test_dns1123_subdomain_has_two_length_units() -> None:
    long = ".".join(["a" * 63] * 4)  # 255 characters
    assert is_dns1123_subdomain(long) == ["must be no more than 253 characters"]
    assert is_dns1123_subdomain(long, unit="bytes") == ["must be no more than 253 bytes"]
    assert is_dns1123_subdomain("Example.com") == [SUBDOMAIN_REGEX_ERROR]


@pytest.mark.parametrize(
    "key", ["a", "ray.io/node-group", "MyName", "my.name", "123-abc", "example.com/" + "x" * 63]
)
def test_qualified_name_accepts(key: str) -> None:
    assert is_qualified_name(key) == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("invalid_key!", [NAME_PART_REGEX_ERROR]),
        ("", ["name part must be non-empty", NAME_PART_REGEX_ERROR]),
        ("/name", ["prefix part must be non-empty"]),
        ("ray.io/", ["name part must be non-empty", NAME_PART_REGEX_ERROR]),
        ("Ray.io/name", ["prefix part " + SUBDOMAIN_REGEX_ERROR]),
        ("x" * 64, ["name part must be no more than 63 bytes"]),
        (
            "a/b/c",
            [
                "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                "'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"
            ],
        ),
        # The subdomain regex does not bound a label's length: only the total is checked.
        ("a" * 254 + "/n", ["prefix part must be no more than 253 bytes"]),
    ],
)
def test_qualified_name_rejects(key: str, expected: list[str]) -> None:
    assert is_qualified_name(key) == expected


def test_label_value_rules() -> None:
    assert is_valid_label_value("") == []
    assert is_valid_label_value("on-demand") == []
    assert is_valid_label_value("invalid/value") == [LABEL_VALUE_REGEX_ERROR]
    assert is_valid_label_value("v" * 64) == ["must be no more than 63 bytes"]


def test_legacy_wording_is_util_validation_before_v0_35() -> None:
    """kube-apiserver 1.32 (the sandbox) says "a qualified name" and counts "characters"."""
    assert is_qualified_name("x" * 64, legacy=True) == [
        "name part must be no more than 63 characters"
    ]
    assert is_qualified_name("a" * 254 + "/n", legacy=True) == [
        "prefix part must be no more than 253 characters"
    ]
    assert is_qualified_name("a/b/c", legacy=True)[0].startswith(
        "a qualified name must consist of alphanumeric characters"
    )
    assert is_qualified_name("ray.io/", legacy=True) == is_qualified_name("ray.io/")
    assert is_valid_label_value("v" * 64, legacy=True) == ["must be no more than 63 characters"]
    assert is_valid_label_value("invalid/value", legacy=True) == [LABEL_VALUE_REGEX_ERROR]


def test_go_formatting() -> None:
    assert go_list([]) == "[]"
    assert go_list(["a b", "c"]) == "[a b c]"
    assert go_quote("GPU-Group") == '"GPU-Group"'
    assert go_quote('a"b\\c\n\x01é\u200b') == '"a\\"b\\\\c\\n\\x01é\\u200b"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.52.0", (2, 52, 0)),
        ("v2.52", (2, 52)),
        ("  2.56.0rc1", (2, 56, 0)),
        ("2.56.0-beta+build", (2, 56, 0)),
        ("1.01.0", (1, 1, 0)),  # only the first component may not have a leading zero
        ("0.9", (0, 9)),
    ],
)
def test_parse_generic_version_accepts(value: str, expected: tuple[int, ...]) -> None:
    assert parse_generic_version(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("invalid-version", 'could not parse "invalid-version" as version'),
        ("", 'could not parse "" as version'),
        ("2", 'illegal version string "2"'),
        ("02.1", 'illegal zero-prefixed version component "02" in "02.1"'),
        ("2.52.0\n", 'could not parse "2.52.0\\n" as version'),
        (
            "2.99999999999999999999",
            'illegal non-numeric version component "99999999999999999999" in '
            '"2.99999999999999999999": strconv.ParseUint: parsing "99999999999999999999": '
            "value out of range",
        ),
    ],
)
def test_parse_generic_version_rejects_with_apimachinery_messages(value: str, message: str) -> None:
    with pytest.raises(VersionError) as err:
        parse_generic_version(value)
    assert str(err.value) == message


def test_version_ordering_pads_missing_components_with_zero() -> None:
    assert version_less_than((2, 51, 9), (2, 52, 0))
    assert not version_less_than((2, 52), (2, 52, 0))
    assert not version_less_than((2, 52, 0), (2, 52))
    assert version_less_than((2, 52), (2, 52, 0, 1))
    assert not version_less_than((3, 0), (2, 99, 99))


@given(st.text(alphabet="abz09-.A_/", max_size=70))
def test_label_key_checks_agree_with_the_grammar(key: str) -> None:
    """A key is valid iff it is `[dns-subdomain/]name` with a 1-63 character label name."""
    name_re = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
    parts = key.split("/")
    name = parts[-1]
    valid = (
        len(parts) <= 2
        and 0 < len(name) <= 63
        and name_re.fullmatch(name) is not None
        and (len(parts) == 1 or (parts[0] != "" and is_dns1123_subdomain(parts[0]) == []))
    )
    assert (is_qualified_name(key) == []) == valid
