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
and between processes (``fcntl.flock`` on POSIX). This module imports nothing from the project.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    "entry_hash",
    "head",
    "read",
    "verify",
]

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""

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
_HEX64 = re.compile(r"[0-9a-f]{64}")
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


@dataclass(frozen=True)
class Problem:
    """Something wrong at one line (1-based) of the journal.

    ``kind`` is one of ``truncated`` (the last line is cut short), ``malformed`` (not an
    entry), ``hash_mismatch`` (the entry was edited), ``broken_chain`` (an entry before it
    was removed, inserted or moved), ``sequence`` (a number is skipped or repeated),
    ``inserted`` (this entry was slipped in between two others), ``head_mismatch`` (the
    last hash is not the expected one), ``anchor_missing`` (entries that were anchored are
    gone: the journal was truncated), ``anchor_mismatch`` (an anchored entry has another hash:
    the journal was rewritten at or before it).
    """

    line: int
    kind: str
    message: str


@dataclass(frozen=True)
class Anchor:
    """What was kept outside the journal: entry number ``count`` had hash ``head``.

    Because each hash covers every entry before it, an anchor that still matches vouches for
    entries 1 to ``count`` as they were when it was taken.
    """

    count: int
    head: str


@dataclass(frozen=True)
class Anchoring:
    """How the journal compares with its anchors (:func:`verify` with ``anchors``).

    Attributes:
        entries: The number of the journal's last entry (0 when empty).
        anchors: How many distinct anchors were compared.
        last_anchor: The highest entry number anchored (0: none).
        anchored: Entries 1 to ``anchored`` are vouched for by a matching anchor, with no
            anchor below it failing.
        missing: ``(first, last)`` entries anchored but no longer in the journal (it was
            truncated), or ``None``.
        rewritten: ``(first, last)``: the journal differs from its anchors somewhere in these
            entries (one was edited, removed, inserted or moved, the chain recomputed or not):
            ``first`` follows the last anchor that still matches, ``last`` is the first anchor
            that does not. ``None`` if every anchor still in the journal matches.
    """

    entries: int
    anchors: int
    last_anchor: int
    anchored: int
    missing: tuple[int, int] | None = None
    rewritten: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.missing is None and self.rewritten is None

    @property
    def unanchored(self) -> tuple[int, int] | None:
        """``(first, last)`` entries newer than the last anchor (not anchored yet), or ``None``."""
        if self.entries > self.last_anchor:
            return self.last_anchor + 1, self.entries
        return None


