"""What the outbox repairs when it opens, after a crash or a power cut.

Three leftovers are possible, and each has one repair:

- a job the application was sending when it stopped (state ``sending``): put back in
  ``waiting_retry``, due now; the sender resumes it where the platform left off;
- a spool file no job refers to (a crash between the spool file's rename and the row's
  commit): removed, never sent; so is the spool file of a cancelled job;
- a job still to send whose spool file is gone: quarantined with ``disk_error``, for the
  operator to see.

Everything runs under the database's write lock, so an enqueue in another process (which writes
its spool file while holding that lock) is never mistaken for an orphan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from outbox import spool
from outbox.db import Database
from outbox.jobs import ACTIVE_STATES, JobState

__all__ = ["Recovery", "repair_after_crash"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovery:
    """What :class:`~outbox.queue.Outbox` repaired when it opened (bundle ids only).

    Attributes:
        requeued: Jobs a crash left in ``sending``, put back in ``waiting_retry``.
        orphans_removed: Spool files with no job (a crash before the row was committed).
        missing_spool: Jobs whose spool file was gone, quarantined with ``disk_error``.
    """

    requeued: tuple[str, ...] = ()
    orphans_removed: tuple[str, ...] = ()
    missing_spool: tuple[str, ...] = ()


def repair_after_crash(
    db: Database, spool_dir: Path, spool_path: Callable[[str], Path]
) -> Recovery:
    """Repairs what a crash left in the queue ``db`` and its ``spool_dir``.

    Args:
        db: The queue's database.
        spool_dir: The directory of the spool files.
        spool_path: The spool file of a bundle id.

    Returns:
        What was repaired.
    """
    orphans: list[str] = []
    with db.transaction() as conn:
        spool.remove_temp_files(spool_dir)
        rows = conn.execute("SELECT bundle_id, state FROM jobs").fetchall()
        states = {row["bundle_id"]: JobState(row["state"]) for row in rows}
        requeued = tuple(b for b, s in states.items() if s is JobState.SENDING)
        conn.execute(
            "UPDATE jobs SET state = ?, next_attempt_at = NULL WHERE state = ?",
            (JobState.WAITING_RETRY.value, JobState.SENDING.value),
        )
        missing = tuple(
            b for b, s in states.items() if s in ACTIVE_STATES and not spool_path(b).exists()
        )
        for bundle_id in missing:
            conn.execute(
                "UPDATE jobs SET state = ?, last_error_code = 'disk_error',"
                " last_error_detail = 'spool file missing at start-up', next_attempt_at = NULL"
                " WHERE bundle_id = ?",
                (JobState.QUARANTINED.value, bundle_id),
            )
        for path in sorted(spool_dir.glob(f"*{spool.SPOOL_SUFFIX}")):
            bundle_id = path.name.removesuffix(spool.SPOOL_SUFFIX)
            state = states.get(bundle_id)
            if state is None or state is JobState.CANCELLED:
                spool.remove_file(path)
                if state is None:
                    orphans.append(bundle_id)
        if orphans:
            spool.fsync_dir(spool_dir)
    for bundle_id in requeued:
        log.warning("bundle %s was being sent when the app stopped; will resume", bundle_id)
    for bundle_id in orphans:
        log.warning("removed spool file %s that no job refers to", bundle_id)
    for bundle_id in missing:
        log.error("spool file of bundle %s is missing; job quarantined", bundle_id)
    return Recovery(requeued, tuple(orphans), missing)
