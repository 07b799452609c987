"""The list of case threads shown on the left of the doctor's and the specialist's workspaces."""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable, Hashable, Iterable
from datetime import date
from functools import partial
from html import escape

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
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
from widgets.overlay import day, short_time

log = logging.getLogger(__name__)

URGENT = "#a40000"
"""The colour of what is urgent (a request, a transfer), wherever it is shown."""


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


class CaseList(QListWidget):
    """Case threads, one item each, the selection kept across refreshes.

    Signals:
        thread_selected(CaseThread): the person selected a case.
    """

    thread_selected = Signal(object)

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
        self._describe, self._alarming, self._row_state = describe, alarming, row_state
        self.threads: list[CaseThread] = []
        self._texts: list[str] = []  # each row's lines, as described
        self._order: list[str] = []  # the request's bundle id on each row
        self._shown: dict[str, tuple[str, bool, bool]] = {}  # a row's lines, red, bold
        self._hidden: set[str] = set()  # the cases the search hides
        self._rows: dict[str, tuple[tuple[object, ...], str, bool, CaseThread]] = {}
        self._epoch = 0  # relabel() describes every row again
        self._filter = ""
        self._known: set[str] | None = None  # the bundle ids listed so far (None: never)
        self._news: set[str] = set()  # the case ids shown in bold until opened
        self.setAccessibleName(name)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.setItemDelegate(_AlarmBar(self))
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
        hidden = set()
        if needle:
            for row, thread in enumerate(self.threads):
                case = thread.case.bundle.case
                assert case is not None
                if needle not in folded(f"{self._texts[row]} {case.patient_ref}"):
                    hidden.add(thread.case.bundle_id)
        for row, bundle_id in enumerate(self._order):
            if (bundle_id in hidden) != (bundle_id in self._hidden):  # only what changes
                self.item(row).setHidden(bundle_id in hidden)
        self._hidden = hidden

    def shown(self) -> int:
        """How many cases the filter leaves visible."""
        return sum(not self.item(row).isHidden() for row in range(self.count()))

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
        documents = [(thread, opened) for thread in threads for opened in documents_of(thread)]
        known, self._known = self._known, {opened.bundle_id for _thread, opened in documents}
        arrived = [] if known is None else [d for d in documents if d[1].bundle_id not in known]
        self.threads = threads
        self.blockSignals(True)
        # each case keeps its row's item, moved when cases come or go, and only the rows whose
        # lines changed are written again: a new request at the top of a thousand costs one
        self._place([t.case.bundle_id for t in threads])
        self._texts = []
        for row, thread in enumerate(threads):
            self._label(row, thread)
        listed = {t.case.bundle_id for t in threads}
        self._rows = {k: v for k, v in self._rows.items() if k in listed}
        self.blockSignals(False)
        self.set_filter(self._filter)
        ids = [t.case_id for t in threads]
        if selected is not None and selected.case_id in ids:
            row = ids.index(selected.case_id)
            self.blockSignals(True)
            self.setCurrentRow(row)
            self.blockSignals(False)
            if _documents_and_jobs(threads[row]) != _documents_and_jobs(selected):
                self._row_changed(row)  # shown again: something in it changed
        elif threads and select_first:
            self.setCurrentRow(0)
        return arrived

    def _place(self, order: list[str]) -> None:
        """Give each case of ``order`` its row: items of cases gone are taken out, those of
        new cases put in, the others moved only when their order changed."""
        if order == self._order:
            return
        wanted = set(order)
        for row in reversed(range(len(self._order))):
            gone = self._order[row]
            if gone not in wanted:
                self.takeItem(row)
                del self._order[row]
                self._shown.pop(gone, None)
        for row, bundle_id in enumerate(order):
            if row < len(self._order) and self._order[row] == bundle_id:
                continue
            if bundle_id in self._order:  # further down: moved up here
                item = self.takeItem(self._order.index(bundle_id, row))
                self._order.remove(bundle_id)
            else:
                item = QListWidgetItem()
                self._shown.pop(bundle_id, None)
            self.insertItem(row, item)
            self._order.insert(row, bundle_id)
        if self._hidden:  # a moved item forgets it was hidden
            for row, bundle_id in enumerate(self._order):
                self.item(row).setHidden(bundle_id in self._hidden)

    def relabel(self) -> None:
        """Describe every case again (what the lines say changed, not the cases)."""
        self._epoch += 1
        self._texts = []
        for row, thread in enumerate(self.threads):
            self._label(row, thread)
        self.set_filter(self._filter)

    def _label(self, row: int, thread: CaseThread) -> None:
        """Show ``thread`` on ``row``, calling Qt only for what differs from what it shows."""
        text, alarm = self._described(thread)
        self._texts.append(text)
        bold = thread.case_id in self._news
        wanted = (text, alarm, bold)
        bundle_id = thread.case.bundle_id
        if self._shown.get(bundle_id) == wanted:
            return
        item = self.item(row)
        item.setText(text)
        if alarm:
            item.setForeground(QColor(URGENT))
        else:
            item.setData(Qt.ItemDataRole.ForegroundRole, None)  # the palette's
        self._set_bold(item, bold)
        self._shown[bundle_id] = wanted

    def _described(self, thread: CaseThread) -> tuple[str, bool]:
        """The row's lines and whether it is in red, described again only when the thread's
        documents, its jobs, the day or ``row_state`` changed (or after :meth:`relabel`)."""
        key = (
            *_documents_and_jobs(thread),
            self._row_state(thread),
            date.today(),
            self._epoch,
        )
        cached = self._rows.get(thread.case.bundle_id)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        text, alarm = self._describe(thread), self._alarming(thread)
        # the thread is kept with its key, so the ids in the key stay those of live objects
        self._rows[thread.case.bundle_id] = (key, text, alarm, thread)
        return text, alarm

    def remember(self, seen: Seen) -> None:
        """Start from what an earlier session showed: what is listed now and was not then is
        announced at the first :meth:`set_threads`, and the cases not opened stay in bold."""
        self._known = set(seen.listed)
        self._news = set(seen.unread)

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
                self._embolden(row, True)

    def is_new(self, case_id: str) -> bool:
        return case_id in self._news

    def _embolden(self, row: int, bold: bool) -> None:
        self._set_bold(self.item(row), bold)
        shown = self._shown.get(self._order[row]) if row < len(self._order) else None
        if shown is not None:
            self._shown[self._order[row]] = (shown[0], shown[1], bold)

    @staticmethod
    def _set_bold(item: QListWidgetItem, bold: bool) -> None:
        font = item.font()
        if font.bold() != bold:
            font.setBold(bold)
            item.setFont(font)

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.threads):
            thread = self.threads[row]
            if thread.case_id in self._news:
                self._news.discard(thread.case_id)
                self._embolden(row, False)
            self.thread_selected.emit(thread)


def _documents_and_jobs(thread: CaseThread) -> tuple[object, ...]:
    """What a thread's row and view depend on, besides the day: its documents (the same
    objects while the store holds them) and its jobs' snapshots."""
    return (
        id(thread.case),
        tuple(id(o) for o in thread.opinions),
        id(thread.withdrawal),
        thread.job,
        thread.answer_job,
        thread.erased,
    )


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
