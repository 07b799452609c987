"""The whole slice through the widgets: the doctor sends, the specialist answers, the doctor
reads the opinion, and the secretary sees the queue without any clinical content.

Two workstation windows (the unit's and the hospital's) run in one process against the real
reference platform on 127.0.0.1, over HTTPS with the demo CA.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtTest import QTest
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
from capture.photo import Arrow
from tests.support.demo import DemoEnv
from widgets.capture import CaptureStation
from widgets.capture_editor import LENGTH
from widgets.caseform import CaseForm
from widgets.caseview import CaseView
from widgets.doctor import DoctorWorkspace
from widgets.photos import annotations_of
from widgets.queue import Column
from widgets.secretary import SecretaryWorkspace
from widgets.specialist import SpecialistWorkspace

PATIENT = "P-2026-0147"
SUMMARY = "Ulcère de la jambe gauche depuis trois semaines, fond fibrineux."
QUESTION = "Faut-il débrider ? Quel pansement proposer ?"
OPINION = "Ulcère veineux probable. Détersion mécanique, compression, revoir à 15 jours."
NOTE = "Bord inférieur décollé <b>"  # markup in a note is shown as typed
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


def add_photos(
    qtbot: QtBot,
    doctor: DoctorWorkspace,
    paths: list[Path],
    kept: int,
    describe: Callable[[CaptureStation], None] | None = None,
) -> None:
    """What the file dialog and drag-and-drop do: the files open in the capture station,
    where the doctor confirms each photo's anonymisation (after ``describe``, if given) and
    adds them to the request."""
    before = len(doctor.form.photos.photos())
    doctor.form.photos_requested.emit(paths)
    station = doctor.capture_station
    assert station is not None
    qtbot.waitUntil(lambda: len(station.strip) == kept, timeout=WAIT)
    qtbot.waitUntil(lambda: all(p.regions is not None for p in station.strip), timeout=WAIT)
    if describe is not None:
        describe(station)
    for row in range(kept):
        station.kept.setCurrentRow(row)
        station.panel.confirm()
    station.add_to_request()
    qtbot.waitUntil(lambda: len(doctor.form.photos.photos()) == before + kept, timeout=WAIT)


def describe_first_photo(station: CaptureStation) -> None:
    """The doctor gives the first photo a site and a note, measures a length (the sample
    photos carry no marker: in pixels) and draws an arrow, through the station's panel."""
    station.kept.setCurrentRow(0)
    panel, photo = station.panel, station.strip[0]
    panel.site.setCurrentIndex(panel.site.findData("membre_inferieur_gauche"))
    panel.site.activated.emit(panel.site.currentIndex())
    panel.note.setText(NOTE)
    panel.note.textEdited.emit(NOTE)
    panel.tool_buttons[LENGTH].click()
    for point in ((100.0, 100.0), (400.0, 500.0)):  # the sample photos are 800 × 600
        at = station.canvas.to_widget(point).toPoint()
        QTest.mouseClick(station.canvas, Qt.MouseButton.LeftButton, pos=at)
    assert len(station.measures[photo.id]) == 1
    photo.annotate(Arrow((200.0, 450.0), (600.0, 450.0)))


def write_opinion(
    specialist: SpecialistWorkspace, text: str, outcome: str = "on_site", weeks: int = 0
) -> None:
    """Type an opinion and choose what it advises, as the specialist would."""
    form = specialist.form
    type_text(form.text, text)
    form.outcome.setCurrentIndex(form.outcome.findData(outcome))
    form.review.setValue(weeks)


AGAIN = "pour l’envoyer quand même"
"""The end of every warning before a request goes: a second click sends."""


def send_request(form: CaseForm) -> None:
    """Send the request in ``form`` as a doctor who read the warnings, if any, and still
    sends it (they are warnings, not refusals: issue 16 §3)."""
    case_id = form.case_id
    already_warned = form._warned == case_id
    form.submit()
    if not already_warned and form._warned == case_id:  # warned now (either language)
        form.submit()  # the second click sends


