"""The live preview: the engine's frame grabber reads on its own thread, a GUI timer paints.

:class:`LivePreview` owns a :class:`capture.sources.FrameGrabber`. A ``QTimer`` on the GUI
thread polls the grabber's latest frame (never blocking), wraps its BGR buffer in a
``QImage`` without copying (the array is kept alive as long as the image) and asks the
:class:`PreviewView` to paint it scaled. Frames that arrive between two ticks are dropped:
the preview always shows the newest one.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.i18n import _
from capture.grabber import FrameGrabber
from capture.regions import Image
from capture.sources import Frame, FrameSource, SourceState

log = logging.getLogger(__name__)

POLL_MS = 10
"""How often the GUI timer looks for a new frame (a 60 fps camera is followed closely)."""
STATS_MS = 500
"""How often the frame-rate figures are refreshed."""


def bgr_image(pixels: Image) -> QImage:
    """A ``QImage`` over a BGR (or grey) array's own buffer: no per-pixel work, no copy.

    The caller must keep ``pixels`` alive while the image is used.
    """
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        return QImage(
            pixels.data, width, height, pixels.strides[0], QImage.Format.Format_Grayscale8
        )
    return QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_BGR888)


class PreviewView(QWidget):
    """Paints the latest frame scaled to fit, letterboxed, with a message when idle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._pixels: Image | None = None  # keeps the QImage's buffer alive
        self._message = _("Choisissez une source, puis « Démarrer ».")
        self.painted = 0
        """Frames painted since creation (the display rate is measured on it)."""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 180)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def show_frame(self, pixels: Image) -> None:
        self._pixels = pixels
        self._image = bgr_image(pixels)
        self.update()

    def show_message(self, text: str) -> None:
        self._message = text
        self._image = self._pixels = None
        self.update()

    def target(self) -> QRect:
        """Where the image is drawn: the largest rectangle of its aspect that fits."""
        if self._image is None:
            return self.rect()
        size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) // 2
        y = (self.height() - size.height()) // 2
        return QRect(x, y, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202326"))
        if self._image is None:
            painter.setPen(QColor("#e0e0e0"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
            return
        # a fast (nearest) scale keeps each paint at a few milliseconds even for 1080p
        painter.drawImage(self.target(), self._image)
        self.painted += 1


class LivePreview(QObject):
    """Runs a frame source on a background grabber and shows it in a :class:`PreviewView`.

    Signals:
        stats_changed(float, float): frames per second read by the source, and painted.
        state_changed(str): the source's :class:`SourceState` value.
        failed(str): the error code that stopped the source (``camera_unavailable``…).
    """

    stats_changed = Signal(float, float)
    state_changed = Signal(str)
    failed = Signal(str)

    def __init__(self, view: PreviewView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.grabber: FrameGrabber[object] | None = None
        self._last_index = -1
        self._state = SourceState.CLOSED
        self._painted_at: list[tuple[float, int]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._stats = QTimer(self)
        self._stats.setInterval(STATS_MS)
        self._stats.timeout.connect(self._report)

    @property
    def running(self) -> bool:
        return self.grabber is not None

    def start(self, source: FrameSource) -> None:
        """Starts reading ``source`` in the background (stops any previous one)."""
        self.stop()
        self.grabber = FrameGrabber(source).start()
        self._last_index = -1
        self._painted_at = []
        self.view.show_message(_("Connexion à la source…"))
        self._timer.start()
        self._stats.start()

    def stop(self) -> None:
        """Stops the grabber (joined: it waits at most about one frame) and the timers."""
        self._timer.stop()
        self._stats.stop()
        grabber, self.grabber = self.grabber, None
        if grabber is not None:
            grabber.stop(timeout=2.0)
        self._set_state(SourceState.CLOSED)

    def latest(self) -> Frame | None:
        """The newest frame the source gave (``None`` before the first)."""
        return self.grabber.latest() if self.grabber is not None else None

    def _set_state(self, state: SourceState) -> None:
        if state is not self._state:
            self._state = state
            self.state_changed.emit(state.value)

    def _tick(self) -> None:
        grabber = self.grabber
        if grabber is None:
            return
        self._set_state(grabber.state)
        frame = grabber.latest()
        if frame is not None and frame.index != self._last_index:
            self._last_index = frame.index
            self.view.show_frame(frame.image)
        if not grabber.running:
            error = grabber.error
            code = str(getattr(error, "code", "unexpected")) if error is not None else None
            self._timer.stop()
            self._stats.stop()
            self.grabber = None
            grabber.stop(timeout=0.5)
            self._set_state(SourceState.FAILED if code else SourceState.ENDED)
            if code:
                self.failed.emit(code)

    def _report(self) -> None:
        grabber = self.grabber
        if grabber is None:
            return
        now = time.monotonic()
        self._painted_at.append((now, self.view.painted))
        self._painted_at = [(t, n) for t, n in self._painted_at if now - t <= 1.5]
        first_t, first_n = self._painted_at[0]
        shown = (self.view.painted - first_n) / (now - first_t) if now > first_t else 0.0
        self.stats_changed.emit(grabber.fps, shown)
