"""Workqueue semantics: dedup, processing exclusion, delays, rate limiting, shutdown, metrics.

The invariants are checked by a hypothesis state machine that drives the queue with the
synchronous API (get_nowait/done/flush_ready under a FakeClock), which is exactly the
interleaving asyncio workers produce; a second property runs real concurrent workers.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)
from prometheus_client import CollectorRegistry

from kuberay_py.runtime.clock import FakeClock
from kuberay_py.runtime.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)
from kuberay_py.runtime.workqueue import (
    DelayingQueue,
    Queue,
    QueueEmpty,
    ShutDown,
    WorkQueue,
)

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])


class QueueMachine(RuleBasedStateMachine):
    """Model: which keys are processing, and the last add / last hand-out of each key."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.q: WorkQueue[str] = WorkQueue(
            "hyp",
            clock=self.clock,
            registry=CollectorRegistry(),
            rate_limiter=ItemExponentialFailureRateLimiter(0.5, 4.0),
        )
        self.step = 0
        self.processing: set[str] = set()
        self.last_add: dict[str, int] = {}
        self.last_get: dict[str, int] = {}

    def _tick(self) -> int:
        self.step += 1
        return self.step

    @rule(key=KEYS)
    def add(self, key: str) -> None:
        self.last_add[key] = self._tick()
        self.q.add(key)

    @rule(key=KEYS, delay=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
    def add_after(self, key: str, delay: float) -> None:
        self.last_add[key] = self._tick()
        self.q.add_after(key, delay)

    @rule(key=KEYS)
    def add_rate_limited(self, key: str) -> None:
        self.last_add[key] = self._tick()
        self.q.add_rate_limited(key)

    @rule(key=KEYS)
    def forget(self, key: str) -> None:
        self.q.forget(key)
        assert self.q.num_requeues(key) == 0

    @rule(dt=st.sampled_from([0.1, 0.5, 1.0, 5.0]))
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)
        self.q.flush_ready()

    @rule()
    def get(self) -> None:
        try:
            key = self.q.get_nowait()
        except QueueEmpty:
            assert len(self.q) == 0
            return
        assert key not in self.processing, f"{key} handed out while being processed"
        self.processing.add(key)
        self.last_get[key] = self._tick()

    @precondition(lambda self: bool(self.processing))
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.processing)))
        self.processing.discard(key)
        self.q.done(key)

    @invariant()
    def queued_at_most_once(self) -> None:
        queued = self.q.queued()
        assert len(queued) == len(set(queued))

    @invariant()
    def never_queued_while_processing(self) -> None:
        assert set(self.q.queued()).isdisjoint(self.processing)
        assert self.q.processing == frozenset(self.processing)

    def teardown(self) -> None:
        # Finish everything in flight, let every delay pass, and drain the queue.
        for key in sorted(self.processing):
            self.q.done(key)
        self.processing.clear()
        for _ in range(100):
            self.clock.advance(10.0)
            self.q.flush_ready()
            while True:
                try:
                    key = self.q.get_nowait()
                except QueueEmpty:
                    break
                self.last_get[key] = self._tick()
                self.q.done(key)
            if self.q.waiting == 0 and len(self.q) == 0:
                break
        for key, added in self.last_add.items():
            assert self.last_get.get(key, -1) > added, f"{key} added at {added} was lost"


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    workers=st.integers(1, 6),
    adds=st.lists(KEYS, min_size=1, max_size=60),
)
def test_concurrent_workers_never_share_a_key_and_lose_nothing(
    seed: int, workers: int, adds: list[str]
) -> None:
    async def scenario() -> None:
        rng = random.Random(seed)
        q: Queue[str] = Queue("conc", registry=CollectorRegistry())
        in_flight: set[str] = set()
        last_add: dict[str, int] = {}
        last_start: dict[str, int] = {}
        step = 0

        async def worker() -> None:
            nonlocal step
            while True:
                try:
                    key = await q.get()
                except ShutDown:
                    return
                assert key not in in_flight
                in_flight.add(key)
                step += 1
                last_start[key] = step
                for _ in range(rng.randrange(4)):
                    await asyncio.sleep(0)
                in_flight.discard(key)
                q.done(key)

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        for key in adds:
            step += 1
            last_add[key] = step
            q.add(key)
            for _ in range(rng.randrange(3)):
                await asyncio.sleep(0)
        assert await q.shutdown_with_drain(timeout=5)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        for key, added in last_add.items():
            assert last_start[key] > added

    asyncio.run(scenario())


async def test_add_is_deduplicated_and_add_during_processing_requeues_at_done() -> None:
    q: Queue[str] = Queue("dedup", registry=CollectorRegistry())
    q.add("x")
    q.add("x")
    q.add("y")
    assert len(q) == 2
    assert await q.get() == "x"
    q.add("x")  # while processing: only marked dirty
    assert q.queued() == ["y"]
    assert await q.get() == "y"
    q.done("y")
    q.done("x")
    assert q.queued() == ["x"]


async def test_get_waits_for_an_add_and_cancelled_getter_passes_the_wakeup_on() -> None:
    q: Queue[str] = Queue("wait", registry=CollectorRegistry())
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("k")
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "k"


