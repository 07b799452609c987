"""Checks before a request goes (issue 16 §3): warned, not blocked; the recipients follow the
specialty."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from tests.gui.test_end_to_end import AGAIN, WAIT, log_in, send_request
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv
from widgets.doctor import DoctorWorkspace


def test_a_request_without_photo_or_treatments_is_warned_then_sent_on_a_second_click(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    form = doctor.form
    qtbot.waitUntil(lambda: form.recipient.currentData() is not None, timeout=WAIT)
    fill_complete_case(doctor)  # dermatology, no photo, no treatments
    assert form.recipient.currentData().id == "pr-dubois"
    form.submit()
    warning = form.problems.text()
    assert "Aucune photo" in warning
    assert "traitements du patient ne sont pas renseignés" in warning
    assert "autre spécialité" not in warning  # the dermatologist, for dermatology
    assert AGAIN in warning
    session = window.session
    assert session is not None
    qtbot.wait(300)
    assert session.outbox.jobs() == []  # warned: nothing queued yet
    form.submit()  # the doctor has their reasons
    qtbot.waitUntil(lambda: len(session.outbox.jobs()) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)  # in the list

    # a second request for the same patient while the first awaits its answer
    fill_complete_case(doctor)
    form.treatments.setPlainText("Aucun")
    form.submit()
    assert "attend encore sa réponse" in form.problems.text()
    qtbot.wait(300)
    assert len(session.outbox.jobs()) == 1


def test_the_recipients_follow_the_specialty(qtbot: QtBot, demo_env: DemoEnv) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    form = doctor.form
    qtbot.waitUntil(lambda: form.recipient.currentData() is not None, timeout=WAIT)
    form.specialty.setCurrentIndex(form.specialty.findData("wounds"))
    assert form.recipient.currentData().id == "pr-roux"  # the wound specialist, chosen
    assert form.recipient.itemData(0).specialty == "wounds"  # and listed first
    form.specialty.setCurrentIndex(form.specialty.findData("dermatology"))
    assert form.recipient.currentData().id == "pr-dubois"
    # a specialist of another specialty may still be chosen: warned, then sent
    fill_complete_case(doctor)
    form.treatments.setPlainText("Aucun")
    form.specialty.setCurrentIndex(form.specialty.findData("cardiology"))  # no photo needed
    index = next(
        i for i in range(form.recipient.count()) if form.recipient.itemData(i).id == "pr-roux"
    )
    form.recipient.setCurrentIndex(index)
    form.submit()
    assert "autre spécialité" in form.problems.text()
    assert "Aucune photo" not in form.problems.text()
    send_request(form)
    form.submit()  # Ctrl+Enter again while it is being sealed: one send, not two
    session = window.session
    assert session is not None
    qtbot.waitUntil(lambda: len(session.outbox.jobs()) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: form.send_button.isEnabled(), timeout=WAIT)  # every seal is done
    qtbot.wait(300)
    assert len(session.outbox.jobs()) == 1
    assert session.outbox.jobs()[0].recipient_id == "pr-roux"
