"""The screen that registers a card identity (``widgets.cardsetup``) on real SoftHSM2 tokens,
real certificates and PKCS#12 files, real widgets offscreen: a card is registered and logs
in; a wrong PIN, a blocked card, a card removed mid-way, a card without a certificate, a
certificate that cannot sign, another person's file, an unknown authority, a certificate
copied onto someone else's card: each a plain message, and nothing registered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from app import i18n
from app.card_text import card_reason, pairing_reason, pin_label, pin_state_text, setup_reason
from app.mainwindow import MainWindow
from cases.cardidentity import card_ids
from cases.profile import Profile
from crypto import audit, pki
from crypto.pkcs11 import CardSlot, TokenSigningKey, generate_signing_key, store_certificate
from crypto.pkcs12 import export_pkcs12
from tests.core.test_card_identity import a_profile, new_card
from tests.gui.fit import fit
from tests.gui.test_end_to_end import log_in
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from tests.support.pki import Identity, world
from tests.support.softhsm import LOCKED, PIN, SoftHsm, softhsm
from widgets.cardsetup import CardSetupDialog

WAIT = 20_000
P12_SECRET = "fichier-de-chiffrement"


@pytest.fixture
def hsm() -> SoftHsm:
    return softhsm()


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return a_profile(tmp_path / "profile")


@pytest.fixture(params=["fr", "en"])
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    i18n.set_language(request.param)
    try:
        yield request.param
    finally:
        i18n.set_language("fr")


def p12_file(folder: Path, who: Identity, name: str = "chiffrement.p12") -> Path:
    path = folder / name
    path.write_bytes(export_pkcs12(who.key, who.cert, [], P12_SECRET.encode(), "chiffrement"))
    return path


def opened(qtbot: QtBot, profile: Profile, hsm: SoftHsm, label: str) -> CardSetupDialog:
    """The screen with the test module proposed, showing the token ``label``."""
    dialog = CardSetupDialog(profile, modules=[hsm.module])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.token.count() > 0, timeout=WAIT)
    dialog.choose_token(label)
    qtbot.waitUntil(lambda: not dialog.message.text().endswith("…"), timeout=WAIT)
    return dialog


def open_file(qtbot: QtBot, dialog: CardSetupDialog, path: Path, secret: str = P12_SECRET) -> None:
    dialog.p12_path.setText(str(path))
    qtbot.keyClicks(dialog.p12_secret, secret)
    qtbot.mouseClick(dialog.p12_open, Qt.MouseButton.LeftButton)
    assert dialog.p12_secret.text() == ""  # the file's passphrase is not kept either
    qtbot.waitUntil(lambda: dialog.p12_open.isEnabled(), timeout=WAIT)


def register(qtbot: QtBot, dialog: CardSetupDialog, pin: str) -> None:
    """Type the PIN and register; wait for the answer (success or a message)."""
    dialog.pin.setText(pin)
    dialog.message.clear()
    qtbot.mouseClick(dialog.register_button, Qt.MouseButton.LeftButton)
    assert dialog.pin.text() == ""  # typed once, never kept in the field
    qtbot.waitUntil(
        lambda: (
            dialog.register_button.isEnabled()
            and dialog.message.text() != ""
            and not dialog.message.text().endswith("…")
        ),
        timeout=WAIT,
    )


def nothing_registered(profile: Profile) -> None:
    assert profile.identities() == []
    assert not (profile.root / "identities").exists() or not any(
        (profile.root / "identities").iterdir()
    )


def test_a_card_is_registered_from_the_screen_and_then_unlocks(
    qtbot: QtBot,
    hsm: SoftHsm,
    profile: Profile,
    tmp_path: Path,
    language: str,
    screenshot: Callable[..., Path],
) -> None:
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    dialog = opened(qtbot, profile, hsm, card.slot.token_label)
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == "Dr Claire Martin"
    usage = {"fr": "signature numérique", "en": "digital signature"}[language]
    assert usage in dialog.table.item(0, 3).text()
    assert dialog.pin_state.text() == pin_state_text(None)
    assert dialog.name.text() == "Dr Claire Martin"
    assert dialog.identifier.text() == "dr-claire-martin"
    assert dialog.role.currentData() == "doctor"
    open_file(qtbot, dialog, p12_file(tmp_path, w.doctor))
    same = {"fr": "Même personne, même autorité", "en": "Same person, same authority"}
    assert dialog.pairing_note.text().startswith(same[language])
    dialog.pin.setText(PIN)
    problems = []
    for size in (QSize(956, 1000), QSize(1280, 660)):  # half a 1920×1080, a 1280×720 screen
        problems += fit(dialog, size)
    assert problems == []
    dialog.resize(1280, 720)
    qtbot.wait(50)
    screenshot(dialog, f"card-setup-{language}")
    with qtbot.waitSignal(dialog.registered, timeout=WAIT) as done:
        register(qtbot, dialog, PIN)
    assert done.args == ["dr-claire-martin"]
    assert card_ids(profile) == {"dr-claire-martin"}
    me = profile.unlock("dr-claire-martin", PIN.encode())  # as the login page will
    assert isinstance(me.signer_key, TokenSigningKey)
    assert me.signer_certificate == card.certificate
    assert me.certificate == w.doctor.cert
    # the PIN is nowhere in the profile; the registration is journalled
    for path in profile.root.rglob("*"):
        if path.is_file():
            assert PIN.encode() not in path.read_bytes(), path
    entries = audit.read(profile.audit_path)
    assert [(e.event, e.actor, e.details["key"]) for e in entries][-1] == (
        "identity_imported",
        "dr-claire-martin",
        "card",
    )
    assert audit.verify(profile.audit_path).ok


def test_a_wrong_pin_is_said_and_nothing_is_registered(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    dialog = opened(qtbot, profile, hsm, card.slot.token_label)
    open_file(qtbot, dialog, p12_file(tmp_path, w.doctor))
    register(qtbot, dialog, "000000")
    assert dialog.message.text() in {
        card_reason("card_pin_wrong"),
        card_reason("card_pin_wrong_low"),
    }
    nothing_registered(profile)
    assert dialog.isVisible()  # the person may try again
    with qtbot.waitSignal(dialog.registered, timeout=WAIT):
        register(qtbot, dialog, PIN)


def test_a_blocked_card_is_plainly_said_and_the_pin_not_even_sent(
    qtbot: QtBot,
    hsm: SoftHsm,
    profile: Profile,
    tmp_path: Path,
    language: str,
    screenshot: Callable[..., Path],
) -> None:
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    hsm.set_pin_flags(card.slot.token_label, LOCKED)
    dialog = opened(qtbot, profile, hsm, card.slot.token_label)
    assert dialog.pin_state.text() == pin_state_text("locked")
    assert not dialog.pin.isEnabled()
    open_file(qtbot, dialog, p12_file(tmp_path, w.doctor))
    qtbot.mouseClick(dialog.register_button, Qt.MouseButton.LeftButton)
    assert dialog.message.text() == card_reason("card_locked")
    nothing_registered(profile)
    assert fit(dialog, QSize(1280, 660)) == []  # the longer messages fit too
    dialog.resize(1280, 720)
    qtbot.wait(50)
    screenshot(dialog, f"card-setup-blocked-{language}")


def test_a_card_removed_mid_way_is_said_absent_and_nothing_is_registered(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    dialog = opened(qtbot, profile, hsm, card.slot.token_label)
    open_file(qtbot, dialog, p12_file(tmp_path, w.doctor))
    hsm.remove(card.slot.token_label)  # the card leaves the reader
    register(qtbot, dialog, PIN)
    assert dialog.message.text() == setup_reason("card_absent")
    nothing_registered(profile)
    qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)  # it is gone
    qtbot.waitUntil(lambda: dialog.token.count() > 0, timeout=WAIT)
    labels = [t.label for t in dialog._tokens]
    assert card.slot.token_label not in labels


def test_a_card_without_certificate_is_said_so(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    blank = hsm.token()  # initialised, nothing on it
    dialog = opened(qtbot, profile, hsm, blank)
    assert dialog.table.rowCount() == 0
    assert dialog.message.text() == setup_reason("no_certificate")
    open_file(qtbot, dialog, p12_file(tmp_path, world().doctor))
    register(qtbot, dialog, PIN)
    assert dialog.message.text() == setup_reason("no_certificate")
    nothing_registered(profile)


def _encryption_only(
    ca: Identity, like: x509.Certificate, public: pki.PublicKey
) -> x509.Certificate:
    """A certificate of the person ``like`` names whose key may only encipher keys."""
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(ca.cert.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(like.subject)
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, True, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


def test_a_certificate_that_cannot_sign_is_refused_in_plain_words(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    w = world()
    slot = CardSlot(hsm.module, hsm.token(), "Chiffrement CPS")
    public = generate_signing_key(slot, PIN)
    store_certificate(slot, PIN, _encryption_only(w.ca, w.doctor.cert, public))
    dialog = opened(qtbot, profile, hsm, slot.token_label)
    assert dialog.table.rowCount() == 1
    assert dialog.certificate_note.text() == pairing_reason("signing_usage")
    open_file(qtbot, dialog, p12_file(tmp_path, w.doctor))
    register(qtbot, dialog, PIN)
    assert dialog.message.text() == pairing_reason("signing_usage")
    nothing_registered(profile)


def test_another_person_s_encryption_file_is_refused(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    """Someone pairs the doctor's card with their own file, to read what is sent to her."""
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    dialog = opened(qtbot, profile, hsm, card.slot.token_label)
    open_file(qtbot, dialog, p12_file(tmp_path, w.specialist))
    assert dialog.pairing_note.text() == pairing_reason("subject")
    register(qtbot, dialog, PIN)
    assert dialog.message.text() == pairing_reason("subject")
    nothing_registered(profile)


