"""Backoff (full jitter, capped, attempts unbounded), Retry-After, the circuit breaker and the
adaptive chunk size: pure rules on fake clocks, then a real sender on a dead network."""

from __future__ import annotations

import functools
import random
import threading
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from outbox.backoff import (
    MAX_DELAY,
    MAX_RETRY_AFTER,
    MIN_DELAY,
    backoff_ceiling,
    honour_retry_after,
    parse_retry_after,
    retry_delay,
)
from outbox.breaker import BreakerState, CircuitBreaker
from outbox.chunks import ChunkSizer
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import Job, JobState, Outbox
from outbox.sender import Sender
from tests.support.netfault import FaultProxy, Mode


def test_the_ceiling_doubles_then_stays_capped() -> None:
    ceilings = [backoff_ceiling(n) for n in range(1, 40)]
    assert ceilings[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert ceilings == sorted(ceilings), "the ceiling never shrinks"
    assert ceilings[-1] == MAX_DELAY


@pytest.mark.parametrize("seed", range(5))
def test_full_jitter_spreads_over_the_whole_window(seed: int) -> None:
    rng = random.Random(seed)
    for attempt in range(1, 40):
        draws = [retry_delay(attempt, rng=rng) for _ in range(200)]
        ceiling = backoff_ceiling(attempt)
        assert all(MIN_DELAY <= d <= max(ceiling, MIN_DELAY) for d in draws)
        if ceiling >= 8:
            # full jitter: draws below a quarter and above three quarters of the window
            assert min(draws) < ceiling / 4
            assert max(draws) > 3 * ceiling / 4


def test_jitter_spreads_stations_apart() -> None:
    rng = random.Random(7)
    samples = {round(retry_delay(8, rng=rng), 3) for _ in range(50)}
    assert len(samples) > 40


@pytest.mark.parametrize("attempt", [0, -3, 10**6, 10**18])
def test_any_attempt_count_gives_a_bounded_delay(attempt: int) -> None:
    delay = retry_delay(attempt, rng=random.Random(0))
    assert MIN_DELAY <= delay <= MAX_DELAY


def test_default_rng_is_used_when_none_given() -> None:
    assert MIN_DELAY <= retry_delay(20) <= MAX_DELAY


def test_retry_after_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=lambda: now) == 90.0
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now=lambda: now) == 0.0
    for bad in (None, "", "soon", "-5", "1.5", "\u00b2", "Wed, 99 Foo 2026"):
        assert parse_retry_after(bad) is None, bad
    assert honour_retry_after(None) is None
    assert honour_retry_after(-3) == 0.0
    assert honour_retry_after(10**9) == MAX_RETRY_AFTER


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_the_threshold_and_lets_one_probe_out() -> None:
    clock = FakeMonotonic()
    breaker = CircuitBreaker(threshold=3, base_delay=2.0, max_delay=8.0, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(), "no attempt before the pause is over"
    wait = breaker.wait_time()
    assert wait is not None
    assert 1.0 <= wait <= 2.0
    clock.now += wait
    assert breaker.allow(), "the probe"
    assert breaker.state is BreakerState.PROBING
    assert not breaker.allow(), "only one probe at a time"
    assert breaker.wait_time() is None
    breaker.failure()
    pauses = []
    for _ in range(5):
        wait = breaker.wait_time()
        assert wait is not None
        pauses.append(wait)
        clock.now += wait
        assert breaker.allow()
        breaker.failure()
    assert 2.0 <= pauses[0] <= 4.0, "the pause doubles"
    assert max(pauses) <= 8.0, "and is capped"
    clock.now += 8.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.allow()
    assert breaker.allow(), "closed: everything goes"


def test_breaker_gives_back_an_unused_probe() -> None:
    clock = FakeMonotonic()
    breaker = CircuitBreaker(threshold=1, base_delay=1.0, clock=clock)
    breaker.failure()
    clock.now += 1.0
    assert breaker.allow()
    breaker.release()
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow(), "the probe is available again"
    with pytest.raises(ValueError, match="breaker"):
        CircuitBreaker(threshold=0)


def test_chunk_size_doubles_halves_and_learns_a_body_cap() -> None:
    sizer = ChunkSizer()
    assert sizer.size == 1024 * 1024, "starts at 1 MiB"
    assert [sizer.success() // 1024 for _ in range(4)] == [2048, 4096, 8192, 8192]
    halves = [sizer.failure() // 1024 for _ in range(9)]
    assert halves == [4096, 2048, 1024, 512, 256, 128, 64, 64, 64]
    sizer = ChunkSizer(4 * 1024 * 1024)
    assert sizer.too_large(4 * 1024 * 1024) == 2 * 1024 * 1024
    assert sizer.success() == 2 * 1024 * 1024, "never grows back into the cap"
    assert sizer.ceiling == 2 * 1024 * 1024
    assert sizer.too_large(100 * 1024) == 64 * 1024
    assert sizer.too_large(64 * 1024) is None, "nothing smaller to try"
    assert ChunkSizer(16 * 1024, minimum=16 * 1024, maximum=16 * 1024).success() == 16 * 1024
    with pytest.raises(ValueError, match="chunk"):
        ChunkSizer(minimum=10, maximum=5)


def test_sender_backs_off_without_giving_up(tmp_path: Path) -> None:
    """A real sender on a dead network, with a fake clock that sleeps take no time on."""
    now = [1_000_000.0]

    def fake_wait(event: threading.Event, seconds: float) -> bool:
        now[0] += seconds
        return event.wait(0.001)

    outbox = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox", clock=lambda: now[0])
    outbox.enqueue("b-1", "r", "R", "request", b"cipher")
    retries: list[Job] = []
    with FaultProxy("127.0.0.1", 9) as proxy:
        proxy.set_mode(Mode.REFUSE)
        client = PlatformClient(PlatformConfig(proxy.url(), "token", None, connect_timeout=1))
        delay = functools.partial(retry_delay, rng=random.Random(5))
        breaker = CircuitBreaker(clock=lambda: now[0], rng=random.Random(3))
        sender = Sender(outbox, client, retry_delay=delay, wait=fake_wait, breaker=breaker)
        sender.subscribe(lambda job: job.state is JobState.RETRY and retries.append(job))
        sender.start()
        deadline = time.monotonic() + 10
        while len(retries) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sender.stop(5)
        client.close()
    outbox.close()
    assert [job.attempts for job in retries[:15]] == list(range(1, 16)), "never gives up"
    assert {job.last_error_code for job in retries} == {"network_unreachable"}
    waits = [job.next_attempt_at - job.updated_at for job in retries[:15]]
    for attempt, wait in enumerate(waits, start=1):
        assert MIN_DELAY <= wait <= max(MIN_DELAY, backoff_ceiling(attempt))
    assert max(waits) > 60, "reached the long delays on the fake clock"
    assert breaker.state is not BreakerState.CLOSED, "and the breaker paced the attempts"
