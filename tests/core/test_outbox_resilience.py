"""The sender's scheduling and protocol resilience against the real platform (HTTPS, via a proxy).

Bounded parallel uploads, priorities, outage mode, the idle-progress watchdog, 409/423/404
handled in place, adaptive chunks and the circuit breaker.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from outbox.breaker import BreakerState, CircuitBreaker
from outbox.jobs import Job, JobState
from outbox.platform import PlatformClient
from outbox.queue import Outbox
from tests.core.test_outbox_sender import Station, platform, station, wait_until
from tests.support.netfault import Mode

__all__ = ["platform", "station"]  # fixtures shared with the sender tests

KIB = 1024
MIB = 1024 * KIB


class Concurrency:
    """Follows the snapshots to know how many jobs were being sent at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, JobState] = {}
        self.most = 0
        self.delivered: list[str] = []

    def __call__(self, job: Job) -> None:
        with self._lock:
            self._states[job.bundle_id] = job.state
            sending = sum(state is JobState.SENDING for state in self._states.values())
            self.most = max(self.most, sending)
            if job.state is JobState.DELIVERED and job.bundle_id not in self.delivered:
                self.delivered.append(job.bundle_id)


@pytest.mark.parametrize("parallel", [1, 2])
def test_uploads_run_in_parallel_up_to_the_bound(station: Station, parallel: int) -> None:
    watcher = Concurrency()
    station.outbox.subscribe(watcher)
    names = [f"b-par-{parallel}-{i}" for i in range(5)]
    for name in names:
        station.enqueue(name, os.urandom(300_000))
    station.sender(parallel=parallel)
    wait_until(lambda: all(station.state(n) is JobState.DELIVERED for n in names), timeout=30)
    assert watcher.most == parallel, "as many at once as allowed, never more"
    assert sorted(station.mailbox()) == sorted(names)


def test_urgent_first_then_queue_order_with_move_up(station: Station) -> None:
    watcher = Concurrency()
    station.outbox.subscribe(watcher)
    for name in ("n1", "n2", "n3"):
        station.enqueue(name, os.urandom(50_000))
    station.outbox.enqueue(
        "u1", station.recipient, "Dr Derm", "case", b"u" * 50_000, priority="urgent"
    )
    station.outbox.move_up("n3")
    station.sender(parallel=1)
    wait_until(lambda: len(watcher.delivered) == 4, timeout=20)
    assert watcher.delivered == ["u1", "n1", "n3", "n2"]


def test_pause_all_holds_everything_even_across_a_restart(station: Station) -> None:
    size = 600_000
    station.enqueue("b-outage", os.urandom(size))
    sender = station.sender()

    def outage(job: Job) -> None:
        if job.state is JobState.SENDING and job.bytes_sent >= 100_000:
            station.outbox.pause_all()

    unsubscribe = station.outbox.subscribe(outage)
    wait_until(lambda: station.outbox.all_paused)
    wait_until(lambda: station.state("b-outage") is JobState.QUEUED)
    unsubscribe()
    held = station.outbox.get("b-outage")
    assert held is not None
    assert 100_000 <= held.bytes_sent < size, "stopped between two chunks"
    sent = station.proxy.bytes_up
    time.sleep(0.5)
    assert station.proxy.bytes_up == sent, "nothing goes out in outage mode"
    assert sender.stop(10)
    station.outbox.close()
    station.outbox = Outbox(station.outbox.db_path, station.outbox.spool_dir)  # a restart
    assert station.outbox.all_paused
    sender = station.sender()
    time.sleep(0.5)
    assert station.state("b-outage") is JobState.QUEUED
    assert station.proxy.bytes_up == sent
    station.outbox.resume_all()
    sender.wake()
    wait_until(lambda: station.state("b-outage") is JobState.DELIVERED)
    assert station.proxy.bytes_up - sent < size - 80_000, "resumed, not sent again"
    assert station.mailbox() == ["b-outage"]


