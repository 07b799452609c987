"""The list of case threads shown on the left of the doctor's and the specialist's workspaces."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QLineEdit, QListWidget, QListWidgetItem, QWidget

from app.i18n import _
from app.messages import reason, specialty_label
from cases.workstation import CaseThread, Unreadable


class SearchField(QLineEdit):
    """A search line that Escape empties."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)


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
        self._filter = ""
        self.setAccessibleName(name)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.currentRowChanged.connect(self._row_changed)
        self.search = SearchField()
        self.search.setPlaceholderText(_("Rechercher : patient, spécialité, date… (Ctrl+F)"))
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(_("Rechercher une demande"))
        self.search.textChanged.connect(self.set_filter)
        QShortcut(QKeySequence.StandardKey.Find, self, self.search.setFocus)

    def set_filter(self, text: str) -> None:
        """Show only the cases whose line or patient reference contains ``text`` (case and
        accents aside); the others are hidden, not dropped."""
        self._filter = text
        needle = folded(text.strip())
        for row, thread in enumerate(self.threads):
            case = thread.case.bundle.case
            assert case is not None
            haystack = folded(f"{self._describe(thread)} {case.patient_ref}")
            self.item(row).setHidden(bool(needle) and needle not in haystack)

    def shown(self) -> int:
        """How many cases the filter leaves visible."""
        return sum(not self.item(row).isHidden() for row in range(self.count()))

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
        self.set_filter(self._filter)
        ids = [t.case_id for t in threads]
        if selected is not None and selected.case_id in ids:
            self.setCurrentRow(ids.index(selected.case_id))
            self._row_changed(self.currentRow())
        elif threads and select_first:
            self.setCurrentRow(0)

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.threads):
            self.thread_selected.emit(self.threads[row])


def folded(text: str) -> str:
    """``text`` for a search: lower case, without accents (\"Écorché\" finds \"ecorche\")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


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
