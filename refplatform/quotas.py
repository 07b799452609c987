"""Per-station limits on the embedded back-end: routes, quotas, bundle reservations, free space.

Every SQL statement about these lives in :class:`LimitsStore` (SQLite); the distributed
back-end mirrors its few queries (see ``docs/threat-model.md``). :class:`Admission` applies
them when a station creates an upload, before anything is recorded:

1. **Route**: when a route table is configured (at least one route), a station may write only
   to its own recipients, to the recipients of the stations it has a route to, and to the
   recipients it has a route to. With no route at all, any station may write to any
   recipient (the behaviour before routes existed). Refused with 403 ``route_forbidden``.
2. **Reservation**: the first station to create an upload for (recipient, bundle id) holds that
   pair for ever; another station gets 409 ``bundle_taken``, so it can never have the genuine
   upload dropped as a duplicate by finishing first.
3. **Quotas** (per station; a station's own value, else the platform default set with
   ``quota set --default``, else :data:`BUILT_IN`): unfinished uploads (count, and declared
   bytes), and bytes delivered per recipient per UTC day (unfinished uploads to that
   recipient count as if delivered). A refusal that clears by itself is 429 with
   ``Retry-After``; a bundle larger than an allowance on its own can never pass: 413.
4. **Free space**: the data folder must keep ``reserve`` bytes free once every unfinished
   upload is complete; else 507 with ``Retry-After``.

Every refusal's body says why in one plain English sentence.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from refplatform.db import Database
from refplatform.web import ApiError

__all__ = [
    "BUILT_IN",
    "DEFAULT_RESERVE",
    "UNLIMITED",
    "Admission",
    "LimitsStore",
    "Quota",
    "Refusal",
    "Route",
]

#: Stored for a limit lifted altogether (NULL means "inherit").
UNLIMITED = -1
DEFAULT_RESERVE = 256 * 1024**2
_DAY = 86_400.0
_RETRY_OPEN_S = 60
_RETRY_SPACE_S = 300
DEFAULT_KEY = "*"


@dataclass(frozen=True)
class Quota:
    """A station's limits (``None``: inherit; :data:`UNLIMITED`: no limit)."""

    open_uploads: int | None = None
    open_bytes: int | None = None
    daily_bytes: int | None = None

    def over(self, base: Quota) -> Quota:
        """These values where set, ``base``'s elsewhere."""
        return Quota(
            base.open_uploads if self.open_uploads is None else self.open_uploads,
            base.open_bytes if self.open_bytes is None else self.open_bytes,
            base.daily_bytes if self.daily_bytes is None else self.daily_bytes,
        )


#: The limits when neither the station nor the platform default says otherwise: room for a
#: unit's busiest day (tens of requests of ~25 MB) and for the largest bundle (2 GiB).
BUILT_IN = Quota(open_uploads=32, open_bytes=8 * 1024**3, daily_bytes=8 * 1024**3)


@dataclass(frozen=True)
class Route:
    """Station ``source`` may write to a station's recipients, or to one recipient."""

    source: str
    kind: str  # "station" or "recipient"
    target: str


@dataclass(frozen=True)
class Refusal:
    """Why an upload may not be created: HTTP status, code, sentence, seconds to wait."""

    status: int
    code: str
    message: str
    retry_after: int | None = None

    def to_api_error(self) -> ApiError:
        """The answer to send."""
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return ApiError(self.status, self.code, self.message, headers)


def _limit(value: int | None) -> int | None:
    """A stored limit as a bound (``None``: no bound)."""
    return None if value is None or value < 0 else value


