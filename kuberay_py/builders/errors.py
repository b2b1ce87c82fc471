"""The one error a pure builder raises."""

from __future__ import annotations


class BuildError(ValueError):
    """The spec cannot yield the object (e.g. a serve Service without a serve port).

    A ValueError because the input, not the world, is wrong: the controller reports it
    and waits for a spec change instead of retrying as it would an API failure.
    """
