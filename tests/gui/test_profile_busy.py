"""Passavant opened twice on the same workstation: the second window opens nothing (two queues
repairing and sending the same jobs would send them twice); it brings the first forward and
goes, or, if the first does not answer, says where Passavant is open. Real windows offscreen
(and a second real process), against the demo's real platform."""

# ruff: noqa: F811 - the shared fixture is imported, and named again as a parameter

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from app import i18n
from app.calls import PATIENCE_MS, Calling
from cases.profilelock import answered, call, hold
from tests.gui.test_background_sending import (  # noqa: F401 - the shared fixture
    quits,
    sent_to_the_tray,
)
from tests.gui.test_end_to_end import WAIT, log_in, visible_text
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from tests.support.platform import REPO_ROOT
from widgets.doctor import DoctorWorkspace

Shot = Callable[[QWidget, str], Path]

CLINICAL = "Ulcère de jambe, 3 cm"
TOLD = {
    "fr": "Passavant est déjà ouvert sur ce poste : dans une autre fenêtre, ou en arrière-plan",
    "en": "Passavant is already open on this workstation: in another window, or in the background",
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_second_start_that_gets_no_answer_says_where_passavant_is_open(
    qtbot: QtBot, demo_env: DemoEnv, screenshot: Shot, language: str
) -> None:
    """The profile held by an app that does not answer (hung, or its window gone): the second
    window stays, and says so."""
    i18n.set_language(language)
    with hold(demo_env.layout.unit, "app"):
        second = open_window(qtbot, demo_env.layout.unit)
        second.resize(1280, 720)
        assert second.session is None
        calling = second.findChild(Calling)
        assert calling is not None
        assert calling.waiting  # it called the holder
        page = second.pages.currentWidget()
        assert isinstance(page, QLabel)
        assert page.text().startswith(TOLD[language])
        assert str(demo_env.layout.unit) in page.text()
        qtbot.waitUntil(lambda: not calling.waiting, timeout=PATIENCE_MS + 2000)
        assert second.isVisible()  # no answer: the message stays
        assert page.isVisible()
        assert page.geometry().right() <= second.width()
        screenshot(second, f"profile-busy-{language}")
        second.close()
    third = open_window(qtbot, demo_env.layout.unit)  # released: the profile opens again
    assert third.session is not None
    third.close()


def test_a_second_window_brings_the_first_forward_and_goes(qtbot: QtBot, demo_env: DemoEnv) -> None:
    first = open_window(qtbot, demo_env.layout.unit)
    assert first.session is not None
    first.showMinimized()
    ini = demo_env.layout.unit / "window.ini"
    remembered = ini.read_bytes() if ini.exists() else None
    second = open_window(qtbot, demo_env.layout.unit)
    assert second.session is None
    qtbot.waitUntil(lambda: not second.isVisible(), timeout=WAIT)  # answered: it goes
    assert (ini.read_bytes() if ini.exists() else None) == remembered  # not its size
    assert first.isVisible()
    assert not first.isMinimized()
    doctor = log_in(qtbot, first, "dr-bernard")  # the first window works as before
    assert isinstance(doctor, DoctorWorkspace)
    first.close()
    token = call(demo_env.layout.unit)  # a closed window hears no more calls
    qtbot.wait(500)
    assert not answered(demo_env.layout.unit, token)
    third = open_window(qtbot, demo_env.layout.unit)  # closed: the profile opens again
    assert third.session is not None
    third.close()


def test_a_locked_window_comes_forward_still_locked(qtbot: QtBot, demo_env: DemoEnv) -> None:
    first = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, first, "dr-bernard")
    doctor.form.summary.setPlainText(CLINICAL)
    first.lock()
    first.showMinimized()
    second = open_window(qtbot, demo_env.layout.unit)
    qtbot.waitUntil(lambda: not second.isVisible(), timeout=WAIT)
    assert not first.isMinimized()
    assert first.locked
    assert first.pages.currentWidget() is first.lock_page
    assert CLINICAL not in visible_text(first)  # someone at the desk sees no case
    first.close()


@pytest.mark.qt_log_ignore("systemTrayWindowChanged")
def test_a_window_sending_in_the_background_comes_back_from_the_tray(
    qtbot: QtBot, demo_env: DemoEnv, quits: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    window = sent_to_the_tray(qtbot, demo_env, monkeypatch)  # a send waits: in the tray
    assert window.background is not None
    assert not window.isVisible()
    second = open_window(qtbot, demo_env.layout.unit)
    assert second.session is None  # the queue is still the first window's
    qtbot.waitUntil(lambda: not second.isVisible(), timeout=WAIT)
    assert window.isVisible()
    assert window.background is None
    assert window.pages.currentWidget() is window.login  # the person logs in again
    assert not quits  # the application goes on: the first window is back
    window.end()


def test_passavant_started_again_in_another_process_brings_the_window_forward(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    """The real case: a second ``passavant`` process on the profile the app has open."""
    first = open_window(qtbot, demo_env.layout.unit)
    first.showMinimized()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    second = subprocess.Popen(
        [sys.executable, "-m", "app", "--profile", str(demo_env.layout.unit)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:  # the first window's event loop runs while the second process waits for it
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=WAIT)
    finally:
        if second.poll() is None:
            second.kill()
        _out, err = second.communicate(timeout=10)
    assert second.returncode == 0, err.decode(errors="replace")[-2000:]
    assert not first.isMinimized()
    assert first.session is not None  # still the profile's one process
    first.close()


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
