"""The unit doctor's workspace: write and send requests, follow them, read the opinions."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import job_state_label, reason, specialty_label
from app.session import Session
from app.tasks import BoundRunner, TaskRunner
from cases.errors import CaseError, InvalidCase
from cases.model import Case
from cases.photos import Photo, import_photo
from cases.profile import UnlockedIdentity
from cases.workstation import CaseThread, Unreadable
from crypto.errors import CryptoError
from outbox.errors import OutboxError
from outbox.platform import DirectoryEntry
from widgets.caseform import CaseForm
from widgets.caselist import CaseList, unreadable_notice, when
from widgets.caseview import CaseView

KNOWN_ERRORS = (CaseError, CryptoError, OutboxError)


def error_text(exc: BaseException) -> str:
    """A plain-language sentence for a core error (technical detail only in the log)."""
    if isinstance(exc, InvalidCase):
        return "\n".join(reason(p) for p in exc.problems)
    code = getattr(exc, "code", None)
    return reason(str(code) if code else "unexpected")


def thread_status(thread: CaseThread) -> str:
    if thread.opinions:
        return _("Avis reçu")
    if thread.job is not None:
        return job_state_label(thread.job.state)
    return _("Envoyé")


def describe_for_doctor(thread: CaseThread) -> str:
    case = thread.case.bundle.case
    assert case is not None
    return (
        f"{case.patient_ref} — {specialty_label(case.specialty)}\n"
        f"{when(thread)} · {thread_status(thread)}"
    )


class DoctorWorkspace(QWidget):
    """Left: the doctor's requests; right: the new-request form or the selected case."""

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
        self.cases = CaseList(describe_for_doctor, _("Mes demandes"))
        self.new_button = QPushButton(_("Nouvelle demande"))
        self.new_button.setToolTip(_("Ctrl+N"))
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.form = CaseForm()
        self.view = CaseView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.form)
        self.stack.addWidget(self.view)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<b>" + _("Mes demandes") + "</b>"))
        left_layout.addWidget(self.cases)
        left_layout.addWidget(self.new_button)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([340, 860])
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(splitter)

        self.new_button.clicked.connect(self.new_case)
        QShortcut(QKeySequence.StandardKey.New, self, self.new_case)
        self.cases.thread_selected.connect(self._show_thread)
        self.form.send_requested.connect(self._send)
        self.form.photos_requested.connect(self.import_photos)
        self.form.set_recipients(session.workstation.specialists())
        self.refresh_directory()
        self.refresh()

    # --- directory ----------------------------------------------------------------------
    def refresh_directory(self) -> None:
        def done(entries: list[DirectoryEntry]) -> None:
            self.form.set_recipients([e for e in entries if e.role == "specialist"])

        self.runner.run(self.session.workstation.refresh_directory, done, lambda exc: None)

    # --- list ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self.runner.run(
            lambda: self.session.workstation.threads(self.me), self._show_threads, self._show_error
        )

    def _show_threads(self, result: tuple[list[CaseThread], list[Unreadable]]) -> None:
        threads, unreadable = result
        self.cases.set_threads(threads)
        if unreadable:
            self.notice.setText(unreadable_notice(unreadable))

    def _show_thread(self, thread: CaseThread) -> None:
        self.view.show_thread(thread)
        self.stack.setCurrentWidget(self.view)

    def new_case(self) -> None:
        self.cases.clearSelection()
        self.cases.setCurrentRow(-1)
        self.stack.setCurrentWidget(self.form)
        self.form.patient_ref.setFocus()

    # --- photos and sending ---------------------------------------------------------------
    def import_photos(self, paths: list[Path]) -> None:
        first = self.form.next_photo_number()

        def work() -> tuple[list[Photo], list[str]]:
            photos, failures = [], []
            for path in paths:
                try:
                    photos.append(import_photo(path, f"photo-{first + len(photos)}.jpg"))
                except CaseError as exc:
                    failures.append(f"{path.name} : {reason(exc.code)}")
            return photos, failures

        def done(result: tuple[list[Photo], list[str]]) -> None:
            photos, failures = result
            self.form.add_photos(photos)
            self.form.show_error("\n".join(failures))

        self.runner.run(work, done, self._show_error)

    def _send(self, case: Case, to: DirectoryEntry) -> None:
        self.form.set_busy(True)

        def done(bundle_id: str) -> None:
            self.form.set_busy(False)
            self.form.clear()
            self.notice.setText(_("Demande scellée et placée dans la file d’envoi."))
            self.session.sender.wake()
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.form.set_busy(False)
            self.form.show_error(error_text(exc))

        self.runner.run(lambda: self.session.workstation.send_case(self.me, case, to), done, failed)

    def _show_error(self, exc: BaseException) -> None:
        self.notice.setText(error_text(exc))
