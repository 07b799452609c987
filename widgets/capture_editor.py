"""The canvas of the selected photo: areas to blur, measurements and annotations.

Three layers over the pixels, none of which ever writes into them:

- the **areas to blur** (:class:`capture.regions.Regions` of the photo): proposed face
  rectangles, rectangles the doctor drags and brush strokes; right-click removes one, a
  click selects one (then Suppr removes it). With the blur preview on, the picture shows
  what will be sent: the engine's own :func:`capture.regions.redact` on a display copy;
- **measurements**: "Longueur" (two clicks, or a drag) and "Contour" (clicks, double-click
  closes),
  measured by :mod:`capture.measure` through the marker's calibration when there is one;
- **annotations**: arrow and circle (drag), text (click), kept as vectors on the photo.

All coordinates handed to the engine are upright full-resolution pixels of the photo.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.i18n import _
from capture.measure import (
    RULER_ID,
    Calibration,
    MeasureError,
    Measurement,
    line_measurement,
    polygon_measurement,
)
from capture.photo import Arrow, Circle, KeptPhoto, Text
from capture.regions import MANUAL, Image, Rect, Regions, Stroke, redact
from widgets.overlay import arrow, paint_annotations, paint_measurements

DISPLAY_EDGE = 1600
"""Long side of the copy the canvas shows and blurs for its preview."""
BRUSH_RADIUS = 0.015
"""Brush radius as a fraction of the photo's long side."""

SELECT, RECT, BRUSH, LENGTH, CONTOUR, ARROW, CIRCLE, TEXT, RULER = (
    "select",
    "rect",
    "brush",
    "length",
    "contour",
    "arrow",
    "circle",
    "text",
    "ruler",
)
TOOLS = (SELECT, RECT, BRUSH, LENGTH, CONTOUR, ARROW, CIRCLE, TEXT, RULER)
LINES = (LENGTH, RULER)
"""The tools drawn as a line: two clicks, or a drag from the start to the end."""

Point = tuple[float, float]


