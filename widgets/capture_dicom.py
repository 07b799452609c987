"""A DICOM image to keep as a photo, shown through window/level sliders first.

The file is read by :func:`capture.dicom.load_dicom` off the GUI thread, and so is every
rendering of this dialog: the modality values of a frame (floating point, a large image's
worth) and their window/level run on a worker as the sliders move, one at a time, the last
position asked for drawn when the worker is free (a slider dragged never queues up work).
Colour images have nothing to window: the sliders are then disabled. Of a multi-frame image
(an ultrasound loop, say), a third slider chooses the frame to keep; the window stays as set
while frames change.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.handback import hand_back
from app.i18n import _
from capture.dicom_import import DicomImage, window_level
from capture.regions import Image
from widgets.capture_preview import PreviewView
from widgets.geometry import size_within

SLIDER_STEPS = 1000

_RENDERING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-dicom")
"""The worker that renders a DICOM frame through its window (started at first use)."""


def _windowable(image: DicomImage) -> NDArray[np.float64] | None:
    """The modality values to window, or ``None`` for colour (nothing to window)."""
    return None if image.is_colour else image.modality_values()


class DicomDialog(QDialog):
    """Shows a DICOM image with "Centre" and "Largeur" sliders; :meth:`frame` is the result."""

    def __init__(self, image: DicomImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Importer un DICOM"))
        self.image = image
        self._values_lock = threading.Lock()
        self._values_of: tuple[int, NDArray[np.float64] | None] | None = None
        self.values = self._windowable(image)  # the first frame's, before the dialog shows
        self._wanted: tuple[DicomImage, float, float] | None = None
        self.rendered: tuple[DicomImage, float, float] | None = None  # the last one drawn
        self._busy = False
        low, high = (0.0, 255.0)
        if self.values is not None:
            low, high = image.stored_range()
        self.low, self.span = low, max(high - low, 1.0)
        centre, width = image.window or ((low + high + 1) / 2, high - low + 1)
        self.view = PreviewView()
        self.centre = QSlider(Qt.Orientation.Horizontal)
        self.width_ = QSlider(Qt.Orientation.Horizontal)
        for slider in (self.centre, self.width_):
            slider.setRange(0, SLIDER_STEPS)
            slider.setEnabled(self.values is not None)
        self.centre.setValue(round((centre - low) / self.span * SLIDER_STEPS))
        self.width_.setValue(
            max(1, round(min(width, self.span * 2) / (2 * self.span) * SLIDER_STEPS))
        )
        self.reading = QLabel()
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_slider.setRange(1, image.frames)
        self.frame_slider.setValue(image.frame + 1)
        self.frame_label = QLabel()
        form = QFormLayout()
        if image.frames > 1:
            form.addRow(_("Image de la série"), self.frame_slider)
            form.addRow("", self.frame_label)
        form.addRow(_("Centre de la fenêtre"), self.centre)
        form.addRow(_("Largeur de la fenêtre"), self.width_)
        form.addRow("", self.reading)
        buttons = QDialogButtonBox()
        buttons.addButton(_("Garder cette image"), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(_("Annuler"), QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.centre.valueChanged.connect(self.show_window)
        self.width_.valueChanged.connect(self.show_window)
        self.frame_slider.valueChanged.connect(self.show_frame)
        size_within(self, QSize(900, 700))  # or its screen, if smaller
        self.show_window()

    def window_values(self) -> tuple[float, float]:
        """The (centre, width) the sliders give, in modality units."""
        centre = self.low + self.centre.value() / SLIDER_STEPS * self.span
        width = max(1.0, self.width_.value() / SLIDER_STEPS * 2 * self.span)
        return centre, width

    def frame(self) -> Image:
        """The image as shown, as a BGR frame for the capture engine."""
        return self._render(self.image, *self.window_values())

    def _windowable(self, image: DicomImage) -> NDArray[np.float64] | None:
        """``image``'s modality values (the last frame's kept: sliders move more than
        frames change), or ``None`` for colour."""
        with self._values_lock:
            if self._values_of is not None and self._values_of[0] == image.frame:
                return self._values_of[1]
        values = _windowable(image)
        with self._values_lock:
            self._values_of = (image.frame, values)
        return values

    def _render(self, image: DicomImage, centre: float, width: float) -> Image:
        values = self._windowable(image)
        if values is None:
            rgb = image.display()
            return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        grey = window_level(values, centre, width)
        if image.photometric == "MONOCHROME1":
            grey = np.asarray(255 - grey, dtype=np.uint8)
        return np.ascontiguousarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))

    def show_frame(self, number: int) -> None:
        """Shows frame ``number`` (from 1) of a multi-frame image, through the same window."""
        self.image = self.image.with_frame(number - 1)
        self.show_window()

    def show_window(self) -> None:
        """Say where the sliders are at once; draw the frame through them on the worker."""
        self.frame_label.setText(
            _("Image {n} sur {total}").format(n=self.image.frame + 1, total=self.image.frames)
        )
        if self.values is not None:
            centre, width = self.window_values()
            self.reading.setText(
                _("Centre {c}, largeur {w}").format(c=round(centre), w=round(width))
            )
        self._wanted = (self.image, *self.window_values())
        if not self._busy:
            self._start()

    def _start(self) -> None:
        wanted = self._wanted
        if wanted is None:
            return
        self._busy = True
        _RENDERING.submit(self._work, wanted)

    def _work(self, wanted: tuple[DicomImage, float, float]) -> None:
        """On the worker."""
        frame = self._render(*wanted)
        hand_back(self, lambda: self._show_rendered(wanted, frame))  # if still open

    def _show_rendered(self, wanted: tuple[DicomImage, float, float], frame: Image) -> None:
        self._busy = False
        self.view.show_frame(frame)
        self.rendered = wanted
        if self._wanted is not wanted:  # the sliders moved meanwhile: draw where they are
            self._start()
