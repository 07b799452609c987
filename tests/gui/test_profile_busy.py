"""Passavant opened twice on the same workstation: the second window says so and opens nothing
(two queues repairing and sending the same jobs would send them twice), and the first goes on.
Real windows offscreen, against the demo's real platform."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from app import i18n
from cases.profilelock import hold
from tests.gui.test_end_to_end import log_in
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from widgets.doctor import DoctorWorkspace

Shot = Callable[[QWidget, str], Path]

TOLD = {
    "fr": "Passavant est déjà ouvert sur ce poste : dans une autre fenêtre, ou en arrière-plan",
    "en": "Passavant is already open on this workstation: in another window, or in the background",
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_second_window_on_the_profile_says_the_first_is_open(
    qtbot: QtBot, demo_env: DemoEnv, screenshot: Shot, language: str
) -> None:
    i18n.set_language(language)
    first = open_window(qtbot, demo_env.layout.unit)
    assert first.session is not None
    second = open_window(qtbot, demo_env.layout.unit)
    second.resize(1280, 720)
    assert second.session is None
    page = second.pages.currentWidget()
    assert isinstance(page, QLabel)
    assert page.text().startswith(TOLD[language])
    assert str(demo_env.layout.unit) in page.text()
    assert page.isVisible()
    assert page.geometry().right() <= second.width()
    screenshot(second, f"profile-busy-{language}")
    second.close()

    doctor = log_in(qtbot, first, "dr-bernard")  # the first window is untouched
    assert isinstance(doctor, DoctorWorkspace)
    first.close()
    third = open_window(qtbot, demo_env.layout.unit)  # closed: the profile opens again
    assert third.session is not None
    third.close()


def test_a_window_opened_during_a_rebuild_names_the_command(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    with hold(demo_env.layout.unit, "index rebuild"):
        window = open_window(qtbot, demo_env.layout.unit)
        assert window.session is None
        page = window.pages.currentWidget()
        assert isinstance(page, QLabel)
        assert page.text().startswith(
            "La commande « passavant index rebuild » travaille sur le profil de ce poste : "
            "rouvrez Passavant quand elle aura fini."
        )
        window.close()
