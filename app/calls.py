"""Passavant started again on a profile already open brings the open window forward.

The first window holds the profile's lock (:mod:`cases.profilelock`); a second start cannot
open the profile, so it calls the first through the profile's call file and goes away once
answered. If no answer comes (a window that does not answer, or a holder without one), the
second window stays and says where Passavant is open.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from cases.profilelock import answer, answered, call, call_file

log = logging.getLogger(__name__)

PATIENCE_MS = 3000  # how long a second start waits for the first to answer
LOOK_EVERY_MS = 100


class Answering(QObject):
    """The window holding ``root``: watches its call file; :attr:`called` at each call."""

    called = Signal()

    def __init__(self, root: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.root = root
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._changed)
        self._watch()

    def stop(self) -> None:
        """Hear no more calls (the window's session stops): the watch is released now."""
        self.watcher.fileChanged.disconnect(self._changed)
        paths = self.watcher.files()
        if paths:
            self.watcher.removePaths(paths)
        self.deleteLater()  # and the watcher's descriptor with it

    def _watch(self) -> None:
        """Watch the call file, made if missing; nothing to do while it is watched."""
        if self.watcher.files():
            return
        try:
            self.watcher.addPath(str(call_file(self.root)))
        except OSError as exc:  # a profile on a disk that refuses: no call is heard
            log.warning("cannot watch for a second start of the app: %s", exc)

    def _changed(self, _path: str) -> None:
        self._watch()  # a file removed or replaced is watched again
        try:
            called = answer(self.root)
        except OSError as exc:
            log.warning("cannot answer a second start of the app: %s", exc)
            return
        if called:
            log.info("the app was started again on this profile: this window comes forward")
            self.called.emit()


class Calling(QObject):
    """A second start's window: calls the window holding ``root`` (``OSError`` if the call
    cannot be written) and emits :attr:`answered` once it has come forward; after
    ``patience_ms`` without an answer, nothing more."""

    answered = Signal()

    def __init__(
        self,
        root: Path,
        parent: QObject | None = None,
        patience_ms: int = PATIENCE_MS,
        every_ms: int = LOOK_EVERY_MS,
    ) -> None:
        super().__init__(parent)
        self.root = root
        self.token = call(root)
        self._looks_left = max(1, patience_ms // every_ms)
        self._timer = QTimer(self)
        self._timer.setInterval(every_ms)
        self._timer.timeout.connect(self._look)
        self._timer.start()

    @property
    def waiting(self) -> bool:
        return self._timer.isActive()

    def _look(self) -> None:
        self._looks_left -= 1
        try:
            done = answered(self.root, self.token)
        except OSError:
            done = False
        if done:
            self._timer.stop()
            self.answered.emit()
        elif self._looks_left <= 0:
            self._timer.stop()
            log.info("the app holding %s did not answer: this window says where it is", self.root)
