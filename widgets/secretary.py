"""The secretary's workspace: operate the send queue through outages, never see a case."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import cancel_reason_label, connection_detail, reason
from app.session import CANCEL_REASONS, Session
from app.tasks import BoundRunner, TaskRunner
from outbox.queue import Job
from widgets.flow import FlowLayout
from widgets.queue import Column, JobTableModel, ProgressDelegate
from widgets.queue_columns import DETAIL_COLUMNS, ColumnChooser, job_details


class SecretaryWorkspace(QWidget):
    """The queue table, the operator's actions and the platform's state."""

    def __init__(self, session: Session, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = BoundRunner(runner, self)
        self.model = JobTableModel()
        if session.relay is not None:  # the networked PC of a two-PC desk
            self.model.origin = session.relay.ledger.origin
        self.table = QTableView()
        self.setFocusProxy(self.table)
        self.table.setModel(self.model)
        self.table.setAccessibleName(_("File d’envoi"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self.table))
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(Column.PROGRESS, 220)
        header.setSectionResizeMode(Column.REASON, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        # The priority and the send order sit just before the state.
        for column in (Column.PRIORITY, Column.ORDER):
            header.moveSection(header.visualIndex(column), header.visualIndex(Column.STATE))
        # The columns a half screen holds; the others are in the details under the table
        # and return from the header's menu.
        self.columns = ColumnChooser(self.table, DETAIL_COLUMNS)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAccessibleName(_("Détails de l’envoi sélectionné"))
        self.connection = QLabel(_("Plateforme : état inconnu"))
        self.connection.setWordWrap(True)
        self.summary = QLabel()
        self.pause_button = QPushButton(_("Mettre en pause"))
        self.resume_button = QPushButton(_("Reprendre"))
        self.retry_button = QPushButton(_("Réessayer maintenant"))
        self.cancel_button = QPushButton(_("Annuler l’envoi"))
        # Why a send is cancelled: a code from a short list (the audit journal holds no text).
        self.cancel_reason = QComboBox()
        self.cancel_reason.setToolTip(_("Motif de l’annulation (consigné dans le journal)"))
        for code in CANCEL_REASONS:
            self.cancel_reason.addItem(cancel_reason_label(code), code)
        self.move_up_button = QPushButton(_("Monter dans la file"))
        self.priority_button = QPushButton(_("Envoyer en premier"))
        self.priority_button.setToolTip(
            _(
                "Change seulement l’ordre d’envoi dans la file : la demande elle-même, et "
                "son degré d’urgence, restent ceux que le médecin a scellés."
            )
        )
        self.retry_all_button = QPushButton(_("Réessayer tous les envois bloqués"))
        # Outage mode: nothing is sent until resumed, even after a restart.
        self.pause_all_button = QPushButton()
        self.pause_all_button.setCheckable(True)
        self.pause_all_button.setChecked(session.outbox.all_paused)
        self._label_pause_all()
        for button, keys in (
            (self.pause_button, "Ctrl+P"),
            (self.resume_button, "Ctrl+R"),
            (self.retry_button, "F5"),
            (self.cancel_button, "Del"),
            (self.move_up_button, "Ctrl+Up"),
            (self.priority_button, "Ctrl+U"),
            (self.retry_all_button, "Ctrl+F5"),
        ):
            button.setToolTip(keys)
            QShortcut(QKeySequence(keys), self, button.click)

        # The whole queue's actions by the platform's state, the selected send's under the
        # table; both rows wrap rather than widen the window or cut a label.
        whole = FlowLayout(align_right=True)
        whole.addWidget(self.pause_all_button)
        whole.addWidget(self.retry_all_button)
        top = QHBoxLayout()
        top.addWidget(self.connection, 1)
        top.addLayout(whole, 1)
        one = FlowLayout()
        for button in (
            self.pause_button,
            self.resume_button,
            self.retry_button,
            self.move_up_button,
            self.priority_button,
        ):
            one.addWidget(button)
        cancel = QWidget()  # the reason and the button wrap together
        cancel_row = QHBoxLayout(cancel)
        cancel_row.setContentsMargins(0, 0, 0, 0)
        cancel_row.addWidget(self.cancel_reason)
        cancel_row.addWidget(self.cancel_button)
        one.addWidget(cancel)
        privacy = QLabel(
            _(
                "Le contenu des demandes est chiffré : il n’est visible que "
                "du médecin et du spécialiste."
            )
        )
        privacy.setWordWrap(True)
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<h2>" + _("File d’envoi") + "</h2>"))
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(one)
        layout.addWidget(privacy)

        self.pause_button.clicked.connect(lambda: self._act(session.outbox.pause))
        self.resume_button.clicked.connect(lambda: self._act(session.outbox.resume))
        self.retry_button.clicked.connect(lambda: self._act(session.outbox.retry_now))
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.move_up_button.clicked.connect(lambda: self._act(session.outbox.move_up))
        self.priority_button.clicked.connect(self.toggle_priority)
        self.retry_all_button.clicked.connect(self.retry_all_blocked)
        self.pause_all_button.toggled.connect(self._pause_all)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        self.model.dataChanged.connect(self._update_buttons)
        self.reload()

    def reload(self) -> None:
        self.runner.run(self.session.outbox.jobs, self._loaded)

    def _loaded(self, jobs: list[Job]) -> None:
        selected = self.selected()
        self.model.set_jobs(jobs)
        if selected is not None:
            for row in range(self.model.rowCount()):
                if self.model.job(row).bundle_id == selected.bundle_id:
                    self.table.selectRow(row)
        self._summarise()

    def job_changed(self, job: Job) -> None:
        self.model.update_job(job)
        self._summarise()

    def status_changed(self, reachable: bool, code: str | None, when: float | None) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(when)) if when else "—"
        self.connection.setText(connection_detail(reachable, code, stamp))
        self.connection.setStyleSheet("color: #1a6b1a;" if reachable else "color: #a40000;")

    def selected(self) -> Job | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.job(rows[0].row()) if rows else None

    def _act(self, action: object) -> None:
        job = self.selected()
        if job is None:
            return
        bundle_id = job.bundle_id

        def work() -> None:
            action(bundle_id)  # type: ignore[operator]
            self.session.sender.wake()

        self.runner.run(
            work,
            lambda _result: self.reload(),
            lambda exc: self.summary.setText(reason(getattr(exc, "code", None))),
        )

    def cancel_selected(self) -> None:
        """Cancels the selected send with the chosen reason (off the GUI thread)."""
        code = str(self.cancel_reason.currentData())
        outbox = self.session.outbox
        self._act(lambda bundle_id: outbox.cancel(bundle_id, reason=code))

    def toggle_priority(self) -> None:
        """Marks the selected job urgent, or normal again if it was urgent (off the GUI thread)."""
        job = self.selected()
        if job is None:
            return
        level = "normal" if job.priority == "urgent" else "urgent"
        outbox = self.session.outbox
        self._act(lambda bundle_id: outbox.set_priority(bundle_id, level))

    def retry_all_blocked(self) -> None:
        """Retry every quarantined job at once (e.g. after the station's access is restored)."""
        outbox, sender = self.session.outbox, self.session.sender

        def work() -> None:
            for job in outbox.jobs():
                if job.state == "failed":
                    outbox.retry_now(job.bundle_id)
            sender.wake()

        self.runner.run(
            work,
            lambda _result: self.reload(),
            lambda exc: self.summary.setText(reason(getattr(exc, "code", None))),
        )

    def _label_pause_all(self) -> None:
        paused = self.pause_all_button.isChecked()
        self.pause_all_button.setText(
            _("Reprendre tous les envois") if paused else _("Suspendre tous les envois")
        )

    def _pause_all(self, paused: bool) -> None:
        """Outage mode on or off (kept by the queue across restarts)."""
        outbox, sender = self.session.outbox, self.session.sender
        self._label_pause_all()

        def work() -> None:
            if paused:
                outbox.pause_all()
            else:
                outbox.resume_all()
            sender.wake()

        self.runner.run(
            work,
            lambda _result: self.reload(),
            lambda exc: self.summary.setText(reason(getattr(exc, "code", None))),
        )

    def _update_buttons(self) -> None:
        job = self.selected()
        self.details.setText(job_details(job, self.model) if job is not None else "")
        state = job.state if job else None
        self.pause_button.setEnabled(state in ("pending", "retry", "sending"))
        self.resume_button.setEnabled(state == "paused")
        self.retry_button.setEnabled(state in ("retry", "failed"))
        self.cancel_button.setEnabled(state in ("pending", "retry", "paused", "failed", "sending"))
        self.move_up_button.setEnabled(state in ("pending", "retry", "paused"))
        self.priority_button.setEnabled(state in ("pending", "retry", "paused", "sending"))
        urgent = job is not None and job.priority == "urgent"
        self.priority_button.setText(_("Envoyer à son rang") if urgent else _("Envoyer en premier"))
        blocked = any(self.model.job(row).state == "failed" for row in range(self.model.rowCount()))
        self.retry_all_button.setEnabled(blocked)

    def _summarise(self) -> None:
        jobs = [self.model.job(r) for r in range(self.model.rowCount())]
        waiting = sum(j.state in ("pending", "sending", "retry") for j in jobs)
        blocked = sum(j.state == "failed" for j in jobs)
        paused = sum(j.state == "paused" for j in jobs)
        delivered = sum(j.state in ("delivered", "acknowledged") for j in jobs)
        self.summary.setText(
            _("{w} en cours ou en attente, {p} en pause, {b} bloqué(s), {d} remis.").format(
                w=waiting, p=paused, b=blocked, d=delivered
            )
        )
