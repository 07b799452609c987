"""What the administration commands read and change beyond accounts: the recipients' list and
removal, and the platform's status (embedded back-end; the SQL is here, in one place).

Stations and recipients are added with :mod:`refplatform.accounts`; routes and quotas live in
:mod:`refplatform.quotas`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass
from typing import Any

from refplatform.db import SCHEMA_VERSION, Database
from refplatform.storage import Layout

__all__ = [
    "MailboxDepth",
    "PlatformStatus",
    "RecipientBusy",
    "list_recipients",
    "platform_status",
    "remove_recipient",
]

log = logging.getLogger(__name__)


def list_recipients(db: Database, station: str | None = None) -> list[dict[str, Any]]:
    """Recipients (all, or one station's), with how many items wait in their mailboxes."""
    query = (
        "SELECT r.id, r.station_id, r.display_name, r.role, r.specialty, r.certificate_sha256,"
        " r.rpps, (SELECT COUNT(*) FROM mailbox_items m WHERE m.recipient_id = r.id) AS waiting"
        " FROM recipients r"
    )
    params: tuple[str, ...] = ()
    if station is not None:
        query += " WHERE r.station_id = ?"
        params = (station,)
    with db.connect() as conn:
        rows = conn.execute(query + " ORDER BY r.station_id, r.id", params).fetchall()
    return [dict(row) for row in rows]


class RecipientBusy(RuntimeError):
    """The recipient still has bundles waiting in its mailbox."""

    def __init__(self, waiting: int) -> None:
        """Says how many."""
        super().__init__(f"{waiting} bundle(s) still wait in this recipient's mailbox")
        self.waiting = waiting


def remove_recipient(db: Database, layout: Layout, recipient_id: str, *, force: bool) -> bool:
    """Removes a recipient from the directory, and the routes to it.

    Its delivery records stay (a bundle id already delivered is still recognised). Waiting
    bundles are removed too with ``force``; without it they make the removal fail.

    Returns:
        ``False`` if there is no such recipient.

    Raises:
        RecipientBusy: If bundles wait and ``force`` is not set.
    """
    with db.transaction() as conn:
        if (
            conn.execute("SELECT 1 FROM recipients WHERE id = ?", (recipient_id,)).fetchone()
            is None
        ):
            return False
        waiting = conn.execute(
            "SELECT bundle_id FROM mailbox_items WHERE recipient_id = ?", (recipient_id,)
        ).fetchall()
        if waiting and not force:
            raise RecipientBusy(len(waiting))
        conn.execute("DELETE FROM mailbox_items WHERE recipient_id = ?", (recipient_id,))
        conn.execute(
            "DELETE FROM routes WHERE to_kind = 'recipient' AND to_id = ?", (recipient_id,)
        )
        conn.execute("DELETE FROM recipients WHERE id = ?", (recipient_id,))
    # After the commit: a file left by a crash here is removed by the next start's recovery.
    for row in waiting:
        layout.mailbox_path(recipient_id, str(row[0])).unlink(missing_ok=True)
    log.info("recipient %s removed (%d waiting bundle(s) dropped)", recipient_id, len(waiting))
    return True


@dataclass(frozen=True)
class MailboxDepth:
    """A mailbox's waiting items."""

    recipient: str
    station: str
    items: int
    bytes: int


@dataclass(frozen=True)
class PlatformStatus:
    """What ``passavant platform status`` reports."""

    schema: int
    schema_expected: int
    integrity: str
    database_bytes: int
    free_bytes: int
    total_bytes: int
    stations: int
    revoked: int
    recipients: int
    routes: int
    uploads_open: int
    uploads_declared: int
    uploads_received: int
    deliveries: int
    mailboxes: list[MailboxDepth]


def platform_status(db: Database, layout: Layout, now: float) -> PlatformStatus:
    """Reads the platform's state: database, storage, uploads in progress, mailbox depths."""
    with db.connect() as conn:
        schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
        integrity = str(conn.execute("PRAGMA quick_check").fetchone()[0])

        def count(query: str, *params: object) -> int:
            return int(conn.execute(query, params).fetchone()[0])

        stations = count("SELECT COUNT(*) FROM stations")
        revoked = count("SELECT COUNT(*) FROM stations WHERE revoked_at IS NOT NULL")
        recipients = count("SELECT COUNT(*) FROM recipients")
        routes = count("SELECT COUNT(*) FROM routes")
        deliveries = count("SELECT COUNT(*) FROM deliveries")
        open_rows = conn.execute(
            "SELECT id, length FROM uploads WHERE state = 'receiving' AND expires_at > ?", (now,)
        ).fetchall()
        depth_rows = conn.execute(
            "SELECT m.recipient_id, COALESCE(r.station_id, '?'), COUNT(*), SUM(d.size)"
            " FROM mailbox_items m JOIN deliveries d"
            " ON d.recipient_id = m.recipient_id AND d.bundle_id = m.bundle_id"
            " LEFT JOIN recipients r ON r.id = m.recipient_id"
            " GROUP BY m.recipient_id ORDER BY COUNT(*) DESC, m.recipient_id"
        ).fetchall()
    received = 0
    for row in open_rows:
        with contextlib.suppress(FileNotFoundError):
            received += layout.part_path(str(row[0])).stat().st_size
    database_bytes = sum(
        path.stat().st_size
        for path in layout.root.glob(layout.db_path.name + "*")
        if path.is_file()
    )
    usage = shutil.disk_usage(layout.root)
    return PlatformStatus(
        schema=schema,
        schema_expected=SCHEMA_VERSION,
        integrity=integrity,
        database_bytes=database_bytes,
        free_bytes=usage.free,
        total_bytes=usage.total,
        stations=stations,
        revoked=revoked,
        recipients=recipients,
        routes=routes,
        uploads_open=len(open_rows),
        uploads_declared=sum(int(row[1]) for row in open_rows),
        uploads_received=received,
        deliveries=deliveries,
        mailboxes=[
            MailboxDepth(str(row[0]), str(row[1]), int(row[2]), int(row[3] or 0))
            for row in depth_rows
        ],
    )
