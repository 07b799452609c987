"""An append-only, hash-chained audit journal (JSON lines) of what a workstation did.

Each line is one entry::

    {"seq": 7, "time": "2026-11-23T10:15:02Z", "event": "bundle_opened", "actor": "dr-bernard",
     "details": {"bundle_id": "…", "size": 18234}, "prev": "<hash of entry 6>", "hash": "…"}

where ``hash = SHA-256(prev || canonical JSON of the entry without "hash")`` (``prev`` as its
64 ASCII hex digits, the JSON with sorted keys, no spaces, UTF-8), and the first entry's
``prev`` is 64 zeros. :func:`verify` recomputes the chain, so an edited, removed, reordered or
inserted entry and a truncated last line are found, with the line they are on.

A chain alone cannot detect a journal rewritten from the edited line to its end, nor the
removal of its last entries: keep the head (the last entry's number and hash, :func:`head`)
somewhere else and pass what was kept back to :func:`verify` as ``anchors`` (each an
:class:`Anchor`: "entry *count* had hash *head*"; ``cases.anchor`` sends them to the platform,
which keeps them append-only) or as ``expected_head``. An anchor whose entry is gone shows a
truncated journal; one whose entry has another hash shows a journal rewritten at or before
that entry, even when the whole chain was recomputed (:class:`Anchoring`).

The journal never holds clinical content: only identifiers, fingerprints, sizes, counts and
reason codes. :func:`append` enforces it with an allow-list of detail keys and values that must
be numbers, booleans or short tokens without spaces (a sentence cannot get in).

Appends are durable (``fsync``) and serialised both between threads of one process (a lock)
and between processes (``fcntl.flock`` on POSIX). The line format, the hashes and
:func:`verify` are in :mod:`crypto.auditchain` (re-exported here); this module writes, reads
and keeps free text out. Neither imports anything else from the project.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The chain and its verification live in crypto.auditchain; their names stay reachable here.
from crypto.auditchain import (
    GENESIS,
    Anchor,
    Anchoring,
    Problem,
    Report,
    canonical,
    entry_hash,
    journal_lines,
    parse_line,
    verify,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock only
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DETAIL_KEYS",
    "EVENTS",
    "GENESIS",
    "Anchor",
    "Anchoring",
    "AuditError",
    "Entry",
    "Problem",
    "Report",
    "append",
    "canonical",
    "entry_hash",
    "head",
    "read",
    "verify",
]

EVENTS = frozenset(
    {
        "identity_unlocked",
        "bundle_sealed",
        "bundle_sent",
        "bundle_opened",
        "bundle_cancelled",
        "receipt_received",
        "bundle_erased",
        "bundle_refused",
        "bundle_discarded",
    }
)
"""The events the product writes; other names are accepted if they look like these."""

DETAIL_KEYS = frozenset(
    {
        "bundle_id",
        "receipt_id",
        "case_id",
        "in_reply_to",
        "kind",
        "identity",
        "fingerprint",
        "signer",
        "sender",
        "recipient",
        "recipients",
        "reader",
        "issuer",
        "serial",
        "size",
        "files",
        "count",
        "code",
        "reason",
        "role",
        "key",
        "format",
        "command",
        "status",
        "attempt",
        "station",
        "mailbox",
        "pinned",
    }
)
"""The only keys allowed in ``details``: identifiers, fingerprints, sizes, counts, codes."""

_EVENT = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_TOKEN = re.compile(r"[A-Za-z0-9_.:@/+=-]{0,128}")
_MAX_LIST = 64
_TAIL_BLOCK = 4096

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class AuditError(ValueError):
    """An entry was refused (unknown detail key, a value that could hold free text)."""

    code = "audit_refused"


@dataclass(frozen=True)
class Entry:
    """One journal entry, as read back."""

    seq: int
    time: str
    event: str
    actor: str
    details: dict[str, Any]
    prev: str
    hash: str
    line: int


def append(
    path: Path,
    event: str,
    *,
    actor: str,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Entry:
    """Append one entry and fsync it; return it.

    Args:
        path: The journal file (created with its directory, mode 0600, if missing).
        event: One of :data:`EVENTS` or another lowercase ``snake_case`` name.
        actor: Who acted: an identity id or a certificate fingerprint (a short token).
        details: Facts about the event; keys from :data:`DETAIL_KEYS`, values numbers,
            booleans, ``None``, short tokens without spaces, or lists of those.
        now: The time to record (default: the clock), stored in UTC to the second.

    Raises:
        AuditError: An entry that could carry free text (and so clinical content).
        OSError: The journal cannot be written.
    """
    clean = _checked(event, actor, details or {})
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the file: 0600
    created = not path.exists()
    with _lock_for(path), _open_locked(path) as fd:
        last, ends_cleanly = _last_entry(fd)
        record: dict[str, Any] = {
            "seq": last[0] + 1,
            "time": when,
            "event": event,
            "actor": actor,
            "details": clean,
            "prev": last[1],
        }
        record["hash"] = entry_hash(record)
        # After a crash mid-append, the cut line stays on its own line for verify() to report.
        line = (b"" if ends_cleanly else b"\n") + canonical(record) + b"\n"
        remaining = memoryview(line)
        while remaining:  # O_APPEND: each write lands at the end, under the flock
            remaining = remaining[os.write(fd, remaining) :]
        os.fsync(fd)
    if created and os.name == "posix":  # make the new file's directory entry durable too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return Entry(**record, line=0)


def read(path: Path) -> list[Entry]:
    """Every well-formed entry of the journal, in file order (damaged lines are skipped)."""
    found = []
    for number, raw in journal_lines(path):
        parsed = parse_line(raw)
        if isinstance(parsed, dict):
            found.append(Entry(**parsed, line=number))
    return found


def head(path: Path) -> tuple[int, str]:
    """``(seq, hash)`` of the journal's last well-formed entry (``(0, GENESIS)`` if none).

    Reads only the end of the file, under the same lock as :func:`append` (shared between
    processes), so it is cheap enough to call every minute whatever the journal's size.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return 0, GENESIS
    try:
        with _lock_for(path):
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            return _last_entry(fd)[0]
    finally:
        os.close(fd)


