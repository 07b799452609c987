"""Which of the queue's columns a narrow window shows, and the rest on demand.

At half of a 1920-px screen the queue cannot show its twelve columns: the state, its
reason, the recipient and the progress stay; the send's id, size, attempts, next attempt
and send order are in the details under the table (for the selected send) and come back
as columns from the header's context menu.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QTableView

from app.i18n import _
from app.messages import human_size, reason
from outbox.queue import Job
from widgets.queue import Column, JobTableModel, headers

DETAIL_COLUMNS = (Column.BUNDLE, Column.SIZE, Column.ATTEMPTS, Column.NEXT, Column.ORDER)
"""Hidden at first: shown in the details of the selected send."""
ALWAYS_SHOWN = (Column.STATE, Column.REASON)
"""The state and why: never hidden."""


class ColumnChooser:
    """Hides ``hidden`` columns of ``table``; its header's context menu shows or hides any
    column but those of :data:`ALWAYS_SHOWN`."""

    def __init__(self, table: QTableView, hidden: tuple[Column, ...]) -> None:
        self.table = table
        header = table.horizontalHeader()
        for column in hidden:
            header.setSectionHidden(column, True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._menu)
        header.setToolTip(_("Clic droit : choisir les colonnes affichées"))

    def actions(self, parent: QMenu) -> list[QAction]:
        """One checkable action per column that may be hidden."""
        header = self.table.horizontalHeader()
        names = headers()
        found = []
        for column in Column:
            if column in ALWAYS_SHOWN:
                continue
            action = QAction(names[column], parent)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(column))
            action.toggled.connect(
                lambda on, c=column: self.table.horizontalHeader().setSectionHidden(c, not on)
            )
            found.append(action)
        return found

    def _menu(self, at: QPoint) -> None:
        menu = QMenu(self.table)
        menu.addActions(self.actions(menu))
        menu.popup(self.table.horizontalHeader().mapToGlobal(at))


def job_details(job: Job, model: JobTableModel) -> str:
    """The selected send in one paragraph: what the hidden columns hold, and the reason
    with its detail (never any clinical content: the outbox has none)."""
    parts = [
        _("Envoi {id}").format(id=job.bundle_id[:8]),
        human_size(job.size),
        _("essais : {n}").format(n=job.attempts),
    ]
    place = model.send_position(job)
    if place is not None:
        parts.append(_("rang d’envoi : {n}").format(n=place))
    if job.state == "retry" and job.next_attempt_at is not None:
        stamp = time.strftime("%H:%M:%S", time.localtime(job.next_attempt_at))
        parts.append(_("prochain essai : {time}").format(time=stamp))
    text = " · ".join(parts)
    if job.last_error_code:
        text += "\n" + _("Motif : {reason}").format(reason=reason(job.last_error_code))
        if job.last_error_detail:
            text += f" ({job.last_error_detail})"
    return text
