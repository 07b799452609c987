"""The unit doctor's workspace: write and send requests, follow them, read the opinions."""

from __future__ import annotations

import logging
from dataclasses import replace
from html import escape
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.session import Session
from app.tasks import BoundRunner, TaskRunner
from cases.drafts import DraftStore
from cases.followup import (
    follow_up_request,
    followed_ids,
    referral_request,
    referred_to,
    specialist_of,
)
from cases.model import Case, utc_now
from cases.profile import UnlockedIdentity
from cases.seen import SeenStore
from cases.threads import CaseThread, Unreadable
from outbox.platform import DirectoryEntry
from widgets.capture import CaptureStation
from widgets.caseform import CaseForm
from widgets.caselist import CaseList, announce, follows_text, in_red, keep_seen, late_notice
from widgets.casestore import StoreFeedback
from widgets.caseview import CaseView
from widgets.doctordrafts import DraftKeeping
from widgets.doctortexts import (
    KNOWN_ERRORS,
    ask_withdrawal_reason,
    describe_for_doctor,
    error_text,
    missing_text,
    needs_action,
    outcome_news,
    overdue,
    thread_status,
)
from widgets.flow import FlowLayout
from widgets.records import RecordsReport
from widgets.report import ReportPrinter
from widgets.sealprogress import SealProgress
from widgets.sendchecks import before_send_warning

log = logging.getLogger(__name__)

__all__ = [
    "DRAFT_DELAY_MS",
    "KNOWN_ERRORS",
    "DoctorWorkspace",
    "ask_withdrawal_reason",
    "describe_for_doctor",
    "error_text",
    "missing_text",
    "needs_action",
    "outcome_news",
    "overdue",
    "thread_status",
]

DRAFT_DELAY_MS = 1500
"""A draft is saved this long after the last edit."""


