"""``passavant outbox status [--json]``: the jobs, as a French table or as JSON for scripts.

It only reads the queue's database (:class:`QueueView`), so it never disturbs a ``run`` in
another process: opening the queue itself would repair it, and requeue the very jobs that
process is sending.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.commands.station import profile_of
from app.i18n import _
from app.messages import human_duration, human_size, job_state_label, reason

__all__ = ["ACTIVE_STATES", "QueueView", "add_parser"]

ACTIVE_STATES = frozenset({"pending", "queued", "sending", "retry", "waiting_retry"})
"""States in which a job still waits to be sent (the names the queue uses, old and new)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``status`` to the ``outbox`` actions."""
    status = sub.add_parser("status", help="list the queued bundles")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)


class QueueView:
    """Reads the jobs table without opening (and so without repairing) the queue.

    Opening :class:`outbox.queue.Outbox` requeues jobs left in ``sending``, which are the ones
    a ``run`` in another process is sending; a status listing must not. This only selects.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=10.0)
        try:
            conn.execute("PRAGMA query_only = ON")
            yield conn
        finally:
            conn.close()

    def rows(self) -> list[dict[str, Any]]:
        """Every job as a plain dict (oldest first); the upload URL is left out."""
        if not self.db_path.exists():
            return []
        with self._connect() as conn:
            names = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
            if not names:
                return []
            columns = [n for n in names if n != "upload_url"]
            cursor = conn.execute(f"SELECT {', '.join(columns)} FROM jobs ORDER BY created_at")
            return [dict(zip(columns, row, strict=True)) for row in cursor]

    def all_paused(self) -> bool:
        """Whether the whole queue is paused (the outage mode of ``Outbox.pause_all``)."""
        if not self.db_path.exists():
            return False
        with self._connect() as conn:
            try:
                row = conn.execute(
                    "SELECT value FROM outbox_settings WHERE key = 'paused_all'"
                ).fetchone()
            except sqlite3.OperationalError:  # a queue without the outage mode
                return False
        return row is not None and row[0] == "1"

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        if not self.db_path.exists():
            return {}
        with self._connect() as conn:
            try:
                rows = conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
            except sqlite3.OperationalError:  # no table yet
                return {}
        return {str(state): int(count) for state, count in rows}


def _status(args: argparse.Namespace) -> int:
    profile = profile_of(args)
    view = QueueView(profile.db_path)
    rows, paused = view.rows(), view.all_paused()
    if args.json:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        document = {"paused_all": paused, "counts": counts, "jobs": rows}
        print(json.dumps(document, ensure_ascii=False, indent=1))
        return 0
    if paused:
        print(_("Toute la file est en pause (reprise : passavant outbox resume --all)."))
    if not rows:
        print(_("La file d’envoi est vide."))
        return 0
    now = time.time()
    table = [[_("Envoi"), _("Destinataire"), _("État"), _("Progression"), _("Essais"), _("Motif")]]
    for row in rows:
        state = job_state_label(str(row["state"]))
        due = row.get("next_attempt_at")
        if row["state"] in ("retry", "waiting_retry") and isinstance(due, int | float):
            state += " " + _("(dans {d})").format(d=human_duration(due - now))
        progress = f"{human_size(row['bytes_sent'])} / {human_size(row['size'])}"
        code = row.get("last_error_code")
        table.append(
            [
                str(row["bundle_id"])[:16],
                str(row["recipient_label"]),
                state,
                progress,
                str(row["attempts"]),
                reason(code) if code and row["state"] not in ("delivered", "acknowledged") else "",
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    return 0
