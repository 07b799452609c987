"""Forged bundles against the case store, end to end: each is signed by a holder of a
certificate of the trusted demo CA, sealed by hand, delivered through the real platform (or
dropped in an inbox), and the victim's ``Workstation.threads()`` must show nothing of it, say
why once, and never open it again.

The forgers: the unit's secretary, a doctor of another unit, a specialist of another
hospital, the genuine specialist lying about himself in the manifest or signing malformed
bundles. Each test also sends a control through the same forging path that the rules admit,
so that a refusal is the rule's doing and not the forge's.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from app.demo import HOSPITAL_ORG
from app.session import Session
from cases.bundle import Party, pack_case, pack_opinion, pack_receipt
from cases.followup import specialist_of
from cases.model import Opinion, new_id
from cases.profile import Profile, UnlockedIdentity
from cases.threads import CaseThread, Unreadable
from crypto import audit, cms, pki
from outbox.platform import DirectoryEntry
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv
from tests.support.forge import (
    deliver,
    drop_in_inbox,
    events,
    in_inbox,
    issue,
    listed,
    party,
    refusals,
    rezip,
)

OTHER_UNIT = "USMP autre — Maison d'arrêt"
OTHER_HOSPITAL = "CHU autre — Service de dermatologie"


@dataclass
class World:
    env: DemoEnv
    unit: Session
    hospital: Session
    doctor: UnlockedIdentity
    expert: UnlockedIdentity

    def entry(self, session: Session, mailbox: str) -> DirectoryEntry:
        return next(e for e in session.workstation.refresh_directory() if e.id == mailbox)

    def certificate(self, mailbox: str) -> pki.x509.Certificate:
        return pki.load_cert_pem(self.entry(self.unit, mailbox).certificate_pem.encode("ascii"))

    def request(self, question: str = "Psoriasis ?") -> CaseThread:
        """The doctor's genuine request, delivered to the specialist's inbox (he has not
        listed it: no receipt yet); her thread of it."""
        case = replace(a_case(), question=question)
        bundle_id = self.unit.workstation.send_case(
            self.doctor, case, self.entry(self.unit, "pr-dubois")
        )
        self.unit.sender.wake()
        wait_for(lambda: bundle_id in in_inbox(self.hospital, "pr-dubois"))
        threads, unreadable = self.unit.workstation.threads(self.doctor)
        assert unreadable == []
        return next(t for t in threads if t.case.bundle_id == bundle_id)


@pytest.fixture
def world(demo_env: DemoEnv) -> Iterator[World]:
    unit = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    hospital = Session(Profile(demo_env.layout.hospital), poll_interval=0.2)
    for session in (unit, hospital):
        session.start()
    try:
        yield World(
            demo_env,
            unit,
            hospital,
            unlock(demo_env.layout.unit, "dr-bernard"),
            unlock(demo_env.layout.hospital, "pr-dubois"),
        )
    finally:
        for session in (unit, hospital):
            session.stop()


def codes(unreadable: list[Unreadable]) -> dict[str, str]:
    return {u.bundle_id: u.code for u in unreadable}


def receipts_sent(session: Session) -> list[tuple[str, str]]:
    """The receipts ``session`` queued: (receipt id, mailbox it goes to)."""
    return [(j.bundle_id, j.recipient_id) for j in session.outbox.jobs() if j.kind == "receipt"]


def receipt_for(session: Session, bundle_id: str) -> str:
    """The receipt ``session``'s workstation sent for ``bundle_id``."""
    with session.workstation._db() as db:
        [(receipt_id,)] = db.execute(
            "SELECT receipt_id FROM receipts WHERE bundle_id = ?", (bundle_id,)
        ).fetchall()
    return str(receipt_id)


def acknowledged(session: Session) -> set[str]:
    """The bundles ``session``'s workstation sent a receipt for."""
    with session.workstation._db() as db:
        return {row[0] for row in db.execute("SELECT bundle_id FROM receipts")}


