"""The list of case threads shown on the left of the doctor's and the specialist's workspaces."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from app.i18n import _
from app.messages import reason, specialty_label
from cases.workstation import CaseThread, Unreadable


class CaseList(QListWidget):
    """Case threads, one item each, the selection kept across refreshes.

    Signals:
        thread_selected(CaseThread): the person selected a case.
    """

    thread_selected = Signal(object)

    def __init__(
        self, describe: Callable[[CaseThread], str], name: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._describe = describe
        self.threads: list[CaseThread] = []
        self.setAccessibleName(name)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.currentRowChanged.connect(self._row_changed)

    def current_thread(self) -> CaseThread | None:
        row = self.currentRow()
        return self.threads[row] if 0 <= row < len(self.threads) else None

    def set_threads(self, threads: list[CaseThread], *, select_first: bool = False) -> None:
        """Show ``threads``; the case selected before stays selected (and is shown again)."""
        selected = self.current_thread()
        self.threads = threads
        self.blockSignals(True)
        self.clear()
        for thread in threads:
            self.addItem(QListWidgetItem(self._describe(thread)))
        self.blockSignals(False)
        ids = [t.case_id for t in threads]
        if selected is not None and selected.case_id in ids:
            self.setCurrentRow(ids.index(selected.case_id))
            self._row_changed(self.currentRow())
        elif threads and select_first:
            self.setCurrentRow(0)

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.threads):
            self.thread_selected.emit(self.threads[row])


def unreadable_notice(unreadable: list[Unreadable]) -> str:
    """One sentence about the documents that could not be opened (empty when none)."""
    if not unreadable:
        return ""
    return _("{n} document(s) illisible(s) : {why}").format(
        n=len(unreadable), why=reason(unreadable[0].code)
    )


def follows_text(thread: CaseThread) -> str:
    """What a follow-up request says of the earlier request ``thread``."""
    case = thread.case.bundle.case
    assert case is not None
    return _("Suite de la demande du {date} ({specialty}).").format(
        date=case.created_at.astimezone().strftime("%d/%m/%Y"),
        specialty=specialty_label(case.specialty),
    )


def when(thread: CaseThread) -> str:
    case = thread.case.bundle.case
    assert case is not None
    return case.created_at.astimezone().strftime("%d/%m %H:%M")
