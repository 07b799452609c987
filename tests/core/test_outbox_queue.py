"""The outbox queue on a real SQLite file and real spool files (no network)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from outbox import spool
from outbox.db import SchemaTooNewError
from outbox.errors import ErrorCode, OutboxError
from outbox.queue import Job, JobState, Outbox


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox", clock=clock)
    yield box
    box.close()


def reopen(box: Outbox, clock: FakeClock) -> Outbox:
    box.close()
    return Outbox(box.db_path, box.spool_dir, clock=clock)


def test_enqueue_writes_spool_and_row(outbox: Outbox) -> None:
    job = outbox.enqueue("b-1", "derm-1", "Dr A", "request", b"cipher" * 10)
    assert job.state is JobState.PENDING
    assert (job.size, job.sha256) == (60, hashlib.sha256(b"cipher" * 10).hexdigest())
    assert outbox.spool_path("b-1").read_bytes() == b"cipher" * 10
    assert outbox.get("b-1") == job
    assert outbox.jobs() == [job]
    assert outbox.due_jobs(job.created_at) == [job]


def test_enqueue_is_idempotent_on_bundle_id(outbox: Outbox) -> None:
    first = outbox.enqueue("b-1", "derm-1", "Dr A", "request", b"first")
    again = outbox.enqueue("b-1", "derm-1", "Dr A", "request", b"second, re-encrypted")
    assert again == first
    assert len(outbox.jobs()) == 1
    assert outbox.spool_path("b-1").read_bytes() == b"first"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "a..b", "x" * 200, "é"])
def test_unsafe_bundle_ids_are_refused(outbox: Outbox, bad: str) -> None:
    with pytest.raises(ValueError, match="bundle id"):
        outbox.enqueue(bad, "r", "R", "request", b"x")
    assert outbox.jobs() == []
    assert list(outbox.spool_dir.iterdir()) == []


def test_operator_actions(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    assert outbox.pause("b-1").state is JobState.PAUSED
    assert outbox.due_jobs(clock.now) == []
    assert outbox.resume("b-1").state is JobState.PENDING
    assert outbox.resume("b-1").state is JobState.PENDING, "not paused: unchanged"
    cancelled = outbox.cancel("b-1")
    assert cancelled.state is JobState.CANCELLED
    assert not outbox.spool_path("b-1").exists()
    assert outbox.retry_now("b-1").state is JobState.CANCELLED, "cancel is final"
    with pytest.raises(KeyError):
        outbox.pause("nope")


def test_retry_now_unquarantines_and_resets_attempts(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    assert outbox.claim("b-1") is not None
    failed = outbox.mark_failed("b-1", OutboxError(ErrorCode.UNKNOWN_RECIPIENT, "HTTP 422"))
    assert (failed.state, failed.last_error_code) == (JobState.FAILED, "unknown_recipient")
    assert outbox.due_jobs(clock.now + 10**6) == [], "quarantined jobs are never due"
    job = outbox.retry_now("b-1")
    assert (job.state, job.attempts, job.last_error_code) == (JobState.PENDING, 0, None)


def test_retry_schedule_and_reset_after_progress(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x" * 100)
    err = OutboxError(ErrorCode.NETWORK_UNREACHABLE, "down")
    seen: list[int] = []
    for expected_attempts in (1, 2, 3):
        assert outbox.claim("b-1") is not None
        job = outbox.mark_retry("b-1", err, lambda n: seen.append(n) or 10.0 * n)
        assert (job.state, job.attempts) == (JobState.RETRY, expected_attempts)
        assert job.next_attempt_at == clock.now + 10.0 * expected_attempts
        assert outbox.due_jobs(clock.now) == []
        clock.now = job.next_attempt_at
        assert [j.bundle_id for j in outbox.due_jobs(clock.now)] == ["b-1"]
    assert seen == [1, 2, 3]
    assert outbox.claim("b-1") is not None
    assert outbox.record_progress("b-1", 50).attempts == 0, "a chunk that got through resets"
    assert outbox.mark_retry("b-1", err, lambda n: float(n)).attempts == 1


def test_operator_choice_wins_over_sender_transition(outbox: Outbox) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    assert outbox.claim("b-1") is not None
    outbox.pause("b-1")
    job = outbox.mark_retry("b-1", OutboxError(ErrorCode.TIMEOUT), lambda n: 1.0)
    assert job.state is JobState.PAUSED
    assert outbox.claim("b-1") is None


def test_due_order_new_first_then_by_due_time(outbox: Outbox, clock: FakeClock) -> None:
    for name in ("a", "b", "c"):
        outbox.enqueue(name, "r", "R", "request", name.encode())
        clock.now += 1
    err = OutboxError(ErrorCode.TIMEOUT)
    outbox.claim("a")
    outbox.mark_retry("a", err, lambda n: 5.0)
    clock.now += 100
    assert [j.bundle_id for j in outbox.due_jobs(clock.now)] == ["b", "c", "a"]
    assert outbox.next_due_at() == 0


def test_purge_delivered_really_deletes_spool(outbox: Outbox, clock: FakeClock) -> None:
    for name in ("old", "new", "waiting"):
        outbox.enqueue(name, "r", "R", "request", b"cipher")
    for name in ("old", "new"):
        outbox.claim(name)
        outbox.mark_delivered(name)
        clock.now += 3600
    assert outbox.purge_delivered(older_than=5000) == 1
    assert not outbox.spool_path("old").exists()
    assert outbox.spool_path("new").exists()
    assert outbox.spool_path("waiting").exists()
    assert outbox.get("old").state is JobState.DELIVERED, "history stays"


def test_recovery_after_crash(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("sending", "r", "R", "request", b"x")
    outbox.enqueue("lost", "r", "R", "request", b"x")
    outbox.enqueue("cancelled", "r", "R", "request", b"x")
    outbox.claim("sending")
    outbox.spool_path("lost").unlink()
    outbox.cancel("cancelled")
    spool.atomic_write(outbox.spool_path("cancelled"), b"left over")
    (outbox.spool_dir / ".abc.tmp").write_bytes(b"half")
    box = reopen(outbox, clock)
    try:
        assert box.recovery.requeued == ("sending",)
        assert box.recovery.missing_spool == ("lost",)
        assert box.get("sending").state is JobState.RETRY
        lost = box.get("lost")
        assert (lost.state, lost.last_error_code) == (JobState.FAILED, "disk_error")
        assert sorted(p.name for p in box.spool_dir.iterdir()) == ["sending.cms"]
    finally:
        box.close()


def test_spool_is_written_before_the_row(
    outbox: Outbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between the spool write and the commit leaves an orphan file, never a bad row."""
    real_write = spool.atomic_write
    rows_seen: list[int] = []

    def write_then_crash(path: Path, data: bytes) -> None:
        real_write(path, data)
        with sqlite3.connect(outbox.db_path) as other:
            rows_seen.append(other.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
        other.close()
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(spool, "atomic_write", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        outbox.enqueue("b-1", "r", "R", "request", b"cipher")
    assert rows_seen == [0], "the file was complete on disk while no row existed yet"
    monkeypatch.undo()
    box = reopen(outbox, clock)
    try:
        assert box.recovery.orphans_removed == ("b-1",)
        assert box.jobs() == []
        assert list(box.spool_dir.iterdir()) == []
    finally:
        box.close()


def test_failed_spool_write_queues_nothing(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        outbox.enqueue("b-1", "r", "R", "request", b"cipher")
    monkeypatch.undo()
    assert outbox.jobs() == []
    assert list(outbox.spool_dir.iterdir()) == []


def test_shared_between_threads(outbox: Outbox) -> None:
    """The GUI thread and the sender thread use one Outbox (an error in a thread fails the test)."""

    def writer(prefix: str) -> None:
        for i in range(40):
            outbox.enqueue(f"{prefix}-{i}", "r", "R", "request", b"x")
            outbox.pause(f"{prefix}-{i}")
            outbox.jobs()

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("gui", "sender")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert {j.state for j in outbox.jobs()} == {JobState.PAUSED}
    assert len(outbox.jobs()) == 80


def test_schema_version_is_recorded_and_checked(outbox: Outbox, tmp_path: Path) -> None:
    with sqlite3.connect(outbox.db_path) as other:
        assert other.execute("PRAGMA user_version").fetchone()[0] == 1
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        other.execute("PRAGMA user_version = 99")
    other.close()
    outbox.close()
    with pytest.raises(SchemaTooNewError):
        Outbox(outbox.db_path, tmp_path / "outbox")


def test_job_is_immutable(outbox: Outbox) -> None:
    job: Job = outbox.enqueue("b-1", "r", "R", "request", b"x")
    with pytest.raises(AttributeError):
        job.state = JobState.DELIVERED  # type: ignore[misc]
