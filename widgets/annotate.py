"""The specialist's own measurements and annotations on a received photo.

The viewer's canvas (:class:`widgets.viewer.ZoomCanvas`) reports gestures; this module
turns them into measurements (a length, an outline's area) with the photo's calibration,
and annotations (an arrow or a circle, with a short text beside it), as plain data of
:class:`cases.marks.PhotoMarks`. The calibration is found again on the decoded photo (the
ArUco marker the doctor laid beside the lesion), or taken from a line the doctor calibrated
by hand on a ruler; without either, lengths are in pixels and say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLineEdit, QPushButton, QWidget

from app.i18n import _
from capture.measure import (
    RULER,
    Calibration,
    MeasureError,
    Measurement,
    find_marker,
    line_measurement,
    polygon_measurement,
    ruler_calibration,
)
from capture.photo import Arrow, Circle, Text
from cases.marks import PhotoMarks
from widgets.viewer import AREA, ARROW, CIRCLE, LENGTH, PAN

SPECIALIST_COLOUR = QColor("#64d2ff")
"""The specialist's marks, told apart from the doctor's (green and orange)."""
MAX_MARK_TEXT = 80

Point = tuple[float, float]


def calibration_of(image: QImage, doctors: list[Measurement]) -> Calibration | None:
    """The photo's calibration (on a worker thread): its marker found again, else a line
    the doctor calibrated by hand on a ruler (the same scale), else ``None``."""
    if not image.isNull():
        rgb = image.convertToFormat(QImage.Format.Format_RGB888)
        width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
        rows = np.frombuffer(rgb.constBits(), np.uint8, count=stride * height)
        pixels = rows.reshape(height, stride)[:, : width * 3].reshape(height, width, 3)
        try:
            found = find_marker(np.ascontiguousarray(pixels[:, :, ::-1]))
        except (cv2.error, ValueError, MeasureError):
            found = None  # measured in pixels, as without a marker
        if found is not None:
            return found
    for m in doctors:
        if m.kind == "line" and m.calibrated and m.reason == RULER:
            with_scale = _ruler_from(m)
            if with_scale is not None:
                return with_scale
    return None


def _ruler_from(m: Measurement) -> Calibration | None:
    try:
        return ruler_calibration(m.points[0], m.points[1], m.length)
    except MeasureError:
        return None


def mark_of(
    tool: str, points: list[Point], calibration: Calibration | None, text: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The measurements and annotations a finished gesture makes (as plain data).

    Raises:
        MeasureError: an outline that encloses nothing, or a point past the marker plane.
    """
    text = text.strip()[:MAX_MARK_TEXT]
    if tool == LENGTH:
        return [line_measurement(calibration, points[0], points[1]).to_dict()], []
    if tool == AREA:
        return [polygon_measurement(calibration, points).to_dict()], []
    annotations: list[dict[str, Any]] = []
    if tool == ARROW:
        start, end = points
        annotations.append(Arrow(start, end).to_dict())
        if text:
            annotations.append(Text(start, text).to_dict())  # by the tail, off the lesion
    elif tool == CIRCLE:
        centre, edge = points
        radius = math.dist(centre, edge)
        annotations.append(Circle(centre, radius).to_dict())
        if text:
            at = (centre[0] + radius * 0.72, centre[1] - radius * 0.72)
            annotations.append(Text(at, text).to_dict())
    return [], annotations


def added(
    marks: PhotoMarks,
    measurements: Sequence[Mapping[str, Any]],
    annotations: Sequence[Mapping[str, Any]],
) -> PhotoMarks:
    return PhotoMarks(
        marks.photo,
        marks.measurements + tuple(measurements),
        marks.annotations + tuple(annotations),
    )


class MarkTools(QWidget):
    """The specialist's tools, a row: move, length, area, arrow, circle, the text to put by
    an arrow or a circle, and "undo the last".

    Signals:
        tool_chosen(str): a tool of :mod:`widgets.viewer` was chosen.
        undo_requested(): remove the last mark drawn.
    """

    tool_chosen = Signal(str)
    undo_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for tool, label, tip in (
            (PAN, _("Déplacer"), _("Glisser pour déplacer la photo ; molette pour zoomer")),
            (LENGTH, _("Longueur"), _("Deux clics, ou glisser du début à la fin")),
            (AREA, _("Surface"), _("Clics autour de la lésion, double-clic pour fermer")),
            (ARROW, _("Flèche"), _("Glisser de la queue à la pointe ; le texte va à la queue")),
            (CIRCLE, _("Cercle"), _("Glisser du centre vers le bord")),
        ):
            button = QPushButton(label)
            button.setCheckable(True)
            button.setAutoDefault(False)
            button.setToolTip(tip)
            self.group.addButton(button)
            self.buttons[tool] = button
            button.clicked.connect(lambda _c=False, t=tool: self.tool_chosen.emit(t))
            row.addWidget(button)
        self.buttons[PAN].setChecked(True)
        self.text = QLineEdit()
        self.text.setMaxLength(MAX_MARK_TEXT)
        self.text.setPlaceholderText(_("Texte court (flèche, cercle)"))
        self.text.setAccessibleName(_("Texte de l’annotation"))
        self.text.setMinimumWidth(120)
        self.undo = QPushButton(_("Effacer la dernière"))
        self.undo.setAutoDefault(False)
        self.undo.setToolTip(_("Retire votre dernière mesure ou annotation sur cette photo"))
        self.undo.clicked.connect(self.undo_requested)
        row.addWidget(self.text, 1)
        row.addWidget(self.undo)

    def choose(self, tool: str) -> None:
        self.buttons[tool].setChecked(True)
        self.tool_chosen.emit(tool)
