"""``passavant cases list`` and ``passavant index rebuild``, on a real demo.

A request answered and an urgent one still awaiting its answer travel once through the real
platform (module fixture); each test then works offline on its own copy of both profiles.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.commands.caselines import STATES, describe
from app.commands.casestore import Progress, count_text, set_aside_line
from app.demo import DEMO_PASSPHRASE, DemoLayout
from app.session import Session
from cases.model import Case, Opinion, utc_now
from cases.profile import Profile
from cases.store import index_path
from cases.threads import Unreadable
from crypto import audit
from outbox.inbox import Inbox
from outbox.platform import MailboxItem
from tests.core.test_followup import DOCTOR, EXPERT, T0, request, thread
from tests.core.test_threads import withdrawal_of
from tests.support.demo import running_demo

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = "CANARI-RESUME plaque squameuse du coude"
PATIENT = "CANARI-PATIENT-0147"
QUESTION = "CANARI-QUESTION psoriasis ?"
OPINION = "CANARI-AVIS psoriasis en plaques, dermocorticoïde."
KEYS = {
    "bundle_id", "direction", "state", "status", "urgent", "specialty", "signed_at", "due",
    "answered_at", "outcome", "withdrawal_reason", "job_state", "sender", "addressee",
    "opinion_count", "clinical",
}  # fmt: skip
PARTY_KEYS = {"name", "organization", "role", "mailbox", "fingerprint"}


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def case(*, urgent: bool = False, canary: bool = True) -> Case:
    """The canary case was written an hour before the other: the list's order (by the time
    a case was written, to the second) is then the order of sending."""
    return Case(
        patient_ref=PATIENT if canary else "P-2",
        consent=True,
        specialty="dermatology",
        summary=SUMMARY if canary else "Prurit.",
        treatments="",
        question=QUESTION if canary else "Gale ?",
        urgent=urgent,
        created_at=utc_now() - timedelta(hours=1 if canary else 0),
    )


@pytest.fixture(scope="module")
def scenario(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The demo after a request was answered and an urgent one sent (not answered); the
    doctor's workstation has received the opinion but nobody listed it there yet."""
    root = tmp_path_factory.mktemp("cases-cli") / "demo"
    with running_demo(demo_template, root) as env:
        unit = Session(Profile(env.layout.unit), poll_interval=0.2)
        hospital = Session(Profile(env.layout.hospital), poll_interval=0.2)
        for session in (unit, hospital):
            session.start()
        try:
            doctor = unit.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
            expert = hospital.unlock("pr-dubois", DEMO_PASSPHRASE.encode())
            to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
            answered = unit.workstation.send_case(doctor, case(), to)
            awaiting = unit.workstation.send_case(doctor, case(urgent=True, canary=False), to)
            unit.sender.wake()
            wait_for(lambda: len(hospital.inbox.items("pr-dubois")) == 2)
            hospital.workstation.refresh_directory()
            threads, _unreadable = hospital.workstation.threads(expert)
            first = next(t for t in threads if t.case.bundle_id == answered)
            opinion = Opinion(first.case_id, OPINION, outcome="on_site")
            hospital.workstation.send_opinion(expert, first, opinion)
            hospital.sender.wake()
            # the two receipts of the specialist's workstation, and the opinion
            wait_for(lambda: len(unit.inbox.items("dr-bernard")) == 3)
            wait_for(lambda: all(j.state != "sending" for j in hospital.outbox.jobs()))
        finally:
            for session in (unit, hospital):
                session.stop()
                session.workstation.close()
                session.outbox.close()
                session.inbox.close()
    (root / "pass.txt").write_text(DEMO_PASSPHRASE + "\n")
    (root / "bad.txt").write_text("not the passphrase\n")
    return {"root": root, "answered": answered, "awaiting": awaiting}