# --- 1. the unit's secretary answers the doctor's request -------------------------------------


def test_a_secretarys_opinions_are_refused_told_once_and_never_opened_again(
    world: World,
) -> None:
    w = world
    secretary = unlock(w.env.layout.unit, "sec-lambert")
    assert not pki.can_decrypt(secretary.certificate)  # she signs, she cannot read
    mine = w.request()
    request = mine.case
    forged = {
        "sec-on-site": Opinion(
            mine.case_id, "Rien de grave : traiter sur place.", outcome="on_site"
        ),
        "sec-refer": Opinion(
            mine.case_id,
            "Adresser au Dr Complice.",
            outcome="refer",
            refer_to="dr-complice",
            refer_name="Dr Complice",
        ),
    }
    for n, (bundle_id, opinion) in enumerate(forged.items()):
        # the second names her among the recipients too (she cannot be encrypted to)
        named = [request.sender] + ([party(secretary)] if n else [])
        plain = pack_opinion(
            bundle_id, opinion, party(secretary), named, in_reply_to=request.bundle_id
        )
        deliver(
            w.unit, secretary, bundle_id, "opinion", plain, "dr-bernard", [w.doctor.certificate]
        )
    wait_for(lambda: set(forged) <= in_inbox(w.unit, "dr-bernard"))

    store = w.unit.workstation.store(w.doctor)
    before = store.openings
    threads, unreadable = w.unit.workstation.threads(w.doctor)
    assert store.openings == before + 2  # each opened once, to be decided
    assert [t.case.bundle_id for t in threads] == [request.bundle_id]
    assert threads[0].opinions == []  # no opinion shown
    assert threads[0].awaiting_answer  # still waiting for the specialist's answer
    who = specialist_of(threads[0])
    assert who is not None
    assert who.mailbox == "pr-dubois"  # her "refer" does not redirect the follow-up
    assert codes(unreadable) == dict.fromkeys(forged, "opinion_not_from_addressee")
    assert sorted(refusals(w.unit)) == sorted(codes(unreadable).items())  # journalled once
    assert not set(forged) & set(events(w.unit, "bundle_opened"))
    assert receipts_sent(w.unit) == []  # nothing acknowledged to her

    threads_again, unreadable_again = w.unit.workstation.threads(w.doctor)
    assert store.openings == before + 2  # not opened again
    assert codes(unreadable_again) == codes(unreadable)  # still told, until discarded
    assert threads_again[0].opinions == []
    assert len(refusals(w.unit)) == 2  # not journalled again
    assert audit.verify(w.unit.profile.audit_path).ok


# --- 2. another unit's doctor reuses the doctor's case id -------------------------------------


