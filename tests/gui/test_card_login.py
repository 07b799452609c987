"""The login and lock pages of a card identity (``cases.cardidentity``): they ask for the
card's PIN, not a passphrase, and the PIN typed is never shown nor kept. Real widgets
offscreen, French and English, at 1280×720 and in a 960-px-wide window."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from app import i18n
from app.messages import reason
from cases.profile import IdentityInfo
from tests.gui.fit import misfits
from widgets.lock import LockPage
from widgets.login import LoginPage

PEOPLE = [
    IdentityInfo("dr-roy", "Dr Lucie Roy", "doctor", "USMP Fresnes"),
    IdentityInfo("dr-bernard", "Dr Marc Bernard", "doctor", "USMP Fresnes"),
]


@pytest.fixture(params=["fr", "en"])
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    i18n.set_language(request.param)
    try:
        yield request.param
    finally:
        i18n.set_language("fr")


def test_the_login_page_asks_a_card_identity_for_its_pin(
    qtbot: QtBot, language: str, screenshot: Callable[..., Path]
) -> None:
    page = LoginPage(PEOPLE, title="USMP Fresnes", cards=frozenset({"dr-roy"}))
    qtbot.addWidget(page)
    sent: list[tuple[str, str]] = []
    page.login_requested.connect(lambda who, secret: sent.append((who, secret)))
    pin_words = {"fr": "Code PIN de la carte", "en": "Card PIN"}[language]
    page.select("dr-roy")
    assert page.secret_label.text() == pin_words
    assert not page.card_hint.isHidden()
    assert page.passphrase.echoMode() == QLineEdit.EchoMode.Password  # never shown
    page.passphrase.setText("739146")
    page.show_error(reason("card_pin_wrong_final"))
    for size in (QSize(1280, 720), QSize(960, 720)):
        page.resize(size)
        page.show()
        qtbot.waitExposed(page)
        assert misfits(page, size) == []
    screenshot(page, f"login-card-{language}")
    page.submit()
    assert sent == [("dr-roy", "739146")]
    page.select("dr-bernard")  # a software identity: its passphrase, as before
    assert page.secret_label.text() == {"fr": "Mot de passe", "en": "Passphrase"}[language]
    assert page.card_hint.isHidden()
    assert page.passphrase.text() == ""  # what was typed for the card is not carried over


def test_the_lock_page_of_a_card_identity_asks_for_the_pin(
    qtbot: QtBot, language: str, screenshot: Callable[..., Path]
) -> None:
    page = LockPage()
    qtbot.addWidget(page)
    page.show_for("Dr Lucie Roy", card=True)
    assert page.secret_label.text() == {"fr": "Code PIN de la carte", "en": "Card PIN"}[language]
    page.resize(960, 720)
    page.show()
    qtbot.waitExposed(page)
    page.show_error(reason("card_absent"))
    qtbot.wait(50)  # the wrapped error's height settles
    assert misfits(page, QSize(960, 720)) == []
    screenshot(page, f"lock-card-{language}")
    page.show_for("Dr Marc Bernard")
    assert page.secret_label.text() == {"fr": "Mot de passe", "en": "Passphrase"}[language]
