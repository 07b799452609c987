"""Who may speak in a case (``cases.speaking``): every row of the rules table and every
refusal code, on forged documents. Pure: no disk, no network, no clock.

The people are as their validated certificates describe them. The doctor's request is
addressed to the specialist, to the doctor herself and to the unit archive; the secretary is
never a recipient (her certificate cannot be one), but the rules must refuse her even if a
forged manifest named her.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cases.speaking import (
    REASONS,
    WAIT,
    Decision,
    Document,
    Speaker,
    Verdict,
    decide,
    sender_matches,
    waits_for,
)

UNIT = "USMP Fresnes"
HOSPITAL = "Hôpital Saint-Louis"
DOCTOR = Speaker("aa" * 32, "Dr Claire Bernard", "doctor", UNIT)
COLLEAGUE_DOCTOR = Speaker("a1" * 32, "Dr Paul Martin", "doctor", UNIT)  # same unit
FOREIGN_DOCTOR = Speaker("a2" * 32, "Dr Intrus", "doctor", "USMP Ailleurs")
SECRETARY = Speaker("5e" * 32, "Sophie Lambert", "secretary", UNIT)
EXPERT = Speaker("bb" * 32, "Pr Marc Dubois", "specialist", HOSPITAL)
OTHER_EXPERT = Speaker("cc" * 32, "Pr Autre", "specialist", "CHU Ailleurs")  # not addressed
ARCHIVE = Speaker("dd" * 32, "Archive USMP", "unit", UNIT)
NOBODY = Speaker("ee" * 32, "Sans rôle", "", UNIT)  # a certificate that says no role

REQUEST = Document(
    "req-1",
    "request",
    DOCTOR,
    frozenset({EXPERT.fingerprint, DOCTOR.fingerprint, ARCHIVE.fingerprint}),
    case_id="case-1",
)
OTHER_REQUEST = Document(  # the same doctor's other case
    "req-2",
    "request",
    DOCTOR,
    frozenset({EXPERT.fingerprint, DOCTOR.fingerprint, ARCHIVE.fingerprint}),
    case_id="case-2",
)
OPINION = Document(
    "op-1",
    "opinion",
    EXPERT,
    frozenset({DOCTOR.fingerprint, EXPERT.fingerprint, ARCHIVE.fingerprint}),
    case_id="case-1",
    in_reply_to="req-1",
)
WITHDRAWAL = Document(
    "wd-1",
    "withdrawal",
    DOCTOR,
    frozenset({EXPERT.fingerprint, DOCTOR.fingerprint, ARCHIVE.fingerprint}),
    case_id="case-1",
    in_reply_to="req-1",
)
RECEIPT = Document(  # the specialist acknowledges the doctor's request
    "rc-1",
    "receipt",
    EXPERT,
    frozenset({DOCTOR.fingerprint, EXPERT.fingerprint}),
    case_id="case-1",
    in_reply_to="req-1",
)


def admitted(case: str) -> Decision:
    return Decision(Verdict.ADMIT, case, "")


def refused(reason: str) -> Decision:
    return Decision(Verdict.REFUSE, None, reason)


def as_doctor(doc: Document, target: Document | None = REQUEST) -> Decision:
    return decide(doc, target, reader=DOCTOR.fingerprint)


def as_expert(doc: Document, target: Document | None = REQUEST) -> Decision:
    return decide(doc, target, reader=EXPERT.fingerprint)


# --- any bundle: the manifest's sender is its signer -----------------------------------------


def test_a_sender_that_is_exactly_the_signer_matches() -> None:
    assert sender_matches(replace(EXPERT), EXPERT)  # equal, not the same object


@pytest.mark.parametrize(
    ("claimed", "signer"),
    [
        (replace(EXPERT, name="Pr Sophie Roux"), EXPERT),
        (replace(EXPERT, name=""), EXPERT),
        (replace(EXPERT, name="Pr Marc Dubois "), EXPERT),  # one space more
        (replace(EXPERT, role="doctor"), EXPERT),
        (replace(EXPERT, role=""), EXPERT),
        (replace(EXPERT, organization="CHU démo — Service de dermatologie"), EXPERT),
        (replace(EXPERT, organization=""), EXPERT),
        (replace(EXPERT, fingerprint=OTHER_EXPERT.fingerprint), EXPERT),
        (replace(SECRETARY, role="doctor"), SECRETARY),  # a secretary promoting herself
        (DOCTOR, SECRETARY),  # a secretary signing in the doctor's name
    ],
    ids=[
        "name",
        "no name",
        "name with a space",
        "role",
        "no role",
        "organization",
        "no organization",
        "fingerprint",
        "secretary claims doctor",
        "secretary as the doctor",
    ],
)
def test_a_sender_differing_from_its_signer_in_anything_does_not_match(
    claimed: Speaker, signer: Speaker
) -> None:
    assert sender_matches(signer, signer)
    assert not sender_matches(claimed, signer)


# --- request: starts its own case ------------------------------------------------------------


def test_a_doctors_request_starts_its_own_case_for_every_reader() -> None:
    for reader in (DOCTOR, EXPERT, ARCHIVE):
        assert decide(REQUEST, None, reader=reader.fingerprint) == admitted("req-1")
    # a target is never looked at for a request
    assert decide(REQUEST, OPINION, reader=EXPERT.fingerprint) == admitted("req-1")
    assert waits_for(REQUEST) is None


@pytest.mark.parametrize(
    "signer", [SECRETARY, EXPERT, OTHER_EXPERT, ARCHIVE, NOBODY], ids=lambda s: s.role or "none"
)
def test_only_a_doctor_may_send_a_request(signer: Speaker) -> None:
    forged = replace(REQUEST, bundle_id="forged", signer=signer)
    assert as_expert(forged, None) == refused("request_not_from_doctor")
    # even when its case id is new and it follows nothing
    fresh = replace(forged, case_id="case-new")
    assert as_doctor(fresh, None) == refused("request_not_from_doctor")


@pytest.mark.parametrize("signer", [FOREIGN_DOCTOR, COLLEAGUE_DOCTOR], ids=["foreign", "colleague"])
def test_a_case_id_already_another_signers_is_refused(signer: Speaker) -> None:
    forged = replace(REQUEST, bundle_id="forged", signer=signer)
    assert decide(forged, None, reader=EXPERT.fingerprint, same_case_id=REQUEST) == refused(
        "case_id_taken"
    )
    assert decide(forged, None, reader=DOCTOR.fingerprint, same_case_id=REQUEST) == refused(
        "case_id_taken"
    )
    # the same request with a case id of its own is admitted: only the case id refused it
    assert decide(replace(forged, case_id="case-9"), None, reader=EXPERT.fingerprint) == (
        admitted("forged")
    )


def test_a_case_id_of_the_same_signer_is_admitted() -> None:
    again = replace(REQUEST, bundle_id="req-1-again")  # sent again, under another bundle id
    assert decide(again, None, reader=EXPERT.fingerprint, same_case_id=REQUEST) == admitted(
        "req-1-again"
    )
    # the same signer is told by the certificate's fingerprint, not by the name shown
    renamed = replace(again, signer=replace(DOCTOR, name="Dr Claire Bernard-Dupont"))
    assert decide(renamed, None, reader=EXPERT.fingerprint, same_case_id=REQUEST) == admitted(
        "req-1-again"
    )
    namesake = replace(again, signer=replace(DOCTOR, fingerprint=FOREIGN_DOCTOR.fingerprint))
    assert decide(namesake, None, reader=EXPERT.fingerprint, same_case_id=REQUEST) == refused(
        "case_id_taken"
    )


def test_a_follow_up_of_a_case_of_the_same_organization_is_admitted() -> None:
    follow = replace(REQUEST, bundle_id="req-3", case_id="case-3", follows="case-1")
    assert decide(follow, None, reader=EXPERT.fingerprint, followed=REQUEST) == admitted("req-3")
    # another doctor of the same unit may follow her colleague's case up
    by_colleague = replace(follow, signer=COLLEAGUE_DOCTOR)
    assert decide(by_colleague, None, reader=EXPERT.fingerprint, followed=REQUEST) == (
        admitted("req-3")
    )
    # what it follows is not here: the link is simply not shown, the request is
    assert decide(follow, None, reader=EXPERT.fingerprint, followed=None) == admitted("req-3")


def test_a_follow_up_of_another_organizations_case_is_refused() -> None:
    follow = replace(
        REQUEST, bundle_id="req-3", case_id="case-3", follows="case-1", signer=FOREIGN_DOCTOR
    )
    assert decide(follow, None, reader=EXPERT.fingerprint, followed=REQUEST) == refused(
        "follows_foreign_case"
    )
    # the organization is the certificate's: a namesake organization string decides
    local = replace(follow, signer=replace(FOREIGN_DOCTOR, organization=UNIT))
    assert decide(local, None, reader=EXPERT.fingerprint, followed=REQUEST) == admitted("req-3")


def test_the_request_rules_apply_in_order() -> None:
    """A secretary's request reusing a taken case id is refused for what she is; a foreign
    doctor's request with a taken case id that also follows a foreign case, for the case id."""
    forged = replace(REQUEST, bundle_id="forged", signer=SECRETARY, follows="case-2")
    assert decide(
        forged, None, reader=EXPERT.fingerprint, same_case_id=REQUEST, followed=OTHER_REQUEST
    ) == refused("request_not_from_doctor")
    foreign = replace(forged, signer=FOREIGN_DOCTOR)
    assert decide(
        foreign, None, reader=EXPERT.fingerprint, same_case_id=REQUEST, followed=OTHER_REQUEST
    ) == refused("case_id_taken")


