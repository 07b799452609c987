"""The specialist's measurements and annotations travel back inside the signed opinion,
through the demo's real platform, and the doctor sees them drawn on the photo. Real
workstation windows offscreen."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from cases.marks import marks_for
from tests.gui.test_end_to_end import WAIT, send_request, write_opinion
from tests.gui.test_follow_up_request import doctor_with_a_complete_request
from tests.gui.test_opinions import specialist_in
from tests.gui.test_viewer import colour_near, drag, photo
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from widgets.annotate import SPECIALIST_COLOUR
from widgets.viewer import ARROW, LENGTH


def test_the_specialists_marks_reach_the_doctor_drawn_on_the_photo(
    qtbot: QtBot, demo_env: DemoEnv, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit = open_window(qtbot, demo_env.layout.unit)
    hospital = open_window(qtbot, demo_env.layout.hospital)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    doctor.form.photos.add_photos([photo(size=(1600, 1200))])
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)

    specialist = specialist_in(qtbot, hospital)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    viewer = specialist.view.photos.open_photo(0)
    qtbot.waitUntil(lambda: viewer.picture.analysis_done, timeout=WAIT)
    assert viewer.tools.isVisible()  # the request awaits this specialist's answer
    canvas = viewer.picture

    def at(x: float, y: float) -> QPoint:
        return canvas.to_widget((x, y)).toPoint()

    viewer.tools.choose(LENGTH)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at(200, 300))
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=at(700, 300))
    viewer.tools.text.setText("nécrose ?")
    viewer.tools.choose(ARROW)
    drag(qtbot, canvas, at(1300, 900), at(1000, 700))
    form = specialist.form
    assert form.marks_label.isVisible()
    assert "1 mesure(s) et 1 annotation(s)" in form.marks_label.text()
    write_opinion(specialist, "Escarre ; voir la flèche.", "on_site")
    hospital.resize(960, 1000)  # half of a 1920-pixel screen
    screenshot(hospital, "specialist-marks-960")
    specialist.send_opinion()
    qtbot.waitUntil(lambda: not form.marks, timeout=WAIT)  # sent: the form is emptied

    qtbot.waitUntil(lambda: any(t.opinions for t in doctor.cases.threads), timeout=WAIT)
    [thread] = doctor.cases.threads
    opinion = thread.opinions[0].bundle.opinion
    assert opinion is not None
    [marks] = opinion.marks
    assert [m["kind"] for m in marks.measurements] == ["line"]
    assert marks.measurements[0]["length"] == pytest.approx(500, rel=0.02)
    assert [a["kind"] for a in marks.annotations] == ["arrow", "text"]
    assert marks.annotations[1]["text"] == "nécrose ?"

    doctor.cases.setCurrentRow(0)
    qtbot.waitUntil(lambda: doctor.view.case_id == thread.case_id, timeout=WAIT)
    shown = doctor.view.photos.open_photo(0)
    qtbot.waitUntil(lambda: shown.picture.loaded, timeout=WAIT)
    qtbot.wait(50)
    assert not shown.tools.isVisible()  # the doctor reads them, never edits them
    mid = shown.picture.to_widget((1150, 800)).toPoint()  # on the arrow's shaft
    assert colour_near(shown.picture, mid, SPECIALIST_COLOUR.name())
    assert "« nécrose ? »" in shown.facts.text()
    assert "Pr Marc Dubois" in shown.facts.text()
    assert marks_for(shown.own, marks.photo) == marks_for((), marks.photo)
    screenshot(shown, "doctor-opinion-marks")
    qtbot.keyClick(shown, Qt.Key.Key_A)  # hidden on demand, like the doctor's own layer
    assert not colour_near(shown.picture, mid, SPECIALIST_COLOUR.name())
    for window in (unit, hospital):
        window.close()
