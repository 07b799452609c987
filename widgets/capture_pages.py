"""The capture station's document pane: the pages of a paper result photographed in
document mode, the document's type, date and title, and the button that joins it to the
request.

Document mode skips the face search and the blurring: the pane says so in plain words, in
the warning colour, above the page, so a doctor never takes it for the photo editor. Pages
are shown as photographed; nothing is drawn over them.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, QRect, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.document_texts import type_label
from app.i18n import _
from capture.documents import MAX_PAGES
from capture.photo import KeptPhoto
from capture.regions import Image
from cases.documents import DOCUMENT_TYPES, MAX_TITLE
from widgets.capture_strip import rgb_pixmap
from widgets.flow import narrow_combo

WARNING_STYLE = "background: #fff0d9; color: #7a3b00; border: 1px solid #d98e04; padding: 4px;"
DISPLAY_EDGE = 1400
"""Long side of the copy of a page the pane shows (made on a worker when it is kept)."""


def page_label(number: int, _page: KeptPhoto) -> str:
    """A page's text on the strip: its number, and that it is not blurred."""
    return _("Page {n}").format(n=number) + "\n" + _("document, non flouté")


class PageView(QWidget):
    """The selected page, fitted to the room, never stretched out of shape."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pixmap: QPixmap | None = None
        self.setMinimumSize(200, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(_("Page sélectionnée"))

    def show_pixels(self, pixels: Image | None) -> None:
        self.pixmap = rgb_pixmap(pixels) if pixels is not None else None
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.darkGray)
        if self.pixmap is None or self.pixmap.isNull():
            painter.setPen(Qt.GlobalColor.white)
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, _("Aucune page : capturez (Espace).")
            )
            return
        size = self.pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(self.rect().center())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(target, self.pixmap)


class PagePane(QWidget):
    """The document being photographed: its pages, type, date and title (the station's
    own "Joindre le document à la demande" joins it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.warning = QLabel(
            _(
                "Mode document : aucun visage n’est recherché ni flouté. Ne photographiez que "
                "des documents (résultats, tracés, courriers), jamais le patient."
            )
        )
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(WARNING_STYLE)
        self.page = PageView()
        self.count = QLabel()
        self.count.setWordWrap(True)
        self.kind = QComboBox()
        for code in DOCUMENT_TYPES:
            self.kind.addItem(type_label(code), code)
        narrow_combo(self.kind)
        self.when = QDateEdit()
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat("dd/MM/yyyy")
        self.when.setMaximumDate(QDate.currentDate())
        self.when.setAccessibleName(_("Date de l’examen"))
        self.title = QLineEdit()
        self.title.setMaxLength(MAX_TITLE)
        self.title.setPlaceholderText(_("Ex. : NFS, ionogramme ; ECG de repos"))
        form = QFormLayout()
        form.addRow(_("Type"), self.kind)
        form.addRow(_("Date de l’examen"), self.when)
        form.addRow(_("Titre"), self.title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.warning)
        layout.addWidget(self.page, 1)
        layout.addWidget(self.count)
        layout.addLayout(form)
        self.reset()

    def reset(self) -> None:
        """A new document: the first type, today, no title."""
        self.kind.setCurrentIndex(0)
        self.when.setDate(QDate.currentDate())
        self.title.clear()

    def show_pages(self, total: int, selected: int, pixels: Image | None) -> None:
        """``total`` pages kept; ``selected`` (1-based, 0: none) shown with ``pixels``."""
        self.page.show_pixels(pixels)
        if total == 0:
            self.count.setText(_("Document en cours : aucune page."))
        else:
            text = _("Document en cours : {total} page(s) (au plus {max}) ; page {n} affichée.")
            self.count.setText(text.format(total=total, max=MAX_PAGES, n=selected))

    def fields(self) -> tuple[str, dt.date, str]:
        """The type, the date and the title given."""
        day = self.when.date()
        return (
            str(self.kind.currentData()),
            dt.date(day.year(), day.month(), day.day()),
            self.title.text().strip(),
        )
