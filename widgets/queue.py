"""The secretary's workspace: the send queue, its progress and the platform's state.

Shows only what the outbox knows: bundle ids, recipients, sizes, states, progress, priorities,
send order and plain reasons. No clinical content can reach this screen: the outbox never had
any.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from app.i18n import _
from app.messages import human_duration, human_size, job_state_label, reason
from outbox.jobs import ACTIVE_STATES, send_order_key
from outbox.queue import Job

Index = QModelIndex | QPersistentModelIndex


URGENT_COLOR = QColor("#a40000")


def send_positions(jobs: list[Job]) -> dict[str, int]:
    """Each job still to send -> its place in the send order (1 goes first).

    Same order as :meth:`outbox.queue.Outbox.queue_order`: urgent jobs first, then by rank.
    """
    active = sorted((job for job in jobs if job.state in ACTIVE_STATES), key=send_order_key)
    return {job.bundle_id: place for place, job in enumerate(active, start=1)}


class Column(IntEnum):
    CREATED = 0
    BUNDLE = 1
    KIND = 2
    RECIPIENT = 3
    SIZE = 4
    STATE = 5
    PROGRESS = 6
    ATTEMPTS = 7
    NEXT = 8
    REASON = 9
    # Added later; the secretary's table shows them next to the state.
    PRIORITY = 10
    ORDER = 11


def headers() -> dict[Column, str]:
    return {
        Column.CREATED: _("Créé le"),
        Column.BUNDLE: _("Envoi"),
        Column.KIND: _("Type"),
        Column.RECIPIENT: _("Destinataire"),
        Column.SIZE: _("Taille"),
        Column.STATE: _("État"),
        Column.PROGRESS: _("Progression"),
        Column.ATTEMPTS: _("Essais"),
        Column.NEXT: _("Prochain essai"),
        Column.REASON: _("Motif"),
        Column.PRIORITY: _("Priorité"),
        Column.ORDER: _("Rang d’envoi"),
    }


class JobTableModel(QAbstractTableModel):
    """Outbox jobs, newest first, with a transfer rate estimated from progress snapshots."""

    def __init__(self) -> None:
        super().__init__()
        self._jobs: list[Job] = []
        self._rate: dict[str, tuple[float, int, float]] = {}  # id -> (time, bytes, bytes/s)
        self._positions: dict[str, int] = {}  # id -> place in the send order
        # where a job came from when not sealed here (a two-PC desk: outbox.handover)
        self.origin: Callable[[str], str | None] = lambda _bundle_id: None
        self._origins: dict[str, str | None] = {}

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return headers()[Column(section)]
        return None

    def job(self, row: int) -> Job:
        return self._jobs[row]

    def set_jobs(self, jobs: list[Job]) -> None:
        self.beginResetModel()
        self._jobs = sorted(jobs, key=lambda j: j.created_at, reverse=True)
        self._positions = send_positions(self._jobs)
        self.endResetModel()

    def send_position(self, job: Job) -> int | None:
        """The job's place in the send order (1 goes first), or ``None`` once it left."""
        return self._positions.get(job.bundle_id)

    def update_job(self, job: Job) -> None:
        """Insert or update one job (called for every snapshot the sender publishes)."""
        self._track_rate(job)
        for row, known in enumerate(self._jobs):
            if known.bundle_id == job.bundle_id:
                self._jobs[row] = job
                if _order_key(known) != _order_key(job):
                    self._reorder()
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))
                return
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._jobs.insert(0, job)
        self.endInsertRows()
        self._reorder()

    def _reorder(self) -> None:
        """Recompute the send order (only when a state, priority or rank changed)."""
        positions = send_positions(self._jobs)
        if positions == self._positions:
            return
        self._positions = positions
        if self._jobs:
            last = len(self._jobs) - 1
            self.dataChanged.emit(self.index(0, Column.ORDER), self.index(last, Column.ORDER))

    def _track_rate(self, job: Job) -> None:
        now = time.monotonic()
        last = self._rate.get(job.bundle_id)
        if last is None or job.bytes_sent < last[1]:
            self._rate[job.bundle_id] = (now, job.bytes_sent, 0.0)
            return
        elapsed = now - last[0]
        if elapsed >= 0.2:
            instant = (job.bytes_sent - last[1]) / elapsed
            rate = instant if last[2] == 0 else 0.7 * last[2] + 0.3 * instant
            self._rate[job.bundle_id] = (now, job.bytes_sent, rate)

    def remaining_seconds(self, job: Job) -> float | None:
        left = getattr(job, "time_left", None)  # the outbox's smoothed estimate (JobSnapshot)
        if left is not None:
            return float(left)
        rate = self._rate.get(job.bundle_id, (0.0, 0, 0.0))[2]
        if job.state != "sending" or rate <= 0:
            return None
        return (job.size - job.bytes_sent) / rate

    def progress_text(self, job: Job) -> str:
        text = _("{sent} sur {size}").format(
            sent=human_size(job.bytes_sent), size=human_size(job.size)
        )
        left = self.remaining_seconds(job)
        if left is not None:
            text += " — " + _("reste {t}").format(t=human_duration(left))
        return text

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        job, column = self._jobs[index.row()], Column(index.column())
        if role == Qt.ItemDataRole.UserRole:
            return job
        if role == Qt.ItemDataRole.ToolTipRole and column == Column.REASON:
            return job.last_error_detail
        urgent = job.priority == "urgent"
        if urgent and column == Column.PRIORITY:
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(URGENT_COLOR)
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
            if role == Qt.ItemDataRole.ToolTipRole:
                return _("Part avant les envois normaux.")
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == Column.CREATED:
            return time.strftime("%d/%m %H:%M", time.localtime(job.created_at))
        if column == Column.BUNDLE:
            return job.bundle_id[:8]
        if column == Column.KIND:
            if job.bundle_id not in self._origins:
                self._origins[job.bundle_id] = self.origin(job.bundle_id)
            if self._origins[job.bundle_id] is not None:
                return kind_label(job.kind) + " · " + _("remis par le poste de capture")
            return kind_label(job.kind)
        if column == Column.RECIPIENT:
            return job.recipient_label
        if column == Column.SIZE:
            return human_size(job.size)
        if column == Column.STATE:
            return job_state_label(job.state)
        if column == Column.PROGRESS:
            return self.progress_text(job)
        if column == Column.ATTEMPTS:
            return str(job.attempts)
        if column == Column.PRIORITY:
            return _("Urgent") if urgent else _("Normale")
        if column == Column.ORDER:
            place = self.send_position(job)
            return "" if place is None else str(place)
        if column == Column.NEXT:
            if job.state != "retry" or job.next_attempt_at is None:
                return ""
            return time.strftime("%H:%M:%S", time.localtime(job.next_attempt_at))
        return reason(job.last_error_code) if job.last_error_code else ""


def _order_key(job: Job) -> tuple[str, str, float]:
    return (job.state, job.priority, job.rank)


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a bar with bytes and time left."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        job = index.data(Qt.ItemDataRole.UserRole)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 2, -2, -2)  # type: ignore[attr-defined]
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(1000 * job.bytes_sent / job.size) if job.size else 0
        bar.text = str(index.data())
        bar.textVisible = True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


def kind_label(kind: str) -> str:
    """What a job carries, in the queue's words (never its content)."""
    labels = {
        "case": _("Demande d’avis"),
        "opinion": _("Avis"),
        "receipt": _("Accusé de réception"),
        "withdrawal": _("Retrait de demande"),
    }
    return labels.get(kind, kind)
