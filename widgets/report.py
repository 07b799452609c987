"""The printed report of a request and its opinions, for the patient's medical file.

Printing is the one way clinical content leaves Passavant in clear, on the person's explicit
request: the print dialog chooses the printer, and each printing is journalled (the bundle's
id, nothing clinical).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from PySide6.QtCore import QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import QDialog, QWidget

from app.i18n import _
from app.session import Session
from cases.profile import UnlockedIdentity
from cases.workstation import CaseThread
from widgets.caseview import opinions_html, sections_html, sections_of, title_html
from widgets.overlay import day_time
from widgets.photos import drawn_on, photo_facts, thumbnail

PHOTO_PX = 1000
"""The long edge of a printed photo's picture, in pixels: about 300 dpi at its printed size."""

PRINTED_WIDTH = 300
"""A photo's width in the report's layout (about 8 cm on paper): two photos a row."""


def report_html(
    thread: CaseThread, others: Sequence[CaseThread], printed_by: str, photos: int
) -> str:
    """The report as HTML; ``photos`` pictures are named ``photo-1``, ``photo-2``…"""
    case = thread.case.bundle.case
    assert case is not None
    manifest = thread.case.bundle.manifest
    to = ", ".join(r.display_name for r in manifest.recipients if r.role == "specialist")
    sent = (thread.case.signed_at or case.created_at).astimezone()
    html = [
        f"<h2>{escape(_('Compte rendu de télé-expertise'))}</h2>",
        "<p>"
        + title_html(case)
        + "<br>"
        + escape(
            _("Demande de {sender} ({organization}) à {to}, signée le {date}.").format(
                sender=thread.case.sender.display_name,
                organization=thread.case.sender.organization,
                to=to or "—",
                date=day_time(sent),
            )
        )
        + "</p>",
        # the photos' facts are printed under their pictures, below
        sections_html(
            [s for s in sections_of(thread, others) if not photos or s[0] != _("Photos")]
        ),
    ]
    if photos:
        cells = []
        for n, photo in enumerate(case.photos[:photos], 1):
            caption = _("Photo {n}").format(n=n)
            facts = photo_facts(photo)
            if facts:
                caption += " — " + _(" ; ").join(facts)
            cells.append(
                f'<td style="padding: 4px"><img src="photo-{n}" width="{PRINTED_WIDTH}"><br>'
                f"<small>{escape(caption)}</small></td>"
            )
        rows = ["<tr>" + "".join(cells[i : i + 2]) + "</tr>" for i in range(0, len(cells), 2)]
        html.append(f"<h3>{escape(_('Photos'))}</h3><table>{''.join(rows)}</table>")
    html.append(f"<h3>{escape(_('Avis du spécialiste'))}</h3>")
    html.append(opinions_html(thread) if thread.opinions else escape(_("Pas encore d’avis.")))
    html.append(
        "<hr><p><small>"
        + escape(
            _(
                "Documents signés électroniquement ; signatures et certificats vérifiés par "
                "Passavant à l’ouverture. Imprimé par {name} le {date}. Confidentiel : "
                "secret médical."
            ).format(name=printed_by, date=day_time(datetime.now().astimezone()))
        )
        + "</small></p>"
    )
    return "".join(html)


def report_document(
    thread: CaseThread, others: Sequence[CaseThread], printed_by: str
) -> QTextDocument:
    """The report, its photos' pictures included (with their measurements and annotations
    drawn as shapes, their values in the captions), ready to print."""
    case = thread.case.bundle.case
    assert case is not None
    document = QTextDocument()
    for n, photo in enumerate(case.photos, 1):
        document.addResource(
            QTextDocument.ResourceType.ImageResource,
            QUrl(f"photo-{n}"),
            drawn_on(thumbnail(photo, PHOTO_PX), photo),
        )
    document.setHtml(report_html(thread, others, printed_by, len(case.photos)))
    return document


def print_case(
    parent: QWidget,
    session: Session,
    me: UnlockedIdentity,
    thread: CaseThread,
    others: Sequence[CaseThread],
    printer: QPrinter | None = None,
) -> str:
    """Print ``thread``'s report, asking for the printer unless ``printer`` is given; returns
    the sentence for the notice line, empty when the person cancelled."""
    if printer is None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return ""
    report_document(thread, others, me.info.display_name).print_(printer)
    session.workstation.audit("report_printed", me, bundle_id=thread.case.bundle_id)
    return _("Compte rendu imprimé.")
