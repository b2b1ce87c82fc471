"""When the client retries a request, and how long it waits in between.

Policy (documented in the README's client section):

- 429 TooManyRequests: retried for every verb. API Priority and Fairness rejects
  before the request is processed, so a replay cannot duplicate a write. The wait is
  the server's Retry-After when given (capped at `max_retry_after`), else the backoff.
- 5xx: retried for GET, PUT, PATCH and DELETE (a replay is harmless: a PUT carrying a
  resourceVersion fails with Conflict if the first one landed, a DELETE with NotFound).
  A POST is retried on 5xx only when the server sent Retry-After (it says "not done,
  come back"); otherwise the create may have been stored and a replay could create a
  second object with a generateName.
- connection errors: retried for every verb when the connection could not be opened
  (nothing was sent); for GET, PUT, PATCH and DELETE also after the request was sent.
- every other 4xx: never retried.

Backoff: `base * 2**attempt`, capped at `cap`, with full jitter (a uniform draw in
[d/2, d]) so that many clients retrying together spread out.
"""

from __future__ import annotations

import email.utils
import random
import time

import attrs

__all__ = ["RetryPolicy", "parse_retry_after"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})


@attrs.frozen
class RetryPolicy:
    """Retry settings. `attempts` counts every try, so 1 means no retry."""

    attempts: int = 5
    base: float = 0.2
    cap: float = 10.0
    max_retry_after: float = 60.0

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `retry` (0-based), jittered in [d/2, d]."""
        d = min(self.cap, self.base * (2.0**retry))
        r = (rng or random).random()
        return d / 2 + r * d / 2

    def delay_for_status(
        self, code: int, retry_after: float | None, retry: int, rng: random.Random | None = None
    ) -> float:
        """The wait before re-sending after an HTTP error `code` (Retry-After wins when set)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        return self.backoff(retry, rng)

    @staticmethod
    def retryable_status(method: str, code: int, has_retry_after: bool) -> bool:
        """Whether an HTTP error may be retried for this method (see the module docstring)."""
        if code == 429:
            return True
        if code >= 500:
            return method in IDEMPOTENT_METHODS or has_retry_after
        return False

    @staticmethod
    def retryable_connection_error(method: str, sent: bool) -> bool:
        """Whether a failed connection may be retried for this method."""
        return (not sent) or method in IDEMPOTENT_METHODS


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date. None when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))
