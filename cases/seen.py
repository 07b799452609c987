"""What a person has already been shown, kept across sessions, so that what arrived while
they were logged out is announced when they log in, and stays marked until opened.

Identifiers only (bundle and case ids, the random UUIDs the platform and the audit journal
see too), one small JSON file per identity: ``seen/<identity id>.json``. Nothing clinical.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from outbox.spool import atomic_write

log = logging.getLogger(__name__)

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_IDS = 100_000
"""More ids than a workstation will ever hold: a file claiming more is not ours."""


@dataclass(frozen=True)
class Seen:
    """``listed``: the documents (bundle ids) the person's list showed last; ``unread``: the
    cases announced as new and not opened yet."""

    listed: frozenset[str] = field(default_factory=frozenset)
    unread: frozenset[str] = field(default_factory=frozenset)


class SeenStore:
    """The :class:`Seen` of one identity of a profile."""

    def __init__(self, folder: Path, identity_id: str) -> None:
        if not _ID.fullmatch(identity_id) or identity_id.startswith("."):
            raise ValueError(f"not an identity id: {identity_id!r}")
        self.path = folder / f"{identity_id}.json"
        self._lock = threading.Lock()
        self._written = -1  # the version last written
        self._last: Seen | None = None  # what it said (a refresh that changed nothing: no write)

    def load(self) -> Seen | None:
        """What was seen, or None the first time (or when the file is unreadable: then
        nothing is announced rather than everything)."""
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            listed, unread = raw["listed"], raw["unread"]
            if not all(isinstance(v, list) and len(v) <= MAX_IDS for v in (listed, unread)):
                raise ValueError("not lists of ids")
            if not all(isinstance(i, str) and _ID.fullmatch(i) for i in listed + unread):
                raise ValueError("not ids")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the list of what was seen is unreadable (%s): starting afresh", exc)
            return None
        return Seen(frozenset(listed), frozenset(unread))

    def save(self, seen: Seen, version: int | None = None) -> bool:
        """Keep ``seen``; ``version`` (by default, now) orders the saves: an older one that
        ends last is dropped, and so is one that says what was last written. Returns whether
        it was written."""
        version = time.monotonic_ns() if version is None else version
        data = json.dumps({"listed": sorted(seen.listed), "unread": sorted(seen.unread)})
        with self._lock:
            if version < self._written or seen == self._last:
                return False
            atomic_write(self.path, data.encode("utf-8"))
            self._written, self._last = version, seen
        return True