def test_a_stalled_upload_is_abandoned_by_the_idle_watchdog(station: Station) -> None:
    """Read timeout 30 s: only the watchdog (idle 1 s) can explain a quick give-up."""
    idle = 1.0
    config = dataclasses.replace(
        station.client.config, connect_timeout=5, read_timeout=30, idle_timeout=idle
    )
    client = PlatformClient(config)
    size = 6 * MIB
    station.enqueue("b-stall", os.urandom(size))
    stalled_at: list[float] = []

    def stall(job: Job) -> None:
        if job.state is JobState.SENDING and job.bytes_sent >= MIB and not stalled_at:
            station.proxy.set_mode(Mode.STALL)
            stalled_at.append(time.monotonic())

    station.outbox.subscribe(stall)
    try:
        station.sender(client, chunk_size=MIB, max_chunk_size=2 * MIB)
        wait_until(lambda: station.state("b-stall") is JobState.WAITING_RETRY, timeout=15)
        elapsed = time.monotonic() - stalled_at[0]
        job = station.outbox.get("b-stall")
        assert job is not None
        assert job.last_error_code == "timeout"
        assert "no progress" in (job.last_error_detail or "")
        # Well under the 30 s read timeout, with room for a loaded machine: the watchdog ended it.
        assert elapsed < idle + 9, f"abandoned after {elapsed:.1f} s"
        station.proxy.set_mode(Mode.PASS)
        wait_until(lambda: station.state("b-stall") is JobState.DELIVERED, timeout=30)
        assert station.mailbox() == ["b-stall"]
    finally:
        station.proxy.set_mode(Mode.PASS)
        for sender in station._senders:
            sender.stop(10)
        client.close()


def _download(station: Station, bundle_id: str, tmp_path: Path) -> bytes:
    part = tmp_path / f"{bundle_id}.check"
    station.reader.download(station.recipient, bundle_id, part)
    return part.read_bytes()


def test_an_offset_conflict_heads_and_resumes(
    station: Station, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    payload = os.urandom(200_000)
    station.enqueue("b-409", payload)
    other = PlatformClient(station.client.config)  # the same station, another connection
    done: list[int] = []

    def meddle(job: Job) -> None:
        if job.bytes_sent == 16 * KIB and job.upload_url and not done:
            done.append(other.patch(job.upload_url, job.bytes_sent, payload[16 * KIB : 40 * KIB]))

    station.outbox.subscribe(meddle)
    caplog.set_level(logging.INFO, logger="outbox.sender")
    try:
        station.sender(parallel=1)
        wait_until(lambda: station.state("b-409") is JobState.DELIVERED)
    finally:
        other.close()
    assert done == [40 * KIB]
    assert any("409" in r.getMessage() for r in caplog.records), "the conflict was met"
    assert not [s for s in station.snapshots if s.state is JobState.WAITING_RETRY]
    assert _download(station, "b-409", tmp_path) == payload


def _hold_the_upload(station: Station, url: str, offset: int, data: bytes) -> socket.socket:
    """Starts a PATCH on the platform itself that announces more than it sends (a lock)."""
    parts = urlsplit(station.reader_config.url)
    path = urlsplit(url).path
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {station.token}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(data) + 100_000}\r\n\r\n"
    )
    assert parts.hostname is not None
    assert parts.port is not None
    raw = socket.create_connection((parts.hostname, parts.port), timeout=10)
    context = ssl.create_default_context(cafile=str(station.reader_config.ca_file))
    sock = context.wrap_socket(raw, server_hostname=parts.hostname)
    sock.sendall(head.encode("ascii") + data)
    return sock


