"""The sender thread against the real reference platform, through a fault-injecting proxy."""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from outbox.errors import OutboxError
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import Job, JobState, Outbox
from outbox.sender import Sender
from refplatform.accounts import register_recipient, register_station
from tests.support.netfault import FaultProxy, Mode
from tests.support.platform import RunningPlatform, start_platform

PEM = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n"
_IDS = itertools.count()


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("platform"), tls=True) as running:
        yield running


class Station:
    """A sending unit (outbox through a proxy) and the hospital station reading the mailbox."""

    def __init__(self, platform: RunningPlatform, tmp_path: Path) -> None:
        n = next(_IDS)
        self.recipient, self.unit, self.hospital = f"derm-{n}", f"unit-{n}", f"hosp-{n}"
        self.platform_data = platform.data_dir
        token = register_station(platform.data_dir, self.unit)
        reader_token = register_station(platform.data_dir, self.hospital)
        register_recipient(
            platform.data_dir,
            recipient_id=self.recipient,
            station_id=self.hospital,
            display_name="Dr Derm",
            role="specialist",
            specialty="dermatology",
            certificate_pem=PEM,
        )
        self.proxy = FaultProxy("127.0.0.1", platform.port)
        ca = platform.ca_file
        self.scheme = "http" if platform.tls is None else "https"
        self.token = token
        # A read timeout a busy disk's fsync on the platform cannot trip (the tests that
        # stall the platform on purpose use a client of their own with a short one).
        config = PlatformConfig(
            self.proxy.url(self.scheme), token, ca, connect_timeout=1, read_timeout=10
        )
        self.client = PlatformClient(config)
        self.reader_config = PlatformConfig(platform.url, reader_token, ca)
        self.reader = PlatformClient(self.reader_config)
        self.outbox = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox")
        self.snapshots: list[Job] = []
        self._senders: list[Sender] = []

    def sender(self, client: PlatformClient | None = None, **options: object) -> Sender:
        """Starts a sender (fixed 16 KiB chunks unless told otherwise) through the proxy."""
        options = {
            "chunk_size": 16 * 1024,
            "max_chunk_size": 16 * 1024,
            "retry_delay": lambda n: 0.05,
            **options,
        }
        sender = Sender(self.outbox, client or self.client, progress_interval=0, **options)
        sender.subscribe(self.snapshots.append)
        self._senders.append(sender)
        sender.start()
        return sender

    def enqueue(self, bundle_id: str, payload: bytes, recipient: str | None = None) -> Job:
        to = recipient or self.recipient
        return self.outbox.enqueue(bundle_id, to, "Dr Derm", "request", payload)

    def state(self, bundle_id: str) -> JobState:
        job = self.outbox.get(bundle_id)
        assert job is not None
        return job.state

    def mailbox(self) -> list[str]:
        """Every bundle id the platform lists in the recipient's mailbox: the raw listing,
        read here page after page to its end (the client reads a few pages at a poll)."""
        listed: list[str] = []
        query = ""
        for _ in range(1_000):  # pages of 200: far more than a test delivers
            answer = requests.get(
                f"{self.reader_config.url}/api/v1/mailboxes/{self.recipient}/items{query}",
                headers={"Authorization": f"Bearer {self.reader_config.token}"},
                verify=str(self.reader_config.ca_file) if self.reader_config.ca_file else True,
                timeout=30,
            )
            answer.raise_for_status()
            page = answer.json()
            listed += [str(item["bundle_id"]) for item in page["items"]]
            if page["next"] is None:
                return listed
            query = f"?after={page['next']}"
        raise AssertionError("the listing never ended")

    def close(self) -> None:
        for sender in self._senders:
            assert sender.stop(10), "sender thread left running"
        self.client.close()
        self.reader.close()
        self.proxy.stop()
        self.outbox.close()


@pytest.fixture
def station(platform: RunningPlatform, tmp_path: Path) -> Iterator[Station]:
    unit = Station(platform, tmp_path)
    yield unit
    unit.close()


def test_happy_path(station: Station) -> None:
    payload = os.urandom(100_000)
    assert station.enqueue("b-happy", payload).state is JobState.PENDING
    station.sender()
    wait_until(lambda: station.state("b-happy") is JobState.DELIVERED)
    job = station.outbox.get("b-happy")
    assert job is not None
    assert job.bytes_sent == job.size == len(payload)
    assert job.delivered_at is not None
    assert job.upload_url is None
    states = [s.state for s in station.snapshots]
    assert [k for k, _ in itertools.groupby(states)] == [JobState.SENDING, JobState.DELIVERED]
    progress = [s.bytes_sent for s in station.snapshots if s.state is JobState.SENDING]
    assert progress == sorted(progress)
    assert len(set(progress)) >= 7, "progress published per chunk"
    assert station.mailbox() == ["b-happy"]


def test_dead_network_then_recovery(station: Station) -> None:
    station.proxy.set_mode(Mode.REFUSE)
    station.enqueue("b-dead", os.urandom(20_000))
    station.sender(retry_delay=lambda n: 0.2)
    wait_until(lambda: station.state("b-dead") is JobState.RETRY)
    job = station.outbox.get("b-dead")
    assert job is not None
    assert job.last_error_code == "network_unreachable"
    assert job.attempts >= 1
    assert job.next_attempt_at is not None
    station.proxy.set_mode(Mode.PASS)
    wait_until(lambda: station.state("b-dead") is JobState.DELIVERED)
    assert station.mailbox() == ["b-dead"]


