"""Retry policy decisions, Retry-After parsing, backoff bounds and the token bucket."""

from __future__ import annotations

import email.utils
import random

import pytest

from kuberay_py.kube import RetryPolicy, TokenBucket, parse_retry_after


def test_backoff_doubles_is_jittered_into_upper_half_and_capped() -> None:
    policy = RetryPolicy(base=0.1, cap=1.0)
    rng = random.Random(1)
    for retry in range(10):
        ceiling = min(1.0, 0.1 * 2**retry)
        for _ in range(50):
            d = policy.backoff(retry, rng)
            assert ceiling / 2 <= d <= ceiling
    # jitter actually spreads the values
    assert len({round(policy.backoff(3, rng), 6) for _ in range(20)}) > 10


def test_retry_after_wins_over_backoff_but_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=5.0)
    assert policy.delay_for_status(429, 2.0, 0) == 2.0
    assert policy.delay_for_status(429, 600.0, 0) == 5.0
    assert policy.delay_for_status(429, 0.0, 0) == 0.0


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "POST"])
def test_429_is_retried_for_every_verb(method: str) -> None:
    assert RetryPolicy.retryable_status(method, 429, has_retry_after=False)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 410, 422])
def test_other_4xx_are_never_retried(code: int) -> None:
    for method in ("GET", "POST", "PUT"):
        assert not RetryPolicy.retryable_status(method, code, has_retry_after=True)


def test_5xx_retry_depends_on_idempotency_and_retry_after() -> None:
    assert RetryPolicy.retryable_status("GET", 500, has_retry_after=False)
    assert RetryPolicy.retryable_status("DELETE", 503, has_retry_after=False)
    assert not RetryPolicy.retryable_status("POST", 500, has_retry_after=False)
    assert RetryPolicy.retryable_status("POST", 503, has_retry_after=True)


def test_connection_errors_replay_posts_only_when_nothing_was_sent() -> None:
    assert RetryPolicy.retryable_connection_error("POST", sent=False)
    assert not RetryPolicy.retryable_connection_error("POST", sent=True)
    assert RetryPolicy.retryable_connection_error("GET", sent=True)


def test_parse_retry_after_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_010.0, usegmt=True)
    assert parse_retry_after(date, now=1_000_000.0) == pytest.approx(10.0)
    assert parse_retry_after(email.utils.formatdate(10.0, usegmt=True), now=100.0) == 0.0


def test_token_bucket_allows_burst_then_paces_at_qps() -> None:
    now = [0.0]
    bucket = TokenBucket(qps=10, burst=3, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    now[0] = 10.0  # long idle: refills to burst only
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.1)


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(qps=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(qps=1, burst=0)
