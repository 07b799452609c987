"""Assembling threads from opened bundles: pure, no disk, no network."""

from __future__ import annotations

from dataclasses import replace
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
        *((o, answered.case.bundle_id) for o in answered.opinions),
        (pending.case, pending.case.bundle_id),
        (withdrawal_of(pending.case), pending.case.bundle_id),
        (answered.case, answered.case.bundle_id),
    ]
    listed = assemble(documents, EXPERT.fingerprint, jobs.get)  # type: ignore[arg-type]
    assert [t.case_id for t in listed] == [newer.case_id, older.case_id]  # newest first
    assert listed[0].withdrawal is not None
    assert listed[1].withdrawal is None
    texts = [o.bundle.opinion.text for o in listed[1].opinions]  # type: ignore[union-attr]
    assert texts == ["D’abord.", "Ensuite."]  # oldest first
    assert listed[1].answer_job == "job-of-the-latest-answer"  # the expert's own, latest
    # an opinion placed in a case absent here shows nothing
    orphans = [(o, answered.case.bundle_id) for o in answered.opinions]
    assert assemble(orphans, DOCTOR.fingerprint, jobs.get) == []  # type: ignore[arg-type]


def test_documents_join_the_case_they_were_placed_in_not_the_one_they_claim() -> None:
    """Two requests with the same ``case_id`` stay two cases; an opinion goes where the
    rules placed it (the bundle id of its request), whatever case id it carries."""
    genuine = thread(request(0), (EXPERT, "Avis."))
    same_id = Opened("copy-bundle", EXPERT, T0, genuine.case.bundle)  # the same case id
    assert same_id.bundle.case is not None
    assert genuine.case.bundle.case is not None
    documents = [
        (genuine.case, genuine.case.bundle_id),
        (same_id, same_id.bundle_id),
        (genuine.opinions[0], genuine.case.bundle_id),
    ]
    listed = assemble(documents, DOCTOR.fingerprint, lambda _id: None)
    assert sorted(t.case.bundle_id for t in listed) == sorted(
        [genuine.case.bundle_id, "copy-bundle"]
    )
    by_id = {t.case.bundle_id: t for t in listed}
    assert len(by_id[genuine.case.bundle_id].opinions) == 1
    assert by_id["copy-bundle"].opinions == []


def test_the_doctor_has_no_answer_job() -> None:
    made = thread(request(0), (EXPERT, "Avis."))
    placed = [(d, made.case.bundle_id) for d in (made.case, *made.opinions)]
    [listed] = assemble(placed, DOCTOR.fingerprint, lambda _id: None)
    assert listed.answer_job is None


def test_a_follow_up_sent_in_the_same_second_is_listed_above_what_it_follows() -> None:
    """Request times are kept to the second: a follow-up (and its own follow-up) sent in
    the second of the earlier request still comes first, whatever the bundle ids say."""
    first = request(0)
    second = replace(first, case_id="follow-1", follows=first.case_id, summary="Suite.")
    third = replace(first, case_id="follow-2", follows="follow-1", summary="Encore.")
    other = request(0, patient="P-2")
    threads = [thread(c) for c in (third, other, first, second)]
    # bundle ids chosen so that the tie-break by id alone would list them oldest first
    named = [
        Opened(name, t.case.sender, T0, t.case.bundle)
        for name, t in zip(("b-a", "b-z", "b-y", "b-b"), threads, strict=True)
    ]
    listed = assemble([(o, o.bundle_id) for o in named], DOCTOR.fingerprint, lambda _id: None)
    order = [t.case_id for t in listed]
    assert order.index("follow-2") < order.index("follow-1") < order.index(first.case_id)
    assert len(order) == 4


def test_a_loop_of_follow_ups_is_listed_and_ends() -> None:
    """Two forged requests may each name the other as the one they follow (one following
    itself is refused when it is opened): both are still listed."""
    one = replace(request(0), case_id="loop-a", follows="loop-b")
    two = replace(request(0), case_id="loop-b", follows="loop-a")
    placed = [(t.case, t.case.bundle_id) for t in (thread(one), thread(two))]
    listed = assemble(placed, DOCTOR.fingerprint, lambda _id: None)
    assert sorted(t.case_id for t in listed) == ["loop-a", "loop-b"]
