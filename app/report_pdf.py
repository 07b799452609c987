"""The tele-expertise report's pages (reportlab), in the interface's language; no Qt.

:func:`layout` sets a request and its opinions on A4 pages: who made the report and how
(author, or copy), the patient (the identity when the request carries one, with its status;
else the unit's reference), the request, the photos with what was measured drawn over them
and listed under them, the documents' list, the opinions with what they advise, and the
act's fields when known. The photos, with the doctor's layers and the specialist's marks
drawn over them, are :mod:`app.report_photos`'. :func:`make_signed` turns it into the signed
PDF/A (:func:`cases.teleexpertise_report.make_report`), time-stamped when an authority is
given, as the app, ``Ctrl+P`` and ``passavant report make`` all do.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from app.i18n import _, language
from app.messages import answer_label, outcome_label, specialty_label
from app.report_photos import (
    PHOTO_WIDTH_PT,
    marks_lines,
    measurement_text,
    photo_facts,
    photo_flowable,
)
from cases.bundle import Party
from cases.marks import marks_for
from cases.pdfa import font_files
from cases.profile import UnlockedIdentity
from cases.teleexpertise_report import (
    AUTHOR,
    SignedOpinion,
    SignedReport,
    make_report,
    role_of,
)
from cases.threads import CaseThread
from cases.timestamp import TsaSettings

__all__ = ["PHOTO_WIDTH_PT", "layout", "make", "make_signed", "measurement_text", "photo_facts"]

REGULAR, BOLD = "Passavant-Regular", "Passavant-Bold"


def _day(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone().strftime("%d/%m/%Y %H:%M")
    return moment.strftime("%d/%m/%Y")


def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if REGULAR in pdfmetrics.getRegisteredFontNames():
        return
    fonts = font_files()
    pdfmetrics.registerFont(TTFont(REGULAR, str(fonts.regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(fonts.bold)))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD)


_covered: set[int] = set()


def printable(text: str) -> str:
    """``text`` with every character the fonts cannot draw (an emoji, a script DejaVu does
    not cover, a control character) replaced by U+FFFD: PDF/A forbids the .notdef glyph, so
    one such character would keep the whole report from being made."""
    if not _covered:
        from reportlab.pdfbase import pdfmetrics

        maps = [set(pdfmetrics.getFont(n).face.charToGlyph) for n in (REGULAR, BOLD)]
        _covered.update(maps[0] & maps[1])
    substitute = "\ufffd" if 0xFFFD in _covered else "?"
    return "".join(
        c if c == "\n" or (ord(c) in _covered and c.isprintable()) else substitute for c in text
    )


def _identity_lines(identity: Any) -> list[str]:
    lines = [
        _("Nom de naissance : {name}").format(name=identity.birth_name),
        _("Prénoms : {names}").format(names=identity.first_names),
    ]
    if identity.used_name:
        lines.append(_("Nom utilisé : {name}").format(name=identity.used_name))
    lines.append(
        _("Sexe : {sex} ; né(e) le {date}").format(
            sex=_sex(identity.sex), date=_day(identity.birth_date)
        )
    )
    if identity.birthplace:
        lines.append(_("Lieu de naissance (code) : {code}").format(code=identity.birthplace))
    lines.append(_("Statut de l’identité : {status}").format(status=_status(identity.status)))
    ins = identity.transmitted_ins()
    if ins is not None:
        lines.append(_("INS : {ins} (OID {oid})").format(ins=ins.grouped(), oid=ins.oid))
    return lines


def _status(code: str) -> str:
    try:
        from app.identity_text import status_label
    except ImportError:  # issue 19 §1 not there: the code as it is
        return code
    return status_label(code)


def _sex(code: str) -> str:
    try:
        from app.identity_text import sex_label
    except ImportError:
        return code
    return sex_label(code)


def _document_type(code: str) -> str:
    try:
        from app.document_texts import type_label
    except ImportError:  # issue 17 §1 not there: the code as it is
        return code
    return type_label(code)


def _act_lines(thread: CaseThread) -> list[str]:
    """The act's fields, when ``cases.acts`` (issue 19 §2) is there to give them."""
    try:
        from cases.acts import Act
    except ImportError:
        return []
    try:
        act = Act.of_thread(thread)
    except Exception:  # noqa: BLE001 - a colleague's module in progress: no act, not no report
        return []
    if act is None:
        return []
    lines = [
        _("Requérant : {name} (RPPS {rpps})").format(
            name=act.requester, rpps=act.requester_rpps or "—"
        ),
        _("Requis : {name} (RPPS {rpps})").format(name=act.expert, rpps=act.expert_rpps or "—"),
        _("Demande le {asked}, réponse le {answered}").format(
            asked=_day(act.requested_at), answered=_day(act.answered_at)
        ),
    ]
    if act.consent_date is not None:
        lines.append(_("Consentement recueilli le {date}").format(date=_day(act.consent_date)))
    codes = act.codes
    if codes is not None:
        lines.append(
            _("Actes : {codes}").format(
                codes=", ".join(str(v) for v in vars(codes).values() if isinstance(v, str))
            )
        )
    return lines


