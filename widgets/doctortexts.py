"""What the doctor's workspace says: the list's line for a request and its status, the notices
about opinions just arrived, plain sentences for errors and lost draft items, and the
question that asks why a request is withdrawn (split from :mod:`widgets.doctor`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from PySide6.QtWidgets import QDialog, QInputDialog, QWidget

from app.i18n import _
from app.messages import (
    error_reason,
    job_state_label,
    outcome_label,
    reason,
    specialty_label,
    withdrawal_label,
)
from cases.delays import answer_late, has_passed
from cases.drafts import UnreadableDraft
from cases.errors import CaseError, InvalidCase
from cases.followup import followed_up, referred_to, review_due
from cases.model import WITHDRAWAL_REASONS, Case
from cases.threads import CaseThread, Opened
from crypto.errors import CryptoError
from outbox.errors import OutboxError
from widgets.caselist import answer_due, latest_outcome, when
from widgets.overlay import day

log = logging.getLogger(__name__)

KNOWN_ERRORS = (CaseError, CryptoError, OutboxError)
"""The core's errors a workspace says in plain words (:func:`error_text`)."""


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
