"""The specialist's workspace (reviewer mode): received requests, the case, the opinion."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from app.i18n import _
from app.messages import outcome_label, specialty_label, withdrawal_label
from app.session import Session
from app.tasks import BoundRunner, TaskRunner
from cases.delays import answer_late
from cases.drafts import DraftStore, UnreadableDraft
from cases.model import Opinion
from cases.profile import UnlockedIdentity
from cases.seen import SeenStore
from cases.threads import CaseThread, Unreadable
from outbox.platform import DirectoryEntry
from widgets.caselist import (
    CaseList,
    announce,
    answer_due,
    in_red,
    keep_seen,
    late_notice,
    latest_outcome,
    when,
)
from widgets.casestore import StoreFeedback
from widgets.caseview import CaseView
from widgets.doctor import DRAFT_DELAY_MS, KNOWN_ERRORS, error_text
from widgets.opinionform import OpinionForm
from widgets.records import RecordsReport
from widgets.report import ReportPrinter

log = logging.getLogger(__name__)


def describe_for_specialist(thread: CaseThread, drafting: bool = False) -> str:
    """The list's line for a received request; ``drafting`` when an unsent opinion on it is
    kept among the drafts."""
    case = thread.case.bundle.case
    assert case is not None
    status = answer_status(thread)
    if waiting(thread):
        status = _("URGENT") + " · " + status
    outcome = latest_outcome(thread)
    if outcome:
        status += " — " + outcome_label(outcome)
    follow_up = " · " + _("suivi") if case.follows else ""
    draft = " · " + _("avis en cours") if drafting else ""
    return (
        f"{thread.case.sender.display_name} — {specialty_label(case.specialty)}\n"
        f"{when(thread)} · {status}{follow_up}{draft}"
    )


class SpecialistWorkspace(QWidget):
    """Left: received requests; right: the selected case and the opinion being written.

    Each request keeps its own unfinished opinion: switching to another request puts the
    one written aside (in memory and, a moment after each edit, sealed to the specialist
    among the drafts) and shows that of the request selected, so an opinion can never be
    sent on a request it was not written for. Drafts come back after a logout or a restart.
    """

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
        self.drafts = DraftStore(session.profile.path("drafts"), me, session.profile.trust_roots())
        self.unsent: dict[str, Opinion] = {}  # the opinions put aside, by the case they answer
        self.shown: CaseThread | None = None  # the request the form's opinion answers
        self.cases = CaseList(
            lambda t: describe_for_specialist(t, t.case_id in self.unsent),
            _("Demandes reçues"),
            alarming=pressing,
            row_state=lambda t: t.case_id in self.unsent,
        )
        self.seen = SeenStore(session.profile.path("seen"), me.info.id)
        if (seen := self.seen.load()) is not None:  # what came while logged out is news
            self.cases.remember(seen)
        self.view = CaseView()
        self.form = OpinionForm()
        self.notice = QLabel()
        self.store = StoreFeedback(session, me, self.runner, self.notice, self.refresh, self)
        self.printing = ReportPrinter(
            self, self.runner, session, me, self.view.print_button, self.notice
        )
        self.notice.setWordWrap(True)
        self.empty = QLabel(_("Aucune demande reçue pour l’instant."))
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_DELAY_MS)
        self.last_save: threading.Thread | None = None  # the one at logout or quit

        left = QWidget()
        left_layout = QVBoxLayout(left)
        self.title = QLabel("<b>" + escape(_("Demandes reçues")) + "</b>")
        left_layout.addWidget(self.title)
        left_layout.addWidget(self.cases.search)
        left_layout.addWidget(self.cases)
        self.setFocusProxy(self.cases)  # the list has the keyboard first; Ctrl+F searches
        left_layout.addWidget(self.empty)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.view, 1)
        right_layout.addWidget(self.form)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([340, 860])
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(self.store.bar)
        layout.addWidget(splitter, 1)  # the notice line keeps its height

        self.cases.thread_selected.connect(self._show_thread)
        self.form.submitted.connect(self.send_opinion)
        self.view.print_requested.connect(self.print_report)
        self.records = RecordsReport(
            self, self.runner, session, me, self.view.records_button, self.notice
        )
        self.view.records_requested.connect(self.save_report)
        self.form.changed.connect(self._draft_timer.start)
        # the specialist's marks on the photos, drawn in the viewer, go with the opinion
        self.view.photos.marks_edited.connect(self.form.set_marks)
        self.form.marks_loaded.connect(
            lambda marks: self.view.photos.set_own_marks(marks, self._answerable())
        )
        self._draft_timer.timeout.connect(self.keep_draft)
        self.form.set_editable(False)
        self._set_colleagues(session.workstation.directory())  # the copy kept, then fresh
        self.runner.run(session.workstation.refresh_directory, self._directory_fetched, _ignore)
        self.runner.run(self.drafts.load_opinions, self._drafts_loaded, self._show_error)
        self.refresh()

    def refresh(self) -> None:
        self.store.list_then(self._show_threads, self._show_error)

    def _directory_fetched(self, entries: list[DirectoryEntry]) -> None:
        """The fresh directory: the colleagues, and a listing, which sends the receipts that
        waited for it (the first listing after the login may have run before it came)."""
        self._set_colleagues(entries)
        self.refresh()

    def _set_colleagues(self, entries: list[DirectoryEntry]) -> None:
        """The specialists an opinion may refer the unit to: the directory's, but me (and
        the directory's RPPS numbers, against those the requests are signed with)."""
        self.view.directory = entries
        self.form.set_colleagues(
            [e for e in entries if e.role == "specialist" and e.id != self.me.info.id]
        )

    def _show_threads(self, result: tuple[list[CaseThread], list[Unreadable]]) -> None:
        threads, unreadable = result
        erased = [t for t in threads if t.erased]  # listed this once, then gone: not shown
        threads = sorted((t for t in threads if not t.erased), key=order)
        if self.shown is not None and self.shown.case_id in {t.case_id for t in erased}:
            self.shown = None
            self.view.clear()
            self.form.load(None)
            self.form.set_editable(False)
        self._forget_opinions([t for t in (*threads, *erased) if t.withdrawal is not None])
        arrived = self.cases.set_threads(threads, select_first=True)
        pending = sum(1 for t in threads if t.awaiting_answer)
        self.title.setText(
            "<b>" + escape(_("Demandes reçues")) + "</b>"
            + (" — " + escape(_("{n} à traiter").format(n=pending)) if pending else "")
        )  # fmt: skip
        # the opinions are the specialist's; a request withdrawn already is no news
        requests = [(t, o) for t, o in arrived if o is t.case and t.withdrawal is None]
        news = announce(
            self.cases,
            requests,
            _("Nouvelle demande de {name} ({specialty})."),
            _("{n} nouvelles demandes reçues."),
        )
        urgent = [t for t, _opened in requests if waiting(t)]
        if urgent:
            case = urgent[-1].case.bundle.case
            assert case is not None
            alarm = _("Demande urgente de {name} ({specialty}).").format(
                name=urgent[-1].case.sender.display_name, specialty=specialty_label(case.specialty)
            )
            # several arrivals: the count ``announce`` gave follows
            self.notice.setText(in_red(alarm + (" " + news if len(requests) > 1 else "")))
        elif news:
            self.notice.setText(news)
        withdrawn = [t for t, o in arrived if o is t.withdrawal] + erased
        if withdrawn:
            self.notice.setText(withdrawn_news(withdrawn))
        self.empty.setVisible(not threads)
        self.store.shown(unreadable)
        if not self._late_told and not self.notice.text():  # once a session, at login
            self._late_told = True
            self.notice.setText(
                late_notice(
                    self.cases.threads,
                    _("Une demande a dépassé son délai de réponse."),
                    _("{n} demandes ont dépassé leur délai de réponse."),
                )
            )
        keep_seen(self.cases, self.seen, self.runner)

    def _show_thread(self, thread: CaseThread) -> None:
        if self.shown is None or self.shown.case_id != thread.case_id:
            self.keep_draft()  # the opinion written on the request left, put aside
            self.form.load(self.unsent.get(thread.case_id))
        self.shown = thread  # a list refresh shows the same request: the form is left alone
        self.view.show_thread(thread, others=self.cases.threads)
        if thread.withdrawal is not None:  # no answer is awaited any more: nothing to keep
            self._draft_timer.stop()
            self.form.load(None)
        self.form.set_editable(thread.withdrawal is None)
        self.view.photos.set_own_marks(self.form.marks, self._answerable())

    def _answerable(self) -> bool:
        """Whether the request shown awaits this specialist's opinion (marks may be drawn)."""
        return self.shown is not None and self.shown.withdrawal is None

    # --- drafts (sealed to the specialist, saved a moment after each edit) -------------------
    def keep_draft(self, *, last: bool = False) -> None:
        """Put the form's opinion aside for the request it answers, sealed among the drafts
        in the task pool; an opinion emptied is forgotten. ``last``: the last save, at logout
        or quit, while the pool closes: sealed on a thread of its own
        (:meth:`cases.drafts.DraftStore.save_opinion_later`, which the process and the next
        session wait for; :attr:`last_save`), never on the GUI thread."""
        self._draft_timer.stop()
        if self.shown is None or self.shown.withdrawal is not None:
            return
        case_id, request_id = self.shown.case_id, self.shown.case.bundle_id
        opinion = self.form.opinion(case_id)
        version = time.monotonic_ns()
        work: Callable[[], object]
        blank = self.form.is_blank()
        if blank:
            if self.unsent.pop(case_id, None) is None:
                return
            self.form.renew()  # what is written next is another draft
            work = partial(self.drafts.discard_opinion, opinion)
        else:
            if same_draft(self.unsent.get(case_id), opinion):
                return
            self.unsent[case_id] = opinion
            work = partial(self.drafts.save_opinion, opinion, request_id, version)
        self.cases.relabel()
        if not last:
            self.runner.run(work, None, self._show_error)
        elif not blank:
            self.last_save = self.drafts.save_opinion_later(opinion, request_id)
        else:
            try:
                work()  # a file removed: nothing sealed, nothing to wait for
            except (*KNOWN_ERRORS, OSError) as exc:
                log.warning("the last opinion draft could not be discarded: %s", exc)

    def _forget_opinions(self, withdrawn: list[CaseThread]) -> None:
        """The unfinished opinions on requests withdrawn are no longer needed: discarded,
        and emptied from the form if shown."""
        for thread in withdrawn:
            opinion = self.unsent.pop(thread.case_id, None)
            if opinion is None:
                continue
            if self.form.opinion_id == opinion.opinion_id:
                self.form.load(None)
            self.runner.run(partial(self.drafts.discard_opinion, opinion), None, self._show_error)

    def leave(self) -> None:
        """The specialist logs out or quits: the opinion being written is kept, and what was
        seen, for the next session."""
        self.keep_draft(last=True)
        keep_seen(self.cases, self.seen)

    def _drafts_loaded(self, result: tuple[dict[str, Opinion], list[UnreadableDraft]]) -> None:
        opinions, unreadable = result
        for case_id, opinion in opinions.items():
            if case_id in self.unsent:
                continue  # written meanwhile: newer
            self.unsent[case_id] = opinion
            if self.shown is not None and self.shown.case_id == case_id and self.form.is_blank():
                self.form.load(opinion)
        self.cases.relabel()
        if unreadable:
            self.notice.setText(
                _("{count} brouillon(s) illisible(s) ignoré(s).").format(count=len(unreadable))
            )

    # --- sending ------------------------------------------------------------------------------
    def send_opinion(self) -> None:
        thread = self.shown
        if thread is None or thread.withdrawal is not None:  # Ctrl+Entrée on a closed form
            return
        opinion = self.form.opinion(thread.case_id)
        if problems := opinion.problems():
            self.form.show_problems(problems)
            return
        self._draft_timer.stop()
        self.form.set_editable(False)

        def work() -> str:
            bundle_id = self.session.workstation.send_opinion(self.me, thread, opinion)
            self.drafts.discard_opinion(opinion)
            return bundle_id

        def done(bundle_id: str) -> None:
            kept = self.unsent.get(thread.case_id)
            if kept is not None and kept.opinion_id == opinion.opinion_id:
                del self.unsent[thread.case_id]
            if self.form.opinion_id == opinion.opinion_id:  # still shown: empty it
                self.form.load(None)
            self.form.set_editable(True)
            self.cases.relabel()
            self.notice.setText(_("Avis signé, chiffré et placé dans la file d’envoi."))
            self.session.sender.wake()
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.form.set_editable(True)
            self.form.show_error(error_text(exc))

        self.runner.run(work, done, failed)

    def save_report(self, path: Path | None = None) -> None:
        """Write the signed PDF/A report of the request shown (``path``: no dialog)."""
        thread = self.shown
        if thread is not None:
            self.records.start(thread, path)

    def print_report(self, printer: QPrinter | None = None) -> None:
        """Print the request shown and its opinions (``printer``: no dialog)."""
        if self.shown is not None:
            self.printing.start(self.shown, self.cases.threads, printer)

    def _show_error(self, exc: BaseException) -> None:
        self.notice.setText(error_text(exc))


