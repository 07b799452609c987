"""Crashes: a sender process killed with SIGKILL mid-upload or after the last byte, and an
enqueueing process killed at random instants.

A child process runs a real :class:`Sender` on the profile; a subscriber in the child holds the
sender thread once enough bytes went through, and the test then kills the child with SIGKILL.
A new sender on the same profile must finish the job without sending the bundle twice.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from outbox import spool
from outbox.queue import JobState, Outbox
from outbox.sender import Sender
from tests.core.test_outbox_sender import Station, platform, station, wait_until
from tests.support.platform import REPO_ROOT

__all__ = ["platform", "station"]  # fixtures shared with the sender tests

CHILD = r"""
import sys, threading
from pathlib import Path
from outbox.platform import PlatformClient, PlatformConfig
from outbox.queue import Outbox
from outbox.sender import Sender

db, spool_dir, url, token, ca, hold_at = sys.argv[1:]
outbox = Outbox(Path(db), Path(spool_dir))
client = PlatformClient(PlatformConfig(url, token, Path(ca)))

def hold(job):
    if job.bytes_sent >= int(hold_at):
        print("HOLD", job.state, job.bytes_sent, flush=True)
        threading.Event().wait()

sender = Sender(outbox, client, chunk_size=16384, progress_interval=0)
sender.subscribe(hold)
sender.start()
threading.Event().wait()
"""


def kill_sender_at(station: Station, tmp_path: Path, hold_at: int) -> str:
    """Runs a sender in a child process, SIGKILLs it once ``hold_at`` bytes went through."""
    config = station.client.config
    args = [str(station.outbox.db_path), str(station.outbox.spool_dir), config.url, config.token]
    args += [str(config.ca_file), str(hold_at)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with (
        (tmp_path / "child.err").open("wb") as err,
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=err, env=env
        ) as child,
    ):
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=15)
        line = child.stdout.readline().decode() if ready else ""
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert line.startswith("HOLD"), (tmp_path / "child.err").read_text()
    return line


def reopen(station: Station) -> Outbox:
    station.outbox.close()
    station.outbox = Outbox(station.outbox.db_path, station.outbox.spool_dir)
    return station.outbox


def test_sigkill_mid_upload_then_a_new_sender_finishes(station: Station, tmp_path: Path) -> None:
    size = 300_000
    station.enqueue("b-kill", os.urandom(size))
    line = kill_sender_at(station, tmp_path, hold_at=100_000)
    assert line.split()[1] == "sending"
    outbox = reopen(station)
    assert outbox.recovery.requeued == ("b-kill",)
    job = outbox.get("b-kill")
    assert job is not None
    assert job.state is JobState.RETRY
    assert job.upload_url is not None
    assert 100_000 <= job.bytes_sent < size
    station.proxy.reset_counters()
    station.sender()
    wait_until(lambda: station.state("b-kill") is JobState.DELIVERED)
    assert station.proxy.bytes_up < size - 80_000, "resumed, not sent again from zero"
    assert station.mailbox() == ["b-kill"]


def test_crash_after_last_byte_does_not_upload_again(station: Station, tmp_path: Path) -> None:
    size = 200_000
    station.enqueue("b-last", os.urandom(size))
    kill_sender_at(station, tmp_path, hold_at=size)
    job = reopen(station).get("b-last")
    assert job is not None
    assert job.state is JobState.RETRY
    assert job.bytes_sent == size
    station.proxy.reset_counters()
    station.sender()
    wait_until(lambda: station.state("b-last") is JobState.DELIVERED)
    assert station.proxy.bytes_up < 20_000, "only a HEAD and a delivery check"
    assert station.mailbox() == ["b-last"]


def test_lost_upload_url_is_caught_by_the_delivery_check(station: Station) -> None:
    """Even with no upload recorded, a bundle the platform accepted is not sent again."""
    payload = os.urandom(100_000)
    job = station.enqueue("b-lost", payload)
    url = station.client.create(
        len(payload),
        {
            "bundle_id": "b-lost",
            "recipient": job.recipient_id,
            "sha256": job.sha256,
            "kind": "request",
        },
    )
    assert station.client.patch(url, 0, payload) == len(payload)
    station.proxy.reset_counters()
    station.sender()
    wait_until(lambda: station.state("b-lost") is JobState.DELIVERED)
    assert station.proxy.bytes_up < 10_000
    assert station.mailbox() == ["b-lost"]


def test_stop_mid_upload_puts_the_job_back_in_line(station: Station) -> None:
    station.enqueue("b-stop", os.urandom(300_000))
    sender = Sender(station.outbox, station.client, chunk_size=16 * 1024, progress_interval=0)
    sender.subscribe(lambda job: job.bytes_sent >= 50_000 and sender.stop())
    sender.start()
    wait_until(lambda: not sender.is_alive())
    assert sender.stop(5)
    job = station.outbox.get("b-stop")
    assert job is not None
    assert job.state is JobState.PENDING
    assert 50_000 <= job.bytes_sent < job.size
    assert job.upload_url is not None
    station.sender()
    wait_until(lambda: station.state("b-stop") is JobState.DELIVERED)
    assert station.mailbox() == ["b-stop"]


ENQUEUER = r"""
import hashlib, os, sys
from pathlib import Path
from outbox.queue import Outbox