def layout(thread: CaseThread, made_by: UnlockedIdentity, role: str) -> bytes:
    """The report's pages as a PDF (reportlab, fonts embedded), not yet PDF/A nor signed."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer

    _register_fonts()
    case = thread.case.bundle.case
    assert case is not None
    body = ParagraphStyle("body", fontName=REGULAR, fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)
    bold = ParagraphStyle("bold", parent=body, fontName=BOLD)
    h1 = ParagraphStyle("h1", parent=body, fontName=BOLD, fontSize=15, leading=19, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontName=BOLD, fontSize=11.5, spaceBefore=9)

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(printable(text)).replace("\n", "<br/>"), style)

    def section(title: str, lines: Sequence[str]) -> list[Any]:
        return [para(title, h2), *(para(line) for line in lines)]

    story: list[Any] = [para(_("Compte rendu de télé-expertise"), h1)]
    me = made_by.info.display_name
    if role == AUTHOR:
        made = _("Établi et signé électroniquement par {name}, auteur de l’avis, le {date}.")
    else:
        made = _(
            "Copie établie et signée électroniquement par {name} le {date} ; l’avis est "
            "joint tel que son auteur l’a signé."
        )
    story.append(para(made.format(name=me, date=_day(datetime.now().astimezone())), small))

    identity = getattr(case, "identity", None)
    if identity is not None:
        story += section(_("Patient"), _identity_lines(identity))
    else:
        story += section(_("Patient"), [_("Patient {ref}").format(ref=case.patient_ref)])

    sender = thread.case.sender
    sent = thread.case.signed_at or case.created_at
    request = [
        _("Demande de {sender} ({organization}), signée le {date}.").format(
            sender=sender.display_name, organization=sender.organization, date=_day(sent)
        ),
        _("Spécialité : {specialty}").format(specialty=specialty_label(case.specialty)),
        _("Consentement du patient : {answer}").format(
            answer=_("oui") if case.consent else _("non")
        ),
    ]
    if case.urgent:
        request.append(_("Demande urgente"))
    story += section(_("Demande"), request)
    story += section(_("Résumé clinique"), [case.summary])
    if case.answers:
        story += section(
            _("Renseignements de la spécialité"),
            [
                _("{label} : {value}").format(label=answer_label(k), value=v)
                for k, v in case.answers
            ],
        )
    story += section(_("Traitements en cours"), [case.treatments or "—"])
    story += section(_("Question posée"), [case.question])

    if case.photos:
        story.append(para(_("Photos"), h2))
        for n, photo in enumerate(case.photos, 1):
            caption = _("Photo {n}").format(n=n)
            facts = photo_facts(photo)
            if facts:
                caption += " — " + _(" ; ").join(facts)
            authored = [
                (o.sender.display_name, marks_for(o.bundle.opinion.marks, photo.name))
                for o in thread.opinions
                if o.bundle.opinion is not None
            ]
            marks = [found for _author, found in authored if found]
            try:
                picture = [photo_flowable(photo, photo.data, marks, font=REGULAR, clean=printable)]
            except Exception:  # noqa: BLE001 - an unreadable photo is said, not fatal
                picture = [para(_("(photo illisible)"), small)]
            lines = [line for author, found in authored for line in marks_lines(author, found)]
            story.append(
                KeepTogether(
                    [
                        *picture,
                        para(caption, small),
                        *(para(line, small) for line in lines),
                        Spacer(1, 6),
                    ]
                )
            )

    documents = getattr(case, "documents", ())
    if documents:
        story += section(
            _("Documents joints à la demande"),
            [
                _("{title} — {kind}, {date}, {pages} page(s)").format(
                    title=d.title, kind=_document_type(d.kind), date=_day(d.date), pages=d.pages
                )
                for d in documents
            ],
        )

    story.append(para(_("Avis du spécialiste"), h2))
    for opened in thread.opinions:
        opinion = opened.bundle.opinion
        assert opinion is not None
        author = _("{name} ({organization}), signé le {date}").format(
            name=opened.sender.display_name,
            organization=opened.sender.organization,
            date=_day(opened.signed_at or opinion.created_at),
        )
        story.append(para(author, bold))
        lines = [opinion.text]
        if opinion.outcome:
            advice = outcome_label(opinion.outcome)
            if opinion.outcome == "refer" and opinion.refer_to:
                advice = _("{outcome} : {name}").format(
                    outcome=advice, name=opinion.refer_name or opinion.refer_to
                )
            lines.append(_("Conduite à tenir : {advice}").format(advice=advice))
        due = opinion.review_by()
        if due is not None:
            lines.append(
                _("À revoir dans {n} semaine(s), vers le {date}.").format(
                    n=opinion.review_weeks, date=due.astimezone().strftime("%d/%m/%Y")
                )
            )
        story += [para(line) for line in lines]
        story.append(Spacer(1, 4))

    act = _act_lines(thread)
    if act:
        story.append(KeepTogether(section(_("Acte de télé-expertise"), act)))

    story.append(Spacer(1, 10))
    story.append(
        para(
            _(
                "Document signé électroniquement (PAdES) ; les avis sont joints au fichier "
                "tels que leurs auteurs les ont signés. Confidentiel : secret médical."
            ),
            small,
        )
    )

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
        initialFontName=REGULAR,
        title=_("Compte rendu de télé-expertise"),
        author=me,
        subject=_("Compte rendu de télé-expertise"),
        creator="Passavant",
        lang="fr-FR" if language() == "fr" else "en",
    )
    footer_text = _("Compte rendu de télé-expertise — demande {id} — page {page}")

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(REGULAR, 7.5)
        canvas.drawString(
            2 * cm,
            1.1 * cm,
            footer_text.format(id=thread.case.bundle_id, page=document.page),
        )
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def signature_reason(me: UnlockedIdentity, role: str) -> str:
    if role == AUTHOR:
        return _("Auteur de l’avis : {name}").format(name=me.info.display_name)
    return _("Copie établie par {name}").format(name=me.info.display_name)


def make_signed(
    thread: CaseThread,
    me: UnlockedIdentity,
    opinions: Sequence[SignedOpinion],
    tsa: TsaSettings | None = None,
) -> SignedReport:
    """The signed PDF/A report of ``thread`` made by ``me`` (see the module's docstring),
    time-stamped by ``tsa`` when given and when it answers (its ``stamp`` says)."""
    role = role_of(me, thread)
    return make_report(
        me,
        thread,
        opinions,
        lambda r: layout(thread, me, r),
        reason=signature_reason(me, role),
        location=Party.of_certificate(me.certificate).organization,
        tsa=tsa,
    )


def make(thread: CaseThread, me: UnlockedIdentity, opinions: Sequence[SignedOpinion]) -> bytes:
    """The signed PDF/A report's bytes, without a time-stamp (PAdES B-B)."""
    return make_signed(thread, me, opinions).data
