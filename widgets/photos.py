"""Photo thumbnails and a larger viewer. Photos stay in memory: nothing is written to disk.

A photo of a case carries what the doctor said of it in the capture station: its body site,
a note, measurements (calibrated in mm and cm², or in pixels) and annotations. The strip
names each photo by its site; the viewer draws the measurements and annotations over the
pixels (a layer the reader can hide, never burnt into the photo) and lists them in words.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from html import escape
from typing import Any, TypeVar

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QIcon,
    QImage,
    QImageReader,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import body_site_label
from capture.measure import Measurement
from capture.photo import Annotation, annotation_from_dict
from cases.errors import CaseError
from cases.photos import Photo
from crypto.errors import CryptoError
from widgets.overlay import measurement_text, paint_annotations, paint_measurements

log = logging.getLogger(__name__)

T = TypeVar("T")

THUMB = 160
ZOOMS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""The zoom steps of the viewer besides "fit to the window"."""


def photo_bytes(photo: Photo) -> bytes:
    """The photo's JPEG, read from its sealed bundle if need be (call it off the GUI thread);
    empty when it can no longer be read (the bundle was erased, altered or removed): the
    strip and the viewer then show the photo as unreadable."""
    try:
        return photo.data
    except (CaseError, CryptoError, OSError) as exc:
        log.warning("photo %s cannot be read: %s", photo.name, getattr(exc, "code", exc))
        return b""


def decoded(data: bytes) -> QImage:
    """The full-size picture of ``data`` (null if it cannot be read), decoded through
    ``QImageReader``, which lets the GUI thread run meanwhile (``QImage.fromData`` holds
    Python's lock for the whole decode: the window froze 40 to 100 ms a photo)."""
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    return QImageReader(buffer).read()


