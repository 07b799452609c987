"""The shared desk: the window locks after a while without input, or on demand.

The unit's workstation is shared by the doctor, the secretary and the nurses, and prison
staff pass by the room. :class:`IdleWatch` tells when nobody has touched *this* window (its
dialogs included) for a while; :class:`LockPage` is what a locked window shows: who it is
locked for, a passphrase field, and "Changer de personne". Nothing clinical is on it, and the
window hides its other windows (photo viewer, capture station, activity report, dialogs)
while locked (``app.mainwindow.MainWindow.lock``).
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QWindow
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.card_text import card_hint, pin_label
from app.i18n import _

DEFAULT_LOCK_MINUTES = 5
"""Minutes without input before the window locks, unless the workstation says otherwise
(``window.ini``: ``lock/minutes``; 0 never locks by itself)."""

_INPUT = {
    QEvent.Type.KeyPress,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseMove,
    QEvent.Type.Wheel,
    QEvent.Type.TouchBegin,
}


_CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


class IdleWatch(QObject):
    """Emits ``idle`` once ``milliseconds`` pass without input in ``window`` or in a window of
    its own (a dialog whose parent chain leads to it), and ``lock_keys`` on Ctrl+Shift+L in
    any of them. Input in another window of the same process (the demo's second
    workstation) does not count.

    It watches the native windows (``QWindow``) of those windows, through which every key,
    mouse and touch event passes before it reaches a widget: a filter on the whole
    application would see every event of the process, the other workstation's included.
    Windows opened later (the photo viewer, the capture station) are picked up within a
    second.
    """

    idle = Signal()
    lock_keys = Signal()  # Ctrl+Shift+L in the window or one of its own windows

    def __init__(self, window: QWidget, milliseconds: int) -> None:
        super().__init__(window)
        self.window = window
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.idle)
        self._watched: list[QWindow] = []
        self._scan = QTimer(self)
        self._scan.setInterval(1000)
        self._scan.timeout.connect(self.watch_windows)
        self._scan.start()
        self.set_interval(milliseconds)

    def set_interval(self, milliseconds: int) -> None:
        self.timer.stop()
        self.timer.setInterval(max(0, milliseconds))
        if milliseconds > 0:
            self.timer.start()
        self.watch_windows()

    def restart(self) -> None:
        if self.timer.interval() > 0:
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def watch_windows(self) -> None:
        """Watch the native windows of ``window`` and of its own visible windows."""
        self._watched = [w for w in self._watched if shiboken6.isValid(w)]
        widgets = [self.window, *self.window.findChildren(QWidget)]
        for widget in widgets:
            if not widget.isWindow() or not widget.isVisible():
                continue
            handle = widget.windowHandle()
            if handle is not None and not any(handle is w for w in self._watched):
                handle.installEventFilter(self)
                self._watched.append(handle)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() not in _INPUT:
            return False
        if self.timer.isActive():
            self.timer.start()
        if (
            isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_L
            and event.modifiers() & _CTRL_SHIFT == _CTRL_SHIFT
        ):
            # the photo viewer or the capture station may have the focus: their window
            # is not the main one, whose menu shortcut would not see the keys
            self.lock_keys.emit()
            return True
        return False


class LockPage(QWidget):
    """A locked window: the person's name, their passphrase to go on, or another person.

    Signals:
        unlock_requested(str passphrase)
        switch_requested(): "Changer de personne" (the person is logged out)
    """

    unlock_requested = Signal(str)
    switch_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.who = QLabel()
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.button = QPushButton(_("Déverrouiller"))
        self.button.setDefault(True)
        self.switch = QPushButton(_("Changer de personne"))
        self.switch.setToolTip(
            _("Déconnecte la personne : son travail en cours est gardé parmi ses brouillons")
        )
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #a40000;")
        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setMinimumWidth(440)
        card.setMaximumWidth(560)
        inner = QVBoxLayout(card)
        inner.addWidget(QLabel("<h1>" + _("Poste verrouillé") + "</h1>"))
        inner.addWidget(self.who)
        self.prompt = QLabel(_("Saisissez votre mot de passe pour reprendre."))
        inner.addWidget(self.prompt)
        form = QFormLayout()
        self.secret_label = QLabel(_("Mot de passe"))
        form.addRow(self.secret_label, self.passphrase)
        inner.addLayout(form)
        inner.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addWidget(self.switch)
        buttons.addStretch()
        buttons.addWidget(self.button)
        inner.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(card, alignment=Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch()
        self.button.clicked.connect(self._submit)
        self.passphrase.returnPressed.connect(self._submit)
        self.switch.clicked.connect(self.switch_requested)

    def show_for(self, name: str, *, card: bool = False) -> None:
        """``card``: the person signs with a card, whose PIN unlocks (``cases.cardidentity``)."""
        self.who.setText(_("Verrouillé pour {name}.").format(name=name))
        self.secret_label.setText(pin_label() if card else _("Mot de passe"))
        self.prompt.setText(
            card_hint() if card else _("Saisissez votre mot de passe pour reprendre.")
        )
        self.reset()
        self.passphrase.setFocus()

    def _submit(self) -> None:
        self.error.clear()
        self.unlock_requested.emit(self.passphrase.text())

    def set_busy(self, busy: bool) -> None:
        self.button.setEnabled(not busy)
        self.button.setText(_("Vérification…") if busy else _("Déverrouiller"))

    def show_error(self, text: str) -> None:
        self.set_busy(False)
        self.error.setText(text)
        # a centred card does not give a wrapped label the height of its lines by itself
        self.error.setMinimumHeight(self.error.heightForWidth(self.error.width()))
        self.passphrase.selectAll()
        self.passphrase.setFocus()

    def reset(self) -> None:
        self.passphrase.clear()
        self.error.clear()
        self.set_busy(False)
