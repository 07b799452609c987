"""Closing the window never stops a send (issue 16 §2): the queue goes on in the background
until it is empty, then the application ends; "Quitter maintenant" stops for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from app import demo
from app.mainwindow import MainWindow
from cases.profile import Profile
from outbox.queue import Outbox
from tests.gui.test_end_to_end import WAIT, log_in, send_request
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv
from widgets.doctor import DoctorWorkspace

CLINICAL = "Résumé"


@pytest.fixture
def quits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Records the application's quit instead of ending the test run's event loops."""
    asked: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", lambda *_args: asked.append(True))
    yield asked
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(True)


def send_during_outage(
    qtbot: QtBot, demo_env: DemoEnv, *, owned_by_test: bool = True
) -> tuple[MainWindow, str]:
    if owned_by_test:
        window = open_window(qtbot, demo_env.layout.unit)
    else:  # the test deletes it itself
        window = MainWindow(demo_env.layout.unit, poll_interval=0.3)
        window.show()
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    demo.stop_platform(demo_env.process)
    fill_complete_case(doctor)
    send_request(doctor.form)
    session = window.session
    assert session is not None
    qtbot.waitUntil(lambda: [j.state for j in session.outbox.jobs()] == ["retry"], timeout=WAIT)
    return window, session.outbox.jobs()[0].bundle_id


def sent_to_the_tray(
    qtbot: QtBot, demo_env: DemoEnv, monkeypatch: pytest.MonkeyPatch
) -> MainWindow:
    """A window closed with a send waiting during an outage, gone to the tray (offscreen has
    none: its availability is faked, and the test ignores Qt's word on it)."""
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", lambda: True)
    window, _bundle = send_during_outage(qtbot, demo_env)
    window.close()
    return window


@pytest.fixture
def restarted() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Platforms restarted by a test, stopped by their process at its end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        demo.stop_platform(process)


def restart_platform(
    demo_env: DemoEnv, started: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """The same platform back on the same port (the profiles keep their address)."""
    port = demo_env.url.rsplit(":", 1)[1].split("/")[0]
    ready = demo_env.layout.platform / "ready"
    ready.unlink(missing_ok=True)
    command = demo.platform_command(demo_env.layout, ready)
    command[command.index("--port") + 1] = port
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    started.append(process)
    demo._wait_ready(process, ready, 30.0)
    return process


def test_closing_with_a_send_waiting_goes_on_and_ends_once_delivered(
    qtbot: QtBot,
    demo_env: DemoEnv,
    quits: list[bool],
    restarted: list[subprocess.Popen[bytes]],
) -> None:
    window, bundle_id = send_during_outage(qtbot, demo_env)
    session = window.session
    assert session is not None
    window.close()
    background = window.background
    assert background is not None
    assert background.active
    assert window.session is session  # the sender still runs
    assert window.me is None
    assert window.workspace is None
    assert CLINICAL not in window.windowTitle()
    assert "1 envoi(s) en cours" in window.windowTitle()
    assert not window.isVisible() or window.isMinimized()
    window.close()  # closing again changes nothing while sends remain
    assert window.session is session
    restart_platform(demo_env, restarted)
    session.outbox.retry_now(bundle_id)  # no need to wait for the backoff here
    qtbot.waitUntil(lambda: window.session is None, timeout=WAIT)  # ended by itself
    assert quits == [True]
    assert not window.isVisible()


def test_quit_now_stops_and_the_send_resumes_at_the_next_start(
    qtbot: QtBot,
    demo_env: DemoEnv,
    quits: list[bool],
    restarted: list[subprocess.Popen[bytes]],
) -> None:
    window, bundle_id = send_during_outage(qtbot, demo_env)
    window.close()
    assert window.background is not None
    window.background.quit_requested.emit()
    qtbot.waitUntil(lambda: window.session is None, timeout=WAIT)
    assert quits == [True]
    restart_platform(demo_env, restarted)
    again = open_window(qtbot, demo_env.layout.unit)  # the next start
    session = again.session
    assert session is not None
    assert [j.bundle_id for j in session.outbox.jobs()] == [bundle_id]
    session.outbox.retry_now(bundle_id)
    qtbot.waitUntil(lambda: session.outbox.jobs()[0].state == "delivered", timeout=WAIT)
    again.close()
    assert again.session is None  # nothing left to send: closes at once


# offscreen has no tray: Qt says so when one is made anyway (the fake availability below)
@pytest.mark.qt_log_ignore("systemTrayWindowChanged")
def test_with_a_tray_the_window_leaves_the_screen_and_comes_back(
    qtbot: QtBot, demo_env: DemoEnv, quits: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    window = sent_to_the_tray(qtbot, demo_env, monkeypatch)
    background = window.background
    assert background is not None
    assert background.tray is not None
    assert not window.isVisible()
    assert "1 envoi(s) en cours" in background.tray.toolTip()
    background.show_requested.emit()
    assert window.isVisible()
    assert window.background is None
    assert window.pages.currentWidget() is window.login  # the person must log in again
    window.end()
    assert window.session is None


def test_a_paused_send_does_not_keep_the_application(
    qtbot: QtBot, demo_env: DemoEnv, quits: list[bool]
) -> None:
    window, bundle_id = send_during_outage(qtbot, demo_env)
    session = window.session
    assert session is not None
    session.outbox.pause(bundle_id)  # held by the secretary: waits for a person, not us
    window.close()
    assert window.background is None
    assert window.session is None


def test_logging_out_says_the_sends_go_on(qtbot: QtBot, demo_env: DemoEnv) -> None:
    window, _bundle = send_during_outage(qtbot, demo_env)
    window.log_out()
    assert "1 envoi(s) en cours : ils continuent." in window.statusBar().currentMessage()
    window.end()


def test_quitting_during_an_outage_with_sends_waiting_is_clean_every_time(
    qtbot: QtBot, demo_env: DemoEnv, quits: list[bool]
) -> None:
    """The app, started as the README says, quit while a send waits on a dead platform:
    exit status 0 and no fatal error while the interpreter finalises, five times in a row
    (a binding's reference-count bug once aborted exactly there)."""
    window, bundle_id = send_during_outage(qtbot, demo_env)
    window.end()
    root = Path(__file__).parents[2]
    for _attempt in range(5):
        run = subprocess.run(
            [sys.executable, "-m", "app", "--profile", str(demo_env.layout.unit), "--smoke-test"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Fatal Python error" not in run.stderr
        assert "send(s) on their way" in run.stderr  # it was quit with the send waiting
    profile = Profile(demo_env.layout.unit)
    jobs = Outbox(profile.db_path, profile.path("outbox")).jobs()
    assert [(j.bundle_id, j.state) for j in jobs] == [(bundle_id, "retry")]  # kept, once


def test_a_window_deleted_while_sending_in_the_background_stops_its_workers(
    qtbot: QtBot, demo_env: DemoEnv, quits: list[bool]
) -> None:
    """No thread outlives its window (a test's teardown, or an owner, deletes it)."""
    window, _bundle = send_during_outage(qtbot, demo_env, owned_by_test=False)
    session = window.session
    assert session is not None
    window.close()
    assert window.background is not None
    assert session.sender.is_alive()
    window.deleteLater()
    qtbot.waitUntil(lambda: not session.sender.is_alive(), timeout=WAIT)
    assert not session.fetcher.is_alive()
