"""The outbox: a durable queue of encrypted bundles waiting to reach the platform.

Each job is a row in SQLite (WAL, ``synchronous=FULL``) plus a spool file ``<bundle_id>.cms``
holding the ciphertext. The spool file is written atomically (temporary file, fsync, rename,
fsync of the directory) *before* the row is committed, so a row never points at nothing; a
spool file without a row (a crash in between) is removed at the next open, never sent, and a
row whose spool file vanished is quarantined with its reason (:mod:`outbox.recovery`). The rows
hold only non-clinical metadata: ids, the recipient's label, sizes, hashes, states, errors.

Operator actions (:meth:`Outbox.pause`, :meth:`Outbox.resume`, :meth:`Outbox.retry_now`,
:meth:`Outbox.cancel`, :meth:`Outbox.move_up`, :meth:`Outbox.pause_all`...: :mod:`outbox.actions`)
and the sender's transitions (:mod:`outbox.transitions`) are conditional updates, so whichever
lands second sees the first and an operator's choice is never overwritten. Every change is
published to :meth:`Outbox.subscribe` callbacks as a :class:`~outbox.jobs.JobSnapshot`.

Listing is cheap at any size: the queue keeps the jobs it read in memory, updates them with each
change it commits, and reads the table again only when another connection (another process,
the inbox) committed meanwhile (``PRAGMA data_version``). Listing 10,000 jobs is a list copy.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from outbox import spool
from outbox.actions import OperatorActions, checked_priority
from outbox.db import Database
from outbox.events import DEFAULT_PROGRESS_INTERVAL, JobEvents, JobSnapshot
from outbox.jobs import (
    ACTIVE_STATES,
    DONE_STATES,
    JOB_COLUMNS,
    SELECT_COLUMNS,
    Job,
    JobState,
    Priority,
    job_from_values,
)
from outbox.recovery import Recovery, repair_after_crash

__all__ = ["Job", "JobSnapshot", "JobState", "Outbox", "Priority", "Recovery"]

log = logging.getLogger(__name__)

_ACTIVE = tuple(ACTIVE_STATES)
_MAX_RECEIPT_ID = 128
# Send order: urgent first, then by rank (queue position); outbox.jobs.send_order_key in Python.
_ORDER = "CASE priority WHEN 'urgent' THEN 0 ELSE 1 END, rank"


class Outbox(OperatorActions):
    """The persistent send queue, safe to share between the GUI thread and the sender's."""

    def __init__(
        self,
        db_path: Path,
        spool_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        recover: bool = True,
    ) -> None:
        """Opens the queue, creating or migrating it if needed, and repairs what a crash left.

        Args:
            db_path: The SQLite file (shared with :class:`~outbox.inbox.Inbox`).
            spool_dir: Directory of the outbox spool files.
            clock: Wall-clock seconds, injectable for tests.
            progress_interval: Minimum seconds between two progress snapshots of one job.
            recover: Repair at opening (requeue jobs left in ``sending``, remove orphan spool
                files, quarantine jobs whose file is gone). Pass ``False`` from a second
                process (a status listing) while the application may be sending: its
                ``sending`` jobs are not crash leftovers.
        """
        self.clock = clock
        self.db_path = db_path
        self.spool_dir = spool_dir
        self.events = JobEvents(progress_interval=progress_interval)
        spool.private_dir(spool_dir)
        self._db = Database(db_path)
        self._cache: dict[str, JobSnapshot] | None = None
        self._cache_version = -1
        self._cache_sorted = True
        self.recovery = (
            repair_after_crash(self._db, spool_dir, self.spool_path) if recover else Recovery()
        )
        self._fresh()

    def close(self) -> None:
        """Closes the database connection."""
        self._db.close()

    @property
    def database(self) -> Database:
        """The queue's database, for small tables kept beside the jobs (outbox.handover)."""
        return self._db

    def subscribe(self, callback: Callable[[JobSnapshot], None]) -> Callable[[], None]:
        """Registers ``callback`` for job snapshots; returns the function that unregisters it.

        Called on every change (enqueue, operator action, sender transition) and on upload
        progress (at most every ``progress_interval`` seconds per job, and for the last
        byte), on the thread that made the change.
        """
        return self.events.subscribe(callback)

    # The listing cache. Every method touching it holds the database lock.

    def _fresh(self) -> dict[str, JobSnapshot]:
        """Returns the cached jobs, reading the table again if another connection wrote."""
        with self._db.lock:
            version = self._db.data_version()
            if self._cache is None or version != self._cache_version:
                rows = self._db.query_values(
                    f"SELECT {SELECT_COLUMNS} FROM jobs ORDER BY created_at"
                )
                self._cache = {str(r[0]): job_from_values(r) for r in rows}
                self._cache_version = version
                self._cache_sorted = True
            if not self._cache_sorted:
                ordered = sorted(self._cache.values(), key=lambda job: job.created_at)
                self._cache = {job.bundle_id: job for job in ordered}
                self._cache_sorted = True
            return self._cache

    def _remember(self, job: JobSnapshot) -> None:
        with self._db.lock:
            cache = self._cache
            if cache is None:
                return
            if job.bundle_id not in cache and cache:
                last = next(reversed(cache.values()))
                self._cache_sorted = self._cache_sorted and job.created_at >= last.created_at
            cache[job.bundle_id] = job

    def spool_path(self, bundle_id: str) -> Path:
        """Returns the spool file of a job."""
        return self.spool_dir / f"{spool.check_bundle_id(bundle_id)}{spool.SPOOL_SUFFIX}"

    def enqueue(
        self,
        bundle_id: str,
        recipient_id: str,
        recipient_label: str,
        kind: str,
        payload: bytes,
        *,
        priority: str = "normal",
    ) -> Job:
        """Queues a bundle's ciphertext for sending; idempotent on ``bundle_id``.

        The spool file is complete and synced before the job's row is committed. If a job with
        this id exists (whatever its state), it is returned unchanged and ``payload`` is
        ignored: the platform would drop the duplicate anyway.

        Args:
            bundle_id: The bundle's id (also its identity on the platform).
            recipient_id: The recipient's platform id.
            recipient_label: The recipient's name for the operator.
            kind: The bundle kind.
            payload: The ciphertext.
            priority: ``"normal"`` or ``"urgent"`` (urgent jobs go first).

        Raises:
            ValueError: If ``bundle_id`` cannot be a file name or ``priority`` is unknown.
            OSError: If the spool file cannot be written (nothing is queued then).
        """
        self.spool_path(bundle_id)  # refuses an unsafe id before anything else
        level = checked_priority(priority)
        with self._db.lock:
            job, created = self._insert(
                bundle_id, recipient_id, recipient_label, kind, payload, level
            )
        if not created:
            return job
        log.info("queued bundle %s (%d bytes, %s)", bundle_id, job.size, level)
        self.events.changed(job)
        return job

    def enqueue_file(
        self,
        bundle_id: str,
        recipient_id: str,
        recipient_label: str,
        kind: str,
        sealed: Path,
        *,
        priority: str = "normal",
    ) -> Job:
        """:meth:`enqueue` for a ciphertext in the file ``sealed`` (a bundle of hundreds of
        megabytes): copied into the spool in blocks and synced, never read whole; ``sealed``
        itself is left in place."""
        self.spool_path(bundle_id)
        level = checked_priority(priority)
        with self._db.lock:
            job, created = self._insert(
                bundle_id, recipient_id, recipient_label, kind, Path(sealed), level
            )
        if not created:
            return job
        log.info("queued bundle %s from a file (%d bytes, %s)", bundle_id, job.size, level)
        self.events.changed(job)
        return job

    def _insert(
        self,
        bundle_id: str,
        recipient_id: str,
        recipient_label: str,
        kind: str,
        payload: bytes | Path,
        level: str,
    ) -> tuple[JobSnapshot, bool]:
        path = self.spool_path(bundle_id)
        with self._db.transaction() as conn:  # held throughout: one writer per bundle id
            existing = conn.execute(
                f"SELECT {SELECT_COLUMNS} FROM jobs WHERE bundle_id = ?", (bundle_id,)
            ).fetchone()
            if existing is not None:
                log.info("bundle %s already queued; enqueue ignored", bundle_id)
                return job_from_values(tuple(existing)), False
            if isinstance(payload, Path):  # enqueue_file: streamed, never held whole
                size, digest = spool.atomic_copy(payload, path)
            else:
                spool.atomic_write(path, payload)
                size, digest = len(payload), hashlib.sha256(payload).hexdigest()
            now = self.clock()
            rank = conn.execute("SELECT COALESCE(MAX(rank), 0) + 1 FROM jobs").fetchone()[0]
            job = Job(
                bundle_id=bundle_id,
                recipient_id=recipient_id,
                recipient_label=recipient_label,
                kind=kind,
                size=size,
                sha256=digest,
                state=JobState.QUEUED,
                attempts=0,
                bytes_sent=0,
                next_attempt_at=None,
                upload_url=None,
                last_error_code=None,
                last_error_detail=None,
                created_at=now,
                updated_at=now,
                delivered_at=None,
                priority=level,
                rank=float(rank),
            )
            placeholders = ", ".join("?" for _ in JOB_COLUMNS)
            values = tuple(getattr(job, column) for column in JOB_COLUMNS)
            conn.execute(f"INSERT INTO jobs ({SELECT_COLUMNS}) VALUES ({placeholders})", values)
        return self._select(bundle_id), True

    def get(self, bundle_id: str) -> JobSnapshot | None:
        """Returns the job, or ``None`` if there is none with this id."""
        with self._db.lock:
            return self._fresh().get(bundle_id)

    def jobs(self) -> list[JobSnapshot]:
        """Returns every job, oldest first (from memory unless another connection wrote)."""
        with self._db.lock:
            return list(self._fresh().values())

    def snapshots(self) -> list[JobSnapshot]:
        """Returns every job, oldest first, those being sent with their rate and time left."""
        jobs = self.jobs()
        snapshot = self.events.snapshot
        return [snapshot(job) if job.state is JobState.SENDING else job for job in jobs]

    def queue_order(self) -> list[Job]:
        """Returns the jobs still to send (queued, sending, waiting, paused), in send order."""
        marks = ", ".join("?" for _ in _ACTIVE)
        rows = self._db.query_values(
            f"SELECT {SELECT_COLUMNS} FROM jobs WHERE state IN ({marks}) ORDER BY {_ORDER}",
            tuple(s.value for s in _ACTIVE),
        )
        return [job_from_values(r) for r in rows]

    def due_jobs(self, now: float, limit: int | None = None) -> list[Job]:
        """Returns the jobs to send at ``now``, urgent first, then in queue order.

        Nothing is due while everything is paused (:meth:`pause_all`).

        Args:
            now: The clock time.
            limit: At most this many.
        """
        if self.all_paused:
            return []
        rows = self._db.query_values(
            f"SELECT {SELECT_COLUMNS} FROM jobs WHERE state IN (?, ?)"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            f" ORDER BY {_ORDER} LIMIT ?",
            (
                JobState.QUEUED.value,
                JobState.WAITING_RETRY.value,
                now,
                -1 if limit is None else limit,
            ),
        )
        return [job_from_values(r) for r in rows]

    def next_due_at(self) -> float | None:
        """Returns when the next queued or waiting job becomes due (0 for "now"), if any."""
        if self.all_paused:
            return None
        rows = self._db.query_values(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM jobs WHERE state IN (?, ?)",
            (JobState.QUEUED.value, JobState.WAITING_RETRY.value),
        )
        value = rows[0][0]
        return None if value is None else float(value)  # type: ignore[arg-type]

    def acknowledge(
        self, bundle_id: str, receipt_id: str, *, recipient_id: str | None = None
    ) -> Job:
        """Records the signed receipt that acknowledges a bundle: the job becomes
        ``acknowledged``.

        The receipt is produced, verified and parsed by the case layer; this only records its
        id. A receipt proves delivery, so it applies whatever the job's state (a job still being
        sent stops at its next chunk). Idempotent: a job already acknowledged is returned
        unchanged (a second, different receipt id is logged and ignored).

        Args:
            bundle_id: The acknowledged bundle (the sender's job).
            receipt_id: The receipt's own id.
            recipient_id: If given, the receipt's signer's recipient id, which must be the
                job's recipient.

        Raises:
            KeyError: If no job has this bundle id.
            ValueError: If ``receipt_id`` is empty or too long, or the receipt comes from
                another recipient than the job's.
        """
        if not receipt_id or len(receipt_id) > _MAX_RECEIPT_ID or not receipt_id.isprintable():
            raise ValueError("invalid receipt id")
        job = self.get(bundle_id)
        if job is None:
            raise KeyError(bundle_id)
        if recipient_id is not None and recipient_id != job.recipient_id:
            raise ValueError("the receipt comes from another recipient than the job's")

        def fields(current: Job) -> Mapping[str, object]:
            now = self.clock()
            return {
                "state": JobState.ACKNOWLEDGED,
                "receipt_id": receipt_id,
                "acknowledged_at": now,
                "delivered_at": current.delivered_at if current.delivered_at else now,
                "bytes_sent": current.size,
                "next_attempt_at": None,
                "upload_url": None,
                "last_error_code": None,
                "last_error_detail": None,
            }

        states = [s for s in JobState if s is not JobState.ACKNOWLEDGED]
        job = self._update(bundle_id, states, fields)
        if job.receipt_id != receipt_id:
            log.warning("bundle %s already acknowledged by another receipt", bundle_id)
        else:
            log.info("bundle %s acknowledged", bundle_id)
        return job

    def purge_delivered(self, older_than: float) -> int:
        """Deletes the spool files of jobs delivered at least ``older_than`` seconds ago.

        The rows stay (they hold no clinical content) so the history remains visible.

        Returns:
            How many spool files were deleted.
        """
        cutoff = self.clock() - older_than
        done = tuple(s.value for s in DONE_STATES)
        rows = self._db.query_values(
            "SELECT bundle_id FROM jobs WHERE state IN (?, ?) AND delivered_at <= ?",
            (*done, cutoff),
        )
        removed = 0
        for (bundle_id,) in rows:
            path = self.spool_path(str(bundle_id))
            if path.exists() and spool.remove_file(path):
                removed += 1
        if removed:
            spool.fsync_dir(self.spool_dir)
            log.info("purged %d delivered spool files", removed)
        return removed
