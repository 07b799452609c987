"""Wrong passphrases, and the growing delay after them, per identity of a profile.

The first :data:`FREE_FAILURES` wrong passphrases in a row cost nothing (a typo, the caps
lock); after that each one starts a delay, 2 s, 4 s, 8 s… up to :data:`MAX_DELAY` (5 minutes),
during which :meth:`cases.profile.Profile.unlock` refuses at once with
:class:`cases.profile.UnlockDelayed`, without even trying the passphrase. A successful
unlock resets the count.

The count and the time of the last failure live in the profile's SQLite file
(``passavant.sqlite``, mode 0600, table ``unlock_failures``: an identity id, a number, a
time; no secret, nothing clinical), so that neither a restart nor a second process (the
command line beside the app) starts afresh. Updates are transactions: two processes failing
at once both count.

If the file cannot be used (locked beyond its timeout, damaged), unlocking goes on without a
delay and the failure is logged: a broken queue database must not lock a doctor out, and
whoever can damage the file can also copy the key file and guess offline.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from outbox.spool import private_file

__all__ = [
    "FIRST_DELAY",
    "FREE_FAILURES",
    "MAX_DELAY",
    "FailedUnlocks",
    "delay_after",
]

log = logging.getLogger(__name__)

FREE_FAILURES = 3
"""Wrong passphrases in a row that start no delay."""

FIRST_DELAY = 2.0
"""Seconds of the first delay (after failure ``FREE_FAILURES + 1``); each next one doubles."""

MAX_DELAY = 300.0
"""The longest delay, in seconds (5 minutes)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS unlock_failures (
    identity_id TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure REAL NOT NULL
)
"""


def delay_after(failures: int) -> float:
    """Seconds to wait after ``failures`` wrong passphrases in a row: 0, 0, 0, 2, 4, 8… 300."""
    if failures <= FREE_FAILURES:
        return 0.0
    doublings = min(failures - FREE_FAILURES - 1, 32)  # past 5 minutes anyway
    return min(MAX_DELAY, FIRST_DELAY * (1 << doublings))


class FailedUnlocks:
    """The wrong-passphrase counts of a profile's identities (in ``db_path``).

    Nothing touches the disk before the first call. ``clock`` gives wall-clock seconds
    (injectable for tests): a delay must survive a restart, which a monotonic clock does not.
    """

    def __init__(self, db_path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.db_path = db_path
        self.clock = clock

    def seconds_left(self, identity_id: str) -> float:
        """Seconds before ``identity_id`` may be tried again; 0 when it may be now."""
        try:
            with self._transaction(write=False) as db:
                row = db.execute(
                    "SELECT failures, last_failure FROM unlock_failures WHERE identity_id = ?",
                    (identity_id,),
                ).fetchone()
            if row is None:
                return 0.0
            failures, last = int(row[0]), float(row[1])
            now = self.clock()
            if last > now:  # the clock was set back: the delay runs from now, once
                with self._transaction() as db:
                    db.execute(
                        "UPDATE unlock_failures SET last_failure = ? WHERE identity_id = ?",
                        (now, identity_id),
                    )
                last = now
        except (sqlite3.Error, OSError) as exc:
            log.warning("cannot read the failed unlocks (%s): no delay applied", exc)
            return 0.0
        return max(0.0, last + delay_after(failures) - now)

    def failures(self, identity_id: str) -> int:
        """Wrong passphrases in a row for ``identity_id`` (0 after a success)."""
        try:
            with self._transaction(write=False) as db:
                row = db.execute(
                    "SELECT failures FROM unlock_failures WHERE identity_id = ?", (identity_id,)
                ).fetchone()
        except (sqlite3.Error, OSError) as exc:
            log.warning("cannot read the failed unlocks (%s)", exc)
            return 0
        return 0 if row is None else int(row[0])

    def record_failure(self, identity_id: str) -> float:
        """Count one more wrong passphrase; returns the delay it starts (seconds, maybe 0)."""
        now = self.clock()
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO unlock_failures VALUES (?, 1, ?) ON CONFLICT (identity_id) "
                    "DO UPDATE SET failures = failures + 1, last_failure = excluded.last_failure",
                    (identity_id, now),
                )
                failures = int(
                    db.execute(
                        "SELECT failures FROM unlock_failures WHERE identity_id = ?",
                        (identity_id,),
                    ).fetchone()[0]
                )
        except (sqlite3.Error, OSError) as exc:
            log.warning("cannot count a failed unlock (%s)", exc)
            return 0.0
        delay = delay_after(failures)
        log.info(
            "wrong passphrase for %s (%d in a row): next try in %.0f s",
            identity_id,
            failures,
            delay,
        )
        return delay

    def reset(self, identity_id: str) -> None:
        """Forget the failures of ``identity_id`` (after a successful unlock)."""
        try:
            with self._transaction() as db:
                db.execute("DELETE FROM unlock_failures WHERE identity_id = ?", (identity_id,))
        except (sqlite3.Error, OSError) as exc:
            log.warning("cannot reset the failed unlocks (%s)", exc)

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction, committed at the end; ``write=False``: a read
        transaction, which does not wait for the queue's writers."""
        private_file(self.db_path)  # 0600 before SQLite would create it with the umask
        db = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
        try:
            db.execute(_SCHEMA)
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()
