"""The list of case threads shown on the left of the doctor's and the specialist's workspaces."""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable, Hashable, Iterable
from functools import partial
from html import escape
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QRect, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.i18n import _
from app.messages import specialty_label
from app.tasks import BoundRunner
from cases.delays import answer_late, reply_due
from cases.seen import Seen, SeenStore
from cases.threads import CaseThread, Opened
from widgets.caserows import URGENT, CaseRows, documents_and_jobs
from widgets.overlay import day, short_time

log = logging.getLogger(__name__)


class SearchField(QLineEdit):
    """A search line that Escape empties."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)


ALARM_BAR = 4
"""The width, in pixels, of the red bar at the left of an alarming case's row."""


class _AlarmBar(QStyledItemDelegate):
    """Draws a red bar along the left edge of the rows shown in red: the text's colour gives
    way to the selection's, the bar stays, so a selected urgent case still looks urgent."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        if index.data(Qt.ItemDataRole.ForegroundRole) is None:
            super().paint(painter, option, index)
            return
        rect = option.rect  # type: ignore[attr-defined]
        painter.fillRect(rect.x(), rect.y(), ALARM_BAR, rect.height(), QColor(URGENT))
        beside = QStyleOptionViewItem(option)  # the row itself, drawn beside its bar
        beside.rect = rect.adjusted(ALARM_BAR + 2, 0, 0, 0)  # type: ignore[attr-defined]
        super().paint(painter, beside, index)


class CaseRow:
    """One row of a :class:`CaseList`, as a list widget's item reads (its text, font,
    colour, whether the search hides it): the same object for a case as long as it is
    listed, wherever its row moves."""

    def __init__(self, list_: CaseList, bundle_id: str) -> None:
        self._list, self.bundle_id = list_, bundle_id

    def _row(self) -> int:
        return self._list.rows.order.index(self.bundle_id)

    def _data(self, role: Qt.ItemDataRole) -> Any:
        return self._list.rows.index(self._row()).data(role)

    def text(self) -> str:
        return str(self._data(Qt.ItemDataRole.DisplayRole))

    def font(self) -> QFont:
        font = self._data(Qt.ItemDataRole.FontRole)
        return QFont(font) if font is not None else QFont(self._list.font())

    def foreground(self) -> QBrush:
        colour = self._data(Qt.ItemDataRole.ForegroundRole)
        return QBrush(colour) if colour is not None else QBrush()

    def isHidden(self) -> bool:
        return self._list.isRowHidden(self._row())


class CaseList(QListView):
    """Case threads, one row each, the selection kept across refreshes.

    A model/view list (:class:`widgets.caserows.CaseRows`): a row is described when it is
    painted, searched or read, so a refresh of a thousand cases costs what the screen shows.
    Every row is three lines high (a case's two lines, the second wrapped once when the list
    is narrow); what would need more ends in an ellipsis (the whole text is the row's tooltip
    and accessible text).

    Signals:
        thread_selected(CaseThread): the person selected a case.
    """

    thread_selected = Signal(object)

    LINES = 3
    """The lines of each row."""

    def __init__(
        self,
        describe: Callable[[CaseThread], str],
        name: str,
        parent: QWidget | None = None,
        *,
        alarming: Callable[[CaseThread], bool] = lambda _thread: False,
        row_state: Callable[[CaseThread], Hashable] = lambda _thread: None,
    ) -> None:
        """``describe`` gives a case's lines; the cases ``alarming`` picks are shown in red.
        ``row_state`` gives what else, besides the thread's documents and jobs, its lines
        depend on (a row is described again only when one of them changed)."""
        super().__init__(parent)
        self.threads: list[CaseThread] = []
        self._hidden: set[str] = set()  # the cases the search hides
        self._filter = ""
        self._known: set[str] | None = None  # the bundle ids listed so far (None: never)
        self._news: set[str] = set()  # the case ids shown in bold until opened
        self._items: dict[str, CaseRow] = {}
        self._quiet = False  # True while a refresh moves the current row
        self.rows = CaseRows(describe, alarming, row_state, self._news)
        self.setModel(self.rows)
        self.setAccessibleName(name)
        self.setSpacing(2)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setUniformItemSizes(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setItemDelegate(_AlarmBar(self))
        self._size_rows()
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        self.search = SearchField()
        self.search.setPlaceholderText(_("Rechercher : patient, spécialité, date… (Ctrl+F)"))
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(_("Rechercher une demande"))
        self.search.textChanged.connect(self.set_filter)
        QShortcut(QKeySequence.StandardKey.Find, self, self.search.setFocus)

    # --- a list widget's ways, kept for the workspaces and the tests ------------------
    def count(self) -> int:
        return self.rows.rowCount()

    def item(self, row: int) -> CaseRow | None:
        """Row ``row`` as an item (the same object while its case is listed)."""
        if not 0 <= row < self.rows.rowCount():
            return None
        bundle_id = self.rows.order[row]
        item = self._items.get(bundle_id)
        if item is None:
            item = self._items[bundle_id] = CaseRow(self, bundle_id)
        return item

    def currentRow(self) -> int:
        return self.currentIndex().row()

    def setCurrentRow(self, row: int) -> None:
        if 0 <= row < self.rows.rowCount():
            self.setCurrentIndex(self.rows.index(row))
        else:
            self.setCurrentIndex(QModelIndex())

    def visualItemRect(self, item: CaseRow) -> QRect:
        return self.visualRect(self.rows.index(self.rows.order.index(item.bundle_id)))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and hasattr(self, "rows"):
            self._size_rows()

    def _size_rows(self) -> None:
        """Every row ``LINES`` lines high (bold or not), without describing any."""
        bold = QFont(self.font())
        bold.setBold(True)
        margin = self.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameVMargin, None, self)
        self.rows.row_height = QFontMetrics(bold).lineSpacing() * self.LINES + 2 * margin
        self.rows.layoutChanged.emit()

    # --- the search ---------------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        """Show only the cases whose line or patient reference contains ``text`` (case and
        accents aside); the others are hidden, not dropped."""
        self._filter = text
        needle = folded(text.strip())
        hidden = set()
        if needle:  # only a search describes every row
            for thread in self.threads:
                case = thread.case.bundle.case
                assert case is not None
                lines = self.rows.described(thread)[0]
                if needle not in folded(f"{lines} {case.patient_ref}"):
                    hidden.add(thread.case.bundle_id)
        if hidden or self._hidden:
            for row, bundle_id in enumerate(self.rows.order):
                if (bundle_id in hidden) != (bundle_id in self._hidden):  # only what changes
                    self.setRowHidden(row, bundle_id in hidden)
        self._hidden = hidden

    def shown(self) -> int:
        """How many cases the filter leaves visible."""
        return self.count() - len(self._hidden)

    # --- the cases ----------------------------------------------------------------------
    def current_thread(self) -> CaseThread | None:
        row = self.currentRow()
        return self.threads[row] if 0 <= row < len(self.threads) else None

    def set_threads(
        self, threads: list[CaseThread], *, select_first: bool = False
    ) -> list[tuple[CaseThread, Opened]]:
        """Show ``threads``; the case selected before stays selected (and is shown again).

        Returns the documents (requests and opinions) that arrived since the last call, with
        their threads: nothing the first time.
        """
        selected = self.current_thread()
        listed = {opened.bundle_id for thread in threads for opened in documents_of(thread)}
        known, self._known = self._known, listed
        arrived = (
            []
            if known is None or listed <= known
            else [
                (thread, opened)
                for thread in threads
                for opened in documents_of(thread)
                if opened.bundle_id not in known
            ]
        )
        row = -1
        self._quiet = True
        try:
            # each case keeps its row, moved when cases come or go; rows are described
            # when painted: a new request at the top of a thousand costs one row
            self.rows.set_threads(threads)
            self.threads = threads
            self._items = {k: v for k, v in self._items.items() if self.rows.thread_of(k)}
            self._hidden &= set(self.rows.order)
            self.set_filter(self._filter)
            if selected is not None:
                row = next((n for n, t in enumerate(threads) if t.case_id == selected.case_id), -1)
                self.setCurrentRow(row)
        finally:
            self._quiet = False
        if selected is not None and row >= 0:
            if documents_and_jobs(threads[row]) != documents_and_jobs(selected):
                self._row_changed(row)  # shown again: something in it changed
        elif threads and select_first:
            self.setCurrentRow(0)
        return arrived

    def relabel(self) -> None:
        """Describe every case again (what the lines say changed, not the cases)."""
        self.rows.epoch += 1
        self.rows.changed()
        self.set_filter(self._filter)

    def remember(self, seen: Seen) -> None:
        """Start from what an earlier session showed: what is listed now and was not then is
        announced at the first :meth:`set_threads`, and the cases not opened stay in bold."""
        self._known = set(seen.listed)
        self._news.clear()
        self._news.update(seen.unread)

    def seen(self) -> Seen | None:
        """What to remember of this session (None before the first listing)."""
        if self._known is None:
            return None
        return Seen(frozenset(self._known), frozenset(self._news))

    def mark_new(self, case_ids: Iterable[str]) -> None:
        """Show these cases in bold until they are opened (the one open now excepted)."""
        current, wanted = self.current_thread(), set(case_ids)
        for row, thread in enumerate(self.threads):
            if thread.case_id in wanted and thread is not current:
                self._news.add(thread.case_id)
                self.rows.changed(row, row)

    def is_new(self, case_id: str) -> bool:
        return case_id in self._news

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._quiet:
            self._row_changed(current.row())

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.threads):
            thread = self.threads[row]
            if thread.case_id in self._news:
                self._news.discard(thread.case_id)
                self.rows.changed(row, row)
            self.thread_selected.emit(thread)


def in_red(text: str) -> str:
    """``text`` as bold red HTML: what is urgent."""
    return f'<b style="color: {URGENT}">{escape(text)}</b>'


def keep_seen(list_: CaseList, store: SeenStore, runner: BoundRunner | None = None) -> None:
    """Save what ``list_`` has shown and what it still marks new, for the next session:
    through ``runner``, or at once (at logout or quit)."""
    seen = list_.seen()
    if seen is None:
        return
    save = partial(store.save, seen, time.monotonic_ns())
    if runner is not None:
        runner.run(save, None, lambda exc: log.warning("cannot keep what was seen: %s", exc))
        return
    try:
        save()
    except OSError as exc:
        log.warning("cannot keep what was seen: %s", exc)


def documents_of(thread: CaseThread) -> tuple[Opened, ...]:
    """The request of ``thread``, then its opinions, then its withdrawal if any."""
    withdrawal = (thread.withdrawal,) if thread.withdrawal is not None else ()
    return (thread.case, *thread.opinions, *withdrawal)


def folded(text: str) -> str:
    """``text`` for a search: lower case, without accents ("Écorché" finds "ecorche")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def latest_outcome(thread: CaseThread) -> str | None:
    """What the latest opinion on ``thread`` advises, if it says."""
    if not thread.opinions:
        return None
    opinion = thread.opinions[-1].bundle.opinion
    return opinion.outcome if opinion is not None else None


