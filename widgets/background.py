"""Sending goes on after the window is closed, until the queue is empty (issue 16 §2).

A request sealed at 17:55 must reach the specialist even if the doctor closes Passavant at
18:00 during an outage. Closing a window whose queue still holds sends therefore does not
stop them: the person is logged out (what they were writing is sealed among their drafts,
their key forgotten, nothing clinical left on screen), the window leaves the screen, and a
tray icon tells the queue's state (counts only, as the secretary's queue does) until the
last send is delivered; then the application ends by itself. "Quitter maintenant" stops
for real (the sends resume at the next start), "Afficher" brings the window back.

Where the desktop has no tray (some kiosk sessions), the window stays on its login page,
minimised, with the same counts in its title, and ends once the queue is empty.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QApplication, QMenu, QStyle, QSystemTrayIcon, QWidget

from app.i18n import _
from outbox.jobs import JobState
from outbox.queue import Outbox

STILL_SENDING = frozenset({JobState.QUEUED, JobState.SENDING, JobState.WAITING_RETRY})
"""States of a send that goes on by itself: closing the window must not stop it. Paused
and quarantined sends wait for a person; they never keep the application running."""
CHECK_MS = 1000


def sends_in_progress(outbox: Outbox) -> int:
    """How many sends of ``outbox`` are still on their way (see :data:`STILL_SENDING`)."""
    return sum(1 for job in outbox.jobs() if job.state in STILL_SENDING)


def in_progress_text(count: int) -> str:
    return _("{n} envoi(s) en cours : Passavant continue en arrière-plan.").format(n=count)


class BackgroundSending(QObject):
    """Watches a closed window's queue until it is empty.

    Signals:
        emptied(): no send is on its way any more: the window may end.
        show_requested(): the person asked to see the window again.
        quit_requested(): the person asked to stop now.
    """

    emptied = Signal()
    show_requested = Signal()
    quit_requested = Signal()

    def __init__(
        self,
        outbox: Outbox,
        window: QWidget,
        *,
        tray_available: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(window)
        self.outbox = outbox
        self.window = window
        self.tray: QSystemTrayIcon | None = None
        self._tray_available = tray_available or QSystemTrayIcon.isSystemTrayAvailable
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self.check)
        self.count = 0

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self, count: int) -> None:
        """Begin watching (``count`` sends on their way now)."""
        self.count = count
        if self._tray_available():
            self.tray = self._make_tray()
            self.tray.show()
            self.tray.showMessage("Passavant", in_progress_text(count))
            self.window.hide()
        else:
            self.window.showMinimized()
        self._show_count()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self.tray is not None:
            self.tray.hide()
            self.tray.deleteLater()
            self.tray = None

    def check(self) -> None:
        """Look at the queue again; at zero, stop watching and say so."""
        self.count = sends_in_progress(self.outbox)
        if self.count == 0:
            self.stop()
            self.emptied.emit()
            return
        self._show_count()

    def _show_count(self) -> None:
        text = in_progress_text(self.count)
        if self.tray is not None:
            self.tray.setToolTip(text)
        self.window.setWindowTitle("Passavant — " + text)

    def _make_tray(self) -> QSystemTrayIcon:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        icon = app.windowIcon()
        if icon.isNull():
            icon = QIcon(app.style().standardIcon(QStyle.StandardPixmap.SP_ArrowUp))
        tray = QSystemTrayIcon(icon, self)
        menu = QMenu(self.window)
        show = QAction(_("Afficher Passavant"), menu)
        show.triggered.connect(self.show_requested.emit)
        stop = QAction(_("Quitter maintenant (les envois reprendront au démarrage)"), menu)
        stop.triggered.connect(self.quit_requested.emit)
        menu.addAction(show)
        menu.addAction(stop)
        tray.setContextMenu(menu)
        tray.activated.connect(lambda _reason: self.show_requested.emit())
        return tray
