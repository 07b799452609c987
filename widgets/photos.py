"""Photo thumbnails and a larger viewer. Photos stay in memory: nothing is written to disk."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from cases.photos import Photo

THUMB = 160


def pixmap_of(photo: Photo) -> QPixmap:
    image = QImage.fromData(photo.data)
    return QPixmap.fromImage(image)


class PhotoStrip(QListWidget):
    """A row of thumbnails. Double-click or Enter opens a photo larger.

    Signals:
        photos_changed(): photos were added or removed.
    """

    photos_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._photos: list[Photo] = []
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setMovement(QListWidget.Movement.Static)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.setMinimumHeight(THUMB + 44)
        self.setMaximumHeight(THUMB + 60)
        self.setAccessibleName(_("Photos"))
        self.itemActivated.connect(self._open)

    def photos(self) -> list[Photo]:
        return list(self._photos)

    def set_photos(self, photos: list[Photo]) -> None:
        self._photos = []
        self.clear()
        self.add_photos(photos)

    def add_photos(self, photos: list[Photo]) -> None:
        for photo in photos:
            self._photos.append(photo)
            thumb = pixmap_of(photo).scaled(
                THUMB,
                THUMB,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            item = QListWidgetItem(thumb, _("Photo {n}").format(n=len(self._photos)))
            item.setToolTip(_("{w} × {h} pixels").format(w=photo.width, h=photo.height))
            self.addItem(item)
        self.photos_changed.emit()

    def remove_selected(self) -> list[tuple[int, Photo]]:
        """Remove the selected photos; return them with their positions (for undo)."""
        rows = sorted((self.row(i) for i in self.selectedItems()), reverse=True)
        removed = [(row, self._photos.pop(row)) for row in rows]
        self._relabel()
        return removed

    def restore(self, removed: list[tuple[int, Photo]]) -> None:
        """Put back photos taken out by :meth:`remove_selected`."""
        for row, photo in sorted(removed):
            self._photos.insert(row, photo)
        self._relabel()

    def _relabel(self) -> None:
        photos, self._photos = self._photos, []
        self.clear()
        self.add_photos(photos)

    def _open(self, item: QListWidgetItem) -> None:
        PhotoViewer(self._photos[self.row(item)], self.row(item) + 1, self).exec()


class PhotoViewer(QDialog):
    """One photo at screen size; Escape closes."""

    def __init__(self, photo: Photo, number: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Photo {n}").format(n=number))
        label = QLabel()
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setPixmap(pixmap_of(photo))
        scroll = QScrollArea()
        scroll.setWidget(label)
        scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        self.resize(min(photo.width + 40, 1400), min(photo.height + 40, 1000))
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.reject)
