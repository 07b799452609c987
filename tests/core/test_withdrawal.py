"""A unit doctor withdraws a request no opinion answered yet: the patient was released, the
patient withdrew consent (the specialist's workstation then erases its copy), the request is
no longer needed, or was sent by mistake. Real workstations, real bundles, the demo platform."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from app.session import Session
from cases.bundle import pack_withdrawal
from cases.model import Opinion
from cases.profile import Profile, UnlockedIdentity
from cases.threads import CaseThread
from cases.workstation import _party_of_me
from crypto import audit
from outbox.platform import MailboxItem
from tests.core.test_bundle import code_of, open_as, rebuild
from tests.core.test_followup import DOCTOR, EXPERT
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv


@pytest.fixture
def people(
    demo_env: DemoEnv,
) -> Iterator[tuple[Session, Session, UnlockedIdentity, UnlockedIdentity]]:
    unit = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    hospital = Session(Profile(demo_env.layout.hospital), poll_interval=0.2)
    hospital.start()  # the unit's sender starts when a test wants its jobs to leave
    try:
        yield (
            unit,
            hospital,
            unlock(demo_env.layout.unit, "dr-bernard"),
            unlock(demo_env.layout.hospital, "pr-dubois"),
        )
    finally:
        for session in (unit, hospital):
            session.stop()


def delivered_request(
    unit: Session, hospital: Session, doctor: UnlockedIdentity, expert: UnlockedIdentity
) -> tuple[CaseThread, CaseThread]:
    """A request sent and opened on both sides: the doctor's thread, the specialist's."""
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    unit.workstation.send_case(doctor, a_case(), to)
    unit.start()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    [received], _unreadable = hospital.workstation.threads(expert)
    [mine], _unreadable = unit.workstation.threads(doctor)
    return mine, received


def test_the_specialist_sees_the_request_withdrawn_and_cannot_answer_it(
    people: tuple[Session, Session, UnlockedIdentity, UnlockedIdentity],
) -> None:
    unit, hospital, doctor, expert = people
    mine, received = delivered_request(unit, hospital, doctor, expert)
    with pytest.raises(ValueError, match="author"):
        hospital.workstation.withdraw(expert, received, "released")
    with pytest.raises(ValueError, match="reason"):
        unit.workstation.withdraw(doctor, mine, "bored")
    unit.workstation.withdraw(doctor, mine, "released")
    wait_for(lambda: len(hospital.inbox.items("pr-dubois")) == 2)  # the request, its withdrawal

    [received], unreadable = hospital.workstation.threads(expert)
    assert unreadable == []
    assert received.withdrawal is not None
    assert received.withdrawal.bundle.withdrawal == "released"
    assert not received.erased  # only a withdrawn consent erases the copy
    with pytest.raises(ValueError, match="withdrawn"):
        hospital.workstation.send_opinion(
            expert, received, Opinion(received.case_id, "Trop tard.", outcome="on_site")
        )
    [mine], _unreadable = unit.workstation.threads(doctor)
    assert mine.withdrawal is not None  # the doctor's own copy says so too
    assert mine.job is not None
    assert mine.job.state in ("delivered", "acknowledged")  # it had left: not cancelled
    with pytest.raises(ValueError, match="withdrawn already"):
        unit.workstation.withdraw(doctor, mine, "not_needed")
    kinds = [j.kind for j in unit.outbox.jobs()]
    assert kinds.count("withdrawal") == 1
    assert "released" not in unit.profile.audit_path.read_text("utf-8")  # the reason is content


def test_a_withdrawn_consent_erases_the_specialists_copy(
    people: tuple[Session, Session, UnlockedIdentity, UnlockedIdentity],
) -> None:
    unit, hospital, doctor, expert = people
    mine, received = delivered_request(unit, hospital, doctor, expert)
    [stored] = hospital.inbox.items("pr-dubois")
    request_path, ciphertext = stored.path, stored.path.read_bytes()
    unit.workstation.withdraw(doctor, mine, "consent_withdrawn")
    wait_for(lambda: len(hospital.inbox.items("pr-dubois")) == 2)

    [last], _unreadable = hospital.workstation.threads(expert)  # listed this once
    assert last.erased
    assert last.withdrawal is not None
    [left] = hospital.inbox.items("pr-dubois")  # the withdrawal: a reason code
    assert left.bundle_id == last.withdrawal.bundle_id
    assert not request_path.exists()  # the ciphertext itself is gone
    assert hospital.workstation.threads(expert) == ([], [])

    # the platform delivers the request again (its download was never acknowledged, say):
    # the withdrawal kept erases it again
    part = hospital.inbox.part_path(stored.bundle_id)
    part.write_bytes(ciphertext)
    item = MailboxItem(
        stored.bundle_id, "case", len(ciphertext), hashlib.sha256(ciphertext).hexdigest(), "", ""
    )
    hospital.inbox.store("pr-dubois", item, part)
    [again], _unreadable = hospital.workstation.threads(expert)
    assert again.erased
    assert not request_path.exists()
    journal = hospital.profile.audit_path
    erased = [e for e in audit.read(journal) if e.event == "bundle_erased"]
    assert [e.details["bundle_id"] for e in erased] == [received.case.bundle_id] * 2
    assert audit.verify(journal).ok
    [mine], _unreadable = unit.workstation.threads(doctor)  # the unit keeps its file
    assert mine.withdrawal is not None
    assert not mine.erased


def test_a_request_that_has_not_left_is_cancelled(
    people: tuple[Session, Session, UnlockedIdentity, UnlockedIdentity],
) -> None:
    unit, hospital, doctor, expert = people
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)  # the sender is not started
    [mine], _unreadable = unit.workstation.threads(doctor)
    unit.workstation.withdraw(doctor, mine, "sent_in_error")
    job = unit.outbox.get(bundle_id)
    assert job is not None
    assert (job.state, job.cancel_reason) == ("cancelled", "request_withdrawn")
    unit.start()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))  # the withdrawal alone
    hospital.workstation.refresh_directory()
    assert hospital.workstation.threads(expert) == ([], [])  # nothing to show, nothing broken
    [mine], _unreadable = unit.workstation.threads(doctor)
    assert mine.withdrawal is not None


def test_only_the_requests_author_withdraws_it(
    people: tuple[Session, Session, UnlockedIdentity, UnlockedIdentity],
) -> None:
    unit, hospital, doctor, expert = people
    mine, received = delivered_request(unit, hospital, doctor, expert)
    # the specialist's workstation, misbehaving, signs a withdrawal of the doctor's request
    plain = pack_withdrawal(
        "forged-withdrawal",
        received.case.bundle_id,
        received.case_id,
        "consent_withdrawn",
        _party_of_me(expert),
        [received.case.sender, _party_of_me(expert)],
    )
    to = next(e for e in hospital.workstation.directory() if e.id == "dr-bernard")
    certificates = [hospital.workstation._recipient_certificate(to), expert.certificate]
    hospital.workstation._seal_and_queue(
        expert, "forged-withdrawal", "withdrawal", plain, to, certificates, keep=False
    )
    wait_for(
        lambda: any(i.bundle_id == "forged-withdrawal" for i in unit.inbox.items("dr-bernard"))
    )
    [mine], unreadable = unit.workstation.threads(doctor)
    assert [(u.bundle_id, u.code) for u in unreadable] == [
        ("forged-withdrawal", "withdrawal_not_from_author")
    ]  # refused, and told
    assert mine.withdrawal is None  # not from the request's author
    assert not mine.erased
    refused = [e for e in audit.read(unit.profile.audit_path) if e.event == "bundle_refused"]
    assert [(e.details["bundle_id"], e.details["code"]) for e in refused] == [
        ("forged-withdrawal", "withdrawal_not_from_author")
    ]
    unit.workstation.threads(doctor)  # decided once: not journalled again
    refused = [e for e in audit.read(unit.profile.audit_path) if e.event == "bundle_refused"]
    assert len(refused) == 1


def test_a_withdrawal_names_a_case_and_a_reason_only() -> None:
    data = pack_withdrawal("w-1", "b-1", "case-1", "released", DOCTOR, [EXPERT, DOCTOR])
    bundle = open_as(data)
    assert bundle.withdrawal == "released"
    assert (bundle.manifest.kind, bundle.manifest.in_reply_to) == ("withdrawal", "b-1")
    assert bundle.case is None
    assert bundle.opinion is None
    later = pack_withdrawal("w-2", "b-1", "case-1", "moved_abroad", DOCTOR, [EXPERT, DOCTOR])
    assert open_as(later).withdrawal == "moved_abroad"  # a later version's reason: kept
    with pytest.raises(ValueError, match="code"):
        pack_withdrawal("w-3", "b-1", "case-1", "Patient libéré", DOCTOR, [EXPERT, DOCTOR])


@pytest.mark.parametrize(
    "change",
    [
        {"in_reply_to": None},
        {"case_id": None},
        {"clinical": {"reason": "released", "note": "libéré hier"}},
        {"clinical": {"reason": "Libéré !"}},
        {"clinical": None},
    ],
)
def test_a_malformed_withdrawal_is_refused(change: dict[str, object]) -> None:
    data = pack_withdrawal("w-1", "b-1", "case-1", "released", DOCTOR, [EXPERT, DOCTOR])
    edited = rebuild(data, manifest=lambda manifest: manifest.update(change))
    assert code_of(edited) == "malformed_bundle"
