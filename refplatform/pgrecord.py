"""The distributed platform's record in PostgreSQL (psycopg 3): connections, schema, accounts.

PostgreSQL is the one source of truth for stations, recipients, uploads and their committed
offsets, the pieces that hold their bytes, deliveries, mailboxes and journal checkpoints.
Every replica opens a small pool of connections to it and keeps no state of its own.

The schema is brought up to date at start, in one transaction holding an advisory lock, so
replicas started together migrate once (PostgreSQL's DDL is transactional: a migration that
fails leaves nothing). The version lives in ``platform_schema``.

Any failure to reach the database becomes :class:`~refplatform.backend.BackendUnavailable`
(answered 503 with ``Retry-After``). The pool checks a connection before lending it, so after a
restart of PostgreSQL the dead connections are replaced and service resumes by itself. The
writers' pool (sessions holding advisory locks, one per PATCH: the hot path) checks none: the
first statement on a borrowed connection takes the lock, and if that connection turns out dead
it is dropped and the statement runs again on another (:meth:`PgRecord.writer_session`), which
is what the check would have done, one round trip sooner.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from refplatform.accounts import AmbiguousRecipient, StationInfo, checked_rpps, hash_token
from refplatform.backend import BackendUnavailable
from refplatform.storage import FINGERPRINT_PATTERN, certificate_fingerprint, is_valid_id

__all__ = ["PG_SCHEMA_VERSION", "PgRecord", "Row"]

log = logging.getLogger(__name__)

Row = dict[str, Any]

_MIGRATION_LOCK = 0x7061_7373_6176  # "passav": one key for every replica's migration
_REAL = "DOUBLE PRECISION"

_SCHEMA_V1 = f"""
CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at {_REAL} NOT NULL,
    updated_at {_REAL} NOT NULL,
    revoked_at {_REAL}
);
CREATE TABLE recipients (
    id TEXT PRIMARY KEY,
    station_id TEXT NOT NULL REFERENCES stations(id),
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    specialty TEXT,
    certificate_pem TEXT NOT NULL,
    certificate_sha256 TEXT,
    updated_at {_REAL} NOT NULL
);
CREATE INDEX recipients_by_fingerprint ON recipients (certificate_sha256);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    station_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT,
    length BIGINT NOT NULL CHECK (length > 0),
    metadata TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('receiving', 'complete', 'expired')),
    committed BIGINT NOT NULL DEFAULT 0 CHECK (committed >= 0 AND committed <= length),
    created_at {_REAL} NOT NULL,
    expires_at {_REAL} NOT NULL,
    updated_at {_REAL} NOT NULL
);
CREATE INDEX uploads_by_state ON uploads (state, expires_at);
CREATE TABLE pieces (
    blob_id TEXT NOT NULL,
    start_offset BIGINT NOT NULL,
    size BIGINT NOT NULL CHECK (size > 0),
    object_key TEXT NOT NULL UNIQUE,
    PRIMARY KEY (blob_id, start_offset)
);
CREATE TABLE deliveries (
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    sender_station TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    kind TEXT,
    state TEXT NOT NULL DEFAULT 'accepted',
    accepted_at {_REAL} NOT NULL,
    blob_id TEXT NOT NULL,
    PRIMARY KEY (recipient_id, bundle_id)
);
CREATE INDEX deliveries_by_sender ON deliveries (sender_station, bundle_id);
CREATE TABLE mailbox_items (
    seq BIGSERIAL PRIMARY KEY,
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    received_at {_REAL} NOT NULL,
    UNIQUE (recipient_id, bundle_id),
    FOREIGN KEY (recipient_id, bundle_id) REFERENCES deliveries (recipient_id, bundle_id)
);
CREATE TABLE journal_checkpoints (
    station_id TEXT NOT NULL REFERENCES stations(id),
    count BIGINT NOT NULL CHECK (count > 0),
    head TEXT NOT NULL CHECK (length(head) = 64),
    station_time TEXT NOT NULL,
    signature TEXT,
    received_at {_REAL} NOT NULL,
    PRIMARY KEY (station_id, count)
);
CREATE FUNCTION journal_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'journal checkpoints are append-only'; END $$;
CREATE TRIGGER journal_checkpoints_no_change BEFORE UPDATE OR DELETE ON journal_checkpoints
FOR EACH ROW EXECUTE FUNCTION journal_checkpoints_append_only();
"""

#: The limits' tables, as the embedded schema 4 has them (``refplatform.quotas``,
#: ``refplatform.pglimits``): routes, per-station quotas, (recipient, bundle) reservations.
_SCHEMA_V2_LIMITS = f"""
CREATE TABLE routes (
    from_station TEXT NOT NULL,
    to_kind TEXT NOT NULL CHECK (to_kind IN ('station', 'recipient')),
    to_id TEXT NOT NULL,
    created_at {_REAL} NOT NULL,
    PRIMARY KEY (from_station, to_kind, to_id)
);
CREATE TABLE station_quotas (
    station_id TEXT PRIMARY KEY,
    max_open_uploads BIGINT,
    max_open_bytes BIGINT,
    max_daily_bytes BIGINT,
    updated_at {_REAL} NOT NULL
);
CREATE TABLE bundle_reservations (
    recipient_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    reserved_at {_REAL} NOT NULL,
    PRIMARY KEY (recipient_id, bundle_id)
);
CREATE INDEX uploads_by_station ON uploads (station_id, state, expires_at);
CREATE INDEX deliveries_by_route ON deliveries (sender_station, recipient_id, accepted_at);
"""

#: Each recipient's RPPS number, optional (``refplatform.accounts.checked_rpps``).
_SCHEMA_V3_RPPS = "ALTER TABLE recipients ADD COLUMN rpps TEXT CHECK (rpps ~ '^[0-9]{11}$')"

#: An upload's running SHA-256 state at ``committed`` (``refplatform.sha256state``), saved by
#: each piece's compare-and-set; NULL when unknown (then finalisation reads the pieces back).
_SCHEMA_V4_HASH = "ALTER TABLE uploads ADD COLUMN sha256_state BYTEA"

#: A mailbox page (``refplatform.mailpages``) reads the items after a position in one
#: mailbox: this index bounds its cost by the page, not by the mailbox's depth.
_SCHEMA_V5_PAGES = "CREATE INDEX mailbox_items_by_position ON mailbox_items (recipient_id, seq)"

#: Scripts bringing the schema from version ``index`` to ``index + 1``, each run whole in the
#: migration's transaction (so a script may hold semicolons inside a function body).
_MIGRATIONS: tuple[str, ...] = (
    _SCHEMA_V1,
    _SCHEMA_V2_LIMITS,
    _SCHEMA_V3_RPPS,
    _SCHEMA_V4_HASH,
    _SCHEMA_V5_PAGES,
)

PG_SCHEMA_VERSION = len(_MIGRATIONS)

_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


class PgRecord:
    """A pool of connections to the platform's PostgreSQL database, and the account queries."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 10,
        max_writers: int = 32,
        stall_limit: float = 150.0,
        timeout: float = 5.0,
    ) -> None:
        """Opens the pools (waiting up to ``timeout`` for a first connection) and migrates.

        Args:
            url: A libpq URL, ``postgresql://user@host:port/dbname``.
            max_connections: Connections this replica uses for short queries.
            max_writers: Uploads this replica may write at once (each holds a connection
                of its own for its writer lock; more get 503).
            stall_limit: Seconds after which PostgreSQL ends a writer's idle session (and
                frees its lock): a replica that stalls that long loses the upload.
            timeout: Seconds to wait for a connection before answering 503.

        Raises:
            BackendUnavailable: If the database cannot be reached.
            RuntimeError: If the schema is newer than this server.
        """
        self.timeout = timeout
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            timeout=timeout,
            open=False,
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 3},
            name="passavant-platform",
        )
        self.stall_limit = stall_limit
        self.writers = ConnectionPool(
            url,
            min_size=0,
            max_size=max_writers,
            timeout=timeout,
            open=False,
            # No check on lending: writer_session retries a lock statement that meets a dead
            # connection (PostgreSQL restarted), which costs nothing when none is.
            reset=_unlock_all,
            # Closed here before PostgreSQL's idle_session_timeout would end them.
            max_idle=max(5.0, stall_limit / 2),
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": 3,
                "options": f"-c idle_session_timeout={max(1000, int(stall_limit * 1000))}",
            },
            name="passavant-writers",
        )
        try:
            self.pool.open(wait=True, timeout=timeout)
            self.writers.open(wait=False)
        except _DB_ERRORS as exc:
            self.close()
            raise BackendUnavailable("database", type(exc).__name__) from exc
        self.migrate()

    def close(self) -> None:
        """Closes every connection."""
        self.writers.close()
        self.pool.close()

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Row]]:
        """Lends an autocommit connection; database failures become ``BackendUnavailable``."""
        try:
            with self.pool.connection() as conn:
                yield cast("psycopg.Connection[Row]", conn)
        except _DB_ERRORS as exc:
            raise BackendUnavailable("database", type(exc).__name__) from exc

    def writer_session(
        self, statement: str, params: tuple[Any, ...], *more: tuple[str, tuple[Any, ...]]
    ) -> tuple[psycopg.Connection[Row], list[Row | None]]:
        """Borrows a writers' connection and runs ``statement`` (an advisory lock) on it, then
        the statements ``more`` (``(sql, params)``) in the same round trip (pipeline mode:
        each statement takes its own snapshot as it starts, so a read sees what was committed
        before the lock was taken). Returns the connection and each statement's first row.

        A connection found dead (PostgreSQL restarted since it was last used) is dropped and
        the statements run again on another: a dead session held no lock, so running them
        again takes nothing twice. Give the connection back with :meth:`end_writer_session`.

        Raises:
            BackendUnavailable: If the database cannot be reached.
        """
        pool = self.writers
        for _ in range(pool.max_size + 1):  # the pool's dead connections, then a new one
            try:
                conn = pool.getconn()
            except _DB_ERRORS as exc:
                raise BackendUnavailable("database", type(exc).__name__) from exc
            setattr(conn, _UNLOCKED, False)  # whatever a past session left: reset frees it
            try:
                if more:
                    with conn.pipeline():
                        cursors = [conn.execute(statement, params)]
                        cursors += [conn.execute(sql, args) for sql, args in more]
                    rows = [cursor.fetchone() for cursor in cursors]
                else:
                    rows = [conn.execute(statement, params).fetchone()]
            except _DB_ERRORS as exc:
                pool.putconn(conn)  # a broken one is closed and replaced by the pool
                if conn.broken or conn.closed:
                    log.info("a writers' connection was dead; trying another")
                    continue
                raise BackendUnavailable("database", type(exc).__name__) from exc
            return cast("psycopg.Connection[Row]", conn), rows
        raise BackendUnavailable("database", "no live connection")

    def end_writer_session(self, conn: psycopg.Connection[Row]) -> None:
        """Frees every advisory lock of the session, then gives the connection back: one round
        trip (the pool's reset then knows there is nothing left to free)."""
        try:
            conn.execute("SELECT pg_advisory_unlock_all()")
            setattr(conn, _UNLOCKED, True)
        except _DB_ERRORS:
            pass  # a dead session has freed its locks already; the pool drops it
        self.writers.putconn(conn)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Row]]:
        """Lends a connection inside a transaction: committed on success, else rolled back."""
        with self.connect() as conn, conn.transaction():
            yield conn

    def migrate(self) -> None:
        """Brings the schema up to date, once across replicas (advisory lock)."""
        with self.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS platform_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM platform_schema").fetchone()
            version = 0 if row is None else int(row["version"])
            if version > PG_SCHEMA_VERSION:
                raise RuntimeError(
                    f"database schema {version} is newer than this server ({PG_SCHEMA_VERSION})"
                )
            for target in range(version + 1, PG_SCHEMA_VERSION + 1):
                conn.execute(_MIGRATIONS[target - 1].encode())
                log.info("platform database migrated to schema %d", target)
            if row is None:
                conn.execute(
                    "INSERT INTO platform_schema (version) VALUES (%s)", (PG_SCHEMA_VERSION,)
                )
            elif version != PG_SCHEMA_VERSION:
                conn.execute("UPDATE platform_schema SET version = %s", (PG_SCHEMA_VERSION,))

    def ping(self) -> None:
        """Raises ``BackendUnavailable`` unless the database answers."""
        with self.connect() as conn:
            conn.execute("SELECT 1")

    # Accounts -------------------------------------------------------------------------------

    def register_station(self, station_id: str, token: str | None = None) -> str:
        """Registers a station or gives it a new token; returns it (the record keeps its hash)."""
        if not is_valid_id(station_id):
            raise ValueError(f"invalid station identifier {station_id!r}")
        token = token or secrets.token_urlsafe(32)
        if not 16 <= len(token) <= 512 or not all("!" <= c <= "~" for c in token):
            raise ValueError("a token must have 16 to 512 printable ASCII characters")
        stamp = time.time()
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO stations (id, token_sha256, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
                    " token_sha256 = excluded.token_sha256, updated_at = excluded.updated_at,"
                    " revoked_at = NULL",
                    (station_id, hash_token(token), stamp, stamp),
                )
        except psycopg.errors.UniqueViolation as exc:
            raise ValueError("this token is already given to another station") from exc
        return token

    def register_recipient(
        self,
        *,
        recipient_id: str,
        station_id: str,
        display_name: str,
        role: str,
        specialty: str | None,
        certificate_pem: str,
        rpps: str | None = None,
    ) -> None:
        """Adds or updates a recipient (see :func:`refplatform.accounts.register_recipient`)."""
        if not is_valid_id(recipient_id):
            raise ValueError(f"invalid recipient identifier {recipient_id!r}")
        fingerprint = certificate_fingerprint(certificate_pem)
        rpps = checked_rpps(rpps, certificate_pem)
        with self.transaction() as conn:
            found = conn.execute("SELECT 1 FROM stations WHERE id = %s", (station_id,))
            if found.fetchone() is None:
                raise ValueError(f"station {station_id!r} is not registered")
            conn.execute(
                "INSERT INTO recipients (id, station_id, display_name, role, specialty,"
                " certificate_pem, certificate_sha256, rpps, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET station_id = excluded.station_id,"
                " display_name = excluded.display_name, role = excluded.role,"
                " specialty = excluded.specialty, certificate_pem = excluded.certificate_pem,"
                " certificate_sha256 = excluded.certificate_sha256, rpps = excluded.rpps,"
                " updated_at = excluded.updated_at",
                (
                    recipient_id,
                    station_id,
                    display_name,
                    role,
                    specialty,
                    certificate_pem,
                    fingerprint,
                    rpps,
                    time.time(),
                ),
            )

    def revoke_station(self, station_id: str) -> bool:
        """Revokes a station's token; ``False`` if no such station."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE stations SET revoked_at = COALESCE(revoked_at, %s) WHERE id = %s",
                (time.time(), station_id),
            )
            return cursor.rowcount > 0

    def list_stations(self) -> list[StationInfo]:
        """Every station with its token's dates and its number of recipients."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT s.id, s.created_at, s.updated_at, s.revoked_at,"
                " (SELECT COUNT(*) FROM recipients r WHERE r.station_id = s.id) AS recipients"
                " FROM stations s ORDER BY s.id"
            ).fetchall()
        return [
            StationInfo(
                id=str(row["id"]),
                created_at=float(row["created_at"]),
                token_issued_at=float(row["updated_at"]),
                revoked_at=None if row["revoked_at"] is None else float(row["revoked_at"]),
                recipients=int(row["recipients"]),
            )
            for row in rows
        ]

    def station_for_token(self, token: str) -> str | None:
        """The station a bearer token belongs to, or ``None`` (unknown or revoked)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT id FROM stations WHERE token_sha256 = %s AND revoked_at IS NULL",
                (hash_token(token),),
            ).fetchone()
        return None if row is None else str(row["id"])

    def resolve_recipient(self, address: str) -> str | None:
        """The recipient an id or certificate fingerprint designates (see ``accounts``).

        Raises:
            AmbiguousRecipient: If the fingerprint belongs to several recipients.
        """
        with self.connect() as conn:
            if is_valid_id(address):
                row = conn.execute("SELECT id FROM recipients WHERE id = %s", (address,))
                found = row.fetchone()
                if found is not None:
                    return str(found["id"])
            match = FINGERPRINT_PATTERN.fullmatch(address)
            if match is None:
                return None
            rows = conn.execute(
                "SELECT id FROM recipients WHERE certificate_sha256 = %s LIMIT 2",
                (match.group(1).lower(),),
            ).fetchall()
        if len(rows) > 1:
            raise AmbiguousRecipient(address)
        return str(rows[0]["id"]) if rows else None

    def recipient_station(self, recipient_id: str) -> str | None:
        """The station a recipient belongs to, or ``None``."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT station_id FROM recipients WHERE id = %s", (recipient_id,)
            ).fetchone()
        return None if row is None else str(row["station_id"])

    def directory(self) -> list[dict[str, Any]]:
        """Every recipient, as ``GET /api/v1/directory`` lists them."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT id, display_name, role, specialty, station_id AS station,"
                " certificate_pem, certificate_sha256, rpps FROM recipients"
                " ORDER BY display_name, id"
            ).fetchall()
        return [dict(row) for row in rows]


#: Set on a writers' connection whose locks were all freed just before its return.
_UNLOCKED = "_passavant_unlocked"


def _unlock_all(conn: psycopg.Connection[Any]) -> None:
    """Run when a writer's connection returns to its pool: no lock outlives its request
    (nothing to do if :meth:`PgRecord.end_writer_session` freed them all a moment ago)."""
    if getattr(conn, _UNLOCKED, False):
        setattr(conn, _UNLOCKED, False)
        return
    conn.execute("SELECT pg_advisory_unlock_all()")


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for a name (an upload id, a station's journal)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
