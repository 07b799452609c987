"""How ``passavant cases list`` describes a case: one line of a table, or one JSON object.

Only what the person's list in the app shows: ids, dates, where the case stands (the app's
words), who sent it and for whom (from the signer's validated certificate), and the clinical
text only in ``clinical``, filled on request (``--with-text``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.i18n import _
from app.messages import (
    job_state_label,
    outcome_label,
    specialty_label,
    withdrawal_label,
)
from cases.bundle import Party
from cases.delays import answer_late, first_answer, reply_due, signed
from cases.threads import CaseThread

STATES = ("awaiting_answer", "overdue", "answered", "withdrawn", "erased")
"""The ``state`` codes of ``cases list --json``."""


# --- describing a case ----------------------------------------------------------------------


@dataclass(frozen=True)
class CaseLine:
    """One case as ``cases list`` shows it (no clinical text but in ``clinical``)."""

    bundle_id: str
    direction: str  # sent, received
    state: str  # one of STATES
    status: str
    urgent: bool
    specialty: str
    signed_at: datetime
    due: date | None
    answered_at: datetime | None
    outcome: str | None
    withdrawal_reason: str | None
    job_state: str | None
    sender: Party
    addressee: Party | None
    opinion_count: int
    clinical: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "bundle_id": self.bundle_id,
            "direction": self.direction,
            "state": self.state,
            "status": self.status,
            "urgent": self.urgent,
            "specialty": self.specialty,
            "signed_at": _utc(self.signed_at),
            "due": None if self.due is None else self.due.isoformat(),
            "answered_at": None if self.answered_at is None else _utc(self.answered_at),
            "outcome": self.outcome,
            "withdrawal_reason": self.withdrawal_reason,
            "job_state": self.job_state,
            "sender": _party_json(self.sender),
            "addressee": None if self.addressee is None else _party_json(self.addressee),
            "opinion_count": self.opinion_count,
            "clinical": self.clinical,
        }


def describe(
    thread: CaseThread, me: str, *, with_text: bool = False, today: date | None = None
) -> CaseLine:
    """``thread`` as the person whose certificate fingerprint is ``me`` sees it in their list
    (the app's words: ``widgets.doctor.thread_status``, ``widgets.specialist.answer_status``);
    ``today`` (default: the local date) decides whether the due day has passed."""
    request = thread.case
    case = request.bundle.case
    assert case is not None  # a thread is a request
    sent = request.sender.fingerprint == me
    latest = thread.opinions[-1].bundle.opinion if thread.opinions else None
    outcome = latest.outcome if latest is not None else None
    withdrawal = thread.withdrawal.bundle.withdrawal if thread.withdrawal is not None else None
    job = thread.job if sent else thread.answer_job
    job_state = None if job is None else str(job.state)
    due = reply_due(thread) if thread.awaiting_answer else None
    late = answer_late(thread, today) is not None
    if thread.erased:
        state = "erased"
    elif thread.withdrawal is not None:
        state = "withdrawn"
    elif thread.opinions:
        state = "answered"
    else:
        state = "overdue" if late else "awaiting_answer"
    status = _status(state, sent, due, outcome, withdrawal or "", job_state)
    if case.urgent:
        status = _("URGENT") + " · " + status
    addressee = next(
        (r for r in request.bundle.manifest.recipients if r.role == "specialist" and r.mailbox),
        None,
    )
    return CaseLine(
        bundle_id=request.bundle_id,
        direction="sent" if sent else "received",
        state=state,
        status=status,
        urgent=case.urgent,
        specialty=case.specialty,
        signed_at=signed(request),
        due=due,
        answered_at=first_answer(thread),
        outcome=outcome,
        withdrawal_reason=withdrawal,
        job_state=job_state,
        sender=request.sender,
        addressee=addressee,
        opinion_count=len(thread.opinions),
        clinical=clinical(thread) if with_text else None,
    )


def _status(
    state: str, sent: bool, due: date | None, outcome: str | None, withdrawal: str, job: str | None
) -> str:
    if state in ("withdrawn", "erased"):
        text = _("Retirée ({reason})").format(reason=withdrawal_label(withdrawal))
        return text + (" · " + _("effacée de ce poste") if state == "erased" else "")
    if state == "answered":
        text = _("Avis reçu") if sent else _answer_sent(job)
        return text + (" — " + outcome_label(outcome) if outcome else "")
    day = due.strftime("%d/%m/%Y") if due is not None else "?"
    if sent:
        where = job_state_label(job) if job is not None else _("Envoyé")
        if state == "overdue":
            return where + " · " + _("avis en retard (attendu le {date})").format(date=day)
        return where + " · " + _("avis attendu d’ici le {date}").format(date=day)
    if state == "overdue":
        return _("À traiter · délai dépassé ({date})").format(date=day)
    return _("À traiter d’ici le {date}").format(date=day)


def _answer_sent(job: str | None) -> str:
    """How far the specialist's latest opinion went (``widgets.specialist.answer_status``)."""
    if job == "acknowledged":  # the unit's workstation opened it and signed a receipt
        return _("Avis envoyé · lu par l’unité")
    if job == "delivered":
        return _("Avis envoyé · remis")
    if job in ("paused", "failed"):
        return _("Avis envoyé · envoi suspendu")
    if job in ("pending", "sending", "retry"):
        return _("Avis envoyé · en file d’envoi")
    return _("Avis envoyé")


def clinical(thread: CaseThread) -> dict[str, Any]:
    """The clinical text of ``thread``: only with ``--with-text``."""
    case = thread.case.bundle.case
    assert case is not None
    opinions = []
    for opened in thread.opinions:
        opinion = opened.bundle.opinion
        assert opinion is not None  # assembled as an opinion
        opinions.append(
            {
                "bundle_id": opened.bundle_id,
                "signed_at": _utc(signed(opened)),
                "author": opened.sender.display_name,
                "outcome": opinion.outcome,
                "review_weeks": opinion.review_weeks,
                "text": opinion.text,
            }
        )
    return {
        "patient_ref": case.patient_ref,
        "summary": case.summary,
        "treatments": case.treatments,
        "question": case.question,
        "answers": dict(case.answers),
        "photos": len(case.photos),
        "opinions": opinions,
    }


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _party_json(party: Party) -> dict[str, str]:
    return {
        "name": party.display_name,
        "organization": party.organization,
        "role": party.role,
        "mailbox": party.mailbox,
        "fingerprint": party.fingerprint,
    }


def _who(party: Party | None) -> str:
    if party is None:
        return "-"
    return (
        f"{party.display_name} ({party.organization})" if party.organization else party.display_name
    )


# --- the commands ---------------------------------------------------------------------------


def print_table(lines: list[CaseLine], name: str) -> None:
    if not lines:
        print(_("Aucun dossier pour {name}.").format(name=name))
        return
    table = [[_("Demande"), _("Signée le"), _("État"), _("Avis"), _("De"), _("Pour")]]
    for line in lines:
        table.append(
            [
                line.bundle_id,
                line.signed_at.astimezone().strftime("%d/%m/%Y %H:%M"),
                line.status,
                str(line.opinion_count),
                _who(line.sender),
                _who(line.addressee),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for number, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if number and lines[number - 1].clinical is not None:
            for text in _clinical_lines(lines[number - 1]):
                print("    " + text)


def _clinical_lines(line: CaseLine) -> list[str]:
    """The clinical text under a case's line (``--with-text``), indented by the caller."""
    text = line.clinical
    assert text is not None
    out = [
        _("Patient : {ref} · {specialty}").format(
            ref=text["patient_ref"], specialty=specialty_label(line.specialty)
        ),
        _("Résumé : {text}").format(text=_flat(text["summary"])),
    ]
    if text["treatments"]:
        out.append(_("Traitements : {text}").format(text=_flat(text["treatments"])))
    out.append(_("Question : {text}").format(text=_flat(text["question"])))
    for opinion in text["opinions"]:
        moment = datetime.fromisoformat(opinion["signed_at"]).astimezone()
        out.append(
            _("Avis du {date} ({author}) : {text}").format(
                date=moment.strftime("%d/%m/%Y %H:%M"),
                author=opinion["author"],
                text=_flat(opinion["text"]),
            )
        )
    return out


def _flat(text: str) -> str:
    """A free text on one line: its line breaks become `` / ``."""
    return " / ".join(part.strip() for part in str(text).splitlines() if part.strip())