class PhotoCanvas(QWidget):
    """Shows one kept photo and lets the doctor edit its three layers.

    Signals:
        regions_changed(): an area to blur was added or removed (confirmation withdrawn).
        measured(object): a :class:`capture.measure.Measurement` was made.
        measure_failed(str): a drawn outline could not be measured (its error code).
        annotations_changed(): an annotation was added.
        ruler_marked(object, object): the doctor marked two points on a printed ruler (the
            "Règle" tool), in the photo's pixels.
    """

    ruler_marked = Signal(object, object)

    regions_changed = Signal()
    measured = Signal(object)
    measure_failed = Signal(str)
    annotations_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo: KeptPhoto | None = None
        self.calibration: Calibration | None = None
        self.measurements: list[Measurement] = []
        self.tool = SELECT
        self.blur_preview = True
        self.selected: str | None = None
        self.text_source: Callable[[], str] = lambda: ""
        self._pixels: Image | None = None
        self._shown: Image | None = None  # the buffer behind _image
        self._image: QImage | None = None
        self._drag: tuple[Point, Point] | None = None
        self._path: list[Point] = []
        self._line_press: QPointF | None = None  # where a length's first point was pressed
        self._hover: Point | None = None  # the length's end, following the cursor
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(300, 200)
        self.setAccessibleName(_("Photo sélectionnée"))

    def sizeHint(self) -> QSize:
        return QSize(800, 560)

    # --- content --------------------------------------------------------------------------
    def set_photo(
        self,
        photo: KeptPhoto | None,
        measurements: list[Measurement] | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        """Shows ``photo`` with its measurement list (edited in place) and calibration."""
        self.photo = photo
        self.measurements = measurements if measurements is not None else []
        self.calibration = calibration
        self.selected = None
        self._drag, self._path = None, []
        self._pixels = None
        if photo is not None and photo.original is not None:
            self._pixels = photo.original.pixels(DISPLAY_EDGE)
        self.refresh()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self._drag, self._path = None, []
        cursor = Qt.CursorShape.ArrowCursor if tool == SELECT else Qt.CursorShape.CrossCursor
        self.setCursor(cursor)
        self.update()

    def set_blur_preview(self, on: bool) -> None:
        self.blur_preview = on
        self.refresh()

    @property
    def regions(self) -> Regions | None:
        return self.photo.regions if self.photo is not None else None

    def refresh(self) -> None:
        """Rebuilds the displayed picture (the blur preview follows the regions)."""
        pixels = self._pixels
        if pixels is None:
            self._image = self._shown = None
            self.update()
            return
        regions = self.regions
        if self.blur_preview and regions is not None and len(regions):
            shown = np.array(pixels)
            redact(shown, regions.areas(shown.shape[1], shown.shape[0]))
        else:
            shown = np.ascontiguousarray(pixels)
        self._shown = shown
        height, width = shown.shape[:2]
        self._image = QImage(
            shown.data, width, height, shown.strides[0], QImage.Format.Format_RGB888
        )
        self.update()

    # --- geometry ---------------------------------------------------------------------------
    def full_size(self) -> tuple[int, int]:
        if self.photo is None or self.photo.original is None:
            return (1, 1)
        return self.photo.original.size

    def target(self) -> QRectF:
        """Where the photo is drawn in the widget (letterboxed)."""
        width, height = self.full_size()
        scale = min(self.width() / width, self.height() / height)
        w, h = width * scale, height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def scale(self) -> float:
        """Widget pixels per photo pixel."""
        return self.target().width() / self.full_size()[0]

    def to_photo(self, pos: QPointF) -> Point:
        """A widget position in photo pixels (clamped to the photo)."""
        t, s = self.target(), self.scale()
        width, height = self.full_size()
        x = min(max((pos.x() - t.x()) / s, 0.0), width - 1.0)
        y = min(max((pos.y() - t.y()) / s, 0.0), height - 1.0)
        return (x, y)

    def to_widget(self, point: Point) -> QPointF:
        t, s = self.target(), self.scale()
        return QPointF(t.x() + point[0] * s, t.y() + point[1] * s)

    def region_at(self, point: Point) -> str | None:
        """The id of the topmost area to blur under ``point``."""
        regions = self.regions
        if regions is None:
            return None
        for region in reversed(list(regions)):
            b = region.bounds()
            if b.x <= point[0] <= b.x + b.width and b.y <= point[1] <= b.y + b.height:
                return region.id
        return None

    # --- editing ----------------------------------------------------------------------------
    def remove_region(self, region_id: str) -> None:
        regions = self.regions
        if regions is None:
            return
        regions.remove(region_id)
        if self.selected == region_id:
            self.selected = None
        self.refresh()
        self.regions_changed.emit()

    def _finish_drag(self, start: Point, end: Point) -> None:
        photo, regions = self.photo, self.regions
        assert photo is not None
        x0, y0 = min(start[0], end[0]), min(start[1], end[1])
        w, h = abs(end[0] - start[0]), abs(end[1] - start[1])
        if self.tool == RECT and regions is not None and w >= 4 and h >= 4:
            regions.add_rect(round(x0), round(y0), round(w), round(h))
            self.refresh()
            self.regions_changed.emit()
        elif self.tool == ARROW and math.hypot(w, h) >= 4:
            photo.annotate(Arrow(start, end))
            self.annotations_changed.emit()
        elif self.tool == CIRCLE and math.hypot(w, h) >= 4:
            photo.annotate(Circle(start, math.hypot(w, h)))
            self.annotations_changed.emit()

    def _finish_stroke(self) -> None:
        regions = self.regions
        if regions is not None and self._path:
            radius = BRUSH_RADIUS * max(self.full_size())
            regions.add_stroke(self._path, radius)
            self.refresh()
            self.regions_changed.emit()
        self._path = []

    def _measure(self, points: list[Point]) -> None:
        if self.tool == RULER:
            self.ruler_marked.emit(points[0], points[1])
            return
        try:
            if self.tool == LENGTH:
                m = line_measurement(self.calibration, points[0], points[1])
            else:
                m = polygon_measurement(self.calibration, points)
        except MeasureError as error:
            self.measure_failed.emit(error.code)
            return
        self.measurements.append(m)
        self.measured.emit(m)

    # --- events ---------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.photo is None:
            return
        self.setFocus()
        point = self.to_photo(event.position())
        if event.button() == Qt.MouseButton.RightButton:
            found = self.region_at(point)
            if found is not None:
                self.remove_region(found)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self.tool == SELECT:
            self.selected = self.region_at(point)
        elif self.tool in (RECT, ARROW, CIRCLE):
            self._drag = (point, point)
        elif self.tool == BRUSH:
            self._path = [point]
        elif self.tool in LINES:  # two clicks, or a drag from the start to the end
            if not self._path:
                self._path, self._line_press = [point], event.position()
            elif self.to_widget(self._path[0]) != self.to_widget(point):
                self._measure([self._path[0], point])
                self._path, self._hover = [], None
        elif self.tool == CONTOUR:
            self._path.append(point)
        elif self.tool == TEXT:
            text = self.text_source().strip()
            if text:
                self.photo.annotate(Text(point, text))
                self.annotations_changed.emit()
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.photo is None:
            return
        point = self.to_photo(event.position())
        if self.tool in LINES and len(self._path) == 1:
            self._hover = point
            self.update()
        if self._drag is not None:
            self._drag = (self._drag[0], point)
            self.update()
        elif self.tool == BRUSH and self._path and event.buttons() & Qt.MouseButton.LeftButton:
            self._path.append(point)
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.photo is None or event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.to_photo(event.position())
        press, self._line_press = self._line_press, None
        if self.tool in LINES and len(self._path) == 1 and press is not None:
            moved = event.position() - press
            if abs(moved.x()) + abs(moved.y()) >= 6:  # a drag, not a click: the line ends here
                self._measure([self._path[0], point])
                self._path, self._hover = [], None
        elif self._drag is not None:
            start, self._drag = self._drag[0], None
            self._finish_drag(start, point)
        elif self.tool == BRUSH:
            self._finish_stroke()
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.tool == CONTOUR and len(self._path) >= 3:
            points, self._path = self._path, []
            self._measure(points)
            self.update()
        elif self.tool == CONTOUR:
            self.measure_failed.emit("bad_points")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Delete and self.selected is not None:
            self.remove_region(self.selected)
        elif event.key() == Qt.Key.Key_Escape and (self._path or self._drag):
            self._path, self._drag = [], None
            self.update()
        else:
            super().keyPressEvent(event)

    # --- painting ---------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2e31"))
        if self._image is None:
            painter.setPen(QColor("#d0d0d0"))
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                _("Aucune photo sélectionnée : capturez ou importez une photo."),
            )
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.drawImage(self.target(), self._image)
        self._paint_regions(painter)
        self._paint_measurements(painter)
        self._paint_annotations(painter)
        self._paint_pending(painter)

    def _paint_regions(self, painter: QPainter) -> None:
        regions, s = self.regions, self.scale()
        if regions is None:
            return
        for region in regions:
            selected = region.id == self.selected
            colour = QColor("#ff3b30") if selected else QColor("#ffd60a")
            if region.origin == MANUAL and not selected:
                colour = QColor("#64d2ff")
            shape = region.shape
            if isinstance(shape, Rect):
                pen = QPen(colour, 3 if selected else 2, Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                top_left = self.to_widget((shape.x, shape.y))
                painter.drawRect(
                    QRectF(top_left.x(), top_left.y(), shape.width * s, shape.height * s)
                )
            elif isinstance(shape, Stroke):
                fill = QColor(colour)
                fill.setAlpha(110)
                pen = QPen(fill, max(2.0, 2 * shape.radius * s))
                pen.setCapStyle(Qt.PenCapStyle.RoundCap)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                painter.setPen(pen)
                points = [self.to_widget(p) for p in shape.points]
                if len(points) == 1:
                    painter.drawPoint(points[0])
                else:
                    painter.drawPolyline(QPolygonF(points))

    def _paint_measurements(self, painter: QPainter) -> None:
        cal = self.calibration
        if cal is not None and cal.marker_id == RULER_ID:  # the length marked on the ruler
            a, b = (self.to_widget(p) for p in cal.corners_px[:2])
            painter.setPen(QPen(QColor("#ffd60a"), 2, Qt.PenStyle.DashLine))
            painter.drawLine(a, b)
        paint_measurements(painter, self.measurements, self.to_widget)

    def _paint_annotations(self, painter: QPainter) -> None:
        if self.photo is not None:
            paint_annotations(painter, self.photo.annotations, self.to_widget, self.scale())

    def _paint_pending(self, painter: QPainter) -> None:
        painter.setPen(QPen(QColor("#ffffff"), 1, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self._drag is not None:
            a, b = (self.to_widget(p) for p in self._drag)
            if self.tool == RECT:
                painter.drawRect(QRectF(a, b).normalized())
            elif self.tool == ARROW:
                arrow(painter, a, b)
            elif self.tool == CIRCLE:
                r = math.hypot(b.x() - a.x(), b.y() - a.y())
                painter.drawEllipse(a, r, r)
        if self.tool in LINES and len(self._path) == 1 and self._hover is not None:
            painter.drawLine(self.to_widget(self._path[0]), self.to_widget(self._hover))
        if self._path:
            points = [self.to_widget(p) for p in self._path]
            if len(points) > 1:
                painter.drawPolyline(QPolygonF(points))
            for p in points:
                painter.drawEllipse(p, 3, 3)
