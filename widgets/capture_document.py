"""The capture station's document mode (issue 17 §1): photographing a paper result, page by
page, to join the request's documents.

A mixin of :class:`widgets.capture.CaptureStation`. In document mode a shot (Space, the
pedal, "Capturer une page") is a *page*: no face is sought and nothing is blurred, so the
mode says so wherever the doctor looks (a warning beside the mode switch and above the
page). The kind of a shot is decided when it is taken: a shot taken in photo mode stays a
photo (faces proposed, blurring to confirm) whatever mode the station is in later, and a
page never becomes a photo; files imported or dropped in the watched folder are always
photos. The pages, in the order of their strip, become one document
(:func:`capture.documents.pages_document`: a JPEG, or a PDF of several pages) with the type,
date and title set in the pane, and join the form's documents as an attached file does
(:meth:`widgets.documents.DocumentList.add_prepared`), only on "Joindre le document à la
demande" (or Ctrl+Entrée in document mode).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
)

from app.document_texts import refusal
from app.i18n import _
from app.tasks import BoundRunner
from capture.documents import MAX_PAGES, PreparedDocument, pages_document
from capture.loading import LoadedImage
from capture.photo import KeptPhoto, Strip
from capture.quality import Quality
from capture.regions import Image
from widgets.capture_pages import DISPLAY_EDGE, PagePane, page_label
from widgets.capture_strip import KeptStrip, thumbnail
from widgets.documents import DocumentList

PHOTO, DOCUMENT = "photo", "document"


def page_copies(image: LoadedImage) -> tuple[Image, Image]:
    """The strip's thumbnail and the pane's display copy of a page (worker thread)."""
    pixels = image.pixels(DISPLAY_EDGE)
    return thumbnail(pixels), pixels


class DocumentMode:
    """The mode switch, the strip of pages and the hand-over of the document they make.

    Besides the attributes below, the station provides ``say()``, ``_failed()``, the photo
    strip's buttons and the mode's widgets built in its layout.
    """

    runner: BoundRunner
    strip: Strip
    kept: KeptStrip
    progress: QProgressBar
    progress_label: QLabel
    capture_button: QPushButton
    retake_button: QPushButton
    add_button: QPushButton
    photo_mode_button: QPushButton
    document_mode_button: QPushButton
    mode_warning: QLabel
    strip_title: QLabel
    strips: QStackedWidget
    panes: QStackedWidget
    documents: DocumentList | None

    def _init_document_mode(self, documents: DocumentList | None) -> None:
        self.documents = documents
        self.mode = PHOTO
        self.pages = Strip()
        self.page_strip = KeptStrip(label=page_label, name=_("Pages du document"))
        self.page_pane = PagePane()
        self.page_copies: dict[str, Image] = {}
        self.deleted_pages: list[tuple[int, KeptPhoto]] = []
        self._making_document = False

    def _connect_document_mode(self) -> None:
        self.photo_mode_button.clicked.connect(lambda: self.set_mode(PHOTO))
        self.document_mode_button.clicked.connect(lambda: self.set_mode(DOCUMENT))
        self.page_strip.photo_selected.connect(lambda _id: self._show_page())

    # --- the mode -----------------------------------------------------------------------
    def toggle_mode(self) -> None:
        """Ctrl+D: photo mode ⇄ document mode."""
        self.set_mode(DOCUMENT if self.mode == PHOTO else PHOTO)

    def set_mode(self, mode: str) -> None:
        """Switches to ``mode``; what was taken stays what it was (see the module)."""
        if mode == DOCUMENT and self.documents is None:
            mode = PHOTO  # the station was opened without a request's documents
        self.mode = mode
        document = mode == DOCUMENT
        self.photo_mode_button.setChecked(not document)
        self.document_mode_button.setChecked(document)
        self.mode_warning.setVisible(document)
        self.retake_button.setChecked(False)
        self.retake_button.setVisible(not document)
        self.capture_button.setText(
            _("Capturer une page (Espace)") if document else _("Capturer (Espace)")
        )
        self.add_button.setText(
            _("Joindre le document à la demande") if document else _("Ajouter à la demande")
        )
        self.add_button.setToolTip(
            _("Ctrl+Entrée : les pages, dans l’ordre, en un document")
            if document
            else _("Ctrl+Entrée")
        )
        self.strip_title.setText(
            "<b>" + (_("Pages du document") if document else _("Photos gardées")) + "</b>"
        )
        self.strips.setCurrentWidget(self.page_strip if document else self.kept)
        undo = self.deleted_pages if document else self.deleted  # type: ignore[attr-defined]
        self.undo_button.setEnabled(bool(undo))  # type: ignore[attr-defined]
        self.panes.setCurrentWidget(self.page_pane if document else self.panel)  # type: ignore[attr-defined]
        self._show_page()
        self.say(  # type: ignore[attr-defined]
            _("Mode document : les pages ne sont pas floutées.") if document else ""
        )

    # --- pages --------------------------------------------------------------------------
    def keep_page(self, image: LoadedImage, quality: Quality | None = None) -> KeptPhoto | None:
        """Adds a page to the document being photographed (no face sought); ``None`` when
        the document already has :data:`capture.documents.MAX_PAGES` pages."""
        if len(self.pages) >= MAX_PAGES:
            self.say(  # type: ignore[attr-defined]
                _("Au plus {n} pages par document : joignez celui-ci, puis continuez.").format(
                    n=MAX_PAGES
                ),
                problem=True,
            )
            return None
        page = KeptPhoto(original=image, quality=quality)
        self.pages.add(page)

        def done(copies: tuple[Image, Image]) -> None:
            if page.id not in {p.id for p in self.pages}:
                return  # deleted meanwhile
            self.page_strip.thumbs[page.id], self.page_copies[page.id] = copies
            self.refresh_pages(select=page.id)

        self.runner.run(lambda: page_copies(image), done, self._failed)  # type: ignore[attr-defined]
        self.refresh_pages(select=page.id)
        return page

    def selected_page(self) -> KeptPhoto | None:
        page_id = self.page_strip.current_id()
        if page_id is None:
            return None
        try:
            return self.pages[self.pages.index(page_id)]
        except KeyError:
            return None

    def refresh_pages(self, select: str | None = None) -> None:
        self.page_strip.show_strip(self.pages, select)
        self._show_page()
        if self.mode == DOCUMENT:
            self.undo_button.setEnabled(bool(self.deleted_pages))  # type: ignore[attr-defined]

    def _show_page(self) -> None:
        page = self.selected_page()
        number = self.pages.index(page.id) + 1 if page is not None else 0
        pixels = self.page_copies.get(page.id) if page is not None else None
        self.page_pane.show_pages(len(self.pages), number, pixels)

    def _forget_page(self, page_id: str) -> None:
        self.page_strip.thumbs.pop(page_id, None)
        self.page_copies.pop(page_id, None)

    def move_page(self, step: int) -> None:
        page = self.selected_page()
        if page is None:
            return
        if step < 0:
            self.pages.move_up(page.id)
        else:
            self.pages.move_down(page.id)
        self.refresh_pages(select=page.id)

    def delete_page(self) -> None:
        page = self.selected_page()
        if page is None or self._making_document:
            return
        self.deleted_pages.append(self.pages.delete(page.id))
        self.refresh_pages()
        self.say(_("Page supprimée (Ctrl+Z pour annuler)."))  # type: ignore[attr-defined]

    def undo_delete_page(self) -> None:
        if not self.deleted_pages:
            return
        index, page = self.deleted_pages.pop()
        self.pages.insert(index, page)
        self.refresh_pages(select=page.id)
        self.say("")  # type: ignore[attr-defined]

    # --- the hand-over ------------------------------------------------------------------
    def attach_document(self, then: Callable[[], None] | None = None) -> None:
        """Makes one document of the pages, in order, with the pane's type, date and title,
        in the background, and adds it to the request's documents; ``then`` runs once it is
        there (not when it was refused: the pages stay, and the reason is said)."""
        target = self.documents
        if self._making_document or target is None:
            return
        pages = list(self.pages)
        if not pages:
            self.say(_("Aucune page : capturez le document (Espace)."), problem=True)  # type: ignore[attr-defined]
            return
        problem = target.room_for(0)  # the count now; the size once the document is made
        if problem:
            self.say(problem, problem=True)  # type: ignore[attr-defined]
            return
        kind, when, title = self.page_pane.fields()
        originals = [p.original for p in pages if p.original is not None]
        self._making_document = True
        self.add_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.progress_label.setText(
            _("Préparation du document ({n} page(s))…").format(n=len(pages))
        )

        def done(prepared: PreparedDocument) -> None:
            self._document_made()
            problem = target.add_prepared(prepared, kind=kind, when=when, title=title)
            if problem:
                self.say(problem, problem=True)  # type: ignore[attr-defined]
                return
            for page in pages:
                self.pages.delete(page.id)
                self._forget_page(page.id)
            self.deleted_pages.clear()
            self.page_pane.reset()
            self.refresh_pages()
            self.say(  # type: ignore[attr-defined]
                _("Document joint à la demande ({n} page(s)).").format(n=prepared.pages)
            )
            if then is not None:
                then()

        def failed(exc: BaseException) -> None:
            self._document_made()
            self.say(refusal(getattr(exc, "code", None)), problem=True)  # type: ignore[attr-defined]

        self.runner.run(lambda: pages_document(originals), done, failed)

    def _document_made(self) -> None:
        self._making_document = False
        self.add_button.setEnabled(True)
        self.progress.setVisible(False)
        self.progress_label.clear()
        self._show_page()
