"""Photo thumbnails, and the strip that opens the viewer. Nothing is written to disk in clear:
a photo is in memory, or read from its sealed file (a received request's, or a draft's once
the draft sealed it: :meth:`PhotoStrip.adopt`).

A photo of a case carries what the doctor said of it in the capture station: its body site,
a note, measurements (calibrated in mm and cm², or in pixels) and annotations. The strip
names each photo by its site and draws the measurements and annotations on its thumbnail
(the specialists' marks too, in blue); the viewer (:mod:`widgets.photoviewer`, a window of
its own) shows the photo large.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from html import escape

from PySide6.QtCore import QPointF, QSize, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPushButton, QWidget

from app.handback import hand_back
from app.handback import prepare as prepare_hand_back
from app.i18n import _
from cases.earlier import EarlierPhoto, earlier_photos, of_the_lesion
from cases.marks import PhotoMarks, marks_for
from cases.model import Opinion
from cases.photos import Payload, Photo
from cases.threads import CaseThread
from widgets.annotate import SPECIALIST_COLOUR
from widgets.imagedecode import decode_image
from widgets.overlay import paint_annotations, paint_measurements
from widgets.photofacts import (
    annotations_of,
    measurements_of,
    photo_bytes,
    photo_caption,
    photo_facts,
    read_annotations,
    read_measurements,
)
from widgets.photoviewer import ZOOMS, Authored, PhotoViewer
from widgets.viewer import decoded

__all__ = [
    "THUMB",
    "ZOOMS",
    "PhotoStrip",
    "PhotoViewer",
    "annotations_of",
    "decoded",
    "drawn_on",
    "marks_html",
    "measurements_of",
    "photo_bytes",
    "photo_caption",
    "photo_facts",
    "thumbnail",
    "viewer_context",
]

log = logging.getLogger(__name__)

THUMB = 160


def thumbnail(photo: Photo, size: int = THUMB) -> QImage:
    """``photo`` at most ``size`` pixels on its long edge; a null image if it cannot be read.

    The JPEG is decoded at a reduced scale (a fraction of a full decode), without any Qt
    device made from Python (``widgets/imagedecode.py``), so this runs on a worker thread.
    """
    return decode_image(photo_bytes(photo), size)


def drawn_on(image: QImage, photo: Photo, marks: Sequence[PhotoMarks] = ()) -> QImage:
    """A copy of ``image`` (``photo`` at some scale) with the photo's measurements and
    annotations drawn as shapes (no words: a thumbnail has no room for them), and the
    specialist's ``marks`` on it in their colour."""
    copy = image.convertToFormat(QImage.Format.Format_RGB32)
    measurements, annotations = measurements_of(photo), annotations_of(photo)
    if (measurements or annotations or any(marks)) and photo.width > 0:
        scale = copy.width() / photo.width
        painter = QPainter(copy)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        to_thumb = lambda p: QPointF(p[0] * scale, p[1] * scale)  # noqa: E731
        paint_measurements(painter, measurements, to_thumb, labelled=False)
        paint_annotations(painter, annotations, to_thumb, scale, labelled=False)
        for m in marks:
            paint_measurements(
                painter,
                read_measurements(m.measurements),
                to_thumb,
                labelled=False,
                colour=SPECIALIST_COLOUR,
            )
            paint_annotations(
                painter,
                read_annotations(m.annotations),
                to_thumb,
                scale,
                labelled=False,
                colour=SPECIALIST_COLOUR,
            )
        painter.end()
    return copy


_THUMBNAILS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-thumbnails")
"""One worker for every strip: thumbnails come one after the other, never on the GUI thread."""


