"""A receipt whose sender the directory does not list yet waits for it, on disk.

The first listing after a specialist logs in runs beside the directory's fetch: on a profile
that never fetched it, the request is opened before the directory says where its sender is.
The receipt then waits and goes with the next copy of the directory (in this process or after
a restart), exactly once, and only to the certificate the request's author signed with.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from app.session import Session
from cases.profile import Profile
from cases.workstation import Workstation
from crypto import pki
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv


def receipts(session: Session) -> list[tuple[str | None, str]]:
    return [(j.recipient_id, j.state) for j in session.outbox.jobs() if j.kind == "receipt"]


def waiting(profile_root: Path) -> list[str]:
    with sqlite3.connect(Profile(profile_root).db_path) as db:
        return [row[0] for row in db.execute("SELECT bundle_id FROM receipts_waiting")]


def a_request_arrived(sessions: tuple[Session, Session], demo_env: DemoEnv) -> str:
    """The doctor's request, in the specialist's inbox; the hospital keeps no directory."""
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    (demo_env.layout.hospital / "directory.json").unlink(missing_ok=True)
    return bundle_id


def test_a_receipt_waits_for_a_directory_that_arrives_late(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    bundle_id = a_request_arrived(sessions, demo_env)
    expert = unlock(demo_env.layout.hospital, "pr-dubois")

    threads, _ = hospital.workstation.threads(expert)  # before the directory came
    assert [t.case.bundle_id for t in threads] == [bundle_id]
    assert receipts(hospital) == []
    assert waiting(demo_env.layout.hospital) == [bundle_id]
    hospital.workstation.threads(expert)  # still no directory: still waiting, nothing sent
    assert receipts(hospital) == []

    hospital.workstation.refresh_directory()
    hospital.workstation.threads(expert)  # the next listing sends it
    assert [r for r, _ in receipts(hospital)] == ["dr-bernard"]
    assert waiting(demo_env.layout.hospital) == []
    hospital.workstation.threads(expert)
    hospital.workstation.refresh_directory()  # a new copy: nothing waits, nothing more goes
    hospital.workstation.threads(expert)
    assert len(receipts(hospital)) == 1

    hospital.sender.wake()
    wait_for(lambda: unit.inbox.items("dr-bernard"))
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    unit.workstation.threads(doctor)
    assert unit.outbox.get(bundle_id).state == "acknowledged"  # type: ignore[union-attr]


def test_a_waiting_receipt_is_sent_after_a_restart(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """The request was opened (and indexed) before the crash: the next process never opens
    it again, so only the waiting row can still send its receipt."""
    _unit, hospital = sessions
    bundle_id = a_request_arrived(sessions, demo_env)
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    hospital.workstation.threads(expert)
    assert receipts(hospital) == []
    hospital.workstation.refresh_directory()  # fetched, then the process went down

    station = hospital.workstation
    later = Workstation(hospital.profile, hospital.outbox, hospital.inbox, station.client)
    try:
        threads, _ = later.threads(expert)
        assert [t.case.bundle_id for t in threads] == [bundle_id]
        assert [r for r, _ in receipts(hospital)] == ["dr-bernard"]
        assert waiting(demo_env.layout.hospital) == []
        later.threads(expert)
        assert len(receipts(hospital)) == 1
    finally:
        later.close()


def test_a_directory_naming_another_certificate_gets_no_receipt(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """A directory (the platform's to write) that names another valid certificate for the
    doctor's mailbox receives nothing: the receipt is for the certificate the request was
    signed for, and waits until the directory names it again."""
    unit, hospital = sessions
    bundle_id = a_request_arrived(sessions, demo_env)
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    entries = [e.__dict__ for e in hospital.workstation.client.directory()]
    doctor_entry = next(e for e in entries if e["id"] == "dr-bernard")
    other = next(e for e in entries if e["id"] == "pr-dubois")
    doctor_entry["certificate_pem"] = other["certificate_pem"]  # valid, and not the doctor's
    (demo_env.layout.hospital / "directory.json").write_text(json.dumps(entries), "utf-8")

    hospital.workstation.threads(expert)
    assert receipts(hospital) == []
    assert waiting(demo_env.layout.hospital) == [bundle_id]

    hospital.workstation.refresh_directory()  # the platform's true directory again
    hospital.workstation.threads(expert)
    assert [r for r, _ in receipts(hospital)] == ["dr-bernard"]
    hospital.sender.wake()
    wait_for(lambda: unit.inbox.items("dr-bernard"))
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    unit.workstation.threads(doctor)  # only the doctor's key opens it
    assert unit.outbox.get(bundle_id).state == "acknowledged"  # type: ignore[union-attr]
    assert pki.fingerprint(doctor.certificate) != pki.fingerprint(
        pki.load_cert_pem(other["certificate_pem"].encode("ascii"))
    )


def test_a_request_erased_while_its_receipt_waits_gets_none(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """A withdrawn consent erased the request before the directory came: nothing of it is
    kept, its receipt included."""
    _unit, hospital = sessions
    bundle_id = a_request_arrived(sessions, demo_env)
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    hospital.workstation.threads(expert)
    assert waiting(demo_env.layout.hospital) == [bundle_id]
    hospital.inbox.remove(bundle_id)  # as a withdrawn consent does (Workstation._act)
    hospital.workstation.store(expert).erase(bundle_id)

    hospital.workstation.refresh_directory()
    threads, _ = hospital.workstation.threads(expert)
    assert threads == []
    assert receipts(hospital) == []
    assert waiting(demo_env.layout.hospital) == []