# --- opinion: joins the request its in_reply_to names ----------------------------------------


def test_the_addressed_specialists_opinion_joins_the_request() -> None:
    assert as_doctor(OPINION) == admitted("req-1")
    assert as_expert(OPINION) == admitted("req-1")  # his own copy, on his workstation
    assert decide(OPINION, REQUEST, reader=ARCHIVE.fingerprint) == admitted("req-1")
    assert waits_for(OPINION) == "req-1"


@pytest.mark.parametrize(
    ("signer", "recipients"),
    [
        (SECRETARY, REQUEST.recipients),  # not a recipient, not a specialist
        (SECRETARY, REQUEST.recipients | {SECRETARY.fingerprint}),  # named, still a secretary
        (DOCTOR, REQUEST.recipients),  # the doctor herself: a recipient, not a specialist
        (COLLEAGUE_DOCTOR, REQUEST.recipients | {COLLEAGUE_DOCTOR.fingerprint}),
        (ARCHIVE, REQUEST.recipients),  # the unit archive: a recipient, role unit
        (NOBODY, REQUEST.recipients | {NOBODY.fingerprint}),  # a recipient without a role
        (OTHER_EXPERT, REQUEST.recipients),  # a specialist the request was not sent to
    ],
    ids=[
        "secretary",
        "secretary named a recipient",
        "the doctor herself",
        "a doctor named a recipient",
        "the unit archive",
        "no role",
        "specialist not addressed",
    ],
)
def test_an_opinion_from_anyone_but_an_addressed_specialist_is_refused(
    signer: Speaker, recipients: frozenset[str]
) -> None:
    request = replace(REQUEST, recipients=recipients)
    forged = replace(OPINION, bundle_id="forged", signer=signer)
    assert decide(forged, request, reader=DOCTOR.fingerprint) == refused(
        "opinion_not_from_addressee"
    )
    assert decide(forged, request, reader=EXPERT.fingerprint) == refused(
        "opinion_not_from_addressee"
    )


