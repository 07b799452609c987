"""Conditional state changes of outbox jobs, shared by operator actions and the sender.

Every change names the states it applies to; if the job has moved on (the operator paused or
cancelled it while a chunk was in flight), the change is skipped and the current job returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping

from outbox.db import Database
from outbox.errors import OutboxError
from outbox.jobs import Job, JobState, job_from_row

log = logging.getLogger(__name__)

_CLAIMABLE = (JobState.PENDING, JobState.RETRY)


class JobTransitions:
    """State changes over the ``jobs`` table; :class:`~outbox.queue.Outbox` builds on it."""

    _db: Database
    clock: Callable[[], float]

    def _update(
        self,
        bundle_id: str,
        states: Collection[JobState] | None,
        fields: Mapping[str, object] | Callable[[Job], Mapping[str, object]],
    ) -> Job:
        """Applies ``fields`` if the job is in one of ``states`` (any state if ``None``).

        Args:
            bundle_id: The job.
            states: The states the change applies to.
            fields: Column values, or a function of the current job giving them.

        Returns:
            The job after the change (or unchanged, if it did not apply).

        Raises:
            KeyError: If there is no such job.
        """
        select = "SELECT * FROM jobs WHERE bundle_id = ?"
        with self._db.transaction() as conn:
            row = conn.execute(select, (bundle_id,)).fetchone()
            if row is None:
                raise KeyError(bundle_id)
            job = job_from_row(row)
            if states is not None and job.state not in states:
                return job
            values = dict(fields(job) if callable(fields) else fields)
            values["updated_at"] = self.clock()
            assignments = ", ".join(f"{column} = ?" for column in values)
            conn.execute(
                f"UPDATE jobs SET {assignments} WHERE bundle_id = ?", (*values.values(), bundle_id)
            )
            return job_from_row(conn.execute(select, (bundle_id,)).fetchone())

    # Transitions used by the sender thread.

    def claim(self, bundle_id: str) -> Job | None:
        """Moves a due job to ``sending``; returns ``None`` if it is no longer claimable."""
        job = self._update(bundle_id, _CLAIMABLE, {"state": JobState.SENDING})
        return job if job.state is JobState.SENDING else None

    def set_upload_url(self, bundle_id: str, url: str | None) -> Job:
        """Records a new upload (or forgets a gone one); the platform then holds no bytes."""
        return self._update(bundle_id, None, {"upload_url": url, "bytes_sent": 0})

    def record_progress(self, bundle_id: str, bytes_sent: int) -> Job:
        """Records the platform's offset; progress resets the failed-attempt count."""
        return self._update(bundle_id, None, {"bytes_sent": bytes_sent, "attempts": 0})

    def release(self, bundle_id: str) -> Job:
        """Puts a job the sender stopped working on (shutdown) back in line."""
        return self._update(bundle_id, (JobState.SENDING,), {"state": JobState.PENDING})

    def mark_retry(self, bundle_id: str, error: OutboxError, delay: Callable[[int], float]) -> Job:
        """Schedules another attempt after ``delay(attempts)`` seconds."""

        def fields(job: Job) -> Mapping[str, object]:
            attempts = job.attempts + 1
            return {
                "state": JobState.RETRY,
                "attempts": attempts,
                "next_attempt_at": self.clock() + delay(attempts),
                "last_error_code": error.code,
                "last_error_detail": error.detail,
            }

        return self._update(bundle_id, (JobState.SENDING,), fields)

    def mark_failed(self, bundle_id: str, error: OutboxError) -> Job:
        """Quarantines a job: only an operator's retry or cancel moves it again."""
        fields = {
            "state": JobState.FAILED,
            "next_attempt_at": None,
            "last_error_code": error.code,
            "last_error_detail": error.detail,
        }
        return self._update(bundle_id, (JobState.SENDING,), fields)

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

        states = [s for s in JobState if s is not JobState.DELIVERED]
        return self._update(bundle_id, states, fields)

    def cancelled_uploads(self) -> list[Job]:
        """Returns cancelled jobs whose remote upload has not been terminated yet."""
        rows = self._db.query(
            "SELECT * FROM jobs WHERE state = ? AND upload_url IS NOT NULL", (JobState.CANCELLED,)
        )
        return [job_from_row(r) for r in rows]
