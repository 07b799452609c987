"""What the doctor is warned of before a request goes (issue 16 §3), on real bundles."""

from __future__ import annotations

from dataclasses import replace

from cases.model import Case
from cases.sendchecks import pending_for_patient, send_warnings
from tests.core.test_followup import EXPERT, photo, request, thread


def complete(days: int = 0, patient: str = "P-0147") -> Case:
    """A wound request with a photo and its treatments: nothing to warn of."""
    return replace(request(days, photo("leg_left"), patient=patient), treatments="Aucun")


def test_a_complete_request_to_the_right_specialist_raises_no_warning() -> None:
    assert send_warnings(complete(), "wounds", []) == []
    assert send_warnings(complete(), None, []) == []  # the directory did not say


def test_a_photo_specialty_without_photo_is_warned() -> None:
    case = replace(complete(), photos=())
    assert send_warnings(case, "wounds", []) == ["no_photo"]
    assert send_warnings(replace(case, specialty="dermatology"), None, []) == ["no_photo"]
    # cardiology rests on tracings and letters, not photos
    assert send_warnings(replace(case, specialty="cardiology"), None, []) == []


def test_a_specialist_of_another_specialty_is_warned() -> None:
    assert send_warnings(complete(), "dermatology", []) == ["other_specialty"]


def test_empty_treatments_are_warned() -> None:
    assert send_warnings(replace(complete(), treatments="  \n"), "wounds", []) == ["no_treatments"]


def test_a_request_still_awaiting_its_answer_for_the_same_patient_is_warned() -> None:
    waiting = thread(complete(-3))
    answered = thread(complete(-20), (EXPERT, "Détersion, pansement hydrocolloïde."))
    other_patient = thread(complete(-2, patient="P-0999"))
    threads = [waiting, answered, other_patient]
    case = complete(0, patient=" p-0147 ")  # the unit's reference, typed differently
    assert send_warnings(case, "wounds", threads) == ["pending_same_patient"]
    assert pending_for_patient(case, threads) == [waiting]
    # a follow-up of the waiting request is what the doctor was told to make
    assert send_warnings(replace(case, follows=waiting.case_id), "wounds", threads) == []
    # the request being sent is not its own duplicate
    assert pending_for_patient(waiting.case.bundle.case, threads) == []  # type: ignore[arg-type]


def test_a_withdrawn_request_is_no_longer_pending() -> None:
    waiting = thread(complete(-3))
    withdrawn = replace(waiting, withdrawal=waiting.case)
    assert send_warnings(complete(), "wounds", [withdrawn]) == []


def test_every_warning_at_once_in_a_stable_order() -> None:
    bare = replace(complete(), photos=(), treatments="")
    assert send_warnings(bare, "dermatology", [thread(complete(-1))]) == [
        "no_photo",
        "other_specialty",
        "pending_same_patient",
        "no_treatments",
    ]
