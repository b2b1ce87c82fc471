"""Kubernetes resource quantities ("500m", "1.5", "32Gi", "1e3") as exact numbers.

The scheduler compares container requests against node allocatable; both are
written as kube quantities, so one parser with every suffix kube accepts
(decimal SI n u m k M G T P E, binary Ki..Ei, and decimal exponents) keeps
the arithmetic exact (`Fraction`, never float rounding).
"""

from __future__ import annotations

import re
from fractions import Fraction

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
    q = parse_quantity(value) * 1000
    return int(-(-q.numerator // q.denominator))


def memory_bytes(value: str | int | float) -> int:
    """Memory (or any integer resource) in base units, rounded up."""
    q = parse_quantity(value)
    return int(-(-q.numerator // q.denominator))
