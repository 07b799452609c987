"""The stations' journal checkpoints in PostgreSQL: the same rules as :mod:`refplatform.journal`.

Append-only (a trigger refuses UPDATE and DELETE for every writer); one writer per station at
a time across replicas (a transaction-level advisory lock on the station), so two replicas
can never both accept contradicting checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable

from refplatform.journal import MAX_LISTED, Checkpoint, CheckpointRefused
from refplatform.pgrecord import PgRecord, Row, lock_key

__all__ = ["PgCheckpoints"]

_COLUMNS = "count, head, station_time, signature, received_at"


def _checkpoint(row: Row) -> Checkpoint:
    return Checkpoint(
        count=int(row["count"]),
        head=str(row["head"]),
        time=str(row["station_time"]),
        signature=None if row["signature"] is None else str(row["signature"]),
        received_at=float(row["received_at"]),
    )


class PgCheckpoints:
    """Checkpoints kept in PostgreSQL; the interface of :class:`refplatform.journal.Checkpoints`."""

    def __init__(self, record: PgRecord, *, clock: Callable[[], float], quota: int) -> None:
        """Binds to the database; ``quota`` checkpoints per station at most."""
        if quota <= 0:
            raise ValueError("quota must be positive")
        self.record = record
        self.clock = clock
        self.quota = quota

    def add(
        self, station: str, count: int, head: str, when: str, signature: str | None
    ) -> tuple[Checkpoint, bool]:
        """Keeps a checkpoint; see :meth:`refplatform.journal.Checkpoints.add`."""
        with self.record.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("journal:" + station),))
            last = conn.execute(
                f"SELECT {_COLUMNS} FROM journal_checkpoints WHERE station_id = %s"
                " ORDER BY count DESC LIMIT 1",
                (station,),
            ).fetchone()
            if last is not None:
                kept = _checkpoint(last)
                if count < kept.count:
                    raise CheckpointRefused(
                        409,
                        "checkpoint_backwards",
                        f"This station's journal was anchored at {kept.count} entries;"
                        f" a checkpoint of {count} goes backwards.",
                    )
                if count == kept.count:
                    if head != kept.head:
                        raise CheckpointRefused(
                            409,
                            "checkpoint_contradicts",
                            f"Entry {count} of this station's journal was anchored with"
                            " another hash.",
                        )
                    return kept, False
            total = self._total(conn, station)
            if total >= self.quota:
                raise CheckpointRefused(
                    507,
                    "checkpoint_quota",
                    f"This station has {total} checkpoints, the most the platform keeps.",
                )
            received = self.clock()
            conn.execute(
                "INSERT INTO journal_checkpoints (station_id, count, head, station_time,"
                " signature, received_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (station, count, head, when, signature, received),
            )
        return Checkpoint(count, head, when, signature, received), True

    def list(self, station: str, *, after: int = 0, limit: int = MAX_LISTED) -> list[Checkpoint]:
        """``station``'s checkpoints anchoring more than ``after`` entries, oldest first."""
        with self.record.connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM journal_checkpoints WHERE station_id = %s"
                " AND count > %s ORDER BY count LIMIT %s",
                (station, after, max(0, min(limit, MAX_LISTED))),
            ).fetchall()
        return [_checkpoint(row) for row in rows]

    def total(self, station: str) -> int:
        """How many checkpoints ``station`` has."""
        with self.record.connect() as conn:
            return self._total(conn, station)

    @staticmethod
    def _total(conn: object, station: str) -> int:
        row = conn.execute(  # type: ignore[attr-defined]
            "SELECT COUNT(*) AS n FROM journal_checkpoints WHERE station_id = %s", (station,)
        ).fetchone()
        return int(row["n"])
