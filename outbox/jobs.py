"""Job states and the immutable job snapshot that the queue hands out."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from enum import StrEnum


class JobState(StrEnum):
    """Where a job stands.

    ``failed`` means quarantined: retrying on its own would not help, a human must look (and may
    :meth:`~outbox.queue.Outbox.retry_now` or cancel it).
    """

    PENDING = "pending"
    SENDING = "sending"
    RETRY = "retry"
    PAUSED = "paused"
    FAILED = "failed"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


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
        next_attempt_at: When a ``retry`` job is due (clock seconds), else ``None``.
        upload_url: The tus upload in progress, if any.
        last_error_code: One of :data:`outbox.errors.ERROR_CODES`, or ``None``.
        last_error_detail: Technical detail of the last error.
        created_at: When it was queued.
        updated_at: When the row last changed.
        delivered_at: When the platform confirmed acceptance.
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


JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Job))


def job_from_row(row: sqlite3.Row) -> Job:
    """Builds a :class:`Job` from a ``jobs`` row."""
    values = {column: row[column] for column in JOB_COLUMNS}
    values["state"] = JobState(values["state"])
    return Job(**values)
