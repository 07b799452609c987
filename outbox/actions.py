"""The operator's actions on the outbox: hold, release, retry, cancel, reorder, and the outage
mode that pauses everything.

Each is a conditional update (:meth:`~outbox.transitions.JobTransitions._update`): it names the
states it applies to, so an action that lands after the sender moved the job on sees the new
state and leaves it; and the sender's transitions, landing after an action, see the operator's
choice and never overwrite it. Each returns the job as it is afterwards (unchanged if the action
does not apply to its state) and raises ``KeyError`` for an unknown id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from outbox import spool
from outbox.jobs import ACTIVE_STATES, Job, JobState, Priority
from outbox.transitions import JobTransitions

__all__ = ["OperatorActions", "checked_priority"]

log = logging.getLogger(__name__)

_ACTIVE = tuple(ACTIVE_STATES)
_WAITING = (JobState.QUEUED, JobState.WAITING_RETRY, JobState.PAUSED)
_PAUSED_ALL = "paused_all"
_MAX_REASON = 500


def checked_priority(value: str) -> str:
    """Returns ``value`` if it names a :class:`~outbox.jobs.Priority`.

    Raises:
        ValueError: If it does not.
    """
    try:
        return Priority(value).value
    except ValueError:
        raise ValueError(f"priority must be one of {[p.value for p in Priority]}") from None


class OperatorActions(JobTransitions):
    """The operator's actions; :class:`~outbox.queue.Outbox` builds on it."""

    def spool_path(self, bundle_id: str) -> Path:
        """Returns the spool file of a job."""
        raise NotImplementedError

    def pause(self, bundle_id: str) -> Job:
        """Holds a job; a running upload stops after its current chunk."""
        states = (JobState.QUEUED, JobState.SENDING, JobState.WAITING_RETRY)
        return self._update(bundle_id, states, {"state": JobState.PAUSED})

    def resume(self, bundle_id: str) -> Job:
        """Lets a paused job go again (it resumes where the platform left off)."""
        return self._update(
            bundle_id, (JobState.PAUSED,), {"state": JobState.QUEUED, "next_attempt_at": None}
        )

    def retry_now(self, bundle_id: str) -> Job:
        """Makes a waiting, paused or quarantined job due now, with a fresh attempt count."""
        states = (JobState.QUEUED, JobState.WAITING_RETRY, JobState.PAUSED, JobState.QUARANTINED)
        fields = {
            "state": JobState.QUEUED,
            "next_attempt_at": None,
            "attempts": 0,
            "checksum_failures": 0,
            "last_error_code": None,
            "last_error_detail": None,
        }
        return self._update(bundle_id, states, fields)

    def cancel(self, bundle_id: str, reason: str = "") -> Job:
        """Cancels a job that is not delivered, stores why, and deletes its spool file.

        The remote upload, if any, is terminated by the sender (best effort, off the GUI thread);
        a platform that never hears of it lets it expire.

        Args:
            bundle_id: The job.
            reason: The operator's reason (plain text, at most 500 characters are kept; never
                clinical content).
        """
        fields = {"state": JobState.CANCELLED, "cancel_reason": reason.strip()[:_MAX_REASON]}
        job = self._update(bundle_id, (*_ACTIVE, JobState.QUARANTINED), fields)
        if job.state is JobState.CANCELLED:
            spool.remove_file(self.spool_path(bundle_id))
        return job

    def set_priority(self, bundle_id: str, priority: str) -> Job:
        """Makes a job still to send ``"urgent"`` or ``"normal"`` (at the end of that lane).

        Raises:
            ValueError: If ``priority`` is unknown.
        """
        level = checked_priority(priority)
        last = self._db.query_values("SELECT COALESCE(MAX(rank), 0) + 1 FROM jobs")[0][0]

        def fields(job: Job) -> Mapping[str, object]:
            # A job changing lanes joins the end of its new lane.
            return {"priority": level, "rank": last} if job.priority != level else {}

        return self._update(bundle_id, _ACTIVE, fields)

    def move_up(self, bundle_id: str) -> Job:
        """Moves a waiting job one place up in the send order, within its priority.

        It swaps places with the waiting job just ahead of it (queued, waiting for a retry or
        paused, same priority); at the head of its priority it stays where it is.
        """
        marks = ", ".join("?" for _ in _WAITING)
        waiting = tuple(s.value for s in _WAITING)
        with self._db.lock:
            with self._db.transaction() as conn:
                row = conn.execute(
                    "SELECT state, priority, rank FROM jobs WHERE bundle_id = ?", (bundle_id,)
                ).fetchone()
                if row is None:
                    raise KeyError(bundle_id)
                ahead = None
                if row["state"] in waiting:
                    ahead = conn.execute(
                        f"SELECT bundle_id, rank FROM jobs WHERE state IN ({marks})"
                        " AND priority = ? AND rank < ? ORDER BY rank DESC LIMIT 1",
                        (*waiting, row["priority"], row["rank"]),
                    ).fetchone()
                if ahead is not None:
                    now = self.clock()
                    conn.execute(
                        "UPDATE jobs SET rank = ?, updated_at = ? WHERE bundle_id = ?",
                        (ahead["rank"], now, bundle_id),
                    )
                    conn.execute(
                        "UPDATE jobs SET rank = ?, updated_at = ? WHERE bundle_id = ?",
                        (row["rank"], now, ahead["bundle_id"]),
                    )
            job = self._select(bundle_id)
            other = self._select(str(ahead["bundle_id"])) if ahead is not None else None
        if other is not None:
            self.events.changed(job)
            self.events.changed(other)
        return job

    # The outage mode.

    @property
    def all_paused(self) -> bool:
        """Whether everything is paused (outage mode; survives a restart)."""
        rows = self._db.query_values(
            "SELECT value FROM outbox_settings WHERE key = ?", (_PAUSED_ALL,)
        )
        return bool(rows) and rows[0][0] == "1"

    def pause_all(self) -> None:
        """Pauses everything: nothing is sent until :meth:`resume_all`, even after a restart.

        Jobs keep their own states; uploads in progress stop after their current chunk and go
        back in line.
        """
        self._set_setting(_PAUSED_ALL, "1")
        log.info("outbox: everything paused")

    def resume_all(self) -> None:
        """Ends :meth:`pause_all`; jobs go in their usual order."""
        self._set_setting(_PAUSED_ALL, "0")
        log.info("outbox: everything resumed")

    def _set_setting(self, key: str, value: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
