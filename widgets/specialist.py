"""The specialist's workspace (reviewer mode): received requests, the case, the opinion."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QLabel,
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
from widgets.caselist import CaseList, announce, unreadable_notice, when
from widgets.caseview import CaseView
from widgets.doctor import error_text


def describe_for_specialist(thread: CaseThread) -> str:
    case = thread.case.bundle.case
    assert case is not None
    status = _("Avis envoyé") if thread.opinions else _("À traiter")
    follow_up = " · " + _("suivi") if case.follows else ""
    return (
        f"{thread.case.sender.display_name} — {specialty_label(case.specialty)}\n"
        f"{when(thread)} · {status}{follow_up}"
    )


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
        self.cases = CaseList(describe_for_specialist, _("Demandes reçues"))
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
        left_layout.addWidget(self.cases.search)
        left_layout.addWidget(self.cases)
        self.setFocusProxy(self.cases)  # the list has the keyboard first; Ctrl+F searches
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
        layout.addWidget(splitter, 1)  # the notice line keeps its height

        self.cases.thread_selected.connect(self._show_thread)
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
        arrived = self.cases.set_threads(threads, select_first=True)
        requests = [(t, o) for t, o in arrived if o is t.case]  # the opinions are the specialist's
        news = announce(
            self.cases,
            requests,
            _("Nouvelle demande de {name} ({specialty})."),
            _("{n} nouvelles demandes reçues."),
        )
        if news:
            self.notice.setText(news)
        self.empty.setVisible(not threads)
        if unreadable:
            self.notice.setText(unreadable_notice(unreadable))

    def _show_thread(self, thread: CaseThread) -> None:
        self.view.show_thread(thread, others=self.cases.threads)
        self._set_editable(True)

    def _set_editable(self, editable: bool) -> None:
        self.opinion.setEnabled(editable)
        self.send_button.setEnabled(editable)

    def send_opinion(self) -> None:
        thread, text = self.cases.current_thread(), self.opinion.toPlainText().strip()
        if thread is None:
            return
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
