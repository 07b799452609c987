"""Windows that fit their screen: every top-level window's size and place go through here.

A window remembers its geometry (``window.ini``), but the screen it opens on next may be
smaller (a 1280×720 laptop, a projector) or shared with a second window (the demo's two
workstations side by side): what is remembered or wished is clamped to the screen's
available area, and windows placed side by side get slots that never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QByteArray, QEvent, QObject, QRect, QSize, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

DEFAULT_WINDOW = QSize(1200, 800)
"""A workstation window's size the first time, when its screen has the room."""


def clamped(rect: QRect, available: QRect) -> QRect:
    """``rect`` no larger than ``available`` and moved inside it (size kept when it fits)."""
    width = min(rect.width(), available.width())
    height = min(rect.height(), available.height())
    x = min(max(rect.x(), available.x()), available.x() + available.width() - width)
    y = min(max(rect.y(), available.y()), available.y() + available.height() - height)
    return QRect(x, y, width, height)


def slots(available: QRect, count: int) -> list[QRect]:
    """``count`` side-by-side columns of ``available`` that do not overlap."""
    width = available.width() // max(count, 1)
    return [
        QRect(available.x() + i * width, available.y(), width, available.height())
        for i in range(count)
    ]


def available_for(window: QWidget) -> QRect:
    """The available area of the screen ``window`` is on (its parent's, before it is
    shown), or of the primary screen."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_into(window: QWidget, area: QRect) -> None:
    """Place ``window`` (its frame, once it has one) inside ``area``."""
    frame = window.frameGeometry()
    inner = window.geometry()
    # the frame's margins: known once the window is shown on a system that draws frames
    extra_w = max(0, frame.width() - inner.width())
    extra_h = max(0, frame.height() - inner.height())
    target = clamped(QRect(frame.topLeft(), frame.size()), area)
    window.resize(
        QSize(
            max(1, min(inner.width(), target.width() - extra_w)),
            max(1, min(inner.height(), target.height() - extra_h)),
        )
    )
    window.move(target.topLeft())


def size_within(window: QWidget, wished: QSize) -> None:
    """Resize ``window`` to ``wished``, or to its screen's available area if smaller."""
    area = available_for(window)
    window.resize(wished.boundedTo(area.size()))


def restore_geometry(window: QWidget, saved: object, default: QSize) -> None:
    """Restore the geometry ``window`` remembered (``QWidget.saveGeometry``), clamped to
    its screen; without one, ``default`` clamped likewise."""
    restored = isinstance(saved, QByteArray | bytes) and window.restoreGeometry(QByteArray(saved))
    if not restored:
        size_within(window, default)
    else:
        fit_into(window, available_for(window))
    _RefitWhenShown(window)


class _RefitWhenShown(QObject):
    """Fits ``window`` into its screen again once it is first shown: only then are its
    frame's margins (the title bar) known, which may push it past the screen's edge."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Show:
            self.window.removeEventFilter(self)
            QTimer.singleShot(0, self._refit)
        return False

    def _refit(self) -> None:
        fit_into(self.window, available_for(self.window))
        self.deleteLater()


def side_by_side(windows: Sequence[QWidget], fill: Sequence[bool] = ()) -> None:
    """Give each of ``windows`` its own column of the first one's screen, keeping the size
    each remembered when it fits its column (those whose ``fill`` is true, the ones that
    remember none, take the whole column): they never overlap (the demo's two
    workstations). Call it again once they are shown, when their frames are known."""
    if len(windows) < 2:
        return
    columns = slots(available_for(windows[0]), len(windows))
    for i, (window, slot) in enumerate(zip(windows, columns, strict=True)):
        if i < len(fill) and fill[i]:
            window.setGeometry(slot)
        fit_into(window, slot)
