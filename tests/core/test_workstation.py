"""The Qt-free path of a case: seal → outbox → platform → inbox → open → opinion → back.

Runs the real sessions of both demo workstations against the real platform, without Qt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import resources
from app.demo import DEMO_PASSPHRASE
from app.session import Session
from cases.bundle import Bundle, pack_case, unpack
from cases.errors import BundleError, InvalidCase
from cases.model import Case, Opinion, new_id
from cases.profile import Profile, UnlockedIdentity
from cases.trust import AddressBook
from crypto import audit, cms, pkcs12, pki
from crypto.errors import DecryptionFailed, InvalidRecipient, NotARecipient
from tests.support.demo import DemoEnv
from tests.support.photos import sample_photo


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def unlock(root: Path, identity: str) -> UnlockedIdentity:
    return Profile(root).unlock(identity, DEMO_PASSPHRASE.encode())


def a_case() -> Case:
    photo = sample_photo(resources.sample_photos()[0], "photo-1.jpg")
    return Case(
        patient_ref="P-1",
        consent=True,
        specialty="dermatology",
        summary="Plaque érythémateuse.",
        treatments="",
        question="Psoriasis ?",
        photos=(photo,),
    )


def test_round_trip_without_qt(sessions: tuple[Session, Session], demo_env: DemoEnv) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: unit.outbox.get(bundle_id).state == "delivered")  # type: ignore[union-attr]
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    threads, unreadable = hospital.workstation.threads(expert)
    assert unreadable == []
    assert [t.case.bundle.case.question for t in threads] == ["Psoriasis ?"]  # type: ignore[union-attr]
    assert threads[0].case.sender.mailbox == "dr-bernard"
    queued = len(hospital.outbox.jobs())
    with pytest.raises(InvalidCase) as refused:  # no outcome chosen
        hospital.workstation.send_opinion(
            expert, threads[0], Opinion(threads[0].case_id, "Psoriasis en plaques.")
        )
    assert refused.value.problems == ["missing_outcome"]
    with pytest.raises(ValueError, match="another case"):
        hospital.workstation.send_opinion(
            expert, threads[0], Opinion("another-case", "Psoriasis.", outcome="on_site")
        )
    assert len(hospital.outbox.jobs()) == queued  # nothing sealed, nothing queued
    hospital.workstation.send_opinion(
        expert,
        threads[0],
        Opinion(threads[0].case_id, "Psoriasis en plaques.", outcome="on_site", review_weeks=4),
    )
    hospital.sender.wake()
    wait_for(lambda: len(unit.inbox.items("dr-bernard")) == 2)  # the receipt and the opinion
    start = threading.Barrier(3)
    listings = []  # two listings at once, as two refreshes of the window can be

    def listing() -> None:
        start.wait()
        listings.append(unit.workstation.threads(doctor))

    racers = [threading.Thread(target=listing) for _ in range(2)]
    for racer in racers:
        racer.start()
    start.wait()
    for racer in racers:
        racer.join(30)
    assert len(listings) == 2
    threads, unreadable = unit.workstation.threads(doctor)
    assert unreadable == []
    assert [o.bundle.opinion.text for o in threads[0].opinions] == ["Psoriasis en plaques."]  # type: ignore[union-attr]
    received = threads[0].opinions[0].bundle.opinion
    assert (received.outcome, received.review_weeks) == ("on_site", 4)  # type: ignore[union-attr]

    # opening the opinion sent the specialist a signed receipt: the opinion's job, on the
    # hospital's workstation, becomes acknowledged
    receipts = [j for j in unit.outbox.jobs() if j.kind == "receipt"]
    assert len(receipts) == 1
    assert [j.recipient_id for j in receipts] == ["pr-dubois"]
    unit.sender.wake()

    def acknowledged() -> bool:
        job = hospital.workstation.threads(expert)[0][0].answer_job
        return job is not None and job.state == "acknowledged"

    wait_for(acknowledged)
    unit.workstation.threads(doctor)  # opening it again sends no second receipt
    assert len([j for j in unit.outbox.jobs() if j.kind == "receipt"]) == 1
    assert threads[0].job is not None
    assert threads[0].job.state in ("delivered", "acknowledged")


def test_the_specialists_receipt_acknowledges_the_request(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    hospital.workstation.threads(expert)  # the first opening sends the receipt
    receipts = [j for j in hospital.outbox.jobs() if j.kind == "receipt"]
    assert [(j.recipient_id, j.state) for j in receipts] in (
        [("dr-bernard", "pending")],
        [("dr-bernard", "sending")],
        [("dr-bernard", "delivered")],
    )
    hospital.workstation.threads(expert)  # opening again sends no second receipt
    assert len([j for j in hospital.outbox.jobs() if j.kind == "receipt"]) == 1
    hospital.sender.wake()
    wait_for(lambda: unit.inbox.items("dr-bernard"))

    threads, unreadable = unit.workstation.threads(doctor)
    assert unreadable == []
    assert [t.case.bundle_id for t in threads] == [bundle_id]  # a receipt is not a case
    assert unit.outbox.get(bundle_id).state == "acknowledged"  # type: ignore[union-attr]

    unit_journal = audit.verify(Profile(demo_env.layout.unit).audit_path)
    hospital_journal = audit.verify(Profile(demo_env.layout.hospital).audit_path)
    assert unit_journal.ok
    assert hospital_journal.ok
    unit_events = [e.event for e in audit.read(Profile(demo_env.layout.unit).audit_path)]
    hospital_events = [e.event for e in audit.read(Profile(demo_env.layout.hospital).audit_path)]
    assert unit_events.count("bundle_sealed") == 1
    assert "receipt_received" in unit_events
    assert hospital_events.count("bundle_opened") == 1
    for journal in (Profile(demo_env.layout.unit).audit_path, hospital.profile.audit_path):
        text = journal.read_text("utf-8")
        assert "Psoriasis" not in text
        assert "érythémateuse" not in text
        assert "P-1" not in text


def test_a_request_is_sealed_to_the_unit_archive_too(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    sealed = (demo_env.layout.unit / "archive" / f"{bundle_id}.cms").read_bytes()
    bundle, archive = read_as_archive(demo_env, sealed, doctor.fingerprint)
    assert bundle.case is not None
    assert bundle.case.question == "Psoriasis ?"
    assert archive in bundle.manifest.recipient_fingerprints


def opinion_for_the_archive(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> tuple[bytes, UnlockedIdentity]:
    """A request from the unit, and the specialist's opinion on it as sealed (its own copy)."""
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    threads, _unreadable = hospital.workstation.threads(expert)
    opinion_id = hospital.workstation.send_opinion(
        expert, threads[0], Opinion(threads[0].case_id, "Psoriasis en plaques.", outcome="on_site")
    )
    sealed = (demo_env.layout.hospital / "archive" / f"{opinion_id}.cms").read_bytes()
    return sealed, expert


