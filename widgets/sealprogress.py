"""Sealing progress, carried from the worker thread that seals to the GUI thread.

``Workstation.send_case`` calls its ``progress`` callback on the worker thread for every
segment sealed (``crypto.stream``); :class:`SealProgress` turns that into whole percents and
emits each change once, through a Qt signal, so the form's slot runs on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class SealProgress(QObject):
    """Signals:
    percent: The share of the request sealed so far, 0 to 100, each value once.
    """

    percent = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._last = -1

    def report(self, done: int, total: int | None) -> None:
        """A ``crypto.stream.Progress`` callback; any thread."""
        if not total:
            return
        share = max(0, min(100, done * 100 // total))
        if share != self._last:
            self._last = share
            self.percent.emit(share)