db, spool_dir, recipient, prefix = sys.argv[1:]
box = Outbox(Path(db), Path(spool_dir))
print("READY", flush=True)
i = 0
while True:
    payload = os.urandom(5_000 + (i * 7919) % 120_000)
    box.enqueue(f"{prefix}-{i}", recipient, "Dr Derm", "case", payload)
    print("OK", f"{prefix}-{i}", hashlib.sha256(payload).hexdigest(), flush=True)
    i += 1
"""


def kill_enqueuer(station: Station, tmp_path: Path, prefix: str, after: float) -> dict[str, str]:
    """Runs an enqueue loop in a child, SIGKILLs it ``after`` seconds in; returns what it
    reported queued (bundle id -> SHA-256)."""
    outbox = station.outbox
    args = [str(outbox.db_path), str(outbox.spool_dir), station.recipient, prefix]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with (
        (tmp_path / f"{prefix}.err").open("wb") as err,
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUER, *args], stdout=subprocess.PIPE, stderr=err, env=env
        ) as child,
    ):
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=15)
        assert ready, (tmp_path / f"{prefix}.err").read_text()
        assert child.stdout.readline().startswith(b"READY")
        time.sleep(after)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        lines = child.stdout.read().decode().splitlines()
    reported = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "OK":  # a line cut by the kill is ignored
            reported[parts[1]] = parts[2]
    return reported


def test_sigkill_at_enqueue_time_loses_nothing_and_sends_nothing_twice(
    station: Station, tmp_path: Path
) -> None:
    rng = random.Random(11)
    reported: dict[str, str] = {}
    station.outbox.close()
    for round_ in range(6):
        reported |= kill_enqueuer(station, tmp_path, f"k{round_}", rng.uniform(0.1, 0.6))
        outbox = Outbox(station.outbox.db_path, station.outbox.spool_dir)  # recovery
        try:
            jobs = {job.bundle_id: job for job in outbox.jobs()}
            files = {p.name for p in outbox.spool_dir.iterdir()}
            assert files == {f"{b}.cms" for b in jobs}, "no orphan file, no row without its file"
            for bundle_id, job in jobs.items():
                path = outbox.spool_path(bundle_id)
                assert path.stat().st_size == job.size
                assert spool.sha256_file(path) == job.sha256, "every spool file is whole"
            for bundle_id, digest in reported.items():
                assert jobs[bundle_id].sha256 == digest, "what was reported queued is queued"
            assert outbox.recovery.missing_spool == ()
        finally:
            outbox.close()
    assert len(reported) >= 6
    station.outbox = Outbox(station.outbox.db_path, station.outbox.spool_dir)
    jobs = station.outbox.jobs()
    total = sum(job.size for job in jobs)
    station.proxy.reset_counters()
    station.sender(chunk_size=64 * 1024, max_chunk_size=1024 * 1024)
    # a generous bound: the jobs of six rounds, sent in 64 KiB chunks, on a loaded 2-core CI
    wait_until(
        lambda: all(station.state(j.bundle_id) is JobState.DELIVERED for j in jobs), timeout=180
    )
    mailbox = station.mailbox()
    assert sorted(mailbox) == sorted(j.bundle_id for j in jobs), "each one, once"
    assert station.proxy.bytes_up < 1.1 * total + 20_000 * len(jobs), "no bundle sent twice"
