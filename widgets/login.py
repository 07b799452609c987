"""The login page: choose who you are at this workstation, unlock your key."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.card_text import card_hint, pin_label
from app.i18n import _
from app.messages import role_label, specialty_label
from cases.profile import IdentityInfo


class LoginPage(QWidget):
    """Signals:
    login_requested(str identity_id, str passphrase)
    card_setup_requested(): the link to register a card identity (``widgets.cardsetup``)

    No passphrase is ever remembered: typing it is the proof that its person is at this
    shared desk (ARCHITECTURE.md, "The shared desk"). For an identity of ``cards`` (one that
    signs with a card, ``cases.cardidentity``) the page asks for the card's PIN instead, sent
    the same way (never kept either).
    """

    login_requested = Signal(str, str)
    card_setup_requested = Signal()

    def __init__(
        self,
        identities: list[IdentityInfo],
        *,
        title: str,
        hint: str = "",
        cards: frozenset[str] = frozenset(),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.cards = cards
        self.people = QListWidget()
        self.people.setAccessibleName(_("Identités de ce poste"))
        for info in identities:
            detail = role_label(info.role)
            if info.specialty:
                detail += " — " + specialty_label(info.specialty)
            item = QListWidgetItem(f"{info.display_name}\n{detail}")
            item.setData(Qt.ItemDataRole.UserRole, info.id)
            self.people.addItem(item)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.button = QPushButton(_("Se connecter"))
        self.button.setDefault(True)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #a40000;")

        card = QFrame()
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setMaximumWidth(520)
        form = QFormLayout()
        self.secret_label = QLabel(_("Mot de passe"))
        self.secret_label.setBuddy(self.passphrase)
        form.addRow(self.secret_label, self.passphrase)
        self.card_hint = QLabel(card_hint())
        self.card_hint.setWordWrap(True)
        self.card_hint.hide()
        inner = QVBoxLayout(card)
        inner.addWidget(QLabel("<h1>Passavant</h1>"))
        inner.addWidget(QLabel(title))
        inner.addWidget(QLabel(_("Qui êtes-vous ?")))
        inner.addWidget(self.people)
        inner.addLayout(form)
        inner.addWidget(self.card_hint)
        if hint:
            inner.addWidget(QLabel(hint))
        inner.addWidget(self.error)
        inner.addWidget(self.button)
        self.card_setup = QPushButton(_("Enregistrer une carte CPS sur ce poste…"))
        self.card_setup.setFlat(True)
        self.card_setup.clicked.connect(self.card_setup_requested)
        inner.addWidget(self.card_setup, alignment=Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(card, alignment=Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch()

        self.button.clicked.connect(self.submit)
        self.passphrase.returnPressed.connect(self.submit)
        self.people.itemDoubleClicked.connect(lambda item: self.passphrase.setFocus())
        self.people.currentRowChanged.connect(lambda _row: self._show_secret_kind())
        if self.people.count():
            self.people.setCurrentRow(0)

    def _show_secret_kind(self) -> None:
        """A card identity is asked its card's PIN, any other its passphrase."""
        card = self.selected_id() in self.cards
        self.secret_label.setText(pin_label() if card else _("Mot de passe"))
        self.passphrase.setAccessibleName(self.secret_label.text())
        self.card_hint.setVisible(card)
        self.passphrase.clear()
        self.error.clear()

    def select(self, identity_id: str) -> None:
        for row in range(self.people.count()):
            if self.people.item(row).data(Qt.ItemDataRole.UserRole) == identity_id:
                self.people.setCurrentRow(row)

    def selected_id(self) -> str | None:
        item = self.people.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def submit(self) -> None:
        identity_id = self.selected_id()
        if identity_id is None:
            self.show_error(_("Choisissez votre nom dans la liste."))
            return
        self.error.clear()
        self.login_requested.emit(identity_id, self.passphrase.text())

    def set_busy(self, busy: bool) -> None:
        self.button.setEnabled(not busy)
        self.button.setText(_("Ouverture de la clé…") if busy else _("Se connecter"))

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.passphrase.selectAll()
        self.passphrase.setFocus()

    def reset(self) -> None:
        self.passphrase.clear()
        self.error.clear()
        self.set_busy(False)