async def test_add_after_uses_one_timer_and_keeps_the_sooner_time() -> None:
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue("delay", clock=clock, registry=CollectorRegistry())
    q.add_after("a", 5.0)
    q.add_after("a", 2.0)  # sooner wins
    q.add_after("a", 9.0)  # later ignored
    q.add_after("b", 3.0)
    await asyncio.sleep(0)
    assert q.waiting == 2 and len(q) == 0
    timers = [t for t in asyncio.all_tasks() if t.get_name().startswith("workqueue timer")]
    assert len(timers) == 1
    clock.advance(2.0)
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert len(q) == 0
    clock.advance(1.0)
    assert await asyncio.wait_for(q.get(), 1) == "b"
    await q.aclose()


def test_item_exponential_limiter_doubles_to_the_cap_and_forgets() -> None:
    lim = ItemExponentialFailureRateLimiter()
    delays = [lim.when("k") for _ in range(21)]
    assert delays[0] == pytest.approx(0.005)
    assert delays[1] == pytest.approx(0.010)
    assert delays[18] == 1000.0 and delays[17] < 1000.0  # the 19th failure reaches the cap
    assert lim.num_requeues("k") == 21
    assert lim.when("other") == pytest.approx(0.005)
    lim.forget("k")
    assert lim.num_requeues("k") == 0 and lim.when("k") == pytest.approx(0.005)
    for _ in range(5000):
        lim.when("big")
    assert lim.when("big") == 1000.0


def test_bucket_limiter_allows_a_burst_then_spaces_by_qps() -> None:
    clock = FakeClock()
    lim = BucketRateLimiter(10, 100, clock=clock)
    assert all(lim.when(i) == 0 for i in range(100))
    assert lim.when("x") == pytest.approx(0.1)
    assert lim.when("y") == pytest.approx(0.2)
    clock.advance(1.0)
    assert lim.when("z") == pytest.approx(0.0, abs=1e-9) or lim.when("z") >= 0


def test_max_of_takes_the_longest_delay() -> None:
    clock = FakeClock()
    lim = default_controller_rate_limiter(qps=1, burst=1, clock=clock)
    assert isinstance(lim, MaxOfRateLimiter)
    assert lim.when("a") == pytest.approx(0.005)  # bucket had a token
    assert lim.when("b") == pytest.approx(1.0)  # bucket empty: 1 s dominates 5 ms
    assert lim.num_requeues("a") == 1
    lim.forget("a")
    assert lim.num_requeues("a") == 0


async def test_rate_limited_adds_wait_and_count_retries() -> None:
    clock = FakeClock()
    reg = CollectorRegistry()
    q: WorkQueue[str] = WorkQueue(
        "rl", clock=clock, registry=reg, rate_limiter=ItemExponentialFailureRateLimiter(1, 100)
    )
    q.add_rate_limited("k")
    q.add_rate_limited("k")  # second failure: 2 s, but the sooner 1 s is kept
    assert q.num_requeues("k") == 2
    assert q.ready_at("k") == clock.now() + 1
    clock.advance(1)
    assert await asyncio.wait_for(q.get(), 1) == "k"
    assert reg.get_sample_value("workqueue_retries_total", {"name": "rl"}) == 2
    await q.aclose()


async def test_shutdown_hands_out_queued_keys_then_raises_and_ignores_adds() -> None:
    q: WorkQueue[str] = WorkQueue("sd", registry=CollectorRegistry())
    q.add("a")
    waiter_q: Queue[str] = Queue("sd2", registry=CollectorRegistry())
    waiting = asyncio.create_task(waiter_q.get())
    await asyncio.sleep(0)
    waiter_q.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiting, 1)
    q.shutdown()
    q.add("b")
    q.add_after("c", 1)
    assert await q.get() == "a"
    q.done("a")
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_waits_for_in_flight_work() -> None:
    q: Queue[str] = Queue("drain", registry=CollectorRegistry())
    q.add("a")
    key = await q.get()
    drain = asyncio.create_task(q.shutdown_with_drain(timeout=5))
    await asyncio.sleep(0.01)
    assert not drain.done()
    q.done(key)
    assert await asyncio.wait_for(drain, 1) is True
    q2: Queue[str] = Queue("drain2", registry=CollectorRegistry())
    q2.add("x")
    await q2.get()
    assert await q2.shutdown_with_drain(timeout=0.05) is False


async def test_metrics_use_client_go_names() -> None:
    clock = FakeClock()
    reg = CollectorRegistry()
    q: WorkQueue[str] = WorkQueue("mx", clock=clock, registry=reg)
    q.add("a")
    q.add("a")
    q.add("b")
    clock.advance(2.0)
    key = q.get_nowait()
    clock.advance(3.0)

    def sample(name: str) -> Any:
        return reg.get_sample_value(name, {"name": "mx"})

    assert sample("workqueue_adds_total") == 2
    assert sample("workqueue_depth") == 1
    assert sample("workqueue_queue_duration_seconds_count") == 1
    assert sample("workqueue_queue_duration_seconds_sum") == pytest.approx(2.0)
    assert sample("workqueue_unfinished_work_seconds") == pytest.approx(3.0)
    assert sample("workqueue_longest_running_processor_seconds") == pytest.approx(3.0)
    q.done(key)
    assert sample("workqueue_work_duration_seconds_sum") == pytest.approx(3.0)
    assert sample("workqueue_unfinished_work_seconds") == 0
    assert sample("workqueue_retries_total") == 0