def test_a_locked_upload_waits_heads_and_resumes(
    station: Station, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    payload = os.urandom(200_000)
    station.enqueue("b-423", payload)
    holders: list[socket.socket] = []

    def lock(job: Job) -> None:
        if job.bytes_sent == 16 * KIB and job.upload_url and not holders:
            holders.append(
                _hold_the_upload(station, job.upload_url, 16 * KIB, payload[16 * KIB : 20 * KIB])
            )
            threading.Timer(0.6, holders[0].close).start()

    station.outbox.subscribe(lock)
    caplog.set_level(logging.INFO, logger="outbox.sender")
    station.sender(parallel=1)
    wait_until(lambda: station.state("b-423") is JobState.DELIVERED)
    assert any("423" in r.getMessage() for r in caplog.records), "the lock was met"
    assert _download(station, "b-423", tmp_path) == payload


def test_an_upload_removed_on_the_platform_is_started_again_at_once(
    station: Station, tmp_path: Path
) -> None:
    payload = os.urandom(150_000)
    station.enqueue("b-410", payload)
    other = PlatformClient(station.client.config)
    removed: list[str] = []

    def remove(job: Job) -> None:
        if job.bytes_sent >= 32 * KIB and job.upload_url and not removed:
            other.terminate(job.upload_url)
            removed.append(job.upload_url)

    station.outbox.subscribe(remove)
    try:
        station.sender(parallel=1)
        wait_until(lambda: station.state("b-410") is JobState.DELIVERED)
    finally:
        other.close()
    urls = {s.upload_url for s in station.snapshots if s.upload_url}
    assert len(urls) == 2, "a second upload was created"
    assert removed[0] in urls
    assert not [s for s in station.snapshots if s.state is JobState.WAITING_RETRY], "no backoff"
    assert _download(station, "b-410", tmp_path) == payload
    assert station.mailbox() == ["b-410"]


def test_chunks_grow_while_they_get_through(station: Station) -> None:
    size = 20 * MIB
    station.enqueue("b-grow", os.urandom(size))
    sender = station.sender(chunk_size=MIB, max_chunk_size=8 * MIB)
    wait_until(lambda: station.state("b-grow") is JobState.DELIVERED, timeout=60)
    progress = [s.bytes_sent for s in station.snapshots if s.state is JobState.SENDING]
    steps = [b - a for a, b in itertools.pairwise(progress) if b > a]
    assert steps == [MIB, 2 * MIB, 4 * MIB, 8 * MIB, 5 * MIB]
    assert sender.chunk_size == 8 * MIB


def test_a_failed_chunk_halves_the_next_ones(station: Station) -> None:
    station.enqueue("b-halve", os.urandom(6 * MIB))
    seen: list[int] = []
    sender = station.sender(chunk_size=MIB, max_chunk_size=8 * MIB, retry_delay=lambda n: 5.0)
    station.outbox.subscribe(
        lambda job: job.state is JobState.WAITING_RETRY and seen.append(sender.chunk_size)
    )
    station.proxy.cut_after(int(1.5 * MIB))  # within the second chunk (2 MiB)
    wait_until(lambda: seen, timeout=20)
    assert seen == [MIB], "2 MiB after the first success, halved by the failure"


def count_connections(
    station: Station, breaker: CircuitBreaker, jobs: int, window: float
) -> tuple[int, list[str]]:
    """Platform down (connections dropped): how many connections the sender opens."""
    names = [f"b-down-{i}" for i in range(jobs)]
    for name in names:
        station.enqueue(name, os.urandom(2000))
    station.proxy.set_mode(Mode.DROP)
    station.proxy.reset_counters()
    station.sender(parallel=2, breaker=breaker, retry_delay=lambda n: 0.05)
    time.sleep(window)
    return station.proxy.connections, names


def test_the_circuit_breaker_prevents_a_retry_storm(station: Station) -> None:
    breaker = CircuitBreaker(threshold=3, base_delay=0.5, max_delay=2.0)
    attempts, names = count_connections(station, breaker, jobs=20, window=3.0)
    assert attempts <= 12, f"{attempts} connections in 3 s for 20 jobs"
    assert breaker.state in (BreakerState.OPEN, BreakerState.PROBING)
    states = {station.state(n) for n in names}
    assert states <= {JobState.QUEUED, JobState.WAITING_RETRY, JobState.SENDING}
    assert sum(station.outbox.get(n).attempts == 0 for n in names) >= 10, "most never tried"
    station.proxy.set_mode(Mode.PASS)
    wait_until(lambda: all(station.state(n) is JobState.DELIVERED for n in names), timeout=30)
    assert breaker.state is BreakerState.CLOSED
    assert sorted(station.mailbox()) == sorted(names)


def test_without_the_breaker_the_same_outage_is_a_storm(station: Station) -> None:
    """The control of the test above: the bound comes from the breaker, not the backoff."""
    never = CircuitBreaker(threshold=10**9)
    attempts, _names = count_connections(station, never, jobs=20, window=1.0)
    assert attempts > 60, attempts
    station.proxy.set_mode(Mode.PASS)
