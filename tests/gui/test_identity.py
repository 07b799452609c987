"""The patient's identity and the tele-expertise act through the real windows: the doctor's
form (formats checked, the INS only when qualified, the fifth act warned of), the platform
round trip, what the specialist sees (the identity, its status, the same person recognised),
what the secretary does not, and the acts' CSV for billing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QComboBox
from pytestqt.qtbot import QtBot

from app import i18n
from app.mainwindow import MainWindow
from crypto import audit
from tests.gui.test_end_to_end import (
    WAIT,
    log_in,
    send_request,
    type_text,
    visible_text,
    write_opinion,
)
from tests.support.demo import DemoEnv
from widgets.activity import ActivityReport
from widgets.caseform import CaseForm
from widgets.doctor import DoctorWorkspace
from widgets.identityform import WIDE
from widgets.secretary import SecretaryWorkspace
from widgets.specialist import SpecialistWorkspace

NIR = "2 85 03 75 112 045 53"  # made up, with the right key
WRONG_KEY = "2 85 03 75 112 045 54"
SUMMARY = "CNRY-Ulcère-malléolaire"
QUESTION = "CNRY-Quel-pansement"
OPINION = "CNRY-Détersion-compression"
DOCTOR_RPPS, EXPERT_RPPS = "10001234565", "10002345675"  # the demo's (app.demo)


def choose(combo: QComboBox, data: str) -> None:
    combo.setCurrentIndex(combo.findData(data))
    combo.activated.emit(combo.currentIndex())


def fill_identity(
    form: CaseForm,
    *,
    status: str,
    ins: str = "",
    birth_name: str = "Lefèvre",
    first_names: str = "Jeanne Marie",
    used_name: str = "Martin",
) -> None:
    """Type a woman's identity born 14/03/1985 in Paris 12e into the form, as the doctor."""
    box = form.identity
    box.clear()
    box.setChecked(True)  # the group's title checkbox unfolds it
    type_text(box.birth_name, birth_name)
    type_text(box.first_names, first_names)
    type_text(box.used_name, used_name)
    choose(box.sex, "F")
    type_text(box.birth_date, "14/03/1985")
    type_text(box.birthplace, "75112")
    choose(box.status, status)
    assert box.ins.isEnabled() == (status == "qualified")  # the INS only for a qualified one
    if ins:
        type_text(box.ins, ins)


def write_request(form: CaseForm, ref: str) -> None:
    type_text(form.patient_ref, ref)
    form.consent.setChecked(True)
    type_text(form.summary, SUMMARY)
    type_text(form.question, QUESTION)


def sent(qtbot: QtBot, doctor: DoctorWorkspace, count: int) -> None:
    """Wait for the request to be listed and the form emptied (listed first, sometimes: a
    refresh may run before the sending's end)."""
    form = doctor.form
    qtbot.waitUntil(
        lambda: doctor.cases.count() == count and not form.patient_ref.text(), timeout=WAIT
    )


