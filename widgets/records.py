"""The signed tele-expertise report (PDF/A) saved for the records, and printed.

:class:`RecordsReport` writes the report of an answered request where the person chooses:
a file dialog, or, when the workstation has one configured, the drop folder of the
hospital's record system (``reports.ini``, ``records/drop_folder``: the file goes there
with a neutral name, never over another). When ``reports.ini`` names a time-stamp authority
(``[timestamp]``, ``url``: :mod:`cases.timestamp`), the signature is time-stamped (PAdES
B-T); when the authority gives none, the report is written signed all the same and the
notice says the time-stamp is missing. Making it (decrypting the signed opinions, laying
out the photos, signing, asking the authority) runs on the pool; only the dialog runs on
the GUI thread. Each report written is journalled (``report_made``: the request's id, the
size, who made it and where, whether it is time-stamped, as codes).

:func:`print_pdf` prints those same pages (``Ctrl+P`` on an answered request,
``widgets.report``): what goes on paper is what is filed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QFileDialog, QLabel, QPushButton, QWidget

from app.i18n import _
from app.messages import error_reason
from app.report_text import stamp_text
from app.session import Session
from app.tasks import BoundRunner
from cases.profile import UnlockedIdentity
from cases.teleexpertise_report import (
    SignedReport,
    role_of,
    sealed_reader,
    signed_opinions,
    write_new,
)
from cases.threads import CaseThread
from cases.timestamp import Stamp, tsa_settings

log = logging.getLogger(__name__)

PRINT_DPI = 200
"""Pages are rendered for the printer at this resolution (sharp text, photos at 8 cm)."""


def signed_report(session: Session, me: UnlockedIdentity, thread: CaseThread) -> bytes:
    """The signed PDF/A report of ``thread`` made by ``me`` (blocking: a worker thread),
    not time-stamped: what is printed (paper carries no signature)."""
    from app.report_pdf import make

    opinions = signed_opinions(sealed_reader(session.workstation), me, thread)
    return make(thread, me, opinions)


def stamped_report(session: Session, me: UnlockedIdentity, thread: CaseThread) -> SignedReport:
    """The signed PDF/A report, time-stamped by the workstation's authority when one is
    configured (blocking: a worker thread; the authority may take its time limit)."""
    from app.report_pdf import make_signed

    try:
        tsa = tsa_settings(session.profile.root)
    except ValueError as exc:  # misconfigured: signed all the same, and said
        log.warning("the time-stamp authority's settings are unusable: %s", exc)
        made = make_signed(
            thread, me, signed_opinions(sealed_reader(session.workstation), me, thread)
        )
        return SignedReport(made.data, Stamp(asked=True, problem="tsa_settings"))
    opinions = signed_opinions(sealed_reader(session.workstation), me, thread)
    return make_signed(thread, me, opinions, tsa)


def drop_folder(session: Session) -> Path | None:
    """The record system's drop folder configured for this workstation, if it exists."""
    settings = QSettings(str(session.profile.root / "reports.ini"), QSettings.Format.IniFormat)
    value = settings.value("records/drop_folder", "")
    if not isinstance(value, str) or not value.strip():
        return None
    folder = Path(value).expanduser()
    return folder if folder.is_dir() else None


def default_name(thread: CaseThread) -> str:
    """``compte-rendu-2026-12-07-1a2b3c4d.pdf``: the day and the request's id, no name."""
    day = datetime.now().astimezone().strftime("%Y-%m-%d")
    return f"compte-rendu-{day}-{thread.case.bundle_id[:8]}.pdf"


def print_pdf(data: bytes, printer: QPrinter) -> None:
    """Print the PDF's pages on ``printer``, each fitted to its page (pypdfium2 renders)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    printer.setFullPage(True)  # the report has its own margins: page on paper, as filed
    painter = QPainter()
    if not painter.begin(printer):  # refused: the printer's state says so to the caller
        document.close()
        return
    try:
        for n in range(len(document)):
            if n:
                printer.newPage()
            page = document[n]
            bitmap = page.render(scale=PRINT_DPI / 72)
            image = bitmap.to_pil().convert("RGB")
            raw = image.tobytes()
            picture = QImage(
                raw, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888
            )
            area = painter.viewport()
            size = picture.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            painter.setViewport(area.x(), area.y(), size.width(), size.height())
            painter.setWindow(picture.rect())
            painter.drawImage(0, 0, picture)
            painter.setViewport(area)
    finally:
        painter.end()
        document.close()


class RecordsReport:
    """Saves a workspace's reports for the records, one at a time, off the GUI thread.

    ``button`` waits while a report is made; ``notice`` says where it was written, or why
    it was not.
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

    def start(self, thread: CaseThread, path: Path | None = None) -> bool:
        """Make and write ``thread``'s report, to ``path`` or where the person chooses;
        ``False`` when cancelled, not answered yet, or a report is being made already."""
        if self.busy or not thread.opinions:
            return False
        where = "file"
        if path is None:
            folder = drop_folder(self._session)
            if folder is not None:
                path, where = folder / default_name(thread), "drop_folder"
            else:
                chosen, _filter = QFileDialog.getSaveFileName(
                    self._parent,
                    _("Enregistrer le compte rendu signé"),
                    str(Path.home() / default_name(thread)),
                    _("Compte rendu PDF/A (*.pdf)"),
                )
                if not chosen:
                    return False
                path = Path(chosen)
        session, me, target = self._session, self._me, path

        def work() -> tuple[Path, Stamp]:
            made = stamped_report(session, me, thread)
            written = write_new(target, made.data, replace=where == "file")
            session.workstation.audit(
                "report_made",
                me,
                bundle_id=thread.case.bundle_id,
                size=len(made.data),
                role=role_of(me, thread),
                format="pdfa-3b",
                code=where,
                status=made.stamp.status,
            )
            return written, made.stamp

        def done(result: tuple[Path, Stamp]) -> None:
            written, stamp = result
            sentence = _("Compte rendu signé enregistré : {path}").format(path=written)
            self._busy(False, "\n".join(x for x in (sentence, stamp_text(stamp)) if x))

        def failed(exc: BaseException) -> None:
            self._busy(
                False,
                _("Le compte rendu n’a pas été enregistré : {reason}").format(
                    reason=error_reason(exc)
                    if hasattr(exc, "code")
                    else (exc.strerror if isinstance(exc, OSError) else type(exc).__name__)
                ),
            )

        self._busy(True, _("Préparation du compte rendu signé…"))
        self._runner.run(work, done, failed)
        return True

    def _busy(self, busy: bool, sentence: str) -> None:
        self.busy = busy
        self._button.setEnabled(not busy)
        self._notice.setText(sentence)
