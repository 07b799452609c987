"""Accepting finished uploads into mailboxes, listing and acknowledging them, and crash recovery.

Finalising an upload checks its SHA-256 against the sender's declaration, then either drops it
(the recipient already got this bundle: client-made identifiers make resending harmless) or
moves the file durably into the recipient's mailbox and records the delivery. A delivery
record outlives the mailbox item, so an acknowledged bundle is still recognised as a duplicate.

Each step is ordered so that a crash between two of them leaves a state that :meth:`recover`
completes at the next start: a file is never half written in a mailbox, and an accepted bundle
is never lost.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from refplatform.db import Database
from refplatform.mailpages import cut_page
from refplatform.storage import Layout, iso_utc, move_durably, sha256_file
from refplatform.uploads import Upload

__all__ = ["MailboxItem", "Mailboxes", "Outcome"]

log = logging.getLogger(__name__)

_ITEM_QUERY = (
    "SELECT d.bundle_id, d.kind, d.size, d.sha256, d.sender_station, m.received_at"
    " FROM mailbox_items m JOIN deliveries d"
    " ON d.recipient_id = m.recipient_id AND d.bundle_id = m.bundle_id"
    " WHERE m.recipient_id = ?"
)


class Outcome(enum.Enum):
    """What finalising an upload did."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    GONE = "gone"


@dataclass(frozen=True)
class MailboxItem:
    """A bundle waiting in a mailbox."""

    bundle_id: str
    kind: str | None
    size: int
    sha256: str
    sender_station: str
    received_at: float

    def to_json(self) -> dict[str, Any]:
        """Returns the item as listed by the mailbox API."""
        return {
            "bundle_id": self.bundle_id,
            "kind": self.kind,
            "size": self.size,
            "sha256": self.sha256,
            "sender_station": self.sender_station,
            "received_at": iso_utc(self.received_at),
        }


