"""Checkpoints of the stations' audit journals: the platform's own record, append-only.

A station's audit journal (``<profile>/audit.jsonl`` on the workstation) is hash-chained, but
whoever can write the workstation's files could rewrite it whole. So the station sends, now and
then, a checkpoint of its journal's head: *entry number* ``count`` *had hash* ``head`` (with the
station's ``time``, and optionally the CMS signature of a person logged in at the station). The
platform keeps each one with its own reception time, and never changes or removes one (SQLite
triggers refuse it too). It refuses a checkpoint that goes backwards:

- fewer entries than the station's last checkpoint (``checkpoint_backwards``);
- the same number of entries with another hash (``checkpoint_contradicts``).

The same checkpoint sent again (an answer lost on the way) is answered with the one kept. A
checkpoint further on is accepted without proof that it extends the last one (that proof would
need the journal's entries, which stay on the workstation): the workstation's
``passavant audit verify`` compares its journal with *every* checkpoint kept here, so a journal
rewritten and then anchored again still contradicts the older checkpoints.

The platform neither reads nor checks the signature (it relays it, as it relays bundles); the
workstation verifies it against its own trust anchors. A station reads and writes only its own
checkpoints: the station is the one the bearer token names, never a parameter.
"""

from __future__ import annotations

import base64
import binascii
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from refplatform.db import Database
from refplatform.storage import iso_utc

__all__ = [
    "DEFAULT_QUOTA",
    "MAX_BODY_BYTES",
    "MAX_LISTED",
    "Checkpoint",
    "CheckpointRefused",
    "Checkpoints",
    "parse_checkpoint",
]

MAX_BODY_BYTES = 16 * 1024
"""A checkpoint's request body: four small fields and a CMS signature (about 3 KB)."""
MAX_SIGNATURE_CHARS = 12 * 1024
"""The signature's base64 text (a DER SignedData with its signer's certificate)."""
DEFAULT_QUOTA = 100_000
"""Checkpoints kept per station: at one a minute while its journal grows (the workstation's
pace), years of a unit's work; past it the platform refuses more (``checkpoint_quota``)."""
MAX_LISTED = 1_000
"""Checkpoints in one page of ``GET /api/v1/journal/checkpoints``."""
MAX_COUNT = 2**53 - 1  # what a JSON number holds exactly everywhere

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_FIELDS = {"count", "head", "time", "signature"}


