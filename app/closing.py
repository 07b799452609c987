"""Closing the window never stops a send (issue 16): the part of
:class:`app.mainwindow.MainWindow` that logs the person out, hides the window, and ends it
once the queue is empty (the tray icon is :class:`widgets.background.BackgroundSending`), and
brings it back (from the tray, or when Passavant is started again on its profile).

A mixin on the window's own attributes (``me``, ``session``, ``background``, ``_ending``),
tested through the window (``tests/gui/test_background_sending.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QApplication

from app.bridge import CoreBridge
from app.session import Session
from widgets.background import BackgroundSending, in_progress_text

log = logging.getLogger(__name__)


class SendingAfterClose:
    """What a window closed with sends on their way does until the last one is delivered."""

    # the window's, set by MainWindow
    me: Any
    session: Session | None
    background: BackgroundSending | None
    _ending: bool

    def _continue_in_background(self, count: int) -> None:
        """Log the person out (their draft sealed, their key forgotten), leave the screen,
        and end once the last send is delivered (widgets.background)."""
        log.info("window closed with %d send(s) on their way: they go on", count)
        if self.me is not None:
            self.log_out()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setQuitOnLastWindowClosed(False)  # a hidden window still has work to finish
        assert self.session is not None
        self.background = BackgroundSending(self.session.outbox, self)
        self.background.emptied.connect(self.end)
        self.background.quit_requested.connect(self.end)
        self.background.show_requested.connect(self.show_again)
        self.statusBar().showMessage(in_progress_text(count))
        self.background.start(count)

    def end(self) -> None:
        """Close for good, sends in progress or not (they resume at the next start)."""
        self._ending = True
        if self.background is not None:
            self.background.stop()
        self.close()

    def come_forward(self) -> None:
        """Passavant started again on this profile (:mod:`app.calls`): this window comes
        forward, from the tray when it sends in the background, as it is (locked stays
        locked)."""
        if self.background is not None:
            self.show_again()
            return
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def show_again(self) -> None:
        """Back from the tray: the login page, the queue still going."""
        if self.background is not None:
            self.background.stop()
            self.background.deleteLater()
            self.background = None
        self.setWindowTitle(self._title())
        self.showNormal()
        self.activateWindow()


def stopper(
    session: Session | None, bridge: CoreBridge, stopped: dict[str, bool]
) -> Callable[..., None]:
    """What stops a window's workers if the window is destroyed without closing (a window
    sending in the background, deleted by its owner): no thread outlives its window."""

    def on_destroyed(*_args: object) -> None:
        if session is not None and not stopped["done"]:
            stopped["done"] = True
            bridge.detach()
            session.stop()

    return on_destroyed
