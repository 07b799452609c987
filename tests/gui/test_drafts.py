"""An unfinished request survives logout and restart, sealed; sending it removes the draft."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from tests.gui.test_end_to_end import WAIT, log_in, send_request, type_text
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from widgets.doctor import DoctorWorkspace

CANARY = "CANARY-brouillon-91c2"


def doctor_in(qtbot: QtBot, demo_env: DemoEnv) -> tuple[object, DoctorWorkspace]:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    return window, doctor


def test_a_draft_is_saved_while_typing_and_resumed_after_a_restart(
    qtbot: QtBot, demo_env: DemoEnv, screenshot: Callable[[QWidget, str], Path]
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    type_text(doctor.form.patient_ref, "P-77")
    type_text(doctor.form.summary, f"Ulcère {CANARY}")
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    assert "P-77" in doctor.draft_list.item(0).text()
    assert "Brouillon enregistré" in doctor.draft_status.text()

    drafts = demo_env.layout.unit / "drafts"
    files = list(drafts.rglob("*.p7m"))  # besides names.key, the key of the drafts' names
    assert len(files) == 1
    assert CANARY.encode() not in files[0].read_bytes()

    window.close()  # type: ignore[attr-defined]
    window, doctor = doctor_in(qtbot, demo_env)  # a new window, as after a restart
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    assert doctor.form.is_blank()
    doctor.draft_list.setCurrentRow(0)
    doctor._resume_draft(doctor.draft_list.item(0))
    assert doctor.form.patient_ref.text() == "P-77"
    assert CANARY in doctor.form.summary.toPlainText()
    window.resize(1200, 800)  # type: ignore[attr-defined]
    qtbot.waitUntil(doctor.form.photos.thumbnails_ready, timeout=WAIT)  # for the picture
    screenshot(window, "doctor-draft-resumed")

    doctor.form.consent.setChecked(True)
    type_text(doctor.form.question, "Avis ?")
    begun = doctor.form.case().created_at
    qtbot.wait(1100)  # sent a second later, at least
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    assert doctor.draft_status.text() == ""  # "saved at …" would now be untrue
    sent = doctor.cases.threads[0].case.bundle.case
    assert sent is not None
    assert sent.created_at > begun  # dated when sent, not when the draft was begun
    qtbot.wait(2 * 1500)  # a late autosave must not bring the sent request back
    assert list(drafts.rglob("*.p7m")) == []
    assert doctor.draft_list.count() == 0


def test_new_request_keeps_the_current_one_as_a_draft_and_it_can_be_deleted(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    _window, doctor = doctor_in(qtbot, demo_env)
    type_text(doctor.form.patient_ref, "P-1")
    qtbot.mouseClick(doctor.new_button, Qt.MouseButton.LeftButton)
    assert doctor.form.is_blank()
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)

    doctor.draft_list.setCurrentRow(0)
    qtbot.mouseClick(doctor.discard_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 0, timeout=WAIT)
    assert doctor.draft_status.text() == "Brouillon supprimé."
    assert not any(Path(demo_env.layout.unit / "drafts").rglob("*.p7m"))


def test_what_was_typed_just_before_a_logout_or_a_quit_is_kept(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    type_text(doctor.form.patient_ref, "P-78")
    assert doctor._draft_timer.isActive()  # the autosave has not run yet
    window.log_out()  # type: ignore[attr-defined]
    doctor = log_in(qtbot, window, "dr-bernard")  # type: ignore[arg-type]
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    type_text(doctor.form.summary, "Ulcère talon")
    assert doctor._draft_timer.isActive()
    window.close()  # type: ignore[attr-defined]  # Ctrl+Q, at once

    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    assert doctor.form.patient_ref.text() == "P-78"
    assert doctor.form.summary.toPlainText() == "Ulcère talon"
