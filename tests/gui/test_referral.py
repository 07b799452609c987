"""An opinion refers the unit to a colleague: the doctor sends the same request to that
colleague in two clicks, with the opinion quoted; the colleague, at the same hospital's
workstation, receives it. Real windows against the demo's real platform."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from tests.gui.test_end_to_end import WAIT, log_in, send_request, write_opinion
from tests.gui.test_opinions import requests_sent
from tests.support.demo import DemoEnv
from widgets.specialist import SpecialistWorkspace

ADVICE = "Ulcère de jambe plutôt que dermatose : relève de l’équipe plaies."


def test_a_referral_reaches_the_colleague_with_the_same_request(
    qtbot: QtBot, demo_env: DemoEnv, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit, hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-R1")
    form = specialist.form
    specialist.cases.setCurrentRow(0)
    assert not form.colleague.isVisible()
    write_opinion(specialist, ADVICE, "refer")
    assert form.colleague.isVisible()
    colleagues = [form.colleague.itemText(i) for i in range(form.colleague.count())]
    assert colleagues == [
        "Quel confrère ?",
        "Pr Sophie Roux — Plaies et cicatrisation",
    ]  # the directory's specialists, the writer aside
    specialist.send_opinion()
    assert form.problems.text() == "Choisissez le confrère dont l’avis est à demander."
    form.colleague.setCurrentIndex(1)
    qtbot.wait(50)
    screenshot(hospital, "specialist-referral")
    specialist.send_opinion()

    line = lambda: doctor.cases.item(0).text()  # noqa: E731
    qtbot.waitUntil(lambda: "Avis reçu" in line(), timeout=WAIT)
    assert "Avis d’un confrère à demander · à adresser à Pr Sophie Roux" in line()
    doctor.cases.setCurrentRow(0)
    assert "Avis d’un confrère à demander : Pr Sophie Roux" in doctor.view.opinions.toPlainText()
    assert doctor.follow_button.text() == "Adresser à Pr Sophie Roux"
    doctor.follow_up()
    sent = doctor.form
    assert sent.recipient.currentData().id == "pr-roux"
    assert sent.patient_ref.text() == "P-R1"
    assert "Demande à un confrère" in sent.title.text()
    assert sent.specialty.currentData() == "wounds"  # hers
    assert sent.summary.toPlainText() == "Résumé"  # the same request: she cannot open the first
    assert sent.question.toPlainText() == (
        f"Pr Marc Dubois conseille de vous demander votre avis : « {ADVICE} »\n\nQuestion ?"
    )
    assert not sent.consent.isChecked()  # consent covers one sending: asked again
    qtbot.wait(50)
    screenshot(unit, "doctor-referral")
    sent.consent.setChecked(True)
    send_request(sent)
    qtbot.waitUntil(lambda: doctor.cases.count() == 2, timeout=WAIT)
    earlier = next(t for t in doctor.cases.threads if t.opinions)
    qtbot.waitUntil(
        lambda: "à adresser" not in doctor.cases.item(doctor.cases.threads.index(earlier)).text(),
        timeout=WAIT,
    )  # sent: nothing left to do about it

    hospital.log_out()
    colleague = log_in(qtbot, hospital, "pr-roux")
    assert isinstance(colleague, SpecialistWorkspace)
    qtbot.waitUntil(lambda: colleague.cases.count() == 1, timeout=WAIT)
    colleague.cases.setCurrentRow(0)
    assert ADVICE in colleague.view.text.toPlainText()
    assert "Patient P-R1" in colleague.view.header.text()
