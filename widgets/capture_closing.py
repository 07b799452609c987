"""Closing the capture station: never a kept photo or document page lost without a word.

A mixin of :class:`widgets.capture.CaptureStation`. For a patient who has left the room, a
shot cannot be taken again: Fermer, Escape and the window's cross ask first when photos or
pages are kept and not in the request, and they go only on an explicit "Jeter". The question
hands over what it can and then closes: the confirmed photos, the pages as the document the
station's own "Joindre le document à la demande" makes, or both (Enter does that, or stays
when there is nothing to hand over; Escape stays). Closing stops the sources and the imports,
removes the demo video and wipes the watched folder's files of the photos deleted from the
strip, whose undo ends there.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog, QLabel, QMessageBox

from app.document_texts import type_label
from app.i18n import _
from app.tasks import BoundRunner
from capture.errors import CaptureError
from capture.folder import wipe
from capture.photo import KeptPhoto, Strip
from widgets.capture_pages import PagePane
from widgets.capture_sources import SourceBar

log = logging.getLogger(__name__)


class ClosingRules:
    """What Fermer, Escape and the window's cross do.

    Besides the attributes below, the station provides ``add_to_request()``,
    ``attach_document()``, ``say()``, ``_readiness()``, ``stop_source()``,
    ``_stop_imports()`` and ``_deleted_sources()``.
    """

    runner: BoundRunner
    strip: Strip
    pages: Strip
    page_pane: PagePane
    sources: SourceBar
    message: QLabel
    deleted: list[tuple[int, KeptPhoto]]
    close_prompt: QMessageBox | None
    _discard_agreed: bool
    _preparing: list[KeptPhoto]
    _making_document: bool
    _temp: Path | None

    def _kept_count(self) -> int:
        return len(self.strip) + len(self.pages)

    def _busy(self) -> bool:
        """Photos or a document are being handed over: the window stays until they are."""
        return bool(self._preparing) or self._making_document

    def reject(self) -> None:
        """Closing (Fermer, Escape, the window's cross) with photos or pages kept but not
        added asks first: for a patient who has left the room, a shot cannot be taken
        again."""
        if self._kept_count() == 0 or self._discard_agreed or self._busy():
            if not self._busy():  # never close while photos are being handed over
                super().reject()  # type: ignore[misc]
            return
        if self.close_prompt is None:
            self._ask_before_closing()

    def _ask_before_closing(self) -> None:
        count, pages = len(self.strip), len(self.pages)
        ready = sum(1 for p in self.strip if p.regions is not None and p.regions.confirmed)
        box = QMessageBox(self)  # type: ignore[call-overload]
        box.setIcon(QMessageBox.Icon.Warning)
        if count and pages:
            box.setWindowTitle(_("Photos et pages non ajoutées"))
        else:
            box.setWindowTitle(_("Pages non jointes") if pages else _("Photos non ajoutées"))
        lines = []
        if count:
            lines.append(_("{n} photo(s) prise(s) ne sont pas dans la demande.").format(n=count))
        if pages:
            lines.append(_("{n} page(s) de document ne sont pas dans la demande.").format(n=pages))
        lines.append(_("Une fois la fenêtre fermée, elles sont perdues."))
        box.setText(" ".join(lines))
        if pages:  # what Enter attaches, said before it does
            box.setInformativeText(self._document_described())
        add = None
        if pages and ready:
            handing = _("Ajouter les {n} photo(s) confirmée(s) et joindre le document")
        elif pages:
            handing = _("Joindre le document")
        else:
            handing = _("Ajouter les {n} photo(s) confirmée(s)")
        if pages or ready:
            add = box.addButton(handing.format(n=ready), QMessageBox.ButtonRole.AcceptRole)
        stay = box.addButton(_("Continuer la prise"), QMessageBox.ButtonRole.RejectRole)
        if count and pages:
            thrown = _("Jeter les {n} photo(s) et les {p} page(s)").format(n=count, p=pages)
        elif pages:
            thrown = _("Jeter les {n} page(s)").format(n=pages)
        else:
            thrown = _("Jeter les {n} photo(s)").format(n=count)
        discard = box.addButton(thrown, QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(add or stay)
        box.setEscapeButton(stay)

        def answered() -> None:
            self.close_prompt = None
            clicked = box.clickedButton()
            box.deleteLater()
            if clicked is discard:
                self._discard_agreed = True
                self.reject()
            elif add is not None and clicked is add:
                self._hand_over_then_close(photos=ready > 0)
            else:
                self.activateWindow()  # type: ignore[attr-defined]

        box.finished.connect(answered)
        self.close_prompt = box
        box.open()

    def _document_described(self) -> str:
        """The pages' document as the question's "Joindre" would attach it: the pane's type,
        date and title, which stay editable in the request (its "Modifier…")."""
        kind, when, title = self.page_pane.fields()
        text = _(
            "Le document sera joint ainsi : {type} — {date} — {title}. "
            "Vous pourrez le modifier dans la demande (« Modifier… »)."
        )
        return text.format(
            type=type_label(kind),
            date=when.strftime("%d/%m/%Y"),
            title=_("« {title} »").format(title=title) if title else _("sans titre"),
        )

    def _hand_over_then_close(self, *, photos: bool) -> None:
        """The question's "Joindre le document" or "Ajouter …": the pages become the
        document first (as the station's own button makes it), then the confirmed photos
        follow; the station closes once nothing is left in it. A document refused (a full
        request) stops there, its pages kept and the reason said; photos still to confirm
        keep the station open, and are named."""
        if len(self.pages) == 0:  # closes once the strip is empty
            self.add_to_request()  # type: ignore[attr-defined]
            return

        def after_document() -> None:
            if self._kept_count() == 0:
                self.accept()  # type: ignore[attr-defined]
            elif photos:  # closes once nothing is left
                self.add_to_request()  # type: ignore[attr-defined]
            else:
                waiting = self._readiness()[1]  # type: ignore[attr-defined]
                self.say(  # type: ignore[attr-defined]
                    "\n".join([self.message.text(), *waiting]),
                    problem=True,
                )

        self.attach_document(then=after_document)  # type: ignore[attr-defined]

    def done(self, result: int) -> None:
        """Stops the sources and the import, removes the demo video, and wipes the watched
        folder's files of the photos deleted from the strip (their undo ends), before
        closing."""
        self.stop_source()  # type: ignore[attr-defined]
        self._stop_imports()  # type: ignore[attr-defined]
        wiping = self.sources.wipe_folder_files()
        deleted = self._deleted_sources() if wiping else []  # type: ignore[attr-defined]
        self.deleted.clear()
        if deleted:
            self.runner.run(lambda: _wipe_quietly(deleted))
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None
        QDialog.done(self, result)  # type: ignore[arg-type]

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._kept_count() and not self._discard_agreed:
            event.ignore()  # the cross asks as Fermer does; the source goes on meanwhile
            self.reject()
            return
        self.stop_source()  # type: ignore[attr-defined]
        QDialog.closeEvent(self, event)  # type: ignore[arg-type]


def _wipe_quietly(paths: list[Path]) -> None:
    """Wipes ``paths`` once nobody is left to tell: a file that resists is logged."""
    for path in paths:
        try:
            wipe(path)
        except CaptureError as exc:
            log.warning("a deleted photo's file could not be wiped: %s", exc)