def test_cut_mid_upload_resumes_at_the_platform_offset(station: Station) -> None:
    size = 300_000
    station.enqueue("b-cut", os.urandom(size))
    station.proxy.cut_after(size // 2)
    station.sender()
    wait_until(lambda: station.state("b-cut") is JobState.DELIVERED)
    retries = [s for s in station.snapshots if s.state is JobState.RETRY]
    assert retries
    assert retries[0].last_error_code == "network_unreachable"
    assert retries[0].attempts == 1, "the chunks that got through reset the attempt count"
    resumed = [s.bytes_sent for s in station.snapshots[station.snapshots.index(retries[0]) :]]
    assert min(resumed) > size // 4, "resumed from the platform's offset, not from zero"
    assert station.proxy.bytes_up < 1.5 * size
    assert station.mailbox() == ["b-cut"]


def test_stalled_platform_trips_the_timeout(station: Station) -> None:
    station.proxy.set_mode(Mode.STALL)
    station.enqueue("b-stall", os.urandom(10_000))
    started = time.monotonic()
    with PlatformClient(dataclasses.replace(station.client.config, read_timeout=2)) as client:
        sender = station.sender(client)
        wait_until(lambda: station.state("b-stall") is JobState.RETRY, timeout=8)
        job = station.outbox.get("b-stall")
        assert job is not None
        assert job.last_error_code == "timeout"
        assert time.monotonic() - started < 6
        assert sender.stop(5)
        assert not sender.is_alive()


def test_unknown_recipient_is_quarantined_and_the_queue_flows(station: Station) -> None:
    station.enqueue("b-nobody", b"cipher" * 100, recipient="nobody-here")
    station.enqueue("b-valid", b"cipher" * 100)
    station.sender()
    wait_until(lambda: station.state("b-valid") is JobState.DELIVERED)
    stuck = station.outbox.get("b-nobody")
    assert stuck is not None
    assert stuck.state is JobState.FAILED
    assert (stuck.last_error_code, stuck.attempts) == ("unknown_recipient", 0)
    assert station.mailbox() == ["b-valid"]


def pause_at(station: Station, bundle_id: str, threshold: int) -> Callable[[Job], None]:
    def operator(job: Job) -> None:
        if job.state is JobState.SENDING and job.bytes_sent >= threshold:
            station.outbox.pause(bundle_id)

    return operator


def test_pause_takes_effect_between_chunks_and_resume_continues(station: Station) -> None:
    size = 200_000
    station.enqueue("b-pause", os.urandom(size))
    sender = station.sender()
    unsubscribe = sender.subscribe(pause_at(station, "b-pause", 50_000))
    wait_until(lambda: station.state("b-pause") is JobState.PAUSED)
    unsubscribe()
    paused = station.outbox.get("b-pause")
    assert paused is not None
    assert 50_000 <= paused.bytes_sent < size
    assert paused.upload_url is not None
    assert station.mailbox() == []
    before = station.proxy.bytes_up
    station.outbox.resume("b-pause")
    sender.wake()
    wait_until(lambda: station.state("b-pause") is JobState.DELIVERED)
    assert station.proxy.bytes_up - before < size - 40_000, "resumed, not restarted"
    assert station.mailbox() == ["b-pause"]


def test_cancel_terminates_the_remote_upload(station: Station) -> None:
    station.enqueue("b-cancel", os.urandom(200_000))
    sender = station.sender()
    sender.subscribe(pause_at(station, "b-cancel", 30_000))
    wait_until(lambda: station.state("b-cancel") is JobState.PAUSED)
    url = station.outbox.get("b-cancel").upload_url
    assert url is not None
    assert station.outbox.cancel("b-cancel").state is JobState.CANCELLED
    assert not station.outbox.spool_path("b-cancel").exists()
    sender.wake()
    wait_until(lambda: station.outbox.get("b-cancel").upload_url is None)
    with pytest.raises(OutboxError) as gone:
        station.client.head(url)
    assert gone.value.status in (404, 410)
    assert gone.value.code == "upload_expired"
    assert station.mailbox() == []
    assert station.client.delivery("b-cancel") is None


def test_enqueue_again_after_delivery_sends_nothing_more(station: Station) -> None:
    station.enqueue("b-twice", b"cipher" * 50)
    sender = station.sender()
    wait_until(lambda: station.state("b-twice") is JobState.DELIVERED)
    assert station.enqueue("b-twice", b"other bytes").state is JobState.DELIVERED
    sender.wake()
    assert sender.stop(5)
    assert [j.bundle_id for j in station.outbox.jobs()] == ["b-twice"]
    assert station.mailbox() == ["b-twice"]


def test_stop_joins_the_thread(station: Station) -> None:
    sender = station.sender()
    assert sender.is_alive()
    assert sender.stop(5)
    assert not any(t.name == "outbox-sender" for t in threading.enumerate())