def test_an_opinion_from_the_requests_own_author_is_refused_even_a_specialist() -> None:
    """A specialist's "request" (admitted by no store, but a target here) cannot be answered
    by its author: the author check is not the role check."""
    own = replace(REQUEST, signer=EXPERT)
    assert EXPERT.fingerprint in own.recipients
    assert as_expert(OPINION, own) == refused("opinion_not_from_addressee")
    # another specialist it was addressed to may answer it
    addressed = replace(own, recipients=own.recipients | {OTHER_EXPERT.fingerprint})
    assert as_expert(replace(OPINION, signer=OTHER_EXPERT), addressed) == admitted("req-1")


def test_an_opinion_whose_case_id_differs_is_refused() -> None:
    assert as_doctor(replace(OPINION, case_id="case-2")) == refused("case_mismatch")
    assert as_doctor(replace(OPINION, case_id=None)) == refused("case_mismatch")
    assert as_doctor(replace(OPINION, case_id="CASE-1")) == refused("case_mismatch")


def test_an_opinion_naming_another_bundle_is_refused() -> None:
    # its target is another request, of another case: its case id (copied) does not agree
    on_other = replace(OPINION, in_reply_to="req-2")
    assert as_doctor(on_other, OTHER_REQUEST) == refused("case_mismatch")
    # the other request's case id copied too: then it is an opinion on that request
    assert as_doctor(replace(on_other, case_id="case-2"), OTHER_REQUEST) == admitted("req-2")
    # a target that is not the bundle named is never joined (the store's mix-up)
    assert as_doctor(on_other, REQUEST) == refused("wrong_target")
    # it names an opinion, a withdrawal or a receipt rather than a request
    for target in (OPINION, WITHDRAWAL, RECEIPT):
        answer = replace(OPINION, bundle_id="forged", in_reply_to=target.bundle_id)
        assert as_doctor(answer, target) == refused("wrong_target")