def archive_identity(demo_env: DemoEnv) -> tuple[Any, pki.x509.Certificate]:
    """The unit archive's key and certificate, from the PKCS#12 kept in the unit's safe."""
    key, cert, _chain = pkcs12.import_pkcs12(
        (demo_env.layout.ca / "archive-usmp.p12").read_bytes(), DEMO_PASSPHRASE.encode()
    )
    return key, cert


def read_as_archive(demo_env: DemoEnv, sealed: bytes, signer: str) -> tuple[Bundle, str]:
    """``sealed`` opened with the unit archive's key: the bundle, and the archive's fingerprint."""
    key, cert = archive_identity(demo_env)
    verified = cms.open_sealed(sealed, cert, key, Profile(demo_env.layout.unit).trust_roots())
    archive = pki.fingerprint(cert)
    return unpack(verified.content, signer_fingerprint=signer, reader_fingerprint=archive), archive


def test_an_opinion_reaches_the_unit_archive_known_to_the_hospital(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    sealed, expert = opinion_for_the_archive(sessions, demo_env)
    bundle, archive = read_as_archive(demo_env, sealed, expert.fingerprint)
    assert bundle.opinion is not None
    assert bundle.opinion.text == "Psoriasis en plaques."
    assert archive in bundle.manifest.recipient_fingerprints


def test_an_opinion_skips_an_archive_the_hospital_does_not_know(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    book = AddressBook(Profile(demo_env.layout.hospital).addressbook_path)
    assert book.remove("Archive USMP démo")
    sealed, _expert = opinion_for_the_archive(sessions, demo_env)
    key, cert = archive_identity(demo_env)
    with pytest.raises(NotARecipient):
        cms.open_sealed(sealed, cert, key, Profile(demo_env.layout.unit).trust_roots())


def test_a_bundle_replayed_under_another_id_is_refused(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    sealed = (demo_env.layout.unit / "archive" / f"{bundle_id}.cms").read_bytes()
    replay_id = new_id()
    unit.outbox.enqueue(replay_id, "pr-dubois", "Pr Marc Dubois", "case", sealed)
    unit.sender.wake()
    wait_for(lambda: len(hospital.inbox.items("pr-dubois")) == 2)
    threads, unreadable = hospital.workstation.threads(expert)
    assert [t.case.bundle_id for t in threads] == [bundle_id]
    assert [(u.bundle_id, u.code) for u in unreadable] == [(replay_id, "malformed_bundle")]


def test_incomplete_case_is_not_queued(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    with pytest.raises(InvalidCase):
        unit.workstation.send_case(doctor, Case("P-1", False, "dermatology", "x", "", "?"), to)
    assert unit.outbox.jobs() == []


def test_a_tampered_archive_copy_is_reported_not_shown(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    path = demo_env.layout.unit / "archive" / f"{bundle_id}.cms"
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    # indexed from the plaintext when it was sealed: the list shows what was written...
    [thread], unreadable = unit.workstation.threads(doctor)
    assert unreadable == []
    photo = thread.case.bundle.case.photos[0]  # type: ignore[union-attr]
    with pytest.raises(DecryptionFailed):  # ...and the damaged copy shows no photo
        _ = photo.data
    unit.workstation.rebuild_index(doctor)  # built again from the files: it is reported
    threads, unreadable = unit.workstation.threads(doctor)
    assert threads == []
    assert [(u.bundle_id, u.code) for u in unreadable] == [(bundle_id, "decryption_failed")]


def test_the_secretary_can_open_nothing(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    secretary = unlock(demo_env.layout.unit, "sec-lambert")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    sealed = (demo_env.layout.unit / "outbox" / f"{bundle_id}.cms").read_bytes()
    with pytest.raises(NotARecipient):
        cms.open_sealed(
            sealed,
            secretary.certificate,
            secretary.key,
            Profile(demo_env.layout.unit).trust_roots(),
        )
    with pytest.raises(InvalidRecipient):  # nothing can ever be sealed for her
        cms.seal(b"x", doctor.certificate, doctor.key, [secretary.certificate])
    assert unit.workstation.threads(secretary) == ([], [])


def test_a_forwarded_bundle_is_refused(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """The doctor's signed case re-encrypted by someone else to a third party is refused."""
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    from cases.bundle import Party

    me = Party("dr-bernard", "Dr", doctor.fingerprint)
    plain = pack_case("b-1", a_case(), me, [me])  # addressed to the doctor only
    signed = cms.sign(plain, doctor.certificate, doctor.key)
    forwarded = cms.encrypt(signed, [expert.certificate])  # someone re-encrypts it
    with pytest.raises(BundleError) as caught:
        unit.workstation.open(expert, forwarded)
    assert caught.value.code == "not_addressed_to_you"


def test_the_demo_platform_stops_when_its_parent_goes(demo_env: DemoEnv) -> None:
    """Closing the stdin pipe is what a parent's death (even kill -9) does to it."""
    assert demo_env.process.stdin is not None
    demo_env.process.stdin.close()
    assert demo_env.process.wait(15) == 0


def test_an_urgent_request_is_queued_urgent(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    unit.sender.stop()  # the jobs stay queued, to be looked at
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    normal = unit.workstation.send_case(doctor, a_case(), to)
    urgent = unit.workstation.send_case(doctor, replace(a_case(), urgent=True), to)
    priorities = {job.bundle_id: job.priority for job in unit.outbox.jobs()}
    assert priorities == {normal: "normal", urgent: "urgent"}
