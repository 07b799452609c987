"""A read-only view of a case and its opinions, shared by the doctor and the specialist."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import (
    answer_label,
    body_site_label,
    job_state_label,
    outcome_label,
    specialty_label,
    withdrawal_label,
)
from cases.followup import change, followed, history
from cases.model import Case, Opinion
from cases.threads import CaseThread
from outbox.platform import DirectoryEntry
from widgets.caselist import URGENT, answer_due, follows_text, in_red
from widgets.clipplayer import ClipShelf
from widgets.directorytext import rpps_disagreements
from widgets.documentview import DocumentShelf
from widgets.identityview import act_text, expert_rpps_html, identity_html
from widgets.overlay import day, day_time, number, signed_percent
from widgets.photos import PhotoStrip, marks_html, photo_facts, viewer_context


class CaseView(QWidget):
    """Shows one :class:`CaseThread`: the request, its photos, then the opinions.

    Signals:
        print_requested: the reader asked to print the report (the button, or Ctrl+P).
        records_requested: the reader asked for the signed PDF/A report (an answered
            request: :attr:`records_button`).
        withdraw_requested: the author asked to withdraw the request (the button, shown
            only where the workspace allows it: :attr:`withdraw_button`).
    """

    print_requested = Signal()
    withdraw_requested = Signal()
    records_requested = Signal()  # the signed PDF/A report, for the records (widgets.records)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case_id: str | None = None
        # the platform's directory, to say when it lists another RPPS than a signer's
        self.directory: Sequence[DirectoryEntry] = ()
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)  # a long header must not widen the window
        self.print_button = QPushButton(_("Imprimer…"))
        self.print_button.setToolTip(
            _("Ctrl+P — le compte rendu de la demande et des avis, pour le dossier du patient")
        )
        self.print_button.clicked.connect(self.print_requested)
        self.records_button = QPushButton(_("Compte rendu PDF…"))
        self.records_button.setToolTip(
            _("Le compte rendu signé (PDF/A), à classer dans le dossier du patient")
        )
        self.records_button.clicked.connect(self.records_requested)
        self.records_button.hide()  # an answered request only
        self.withdraw_button = QPushButton(_("Retirer la demande…"))
        self.withdraw_button.setToolTip(
            _(
                "Le spécialiste est prévenu et n’a plus à répondre (patient libéré ou "
                "transféré, consentement retiré, demande sans objet ou envoyée par erreur)"
            )
        )
        self.withdraw_button.clicked.connect(self.withdraw_requested)
        self.withdraw_button.hide()
        QShortcut(QKeySequence.StandardKey.Print, self, self.print_requested.emit)
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.photos = PhotoStrip()
        self.opinions = QTextBrowser()
        self.opinions.setAccessibleName(_("Avis"))
        self.photos_part = photos = QWidget()
        photos_layout = QVBoxLayout(photos)
        photos_layout.setContentsMargins(0, 0, 0, 0)
        photos_title = QHBoxLayout()
        photos_title.addWidget(QLabel(_("Photos (double-clic pour agrandir)")), 1)
        photos_title.addWidget(self.photos.earlier_button)  # the lesion's earlier photos
        photos_layout.addLayout(photos_title)
        photos_layout.addWidget(self.photos)
        self.opinions_part = opinions = QWidget()
        opinions_layout = QVBoxLayout(opinions)
        opinions_layout.setContentsMargins(0, 0, 0, 0)
        opinions_layout.addWidget(QLabel(_("Avis du spécialiste")))
        opinions_layout.addWidget(self.opinions)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        for part in (self.text, photos, opinions):
            self.splitter.addWidget(part)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(2, 1)
        # nothing shown yet: no empty strip or opinions part asking for room (a window
        # opened on an empty list must fit a 1280×720 screen)
        photos.hide()
        opinions.hide()
        self.documents = DocumentShelf()  # exam results, tracings, letters (issue 17)
        self.documents.hide()
        self.splitter.insertWidget(2, self.documents)
        self.clips = ClipShelf()  # short videos, played in the app (issue 17 §2)
        self.clips.hide()
        self.splitter.insertWidget(3, self.clips)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.withdraw_button, alignment=Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.records_button, alignment=Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.print_button, alignment=Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        layout.addWidget(self.splitter)

    def show_thread(self, thread: CaseThread, others: Sequence[CaseThread] = ()) -> None:
        """Shows ``thread``; ``others`` (the other cases this person can open) give the
        follow-up of the lesions measured in it.

        Showing the case already shown (the lists refresh when the queue or the inbox moves)
        keeps where the reader was: the texts' scroll positions, and the photo viewer open.
        """
        bars = (self.text.verticalScrollBar(), self.opinions.verticalScrollBar())
        kept = [bar.value() for bar in bars] if thread.case_id == self.case_id else None
        self.case_id = thread.case_id
        case = thread.case.bundle.case
        assert case is not None
        manifest = thread.case.bundle.manifest
        to = ", ".join(
            r.display_name
            for r in manifest.recipients
            if r.fingerprint != manifest.sender.fingerprint
        )
        status = ""
        if thread.job is not None:
            status = " — " + job_state_label(thread.job.state)
        self.header.setText(
            title_html(case)
            + identity_html(thread, others)  # the patient's identity, prominent (issue 19)
            + "<br>"
            + escape(
                _("De {sender} à {to}, le {date}").format(
                    sender=manifest.sender.display_name,
                    to=to,
                    date=day_time(case.created_at),
                )
            )
            + escape(status)
            + due_html(thread)
        )
        differ = rpps_disagreements(thread, self.directory)  # said first; the signed one wins
        self.text.setHtml(
            "".join(f"<p>{in_red(text)}</p>" for text in differ)
            + sections_html(sections_of(thread, others))
        )
        self.photos.set_photos(list(case.photos))
        self.photos.set_context(*viewer_context(thread, others))  # earlier photos, marks
        self.photos_part.setVisible(bool(case.photos))  # no empty strip taking the room
        self.documents.set_documents(case.documents, case.photos)
        self.clips.set_clips(case.clips)
        if thread.opinions:
            self.opinions.setHtml(opinions_html(thread))
        else:
            self.opinions.clear()
        self.opinions_part.setVisible(bool(thread.opinions))  # the list says "awaited"
        self.records_button.setVisible(bool(thread.opinions))
        if kept is not None:
            for bar, value in zip(bars, kept, strict=True):
                bar.setValue(value)

    def clear(self) -> None:
        """Show nothing (the request shown was erased from this workstation)."""
        self.case_id = None
        self.header.clear()
        self.text.clear()
        self.opinions.clear()
        self.photos.set_photos([])
        self.documents.set_documents((), ())
        self.clips.set_clips(())
        buttons = (self.withdraw_button, self.records_button)
        for part in (self.photos_part, self.opinions_part, *buttons):
            part.hide()


def due_html(thread: CaseThread) -> str:
    """For a request still without an answer, the day the answer is due, in red once past;
    for a request withdrawn, that it was and why."""
    if thread.withdrawal is not None:
        return " — " + in_red(withdrawn_text(thread))
    due = answer_due(thread)
    if due is None:
        return ""
    date, late = due
    if late:
        return " — " + in_red(_("délai de réponse dépassé ({date})").format(date=date))
    return " — " + escape(_("réponse attendue d’ici le {date}").format(date=date))


def withdrawn_text(thread: CaseThread) -> str:
    """``Demande retirée : patient libéré ou transféré``."""
    assert thread.withdrawal is not None
    reason = withdrawal_label(thread.withdrawal.bundle.withdrawal or "")
    return _("Demande retirée : {reason}").format(reason=reason)


def title_html(case: Case) -> str:
    """The patient, the specialty, and "urgent" in red when the request is."""
    urgent = ""
    if case.urgent:
        urgent = " — " + in_red(_("Demande urgente"))
    return (
        "<b>"
        + escape(_("Patient {ref}").format(ref=case.patient_ref))
        + "</b> — "
        + escape(specialty_label(case.specialty))
        + urgent
    )


def sections_of(thread: CaseThread, others: Sequence[CaseThread] = ()) -> list[tuple[str, str]]:
    """The request of ``thread`` as titled plain-text sections, in reading order; ``others``
    give the earlier request it follows and the lesion's follow-up."""
    case = thread.case.bundle.case
    assert case is not None
    consent = _("oui") if case.consent else _("non")
    sections = [
        (_("Consentement du patient"), " — ".join(filter(None, (consent, act_text(thread))))),
        (_("Résumé clinique"), case.summary),
    ]
    if case.answers:
        sections.append(
            (
                _("Renseignements de la spécialité"),
                "\n".join(
                    _("{label} : {value}").format(label=answer_label(key), value=value)
                    for key, value in case.answers
                ),
            )
        )
    sections += [
        (_("Traitements en cours"), case.treatments or "—"),
        (_("Question posée"), case.question),
    ]
    if case.follows is not None:  # what was asked and answered before, at hand
        sections.append((_("Demande précédente"), earlier_text(case, others)))
    described = [
        _("Photo {n} — {facts}").format(n=n, facts=_(" ; ").join(facts))
        for n, facts in enumerate((photo_facts(p) for p in case.photos), 1)
        if facts
    ]
    if described:
        sections.append((_("Photos"), "\n".join(described)))
    if case.documents:
        from widgets.documents import describe

        sections.append((_("Documents joints"), "\n".join(describe(d) for d in case.documents)))
    earlier = [t.case.bundle.case for t in others if t.case.bundle.case is not None]
    trend = followup_lines(case, earlier)
    if trend:
        sections.append((_("Suivi de la lésion"), "\n".join(trend)))
    return sections