class CheckpointRefused(Exception):
    """A checkpoint the platform will not keep: ``status``, ``code`` and an English sentence."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint as kept: the station's claim and the platform's reception time."""

    count: int
    head: str
    time: str
    signature: str | None
    received_at: float

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as the API returns it."""
        return {
            "count": self.count,
            "head": self.head,
            "time": self.time,
            "signature": self.signature,
            "received_at": iso_utc(self.received_at),
        }


def parse_checkpoint(document: object) -> tuple[int, str, str, str | None]:
    """``(count, head, time, signature)`` from a request's JSON document.

    Raises:
        CheckpointRefused: 400 ``bad_checkpoint`` for anything else than
            ``{"count": 1.., "head": 64 lowercase hex, "time": "YYYY-MM-DDTHH:MM:SSZ",
            "signature": base64 or null (optional)}``.
    """

    def bad(why: str) -> CheckpointRefused:
        return CheckpointRefused(400, "bad_checkpoint", why)

    if not isinstance(document, dict) or not {"count", "head", "time"} <= set(document):
        raise bad("A checkpoint is an object with count, head and time.")
    if set(document) - _FIELDS:
        raise bad("A checkpoint has only count, head, time and signature.")
    count, head, when = document["count"], document["head"], document["time"]
    signature = document.get("signature")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise bad("count must be a positive integer.")
    if not isinstance(head, str) or not _HEX64.fullmatch(head):
        raise bad("head must be 64 lowercase hexadecimal digits.")
    if not isinstance(when, str) or not _TIME.fullmatch(when):
        raise bad("time must read YYYY-MM-DDTHH:MM:SSZ.")
    if signature is not None:
        if not isinstance(signature, str) or not 0 < len(signature) <= MAX_SIGNATURE_CHARS:
            raise bad(f"signature must be base64 of at most {MAX_SIGNATURE_CHARS} characters.")
        try:
            base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise bad("signature must be base64.") from None
    return count, head, when, signature


class Checkpoints:
    """The stations' checkpoints in the platform database. Safe to call from several threads."""

    def __init__(
        self, db: Database, *, clock: Callable[[], float], quota: int = DEFAULT_QUOTA
    ) -> None:
        """Binds to the database.

        Args:
            db: The platform database.
            clock: Returns the current POSIX time (the reception time kept).
            quota: Checkpoints kept per station at most.
        """
        if quota <= 0:
            raise ValueError("quota must be positive")
        self.db = db
        self.clock = clock
        self.quota = quota

    def add(
        self, station: str, count: int, head: str, when: str, signature: str | None
    ) -> tuple[Checkpoint, bool]:
        """Keeps a checkpoint of ``station``'s journal.

        Returns:
            The checkpoint kept, and whether it is new (``False``: the same one was already
            the station's last).

        Raises:
            CheckpointRefused: 409 ``checkpoint_backwards`` or ``checkpoint_contradicts``;
                507 ``checkpoint_quota``.
        """
        with self.db.transaction() as conn:  # BEGIN IMMEDIATE: one writer at a time
            last = conn.execute(
                "SELECT count, head, station_time, signature, received_at"
                " FROM journal_checkpoints WHERE station_id = ? ORDER BY count DESC LIMIT 1",
                (station,),
            ).fetchone()
            if last is not None:
                kept = _checkpoint(last)
                if count < kept.count:
                    raise CheckpointRefused(
                        409,
                        "checkpoint_backwards",
                        f"This station's journal was anchored at {kept.count} entries;"
                        f" a checkpoint of {count} goes backwards.",
                    )
                if count == kept.count:
                    if head != kept.head:
                        raise CheckpointRefused(
                            409,
                            "checkpoint_contradicts",
                            f"Entry {count} of this station's journal was anchored with"
                            " another hash.",
                        )
                    return kept, False
            total = conn.execute(
                "SELECT COUNT(*) FROM journal_checkpoints WHERE station_id = ?", (station,)
            ).fetchone()[0]
            if int(total) >= self.quota:
                raise CheckpointRefused(
                    507,
                    "checkpoint_quota",
                    f"This station has {total} checkpoints, the most the platform keeps.",
                )
            received = self.clock()
            try:
                conn.execute(
                    "INSERT INTO journal_checkpoints (station_id, count, head, station_time,"
                    " signature, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (station, count, head, when, signature, received),
                )
            except sqlite3.IntegrityError:  # pragma: no cover - the checks above run first
                raise CheckpointRefused(
                    409, "checkpoint_contradicts", "This entry was anchored already."
                ) from None
        return Checkpoint(count, head, when, signature, received), True

    def list(self, station: str, *, after: int = 0, limit: int = MAX_LISTED) -> list[Checkpoint]:
        """``station``'s checkpoints anchoring more than ``after`` entries, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT count, head, station_time, signature, received_at"
                " FROM journal_checkpoints WHERE station_id = ? AND count > ?"
                " ORDER BY count LIMIT ?",
                (station, after, max(0, min(limit, MAX_LISTED))),
            ).fetchall()
        return [_checkpoint(row) for row in rows]

    def total(self, station: str) -> int:
        """How many checkpoints ``station`` has."""
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM journal_checkpoints WHERE station_id = ?", (station,)
            ).fetchone()
        return int(row[0])


def _checkpoint(row: sqlite3.Row) -> Checkpoint:
    return Checkpoint(
        count=int(row["count"]),
        head=str(row["head"]),
        time=str(row["station_time"]),
        signature=None if row["signature"] is None else str(row["signature"]),
        received_at=float(row["received_at"]),
    )