def test_a_request_reusing_another_doctors_case_id_never_replaces_it(world: World) -> None:
    w = world
    intruder = issue(w.env.layout, "dr-intrus", "Dr Intrus", "doctor", OTHER_UNIT)
    mine = w.request()
    genuine = mine.case

    def forged_request(
        bundle_id: str, mailbox: str, case_id: str, follows: str | None = None
    ) -> None:
        case = replace(
            a_case(),
            case_id=case_id,
            patient_ref="P-X",
            question="Question intruse",
            follows=follows,
        )
        addressee = Party.of_certificate(w.certificate(mailbox), mailbox)
        plain = pack_case(bundle_id, case, party(intruder), [addressee, party(intruder)])
        deliver(
            w.hospital,
            intruder,
            bundle_id,
            "case",
            plain,
            mailbox,
            [w.certificate(mailbox), intruder.certificate],
        )

    # after the genuine request arrived at the specialist's, and at the doctor's herself
    forged_request("intrus-to-expert", "pr-dubois", mine.case_id)
    forged_request("intrus-to-doctor", "dr-bernard", mine.case_id)
    # a case id of her own, but the follow-up of the other unit's case
    forged_request("intrus-follows", "pr-dubois", new_id(), follows=mine.case_id)
    # control: the same doctor, the same path, a case id of her own: admitted
    own_case = new_id()
    forged_request("intrus-own-case", "pr-dubois", own_case)
    wait_for(
        lambda: (
            {"intrus-to-expert", "intrus-follows", "intrus-own-case"}
            <= in_inbox(w.hospital, "pr-dubois")
        )
    )
    wait_for(lambda: "intrus-to-doctor" in in_inbox(w.unit, "dr-bernard"))

    w.hospital.workstation.refresh_directory()
    threads, unreadable = w.hospital.workstation.threads(w.expert)
    by_case = {t.case_id: t for t in threads}
    assert set(by_case) == {mine.case_id, own_case}
    shown = by_case[mine.case_id]
    assert shown.case.bundle_id == genuine.bundle_id
    assert shown.case.sender.fingerprint == w.doctor.fingerprint
    assert shown.case.sender.display_name == "Dr Claire Bernard"
    assert shown.case.bundle.case is not None
    assert shown.case.bundle.case.question == "Psoriasis ?"
    assert by_case[own_case].case.sender.display_name == "Dr Intrus"  # the control
    assert codes(unreadable) == {
        "intrus-to-expert": "case_id_taken",
        "intrus-follows": "follows_foreign_case",
    }
    assert sorted(refusals(w.hospital)) == sorted(codes(unreadable).items())
    # the genuine request and the control were opened (journalled), the forged ones refused
    opened = events(w.hospital, "bundle_opened")
    assert {genuine.bundle_id, "intrus-own-case"} <= set(opened)
    assert not {"intrus-to-expert", "intrus-follows"} & set(opened)
    assert genuine.bundle_id in acknowledged(w.hospital)
    assert "intrus-to-expert" not in acknowledged(w.hospital)

    threads, unreadable = w.unit.workstation.threads(w.doctor)
    assert [t.case.bundle_id for t in threads] == [genuine.bundle_id]  # not replaced
    assert threads[0].case.sender.fingerprint == w.doctor.fingerprint
    assert threads[0].case.bundle.case is not None
    assert threads[0].case.bundle.case.question == "Psoriasis ?"
    assert codes(unreadable) == {"intrus-to-doctor": "case_id_taken"}
    assert "intrus-to-doctor" not in events(w.unit, "bundle_opened")
    assert acknowledged(w.unit) == set()

    # both again: the same answer, nothing opened, nothing journalled anew
    openings = w.hospital.workstation.store(w.expert).openings
    again, _unreadable = w.hospital.workstation.threads(w.expert)
    assert {t.case.bundle_id for t in again} == {t.case.bundle_id for t in by_case.values()}
    assert w.hospital.workstation.store(w.expert).openings == openings
    assert len(refusals(w.hospital)) == 2


# --- 3. a specialist of another hospital, not addressed ---------------------------------------


