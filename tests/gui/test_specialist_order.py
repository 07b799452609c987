"""The specialist's list opens on a request to answer, never on a withdrawn one (issue 16
§5: after logging in again, the list opened on a request withdrawn meanwhile)."""

from __future__ import annotations

from dataclasses import replace

from tests.core.test_followup import EXPERT, request, thread
from widgets.specialist import order


def test_requests_to_answer_come_before_newer_answered_or_withdrawn_ones() -> None:
    awaiting = thread(request(-5, patient="P-1"))
    newer_withdrawn = thread(request(-1, patient="P-2"))
    newer_withdrawn = replace(newer_withdrawn, withdrawal=newer_withdrawn.case)
    newer_answered = thread(request(-2, patient="P-3"), (EXPERT, "Bénin."))
    urgent = thread(replace(request(-9, patient="P-4"), urgent=True))
    newest_first = [newer_withdrawn, newer_answered, awaiting, urgent]  # the workstation's
    listed = sorted(newest_first, key=order)
    assert listed[0] is urgent
    assert listed[1] is awaiting
    assert listed[2:] == [newer_withdrawn, newer_answered]  # newest first among the rest