def test_a_card_from_an_unknown_authority_is_refused(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    """A consistent pair from a CA this workstation does not trust (same names)."""
    w = world()
    card = new_card(hsm, (w.rogue_ca.cert, w.rogue_ca.key), w.rogue_doctor.cert)
    dialog = opened(qtbot, profile, hsm, card.slot.token_label)
    open_file(qtbot, dialog, p12_file(tmp_path, w.rogue_doctor))
    register(qtbot, dialog, PIN)
    assert dialog.message.text() == setup_reason("untrusted_signer")
    nothing_registered(profile)


def test_a_certificate_copied_onto_another_card_is_refused(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    """The doctor's (public) signing certificate written on someone else's token: no key of
    that card is the certificate's, so nothing is bound to it."""
    w = world()
    genuine = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    forged = CardSlot(hsm.module, hsm.token(), "Signature CPS")
    generate_signing_key(forged, PIN)
    store_certificate(forged, PIN, genuine.certificate)
    dialog = opened(qtbot, profile, hsm, forged.token_label)
    open_file(qtbot, dialog, p12_file(tmp_path, w.doctor))
    assert "Même personne" in dialog.pairing_note.text()  # the certificates do pair
    register(qtbot, dialog, PIN)
    assert dialog.message.text() == setup_reason("card_key_missing")
    nothing_registered(profile)


def test_bad_files_and_a_missing_module_are_plain(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    dialog = opened(qtbot, profile, hsm, card.slot.token_label)
    open_file(qtbot, dialog, p12_file(tmp_path, w.doctor), secret="pas le bon")
    assert dialog.encryption_note.text() == setup_reason("wrong_passphrase")
    junk = tmp_path / "gros.p12"
    junk.write_bytes(b"\x30\x82" + b"\x00" * (3 << 20))  # 3 MiB: refused unread past 1 MiB
    open_file(qtbot, dialog, junk)
    assert dialog.encryption_note.text() == setup_reason("malformed")
    open_file(qtbot, dialog, tmp_path / "absent.p12")
    assert dialog.encryption_note.text() == setup_reason("file_unreadable")
    register(qtbot, dialog, PIN)
    assert dialog.message.text() == setup_reason("no_encryption")
    dialog.module.setEditText(str(tmp_path / "libabsent-pkcs11.so"))
    qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.message.text().endswith("…"), timeout=WAIT)
    assert dialog.message.text() == card_reason("card_module_missing")
    assert dialog.token.count() == 0
    nothing_registered(profile)


def test_the_login_page_opens_the_screen_and_then_lists_the_card(
    qtbot: QtBot, hsm: SoftHsm, profile: Profile, tmp_path: Path
) -> None:
    """From the workstation's login page (no one logged in) to the doctor's workspace,
    signing on the card just registered."""
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    window = MainWindow(profile.root, poll_interval=0.3)
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.mouseClick(window.login.card_setup, Qt.MouseButton.LeftButton)
        dialog = window.findChild(CardSetupDialog)
        assert dialog is not None
        assert dialog.isVisible()
        dialog.module.setEditText(hsm.module)  # as picked with "Parcourir…"
        qtbot.mouseClick(dialog.refresh_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.token.count() > 0, timeout=WAIT)
        dialog.choose_token(card.slot.token_label)
        qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=WAIT)
        open_file(qtbot, dialog, p12_file(tmp_path, w.doctor))
        dialog.pin.setText(PIN)
        with qtbot.waitSignal(dialog.registered, timeout=WAIT):
            qtbot.mouseClick(dialog.register_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.findChild(CardSetupDialog) is None, timeout=WAIT)
        assert window.login.selected_id() == "dr-claire-martin"
        assert window.login.secret_label.text() == pin_label()  # it asks the card's PIN
        qtbot.keyClicks(window.login.passphrase, PIN)
        qtbot.mouseClick(window.login.button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.me is not None, timeout=WAIT)
        assert window.me is not None
        assert isinstance(window.me.signer_key, TokenSigningKey)
        assert window.me.signer_certificate == card.certificate
    finally:
        window.shutdown()


@pytest.mark.qt_log_ignore("does not support grabbing the keyboard")  # the menu, offscreen
def test_a_person_logged_in_reaches_the_screen_from_the_menu_never_on_a_locked_window(
    qtbot: QtBot, demo_env: DemoEnv, language: str, tmp_path: Path
) -> None:
    """A doctor logged in with a passphrase who receives a CPS card registers it from the
    "Fichier" menu without logging out; nobody at a locked window reaches the screen."""
    window = open_window(qtbot, demo_env.layout.unit)
    try:
        assert window.card_action.isEnabled()  # the login page's link has it too
        log_in(qtbot, window, "dr-bernard")
        file_menu = window.menuBar().actions()[0].menu()
        assert isinstance(file_menu, QMenu)
        assert window.card_action in file_menu.actions()
        assert window.card_action.isEnabled()
        expected = {"fr": "Enregistrer une &carte CPS sur ce poste…", "en": "Register a &CPS"}
        assert window.card_action.text().startswith(expected[language])
        menu_picture(qtbot, window, file_menu).save(str(tmp_path / f"menu-card-{language}.png"))

        window.card_action.trigger()
        dialog = window.findChild(CardSetupDialog)
        assert dialog is not None
        assert dialog.isVisible()
        assert window.me is not None  # still logged in, the workspace behind
        assert window.pages.currentWidget() is window.workspace

        window.lock()
        assert not window.card_action.isEnabled()
        assert not dialog.isVisible()  # hidden with the window's other windows
        window.card_action.trigger()
        assert window.open_card_setup() is None  # even called directly
        assert window.findChildren(CardSetupDialog) == [dialog]
        assert not dialog.isVisible()

        qtbot.keyClicks(window.lock_page.passphrase, "demo")
        window.lock_page.button.click()
        qtbot.waitUntil(lambda: not window.locked, timeout=WAIT)
        assert window.card_action.isEnabled()
        assert dialog.isVisible()  # back as it was
        dialog.reject()
    finally:
        window.close()


def menu_picture(qtbot: QtBot, window: MainWindow, menu: QMenu) -> QPixmap:
    """The window at 1280×720, its ``menu`` open over it."""
    window.resize(1280, 660)
    QApplication.processEvents()
    menu.popup(window.mapToGlobal(QPoint(0, window.menuBar().height())))
    qtbot.waitUntil(menu.isVisible, timeout=WAIT)
    picture = window.grab()
    painter = QPainter(picture)
    painter.drawPixmap(window.mapFromGlobal(menu.pos()), menu.grab())
    painter.end()
    menu.hide()
    return picture