@dataclass(frozen=True)
class Report:
    """The result of :func:`verify`."""

    entries: int
    head: str
    problems: list[Problem] = field(default_factory=list)
    anchoring: Anchoring | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def canonical(value: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of an entry: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def entry_hash(entry: Mapping[str, Any]) -> str:
    """``SHA-256(prev || canonical JSON of the entry without "hash")`` in lowercase hex."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(str(entry["prev"]).encode("ascii") + canonical(body)).hexdigest()


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
    for number, raw in _lines(path):
        parsed = _parse(raw)
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


def verify(
    path: Path,
    *,
    expected_head: str | None = None,
    anchors: Iterable[Anchor] | None = None,
) -> Report:
    """Recompute the chain of the journal at ``path`` and report every damaged line.

    A missing journal is an empty, intact one. After a problem, checking resumes from the
    damaged line's own values, so that each problem is reported once, where it is.

    Args:
        path: The journal file.
        expected_head: The last hash recorded elsewhere, if any: a journal whose last
            entries were removed (or that was rewritten) then fails with ``head_mismatch``.
        anchors: Heads recorded elsewhere (see :class:`Anchor`): compared with the journal,
            the result in :attr:`Report.anchoring` and, when they differ, as
            ``anchor_missing`` and ``anchor_mismatch`` problems.
    """
    problems: list[Problem] = []
    prev, seq, count = GENESIS, 0, 0
    before: tuple[int, str] | None = None  # line and ``prev`` of the previous entry
    seen: dict[tuple[int, str], int] = {}  # (seq, hash) of each entry -> its line
    last_seq, last_line = 0, 0
    intact_through: int | None = None  # the last entry before the first damaged line
    lines = list(_lines(path))
    for index, (number, raw) in enumerate(lines):
        if index == len(lines) - 1 and not raw.endswith(b"\n"):
            problems.append(Problem(number, "truncated", "the last line is cut short"))
            break
        parsed = _parse(raw)
        if isinstance(parsed, str):
            problems.append(Problem(number, "malformed", parsed))
            continue
        count += 1
        reported = len(problems)
        seen.setdefault((parsed["seq"], parsed["hash"]), number)
        last_seq, last_line = parsed["seq"], number
        if parsed["hash"] != entry_hash(parsed):
            problems.append(Problem(number, "hash_mismatch", "the entry was altered"))
        elif parsed["prev"] != prev:
            problems.append(_chain_problem(number, parsed["prev"], before))
        elif parsed["seq"] != seq + 1:
            problems.append(
                Problem(number, "sequence", f"expected entry {seq + 1}, found {parsed['seq']}")
            )
        if intact_through is None and len(problems) > reported:
            # A damaged entry; a line that is no entry at all (a crash's cut line) is not:
            # the chain goes on past it, and the entries after it are checked as usual.
            intact_through = seq - 1 if problems[-1].kind == "inserted" else seq
        before = (number, parsed["prev"])
        prev, seq = parsed["hash"], parsed["seq"]
    if expected_head is not None and prev != expected_head:
        line = lines[-1][0] if lines else 0
        problems.append(Problem(line, "head_mismatch", "the journal does not end where expected"))
    anchoring = None
    if anchors is not None:
        vouched = last_seq if intact_through is None else intact_through
        anchoring = _compare(anchors, seen, last_seq, last_line, vouched, problems)
    return Report(count, prev, problems, anchoring)


def _compare(
    anchors: Iterable[Anchor],
    seen: Mapping[tuple[int, str], int],
    last_seq: int,
    last_line: int,
    intact_through: int,
    problems: list[Problem],
) -> Anchoring:
    """Compare the journal's entries (``seen``: (seq, hash) -> line) with ``anchors``.

    An anchor vouches for entries 1 to its count only if its entry is there with its hash
    *and* the chain up to it is intact (``intact_through``): an entry removed below it without
    recomputing the chain leaves the anchored entry in place, but not what it covered.
    """
    distinct = sorted({(a.count, a.head) for a in anchors if a.count > 0})
    last_anchor = distinct[-1][0] if distinct else 0
    matched = 0  # the highest anchor that matches, all those below it matching too
    rewritten: tuple[int, int] | None = None
    for count, hash_ in distinct:
        if count > last_seq:
            break
        if (count, hash_) in seen and count <= intact_through:
            if rewritten is None:
                matched = count
            continue
        if rewritten is None:
            rewritten = (matched + 1, count)
            line = next((n for (s, _h), n in seen.items() if s == count), last_line)
            problems.append(
                Problem(
                    line,
                    "anchor_mismatch",
                    f"entries {matched + 1} to {count} are not those anchored: the journal was"
                    " rewritten there",
                )
            )
    missing = None
    if last_anchor > last_seq:
        missing = (last_seq + 1, last_anchor)
        problems.append(
            Problem(
                last_line,
                "anchor_missing",
                f"entries {last_seq + 1} to {last_anchor} were anchored and are gone",
            )
        )
    return Anchoring(last_seq, len(distinct), last_anchor, matched, missing, rewritten)


def _chain_problem(number: int, claimed: str, before: tuple[int, str] | None) -> Problem:
    """Name the line at fault when an entry does not follow the one before it."""
    if before is not None and claimed == before[1]:
        # Both entries claim the same predecessor: the earlier one was slipped in.
        return Problem(before[0], "inserted", "this entry was inserted into the chain")
    return Problem(
        number,
        "broken_chain",
        "this entry does not follow the one before it (an entry was removed, moved, or"
        " rewritten with its hash)",
    )


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


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The entry on one line, or a sentence saying why it is not one."""
    try:
        value = json.loads(raw)
    except ValueError:
        return "not a JSON entry"
    expected = {"seq", "time", "event", "actor", "details", "prev", "hash"}
    if not isinstance(value, dict) or set(value) != expected:
        return "not an audit entry (fields differ)"
    if not isinstance(value["seq"], int) or not isinstance(value["details"], dict):
        return "not an audit entry (field types differ)"
    if not all(isinstance(value[k], str) for k in ("time", "event", "actor", "prev", "hash")):
        return "not an audit entry (field types differ)"
    if not _HEX64.fullmatch(value["prev"]) or not _HEX64.fullmatch(value["hash"]):
        return "not an audit entry (bad hash)"
    return value


# --- files --------------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield number, raw


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
        parsed = _parse(raw)
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
