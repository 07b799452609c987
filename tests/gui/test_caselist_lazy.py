"""A case list describes the rows it shows, not the history: a refresh of hundreds of cases
costs the GUI thread the rows on screen. Searching, the keyboard, the selection kept across
refreshes, bold and red still work on rows never painted."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from cases.threads import CaseThread
from tests.core.test_followup import EXPERT, request, thread
from widgets.caselist import URGENT, CaseList

MANY = 300


def _threads(count: int) -> list[CaseThread]:
    one = thread(request(1, patient="P-0"))
    case = one.case.bundle.case
    assert case is not None
    made = []
    for n in range(count):  # one real bundle, many threads (a thread is keyed by its ids)
        mine = replace(case, patient_ref=f"P-{n:04d}", case_id=f"c-{n:04d}")
        bundle = replace(one.case.bundle, case=mine)
        made.append(CaseThread(replace(one.case, bundle_id=f"b-{n:04d}", bundle=bundle)))
    return made


def _list(qtbot: QtBot, described: list[str]) -> CaseList:
    def describe(t: CaseThread) -> str:
        described.append(t.case.bundle_id)
        ref = t.case.bundle.case.patient_ref  # type: ignore[union-attr]
        return f"{ref} — Plaies\n13/10 12:00 · Envoyé"

    cases = CaseList(describe, "cases", alarming=lambda t: t.case.bundle_id.endswith("7"))
    qtbot.addWidget(cases)
    cases.resize(320, 300)
    cases.show()
    qtbot.waitExposed(cases)
    return cases


def test_a_refresh_describes_only_the_rows_on_screen(qtbot: QtBot) -> None:
    described: list[str] = []
    cases = _list(qtbot, described)
    many = _threads(MANY)
    cases.set_threads(many)
    QApplication.processEvents()
    assert cases.count() == MANY
    on_screen = len(described)
    assert 0 < on_screen < 20  # the rows a 300-px list shows, not the 300 cases
    assert described == [t.case.bundle_id for t in many[:on_screen]]

    described.clear()
    new = _threads(MANY + 1)[-1]
    cases.set_threads([new, *many])  # one arrived at the top
    QApplication.processEvents()
    assert described == [new.case.bundle_id]  # the others on screen are not described again
    assert cases.item(0).text().startswith(f"P-{MANY:04d}")  # type: ignore[union-attr]

    # a row far below, never painted, still reads as a list item, in red when alarming
    described.clear()
    row = 1 + 257
    assert cases.item(row).text().startswith("P-0257")  # type: ignore[union-attr]
    assert cases.item(row).foreground().color().name() == URGENT  # type: ignore[union-attr]
    assert cases.item(row - 1).foreground().color().name() != URGENT  # type: ignore[union-attr]
    assert described == [many[257].case.bundle_id, many[256].case.bundle_id]


def test_search_keyboard_selection_and_bold_on_a_lazy_list(qtbot: QtBot) -> None:
    described: list[str] = []
    cases = _list(qtbot, described)
    many = _threads(MANY)
    cases.set_threads(many)
    selected: list[CaseThread] = []
    cases.thread_selected.connect(selected.append)

    # the search describes every row once, then hides what does not match
    cases.search.setText("p-0123")
    assert cases.shown() == 1
    assert [r for r in range(cases.count()) if not cases.item(r).isHidden()] == [123]  # type: ignore[union-attr]
    described.clear()
    cases.search.setText("P-012")  # the second search describes nothing again
    assert cases.shown() == 10
    assert described == []
    cases.search.clear()
    assert cases.shown() == MANY

    # the keyboard moves the selection, and each move shows its case
    cases.setFocus()
    cases.setCurrentRow(5)
    qtbot.keyClick(cases, Qt.Key.Key_Down)
    assert cases.currentRow() == 6
    assert selected[-1] is many[6]
    qtbot.keyClick(cases, Qt.Key.Key_End)
    assert selected[-1] is many[-1]

    # the selection follows its case when others arrive above it, without showing it again
    shown = len(selected)
    newer = _threads(MANY + 2)[-2:]
    cases.set_threads([*newer, *many])
    assert cases.current_thread() is many[-1]
    assert cases.currentRow() == MANY + 1
    assert len(selected) == shown

    # the same cases in another order: one layout change, the selection kept
    cases.set_threads(list(reversed([*newer, *many])))
    assert cases.currentRow() == 0
    assert cases.current_thread() is many[-1]

    # new cases in bold until opened; each row's accessible text is its lines
    cases.mark_new([many[3].case_id])
    row = cases.rows.order.index(many[3].case.bundle_id)
    assert cases.item(row).font().bold()  # type: ignore[union-attr]
    assert not cases.item(row + 1).font().bold()  # type: ignore[union-attr]
    spoken = cases.rows.index(row).data(Qt.ItemDataRole.AccessibleTextRole)
    assert spoken == "P-0003 — Plaies, 13/10 12:00 · Envoyé"
    cases.setCurrentRow(row)
    assert not cases.item(row).font().bold()  # type: ignore[union-attr]
    assert not cases.is_new(many[3].case_id)

    # a case gone: its row goes, the selection with it
    cases.set_threads([t for t in many if t is not many[3]])
    assert cases.count() == MANY - 1
    assert cases.current_thread() is None


def test_an_opinion_read_later_is_described_again(qtbot: QtBot) -> None:
    described: list[str] = []
    cases = _list(qtbot, described)
    first = thread(request(1, patient="P-1"))
    cases.set_threads([first])
    QApplication.processEvents()
    assert described == [first.case.bundle_id]
    described.clear()
    answered = CaseThread(first.case, thread(request(1), (EXPERT, "Avis.")).opinions)
    cases.set_threads([answered])
    cases.viewport().repaint()
    assert described == [first.case.bundle_id]  # its documents changed: described again
