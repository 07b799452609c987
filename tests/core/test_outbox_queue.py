"""The outbox queue on a real SQLite file and real spool files (no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from outbox import spool
from outbox.db import MIGRATIONS, SCHEMA_VERSION, SchemaTooNewError
from outbox.errors import ErrorCode, OutboxError
from outbox.events import JobEvents, JobSnapshot
from outbox.inbox import Inbox
from outbox.queue import Job, JobState, Outbox, Recovery
from tests.support.jobs import make_job


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


def test_due_order_urgent_first_then_queue_order(outbox: Outbox, clock: FakeClock) -> None:
    for name in ("a", "b", "c"):
        outbox.enqueue(name, "r", "R", "request", name.encode())
        clock.now += 1
    outbox.enqueue("u", "r", "R", "request", b"u", priority="urgent")
    err = OutboxError(ErrorCode.TIMEOUT)
    outbox.claim("a")
    outbox.mark_retry("a", err, lambda n: 5.0)
    assert [j.bundle_id for j in outbox.due_jobs(clock.now)] == ["u", "b", "c"], "a waits"
    assert outbox.next_due_at() == 0
    clock.now += 100
    assert [j.bundle_id for j in outbox.due_jobs(clock.now)] == ["u", "a", "b", "c"]
    assert [j.bundle_id for j in outbox.due_jobs(clock.now, limit=2)] == ["u", "a"]
    assert outbox.get("u").priority == "urgent"
    with pytest.raises(ValueError, match="priority"):
        outbox.enqueue("x", "r", "R", "request", b"x", priority="asap")


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
        assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
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


# --- schema 2: migration, priorities, receipts, outage mode, events, scale -------------------

V1_ROWS = [
    # bundle_id, state, attempts, bytes_sent, upload_url, error, has spool
    ("v1-queued", "pending", 0, 0, None, None, True),
    ("v1-sending", "sending", 0, 40, "https://p.example/files/abc", None, True),
    ("v1-retry", "retry", 4, 0, None, "timeout", True),
    ("v1-paused", "paused", 0, 0, None, None, True),
    ("v1-failed", "failed", 0, 0, None, "unknown_recipient", True),
    ("v1-delivered", "delivered", 0, 100, None, None, False),
    ("v1-cancelled", "cancelled", 0, 0, None, None, False),
]


def make_v1_queue(db_path: Path, spool_dir: Path) -> None:
    """A queue as schema 1 of this code made it (its own migration script, rows, spool)."""
    spool_dir.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN")
        for statement in MIGRATIONS[0].split(";"):
            if statement.strip():
                conn.execute(statement)
        for n, (bundle_id, state, attempts, sent, url, error, has_spool) in enumerate(V1_ROWS):
            payload = bundle_id.encode() * 10
            conn.execute(
                "INSERT INTO jobs (bundle_id, recipient_id, recipient_label, kind, size, sha256,"
                " state, attempts, bytes_sent, next_attempt_at, upload_url, last_error_code,"
                " last_error_detail, created_at, updated_at, delivered_at)"
                " VALUES (?, 'derm', 'Dr Derm', 'case', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bundle_id,
                    len(payload),
                    hashlib.sha256(payload).hexdigest(),
                    state,
                    attempts,
                    sent,
                    1_000_100.0 if state == "retry" else None,
                    url,
                    error,
                    f"HTTP detail of {error}" if error else None,
                    1_000_000.0 + n,
                    1_000_000.0 + n,
                    1_000_050.0 if state == "delivered" else None,
                ),
            )
            if has_spool:
                (spool_dir / f"{bundle_id}.cms").write_bytes(payload)
        conn.execute(
            "INSERT INTO inbox_items VALUES ('in-1', 'derm', 'reply', 3, ?, 'st', 'now', 1.0)",
            ("0" * 64,),
        )
        conn.execute("PRAGMA user_version = 1")
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_schema_1_queue_is_migrated_without_losing_jobs(tmp_path: Path, clock: FakeClock) -> None:
    db_path, spool_dir = tmp_path / "q.sqlite", tmp_path / "outbox"
    make_v1_queue(db_path, spool_dir)
    box = Outbox(db_path, spool_dir, clock=clock)
    try:
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()
        jobs = {job.bundle_id: job for job in box.jobs()}
        assert list(jobs) == [row[0] for row in V1_ROWS], "every job, in their order"
        for bundle_id, state, attempts, sent, url, error, _spool in V1_ROWS:
            job = jobs[bundle_id]
            expected = JobState.WAITING_RETRY if state == "sending" else JobState(state)
            assert (job.state, job.attempts, job.bytes_sent) == (expected, attempts, sent)
            assert (job.upload_url, job.last_error_code) == (url, error)
            assert (job.priority, job.cancel_reason, job.receipt_id) == ("normal", None, None)
            assert job.size == len(bundle_id) * 10
        assert box.recovery.requeued == ("v1-sending",)
        assert box.recovery.missing_spool == ()
        assert jobs["v1-retry"].last_error_detail == "HTTP detail of timeout"
        assert [j.bundle_id for j in box.queue_order()] == [
            "v1-queued",
            "v1-sending",
            "v1-retry",
            "v1-paused",
        ], "the old creation order became the send order"
        new = box.enqueue("v2-new", "derm", "Dr Derm", "case", b"new")
        assert new.rank > max(j.rank for j in jobs.values())
        assert box.acknowledge("v1-delivered", "receipt-1").state is JobState.ACKNOWLEDGED
    finally:
        box.close()
    inbox = Inbox(db_path, tmp_path / "inbox")
    try:
        assert [i.bundle_id for i in inbox.items("derm")] == ["in-1"], "inbox rows kept too"
    finally:
        inbox.close()


def test_a_failed_migration_leaves_the_old_schema_intact(tmp_path: Path) -> None:
    db_path, spool_dir = tmp_path / "q.sqlite", tmp_path / "outbox"
    make_v1_queue(db_path, spool_dir)
    with sqlite3.connect(db_path) as conn:  # makes migration 2 fail half-way
        conn.execute("CREATE TABLE outbox_settings (x)")
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="outbox_settings"):
        Outbox(db_path, spool_dir)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
        assert "priority" not in columns, "the half-done migration was rolled back"
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == len(V1_ROWS)
    conn.close()


def test_move_up_and_priorities(outbox: Outbox, clock: FakeClock) -> None:
    for name in ("a", "b", "c", "d"):
        outbox.enqueue(name, "r", "R", "request", name.encode())
    outbox.enqueue("u", "r", "R", "request", b"u", priority="urgent")

    def order() -> list[str]:
        return [j.bundle_id for j in outbox.due_jobs(clock.now)]

    assert order() == ["u", "a", "b", "c", "d"]
    outbox.move_up("c")
    assert order() == ["u", "a", "c", "b", "d"]
    outbox.move_up("c")
    outbox.move_up("c")  # already first of its priority: stays
    assert order() == ["u", "c", "a", "b", "d"]
    outbox.pause("a")
    outbox.move_up("b")  # a paused job still holds its place
    assert [j.bundle_id for j in outbox.queue_order()] == ["u", "c", "b", "a", "d"]
    assert outbox.set_priority("d", "urgent").priority == "urgent"
    assert order() == ["u", "d", "c", "b"]
    outbox.move_up("d")
    assert order() == ["d", "u", "c", "b"]
    outbox.claim("c")
    assert outbox.move_up("c").rank == outbox.get("c").rank, "a job being sent does not move"
    with pytest.raises(KeyError):
        outbox.move_up("nope")


def test_cancel_stores_its_reason(outbox: Outbox) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    job = outbox.cancel("b-1", "  sent to the wrong specialist  ")
    assert (job.state, job.cancel_reason) == (JobState.CANCELLED, "sent to the wrong specialist")
    assert outbox.cancel("b-1", "again").cancel_reason == "sent to the wrong specialist"
    outbox.enqueue("b-2", "r", "R", "request", b"x")
    assert outbox.cancel("b-2").cancel_reason == "", "the reason is optional"
    outbox.enqueue("b-3", "r", "R", "request", b"x")
    assert len(outbox.cancel("b-3", "x" * 2000).cancel_reason or "") == 500


def test_pause_all_holds_everything_and_survives_a_restart(
    outbox: Outbox, clock: FakeClock
) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    outbox.enqueue("b-2", "r", "R", "request", b"y")
    outbox.pause("b-2")
    assert not outbox.all_paused
    outbox.pause_all()
    assert outbox.all_paused
    assert outbox.due_jobs(clock.now) == []
    assert outbox.next_due_at() is None
    assert outbox.get("b-1").state is JobState.QUEUED, "jobs keep their own states"
    box = reopen(outbox, clock)
    try:
        assert box.all_paused, "outage mode survives a restart"
        assert box.due_jobs(clock.now) == []
        box.resume_all()
        assert not box.all_paused
        assert [j.bundle_id for j in box.due_jobs(clock.now)] == ["b-1"]
        assert box.get("b-2").state is JobState.PAUSED, "a job paused on its own stays paused"
    finally:
        box.close()


def test_acknowledge_records_the_receipt(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("b-1", "derm", "Dr Derm", "case", b"x")
    outbox.claim("b-1")
    delivered = outbox.mark_delivered("b-1")
    clock.now += 60
    with pytest.raises(ValueError, match="another recipient"):
        outbox.acknowledge("b-1", "r-1", recipient_id="cardio")
    with pytest.raises(ValueError, match="receipt id"):
        outbox.acknowledge("b-1", "")
    with pytest.raises(KeyError):
        outbox.acknowledge("nope", "r-1")
    job = outbox.acknowledge("b-1", "r-1", recipient_id="derm")
    assert (job.state, job.receipt_id, job.acknowledged_at) == (
        JobState.ACKNOWLEDGED,
        "r-1",
        clock.now,
    )
    assert job.delivered_at == delivered.delivered_at, "the delivery time is kept"
    again = outbox.acknowledge("b-1", "r-2")
    assert (again.receipt_id, again.acknowledged_at) == ("r-1", clock.now), "idempotent"
    assert outbox.mark_delivered("b-1").state is JobState.ACKNOWLEDGED, "never goes back"
    # A receipt is proof of delivery, even for a job the sender still thinks is waiting.
    outbox.enqueue("b-2", "derm", "Dr Derm", "case", b"y")
    outbox.claim("b-2")
    outbox.mark_retry("b-2", OutboxError(ErrorCode.TIMEOUT), lambda n: 60.0)
    late = outbox.acknowledge("b-2", "r-3")
    assert (late.state, late.delivered_at, late.next_attempt_at) == (
        JobState.ACKNOWLEDGED,
        clock.now,
        None,
    )
    clock.now += 10_000
    assert outbox.purge_delivered(older_than=5000) == 2, "acknowledged spool files go too"


def test_every_change_is_published_as_a_snapshot(outbox: Outbox) -> None:
    seen: list[JobSnapshot] = []
    unsubscribe = outbox.subscribe(seen.append)
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    outbox.pause("b-1")
    outbox.pause("b-1")  # no change: nothing published
    outbox.resume("b-1")
    outbox.claim("b-1")
    outbox.record_progress("b-1", 1)  # progress is the sender's to publish, throttled
    outbox.mark_retry("b-1", OutboxError(ErrorCode.SERVER_ERROR, "HTTP 503"), lambda n: 2.0)
    outbox.cancel("b-1", "duplicate")
    unsubscribe()
    outbox.retry_now("b-1")
    assert [s.state for s in seen] == [
        JobState.QUEUED,
        JobState.PAUSED,
        JobState.QUEUED,
        JobState.SENDING,
        JobState.WAITING_RETRY,
        JobState.CANCELLED,
    ]
    assert all(isinstance(s, JobSnapshot) and isinstance(s, Job) for s in seen)
    retry = seen[4]
    assert (retry.last_error_code, retry.last_error_detail, retry.attempts) == (
        "server_error",
        "HTTP 503",
        1,
    )
    assert retry.next_attempt_at == retry.updated_at + 2.0
    assert seen[-1].cancel_reason == "duplicate"
    with pytest.raises(AttributeError):
        seen[0].rate = 5.0  # type: ignore[misc]


def test_progress_is_throttled_per_job_with_a_smoothed_rate() -> None:
    now = [0.0]
    events = JobEvents(progress_interval=0.1, monotonic=lambda: now[0])
    seen: list[JobSnapshot] = []
    events.subscribe(seen.append)
    size = 300_000
    base = make_job(0, "sending", bundle_id="b", recipient_id="r", recipient_label="R", size=size)
    other = dataclasses.replace(base, bundle_id="other")
    published = 0
    for step in range(1, 301):  # 1000 bytes every 10 ms: 100 kB/s for 3 s
        now[0] = step * 0.01
        published += events.progress(dataclasses.replace(base, bytes_sent=step * 1000))
        if step == 150:
            assert events.progress(dataclasses.replace(other, bytes_sent=10)), "per job"
    assert 28 <= published <= 31, "about ten a second, not a hundred"
    mine = [s for s in seen if s.bundle_id == "b"]
    assert mine[-1].bytes_sent == size, "the last byte is always published"
    assert mine[-1].time_left == 0.0
    middle = mine[len(mine) // 2]
    assert middle.rate == pytest.approx(100_000, rel=0.01)
    assert middle.time_left == pytest.approx((size - middle.bytes_sent) / 100_000, rel=0.01)
    assert middle.total == size
    events.changed(dataclasses.replace(base, state=JobState.WAITING_RETRY))
    assert (seen[-1].rate, seen[-1].time_left) == (0.0, None), "no rate unless sending"


def test_progress_resets_attempts_only_when_bytes_get_through(outbox: Outbox) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x" * 100)
    outbox.claim("b-1")
    outbox.record_progress("b-1", 40)
    outbox.mark_retry("b-1", OutboxError(ErrorCode.TIMEOUT), lambda n: 0.0)
    outbox.claim("b-1")
    outbox.mark_retry("b-1", OutboxError(ErrorCode.TIMEOUT), lambda n: 0.0)
    outbox.claim("b-1")
    assert outbox.record_progress("b-1", 40).attempts == 2, "a resume at the same offset"
    assert outbox.record_progress("b-1", 60).attempts == 0, "new bytes got through"


def test_ten_thousand_jobs_are_listed_completely_and_in_order(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Correctness at the benchmark's scale (the timing itself is bench/outbox.py's)."""
    box = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox", clock=clock)
    box.enqueue("live", "r", "R", "case", b"cipher")
    states = ["delivered", "acknowledged", "failed", "cancelled"]
    count = 10_000
    rows = [
        {
            "bundle_id": f"old-{i:05d}",
            "recipient_id": f"r-{i % 7}",
            "recipient_label": "Dr R",
            "kind": "case" if i % 2 else "reply",
            "size": 1000 + i,
            "sha256": f"{i:064x}",
            "state": states[i % 4],
            "attempts": i % 5,
            "bytes_sent": 1000 + i if i % 4 < 2 else 0,
            "next_attempt_at": None,
            "upload_url": None,
            "last_error_code": "rejected" if i % 4 == 2 else None,
            "last_error_detail": "HTTP 400" if i % 4 == 2 else None,
            "created_at": clock.now - count + i,
            "updated_at": clock.now,
            "delivered_at": clock.now if i % 4 < 2 else None,
            "priority": "normal",
            "rank": float(i + 10),
            "cancel_reason": "dup" if i % 4 == 3 else None,
            "receipt_id": f"rc-{i}" if i % 4 == 1 else None,
            "acknowledged_at": clock.now if i % 4 == 1 else None,
        }
        for i in range(count)
    ]
    box.close()
    with sqlite3.connect(tmp_path / "q.sqlite") as conn:
        columns = ", ".join(rows[0])
        marks = ", ".join(f":{name}" for name in rows[0])
        conn.executemany(f"INSERT INTO jobs ({columns}) VALUES ({marks})", rows)
        plan = " ".join(
            str(r[-1])
            for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT {columns} FROM jobs ORDER BY created_at"
            )
        )
    conn.close()
    assert "jobs_created" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    box = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox", clock=clock)
    try:
        jobs = box.jobs()
        assert len(jobs) == count + 1
        assert [j.bundle_id for j in jobs[:count]] == [r["bundle_id"] for r in rows]
        assert jobs[-1].bundle_id == "live"
        for i in (0, 1, 2, 3, 4321, count - 1):
            assert {name: getattr(jobs[i], name) for name in rows[i]} == rows[i]
        assert jobs[4321].state is JobState.ACKNOWLEDGED
        snapshots = box.snapshots()
        assert [s.bundle_id for s in snapshots] == [j.bundle_id for j in jobs]
        assert all(s.rate == 0.0 for s in snapshots)
        assert [j.bundle_id for j in box.queue_order()] == ["live"]
        assert [j.bundle_id for j in box.due_jobs(clock.now)] == ["live"]
        assert box.recovery == Recovery(), "finished jobs need no spool file"
    finally:
        box.close()


