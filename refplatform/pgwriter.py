"""The writer of an upload in PostgreSQL: one request at a time, across every replica.

A request writing an upload holds a session-level advisory lock on a connection of its own
(:class:`WriterLock`); a second request gets 423. Each piece is committed on that connection
by compare-and-set of the upload's ``committed`` offset together with the piece's row, in one
statement, so a replica that stalled and woke up late can never shorten an upload or leave an
offset no stored bytes back (:mod:`refplatform.pguploads` holds the rest of the record).
"""

from __future__ import annotations

import logging

import psycopg

from refplatform.backend import BackendUnavailable
from refplatform.pgrecord import _DB_ERRORS, PgRecord, Row, lock_key
from refplatform.uploads import Upload

__all__ = ["UPLOAD_FIELDS", "WriterLock", "upload_of"]

log = logging.getLogger(__name__)

UPLOAD_FIELDS = list(Upload.__dataclass_fields__)

#: Advances ``committed`` from an expected value (compare-and-set), saving the running SHA-256
#: state at the new offset, and records the piece, in one statement: the row is inserted only
#: if the update matched (``rowcount`` 1, else 0).
_COMMIT_PIECE = (
    "WITH advanced AS (UPDATE uploads SET committed = committed + %(size)s,"
    " sha256_state = %(state)s, updated_at = %(now)s WHERE id = %(id)s AND committed = %(start)s"
    " AND state = 'receiving' AND committed + %(size)s <= length RETURNING id)"
    " INSERT INTO pieces (blob_id, start_offset, size, object_key)"
    " SELECT id, %(start)s, %(size)s, %(key)s FROM advanced"
)
#: A bearer token's station and, for it only, the upload's writer lock (the target list is
#: evaluated for the rows that pass the WHERE clause: an unknown token takes nothing).
_TOKEN_THEN_LOCK = (
    "SELECT id, pg_try_advisory_lock(%s) AS got FROM stations"
    " WHERE token_sha256 = %s AND revoked_at IS NULL"
)
_READ_UPLOAD = "SELECT * FROM uploads WHERE id = %s"
#: Takes the offset back from ``position`` to ``start`` (compare-and-set) and drops the rows of
#: the pieces past it, in one statement; returns their objects (none if the offset moved).
_REWIND = (
    "WITH back AS (UPDATE uploads SET committed = %(start)s, sha256_state = %(state)s,"
    " updated_at = %(now)s"
    " WHERE id = %(id)s AND committed = %(position)s AND state = 'receiving' RETURNING id)"
    " DELETE FROM pieces WHERE blob_id IN (SELECT id FROM back)"
    " AND start_offset >= %(start)s RETURNING object_key"
)


def upload_of(row: Row) -> Upload:
    """The upload a row of ``uploads`` holds."""
    return Upload(**{name: row[name] for name in UPLOAD_FIELDS})


