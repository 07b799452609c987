"""Uploads, their pieces, deliveries and mailboxes in PostgreSQL (the distributed platform).

An upload's **committed offset** is a column, advanced only by compare-and-set together with
the row of the piece that holds those bytes, by the upload's one writer across replicas
(:class:`refplatform.pgwriter.WriterLock`: an advisory lock, and each piece committed on its
connection in one statement). ``HEAD`` on any replica reads that column.

**Delivery** (:meth:`PgUploads.deliver`) is one transaction: the delivery record, the mailbox
item and the upload's state change commit together or not at all; the delivery's primary key
(recipient, bundle) makes a second delivery of the same bundle a duplicate, whichever replica
finishes it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg

from refplatform.mailbox import MailboxItem, Outcome
from refplatform.mailpages import cut_page
from refplatform.pgrecord import PgRecord, Row, lock_key
from refplatform.pgwriter import UPLOAD_FIELDS, upload_of
from refplatform.storage import iso_utc
from refplatform.uploads import BundleTaken, UnknownRecipient, Upload, UploadMetadata

__all__ = ["PgUploads", "Piece"]

log = logging.getLogger(__name__)

_ITEM_QUERY = (
    "SELECT d.bundle_id, d.kind, d.size, d.sha256, d.sender_station, m.received_at, d.blob_id"
    " FROM mailbox_items m JOIN deliveries d"
    " ON d.recipient_id = m.recipient_id AND d.bundle_id = m.bundle_id"
    " WHERE m.recipient_id = %s"
)


@dataclass(frozen=True)
class Piece:
    """Bytes ``[start, start + size)`` of a bundle, stored whole as one object."""

    start: int
    size: int
    key: str


def _item(row: Row) -> MailboxItem:
    return MailboxItem(**{name: row[name] for name in MailboxItem.__dataclass_fields__})


class PgUploads:
    """The record of uploads and mailboxes. Thread-safe (each call borrows a connection)."""

    def __init__(self, record: PgRecord) -> None:
        """Binds to the database."""
        self.record = record

    # Uploads ---------------------------------------------------------------------------------

    def create(
        self, station_id: str, length: int, meta: UploadMetadata, raw: str, now: float, ttl: float
    ) -> Upload:
        """Records a new upload (no object is made until bytes arrive).

        Raises:
            UnknownRecipient: If the recipient is not registered.
            BundleTaken: If another station already delivered this bundle to this recipient.
        """
        upload = Upload(
            id=secrets.token_hex(16),
            station_id=station_id,
            recipient_id=meta.recipient,
            bundle_id=meta.bundle_id,
            sha256=meta.sha256,
            kind=meta.kind,
            length=length,
            metadata=raw,
            state="receiving",
            created_at=now,
            expires_at=now + ttl,
        )
        with self.record.transaction() as conn:
            known = conn.execute("SELECT 1 FROM recipients WHERE id = %s", (meta.recipient,))
            if known.fetchone() is None:
                raise UnknownRecipient(meta.recipient)
            taken = conn.execute(
                "SELECT sender_station FROM deliveries WHERE recipient_id = %s AND bundle_id = %s",
                (meta.recipient, meta.bundle_id),
            ).fetchone()
            if taken is not None and taken["sender_station"] != station_id:
                raise BundleTaken(meta.bundle_id)
            names = [*UPLOAD_FIELDS, "updated_at"]
            values = [getattr(upload, name) for name in UPLOAD_FIELDS] + [now]
            conn.execute(
                f"INSERT INTO uploads ({', '.join(names)})"
                f" VALUES ({', '.join(['%s'] * len(names))})",
                values,
            )
        return upload

    def get(self, upload_id: str) -> tuple[Upload, int] | None:
        """An upload and its committed offset, or ``None``."""
        with self.record.connect() as conn:
            row = conn.execute("SELECT * FROM uploads WHERE id = %s", (upload_id,)).fetchone()
        return None if row is None else (upload_of(row), int(row["committed"]))

    def saved_state(self, upload_id: str) -> tuple[int, bytes | None] | None:
        """An upload's committed offset and the SHA-256 state saved with it, or ``None``."""
        with self.record.connect() as conn:
            row = conn.execute(
                "SELECT committed, sha256_state FROM uploads WHERE id = %s", (upload_id,)
            ).fetchone()
        if row is None:
            return None
        state = row["sha256_state"]
        return int(row["committed"]), None if state is None else bytes(state)

    def pieces(self, blob_id: str) -> list[Piece]:
        """A bundle's pieces, in order."""
        with self.record.connect() as conn:
            rows = conn.execute(
                "SELECT start_offset, size, object_key FROM pieces WHERE blob_id = %s"
                " ORDER BY start_offset",
                (blob_id,),
            ).fetchall()
        return [Piece(int(r["start_offset"]), int(r["size"]), str(r["object_key"])) for r in rows]

    def _drop_pieces(self, conn: psycopg.Connection[Row], blob_id: str) -> list[str]:
        rows = conn.execute(
            "DELETE FROM pieces WHERE blob_id = %s RETURNING object_key", (blob_id,)
        ).fetchall()
        return [str(row["object_key"]) for row in rows]

    def remove(self, upload_id: str) -> list[str]:
        """Deletes an upload (termination, SHA-256 mismatch); returns the objects to remove.

        The pieces of a completed upload are its delivered bundle's: they stay (the mailbox
        item owns them until it is acknowledged).
        """
        with self.record.transaction() as conn:
            row = conn.execute(
                "DELETE FROM uploads WHERE id = %s RETURNING state", (upload_id,)
            ).fetchone()
            if row is None or row["state"] != "receiving":
                return []
            return self._drop_pieces(conn, upload_id)

    def expire(self, upload_id: str) -> list[str]:
        """Marks a receiving upload expired and drops its pieces' rows; returns their objects."""
        with self.record.transaction() as conn:
            cursor = conn.execute(
                "UPDATE uploads SET state = 'expired' WHERE id = %s AND state = 'receiving'",
                (upload_id,),
            )
            if cursor.rowcount != 1:
                return []
            keys = self._drop_pieces(conn, upload_id)
        log.info("upload %s expired", upload_id)
        return keys

    def deliver(self, upload: Upload, now: float) -> tuple[Outcome, list[str]]:
        """Records the delivery of a fully received, verified upload: exactly once.

        Returns:
            ``ACCEPTED`` (now, or already by another request), ``DUPLICATE`` (the bundle was
            delivered from another upload: this one's objects are returned for removal) or
            ``GONE`` (expired or removed meanwhile).
        """
        with self.record.transaction() as conn:
            row = conn.execute(
                "SELECT state, committed FROM uploads WHERE id = %s FOR UPDATE", (upload.id,)
            ).fetchone()
            if row is None or row["state"] == "expired" or row["committed"] != upload.length:
                return Outcome.GONE, []
            if row["state"] == "complete":
                mine = conn.execute(
                    "SELECT 1 FROM deliveries WHERE recipient_id = %s AND bundle_id = %s"
                    " AND blob_id = %s",
                    (upload.recipient_id, upload.bundle_id, upload.id),
                ).fetchone()
                return (Outcome.ACCEPTED if mine else Outcome.DUPLICATE), []
            inserted = conn.execute(
                "INSERT INTO deliveries (recipient_id, bundle_id, sender_station, sha256, size,"
                " kind, state, accepted_at, blob_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'accepted', %s, %s)"
                " ON CONFLICT (recipient_id, bundle_id) DO NOTHING",
                (
                    upload.recipient_id,
                    upload.bundle_id,
                    upload.station_id,
                    upload.sha256,
                    upload.length,
                    upload.kind,
                    now,
                    upload.id,
                ),
            ).rowcount
            conn.execute(
                "UPDATE uploads SET state = 'complete', updated_at = %s WHERE id = %s",
                (now, upload.id),
            )
            if inserted != 1:
                return Outcome.DUPLICATE, self._drop_pieces(conn, upload.id)
            # One insert at a time per mailbox, held to commit: a mailbox's positions become
            # visible in order, so a page cursor never passes an item not yet committed.
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s)", (lock_key(f"mailbox\0{upload.recipient_id}"),)
            )
            conn.execute(
                "INSERT INTO mailbox_items (recipient_id, bundle_id, received_at)"
                " VALUES (%s, %s, %s)",
                (upload.recipient_id, upload.bundle_id, now),
            )
        return Outcome.ACCEPTED, []

    def unfinished(self, before: float) -> list[Upload]:
        """Receiving uploads holding every byte, untouched since ``before``: finalisations a
        dead replica left undone."""
        with self.record.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM uploads WHERE state = 'receiving' AND committed = length"
                " AND updated_at < %s LIMIT 100",
                (before,),
            ).fetchall()
        return [upload_of(row) for row in rows]

    def overdue(self, now: float) -> list[str]:
        """Receiving uploads whose time ran out."""
        with self.record.connect() as conn:
            rows = conn.execute(
                "SELECT id FROM uploads WHERE state = 'receiving' AND expires_at <= %s LIMIT 1000",
                (now,),
            ).fetchall()
        return [str(row["id"]) for row in rows]

    def purge(self, now: float, ttl: float) -> None:
        """Forgets finished records past their expiry (expired ones ``ttl`` longer, for 410)."""
        with self.record.transaction() as conn:
            conn.execute(
                "DELETE FROM uploads WHERE (state = 'complete' AND expires_at <= %s)"
                " OR (state = 'expired' AND expires_at + %s <= %s)",
                (now, ttl, now),
            )

    def known_keys(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` the record refers to."""
        with self.record.connect() as conn:
            rows = conn.execute(
                "SELECT object_key FROM pieces WHERE object_key = ANY(%s)", (keys,)
            ).fetchall()
        return {str(row["object_key"]) for row in rows}

    # Mailboxes -------------------------------------------------------------------------------

    def items(self, recipient_id: str) -> list[MailboxItem]:
        """A mailbox's unacknowledged items, oldest first."""
        with self.record.connect() as conn:
            rows = conn.execute(_ITEM_QUERY + " ORDER BY m.seq", (recipient_id,)).fetchall()
        return [_item(row) for row in rows]

    def page(
        self, recipient_id: str, after: int, limit: int
    ) -> tuple[list[MailboxItem], int | None]:
        """Up to ``limit`` items positioned after ``after``, oldest first, and the position of
        the last one if more follow (else ``None``): :mod:`refplatform.mailpages`."""
        with self.record.connect() as conn:
            rows = conn.execute(
                _ITEM_QUERY.replace("SELECT ", "SELECT m.seq, ", 1)
                + " AND m.seq > %s ORDER BY m.seq LIMIT %s",
                (recipient_id, after, limit + 1),
            ).fetchall()
        return cut_page(rows, limit, _item)

    def item(self, recipient_id: str, bundle_id: str) -> tuple[MailboxItem, str] | None:
        """An item and the id of the blob holding its bytes, or ``None``."""
        with self.record.connect() as conn:
            row = conn.execute(
                _ITEM_QUERY + " AND m.bundle_id = %s", (recipient_id, bundle_id)
            ).fetchone()
        return None if row is None else (_item(row), str(row["blob_id"]))

    def acknowledge(self, recipient_id: str, bundle_id: str) -> tuple[bool, list[str]]:
        """Removes an item; returns whether it was ever delivered, and objects to remove."""
        with self.record.transaction() as conn:
            delivered = conn.execute(
                "SELECT blob_id FROM deliveries WHERE recipient_id = %s AND bundle_id = %s",
                (recipient_id, bundle_id),
            ).fetchone()
            if delivered is None:
                return False, []
            removed = conn.execute(
                "DELETE FROM mailbox_items WHERE recipient_id = %s AND bundle_id = %s",
                (recipient_id, bundle_id),
            ).rowcount
            keys = self._drop_pieces(conn, str(delivered["blob_id"])) if removed else []
        return True, keys

    def delivery(
        self, station_id: str, bundle_id: str, recipient_id: str | None
    ) -> dict[str, Any] | None:
        """The oldest delivery of a bundle a station sent, as the API shows it."""
        query = "SELECT * FROM deliveries WHERE sender_station = %s AND bundle_id = %s"
        params: list[str] = [station_id, bundle_id]
        if recipient_id is not None:
            query += " AND recipient_id = %s"
            params.append(recipient_id)
        with self.record.connect() as conn:
            row = conn.execute(query + " ORDER BY accepted_at LIMIT 1", params).fetchone()
        if row is None:
            return None
        return {
            "bundle_id": row["bundle_id"],
            "recipient": row["recipient_id"],
            "state": row["state"],
            "sha256": row["sha256"],
            "accepted_at": iso_utc(row["accepted_at"]),
        }

    def counts(self) -> dict[str, int]:
        """Uploads in progress, mailbox items and deliveries (for status and tests)."""
        with self.record.connect() as conn:
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM uploads WHERE state = 'receiving') AS receiving,"
                " (SELECT COUNT(*) FROM mailbox_items) AS items,"
                " (SELECT COUNT(*) FROM deliveries) AS deliveries,"
                " (SELECT COUNT(*) FROM pieces) AS pieces"
            ).fetchone()
        assert row is not None
        return {name: int(value) for name, value in row.items()}
