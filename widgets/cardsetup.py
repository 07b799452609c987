"""The screen that registers a card identity (a CPS card, through its PKCS#11 module) in the
workstation's profile, reached from the login page (ARCHITECTURE.md, "Card identities").

1. the card: its PKCS#11 module (the usual places proposed, or a file picked), the tokens
   present, what the card says of its PIN's tries (a blocked card plainly said);
2. its signing certificate, picked among those the card carries (holder, issuer, validity,
   usages);
3. the encryption certificate and key, from a PKCS#12 file, checked against the card's
   (same person, same authority) as soon as both are known;
4. the identity (name, role and id, from the certificate) and the card's PIN, typed once,
   sent to the card and dropped: never stored.

Every PKCS#11 call and the PKCS#12 file's opening run on one thread of their own
(``passavant-card``), never on the GUI thread; what comes back for a module or a card no
longer shown is dropped. Nothing is written unless the whole registration succeeds
(``cases.cardsetup.register_from_token``).
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.card_text import card_reason, pairing_reason, pin_state_text, setup_reason
from app.i18n import _
from app.messages import error_reason, role_label
from app.tasks import DedicatedWorker
from cases.cardidentity import CardPairingRefused, can_sign, check_pairing, name_slug
from cases.cardsetup import read_encryption_file, register_from_token
from cases.profile import IdentityInfo, Profile
from crypto import pki
from crypto.pkcs11_tokens import (
    MODULE_PLACES,
    TokenCertificate,
    TokenInfo,
    list_certificates,
    list_tokens,
    module_path,
    proposed_modules,
)
from widgets.cardsetup_parts import CertificateTable, message_label, show, summary
from widgets.flow import narrow_combo
from widgets.geometry import size_within

log = logging.getLogger(__name__)

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-card")
CARD_ROLES = ("doctor", "specialist")  # a secretary reads nothing: no pair to make
MAX_PIN = 32


def explain(exc: BaseException) -> str:
    """The plain sentence for what stopped a step of the registration."""
    if isinstance(exc, CardPairingRefused):
        return pairing_reason(exc.reason)
    code = str(getattr(exc, "code", "") or "")
    return setup_reason(code) or card_reason(code) or error_reason(exc)


def form_box(title: str) -> tuple[QGroupBox, QFormLayout]:
    """One numbered part of the screen: a titled box holding a form whose long rows wrap."""
    box = QGroupBox(title)
    form = QFormLayout(box)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    return box, form


def beside(field: QWidget, button: QPushButton) -> QHBoxLayout:
    """A form's field with its button on its right (the field takes the room)."""
    row = QHBoxLayout()
    row.addWidget(field, 1)
    row.addWidget(button)
    return row


