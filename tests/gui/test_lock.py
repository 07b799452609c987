"""The shared desk: the window locks after a while without input or on demand (Ctrl+Shift+L),
shows nothing clinical while locked (no text, no photo pixel, no other window), seals what
was being written, keeps the queue going, and only the same person's passphrase unlocks it;
"Changer de personne" logs them out. No passphrase is ever remembered."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QListWidget, QTextEdit, QWidget
from pytestqt.qtbot import QtBot

from app import secrets
from app.mainwindow import MainWindow
from cases.photos import Photo
from tests.gui.test_end_to_end import WAIT, log_in, send_request, type_text
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv
from widgets.doctor import DoctorWorkspace

CANARY = "CANARY-verrou-3b7e"
Shot = Callable[[QWidget, str], Path]


def magenta_photo() -> Photo:
    """A photo whose pixels are easy to find on screen: a magenta square on grey."""
    image = Image.new("RGB", (480, 360), (128, 128, 128))
    image.paste((255, 0, 255), (60, 60, 420, 300))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return Photo(name="photo-1.jpg", payload=out.getvalue(), width=480, height=360)


def magenta_pixels(image: QImage) -> int:
    """How many pixels of ``image`` are the photo's magenta (sampled every other pixel)."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    found = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            colour = image.pixelColor(x, y)
            if colour.red() > 200 and colour.green() < 70 and colour.blue() > 200:
                found += 1
    return found


def shown_text(window: QWidget) -> str:
    """The text a person could read on ``window`` now: that of its widgets shown (labels,
    buttons, fields, texts, list rows), hidden pages of a stack left out."""
    parts = [window.windowTitle()]
    for child in window.findChildren(QWidget):
        if not child.isVisible():
            continue
        if isinstance(child, QLabel | QAbstractButton | QLineEdit):
            parts.append(child.text())
        elif isinstance(child, QTextEdit):
            parts.append(child.toPlainText())
        elif isinstance(child, QListWidget):
            parts += [child.item(row).text() for row in range(child.count())]
    return "\n".join(parts)


def doctor_showing_a_case(qtbot: QtBot, unit: MainWindow) -> DoctorWorkspace:
    """Dr Bernard logged in, a request sent, shown with its photo in the viewer window."""
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    fill_complete_case(doctor)
    doctor.form.summary.setPlainText(f"Ulcère {CANARY}")
    doctor.form.photos.add_photos([magenta_photo()])
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    doctor.cases.setCurrentRow(0)
    qtbot.waitUntil(doctor.view.photos.thumbnails_ready, timeout=WAIT)
    viewer = doctor.view.photos.open_photo(0)
    qtbot.waitUntil(lambda: viewer.picture.loaded, timeout=WAIT)
    return doctor