def test_a_specialist_not_addressed_can_neither_answer_nor_acknowledge(world: World) -> None:
    w = world
    stranger = issue(w.env.layout, "pr-etranger", "Pr Étranger", "specialist", OTHER_HOSPITAL)
    mine = w.request()
    request = mine.case
    wait_for(lambda: w.unit.outbox.get(request.bundle_id).state == "delivered")  # type: ignore[union-attr]
    recipients = [request.sender, party(stranger)]
    opinion = Opinion(mine.case_id, "Transfert immédiat.", outcome="urgent_transfer")
    plain = pack_opinion("stranger-opinion", opinion, party(stranger), recipients,
                         in_reply_to=request.bundle_id)  # fmt: skip
    certificates = [w.doctor.certificate, stranger.certificate]
    deliver(w.hospital, stranger, "stranger-opinion", "opinion", plain, "dr-bernard", certificates)
    plain = pack_receipt(
        "stranger-receipt", request.bundle_id, mine.case_id, party(stranger), recipients
    )
    deliver(w.hospital, stranger, "stranger-receipt", "receipt", plain, "dr-bernard", certificates)
    wait_for(lambda: {"stranger-opinion", "stranger-receipt"} <= in_inbox(w.unit, "dr-bernard"))

    [thread], unreadable = w.unit.workstation.threads(w.doctor)
    assert thread.opinions == []
    assert codes(unreadable) == {
        "stranger-opinion": "opinion_not_from_addressee",
        "stranger-receipt": "receipt_not_from_recipient",
    }
    assert sorted(refusals(w.unit)) == sorted(codes(unreadable).items())
    job = w.unit.outbox.get(request.bundle_id)
    assert job is not None
    assert job.state == "delivered"  # not acknowledged
    assert "receipt_received" not in [e.event for e in audit.read(w.unit.profile.audit_path)]
    assert receipts_sent(w.unit) == []

    # control: the addressed specialist lists it; his receipt acknowledges the request
    w.hospital.workstation.refresh_directory()
    w.hospital.workstation.threads(w.expert)
    receipt_id = receipt_for(w.hospital, request.bundle_id)
    wait_for(lambda: receipt_id in in_inbox(w.unit, "dr-bernard"))
    [thread], unreadable = w.unit.workstation.threads(w.doctor)
    assert w.unit.outbox.get(request.bundle_id).state == "acknowledged"  # type: ignore[union-attr]
    assert set(codes(unreadable)) == {"stranger-opinion", "stranger-receipt"}


# --- 4. the genuine specialist misnames himself in the manifest -------------------------------


def test_a_sender_that_is_not_exactly_its_signer_is_refused(world: World) -> None:
    w = world
    mine = w.request()
    request = mine.case
    honest = party(w.expert)
    assert (honest.display_name, honest.role, honest.organization) == (
        "Pr Marc Dubois",
        "specialist",
        HOSPITAL_ORG,
    )
    senders = {
        "fake-name": replace(honest, display_name="Pr Faux Nom"),
        "fake-organization": replace(honest, organization="CHU démo — Service de chirurgie"),
        "fake-role": replace(honest, role="doctor"),
        "honest": honest,  # control: the same path, the truth
    }
    for bundle_id, sender in senders.items():
        opinion = Opinion(mine.case_id, f"Avis {bundle_id}.", outcome="on_site")
        plain = pack_opinion(
            bundle_id, opinion, sender, [request.sender, honest], in_reply_to=request.bundle_id
        )
        deliver(
            w.hospital,
            w.expert,
            bundle_id,
            "opinion",
            plain,
            "dr-bernard",
            [w.doctor.certificate, w.expert.certificate],
        )
    wait_for(lambda: set(senders) <= in_inbox(w.unit, "dr-bernard"))

    [thread], unreadable = w.unit.workstation.threads(w.doctor)
    assert [o.bundle_id for o in thread.opinions] == ["honest"]
    assert thread.opinions[0].sender.display_name == "Pr Marc Dubois"
    assert codes(unreadable) == {
        "fake-name": "sender_not_signer",
        "fake-organization": "sender_not_signer",
        "fake-role": "sender_not_signer",
    }
    for problem in unreadable:  # what is told names nobody
        assert "Dubois" not in problem.detail
        assert "Faux" not in problem.detail
    assert sorted(refusals(w.unit)) == sorted(codes(unreadable).items())
    assert acknowledged(w.unit) == {"honest"}  # a receipt for the honest opinion only
    assert [m for _, m in receipts_sent(w.unit)] == ["pr-dubois"]
    journal = w.unit.profile.audit_path.read_text("utf-8")
    assert "Faux" not in journal
    assert "chirurgie" not in journal


# --- 5. malformed bundles signed by the genuine specialist ------------------------------------


