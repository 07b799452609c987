"""A DICOM image to keep as a photo, shown through window/level sliders first.

The file is read by :func:`capture.dicom.load_dicom` off the GUI thread; this dialog only
re-renders the (already decoded) values through :func:`capture.dicom.window_level` as the
sliders move. Colour images have nothing to window: the sliders are then disabled. Of a
multi-frame image (an ultrasound loop, say), a third slider chooses the frame to keep; the
window stays as set while frames change.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from capture.dicom_import import DicomImage, window_level
from capture.regions import Image
from widgets.capture_preview import PreviewView

SLIDER_STEPS = 1000


def _windowable(image: DicomImage) -> NDArray[np.float64] | None:
    """The modality values to window, or ``None`` for colour (nothing to window)."""
    return None if image.is_colour else image.modality_values()


class DicomDialog(QDialog):
    """Shows a DICOM image with "Centre" and "Largeur" sliders; :meth:`frame` is the result."""

    def __init__(self, image: DicomImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Importer un DICOM"))
        self.image = image
        self.values = _windowable(image)
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
        self.resize(900, 700)
        self.show_window()

    def window_values(self) -> tuple[float, float]:
        """The (centre, width) the sliders give, in modality units."""
        centre = self.low + self.centre.value() / SLIDER_STEPS * self.span
        width = max(1.0, self.width_.value() / SLIDER_STEPS * 2 * self.span)
        return centre, width

    def frame(self) -> Image:
        """The image as shown, as a BGR frame for the capture engine."""
        if self.values is None:
            rgb = self.image.display()
            return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        centre, width = self.window_values()
        grey = window_level(self.values, centre, width)
        if self.image.photometric == "MONOCHROME1":
            grey = np.asarray(255 - grey, dtype=np.uint8)
        return np.ascontiguousarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))

    def show_frame(self, number: int) -> None:
        """Shows frame ``number`` (from 1) of a multi-frame image, through the same window."""
        self.image = self.image.with_frame(number - 1)
        self.values = _windowable(self.image)
        self.show_window()

    def show_window(self) -> None:
        self.frame_label.setText(
            _("Image {n} sur {total}").format(n=self.image.frame + 1, total=self.image.frames)
        )
        self.view.show_frame(self.frame())
        if self.values is not None:
            centre, width = self.window_values()
            self.reading.setText(
                _("Centre {c}, largeur {w}").format(c=round(centre), w=round(width))
            )
