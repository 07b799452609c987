"""The unit doctor's workspace: write and send requests, follow them, read the opinions."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from html import escape
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import (
    error_reason,
    job_state_label,
    outcome_label,
    reason,
    specialty_label,
    withdrawal_label,
)
from app.session import Session
from app.tasks import BoundRunner, TaskRunner
from cases.delays import answer_late, has_passed
from cases.drafts import PAYLOAD_MISSING, DraftStore, UnreadableDraft
from cases.errors import CaseError, InvalidCase
from cases.followup import (
    follow_up_request,
    followed,
    followed_ids,
    followed_up,
    referral_request,
    referred_to,
    review_due,
    specialist_of,
)
from cases.model import WITHDRAWAL_REASONS, Case, utc_now
from cases.profile import UnlockedIdentity
from cases.seen import SeenStore
from cases.threads import CaseThread, Opened, Unreadable
from crypto.errors import CryptoError
from outbox.errors import OutboxError
from outbox.platform import DirectoryEntry
from widgets.capture import CaptureStation
from widgets.caseform import CaseForm
from widgets.caselist import (
    CaseList,
    announce,
    answer_due,
    follows_text,
    in_red,
    keep_seen,
    late_notice,
    latest_outcome,
    when,
)
from widgets.casestore import StoreFeedback
from widgets.caseview import CaseView
from widgets.flow import FlowLayout
from widgets.overlay import day, short_time
from widgets.records import RecordsReport
from widgets.report import ReportPrinter
from widgets.sealprogress import SealProgress
from widgets.sendchecks import before_send_warning

log = logging.getLogger(__name__)

KNOWN_ERRORS = (CaseError, CryptoError, OutboxError)
DRAFT_DELAY_MS = 1500
"""A draft is saved this long after the last edit."""


def error_text(exc: BaseException) -> str:
    """A plain-language sentence for a core error (technical detail only in the log)."""
    if isinstance(exc, InvalidCase):
        return "\n".join(reason(p) for p in exc.problems)
    return error_reason(exc)


def missing_text(draft: UnreadableDraft, case: Case | None) -> str:
    """What a draft whose clips or documents were lost (their sealed files) says."""
    label = (case.patient_ref if case else "") or _("(sans référence)")
    return _(
        "Brouillon {ref} : {names} introuvable(s) ou endommagé(s), retiré(s) du brouillon ;"
        " joignez-le(s) à nouveau."
    ).format(ref=label, names=", ".join(draft.missing))


def thread_status(thread: CaseThread) -> str:
    if thread.withdrawal is not None:
        reason = withdrawal_label(thread.withdrawal.bundle.withdrawal or "")
        return _("Retirée ({reason})").format(reason=reason)
    if thread.opinions:
        return _("Avis reçu")
    if thread.job is not None:
        return job_state_label(thread.job.state)
    return _("Envoyé")


def describe_for_doctor(
    thread: CaseThread, threads: Sequence[CaseThread] | frozenset[str] = ()
) -> str:
    """The list's line for one of the doctor's requests; ``threads`` (all of them, or the
    case ids they follow up: ``cases.followup.followed_ids``) tell whether a review the
    specialist asked for was followed up already."""
    case = thread.case.bundle.case
    assert case is not None
    status = thread_status(thread)
    outcome = latest_outcome(thread)
    if outcome:
        status += " — " + outcome_label(outcome)
    marks = " · " + _("suivi") if case.follows else ""
    if case.urgent:
        marks += " · " + _("urgente")
    answer = answer_due(thread)
    if answer is not None:
        date, late = answer
        if late:
            marks += " · " + _("avis en retard (attendu le {date})").format(date=date)
        else:
            marks += " · " + _("avis attendu d’ici le {date}").format(date=date)
    referral = referred_to(thread)
    if referral is not None and not followed_up(thread, threads):
        name = referral.refer_name or referral.refer_to
        marks += " · " + _("à adresser à {name}").format(name=name)
    due = review_due(thread, threads)
    review = ""
    if due is not None:
        late = overdue(due)
        review = " · " + (_("contrôle en retard ({date})") if late else _("à revoir le {date}"))
        review = review.format(date=day(due))
    return (
        f"{case.patient_ref} — {specialty_label(case.specialty)}\n"
        f"{when(thread)} · {status}{marks}{review}"
    )


class _ReasonDialog(QInputDialog):
    """A choice among ``labels`` that cannot be accepted while none is chosen."""

    def __init__(self, parent: QWidget, labels: list[str]) -> None:
        super().__init__(parent)
        self.labels = labels

    def done(self, result: int) -> None:
        if result == QDialog.DialogCode.Accepted and self.textValue() not in self.labels:
            return  # Enter on "choose a reason" records nothing
        super().done(result)


def ask_withdrawal_reason(parent: QWidget) -> str | None:
    """Why the doctor withdraws a request: a code of ``WITHDRAWAL_REASONS``, or ``None``
    when they changed their mind. No reason is chosen in advance: Enter alone cannot record
    one by mistake."""
    labels = [withdrawal_label(code) for code in WITHDRAWAL_REASONS]
    choose = _("— Choisissez un motif —")
    dialog = _ReasonDialog(parent, labels)
    dialog.setWindowTitle(_("Retirer la demande"))
    dialog.setLabelText(
        _(
            "Pourquoi retirer cette demande ? Le spécialiste en sera prévenu et n’aura plus à "
            "y répondre. Si le patient a retiré son consentement, la copie du spécialiste sera "
            "effacée de son poste."
        )
    )
    dialog.setComboBoxItems([choose, *labels])
    dialog.setComboBoxEditable(False)
    dialog.setTextValue(choose)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    label = dialog.textValue()
    dialog.deleteLater()
    return WITHDRAWAL_REASONS[labels.index(label)] if accepted and label in labels else None


def overdue(due: datetime) -> bool:
    """Whether the local day of ``due`` has passed."""
    return has_passed(due.astimezone().date())


def needs_action(thread: CaseThread, threads: Sequence[CaseThread] | frozenset[str]) -> bool:
    """A request whose latest opinion advises an urgent transfer, whose review is late, or
    still without an answer past its due day: shown in red in the doctor's list."""
    due = review_due(thread, threads)
    return (
        latest_outcome(thread) == "urgent_transfer"
        or (due is not None and overdue(due))
        or answer_late(thread) is not None
    )


