"""Backoff: quick first retries, growing jittered delays, a capped delay, unbounded attempts."""

from __future__ import annotations

import functools
import random
import threading
import time
from pathlib import Path

import pytest

from outbox.backoff import MAX_DELAY, QUICK_DELAYS, backoff_ceiling, retry_delay
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import Job, JobState, Outbox
from outbox.sender import Sender
from tests.support.netfault import FaultProxy, Mode


def test_first_retries_are_quick_and_fixed() -> None:
    rng = random.Random(1)
    assert [retry_delay(n, rng=rng) for n in range(1, len(QUICK_DELAYS) + 1)] == list(QUICK_DELAYS)


@pytest.mark.parametrize("seed", range(5))
def test_delays_grow_then_stay_capped(seed: int) -> None:
    rng = random.Random(seed)
    delays = [retry_delay(n, rng=rng) for n in range(1, 40)]
    ceilings = [backoff_ceiling(n) for n in range(1, 40)]
    assert ceilings == sorted(ceilings), "the ceiling never shrinks"
    assert ceilings[-1] == MAX_DELAY
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling, "equal jitter stays in the upper half"
    # Past the quick phase, each delay's floor is at least the previous ceiling's floor.
    floors = [c / 2 for c in ceilings[len(QUICK_DELAYS) :]]
    assert floors == sorted(floors)


def test_jitter_spreads_stations_apart() -> None:
    rng = random.Random(7)
    samples = {round(retry_delay(8, rng=rng), 3) for _ in range(50)}
    assert len(samples) > 40


@pytest.mark.parametrize("attempt", [0, -3, 10**6, 10**18])
def test_any_attempt_count_gives_a_bounded_delay(attempt: int) -> None:
    delay = retry_delay(attempt, rng=random.Random(0))
    assert 0 < delay <= MAX_DELAY


def test_default_rng_is_used_when_none_given() -> None:
    assert QUICK_DELAYS[-1] < retry_delay(20) <= MAX_DELAY


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
        sender = Sender(outbox, client, retry_delay=delay, wait=fake_wait)
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
    assert waits[:3] == list(QUICK_DELAYS)
    for attempt, wait in enumerate(waits, start=1):
        assert backoff_ceiling(attempt) / 2 <= wait <= backoff_ceiling(attempt)
    assert max(waits) > 100, "reached the long delays on the fake clock"