# --- withdrawal: joins the request, from its author only -------------------------------------


def test_the_authors_withdrawal_joins_the_request() -> None:
    assert as_expert(WITHDRAWAL) == admitted("req-1")
    assert as_doctor(WITHDRAWAL) == admitted("req-1")  # her own copy
    assert waits_for(WITHDRAWAL) == "req-1"


@pytest.mark.parametrize(
    "signer",
    [EXPERT, OTHER_EXPERT, COLLEAGUE_DOCTOR, FOREIGN_DOCTOR, SECRETARY, ARCHIVE],
    ids=["recipient specialist", "other specialist", "colleague", "foreign", "secretary", "unit"],
)
def test_a_withdrawal_from_anyone_but_the_author_is_refused(signer: Speaker) -> None:
    forged = replace(WITHDRAWAL, bundle_id="forged", signer=signer)
    assert as_expert(forged) == refused("withdrawal_not_from_author")
    assert as_doctor(forged) == refused("withdrawal_not_from_author")


def test_a_withdrawal_by_a_namesake_of_the_author_is_refused() -> None:
    namesake = replace(DOCTOR, fingerprint=FOREIGN_DOCTOR.fingerprint)
    forged = replace(WITHDRAWAL, signer=namesake)
    assert as_expert(forged) == refused("withdrawal_not_from_author")


def test_a_withdrawal_of_another_case_or_of_no_request_is_refused() -> None:
    assert as_expert(replace(WITHDRAWAL, case_id="case-2")) == refused("case_mismatch")
    on_opinion = replace(WITHDRAWAL, in_reply_to="op-1")
    assert as_expert(on_opinion, OPINION) == refused("wrong_target")
    assert as_expert(WITHDRAWAL, OTHER_REQUEST) == refused("wrong_target")


# --- receipt: acknowledges the reader's own bundle, from one of its recipients ---------------


def test_a_recipients_receipt_acknowledges_the_readers_bundle() -> None:
    assert as_doctor(RECEIPT) == admitted("req-1")  # the case is the bundle acknowledged
    # the doctor acknowledges the specialist's opinion: on his workstation, it joins it
    back = replace(RECEIPT, bundle_id="rc-2", signer=DOCTOR, in_reply_to="op-1")
    assert as_expert(back, OPINION) == admitted("op-1")
    # the unit archive is a recipient of the request: its receipt is a recipient's
    assert as_doctor(replace(RECEIPT, signer=ARCHIVE)) == admitted("req-1")
    assert waits_for(RECEIPT) == "req-1"


@pytest.mark.parametrize(
    "signer",
    [OTHER_EXPERT, SECRETARY, COLLEAGUE_DOCTOR, FOREIGN_DOCTOR, DOCTOR],
    ids=["other specialist", "secretary", "colleague", "foreign doctor", "the author herself"],
)
def test_a_receipt_from_a_non_recipient_is_refused(signer: Speaker) -> None:
    forged = replace(RECEIPT, bundle_id="forged", signer=signer)
    assert as_doctor(forged) == refused("receipt_not_from_recipient")