class Env:
    """A copy of the scenario's demo, and the command line run on it in this process."""

    def __init__(self, scenario: dict[str, object], tmp: Path, capsys: pytest.CaptureFixture[str]):
        shutil.copytree(Path(str(scenario["root"])), tmp / "demo")
        self.layout = DemoLayout(tmp / "demo")
        self.passfile = self.layout.root / "pass.txt"
        self.answered = str(scenario["answered"])
        self.awaiting = str(scenario["awaiting"])
        self.capsys = capsys

    def run(self, profile: Path, *args: str | Path) -> tuple[int, str, str]:
        status = main(["--profile", str(profile), *map(str, args)])
        out, err = self.capsys.readouterr()
        return status, out, err

    def ok(self, profile: Path, *args: str | Path) -> tuple[str, str]:
        status, out, err = self.run(profile, *args)
        assert status == 0, err
        return out, err

    def fails(self, profile: Path, *args: str | Path) -> str:
        """One plain line on stderr, status 1, never a traceback."""
        status, out, err = self.run(profile, *args)
        assert status == 1
        assert out == ""
        assert err.count("\n") == 1, err
        assert err.startswith("passavant: ")
        assert "Traceback" not in err
        return err

    def cases(self, who: str = "dr-bernard", *extra: str) -> list[dict[str, Any]]:
        profile = self.layout.unit if who == "dr-bernard" else self.layout.hospital
        out, err = self.ok(profile, "cases", "list", "--as", who, "--json",
                           "--passphrase-file", self.passfile, *extra)  # fmt: skip
        assert err == ""
        listed: list[dict[str, Any]] = json.loads(out)
        return listed