def test_identity_and_act_from_the_form_to_the_specialist_and_billing(
    qtbot: QtBot, demo_env: DemoEnv, screenshot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    unit = MainWindow(demo_env.layout.unit, poll_interval=0.3)
    hospital = MainWindow(demo_env.layout.hospital, poll_interval=0.3)
    for window in (unit, hospital):
        qtbot.addWidget(window)
        window.resize(1280, 720)
        window.show()
    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    form = doctor.form
    qtbot.waitUntil(lambda: form.recipient.currentData() is not None, timeout=WAIT)

    # --- a qualified identity whose INS was mistyped: refused, in plain words ----------------
    write_request(form, "P-77")
    fill_identity(form, status="qualified", ins=WRONG_KEY)
    form.submit()
    assert "INS : la clé ne correspond pas au numéro" in form.problems.text()
    assert doctor.cases.count() == 0
    form.identity.ins.clear()
    type_text(form.identity.ins, NIR)
    for width, height in ((1280, 720), (960, 1000)):
        unit.resize(width, height)
        qtbot.wait(50)
        # the identity's fields fit: nothing to scroll sideways to
        assert not form.scroll.horizontalScrollBar().isVisible()
        screenshot(unit, f"doctor-identity-{width}")
    send_request(form)
    sent(qtbot, doctor, 1)
    assert not form.identity.isChecked()
    assert form.identity.birth_name.text() == ""

    # --- the same person later, identity only validated: her traits alone travel ------------
    write_request(form, "Q-12")  # another reference: the unit's own, it may change
    fill_identity(form, status="validated", birth_name="LEFEVRE")
    send_request(form)
    sent(qtbot, doctor, 2)
    session = unit.session
    assert session is not None
    qtbot.waitUntil(
        lambda: [j.state for j in session.outbox.jobs()] == ["delivered"] * 2, timeout=WAIT
    )

    # --- the specialist sees the identity, its status, and recognises the same person ------
    specialist = log_in(qtbot, hospital, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    qtbot.waitUntil(lambda: specialist.cases.count() == 2, timeout=WAIT)
    rows = {
        thread.case.bundle.case.patient_ref: r  # type: ignore[union-attr]
        for r, thread in enumerate(specialist.cases.threads)
    }
    specialist.cases.setCurrentRow(rows["Q-12"])
    header = specialist.view.header.text()
    assert "LEFEVRE Jeanne Marie" in header
    assert "identité validée" in header
    assert "sans INS transmis" in header
    assert "285037511204553" not in header
    assert "2 85 03 75 112 045 53" not in header
    assert "Même patient : 1 autre(s) demande(s) sur ce poste" in header
    specialist.cases.setCurrentRow(rows["P-77"])
    header = specialist.view.header.text()
    assert "LEFÈVRE Jeanne Marie" in header
    assert "(nom utilisé MARTIN)" in header
    assert "née le 14/03/1985" in header
    assert "identité qualifiée" in header
    assert "INS (NIR) 2 85 03 75 112 045 53" in header
    assert "Même patient : 1 autre(s) demande(s)" in header
    text = specialist.view.text.toPlainText()
    assert f"RPPS du demandeur {DOCTOR_RPPS}" in text
    assert "consentement recueilli le" in text
    write_opinion(specialist, OPINION)
    for width, height, name in ((1280, 720, ""), (960, 1000, "-960")):
        hospital.resize(width, height)
        qtbot.wait(50)
        # the header, identity included, is shown whole: its label has the height it needs
        label = specialist.view.header
        assert label.height() >= label.heightForWidth(label.width())
        screenshot(hospital, f"specialist-identity{name}")
    specialist.form.send_button.click()
    cases = specialist.cases  # the answered request may move in the list
    qtbot.waitUntil(
        lambda: any("Avis envoyé" in cases.item(r).text() for r in range(cases.count())),
        timeout=WAIT,
    )

    # --- the doctor reads the opinion with its author's RPPS -----------------------------------
    def answered_row() -> int:
        for row, thread in enumerate(doctor.cases.threads):
            if thread.opinions:
                return row
        return -1

    qtbot.waitUntil(lambda: answered_row() >= 0, timeout=WAIT)
    doctor.cases.setCurrentRow(answered_row())
    assert f"Pr Marc Dubois (RPPS {EXPERT_RPPS})" in doctor.view.opinions.toPlainText()
    assert "identité qualifiée" in doctor.view.header.text()
    doctor.new_button.click()  # back to the form
    qtbot.waitUntil(form.isVisible, timeout=WAIT)

    # --- the acts for billing: both RPPS, the identity, nothing clinical ---------------------
    report = hospital.show_activity()  # Fichier › Bilan d’activité
    assert isinstance(report, ActivityReport)
    assert "1 acte(s) de télé-expertise" in report.acts.label.text()
    report.acts.save(tmp_path / "actes.csv")
    saved = (tmp_path / "actes.csv").read_text("utf-8-sig")
    [head, act] = list(csv.reader(io.StringIO(saved), delimiter=";"))
    assert head[:6] == ["Date de la réponse", "Date de la demande", "Code demandeur",
                        "Tarif demandeur (€)", "Code expert", "Tarif expert (€)"]  # fmt: skip
    assert act[2] == "RQD"
    assert act[4] == "TE2"
    assert act[7] == DOCTOR_RPPS
    assert act[9] == EXPERT_RPPS
    assert "285037511204553" in act
    assert "Lefèvre" in act
    for clinical in (SUMMARY, QUESTION, OPINION, "P-77", "CNRY"):
        assert clinical not in saved
    assert hospital.session is not None  # the export is journalled, the count only
    journal = hospital.session.profile.audit_path
    exported = [e for e in audit.read(journal) if e.event == "acts_exported"]
    assert [e.details for e in exported] == [{"count": 1}]
    for secret in ("Lefèvre", "LEFÈVRE", "285037511204553", "1985-03-14"):
        assert secret not in journal.read_text("utf-8")
    report.resize(1280, 720)
    report.show()
    qtbot.waitExposed(report)
    screenshot(report, "activity-acts")
    report.close()

    # --- four acts for her this year: the fifth is warned of, then sent on a second click ---
    for count, ref in enumerate(("R-1", "R-2"), start=3):
        write_request(form, ref)
        fill_identity(form, status="provisional")
        send_request(form)
        sent(qtbot, doctor, count)
    write_request(form, "R-3")
    fill_identity(form, status="provisional")
    form.submit()
    assert "a déjà 4 télé-expertise(s) sur les 12 derniers mois" in form.problems.text()
    qtbot.wait(300)
    assert doctor.cases.count() == 4  # warned, not sent yet
    screenshot(unit, "doctor-fifth-act")
    form.submit()
    sent(qtbot, doctor, 5)

    # --- the secretary: the queue, no identity ----------------------------------------------
    unit.log_out()
    secretary = log_in(qtbot, unit, "sec-lambert")
    assert isinstance(secretary, SecretaryWorkspace)
    qtbot.waitUntil(lambda: secretary.model.rowCount() >= 5, timeout=WAIT)
    seen = visible_text(secretary)
    for secret in ("Lefèvre", "LEFEVRE", "Jeanne", "285037511204553", "2 85 03 75", "14/03/1985",
                   "1985-03-14", "75112", SUMMARY):  # fmt: skip
        assert secret not in seen
    for window in (unit, hospital):
        window.close()


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("size", [QSize(1280, 720), QSize(960, 1000), QSize(720, 900)])
def test_the_identity_form_fits_in_french_and_english(
    qtbot: QtBot, screenshot, language: str, size: QSize
) -> None:  # type: ignore[no-untyped-def]
    i18n.set_language(language)
    try:
        form = CaseForm()
        qtbot.addWidget(form)
        form.resize(size.width() - 320, size.height() - 80)  # the list takes the left
        fill_identity(form, status="qualified", ins=NIR)
        form.show()
        qtbot.waitExposed(form)
        box = form.identity
        qtbot.waitUntil(lambda: box.columns == (2 if box.width() >= WIDE else 1))
        qtbot.wait(20)
        # both columns in view, nothing wider than the form
        assert box.width() <= form.width()
        for field in (box.first_names, box.birthplace, box.ins, box.ins_kind):
            right = field.mapTo(form, field.rect().topRight()).x()
            assert right <= form.width(), f"{field.objectName()} is cut"
        # one pair a line if narrow, each field its full height
        assert box.birth_name.height() >= box.birth_name.sizeHint().height()
        assert box.ins.height() >= box.ins.sizeHint().height()
        if size.width() >= 960:  # narrower, the form's other rows may scroll sideways
            assert not form.scroll.horizontalScrollBar().isVisible()
        written = form.case()
        assert written.identity is not None
        assert written.identity.ins is not None  # qualified: its INS is kept
        form.clear()  # a draft resumed gives the identity back as typed
        assert form.case().identity is None
        form.load_case(written)
        assert form.case().identity == written.identity
        assert form.identity.ins.text() == NIR
        name = f"identity-form-{language}-{size.width()}"
        screenshot(form, name)
    finally:
        i18n.set_language("fr")