def _broken_crc(data: bytes, marker: bytes) -> bytes:
    """``data`` with one byte of the stored file that starts with ``marker`` flipped: the ZIP
    reads fine up to that entry, whose CRC then fails."""
    at = data.index(marker) + len(marker)
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def halved(data: bytes) -> bytes:
    return data[: len(data) // 2]


def test_malformed_bundles_are_set_aside_and_the_rest_is_listed(world: World) -> None:
    w = world
    first = w.request("Psoriasis ?")
    second = w.request("Eczéma ?")
    notes = b"NOTES: compte rendu joint."

    def year_one(m: dict[str, object]) -> None:
        m["created"] = "0001-01-01T00:00:00Z"

    def no_offset(m: dict[str, object]) -> None:
        m["created"] = "2026-11-23T09:30:00"

    def clinical_no_offset(m: dict[str, object]) -> None:
        m["clinical"]["created_at"] = "2026-11-23T15:02:10"  # type: ignore[index]

    def with_notes(m: dict[str, object]) -> None:
        m["files"] = [listed("notes.txt", notes)]

    def with_wrong_hash(m: dict[str, object]) -> None:
        m["files"] = [{**listed("notes.txt", notes), "sha256": "0" * 64}]

    def opinion_on(thread: CaseThread, bundle_id: str) -> bytes:
        opinion = Opinion(thread.case_id, f"Avis {bundle_id}.", outcome="on_site")
        return pack_opinion(
            bundle_id,
            opinion,
            party(w.expert),
            [thread.case.sender, party(w.expert)],
            in_reply_to=thread.case.bundle_id,
        )

    plains = {
        "year-one": rezip(opinion_on(first, "year-one"), year_one),
        "no-offset": rezip(opinion_on(second, "no-offset"), no_offset),
        "clinical-no-offset": rezip(opinion_on(first, "clinical-no-offset"), clinical_no_offset),
        "wrong-hash": rezip(
            opinion_on(second, "wrong-hash"), with_wrong_hash, {"notes.txt": notes}
        ),
        "bad-crc": _broken_crc(
            rezip(opinion_on(first, "bad-crc"), with_notes, {"notes.txt": notes}), b"NOTES"
        ),
        "truncated": halved(rezip(opinion_on(second, "truncated"))),
        # controls, through the same path: a file listed rightly, and nothing changed
        "good-notes": rezip(opinion_on(first, "good-notes"), with_notes, {"notes.txt": notes}),
        "good": rezip(opinion_on(second, "good")),
    }
    for bundle_id, plain in plains.items():
        deliver(
            w.hospital,
            w.expert,
            bundle_id,
            "opinion",
            plain,
            "dr-bernard",
            [w.doctor.certificate, w.expert.certificate],
        )
    wait_for(lambda: set(plains) <= in_inbox(w.unit, "dr-bernard"))

    threads, unreadable = w.unit.workstation.threads(w.doctor)  # never raises
    by_id = {t.case.bundle_id: t for t in threads}
    assert set(by_id) == {first.case.bundle_id, second.case.bundle_id}
    assert [o.bundle_id for o in by_id[first.case.bundle_id].opinions] == ["good-notes"]
    assert [o.bundle_id for o in by_id[second.case.bundle_id].opinions] == ["good"]
    malformed = set(plains) - {"good", "good-notes"}
    assert codes(unreadable) == dict.fromkeys(malformed, "malformed_bundle")
    assert sorted(refusals(w.unit)) == sorted(codes(unreadable).items())
    openings = w.unit.workstation.store(w.doctor).openings
    again, unreadable_again = w.unit.workstation.threads(w.doctor)
    assert {t.case.bundle_id for t in again} == set(by_id)
    assert codes(unreadable_again) == codes(unreadable)
    assert w.unit.workstation.store(w.doctor).openings == openings


# --- 6. what cannot be opened is opened once, and can be discarded ----------------------------


def test_an_unreadable_bundle_is_opened_once_and_can_be_discarded(world: World) -> None:
    w = world
    mine = w.request()
    # the doctor seals a bundle to Pr Roux alone, delivered into Pr Dubois's mailbox
    roux = w.certificate("pr-roux")
    plain = pack_opinion(
        "for-roux",
        Opinion(mine.case_id, "Pour un autre.", outcome="on_site"),
        party(w.doctor),
        [Party.of_certificate(roux, "pr-roux")],
    )
    deliver(w.unit, w.doctor, "for-roux", "opinion", plain, "pr-dubois", [roux])
    wait_for(lambda: "for-roux" in in_inbox(w.hospital, "pr-dubois"))
    drop_in_inbox(w.hospital, "pr-dubois", "noise", bytes(range(256)) * 16)
    noise_path = w.hospital.inbox.path("noise")

    w.hospital.workstation.refresh_directory()
    store = w.hospital.workstation.store(w.expert)
    before = store.openings
    seen = []
    for _refresh in range(3):
        threads, unreadable = w.hospital.workstation.threads(w.expert)
        seen.append(store.openings - before)
        assert [t.case.bundle_id for t in threads] == [mine.case.bundle_id]
        assert codes(unreadable) == {"for-roux": "not_a_recipient", "noise": "malformed"}
    assert seen == [3, 3, 3]  # the request and both unreadable ones: once each
    assert sorted(refusals(w.hospital)) == [("for-roux", "not_a_recipient"), ("noise", "malformed")]

    # logged out and in again: the index remembers, nothing is opened again
    w.hospital.workstation.forget(w.expert)
    store = w.hospital.workstation.store(w.expert)
    _threads, unreadable = w.hospital.workstation.threads(w.expert)
    assert store.openings == 0
    assert set(codes(unreadable)) == {"for-roux", "noise"}

    # the request shown is not set aside: discarding it does nothing
    assert w.hospital.workstation.discard(w.expert, [mine.case.bundle_id]) == 0
    assert w.hospital.workstation.discard(w.expert, ["noise", "for-roux"]) == 2
    threads, unreadable = w.hospital.workstation.threads(w.expert)
    assert unreadable == []
    assert [t.case.bundle_id for t in threads] == [mine.case.bundle_id]
    assert in_inbox(w.hospital, "pr-dubois") == {mine.case.bundle_id}
    assert w.hospital.inbox.get("noise") is None
    assert not noise_path.exists()
    assert sorted(events(w.hospital, "bundle_discarded")) == ["for-roux", "noise"]
    assert store.openings == 0
    assert w.hospital.workstation.discard(w.expert, ["noise"]) == 0  # once only
    assert len(refusals(w.hospital)) == 2  # the discarded are not told again


# --- what the tests above found ------------------------------------------------------------


def test_a_manifest_not_in_utf8_is_malformed(world: World) -> None:
    w = world
    mine = w.request()
    opinion = Opinion(mine.case_id, "Avis en UTF-16.", outcome="on_site")
    plain = pack_opinion(
        "utf16-manifest",
        opinion,
        party(w.expert),
        [mine.case.sender, party(w.expert)],
        in_reply_to=mine.case.bundle_id,
    )
    with zipfile.ZipFile(io.BytesIO(plain)) as source:
        manifest = source.read("manifest.json").decode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:  # the format says UTF-8; this is UTF-16
        target.writestr("manifest.json", manifest.encode("utf-16"))
    deliver(
        w.hospital,
        w.expert,
        "utf16-manifest",
        "opinion",
        out.getvalue(),
        "dr-bernard",
        [w.doctor.certificate, w.expert.certificate],
    )
    wait_for(lambda: "utf16-manifest" in in_inbox(w.unit, "dr-bernard"))
    [thread], unreadable = w.unit.workstation.threads(w.doctor)  # never raises
    assert thread.opinions == []  # set aside, whatever the code
    assert codes(unreadable) == {"utf16-manifest": "malformed_bundle"}


def test_an_opinion_naming_no_request_is_told_and_can_be_discarded(world: World) -> None:
    w = world
    secretary = unlock(w.env.layout.unit, "sec-lambert")
    mine = w.request()
    plain = pack_opinion(
        "sec-nowhere",
        Opinion(mine.case_id, "Rien à faire.", outcome="on_site"),
        party(secretary),
        [mine.case.sender],
    )  # in_reply_to: None
    deliver(
        w.unit, secretary, "sec-nowhere", "opinion", plain, "dr-bernard", [w.doctor.certificate]
    )
    wait_for(lambda: "sec-nowhere" in in_inbox(w.unit, "dr-bernard"))
    [thread], unreadable = w.unit.workstation.threads(w.doctor)
    assert thread.opinions == []  # holds today: it is not shown
    assert "sec-nowhere" in codes(unreadable)  # fails today: it is not told either
    assert ("sec-nowhere", codes(unreadable)["sec-nowhere"]) in refusals(w.unit)
    assert w.unit.workstation.discard(w.doctor, ["sec-nowhere"]) == 1
    assert "sec-nowhere" not in in_inbox(w.unit, "dr-bernard")


def test_a_request_delivered_again_after_a_withdrawn_consent_is_erased_after_a_rebuild(
    world: World,
) -> None:
    w = world
    mine = w.request()  # the doctor's thread, before any opinion reaches her
    w.hospital.workstation.refresh_directory()
    [received], _unreadable = w.hospital.workstation.threads(w.expert)
    ciphertext = w.hospital.inbox.path(received.case.bundle_id).read_bytes()
    w.hospital.workstation.send_opinion(
        w.expert, received, Opinion(received.case_id, "Avis.", outcome="on_site")
    )
    w.hospital.workstation.rebuild_index(w.expert)  # a damaged index, or the command
    # the opinion has not reached the doctor: she withdraws, the patient's consent withdrawn
    withdrawal = w.unit.workstation.withdraw(w.doctor, mine, "consent_withdrawn")
    wait_for(lambda: withdrawal in in_inbox(w.hospital, "pr-dubois"))
    [erased], _unreadable = w.hospital.workstation.threads(w.expert)
    assert erased.erased
    request_path = w.hospital.inbox.path(received.case.bundle_id)
    assert not request_path.exists()

    # the platform delivers the request again: the withdrawal kept erases it again
    drop_in_inbox(w.hospital, "pr-dubois", received.case.bundle_id, ciphertext, kind="case")
    threads, unreadable = w.hospital.workstation.threads(w.expert)
    assert unreadable == []  # fails today: [(request, "case_id_taken")]
    assert [t.erased for t in threads] == [True]
    assert not request_path.exists()


# --- a signing time the platform's reception time contradicts --------------------------------


@pytest.mark.parametrize(
    ("received", "code"),
    [
        (timedelta(0), None),  # received as it was signed: believed
        (timedelta(days=29), None),  # held in an outbox through a long outage
        (timedelta(days=40), "signing_time_implausible"),  # signed "40 days" before arriving
        (-timedelta(days=1), "signing_time_implausible"),  # signed after the platform had it
    ],
)
def test_a_signing_time_far_from_the_platforms_reception_is_not_believed(
    world: World, received: timedelta, code: str | None
) -> None:
    """A signer whose certificate expired could sign new bundles by stating an earlier signing
    time: the time the platform received a bundle bounds how far back that is believed."""
    w = world
    mine = w.request()
    opinion = Opinion(mine.case_id, "Avis.", outcome="on_site")
    plain = pack_opinion(
        "timed-opinion",
        opinion,
        party(w.expert),
        [mine.case.sender, party(w.expert)],
        in_reply_to=mine.case.bundle_id,
    )
    sealed = cms.seal(plain, w.expert.certificate, w.expert.key, [w.doctor.certificate])
    roots = w.unit.profile.trust_roots()
    signed = cms.open_sealed(sealed, w.doctor.certificate, w.doctor.key, roots).signed_at
    assert signed is not None
    when = (signed + received).isoformat()
    drop_in_inbox(w.unit, "dr-bernard", "timed-opinion", sealed, received_at=when)
    [thread], unreadable = w.unit.workstation.threads(w.doctor)
    if code is None:
        assert unreadable == []
        assert [o.bundle_id for o in thread.opinions] == ["timed-opinion"]
    else:
        assert codes(unreadable) == {"timed-opinion": code}, (unreadable, when, signed)
        assert thread.opinions == []