def follows_text(thread: CaseThread) -> str:
    """What a follow-up request says of the earlier request ``thread``."""
    case = thread.case.bundle.case
    assert case is not None
    return _("Suite de la demande du {date} ({specialty}).").format(
        date=day(case.created_at),
        specialty=specialty_label(case.specialty),
    )


def answer_due(thread: CaseThread) -> tuple[str, bool] | None:
    """For a request still without an answer: the day it is due, as the lists write it, and
    whether that day has passed (``cases.delays``); ``None`` once answered or withdrawn."""
    if not thread.awaiting_answer:
        return None
    return reply_due(thread).strftime("%d/%m/%Y"), answer_late(thread) is not None


def late_notice(threads: list[CaseThread], one: str, many: str) -> str:
    """The sentence, in red, that tells how many requests are past their answer's due day
    (``one`` for a single one, ``many`` with their number ``n``); empty when none is."""
    late = sum(1 for thread in threads if answer_late(thread) is not None)
    if not late:
        return ""
    return in_red(one if late == 1 else many.format(n=late))


def when(thread: CaseThread) -> str:
    case = thread.case.bundle.case
    assert case is not None
    return short_time(case.created_at)


def announce(list_: CaseList, news: list[tuple[CaseThread, Opened]], one: str, many: str) -> str:
    """Marks the cases of ``news`` as new in ``list_``, draws the eye to the window (the
    taskbar entry flashes where the desktop supports it) and returns the sentence for the
    notice line: ``one`` formatted with the latest's ``name``, ``ref`` and ``specialty``, or
    ``many`` with their number ``n``; empty when there is no news."""
    if not news:
        return ""
    list_.mark_new(thread.case_id for thread, _opened in news)
    QApplication.alert(list_.window())
    if len(news) > 1:
        return many.format(n=len(news))
    thread, opened = news[-1]
    case = thread.case.bundle.case
    assert case is not None
    return one.format(
        name=opened.sender.display_name,
        ref=case.patient_ref,
        specialty=specialty_label(case.specialty),
    )
