"""Copying the accounts of an embedded platform into the distributed one's PostgreSQL.

Stations keep their token (only its SHA-256 is copied, as stored), so workstations set up
against an embedded platform (the demo's, for instance) work unchanged against the
distributed one. Recipients are copied with their certificates. Rows already there are
updated; uploads, mailboxes and journal checkpoints are not copied.

Until the administration commands (``passavant platform station|recipient …``) speak to
PostgreSQL themselves, this is how accounts reach it::

    python -m refplatform.pgimport --data DIR --database postgresql://USER@HOST:PORT/DB
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from refplatform.backend import BackendUnavailable
from refplatform.db import open_database
from refplatform.pgrecord import PgRecord

__all__ = ["copy_accounts", "main"]


def copy_accounts(data_dir: Path, record: PgRecord) -> tuple[int, int]:
    """Copies every station and recipient of ``data_dir`` into ``record``.

    Returns:
        How many stations and recipients were copied.
    """
    db = open_database(data_dir)
    with db.connect() as conn:
        stations = [dict(row) for row in conn.execute("SELECT * FROM stations")]
        recipients = [dict(row) for row in conn.execute("SELECT * FROM recipients")]
    with record.transaction() as pg:
        for station in stations:
            pg.execute(
                "INSERT INTO stations (id, token_sha256, created_at, updated_at, revoked_at)"
                " VALUES (%(id)s, %(token_sha256)s, %(created_at)s, %(updated_at)s,"
                " %(revoked_at)s) ON CONFLICT (id) DO UPDATE SET"
                " token_sha256 = excluded.token_sha256, updated_at = excluded.updated_at,"
                " revoked_at = excluded.revoked_at",
                station,
            )
        for recipient in recipients:
            pg.execute(
                "INSERT INTO recipients (id, station_id, display_name, role, specialty,"
                " certificate_pem, certificate_sha256, rpps, updated_at) VALUES (%(id)s,"
                " %(station_id)s, %(display_name)s, %(role)s, %(specialty)s,"
                " %(certificate_pem)s, %(certificate_sha256)s, %(rpps)s, %(updated_at)s)"
                " ON CONFLICT (id) DO UPDATE SET station_id = excluded.station_id,"
                " display_name = excluded.display_name, role = excluded.role,"
                " specialty = excluded.specialty, certificate_pem = excluded.certificate_pem,"
                " certificate_sha256 = excluded.certificate_sha256, rpps = excluded.rpps,"
                " updated_at = excluded.updated_at",
                recipient,
            )
    return len(stations), len(recipients)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m refplatform.pgimport --data DIR --database URL``; 0 on success."""
    parser = argparse.ArgumentParser(
        prog="python -m refplatform.pgimport",
        description="Copy an embedded platform's stations and recipients into PostgreSQL.",
    )
    parser.add_argument("--data", type=Path, required=True, metavar="DIR")
    parser.add_argument("--database", required=True, metavar="URL")
    args = parser.parse_args(argv)
    if not (args.data / "platform.sqlite").exists():
        print(f"no platform database in {args.data}", file=sys.stderr)
        return 1
    try:
        record = PgRecord(args.database)
    except (BackendUnavailable, RuntimeError) as exc:
        print(f"cannot open the database: {exc}", file=sys.stderr)
        return 1
    try:
        stations, recipients = copy_accounts(args.data, record)
    finally:
        record.close()
    print(f"{stations} station(s) and {recipients} recipient(s) copied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
