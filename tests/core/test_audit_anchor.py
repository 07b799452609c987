"""The audit journal's anchor: checkpoints on the platform expose a journal truncated or rewritten.

Today's chain alone accepts a journal whose line was deleted and whose chain was recomputed;
once a checkpoint covering that line reached the platform, ``passavant audit verify`` says so.
Against the demo's real platform on 127.0.0.1 over HTTPS.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import demo
from app.cli import main
from app.demo import DEMO_PASSPHRASE
from app.session import Session
from cases.anchor import (
    LOCAL_FILE,
    Anchorer,
    LocalAnchors,
    anchor_config,
    checkpoint_content,
    fetch_anchors,
    sign_checkpoint,
)
from cases.profile import Profile
from crypto import audit, cms
from outbox import platform as platform_module
from outbox.errors import OutboxError
from outbox.platform import JournalCheckpoint, PlatformClient
from tests.core.test_workstation import wait_for
from tests.support.demo import DemoEnv

ANCHORED = 8  # entries when the checkpoint is sent
LATER = 2  # entries written after it


@dataclass
class Station:
    """The demo unit's profile, its journal, and an anchorer driven by the test."""

    profile: Profile
    anchorer: Anchorer
    capsys: pytest.CaptureFixture[str]

    @property
    def journal(self) -> Path:
        return self.profile.audit_path

    def write(self, count: int) -> None:
        for _ in range(count):
            n = audit.head(self.journal)[0] + 1
            details = {"bundle_id": f"b-{n}", "size": 1000 + n}
            audit.append(self.journal, "bundle_sealed", actor="dr-bernard", details=details)

    def verify(self, *extra: str) -> tuple[int, str, str]:
        status = main(["--profile", str(self.profile.root), "audit", "verify", *extra])
        out, err = self.capsys.readouterr()
        return status, out, err

    def lines(self) -> list[bytes]:
        return self.journal.read_bytes().splitlines(keepends=True)

    def rewrite(self, lines: list[bytes]) -> None:
        self.journal.write_bytes(b"".join(lines))

    def platform_list(self) -> list[JournalCheckpoint]:
        with PlatformClient(self.profile.platform_config()) as client:
            return client.journal_checkpoints().checkpoints


@pytest.fixture
def station(demo_env: DemoEnv, capsys: pytest.CaptureFixture[str]) -> Iterator[Station]:
    profile = Profile(demo_env.layout.unit)
    profile.audit_path.unlink(missing_ok=True)  # whatever the demo's set-up journalled
    client = PlatformClient(anchor_config(profile.platform_config()))
    here = Station(profile, Anchorer(profile, client), capsys)
    here.write(ANCHORED)
    assert here.anchorer.send_due(final=True)
    here.write(LATER)
    try:
        yield here
    finally:
        client.close()


def recompute(lines: list[bytes]) -> list[bytes]:
    """The attacker's move: renumber and rehash every entry so the chain verifies again."""
    out, prev = [], audit.GENESIS
    for seq, raw in enumerate(lines, 1):
        entry = json.loads(raw)
        entry.update(seq=seq, prev=prev)
        entry.pop("hash")
        entry["hash"] = prev = audit.entry_hash(entry)
        out.append(audit.canonical(entry) + b"\n")
    return out


def edit(line: bytes) -> bytes:
    return line.replace(b'"size":100', b'"size":900')


def test_an_intact_journal_says_what_is_anchored_and_what_is_not_yet(station: Station) -> None:
    assert [(c.count, c.signature) for c in station.platform_list()] == [(ANCHORED, None)]
    status, out, err = station.verify()
    assert (status, err) == (0, "")
    assert "Points de contrôle reçus par la plateforme : 1" in out
    assert f"Ancré (entrées 1 à {ANCHORED}) : conforme au point de contrôle reçu le" in out
    last = ANCHORED + LATER
    assert f"Pas encore ancré (entrées {ANCHORED + 1} à {last}) : plus récent" in out
    assert f"Journal d’audit intact : {last} entrée(s)" in out