# --- entries ------------------------------------------------------------------------------


def _checked(event: str, actor: str, details: Mapping[str, Any]) -> dict[str, Any]:
    if not _EVENT.fullmatch(event):
        raise AuditError(f"not an event name: {event[:40]!r}")
    if not isinstance(actor, str) or not _TOKEN.fullmatch(actor):
        raise AuditError("the actor must be an identifier or a fingerprint")
    clean: dict[str, Any] = {}
    for key, value in details.items():
        if key not in DETAIL_KEYS:
            raise AuditError(f"detail {key!r} is not allowed in the audit journal")
        if isinstance(value, list | tuple):
            if len(value) > _MAX_LIST:
                raise AuditError(f"detail {key!r} has too many values")
            clean[key] = [_checked_value(key, item) for item in value]
        else:
            clean[key] = _checked_value(key, value)
    return clean


def _checked_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, str) and _TOKEN.fullmatch(value):
        return value
    raise AuditError(f"detail {key!r} must be a number or a short identifier, not free text")


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def _open_locked(path: Path) -> Iterator[int]:
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _last_entry(fd: int) -> tuple[tuple[int, str], bool]:
    """``((seq, hash), ends_cleanly)`` of the last well-formed entry before the end."""
    size = os.fstat(fd).st_size
    if size == 0:
        return (0, GENESIS), True
    ends_cleanly = os.pread(fd, 1, size - 1) == b"\n"
    for raw in _reversed_lines(fd, size):
        parsed = parse_line(raw)
        if isinstance(parsed, dict):
            return (int(parsed["seq"]), str(parsed["hash"])), ends_cleanly
    return (0, GENESIS), ends_cleanly


def _reversed_lines(fd: int, size: int) -> Iterator[bytes]:
    """The file's lines from the last to the first, reading blocks from the end."""
    end, pending = size, b""
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        block = os.pread(fd, end - start, start) + pending
        end = start
        parts = block.split(b"\n")
        pending = parts[0]
        for part in reversed(parts[1:]):
            if part.strip():
                yield part
    if pending.strip():
        yield pending
