"""Job states, priorities and the immutable job snapshot that the queue hands out."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum


class JobState(StrEnum):
    """Where a job stands.

    The names are the queue's vocabulary; the values are the strings stored in the database
    and compared by the UI, kept from schema 1 so saved queues and callers keep working
    (``QUEUED`` is stored as ``"pending"``, ``WAITING_RETRY`` as ``"retry"``, ``QUARANTINED``
    as ``"failed"``). The old names remain as aliases of the same members.

    - ``QUEUED``: waiting for a free upload slot (never tried, resumed, or retried now).
    - ``SENDING``: an upload slot is working on it.
    - ``WAITING_RETRY``: an attempt failed for a reason that may go away; due again at
      ``next_attempt_at``.
    - ``PAUSED``: held by the operator (resumes where the platform left off).
    - ``QUARANTINED``: refused for good (the platform's reason is stored); a human must look,
      and may :meth:`~outbox.queue.Outbox.retry_now` or cancel it. Never blocks the others.
    - ``DELIVERED``: the platform said it stored the bundle in the recipient's mailbox.
    - ``ACKNOWLEDGED``: a signed receipt from the recipient came back (see
      :meth:`~outbox.queue.Outbox.acknowledge`).
    - ``CANCELLED``: cancelled by the operator, with a reason.
    """

    QUEUED = "pending"
    SENDING = "sending"
    WAITING_RETRY = "retry"
    PAUSED = "paused"
    QUARANTINED = "failed"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"
    # Names of schema 1, same members.
    PENDING = "pending"
    RETRY = "retry"
    FAILED = "failed"


#: States in which a job still has to reach the platform (it holds a spool file).
ACTIVE_STATES: frozenset[JobState] = frozenset(
    {JobState.QUEUED, JobState.SENDING, JobState.WAITING_RETRY, JobState.PAUSED}
)
#: States in which the platform holds the bundle.
DONE_STATES: frozenset[JobState] = frozenset({JobState.DELIVERED, JobState.ACKNOWLEDGED})


class Priority(StrEnum):
    """Send order between jobs: every due urgent job goes before any normal one."""

    NORMAL = "normal"
    URGENT = "urgent"


@dataclass(frozen=True)
class Job:
    """A snapshot of one queued bundle (no clinical content).

    Attributes:
        bundle_id: The client-made id; the platform drops duplicates of it.
        recipient_id: The platform id of the recipient.
        recipient_label: The recipient's name as the operator knows it.
        kind: The bundle kind (e.g. request, reply).
        size: Ciphertext size in bytes.
        sha256: Hex SHA-256 of the ciphertext.
        state: See :class:`JobState`.
        attempts: Failed attempts in a row since the last chunk that got through.
        bytes_sent: Bytes the platform acknowledged.
        next_attempt_at: When a ``waiting_retry`` job is due (clock seconds), else ``None``.
        upload_url: The tus upload in progress, if any.
        last_error_code: One of :data:`outbox.errors.ERROR_CODES`, or ``None``.
        last_error_detail: Technical detail of the last error (the platform's own reason when
            it gave one), for the "details" button and the logs.
        created_at: When it was queued.
        updated_at: When the row last changed.
        delivered_at: When the platform confirmed acceptance.
        priority: ``"normal"`` or ``"urgent"`` (see :class:`Priority`).
        rank: Send order within a priority (smaller goes first; see
            :meth:`~outbox.queue.Outbox.move_up`).
        cancel_reason: Why the operator cancelled it.
        receipt_id: The id of the signed receipt that acknowledged it.
        acknowledged_at: When that receipt was recorded.
    """

    bundle_id: str
    recipient_id: str
    recipient_label: str
    kind: str
    size: int
    sha256: str
    state: JobState
    attempts: int
    bytes_sent: int
    next_attempt_at: float | None
    upload_url: str | None
    last_error_code: str | None
    last_error_detail: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None
    priority: str = Priority.NORMAL.value
    rank: float = 0.0
    cancel_reason: str | None = None
    receipt_id: str | None = None
    acknowledged_at: float | None = None


@dataclass(frozen=True)
class JobSnapshot(Job):
    """A :class:`Job` as the outbox hands it out and publishes it, with its transfer rate.

    Being a ``Job``, it can be used wherever a job is expected.

    Attributes:
        rate: Smoothed upload rate in bytes per second (0 when unknown or not sending).
        time_left: Estimated seconds until the last byte is sent, while sending at a known
            rate, else ``None``.
    """

    rate: float = 0.0
    time_left: float | None = None

    @property
    def total(self) -> int:
        """Bytes to send in all (the ciphertext size)."""
        return self.size

    @classmethod
    def of(cls, job: Job, rate: float = 0.0) -> JobSnapshot:
        """Builds the snapshot of ``job`` at ``rate`` bytes/s (time left follows from it)."""
        values = {name: getattr(job, name) for name in JOB_COLUMNS}
        rate = rate if job.state is JobState.SENDING and rate > 0 else 0.0
        left = (job.size - job.bytes_sent) / rate if rate > 0 else None
        return cls(**values, rate=rate, time_left=left)


JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Job))
#: The columns of :data:`JOB_COLUMNS`, ready for a ``SELECT``.
SELECT_COLUMNS = ", ".join(JOB_COLUMNS)
_STATE_INDEX = JOB_COLUMNS.index("state")
_STATES: dict[str, JobState] = {state.value: state for state in JobState}


def send_order_key(job: Job) -> tuple[bool, float, float]:
    """Sorts jobs in send order, as :class:`outbox.queue.Outbox` orders them in SQL: urgent
    first, then by rank (then by age, for equal ranks)."""
    return (job.priority != Priority.URGENT, job.rank, job.created_at)


def job_from_values(values: Sequence[object]) -> JobSnapshot:
    """Builds a job from column values in :data:`JOB_COLUMNS` order (no rate)."""
    row = list(values)
    row[_STATE_INDEX] = _STATES[str(row[_STATE_INDEX])]
    return JobSnapshot(*row)  # type: ignore[arg-type]


def job_from_row(row: sqlite3.Row) -> JobSnapshot:
    """Builds a :class:`Job` from a ``jobs`` row (selected with ``*`` or the job columns)."""
    return job_from_values([row[column] for column in JOB_COLUMNS])
