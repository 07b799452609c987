"""The per-station limits on the distributed back-end: the rules of :mod:`refplatform.quotas`.

Routes, quotas and (recipient, bundle) reservations live in PostgreSQL (schema 2 of
:mod:`refplatform.pgrecord`, the same tables as the embedded schema 4). The checks are the
embedded ones, run on a PostgreSQL connection through a small adapter (their SQL is standard),
so the two back-ends cannot drift apart. What differs is how admissions are serialised: across
replicas, by a session-level advisory lock per station held from admission until the upload
is recorded (the embedded back-end holds an asyncio lock and a SQLite write transaction), and
the reservation by the table's primary key: after its insert, an admission reads who holds
the pair and refuses if another station does.

The free-space reserve does not apply: S3 has no free-space query; the object store's
operators watch its capacity.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import psycopg
from psycopg.rows import tuple_row
from starlette.concurrency import run_in_threadpool

from refplatform.pgrecord import PgRecord, lock_key
from refplatform.quotas import BUILT_IN, DEFAULT_KEY, LimitsStore, Quota, Refusal, Route

__all__ = ["PgAdmission", "PgLimitsStore"]


class _Qmark:
    """A psycopg connection seen as ``sqlite3`` sees one: ``?`` placeholders, tuple rows."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> psycopg.Cursor[tuple[Any, ...]]:
        cursor = self.conn.cursor(row_factory=tuple_row)
        cursor.execute(sql.replace("?", "%s"), tuple(params))
        return cursor


class PgLimitsStore:
    """Routes, quotas and reservations in PostgreSQL; the interface of ``LimitsStore``."""

    def __init__(self, record: PgRecord) -> None:
        """Binds to the database."""
        self.record = record

    def add_route(self, route: Route, now: float) -> bool:
        """Adds a route; ``False`` if it existed. Raises ``ValueError`` on unknown names."""
        if route.kind not in ("station", "recipient"):
            raise ValueError("a route goes to a station or to a recipient")
        with self.record.transaction() as conn:
            for kind, name in (("station", route.source), (route.kind, route.target)):
                table = "stations" if kind == "station" else "recipients"
                if conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (name,)).fetchone() is None:
                    raise ValueError(f"no {kind} named {name!r}")
            cursor = conn.execute(
                "INSERT INTO routes (from_station, to_kind, to_id, created_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (route.source, route.kind, route.target, now),
            )
            return cursor.rowcount > 0

    def remove_route(self, route: Route) -> bool:
        """Removes a route; ``False`` if there was none."""
        with self.record.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM routes WHERE from_station = %s AND to_kind = %s AND to_id = %s",
                (route.source, route.kind, route.target),
            )
            return cursor.rowcount > 0

    def routes(self) -> list[Route]:
        """Every route, by source then target."""
        with self.record.connect() as conn:
            rows = conn.execute(
                "SELECT from_station, to_kind, to_id FROM routes ORDER BY 1, 2, 3"
            ).fetchall()
        return [Route(str(r["from_station"]), str(r["to_kind"]), str(r["to_id"])) for r in rows]

    def set_quota(self, station: str | None, quota: Quota, now: float) -> None:
        """Sets some of a station's limits (``None`` station: the platform default)."""
        key = DEFAULT_KEY if station is None else station
        with self.record.transaction() as conn:
            if station is not None and (
                conn.execute("SELECT 1 FROM stations WHERE id = %s", (station,)).fetchone() is None
            ):
                raise ValueError(f"no station named {station!r}")
            conn.execute(
                "INSERT INTO station_quotas AS q (station_id, max_open_uploads, max_open_bytes,"
                " max_daily_bytes, updated_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (station_id) DO UPDATE SET"
                " max_open_uploads = COALESCE(excluded.max_open_uploads, q.max_open_uploads),"
                " max_open_bytes = COALESCE(excluded.max_open_bytes, q.max_open_bytes),"
                " max_daily_bytes = COALESCE(excluded.max_daily_bytes, q.max_daily_bytes),"
                " updated_at = excluded.updated_at",
                (key, quota.open_uploads, quota.open_bytes, quota.daily_bytes, now),
            )

    def quota(self, station: str | None, built_in: Quota = BUILT_IN) -> tuple[Quota, Quota]:
        """A station's stored limits and its effective ones (``None``: the default's)."""
        with self.record.connect() as conn:
            shim = cast("Any", _Qmark(conn))
            default = LimitsStore._stored(shim, DEFAULT_KEY)
            own = default if station is None else LimitsStore._stored(shim, station)
        return own, own.over(default.over(built_in))

    def open_uploads(self, station: str, now: float) -> tuple[int, int]:
        """A station's unfinished uploads: how many, and their declared bytes."""
        with self.record.connect() as conn:
            return LimitsStore._open(cast("Any", _Qmark(conn)), station, now)

    def admit(
        self, station: str, recipient: str, bundle_id: str, length: int, *, now: float,
        built_in: Quota,
    ) -> Refusal | None:  # fmt: skip
        """Checks a new upload against every limit; reserves the bundle id when admitted."""
        with self.record.transaction() as conn:
            if (
                conn.execute("SELECT 1 FROM recipients WHERE id = %s", (recipient,)).fetchone()
                is None
            ):
                return None  # the creation itself answers 422 unknown_recipient
            shim = cast("Any", _Qmark(conn))
            refusal = LimitsStore(cast("Any", None))._check(
                shim, station, recipient, bundle_id, length, now, built_in
            )
            if refusal is not None:
                return refusal
            conn.execute(
                "INSERT INTO bundle_reservations (recipient_id, bundle_id, station_id,"
                " reserved_at) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (recipient, bundle_id, station, now),
            )
            holder = conn.execute(
                "SELECT station_id FROM bundle_reservations"
                " WHERE recipient_id = %s AND bundle_id = %s",
                (recipient, bundle_id),
            ).fetchone()
        if holder is not None and holder["station_id"] != station:
            return Refusal(
                409, "bundle_taken", "Another station holds this bundle_id for this recipient."
            )
        return None


class PgAdmission:
    """Admits upload creations across replicas (the interface of ``quotas.Admission``)."""

    def __init__(self, record: PgRecord, *, clock: Any, built_in: Quota = BUILT_IN) -> None:
        """Binds the limits; ``clock`` returns POSIX time."""
        self.store = PgLimitsStore(record)
        self.clock = clock
        self.built_in = built_in

    @contextlib.asynccontextmanager
    async def hold(self, station: str) -> AsyncIterator[None]:
        """One creation at a time per station, across replicas: from admission until the
        upload is recorded (a session-level advisory lock; a dead replica's is freed)."""
        conn = await run_in_threadpool(self._lock, station)
        try:
            yield
        finally:
            # The session's only lock (a dead session has freed it already).
            await run_in_threadpool(self.store.record.end_writer_session, conn)

    def _lock(self, station: str) -> psycopg.Connection[Any]:
        key = lock_key("admit:" + station)
        conn, _ = self.store.record.writer_session("SELECT pg_advisory_lock(%s)", (key,))
        return conn

    async def admit(self, station: str, recipient: str, bundle_id: str, length: int) -> None:
        """Checks a creation.

        Raises:
            ApiError: The refusal, with its reason and ``Retry-After`` when it clears later.
        """
        refusal = await run_in_threadpool(
            self.store.admit,
            station,
            recipient,
            bundle_id,
            length,
            now=self.clock(),
            built_in=self.built_in,
        )
        if refusal is not None:
            raise refusal.to_api_error()
