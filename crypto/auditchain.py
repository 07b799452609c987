"""The audit journal's hash chain: the line format, the hashes, and checking a journal
against its chain and its anchors (:func:`verify`), read-only.

:mod:`crypto.audit` writes and reads the journal and re-exports everything here; see its
documentation for the format and what a chain and its anchors can and cannot show. This
module imports nothing from the project.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "GENESIS",
    "Anchor",
    "Anchoring",
    "Problem",
    "Report",
    "canonical",
    "entry_hash",
    "journal_lines",
    "parse_line",
    "verify",
]

GENESIS = "0" * 64
"""The ``prev`` of the first entry."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


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


def parse_line(raw: bytes) -> dict[str, Any] | str:
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


def journal_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield number, raw


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
    lines = list(journal_lines(path))
    for index, (number, raw) in enumerate(lines):
        if index == len(lines) - 1 and not raw.endswith(b"\n"):
            problems.append(Problem(number, "truncated", "the last line is cut short"))
            break
        parsed = parse_line(raw)
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
