"""The patient's identity where a request is read: prominent, with its status, the INS only
when qualified, and the other requests this person can open for the same patient."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from app.i18n import _
from app.identity_text import identity_line, status_label
from cases.followup import same_patient_case
from cases.model import Opinion
from cases.threads import CaseThread
from widgets.overlay import day

QUALIFIED = "#1a6b1a"
NOT_QUALIFIED = "#9a5b00"


def same_patient_threads(thread: CaseThread, others: Sequence[CaseThread]) -> list[CaseThread]:
    """The other requests among ``others`` for ``thread``'s patient, by identity (both must
    carry one: a reference alone is the unit's, and may be reused), oldest first."""
    case = thread.case.bundle.case
    if case is None or case.identity is None:
        return []
    found = [
        other
        for other in others
        if (o := other.case.bundle.case) is not None
        and o.case_id != case.case_id
        and o.identity is not None
        and same_patient_case(case, o)
    ]
    return sorted(found, key=lambda t: t.case.bundle.case.created_at)  # type: ignore[union-attr]


def identity_html(thread: CaseThread, others: Sequence[CaseThread] = ()) -> str:
    """The identity block under the request's title (empty for a request without one: an
    earlier version's), HTML."""
    case = thread.case.bundle.case
    if case is None or case.identity is None:
        return ""
    who = case.identity
    colour = QUALIFIED if who.qualified else NOT_QUALIFIED
    status = _("identité {status}").format(status=status_label(who.status))
    html = (
        '<br><span style="font-size: large">'
        + f"<b>{escape(identity_line(who))}</b></span>"
        + f' — <span style="color: {colour}"><b>{escape(status)}</b></span>'
    )
    ins = who.transmitted_ins()
    if ins is not None:
        html += " — " + escape(
            _("INS ({kind}) {value}").format(kind=ins.kind.upper(), value=ins.grouped())
        )
    else:
        html += " — " + escape(_("sans INS transmis"))
    same = same_patient_threads(thread, others)
    if same:
        dates = ", ".join(day(t.case.bundle.case.created_at) for t in same[-4:])  # type: ignore[union-attr]
        html += "<br>" + escape(
            _("Même patient : {count} autre(s) demande(s) sur ce poste ({dates}).").format(
                count=len(same), dates=dates
            )
        )
    return html


def act_text(thread: CaseThread) -> str:
    """The act's fields the request carries: consent's date and the requester's RPPS."""
    case = thread.case.bundle.case
    if case is None:
        return ""
    parts = []
    if case.consent and case.consent_date is not None:
        parts.append(
            _("consentement recueilli le {date}").format(
                date=case.consent_date.strftime("%d/%m/%Y")
            )
        )
    if case.requester_rpps:
        parts.append(_("RPPS du demandeur {rpps}").format(rpps=case.requester_rpps))
    return " · ".join(parts)


def expert_rpps_html(opinion: Opinion) -> str:
    """`` (RPPS 10002345675)`` after the opinion's author, when the opinion carries it."""
    if not opinion.expert_rpps:
        return ""
    return " " + escape(_("(RPPS {rpps})").format(rpps=opinion.expert_rpps))