@pytest.fixture
def env(scenario: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Env:
    return Env(scenario, tmp_path, capsys)


def clinical_text_in(text: str) -> list[str]:
    return [canary for canary in (SUMMARY, PATIENT, QUESTION, OPINION) if canary in text]


# --- cases list -----------------------------------------------------------------------------


def test_the_list_shows_each_case_without_its_clinical_text(env: Env) -> None:
    out, err = env.ok(env.layout.unit, "cases", "list", "--as", "dr-bernard",
                      "--passphrase-file", env.passfile)  # fmt: skip
    assert err == ""
    assert clinical_text_in(out) == []
    header, newest, oldest = out.splitlines()
    assert header.split()[:3] == ["Demande", "Signée", "le"]
    assert newest.startswith(env.awaiting)  # newest first
    assert "URGENT · " in newest
    assert "avis attendu d’ici le " in newest
    assert oldest.startswith(env.answered)
    assert "Avis reçu — Prise en charge sur place" in oldest
    for line in (newest, oldest):
        # the sender as their certificate says, the addressee as the request names them
        assert "Dr Claire Bernard (USMP démo — Centre pénitentiaire)" in line
        assert "Pr Marc Dubois (CHU démo — Service de dermatologie)" in line
    journal = env.layout.unit / "audit.jsonl"
    assert clinical_text_in(journal.read_text("utf-8")) == []
    listed = [e for e in audit.read(journal) if e.event == "cases_listed"]
    assert [(e.actor, e.details) for e in listed] == [
        ("dr-bernard", {"count": 2, "format": "table"})
    ]
    assert audit.verify(journal).ok


def test_listing_beside_the_running_app_leaves_its_fetch_alone(env: Env) -> None:
    """The app's fetcher renames a download into place, then records it, then acknowledges
    it: a listing run in between must not take the file away as a crash's leftover (the
    platform would then drop a bundle no one has)."""
    inbox = env.layout.unit / "inbox"
    renamed = inbox / "just-fetched.cms"
    renamed.write_bytes(b"renamed into place, the row comes next")
    env.cases()
    assert renamed.read_bytes() == b"renamed into place, the row comes next"
    Inbox(Profile(env.layout.unit).db_path, inbox).close()  # the app's own start repairs
    assert not renamed.exists()


def test_with_text_the_clinical_text_follows_each_case(env: Env) -> None:
    out, err = env.ok(env.layout.unit, "cases", "list", "--as", "dr-bernard", "--with-text",
                      "--passphrase-file", env.passfile)  # fmt: skip
    assert err == ""
    assert clinical_text_in(out) == [SUMMARY, PATIENT, QUESTION, OPINION]
    lines = out.splitlines()
    answered = next(n for n, line in enumerate(lines) if line.startswith(env.answered))
    assert lines[answered + 1] == f"    Patient : {PATIENT} · Dermatologie"
    assert lines[answered + 2] == f"    Résumé : {SUMMARY}"
    assert lines[answered + 3] == f"    Question : {QUESTION}"
    assert lines[answered + 4].startswith("    Avis du ")
    assert lines[answered + 4].endswith(f"(Pr Marc Dubois) : {OPINION}")
    journal = env.layout.unit / "audit.jsonl"
    assert clinical_text_in(journal.read_text("utf-8")) == []  # the journal says it, not what
    [listed] = [e for e in audit.read(journal) if e.event == "cases_listed"]
    assert listed.details["format"] == "table+text"


def test_json_has_the_same_fields_with_stable_keys(env: Env) -> None:
    newest, oldest = env.cases()
    for entry in (newest, oldest):
        assert set(entry) == KEYS
        assert set(entry["sender"]) == PARTY_KEYS
        assert set(entry["addressee"]) == PARTY_KEYS
        assert entry["state"] in STATES
        assert entry["clinical"] is None
        assert entry["direction"] == "sent"
        assert entry["specialty"] == "dermatology"
        assert entry["sender"]["name"] == "Dr Claire Bernard"
        assert entry["sender"]["role"] == "doctor"
        assert entry["addressee"]["mailbox"] == "pr-dubois"
        signed = datetime.fromisoformat(str(entry["signed_at"]))
        assert abs(datetime.now(UTC) - signed) < timedelta(minutes=10)
    assert clinical_text_in(json.dumps([newest, oldest], ensure_ascii=False)) == []
    assert newest["bundle_id"] == env.awaiting
    assert (newest["state"], newest["urgent"], newest["opinion_count"]) == (
        "awaiting_answer", True, 0,
    )  # fmt: skip
    assert date.fromisoformat(str(newest["due"])) > date.today() - timedelta(days=1)
    assert (newest["outcome"], newest["answered_at"]) == (None, None)
    assert newest["job_state"] == "acknowledged"  # the specialist's receipt came back
    assert oldest["bundle_id"] == env.answered
    assert (oldest["state"], oldest["urgent"], oldest["opinion_count"]) == ("answered", False, 1)
    assert (oldest["outcome"], oldest["due"], oldest["withdrawal_reason"]) == (
        "on_site", None, None,
    )  # fmt: skip
    assert oldest["answered_at"] is not None
    assert oldest["status"] == "Avis reçu — Prise en charge sur place"

    texts = env.cases("dr-bernard", "--with-text")
    clinical = texts[1]["clinical"]
    assert isinstance(clinical, dict)
    assert (clinical["patient_ref"], clinical["summary"], clinical["question"]) == (
        PATIENT, SUMMARY, QUESTION,
    )  # fmt: skip
    assert [o["text"] for o in clinical["opinions"]] == [OPINION]
    assert [o["author"] for o in clinical["opinions"]] == ["Pr Marc Dubois"]
    assert [{k: v for k, v in t.items() if k != "clinical"} for t in texts] == [
        {k: v for k, v in t.items() if k != "clinical"} for t in (newest, oldest)
    ]


def test_the_specialist_lists_what_was_addressed_to_him(env: Env) -> None:
    newest, oldest = env.cases("pr-dubois")
    assert [e["direction"] for e in (newest, oldest)] == ["received", "received"]
    assert str(newest["status"]).startswith("URGENT · À traiter d’ici le ")
    assert oldest["status"] == "Avis envoyé · remis — Prise en charge sur place"
    assert oldest["sender"]["organization"] == "USMP démo — Centre pénitentiaire"
    assert oldest["job_state"] == "delivered"  # his opinion's job (no receipt came back yet)


def test_a_set_aside_bundle_is_told_on_stderr_after_the_list(env: Env) -> None:
    inbox = Inbox(env.layout.unit / "passavant.sqlite", env.layout.unit / "inbox")
    [kept, *_] = inbox.items("dr-bernard")
    damaged = bytearray(kept.path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    part = inbox.part_path("damaged-bundle")
    part.write_bytes(bytes(damaged))
    item = MailboxItem(
        "damaged-bundle", "case", len(damaged), hashlib.sha256(damaged).hexdigest(), "", ""
    )
    inbox.store("dr-bernard", item, part)
    inbox.close()

    status, out, err = env.run(env.layout.unit, "cases", "list", "--as", "dr-bernard", "--json",
                               "--passphrase-file", env.passfile)  # fmt: skip
    assert status == 0
    assert [e["bundle_id"] for e in json.loads(out)] == [env.awaiting, env.answered]
    assert err.startswith("passavant: document mis de côté damaged-bundle : illisible (")
    assert err.count("\n") == 1
    # a real process: the store's own log lines (a warning per bundle set aside) stay off
    command = [sys.executable, "-m", "app", "--profile", str(env.layout.unit), "cases", "list",
               "--as", "dr-bernard", "--passphrase-file", str(env.passfile)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 0
    assert result.stderr == err
    assert len(result.stdout.splitlines()) == 3  # the header and the two cases


def test_a_refused_bundle_is_told_with_the_rule_it_broke() -> None:
    refused = Unreadable("b-1", "request_not_from_doctor", "refused: request_not_from_doctor")
    assert set_aside_line(refused, "refused") == (
        "document mis de côté b-1 : refusé (request_not_from_doctor) — "
        "Une demande ne peut venir que d’un médecin ; celle-ci est refusée."
    )


# --- index rebuild --------------------------------------------------------------------------


def test_rebuilding_the_index_prints_its_count_and_changes_nothing_listed(env: Env) -> None:
    before = env.cases()
    out, err = env.ok(env.layout.unit, "index", "rebuild", "--as", "dr-bernard",
                      "--passphrase-file", env.passfile)  # fmt: skip
    # two requests sealed here; two receipts and the opinion received
    assert out == "Index de Dr Claire Bernard reconstruit : 5 documents.\n"
    assert err == "Indexation : 5 documents sur 5…\n"  # not a terminal: the last line only
    assert env.cases() == before
    journal = env.layout.unit / "audit.jsonl"
    rebuilt = [e for e in audit.read(journal) if e.event == "index_rebuilt"]
    assert [(e.actor, e.details) for e in rebuilt] == [("dr-bernard", {"count": 5})]
    assert clinical_text_in(journal.read_text("utf-8")) == []
    # no receipt is sent twice: the doctor's workstation queued one, for the opinion
    receipts = [e for e in audit.read(journal) if e.event == "bundle_sealed"]
    assert [e.details["kind"] for e in receipts].count("receipt") == 1


def test_rebuilding_is_refused_while_the_app_has_the_profile_open(env: Env) -> None:
    """The app keeps the index open: a rebuild would replace the file under it."""
    env.cases()  # the index exists
    index = index_path(Profile(env.layout.unit), "dr-bernard")
    before = index.read_bytes()
    app = Session(Profile(env.layout.unit), poll_interval=0.2)  # the app, open on the unit
    try:
        err = env.fails(env.layout.unit, "index", "rebuild", "--as", "dr-bernard",
                        "--passphrase-file", env.passfile)  # fmt: skip
        assert err == (
            "passavant: Passavant est ouvert sur ce profil : fermez-le avant « passavant "
            "index rebuild », qui ne peut pas travailler en même temps que lui.\n"
        )
        assert index.read_bytes() == before
        env.cases()  # a listing runs beside the app
    finally:
        app.stop()
    env.ok(env.layout.unit, "index", "rebuild", "--as", "dr-bernard",
           "--passphrase-file", env.passfile)  # fmt: skip


def test_progress_is_rewritten_in_place_on_a_terminal_only() -> None:
    screen = io.StringIO()
    progress = Progress(screen, terminal=True)
    for n in range(1, 4):
        progress(n, 3)
    assert screen.getvalue() == (
        "\rIndexation : 1 document sur 3…"  # the first at once
        + "\rIndexation : 3 documents sur 3…\n"  # the last always, then a new line
    )
    log = io.StringIO()
    progress = Progress(log, terminal=False)
    for n in range(1, 1201):
        progress(n, 1200)
    progress.finish()
    assert log.getvalue() == "Indexation : 1\u00a0200 documents sur 1\u00a0200…\n"
    interrupted = io.StringIO()
    progress = Progress(interrupted, terminal=True)
    progress(1, 2)
    progress.finish()  # the line is ended for the next message
    assert interrupted.getvalue().endswith("…\n")
    assert count_text(1_234_567) == "1\u00a0234\u00a0567"


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["cases", "list"], ["index", "rebuild"]])
def test_failures_are_one_plain_line(env: Env, command: list[str]) -> None:
    unit = env.layout.unit
    err = env.fails(unit, *command, "--as", "nobody", "--passphrase-file", env.passfile)
    assert err == f"passavant: aucune identité « nobody » dans le profil {unit}.\n"
    bad = env.layout.root / "bad.txt"
    err = env.fails(unit, *command, "--as", "dr-bernard", "--passphrase-file", bad)
    assert err == "passavant: Mot de passe incorrect.\n"
    # a secretary has no cases: said plainly, before any passphrase is asked
    err = env.fails(unit, *command, "--as", "sec-lambert")
    assert err == (
        "passavant: Sophie Lambert (Secrétariat) n’a pas de dossiers : les demandes et les "
        "avis ne sont jamais chiffrés pour le secrétariat.\n"
    )
    missing = env.layout.root / "nowhere"
    err = env.fails(missing, *command, "--as", "dr-bernard", "--passphrase-file", env.passfile)
    assert err == f"passavant: profil introuvable : {missing}\n"
    assert not missing.exists()
    assert not (unit / "index" / "sec-lambert.sqlite").exists()


# --- the words of a state, without disk -----------------------------------------------------


def test_overdue_and_withdrawn_requests_are_worded_as_in_the_app() -> None:
    waiting = thread(request(0))
    due = date(2026, 10, 19)  # five working days after Monday 12 October 2026
    on_time = describe(waiting, DOCTOR.fingerprint, today=due)
    assert (on_time.state, on_time.due) == ("awaiting_answer", due)
    assert on_time.status == "Envoyé · avis attendu d’ici le 19/10/2026"
    late = describe(waiting, DOCTOR.fingerprint, today=due + timedelta(days=1))
    assert (late.state, late.due) == ("overdue", due)
    assert late.status == "Envoyé · avis en retard (attendu le 19/10/2026)"
    received = describe(waiting, EXPERT.fingerprint, today=due + timedelta(days=1))
    assert received.direction == "received"
    assert received.status == "À traiter · délai dépassé (19/10/2026)"
    withdrawn = thread(request(0))
    withdrawn.withdrawal = withdrawal_of(withdrawn.case)
    line = describe(withdrawn, EXPERT.fingerprint, today=due + timedelta(days=1))
    assert (line.state, line.due, line.withdrawal_reason) == ("withdrawn", None, "released")
    assert line.status == "Retirée (patient libéré ou transféré)"
    assert line.signed_at == T0
    assert line.to_json()["signed_at"] == "2026-10-12T12:00:00+00:00"
