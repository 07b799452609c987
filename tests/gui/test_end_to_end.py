"""The whole slice through the widgets: the doctor sends, the specialist answers, the doctor
reads the opinion, and the secretary sees the queue without any clinical content.

Two workstation windows (the unit's and the hospital's) run in one process against the real
reference platform on 127.0.0.1, over HTTPS with the demo CA.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLabel,
    QLineEdit,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

import resources
from app.mainwindow import MainWindow
from tests.support.demo import DemoEnv
from widgets.doctor import DoctorWorkspace
from widgets.secretary import SecretaryWorkspace
from widgets.specialist import SpecialistWorkspace

PATIENT = "P-2026-0147"
SUMMARY = "Ulcère de la jambe gauche depuis trois semaines, fond fibrineux."
QUESTION = "Faut-il débrider ? Quel pansement proposer ?"
OPINION = "Ulcère veineux probable. Détersion mécanique, compression, revoir à 15 jours."
WAIT = 30_000


def type_text(widget: QWidget, text: str) -> None:
    """Type like a keyboard would, accents included (QTest.keyClicks is ASCII-only)."""
    widget.setFocus()
    for char in text:
        key = Qt.Key.Key_Return if char == "\n" else Qt.Key.Key_unknown
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(
                widget, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, char)
            )


def add_photos(qtbot: QtBot, doctor: DoctorWorkspace, paths: list[Path], kept: int) -> None:
    """What the file dialog and drag-and-drop do: the files open in the capture station,
    where the doctor confirms each photo's anonymisation and adds them to the request."""
    before = len(doctor.form.photos.photos())
    doctor.form.photos_requested.emit(paths)
    station = doctor.capture_station
    assert station is not None
    qtbot.waitUntil(lambda: len(station.strip) == kept, timeout=WAIT)
    qtbot.waitUntil(lambda: all(p.regions is not None for p in station.strip), timeout=WAIT)
    for row in range(kept):
        station.kept.setCurrentRow(row)
        station.panel.confirm()
    station.add_to_request()
    qtbot.waitUntil(lambda: len(doctor.form.photos.photos()) == before + kept, timeout=WAIT)


def log_in(qtbot: QtBot, window: MainWindow, identity: str) -> QWidget:
    window.login.select(identity)
    qtbot.keyClicks(window.login.passphrase, "demo")
    qtbot.mouseClick(window.login.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.workspace is not None, timeout=WAIT)
    assert window.workspace is not None
    return window.workspace


def visible_text(widget: QWidget) -> str:
    """Every piece of text a person could read on this widget (labels, fields, tables)."""
    parts = []
    for child in widget.findChildren(QWidget):
        if isinstance(child, (QLabel | QAbstractButton, QLineEdit)):
            parts.append(child.text())
        elif isinstance(child, QTextEdit):
            parts.append(child.toPlainText())
    if isinstance(widget, SecretaryWorkspace):
        model = widget.model
        for row in range(model.rowCount()):
            for column in range(model.columnCount()):
                parts.append(str(model.index(row, column).data()))
    return "\n".join(parts)


def test_doctor_sends_specialist_answers_doctor_reads(
    qtbot: QtBot, demo_env: DemoEnv, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit = MainWindow(demo_env.layout.unit, poll_interval=0.3)
    hospital = MainWindow(demo_env.layout.hospital, poll_interval=0.3)
    for window in (unit, hospital):
        qtbot.addWidget(window)
        window.show()
    screenshot(unit, "login")

    # --- the doctor writes and sends a request -------------------------------------------
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    form = doctor.form
    qtbot.waitUntil(lambda: form.recipient.currentData() is not None, timeout=WAIT)
    type_text(form.patient_ref, PATIENT)
    form.consent.setChecked(True)
    form.specialty.setCurrentIndex(form.specialty.findData("wounds"))
    type_text(form.summary, SUMMARY)
    type_text(form.treatments, "Paracétamol 1 g x3/j")
    type_text(form.question, QUESTION)
    add_photos(qtbot, doctor, resources.sample_photos()[:2], kept=2)
    screenshot(unit, "doctor-new-request")
    qtbot.mouseClick(form.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    assert form.patient_ref.text() == ""  # the form is cleared once sealed
    session = unit.session
    assert session is not None
    qtbot.waitUntil(lambda: [j.state for j in session.outbox.jobs()] == ["delivered"], timeout=WAIT)

    # --- the specialist receives it, reads it and answers ----------------------------------
    specialist = log_in(qtbot, hospital, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    view = specialist.view
    assert PATIENT in view.header.text()
    assert SUMMARY in view.text.toPlainText()
    assert QUESTION in view.text.toPlainText()
    assert [p.data for p in view.photos.photos()] == [
        p.data for p in unit.session.workstation.threads(doctor.me)[0][0].case.bundle.case.photos
    ]  # type: ignore[union-attr]
    type_text(specialist.opinion, OPINION)
    screenshot(hospital, "specialist")
    qtbot.mouseClick(specialist.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Avis envoyé" in specialist.cases.item(0).text(), timeout=WAIT)

    # --- the doctor sees the opinion under the case ----------------------------------------
    qtbot.waitUntil(
        lambda: doctor.cases.count() == 1 and "Avis reçu" in doctor.cases.item(0).text(),
        timeout=WAIT,
    )
    doctor.cases.setCurrentRow(0)
    assert OPINION in doctor.view.opinions.toPlainText()
    assert "Pr Marc Dubois" in doctor.view.opinions.toPlainText()
    screenshot(unit, "doctor-opinion")
    # The specialist's receipt is sealed to the doctor: the doctor's workstation opens it
    # (on the next refresh after it arrives) and the job becomes acknowledged.
    qtbot.waitUntil(
        lambda: [j.state for j in session.outbox.jobs() if j.kind == "case"] == ["acknowledged"],
        timeout=WAIT,
    )

    # --- the secretary runs the queue and sees no clinical content --------------------------
    unit.log_out()
    secretary = log_in(qtbot, unit, "sec-lambert")
    assert isinstance(secretary, SecretaryWorkspace)
    qtbot.waitUntil(lambda: secretary.model.rowCount() == 1, timeout=WAIT)
    text = visible_text(secretary)
    assert "Accusé de réception reçu" in text  # the specialist's signed receipt came back
    assert "Pr Marc Dubois" in text
    for clinical in (PATIENT, SUMMARY, QUESTION, OPINION, "Paracétamol"):
        assert clinical not in text
    screenshot(unit, "secretary")
    for window in (unit, hospital):
        window.close()
