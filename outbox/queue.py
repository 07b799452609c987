"""The outbox: a durable queue of encrypted bundles waiting to reach the platform.

Each job is a row in SQLite plus a spool file ``<bundle_id>.cms`` holding the ciphertext. The
spool file is written and synced before the row is committed, so a row never points at nothing;
a spool file without a row (a crash in between) is removed at the next open, never sent. The
rows hold only non-clinical metadata: ids, the recipient's label, sizes, hashes, states, errors.

Operator actions (:meth:`Outbox.pause`, :meth:`Outbox.resume`, :meth:`Outbox.retry_now`,
:meth:`Outbox.cancel`) and the sender's transitions (:mod:`outbox.transitions`) are conditional
updates, so whichever lands second sees the first and an operator's choice is never overwritten.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from outbox import spool
from outbox.db import Database
from outbox.jobs import JOB_COLUMNS, Job, JobState, job_from_row
from outbox.transitions import JobTransitions

__all__ = ["Job", "JobState", "Outbox", "Recovery"]

log = logging.getLogger(__name__)

_ACTIVE = (JobState.PENDING, JobState.RETRY, JobState.SENDING, JobState.PAUSED)


@dataclass(frozen=True)
class Recovery:
    """What :class:`Outbox` repaired when it opened (bundle ids only).

    Attributes:
        requeued: Jobs a crash left in ``sending``, put back in ``retry``.
        orphans_removed: Spool files with no job (a crash before the row was committed).
        missing_spool: Jobs whose spool file was gone, quarantined with ``disk_error``.
    """

    requeued: tuple[str, ...] = ()
    orphans_removed: tuple[str, ...] = ()
    missing_spool: tuple[str, ...] = ()


class Outbox(JobTransitions):
    """The persistent send queue, safe to share between the GUI thread and the sender thread."""

    def __init__(
        self, db_path: Path, spool_dir: Path, *, clock: Callable[[], float] = time.time
    ) -> None:
        """Opens the queue, creating it if needed, and repairs what a crash left behind.

        Args:
            db_path: The SQLite file (shared with :class:`~outbox.inbox.Inbox`).
            spool_dir: Directory of the outbox spool files.
            clock: Wall-clock seconds, injectable for tests.
        """
        self.clock = clock
        self.db_path = db_path
        self.spool_dir = spool_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._db = Database(db_path)
        self.recovery = self._recover()

    def close(self) -> None:
        """Closes the database connection."""
        self._db.close()

    def spool_path(self, bundle_id: str) -> Path:
        """Returns the spool file of a job."""
        return self.spool_dir / f"{spool.check_bundle_id(bundle_id)}{spool.SPOOL_SUFFIX}"

    def enqueue(
        self, bundle_id: str, recipient_id: str, recipient_label: str, kind: str, payload: bytes
    ) -> Job:
        """Queues a bundle's ciphertext for sending; idempotent on ``bundle_id``.

        If a job with this id exists (whatever its state), it is returned unchanged and
        ``payload`` is ignored: the platform would drop the duplicate anyway.

        Raises:
            ValueError: If ``bundle_id`` cannot be a file name.
            OSError: If the spool file cannot be written (nothing is queued then).
        """
        path = self.spool_path(bundle_id)
        with self._db.transaction() as conn:  # held throughout: one writer per bundle id
            existing = conn.execute("SELECT * FROM jobs WHERE bundle_id = ?", (bundle_id,))
            row = existing.fetchone()
            if row is not None:
                log.info("bundle %s already queued; enqueue ignored", bundle_id)
                return job_from_row(row)
            spool.atomic_write(path, payload)
            now = self.clock()
            job = Job(
                bundle_id=bundle_id,
                recipient_id=recipient_id,
                recipient_label=recipient_label,
                kind=kind,
                size=len(payload),
                sha256=hashlib.sha256(payload).hexdigest(),
                state=JobState.PENDING,
                attempts=0,
                bytes_sent=0,
                next_attempt_at=None,
                upload_url=None,
                last_error_code=None,
                last_error_detail=None,
                created_at=now,
                updated_at=now,
                delivered_at=None,
            )
            placeholders = ", ".join("?" for _ in JOB_COLUMNS)
            values = tuple(getattr(job, column) for column in JOB_COLUMNS)
            columns = ", ".join(JOB_COLUMNS)
            conn.execute(f"INSERT INTO jobs ({columns}) VALUES ({placeholders})", values)
        log.info("queued bundle %s (%d bytes)", bundle_id, job.size)
        return job

    def get(self, bundle_id: str) -> Job | None:
        """Returns the job, or ``None`` if there is none with this id."""
        rows = self._db.query("SELECT * FROM jobs WHERE bundle_id = ?", (bundle_id,))
        return job_from_row(rows[0]) if rows else None

    def jobs(self) -> list[Job]:
        """Returns every job, oldest first."""
        return [job_from_row(r) for r in self._db.query("SELECT * FROM jobs ORDER BY created_at")]

    def due_jobs(self, now: float) -> list[Job]:
        """Returns the jobs to send at ``now``: new ones first, then retries by due time."""
        rows = self._db.query(
            "SELECT * FROM jobs WHERE state IN (?, ?)"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " ORDER BY COALESCE(next_attempt_at, 0), created_at",
            (JobState.PENDING, JobState.RETRY, now),
        )
        return [job_from_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        """Returns when the next pending or retrying job becomes due (0 for "now"), if any."""
        rows = self._db.query(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM jobs WHERE state IN (?, ?)",
            (JobState.PENDING, JobState.RETRY),
        )
        value = rows[0][0]
        return None if value is None else float(value)

    # Operator actions. Each returns the job as it is afterwards (unchanged if the action does
    # not apply to its state) and raises KeyError for an unknown id.

    def pause(self, bundle_id: str) -> Job:
        """Holds a job; a running upload stops after its current chunk."""
        return self._update(bundle_id, _ACTIVE, {"state": JobState.PAUSED})

    def resume(self, bundle_id: str) -> Job:
        """Lets a paused job go again (it resumes where the platform left off)."""
        return self._update(
            bundle_id, (JobState.PAUSED,), {"state": JobState.PENDING, "next_attempt_at": None}
        )

    def retry_now(self, bundle_id: str) -> Job:
        """Makes a waiting, paused or quarantined job due now, with a fresh attempt count."""
        states = (JobState.PENDING, JobState.RETRY, JobState.PAUSED, JobState.FAILED)
        fields = {
            "state": JobState.PENDING,
            "next_attempt_at": None,
            "attempts": 0,
            "last_error_code": None,
            "last_error_detail": None,
        }
        return self._update(bundle_id, states, fields)

    def cancel(self, bundle_id: str) -> Job:
        """Cancels a job that is not delivered and deletes its spool file.

        The remote upload, if any, is terminated by the sender (best effort, off the GUI thread);
        a platform that never hears of it lets it expire.
        """
        job = self._update(bundle_id, (*_ACTIVE, JobState.FAILED), {"state": JobState.CANCELLED})
        if job.state is JobState.CANCELLED:
            spool.remove_file(self.spool_path(bundle_id))
        return job

    def purge_delivered(self, older_than: float) -> int:
        """Deletes the spool files of jobs delivered at least ``older_than`` seconds ago.

        The rows stay (they hold no clinical content) so the history remains visible.

        Returns:
            How many spool files were deleted.
        """
        cutoff = self.clock() - older_than
        rows = self._db.query(
            "SELECT bundle_id FROM jobs WHERE state = ? AND delivered_at <= ?",
            (JobState.DELIVERED, cutoff),
        )
        removed = 0
        for row in rows:
            path = self.spool_path(row["bundle_id"])
            if path.exists() and spool.remove_file(path):
                removed += 1
        if removed:
            spool.fsync_dir(self.spool_dir)
            log.info("purged %d delivered spool files", removed)
        return removed

    def _recover(self) -> Recovery:
        spool.remove_temp_files(self.spool_dir)
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT bundle_id, state FROM jobs").fetchall()
            states = {row["bundle_id"]: JobState(row["state"]) for row in rows}
            requeued = tuple(b for b, s in states.items() if s is JobState.SENDING)
            conn.execute(
                "UPDATE jobs SET state = ?, next_attempt_at = NULL WHERE state = ?",
                (JobState.RETRY, JobState.SENDING),
            )
            missing = tuple(
                b for b, s in states.items() if s in _ACTIVE and not self.spool_path(b).exists()
            )
            for bundle_id in missing:
                conn.execute(
                    "UPDATE jobs SET state = ?, last_error_code = 'disk_error',"
                    " last_error_detail = 'spool file missing', next_attempt_at = NULL"
                    " WHERE bundle_id = ?",
                    (JobState.FAILED, bundle_id),
                )
        orphans = []
        for path in sorted(self.spool_dir.glob(f"*{spool.SPOOL_SUFFIX}")):
            bundle_id = path.name.removesuffix(spool.SPOOL_SUFFIX)
            state = states.get(bundle_id)
            if state is None or state is JobState.CANCELLED:
                spool.remove_file(path)
                if state is None:
                    orphans.append(bundle_id)
        for bundle_id in requeued:
            log.warning("bundle %s was being sent when the app stopped; will resume", bundle_id)
        for bundle_id in orphans:
            log.warning("removed spool file %s that no job refers to", bundle_id)
        for bundle_id in missing:
            log.error("spool file of bundle %s is missing; job quarantined", bundle_id)
        return Recovery(requeued, tuple(orphans), missing)