# Each tampering, on a journal of 10 entries whose first 8 were anchored: (what it does to
# the lines, what verify's stdout names, whether today's chain alone would have seen it).
TAMPERINGS: dict[str, tuple[Callable[[list[bytes]], list[bytes]], str, bool]] = {
    "delete a line": (lambda ls: ls[:3] + ls[4:], "Ancrage contredit (entrées 1 à 8)", True),
    "edit a line": (lambda ls: [*ls[:2], edit(ls[2]), *ls[3:]], "entrée modifiée", True),
    "reorder lines": (lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]], "chaîne rompue", True),
    "truncate": (lambda ls: ls[:5], "Ancrage manquant (entrées 6 à 8)", False),
    "delete a line, recompute the chain": (
        lambda ls: recompute(ls[:3] + ls[4:]),
        "Ancrage contredit (entrées 1 à 8) : le journal n’est plus celui que couvre le point"
        " de contrôle de l’entrée 8",
        False,
    ),
    "edit a line, recompute the chain": (
        lambda ls: recompute([*ls[:2], edit(ls[2]), *ls[3:]]),
        "Ancrage contredit (entrées 1 à 8)",
        False,
    ),
    "reorder lines, recompute the chain": (
        lambda ls: recompute([*ls[:2], ls[3], ls[2], *ls[4:]]),
        "Ancrage contredit (entrées 1 à 8)",
        False,
    ),
    "truncate below the anchor, recompute": (
        lambda ls: recompute(ls[:7]),
        "Ancrage manquant (entrée 8)",
        False,
    ),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_every_tampering_below_a_checkpoint_is_detected(station: Station, name: str) -> None:
    change, named, chain_sees_it = TAMPERINGS[name]
    station.rewrite(change(station.lines()))
    assert audit.verify(station.journal).ok is not chain_sees_it
    status, out, err = station.verify()
    assert status == 1, out
    assert err.startswith("passavant: journal d’audit altéré, ligne ")
    assert err.count("\n") == 1
    assert named in out + err
    assert "Journal d’audit intact" not in out
    assert "Ancré (entrées 1 à 8)" not in out, "no anchor vouches for a damaged span"


def test_a_rewrite_anchored_again_still_contradicts_the_older_checkpoint(
    station: Station,
) -> None:
    """The attacker holds the station's token too: after deleting a line and recomputing the
    chain, they write more entries and have the rewritten head anchored. The platform accepts
    it (it cannot see the entries), but it keeps the older checkpoint, which contradicts."""
    station.rewrite(recompute(station.lines()[:3] + station.lines()[4:]))
    station.write(5)
    assert station.anchorer.send_due(final=True)
    assert [c.count for c in station.platform_list()] == [ANCHORED, ANCHORED + LATER - 1 + 5]
    status, out, _err = station.verify()
    assert status == 1
    assert "Ancrage contredit (entrées 1 à 8)" in out


def test_the_platform_refuses_a_checkpoint_of_a_truncated_journal(
    station: Station, caplog: pytest.LogCaptureFixture
) -> None:
    station.rewrite(recompute(station.lines()[:6]))
    assert station.anchorer.send_due(final=True), "the refusal is an answer, not an outage"
    assert "refuses the audit journal's checkpoint at entry 6" in caplog.text
    assert [c.count for c in station.platform_list()] == [ANCHORED]
    caplog.clear()
    assert station.anchorer.send_due(final=True)
    assert "refuses" not in caplog.text, "the same refused checkpoint is not sent again"
    status, out, _err = station.verify()
    assert status == 1
    assert "Ancrage manquant (entrées 7 à 8)" in out


def test_out_of_reach_the_local_copy_is_compared_but_said_to_be_no_proof(
    station: Station, demo_env: DemoEnv
) -> None:
    local = json.loads((station.profile.root / LOCAL_FILE).read_text())
    assert [a["count"] for a in local["anchors"]] == [ANCHORED]
    status, out, _err = station.verify("--offline")
    assert status == 0
    assert "Plateforme non consultée (--offline) : comparaison avec la copie locale" in out
    assert "n’est pas une preuve" in out
    assert f"Ancré (entrées 1 à {ANCHORED})" in out

    demo.stop_platform(demo_env.process)
    station.rewrite(station.lines()[:4])
    status, out, err = station.verify()
    assert status == 1
    assert "Plateforme injoignable (network_unreachable)" in out
    assert "Ancrage manquant (entrées 5 à 8)" in out
    assert "Traceback" not in err


