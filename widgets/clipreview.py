"""The key frames of a clip and their areas, for the doctor's review (issue 17 §2).

:class:`KeyFrameView` shows one key frame with its areas: those the detector found (green,
blurred; red and dashed once the doctor removed them) and those the doctor drew (blue). A
click inside a found area removes it or puts it back, a click inside a drawn one removes it,
and a drag elsewhere draws a new one. :class:`KeyFrameStrip` lists the key frames as small
pictures with the number of areas on each.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QSizePolicy, QWidget

from app.i18n import _
from capture.clipreview import ClipReview
from capture.regions import Rect

GREEN, RED, BLUE = QColor("#2e7d32"), QColor("#c62828"), QColor("#1565c0")
MIN_DRAG = 6


class KeyFrameView(QWidget):
    """One picture (a preview frame or a key frame) with the review's areas drawn over it.

    Signals:
        changed(): the doctor removed, restored or drew an area.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.source_size = QSize(1, 1)
        self.review: ClipReview | None = None
        self.sample = -1
        self._drag: tuple[QPoint, QPoint] | None = None
        self.message = ""
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(_("Image du clip"))

    def show_frame(self, image: QImage, source_size: QSize, sample: int = -1) -> None:
        """``image`` (scaled from a frame of ``source_size``); ``sample``: the key frame it is,
        whose areas are drawn and edited, or -1 for a preview frame."""
        self.image, self.source_size, self.sample = image, source_size, sample
        self.message = ""
        self.update()

    def show_message(self, text: str) -> None:
        self.image = QImage()
        self.message = text
        self.update()

    # --- geometry -------------------------------------------------------------------------
    def _target(self) -> QRect:
        if self.image.isNull():
            return QRect()
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect(
            (self.width() - size.width()) // 2,
            (self.height() - size.height()) // 2,
            size.width(),
            size.height(),
        )

    def _to_widget(self, rect: Rect) -> QRect:
        target = self._target()
        sx = target.width() / max(1, self.source_size.width())
        sy = target.height() / max(1, self.source_size.height())
        return QRect(
            target.x() + round(rect.x * sx), target.y() + round(rect.y * sy),
            round(rect.width * sx), round(rect.height * sy),
        )  # fmt: skip

    def _to_source(self, point: QPoint) -> tuple[int, int]:
        target = self._target()
        sx = self.source_size.width() / max(1, target.width())
        sy = self.source_size.height() / max(1, target.height())
        x = min(max(point.x() - target.x(), 0), target.width())
        y = min(max(point.y() - target.y(), 0), target.height())
        return round(x * sx), round(y * sy)

    # --- painting -------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202020"))
        if self.image.isNull():
            painter.setPen(QColor("#e0e0e0"))
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message
            )
            return
        painter.drawImage(self._target(), self.image)
        review = self.review
        if review is not None and 0 <= self.sample < len(review.found):
            for _j, rect, blurred in review.kept(self.sample):
                pen = QPen(GREEN if blurred else RED, 3)
                if not blurred:
                    pen.setStyle(Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.drawRect(self._to_widget(rect))
            painter.setPen(QPen(BLUE, 3))
            for _k, rect in review.added_on(self.sample):
                painter.drawRect(self._to_widget(rect))
        if self._drag is not None:
            painter.setPen(QPen(BLUE, 2, Qt.PenStyle.DotLine))
            painter.drawRect(QRect(self._drag[0], self._drag[1]).normalized())

    # --- editing --------------------------------------------------------------------------
    def _editable(self) -> bool:
        return self.review is not None and 0 <= self.sample < len(self.review.found)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._editable() and event.button() == Qt.MouseButton.LeftButton:
            point = event.position().toPoint()
            self._drag = (point, point)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:
            self._drag = (self._drag[0], event.position().toPoint())
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag is None or self.review is None:
            return
        start, end = self._drag[0], event.position().toPoint()
        self._drag = None
        if (end - start).manhattanLength() < MIN_DRAG:
            everywhere = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.click_at(*self._to_source(start), everywhere=everywhere)
        else:
            (x0, y0), (x1, y1) = self._to_source(start), self._to_source(end)
            self.draw_area(Rect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
        self.update()

    def click_at(self, x: int, y: int, *, everywhere: bool = False) -> None:
        """A click at ``x``, ``y`` (source pixels): drops a drawn area there, else removes or
        restores a found one (``everywhere``, with Shift: on the key frames around it too,
        as long as it is followed)."""
        review = self.review
        if review is None or not self._editable():
            return
        for index, rect in reversed(review.added_on(self.sample)):
            if _inside(rect, x, y):
                review.drop_added(index)
                self.changed.emit()
                self.update()
                return
        for j, rect, _blurred in review.kept(self.sample):
            if _inside(rect, x, y):
                if everywhere:
                    review.toggle_track(self.sample, j)
                else:
                    review.toggle(self.sample, j)
                self.changed.emit()
                self.update()
                return

    def draw_area(self, rect: Rect) -> None:
        """An area drawn on the key frame shown (source pixels)."""
        if self.review is not None and self._editable() and rect.area > 0:
            self.review.add(self.sample, rect)
            self.changed.emit()
            self.update()


def _inside(rect: Rect, x: int, y: int) -> bool:
    return rect.x <= x <= rect.x + rect.width and rect.y <= y <= rect.y + rect.height


class KeyFrameStrip(QListWidget):
    """The key frames, left to right, each with its time and its number of blurred areas."""

    THUMB = QSize(128, 72)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(self.THUMB)
        self.setMovement(QListView.Movement.Static)
        self.setFixedHeight(self.THUMB.height() + 52)
        self.setAccessibleName(_("Images clés"))

    def fill(self, review: ClipReview, thumbs: list[QImage]) -> None:
        self.clear()
        for index, image in enumerate(thumbs):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(image)), "")
            self.addItem(item)
            self.label(review, index)

    def label(self, review: ClipReview, index: int) -> None:
        item = self.item(index)
        if item is None:
            return
        when = review.found[index][0]
        blurred = sum(1 for *_rest, kept in review.kept(index) if kept) + len(
            review.added_on(index)
        )
        item.setText(_("{t} s · {n} zone(s)").format(t=f"{when:.2f}", n=blurred))
