"""Changing the language applies at once, in every window (issue 16 §5: it applied only at
the next start), without losing what was being written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.gui import install_qt_translations
from app.i18n import language, set_language
from cases.profile import Profile
from tests.gui.test_end_to_end import WAIT, log_in, type_text
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from widgets.doctor import DoctorWorkspace


@pytest.fixture
def back_to_french() -> Iterator[None]:
    yield
    set_language("fr")
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    install_qt_translations(app, "en")  # takes ours away: Qt's own texts, as in the tests


def lock_actions(window: object) -> list[QAction]:
    return [
        a
        for a in window.findChildren(QAction)  # type: ignore[attr-defined]
        if a.shortcut() == QKeySequence("Ctrl+Shift+L")
    ]


def test_the_language_changes_at_once_and_the_draft_stays(
    qtbot: QtBot, demo_env: DemoEnv, back_to_french: None
) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    hospital = open_window(qtbot, demo_env.layout.hospital)
    assert unit.login.button.text() == "Se connecter"
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    type_text(doctor.form.patient_ref, "P-LANG")
    assert doctor.form.send_button.text() == "Envoyer la demande"

    unit._set_language("en")
    assert language() == "en"
    assert Profile(demo_env.layout.unit).language == "en"  # and at the next start
    rebuilt = unit.workspace
    assert isinstance(rebuilt, DoctorWorkspace)
    assert rebuilt is not doctor  # built again, in English
    assert rebuilt.form.send_button.text() == "Send the request"
    assert "&File" in [a.text() for a in unit.menuBar().actions()]
    assert len(lock_actions(unit)) == 1  # the old menus' shortcuts went with them
    assert unit.lock_action.isEnabled()
    # what was being written waits among the drafts
    qtbot.waitUntil(lambda: rebuilt.draft_list.count() == 1, timeout=WAIT)
    assert "P-LANG" in rebuilt.draft_list.item(0).text()
    # the other window follows, on its login page
    assert hospital.login.button.text() == "Log in"
    assert "&File" in [a.text() for a in hospital.menuBar().actions()]

    unit._set_language("fr")
    assert unit.login.button.text() == "Se connecter"
    workspace = unit.workspace
    assert isinstance(workspace, DoctorWorkspace)
    assert workspace.form.send_button.text() == "Envoyer la demande"
    unit.log_out()
    assert unit.pages.currentWidget() is unit.login