def choose_recipient(form: CaseForm, identity: str) -> None:
    """Choose the specialist ``identity`` in the request form's list of recipients."""
    combo = form.recipient
    found = [i for i in range(combo.count()) if getattr(combo.itemData(i), "id", "") == identity]
    assert found, f"{identity} is not in the directory"
    combo.setCurrentIndex(found[0])


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
    choose_recipient(form, "pr-dubois")  # not the wound specialist the list proposes: he knows her
    type_text(form.summary, SUMMARY)
    type_text(form.answer_fields["pain"], "6/10 au pansement")  # the specialty's questions
    type_text(form.treatments, "Paracétamol 1 g x3/j")
    type_text(form.question, QUESTION)
    add_photos(qtbot, doctor, resources.sample_photos()[:2], kept=2, describe=describe_first_photo)
    qtbot.waitUntil(form.photos.thumbnails_ready, timeout=WAIT)  # for the picture
    screenshot(unit, "doctor-new-request")
    qtbot.mouseClick(form.send_button, Qt.MouseButton.LeftButton)
    # a dermatologist for a wound request: the doctor is warned, and sends all the same
    assert "autre spécialité" in form.problems.text()
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
    assert "Douleur (EVA 0–10) : 6/10 au pansement" in view.text.toPlainText()
    assert [p.data for p in view.photos.photos()] == [
        p.data for p in unit.session.workstation.threads(doctor.me)[0][0].case.bundle.case.photos
    ]  # type: ignore[union-attr]
    check_the_photos_as_described(qtbot, view, screenshot)
    write_opinion(specialist, OPINION, "consultation", weeks=2)
    qtbot.waitUntil(specialist.view.photos.thumbnails_ready, timeout=WAIT)  # for the picture
    screenshot(hospital, "specialist")
    qtbot.mouseClick(specialist.form.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Avis envoyé" in specialist.cases.item(0).text(), timeout=WAIT)

    # --- the doctor sees the opinion under the case ----------------------------------------
    qtbot.waitUntil(
        lambda: doctor.cases.count() == 1 and "Avis reçu" in doctor.cases.item(0).text(),
        timeout=WAIT,
    )
    doctor.cases.setCurrentRow(0)
    assert doctor.view.opinions_part.isVisible()
    assert OPINION in doctor.view.opinions.toPlainText()
    assert "Pr Marc Dubois" in doctor.view.opinions.toPlainText()
    assert "Conduite à tenir : Consultation à l’hôpital à programmer" in (
        doctor.view.opinions.toPlainText()
    )
    assert "À revoir dans 2 semaine(s), vers le " in doctor.view.opinions.toPlainText()
    assert "Avis reçu — Consultation à l’hôpital à programmer" in doctor.cases.item(0).text()
    assert "à revoir le " in doctor.cases.item(0).text()
    qtbot.waitUntil(doctor.view.photos.thumbnails_ready, timeout=WAIT)  # for the picture
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
    # the request, and the doctor's receipt for the opinion (no content in either)
    qtbot.waitUntil(lambda: secretary.model.rowCount() == 2, timeout=WAIT)
    kinds = {secretary.model.index(r, Column.KIND).data() for r in range(2)}
    assert kinds == {"Demande d’avis", "Accusé de réception"}
    text = visible_text(secretary)
    assert "Accusé de réception reçu" in text  # the specialist's signed receipt came back
    assert "Pr Marc Dubois" in text
    for clinical in (PATIENT, SUMMARY, QUESTION, OPINION, "Paracétamol"):
        assert clinical not in text
    screenshot(unit, "secretary")
    for window in (unit, hospital):
        window.close()


def check_the_photos_as_described(qtbot: QtBot, view: CaseView, screenshot) -> None:  # type: ignore[no-untyped-def]
    """What the doctor said of the first photo reaches the specialist: in the strip, in the
    request's text, and in the viewer, where the arrow and the measured line are drawn over
    the photo (and hidden on demand) without touching its pixels."""
    assert view.photos_part.isVisible()
    assert view.photos.item(0).text() == "Photo 1 · membre inférieur gauche"
    assert view.photos.item(1).text() == "Photo 2"
    text = view.text.toPlainText()
    # in plain text: had the note's markup been interpreted, its "<b>" would be gone
    assert f"Photo 1 — Localisation : membre inférieur gauche ; Remarque : {NOTE}" in text
    assert re.search(r"Longueur : \d+ px \(non étalonné\)", text)
    assert "Photo 2 —" not in text  # nothing was said of it

    viewer = view.photos.open_photo(0)
    qtbot.waitExposed(viewer)
    qtbot.waitUntil(lambda: viewer.picture.loaded, timeout=WAIT)  # decoded in the background
    qtbot.wait(50)
    assert viewer.facts.textFormat() == Qt.TextFormat.PlainText  # the note's "<b>" as typed
    facts = viewer.facts.text()
    site, note, length, drawn_count = facts.splitlines()
    assert (site, note) == ("Localisation : membre inférieur gauche", f"Remarque : {NOTE}")
    assert re.fullmatch(r"Longueur : \d+ px \(non étalonné\)", length)
    assert drawn_count == "1 annotation(s) dessinée(s) sur la photo"
    picture = viewer.picture
    [photo] = view.photos.photos()[:1]
    [arrow] = annotations_of(photo)
    assert isinstance(arrow, Arrow)
    # the arrow is scaled with the photo (3000 px wide at most): its middle, on the widget
    middle = ((arrow.start[0] + arrow.end[0]) / 2, arrow.start[1])
    at = picture.to_widget(middle).toPoint()
    drawn = picture.grab().toImage().pixelColor(at)
    assert (drawn.red(), drawn.green(), drawn.blue()) == (0xFF, 0x9F, 0x0A)  # the arrow
    screenshot(viewer, "specialist-photo")
    qtbot.keyClick(viewer, Qt.Key.Key_A)  # hide the layer: the photo's own pixels
    assert not viewer.overlay.isChecked()
    bare = picture.grab().toImage().pixelColor(at)
    assert (bare.red(), bare.green(), bare.blue()) != (0xFF, 0x9F, 0x0A)
    qtbot.keyClick(viewer, Qt.Key.Key_PageDown)
    assert viewer.row == 1
    assert viewer.facts.text() == "Ni localisation, ni remarque, ni mesure."
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: view.photos.viewer is None, timeout=WAIT)
