"""What a doctor is warned of before a request goes (issue 16 §3).

:meth:`cases.model.Case.problems` lists what keeps a request from being sent at all. What
follows is different: things a doctor may have reasons for, so the form warns once and a
second click sends anyway:

* ``no_photo`` — a specialty read from photos (dermatology, wounds) without a photo;
* ``other_specialty`` — the specialist chosen practises another specialty than the
  request's (a wound request addressed to the dermatologist);
* ``pending_same_patient`` — a request for the same patient still awaits its answer (a
  second one is often a duplicate; a follow-up is made from the earlier request);
* ``no_treatments`` — the patient's treatments are empty (the specialist's advice depends
  on them; "aucun" says there are none).

Pure functions over the case, the recipient's specialty and the person's threads.
"""

from __future__ import annotations

from collections.abc import Iterable

from cases.followup import same_patient_case
from cases.model import Case
from cases.threads import CaseThread

PHOTO_SPECIALTIES = frozenset({"dermatology", "wounds"})
"""Specialties whose opinion rests on photos."""


def send_warnings(
    case: Case, recipient_specialty: str | None, threads: Iterable[CaseThread]
) -> list[str]:
    """The codes (see the module) of what the doctor should see before ``case`` goes to a
    specialist of ``recipient_specialty`` (``None``: not said by the directory)."""
    found = []
    if case.specialty in PHOTO_SPECIALTIES and not case.photos:
        found.append("no_photo")
    if recipient_specialty and case.specialty and recipient_specialty != case.specialty:
        found.append("other_specialty")
    if pending_for_patient(case, threads):
        found.append("pending_same_patient")
    if not case.treatments.strip():
        found.append("no_treatments")
    return found


def pending_for_patient(case: Case, threads: Iterable[CaseThread]) -> list[CaseThread]:
    """The other requests for ``case``'s patient that still await their answer (the one
    ``case`` follows up excepted: answering it is what a follow-up is for)."""
    found = []
    for thread in threads:
        other = thread.case.bundle.case
        if other is None or other.case_id in (case.case_id, case.follows):
            continue
        if thread.awaiting_answer and same_patient_case(case, other):
            found.append(thread)
    return found