class PhotoStrip(QListWidget):
    """A row of thumbnails, each named by its site. Double-click or Enter opens a photo in
    a :class:`PhotoViewer`, a window of its own, so that the reader can keep it open beside
    the request (and write the opinion meanwhile).

    The strip also holds what the viewer shows around a photo (:meth:`set_context`): the
    earlier photos of the patient, the marks of the opinions received, and the specialist's
    own marks being drawn for the opinion.

    Signals:
        photos_changed(): photos were added or removed.
        marks_edited(object): the specialist drew or took back a mark in the viewer (the
            whole tuple of ``PhotoMarks``).
    """

    photos_changed = Signal()
    marks_edited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._photos: list[Photo] = []
        # by id() of a photo, held with it (an id is unique only while its object lives):
        # the icon, drawn on, and the thumbnail as decoded (the viewer's preview)
        self._thumbs: dict[int, tuple[Photo, QPixmap, QImage | None]] = {}
        self._adopted: dict[int, tuple[Photo, Photo]] = {}  # by id() of a photo: its successor
        prepare_hand_back()
        self.viewer: PhotoViewer | None = None
        self.earlier: list[EarlierPhoto] = []
        self.opinion_marks: list[Authored] = []
        self.own_marks: tuple[PhotoMarks, ...] = ()
        self.marks_editable = False
        self.earlier_button = QPushButton(self)  # the owner places it by the strip's title
        self.earlier_button.setAutoDefault(False)
        self.earlier_button.setToolTip(
            _("Ouvre la photo à côté de celle d’une demande antérieure de la même lésion")
        )
        self.earlier_button.hide()
        self.earlier_button.clicked.connect(self.open_compared)
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
        self._adopted.clear()
        self.clear()
        self.add_photos(photos)
        self._show_earlier_button()
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
        hand_back(self, lambda: self._show_thumbnail(photo, image))

    def adopt(self, sealed: Sequence[tuple[Photo, Payload]]) -> None:
        """Each photo of ``sealed`` still shown is held by the payload given with it (its
        sealed file, the same bytes: ``DraftStore.sealed_photos``) from now on, not by its
        bytes; its thumbnail and row stay. Emits nothing: the request did not change."""
        payloads = {id(photo): (photo, payload) for photo, payload in sealed}
        for row, photo in enumerate(self._photos):
            found = payloads.get(id(photo))
            if found is None or found[0] is not photo:
                continue
            successor = replace(photo, payload=found[1])
            self._photos[row] = successor
            held = self._held(photo)
            if held is None:  # its thumbnail is on its way: it finds the successor
                self._adopted[id(photo)] = (photo, successor)
            else:  # the bytes are let go
                del self._thumbs[id(photo)]
                self._thumbs[id(successor)] = (successor, held[1], held[2])

    def _show_thumbnail(self, photo: Photo, image: QImage) -> None:
        adopted = self._adopted.get(id(photo))
        if adopted is not None and adopted[0] is photo:
            del self._adopted[id(photo)]
            photo = adopted[1]
        for row, held in enumerate(self._photos):
            if held is photo:  # still shown (a strip refilled meanwhile drops it)
                if image.isNull():
                    pixmap = QPixmap(THUMB, THUMB * 2 // 3)
                    pixmap.fill(QColor("#7a2b2b"))  # unreadable: the viewer says so
                    self._thumbs[id(photo)] = (photo, pixmap, None)
                else:
                    pixmap = QPixmap.fromImage(drawn_on(image, photo, self._marks_on(photo)))
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

    def set_context(
        self, earlier: Sequence[EarlierPhoto], opinion_marks: Sequence[Authored]
    ) -> None:
        """The earlier photos of the patient (to compare) and the marks the opinions on the
        case carry (drawn for the reader), passed on to the viewer."""
        earlier, opinion_marks = list(earlier), list(opinion_marks)
        if (earlier, opinion_marks) == (self.earlier, self.opinion_marks):
            return
        self.earlier, self.opinion_marks = earlier, opinion_marks
        self._show_earlier_button()
        self._redraw_thumbnails()
        self._pass_context()

    def _marks_on(self, photo: Photo) -> list[PhotoMarks]:
        """The specialists' marks on ``photo``: the opinions' and the one being written."""
        found = [marks_for(opinion, photo.name) for _author, opinion in self.opinion_marks]
        found.append(marks_for(self.own_marks, photo.name))
        return [m for m in found if m]

    def _redraw_thumbnails(self) -> None:
        """The icons again, from the thumbnails as decoded, with the marks as they are."""
        for row, photo in enumerate(self._photos):
            held = self._held(photo)
            if held is not None and held[2] is not None:
                pixmap = QPixmap.fromImage(drawn_on(held[2], photo, self._marks_on(photo)))
                self._thumbs[id(photo)] = (photo, pixmap, held[2])
                self.item(row).setIcon(QIcon(pixmap))

    def _compared_rows(self) -> list[int]:
        """The rows of the photos that have an earlier photo of their lesion."""
        return [row for row, p in enumerate(self._photos) if of_the_lesion(p, self.earlier)]

    def _show_earlier_button(self) -> None:
        count = len({(e.case.case_id, e.number) for e in self.earlier})
        self.earlier_button.setText(_("Comparer aux photos antérieures ({n})").format(n=count))
        self.earlier_button.setVisible(bool(self._compared_rows()))

    def open_compared(self) -> PhotoViewer | None:
        """Opens the first photo that has an earlier one of its lesion, the two side by side
        (``None`` when none has)."""
        rows = self._compared_rows()
        if not rows:
            return None
        viewer = self.open_photo(rows[0])
        viewer.set_comparing(True)
        return viewer

    def set_own_marks(self, own: tuple[PhotoMarks, ...], editable: bool) -> None:
        """The specialist's own marks (the opinion form's), drawn with the viewer's tools
        when ``editable``."""
        if own != self.own_marks:
            self.own_marks = own
            self._redraw_thumbnails()
        self.marks_editable = editable
        if self.viewer is not None:
            self.viewer.set_own_marks(own, editable)

    def _pass_context(self) -> None:
        if self.viewer is not None:
            self.viewer.set_context(
                self.earlier, self.opinion_marks, self.own_marks, self.marks_editable
            )

    def _marks_drawn(self, own: tuple[PhotoMarks, ...]) -> None:
        self.own_marks = own
        self._redraw_thumbnails()
        self.marks_edited.emit(own)

    def open_photo(self, row: int) -> PhotoViewer:
        """Shows photo ``row`` in the viewer window (opened, or reused if open)."""
        if self.viewer is None:
            self.viewer = PhotoViewer(self._photos, row, self, self._preview)
            self.viewer.finished.connect(self._viewer_closed)
            self.viewer.marks_edited.connect(self._marks_drawn)
            self._pass_context()
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


def viewer_context(
    thread: CaseThread, others: Sequence[CaseThread]
) -> tuple[list[EarlierPhoto], list[Authored]]:
    """What the viewer shows around the photos of ``thread``: the photos of the patient's
    earlier requests among ``others``, and the marks of the opinions received on it, each
    with its author's name."""
    case = thread.case.bundle.case
    if case is None:
        return [], []
    cases = [t.case.bundle.case for t in others if t.case.bundle.case is not None]
    marks = [
        (opened.sender.display_name, opened.bundle.opinion.marks)
        for opened in thread.opinions
        if opened.bundle.opinion is not None and opened.bundle.opinion.marks
    ]
    return earlier_photos(case, cases), marks


def marks_html(opinion: Opinion) -> str:
    """A paragraph saying that ``opinion`` carries marks on the photos (empty if none)."""
    measured = sum(len(m.measurements) for m in opinion.marks)
    noted = sum(1 for m in opinion.marks for a in m.annotations if a.get("kind") != "text")
    if not (measured or noted):
        return ""
    text = _(
        "Le spécialiste a ajouté {m} mesure(s) et {a} annotation(s) sur les photos : "
        "ouvrez une photo pour les voir (en bleu)."
    ).format(m=measured, a=noted)
    return f"<p><i>{escape(text)}</i></p>"
