"""Kubernetes resource quantities ("500m", "1.5", "32Gi", "1e3") as exact numbers.

The scheduler compares container requests against node allocatable; both are
written as kube quantities, so one parser with every suffix kube accepts
(decimal SI n u m k M G T P E, binary Ki..Ei, and decimal exponents) keeps
the arithmetic exact (`Fraction`, never float rounding).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Literal

import attrs

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<exp>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)


def parse_quantity(value: str | int | float) -> Fraction:
    """The value of a quantity in base units (cores for cpu, bytes for memory).

    Raises ValueError for anything kube-apiserver would reject as a quantity.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    text = value.strip()
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(f"quantities must match the regular expression; got {value!r}")
    number = Fraction(m.group("num"))
    if m.group("exp"):
        return number * Fraction(10) ** int(m.group("exp")[1:])
    suffix = m.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


def cpu_millis(value: str | int | float) -> int:
    """CPU in millicores, rounded up as kube does for sub-millicore requests."""
    return math.ceil(parse_quantity(value) * 1000)


def memory_bytes(value: str | int | float) -> int:
    """Memory (or any integer resource) in base units, rounded up."""
    return math.ceil(parse_quantity(value))


# --- formatting ---------------------------------------------------------------------------
#
# Kubernetes prints a quantity in the family it was written in ("Gi" stays binary, "500m"
# stays decimal SI, "1e3" stays an exponent), in canonical form: the largest suffix that
# keeps the mantissa an integer. RayCluster status fields (desiredCPU, desiredMemory, ...)
# are quantities, so `kubectl get raycluster` shows "4", "4Gi", "500m" only if we format
# them the way apimachinery's Quantity.String() does.

QuantityFormat = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

_NANO = Fraction(1, 10**9)
_DECIMAL_SUFFIXES = {
    -9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"
}  # fmt: skip
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def quantity_format(value: str | int | float) -> QuantityFormat:
    """The family a written quantity belongs to; sums and products keep it."""
    if isinstance(value, (int, float)):
        return "DecimalSI"
    m = _QUANTITY.match(value.strip())
    if not m:
        raise ValueError(f"quantities must match the regular expression; got {value!r}")
    if m.group("exp"):
        return "DecimalExponent"
    if (m.group("suffix") or "") in _BINARY:
        return "BinarySI"
    return "DecimalSI"


def _round_up_to_nano(magnitude: Fraction) -> Fraction:
    # Kubernetes keeps no precision below 1n and rounds away from zero.
    steps = magnitude / _NANO
    whole = -(-steps.numerator // steps.denominator)
    return whole * _NANO


def format_quantity(value: Fraction | int, fmt: QuantityFormat = "DecimalSI") -> str:
    """`value` written as Kubernetes writes a quantity of format `fmt`.

    BinarySI falls back to DecimalSI below 1024 and for fractions, as Kubernetes does
    (so 512 bytes print "512" and 0.5Gi prints "512Mi", but 1.5 binary units print
    "1500m"). Zero is always "0".
    """
    number = Fraction(value)
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    magnitude = _round_up_to_nano(abs(number))
    if fmt == "BinarySI" and magnitude >= 1024 and magnitude.denominator == 1:
        mantissa = magnitude.numerator
        power = 0
        while mantissa % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
            mantissa //= 1024
            power += 1
        return f"{sign}{mantissa}{_BINARY_SUFFIXES[power]}"
    scaled = magnitude / _NANO
    mantissa, exponent = scaled.numerator, -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    if fmt == "DecimalExponent" or exponent not in _DECIMAL_SUFFIXES:
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    return f"{sign}{mantissa}{_DECIMAL_SUFFIXES[exponent]}"


# --- sums ---------------------------------------------------------------------------------


@attrs.frozen
class Amount:
    """A quantity with the format Kubernetes prints it in. Sums keep the format of the first
    non-zero operand, as apimachinery's Quantity.Add does, so "1Gi" + "1Gi" prints "2Gi"
    and not "2147483648" (quota status and RayCluster desired resources both show sums)."""

    value: Fraction
    fmt: QuantityFormat = "DecimalSI"

    def __add__(self, other: Amount) -> Amount:
        fmt = other.fmt if self.value == 0 else self.fmt
        return Amount(self.value + other.value, fmt)

    def __str__(self) -> str:
        return format_quantity(self.value, self.fmt)


def amount(raw: Any) -> Amount | None:
    """A written quantity ("500m", "2Gi", 3) as an Amount; None when it is not one, which
    nothing that counts resources (a scheduler, a quota) can count either."""
    try:
        return Amount(parse_quantity(raw), quantity_format(raw))
    except (ValueError, TypeError, AttributeError):
        return None