def outcome_news(opinions: Sequence[tuple[CaseThread, Opened]]) -> tuple[str, bool]:
    """What the notice line adds about the opinions just arrived (what a single one
    advises; among several, an urgent transfer), and whether one advises an urgent
    transfer, which the line then shows in red."""
    urgent = [
        thread
        for thread, opened in opinions
        if opened.bundle.opinion is not None and opened.bundle.opinion.outcome == "urgent_transfer"
    ]
    if len(opinions) == 1:
        outcome = latest_outcome(opinions[0][0])
        if not outcome:
            return "", False
        text = _("Conduite à tenir : {outcome}.").format(outcome=outcome_label(outcome))
        return " " + text, bool(urgent)
    if urgent:
        case = urgent[-1].case.bundle.case
        assert case is not None
        text = _("Extraction urgente conseillée pour le patient {ref}.").format(
            ref=case.patient_ref
        )
        return " " + text, True
    return "", False


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

        self.runner.run(self.session.workstation.refresh_directory, done, lambda exc: None)

    # --- list ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self.runner.run(self.store.listing, self._show_threads, self._show_error)

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

    # --- drafts (sealed to the doctor, saved a moment after each edit) -----------------------
    def save_draft(self) -> None:
        """Seal the form's request as a draft, off the GUI thread; one save at a time."""
        self._draft_timer.stop()
        if self._draft_saving:
            self._draft_dirty = True
            return
        if self.form.is_blank():
            return
        case = self.form.case()
        uid_key = self.form.documents.uid_key
        self._draft_saving = True

        def done(path: Path | None) -> None:
            self._draft_saving = False
            if path is not None:
                if self.form.case_id == case.case_id:  # said only of the request still shown
                    self.form.adopt_payloads(self.drafts.sealed_payload)  # bytes freed
                    self.draft_status.setText(
                        _("Brouillon enregistré (chiffré) à {time}").format(
                            time=short_time(utc_now())
                        )
                    )
                self.refresh_drafts()
            if self._draft_dirty:
                self._draft_dirty = False
                self.save_draft()

        def failed(exc: BaseException) -> None:
            self._draft_saving = False
            self.draft_status.setText(
                _("Le brouillon n’a pas pu être enregistré : {reason}").format(
                    reason=error_text(exc)
                )
            )

        version = time.monotonic_ns()  # now: a later save, at logout say, is newer
        self.runner.run(lambda: self.drafts.save(case, version, uid_key=uid_key), done, failed)

    def refresh_drafts(self) -> None:
        def done(result: tuple[list[Case], list[UnreadableDraft]]) -> None:
            drafts, unreadable = result
            self.draft_list.clear()
            for case in drafts:
                label = case.patient_ref or _("(sans référence)")
                item = QListWidgetItem(
                    f"{label} — {specialty_label(case.specialty)} · {short_time(case.created_at)}"
                )
                item.setData(Qt.ItemDataRole.UserRole, case)
                self.draft_list.addItem(item)
            self.discard_button.setEnabled(bool(drafts))
            lacking = [u for u in unreadable if u.code == PAYLOAD_MISSING]
            unreadable = [u for u in unreadable if u.code != PAYLOAD_MISSING]
            told = [
                missing_text(u, next((c for c in drafts if c.case_id == u.case_id), None))
                for u in lacking
            ]
            if unreadable:
                told.append(
                    _("{count} brouillon(s) illisible(s) ignoré(s).").format(count=len(unreadable))
                )
            if told:
                self.draft_status.setText("\n".join(told))

        self.runner.run(self.drafts.load, done, self._show_error)

    def _resume_draft(self, item: QListWidgetItem) -> None:
        case: Case = item.data(Qt.ItemDataRole.UserRole)
        if case.case_id == self.form.case_id and self.stack.currentWidget() is self.form:
            return
        if not self.form.is_blank():
            self.save_draft()
        earlier = followed(case, self.cases.threads)
        self.form.load_case(
            case,
            followed=follows_text(earlier) if earlier else "",
            uid_key=self.drafts.uid_key(case.case_id),
        )
        self.cases.clearSelection()
        self.follow_button.setEnabled(False)
        self.stack.setCurrentWidget(self.form)
        self.draft_status.setText(_("Brouillon repris."))

        def checked(damaged: tuple[str, ...]) -> None:
            if damaged and self.form.case_id == case.case_id:
                self.draft_status.setText(
                    _(
                        "Brouillon repris, mais {names} endommagé(s) sur ce poste : retirez-le(s)"
                        " et joignez-le(s) à nouveau."
                    ).format(names=", ".join(damaged))
                )

        self.runner.run(lambda: self.drafts.damaged(case), checked, self._show_error)

    def discard_draft(self) -> None:
        """Forget the selected draft (or the one in the form) and empty the form."""
        item = self.draft_list.currentItem()
        case_id = item.data(Qt.ItemDataRole.UserRole).case_id if item else self.form.case_id
        self._draft_timer.stop()
        if case_id == self.form.case_id:
            self.form.clear()

        def done(removed: bool) -> None:
            if removed:
                self.draft_status.setText(_("Brouillon supprimé."))
            self.refresh_drafts()

        self.runner.run(lambda: self.drafts.discard(case_id), done, self._show_error)

    def leave(self) -> None:
        """The doctor logs out or quits: edits not saved yet are sealed among the drafts now
        (on this thread: the pool is closing; a draft holds a dozen photos at most, its clips
        and documents being sealed apart when they joined it), and what was seen is kept for
        the next session."""
        keep_seen(self.cases, self.seen)
        if not (self._draft_timer.isActive() or self._draft_dirty or self._draft_saving):
            return
        self._draft_timer.stop()
        if self.form.is_blank():
            return
        try:
            self.drafts.save(self.form.case(), uid_key=self.form.documents.uid_key)
        except (*KNOWN_ERRORS, OSError) as exc:
            log.warning("the last draft could not be saved: %s", exc)

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