def sections_html(sections: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f"<h3>{escape(title)}</h3><p>{escape(body).replace(chr(10), '<br>')}</p>"
        for title, body in sections
    )


def opinions_html(thread: CaseThread) -> str:
    """The opinions on ``thread``: author, date, text, and what each advises."""
    parts = []
    for opened in thread.opinions:
        opinion = opened.bundle.opinion
        assert opinion is not None
        when = day_time(opinion.created_at)
        parts.append(
            f"<p><b>{escape(opened.sender.display_name)}</b>{expert_rpps_html(opinion)}"
            f" — {escape(when)}</p>"
            f"<p>{escape(opinion.text).replace(chr(10), '<br>')}</p>"
            + advice_html(opinion)
            + marks_html(opinion)  # what the specialist drew on the photos
        )
    return "<hr>".join(parts)


def advice_html(opinion: Opinion) -> str:
    """What ``opinion`` advises the unit to do and when to look again, as HTML paragraphs
    (an urgent transfer in red); empty for an opinion that says neither."""
    html = ""
    if opinion.outcome:
        label = escape(outcome_label(opinion.outcome))
        if opinion.outcome == "refer" and opinion.refer_to:
            label = escape(
                _("{outcome} : {name}").format(
                    outcome=outcome_label(opinion.outcome),
                    name=opinion.refer_name or opinion.refer_to,
                )
            )
        if opinion.outcome == "urgent_transfer":
            label = f'<span style="color: {URGENT}">{label}</span>'
        html += f"<p><b>{escape(_('Conduite à tenir :'))}</b> {label}</p>"
    due = opinion.review_by()
    if due is not None:
        html += (
            "<p>"
            + escape(
                _("À revoir dans {n} semaine(s), vers le {date}.").format(
                    n=opinion.review_weeks, date=day(due)
                )
            )
            + "</p>"
        )
    return html


