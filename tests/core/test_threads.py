"""Assembling threads from opened bundles: pure, no disk, no network."""

from __future__ import annotations

from datetime import timedelta

from cases.bundle import Party, pack_withdrawal, unpack
from cases.model import Opinion
from cases.threads import Opened, assemble
from tests.core.test_followup import DOCTOR, EXPERT, T0, request, thread


def withdrawal_of(made: Opened, author: Party = DOCTOR) -> Opened:
    """A withdrawal of the request ``made``, signed by ``author``, as the doctor opens it."""
    case = made.bundle.case
    assert case is not None
    data = pack_withdrawal(
        "w-" + made.bundle_id, made.bundle_id, case.case_id, "released", author, [DOCTOR, EXPERT]
    )
    bundle = unpack(
        data, signer_fingerprint=author.fingerprint, reader_fingerprint=DOCTOR.fingerprint
    )
    return Opened(bundle.manifest.bundle_id, author, T0, bundle)


def test_requests_gather_their_opinions_and_their_authors_withdrawal() -> None:
    older, newer = request(0), request(3, patient="P-2")
    first = Opinion(older.case_id, "D’abord.", created_at=T0 + timedelta(hours=1))
    second = Opinion(older.case_id, "Ensuite.", created_at=T0 + timedelta(hours=2))
    answered = thread(older, (EXPERT, second), (EXPERT, first))
    pending = thread(newer)
    latest = next(o for o in answered.opinions if o.bundle.opinion == second)
    jobs = {latest.bundle_id: "job-of-the-latest-answer"}
    documents = [
        *answered.opinions,
        pending.case,
        withdrawal_of(pending.case),
        withdrawal_of(answered.case, EXPERT),  # not its author: ignored
        answered.case,
    ]
    listed = assemble(documents, EXPERT.fingerprint, jobs.get)  # type: ignore[arg-type]
    assert [t.case_id for t in listed] == [newer.case_id, older.case_id]  # newest first
    assert listed[0].withdrawal is not None
    assert listed[1].withdrawal is None
    texts = [o.bundle.opinion.text for o in listed[1].opinions]  # type: ignore[union-attr]
    assert texts == ["D’abord.", "Ensuite."]  # oldest first
    assert listed[1].answer_job == "job-of-the-latest-answer"  # the expert's own, latest
    assert assemble(answered.opinions, DOCTOR.fingerprint, jobs.get) == []  # no request


def test_the_doctor_has_no_answer_job() -> None:
    made = thread(request(0), (EXPERT, "Avis."))
    [listed] = assemble([made.case, *made.opinions], DOCTOR.fingerprint, lambda _id: None)
    assert listed.answer_job is None
