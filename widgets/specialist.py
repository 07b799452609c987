"""The specialist's workspace (reviewer mode): received requests, the case, the opinion."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import reason, specialty_label
from app.session import Session
from app.tasks import BoundRunner, TaskRunner
from cases.profile import UnlockedIdentity
from cases.workstation import CaseThread, Unreadable
from widgets.caseview import CaseView
from widgets.doctor import error_text


class SpecialistWorkspace(QWidget):
    """Left: received requests; right: the selected case and the opinion editor."""

    def __init__(
        self,
        session: Session,
        me: UnlockedIdentity,
        runner: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.me = session, me
        self.runner = BoundRunner(runner, self)
        self.threads: list[CaseThread] = []
        self.cases = QListWidget()
        self.cases.setAccessibleName(_("Demandes reçues"))
        self.cases.setWordWrap(True)
        self.cases.setSpacing(2)
        self.view = CaseView()
        self.opinion = QPlainTextEdit()
        self.opinion.setPlaceholderText(_("Votre avis : diagnostic, conduite à tenir, suivi…"))
        self.opinion.setMaximumHeight(140)
        self.send_button = QPushButton(_("Envoyer l’avis"))
        self.send_button.setToolTip(_("Ctrl+Entrée"))
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.empty = QLabel(_("Aucune demande reçue pour l’instant."))

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<b>" + _("Demandes reçues") + "</b>"))
        left_layout.addWidget(self.cases)
        left_layout.addWidget(self.empty)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.view, 1)
        right_layout.addWidget(QLabel("<b>" + _("Votre avis") + "</b>"))
        right_layout.addWidget(self.opinion)
        right_layout.addWidget(self.send_button, alignment=Qt.AlignmentFlag.AlignRight)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([340, 860])
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(splitter)

        self.cases.currentRowChanged.connect(self._show_row)
        self.send_button.clicked.connect(self.send_opinion)
        QShortcut(QKeySequence("Ctrl+Return"), self.opinion, self.send_opinion)
        self._set_editable(False)
        self.runner.run(session.workstation.refresh_directory, None, lambda exc: None)
        self.refresh()

    def refresh(self) -> None:
        self.runner.run(
            lambda: self.session.workstation.threads(self.me),
            self._show_threads,
            lambda exc: self.notice.setText(error_text(exc)),
        )

    def _show_threads(self, result: tuple[list[CaseThread], list[Unreadable]]) -> None:
        threads, unreadable = result
        row = self.cases.currentRow()
        selected = self.threads[row].case_id if 0 <= row < len(self.threads) else None
        self.threads = threads
        self.cases.blockSignals(True)
        self.cases.clear()
        for thread in threads:
            case = thread.case.bundle.case
            assert case is not None
            status = _("Avis envoyé") if thread.opinions else _("À traiter")
            self.cases.addItem(
                QListWidgetItem(
                    "{sender} — {specialty}\n{date} · {status}".format(
                        date=case.created_at.astimezone().strftime("%d/%m %H:%M"),
                        sender=thread.case.sender.display_name,
                        specialty=specialty_label(case.specialty),
                        status=status,
                    )
                )
            )
        self.cases.blockSignals(False)
        self.empty.setVisible(not threads)
        if unreadable:
            self.notice.setText(
                _("{n} document(s) illisible(s) : {why}").format(
                    n=len(unreadable), why=reason(unreadable[0].code)
                )
            )
        ids = [t.case_id for t in threads]
        if selected in ids:
            self.cases.setCurrentRow(ids.index(selected))
        elif threads and self.cases.currentRow() < 0:
            self.cases.setCurrentRow(0)

    def _show_row(self, row: int) -> None:
        if 0 <= row < len(self.threads):
            thread = self.threads[row]
            self.view.show_thread(thread)
            self._set_editable(True)

    def _set_editable(self, editable: bool) -> None:
        self.opinion.setEnabled(editable)
        self.send_button.setEnabled(editable)

    def send_opinion(self) -> None:
        row = self.cases.currentRow()
        if not 0 <= row < len(self.threads):
            return
        thread, text = self.threads[row], self.opinion.toPlainText().strip()
        if not text:
            self.notice.setText(reason("missing_opinion"))
            return
        self._set_editable(False)

        def done(bundle_id: str) -> None:
            self.opinion.clear()
            self._set_editable(True)
            self.notice.setText(_("Avis signé, chiffré et placé dans la file d’envoi."))
            self.session.sender.wake()
            self.refresh()

        def failed(exc: BaseException) -> None:
            self._set_editable(True)
            self.notice.setText(error_text(exc))

        self.runner.run(
            lambda: self.session.workstation.send_opinion(self.me, thread, text), done, failed
        )