class LimitsStore:
    """The SQL of routes, quotas and reservations (SQLite; PostgreSQL mirrors it)."""

    def __init__(self, db: Database) -> None:
        """Binds to the platform database."""
        self.db = db

    # --- routes ---------------------------------------------------------------------------

    def add_route(self, route: Route, now: float) -> bool:
        """Adds a route; ``False`` if it existed. Raises ``ValueError`` on unknown names."""
        if route.kind not in ("station", "recipient"):
            raise ValueError("a route goes to a station or to a recipient")
        with self.db.transaction() as conn:
            for kind, name in (("station", route.source), (route.kind, route.target)):
                table = "stations" if kind == "station" else "recipients"
                found = conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (name,)).fetchone()
                if found is None:
                    raise ValueError(f"no {kind} named {name!r}")
            cursor = conn.execute(
                "INSERT OR IGNORE INTO routes (from_station, to_kind, to_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                (route.source, route.kind, route.target, now),
            )
            return cursor.rowcount > 0

    def remove_route(self, route: Route) -> bool:
        """Removes a route; ``False`` if there was none."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM routes WHERE from_station = ? AND to_kind = ? AND to_id = ?",
                (route.source, route.kind, route.target),
            )
            return cursor.rowcount > 0

    def routes(self) -> list[Route]:
        """Every route, by source then target."""
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT from_station, to_kind, to_id FROM routes ORDER BY 1, 2, 3"
            ).fetchall()
        return [Route(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    @staticmethod
    def _route_allows(conn: sqlite3.Connection, station: str, recipient: str) -> bool | None:
        """``None``: no route table (all allowed); else whether a route allows it."""
        if conn.execute("SELECT 1 FROM routes LIMIT 1").fetchone() is None:
            return None
        owner = conn.execute("SELECT station_id FROM recipients WHERE id = ?", (recipient,))
        row = owner.fetchone()
        if row is not None and row[0] == station:
            return True
        found = conn.execute(
            "SELECT 1 FROM routes WHERE from_station = ? AND ((to_kind = 'station' AND to_id = ?)"
            " OR (to_kind = 'recipient' AND to_id = ?)) LIMIT 1",
            (station, None if row is None else row[0], recipient),
        ).fetchone()
        return found is not None

    # --- quotas ---------------------------------------------------------------------------

    def set_quota(self, station: str | None, quota: Quota, now: float) -> None:
        """Sets some of a station's limits (``None`` station: the platform default).

        Fields left ``None`` in ``quota`` keep their stored value.

        Raises:
            ValueError: If the station is not registered.
        """
        key = DEFAULT_KEY if station is None else station
        with self.db.transaction() as conn:
            if station is not None and (
                conn.execute("SELECT 1 FROM stations WHERE id = ?", (station,)).fetchone() is None
            ):
                raise ValueError(f"no station named {station!r}")
            conn.execute(
                "INSERT INTO station_quotas (station_id, max_open_uploads, max_open_bytes,"
                " max_daily_bytes, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (station_id)"
                " DO UPDATE SET max_open_uploads = COALESCE(excluded.max_open_uploads,"
                " max_open_uploads), max_open_bytes = COALESCE(excluded.max_open_bytes,"
                " max_open_bytes), max_daily_bytes = COALESCE(excluded.max_daily_bytes,"
                " max_daily_bytes), updated_at = excluded.updated_at",
                (key, quota.open_uploads, quota.open_bytes, quota.daily_bytes, now),
            )

    @staticmethod
    def _stored(conn: sqlite3.Connection, key: str) -> Quota:
        row = conn.execute(
            "SELECT max_open_uploads, max_open_bytes, max_daily_bytes FROM station_quotas"
            " WHERE station_id = ?",
            (key,),
        ).fetchone()
        return Quota() if row is None else Quota(row[0], row[1], row[2])

    def quota(self, station: str | None, built_in: Quota = BUILT_IN) -> tuple[Quota, Quota]:
        """A station's stored limits and its effective ones (``None``: the default's)."""
        with self.db.connect() as conn:
            default = self._stored(conn, DEFAULT_KEY)
            own = default if station is None else self._stored(conn, station)
        return own, own.over(default.over(built_in))

    def open_uploads(self, station: str, now: float) -> tuple[int, int]:
        """A station's unfinished uploads: how many, and their declared bytes."""
        with self.db.connect() as conn:
            return self._open(conn, station, now)

    @staticmethod
    def _open(conn: sqlite3.Connection, station: str, now: float) -> tuple[int, int]:
        row = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(length), 0) FROM uploads"
            " WHERE station_id = ? AND state = 'receiving' AND expires_at > ?",
            (station, now),
        ).fetchone()
        return int(row[0]), int(row[1])

    @staticmethod
    def _sent_today(conn: sqlite3.Connection, station: str, recipient: str, now: float) -> int:
        day_start = math.floor(now / _DAY) * _DAY
        delivered = conn.execute(
            "SELECT COALESCE(SUM(size), 0) FROM deliveries"
            " WHERE sender_station = ? AND recipient_id = ? AND accepted_at >= ?",
            (station, recipient, day_start),
        ).fetchone()[0]
        pending = conn.execute(
            "SELECT COALESCE(SUM(length), 0) FROM uploads WHERE station_id = ?"
            " AND recipient_id = ? AND state = 'receiving' AND expires_at > ?",
            (station, recipient, now),
        ).fetchone()[0]
        return int(delivered) + int(pending)

    @staticmethod
    def _committed(conn: sqlite3.Connection, now: float) -> int:
        row = conn.execute(
            "SELECT COALESCE(SUM(length), 0) FROM uploads"
            " WHERE state = 'receiving' AND expires_at > ?",
            (now,),
        ).fetchone()
        return int(row[0])

    # --- admission ------------------------------------------------------------------------

    def admit(
        self,
        station: str,
        recipient: str,
        bundle_id: str,
        length: int,
        *,
        now: float,
        built_in: Quota,
        free_bytes: Callable[[], int],
        reserve: int,
    ) -> Refusal | None:
        """Checks a new upload against every limit; reserves the bundle id when admitted.

        One write transaction: two admissions never interleave.
        """
        with self.db.transaction() as conn:
            if (
                conn.execute("SELECT 1 FROM recipients WHERE id = ?", (recipient,)).fetchone()
                is None
            ):
                return None  # the creation itself answers 422 unknown_recipient
            refusal = self._check(conn, station, recipient, bundle_id, length, now, built_in)
            if refusal is None and reserve > 0:
                room = free_bytes() - self._committed(conn, now) - length
                if room < reserve:
                    refusal = Refusal(
                        507,
                        "insufficient_storage",
                        "The platform is short of disk space; try again later.",
                        _RETRY_SPACE_S,
                    )
            if refusal is None:
                conn.execute(
                    "INSERT OR IGNORE INTO bundle_reservations"
                    " (recipient_id, bundle_id, station_id, reserved_at) VALUES (?, ?, ?, ?)",
                    (recipient, bundle_id, station, now),
                )
        return refusal

    def _check(
        self,
        conn: sqlite3.Connection,
        station: str,
        recipient: str,
        bundle_id: str,
        length: int,
        now: float,
        built_in: Quota,
    ) -> Refusal | None:
        if self._route_allows(conn, station, recipient) is False:
            return Refusal(
                403,
                "route_forbidden",
                "No route allows this station to write to this recipient.",
            )
        holder = conn.execute(
            "SELECT station_id FROM bundle_reservations WHERE recipient_id = ? AND bundle_id = ?"
            " UNION ALL SELECT sender_station FROM deliveries"
            " WHERE recipient_id = ? AND bundle_id = ?",
            (recipient, bundle_id, recipient, bundle_id),
        ).fetchall()
        if any(row[0] != station for row in holder):
            return Refusal(
                409, "bundle_taken", "Another station holds this bundle_id for this recipient."
            )
        quota = self._stored(conn, station).over(self._stored(conn, DEFAULT_KEY).over(built_in))
        count, declared = self._open(conn, station, now)
        most_uploads, most_bytes = _limit(quota.open_uploads), _limit(quota.open_bytes)
        most_daily = _limit(quota.daily_bytes)
        if most_bytes is not None and length > most_bytes:
            return Refusal(
                413,
                "over_allowance",
                f"The bundle is larger than this station's allowance ({most_bytes} bytes).",
            )
        if most_daily is not None and length > most_daily:
            return Refusal(
                413,
                "over_allowance",
                f"The bundle is larger than the daily allowance per recipient ({most_daily}"
                " bytes).",
            )
        if most_uploads is not None and count + 1 > most_uploads:
            return Refusal(
                429,
                "quota_open_uploads",
                f"This station already has {count} unfinished uploads (at most {most_uploads});"
                " finish or cancel some first.",
                _RETRY_OPEN_S,
            )
        if most_bytes is not None and declared + length > most_bytes:
            return Refusal(
                429,
                "quota_open_bytes",
                f"This station's unfinished uploads would exceed {most_bytes} bytes;"
                " try again when some are finished.",
                _RETRY_OPEN_S,
            )
        if most_daily is not None:
            sent = self._sent_today(conn, station, recipient, now)
            if sent + length > most_daily:
                wait = math.ceil(math.floor(now / _DAY) * _DAY + _DAY - now)
                return Refusal(
                    429,
                    "quota_daily_bytes",
                    f"This station has sent {sent} bytes to this recipient today (at most"
                    f" {most_daily} a day); sending resumes after midnight UTC.",
                    max(1, wait),
                )
        return None


