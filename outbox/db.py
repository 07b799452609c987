"""The queue database: one SQLite file holding the outbox jobs and the inbox items.

The schema version lives in ``PRAGMA user_version``; migrations run in order, in one
transaction, when the file is opened (a crash mid-migration leaves the old version intact).
Each :class:`Database` owns one connection guarded by a lock, so the GUI thread and a
worker thread can share it; WAL mode lets a second :class:`Database` on the same file (the inbox
next to the outbox) read while the other writes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from outbox.spool import private_file

log = logging.getLogger(__name__)

# Each entry migrates from version ``index`` to ``index + 1``. Append; never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        bundle_id TEXT PRIMARY KEY,
        recipient_id TEXT NOT NULL,
        recipient_label TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        bytes_sent INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        upload_url TEXT,
        last_error_code TEXT,
        last_error_detail TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        delivered_at REAL
    );
    CREATE INDEX jobs_state ON jobs (state, next_attempt_at);
    CREATE TABLE inbox_items (
        bundle_id TEXT PRIMARY KEY,
        recipient_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        sender_station TEXT NOT NULL,
        received_at TEXT NOT NULL,
        stored_at REAL NOT NULL
    );
    CREATE INDEX inbox_items_recipient ON inbox_items (recipient_id, stored_at);
    """,
    # 2: priorities and send order, cancel reasons, receipts, the checksum-failure count, an
    # index for listing by creation time, and queue-wide settings (pause everything).
    """
    ALTER TABLE jobs ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
    ALTER TABLE jobs ADD COLUMN rank REAL NOT NULL DEFAULT 0;
    UPDATE jobs SET rank = rowid;
    ALTER TABLE jobs ADD COLUMN cancel_reason TEXT;
    ALTER TABLE jobs ADD COLUMN receipt_id TEXT;
    ALTER TABLE jobs ADD COLUMN acknowledged_at REAL;
    ALTER TABLE jobs ADD COLUMN checksum_failures INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE INDEX jobs_rank ON jobs (rank);
    CREATE TABLE outbox_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer Passavant; opening it could lose data."""


class Database:
    """One locked SQLite connection with the schema brought up to date."""

    def __init__(self, path: Path) -> None:
        """Opens (creating if needed) and migrates the database.

        Args:
            path: The SQLite file.

        Raises:
            SchemaTooNewError: If the file's schema is newer than this code knows.
            sqlite3.Error: If the file cannot be opened.
        """
        self.path = path
        self._lock = threading.RLock()
        private_file(path)  # 0600 before SQLite creates it (and its -wal, -shm) with the umask
        self._conn = sqlite3.connect(
            path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a job the UI called "queued" must survive a power cut.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise SchemaTooNewError(f"schema {version} > {SCHEMA_VERSION}")
            for index in range(version, SCHEMA_VERSION):
                log.info("migrating queue database to schema %d", index + 1)
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Holds the lock and an immediate transaction; commits on success, else rolls back."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @property
    def lock(self) -> threading.RLock:
        """The connection's lock (re-entrant): hold it to act right after a transaction."""
        return self._lock

    def data_version(self) -> int:
        """``PRAGMA data_version``: changes when *another* connection commits to the file."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Runs a read-only query under the lock."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_values(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Runs a read-only query under the lock; rows are plain tuples (the fast path)."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.row_factory = None
            rows: list[tuple[object, ...]] = cursor.execute(sql, params).fetchall()
            return rows

    def close(self) -> None:
        """Closes the connection."""
        with self._lock:
            self._conn.close()
