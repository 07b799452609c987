"""How late the GUI thread gets: a 10 ms ``QTimer``'s ticks, and running the event loop.

Qt is imported inside the functions: only the children that measure the GUI load it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

TICK_MS = 10


class Ticks:
    """A 10 ms ``QTimer`` on the GUI thread; how late each tick came."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self) -> None:
        self.times = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> list[float]:
        """The lateness of each tick in ms (the gap to the previous one, less 10 ms)."""
        self.timer.stop()
        gaps = [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
        return [max(0.0, g * 1000 - TICK_MS) for g in gaps]

    def late(self, threshold_ms: float) -> list[tuple[float, float]]:
        """The gaps between ticks that came more than ``threshold_ms`` late."""
        pairs = zip(self.times, self.times[1:], strict=False)
        return [(a, b) for a, b in pairs if (b - a) * 1000 - TICK_MS > threshold_ms]


def spin(until: Callable[[], bool], timeout: float) -> bool:
    """Runs the Qt event loop until ``until()`` (checked every 50 ms) or ``timeout``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.monotonic() + timeout
    met = [False]

    def check() -> None:
        if until():
            met[0] = True
            loop.quit()
        elif time.monotonic() > deadline:
            loop.quit()

    checker = QTimer()
    checker.setInterval(50)
    checker.timeout.connect(check)
    checker.start()
    loop.exec()
    checker.stop()
    return met[0]
