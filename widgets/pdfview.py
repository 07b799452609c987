"""A PDF read in the app: its pages rendered by PDFium (pypdfium2) on a worker thread.

PDFium is not thread-safe: every call to it runs on one worker (:data:`_PDFIUM`), never on
the GUI thread. Before a document is opened there, :func:`capture.pdfsafe.findings` walks it
(in a child process bounded in memory and time, :mod:`capture.pdf_isolated`) within the same
bounds as the sender's preparation (size, pages, objects, nesting, what its
streams inflate to): a PDF that still holds active content, or that is beyond a bound, was
not prepared by Passavant and is not rendered (a plain sentence says so). A page is rendered
at most :data:`MAX_RENDER_PIXELS`, whatever the zoom.

Keys: Page Down / Page Up (and the arrows) turn the pages, Home / End, + / − zoom, W fits the
width, Ctrl + wheel zooms.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QResizeEvent, QShortcut, QWheelEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.handback import hand_back
from app.i18n import _

log = logging.getLogger(__name__)

MAX_RENDER_PIXELS = 24_000_000
"""Pixels of one rendered page, whatever the zoom (about 100 MB of RGBA)."""
ZOOMS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
_DPI = 96 / 72  # PDF points to screen pixels at 100 %

_PDFIUM = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-pdfium")
"""The one thread that calls PDFium (started at first use)."""


class Unrenderable(Exception):
    """A document that is not rendered; ``code`` says why (``pdf_*`` codes, or
    ``pdf_unsafe`` for active content left in it)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def open_document(data: bytes) -> Any:
    """On the PDFium worker: the checked document, opened (a ``pypdfium2.PdfDocument``).

    Raises:
        Unrenderable: beyond a bound, damaged, or still holding active content.
    """
    import pypdfium2

    from capture import pdf_isolated, pdfsafe

    try:
        if pdf_isolated.findings(data):  # in a child bounded in memory and time
            raise Unrenderable("pdf_unsafe")
    except pdfsafe.PdfRefused as exc:
        raise Unrenderable(exc.code) from exc
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise Unrenderable("pdf_damaged") from exc


def render_page(document: Any, index: int, zoom: float) -> QImage:
    """On the PDFium worker: page ``index`` at ``zoom`` (1.0 = 100 %), as a ``QImage``."""
    page = document[index]
    try:
        width, height = page.get_size()
        scale = zoom * _DPI
        pixels = max(width * scale, 1.0) * max(height * scale, 1.0)
        if pixels > MAX_RENDER_PIXELS:
            scale *= math.sqrt(MAX_RENDER_PIXELS / pixels)
        bitmap = page.render(scale=scale, may_draw_forms=False)
        array = bitmap.to_numpy()  # BGR(x), rows × columns × channels
        rows, columns = array.shape[:2]
        channels = array.shape[2] if array.ndim == 3 else 1
        image_format = {
            3: QImage.Format.Format_BGR888,
            4: QImage.Format.Format_RGB32,
            1: QImage.Format.Format_Grayscale8,
        }[channels]
        image = QImage(array.data, columns, rows, array.strides[0], image_format).copy()
        bitmap.close()
        return image
    finally:
        page.close()