class WriterLock:
    """The advisory lock making one request at a time the writer of an upload.

    A session-level lock on a connection of the writers' pool, held from :meth:`acquire` to
    :meth:`release`. Pieces are committed on that same connection (:meth:`commit_piece`): if
    PostgreSQL ended the session (this process died, or stalled past the stall limit, so the
    lock went to another request), the commit fails instead of landing late.
    """

    def __init__(self, record: PgRecord, upload_id: str) -> None:
        """Prepares the lock; nothing is taken yet."""
        self.record = record
        self.upload_id = upload_id
        self.key = lock_key("upload:" + upload_id)
        self._conn: psycopg.Connection[Row] | None = None
        #: The running SHA-256 state saved at the committed offset :meth:`read` found.
        self.saved_state: bytes | None = None

    def acquire(self) -> bool:
        """Takes the lock if no one holds it; ``False`` if another request does."""
        conn, (row,) = self.record.writer_session(
            "SELECT pg_try_advisory_lock(%s) AS got", (self.key,)
        )
        if row is None or not row["got"]:
            self.record.writers.putconn(conn)
            return False
        self._conn = conn
        return True

    def acquire_for_token(
        self, token_sha256: str
    ) -> tuple[str | None, bool, tuple[Upload, int] | None]:
        """Checks a bearer token and, only if it names a live station, tries the lock (one
        statement: the lock is evaluated for a matching row only), then reads the upload
        (:meth:`read`), all in one round trip.

        Returns:
            The token's station (``None``: unknown or revoked, and nothing was tried), whether
            the lock was taken, and if it was, the upload and its committed offset.
        """
        conn, (row, upload) = self.record.writer_session(
            _TOKEN_THEN_LOCK, (self.key, token_sha256), (_READ_UPLOAD, (self.upload_id,))
        )
        if row is None or not row["got"]:
            self.record.writers.putconn(conn)
            return (None if row is None else str(row["id"])), False, None
        self._conn = conn
        return str(row["id"]), True, self._found(upload)

    @property
    def held(self) -> bool:
        """Whether this request holds the lock (taken and not yet released)."""
        return self._conn is not None

    def read(self) -> tuple[Upload, int] | None:
        """The upload and its committed offset, read on the lock's connection (no borrow);
        the hash state saved with that offset goes to :attr:`saved_state`."""
        if self._conn is None:
            raise RuntimeError("read without the lock")
        try:
            row = self._conn.execute(_READ_UPLOAD, (self.upload_id,)).fetchone()
        except _DB_ERRORS as exc:
            raise BackendUnavailable("database", type(exc).__name__) from exc
        return self._found(row)

    def _found(self, row: Row | None) -> tuple[Upload, int] | None:
        if row is None:
            return None
        state = row["sha256_state"]
        self.saved_state = None if state is None else bytes(state)
        return upload_of(row), int(row["committed"])

    def commit_piece(
        self, expected: int, size: int, key: str, now: float, state: bytes | None = None
    ) -> bool:
        """Advances the committed offset from ``expected`` by ``size``, recording the piece.

        ``state`` is the running SHA-256 state of the bytes up to the new offset (``None``:
        unknown, and finalisation will read the pieces back).

        Returns:
            ``False`` (nothing changed) if the offset is no longer ``expected`` or the upload
            stopped receiving: the piece's object is then an orphan for the caller to remove.

        Raises:
            BackendUnavailable: If the session (and so the lock) is gone.
        """
        if self._conn is None:
            raise RuntimeError("commit_piece without the lock")
        try:
            # One statement (autocommit: atomic): the compare-and-set, then the piece's row
            # only if it moved the offset. One round trip, and no transaction left open.
            cursor = self._conn.execute(
                _COMMIT_PIECE,
                {
                    "size": size,
                    "now": now,
                    "id": self.upload_id,
                    "start": expected,
                    "key": key,
                    "state": state,
                },
            )
        except _DB_ERRORS as exc:
            raise BackendUnavailable("database", type(exc).__name__) from exc
        return cursor.rowcount == 1

    def rewind(
        self, start: int, position: int, now: float, state: bytes | None = None
    ) -> list[str]:
        """Takes back the pieces this request committed from ``start`` to ``position``,
        and the hash state to ``state``, the one saved at ``start``.

        A compare-and-set as well: nothing changes unless the offset is still ``position``.

        Returns:
            The objects to remove.
        """
        if self._conn is None:
            raise RuntimeError("rewind without the lock")
        if position == start:
            return []
        try:
            rows = self._conn.execute(
                _REWIND,
                {
                    "start": start,
                    "now": now,
                    "id": self.upload_id,
                    "position": position,
                    "state": state,
                },
            ).fetchall()
        except _DB_ERRORS as exc:
            raise BackendUnavailable("database", type(exc).__name__) from exc
        return [str(row["object_key"]) for row in rows]

    def release(self) -> None:
        """Frees the lock and gives the connection back."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # Unlocked here, before the answer leaves: the client's next request may reach
            # another replica at once. (The session holds no other lock: the pool's reset
            # freed all of them when it was last given back.)
            self.record.end_writer_session(conn)