def test_a_locked_window_shows_nothing_clinical_and_only_its_person_unlocks_it(
    qtbot: QtBot, demo_env: DemoEnv, screenshot: Shot
) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    unit.resize(1280, 720)
    doctor = doctor_showing_a_case(qtbot, unit)
    viewer = doctor.view.photos.viewer
    assert viewer is not None
    assert CANARY in shown_text(unit)  # what the lock must hide is there to begin with
    assert "P-9" in shown_text(unit)  # the list's row
    assert magenta_pixels(unit.grab().toImage()) > 0
    assert magenta_pixels(viewer.grab().toImage()) > 0
    doctor.new_case()
    type_text(doctor.form.patient_ref, "P-LOCK")  # unfinished work, to be sealed at the lock

    unit.activateWindow()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    # through the native window, as a real keyboard's keys come (the viewer had the focus)
    qtbot.keyClick(unit.windowHandle(), Qt.Key.Key_L, ctrl_shift)
    qtbot.waitUntil(lambda: unit.locked, timeout=WAIT)
    assert unit.pages.currentWidget() is unit.lock_page
    assert not viewer.isVisible()
    assert CANARY not in shown_text(unit)
    assert "P-9" not in shown_text(unit)
    assert "P-LOCK" not in shown_text(unit)
    assert magenta_pixels(unit.grab().toImage()) == 0
    drafts = demo_env.layout.unit / "drafts"
    qtbot.waitUntil(lambda: any(drafts.rglob("*.p7m")), timeout=WAIT)  # sealed, as at logout
    screenshot(unit, "locked")

    unit.lock_page.passphrase.setText("not the passphrase")
    unit.lock_page.button.click()
    qtbot.waitUntil(lambda: bool(unit.lock_page.error.text()), timeout=WAIT)
    assert unit.locked
    unit.lock_page.passphrase.setText("")
    unit.lock_page.button.click()
    assert unit.lock_page.error.text() == "Saisissez votre mot de passe."
    assert unit.locked  # an empty passphrase never unlocks

    # someone at the desk switches the language: the menus are rebuilt, the lock stays whole
    try:
        unit._set_language("en")
        assert unit.locked
        assert unit.pages.currentWidget() is unit.lock_page
        for action in (unit.lock_action, unit.logout_action, unit.card_action):
            assert not action.isEnabled(), action.text()
        assert CANARY not in shown_text(unit)
    finally:
        unit._set_language("fr")
    assert not unit.logout_action.isEnabled()

    qtbot.keyClicks(unit.lock_page.passphrase, "demo")
    unit.lock_page.button.click()
    qtbot.waitUntil(lambda: not unit.locked, timeout=WAIT)
    assert unit.workspace is doctor
    assert unit.pages.currentWidget() is doctor
    assert viewer.isVisible()  # back as it was
    assert doctor.form.patient_ref.text() == "P-LOCK"


def test_the_window_locks_by_itself_when_nobody_touches_it(qtbot: QtBot, demo_env: DemoEnv) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    assert unit.idle.timer.interval() == 5 * 60_000  # the default: five minutes
    # Keys 200 ms apart for 3 s, longer than the 2 s of idleness that locks; 2 s, so that
    # a busy GUI thread delaying a key by a second does not lock it early.
    unit.idle.set_interval(2000)
    for _ in range(15):  # typing keeps it open
        qtbot.keyClick(unit.windowHandle(), Qt.Key.Key_A)
        qtbot.wait(200)
    assert not unit.locked
    qtbot.waitUntil(lambda: unit.locked, timeout=WAIT)  # then it locks by itself

    unit.lock_page.switch.click()  # "Changer de personne": logged out
    assert not unit.locked
    assert unit.workspace is None
    assert unit.pages.currentWidget() is unit.login


def test_the_queue_goes_on_while_the_window_is_locked(qtbot: QtBot, demo_env: DemoEnv) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    assert unit.session is not None
    unit.session.outbox.pause_all()  # the request waits in the queue...
    fill_complete_case(doctor)
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    unit.lock()
    unit.session.outbox.resume_all()  # ...and leaves while the window is locked
    unit.session.sender.wake()
    queue = unit.session.outbox
    qtbot.waitUntil(
        lambda: all(j.state in ("delivered", "acknowledged") for j in queue.jobs()), timeout=WAIT
    )
    assert unit.locked


def test_no_passphrase_is_remembered_and_an_empty_one_never_logs_in(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    """An earlier version could remember a passphrase in the keyring, and an empty field then
    logged anyone in as its person: now an empty field is refused, and what an earlier version
    kept is erased at that person's next login."""
    unit = open_window(qtbot, demo_env.layout.unit)
    assert unit.profile is not None
    station = unit.profile.station_id
    assert secrets.remember(station, "dr-bernard", "demo")  # as an earlier version left it
    try:
        unit.login.select("dr-bernard")
        unit.login.button.click()  # the passphrase field left empty
        assert unit.login.error.text() == "Saisissez votre mot de passe."
        assert unit.workspace is None
        assert not hasattr(unit.login, "remember")  # no such choice any more
        log_in(qtbot, unit, "dr-bernard")
        qtbot.waitUntil(lambda: secrets.recall(station, "dr-bernard") is None, timeout=WAIT)
    finally:
        secrets.forget(station, "dr-bernard")
