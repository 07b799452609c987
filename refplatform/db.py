"""The platform's SQLite database: schema, versioning and short-lived connections.

The database runs in WAL mode with ``synchronous=FULL`` so a committed transaction survives a
crash. The schema version lives in ``PRAGMA user_version``. Each operation opens its own
connection, so the server's worker threads and the account tools (run in another process while
the server is up) never share one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from refplatform.storage import Layout, certificate_fingerprint

__all__ = ["SCHEMA_VERSION", "Database", "open_database"]

log = logging.getLogger(__name__)

_BUSY_TIMEOUT_S = 10.0

_SCHEMA_V1 = """
CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE recipients (
    id TEXT PRIMARY KEY,
    station_id TEXT NOT NULL REFERENCES stations(id),
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    specialty TEXT,
    certificate_pem TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    station_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT,
    length INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('receiving', 'complete', 'expired')),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX uploads_by_state ON uploads (state, expires_at);
CREATE TABLE deliveries (
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    sender_station TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    kind TEXT,
    state TEXT NOT NULL DEFAULT 'accepted',
    accepted_at REAL NOT NULL,
    PRIMARY KEY (recipient_id, bundle_id)
);
CREATE INDEX deliveries_by_sender ON deliveries (sender_station, bundle_id);
CREATE TABLE mailbox_items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    UNIQUE (recipient_id, bundle_id),
    FOREIGN KEY (recipient_id, bundle_id) REFERENCES deliveries (recipient_id, bundle_id)
);
"""


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """Revocable station tokens, and recipients addressable by certificate fingerprint."""
    conn.execute("ALTER TABLE stations ADD COLUMN revoked_at REAL")
    conn.execute("ALTER TABLE recipients ADD COLUMN certificate_sha256 TEXT")
    rows = conn.execute("SELECT id, certificate_pem FROM recipients").fetchall()
    for row in rows:
        try:
            fingerprint: str | None = certificate_fingerprint(str(row[1]))
        except ValueError:
            fingerprint = None
        conn.execute(
            "UPDATE recipients SET certificate_sha256 = ? WHERE id = ?", (fingerprint, row[0])
        )
    conn.execute("CREATE INDEX recipients_by_fingerprint ON recipients (certificate_sha256)")


def _migrate_v3(conn: sqlite3.Connection) -> None:
    """The stations' audit journal checkpoints (``refplatform.journal``): append-only.

    Statements one by one (a trigger's body holds semicolons). The triggers make the table
    append-only for every writer of the database, not only for the API's code.
    """
    conn.execute(
        "CREATE TABLE journal_checkpoints ("
        " station_id TEXT NOT NULL REFERENCES stations(id),"
        " count INTEGER NOT NULL CHECK (count > 0),"
        " head TEXT NOT NULL CHECK (length(head) = 64),"
        " station_time TEXT NOT NULL,"
        " signature TEXT,"
        " received_at REAL NOT NULL,"
        " PRIMARY KEY (station_id, count))"
    )
    for action in ("UPDATE", "DELETE"):
        conn.execute(
            f"CREATE TRIGGER journal_checkpoints_no_{action.lower()}"
            f" BEFORE {action} ON journal_checkpoints"
            " BEGIN SELECT RAISE(ABORT, 'journal checkpoints are append-only'); END"
        )


#: Routes, per-station quotas and bundle reservations (``refplatform.quotas``).
_SCHEMA_V4_LIMITS = """
CREATE TABLE routes (
    from_station TEXT NOT NULL,
    to_kind TEXT NOT NULL CHECK (to_kind IN ('station', 'recipient')),
    to_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (from_station, to_kind, to_id)
);
CREATE TABLE station_quotas (
    station_id TEXT PRIMARY KEY,
    max_open_uploads INTEGER,
    max_open_bytes INTEGER,
    max_daily_bytes INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE bundle_reservations (
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    reserved_at REAL NOT NULL,
    PRIMARY KEY (recipient_id, bundle_id)
);
CREATE INDEX uploads_by_station ON uploads (station_id, state, expires_at);
CREATE INDEX deliveries_by_route ON deliveries (sender_station, recipient_id, accepted_at);
"""

#: Each recipient's RPPS number, optional (``refplatform.accounts``): 11 digits or nothing.
_SCHEMA_V5_RPPS = """
ALTER TABLE recipients ADD COLUMN rpps TEXT
    CHECK (rpps GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]')
"""

Migration = str | Callable[[sqlite3.Connection], None]

#: Steps that bring the schema from version ``index`` to ``index + 1``: SQL scripts, or
#: functions when existing rows need Python (a fingerprint to compute).
_MIGRATIONS: tuple[Migration, ...] = (
    _SCHEMA_V1,
    _migrate_v2,
    _migrate_v3,
    _SCHEMA_V4_LIMITS,
    _SCHEMA_V5_RPPS,
    # A mailbox page reads the items after a position in one mailbox (refplatform.mailpages).
    "CREATE INDEX mailbox_items_by_position ON mailbox_items (recipient_id, seq);",
)

SCHEMA_VERSION = len(_MIGRATIONS)


class Database:
    """Opens connections to one platform database."""

    def __init__(self, path: Path) -> None:
        """Binds to a database file (see :func:`open_database` to create it).

        Args:
            path: The SQLite file.
        """
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Yields an autocommit connection with rows addressable by column name."""
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Yields a connection inside ``BEGIN IMMEDIATE``; commits on success, else rolls back."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _migrate(db: Database) -> None:
    with db.transaction() as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"database schema {version} is newer than this server ({SCHEMA_VERSION})"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            step = _MIGRATIONS[target - 1]
            if callable(step):
                step(conn)
            else:
                for statement in step.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            log.info("platform database migrated to schema %d", target)


def open_database(data_dir: Path) -> Database:
    """Creates the data directory and database if needed, and brings the schema up to date.

    Args:
        data_dir: The platform's data directory.

    Raises:
        RuntimeError: If the database was written by a newer version of the server.
        sqlite3.Error: If the file is not a usable database.
    """
    layout = Layout(data_dir)
    layout.ensure()
    db = Database(layout.db_path)
    with db.connect() as conn:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("SQLite refused WAL mode (%s)", mode)
    _migrate(db)
    return db