class Mailboxes:
    """Finalises uploads and serves mailboxes. Safe to call from several threads."""

    def __init__(self, db: Database, layout: Layout, *, clock: Callable[[], float]) -> None:
        """Binds to a database and a data directory.

        Args:
            db: The platform database.
            layout: The data directory's paths.
            clock: Returns the current POSIX time.
        """
        self.db = db
        self.layout = layout
        self.clock = clock
        self._lock = threading.Lock()

    def finalise(self, upload: Upload) -> Outcome:
        """Verifies a fully received upload and delivers it (blocking: hashes the whole file)."""
        part = self.layout.part_path(upload.id)
        try:
            size = part.stat().st_size
            digest = sha256_file(part)
        except FileNotFoundError:
            return Outcome.GONE
        if size != upload.length or digest != upload.sha256:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM uploads WHERE id = ?", (upload.id,))
            part.unlink(missing_ok=True)
            log.warning("upload %s discarded: content does not match its SHA-256", upload.id)
            return Outcome.CHECKSUM_MISMATCH
        with self._lock:
            with self.db.connect() as conn:
                state = conn.execute(
                    "SELECT state FROM uploads WHERE id = ?", (upload.id,)
                ).fetchone()
                delivered = conn.execute(
                    "SELECT 1 FROM deliveries WHERE recipient_id = ? AND bundle_id = ?",
                    (upload.recipient_id, upload.bundle_id),
                ).fetchone()
            if state is None or state["state"] == "expired":
                return Outcome.GONE
            if state["state"] == "complete" or delivered is not None:
                self._complete(upload.id)
                part.unlink(missing_ok=True)
                log.info("upload %s dropped: bundle already delivered", upload.id)
                return Outcome.DUPLICATE
            move_durably(part, self.layout.mailbox_path(upload.recipient_id, upload.bundle_id))
            self._record(upload)
        log.info("upload %s accepted into a mailbox (%d bytes)", upload.id, size)
        return Outcome.ACCEPTED

    def _complete(self, upload_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE uploads SET state = 'complete' WHERE id = ?", (upload_id,))

    def _record(self, upload: Upload) -> None:
        now = self.clock()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO deliveries (recipient_id, bundle_id, sender_station, sha256, size,"
                " kind, state, accepted_at) VALUES (?, ?, ?, ?, ?, ?, 'accepted', ?)",
                (
                    upload.recipient_id,
                    upload.bundle_id,
                    upload.station_id,
                    upload.sha256,
                    upload.length,
                    upload.kind,
                    now,
                ),
            )
            conn.execute(
                "INSERT INTO mailbox_items (recipient_id, bundle_id, received_at) VALUES (?, ?, ?)",
                (upload.recipient_id, upload.bundle_id, now),
            )
            conn.execute("UPDATE uploads SET state = 'complete' WHERE id = ?", (upload.id,))

    def recover(self) -> None:
        """Completes what a crash interrupted; run once at start, before serving requests."""
        with self.db.connect() as conn:
            pending = [
                Upload.from_row(row)
                for row in conn.execute("SELECT * FROM uploads WHERE state = 'receiving'")
            ]
        for upload in pending:
            part = self.layout.part_path(upload.id)
            target = self.layout.mailbox_path(upload.recipient_id, upload.bundle_id)
            if part.exists() and part.stat().st_size >= upload.length:
                log.info("recovery: finalising upload %s", upload.id)
                self.finalise(upload)
            elif not part.exists() and target.exists():
                with self.db.connect() as conn:
                    delivered = conn.execute(
                        "SELECT 1 FROM deliveries WHERE recipient_id = ? AND bundle_id = ?",
                        (upload.recipient_id, upload.bundle_id),
                    ).fetchone()
                if delivered is not None:
                    self._complete(upload.id)
                elif sha256_file(target) == upload.sha256:
                    log.info("recovery: recording the delivery of upload %s", upload.id)
                    self._record(upload)
        self._remove_acknowledged_leftovers()

    def _remove_acknowledged_leftovers(self) -> None:
        with self.db.connect() as conn:
            for path in self.layout.mailboxes.glob("*/*.bin"):
                key = (path.parent.name, path.stem)
                if conn.execute(
                    "SELECT 1 FROM mailbox_items WHERE recipient_id = ? AND bundle_id = ?", key
                ).fetchone():
                    continue
                if conn.execute(
                    "SELECT 1 FROM deliveries WHERE recipient_id = ? AND bundle_id = ?", key
                ).fetchone():
                    path.unlink(missing_ok=True)
                    log.info("recovery: removed an acknowledged bundle's file")
                else:
                    log.warning("recovery: unrecorded file left alone in a mailbox: %s", path)

    def items(self, recipient_id: str) -> list[MailboxItem]:
        """Returns a mailbox's unacknowledged items, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(_ITEM_QUERY + " ORDER BY m.seq", (recipient_id,)).fetchall()
        return [_item(row) for row in rows]

    def page(
        self, recipient_id: str, after: int, limit: int
    ) -> tuple[list[MailboxItem], int | None]:
        """Up to ``limit`` unacknowledged items positioned after ``after``, oldest first, and
        the position of the last one if more follow, else ``None`` (``refplatform.mailpages``)."""
        with self.db.connect() as conn:
            rows = conn.execute(
                _ITEM_QUERY.replace("SELECT ", "SELECT m.seq, ", 1)
                + " AND m.seq > ? ORDER BY m.seq LIMIT ?",
                (recipient_id, after, limit + 1),
            ).fetchall()
        return cut_page(rows, limit, _item)

    def open_item(self, recipient_id: str, bundle_id: str) -> tuple[MailboxItem, BinaryIO] | None:
        """Returns an item and its open file, or ``None`` if it is not (or no longer) there."""
        with self.db.connect() as conn:
            row = conn.execute(_ITEM_QUERY + " AND m.bundle_id = ?", (recipient_id, bundle_id))
            found = row.fetchone()
        if found is None:
            return None
        try:
            handle = self.layout.mailbox_path(recipient_id, bundle_id).open("rb")
        except FileNotFoundError:  # acknowledged meanwhile
            return None
        return _item(found), handle

    def acknowledge(self, recipient_id: str, bundle_id: str) -> bool:
        """Removes an item from its mailbox; returns ``False`` if it was never delivered there."""
        with self.db.transaction() as conn:
            delivered = conn.execute(
                "SELECT 1 FROM deliveries WHERE recipient_id = ? AND bundle_id = ?",
                (recipient_id, bundle_id),
            ).fetchone()
            conn.execute(
                "DELETE FROM mailbox_items WHERE recipient_id = ? AND bundle_id = ?",
                (recipient_id, bundle_id),
            )
        if delivered is None:
            return False
        self.layout.mailbox_path(recipient_id, bundle_id).unlink(missing_ok=True)
        return True

    def delivery(
        self, station_id: str, bundle_id: str, recipient_id: str | None = None
    ) -> dict[str, Any] | None:
        """Returns a delivery record of a bundle a station sent (the oldest if several)."""
        query = "SELECT * FROM deliveries WHERE sender_station = ? AND bundle_id = ?"
        params: list[str] = [station_id, bundle_id]
        if recipient_id is not None:
            query += " AND recipient_id = ?"
            params.append(recipient_id)
        with self.db.connect() as conn:
            row = conn.execute(query + " ORDER BY accepted_at, rowid LIMIT 1", params).fetchone()
        if row is None:
            return None
        return {
            "bundle_id": row["bundle_id"],
            "recipient": row["recipient_id"],
            "state": row["state"],
            "sha256": row["sha256"],
            "accepted_at": iso_utc(row["accepted_at"]),
        }


def _item(row: sqlite3.Row) -> MailboxItem:
    return MailboxItem(**{name: row[name] for name in MailboxItem.__dataclass_fields__})
