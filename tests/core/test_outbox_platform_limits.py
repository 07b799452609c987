"""The outbox against the platform's limits (real platform on 127.0.0.1, real sender): a quota
that clears later is retried when the platform says, with its reason shown; a route refused or
a bundle over the allowance is quarantined at once, with its reason, instead of retried."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from outbox.errors import ErrorCode
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import JobState, Outbox
from outbox.sender import Sender
from outbox.transport import error_for_status
from refplatform.accounts import register_recipient, register_station
from refplatform.cli import main as platform_main
from tests.support.platform import DUMMY_CERT_PEM, RunningPlatform, start_platform


def wait_until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class Unit:
    """A unit's outbox and sender, writing to a hospital's specialist."""

    def __init__(self, platform: RunningPlatform, tmp_path: Path) -> None:
        self.platform = platform
        token = register_station(platform.data_dir, "unit")
        register_station(platform.data_dir, "hospital")
        register_recipient(
            platform.data_dir,
            recipient_id="pr-dubois",
            station_id="hospital",
            display_name="Pr Dubois",
            role="specialist",
            specialty="dermatology",
            certificate_pem=DUMMY_CERT_PEM,
        )
        self.client = PlatformClient(PlatformConfig(platform.url, token, read_timeout=5))
        self.outbox = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox")
        self.sender = Sender(self.outbox, self.client, parallel=1, retry_delay=lambda n: 0.05)

    def admin(self, *argv: str) -> None:
        assert platform_main([*argv, "--data", str(self.platform.data_dir)]) == 0

    def enqueue(self, bundle_id: str, size: int) -> None:
        self.outbox.enqueue(bundle_id, "pr-dubois", "Pr Dubois", "request", os.urandom(size))

    def settled(self, bundle_id: str) -> JobState:
        job = self.outbox.get(bundle_id)
        assert job is not None
        return job.state

    def close(self) -> None:
        assert self.sender.stop(10)
        self.client.close()
        self.outbox.close()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path / "p") as running:
        yield running


@pytest.fixture
def unit(platform: RunningPlatform, tmp_path: Path) -> Iterator[Unit]:
    station = Unit(platform, tmp_path)
    yield station
    station.close()


def test_a_daily_quota_waits_for_the_platform_s_retry_after(unit: Unit) -> None:
    unit.admin("quota", "set", "--station", "unit", "--daily-bytes", "10K")
    unit.enqueue("b-first", 6000)
    unit.enqueue("b-second", 6000)
    unit.sender.start()
    waiting = {JobState.WAITING_RETRY, JobState.DELIVERED}
    wait_until(lambda: {unit.settled("b-first"), unit.settled("b-second")} == waiting)
    _delivered, held = sorted(
        (unit.outbox.get("b-first"), unit.outbox.get("b-second")),
        key=lambda job: job is not None and job.state is JobState.WAITING_RETRY,
    )
    assert held is not None
    assert held.last_error_code == ErrorCode.QUOTA_EXCEEDED
    assert "quota_daily_bytes" in (held.last_error_detail or "")
    assert "midnight UTC" in (held.last_error_detail or "")
    # Not the 0.05 s backoff: the platform's Retry-After (the outbox caps it at an hour).
    assert held.next_attempt_at is not None
    until_midnight = 86_400 - time.time() % 86_400
    assert held.next_attempt_at - time.time() >= min(until_midnight, 3600) - 60
    assert held.attempts == 1


def test_a_route_refused_is_quarantined_with_its_reason(unit: Unit) -> None:
    register_station(unit.platform.data_dir, "elsewhere")
    unit.admin("route", "add", "--from", "elsewhere", "--to-station", "hospital")
    unit.enqueue("b-routed", 2000)
    unit.sender.start()
    wait_until(lambda: unit.settled("b-routed") is JobState.QUARANTINED)
    job = unit.outbox.get("b-routed")
    assert job is not None
    assert job.last_error_code == ErrorCode.ROUTE_FORBIDDEN
    assert "No route" in (job.last_error_detail or "")
    assert job.attempts <= 1, "a permanent refusal is not retried"
    # Once the administrator adds the route, an operator's retry delivers it.
    unit.admin("route", "add", "--from", "unit", "--to-station", "hospital")
    unit.outbox.retry_now("b-routed")
    wait_until(lambda: unit.settled("b-routed") is JobState.DELIVERED)


def test_a_bundle_over_the_allowance_is_quarantined(unit: Unit) -> None:
    unit.admin("quota", "set", "--station", "unit", "--open-bytes", "4K")
    unit.enqueue("b-big", 8000)
    unit.sender.start()
    wait_until(lambda: unit.settled("b-big") is JobState.QUARANTINED)
    job = unit.outbox.get("b-big")
    assert job is not None
    assert job.last_error_code == ErrorCode.TOO_LARGE
    assert "over_allowance" in (job.last_error_detail or "")


def test_answers_are_classified_by_the_platform_s_code() -> None:
    quota = error_for_status(
        429,
        '{"error": "quota_open_uploads", "detail": "This station already has 32 ..."}',
        headers={"Retry-After": "60"},
    )
    assert (quota.code, quota.retryable, quota.retry_after) == ("quota_exceeded", True, 60)
    full = error_for_status(507, '{"error": "insufficient_storage", "detail": "short"}')
    assert (full.code, full.retryable) == ("platform_full", True)
    route = error_for_status(403, '{"error": "route_forbidden", "detail": "No route ..."}')
    assert (route.code, route.retryable) == ("route_forbidden", False)
    # A plain 403 is still a refused station, and a 429 without a quota code a busy server.
    assert error_for_status(403, '{"error": "forbidden"}').code == "auth_failed"
    assert error_for_status(429, "").code == "server_error"