class DoctorWorkspace(QWidget, DraftKeeping):
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
        self._late_told = False  # the requests past their due day were told at login
        self.task_runner = runner
        self.capture_station: CaptureStation | None = None
        self._followed: frozenset[str] = frozenset()  # of the threads listed
        self.cases = CaseList(
            lambda t: describe_for_doctor(t, self._followed),
            _("Mes demandes"),
            alarming=lambda t: needs_action(t, self._followed),
            row_state=lambda t: t.case_id in self._followed,
        )
        self.seen = SeenStore(session.profile.path("seen"), me.info.id)
        if (seen := self.seen.load()) is not None:  # what came while logged out is news
            self.cases.remember(seen)
        self.new_button = QPushButton(_("Nouvelle demande"))
        self.new_button.setToolTip(_("Ctrl+N"))
        self.follow_button = QPushButton(_("Demande de suivi"))
        self.follow_button.setToolTip(
            _(
                "Ctrl+Maj+N — une nouvelle demande pour le même patient, liée à la demande "
                "affichée et adressée au spécialiste qui y a répondu"
            )
        )
        self.follow_button.setEnabled(False)
        self.notice = QLabel()
        self.store = StoreFeedback(session, me, self.runner, self.notice, self.refresh, self)
        self.notice.setWordWrap(True)
        self.form = CaseForm()
        self.form.warn_before_send = lambda case: before_send_warning(
            case,
            getattr(self.form.recipient.currentData(), "specialty", None),
            self.cases.threads,
        )
        self.view = CaseView()
        self.printing = ReportPrinter(
            self, self.runner, session, me, self.view.print_button, self.notice
        )
        self.view.print_requested.connect(self.print_report)
        self.records = RecordsReport(
            self, self.runner, session, me, self.view.records_button, self.notice
        )
        self.view.records_requested.connect(self.save_report)
        self.view.withdraw_requested.connect(self.withdraw)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.form)
        self.stack.addWidget(self.view)
        self.drafts = DraftStore(session.profile.path("drafts"), me, session.profile.trust_roots())
        self.draft_list = QListWidget()
        self.draft_list.setMaximumHeight(110)
        self.draft_list.setToolTip(_("Brouillons chiffrés : cliquez pour reprendre"))
        self.discard_button = QPushButton(_("Supprimer ce brouillon"))
        self.draft_status = QLabel()
        self.draft_status.setStyleSheet("color: #555;")
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_DELAY_MS)
        self._draft_saving = False
        self._draft_dirty = False

        left = QWidget()
        left_layout = QVBoxLayout(left)
        self.title = QLabel("<b>" + escape(_("Mes demandes")) + "</b>")
        left_layout.addWidget(self.title)
        left_layout.addWidget(self.cases.search)
        left_layout.addWidget(self.cases)
        self.setFocusProxy(self.cases)  # the list has the keyboard first; Ctrl+F searches
        buttons = FlowLayout()  # "Adresser à Pr …" is long: the buttons wrap
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.follow_button)
        left_layout.addLayout(buttons)
        left_layout.addWidget(QLabel("<b>" + _("Brouillons") + "</b>"))
        left_layout.addWidget(self.draft_list)
        left_layout.addWidget(self.discard_button)
        left_layout.addWidget(self.draft_status)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([340, 860])
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(self.store.bar)
        layout.addWidget(splitter, 1)  # the notice line keeps its height

        self.new_button.clicked.connect(self.new_case)
        QShortcut(QKeySequence.StandardKey.New, self, self.new_case)
        self.follow_button.clicked.connect(self.follow_up)
        QShortcut(QKeySequence("Ctrl+Shift+N"), self, self.follow_up)
        self.cases.thread_selected.connect(self._show_thread)
        self.form.send_requested.connect(self._send)
        self.form.photos_requested.connect(self.import_photos)
        self.form.capture_requested.connect(self.open_capture)
        self.form.changed.connect(self._draft_timer.start)
        self._draft_timer.timeout.connect(self.save_draft)
        self.draft_list.itemActivated.connect(self._resume_draft)
        self.draft_list.itemClicked.connect(self._resume_draft)
        self.discard_button.clicked.connect(self.discard_draft)
        cached = session.workstation.directory()  # the copy kept, then fresh
        self.form.set_recipients([e for e in cached if e.role == "specialist"])
        self.view.directory = cached
        self.refresh_directory()
        self.refresh()
        self.refresh_drafts()

    # --- directory ----------------------------------------------------------------------
    def refresh_directory(self) -> None:
        def done(entries: list[DirectoryEntry]) -> None:
            self.form.set_recipients([e for e in entries if e.role == "specialist"])
            self.view.directory = entries  # the RPPS it lists, against the signed ones
            self.refresh()  # receipts that waited for the directory go now

        self.runner.run(self.session.workstation.refresh_directory, done, lambda exc: None)

    # --- list ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self.store.list_then(self._show_threads, self._show_error)

    def _show_threads(self, result: tuple[list[CaseThread], list[Unreadable]]) -> None:
        threads, unreadable = result
        self._followed = followed_ids(threads)
        arrived = self.cases.set_threads(threads)
        awaiting = sum(1 for t in threads if t.awaiting_answer)
        self.title.setText(
            "<b>" + escape(_("Mes demandes")) + "</b>"
            + (" — " + escape(_("{n} en attente d’avis").format(n=awaiting)) if awaiting else "")
        )  # fmt: skip
        opinions = [(t, o) for t, o in arrived if any(o is x for x in t.opinions)]
        news = announce(
            self.cases,
            opinions,
            _("Nouvel avis de {name} — patient {ref}."),
            _("{n} nouveaux avis reçus."),
        )
        if news:
            extra, urgent = outcome_news(opinions)
            text = news + extra
            self.notice.setText(in_red(text) if urgent else text)
        self.store.shown(unreadable)
        if not self._late_told and not self.notice.text():  # once a session, at login
            self._late_told = True
            one = _("Une demande attend son avis au-delà du délai : relancez le spécialiste.")
            many = _(
                "{n} demandes attendent leur avis au-delà du délai : relancez les spécialistes."
            )
            self.notice.setText(late_notice(self.cases.threads, one, many))
        keep_seen(self.cases, self.seen, self.runner)

    def _show_thread(self, thread: CaseThread) -> None:
        self.view.show_thread(thread, others=self.cases.threads)
        self.view.withdraw_button.setVisible(thread.awaiting_answer)
        self.stack.setCurrentWidget(self.view)
        self.follow_button.setEnabled(True)
        referral = referred_to(thread)
        if referral is not None:
            name = referral.refer_name or referral.refer_to
            self.follow_button.setText(_("Adresser à {name}").format(name=name))
        else:
            self.follow_button.setText(_("Demande de suivi"))

    def withdraw(self, reason: str | None = None) -> None:
        """Withdraw the request shown, which no opinion answered yet, asking why unless
        ``reason`` (a code of ``WITHDRAWAL_REASONS``) is given: the specialist is told (and,
        when the patient withdrew consent, their workstation erases its copy)."""
        thread = self.cases.current_thread()
        if thread is None or not thread.awaiting_answer:
            return
        if reason is None:
            reason = ask_withdrawal_reason(self)
            if reason is None:
                return
        self.view.withdraw_button.setEnabled(False)

        def done(_bundle_id: str) -> None:
            self.view.withdraw_button.setEnabled(True)
            self.notice.setText(_("Demande retirée : le spécialiste en sera prévenu."))
            self.session.sender.wake()
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.view.withdraw_button.setEnabled(True)
            self._show_error(exc)

        self.runner.run(
            lambda: self.session.workstation.withdraw(self.me, thread, reason), done, failed
        )

    def new_case(self) -> None:
        """An empty form; what was in it stays among the drafts."""
        self._leave_form()
        self.form.patient_ref.setFocus()

    def follow_up(self) -> None:
        """A new request following up the one shown: the same patient, specialty and
        treatments, addressed to the specialist who answered it; what was in the form stays
        among the drafts."""
        thread = self.cases.current_thread()
        if thread is None or self.stack.currentWidget() is not self.view:
            return
        earlier = thread.case.bundle.case
        assert earlier is not None
        if not self.form.is_blank():  # a request left unfinished to read this one
            self.save_draft()
        self._leave_form()
        referral = referred_to(thread)
        if referral is None:
            self.form.load_case(follow_up_request(earlier), followed=follows_text(thread))
        else:  # the same request, for the colleague, with the opinion that refers to them
            quoted = _("{name} conseille de vous demander votre avis : « {text} »").format(
                name=thread.opinions[-1].sender.display_name, text=referral.text
            )
            copy = referral_request(earlier)
            copy = replace(copy, question=f"{quoted}\n\n{copy.question}".strip())
            title = _("Demande à un confrère")
            self.form.load_case(copy, followed=follows_text(thread), title=title)
        specialist = specialist_of(thread)
        if specialist is not None and not self.form.select_recipient(
            specialist.fingerprint, specialist.mailbox
        ):
            self.form.show_error(
                _(
                    "{name} n’est pas dans l’annuaire de ce poste : choisissez le spécialiste."
                ).format(name=specialist.display_name)
            )
        elif referral is not None:  # asked in the colleague's own specialty, when listed
            entry = self.form.recipient.currentData()
            index = self.form.specialty.findData(entry.specialty if entry else None)
            if index >= 0:
                self.form.specialty.setCurrentIndex(index)
        self.form.summary.setFocus()

    def _leave_form(self) -> None:
        """Keep what the form holds among the drafts, and show it emptied."""
        if self.stack.currentWidget() is self.form and not self.form.is_blank():
            self.save_draft()
            self.form.clear()
        self.draft_status.clear()  # it spoke of the request that was in the form
        self.cases.clearSelection()
        self.cases.setCurrentRow(-1)
        self.follow_button.setEnabled(False)
        self.stack.setCurrentWidget(self.form)

    # --- photos and sending ---------------------------------------------------------------
    def import_photos(self, paths: list[Path]) -> None:
        """Files from the dialog or dropped on the form go through the capture station, like
        the camera's shots: faces are proposed for blurring and the doctor confirms each photo
        before it joins the request. No photo reaches a request unchecked."""
        self.open_capture().import_files(paths)

    def open_capture(self) -> CaptureStation:
        """Opens the capture station (window-modal); its photos join the form. The form's
        patient reference is what the station proposes for a DICOM export."""
        if self.capture_station is not None:
            self.capture_station.set_patient_ref(self.form.patient_ref.text())
            self.capture_station.raise_()
            return self.capture_station
        settings = QSettings(
            str(self.session.profile.root / "capture.ini"), QSettings.Format.IniFormat
        )
        earlier = [t.case.bundle.case for t in self.cases.threads if t.case.bundle.case]
        station = CaptureStation(
            self.task_runner,
            settings,
            self,
            patient_ref=self.form.patient_ref.text(),
            earlier=earlier,
            documents=self.form.documents,  # pages taken in document mode join them
        )
        station.photos_ready.connect(self.form.add_photos)

        def closed() -> None:
            self.capture_station = None
            station.deleteLater()

        station.finished.connect(closed)
        self.capture_station = station
        station.open()
        return station

    def _send(self, case: Case, to: DirectoryEntry) -> None:
        self.form.set_busy(True)
        self._draft_timer.stop()
        case = replace(case, created_at=utc_now())  # dated when sent, not when begun
        sealing = SealProgress(self)  # shown on the send button, from the worker thread
        sealing.percent.connect(self.form.set_sealing_progress)

        def work() -> str:
            bundle_id = self.session.workstation.send_case(
                self.me, case, to, progress=sealing.report
            )
            self.drafts.discard(case.case_id)
            return bundle_id

        def done(bundle_id: str) -> None:
            sealing.deleteLater()
            self.form.set_busy(False)
            self.form.clear()
            self.draft_status.clear()  # its draft is gone: a "saved at" would be stale
            self.refresh_drafts()
            self.notice.setText(_("Demande scellée et placée dans la file d’envoi."))
            self.session.sender.wake()
            self.refresh()

        def failed(exc: BaseException) -> None:
            sealing.deleteLater()
            self.form.set_busy(False)
            self.form.show_error(error_text(exc))

        self.runner.run(work, done, failed)

    def save_report(self, path: Path | None = None) -> None:
        """Write the signed PDF/A report of the request shown (``path``: no dialog)."""
        thread = self.cases.current_thread()
        if thread is not None:
            self.records.start(thread, path)

    def print_report(self, printer: QPrinter | None = None) -> None:
        """Print the request shown and its opinions (``printer``: no dialog)."""
        thread = self.cases.current_thread()
        if thread is not None and self.stack.currentWidget() is self.view:
            self.printing.start(thread, self.cases.threads, printer)

    def _show_error(self, exc: BaseException) -> None:
        self.notice.setText(error_text(exc))
