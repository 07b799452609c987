"""Locking the shared desk's window (issue 15): the part of :class:`app.mainwindow.MainWindow`
that hides everything clinical and lets only the same person's passphrase back in.

A mixin: it works on the window's own attributes (``me``, ``workspace``, ``pages``,
``lock_page``, ``idle``, the actions) and is tested through the window
(``tests/gui/test_lock.py``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QWidget

from app.i18n import _
from app.messages import reason
from cases.profile import ProfileError, UnlockedIdentity
from crypto.errors import CryptoError
from widgets.doctor import DoctorWorkspace, error_text
from widgets.specialist import SpecialistWorkspace


class DeskLocking:
    """lock(), and what unlocks or leaves a locked window."""

    # the window's, set by MainWindow
    me: Any
    workspace: Any
    profile: Any
    locked: bool
    _hidden: list[QWidget]

    def lock(self) -> None:
        """Lock the window for the person logged in: what they were writing is sealed among
        their drafts (as at logout), nothing clinical stays visible (the workspace, the
        window's other windows and dialogs, the title), and only their passphrase unlocks
        it. The queue and the inbox go on meanwhile."""
        if self.me is None or self.locked:
            return
        self.locked = True
        self.idle.stop()
        self._leave_workspace()
        self._hidden = [
            w
            for w in self.findChildren(QWidget)
            if w.isWindow() and w.isVisible() and w is not self
        ]
        for window in self._hidden:
            window.hide()
        self.lock_page.show_for(self.me.info.display_name, card=self.me.signing_key is not None)
        if self.pages.indexOf(self.lock_page) < 0:
            self.pages.addWidget(self.lock_page)
        self.pages.setCurrentWidget(self.lock_page)
        self.lock_action.setEnabled(False)
        self.logout_action.setEnabled(False)
        self.activity_action.setEnabled(False)
        self.card_action.setEnabled(False)  # the card screen: only once unlocked
        self.setWindowTitle("Passavant — " + _("poste verrouillé"))
        self.statusBar().clearMessage()

    def _unlock(self, passphrase: str) -> None:
        me = self.me
        if me is None or self.profile is None:
            return
        if not passphrase:
            self.lock_page.show_error(_("Saisissez votre mot de passe."))
            return
        self.lock_page.set_busy(True)
        profile = self.profile

        def done(again: UnlockedIdentity) -> None:
            if not self.locked or self.me is None:
                return
            if again.fingerprint != self.me.fingerprint:  # the key changed meanwhile
                self.lock_page.show_error(reason("unexpected"))
                return
            self._resume()

        def failed(exc: BaseException) -> None:
            self.lock_page.show_error(
                error_text(exc)
                if isinstance(exc, CryptoError | ProfileError)
                else reason("unexpected")
            )

        self.runner.run(lambda: profile.unlock(me.info.id, passphrase.encode()), done, failed)

    def _resume(self) -> None:
        assert self.workspace is not None
        assert self.me is not None
        self.locked = False
        self.lock_page.reset()
        self.pages.setCurrentWidget(self.workspace)
        for window in self._hidden:
            window.show()
        self._hidden = []
        self.lock_action.setEnabled(True)
        self.logout_action.setEnabled(True)
        self.card_action.setEnabled(True)
        self.activity_action.setEnabled(
            isinstance(self.workspace, DoctorWorkspace | SpecialistWorkspace)
        )
        self.setWindowTitle(self._title())
        self.statusBar().showMessage(_("Connecté : {name}").format(name=self.me.info.display_name))
        self.idle.restart()
        self._refresh_workspace()

    def _switch_person(self) -> None:
        """ "Changer de personne" on a locked window: the person is logged out."""
        self.log_out()
