"""The zoom-and-pan canvas of a received photo, as image readers have it.

The wheel zooms around the point under the cursor (that point of the photo stays under it),
a drag pans, F fits the photo to the window and 1 shows it at 100 %; +, - and the arrow
keys zoom and pan from the keyboard. The full-size photo is decoded on a worker thread,
which also makes smaller copies of it (halving until about a screen's size): the painter
then draws from the smallest copy that still has enough pixels for the zoom shown, and only
its visible part, so a 24-megapixel photo never gets scaled whole on the GUI thread.

Layers drawn over the pixels (never into them): the doctor's measurements and annotations,
and marks in another colour (the specialist's, see :mod:`widgets.annotate`). While a drawing
tool is chosen, the canvas reports gestures in the photo's pixels and the owner turns them
into measurements or annotations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.handback import hand_back
from app.i18n import _
from capture.measure import Measurement
from capture.photo import Annotation
from widgets.imagedecode import decode_image
from widgets.overlay import arrow, paint_annotations, paint_measurements

Point = tuple[float, float]
Level = tuple[QImage, float]  # a copy of the photo, and its pixels per photo pixel

MAX_ZOOM = 16.0
"""The largest zoom: 16 screen pixels per photo pixel."""
WHEEL_STEP = 1.25
"""The zoom factor of one notch of the wheel (and of + and -)."""
LEVEL_EDGE = 1024
"""Smaller copies are made until the long side is at most this."""
CLICK_SLOP = 4.0
"""A press and release closer than this (screen pixels) is a click, not a drag."""

PAN, LENGTH, AREA, ARROW, CIRCLE = "pan", "length", "area", "arrow", "circle"
TOOLS = (PAN, LENGTH, AREA, ARROW, CIRCLE)

_DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-viewer")
"""One worker decodes the photos the viewers show, one after the other."""


def decoded(data: bytes) -> QImage:
    """The full-size picture of ``data`` (null if it cannot be read), decoded on a worker
    while the GUI thread runs (``widgets/imagedecode.py``; ``QImage.fromData`` held Python's
    lock for the whole decode: the window froze 40 to 100 ms a photo)."""
    return decode_image(data)


def levels_of(image: QImage) -> list[Level]:
    """``image`` and its copies halved until the long side is at most :data:`LEVEL_EDGE`
    (on a worker thread: ``QImage`` only)."""
    levels: list[Level] = [(image, 1.0)]
    current, factor = image, 1.0
    while max(current.width(), current.height()) > LEVEL_EDGE:
        current = current.scaled(
            max(1, current.width() // 2),
            max(1, current.height() // 2),
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        factor /= 2
        levels.append((current, factor))
    return levels


class ZoomCanvas(QWidget):
    """One photo, zoomed and panned, with its layers.

    The view is a scale (screen pixels per photo pixel) and the photo point at the widget's
    centre; "fitted" views follow the widget's size.

    Signals:
        view_changed(): the person zoomed or panned (a linked canvas follows).
        gesture(str, object): a drawing tool finished a gesture: the tool and its points in
            the photo's pixels (two for a length, an arrow or a circle's centre and edge;
            three or more for an area).
        loaded_changed(): the full-size photo was decoded (or found unreadable).
        analysed(): the ``analyse`` given with the photo has run (:attr:`analysis`).
    """

    view_changed = Signal()
    gesture = Signal(str, object)
    loaded_changed = Signal()
    analysed = Signal()
    _decoded = Signal(object, object, object)  # (the request key, the image, its levels)
    _analysed = Signal(object, object)  # (the request key, what ``analyse`` returned)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()  # the full-size photo once loaded (or the preview meanwhile)
        self.levels: list[Level] = []
        self.size_px = (0, 0)
        self.loaded = False
        self.measurements: list[Measurement] = []
        self.annotations: list[Annotation] = []
        self.marks: list[tuple[list[Measurement], list[Annotation], QColor]] = []
        self.overlay = True
        self.tool = PAN
        self.fitted = True
        self._scale = 1.0
        self._centre: Point = (0.0, 0.0)
        self._key: object = None
        self._press: QPointF | None = None
        self._last: QPointF | None = None
        self._drag: tuple[Point, Point] | None = None
        self._path: list[Point] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(_("Photo agrandie"))
        self.analysis: object = None
        self.analysis_done = False
        self._decoded.connect(self._show_decoded)
        self._analysed.connect(self._keep_analysis)

    def sizeHint(self) -> QSize:
        return QSize(800, 520)

    # --- content ------------------------------------------------------------------------------
    def show_photo(
        self,
        size: tuple[int, int],
        read: Callable[[], bytes] | None,
        preview: QImage | None = None,
        analyse: Callable[[QImage], object] | None = None,
    ) -> None:
        """Shows a photo of ``size`` pixels; ``read`` (called on the worker) gives its bytes,
        ``preview`` is drawn stretched until they are decoded. ``analyse`` then runs on the
        decoded picture, on the worker too; its result becomes :attr:`analysis`."""
        self._key = object()
        self.analysis, self.analysis_done = None, False
        self.size_px = size
        self.image = preview if preview is not None else QImage()
        self.levels = []
        if preview is not None and not preview.isNull() and size[0] > 0:
            self.levels = [(preview, preview.width() / size[0])]
        self.loaded = read is None
        self._drag, self._path = None, []
        self.fitted = True
        self._centre = (size[0] / 2, size[1] / 2)
        self.update()
        if read is not None:
            _DECODER.submit(self._decode, self._key, read, analyse)

    def _decode(
        self, key: object, read: Callable[[], bytes], analyse: Callable[[QImage], object] | None
    ) -> None:
        """On the worker thread: the decode and the smaller copies, then the analysis; a
        photo no longer asked for (paged past) is skipped, so the one shown comes sooner."""
        if key is not self._key:
            return
        image = decoded(read())
        levels = levels_of(image) if not image.isNull() else []
        hand_back(self, lambda: self._decoded.emit(key, image, levels))  # if still there
        if analyse is not None and key is self._key:
            analysis = analyse(image)
            hand_back(self, lambda: self._analysed.emit(key, analysis))

    def _keep_analysis(self, key: object, analysis: object) -> None:
        if key is self._key:
            self.analysis, self.analysis_done = analysis, True
            self.analysed.emit()

    def _show_decoded(self, key: object, image: QImage, levels: list[Level]) -> None:
        if key is not self._key:
            return  # another photo was asked for meanwhile
        self.image, self.levels, self.loaded = image, levels, True
        if not image.isNull() and (image.width(), image.height()) != self.size_px:
            relative = self.relative_view()
            self.size_px = (image.width(), image.height())
            self.set_relative_view(*relative)
        self.update()
        self.loaded_changed.emit()

    def set_layers(
        self,
        measurements: list[Measurement],
        annotations: list[Annotation],
        marks: list[tuple[list[Measurement], list[Annotation], QColor]] | None = None,
    ) -> None:
        """The doctor's layer, and other marks each in its colour."""
        self.measurements, self.annotations = measurements, annotations
        self.marks = marks or []
        self.update()

    def set_overlay(self, on: bool) -> None:
        self.overlay = on
        self.update()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self._drag, self._path, self._press = None, [], None
        self.setCursor(Qt.CursorShape.OpenHandCursor if tool == PAN else Qt.CursorShape.CrossCursor)
        self.update()

    # --- geometry -----------------------------------------------------------------------------
    def fit_scale(self) -> float:
        width, height = self.size_px
        if width <= 0 or height <= 0:
            return 1.0
        return max(min(self.width() / width, self.height() / height), 1e-3)  # never zero

    def scale(self) -> float:
        """Screen pixels per photo pixel."""
        return self.fit_scale() if self.fitted else self._scale

    def centre(self) -> Point:
        if self.fitted:
            return (self.size_px[0] / 2, self.size_px[1] / 2)
        return self._centre

    def target(self) -> QRectF:
        """Where the whole photo lies in the widget (partly outside when zoomed in)."""
        s, (cx, cy) = self.scale(), self.centre()
        left = self.width() / 2 - cx * s
        top = self.height() / 2 - cy * s
        return QRectF(left, top, self.size_px[0] * s, self.size_px[1] * s)

    def to_widget(self, point: Point) -> QPointF:
        box, s = self.target(), self.scale()
        return QPointF(box.left() + point[0] * s, box.top() + point[1] * s)

    def to_photo(self, pos: QPointF) -> Point:
        box, s = self.target(), self.scale()
        return ((pos.x() - box.left()) / s, (pos.y() - box.top()) / s)

    def _clamped(self, point: Point) -> Point:
        width, height = self.size_px
        return (min(max(point[0], 0.0), float(width)), min(max(point[1], 0.0), float(height)))

    def set_view(self, scale: float | None, centre: Point | None = None) -> None:
        """Shows the photo at ``scale`` (``None``: fitted) around ``centre`` (photo pixels;
        default: where it is now). Does not emit :attr:`view_changed`."""
        if scale is None:
            self.fitted = True
        else:
            low = min(self.fit_scale(), 1.0) / 2
            self._centre = self._clamped(centre if centre is not None else self.centre())
            self._scale = min(max(scale, low), MAX_ZOOM)
            self.fitted = False
        self.update()

    def relative_view(self) -> tuple[float | None, float, float]:
        """The view as the zoom relative to "fitted" (``None`` when fitted) and the centre
        as fractions of the photo's size: what a linked canvas of another photo follows."""
        width, height = self.size_px
        cx, cy = self.centre()
        fx, fy = (cx / width, cy / height) if width > 0 and height > 0 else (0.5, 0.5)
        return (None if self.fitted else self._scale / self.fit_scale(), fx, fy)

    def set_relative_view(self, zoom: float | None, fx: float, fy: float) -> None:
        """Follows a :meth:`relative_view` (of this photo, or of a linked one)."""
        if zoom is None:
            self.set_view(None)
            return
        self.set_view(zoom * self.fit_scale(), (fx * self.size_px[0], fy * self.size_px[1]))

    # --- the person's gestures ----------------------------------------------------------------
    def zoom_at(self, factor: float, pos: QPointF) -> None:
        """Zooms by ``factor`` keeping the photo point under ``pos`` where it is."""
        if self.size_px[0] <= 0:
            return
        under = self.to_photo(pos)
        low = min(self.fit_scale(), 1.0) / 2
        scale = min(max(self.scale() * factor, low), MAX_ZOOM)
        centre = (
            under[0] - (pos.x() - self.width() / 2) / scale,
            under[1] - (pos.y() - self.height() / 2) / scale,
        )
        self._scale, self._centre, self.fitted = scale, centre, False  # not clamped: exact
        self.update()
        self.view_changed.emit()

    def pan_by(self, dx: float, dy: float) -> None:
        """Moves the photo by (``dx``, ``dy``) screen pixels."""
        s = self.scale()
        cx, cy = self.centre()
        self._scale = s
        self._centre = self._clamped((cx - dx / s, cy - dy / s))
        self.fitted = False
        self.update()
        self.view_changed.emit()

    def fit(self) -> None:
        self.set_view(None)
        self.view_changed.emit()

    def actual_size(self) -> None:
        self.set_view(1.0)
        self.view_changed.emit()

    def step_zoom(self, direction: int) -> None:
        """One step in (1) or out (-1) around the widget's centre."""
        centre = QPointF(self.width() / 2, self.height() / 2)
        self.zoom_at(WHEEL_STEP if direction > 0 else 1 / WHEEL_STEP, centre)

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if notches:
            self.zoom_at(WHEEL_STEP**notches, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        step = max(40.0, self.width() / 10)
        moves = {
            Qt.Key.Key_Left: (step, 0.0),
            Qt.Key.Key_Right: (-step, 0.0),
            Qt.Key.Key_Up: (0.0, step),
            Qt.Key.Key_Down: (0.0, -step),
        }
        key = Qt.Key(event.key())
        if key in moves and not self.fitted:
            self.pan_by(*moves[key])
        elif key == Qt.Key.Key_Escape and (self._path or self._drag):
            self._path, self._drag, self._press = [], None, None
            self.update()
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self.tool == PAN
        ):
            self._last = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        point = self._clamped(self.to_photo(pos))
        self._press = pos
        if self.tool in (ARROW, CIRCLE):
            self._drag = (point, point)
        elif self.tool == LENGTH:
            if len(self._path) == 1 and not self._near(self._path[0], pos):  # second click
                self._finish(LENGTH, [self._path[0], point])
            elif len(self._path) == 1:
                pass  # the same point again (a double click): not a line
            else:
                self._path = [point]
                self._drag = (point, point)
        elif self.tool == AREA:
            self._path.append(point)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._last is not None:
            delta = pos - self._last
            self._last = pos
            self.pan_by(delta.x(), delta.y())
        elif self._drag is not None:
            self._drag = (self._drag[0], self._clamped(self.to_photo(pos)))
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._last is not None:
            self._last = None
            self.setCursor(
                Qt.CursorShape.OpenHandCursor if self.tool == PAN else Qt.CursorShape.CrossCursor
            )
            return
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        moved = math.dist((pos.x(), pos.y()), (self._press.x(), self._press.y())) >= CLICK_SLOP
        self._press = None
        point = self._clamped(self.to_photo(pos))
        if self.tool in (ARROW, CIRCLE) and self._drag is not None:
            start, self._drag = self._drag[0], None
            if moved:
                self._finish(self.tool, [start, point])
        elif self.tool == LENGTH and self._path and moved:  # the drag gesture
            self._finish(LENGTH, [self._path[0], point])
        elif self.tool == LENGTH:
            self._drag = None  # a click: the second click ends the line
        self.update()

    def _near(self, point: Point, pos: QPointF) -> bool:
        at = self.to_widget(point)
        return math.dist((at.x(), at.y()), (pos.x(), pos.y())) < CLICK_SLOP

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.tool == AREA:
            points: list[Point] = []
            clicked = [*self._path, self._clamped(self.to_photo(event.position()))]
            for point in clicked:  # a point clicked twice counts once
                if not points or not self._near(points[-1], self.to_widget(point)):
                    points.append(point)
            if len(points) >= 3:
                self._finish(AREA, points)
            self._path = []
            self.update()
        else:
            self.mousePressEvent(event)

    def _finish(self, tool: str, points: list[Point]) -> None:
        self._path, self._drag = [], None
        self.gesture.emit(tool, points)

    # --- painting -----------------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.update()

    def _level(self) -> Level | None:
        """The smallest copy with at least as many pixels as shown, else the largest."""
        if not self.levels:
            return None
        s = self.scale()
        fitting = [level for level in self.levels if level[1] >= s * 0.999]
        return min(fitting, key=lambda level: level[1]) if fitting else self.levels[0]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2e31"))
        level = self._level()
        if level is None:
            painter.setPen(QColor("#d0d0d0"))
            text = _("Cette photo ne peut pas être lue.") if self.loaded else _("Chargement…")
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)
            return
        image, factor = level
        box, s = self.target(), self.scale()
        shown = box.intersected(QRectF(self.rect()))
        if not shown.isEmpty():
            # only the visible part, from the copy that suits the zoom
            source = QRectF(
                (shown.left() - box.left()) / s * factor,
                (shown.top() - box.top()) / s * factor,
                shown.width() / s * factor,
                shown.height() / s * factor,
            )
            if s * 0.999 > factor or s < 2.0:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(shown, image, source)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.overlay:
            paint_measurements(painter, self.measurements, self.to_widget)
            paint_annotations(painter, self.annotations, self.to_widget, s)
            for measurements, annotations, colour in self.marks:
                paint_measurements(painter, measurements, self.to_widget, colour=colour)
                paint_annotations(painter, annotations, self.to_widget, s, colour=colour)
        self._paint_pending(painter)

    def _paint_pending(self, painter: QPainter) -> None:
        painter.setPen(QPen(QColor("#ffffff"), 1, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self._drag is not None and self._drag[0] != self._drag[1]:
            a, b = (self.to_widget(p) for p in self._drag)
            if self.tool == CIRCLE:
                r = math.hypot(b.x() - a.x(), b.y() - a.y())
                painter.drawEllipse(a, r, r)
            elif self.tool == ARROW:
                arrow(painter, a, b)
            else:
                painter.drawLine(a, b)
        if self._path:
            points = [self.to_widget(p) for p in self._path]
            if len(points) > 1:
                painter.drawPolyline(QPolygonF(points))
            for p in points:
                painter.drawEllipse(p, 3, 3)
