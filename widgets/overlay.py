"""The layers drawn over a photo, never into it: measurements and annotations.

The capture station's canvas (:mod:`widgets.capture_editor`) and the viewer of a received
photo (:mod:`widgets.photos`) paint them the same way, from coordinates in the photo's
pixels mapped to the widget by ``to_widget``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF

from app.i18n import _, language
from capture.measure import RULER, Measurement
from capture.photo import Annotation, Arrow, Circle, Text

MEASURE_COLOUR = QColor("#30d158")
ANNOTATION_COLOUR = QColor("#ff9f0a")

Point = tuple[float, float]
ToWidget = Callable[[Point], QPointF]


def number(value: float, digits: int = 1) -> str:
    """``12,4`` in French, ``12.4`` in English."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language() == "fr" else text


def day(moment: datetime) -> str:
    """``23/11/2026``: the local date of ``moment``."""
    return moment.astimezone().strftime("%d/%m/%Y")


def day_time(moment: datetime) -> str:
    """``23/11/2026 14:05``: the local date and time of ``moment``."""
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def short_time(moment: datetime) -> str:
    """``23/11 14:05``: the local day, month and time of ``moment``, for lists."""
    return moment.astimezone().strftime("%d/%m %H:%M")


def signed_percent(ratio: float) -> str:
    """``-42 %`` or ``+8 %`` for a relative change of -0.42 or 0.08."""
    sign = "+" if ratio > 0 else ""
    return _("{n} %").format(n=sign + number(ratio * 100, 0))


def measurement_text(m: Measurement) -> str:
    """``12,4 mm`` or ``3,2 cm²`` (with its length), or the pixel value marked uncalibrated."""
    if m.calibrated:
        if m.kind == "line":
            text = _("{v} mm").format(v=number(m.length))
        else:
            text = _("{a} cm² (longueur {l} mm)").format(
                a=number(m.area or 0.0), l=number(m.length)
            )
        if m.reason == RULER:  # calibrated by hand on a printed ruler: said so
            text += " " + _("(étalonné à la main sur une règle)")
        return text
    if m.kind == "line":
        return _("{v} px (non étalonné)").format(v=number(m.length, 0))
    return _("{a} px² (non étalonné)").format(a=number(m.area or 0.0, 0))


def arrow(painter: QPainter, a: QPointF, b: QPointF) -> None:
    """A line from ``a`` with its head at ``b``, in the painter's pen."""
    painter.drawLine(a, b)
    angle = math.atan2(b.y() - a.y(), b.x() - a.x())
    for side in (-1, 1):
        tip = angle + math.pi + side * 0.45
        painter.drawLine(b, QPointF(b.x() + 14 * math.cos(tip), b.y() + 14 * math.sin(tip)))


def label(painter: QPainter, at: QPointF, text: str, colour: QColor) -> None:
    """``text`` in ``colour`` on a dark rounded box just above and right of ``at``."""
    metrics = painter.fontMetrics()
    box = QRectF(
        at.x() + 6,
        at.y() - metrics.height() - 4,
        metrics.horizontalAdvance(text) + 10,
        metrics.height() + 4,
    )
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(QColor(0, 0, 0, 170)))
    painter.drawRoundedRect(box, 4, 4)
    painter.setPen(colour)
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def paint_measurements(
    painter: QPainter,
    measurements: Iterable[Measurement],
    to_widget: ToWidget,
    *,
    labelled: bool = True,
    colour: QColor = MEASURE_COLOUR,
) -> None:
    """Each line or outline, labelled with what it measures (unless not ``labelled``: a
    thumbnail has no room for words), in ``colour``."""
    for m in measurements:
        painter.setBrush(Qt.BrushStyle.NoBrush)  # a label before left a fill brush
        painter.setPen(QPen(colour, 2))
        points = [to_widget(p) for p in m.points]
        if m.kind == "line":
            painter.drawLine(points[0], points[1])
        else:
            painter.drawPolygon(QPolygonF(points))
        if labelled:
            label(painter, points[-1], measurement_text(m), colour)


def paint_annotations(
    painter: QPainter,
    annotations: Iterable[Annotation],
    to_widget: ToWidget,
    scale: float,
    *,
    labelled: bool = True,
    colour: QColor = ANNOTATION_COLOUR,
) -> None:
    """Arrows, circles (``scale``: widget pixels per photo pixel) and texts (unless not
    ``labelled``), in ``colour``."""
    for a in annotations:
        painter.setPen(QPen(colour, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if isinstance(a, Arrow):
            arrow(painter, to_widget(a.start), to_widget(a.end))
        elif isinstance(a, Circle):
            r = a.radius * scale
            painter.drawEllipse(to_widget(a.centre), r, r)
        elif isinstance(a, Text) and labelled:
            label(painter, to_widget(a.position), a.text, colour)
