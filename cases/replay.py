"""The replay registry: the bundle ids opened on this workstation (docs/threat-model.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cases.errors import AlreadyOpened

_REGISTRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS opened_bundles (
    bundle_id   TEXT PRIMARY KEY,
    reader      TEXT NOT NULL,
    opened_at   TEXT NOT NULL
)
"""


class OpenedRegistry:
    """The bundle ids opened on this workstation, to spot a replayed bundle.

    A separate step from :func:`unpack`: re-reading one's own archive is normal, so only
    the callers that receive something new (the inbox, ``passavant bundle open``) ask.
    Keeps ids, reader fingerprints and times only (a table in the profile's SQLite file).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        with self._db() as db:
            db.execute(_REGISTRY_SCHEMA)

    def opened_at(self, bundle_id: str) -> datetime | None:
        """When ``bundle_id`` was first opened here, or ``None``."""
        with self._db() as db:
            row = db.execute(
                "SELECT opened_at FROM opened_bundles WHERE bundle_id = ?", (bundle_id,)
            ).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def check(self, bundle_id: str) -> None:
        """Raise :class:`AlreadyOpened` if ``bundle_id`` was opened here before."""
        if self.opened_at(bundle_id) is not None:
            raise AlreadyOpened(f"bundle {bundle_id} was opened before")

    def record(
        self, bundle_id: str, reader_fingerprint: str, *, now: datetime | None = None
    ) -> None:
        """Record a first opening, atomically; raise :class:`AlreadyOpened` if it is not one.

        Call it only after the bundle was verified, so that a forged id cannot block the
        real bundle.
        """
        when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        try:
            with self._db() as db:
                db.execute(
                    "INSERT INTO opened_bundles VALUES (?, ?, ?)",
                    (bundle_id, reader_fingerprint, when.isoformat()),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyOpened(f"bundle {bundle_id} was opened before") from exc

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()
