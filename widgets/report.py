"""The printed report of a request and its opinions, for the patient's medical file.

Printing is the one way clinical content leaves Passavant in clear, on the person's explicit
request: the print dialog chooses the printer, and each printing is journalled (the bundle's
id, nothing clinical).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import date, datetime
from html import escape
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtPrintSupport import QPrintDialog, QPrinter, QPrinterInfo
from PySide6.QtWidgets import QDialog, QLabel, QPushButton, QWidget

from app.i18n import _
from app.session import Session
from app.tasks import BoundRunner
from cases.profile import UnlockedIdentity
from cases.threads import CaseThread
from widgets.caselist import in_red
from widgets.caseview import (
    opinions_html,
    sections_html,
    sections_of,
    title_html,
    withdrawn_text,
)
from widgets.documentprint import add_documents
from widgets.overlay import day_time
from widgets.photos import drawn_on, photo_facts, thumbnail

log = logging.getLogger(__name__)

REFUSED = (QPrinter.PrinterState.Error, QPrinter.PrinterState.Aborted)
"""A printer's states after a printing that did not happen."""

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
    if thread.withdrawal is not None:
        html.append(f"<p>{in_red(withdrawn_text(thread))}</p>")
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
    annex = add_documents(document, case.documents)  # the documents' pages (issue 17)
    document.setHtml(report_html(thread, others, printed_by, len(case.photos)) + annex)
    return document


def document_name(thread: CaseThread, today: date | None = None) -> str:
    """The report's name, as a print-to-PDF proposes it: the patient's reference (the unit's
    pseudonym) and the date, in characters every file system takes."""
    case = thread.case.bundle.case
    ref = case.patient_ref if case is not None else ""
    safe = re.sub(r"[^0-9A-Za-z_-]+", "-", ref).strip("-")[:40] or "demande"
    day = (today or date.today()).isoformat()
    return _("compte-rendu-{ref}-{date}").format(ref=safe, date=day)


def proposed_pdf(thread: CaseThread) -> Path:
    """Where a report printed to a file goes unless the person chooses otherwise: their
    documents folder, under :func:`document_name` (never ``print.pdf`` in the home folder)."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(folder or Path.home()) / (document_name(thread) + ".pdf")


class ReportPrinter:
    """Prints a workspace's reports, one at a time, off the GUI thread.

    The print dialog runs here; laying the report out (decoding and drawing its photos) and
    printing it run on the pool, so the window stays usable (a dozen 3000-pixel photos take
    about a second on a 2-core PC). Meanwhile ``button`` is disabled and ``notice`` says
    so; then it says the report was printed, or why it was not. Each printing is journalled.
    """

    def __init__(
        self,
        parent: QWidget,
        runner: BoundRunner,
        session: Session,
        me: UnlockedIdentity,
        button: QPushButton,
        notice: QLabel,
    ) -> None:
        self._parent, self._runner, self._session, self._me = parent, runner, session, me
        self._button, self._notice = button, notice
        self.busy = False

    def start(
        self, thread: CaseThread, others: Sequence[CaseThread], printer: QPrinter | None = None
    ) -> bool:
        """Print ``thread``'s report, asking for the printer unless ``printer`` is given;
        ``False`` when the person cancelled or a report is being printed already."""
        if self.busy:
            return False
        if printer is None:
            printer = QPrinter(QPrinter.PrinterMode.HighResolution)
            printer.setDocName(document_name(thread))
            if not QPrinterInfo.availablePrinterNames():  # a file is the only way out: named
                printer.setOutputFileName(str(proposed_pdf(thread)))
            dialog = QPrintDialog(printer, self._parent)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return False
        name, session, me = self._me.info.display_name, self._session, self._me
        bundle_id = thread.case.bundle_id
        chosen = printer

        def work() -> bool:
            if thread.opinions:  # answered: the signed report for the records, as it is filed
                from widgets.records import print_pdf, signed_report

                print_pdf(signed_report(session, me, thread), chosen)
            else:
                report_document(thread, others, name).print_(chosen)
            if chosen.printerState() in REFUSED:
                return False  # not printed: not journalled
            session.workstation.audit("report_printed", me, bundle_id=bundle_id)
            return True

        def done(printed: bool) -> None:
            refused = _("Le compte rendu n’a pas été imprimé : l’imprimante l’a refusé.")
            self._busy(False, _("Compte rendu imprimé.") if printed else refused)

        def failed(exc: BaseException) -> None:
            log.error("printing failed", exc_info=exc)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            self._busy(
                False, _("Le compte rendu n’a pas pu être imprimé : {reason}").format(reason=why)
            )

        self._busy(True, _("Impression du compte rendu…"))
        self._runner.run(work, done, failed)
        return True

    def _busy(self, busy: bool, sentence: str) -> None:
        self.busy = busy
        self._button.setEnabled(not busy)
        self._notice.setText(sentence)