class PdfView(QWidget):
    """The pages of one PDF, one at a time, with page and zoom controls.

    Signals:
        page_shown(int): a page was drawn (its index), for tests and the status line.
        failed(str): the document is not rendered (a code: see :class:`Unrenderable`).
    """

    page_shown = Signal(int)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._document: Any = None
        self._request = 0
        self.pages = 0
        self.page = 0
        self.zoom = 1.0
        self.fit_width = True
        self.image = QImage()
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.area = QScrollArea()
        self.area.setWidget(self.picture)
        self.area.setWidgetResizable(True)
        self.area.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        # always there, so a page fitted to the width never makes the bar appear and not fit
        self.area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.previous_button = QPushButton(_("◀ Page précédente"))
        self.next_button = QPushButton(_("Page suivante ▶"))
        self.where = QLabel()
        self.zoom_out = QPushButton("−")
        self.zoom_in = QPushButton("+")
        self.width_button = QPushButton(_("Pleine largeur (W)"))
        for button, tip in (
            (self.previous_button, _("Page précédente (Page préc.)")),
            (self.next_button, _("Page suivante (Page suiv.)")),
            (self.zoom_out, _("Réduire (−)")),
            (self.zoom_in, _("Agrandir (+)")),
        ):
            button.setToolTip(tip)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #a40000;")
        self.message.hide()
        bar = QHBoxLayout()
        for part in (self.previous_button, self.where, self.next_button):
            bar.addWidget(part)
        bar.addStretch()
        for part in (self.zoom_out, self.zoom_in, self.width_button):
            bar.addWidget(part)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.message)
        layout.addWidget(self.area, 1)
        self.previous_button.clicked.connect(lambda: self.show_page(self.page - 1))
        self.next_button.clicked.connect(lambda: self.show_page(self.page + 1))
        self.zoom_in.clicked.connect(lambda: self.step_zoom(1))
        self.zoom_out.clicked.connect(lambda: self.step_zoom(-1))
        self.width_button.clicked.connect(self.fit_to_width)
        for keys, action in (
            (QKeySequence.StandardKey.MoveToNextPage, lambda: self.show_page(self.page + 1)),
            (QKeySequence.StandardKey.MoveToPreviousPage, lambda: self.show_page(self.page - 1)),
            (QKeySequence(Qt.Key.Key_Home), lambda: self.show_page(0)),
            (QKeySequence(Qt.Key.Key_End), lambda: self.show_page(self.pages - 1)),
            (QKeySequence(Qt.Key.Key_Plus), lambda: self.step_zoom(1)),
            (QKeySequence(Qt.Key.Key_Equal), lambda: self.step_zoom(1)),
            (QKeySequence(Qt.Key.Key_Minus), lambda: self.step_zoom(-1)),
            (QKeySequence(Qt.Key.Key_W), self.fit_to_width),
        ):
            shortcut = QShortcut(keys, self, action)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._refit = QTimer(self)  # a page fitted to the width follows the window's size
        self._refit.setSingleShot(True)
        self._refit.setInterval(120)
        self._refit.timeout.connect(self._render)
        self._update_controls()

    # --- the document ---------------------------------------------------------------------
    def load(self, data: bytes) -> None:
        """Shows the PDF ``data`` from its first page (checked and opened on the worker)."""
        self._close_document()
        self._request += 1
        request = self._request
        self.pages = self.page = 0
        self.image = QImage()
        self.picture.clear()
        self.message.hide()
        self.where.setText(_("Ouverture…"))

        def work() -> None:
            try:
                document = open_document(data)
            except Unrenderable as exc:
                code = exc.code
                hand_back(self, lambda: self._on_opened(request, None, code))
                return
            pages = len(document)
            hand_back(
                self,
                lambda: self._on_opened(request, document, pages),
                dropped=lambda: _PDFIUM.submit(document.close),  # the window was closed
            )

        _PDFIUM.submit(work)

    def _on_opened(self, request: int, document: Any, result: object) -> None:
        if request != self._request:  # another document was asked for meanwhile
            if document is not None:
                _PDFIUM.submit(document.close)
            return
        if document is None:
            from app.document_texts import refusal

            code = str(result)
            text = (
                _("Ce PDF contient encore du contenu actif : il n’est pas affiché.")
                if code == "pdf_unsafe"
                else refusal(code)
            )
            self.message.setText(text)
            self.message.show()
            self.where.setText("")
            self.failed.emit(code)
            return
        self._document = document
        self.pages = int(str(result))
        self.show_page(0)

    def _close_document(self) -> None:
        if self._document is not None:
            _PDFIUM.submit(self._document.close)
            self._document = None

    # --- pages and zoom -------------------------------------------------------------------
    def show_page(self, index: int) -> None:
        if self._document is None or not 0 <= index < self.pages:
            return
        self.page = index
        self._render()

    def step_zoom(self, step: int) -> None:
        current = self.zoom  # after a fit to the width, the zoom that fit
        if step > 0:
            bigger = [z for z in ZOOMS if z > current + 1e-6]
            self.zoom = bigger[0] if bigger else ZOOMS[-1]
        else:
            smaller = [z for z in ZOOMS if z < current - 1e-6]
            self.zoom = smaller[-1] if smaller else ZOOMS[0]
        self.fit_width = False
        self._render()

    def fit_to_width(self) -> None:
        self.fit_width = True
        self._render()

    def _render(self) -> None:
        document = self._document
        if document is None:
            return
        self._request += 1
        request, index = self._request, self.page
        fit = self.fit_width
        available = max(self.area.viewport().width() - 4, 200)
        zoom = self.zoom

        def work() -> None:
            wanted = zoom
            if fit:
                width_points = document[index].get_width()
                wanted = max(0.25, min(ZOOMS[-1], available / (width_points * _DPI)))
            image = render_page(document, index, wanted)
            hand_back(self, lambda: self._on_rendered(request, (image, wanted)))

        self._update_controls()
        _PDFIUM.submit(work)

    def _on_rendered(self, request: int, result: tuple[QImage, float]) -> None:
        if request != self._request:
            return  # a later page or zoom was asked for: this one is stale
        self.image, self.zoom = result
        self.picture.setPixmap(QPixmap.fromImage(self.image))
        self._update_controls()
        self.page_shown.emit(self.page)

    def _update_controls(self) -> None:
        has = self._document is not None
        self.previous_button.setEnabled(has and self.page > 0)
        self.next_button.setEnabled(has and self.page < self.pages - 1)
        for button in (self.zoom_in, self.zoom_out, self.width_button):
            button.setEnabled(has)
        if has:
            self.where.setText(
                _("Page {n} sur {total} — {zoom} %").format(
                    n=self.page + 1, total=self.pages, zoom=round(self.zoom * 100)
                )
            )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fit_width and self._document is not None:
            self._refit.start()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.step_zoom(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)

    def closeEvent(self, event: Any) -> None:
        self._request += 1
        self._close_document()
        super().closeEvent(event)

    def release(self) -> None:
        """Forget the document (its pages and the PDFium handle)."""
        self._request += 1
        self._close_document()
        self.picture.clear()
        self.image = QImage()
