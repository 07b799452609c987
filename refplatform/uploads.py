"""Unfinished tus uploads: records, part files, expiration, and a busy flag per upload.

The offset of an upload is the size of its part file: whatever was written survives a
disconnect or a ``kill -9`` and is what ``HEAD`` reports, so the two can never disagree.
An upload is ``receiving`` until its last byte, then ``complete`` (its bytes are in a mailbox or
were dropped as a duplicate), or ``expired`` when its time ran out. Finished records are kept
until the original expiry date (expired ones a while longer, to answer 410), then purged.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from refplatform.db import Database
from refplatform.storage import Layout

__all__ = [
    "BundleTaken",
    "UnknownRecipient",
    "Upload",
    "UploadGone",
    "UploadMetadata",
    "UploadNotFound",
    "UploadStore",
]

log = logging.getLogger(__name__)


class UploadNotFound(LookupError):
    """No such upload for this station (or it was terminated)."""


class UploadGone(LookupError):
    """The upload expired; its bytes were removed."""


class UnknownRecipient(LookupError):
    """The recipient named in the metadata is not registered."""


class BundleTaken(ValueError):
    """Another station already delivered a bundle with this identifier to this recipient."""


@dataclass(frozen=True)
class UploadMetadata:
    """What a sender declares when it creates an upload."""

    bundle_id: str
    recipient: str
    sha256: str
    kind: str | None


@dataclass(frozen=True)
class Upload:
    """One upload's record."""

    id: str
    station_id: str
    recipient_id: str
    bundle_id: str
    sha256: str
    kind: str | None
    length: int
    metadata: str
    state: str
    created_at: float
    expires_at: float

    @property
    def receiving(self) -> bool:
        """Whether bytes are still expected."""
        return self.state == "receiving"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Upload:
        """Builds an upload from a row of the ``uploads`` table."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class UploadStore:
    """Creates, finds, expires and removes uploads. Safe to call from several threads."""

    def __init__(
        self, db: Database, layout: Layout, *, ttl: float, clock: Callable[[], float]
    ) -> None:
        """Binds the store to a database and a data directory.

        Args:
            db: The platform database.
            layout: The data directory's paths.
            ttl: Seconds an upload may stay unfinished after its creation.
            clock: Returns the current POSIX time (injectable for tests).
        """
        self.db = db
        self.layout = layout
        self.ttl = ttl
        self.clock = clock
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()

    def claim(self, upload_id: str) -> bool:
        """Marks an upload as being written; returns ``False`` if it already is."""
        with self._busy_lock:
            if upload_id in self._busy:
                return False
            self._busy.add(upload_id)
            return True

    def release(self, upload_id: str) -> None:
        """Ends a :meth:`claim`."""
        with self._busy_lock:
            self._busy.discard(upload_id)

    def _is_busy(self, upload_id: str) -> bool:
        with self._busy_lock:
            return upload_id in self._busy

    def create(self, station_id: str, length: int, meta: UploadMetadata, raw: str) -> Upload:
        """Records a new upload and creates its empty part file.

        Raises:
            UnknownRecipient: If ``meta.recipient`` is not registered.
            BundleTaken: If another station already delivered this bundle to this recipient.
        """
        now = self.clock()
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
            expires_at=now + self.ttl,
        )
        with self.db.transaction() as conn:
            known = conn.execute("SELECT 1 FROM recipients WHERE id = ?", (meta.recipient,))
            if known.fetchone() is None:
                raise UnknownRecipient(meta.recipient)
            taken = conn.execute(
                "SELECT sender_station FROM deliveries WHERE recipient_id = ? AND bundle_id = ?",
                (meta.recipient, meta.bundle_id),
            ).fetchone()
            if taken is not None and taken["sender_station"] != station_id:
                raise BundleTaken(meta.bundle_id)
            names = list(Upload.__dataclass_fields__)
            conn.execute(
                f"INSERT INTO uploads ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [getattr(upload, name) for name in names],
            )
        # Created after the commit: a part file on disk always has a record (see sweep).
        self.layout.part_path(upload.id).touch()
        log.info("upload %s created (%d bytes)", upload.id, length)
        return upload

    def get(self, upload_id: str, station_id: str) -> Upload:
        """Returns a station's upload, expiring it first if its time ran out.

        Raises:
            UploadNotFound: If there is no such upload for this station.
            UploadGone: If the upload expired.
        """
        with self.db.connect() as conn:
            row = conn.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        if row is None or row["station_id"] != station_id:
            raise UploadNotFound(upload_id)
        upload = Upload.from_row(row)
        if upload.receiving and upload.expires_at <= self.clock() and not self._is_busy(upload.id):
            self._expire(upload.id)
            raise UploadGone(upload_id)
        if upload.state == "expired":
            raise UploadGone(upload_id)
        return upload

    def offset(self, upload: Upload) -> int:
        """Returns how many bytes of the upload the platform holds."""
        if not upload.receiving:
            return upload.length
        try:
            return self.layout.part_path(upload.id).stat().st_size
        except FileNotFoundError:
            return 0

    def truncate(self, upload: Upload, size: int) -> None:
        """Cuts the part file back to ``size`` bytes (to undo a rejected request body)."""
        with self.layout.part_path(upload.id).open("r+b") as handle:
            handle.truncate(size)

    def remove(self, upload_id: str) -> None:
        """Deletes an upload's record, then its part file (termination, checksum failure)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        self.layout.part_path(upload_id).unlink(missing_ok=True)

    def _expire(self, upload_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE uploads SET state = 'expired' WHERE id = ? AND state = 'receiving'",
                (upload_id,),
            )
        self.layout.part_path(upload_id).unlink(missing_ok=True)
        log.info("upload %s expired", upload_id)

    def sweep(self) -> int:
        """Expires overdue uploads, purges old records and stray part files.

        Returns:
            How many uploads expired.
        """
        now = self.clock()
        with self.db.connect() as conn:
            due = [
                str(row["id"])
                for row in conn.execute(
                    "SELECT id FROM uploads WHERE state = 'receiving' AND expires_at <= ?", (now,)
                )
            ]
        expired = [upload_id for upload_id in due if not self._is_busy(upload_id)]
        for upload_id in expired:
            self._expire(upload_id)
        parts = list(self.layout.uploads.glob("*.part"))
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM uploads WHERE (state = 'complete' AND expires_at <= ?)"
                " OR (state = 'expired' AND expires_at + ? <= ?)",
                (now, self.ttl, now),
            )
            live = {
                str(row["id"])
                for row in conn.execute("SELECT id FROM uploads WHERE state = 'receiving'")
            }
        for part in parts:
            if part.stem not in live and not self._is_busy(part.stem):
                part.unlink(missing_ok=True)
                log.info("stray part file %s removed", part.name)
        return len(expired)
