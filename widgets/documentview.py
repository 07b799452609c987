"""The documents of a received request, as the specialist (or the doctor) reads them.

:class:`DocumentShelf` lists them under the photos (type, date, title); a double-click opens
:class:`DocumentWindow`: the document on the left (a PDF's pages through
:class:`widgets.pdfview.PdfView`, a DICOM image with window and level through the capture
station's :class:`widgets.capture_dicom.DicomDialog`, a photographed result as a picture),
and one of the request's photos beside it. Every read happens off the GUI thread: the
document's bytes come out of the sealed bundle on a worker (``Document.data``), a DICOM is
decoded there, a photo too.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.document_texts import refusal, type_label
from app.i18n import _
from cases.documents import Document
from cases.photos import Photo
from widgets.documents import Worker, describe
from widgets.pdfview import PdfView

PICTURE_EDGE = 2400
"""The long edge a photo or a photographed result is decoded to for this window."""


def decoded(data: bytes, edge: int = PICTURE_EDGE) -> QImage:
    """On a worker: a JPEG or PNG as a ``QImage`` at most ``edge`` pixels long (null if not
    an image)."""
    image = QImage.fromData(data)
    if not image.isNull() and max(image.width(), image.height()) > edge:
        image = image.scaled(
            edge,
            edge,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    return image


class Picture(QScrollArea):
    """A picture fitted to the width of its pane."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.label = QLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWidget(self.label)
        self.setWidgetResizable(True)

    def show_image(self, image: QImage) -> None:
        self.image = image
        self._fit()

    def clear(self) -> None:
        self.image = QImage()
        self.label.clear()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.image.isNull():
            return
        width = max(self.viewport().width() - 4, 50)
        height = max(self.viewport().height() - 4, 50)
        self.label.setPixmap(
            QPixmap.fromImage(self.image).scaled(
                width, height, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )  # fmt: skip


class DocumentWindow(QDialog):
    """A request's documents, one at a time, with one of its photos beside them.

    Signals:
        shown(str): a document is on screen (its name), for tests.
    """

    shown = Signal(str)

    def __init__(
        self,
        documents: Sequence[Document],
        photos: Sequence[Photo],
        row: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setModal(False)
        self.setWindowTitle(_("Documents de la demande"))
        self._worker = Worker(self)
        self.documents = list(documents)
        self.photos = list(photos)
        self.current: Document | None = None
        self._request = 0
        self.chooser = QComboBox()
        for document in self.documents:
            self.chooser.addItem(describe(document))
        self.photo_chooser = QComboBox()
        for n, _photo in enumerate(self.photos, 1):
            self.photo_chooser.addItem(_("Photo {n}").format(n=n))
        self.pdf = PdfView()
        self.dicom_holder = QWidget()
        self.dicom_layout = QVBoxLayout(self.dicom_holder)
        self.dicom_layout.setContentsMargins(0, 0, 0, 0)
        self.dicom: QDialog | None = None
        self.picture = Picture()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #a40000;")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        for part in (self.pdf, self.dicom_holder, self.picture, self.message):
            self.stack.addWidget(part)
        self.photo = Picture()
        photo_part = QWidget()
        photo_layout = QVBoxLayout(photo_part)
        photo_layout.setContentsMargins(0, 0, 0, 0)
        photo_layout.addWidget(self.photo_chooser)
        photo_layout.addWidget(self.photo, 1)
        photo_part.setVisible(bool(self.photos))
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.stack)
        self.split.addWidget(photo_part)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        self.split.setChildrenCollapsible(False)
        self.split.setSizes([600, 400] if self.photos else [1000, 0])  # the photo: two fifths
        top = QHBoxLayout()
        top.addWidget(QLabel(_("Document :")))
        top.addWidget(self.chooser, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.split, 1)
        self.chooser.currentIndexChanged.connect(self.show_document)
        self.photo_chooser.currentIndexChanged.connect(self.show_photo)
        self.pdf.page_shown.connect(lambda _page: self._shown())
        self.resize(1200, 680)
        if self.photos:
            self.show_photo(0)
        self.chooser.setCurrentIndex(row)
        if row == 0:
            self.show_document(0)

    # --- the document ---------------------------------------------------------------------
    def show_document(self, row: int) -> None:
        if not 0 <= row < len(self.documents):
            return
        document = self.documents[row]
        self.current = document
        self._request += 1
        request = self._request
        self.pdf.release()
        self.picture.clear()
        self._drop_dicom()
        self.stack.setCurrentWidget(self.message)
        self.message.setText(_("Lecture du document…"))
        suffix = document.name.rsplit(".", 1)[1]

        def work() -> object:
            data = document.data  # out of the sealed bundle, checked against its digest
            if suffix == "dcm":
                from capture.dicom_import import load_dicom

                return load_dicom(data)
            if suffix == "jpg":
                return decoded(data)
            return data

        self._worker.run(
            work,
            lambda result: self._read(request, suffix, result),
            lambda error: self._unreadable(request, error),
        )

    def _read(self, request: int, suffix: str, result: object) -> None:
        if request != self._request:
            return
        if suffix == "pdf":
            assert isinstance(result, bytes)
            self.stack.setCurrentWidget(self.pdf)
            self.pdf.load(result)
            return
        if suffix == "jpg":
            assert isinstance(result, QImage)
            if result.isNull():
                self._unreadable(request, ValueError("not an image"))
                return
            self.stack.setCurrentWidget(self.picture)
            self.picture.show_image(result)
            self._shown()
            return
        from widgets.capture_dicom import DicomDialog

        dialog = DicomDialog(result, self.dicom_holder)  # type: ignore[arg-type]
        dialog.setWindowFlags(Qt.WindowType.Widget)
        for box in dialog.findChildren(QDialogButtonBox):
            box.hide()  # nothing to keep here: reading only
        self.dicom_layout.addWidget(dialog)
        self.dicom = dialog
        self.stack.setCurrentWidget(self.dicom_holder)
        self._shown()

    def _unreadable(self, request: int, error: BaseException) -> None:
        if request != self._request:
            return
        from app.messages import reason

        code = getattr(error, "code", None)
        text = refusal(code) if str(code).startswith("pdf_") else reason(code)
        self.message.setText(text or _("Ce document ne peut pas être lu."))
        self.stack.setCurrentWidget(self.message)

    def _drop_dicom(self) -> None:
        if self.dicom is not None:
            self.dicom.setParent(None)
            self.dicom.deleteLater()
            self.dicom = None

    def _shown(self) -> None:
        if self.current is not None:
            self.setWindowTitle(
                _("Documents de la demande — {type} : {title}").format(
                    type=type_label(self.current.kind), title=self.current.title
                )
            )
            self.shown.emit(self.current.name)

    # --- the photo beside it --------------------------------------------------------------
    def show_photo(self, row: int) -> None:
        if not 0 <= row < len(self.photos):
            return
        photo = self.photos[row]
        self._worker.run(lambda: decoded(photo.data), self.photo.show_image)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.pdf.release()
        super().closeEvent(event)

    def done(self, result: int) -> None:
        self.pdf.release()
        self.picture.clear()
        self.photo.clear()
        self._drop_dicom()
        super().done(result)


class DocumentShelf(QWidget):
    """The list of a request's documents; a double-click (or Enter) opens one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.documents: list[Document] = []
        self.photos: list[Photo] = []
        self.window_: DocumentWindow | None = None
        self.list = QListWidget()
        self.list.setAccessibleName(_("Documents"))
        self.list.setMaximumHeight(96)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(_("Documents (double-clic pour lire, à côté d’une photo)")))
        layout.addWidget(self.list)
        self.list.itemActivated.connect(lambda item: self.open_document(self.list.row(item)))

    def set_documents(self, documents: Sequence[Document], photos: Sequence[Photo]) -> None:
        same = [d.name for d in documents] == [d.name for d in self.documents]
        self.documents, self.photos = list(documents), list(photos)
        if not same:
            self.list.clear()
            for document in self.documents:
                self.list.addItem(QListWidgetItem(describe(document)))
            if self.window_ is not None:
                self.window_.close()
        self.setVisible(bool(self.documents))

    def open_document(self, row: int) -> DocumentWindow | None:
        if not 0 <= row < len(self.documents):
            return None
        if self.window_ is not None:
            self.window_.close()
        self.window_ = DocumentWindow(self.documents, self.photos, row, self)
        self.window_.finished.connect(self._closed)
        self.window_.show()
        self.window_.raise_()
        return self.window_

    def _closed(self) -> None:
        if self.window_ is not None:
            self.window_.deleteLater()
        self.window_ = None