def test_with_no_checkpoint_verify_says_nothing_anchors_the_journal(
    station: Station,
) -> None:
    (station.profile.root / LOCAL_FILE).unlink()
    status, out, _err = station.verify("--offline")
    assert status == 0
    assert "Aucun point de contrôle : rien hors de ce poste n’ancre encore le journal" in out


def test_a_person_who_unlocks_signs_the_checkpoint_of_their_login(demo_env: DemoEnv) -> None:
    unit = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    unit.start()
    try:
        unit.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
        unit.unlock("sec-lambert", DEMO_PASSPHRASE.encode())
        wait_for(lambda: not unit.anchorer.pending and len(unit.anchorer.anchors) >= 2)
        unit.journal("bundle_sealed", "dr-bernard", bundle_id="b-1")
    finally:
        unit.stop()  # the stop sends the last head
    profile = unit.profile
    with PlatformClient(profile.platform_config()) as client:
        kept = client.journal_checkpoints().checkpoints
    head = audit.head(profile.audit_path)
    assert (kept[-1].count, kept[-1].head) == head, "anchored at the session's stop"
    signed = [c for c in kept if c.signature]
    assert len(signed) == 2
    entries = audit.read(profile.audit_path)
    for checkpoint, who in zip(signed, ("dr-bernard", "sec-lambert"), strict=True):
        verified = cms.verify(base64.b64decode(checkpoint.signature or ""), profile.trust_roots())
        expected = checkpoint_content(profile.station_id, checkpoint.count, checkpoint.head,
                                      checkpoint.time)  # fmt: skip
        assert verified.content == expected
        login = entries[checkpoint.count - 1]
        assert (login.event, login.actor, login.hash) == ("identity_unlocked", who, checkpoint.head)
    status = main(["--profile", str(profile.root), "audit", "verify"])
    assert status == 0


def test_a_signature_that_does_not_cover_its_checkpoint_is_named(
    station: Station, capsys: pytest.CaptureFixture[str]
) -> None:
    me = station.profile.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
    count, head = audit.head(station.journal)
    genuine = sign_checkpoint(station.profile.station_id, JournalCheckpoint(count, head, "x"), me)
    # The same signature, under a checkpoint it was not made for (the platform relays it).
    forged = JournalCheckpoint(count, head, "2026-01-01T00:00:00Z", genuine.signature)
    with PlatformClient(station.profile.platform_config()) as client:
        client.send_checkpoint(forged)
    status, out, err = station.verify()
    assert status == 1
    assert f"Point de contrôle {count} : sa signature ne le couvre pas (content_differs)" in out
    assert "modifié ou fabriqué" in err


def test_offline_a_signed_checkpoint_waits_in_the_profile(demo_env: DemoEnv) -> None:
    profile = Profile(demo_env.layout.unit)
    demo.stop_platform(demo_env.process)
    session = Session(profile, poll_interval=0.2)
    session.start()
    try:
        session.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
        wait_for(lambda: session.anchorer.online is False)
    finally:
        session.stop()  # offline: no last attempt, no wait
    pending = LocalAnchors(profile.root / LOCAL_FILE).load()[1]
    assert len(pending) == 1
    assert pending[0].signature

    process, _url = demo.start_platform(demo_env.layout)
    try:
        profile = Profile(demo_env.layout.unit)  # the new URL
        with PlatformClient(anchor_config(profile.platform_config())) as client:
            anchorer = Anchorer(profile, client)
            assert anchorer.pending == pending
            assert anchorer.send_due(final=True)
            assert anchorer.pending == []
        source = fetch_anchors(profile)
    finally:
        demo.stop_platform(process)
    assert source.from_platform
    assert [(c.count, c.signature) for c in source.checkpoints] == [(1, pending[0].signature)]
    assert LocalAnchors(profile.root / LOCAL_FILE).load()[1] == []


