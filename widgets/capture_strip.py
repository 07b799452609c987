"""The strip of kept photos: thumbnails with their number, body site and anonymisation state.

The order and content live in the engine's :class:`capture.photo.Strip`; this view is
rebuilt from it after every change (a dozen photos at most), and keeps the selection on
the photo that was selected.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from app.i18n import _
from app.messages import body_site_label
from capture.photo import KeptPhoto, Strip
from capture.regions import Image, redact

THUMB = 132


def thumbnail(pixels: Image, edge: int = THUMB) -> Image:
    """A small RGB copy of ``pixels`` (long side ``edge``), safe to make on any thread."""
    height, width = pixels.shape[:2]
    scale = edge / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA))


def rgb_pixmap(pixels: Image) -> QPixmap:
    """A pixmap of an RGB array (copied: the array may go)."""
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


def anonymisation_state(photo: KeptPhoto) -> str:
    """A short state for the strip: being analysed, to confirm, or confirmed."""
    if photo.regions is None:
        return _("analyse…")
    if not photo.regions.confirmed:
        return _("à confirmer")
    return _("anonymisation confirmée")


def photo_label(number: int, photo: KeptPhoto) -> str:
    """A photo's text on the strip: number, body site and anonymisation state."""
    site = body_site_label(photo.body_site) if photo.body_site else _("site ?")
    return f"{number} · {site}\n{anonymisation_state(photo)}"


def shown_thumbnail(photo: KeptPhoto, pixels: Image) -> QPixmap:
    """The thumbnail ``pixels`` of ``photo`` as the strip shows it: once the doctor confirmed
    the areas to blur, blurred as the photo will be sent (the engine's own redaction, on
    this small copy), so no face shows in clear on the strip either."""
    regions = photo.regions
    if regions is None or not regions.confirmed or not len(regions):
        return rgb_pixmap(pixels)
    blurred = np.array(pixels)
    redact(blurred, regions.areas(blurred.shape[1], blurred.shape[0]))
    return rgb_pixmap(blurred)


class KeptStrip(QListWidget):
    """The kept photos (or document pages) in order. Signals: ``photo_selected(str)`` (a
    photo id, or "").

    ``thumbs`` holds each photo's small copy as made (:func:`thumbnail`); the icon is drawn
    from it each time the strip is shown (:func:`shown_thumbnail`). ``label`` writes each
    item's text (:func:`photo_label` by default)."""

    photo_selected = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        label: Callable[[int, KeptPhoto], str] = photo_label,
        name: str = "",
    ) -> None:
        super().__init__(parent)
        self.thumbs: dict[str, Image] = {}
        self.label = label
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setMovement(QListWidget.Movement.Static)
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.setGridSize(QSize(THUMB + 48, THUMB + 58))
        self.setWordWrap(True)
        self.setFixedHeight(THUMB + 70)
        self.setAccessibleName(name or _("Photos gardées"))
        self.currentItemChanged.connect(self._current_changed)

    def current_id(self) -> str | None:
        item = self.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def show_strip(self, strip: Strip, select: str | None = None) -> None:
        """Rebuilds the view from ``strip`` and selects ``select`` (default: as before)."""
        before = self.current_id()
        keep = select if select is not None else before
        self.blockSignals(True)
        self.clear()
        chosen = -1
        for number, photo in enumerate(strip, start=1):
            item = QListWidgetItem(self.label(number, photo))
            pixels = self.thumbs.get(photo.id)
            if pixels is not None:
                pixmap = shown_thumbnail(photo, pixels)
                icon = QIcon(pixmap)
                icon.addPixmap(pixmap, QIcon.Mode.Selected)  # no highlight tint on the photo
                item.setIcon(icon)
            item.setData(Qt.ItemDataRole.UserRole, photo.id)
            item.setToolTip(photo.note or item.text().split("\n")[0])
            self.addItem(item)
            if photo.id == keep:
                chosen = number - 1
        if chosen < 0 and self.count():
            chosen = self.count() - 1
        self.setCurrentRow(chosen)
        self.blockSignals(False)
        if self.current_id() != before:
            self.photo_selected.emit(self.current_id() or "")

    def _current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        self.photo_selected.emit(str(current.data(Qt.ItemDataRole.UserRole)) if current else "")
