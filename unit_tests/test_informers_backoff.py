"""The reflector backoff: 800 ms doubling to 30 s, jittered, reset after 2 quiet minutes."""

from __future__ import annotations

import random

from kuberay_py.informers import Backoff


def test_defaults_are_client_go_numbers() -> None:
    b = Backoff()
    assert (b.initial, b.cap, b.factor, b.reset_after) == (0.8, 30.0, 2.0, 120.0)
    assert [b.ceiling(n) for n in range(7)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0]


def test_delays_double_within_jitter_and_never_exceed_cap() -> None:
    now = [0.0]
    b = Backoff(clock=lambda: now[0], rng=random.Random(7))
    for step in range(12):
        d = b.next_delay()
        ceiling = min(30.0, 0.8 * 2**step)
        assert ceiling / 2 <= d <= ceiling
        now[0] += d
    assert b.steps == 12


def test_resets_after_two_minutes_without_failure() -> None:
    now = [0.0]
    b = Backoff(clock=lambda: now[0], rng=random.Random(1))
    for _ in range(5):
        b.next_delay()
        now[0] += 1.0
    now[0] += 119.0  # 120 s since the last failure
    assert b.next_delay() <= 0.8
    assert b.steps == 1
    now[0] += 60.0  # not long enough: keeps growing
    assert 0.8 <= b.next_delay() <= 1.6


def test_jitter_spreads_values() -> None:
    values = {round(Backoff(rng=random.Random(seed)).next_delay(), 6) for seed in range(20)}
    assert len(values) == 20