def earlier_text(case: Case, others: Sequence[CaseThread]) -> str:
    """The earlier request that ``case`` follows up: its date, question and answers, so the
    reader has them at hand; or why they are not."""
    thread = followed(case, others)
    if thread is None:
        return _("Cette demande fait suite à une demande antérieure, absente de ce poste.")
    earlier = thread.case.bundle.case
    assert earlier is not None
    lines = [
        follows_text(thread),
        _("Question posée : {question}").format(question=earlier.question),
    ]
    for opened in thread.opinions:
        opinion = opened.bundle.opinion
        assert opinion is not None
        lines.append(
            _("Avis de {name} le {date} : {text}").format(
                name=opened.sender.display_name,
                date=day(opinion.created_at),
                text=opinion.text,
            )
        )
        if opinion.outcome:
            lines.append(
                _("Conduite à tenir : {outcome}.").format(outcome=outcome_label(opinion.outcome))
            )
    if not thread.opinions:
        lines.append(_("Pas encore d’avis."))
    return "\n".join(lines)


def followup_lines(case: Case, others: Sequence[Case]) -> list[str]:
    """A sentence per body site measured in ``case`` and in other requests of the same
    patient: the calibrated sizes in date order, and the change since the first.

    The area of the wound's outline is followed when there are two to compare; else its
    greatest length.
    """
    lines = []
    for site, sizes in history(case, others).items():
        areas = [(s, s.area_cm2) for s in sizes if s.area_cm2 is not None]
        lengths = [(s, s.length_mm) for s in sizes if s.length_mm is not None]
        if len(areas) > 1:
            series, unit, what = areas, _("cm²"), _("surface")
        elif len(lengths) > 1:
            series, unit, what = lengths, _("mm"), _("longueur")
        else:
            continue
        steps = []
        for size, value in series:
            text = _("{date} : {value} {unit}").format(
                date=day(size.when), value=number(value), unit=unit
            )
            if size.case_id == case.case_id:
                text += " " + _("(cette demande)")
            steps.append(text)
        first, last = series[0][1], series[-1][1]
        ratio = change(first, last)
        summary = ""
        if ratio is not None:
            summary = " — " + _("{what} {change} depuis le {date}").format(
                what=what,
                change=signed_percent(ratio),
                date=day(series[0][0].when),
            )
        lines.append(
            _("{site} : {steps}{summary}").format(
                site=body_site_label(site), steps=" → ".join(steps), summary=summary
            )
        )
    return lines