class CardSetupDialog(QDialog):
    """Register a card identity. See the module's documentation.

    Signals:
        registered(str identity_id): the identity is in the profile (the dialog closes).
    """

    registered = Signal(str)

    def __init__(
        self, profile: Profile, parent: QWidget | None = None, *, modules: list[str] | None = None
    ) -> None:
        super().__init__(parent)
        self.profile = profile
        self.worker = DedicatedWorker(_WORKER, self)
        self._load = 0  # which listing is current: older answers are dropped
        self._tokens: list[TokenInfo] = []
        self._module = ""
        self._encryption: tuple[pki.PrivateKey, pki.x509.Certificate] | None = None
        self._named_by_hand = False
        self.setWindowTitle(_("Enregistrer une carte de professionnel de santé"))
        self._build(modules if modules is not None else proposed_modules())
        size_within(self, QSize(1120, 640))

    # --- building -----------------------------------------------------------------------------
    def _build(self, modules: list[str]) -> None:
        self.module = narrow_combo(QComboBox(), 24)
        self.module.setEditable(True)
        self.module.addItems(modules)
        self.module.setAccessibleName(_("Module PKCS#11"))
        self.module.lineEdit().setPlaceholderText(_("chemin du module PKCS#11"))
        self.browse = QPushButton(_("Parcourir…"))
        self.refresh_button = QPushButton(_("Actualiser"))
        self.token = narrow_combo(QComboBox(), 20)
        self.token.setAccessibleName(_("Carte"))
        self.pin_state = message_label()
        self.token_detail = message_label()
        card_box, card_form = form_box(_("1. La carte"))
        card_form.addRow(_("Module PKCS#11"), beside(self.module, self.browse))
        card_form.addRow(_("Carte"), beside(self.token, self.refresh_button))
        card_form.addRow(self.token_detail)
        card_form.addRow(self.pin_state)

        self.table = CertificateTable()
        self.certificate_note = message_label()
        signing_box = QGroupBox(_("2. Son certificat de signature"))
        signing_layout = QVBoxLayout(signing_box)
        signing_layout.addWidget(self.table, 1)
        signing_layout.addWidget(self.certificate_note)

        self.p12_path = QLineEdit()
        self.p12_path.setAccessibleName(_("Fichier de chiffrement"))
        self.p12_path.setPlaceholderText(".p12, .pfx")
        self.p12_browse = QPushButton(_("Choisir…"))
        self.p12_secret = QLineEdit()
        self.p12_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.p12_secret.setAccessibleName(_("Mot de passe du fichier"))
        self.p12_open = QPushButton(_("Ouvrir"))
        self.encryption_note = message_label()
        self.pairing_note = message_label()
        encryption_box, encryption_form = form_box(_("3. Le certificat de chiffrement"))
        encryption_form.addRow(_("Fichier"), beside(self.p12_path, self.p12_browse))
        encryption_form.addRow(_("Mot de passe du fichier"), beside(self.p12_secret, self.p12_open))
        encryption_form.addRow(self.encryption_note)
        encryption_form.addRow(self.pairing_note)

        self.name = QLineEdit()
        self.name.setMaxLength(120)
        self.role = QComboBox()
        for role in CARD_ROLES:
            self.role.addItem(role_label(role), role)
        self.identifier = QLineEdit()
        self.identifier.setMaxLength(64)
        self.pin = QLineEdit()
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaxLength(MAX_PIN)
        self.pin.setAccessibleName(_("Code PIN de la carte"))
        identity_box, identity_form = form_box(_("4. L’identité"))
        identity_form.addRow(_("Nom affiché"), self.name)
        identity_form.addRow(_("Rôle"), self.role)
        identity_form.addRow(_("Identifiant"), self.identifier)
        identity_form.addRow(_("Code PIN de la carte"), self.pin)
        pin_hint = message_label()
        pin_hint.setText(_("Le code PIN est envoyé à la carte, jamais enregistré."))
        identity_form.addRow(pin_hint)

        body = QWidget()
        grid = QGridLayout(body)
        grid.addWidget(card_box, 0, 0)
        grid.addWidget(signing_box, 1, 0)
        grid.addWidget(encryption_box, 0, 1)
        grid.addWidget(identity_box, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        grid.setRowStretch(1, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)

        heading = QLabel("<b>" + self.windowTitle() + "</b>")
        intro = message_label()
        intro.setText(
            _(
                "La clé de signature reste sur la carte ; ce poste garde ses certificats et la "
                "clé de chiffrement, liée à la carte."
            )
        )
        self.message = message_label()
        self.message.setAccessibleName(_("Message"))
        self.buttons = QDialogButtonBox()
        self.register_button = self.buttons.addButton(
            _("Enregistrer la carte"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.close_button = self.buttons.addButton(
            _("Fermer"), QDialogButtonBox.ButtonRole.RejectRole
        )
        self.register_button.setDefault(True)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

        self.browse.clicked.connect(self.choose_module_file)
        self.refresh_button.clicked.connect(self.refresh)
        self.module.activated.connect(lambda _index: self.refresh())
        self.module.lineEdit().returnPressed.connect(self.refresh)
        self.token.activated.connect(lambda _index: self._token_chosen())
        self.table.itemSelectionChanged.connect(self._certificate_chosen)
        self.p12_browse.clicked.connect(self.choose_encryption_file)
        self.p12_open.clicked.connect(self.open_encryption)
        self.p12_secret.returnPressed.connect(self.open_encryption)
        self.name.textEdited.connect(self._name_edited)
        self.pin.returnPressed.connect(self.register)
        self.register_button.clicked.connect(self.register)
        self.close_button.clicked.connect(self.reject)
        self._certificate_chosen()
        if self.module.count():
            self.refresh()

    # --- the card -----------------------------------------------------------------------------
    def choose_module_file(self) -> None:
        shown = self.module.currentText().strip()
        usual = MODULE_PLACES.get("linux" if sys.platform.startswith("linux") else sys.platform)
        start = str(Path(shown or (usual[0] if usual else "")).parent) if shown or usual else ""
        chosen, _filter = QFileDialog.getOpenFileName(
            self,
            _("Module PKCS#11 de la carte"),
            start,
            _("Modules PKCS#11 (*.so *.dll *.dylib);;Tous les fichiers (*)"),
        )
        if chosen:
            self.module.setEditText(chosen)
            self.refresh()

    def refresh(self) -> None:
        """List the tokens of the module shown (off the GUI thread)."""
        self._load += 1
        load = self._load
        self._tokens = []
        self.token.clear()
        self.table.fill([])
        self.pin_state.clear()
        self.token_detail.clear()
        text = self.module.currentText().strip()
        if not text:
            show(self.message, setup_reason("no_module") or "", error=True)
            return
        module = self._module = module_path(text)
        show(self.message, _("Recherche des cartes…"))
        self.worker.run(
            lambda: list_tokens(module),
            lambda tokens: self._tokens_listed(load, tokens),
            lambda exc: self._failed_load(load, exc),
        )

    def _tokens_listed(self, load: int, tokens: list[TokenInfo]) -> None:
        if load != self._load:
            return
        self._tokens = tokens
        for info in tokens:
            self.token.addItem(info.label)
        if not tokens:
            show(self.message, setup_reason("no_token") or "", error=True)
            return
        self.message.clear()
        self.token.setCurrentIndex(0)
        self._token_chosen()

    def _failed_load(self, load: int, exc: BaseException) -> None:
        if load == self._load:
            show(self.message, explain(exc), error=True)

    def current_token(self) -> TokenInfo | None:
        index = self.token.currentIndex()
        return self._tokens[index] if 0 <= index < len(self._tokens) else None

    def choose_token(self, label: str) -> None:
        """Show the token labelled ``label`` and read its certificates."""
        for index, info in enumerate(self._tokens):
            if info.label == label:
                self.token.setCurrentIndex(index)
                self._token_chosen()
                return

    def _token_chosen(self) -> None:
        info = self.current_token()
        if info is None:
            return
        self._load += 1
        load, module, label = self._load, self._module, info.label
        self._show_pin_state(info.pin)
        maker = " ".join(p for p in (info.manufacturer, info.model) if p)
        serial = _("n° {serial}").format(serial=info.serial) if info.serial else ""
        self.token_detail.setText(", ".join(p for p in (maker, serial, info.reader) if p))
        self.table.fill([])
        show(self.message, _("Lecture des certificats de la carte…"))
        self.worker.run(
            lambda: list_certificates(module, label),
            lambda found: self._certificates_listed(load, found),
            lambda exc: self._failed_load(load, exc),
        )

    def _show_pin_state(self, state: str | None) -> None:
        show(self.pin_state, pin_state_text(state), error=state is not None)
        self.pin.setEnabled(state != "locked")
        if state == "locked":
            self.pin.clear()

    def _certificates_listed(self, load: int, found: list[TokenCertificate]) -> None:
        if load != self._load:
            return
        self.table.fill(found)
        if not found:
            show(self.message, setup_reason("no_certificate") or "", error=True)
        else:
            self.message.clear()
        self._certificate_chosen()

    # --- the certificates -----------------------------------------------------------------------
    def _certificate_chosen(self) -> None:
        chosen = self.table.chosen()
        if chosen is None:
            self.certificate_note.clear()
        elif not can_sign(chosen.certificate):
            show(self.certificate_note, pairing_reason("signing_usage"), error=True)
        else:
            show(self.certificate_note, summary(chosen.certificate))
            self._name_from(chosen.certificate)
        self._show_pairing()

    def _name_from(self, cert: pki.x509.Certificate) -> None:
        """The identity's fields from the certificate, unless typed by hand."""
        if not self._named_by_hand:
            self.name.setText(pki.display_name(cert))
            self.identifier.setText(name_slug(self.name.text()))
        role = pki.role_of(cert)
        if role in CARD_ROLES:
            self.role.setCurrentIndex(self.role.findData(role))

    def _name_edited(self, text: str) -> None:
        self._named_by_hand = True
        self.identifier.setText(name_slug(text))

    def choose_encryption_file(self) -> None:
        chosen, _filter = QFileDialog.getOpenFileName(
            self,
            _("Fichier de chiffrement"),
            "",
            _("Fichiers PKCS#12 (*.p12 *.pfx);;Tous les fichiers (*)"),
        )
        if chosen:
            self.p12_path.setText(chosen)
            self.p12_secret.setFocus()

    def open_encryption(self) -> None:
        """Open the PKCS#12 file (off the GUI thread: its key derivation is slow)."""
        text = self.p12_path.text().strip()
        if not text:
            show(self.encryption_note, setup_reason("no_encryption") or "", error=True)
            return
        path, secret = Path(text), self.p12_secret.text().encode("utf-8")
        self.p12_secret.clear()
        self._encryption = None
        self.p12_open.setEnabled(False)
        show(self.encryption_note, _("Ouverture du fichier…"))
        self._show_pairing()
        self.worker.run(
            lambda: read_encryption_file(path, secret), self._encryption_opened, self._no_file
        )

    def _encryption_opened(self, opened: tuple[pki.PrivateKey, pki.x509.Certificate]) -> None:
        self.p12_open.setEnabled(True)
        self._encryption = opened
        show(self.encryption_note, summary(opened[1]))
        self._show_pairing()

    def _no_file(self, exc: BaseException) -> None:
        self.p12_open.setEnabled(True)
        show(self.encryption_note, explain(exc), error=True)

    def _show_pairing(self) -> None:
        """Whether the card's certificate and the file's are one person's from one
        authority (``cases.cardidentity.check_pairing``), once both are known."""
        chosen = self.table.chosen()
        if chosen is None or self._encryption is None:
            self.pairing_note.clear()
            return
        try:
            check_pairing(chosen.certificate, self._encryption[1])
        except CardPairingRefused as exc:
            show(self.pairing_note, pairing_reason(exc.reason), error=True)
            return
        show(self.pairing_note, _("Même personne, même autorité : la paire convient."), good=True)

    # --- registering --------------------------------------------------------------------------
    def register(self) -> None:
        """Check what can be checked here, then register off the GUI thread."""
        pin = self.pin.text()
        self.pin.clear()  # typed once: never kept in the field either
        info, chosen = self.current_token(), self.table.chosen()
        problem = ""
        if info is None:
            problem = setup_reason("no_token") or ""
        elif info.pin == "locked":
            problem = card_reason("card_locked") or ""
        elif chosen is None:
            problem = setup_reason("no_certificate") or ""
        elif not can_sign(chosen.certificate):
            problem = pairing_reason("signing_usage")
        elif self._encryption is None:
            problem = setup_reason("no_encryption") or ""
        elif not pin:
            problem = setup_reason("no_pin") or ""
        if problem or info is None or chosen is None or self._encryption is None:
            show(self.message, problem, error=True)
            return
        self._set_busy(True)
        show(self.message, _("Enregistrement : la carte vérifie le code PIN…"))
        module, label, encryption = self._module, info.label, self._encryption
        fields: dict[str, Any] = {
            "name": self.name.text(),
            "role": str(self.role.currentData()),
            "identity_id": self.identifier.text().strip(),
        }
        self.worker.run(
            lambda: register_from_token(
                self.profile, module, label, pin, chosen.certificate, encryption, **fields
            ),
            self._registered,
            self._refused,
        )

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.register_button, self.refresh_button, self.browse, self.token):
            widget.setEnabled(not busy)
        self.module.setEnabled(not busy)

    def _registered(self, info: IdentityInfo) -> None:
        self._set_busy(False)
        show(
            self.message,
            _("Carte enregistrée : {name}. Connectez-vous avec son code PIN.").format(
                name=info.display_name
            ),
            good=True,
        )
        self.registered.emit(info.id)
        self.accept()

    def _refused(self, exc: BaseException) -> None:
        self._set_busy(False)
        show(self.message, explain(exc), error=True)
        info = self.current_token()
        if info is None:
            return
        module, label = self._module, info.label  # what the card now says of its tries
        self.worker.run(
            lambda: next((t for t in list_tokens(module) if t.label == label), None),
            self._tries_now,
            lambda _exc: self._show_pin_state(None),
        )

    def _tries_now(self, info: TokenInfo | None) -> None:
        current = self.current_token()
        if info is None or current is None or current.label != info.label:
            return
        self._tokens[self.token.currentIndex()] = info
        self._show_pin_state(info.pin)


def open_card_setup(profile: Profile, parent: QWidget, on_registered: Any) -> CardSetupDialog:
    """Show the screen as a window of ``parent``; ``on_registered(identity_id)`` after."""
    dialog = CardSetupDialog(profile, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.registered.connect(on_registered)
    dialog.open()
    return dialog
