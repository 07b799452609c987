"""crypto.audit: a hash-chained journal that shows any edit, and keeps clinical text out."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto import audit

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
FP = "ab" * 32


def journal(tmp_path: Path, count: int = 5) -> Path:
    path = tmp_path / "audit.jsonl"
    for i in range(count):
        audit.append(
            path,
            "bundle_sealed",
            actor="dr-bernard",
            details={"bundle_id": f"b-{i}", "size": 1000 + i, "recipients": [FP]},
            now=T0,
        )
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, new_lines: list[bytes]) -> None:
    path.write_bytes(b"".join(new_lines))


def kinds(report: audit.Report) -> list[tuple[int, str]]:
    return [(p.line, p.kind) for p in report.problems]


def test_entries_chain_by_the_documented_hash(tmp_path: Path) -> None:
    path = journal(tmp_path, 3)
    entries = [json.loads(raw) for raw in lines(path)]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == "0" * 64
    for before, entry in itertools.pairwise(entries):
        assert entry["prev"] == before["hash"]
    for entry in entries:  # recomputed here independently of the module
        body = {k: v for k, v in entry.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        expected = hashlib.sha256(entry["prev"].encode() + canonical.encode()).hexdigest()
        assert entry["hash"] == expected
    assert entries[0]["time"] == "2026-11-23T10:00:00Z"
    report = audit.verify(path)
    assert report.ok
    assert report.entries == 3
    assert report.head == entries[-1]["hash"]


def test_a_missing_journal_is_empty_and_intact(tmp_path: Path) -> None:
    report = audit.verify(tmp_path / "none.jsonl")
    assert (report.ok, report.entries, report.head) == (True, 0, audit.GENESIS)


def test_the_journal_is_private(tmp_path: Path) -> None:
    path = journal(tmp_path, 1)
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_edited_entry_is_found_on_its_line(tmp_path: Path) -> None:
    path = journal(tmp_path)
    content = lines(path)
    content[2] = content[2].replace(b'"size":1002', b'"size":9999')
    rewrite(path, content)
    report = audit.verify(path)
    assert kinds(report) == [(3, "hash_mismatch")]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    path = journal(tmp_path)
    content = lines(path)
    entry = json.loads(content[1])
    entry["details"]["size"] = 1
    entry["hash"] = audit.entry_hash(entry)
    content[1] = audit.canonical(entry) + b"\n"
    rewrite(path, content)
    assert kinds(audit.verify(path)) == [(3, "broken_chain")]


def test_a_removed_entry_is_found(tmp_path: Path) -> None:
    path = journal(tmp_path)
    content = lines(path)
    del content[1]
    rewrite(path, content)
    assert kinds(audit.verify(path)) == [(2, "broken_chain")]


def test_reordered_entries_are_found(tmp_path: Path) -> None:
    path = journal(tmp_path)
    content = lines(path)
    content[1], content[2] = content[2], content[1]
    rewrite(path, content)
    report = audit.verify(path)
    assert report.first is not None
    assert report.first.line == 2
    assert {kind for _line, kind in kinds(report)} == {"broken_chain"}


def test_an_inserted_entry_is_named(tmp_path: Path) -> None:
    path = journal(tmp_path)
    content = lines(path)
    first = json.loads(content[0])
    forged = {
        "seq": 2,
        "time": first["time"],
        "event": "bundle_opened",
        "actor": "intruder",
        "details": {},
        "prev": first["hash"],
    }
    forged["hash"] = audit.entry_hash(forged)
    content.insert(1, audit.canonical(forged) + b"\n")
    rewrite(path, content)
    assert kinds(audit.verify(path)) == [(2, "inserted")]


def test_a_truncated_last_line_is_found_and_appending_continues(tmp_path: Path) -> None:
    path = journal(tmp_path, 3)
    path.write_bytes(path.read_bytes()[:-30])  # a crash in the middle of the last append
    assert kinds(audit.verify(path)) == [(3, "truncated")]
    audit.append(path, "bundle_opened", actor="dr-bernard", details={"bundle_id": "b-9"})
    report = audit.verify(path)
    # The cut line stays visible; the new entry chains to the last complete one.
    assert kinds(report) == [(3, "malformed")]
    assert [e.seq for e in audit.read(path)] == [1, 2, 3]
    assert audit.read(path)[-1].line == 4


def test_garbage_lines_are_malformed(tmp_path: Path) -> None:
    path = journal(tmp_path, 2)
    content = lines(path)
    content.insert(1, b'{"seq": 2}\n')
    rewrite(path, content)
    assert kinds(audit.verify(path)) == [(2, "malformed")]


def test_removing_the_last_entries_needs_an_anchor(tmp_path: Path) -> None:
    path = journal(tmp_path)
    head = audit.verify(path).head
    rewrite(path, lines(path)[:-1])
    assert audit.verify(path).ok  # a chain alone cannot see it…
    assert kinds(audit.verify(path, expected_head=head)) == [(4, "head_mismatch")]  # …an anchor can
    assert audit.verify(journal(tmp_path / "b"), expected_head=None).ok


@pytest.mark.parametrize(
    "details",
    [
        {"summary": "x"},  # not an allowed key
        {"reason": "Ulcère de jambe depuis trois semaines"},  # free text
        {"case_id": "P-0147 Jean Dupont"},
        {"bundle_id": "x" * 200},
        {"recipients": ["ok", "not ok"]},
        {"recipients": ["a"] * 65},
        {"size": {"nested": 1}},
    ],
)
def test_clinical_text_cannot_get_in(tmp_path: Path, details: dict[str, object]) -> None:
    path = tmp_path / "audit.jsonl"
    with pytest.raises(audit.AuditError):
        audit.append(path, "bundle_sealed", actor="dr-bernard", details=details)
    assert not path.exists() or path.read_bytes() == b""


@pytest.mark.parametrize(("event", "actor"), [("Bundle sealed", "dr"), ("x", "Dr Claire B")])
def test_event_and_actor_are_tokens(tmp_path: Path, event: str, actor: str) -> None:
    with pytest.raises(audit.AuditError):
        audit.append(tmp_path / "a.jsonl", event, actor=actor)


def test_free_form_events_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    entry = audit.append(path, "trust_added", actor="cli", details={"fingerprint": FP})
    assert entry.event == "trust_added"
    assert audit.read(path)[0].details == {"fingerprint": FP}


def test_concurrent_threads_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"

    def work(n: int) -> None:
        for i in range(25):
            audit.append(path, "bundle_sent", actor=f"t{n}", details={"count": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    report = audit.verify(path)
    assert report.ok, report.problems
    assert report.entries == 100


def test_concurrent_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    code = (
        "import sys; from pathlib import Path; from crypto import audit\n"
        "for i in range(30):\n"
        "    audit.append(Path(sys.argv[1]), 'bundle_sent', actor=sys.argv[2], "
        "details={'count': i})\n"
    )
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), f"p{n}"], cwd=root)
        for n in range(3)
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    report = audit.verify(path)
    assert report.ok, report.problems
    assert report.entries == 90
    assert sorted(e.seq for e in audit.read(path)) == list(range(1, 91))