class Admission:
    """Admits upload creations, one at a time per station (see the module's documentation)."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        *,
        clock: Callable[[], float],
        reserve: int = DEFAULT_RESERVE,
        built_in: Quota = BUILT_IN,
    ) -> None:
        """Binds the limits.

        Args:
            db: The platform database.
            data_dir: The folder whose free space is watched.
            clock: POSIX time.
            reserve: Bytes the data folder must keep free (0: no reserve).
            built_in: The limits when no default is stored.
        """
        if reserve < 0:
            raise ValueError("the free-space reserve cannot be negative")
        self.store = LimitsStore(db)
        self.data_dir = data_dir
        self.clock = clock
        self.reserve = reserve
        self.built_in = built_in
        self._locks: dict[str, asyncio.Lock] = {}

    def free_bytes(self) -> int:
        """Free bytes on the data folder's file system."""
        return shutil.disk_usage(self.data_dir).free

    def hold(self, station: str) -> asyncio.Lock:
        """The lock to hold from admission until the upload is recorded."""
        return self._locks.setdefault(station, asyncio.Lock())

    async def admit(self, station: str, recipient: str, bundle_id: str, length: int) -> None:
        """Checks a creation (hold :meth:`hold` until the upload is recorded).

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
            free_bytes=self.free_bytes,
            reserve=self.reserve,
        )
        if refusal is not None:
            raise refusal.to_api_error()


def describe(quota: Quota) -> Iterator[tuple[str, str]]:
    """Readable (name, value) pairs of a quota, for the command line."""
    for name, value in (
        ("open uploads", quota.open_uploads),
        ("open bytes", quota.open_bytes),
        ("daily bytes per recipient", quota.daily_bytes),
    ):
        if value is None:
            shown = "(default)"
        elif value < 0:
            shown = "unlimited"
        else:
            shown = str(value)
        yield name, shown
