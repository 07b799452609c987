"""The model behind the case lists: one row per case thread, described only when a view
asks for it (a row painted, searched or read by a test), and described again only when what
it depends on changed.

A refresh of a thousand cases therefore costs the GUI thread the rows on screen, not the
history: :meth:`CaseRows.set_threads` tells the view which rows came, went or moved (a new
case at the top is one inserted row), and the text, colour and weight of each row are
computed lazily by :meth:`CaseRows.data`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from cases.threads import CaseThread

URGENT = "#a40000"
"""The colour of what is urgent (a request, a transfer), wherever it is shown."""

_Index = QModelIndex | QPersistentModelIndex


def documents_and_jobs(thread: CaseThread) -> tuple[object, ...]:
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


class CaseRows(QAbstractListModel):
    """The rows of a case list, in order, each keyed by its request's bundle id."""

    def __init__(
        self,
        describe: Callable[[CaseThread], str],
        alarming: Callable[[CaseThread], bool],
        row_state: Callable[[CaseThread], Hashable],
        news: set[str],
    ) -> None:
        super().__init__()
        self._describe, self._alarming, self._row_state = describe, alarming, row_state
        self._news = news  # the case ids shown in bold (shared with the list)
        self.order: list[str] = []  # the request's bundle id on each row
        self._threads: dict[str, CaseThread] = {}
        # a row's description: (its key, its lines, in red, the thread the key's ids are of)
        self._rows: dict[str, tuple[tuple[object, ...], str, bool, CaseThread]] = {}
        self.epoch = 0  # changed by relabel(): every row is described again
        self.row_height = 0
        self._bold = QFont()
        self._bold.setBold(True)
        self._red = QColor(URGENT)

    # --- what the view asks ------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 -- Qt's signature
        return 0 if parent.isValid() else len(self.order)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if not index.isValid() or not 0 <= row < len(self.order):
            return None
        if role == Qt.ItemDataRole.SizeHintRole:  # every row alike: no row described to lay out
            return QSize(1, self.row_height) if self.row_height else None
        thread = self._threads.get(self.order[row])
        if thread is None:  # asked while rows are being taken out
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.described(thread)[0]
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.described(thread)[0].replace("\n", ", ")
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._red if self.described(thread)[1] else None
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if thread.case_id in self._news else None
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # --- rows ------------------------------------------------------------------------------
    def thread_of(self, bundle_id: str) -> CaseThread | None:
        return self._threads.get(bundle_id)

    def described(self, thread: CaseThread) -> tuple[str, bool]:
        """The row's lines and whether it is in red, described again only when the thread's
        documents, its jobs, the day or ``row_state`` changed (or after a relabel)."""
        key = (
            *documents_and_jobs(thread),
            self._row_state(thread),
            date.today(),
            self.epoch,
        )
        cached = self._rows.get(thread.case.bundle_id)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        text, alarm = self._describe(thread), self._alarming(thread)
        # the thread is kept with its key, so the ids in the key stay those of live objects
        self._rows[thread.case.bundle_id] = (key, text, alarm, thread)
        return text, alarm

    def text(self, row: int) -> str:
        return self.described(self._threads[self.order[row]])[0]

    def set_threads(self, threads: list[CaseThread]) -> None:
        """Show ``threads`` in this order: the view is told of the rows that came, went or
        moved, then that every row may read differently (it repaints what it shows)."""
        self._threads = {t.case.bundle_id: t for t in threads}
        order = [t.case.bundle_id for t in threads]
        if order != self.order:
            if len(order) == len(self.order) and set(order) == set(self.order):
                self._reorder(order)
            else:
                self._place(order)
        self._rows = {k: v for k, v in self._rows.items() if k in self._threads}
        self.changed()

    def changed(self, first: int = 0, last: int | None = None) -> None:
        """Rows ``first`` to ``last`` (all by default) may read differently: described again,
        when painted, if what they depend on changed."""
        last = len(self.order) - 1 if last is None else last
        if 0 <= first <= last:
            self.dataChanged.emit(self.index(first), self.index(last))

    def _reorder(self, order: list[str]) -> None:
        """The same cases in another order: one layout change, the selection following."""
        self.layoutAboutToBeChanged.emit()
        where = {bundle_id: row for row, bundle_id in enumerate(order)}
        before = self.persistentIndexList()
        after = [self.index(where[self.order[i.row()]]) for i in before]
        self.order = order
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    def _place(self, order: list[str]) -> None:
        """Give each case of ``order`` its row: rows of cases gone are taken out, those of
        new cases put in, the others moved only when their order changed."""
        wanted = set(order)
        root = QModelIndex()
        for row in reversed(range(len(self.order))):
            if self.order[row] not in wanted:
                self.beginRemoveRows(root, row, row)
                del self.order[row]
                self.endRemoveRows()
        rows = {bundle_id: row for row, bundle_id in enumerate(self.order)}
        for row, bundle_id in enumerate(order):
            if row < len(self.order) and self.order[row] == bundle_id:
                continue
            if bundle_id in rows:  # further down: moved up here
                source = self.order.index(bundle_id, row)
                self.beginMoveRows(root, source, source, root, row)
                self.order.insert(row, self.order.pop(source))
                self.endMoveRows()
            else:
                self.beginInsertRows(root, row, row)
                self.order.insert(row, bundle_id)
                self.endInsertRows()
        assert self.order == order
