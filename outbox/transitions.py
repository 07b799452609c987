"""Conditional state changes of outbox jobs, shared by operator actions and the sender.

Every change names the states it applies to; if the job has moved on (the operator paused or
cancelled it while a chunk was in flight), the change is skipped and the current job returned.
Every change that applies is published to the outbox's subscribers (see :mod:`outbox.events`),
except progress, which the sender publishes itself, throttled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping

from outbox import backoff
from outbox.db import Database
from outbox.errors import OutboxError
from outbox.events import JobEvents
from outbox.jobs import DONE_STATES, SELECT_COLUMNS, Job, JobSnapshot, JobState, job_from_values

log = logging.getLogger(__name__)

_CLAIMABLE = (JobState.QUEUED, JobState.WAITING_RETRY)
_SELECT = f"SELECT {SELECT_COLUMNS} FROM jobs WHERE bundle_id = ?"


class JobTransitions:
    """State changes over the ``jobs`` table; :class:`~outbox.queue.Outbox` builds on it."""

    _db: Database
    clock: Callable[[], float]
    events: JobEvents

    def _remember(self, job: JobSnapshot) -> None:
        """Keeps the listing cache in step with a row just committed (the db lock is held)."""
        raise NotImplementedError

    def _select(self, bundle_id: str) -> JobSnapshot:
        """Re-reads a row after a change and remembers it (call with the db lock held)."""
        rows = self._db.query_values(_SELECT, (bundle_id,))
        if not rows:
            raise KeyError(bundle_id)
        job = job_from_values(rows[0])
        self._remember(job)
        return job

    def _update(
        self,
        bundle_id: str,
        states: Collection[JobState] | None,
        fields: Mapping[str, object] | Callable[[Job], Mapping[str, object]],
        *,
        publish: bool = True,
    ) -> JobSnapshot:
        """Applies ``fields`` if the job is in one of ``states`` (any state if ``None``).

        Args:
            bundle_id: The job.
            states: The states the change applies to.
            fields: Column values, or a function of the current job giving them.
            publish: Whether to publish the changed job to the subscribers.

        Returns:
            The job after the change (or unchanged, if it did not apply).

        Raises:
            KeyError: If there is no such job.
        """
        with self._db.lock:
            with self._db.transaction() as conn:
                row = conn.execute(_SELECT, (bundle_id,)).fetchone()
                if row is None:
                    raise KeyError(bundle_id)
                job = job_from_values(tuple(row))
                if states is not None and job.state not in states:
                    return job
                values = dict(fields(job) if callable(fields) else fields)
                values["updated_at"] = self.clock()
                assignments = ", ".join(f"{column} = ?" for column in values)
                conn.execute(
                    f"UPDATE jobs SET {assignments} WHERE bundle_id = ?",
                    (*values.values(), bundle_id),
                )
            job = self._select(bundle_id)
        if publish:
            self.events.changed(job)
        return job

    # Transitions used by the sender.

    def claim(self, bundle_id: str) -> Job | None:
        """Moves a due job to ``sending``; returns ``None`` if it is no longer claimable."""
        job = self._update(bundle_id, _CLAIMABLE, {"state": JobState.SENDING})
        return job if job.state is JobState.SENDING else None

    def set_upload_url(self, bundle_id: str, url: str | None) -> Job:
        """Records a new upload (or forgets a gone one); the platform then holds no bytes."""
        self.events.meter.forget(bundle_id)
        return self._update(bundle_id, None, {"upload_url": url, "bytes_sent": 0})

    def record_progress(self, bundle_id: str, bytes_sent: int) -> Job:
        """Records the platform's offset; bytes that got through reset the failed-attempt count.

        Not published: the sender publishes progress itself, throttled
        (:meth:`~outbox.events.JobEvents.progress`).
        """

        def fields(job: Job) -> Mapping[str, object]:
            attempts = 0 if bytes_sent > job.bytes_sent else job.attempts
            return {"bytes_sent": bytes_sent, "attempts": attempts}

        return self._update(bundle_id, None, fields, publish=False)

    def release(self, bundle_id: str) -> Job:
        """Puts a job the sender stopped working on (shutdown, pause-all) back in line."""
        return self._update(bundle_id, (JobState.SENDING,), {"state": JobState.QUEUED})

    def mark_retry(self, bundle_id: str, error: OutboxError, delay: Callable[[int], float]) -> Job:
        """Schedules another attempt: after the platform's ``Retry-After`` if it gave one, else
        after ``delay(attempts)`` seconds."""

        def fields(job: Job) -> Mapping[str, object]:
            attempts = job.attempts + 1
            wait = backoff.honour_retry_after(error.retry_after)
            if wait is None:
                wait = delay(attempts)
            return {
                "state": JobState.WAITING_RETRY,
                "attempts": attempts,
                "next_attempt_at": self.clock() + wait,
                "last_error_code": error.code,
                "last_error_detail": error.detail,
            }

        return self._update(bundle_id, (JobState.SENDING,), fields)

    def mark_failed(self, bundle_id: str, error: OutboxError) -> Job:
        """Quarantines a job: only an operator's retry or cancel moves it again."""
        fields = {
            "state": JobState.QUARANTINED,
            "next_attempt_at": None,
            "last_error_code": error.code,
            "last_error_detail": error.detail,
        }
        return self._update(bundle_id, (JobState.SENDING,), fields)

    mark_quarantined = mark_failed

    def record_checksum_failure(self, bundle_id: str) -> int:
        """Counts a checksum refusal, forgets the upload, and returns how many there were."""
        self.events.meter.forget(bundle_id)
        with self._db.lock:
            with self._db.transaction() as conn:
                conn.execute(
                    "UPDATE jobs SET checksum_failures = checksum_failures + 1, upload_url = NULL,"
                    " bytes_sent = 0, updated_at = ? WHERE bundle_id = ?",
                    (self.clock(), bundle_id),
                )
                row = conn.execute(
                    "SELECT checksum_failures FROM jobs WHERE bundle_id = ?", (bundle_id,)
                ).fetchone()
            if row is None:
                raise KeyError(bundle_id)
            self._select(bundle_id)
        return int(row[0])

    def mark_delivered(self, bundle_id: str) -> Job:
        """Records the platform's acceptance; a fact that overrides any pending operator choice."""

        def fields(job: Job) -> Mapping[str, object]:
            return {
                "state": JobState.DELIVERED,
                "bytes_sent": job.size,
                "next_attempt_at": None,
                "upload_url": None,
                "last_error_code": None,
                "last_error_detail": None,
                "delivered_at": self.clock(),
            }

        states = [s for s in JobState if s not in DONE_STATES]
        return self._update(bundle_id, states, fields)

    def cancelled_uploads(self) -> list[Job]:
        """Returns cancelled jobs whose remote upload has not been terminated yet."""
        rows = self._db.query_values(
            f"SELECT {SELECT_COLUMNS} FROM jobs WHERE state = ? AND upload_url IS NOT NULL",
            (JobState.CANCELLED.value,),
        )
        return [job_from_values(r) for r in rows]
