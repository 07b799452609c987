"""The inbox: bundles fetched from the platform's mailboxes, stored locally as ciphertext.

Files live in ``<spool_dir>/<bundle_id>.cms`` (the profile's ``inbox/``); rows in the
``inbox_items`` table of the queue database. A download goes to ``<bundle_id>.part`` first
(kept across restarts so it can resume), is checked against the platform's SHA-256, then
renamed into place before its row is committed. The fetcher thread lives in
:mod:`outbox.fetcher`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from outbox import spool
from outbox.db import Database
from outbox.platform import MailboxItem

__all__ = ["FetchStatus", "Inbox", "InboxFetcher", "InboxItem", "RefusedItem"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxItem:
    """A received bundle stored locally (ciphertext; no clinical content in these fields).

    Attributes:
        bundle_id: The sender's id for the bundle.
        recipient_id: The local recipient it was addressed to.
        kind: The bundle kind.
        size: Ciphertext size in bytes.
        sha256: Hex SHA-256 of the ciphertext, verified on download.
        received_at: When the platform received it (ISO 8601, UTC).
        path: The ciphertext file.
        sender_station: The station that sent it.
    """

    bundle_id: str
    recipient_id: str
    kind: str
    size: int
    sha256: str
    received_at: str
    path: Path
    sender_station: str = ""


class Inbox:
    """The local store of received bundles; safe to share between threads."""

    def __init__(
        self,
        db_path: Path,
        spool_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        recover: bool = True,
    ) -> None:
        """Opens the store and removes what a crash left half-done (parts are kept).

        Args:
            db_path: The SQLite file (shared with the outbox).
            spool_dir: Directory of the received files (not the outbox's).
            clock: Wall-clock seconds, injectable for tests.
            recover: Repair at opening (temporary files, and stored files no row refers
                to). Only the process that fetches into this inbox may: a command run
                beside the app would take away the file its fetcher has just renamed into
                place and not yet recorded, which the fetcher then acknowledges.
        """
        self.clock = clock
        self.directory = spool_dir
        spool.private_dir(self.directory)
        self._db = Database(db_path)
        if recover:
            self._recover()

    def close(self) -> None:
        """Closes the database connection."""
        self._db.close()

    def path(self, bundle_id: str) -> Path:
        """Returns where a stored bundle lives."""
        return self.directory / f"{spool.check_bundle_id(bundle_id)}{spool.SPOOL_SUFFIX}"

    def part_path(self, bundle_id: str) -> Path:
        """Returns where a bundle's download in progress lives."""
        return self.directory / f"{spool.check_bundle_id(bundle_id)}{spool.PART_SUFFIX}"

    def _item(self, row: sqlite3.Row) -> InboxItem:
        return InboxItem(
            bundle_id=row["bundle_id"],
            recipient_id=row["recipient_id"],
            kind=row["kind"],
            size=row["size"],
            sha256=row["sha256"],
            received_at=row["received_at"],
            path=self.path(row["bundle_id"]),
            sender_station=row["sender_station"],
        )

    def items(self, recipient_id: str) -> list[InboxItem]:
        """Returns a recipient's stored bundles, oldest first."""
        rows = self._db.query(
            "SELECT * FROM inbox_items WHERE recipient_id = ? ORDER BY stored_at, bundle_id",
            (recipient_id,),
        )
        return [self._item(row) for row in rows]

    def received(self, recipient_id: str) -> list[tuple[str, str]]:
        """A recipient's stored bundles as (bundle id, reception time) pairs, oldest first:
        what :meth:`items` lists, without building an item for each (a listing looks for
        the few it does not know yet among thousands)."""
        rows = self._db.query(
            "SELECT bundle_id, received_at FROM inbox_items WHERE recipient_id = ?"
            " ORDER BY stored_at, bundle_id",
            (recipient_id,),
        )
        return [(row["bundle_id"], row["received_at"]) for row in rows]

    def get(self, bundle_id: str) -> InboxItem | None:
        """Returns a stored bundle, or ``None``."""
        rows = self._db.query("SELECT * FROM inbox_items WHERE bundle_id = ?", (bundle_id,))
        return self._item(rows[0]) if rows else None

    def total_size(self) -> int:
        """Bytes of every stored bundle, as recorded (the inbox's bound counts them)."""
        rows = self._db.query("SELECT COALESCE(SUM(size), 0) AS total FROM inbox_items")
        return int(rows[0]["total"])

    def store(self, recipient_id: str, item: MailboxItem, part: Path) -> InboxItem:
        """Moves a verified download into place, then records it (idempotent on bundle id).

        Args:
            recipient_id: The mailbox it came from.
            item: The platform's description of it.
            part: The complete, verified, synced download.
        """
        spool.commit_file(part, self.path(item.bundle_id))
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO inbox_items (bundle_id, recipient_id, kind, size, sha256,"
                " sender_station, received_at, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.bundle_id,
                    recipient_id,
                    item.kind,
                    item.size,
                    item.sha256,
                    item.sender_station,
                    item.received_at,
                    self.clock(),
                ),
            )
        stored = self.get(item.bundle_id)
        assert stored is not None  # just committed
        return stored

    def remove(self, bundle_id: str) -> None:
        """Deletes a stored bundle's file, then its row (e.g. once the app has imported it)."""
        if spool.remove_file(self.path(bundle_id)):
            with self._db.transaction() as conn:
                conn.execute("DELETE FROM inbox_items WHERE bundle_id = ?", (bundle_id,))

    def remove_stale_parts(self, keep: set[str]) -> int:
        """Deletes downloads in progress of bundles not in ``keep``; returns how many."""
        removed = 0
        for part in self.directory.glob(f"*{spool.PART_SUFFIX}"):
            if part.name.removesuffix(spool.PART_SUFFIX) not in keep:
                removed += spool.remove_file(part)
        return removed

    def _recover(self) -> None:
        spool.remove_temp_files(self.directory)
        known = {row["bundle_id"] for row in self._db.query("SELECT bundle_id FROM inbox_items")}
        for path in self.directory.glob(f"*{spool.SPOOL_SUFFIX}"):
            bundle_id = path.name.removesuffix(spool.SPOOL_SUFFIX)
            if bundle_id not in known:
                # Renamed but never recorded: still unacknowledged, so it will come again.
                log.warning("removed inbox file %s that no row refers to", bundle_id)
                spool.remove_file(path)


# The fetcher thread is defined in its own module; it is part of this module's API.
from outbox.fetcher import FetchStatus, InboxFetcher, RefusedItem  # noqa: E402
