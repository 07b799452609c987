"""A follow-up request: started from an answered request, sent to the same specialist, who
sees the earlier question and answer beside the new one. Two real workstation windows
against the demo's real platform."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.exceptions import TimeoutError as WaitTimeout
from pytestqt.qtbot import QtBot

from app.mainwindow import MainWindow
from outbox.platform import DirectoryEntry
from tests.gui.test_end_to_end import WAIT, log_in, send_request, type_text, write_opinion
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv
from tests.support.stacks import thread_stacks
from widgets.caseform import CaseForm
from widgets.doctor import DoctorWorkspace
from widgets.specialist import SpecialistWorkspace

ANSWER = "Ulcère veineux probable. Compression, revoir à 15 jours."
LATER = "Quinze jours de compression : l’ulcère a diminué, fond propre."


def doctor_with_a_complete_request(qtbot: QtBot, unit: MainWindow) -> DoctorWorkspace:
    """Dr Bernard logged in, with a request ready to send in the form."""
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    fill_complete_case(doctor)
    return doctor


def test_a_follow_up_goes_to_the_specialist_who_answered_with_the_earlier_exchange(
    qtbot: QtBot, demo_env: DemoEnv, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit = open_window(qtbot, demo_env.layout.unit)
    hospital = open_window(qtbot, demo_env.layout.hospital)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    form = doctor.form
    form.specialty.setCurrentIndex(form.specialty.findData("wounds"))
    # the recipients follow the specialty (the wound specialist first, and chosen)...
    assert form.recipient.currentData().id == "pr-roux"
    # ...and the doctor may still choose the dermatologist who knows this patient
    form.recipient.setCurrentIndex(
        next(
            i for i in range(form.recipient.count()) if form.recipient.itemData(i).id == "pr-dubois"
        )
    )
    form.treatments.setPlainText("Pansement hydrocolloïde")
    send_request(form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)

    specialist = log_in(qtbot, hospital, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    write_opinion(specialist, ANSWER, "new_request", weeks=2)
    specialist.send_opinion()
    qtbot.waitUntil(
        lambda: doctor.cases.count() == 1 and "Avis reçu" in doctor.cases.item(0).text(),
        timeout=WAIT,
    )
    # the doctor was writing meanwhile: the answer is announced, and its case marked new
    assert doctor.notice.text() == (
        "Nouvel avis de Pr Marc Dubois — patient P-9. "
        "Conduite à tenir : Nouvelle demande à prévoir."
    )
    assert "à revoir le " in doctor.cases.item(0).text()  # in two weeks
    assert doctor.cases.is_new(doctor.cases.threads[0].case_id)
    assert doctor.cases.item(0).font().bold()

    # --- the doctor was writing something else, then starts the follow-up ---------------------
    assert not doctor.follow_button.isEnabled()  # nothing shown to follow up yet
    form.patient_ref.setText("P-77")  # an unfinished request...
    form.changed.emit()
    doctor.cases.setCurrentRow(0)  # ...left to read the answer
    assert not doctor.cases.item(0).font().bold()  # read: no longer new
    assert doctor.follow_button.isEnabled()
    qtbot.mouseClick(doctor.follow_button, Qt.MouseButton.LeftButton)
    assert doctor.stack.currentWidget() is form
    assert not doctor.follow_button.isEnabled()
    assert form.patient_ref.text() == "P-9"
    assert form.specialty.currentData() == "wounds"
    assert form.treatments.toPlainText() == "Pansement hydrocolloïde"
    assert "Dubois" in form.recipient.currentText()  # who answered...
    assert form.problems.text() == ""  # ...found in the platform's directory by certificate
    assert not form.consent.isChecked()  # asked again for this sending
    assert (form.summary.toPlainText(), form.question.toPlainText()) == ("", "")
    assert form.follows_label.isVisible()
    qtbot.wait(50)  # laid out
    # the photo strip keeps its height under the follow-up line (it once shrank to a sliver)
    assert form.photos.height() >= form.photos.minimumHeight() > 60
    assert "Suite de la demande du" in form.follows_label.text()
    assert "Plaies et cicatrisation" in form.follows_label.text()
    assert "Demande de suivi" in form.title.text()
    qtbot.waitUntil(  # the unfinished request was kept among the drafts
        lambda: any(
            "P-77" in doctor.draft_list.item(i).text() for i in range(doctor.draft_list.count())
        ),
        timeout=WAIT,
    )
    form.consent.setChecked(True)
    type_text(form.summary, LATER)
    type_text(form.question, "Poursuivre la compression ?")
    qtbot.wait(50)
    screenshot(unit, "doctor-follow-up")
    send_request(form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 2, timeout=WAIT)
    assert "suivi" in doctor.cases.item(0).text()  # newest first
    assert "suivi" not in doctor.cases.item(1).text()
    assert "revoir" not in doctor.cases.item(1).text()  # the review asked for: done
    unit.activateWindow()
    qtbot.waitUntil(unit.isActiveWindow, timeout=WAIT)
    qtbot.keyClick(doctor.cases, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert doctor.cases.search.hasFocus()  # Ctrl+F: the search line
    qtbot.keyClicks(doctor.cases.search, "SUIVI")
    assert doctor.cases.shown() == 1
    doctor.cases.search.clear()

    # --- the specialist has the earlier exchange at hand ------------------------------------
    qtbot.waitUntil(lambda: specialist.cases.count() == 2, timeout=WAIT)
    row = next(i for i in range(2) if "suivi" in specialist.cases.item(i).text())
    assert specialist.notice.text() == (
        "Nouvelle demande de Dr Claire Bernard (Plaies et cicatrisation)."
    )
    assert specialist.cases.item(row).font().bold()  # until opened
    assert not specialist.cases.item(1 - row).font().bold()  # the one being read
    specialist.cases.setCurrentRow(row)
    text = specialist.view.text.toPlainText()
    assert "Demande précédente" in text
    assert "Question posée : Question ?" in text  # the earlier question
    assert "Avis de Pr Marc Dubois le " in text  # and the answer given
    assert ANSWER in text
    assert text.index(LATER) < text.index("Demande précédente")  # the new request first
    assert not specialist.view.photos_part.isVisible()  # no photo: no empty strip
    assert not specialist.view.opinions_part.isVisible()  # no opinion yet: the same
    qtbot.wait(50)
    screenshot(hospital, "specialist-follow-up")
    for window in (unit, hospital):
        window.close()


def test_a_follow_up_link_can_be_removed_and_survives_as_a_draft(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    form = doctor.form
    send_request(form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    doctor.cases.setCurrentRow(0)
    earlier = doctor.cases.threads[0].case_id
    form.set_recipients([])  # as if the directory had not been loaded on this workstation
    doctor.follow_up()
    assert form.case().follows == earlier
    assert form.problems.text() == (
        "Pr Marc Dubois n’est pas dans l’annuaire de ce poste : choisissez le spécialiste."
    )
    type_text(form.summary, "Contrôle à J15.")  # autosaved a moment later
    try:
        qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    except WaitTimeout as exc:
        raise AssertionError(
            f"no draft listed; saving: {doctor._draft_saving}; status:"
            f" {doctor.draft_status.text()!r}\n" + thread_stacks()
        ) from exc

    doctor.new_case()  # elsewhere, then back to the draft: the link is still there
    doctor.draft_list.setCurrentRow(0)
    doctor.draft_list.itemClicked.emit(doctor.draft_list.item(0))
    assert form.case().follows == earlier
    assert form.follows_label.isVisible()
    assert "Suite de la demande du" in form.follows_label.text()

    form.follows_label.linkActivated.emit("unlink")  # "Retirer le lien"
    assert form.case().follows is None
    assert not form.follows_label.isVisible()
    assert "Nouvelle demande d’avis" in form.title.text()
    assert form.summary.toPlainText() == "Contrôle à J15."  # nothing else changes
    unit.close()


def specialist(n: int, fingerprint: str) -> DirectoryEntry:
    return DirectoryEntry(f"pr-{n}", f"Pr {n}", "specialist", "wounds", "CHU", "", fingerprint)


def test_the_specialist_asked_again_is_found_in_the_directory(qtbot: QtBot) -> None:
    form = CaseForm()
    qtbot.addWidget(form)
    form.set_recipients([specialist(n, f"{n:x}" * 64) for n in range(1, 4)])
    assert form.recipient.currentIndex() == 0
    assert form.select_recipient("2" * 64)
    assert form.recipient.currentData().id == "pr-2"
    assert not form.select_recipient("9" * 64, "pr-9")  # gone from the directory
    assert form.recipient.currentData().id == "pr-2"  # the choice is left as it was
    # a platform that gives no fingerprints: the mailbox identifies the specialist
    form.set_recipients([specialist(n, "") for n in range(1, 4)])
    assert form.select_recipient("3" * 64, "pr-3")
    assert form.recipient.currentData().id == "pr-3"
