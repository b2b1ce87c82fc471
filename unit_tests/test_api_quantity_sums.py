"""Quantity sums print as Kubernetes prints them: the first non-zero operand's format."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kuberay_py.api.quantity import Amount, amount, cpu_millis, memory_bytes


def parsed(raw: str) -> Amount:
    result = amount(raw)
    assert result is not None
    return result


def test_sums_keep_the_first_nonzero_format() -> None:
    assert str(parsed("1Gi") + parsed("1Gi")) == "2Gi"
    assert str(parsed("500m") + parsed("1")) == "1500m"
    # A zero on the left takes the other side's format (apimachinery's Quantity.Add).
    assert str(Amount(Fraction(0)) + parsed("512Mi")) == "512Mi"
    assert str(parsed("1") + parsed("1Ki")) == "1025"


@pytest.mark.parametrize("raw", ["", "1.5x", "abc", None, [1]])
def test_amount_of_a_non_quantity_is_none(raw: object) -> None:
    assert amount(raw) is None


def test_integer_values_round_up() -> None:
    assert cpu_millis("0.0001") == 1
    assert memory_bytes("0.5") == 1
    assert memory_bytes("1Ki") == 1024