def test_the_anchorer_sends_at_most_once_per_interval(demo_env: DemoEnv) -> None:
    profile = Profile(demo_env.layout.unit)
    now = [1000.0]
    sent: list[int] = []

    class Counting(PlatformClient):
        def send_checkpoint(self, checkpoint: JournalCheckpoint) -> Any:
            sent.append(checkpoint.count)
            return super().send_checkpoint(checkpoint)

    with Counting(anchor_config(profile.platform_config())) as client:
        anchorer = Anchorer(profile, client, interval=60.0, clock=lambda: now[0])
        audit.append(profile.audit_path, "bundle_sealed", actor="dr-bernard")
        assert anchorer.send_due()
        assert anchorer.send_due(), "nothing new: nothing sent"
        audit.append(profile.audit_path, "bundle_sealed", actor="dr-bernard")
        now[0] += 30
        assert anchorer.send_due()
        assert len(sent) == 1, "grew, but within the minute"
        now[0] += 31
        assert anchorer.send_due()
        assert len(sent) == 2
        audit.append(profile.audit_path, "bundle_sealed", actor="dr-bernard")
        assert anchorer.send_due(final=True), "the session's stop does not wait"
        assert len(sent) == 3


def test_an_unreachable_platform_is_an_outage_not_a_refusal(demo_env: DemoEnv) -> None:
    profile = Profile(demo_env.layout.unit)
    profile.set_platform_url("https://127.0.0.1:9")  # nobody listens there
    audit.append(profile.audit_path, "bundle_sealed", actor="dr-bernard")
    with PlatformClient(anchor_config(profile.platform_config())) as client:
        anchorer = Anchorer(profile, client)
        assert not anchorer.send_due()
        assert anchorer.online is False
        with pytest.raises(OutboxError):
            client.journal_checkpoints()
    source = fetch_anchors(profile)
    assert (source.from_platform, source.unreachable) == (False, "network_unreachable")


def test_audit_anchors_compare_by_entry_number_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for i in range(6):
        audit.append(path, "bundle_sealed", actor="dr-bernard", details={"size": i})
    entries = audit.read(path)
    anchors = [audit.Anchor(2, entries[1].hash), audit.Anchor(5, entries[4].hash)]
    report = audit.verify(path, anchors=anchors)
    assert report.ok
    assert report.anchoring == audit.Anchoring(6, 2, 5, 5)
    assert report.anchoring.unanchored == (6, 6)
    wrong = [*anchors, audit.Anchor(5, "0" * 64), audit.Anchor(9, entries[5].hash)]
    report = audit.verify(path, anchors=wrong)
    assert [(p.line, p.kind) for p in report.problems] == [(5, "anchor_mismatch"),
                                                           (6, "anchor_missing")]  # fmt: skip
    assert report.anchoring is not None
    assert (report.anchoring.anchored, report.anchoring.rewritten) == (2, (3, 5))
    assert report.anchoring.missing == (7, 9)
    assert audit.verify(path).anchoring is None
    assert audit.head(tmp_path / "none.jsonl") == (0, audit.GENESIS)
    assert audit.head(path) == (6, entries[5].hash)


def test_an_anchor_vouches_only_for_an_intact_chain_but_a_crash_line_does_not_break_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    for i in range(3):
        audit.append(path, "bundle_sealed", actor="dr-bernard", details={"size": i})
    with path.open("ab") as journal:
        journal.write(b'{"seq":4,"time":"2026-')  # a crash in the middle of an append
    audit.append(path, "bundle_sealed", actor="dr-bernard", details={"size": 4})
    audit.append(path, "bundle_sealed", actor="dr-bernard", details={"size": 5})
    entries = audit.read(path)
    anchors = [audit.Anchor(2, entries[1].hash), audit.Anchor(5, entries[4].hash)]
    report = audit.verify(path, anchors=anchors)
    assert [p.kind for p in report.problems] == ["malformed"]
    assert report.anchoring is not None
    assert report.anchoring.anchored == 5, "the cut line is no entry: the chain goes on"

    lines = path.read_bytes().splitlines(keepends=True)
    del lines[2]  # entry 3, without recomputing anything: entry 5 keeps its hash
    path.write_bytes(b"".join(lines))
    report = audit.verify(path, anchors=anchors)
    assert [p.kind for p in report.problems] == ["malformed", "broken_chain", "anchor_mismatch"]
    assert report.anchoring is not None
    assert (report.anchoring.anchored, report.anchoring.rewritten) == (2, (3, 5))


def test_verify_reads_every_page_of_checkpoints(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):
        assert station.anchorer.send_due(final=True)
        station.write(1)
    monkeypatch.setattr(platform_module, "MAX_CHECKPOINTS_LISTED", 1)
    source = fetch_anchors(station.profile)
    assert [c.count for c in source.checkpoints] == [ANCHORED, ANCHORED + LATER, ANCHORED + 3]
    assert source.total == 3