def thumbnail(photo: Photo, size: int = THUMB) -> QImage:
    """``photo`` at most ``size`` pixels on its long edge; a null image if it cannot be read.

    The JPEG is decoded at a reduced scale (a fraction of a full decode). Only ``QImage`` is
    used, so this runs on a worker thread.
    """
    buffer = QBuffer()
    buffer.setData(QByteArray(photo_bytes(photo)))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    full = reader.size()
    if full.isValid() and (full.width() > size or full.height() > size):
        reader.setScaledSize(full.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def drawn_on(image: QImage, photo: Photo) -> QImage:
    """A copy of ``image`` (``photo`` at some scale) with the photo's measurements and
    annotations drawn as shapes (no words: a thumbnail has no room for them)."""
    copy = image.convertToFormat(QImage.Format.Format_RGB32)
    measurements, annotations = measurements_of(photo), annotations_of(photo)
    if (measurements or annotations) and photo.width > 0:
        scale = copy.width() / photo.width
        painter = QPainter(copy)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        to_thumb = lambda p: QPointF(p[0] * scale, p[1] * scale)  # noqa: E731
        paint_measurements(painter, measurements, to_thumb, labelled=False)
        paint_annotations(painter, annotations, to_thumb, scale, labelled=False)
        painter.end()
    return copy


_THUMBNAILS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-thumbnails")
"""One worker for every strip: thumbnails come one after the other, never on the GUI thread."""


def _readable(
    items: Iterable[Mapping[str, Any]], read: Callable[[Mapping[str, Any]], T]
) -> list[T]:
    """``read`` of each item; those a newer writer shaped differently are left out."""
    found = []
    for data in items:
        try:
            found.append(read(data))
        except (KeyError, TypeError, ValueError):
            log.warning("a measurement or annotation of a photo could not be read")
    return found


def measurements_of(photo: Photo) -> list[Measurement]:
    """The photo's measurements."""
    return _readable(photo.measurements, Measurement.from_dict)


def annotations_of(photo: Photo) -> list[Annotation]:
    """The photo's arrows, circles and texts."""
    return _readable(photo.annotations, annotation_from_dict)


def photo_caption(photo: Photo, number: int) -> str:
    """``Photo 2 · main droite``, or ``Photo 2`` when no site was given."""
    if photo.site:
        return _("Photo {n} · {site}").format(n=number, site=body_site_label(photo.site))
    return _("Photo {n}").format(n=number)


def photo_facts(photo: Photo) -> list[str]:
    """What the doctor recorded about the photo, a sentence per fact, in reading order."""
    facts = []
    if photo.site:
        facts.append(_("Localisation : {site}").format(site=body_site_label(photo.site)))
    if photo.note.strip():
        facts.append(_("Remarque : {note}").format(note=photo.note.strip()))
    for m in measurements_of(photo):
        what = _("Longueur") if m.kind == "line" else _("Surface")
        facts.append(_("{what} : {value}").format(what=what, value=measurement_text(m)))
    count = len(photo.annotations)
    if count:
        facts.append(_("{n} annotation(s) dessinée(s) sur la photo").format(n=count))
    return facts


class PhotoStrip(QListWidget):
    """A row of thumbnails, each named by its site. Double-click or Enter opens a photo in
    a :class:`PhotoViewer`, a window of its own, so that the reader can keep it open beside
    the request (and write the opinion meanwhile).

    Signals:
        photos_changed(): photos were added or removed.
    """

    photos_changed = Signal()
    _thumbnail_ready = Signal(object, object)  # (the photo, its QImage), from the worker

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._photos: list[Photo] = []
        # by id() of a photo, held with it (an id is unique only while its object lives):
        # the icon, drawn on, and the thumbnail as decoded (the viewer's preview)
        self._thumbs: dict[int, tuple[Photo, QPixmap, QImage | None]] = {}
        self._thumbnail_ready.connect(self._show_thumbnail)
        self.viewer: PhotoViewer | None = None
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setMovement(QListWidget.Movement.Static)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.setWordWrap(True)
        self.setMinimumHeight(THUMB + 44)
        self.setMaximumHeight(THUMB + 60)
        self.setAccessibleName(_("Photos"))
        self.itemActivated.connect(self._open)

    def photos(self) -> list[Photo]:
        return list(self._photos)

    def set_photos(self, photos: list[Photo]) -> None:
        """Show ``photos``. The same photos again (a refresh of the same case) change nothing:
        the viewer stays open on the photo being looked at."""
        if photos == self._photos:
            return
        self._photos = []
        self._thumbs.clear()
        self.clear()
        self.add_photos(photos)
        if self.viewer is not None:
            self.viewer.close()

    def add_photos(self, photos: list[Photo]) -> None:
        """Appends ``photos``; their thumbnails are made in the background and appear as
        they come (a grey square meanwhile)."""
        for photo in photos:
            self._photos.append(photo)
            thumb = self.thumbnail_of(photo)
            if thumb is None:
                thumb = QPixmap(THUMB, THUMB * 2 // 3)
                thumb.fill(QColor("#c8c8c8"))
                _THUMBNAILS.submit(self._make_thumbnail, photo)
            item = QListWidgetItem(QIcon(thumb), photo_caption(photo, len(self._photos)))
            size = _("{w} × {h} pixels").format(w=photo.width, h=photo.height)
            # a tooltip guesses its format: make it rich text, the sender's note escaped
            item.setToolTip("<br>".join(escape(line) for line in [*photo_facts(photo), size]))
            self.addItem(item)
        self.photos_changed.emit()

    def _make_thumbnail(self, photo: Photo) -> None:
        """On the worker thread: the thumbnail, handed to the GUI thread by a signal."""
        image = thumbnail(photo)
        with contextlib.suppress(RuntimeError):  # the strip was closed meanwhile
            self._thumbnail_ready.emit(photo, image)

    def _show_thumbnail(self, photo: Photo, image: QImage) -> None:
        for row, held in enumerate(self._photos):
            if held is photo:  # still shown (a strip refilled meanwhile drops it)
                if image.isNull():
                    pixmap = QPixmap(THUMB, THUMB * 2 // 3)
                    pixmap.fill(QColor("#7a2b2b"))  # unreadable: the viewer says so
                    self._thumbs[id(photo)] = (photo, pixmap, None)
                else:
                    pixmap = QPixmap.fromImage(drawn_on(image, photo))
                    self._thumbs[id(photo)] = (photo, pixmap, image)
                self.item(row).setIcon(QIcon(pixmap))

    def thumbnails_ready(self) -> bool:
        """Whether every photo has its thumbnail."""
        return all(self.thumbnail_of(photo) is not None for photo in self._photos)

    def thumbnail_of(self, photo: Photo) -> QPixmap | None:
        """The icon shown for ``photo``, once made."""
        held = self._held(photo)
        return held[1] if held is not None else None

    def _held(self, photo: Photo) -> tuple[Photo, QPixmap, QImage | None] | None:
        held = self._thumbs.get(id(photo))
        return held if held is not None and held[0] is photo else None

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

    def open_photo(self, row: int) -> PhotoViewer:
        """Shows photo ``row`` in the viewer window (opened, or reused if open)."""
        if self.viewer is None:
            self.viewer = PhotoViewer(self._photos, row, self, self._preview)
            self.viewer.finished.connect(self._viewer_closed)
        else:
            self.viewer.set_photos(self._photos, row)
        self.viewer.show()
        self.viewer.raise_()
        self.viewer.activateWindow()
        return self.viewer

    def _open(self, item: QListWidgetItem) -> None:
        self.open_photo(self.row(item))

    def _preview(self, photo: Photo) -> QImage | None:
        """The photo's thumbnail (shown by the viewer while the photo itself is decoded)."""
        held = self._held(photo)
        return held[2] if held is not None else None

    def _viewer_closed(self) -> None:
        if self.viewer is not None:
            self.viewer.deleteLater()
        self.viewer = None


class OverlaidPhoto(QWidget):
    """A photo fitted to the widget (or at a fixed zoom), with its measurements and
    annotations drawn over it when :attr:`overlay` is on.

    The full-size photo is decoded on a worker thread; until it comes (:attr:`loaded`), the
    preview given, if any, is drawn stretched to the photo's size, overlay included.
    """

    _decoded = Signal(object, object)  # (the photo, its QImage), from the worker

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo: Photo | None = None
        self.image = QImage()
        self.size_px = (0, 0)  # the photo's size: the geometry of the drawing
        self.loaded = False
        self.measurements: list[Measurement] = []
        self.annotations: list[Annotation] = []
        self.overlay = True
        self.zoom: float | None = None  # None: fit to the widget
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self._decoded.connect(self._show_decoded)

    def set_photo(self, photo: Photo, preview: QImage | None = None) -> None:
        self.photo = photo
        self.image = preview if preview is not None else QImage()
        self.size_px = (photo.width, photo.height)
        self.loaded = False
        self.measurements = measurements_of(photo)
        self.annotations = annotations_of(photo)
        self._resize_to_zoom()
        self.update()
        _THUMBNAILS.submit(self._decode, photo)

    def _decode(self, photo: Photo) -> None:
        """On the worker thread."""
        image = decoded(photo_bytes(photo))
        with contextlib.suppress(RuntimeError):  # the viewer was closed meanwhile
            self._decoded.emit(photo, image)

    def _show_decoded(self, photo: Photo, image: QImage) -> None:
        if photo is not self.photo:
            return  # another photo was asked for meanwhile
        self.image, self.loaded = image, True
        if not image.isNull():
            self.size_px = (image.width(), image.height())
        self._resize_to_zoom()
        self.update()

    def set_overlay(self, on: bool) -> None:
        self.overlay = on
        self.update()

    def set_zoom(self, zoom: float | None) -> None:
        self.zoom = zoom
        self._resize_to_zoom()
        self.update()

    def _resize_to_zoom(self) -> None:
        width, height = self.size_px
        if self.zoom is None or width <= 0 or height <= 0:
            self.setMinimumSize(320, 240)
            self.setMaximumSize(16_777_215, 16_777_215)
            return
        self.setFixedSize(max(1, round(width * self.zoom)), max(1, round(height * self.zoom)))

    def scale(self) -> float:
        """Widget pixels per photo pixel."""
        width, height = self.size_px
        if width <= 0 or height <= 0:
            return 1.0
        if self.zoom is not None:
            return self.zoom
        return min(self.width() / width, self.height() / height)

    def target(self) -> QRectF:
        s = self.scale()
        w, h = self.size_px[0] * s, self.size_px[1] * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_widget(self, point: tuple[float, float]) -> QPointF:
        box, s = self.target(), self.scale()
        return QPointF(box.left() + point[0] * s, box.top() + point[1] * s)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2e31"))
        if self.image.isNull():
            painter.setPen(QColor("#d0d0d0"))
            text = _("Cette photo ne peut pas être lue.") if self.loaded else _("Chargement…")
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.drawImage(self.target(), self.image)
        if self.overlay:
            paint_measurements(painter, self.measurements, self.to_widget)
            paint_annotations(painter, self.annotations, self.to_widget, self.scale())


class PhotoViewer(QDialog):
    """The photos of a case one at a time, large, in a window of their own.

    Keys: Page Down / Page Up, the next and previous photo; A shows or hides the
    measurements and annotations; F fits the photo to the window; 1 shows it at 100 %;
    + and - zoom; Escape closes.
    """

    def __init__(
        self,
        photos: list[Photo],
        row: int,
        parent: QWidget | None = None,
        previews: Callable[[Photo], QImage | None] = lambda photo: None,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setModal(False)
        self.previews = previews
        self.photos: list[Photo] = []
        self.row = 0
        self.picture = OverlaidPhoto()
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.picture)
        self.scroll.setWidgetResizable(True)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.overlay = QCheckBox(_("Mesures et annotations (A)"))
        self.overlay.setChecked(True)
        self.previous_button = QPushButton(_("◀ Précédente"))
        self.next_button = QPushButton(_("Suivante ▶"))
        self.fit_button = QPushButton(_("Ajuster (F)"))
        self.actual_button = QPushButton(_("100 % (1)"))
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.PlainText)  # the note is the sender's text
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        for widget in (self.previous_button, self.next_button):
            bar.addWidget(widget)
        bar.addStretch()
        bar.addWidget(self.overlay)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.actual_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.facts)
        self.overlay.toggled.connect(self.picture.set_overlay)
        self.previous_button.clicked.connect(lambda: self.show_row(self.row - 1))
        self.next_button.clicked.connect(lambda: self.show_row(self.row + 1))
        self.fit_button.clicked.connect(lambda: self.set_zoom(None))
        self.actual_button.clicked.connect(lambda: self.set_zoom(1.0))
        for keys, action in (
            (Qt.Key.Key_PageDown, lambda: self.show_row(self.row + 1)),
            (Qt.Key.Key_PageUp, lambda: self.show_row(self.row - 1)),
            (Qt.Key.Key_A, self.overlay.toggle),
            (Qt.Key.Key_F, lambda: self.set_zoom(None)),
            (Qt.Key.Key_1, lambda: self.set_zoom(1.0)),
            (Qt.Key.Key_Plus, lambda: self.step_zoom(1)),
            (Qt.Key.Key_Minus, lambda: self.step_zoom(-1)),
            (Qt.Key.Key_Escape, self.close),
        ):
            QShortcut(QKeySequence(keys), self, action)
        for button in (self.previous_button, self.next_button, self.fit_button, self.actual_button):
            button.setAutoDefault(False)
        self.resize(1100, 850)
        self.set_photos(photos, row)

    def set_photos(self, photos: list[Photo], row: int) -> None:
        self.photos = list(photos)
        self.show_row(row)

    def show_row(self, row: int) -> None:
        if not self.photos:
            return
        self.row = max(0, min(row, len(self.photos) - 1))
        photo = self.photos[self.row]
        self.picture.set_photo(photo, self.previews(photo))
        caption = photo_caption(photo, self.row + 1)
        self.setWindowTitle(
            _("{caption} ({n} sur {total})").format(
                caption=caption, n=self.row + 1, total=len(self.photos)
            )
        )
        facts = photo_facts(photo) or [_("Ni localisation, ni remarque, ni mesure.")]
        self.facts.setText("\n".join(facts))
        self.previous_button.setEnabled(self.row > 0)
        self.next_button.setEnabled(self.row < len(self.photos) - 1)

    def set_zoom(self, zoom: float | None) -> None:
        self.scroll.setWidgetResizable(zoom is None)
        self.picture.set_zoom(zoom)

    def step_zoom(self, direction: int) -> None:
        """The next zoom step up (1) or down (-1) from what is shown now."""
        current = self.picture.scale()
        if direction > 0:
            larger = [z for z in ZOOMS if z > current * 1.01]
            self.set_zoom(larger[0] if larger else ZOOMS[-1])
        else:
            smaller = [z for z in ZOOMS if z < current * 0.99]
            self.set_zoom(smaller[-1] if smaller else ZOOMS[0])