def withdrawn_news(threads: list[CaseThread]) -> str:
    """What the notice line says of requests just withdrawn (and erased, when the patient
    withdrew consent)."""
    if len(threads) > 1:
        return _("{n} demandes retirées par l’unité.").format(n=len(threads))
    [thread] = threads
    text = _("Demande de {name} retirée par l’unité : {reason}.").format(
        name=thread.case.sender.display_name,
        reason=withdrawal_label(thread.withdrawal.bundle.withdrawal or ""),  # type: ignore[union-attr]
    )
    if thread.erased:
        text += " " + _("Elle est effacée de ce poste.")
    return text


def answer_status(thread: CaseThread) -> str:
    """Where the answer to ``thread`` stands: to write by its due day, withdrawn, or sent and
    how far it went."""
    if thread.withdrawal is not None:
        return _("Retirée par l’unité")
    due = answer_due(thread)
    if due is not None:
        date, late = due
        status = _("À traiter · délai dépassé ({date})") if late else _("À traiter d’ici le {date}")
        return status.format(date=date)
    state = thread.answer_job.state if thread.answer_job is not None else ""
    if state == "acknowledged":  # the unit's workstation opened it and signed a receipt
        return _("Avis envoyé · lu par l’unité")
    if state == "delivered":
        return _("Avis envoyé · remis")
    if state in ("paused", "failed"):
        return _("Avis envoyé · envoi suspendu")
    if state in ("pending", "sending", "retry"):
        return _("Avis envoyé · en file d’envoi")
    return _("Avis envoyé")


def waiting(thread: CaseThread) -> bool:
    """An urgent request not answered yet: first in the list, in red."""
    case = thread.case.bundle.case
    return case is not None and case.urgent and thread.awaiting_answer


def order(thread: CaseThread) -> tuple[bool, bool, bool]:
    """The list's sort key: urgent requests waiting for an answer first, then those past
    their due day, then the others awaiting an answer, then the answered and withdrawn ones;
    newest first within each (the workstation's order, which a stable sort keeps). The list
    opens on its first row: a request to answer when there is one."""
    return not waiting(thread), answer_late(thread) is None, not thread.awaiting_answer


def pressing(thread: CaseThread) -> bool:
    """A request without an answer that is urgent or past its due day: in red."""
    return waiting(thread) or answer_late(thread) is not None


def same_draft(kept: Opinion | None, opinion: Opinion) -> bool:
    """Whether ``opinion`` says what ``kept`` says (the time of writing aside)."""
    return kept is not None and kept == replace(opinion, created_at=kept.created_at)


def _ignore(_exc: BaseException) -> None:
    """A directory that cannot be fetched: the copy kept stays (the status line says why)."""