def test_a_receipt_for_a_bundle_the_reader_did_not_write_is_refused() -> None:
    # the specialist is told his receipt of the doctor's request... on his own workstation
    assert as_expert(RECEIPT) == refused("receipt_for_another")
    # the doctor's colleague reads the unit's request (through the archive, say): not hers
    assert decide(RECEIPT, REQUEST, reader=COLLEAGUE_DOCTOR.fingerprint) == refused(
        "receipt_for_another"
    )
    # a receipt of the opinion the doctor received: the opinion is the specialist's
    of_opinion = replace(RECEIPT, signer=ARCHIVE, in_reply_to="op-1")
    assert as_doctor(of_opinion, OPINION) == refused("receipt_for_another")
    # a receipt of the doctor's own withdrawal, or of a receipt: never acknowledgements
    for target in (WITHDRAWAL, replace(RECEIPT, bundle_id="rc-0", signer=DOCTOR)):
        acknowledging = replace(RECEIPT, bundle_id="forged", in_reply_to=target.bundle_id)
        assert as_doctor(acknowledging, target) == refused("receipt_for_another")


def test_a_receipt_is_joined_on_its_target_not_on_its_case_id() -> None:
    assert as_doctor(replace(RECEIPT, case_id="case-2")) == admitted("req-1")
    assert as_doctor(replace(RECEIPT, case_id=None)) == admitted("req-1")
    assert as_doctor(replace(RECEIPT, in_reply_to="req-2"), REQUEST) == refused("wrong_target")


# --- waiting, unknown kinds, and the list of codes --------------------------------------------


@pytest.mark.parametrize("doc", [OPINION, WITHDRAWAL, RECEIPT], ids=lambda d: d.kind)
def test_a_bundle_whose_target_is_not_here_waits(doc: Document) -> None:
    assert as_doctor(doc, None) == Decision(Verdict.WAIT, None, "")
    assert as_expert(doc, None) == WAIT
    # it waits whoever signed it: the rules decide when the target comes
    assert as_doctor(replace(doc, signer=SECRETARY), None) == WAIT
    assert waits_for(doc) == "req-1"


def test_an_opinion_naming_no_request_is_refused_not_kept_waiting() -> None:
    orphan = replace(OPINION, bundle_id="orphan", in_reply_to=None)
    assert waits_for(orphan) is None  # nothing will ever wake it
    assert as_doctor(orphan, None).verdict is Verdict.REFUSE


@pytest.mark.parametrize("kind", ["note", "", "Request", "case"])
def test_an_unknown_kind_is_refused(kind: str) -> None:
    doc = replace(OPINION, kind=kind)
    assert as_doctor(doc, None) == refused("unknown_kind")
    assert as_doctor(doc, REQUEST) == refused("unknown_kind")


# every refusal code, with a document that earns it (one per code; the tests above vary them)
EARNED: dict[str, tuple[Document, Document | None, dict[str, Document]] | None] = {
    "sender_not_signer": None,  # told by sender_matches (the store raises it)
    "request_not_from_doctor": (replace(REQUEST, signer=SECRETARY), None, {}),
    "case_id_taken": (
        replace(REQUEST, bundle_id="forged", signer=FOREIGN_DOCTOR),
        None,
        {"same_case_id": REQUEST},
    ),
    "follows_foreign_case": (
        replace(REQUEST, bundle_id="req-3", case_id="c3", follows="case-1", signer=FOREIGN_DOCTOR),
        None,
        {"followed": REQUEST},
    ),
    "opinion_not_from_addressee": (replace(OPINION, signer=OTHER_EXPERT), REQUEST, {}),
    "withdrawal_not_from_author": (replace(WITHDRAWAL, signer=EXPERT), REQUEST, {}),
    "receipt_not_from_recipient": (replace(RECEIPT, signer=OTHER_EXPERT), REQUEST, {}),
    "receipt_for_another": (replace(RECEIPT, in_reply_to="op-1"), OPINION, {}),
    "case_mismatch": (replace(OPINION, case_id="case-2"), REQUEST, {}),
    "wrong_target": (replace(OPINION, in_reply_to="op-1"), OPINION, {}),
    "unknown_kind": (replace(OPINION, kind="note"), REQUEST, {}),
}


def test_every_refusal_code_is_earned_by_a_forged_document() -> None:
    assert set(EARNED) == set(REASONS)
    assert len(REASONS) == len(set(REASONS))
    for code, forged in EARNED.items():
        if forged is None:
            assert not sender_matches(replace(EXPERT, name="Pr Faux"), EXPERT)
            continue
        doc, target, extra = forged
        decision = decide(doc, target, reader=DOCTOR.fingerprint, **extra)
        assert decision == refused(code), code
        assert decision.case is None  # a refused document belongs to no case
