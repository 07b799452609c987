"""What the administration commands read and change, on the distributed back-end.

The PostgreSQL side of :mod:`refplatform.registry` (recipients' list and removal, the
platform's status), with the same results, so that ``passavant platform recipient|status`` can
work on both back-ends. Stations are in :class:`refplatform.pgrecord.PgRecord`; routes and
quotas in :class:`refplatform.pglimits.PgLimitsStore`.

The object store has no free-space query: the status's ``free_bytes`` and ``total_bytes`` are
0 there (unknown), and ``database_bytes`` is PostgreSQL's size of the database.
"""

from __future__ import annotations

import logging
from typing import Any

from refplatform.backend import Blobs
from refplatform.pgrecord import PG_SCHEMA_VERSION, PgRecord
from refplatform.registry import MailboxDepth, PlatformStatus, RecipientBusy

__all__ = ["list_recipients", "platform_status", "remove_recipient"]

log = logging.getLogger(__name__)


def list_recipients(record: PgRecord, station: str | None = None) -> list[dict[str, Any]]:
    """Recipients (all, or one station's), with how many items wait in their mailboxes."""
    query = (
        "SELECT r.id, r.station_id, r.display_name, r.role, r.specialty, r.certificate_sha256,"
        " r.rpps, (SELECT COUNT(*) FROM mailbox_items m WHERE m.recipient_id = r.id) AS waiting"
        " FROM recipients r"
    )
    params: tuple[str, ...] = ()
    if station is not None:
        query += " WHERE r.station_id = %s"
        params = (station,)
    with record.connect() as conn:
        rows = conn.execute(query + " ORDER BY r.station_id, r.id", params).fetchall()
    return [dict(row) for row in rows]


def remove_recipient(record: PgRecord, blobs: Blobs, recipient_id: str, *, force: bool) -> bool:
    """Removes a recipient and the routes to it (see :func:`refplatform.registry.remove_recipient`).

    Delivery records stay. Waiting bundles go too with ``force`` (their pieces' rows in the same
    transaction, their objects after it: the sweeper removes any left).

    Raises:
        RecipientBusy: If bundles wait and ``force`` is not set.
    """
    with record.transaction() as conn:
        if (
            conn.execute("SELECT 1 FROM recipients WHERE id = %s", (recipient_id,)).fetchone()
            is None
        ):
            return False
        waiting = conn.execute(
            "SELECT d.blob_id FROM mailbox_items m JOIN deliveries d"
            " ON d.recipient_id = m.recipient_id AND d.bundle_id = m.bundle_id"
            " WHERE m.recipient_id = %s",
            (recipient_id,),
        ).fetchall()
        if waiting and not force:
            raise RecipientBusy(len(waiting))
        keys = conn.execute(
            "DELETE FROM pieces WHERE blob_id = ANY(%s) RETURNING object_key",
            ([str(row["blob_id"]) for row in waiting],),
        ).fetchall()
        conn.execute("DELETE FROM mailbox_items WHERE recipient_id = %s", (recipient_id,))
        conn.execute(
            "DELETE FROM routes WHERE to_kind = 'recipient' AND to_id = %s", (recipient_id,)
        )
        conn.execute("DELETE FROM recipients WHERE id = %s", (recipient_id,))
    if keys:
        blobs.delete(str(row["object_key"]) for row in keys)
    log.info("recipient %s removed (%d waiting bundle(s) dropped)", recipient_id, len(waiting))
    return True


def platform_status(record: PgRecord, now: float) -> PlatformStatus:
    """Reads the platform's state: database, uploads in progress, mailbox depths."""
    with record.connect() as conn:

        def count(query: str, *params: object) -> int:
            row = conn.execute(query, params).fetchone()
            assert row is not None
            return int(next(iter(row.values())) or 0)

        schema = count("SELECT version FROM platform_schema")
        database_bytes = count("SELECT pg_database_size(current_database())")
        stations = count("SELECT COUNT(*) FROM stations")
        revoked = count("SELECT COUNT(*) FROM stations WHERE revoked_at IS NOT NULL")
        recipients = count("SELECT COUNT(*) FROM recipients")
        routes = count("SELECT COUNT(*) FROM routes")
        deliveries = count("SELECT COUNT(*) FROM deliveries")
        uploads = conn.execute(
            "SELECT COUNT(*) AS n, COALESCE(SUM(length), 0) AS declared,"
            " COALESCE(SUM(committed), 0) AS received FROM uploads"
            " WHERE state = 'receiving' AND expires_at > %s",
            (now,),
        ).fetchone()
        depth_rows = conn.execute(
            "SELECT m.recipient_id, COALESCE(r.station_id, '?') AS station, COUNT(*) AS items,"
            " SUM(d.size) AS bytes FROM mailbox_items m JOIN deliveries d"
            " ON d.recipient_id = m.recipient_id AND d.bundle_id = m.bundle_id"
            " LEFT JOIN recipients r ON r.id = m.recipient_id"
            " GROUP BY m.recipient_id, r.station_id ORDER BY COUNT(*) DESC, m.recipient_id"
        ).fetchall()
    assert uploads is not None
    return PlatformStatus(
        schema=schema,
        schema_expected=PG_SCHEMA_VERSION,
        integrity="ok",  # PostgreSQL checks its pages itself; it answered
        database_bytes=database_bytes,
        free_bytes=0,
        total_bytes=0,
        stations=stations,
        revoked=revoked,
        recipients=recipients,
        routes=routes,
        uploads_open=int(uploads["n"]),
        uploads_declared=int(uploads["declared"]),
        uploads_received=int(uploads["received"]),
        deliveries=deliveries,
        mailboxes=[
            MailboxDepth(
                str(r["recipient_id"]), str(r["station"]), int(r["items"]), int(r["bytes"] or 0)
            )
            for r in depth_rows
        ],
    )
