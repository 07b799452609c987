"""Two photos side by side: the one being read and an earlier photo of the same lesion.

The right-hand pane shows a photo of an earlier request of the same patient (by default the
latest one of the same body site, :func:`cases.earlier.counterpart`); the others are in its
list, one click away. The two canvases are linked: zooming or panning one moves the other
to the same relative zoom and the same place (as fractions of each photo), so the same part
of the lesion stays in view on both.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QVBoxLayout, QWidget

from app.i18n import _
from cases.earlier import EarlierPhoto
from widgets.overlay import day
from widgets.photofacts import annotations_of, measurements_of, photo_bytes, photo_caption
from widgets.viewer import ZoomCanvas


def earlier_label(earlier: EarlierPhoto) -> str:
    """``Demande du 12/10/2026 · Photo 1 · jambe gauche``."""
    return _("Demande du {date} · {caption}").format(
        date=day(earlier.case.created_at), caption=photo_caption(earlier.photo, earlier.number)
    )


def link(first: ZoomCanvas, second: ZoomCanvas) -> None:
    """Zoom and pan of either canvas carried to the other (neither echoes back)."""
    first.view_changed.connect(lambda: second.set_relative_view(*first.relative_view()))
    second.view_changed.connect(lambda: first.set_relative_view(*second.relative_view()))


class ComparePane(QWidget):
    """The earlier photo: a list of the earlier photos of the lesion (the one shown named
    there, with its date) and its canvas.

    Signals:
        chosen(object): an :class:`EarlierPhoto` was chosen (``None``: none).
    """

    chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photos: list[EarlierPhoto] = []
        self.shown: EarlierPhoto | None = None
        self.choice = QComboBox()
        self.choice.setAccessibleName(_("Photo antérieure à comparer"))
        self.choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.choice.setMinimumContentsLength(16)
        self.choice.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.canvas = ZoomCanvas()
        self.canvas.setAccessibleName(_("Photo antérieure"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.choice)
        layout.addWidget(self.canvas, 1)
        self.choice.currentIndexChanged.connect(self._choose)

    def set_photos(self, photos: Sequence[EarlierPhoto], shown: EarlierPhoto | None) -> None:
        """The earlier photos to choose from, and the one to show first."""
        self.photos = list(photos)
        self.choice.blockSignals(True)
        self.choice.clear()
        for earlier in self.photos:
            self.choice.addItem(earlier_label(earlier))
        index = self.photos.index(shown) if shown in self.photos else 0
        self.choice.setCurrentIndex(index if self.photos else -1)
        self.choice.blockSignals(False)
        self._choose(self.choice.currentIndex())

    def _choose(self, index: int) -> None:
        self.shown = self.photos[index] if 0 <= index < len(self.photos) else None
        earlier = self.shown
        if earlier is None:
            self.canvas.show_photo((0, 0), None)
        else:
            photo = earlier.photo
            self.canvas.show_photo((photo.width, photo.height), lambda: photo_bytes(photo))
            self.canvas.set_layers(measurements_of(photo), annotations_of(photo))
        self.chosen.emit(earlier)
