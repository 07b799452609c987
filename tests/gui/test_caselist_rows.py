"""A case list keeps each case's row across refreshes: a new case is put in, a case gone is
taken out, and only the rows whose lines changed are written again (a list of a thousand
cases where one arrived costs one row)."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from cases.threads import CaseThread
from tests.core.test_followup import EXPERT, request, thread
from widgets.caselist import CaseList


def listed(cases: CaseList) -> list[str]:
    return [cases.item(row).text() for row in range(cases.count())]


def test_rows_follow_their_cases_and_only_changed_rows_are_described(qtbot: QtBot) -> None:
    described: list[str] = []

    def describe(t: CaseThread) -> str:
        described.append(t.case.bundle_id)
        return t.case.bundle.case.patient_ref  # type: ignore[union-attr]

    cases = CaseList(describe, "cases")
    qtbot.addWidget(cases)
    a, b, c = (thread(request(n, patient=f"P-{n}")) for n in range(3))
    cases.set_threads([c, b, a])
    assert listed(cases) == ["P-2", "P-1", "P-0"]
    items = {cases.item(row).text(): cases.item(row) for row in range(3)}

    described.clear()
    new = thread(request(5, patient="P-5"))
    cases.set_threads([new, c, b, a])  # a new case at the top
    assert listed(cases) == ["P-5", "P-2", "P-1", "P-0"]
    assert described == [new.case.bundle_id]  # the others are not described again
    assert all(cases.item(row + 1) is items[text] for row, text in enumerate(["P-2", "P-1", "P-0"]))

    described.clear()
    answered = CaseThread(b.case, thread(request(1), (EXPERT, "Avis.")).opinions)
    cases.set_threads([new, c, answered])  # one answered, one gone
    assert listed(cases) == ["P-5", "P-2", "P-1"]
    assert described == [b.case.bundle_id]

    cases.search.setText("p-2")
    assert [cases.item(r).isHidden() for r in range(cases.count())] == [True, False, True]
    cases.set_threads([c, new, answered])  # moved: the search still hides what it hid
    assert listed(cases) == ["P-2", "P-5", "P-1"]
    assert [cases.item(r).isHidden() for r in range(cases.count())] == [False, True, True]
    assert cases.shown() == 1