def test_changes_made_by_another_connection_are_seen(outbox: Outbox, clock: FakeClock) -> None:
    """The listing is kept in memory; another process's writes must still show."""
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    assert [j.state for j in outbox.jobs()] == [JobState.QUEUED]
    other = Outbox(outbox.db_path, outbox.spool_dir, clock=clock)  # e.g. the command line
    try:
        other.pause("b-1")
        other.enqueue("b-2", "r", "R", "request", b"y", priority="urgent")
        assert outbox.get("b-1").state is JobState.PAUSED
        assert [j.bundle_id for j in outbox.jobs()] == ["b-1", "b-2"]
        outbox.resume("b-1")
        assert other.get("b-1").state is JobState.QUEUED
        assert [j.bundle_id for j in other.due_jobs(clock.now)] == ["b-2", "b-1"]
    finally:
        other.close()
    clock.now -= 500  # a clock set back: the listing stays ordered by creation
    outbox.enqueue("b-0", "r", "R", "request", b"z")
    assert [j.bundle_id for j in outbox.jobs()] == ["b-0", "b-1", "b-2"]


def test_a_second_process_can_open_without_repairing(outbox: Outbox, clock: FakeClock) -> None:
    outbox.enqueue("b-1", "r", "R", "request", b"x")
    outbox.claim("b-1")  # being sent by the application
    spool.atomic_write(outbox.spool_dir / "stray.cms", b"an enqueue in progress")
    viewer = Outbox(outbox.db_path, outbox.spool_dir, clock=clock, recover=False)
    try:
        assert viewer.recovery == Recovery()
        assert viewer.get("b-1").state is JobState.SENDING, "left alone"
        assert (outbox.spool_dir / "stray.cms").exists()
    finally:
        viewer.close()
